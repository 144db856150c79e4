"""NetBSD's uvm_physseg quirks (digest §7, catalogued in ``docs/netbsd-quirks.md``), one test
each where the Kernel face shows the behaviour, named ``test_quirk_NN_<what it shows>``.

The Kernel face reproduces the C code, warts included; these tests pin the warts down so that a
"fix" in the engine is a visible, deliberate change. (The Pythonic PhysMem face validates its
input instead and is tested elsewhere; quirk 38 is the exception: the face's and the command
line's refusal of the plug the kernel would never return from sit beside the Kernel face's hang.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from physseg import (
    KernelAssertionError,
    KernelHang,
    KernelPanic,
    OutOfMemoryError,
    PhysMem,
)
from physseg.cli import main as cli_main
from physseg.cli.store import read_machine
from physseg.errors import ExtentNoDescriptorError, ExtentNoSpaceError, Reason
from physseg.netbsd import (
    EAGAIN,
    ENOMEM,
    EX_BOUNDZERO,
    EX_MALLOCOK,
    EX_NOWAIT,
    Kernel,
    RBTreeKernel,
    save_image,
)

from .conftest import (
    PFN_1,
    PFN_2,
    PFN_3,
    RBTREE_MAX1,
    RBTREE_MAX32,
    STATIC_BIGFIRST,
    STATIC_BSEARCH,
    STATIC_RANDOM,
    Config,
    Span,
    boot_slot,
    ext_of,
    fields,
    physload,
    taken,
)

STATICS = [STATIC_BSEARCH, STATIC_RANDOM, STATIC_BIGFIRST]
MULTI = [RBTREE_MAX32, *STATICS]
"""The configurations with room for more than one segment."""
POOL_FULL = "VM_PHYSSEG_MAX"
"""In the message of the boot pool's ``KASSERT(nseg > 0 && nseg <= VM_PHYSSEG_MAX)``."""


def _ident(config: Config) -> str:
    return config.ident


# ---- Conventions -----------------------------------------------------------------------------


def test_quirk_01_highest_frame_is_exclusive_in_the_static_build(
    config: Config, kernel: Kernel
) -> None:
    k = kernel
    if config.static:
        assert k.uvm_physseg_get_highest_frame() == 0  # the loop's initial value
    else:
        with pytest.raises(KernelPanic):  # C dereferences the empty tree's NULL maximum
            k.uvm_physseg_get_highest_frame()
    physload(k, PFN_1)
    top = PFN_1
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_3)
        top = PFN_3
    expected = top[1] if config.static else top[1] - 1
    assert k.uvm_physseg_get_highest_frame() == expected


def test_quirk_02_slab_extent_has_exactly_n_entries(rbtree_kernel: RBTreeKernel) -> None:
    # Not replicated: C's extent ends one byte past the slab; physseg's has exactly n slots.
    k = rbtree_kernel
    slab = k.malloc_pages(8)
    seg = boot_slot(k)
    k.uvm.page_init_done = True  # a dynamic-descriptor extent
    k.uvm_physseg_seg_chomp_slab(seg, slab, 8)
    err, pgs = k.extent_alloc(ext_of(seg), 8, 1, 0, EX_BOUNDZERO)
    assert (err, pgs) == (0, slab)
    assert k.extent_alloc(ext_of(seg), 1, 1, 0, EX_BOUNDZERO) == (EAGAIN, None)


def test_quirk_03_invalid_handle_constants(config: Config, kernel: Kernel) -> None:
    k = kernel
    if not config.static:
        assert k.UVM_PHYSSEG_TYPE_INVALID is None
        assert k.UVM_PHYSSEG_TYPE_INVALID_EMPTY is None
        assert k.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW is None
        assert k.uvm_physseg_get_first() is None
        return
    assert k.UVM_PHYSSEG_TYPE_INVALID == k.UVM_PHYSSEG_TYPE_INVALID_EMPTY == -1
    assert k.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW == 0
    assert k.uvm_physseg_get_first() == 0  # even when empty ...
    assert not k.uvm_physseg_valid_p(0)  # ... where 0 is the OVERFLOW index
    physload(k, PFN_1)
    physload(k, PFN_2)
    assert k.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW == 2  # it moves with the segment count
    assert k.uvm_physseg_get_next(k.uvm_physseg_get_last()) == 2


