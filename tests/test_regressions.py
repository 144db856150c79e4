"""Every failure the reliability tests found, kept as an explicit test.

Each test names the machine and the minimal sequence hypothesis reported. Three kinds:

* bugs of the Pythonic face, fixed in ``src/physseg/physmem.py``: the test shows the fixed
  behaviour;
* kernel behaviour the naive model had wrong (two quirks missing from the digest's §7): the
  model was corrected and the test pins the kernel's behaviour down;
* engine bugs in files this suite does not own: a strict ``xfail`` stating what the kernel does
  and what the engine does instead, until the engine is fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

from physseg import (
    BootPhaseError,
    CapacityError,
    InvalidArgumentError,
    KernelPanic,
    LastSegmentError,
    OutOfMemoryError,
    PhysMem,
    UnsupportedOperationError,
)
from physseg.netbsd import Kernel, make_kernel, rbtree_build
from physseg.pages import Slab
from test_model_naive import full_state

# ---------------------------------------------------------------------- PhysMem, fixed


def test_boot_without_a_free_page_is_out_of_memory_not_last_segment() -> None:
    """test_model_physmem: load [0x100, 0x140) with an empty avail window; boot(). The face
    said LastSegmentError ("would remove the last segment") for a steal that found no page."""
    pm = PhysMem()
    pm.load(0x100, 0x140, 0x140, 0x140)
    before = full_state(pm)
    with pytest.raises(OutOfMemoryError, match="no free page left to steal"):
        pm.boot()
    assert full_state(pm) == before


def test_steal_that_needs_a_pool_slot_is_a_capacity_error() -> None:
    """test_model_physmem, rbtree physseg_max=1: the only free pages lie inside the segment, so
    the steal splits it (quirk 24) and the boot pool has no slot: the face said
    OutOfMemoryError "the kernel refused"; a full table is CapacityError."""
    pm = PhysMem(physseg_max=1)
    pm.load(0x100, 0x140, 0x120, 0x130)
    before = full_state(pm)
    with pytest.raises(CapacityError, match="needs a boot segment slot"):
        pm.steal_page()
    with pytest.raises(CapacityError):
        pm.boot()
    assert full_state(pm) == before


def test_plug_when_the_slab_cannot_be_allocated_is_out_of_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rear steals at boot drive uvmexp.npages negative (quirk 5), so a brand-new slab is
    sized from 2**32 pages; numpy's MemoryError escaped PhysMem.plug. A machine that cannot
    hold such a slab is simulated so that the test does not depend on this host's memory."""
    pm = PhysMem()
    pm.load(0, 10, 5, 10)
    for _ in range(4):
        pm.steal_page()
    pm.boot(steal=False)
    assert pm.npages == -3

    def small_machine(npages: int, name: str = "slab") -> Slab:
        if npages > 1 << 20:
            raise MemoryError(f"cannot allocate {npages} pages")
        return Slab(npages, name)

    monkeypatch.setattr(rbtree_build, "Slab", small_machine)
    before = full_state(pm)
    with pytest.raises(OutOfMemoryError, match=r"plug \[0x64, 0x65\).*uvmexp.npages \(-3\)"):
        pm.plug(100, 1)
    assert full_state(pm) == before


def test_unplugging_the_boot_segment_with_one_pool_slot_is_refused() -> None:
    """test_model_physmem, rbtree physseg_max=1: boot [0, 0x40), plug [0x64, 0x6c), unplug
    [0, 0x40). The kernel panics in uvm_physseg_free after taking the node out of the tree
    (see the quirk below); the panic escaped PhysMem.unplug with the state half changed."""
    pm = PhysMem(physseg_max=1)
    pm.load(0, 0x40)
    pm.boot(steal=False)
    pm.plug(0x64, 8)
    before = full_state(pm)
    with pytest.raises(UnsupportedOperationError, match="only boot pool record"):
        pm.unplug(0, 0x40)
    assert full_state(pm) == before
    pm.unplug(0, 0x3F)
    pm.unplug(0x64, 8)
    assert [(s.start, s.end) for s in pm] == [(0x3F, 0x40)]


@pytest.mark.parametrize(
    "addresses",
    [[1.5], np.array([True]), ["0x1000"], [-4096], [1 << 64]],
    ids=["floats", "bools", "strings", "negative", "beyond-64-bits"],
)
def test_pages_refuses_what_is_not_an_address(addresses: object) -> None:
    """PhysMem.pages passed anything numpy could convert to the kernel: floats were
    truncated, bools read as 0/1, strings and out-of-range ints raised untyped errors."""
    pm = PhysMem()
    pm.load(0, 0x40)
    pm.boot(steal=False)
    with pytest.raises(InvalidArgumentError, match="pages: address"):
        pm.pages(addresses)


def test_pages_before_boot_is_refused_like_page() -> None:
    pm = PhysMem()
    pm.load(0, 0x40)
    with pytest.raises(BootPhaseError, match="pages: only allowed after boot"):
        pm.pages([0])
    pm.boot(steal=False)
    assert pm.pages([]).index.shape == (0,)


def test_start_hint_must_fit_the_kernels_u_long() -> None:
    pm = PhysMem()
    view = pm.load(0, 0x40)
    pm.boot(steal=False)
    with pytest.raises(InvalidArgumentError, match="hint must be <= 0xffffffffffffffff"):
        pm.set_start_hint(view, 1 << 64)
    assert pm.set_start_hint(view, (1 << 64) - 1).start_hint == (1 << 64) - 1


