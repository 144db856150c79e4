"""physseg.errors: every error carries its fields, the message is rendered from them (in page
frame numbers or in bytes) and the kernel's aborts carry a reason code the face maps from."""

from __future__ import annotations

import copy
import pickle

import pytest

from physseg import PhysMem
from physseg.errors import (
    CapacityError,
    InvalidArgumentError,
    KernelAssertionError,
    KernelHang,
    KernelPanic,
    LastSegmentError,
    PhysSegError,
    RangeNotManagedError,
    RangeOverlapError,
    Reason,
)
from physseg.netbsd import make_kernel


def test_a_message_is_rendered_from_the_fields_in_pfns_or_in_bytes() -> None:
    err = RangeNotManagedError(
        "unplug", Reason.CROSSES_END, pfn=0x10, npages=0x10, segment=(0x8, 0x18), page_shift=12
    )
    assert str(err) == "unplug [0x10, 0x20): crosses the end of segment [0x8, 0x18)"
    assert str(err.in_bytes()) == (
        "unplug [0x10000, 0x20000): crosses the end of segment [0x8000, 0x18000)"
    )


def test_in_bytes_keeps_the_type_and_every_field_and_leaves_the_original_alone() -> None:
    err = RangeOverlapError(
        "plug", Reason.OVERLAP, pfn=0x40, npages=1, segment=(0x40, 0x80), page_shift=14
    )
    twin = err.in_bytes()
    assert type(twin) is RangeOverlapError
    assert (twin.op, twin.reason, twin.pfn, twin.npages, twin.segment, twin.page_shift) == (
        "plug",
        Reason.OVERLAP,
        0x40,
        1,
        (0x40, 0x80),
        14,
    )
    assert "0x100000" in str(twin)
    assert str(err) == "plug [0x40, 0x41): overlaps segment [0x40, 0x80) already managed"


def test_a_pfn_without_a_count_is_named_as_a_position() -> None:
    err = InvalidArgumentError("plug", Reason.TOO_SMALL, pfn=0x100, name="npages", value=0, limit=1)
    assert str(err) == "plug at pfn 0x100: npages must be >= 1, not 0"
    assert str(err.in_bytes()) == "plug at address 0x100000: npages must be >= 1, not 0"


def test_errors_survive_copy_and_pickle_with_their_fields() -> None:
    err = LastSegmentError("unplug", Reason.WOULD_REMOVE_LAST, pfn=1, npages=2, segment=(1, 3))
    for twin in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert type(twin) is LastSegmentError
        assert (twin.reason, twin.pfn, twin.npages, twin.segment) == (
            Reason.WOULD_REMOVE_LAST,
            1,
            2,
            (1, 3),
        )
        assert str(twin) == str(err)


_KERNEL_REASONS = {
    Reason.PANIC,
    Reason.KASSERT,
    Reason.NULL_DEREFERENCE,
    Reason.BOOT_POOL_EXHAUSTED,
    Reason.LAST_SEGMENT,
    Reason.BOOT_PAGE_ARRAY_OOM,
    Reason.EXTENT_ALLOC_FAILED,
    Reason.KERNEL_HANG,
}


@pytest.mark.parametrize("reason", [r for r in Reason if r not in _KERNEL_REASONS])
def test_every_refusal_reason_renders_in_both_units(reason: Reason) -> None:
    value: object = (0x1001, 0x2001) if reason is Reason.NOT_PAGE_ALIGNED else 7
    err = PhysSegError(
        "op",
        reason,
        pfn=0x10,
        npages=2,
        name="x",
        value=value,
        limit=4,
        segment=(0x8, 0x18),
        window=(0x10, 0x11),
        page=0x11,
        count=1,
        detail="why",
    )
    for text in (str(err), str(err.in_bytes())):
        assert text.startswith("op ")
        assert "None" not in text


def test_kernel_aborts_carry_the_kernels_text_and_a_reason_code() -> None:
    k = make_kernel("rbtree", physseg_max=1)
    k.uvm_page_physload(0x100, 0x200, 0x100, 0x200, 0)
    with pytest.raises(KernelAssertionError) as kassert:
        k.uvm_page_physload(0x300, 0x400, 0x300, 0x400, 0)
    assert kassert.value.reason is Reason.BOOT_POOL_EXHAUSTED
    assert str(kassert.value) == kassert.value.condition == "nseg > 0 && nseg <= VM_PHYSSEG_MAX"
    k = make_kernel("rbtree", physseg_max=2)
    k.uvm_page_physload(0x100, 0x200, 0x100, 0x200, 0)
    with pytest.raises(KernelPanic) as panic:
        k.uvm_physseg_unplug(0x100, 0x100)
    assert panic.value.reason is Reason.LAST_SEGMENT
    assert str(panic.value) == panic.value.message == "uvm_physseg_unplug: out of memory!"


def test_a_kernel_hang_carries_the_call_and_the_page_count_it_renders_from() -> None:
    hang = KernelHang("uvm_physseg_plug", 0x400, 8, -169)
    assert hang.reason is Reason.KERNEL_HANG
    assert (hang.op, hang.pfn, hang.pages, hang.npages) == ("uvm_physseg_plug", 0x400, 8, -169)
    assert hang.slabpages == (1 << 64) - 169  # (size_t)uvmexp.npages
    assert str(hang) == (
        "uvm_physseg_plug(0x400, 8): uvmexp.npages is -169, so the brand-new slab loop starts"
        " at slabpages = 0xffffffffffffff57 and every kmem_zalloc(KM_NOSLEEP) fails: the kernel"
        " never returns (quirk 38)"
    )
    for twin in (copy.copy(hang), pickle.loads(pickle.dumps(hang))):
        assert type(twin) is KernelHang
        assert (twin.op, twin.pfn, twin.pages, twin.npages) == (hang.op, 0x400, 8, -169)
        assert str(twin) == str(hang)


def test_the_face_maps_kernel_aborts_by_reason_code_not_by_text() -> None:
    mem = PhysMem(physseg_max=1)
    mem.load(0x100, 0x200, avail_start=0x180, avail_end=0x190)
    with pytest.raises(CapacityError) as err:
        mem.steal_page()  # the first free page lies above unavailable ones: a split
    assert err.value.reason is Reason.SPLIT_NEEDS_SLOT
    assert err.value.limit == 1
    single = PhysMem(physseg_max=4)
    single.load(0x100, 0x101)
    with pytest.raises(LastSegmentError) as last:
        single.steal_page()
    assert last.value.reason is Reason.WOULD_REMOVE_LAST
    assert last.value.segment == (0x100, 0x101)