def test_quirk_04_valid_p_checks_nothing_at_boot(config: Config, kernel: Kernel) -> None:
    k = kernel
    if config.static:
        for span in (PFN_1, PFN_2, PFN_3):
            physload(k, span)
        assert k.uvm_physseg_valid_p(7)  # no bounds check: slot 7 was never used
        assert k.uvm_physseg_get_start(7) == 0
        assert not k.uvm_physseg_valid_p(3)  # only -1 and the OVERFLOW index are refused
        k.uvm.page_init_done = True
        assert not k.uvm_physseg_valid_p(7)  # after boot: only "has a page array"
        return
    upm = physload(k, PFN_1)
    if k.VM_PHYSSEG_MAX > 1:
        gone = physload(k, PFN_2)
        assert k.uvm_physseg_unplug(256, 256)
        assert k.uvm_physseg_valid_p(gone)  # a removed (zeroed) node still passes at boot
        assert k.uvm_physseg_get_start(gone) == 0
    assert k.uvm_physseg_valid_p(upm)
    k.uvm.page_init_done = True
    assert not k.uvm_physseg_valid_p(upm)  # pgs is NULL


# ---- Accounting ------------------------------------------------------------------------------


def test_quirk_05_boot_back_trim_drives_npages_negative(kernel: Kernel) -> None:
    k = kernel
    physload(k, (256, 512, 257, 512))
    assert k.uvm_physseg_unplug(511, 1)  # back trim: counted even at boot
    assert k.uvmexp.npages == -1
    assert k.uvm_physseg_unplug(256, 1)  # front trim: guarded by page_init_done
    assert k.uvmexp.npages == -1


def test_quirk_05_rear_physunload_leaves_npages_short(config: Config, kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (256, 512, 257, 512))
    assert taken(k, k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)) == 511
    # The static build trims in place without unplug(), so it does not miscount.
    assert k.uvmexp.npages == (0 if config.static else -1)
    k.uvm_page_init_fake(256)
    free_pages = 511 - 257
    assert k.uvmexp.npages == (free_pages if config.static else free_pages - 1)


@pytest.mark.parametrize("config", MULTI, ids=_ident)
def test_quirk_06_static_whole_unplug_keeps_npages(config: Config) -> None:
    k = config.kernel()
    physload(k, PFN_1)
    physload(k, PFN_2)
    k.uvm_page_init_fake(512)
    assert k.uvmexp.npages == 512
    assert k.uvm_physseg_unplug(256, 256)
    assert k.uvm_physseg_get_entries() == 1
    assert k.uvmexp.npages == (512 if config.static else 256)


def test_quirk_07_physmem_is_never_decremented(config: Config, kernel: Kernel) -> None:
    k = kernel
    if config.static:
        physload(k, PFN_1)
        physload(k, PFN_2)
        assert k.physmem == 512  # every static plug counts (rev >= 1.18), boot ones too
        assert k.uvm_physseg_unplug(256, 256)
        assert k.physmem == 512
        return
    ok, _ = k.uvm_physseg_plug(0, 256)
    assert ok
    assert k.physmem == 0  # rbtree boot plugs do not count
    k.uvm_page_init_fake(256)
    ok, _ = k.uvm_physseg_plug(1024, 256)
    assert ok
    assert k.physmem == 256
    assert k.uvm_physseg_unplug(1024, 256)
    assert k.physmem == 256