def test_last_segment_error_names_the_segment() -> None:
    pm = PhysMem()
    pm.load(0x100, 0x101)
    with pytest.raises(LastSegmentError, match=r"the last segment \[0x100, 0x101\)"):
        pm.steal_page()


# ---------------------------------------------------------------------- kernel quirks


def test_quirk_freeing_the_only_pool_record_panics_after_the_node_left_the_tree() -> None:
    """test_model_kernel rbtree-max1: physload [0, 4); uvm_page_init; unplug middle (2, 1);
    unplug [1, 2) whole. The naive model expected the removal to work; NetBSD's
    uvm_physseg_free panics for a static pool record when ``sz / sizeof >= VM_PHYSSEG_MAX``,
    i.e. always with VM_PHYSSEG_MAX == 1, after rb_tree_remove_node and before
    ``nentries--``. Not in the digest's §7."""
    kernel = make_kernel("rbtree", physseg_max=1)
    kernel.uvm_page_physload(0, 4, 0, 4, 0)
    kernel.uvm_page_init()
    assert kernel.uvm_physseg_unplug(2, 1)
    with pytest.raises(KernelPanic, match="tried to free\\(\\) the entire static array"):
        kernel.uvm_physseg_unplug(1, 1)
    assert [(s.start, s.end) for s in kernel.segments()] == [(3, 4)]
    assert kernel.uvm_physseg_get_entries() == 2


def test_quirk_a_static_slot_keeps_the_start_hint_it_held() -> None:
    """test_model_kernel static-bigfirst: physload [2, 3); set its start hint to 1; physload
    [0, 2), which BIGFIRST puts in slot 0. The static plug writes only start, end, avail and
    pgs, so the new segment keeps the hint of the slot's previous occupant. Not in §7."""
    kernel = make_kernel("static", physseg_max=4, strategy="bigfirst")
    kernel.uvm_page_physload(2, 3, 2, 3, 0)
    assert kernel.uvm_physseg_set_start_hint(0, 1)
    upm = kernel.uvm_page_physload(0, 2, 0, 2, 0)
    assert upm == 0
    assert kernel.uvm_physseg_get_start_hint(upm) == 1
    assert kernel.uvm_physseg_get_start_hint(1) == 1


# ---------------------------------------------------------------------- engine bugs


def _static_last_page_panic() -> tuple[Kernel, int]:
    kernel = make_kernel("static", physseg_max=1)
    kernel.uvm_page_physload(0, 1, 0, 1, 0)
    assert kernel.uvm_pageismanaged(0)
    with pytest.raises(KernelPanic, match="out of memory"):
        kernel.uvm_page_physget()
    return kernel, 0


def _pool_record_free_panic() -> tuple[Kernel, int]:
    kernel = make_kernel("rbtree", physseg_max=1)
    kernel.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    kernel.uvm_page_init_fake(0x40)
    kernel.uvm_physseg_plug(0x64, 8)
    assert kernel.uvm_pageismanaged(0)
    with pytest.raises(KernelPanic, match="entire static array"):
        kernel.uvm_physseg_unplug(0, 0x40)
    return kernel, 0


@pytest.mark.xfail(
    strict=True,
    reason="engine bug: a panic after a layout change but before `version += 1` leaves the "
    "frame memo stale (static_build.py uvm_page_physunload/_force call _remove before bumping "
    "the version; rbtree_build.py _unplug_whole panics in uvm_physseg_free after removing the "
    "node), so uvm_pageismanaged / PHYS_TO_VM_PAGE disagree with uvm_physseg_find",
)
@pytest.mark.parametrize(
    "scenario",
    [_static_last_page_panic, _pool_record_free_panic],
    ids=["static-physget-last-page", "rbtree-max1-free-pool-record"],
)
def test_lookups_agree_with_find_after_a_panic_with_partial_effects(
    scenario: object,
) -> None:
    """test_model_kernel static-contig: physload [0, 1); physget (panics "out of memory!"
    after truncating the segment to [1, 1)). In the kernel uvm_pageismanaged *is* a find."""
    kernel, pfn = scenario()  # type: ignore[operator]
    assert kernel.uvm_physseg_find(pfn) == (kernel.UVM_PHYSSEG_TYPE_INVALID, None)
    assert not kernel.uvm_pageismanaged(pfn << kernel.PAGE_SHIFT)


@pytest.mark.xfail(
    strict=True,
    reason="engine bug: rbtree_build.py _new_slab lets Slab()'s MemoryError escape "
    "uvm_physseg_plug (a slab sized from a negative uvmexp.npages, capped at 2**32 pages); "
    "a failed page-array allocation is kmem_zalloc returning NULL",
)
def test_kernel_plug_treats_an_impossible_slab_as_a_failed_allocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = make_kernel("rbtree", physseg_max=4)
    kernel.uvm_page_physload(0, 10, 5, 10, 0)
    for _ in range(4):
        kernel.uvm_page_physunload(kernel.uvm_physseg_get_first(), 0)
    kernel.uvm_page_init_fake(6)
    assert kernel.uvmexp.npages == -3

    def small_machine(npages: int, name: str = "slab") -> Slab:
        if npages > 1 << 20:
            raise MemoryError(f"cannot allocate {npages} pages")
        return Slab(npages, name)

    monkeypatch.setattr(rbtree_build, "Slab", small_machine)
    ok, _ = kernel.uvm_physseg_plug(100, 1)
    assert kernel.uvm_physseg_get_entries() == 1 + ok
