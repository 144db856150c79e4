"""Specification of the lookup fast paths (issue 14): ``PhysMem.page`` and ``PhysMem.find``
answer, and refuse, exactly as their full paths and the kernel's own search
(``uvm_physseg_find`` + ``uvm_physseg_get_pg``) do, for every input kind, on both backends,
before and after every layout change; and the per-call lookups of large layouts (the span
index, no memo) answer as the search does."""

from __future__ import annotations

import enum
import itertools
from bisect import bisect_right
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from physseg import BootPhaseError, InvalidArgumentError, OutOfMemoryError, PhysMem
from physseg.netbsd import Kernel, lookup, make_kernel
from physseg.netbsd.lookup import SpanIndex
from support.layouts import fragmented_kernel

SHIFT = 12
UNIVERSE = 1024


class Frame(enum.IntEnum):
    """An int subclass: accepted by the full path, never by the exact-type checks."""

    SIXTEEN = 16


ODD_INPUTS: tuple[object, ...] = (
    True,
    False,
    np.int64(0x10),
    np.uint64(0x120),
    np.int8(3),
    Frame.SIXTEEN,
    -1,
    -(1 << 70),
    1 << 64,
    1 << 80,
    (1 << 64) - 1,
    1.0,
    "0x10",
    None,
)


# --------------------------------------------------------------------- references
def outcome(call: Any, value: object) -> tuple[str, object]:
    """What a call answered, or the fields of what it raised (never its message)."""
    try:
        return "value", call(value)
    except (InvalidArgumentError, BootPhaseError) as err:
        return type(err).__name__, (err.op, err.reason, err.name, err.value, err.limit)


def expected_find(mem: PhysMem, pfn: int) -> tuple[tuple[int, ...], int] | None:
    """The kernel's own search and getters: (start, end, avail window, free list, hint)."""
    kernel = mem.kernel
    upm, off = kernel.uvm_physseg_find(pfn)
    if off is None:
        return None
    info = kernel.segment_info(upm)
    fields = (info.start, info.end, info.avail_start, info.avail_end, info.free_list)
    return (*fields, info.start_hint), off


def view_tuple(found: Any) -> Any:
    if found is None:
        return None
    seg, off = found
    fields = (seg.start, seg.end, seg.avail_start, seg.avail_end, seg.free_list)
    return (*fields, seg.start_hint), off


def expected_page(mem: PhysMem, pa: int) -> object:
    kernel = mem.kernel
    upm, off = kernel.uvm_physseg_find(pa >> kernel.PAGE_SHIFT)
    if off is None:
        return None
    return kernel.uvm_physseg_get_pg(upm, off)


def assert_face_agrees(mem: PhysMem, pfns: list[int]) -> None:
    """Fast path == full path == the kernel's search, for every frame and odd input, twice
    (the second call answers from the caches the first one filled)."""
    before = mem.snapshot()
    for _ in range(2):
        for pfn in pfns:
            found = mem.find(pfn)
            assert view_tuple(found) == expected_find(mem, pfn), hex(pfn)
            assert view_tuple(PhysMem.find(mem, pfn)) == view_tuple(found)
            if mem.booted:
                pa = (pfn << SHIFT) + 5
                assert mem.page(pa) == expected_page(mem, pa), hex(pa)
                assert PhysMem.page(mem, pa) == mem.page(pa)
            else:
                assert outcome(mem.page, pfn << SHIFT)[0] == "BootPhaseError"
        for value in ODD_INPUTS:
            assert outcome(mem.find, value) == outcome(lambda v: PhysMem.find(mem, v), value)
            assert outcome(mem.page, value) == outcome(lambda v: PhysMem.page(mem, v), value)
    assert mem.snapshot() == before


def universe() -> list[int]:
    return list(range(0, UNIVERSE + 16, 5))