def test_quirk_08_init_seg_counts_only_avail_pages(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (256, 512, 260, 500))
    k.uvm_physseg_init_seg(upm, k.malloc_pages(256))
    assert k.uvmexp.npages == 500 - 260
    for index in (0, 255):  # outside the avail range: initialised, not counted
        page = k.uvm_physseg_get_pg(upm, index)
        assert page is not None
        assert page.phys_addr == k.ctob(256 + index)


# ---- Plug ------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", MULTI, ids=_ident)
def test_quirk_09_plug_checks_only_the_first_pfn_for_overlap(config: Config) -> None:
    k = config.kernel()
    physload(k, PFN_2)
    ok, _ = k.uvm_physseg_plug(300, 10)  # first PFN inside [256, 512): refused
    assert not ok
    if config.static:
        ok, _ = k.uvm_physseg_plug(0, 300)  # no further check: an overlapping segment
        assert ok
        assert k.uvm_physseg_get_entries() == 2
    else:
        with pytest.raises(KernelAssertionError):  # the tree comparator's KASSERT
            k.uvm_physseg_plug(0, 300)


def test_quirk_10_hotplug_larger_than_managed_memory_fails(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    ok, _ = k.uvm_physseg_plug(0, 16)
    assert ok
    k.uvm_page_init_fake(16)
    assert k.uvmexp.npages == 16

    ok, _ = k.uvm_physseg_plug(256, 64)  # slab sizes tried: 16 down to 64, i.e. none
    assert not ok
    assert k.uvm_physseg_get_entries() == 1

    ok, first = k.uvm_physseg_plug(512, 8)  # a brand-new slab of npages = 16 entries
    assert ok
    ok, second = k.uvm_physseg_plug(768, 8)  # ... whose surplus the next plug scavenges
    assert ok
    first_pg = k.uvm_physseg_get_pg(first, 0)
    second_pg = k.uvm_physseg_get_pg(second, 0)
    assert first_pg is not None
    assert second_pg is not None
    assert second_pg.slab is first_pg.slab
    assert second_pg.offset_from(first_pg) == 8


def test_quirk_12_hotplugged_segment_gets_zero_fields(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    boot = physload(k, PFN_1, k.VM_FREELIST_FIRST16)
    assert k.uvm_physseg_set_start_hint(boot, 7)
    k.uvm_physseg_get_pmseg(boot).dummy_variable = True
    k.uvm_page_init_fake(256)

    ok, hot = k.uvm_physseg_plug(256, 256)
    assert ok
    assert k.uvm_physseg_get_free_list(hot) == k.VM_FREELIST_DEFAULT
    assert k.uvm_physseg_get_start_hint(hot) == 0
    assert not k.uvm_physseg_get_pmseg(hot).dummy_variable
    assert k.uvm_physseg_get_free_list(boot) == k.VM_FREELIST_FIRST16


def test_quirk_13_boot_extent_has_physseg_max_descriptors(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    ok, boot = k.uvm_physseg_plug(0, 256)
    assert ok
    slab = k.uvm_page_init_fake(512)  # 256 entries to spare

    ok, hot = k.uvm_physseg_plug(512, 256)
    assert ok
    pgs = k.uvm_physseg_get_pg(hot, 0)
    assert pgs is not None
    if k.VM_PHYSSEG_MAX == 1:
        assert pgs.slab is not slab.slab  # no spare descriptor: scavenging cannot work
    else:
        assert pgs.slab is slab.slab

    entries = k.uvm_physseg_get_entries()
    assert k.uvm_physseg_unplug(64, 16)  # unplug frees with EX_MALLOCOK: always splits
    assert k.uvm_physseg_get_entries() == entries + 1
    # Without EX_MALLOCOK a free needs a spare descriptor.
    err = k.extent_free(ext_of(k.seg(boot)), slab, 1, EX_NOWAIT)
    assert err == (ENOMEM if k.VM_PHYSSEG_MAX == 1 else 0)


# ---- Unplug ----------------------------------------------------------------------------------


def test_quirk_15_physload_panics_instead_of_returning_invalid(kernel: Kernel) -> None:
    k = kernel
    physload(k, PFN_1)
    with pytest.raises(KernelPanic, match=r"failed at boot"):
        physload(k, PFN_1)
    k.uvm_page_init_fake(256)
    with pytest.raises(KernelPanic, match=r"unload attempted after uvm_page_init"):
        physload(k, PFN_2)


def test_quirk_16_unplug_cannot_cross_a_segment_boundary(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_2)  # adjacent
    entries = k.uvm_physseg_get_entries()
    assert not k.uvm_physseg_unplug(250, 10)  # "oversized span"
    assert not k.uvm_physseg_unplug(1000, 1)  # "unknown offset"
    assert k.uvm_physseg_get_entries() == entries
    assert fields(k, upm) == PFN_1


def test_quirk_17_last_segment_panic_comes_after_the_extent_free(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    k.uvm_page_init_fake(256)
    with pytest.raises(KernelPanic, match="out of memory"):
        k.uvm_physseg_unplug(0, 256)
    assert k.uvm_physseg_get_entries() == 1
    err, _ = k.extent_alloc(ext_of(k.seg(upm)), 256, 1, 0, EX_BOUNDZERO)
    assert err == 0  # the segment's page entries had already gone back to the slab


def test_quirk_18_shared_extent_outlives_a_removed_segment(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    ok, _ = k.uvm_physseg_plug(0, 256)
    assert ok
    k.uvm_page_init_fake(256)  # the boot slab is full

    ok, first = k.uvm_physseg_plug(1024, 128)  # brand-new slab of npages = 256 entries
    assert ok
    ok, second = k.uvm_physseg_plug(2048, 64)  # scavenged from it
    assert ok
    first_pg = k.uvm_physseg_get_pg(first, 0)
    second_pg = k.uvm_physseg_get_pg(second, 0)
    assert first_pg is not None
    assert second_pg is not None
    assert second_pg.slab is first_pg.slab

    assert k.uvm_physseg_unplug(1024, 128)  # the slab's extent is still shared: kept
    ok, third = k.uvm_physseg_plug(3072, 64)
    assert ok
    third_pg = k.uvm_physseg_get_pg(third, 0)
    assert third_pg is not None
    assert third_pg.slab is first_pg.slab


def test_quirk_19_runtime_middle_split_shares_pages_and_extent(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    head = physload(k, PFN_1, k.VM_FREELIST_FIRST16)
    k.uvm_page_init_fake(256)
    assert k.uvm_physseg_unplug(64, 64)
    assert k.uvmexp.npages == 192

    tail, _ = k.uvm_physseg_find(128)
    assert tail != head
    assert fields(k, tail) == (128, 256, 128, 256)  # full avail
    assert k.uvm_physseg_get_free_list(tail) == k.VM_FREELIST_DEFAULT  # not inherited
    assert k.uvm_physseg_get_pg(tail, 0) == k.uvm_physseg_get_pg(head, 128)  # same array
    assert k.seg(tail).ext is k.seg(head).ext


def test_quirk_19_boot_middle_split_takes_a_pool_slot(rbtree_kernel: RBTreeKernel) -> None:
    k = rbtree_kernel
    physload(k, PFN_1)
    if k.VM_PHYSSEG_MAX == 1:
        with pytest.raises(KernelAssertionError, match=POOL_FULL):
            k.uvm_physseg_unplug(64, 64)
        return
    nseg = k.nseg
    assert k.uvm_physseg_unplug(64, 64)
    assert k.nseg == nseg + 1
    tail, _ = k.uvm_physseg_find(128)
    assert k.seg(tail).pgs is None


def test_quirk_20_boot_front_trim_does_not_advance_pgs(config: Config) -> None:
    k = config.kernel()
    upm = physload(k, PFN_2)
    k.uvm_physseg_init_seg(upm, k.malloc_pages(256))  # at boot, as ATF cases 30/41/43 do
    assert k.uvm_physseg_unplug(256, 1)
    assert k.uvm_physseg_get_start(upm) == 257
    page = k.uvm_physseg_get_pg(upm, 0)
    assert page is not None
    assert page.phys_addr == k.ctob(256)  # pgs[0] no longer describes start

    k = config.kernel()  # after boot the pointer follows the trim
    upm = physload(k, PFN_2)
    k.uvm_page_init_fake(256)
    assert k.uvm_physseg_unplug(256, 1)
    page = k.uvm_physseg_get_pg(upm, 0)
    assert page is not None
    assert page.phys_addr == k.ctob(257)


def test_quirk_21_trims_overwrite_avail_from_the_span(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (0, 256, 10, 200))
    assert k.uvm_physseg_unplug(0, 5)
    assert fields(k, upm) == (5, 256, 5, 200)  # avail_start pulled down to start
    assert k.uvm_physseg_unplug(250, 6)
    assert fields(k, upm) == (5, 250, 5, 250)  # avail_end pushed up from 200 to end


def test_quirk_21_middle_split_head_keeps_a_stale_avail_start() -> None:
    k = RBTREE_MAX32.kernel()
    head = physload(k, (0, 256, 100, 200))
    assert k.uvm_physseg_unplug(50, 10)
    assert fields(k, head) == (0, 50, 100, 50)  # avail_start > avail_end
    tail, _ = k.uvm_physseg_find(60)
    assert fields(k, tail) == (60, 256, 60, 256)


def test_quirk_22_zero_page_unplug_is_not_rejected(config: Config, kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1)
    assert k.uvm_physseg_unplug(0, 0)  # a front trim by nothing
    assert fields(k, upm) == PFN_1
    if config.static:
        with pytest.raises(KernelPanic, match="middle"):  # zero-width middle (quirk 23)
            k.uvm_physseg_unplug(100, 0)
    elif k.VM_PHYSSEG_MAX == 1:
        with pytest.raises(KernelAssertionError, match=POOL_FULL):  # the split needs a slot
            k.uvm_physseg_unplug(100, 0)
    else:
        assert k.uvm_physseg_unplug(100, 0)  # splits without removing a page
        assert k.uvm_physseg_get_entries() == 2
        assert fields(k, upm) == (0, 100, 0, 100)
        tail, _ = k.uvm_physseg_find(100)
        assert fields(k, tail) == (100, 256, 100, 256)


@pytest.mark.parametrize("config", STATICS, ids=_ident)
def test_quirk_23_static_unplug_panics_in_the_middle_and_shifts(config: Config) -> None:
    k = config.kernel()
    assert physload(k, PFN_1) == 0
    assert physload(k, PFN_2) == 1  # equal sizes: index 1 in every strategy
    with pytest.raises(KernelPanic, match="middle"):
        k.uvm_physseg_unplug(64, 16)
    assert k.uvm_physseg_unplug(0, 256)
    assert fields(k, 0) == PFN_2  # moved down: handle 0 now names it
    assert not k.uvm_physseg_valid_p(1)  # and 1 is the OVERFLOW index


# ---- physunload / physget --------------------------------------------------------------------


def test_quirk_24_force_unload_below_avail_start(config: Config, kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, (0, 256, 10, 256))
    if not config.static and k.VM_PHYSSEG_MAX == 1:
        with pytest.raises(KernelAssertionError, match=POOL_FULL):  # the split needs a slot
            k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT)
        return
    assert taken(k, k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT)) == 10
    if config.static:
        assert fields(k, upm) == (11, 256, 11, 256)  # truncated: PFNs 0-9 dropped
        assert k.uvm_physseg_get_entries() == 1
        return
    assert fields(k, upm) == (0, 10, 10, 10)  # split: the head keeps PFNs 0-9
    tail, _ = k.uvm_physseg_find(11)
    assert fields(k, tail) == (11, 256, 11, 256)
    assert k.uvm_physseg_get_entries() == 2


def test_quirk_25_force_unload_ignores_the_free_list(kernel: Kernel) -> None:
    k = kernel
    upm = physload(k, PFN_1, k.VM_FREELIST_FIRST16)
    assert k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT) == (False, None)
    assert k.uvm_page_physunload_force(upm, k.VM_FREELIST_DEFAULT) == (True, 0)


@pytest.mark.parametrize("config", MULTI, ids=_ident)
def test_quirk_25_physget_takes_another_lists_page_in_pass_two(config: Config) -> None:
    k = config.kernel()
    # FIRST16 with no free edge page; FIRST4G with free edges. The walk (bigfirst: from the
    # small end) meets the FIRST16 segment first in every configuration here.
    physload(k, (0, 128, 10, 118), k.VM_FREELIST_FIRST16)
    physload(k, PFN_2, k.VM_FREELIST_FIRST4G)
    assert (
        taken(k, k.uvm_page_physget()) == 10
    )  # free list 0's force pass, not free list 1's PFN 256


def test_quirk_26_edge_unload_keeps_a_segment_until_its_span_is_gone(kernel: Kernel) -> None:
    # Digest §4.1's example: both builds leave [1, 2) with an empty avail range.
    k = kernel
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_2)
    upm = physload(k, (0, 2, 0, 1))
    entries = k.uvm_physseg_get_entries()
    assert k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT) == (True, 0)
    assert k.uvm_physseg_get_entries() == entries
    assert fields(k, upm) == (1, 2, 1, 1)


LOW_SMALL_HIGH_BIG: tuple[Span, Span] = ((0, 8, 0, 8), PFN_2)
LOW_BIG_HIGH_SMALL: tuple[Span, Span] = (PFN_1, (512, 520, 512, 520))


@pytest.mark.parametrize(
    ("backend", "strategy", "layout", "expected_pfn"),
    [
        ("rbtree", "bsearch", LOW_SMALL_HIGH_BIG, 0),
        ("rbtree", "bigfirst", LOW_SMALL_HIGH_BIG, 256),  # highest address first
        ("static", "bsearch", LOW_SMALL_HIGH_BIG, 0),
        ("static", "bigfirst", LOW_SMALL_HIGH_BIG, 0),  # smallest segment first
        ("rbtree", "bsearch", LOW_BIG_HIGH_SMALL, 0),
        ("rbtree", "bigfirst", LOW_BIG_HIGH_SMALL, 512),
        ("static", "random", LOW_BIG_HIGH_SMALL, 0),
        ("static", "bigfirst", LOW_BIG_HIGH_SMALL, 512),
    ],
)
def test_quirk_27_bigfirst_physget_walks_backwards(
    backend: str, strategy: str, layout: tuple[Span, Span], expected_pfn: int
) -> None:
    k = Config(f"{backend}-{strategy}", backend, 32, strategy).kernel()
    for span in layout:
        physload(k, span)
    assert taken(k, k.uvm_page_physget()) == expected_pfn


# ---- The tests themselves --------------------------------------------------------------------


def test_quirk_28_shipped_build_holds_one_segment() -> None:
    k = RBTREE_MAX1.kernel()
    physload(k, PFN_1)
    with pytest.raises(KernelAssertionError, match=POOL_FULL):
        physload(k, PFN_2)


def test_quirk_29_delete_end_second_unload_finds_nothing(kernel: Kernel) -> None:
    k = kernel
    if k.VM_PHYSSEG_MAX > 1:
        physload(k, PFN_2)
    upm = physload(k, (0, 2, 1, 2))
    entries = k.uvm_physseg_get_entries()
    assert (
        taken(k, k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT)) == 1
    )  # back trim: [0, 1) with avail [1, 1)
    assert fields(k, upm) == (0, 1, 1, 1)
    assert k.uvm_page_physunload(upm, k.VM_FREELIST_DEFAULT) == (False, None)  # no abort
    assert k.uvm_physseg_get_entries() == entries


