"""The coalescing policy: ``PhysMem(coalesce=True)`` merges plugged ranges with mergeable
neighbours; lookups and page identities are those of the uncoalesced machine."""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np
import pytest
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from physseg import (
    KernelAssertionError,
    PhysMem,
    PhysSegError,
    StaleSegmentError,
    UnsupportedOperationError,
)
from physseg.core.pages import Page
from physseg.netbsd import RBTreeKernel

PAGE = 1 << 12


def booted(*, coalesce: bool = True, free_list: int = 1) -> PhysMem:
    """Boot memory [0x100, 0x200) on ``free_list`` with its page array stolen from it."""
    mem = PhysMem(coalesce=coalesce)
    mem.load(0x100, 0x200, free_list=free_list)
    mem.boot()
    return mem


def kernel(mem: PhysMem) -> RBTreeKernel:
    return cast(RBTreeKernel, mem.kernel)


def identity(mem: PhysMem, pfn: int) -> Page | None:
    return mem.page(pfn * PAGE)


def test_coalescing_is_off_by_default() -> None:
    assert PhysMem().coalesce is False
    assert PhysMem(coalesce=True).coalesce is True


def test_one_page_plugs_grow_one_segment_instead_of_adding_one_each() -> None:
    plain, merged = booted(coalesce=False), booted()
    for pfn in range(0x200, 0x240):
        plain.plug(pfn, 1)
        merged.plug(pfn, 1)
    assert len(plain) == 1 + 0x40
    # the first page takes the boot page array's spare entry, the others a new slab's run
    assert [str(s) for s in merged] == ["[0x108, 0x200)", "[0x200, 0x201)", "[0x201, 0x240)"]
    assert merged.npages == plain.npages and merged.physmem == plain.physmem


def test_plug_returns_the_segment_that_now_holds_the_range() -> None:
    mem = booted()
    mem.plug(0x200, 4)
    view = mem.plug(0x204, 2)
    assert (view.start, view.end, view.avail_start, view.avail_end) == (0x200, 0x206, 0x200, 0x206)
    assert mem.find(0x205) == (view, 5)


def test_merging_keeps_every_page_its_vm_page_entry() -> None:
    mem = booted()
    mem.plug(0x200, 4)
    before = {pfn: identity(mem, pfn) for pfn in range(0x200, 0x204)}
    mem.plug(0x204, 4)
    assert {pfn: identity(mem, pfn) for pfn in range(0x200, 0x204)} == before
    assert identity(mem, 0x207) == cast(Page, before[0x200]) + 7


def test_views_of_merged_segments_are_stale_and_the_survivor_record_lives_on() -> None:
    mem = booted()
    old = mem.plug(0x200, 4)
    record = kernel(mem).uvm_physseg_find(0x200)[0]
    new = mem.plug(0x204, 4)
    with pytest.raises(StaleSegmentError):
        mem.set_start_hint(old, 1)
    assert mem.set_start_hint(new, 1).start_hint == 1
    assert kernel(mem).uvm_physseg_find(0x207)[0] is record


def test_the_absorbed_record_is_zeroed_and_out_of_the_tree() -> None:
    mem = booted()
    mem.plug(0x200, 4)
    mem.unplug(0x201, 2)
    right = kernel(mem).uvm_physseg_find(0x203)[0]
    mem.plug(0x201, 2)
    assert [str(s) for s in mem][-1] == "[0x200, 0x204)"
    assert (right.start, right.end, right.pgs, right.ext) == (0, 0, None, None)
    assert right not in kernel(mem).tree
    mem.check()


def test_a_middle_plug_merges_on_both_sides() -> None:
    mem = booted()
    mem.plug(0x200, 8)
    mem.unplug(0x203, 2)
    entries = kernel(mem).uvm_physseg_get_entries()
    view = mem.plug(0x203, 2)
    assert (view.start, view.end) == (0x200, 0x208)
    assert kernel(mem).uvm_physseg_get_entries() == entries - 1
    ext = kernel(mem).uvm_physseg_find(0x200)[0].ext
    assert ext.members == 1


def test_no_merge_across_free_lists() -> None:
    mem = PhysMem(coalesce=True)
    mem.load(0x100, 0x200, free_list=1)
    mem.boot(steal=False)
    mem.plug(0x200, 4)
    assert len(mem) == 2


def test_no_merge_across_slabs() -> None:
    mem = booted(free_list=0)
    mem.plug(0x200, 4)
    assert [str(s) for s in mem] == ["[0x108, 0x200)", "[0x200, 0x204)"]


def test_no_merge_when_the_page_arrays_are_not_one_run() -> None:
    mem = booted()
    mem.plug(0x300, 4)
    mem.plug(0x200, 4)
    view = mem.plug(0x304, 4)
    assert (view.start, view.end) == (0x304, 0x308)