@st.composite
def layouts(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Disjoint [start, end) ranges inside [0, UNIVERSE), in random order."""
    cuts = sorted(draw(st.sets(st.integers(0, UNIVERSE), min_size=2, max_size=16)))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    return draw(st.permutations(spans)) if spans else [(0, 1)]


def face(backend: str, layout: list[tuple[int, int]], boot: bool) -> PhysMem:
    mem = PhysMem(backend, physseg_max=len(layout) + 64)
    for start, end in layout:
        mem.load(start, end)
    if boot:
        mem.boot(steal=False)
    return mem


# --------------------------------------------------------------------- the face
@pytest.mark.parametrize("backend", ["rbtree", "static"])
@given(layout=layouts(), boot=st.booleans())
@settings(max_examples=max(10, settings.default.max_examples // 4))
def test_fast_paths_answer_as_the_full_path_and_the_kernel(
    backend: str, layout: list[tuple[int, int]], boot: bool
) -> None:
    assert_face_agrees(face(backend, layout, boot), universe())


class FaceLookups(RuleBasedStateMachine):
    """A face under plugs, unplugs and hint changes, looked up between every step; after
    every step the fast paths, the full paths and the kernel's search agree."""

    backend = "rbtree"

    @initialize(layout=layouts())
    def boot(self, layout: list[tuple[int, int]]) -> None:
        self.mem = face(self.backend, layout, boot=True)

    def _spans(self) -> list[tuple[int, int]]:
        return [(seg.start, seg.end) for seg in self.mem]

    @precondition(lambda self: self.mem.kernel.can_hotplug)
    @rule(start=st.integers(0, UNIVERSE), pages=st.integers(1, 64))
    def plug(self, start: int, pages: int) -> None:
        if all(e <= start or start + pages <= s for s, e in self._spans()):
            before = self.mem.snapshot()
            try:
                self.mem.plug(start, pages)
            except OutOfMemoryError:  # a new slab is sized from uvmexp.npages
                assert self.mem.snapshot() == before

    @rule(data=st.data())
    def unplug(self, data: st.DataObject) -> None:
        spans = self._spans()
        start, end = data.draw(st.sampled_from(spans))
        lo = data.draw(st.integers(start, end - 1))
        hi = data.draw(st.integers(lo + 1, end))
        whole = (lo, hi) == (start, end)
        middle = start < lo and hi < end
        if (whole and len(spans) == 1) or (middle and not self.mem.kernel.can_split_middle):
            return
        self.mem.unplug(lo, hi - lo)

    @rule(data=st.data(), hint=st.integers(0, 100))
    def set_hint(self, data: st.DataObject, hint: int) -> None:
        segment = data.draw(st.sampled_from(self.mem.segments()))
        self.mem.set_start_hint(segment, hint)

    @rule(pfn=st.integers(-4, UNIVERSE + 4))
    def look_up(self, pfn: int) -> None:
        outcome(self.mem.find, pfn)
        outcome(self.mem.page, pfn << SHIFT)

    @invariant()
    def fast_paths_agree(self) -> None:
        if hasattr(self, "mem"):
            assert_face_agrees(self.mem, universe())
            self.mem.check()


class StaticFaceLookups(FaceLookups):
    backend = "static"


_machine_settings = settings(
    max_examples=max(5, settings.default.max_examples // 10),
    stateful_step_count=max(5, (settings.default.stateful_step_count or 50) // 4),
)
FaceLookups.TestCase.settings = _machine_settings
StaticFaceLookups.TestCase.settings = _machine_settings
TestFaceLookups = FaceLookups.TestCase
TestStaticFaceLookups = StaticFaceLookups.TestCase


def test_page_before_boot_is_refused_even_when_the_memo_holds_the_frame() -> None:
    """At boot the memo holds ``None`` for frames without pages; the face's fast path must
    not take it for an answer."""
    mem = face("rbtree", [(0, 64)], boot=False)
    assert mem.kernel.PHYS_TO_VM_PAGE(0x5000) is None
    assert 5 in mem.kernel.lookup.memo
    with pytest.raises(BootPhaseError):
        mem.page(0x5000)


def test_find_sees_a_new_start_hint_at_once() -> None:
    mem = face("rbtree", [(0, 64), (100, 200)], boot=True)
    seg, _ = mem.find(150)  # caches the view
    assert mem.find(150)[0] is seg
    mem.set_start_hint(seg, 7)
    assert mem.find(150)[0].start_hint == 7
    upm, _ = mem.kernel.uvm_physseg_find(150)
    mem.kernel.uvm_physseg_set_avail_start(upm, 120)
    assert mem.find(150)[0].avail_start == 120


def test_find_after_a_plug_and_an_unplug_answers_the_new_layout() -> None:
    mem = face("rbtree", [(0, 64)], boot=True)
    assert mem.find(300) is None
    mem.plug(256, 64)
    seg, off = mem.find(300)
    assert (seg.start, seg.end, off) == (256, 320, 44)
    mem.unplug(290, 20)
    assert mem.find(300) is None
    assert view_tuple(mem.find(315)) == expected_find(mem, 315)


def test_odd_inputs_are_refused_with_the_full_paths_errors() -> None:
    mem = face("rbtree", [(0, 64)], boot=True)
    for call in (mem.find, mem.page):
        with pytest.raises(InvalidArgumentError) as bool_err:
            call(True)
        assert bool_err.value.reason.name == "NOT_AN_INT"
        with pytest.raises(InvalidArgumentError) as negative:
            call(-1)
        assert negative.value.reason.name == "TOO_SMALL"
    assert mem.page(np.int64(0x3000)) == mem.page(0x3000)
    assert mem.find(Frame.SIXTEEN) == mem.find(16)
    assert mem.page(1 << 80) is None and mem.find(1 << 80) is None


# --------------------------------------------------------------------- large layouts
def kernel_page(kernel: Kernel, pa: int) -> object:
    upm, off = kernel.uvm_physseg_find(pa >> SHIFT)
    return None if off is None else kernel.uvm_physseg_get_pg(upm, off)


def test_large_layouts_search_per_call_and_memoise_nothing() -> None:
    k = fragmented_kernel(64)
    k.lookup.search_segments = 8  # the crossover, lowered instead of building 10^6 segments
    addresses = [pfn << SHIFT for pfn in range(256 + 8 * 64 + 16)]
    for pa in addresses * 2:  # the first pass asks enough to build the span index
        assert k.PHYS_TO_VM_PAGE(pa) == kernel_page(k, pa), hex(pa)
    assert k.lookup.memo == {}
    assert k.lookup.span_index is not None
    k.lookup.check()


def test_large_layouts_see_plugs_and_unplugs() -> None:
    k = fragmented_kernel(64)
    k.lookup.search_segments = 8
    for pa in range(0, 1024 << SHIFT, 1 << SHIFT):
        k.PHYS_TO_VM_PAGE(pa)
    ok, _ = k.uvm_physseg_plug(256, 1)
    assert ok
    assert k.lookup.span_index is None
    for _ in range(2):
        for pa in range(0, 1024 << SHIFT, 1 << SHIFT):
            assert k.PHYS_TO_VM_PAGE(pa) == kernel_page(k, pa), hex(pa)
    assert k.uvm_physseg_unplug(256, 1)
    for _ in range(2):
        for pa in range(0, 1024 << SHIFT, 1 << SHIFT):
            assert k.PHYS_TO_VM_PAGE(pa) == kernel_page(k, pa), hex(pa)


def test_the_span_index_is_built_only_after_enough_calls() -> None:
    k = fragmented_kernel(64)  # 65 segments: built after 65 >> SPAN_BUILD_SHIFT asks
    k.lookup.search_segments = 8
    wanted = k.uvm_physseg_get_entries() >> lookup.SPAN_BUILD_SHIFT
    for asked in range(wanted):
        assert k.lookup.span_index is None, asked
        k.PHYS_TO_VM_PAGE(0x1000)
    k.PHYS_TO_VM_PAGE(0x1000)
    assert k.lookup.span_index is not None


def test_overlapping_static_segments_never_get_a_span_index() -> None:
    k = make_kernel("static", physseg_max=8, strategy="bsearch")
    k.uvm_page_physload(5, 8, 5, 8, 0)
    k.uvm_page_physload(0, 10, 0, 10, 0)
    k.uvm_page_physload(20, 30, 20, 30, 0)
    k.lookup.search_segments = 1
    for _ in range(3):
        for pfn in range(40):
            assert k.PHYS_TO_VM_PAGE(pfn << SHIFT) is None
            found = k.uvm_physseg_find(pfn)[1] is not None  # the build's own search
            assert k.uvm_pageismanaged(pfn << SHIFT) is found
    assert k.lookup.span_index is None


@st.composite
def sparse_layouts(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Disjoint spans with clusters of small segments and wide holes (blocks holding many
    segments and blocks holding none)."""
    starts = sorted(draw(st.sets(st.integers(0, 1 << 20), min_size=1, max_size=40)))
    spans = []
    for a, b in itertools.pairwise([*starts, starts[-1] + draw(st.integers(1, 1 << 16))]):
        spans.append((a, a + draw(st.integers(1, b - a))))
    return spans


@given(layout=sparse_layouts(), probes=st.lists(st.integers(-10, (1 << 20) + (1 << 16) + 10)))
@pytest.mark.parametrize("walk", [0, 8])
def test_span_index_positions_agree_with_a_plain_bisect(
    walk: int, layout: list[tuple[int, int]], probes: list[int]
) -> None:
    """Walk 0 bisects every block; walk 8 walks the blocks of up to 8 segments."""
    k = make_kernel("rbtree", physseg_max=len(layout))
    for start, end in layout:
        k.uvm_page_physload(start, end, start, end, 0)
    index = SpanIndex(sorted(k.segments(), key=lambda seg: seg.start))
    starts = [s for s, _ in layout]
    edges = [p for s, e in layout for p in (s - 1, s, e - 1, e)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lookup, "SPAN_WALK", walk)
        for pfn in [*probes, *edges]:
            i = bisect_right(starts, pfn) - 1
            want = i if i >= 0 and pfn < layout[i][1] else -1
            assert index.position(pfn) == want, pfn
            assert (index.entry(pfn) is None) is (want < 0)


@pytest.mark.parametrize("boot", [False, True])
def test_the_face_on_a_large_layout_answers_from_the_span_index(boot: bool) -> None:
    layout = [(start, start + 5) for start in range(0, UNIVERSE, 16)]
    mem = face("rbtree", layout, boot=boot)
    mem.kernel.lookup.search_segments = 4  # the crossover, lowered
    assert_face_agrees(mem, universe())
    assert_face_agrees(mem, universe())
    assert mem.kernel.lookup.span_index is not None
    assert mem.kernel.lookup.memo == {}


def test_an_empty_span_index_holds_no_frame() -> None:
    index = SpanIndex([])
    assert len(index) == 0
    assert index.position(0) == -1 and index.entry(5) is None


def test_check_names_a_span_index_left_stale_by_a_hand_edit() -> None:
    """A segment edited by hand without bumping the version (as C code may) leaves the index
    stale: the lookup's check says so."""
    k = fragmented_kernel(8)
    k.lookup.search_segments = 2
    for _ in range(2):
        k.PHYS_TO_VM_PAGE(0x1000)
    assert k.lookup.span_index is not None
    k.lookup.check()
    upm, _ = k.uvm_physseg_find(0)
    k.seg(upm).end -= 1
    with pytest.raises(AssertionError, match="span index"):
        k.lookup.check()