def test_quirk_30_start_hint_setter_works_but_atf_sets_zero(kernel: Kernel) -> None:
    k = kernel
    assert k.atop(128) == 0  # what ATF case 35 sets, indistinguishable from unset
    upm = physload(k, PFN_1)
    k.uvm_physseg_init_seg(upm, k.malloc_pages(256))
    assert k.uvm_physseg_set_start_hint(upm, 5)
    assert k.uvm_physseg_get_start_hint(upm) == 5


def test_quirk_33_freeing_an_unallocated_extent_range_panics(rbtree_kernel: RBTreeKernel) -> None:
    # Not reproduced: the ATF harness's extent panic() only prints; physseg panics as the
    # kernel's extent(9) does.
    k = rbtree_kernel
    slab = k.malloc_pages(8)
    seg = boot_slot(k)
    k.uvm_physseg_seg_chomp_slab(seg, slab, 8)
    with pytest.raises(KernelPanic):
        k.extent_free(ext_of(seg), slab, 1, EX_MALLOCOK)


# ---- Found by the conformance harness --------------------------------------------------------

NEGATIVE_NPAGES = (256, 512, 257, 512)
"""A segment whose avail window starts one page in, so that a boot-time back trim counts."""


def _boot_with_negative_npages(k: Kernel) -> int:
    """Load ``NEGATIVE_NPAGES``, trim 212 pages off its back at boot (each one counted,
    quirk 5) and initialise it with a slab that holds exactly the 44 pages left: no slab has
    room afterwards. Returns ``uvmexp.npages``: 43 free pages counted, minus the 212."""
    physload(k, NEGATIVE_NPAGES)
    assert k.uvm_physseg_unplug(300, 212)
    k.uvm_page_init_fake(44)
    assert k.uvmexp.npages == 43 - 212
    return k.uvmexp.npages


