"""The 48 cases of NetBSD's ``tests/sys/uvm/t_uvm_physseg.c``, written from the specification.

Each case is one test named after it, run on every configuration of ``conftest.py`` where it
applies: the internal cases (1-8, 13-15) use the rbtree build's boot pool and slab internals
and run on the two rbtree configurations; the exported-API cases run on all five.

Translation rules:

* ``#if VM_PHYSSEG_MAX > 1`` / ``> 2`` blocks become ``if k.VM_PHYSSEG_MAX > 1`` branches;
* ``atf_tc_expect_signal(SIGABRT, ...)`` becomes ``pytest.raises(ABORT)`` around exactly the
  call that panics or trips a ``KASSERT``;
* ``atf_tc_expect_fail(...)`` becomes the ``expect_fail`` fixture (strict xfail from there on);
* ATF_REQUIRE and ATF_CHECK are both plain asserts; C's out-parameters are return values, so
  "``*offp`` left untouched" reads "offset is ``None``";
* where the static build legitimately differs (highest frame, the moving OVERFLOW constant,
  array order, ``uvm_post_preload_check``) the static branch asserts what that build does and
  names the quirk (``docs/netbsd-quirks.md``) or the section of the semantics digest.
"""

from __future__ import annotations

import pytest

from physseg import KernelPanic
from physseg.netbsd import ENOMEM, EX_BOUNDZERO, Kernel, RBTreeKernel
from physseg.netbsd.segment import SlabExtent

from .conftest import (
    ABORT,
    PFN_1,
    PFN_2,
    PFN_3,
    PFN_4,
    Config,
    ExpectFail,
    boot_slot,
    ext_of,
    fields,
    physload,
    taken,
)

PAGE_COUNT_1M = 256
ONE_MEGABYTE = 1024 * 1024
QUIRK_29 = "cannot pass as written (quirk 29)"
POST_PRELOAD = "Tried to add RAM after uvm_page_init"
"""The static build's ``uvm_post_preload_check()`` panic."""


def alloc_then_free_one(k: Kernel, ext: SlabExtent) -> int:
    """``extent_alloc`` of one vm_page (which must succeed), then ``extent_free`` of it with
    the flags ATF uses; returns the free's errno."""
    err, pgs = k.extent_alloc(ext, 1, 1, 0, EX_BOUNDZERO)
    assert err == 0
    assert pgs is not None
    return k.extent_free(ext, pgs, 1, EX_BOUNDZERO)


def boot_one_segment_then_force_runtime(k: Kernel) -> None:
    """The ``*_invalid`` getters' prologue: one PFN_1 segment with no pages, then run time."""
    physload(k, PFN_1)
    k.uvm.page_init_done = True
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1


# ---- Internal (UVM_HOTPLUG only) -------------------------------------------------------------