def test_the_static_backend_ignores_the_policy() -> None:
    mem = PhysMem("static", coalesce=True)
    mem.load(0x100, 0x200)
    mem.boot(steal=False)
    with pytest.raises(UnsupportedOperationError):
        mem.plug(0x200, 1)


def test_mergeable_needs_full_avail_windows_at_the_shared_edge() -> None:
    mem = booted(coalesce=False)
    mem.plug(0x200, 4)
    mem.plug(0x204, 4)
    k = kernel(mem)
    left, right = k.uvm_physseg_find(0x200)[0], k.uvm_physseg_find(0x204)[0]
    assert k.segments_mergeable(left, right)
    assert not k.segments_mergeable(right, left)
    assert not k.segments_mergeable(left, left)
    left.avail_end -= 1
    assert not k.segments_mergeable(left, right)
    left.avail_end += 1
    right.avail_start += 1
    assert not k.segments_mergeable(left, right)
    right.avail_start -= 1
    right.free_list = 2
    assert not k.segments_mergeable(left, right)


def test_merge_adjacent_kasserts_its_precondition() -> None:
    mem = booted(coalesce=False)
    mem.plug(0x200, 4)
    mem.plug(0x300, 4)
    k = kernel(mem)
    with pytest.raises(KernelAssertionError, match="segments_mergeable"):
        k.merge_adjacent(k.uvm_physseg_find(0x200)[0], k.uvm_physseg_find(0x300)[0])


def test_merge_adjacent_by_hand_moves_the_version_and_nothing_else() -> None:
    mem = booted(coalesce=False)
    mem.plug(0x200, 4)
    mem.plug(0x204, 4)
    k = kernel(mem)
    version, npages, physmem = k.version, k.uvmexp.npages, k.physmem
    left = k.uvm_physseg_find(0x200)[0]
    assert k.merge_adjacent(left, k.uvm_physseg_find(0x204)[0]) is left
    assert (left.start, left.end) == (0x200, 0x208)
    assert k.version > version
    assert (k.uvmexp.npages, k.physmem) == (npages, physmem)
    mem.check()


# ----------------------------------------------------------------- against the plain machine
TOP = 0x280


class CoalesceMachine(RuleBasedStateMachine):
    """The same plugs and unplugs on a coalescing and a plain machine: every page is managed by
    both or neither and has the same vm_page entry in both; the counters agree."""

    @initialize()
    def boot(self) -> None:
        self.plain = booted(coalesce=False, free_list=0)
        self.merged = booted(free_list=0)
        self.slab_order: dict[int, list[int]] = {id(self.plain): [], id(self.merged): []}

    @rule(pfn=st.integers(0x1F0, TOP), npages=st.integers(1, 12))
    def plug(self, pfn: int, npages: int) -> None:
        outcomes = []
        for mem in (self.plain, self.merged):
            try:
                mem.plug(pfn, npages)
                outcomes.append(None)
            except PhysSegError as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]

    @rule(data=st.data())
    def unplug(self, data: st.DataObject) -> None:
        seg = data.draw(st.sampled_from(self.plain.segments()))
        first = data.draw(st.integers(seg.start, seg.end - 1))
        npages = data.draw(st.integers(1, seg.end - first))
        assume(len(self.plain) > 1 or npages < seg.npages)
        assume(len(self.merged) > 1 or npages < self.merged.segments()[0].npages)
        self.plain.unplug(first, npages)
        self.merged.unplug(first, npages)

    def identities(self, mem: PhysMem) -> np.ndarray:
        order = self.slab_order[id(mem)]
        for ident in sorted({s.pgs.slab.ident for s in mem.kernel.segments() if s.pgs}):
            if ident not in order:
                order.append(ident)
        batch = mem.pages(np.arange(0x100, TOP + 12, dtype=np.uint64) * PAGE)
        rank = np.array([order.index(int(i)) if i >= 0 else -1 for i in batch.slab])
        return np.stack([batch.hit, rank, batch.index])

    @invariant()
    def same_pages_same_entries(self) -> None:
        assert np.array_equal(self.identities(self.plain), self.identities(self.merged))

    @invariant()
    def same_counters(self) -> None:
        assert self.plain.npages == self.merged.npages
        assert self.plain.physmem == self.merged.physmem
        assert len(self.merged) <= len(self.plain)

    @invariant()
    def no_mergeable_neighbours_left(self) -> None:
        k = kernel(self.merged)
        records = list(k.segments())
        for left, right in itertools.pairwise(records):
            assert not k.segments_mergeable(left, right)

    @invariant()
    def consistent(self) -> None:
        self.plain.check()
        self.merged.check()


CoalesceMachine.TestCase.settings = settings(
    max_examples=max(25, settings.default.max_examples // 3),
    stateful_step_count=max(25, settings.default.stateful_step_count // 2),
)
test_coalescing_matches_the_plain_machine = CoalesceMachine.TestCase