def test_quirk_38_a_brand_new_slab_sized_from_negative_npages_hangs(
    rbtree_kernel: RBTreeKernel,
) -> None:
    k = rbtree_kernel
    npages = _boot_with_negative_npages(k)
    before = save_image(k)

    with pytest.raises(KernelHang) as hang:
        k.uvm_physseg_plug(1024, 8)  # no slab has room: for (slabpages = (size_t)npages; ...)

    assert hang.value.reason is Reason.KERNEL_HANG
    assert (hang.value.op, hang.value.pfn, hang.value.pages) == ("uvm_physseg_plug", 1024, 8)
    assert hang.value.npages == npages == -169
    assert hang.value.slabpages == (1 << 64) - 169
    assert "never returns" in str(hang.value)
    assert save_image(k) == before  # no record, slab, extent or counter changed
    assert k.uvm_physseg_get_entries() == 1
    k.check()


def test_quirk_38_a_plug_that_scavenges_never_reaches_the_loop() -> None:
    k = RBTREE_MAX32.kernel()
    physload(k, NEGATIVE_NPAGES)
    assert k.uvm_physseg_unplug(300, 212)
    k.uvm_page_init_fake(44 + 8)  # 8 spare entries in the boot slab
    assert k.uvmexp.npages == -169

    ok, _ = k.uvm_physseg_plug(1024, 8)  # scavenged: uvmexp.npages is never read

    assert ok
    assert k.uvmexp.npages == -169 + 8
    with pytest.raises(KernelHang):
        k.uvm_physseg_plug(2048, 1)  # the boot slab is full now


