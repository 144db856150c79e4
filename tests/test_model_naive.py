"""The naive model of ``tests/support/naive.py`` checked against hand-worked examples from the
semantics digest, so that a wrong model cannot silently agree with a wrong engine."""

from __future__ import annotations

import pytest

from support.naive import Hang, Kassert, NaiveExtent, NaiveKernel, Panic, Unmodelled


def test_model_extent_best_fit_prefers_the_smallest_gap_then_the_lowest() -> None:
    ext = NaiveExtent(20, None)
    ext.alloc(20)
    assert ext.free(2, 3, malloc_ok=True)
    assert ext.free(8, 2, malloc_ok=True)
    assert ext.free(14, 2, malloc_ok=True)
    assert ext.alloc(2) == 8
    assert ext.alloc(2) == 14
    assert ext.as_regions() == [(0, 2), (5, 15)]


def test_model_extent_fixed_descriptors_run_out_without_malloc_ok() -> None:
    ext = NaiveExtent(10, 1)
    assert ext.alloc(10) == 0
    assert ext.free_static == 0
    assert not ext.free(3, 2, malloc_ok=False)
    assert ext.free(3, 2, malloc_ok=True)
    assert ext.as_regions() == [(0, 3), (5, 5)]
    assert ext.alloc(1) is None


def test_model_extent_free_outside_every_region_panics() -> None:
    ext = NaiveExtent(10, None)
    ext.alloc(4)
    with pytest.raises(Panic):
        ext.free(3, 2, malloc_ok=True)


def test_model_page_init_steals_then_carves_consecutive_slots() -> None:
    model = NaiveKernel("rbtree", 4)
    model.physload(0, 100, 0, 100, 0)
    model.physload(200, 300, 200, 300, 0)
    slab = model.page_init()
    assert slab.size == 194
    assert [(s.start, s.end, s.first) for s in model.segs] == [(7, 100, 0), (200, 300, 93)]
    assert model.npages == 193


def test_model_boot_rear_unload_drives_npages_negative_quirk_5() -> None:
    model = NaiveKernel("rbtree", 4)
    seg = model.physload(0, 10, 5, 10, 0)
    assert model.physunload(seg, 0) == (True, 9 << 12)
    assert model.npages == -1


def test_model_static_rear_unload_keeps_npages() -> None:
    model = NaiveKernel("static", 4)
    seg = model.physload(0, 10, 5, 10, 0)
    assert model.physunload(seg, 0) == (True, 9 << 12)
    assert (model.npages, seg.end) == (0, 9)


def test_model_force_below_avail_start_splits_rbtree_truncates_static_quirk_24() -> None:
    tree = NaiveKernel("rbtree", 4)
    tree.physload(0, 10, 4, 10, 0)
    assert tree.physunload_force(tree.segs[0]) == (True, 4 << 12)
    assert [s.fields for s in tree.segs] == [(0, 4, 4, 4, 0, 0), (5, 10, 5, 10, 0, 0)]
    array = NaiveKernel("static", 4)
    array.physload(0, 10, 4, 10, 0)
    assert array.physunload_force(array.segs[0]) == (True, 4 << 12)
    assert [s.fields for s in array.segs] == [(5, 10, 5, 10, 0, 0)]


def test_model_hotplug_scavenges_the_slots_an_unplug_freed() -> None:
    model = NaiveKernel("rbtree", 4)
    model.physload(0, 64, 0, 64, 0)
    model.page_init_fake(64)
    assert model.unplug(10, 4)
    ok, seg = model.plug(100, 4)
    assert ok and seg is not None
    assert (seg.slab, seg.first) == (model.segs[0].slab, 10)
    assert model.physmem == 4


def test_model_hotplug_beyond_npages_fails_quirk_10() -> None:
    model = NaiveKernel("rbtree", 4)
    model.physload(0, 8, 0, 8, 0)
    model.page_init_fake(8)
    assert model.plug(100, 9) == (False, None)
    ok, seg = model.plug(100, 8)
    assert ok and seg is not None and seg.slab is not None and seg.slab.size == 8


def test_model_last_segment_unplug_panics_after_the_extent_free_quirk_17() -> None:
    model = NaiveKernel("rbtree", 4)
    model.physload(0, 8, 0, 8, 0)
    slab = model.page_init_fake(8)
    with pytest.raises(Panic):
        model.unplug(0, 8)
    assert slab.extent.as_regions() == []
    assert len(model.segs) == 1


def test_model_static_bigfirst_keeps_size_order_at_insertion_only() -> None:
    model = NaiveKernel("static", 4, "bigfirst")
    model.physload(0, 4, 0, 4, 0)
    model.physload(10, 20, 10, 20, 0)
    model.physload(30, 34, 30, 34, 0)
    assert [s.start for s in model.segs] == [10, 0, 30]
    assert model.highest_frame() == 34


def test_model_static_slot_keeps_the_start_hint_it_held() -> None:
    model = NaiveKernel("static", 4, "bigfirst")
    small = model.physload(2, 3, 2, 3, 0)
    small.start_hint = 7
    big = model.physload(0, 2, 0, 2, 0)
    assert [s.start for s in model.segs] == [0, 2]
    assert big.start_hint == 7


def test_model_boot_pool_overrun_is_a_kassert() -> None:
    model = NaiveKernel("rbtree", 1)
    model.physload(0, 10, 4, 10, 0)
    with pytest.raises(Kassert):
        model.physunload_force(model.segs[0])
    assert model.nseg == 2
    assert [s.fields for s in model.segs] == [(0, 10, 4, 10, 0, 0)]


def test_model_boot_segment_removal_panics_in_free_with_one_pool_slot() -> None:
    model = NaiveKernel("rbtree", 1)
    model.physload(0, 64, 0, 64, 0)
    model.page_init_fake(64)
    assert model.plug(100, 8)[0]
    with pytest.raises(Panic):
        model.unplug(0, 64)
    assert [s.start for s in model.segs] == [100]
    assert model.nentries == 2


def test_model_unmodelled_calls_change_nothing() -> None:
    model = NaiveKernel("rbtree", 4)
    model.physload(10, 20, 10, 20, 0)
    with pytest.raises(Unmodelled):
        model.plug(5, 10)
    assert (model.nseg, len(model.segs)) == (1, 1)


def test_model_plug_hangs_while_npages_is_negative_and_changes_nothing() -> None:
    model = NaiveKernel("rbtree", 32)
    model.physload(256, 512, 257, 512, 0)
    model.unplug(300, 212)  # a boot-time back trim counts (quirk 5)
    model.page_init_fake(44)  # no spare entry: the next plug needs a brand-new slab
    assert model.npages == 43 - 212
    before = model.signature()
    with pytest.raises(Hang):
        model.plug(1024, 8)
    assert model.signature() == before
