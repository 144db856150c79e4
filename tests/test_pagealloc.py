"""The page allocator: uvm_pglistalloc's walk and start hints, uvm_pagefree, against a model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from physseg import (
    BootPhaseError,
    InvalidArgumentError,
    OutOfMemoryError,
    PagesBusyError,
    PhysMem,
    PhysSegError,
    RangeNotManagedError,
)
from physseg.core.pages import PG_BUSY, PG_FREE
from physseg.netbsd import make_kernel
from physseg.pagealloc import PageAllocator, PageUsage

pytestmark = pytest.mark.usefixtures("page_mode")


def machine(*spans: tuple[int, int, int], strategy: str = "bsearch") -> PhysMem:
    """A booted machine (page arrays outside the segments) with ``(start, end, free_list)``."""
    mem = PhysMem(strategy=strategy, safe_unplug=True)
    for start, end, free_list in spans:
        mem.load(start, end, free_list=free_list)
    mem.boot(steal=False)
    return mem


def hints(mem: PhysMem) -> dict[int, int]:
    return {seg.start: seg.start_hint for seg in mem}


# ----------------------------------------------------------------- allocation order and hints
def test_alloc_takes_free_list_zero_first_then_in_address_order() -> None:
    mem = machine((0x10, 0x14, 1), (0x20, 0x22, 0), (0x30, 0x32, 0))
    pages = PageAllocator(mem)
    assert pages.alloc(6).tolist() == [0x20, 0x21, 0x30, 0x31, 0x10, 0x11]


def test_alloc_on_one_free_list_only() -> None:
    mem = machine((0x10, 0x14, 1), (0x20, 0x22, 0))
    pages = PageAllocator(mem)
    assert pages.alloc(2, free_list=1).tolist() == [0x10, 0x11]


def test_hint_is_left_after_the_last_page_taken() -> None:
    mem = machine((0x100, 0x110, 0))
    pages = PageAllocator(mem)
    pages.alloc(3)
    assert hints(mem) == {0x100: 3}


def test_scan_starts_at_the_hint_and_wraps_once() -> None:
    mem = machine((0x100, 0x108, 0))
    pages = PageAllocator(mem)
    pages.alloc(2)
    pages.free([0x100, 0x101])
    mem.set_start_hint(mem.segments()[0], 6)
    assert pages.alloc(4).tolist() == [0x106, 0x107, 0x100, 0x101]
    assert hints(mem) == {0x100: 2}


def test_exhausted_segment_keeps_its_hint_after_a_wrap() -> None:
    mem = machine((0x100, 0x104, 0), (0x200, 0x204, 0))
    pages = PageAllocator(mem)
    pages.alloc(2)
    pages.alloc(2)
    assert pages.alloc(3).tolist() == [0x200, 0x201, 0x202]
    assert hints(mem) == {0x100: 4, 0x200: 3}


def test_exhausted_segment_without_hint_is_left_at_its_end() -> None:
    mem = machine((0x100, 0x102, 0), (0x200, 0x204, 0))
    pages = PageAllocator(mem)
    mem.set_start_hint(mem.segments()[0], 0)
    pages.alloc(2)
    mem.set_start_hint(mem.segments()[0], 0)
    pages.alloc(1)
    assert hints(mem)[0x100] == 2


def test_bigfirst_walks_the_segments_backwards() -> None:
    mem = machine((0x100, 0x102, 0), (0x200, 0x202, 0), strategy="bigfirst")
    pages = PageAllocator(mem)
    assert pages.alloc(3).tolist() == [0x200, 0x201, 0x100]


def test_pages_outside_the_avail_window_are_never_taken() -> None:
    mem = PhysMem()
    mem.load(0x100, 0x110, avail_start=0x104, avail_end=0x106)
    mem.load(0x200, 0x210, avail_start=0x205, avail_end=0x205)
    mem.boot(steal=False)
    pages = PageAllocator(mem)
    assert pages.alloc(5, partial=True).tolist() == [0x104, 0x105]
    assert hints(mem)[0x200] == 0


def test_alloc_is_all_or_nothing_by_default() -> None:
    mem = machine((0x100, 0x104, 0))
    pages = PageAllocator(mem)
    before = hints(mem)
    with pytest.raises(OutOfMemoryError, match="only 4 free on any free list"):
        pages.alloc(5)
    assert pages.usage() == PageUsage(free=4, busy=0)
    assert hints(mem) == before


def test_alloc_on_an_empty_free_list_names_it() -> None:
    mem = machine((0x100, 0x104, 0))
    with pytest.raises(OutOfMemoryError, match="only 0 free on free list 2"):
        PageAllocator(mem).alloc(1, free_list=2)


def test_partial_alloc_returns_what_there_is() -> None:
    mem = machine((0x100, 0x104, 0))
    pages = PageAllocator(mem)
    assert pages.alloc(9, partial=True).size == 4
    assert pages.alloc(1, partial=True).size == 0


def test_alloc_walks_past_the_first_scan_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("physseg.pagealloc.SCAN_CHUNK_PAGES", 2)
    mem = machine((0x100, 0x102, 0), (0x200, 0x202, 0), (0x300, 0x302, 0))
    pages = PageAllocator(mem)
    pages.alloc(1, free_list=0)
    assert pages.alloc(4).tolist() == [0x101, 0x200, 0x201, 0x300]


@pytest.mark.parametrize("npages", [0, -1, True, 2.0, "3"])
def test_alloc_rejects_a_bad_count(npages: object) -> None:
    pages = PageAllocator(machine((0x100, 0x104, 0)))
    with pytest.raises(InvalidArgumentError, match="npages"):
        pages.alloc(npages)  # type: ignore[arg-type]


@pytest.mark.parametrize("free_list", [-1, 4, True, "0"])
def test_alloc_rejects_an_unknown_free_list(free_list: object) -> None:
    pages = PageAllocator(machine((0x100, 0x104, 0)))
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        pages.alloc(1, free_list=free_list)  # type: ignore[arg-type]


def test_alloc_and_free_need_a_booted_machine() -> None:
    mem = PhysMem()
    mem.load(0x100, 0x104)
    pages = PageAllocator(mem)
    with pytest.raises(BootPhaseError):
        pages.alloc(1)
    with pytest.raises(BootPhaseError):
        pages.free(0x100)


def test_allocated_pages_are_busy_and_not_free() -> None:
    mem = machine((0x100, 0x104, 0))
    pages = PageAllocator(mem)
    pages.alloc(1)
    page = mem.page(0x100 << 12)
    assert page is not None
    assert page.flags & PG_BUSY and not page.flags & PG_FREE
    assert pages.is_busy(0x100) and not pages.is_busy(0x101) and not pages.is_busy(0x999)


# ----------------------------------------------------------------- free
def test_free_returns_pages_to_their_segments_free_list() -> None:
    mem = machine((0x100, 0x104, 3))
    pages = PageAllocator(mem)
    taken = pages.alloc(2)
    page = mem.page(0x100 << 12)
    assert page is not None
    page.free_list = 0
    pages.free(taken)
    assert page.flags & PG_FREE and not page.flags & PG_BUSY and page.free_list == 3
    assert pages.usage() == PageUsage(free=4, busy=0)


def test_free_of_nothing_does_nothing() -> None:
    pages = PageAllocator(machine((0x100, 0x104, 0)))
    pages.free([])
    assert pages.usage().busy == 0


@pytest.mark.parametrize(
    ("pfns", "error", "text"),
    [
        ([0x100, 0x101], InvalidArgumentError, "0x101 is not allocated"),
        ([0x100, 0x100], InvalidArgumentError, "given twice"),
        ([0x100, 0x999], RangeNotManagedError, "0x999 is not a managed page"),
        ([-1], InvalidArgumentError, "out of range"),
        ([1 << 52], InvalidArgumentError, "out of range"),
        ([1.5], InvalidArgumentError, "integer PFNs"),
        ([[0x100]], InvalidArgumentError, "integer PFNs"),
    ],
)
def test_free_validates_everything_before_freeing_anything(
    pfns: list[object], error: type[Exception], text: str
) -> None:
    mem = machine((0x100, 0x104, 0))
    pages = PageAllocator(mem)
    pages.alloc(1)
    with pytest.raises(error, match=text):
        pages.free(pfns)
    assert pages.busy_pfns().tolist() == [0x100]


def test_allocator_follows_a_kernel_too() -> None:
    kernel = make_kernel("rbtree", physseg_max=4)
    kernel.uvm_page_physload(0x100, 0x104, 0x100, 0x104, 0)
    kernel.uvm_page_init_fake(4)
    pages = PageAllocator(kernel)
    assert pages.kernel is kernel
    assert pages.alloc(2).tolist() == [0x100, 0x101]


def test_allocator_works_on_the_static_backend() -> None:
    mem = PhysMem("static")
    mem.load(0x200, 0x202)
    mem.load(0x100, 0x102)
    mem.boot(steal=False)
    assert PageAllocator(mem).alloc(3).tolist() == [0x100, 0x101, 0x200]


def test_allocator_needs_memory_to_serve() -> None:
    with pytest.raises(InvalidArgumentError, match="expected a PhysMem or Kernel"):
        PageAllocator("memory")  # type: ignore[arg-type]


def test_no_pages_no_busy_pfns() -> None:
    mem = PhysMem()
    assert PageAllocator(mem).busy_pfns().size == 0
    assert PageAllocator(mem).usage() == PageUsage(0, 0)


def test_check_names_a_page_both_free_and_busy() -> None:
    mem = machine((0x100, 0x104, 0))
    pages = PageAllocator(mem)
    pages.check()
    page = mem.page(0x102 << 12)
    assert page is not None
    page.flags = PG_FREE | PG_BUSY
    with pytest.raises(AssertionError, match="page 0x102 is both free and allocated"):
        pages.check()


def test_replugged_entries_of_an_unsafely_unplugged_busy_page_stay_busy() -> None:
    mem = PhysMem()
    mem.load(0x100, 0x104, free_list=1)
    mem.boot(steal=False)
    mem.plug(0x200, 4)
    pages = PageAllocator(mem)
    pages.alloc(1, free_list=0)
    mem.unplug(0x200, 2)
    mem.plug(0x300, 2)
    assert pages.is_busy(0x300)
    with pytest.raises(AssertionError, match="both free and allocated"):
        pages.check()


# ----------------------------------------------------------------- the model
@dataclass
class SegInfo:
    start: int
    end: int
    avail_start: int
    avail_end: int
    free_list: int
    hint: int


def reference_alloc(
    segs: list[SegInfo], busy: set[int], npages: int, lists: list[int]
) -> tuple[list[int], dict[int, int]]:
    """uvm_pglistalloc_simple / _s_ps page by page, as the C loop reads; returns the pages
    taken and the hint of every segment visited (keyed by start)."""
    taken: list[int] = []
    new_hints: dict[int, int] = {}
    todo = npages
    for fl in lists:
        for seg in segs:
            lo, hi = max(seg.avail_start, seg.start), min(seg.avail_end, seg.end)
            if seg.free_list != fl or hi <= lo:
                continue
            cand, limit, second = seg.avail_start + seg.hint, hi, False
            while True:
                if cand >= limit:
                    if seg.hint == 0 or second:
                        cand = limit - 1
                        break
                    second, cand, limit = True, lo, min(limit, seg.avail_start + seg.hint)
                    continue
                if cand not in busy:
                    taken.append(cand)
                    todo -= 1
                    if todo == 0:
                        break
                cand += 1
            new_hints[seg.start] = cand + 1 - seg.avail_start
            if todo == 0:
                return taken, new_hints
    return taken, new_hints


BASE = 0x1000
FREE_LISTS = 4


class AllocatorMachine(RuleBasedStateMachine):
    """The allocator against a set of busy pages and the C loop above, while segments are
    plugged, unplugged (safely) and their hints moved."""

    @initialize(
        coalesce=st.booleans(),
        sizes=st.lists(
            st.tuples(st.integers(1, 24), st.integers(0, FREE_LISTS - 1)), min_size=1, max_size=4
        ),
    )
    def boot(self, coalesce: bool, sizes: list[tuple[int, int]]) -> None:
        self.mem = PhysMem(coalesce=coalesce, safe_unplug=True)
        at = BASE
        for npages, free_list in sizes:
            self.mem.load(at, at + npages, free_list=free_list)
            at += npages + 3
        self.mem.boot(steal=False)
        self.top = at
        self.pages = PageAllocator(self.mem)
        self.busy: set[int] = set()

    def infos(self) -> list[SegInfo]:
        return [
            SegInfo(s.start, s.end, s.avail_start, s.avail_end, s.free_list, s.start_hint)
            for s in self.mem
        ]

    @rule(
        npages=st.integers(1, 40),
        free_list=st.none() | st.integers(0, FREE_LISTS - 1),
        partial=st.booleans(),
    )
    def alloc(self, npages: int, free_list: int | None, partial: bool) -> None:
        segs = self.infos()
        lists = list(range(FREE_LISTS)) if free_list is None else [free_list]
        expected, new_hints = reference_alloc(segs, self.busy, npages, lists)
        if len(expected) < npages and not partial:
            with pytest.raises(OutOfMemoryError):
                self.pages.alloc(npages, free_list=free_list)
            assert self.infos() == segs
            return
        got = self.pages.alloc(npages, free_list=free_list, partial=partial)
        assert got.tolist() == expected
        self.busy.update(expected)
        old_hints = {seg.start: seg.hint for seg in segs}
        assert {seg.start: seg.hint for seg in self.infos()} == old_hints | new_hints

    @precondition(lambda self: self.busy)
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sets(st.sampled_from(sorted(self.busy)), min_size=1))
        self.pages.free(np.array(sorted(chosen)))
        self.busy -= chosen

    @rule(pfn=st.integers(BASE, BASE + 130))
    def double_free_is_refused(self, pfn: int) -> None:
        assume(pfn not in self.busy)
        with pytest.raises((InvalidArgumentError, RangeNotManagedError)):
            self.pages.free(pfn)

    @rule(gap=st.integers(0, 2), npages=st.integers(1, 16))
    def plug(self, gap: int, npages: int) -> None:
        assume(npages <= self.mem.npages)  # the kernel sizes a new slab from uvmexp.npages
        self.mem.plug(self.top + gap, npages)
        self.top += gap + npages

    @rule(data=st.data())
    def unplug(self, data: st.DataObject) -> None:
        seg = data.draw(st.sampled_from(self.mem.segments()))
        first = data.draw(st.integers(seg.start, seg.end - 1))
        npages = data.draw(st.integers(1, seg.end - first))
        assume(not (first == seg.start and npages == seg.npages and len(self.mem) == 1))
        inside = self.busy & set(range(first, first + npages))
        if inside:
            with pytest.raises(PagesBusyError, match=f"page {min(inside):#x} "):
                self.mem.unplug(first, npages)
        else:
            try:
                self.mem.unplug(first, npages)
            except PhysSegError as exc:  # pragma: no cover - reported by hypothesis
                raise AssertionError(f"unplug refused: {exc}") from exc

    @rule(data=st.data())
    def move_hint(self, data: st.DataObject) -> None:
        seg = data.draw(st.sampled_from(self.mem.segments()))
        self.mem.set_start_hint(seg, data.draw(st.integers(0, seg.npages + 2)))

    @invariant()
    def busy_pages_match(self) -> None:
        assert self.pages.busy_pfns().tolist() == sorted(self.busy)

    @invariant()
    def counts_match(self) -> None:
        window = sum(
            max(0, min(s.avail_end, s.end) - max(s.avail_start, s.start)) for s in self.mem
        )
        usage = self.pages.usage()
        assert usage.busy == len(self.busy)
        assert usage.free == window - len(self.busy)

    @invariant()
    def consistent(self) -> None:
        self.pages.check()
        self.mem.check()


def test_allocator_against_the_model() -> None:
    run_state_machine_as_test(
        AllocatorMachine,
        settings=settings(
            max_examples=max(25, settings.default.max_examples // 3),
            stateful_step_count=max(25, settings.default.stateful_step_count // 2),
        ),
    )