def test_quirk_38_a_hang_at_boot_gives_back_the_pool_slot_it_took() -> None:
    # Before uvm_page_init, a segment given a page array by hand makes plug look for pages:
    # the record comes from the boot pool (the cursor moves) before the loop would hang.
    k = RBTREE_MAX32.kernel()
    upm = physload(k, NEGATIVE_NPAGES)
    assert k.uvm_physseg_unplug(300, 212)
    k.uvm_physseg_seg_chomp_slab(upm, k.malloc_pages(44), 44)
    k.uvm_physseg_init_seg(upm, k.uvm_physseg_seg_alloc_from_slab(upm, 44))
    assert (k.uvm.page_init_done, k.uvmexp.npages) == (False, -169)
    before, cursor = save_image(k), k.nseg

    with pytest.raises(KernelHang):
        k.uvm_physseg_plug(1024, 8)

    assert k.nseg == cursor
    assert save_image(k) == before


def test_quirk_38_physmem_refuses_a_plug_the_kernel_would_never_return_from() -> None:
    mem = PhysMem()
    mem.load(0, 4000, avail_start=3800)  # boot steals the page array from the back
    mem.boot()
    assert mem.npages == -44
    before, image = mem.snapshot(), mem.image()

    with pytest.raises(OutOfMemoryError) as err:
        mem.plug(0x10000, 8)

    assert err.value.reason is Reason.WOULD_HANG
    assert (err.value.pfn, err.value.npages, err.value.limit) == (0x10000, 8, -44)
    assert str(err.value).startswith("plug [0x10000, 0x10008): ")
    assert "uvmexp.npages is -44" in str(err.value)
    assert mem.snapshot() == before
    assert mem.image() == image
    mem.check()