def test_uvm_physseg_alloc_atboot_mismatch(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    k.uvm.page_init_done = False
    with pytest.raises(ABORT):
        k.uvm_physseg_alloc(k.SIZEOF_UVM_PHYSSEG - 1)


def test_uvm_physseg_alloc_atboot_overrun(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    k.uvm.page_init_done = False
    with pytest.raises(ABORT):
        k.uvm_physseg_alloc((k.VM_PHYSSEG_MAX + 1) * k.SIZEOF_UVM_PHYSSEG)


def test_uvm_physseg_alloc_sanity(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    size = k.SIZEOF_UVM_PHYSSEG
    k.uvm.page_init_done = False
    assert k.uvm_physseg_alloc(k.VM_PHYSSEG_MAX * size) is not None

    k.uvm.page_init_done = True
    assert k.uvm_physseg_alloc(size - 1) is not None
    assert k.uvm_physseg_alloc(2 * k.VM_PHYSSEG_MAX * size) is not None


def test_uvm_physseg_free_atboot_mismatch(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    k.uvm.page_init_done = False
    # The C test frees &uvm_physseg[0] without allocating it; the first alloc returns that slot.
    slot0 = boot_slot(k)
    with pytest.raises(ABORT):
        k.uvm_physseg_free(slot0, k.SIZEOF_UVM_PHYSSEG - 1)


def test_uvm_physseg_free_sanity(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    size = k.SIZEOF_UVM_PHYSSEG
    maxsegs = k.VM_PHYSSEG_MAX
    k.uvm.page_init_done = False
    if maxsegs > 1:
        seg = k.uvm_physseg_alloc((maxsegs - 1) * size)
        assert seg is not None
        k.uvm_physseg_free(seg, (maxsegs - 1) * size)
        assert k.nseg == maxsegs - 1  # a boot-time free is a no-op: the slots leak

    k.uvm.page_init_done = True
    seg = k.uvm_physseg_alloc(size - 1)
    assert seg is not None
    k.uvm_physseg_free(seg, size - 1)
    seg = k.uvm_physseg_alloc(2 * maxsegs * size)
    assert seg is not None
    k.uvm_physseg_free(seg, 2 * maxsegs * size)


def test_uvm_physseg_atboot_free_leak(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    if k.VM_PHYSSEG_MAX == 1:
        pytest.skip("registered only when VM_PHYSSEG_MAX > 1")
    size = k.SIZEOF_UVM_PHYSSEG
    k.uvm.page_init_done = False
    seg = k.uvm_physseg_alloc(k.VM_PHYSSEG_MAX * size)
    assert seg is not None
    k.uvm_physseg_free(seg, size)
    with pytest.raises(ABORT):
        k.uvm_physseg_alloc(size)


def test_uvm_physseg_plug(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    maxsegs = k.VM_PHYSSEG_MAX
    npages1 = npages2 = npages3 = npages4 = 256
    nentries = 0

    ok, _upm1 = k.uvm_physseg_plug(PFN_1[0], npages1)
    assert ok
    nentries += 1
    assert k.uvm_physseg_get_entries() == nentries
    assert k.uvmexp.npages == 0
    if maxsegs > 2:
        ok, _upm2 = k.uvm_physseg_plug(PFN_2[0], npages2)
        assert ok
        nentries += 1
        assert k.uvm_physseg_get_entries() == nentries
        assert k.uvmexp.npages == 0

    slab = k.uvm_page_init_fake(npages1 + npages2 + npages3)
    booted = npages1 + (npages2 if maxsegs > 2 else 0)
    assert k.uvmexp.npages == booted

    if maxsegs > 1:
        # Scavenge plug: the page array comes from the unused tail of the boot slab.
        ok, upm3 = k.uvm_physseg_plug(PFN_3[0], npages3)
        assert ok
        nentries += 1
        assert k.uvm_physseg_get_entries() == nentries
        assert k.uvmexp.npages == booted + npages3
        pgs = k.uvm_physseg_get_pg(upm3, 0)
        assert pgs is not None
        assert pgs.slab is slab.slab
        assert 0 < pgs.offset_from(slab) < npages1 + npages2 + npages3

    # Hot plug: a brand-new slab (with MAX == 1 the boot extent has no spare descriptor).
    ok, upm4 = k.uvm_physseg_plug(PFN_4[0], npages4)
    assert ok
    pgs = k.uvm_physseg_get_pg(upm4, 0)
    assert pgs is not None
    assert pgs.slab is not slab.slab


def test_uvm_physseg_unplug(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    ok, _ = k.uvm_physseg_plug(0, 256)
    assert ok
    assert k.uvm_physseg_get_entries() == 1
    _, offset = k.uvm_physseg_find(64)
    assert offset == 64
    assert k.uvmexp.npages == 0

    if k.VM_PHYSSEG_MAX == 1:
        # A fragmenting unplug at boot needs a second static slot.
        with pytest.raises(ABORT):
            k.uvm_physseg_unplug(64, 128)
        return

    assert k.uvm_physseg_unplug(64, 128)  # middle: [0, 64) and [192, 256)
    assert k.uvm_physseg_find(64) == (k.UVM_PHYSSEG_TYPE_INVALID, None)

    k.uvm_page_init_fake(768)
    assert k.uvmexp.npages == 128
    assert k.uvm_physseg_get_entries() == 2

    upm, _ = k.uvm_physseg_find(192)
    assert k.uvm_physseg_valid_p(upm)
    assert k.uvm_physseg_unplug(192, 64)  # the whole tail fragment
    assert not k.uvm_physseg_valid_p(upm)  # its boot-pool node was zeroed
    assert k.uvm_physseg_get_entries() == 1

    assert k.uvm_physseg_unplug(32, 32)  # back trim
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_unplug(0, 16)  # front trim
    assert k.uvm_physseg_get_entries() == 1

    with pytest.raises(ABORT):
        k.uvm_physseg_unplug(16, 16)  # the last segment


# ---- Exported API ----------------------------------------------------------------------------


def test_uvm_physseg_init(kernel: Kernel) -> None:
    kernel.uvm_physseg_init()
    assert kernel.uvm_physseg_get_entries() == 0


def test_uvm_page_physload_preload(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_valid_p(upm)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvm_physseg_valid_p(upm)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2


def test_uvm_page_physload_postboot(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_valid_p(upm)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1

    k.uvm_page_init_fake(512)
    with pytest.raises(ABORT):
        physload(k, PFN_2)


def test_uvm_physseg_handle_immutable(
    config: Config, kernel: Kernel, expect_fail: ExpectFail
) -> None:
    k = kernel
    upm = physload(k, PFN_2)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_prev(upm) == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY

    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_1)  # a lower segment
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2
        upm = k.uvm_physseg_get_prev(upm)
        if config.static:
            expect_fail("Mutable handle in static array impl.")
        assert upm != k.UVM_PHYSSEG_TYPE_INVALID_EMPTY
        assert k.uvm_physseg_get_start(upm) == PFN_1[0]
        assert k.uvm_physseg_get_end(upm) == PFN_1[1]


def test_uvm_physseg_seg_chomp_slab(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    npages = k.UVM_PHYSSEG_BOOT_UNPLUG_MAX
    slab = k.malloc_pages(npages * 2)
    seg = boot_slot(k)
    k.uvm_physseg_seg_chomp_slab(seg, slab, npages * 2)  # boot: the fixed "Boot time slab"

    err = alloc_then_free_one(k, ext_of(seg))
    if k.VM_PHYSSEG_MAX == 1:
        assert err == ENOMEM  # free needs a spare descriptor and there is only one
    else:
        assert err == 0
        for _ in range(npages):
            assert alloc_then_free_one(k, ext_of(seg)) == 0

    k.uvm.page_init_done = True
    k.uvm_physseg_seg_chomp_slab(seg, slab, npages * 2)  # run time: a "Hotplug slab"
    for _ in range(npages):
        assert alloc_then_free_one(k, ext_of(seg)) == 0


def test_uvm_physseg_alloc_from_slab(rbtree_kernel: RBTreeKernel, expect_fail: ExpectFail) -> None:
    k = rbtree_kernel
    npages = k.UVM_PHYSSEG_BOOT_UNPLUG_MAX
    slab = k.malloc_pages(npages * 2)
    seg = boot_slot(k)
    k.uvm_physseg_seg_chomp_slab(seg, slab, npages * 2)
    assert k.uvm_physseg_seg_alloc_from_slab(seg, npages) is not None

    k.uvm.page_init_done = True
    if k.VM_PHYSSEG_MAX > 1:
        assert k.uvm_physseg_seg_alloc_from_slab(seg, npages) is not None
    # MAX > 1: the slab is full; MAX == 1: its only descriptor is in use.
    expect_fail("alloc beyond extent")
    assert k.uvm_physseg_seg_alloc_from_slab(seg, npages) is not None


def test_uvm_physseg_init_seg(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    npages = k.UVM_PHYSSEG_BOOT_UNPLUG_MAX
    slab = k.malloc_pages(npages * 2)
    seg = boot_slot(k)
    k.uvm_physseg_seg_chomp_slab(seg, slab, npages * 2)
    pgs = k.uvm_physseg_seg_alloc_from_slab(seg, npages)
    assert pgs is not None
    assert k.uvmexp.npages == 0

    seg.start, seg.end = 0, npages
    seg.avail_start, seg.avail_end = 0, npages
    k.uvm_physseg_init_seg(seg, pgs)
    assert k.uvmexp.npages == npages


def test_uvm_physseg_get_start(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_start(upm) == PFN_1[0]
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvm_physseg_get_entries() == 2
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_start(upm) == PFN_2[0]


def test_uvm_physseg_get_start_invalid(kernel: Kernel) -> None:
    boot_one_segment_then_force_runtime(kernel)
    assert kernel.uvm_physseg_get_start(kernel.UVM_PHYSSEG_TYPE_INVALID) == kernel.PADDR_INVALID


def test_uvm_physseg_get_end(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_end(upm) == PFN_1[1]
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvm_physseg_get_entries() == 2
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_end(upm) == PFN_2[1]


def test_uvm_physseg_get_end_invalid(kernel: Kernel) -> None:
    boot_one_segment_then_force_runtime(kernel)
    assert kernel.uvm_physseg_get_end(kernel.UVM_PHYSSEG_TYPE_INVALID) == kernel.PADDR_INVALID


def test_uvm_physseg_get_avail_start(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_avail_start(upm) == PFN_1[2]
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2
        assert k.uvm_physseg_get_avail_start(upm) == PFN_2[2]


def test_uvm_physseg_get_avail_start_invalid(kernel: Kernel) -> None:
    boot_one_segment_then_force_runtime(kernel)
    invalid = kernel.UVM_PHYSSEG_TYPE_INVALID
    assert kernel.uvm_physseg_get_avail_start(invalid) == kernel.PADDR_INVALID


def test_uvm_physseg_get_avail_end(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_avail_end(upm) == PFN_1[3]
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvm_physseg_get_entries() == 2
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_avail_end(upm) == PFN_2[3]


def test_uvm_physseg_get_avail_end_invalid(kernel: Kernel) -> None:
    boot_one_segment_then_force_runtime(kernel)
    invalid = kernel.UVM_PHYSSEG_TYPE_INVALID
    assert kernel.uvm_physseg_get_avail_end(invalid) == kernel.PADDR_INVALID


def test_uvm_physseg_get_next(config: Config, kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_next(upm) == k.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW
    if config.static:
        assert k.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW == 1  # quirk 3: OVERFLOW is the count

    if k.VM_PHYSSEG_MAX > 1:
        upm_next = physload(k, PFN_2)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2
        upm = k.uvm_physseg_get_next(upm)
        assert upm == upm_next
        assert k.uvm_physseg_get_start(upm) == PFN_2[0]
        assert k.uvm_physseg_get_end(upm) == PFN_2[1]

    if k.VM_PHYSSEG_MAX > 2:
        upm_next = physload(k, PFN_3)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 3
        upm = k.uvm_physseg_get_next(upm)
        assert upm == upm_next
        assert k.uvm_physseg_get_start(upm) == PFN_3[0]
        assert k.uvm_physseg_get_end(upm) == PFN_3[1]


def test_uvm_physseg_get_next_invalid(kernel: Kernel) -> None:
    invalid = kernel.UVM_PHYSSEG_TYPE_INVALID
    assert kernel.uvm_physseg_get_next(invalid) == invalid


def test_uvm_physseg_get_prev(kernel: Kernel) -> None:
    k = kernel
    upm_prev = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvm_physseg_get_prev(upm_prev) == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY

    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2
        upm = k.uvm_physseg_get_prev(upm)
        assert upm == upm_prev
        assert k.uvm_physseg_get_start(upm) == PFN_1[0]
        assert k.uvm_physseg_get_end(upm) == PFN_1[1]

    if k.VM_PHYSSEG_MAX > 2:
        physload(k, PFN_3)
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 3
        assert k.uvm_physseg_get_prev(upm) == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY


def test_uvm_physseg_get_prev_invalid(kernel: Kernel) -> None:
    invalid = kernel.UVM_PHYSSEG_TYPE_INVALID
    assert kernel.uvm_physseg_get_prev(invalid) == invalid


def test_uvm_physseg_get_first(config: Config, kernel: Kernel, expect_fail: ExpectFail) -> None:
    k = kernel
    if config.static:
        expect_fail("get_first() returns 0 when empty (quirk 3)")
    assert k.uvm_physseg_get_first() == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY

    upm_first = physload(k, PFN_2)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    upm = k.uvm_physseg_get_first()
    assert upm == upm_first
    assert fields(k, upm) == PFN_2

    if k.VM_PHYSSEG_MAX > 1:
        upm_first = physload(k, PFN_1)  # lower
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 2
        upm = k.uvm_physseg_get_first()
        assert upm == upm_first
        assert fields(k, upm) == PFN_1

    if k.VM_PHYSSEG_MAX > 2:
        upm_first = physload(k, PFN_3)  # higher
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == 3
        upm = k.uvm_physseg_get_first()
        assert upm != upm_first
        assert fields(k, upm) == PFN_1


def test_uvm_physseg_get_last(kernel: Kernel) -> None:
    k = kernel
    assert k.uvm_physseg_get_last() == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY
    spans = [PFN_1, PFN_2, PFN_3][: min(k.VM_PHYSSEG_MAX, 3)]
    for count, span in enumerate(spans, start=1):
        upm_last = physload(k, span)  # ascending: each one is the new last
        assert k.uvmexp.npages == 0
        assert k.uvm_physseg_get_entries() == count
        upm = k.uvm_physseg_get_last()
        assert upm == upm_last
        assert fields(k, upm) == span


def test_uvm_physseg_valid(kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(PAGE_COUNT_1M)
    upm = physload(k, PFN_1)
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_entries() == 1
    k.uvm_physseg_init_seg(upm, pgs)
    assert k.uvmexp.npages == PAGE_COUNT_1M
    assert k.uvm_physseg_valid_p(upm)


def test_uvm_physseg_valid_invalid(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    k.uvm.page_init_done = True
    assert not k.uvm_physseg_valid_p(k.UVM_PHYSSEG_TYPE_INVALID)
    assert not k.uvm_physseg_valid_p(upm)  # no page array yet


def test_uvm_physseg_get_highest(config: Config, kernel: Kernel) -> None:
    k = kernel

    def highest(end: int) -> int:
        # Quirk 1: the static build returns the largest exclusive end, the rbtree end - 1.
        return end if config.static else end - 1

    physload(k, PFN_1)
    assert k.uvm_physseg_get_highest_frame() == highest(PFN_1[3])
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_3)
        assert k.uvm_physseg_get_highest_frame() == highest(PFN_3[3])
    if k.VM_PHYSSEG_MAX > 2:
        physload(k, PFN_2)
        assert k.uvm_physseg_get_highest_frame() == highest(PFN_3[3])


def test_uvm_physseg_get_free_list(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1, k.VM_FREELIST_DEFAULT)
    assert k.uvm_physseg_get_free_list(upm) == k.VM_FREELIST_DEFAULT
    if k.VM_PHYSSEG_MAX > 1:
        upm = physload(k, PFN_2, k.VM_FREELIST_FIRST16)
        assert k.uvm_physseg_get_free_list(upm) == k.VM_FREELIST_FIRST16
    if k.VM_PHYSSEG_MAX > 2:
        upm = physload(k, PFN_3, k.VM_FREELIST_FIRST1G)
        assert k.uvm_physseg_get_free_list(upm) == k.VM_FREELIST_FIRST1G


def test_uvm_physseg_get_start_hint(kernel: Kernel) -> None:
    upm = physload(kernel, PFN_1)
    assert kernel.uvm_physseg_get_start_hint(upm) == 0


def test_uvm_physseg_set_start_hint(kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(PAGE_COUNT_1M)
    upm = physload(k, PFN_1)
    k.uvm_physseg_init_seg(upm, pgs)
    assert k.uvm_physseg_set_start_hint(upm, k.atop(128))
    assert k.uvm_physseg_get_start_hint(upm) == k.atop(128)  # == 0: see quirk 30


def test_uvm_physseg_set_start_hint_invalid(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    k.uvm.page_init_done = True
    assert not k.uvm_physseg_set_start_hint(upm, k.atop(128))
    with pytest.raises(ABORT):
        k.uvm_physseg_get_start_hint(upm)


def test_uvm_physseg_get_pg(kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(PAGE_COUNT_1M)
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    k.uvm_physseg_init_seg(upm, pgs)
    assert k.uvmexp.npages == PAGE_COUNT_1M

    for index in (5, 113):
        page = k.uvm_physseg_get_pg(upm, index)
        assert page is not None
        assert page.phys_addr == index * k.PAGE_SIZE


def test_uvm_physseg_get_pmseg(kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(PAGE_COUNT_1M)
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    k.uvm_physseg_init_seg(upm, pgs)
    assert k.uvmexp.npages == PAGE_COUNT_1M

    pmseg = k.uvm_physseg_get_pmseg(upm)
    assert pmseg is not None
    pmseg.dummy_variable = True
    refetched = k.uvm_physseg_get_pmseg(upm)
    assert refetched is not None
    assert refetched.dummy_variable is True


def test_vm_physseg_find(kernel: Kernel) -> None:
    k = kernel
    upm_first = physload(k, PFN_1)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    if k.VM_PHYSSEG_MAX > 1:
        upm_second = physload(k, PFN_2)
        assert k.uvm_physseg_get_entries() == 2
        assert k.uvmexp.npages == 0

    result, offset = k.uvm_physseg_find(k.atop(ONE_MEGABYTE - 1024))
    assert result == upm_first
    assert fields(k, result) == fields(k, upm_first)
    assert offset == 255

    if k.VM_PHYSSEG_MAX > 1:
        result, offset = k.uvm_physseg_find(k.atop(ONE_MEGABYTE + 8192))
        assert result == upm_second
        assert fields(k, result) == fields(k, upm_second)
        assert offset == 2
    else:
        result, offset = k.uvm_physseg_find(k.atop(ONE_MEGABYTE - 12288))
        assert result == upm_first
        assert fields(k, result) == fields(k, upm_first)
        assert offset == 253


def test_vm_physseg_find_invalid(kernel: Kernel) -> None:
    k = kernel
    physload(k, PFN_1)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_find(k.atop(ONE_MEGABYTE * 3)) == (k.UVM_PHYSSEG_TYPE_INVALID, None)


def test_uvm_page_physunload_start(config: Config, kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(256)
    upm = physload(k, PFN_2)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    k.uvm_physseg_init_seg(upm, pgs)

    if config.static:
        # Digest §4.1: the static build's physunload starts with uvm_post_preload_check(),
        # which panics once any segment has a page array.
        with pytest.raises(KernelPanic, match=POST_PRELOAD):
            k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
        return

    assert taken(k, k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)) == PFN_2[0]
    assert fields(k, upm) == (PFN_2[0] + 1, PFN_2[1], PFN_2[2] + 1, PFN_2[3])


def test_uvm_page_physunload_end(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (256, 512, 257, 512))  # avail_start != start: unload from the end
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_avail_start(upm) != k.uvm_physseg_get_start(upm)

    assert taken(k, k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)) == 511
    assert fields(k, upm) == (256, 511, 257, 511)


def test_uvm_page_physunload_none(config: Config, kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(256)
    upm = physload(k, (256, 512, 257, 511))  # neither edge page is free
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    assert k.uvm_physseg_get_avail_start(upm) != k.uvm_physseg_get_start(upm)
    k.uvm_physseg_init_seg(upm, pgs)

    if config.static:
        with pytest.raises(KernelPanic, match=POST_PRELOAD):  # as in physunload_start
            k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
        return

    assert k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT) == (False, None)
    assert fields(k, upm) == (256, 512, 257, 511)


def test_uvm_page_physunload_delete_start(config: Config, kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (255, 256, 255, 256))  # one page
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0

    if k.VM_PHYSSEG_MAX == 1:
        with pytest.raises(ABORT):  # removing the last segment
            k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
        return

    physload(k, PFN_2)
    assert k.uvm_physseg_get_entries() == 2
    if config.strategy == "bigfirst" and config.static:
        # Digest §1.13: BIGFIRST put the larger PFN_2 segment first, so index 0 now names it.
        assert k.uvm_physseg_get_start(upm) == PFN_2[0]
        upm, _ = k.uvm_physseg_find(255)
        assert upm == 1

    assert taken(k, k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)) == 255
    assert k.uvm_physseg_get_entries() == 1
    assert fields(k, k.uvm_physseg_get_first()) == PFN_2


def test_uvm_page_physunload_delete_end(kernel: Kernel, expect_fail: ExpectFail) -> None:
    # Quirk 29. rbtree-max1: the first unload is a back trim that succeeds, the second finds
    # the avail range [1, 1) empty and returns false, so the expected abort never comes.
    # MAX == 32 (rbtree, static bsearch/random): the second unload returns false and PFN 2
    # was never in [0, 2). static-bigfirst: index 0 names PFN_2 after the insert, so both
    # unloads succeed but return PFNs 256 and 257.
    k = kernel
    upm = physload(k, (0, 2, 1, 2))
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_2)
        assert k.uvm_physseg_get_entries() == 2

    if k.VM_PHYSSEG_MAX == 1:
        expect_fail(QUIRK_29, raises=(AssertionError, pytest.fail.Exception))
        ok, _ = k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
        assert ok
        with pytest.raises(ABORT):  # "cannot uvm_page_physunload() the last segment"
            k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
        return

    expect_fail(QUIRK_29)
    ok, _ = k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
    assert ok
    ok, p = k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)
    assert ok
    assert p is not None
    assert k.atop(p) == 2
    assert k.uvm_physseg_get_entries() == 1
    assert fields(k, k.uvm_physseg_get_first()) == PFN_2


def test_uvm_page_physunload_invalid(config: Config, kernel: Kernel) -> None:
    k = kernel
    pgs = k.malloc_pages(256)
    upm = physload(k, PFN_2, k.VM_FREELIST_DEFAULT)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    k.uvm_physseg_init_seg(upm, pgs)

    if config.static:
        with pytest.raises(KernelPanic, match=POST_PRELOAD):  # as in physunload_start
            k.uvm_page_physunload(upm, k.VM_FREELIST_FIRST4G)
        return

    assert k.uvm_page_physunload(upm, k.VM_FREELIST_FIRST4G) == (False, None)


def test_uvm_page_physunload_force(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_2)  # so that emptying PFN_1 does not remove the last segment
        assert k.uvm_physseg_get_entries() == 2

    assert k.uvm_physseg_get_avail_start(upm) == PFN_1[2]
    last = PFN_1[3] - 1
    for pfn in range(PFN_1[2], last):
        assert taken(k, k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT)) == pfn
        assert k.uvm_physseg_get_avail_start(upm) == pfn + 1

    if k.VM_PHYSSEG_MAX == 1:
        with pytest.raises(ABORT):  # the last page of the last segment
            k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT)
        return

    assert taken(k, k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT)) == last
    assert k.uvm_physseg_find(last)[0] == k.UVM_PHYSSEG_TYPE_INVALID
    assert k.uvm_physseg_get_entries() == 1


def test_uvm_page_physunload_force_invalid(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (256, 257, 256, 256))  # empty avail range
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == 0
    assert k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT) == (False, None)