def test_quirk_38_the_command_line_refuses_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "negative.trace").write_text(
        f"physload 0 {4000 * 4096} avail_start={3800 * 4096}\ninit\n"
    )
    assert cli_main(["replay", "--fresh", "negative.trace"]) == 0
    capsys.readouterr()
    operations = read_machine(tmp_path / "physseg-machine.db").operations

    status = cli_main(["plug", "0x10000000", "32K"])

    _, err = capsys.readouterr()
    assert status == 1
    assert err.startswith("physseg plug: plug [0x10000000, 0x10008000): ")
    assert "never return" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert read_machine(tmp_path / "physseg-machine.db").operations == operations


def test_quirk_39_a_plug_larger_than_a_slab_scans_on_past_it(rbtree_kernel: RBTreeKernel) -> None:
    """With DIAGNOSTIC, NetBSD's extent_alloc() panics "bad size" on a request larger than the
    whole extent, and a run-time plug's scavenging walk asks every slab it meets: a plug larger
    than any existing slab panics there. physseg, like a kernel without DIAGNOSTIC (and the
    _EXTENT_TESTING build), finds no room in that slab and goes on to a brand-new one."""
    k = rbtree_kernel
    physload(k, (0, 4, 0, 4))
    k.uvm_page_init_fake(4)  # the boot slab: exactly 4 entries, all used
    ok, small = k.uvm_physseg_plug(100, 4)  # a second slab of npages = 4 entries
    assert ok and k.uvmexp.npages == 8
    boot_ext = ext_of(k.seg(k.uvm_physseg_get_first()))
    with pytest.raises((ExtentNoSpaceError, ExtentNoDescriptorError)):
        boot_ext.extent.alloc(6)  # larger than the whole extent: no room (MAX 1: no descriptor)

    ok, big = k.uvm_physseg_plug(200, 6)  # the C kernel with DIAGNOSTIC panics in this walk

    assert ok
    page = k.uvm_physseg_get_pg(big, 0)
    assert page is not None
    slabs = {
        k.uvm_physseg_get_pg(h, 0).slab.ident  # type: ignore[union-attr]
        for h in (k.uvm_physseg_get_first(), small, big)
    }
    assert len(slabs) == 3  # a brand-new slab, sized from npages (8)
    assert page.slab.npages == 8 and k.uvmexp.npages == 14
    k.check()
