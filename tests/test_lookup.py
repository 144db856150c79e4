"""Specification of physseg.netbsd.lookup: the per-call frame memo (``PHYS_TO_VM_PAGE``,
``uvm_pageismanaged``) and the batch frame table (``phys_to_vm_pages``) answer exactly what the
kernel's own search (``uvm_physseg_find`` + ``uvm_physseg_get_pg``) answers, in every build, in
every table mode, and after every plug and unplug."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from physseg import KernelAssertionError
from physseg.netbsd import Kernel, lookup, make_kernel
from physseg.netbsd.lookup import UNBACKED, LookupTable, PageBatch, PageLookup
from support.layouts import fragmented_kernel

SHIFT = 12
UNIVERSE = 1024
"""Frames the state-machine tests look at: [0, 1024) plus a few beyond."""


# --------------------------------------------------------------------- helpers
def expected(kernel: Kernel, pa: int) -> tuple[object, int | None, object]:
    """What the kernel's own search says about ``pa``: (segment record, offset, page)."""
    upm, off = kernel.uvm_physseg_find(pa >> kernel.PAGE_SHIFT)
    if off is None:
        return None, None, None
    seg = kernel.seg(upm)
    page = None if seg.pgs is None else kernel.uvm_physseg_get_pg(upm, off)
    return seg, off, page


def assert_agrees(kernel: Kernel, addresses: Iterable[int]) -> None:
    """Per call, batch and the kernel's search agree on every address."""
    addresses = list(addresses)
    batch = kernel.phys_to_vm_pages(np.array(addresses, dtype=np.uint64))
    for i, pa in enumerate(addresses):
        seg, off, page = expected(kernel, pa)
        assert kernel.uvm_pageismanaged(pa) is (seg is not None), hex(pa)
        if seg is None:
            assert kernel.PHYS_TO_VM_PAGE(pa) is None
            assert (batch.segment[i], batch.offset[i], batch.slab[i], batch.index[i]) == (
                -1,
                -1,
                -1,
                -1,
            ), hex(pa)
            continue
        assert batch.segments[batch.segment[i]] is seg, hex(pa)
        assert batch.offset[i] == off
        if page is None:
            assert (batch.slab[i], batch.index[i]) == (-1, -1)
            if not kernel.uvm.page_init_done:
                assert kernel.PHYS_TO_VM_PAGE(pa) is None
        else:
            assert kernel.PHYS_TO_VM_PAGE(pa) == page
            assert (batch.slab[i], batch.index[i]) == (page.slab.ident, page.index)


def frames(*pfns: int) -> list[int]:
    return [pfn << SHIFT for pfn in pfns]


def fixed_kernel(backend: str = "rbtree", strategy: str = "bsearch") -> Kernel:
    """The load test's fixed layout: 32 adjacent 8-page boot segments."""
    k = make_kernel(backend, physseg_max=32, strategy=strategy)
    for pfn in range(0, 256, 8):
        k.uvm_page_physload(pfn, pfn + 8, pfn, pfn + 8, 0)
    return k


# --------------------------------------------------------------------- per call
@pytest.mark.parametrize(
    ("backend", "strategy"), [("rbtree", "bsearch"), ("static", "bsearch"), ("static", "random")]
)
def test_fixed_layout_at_boot_every_frame_is_managed_without_a_page(
    backend: str, strategy: str
) -> None:
    k = fixed_kernel(backend, strategy)
    for pfn in range(256):
        assert k.uvm_pageismanaged(pfn << SHIFT)
        assert k.PHYS_TO_VM_PAGE((pfn << SHIFT) + 123) is None
    assert not k.uvm_pageismanaged(256 << SHIFT)
    assert_agrees(k, frames(*range(0, 300, 3)))


def test_booted_lookup_returns_the_page_of_the_frame() -> None:
    k = fragmented_kernel()
    pa = (256 + 8 * 3 + 5) << SHIFT
    page = k.PHYS_TO_VM_PAGE(pa + 7)
    assert page is not None
    assert k.VM_PAGE_TO_PHYS(page) == pa
    assert k.PHYS_TO_VM_PAGE(pa) is page  # the memo hands out one pointer per frame


def test_holes_between_fragments_miss() -> None:
    k = fragmented_kernel()
    assert k.PHYS_TO_VM_PAGE(256 << SHIFT) is None  # group 0 lost its first frame
    assert not k.uvm_pageismanaged(256 << SHIFT)


def test_unbacked_frame_after_boot_fails_the_kernels_kassert() -> None:
    k = fixed_kernel()
    k.uvm.page_init_done = True  # by hand, as the ATF tests do: no page arrays exist
    with pytest.raises(KernelAssertionError, match="uvm_physseg_valid_p"):
        k.PHYS_TO_VM_PAGE(0x1000)
    assert k.uvm_pageismanaged(0x1000)


def test_negative_and_huge_addresses_miss() -> None:
    k = fragmented_kernel()
    for pa in (-1, -(1 << 40), 1 << 64, 1 << 80):
        assert k.PHYS_TO_VM_PAGE(pa) is None
        assert not k.uvm_pageismanaged(pa)


def test_numpy_scalar_addresses_are_accepted() -> None:
    k = fragmented_kernel()
    assert k.PHYS_TO_VM_PAGE(np.uint64(0x5000)) == k.PHYS_TO_VM_PAGE(0x5000)
    assert k.uvm_pageismanaged(np.int64(0x5000))


def test_plug_and_unplug_are_seen_by_the_next_lookup() -> None:
    k = fragmented_kernel()
    pa = 256 << SHIFT
    assert k.PHYS_TO_VM_PAGE(pa) is None
    ok, _ = k.uvm_physseg_plug(256, 1)
    assert ok
    page = k.PHYS_TO_VM_PAGE(pa)
    assert page is not None and page.phys_addr == pa
    assert k.uvm_physseg_unplug(256, 1)
    assert k.PHYS_TO_VM_PAGE(pa) is None


def test_assigning_the_version_empties_the_memo() -> None:
    k = fragmented_kernel()
    k.PHYS_TO_VM_PAGE(0x1000)
    assert k.lookup.memo
    k.version += 1
    assert k.lookup.memo == {}


def test_the_lookup_state_is_one_object_the_kernel_owns_and_keeps() -> None:
    k = fragmented_kernel()
    state = k.lookup
    assert isinstance(state, PageLookup)
    memo = state.memo
    k.PHYS_TO_VM_PAGE(0x1000)
    assert k.uvm_physseg_unplug(0, 1)
    assert k.lookup is state and state.memo is memo and memo == {}
    assert isinstance(make_kernel("static", physseg_max=2).version, int)


def test_a_miss_fills_the_whole_window_around_the_frame() -> None:
    k = fragmented_kernel()
    k.PHYS_TO_VM_PAGE(0x1000)
    window = range(lookup.FILL_FRAMES)
    assert all(pfn in k.lookup.memo for pfn in window)
    assert k.lookup.memo[3] is not None


def test_a_window_without_memory_stores_only_the_frame() -> None:
    k = fragmented_kernel()
    far = 1 << 30
    assert k.PHYS_TO_VM_PAGE(far << SHIFT) is None
    assert k.lookup.memo == {far: None}


def test_unbacked_frames_are_memoised_as_none_at_boot() -> None:
    k = fixed_kernel()
    k.PHYS_TO_VM_PAGE(0)
    assert k.lookup.memo[5] is None
    assert k.lookup.memo[300] is None
    assert UNBACKED not in k.lookup.memo.values()


def test_unbacked_frames_are_not_memoised_after_boot() -> None:
    """Every memo hit is the final answer: a frame whose lookup fails the KASSERT is never
    stored, so the kernel's fast path needs no test after its probe."""
    k = fixed_kernel()
    k.uvm.page_init_done = True
    with pytest.raises(KernelAssertionError):
        k.PHYS_TO_VM_PAGE(5 << SHIFT)
    assert 5 not in k.lookup.memo
    assert k.lookup.memo[300] is None
    k.lookup.check()


def test_switching_the_phase_by_hand_empties_the_memo() -> None:
    """The ATF tests set ``uvm.page_init_done`` by hand: what the memo held at boot (``None``
    for a frame without a page array) must not answer after the switch."""
    k = fixed_kernel()
    assert k.PHYS_TO_VM_PAGE(5 << SHIFT) is None
    k.uvm.page_init_done = True
    assert k.lookup.memo == {}
    with pytest.raises(KernelAssertionError, match="uvm_physseg_valid_p"):
        k.PHYS_TO_VM_PAGE(5 << SHIFT)
    k.uvm.page_init_done = True  # no change: the memo stays
    assert k.lookup.memo


def test_a_memo_that_overflows_is_emptied_and_the_layout_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames that do not fit the memo would be refilled forever: from the overflow on, the
    layout's misses search and memoise nothing, until the layout changes."""
    k = fragmented_kernel()
    monkeypatch.setattr(lookup, "MEMO_LIMIT", 4)
    k.PHYS_TO_VM_PAGE(1 << 40)
    k.PHYS_TO_VM_PAGE(2 << 40)
    k.PHYS_TO_VM_PAGE(3 << 40)
    k.PHYS_TO_VM_PAGE(4 << 40)
    assert len(k.lookup.memo) == 4 and not k.lookup.searching
    assert k.PHYS_TO_VM_PAGE(5 << 40) is None
    assert k.lookup.memo == {} and k.lookup.searching
    assert_agrees(k, frames(*range(0, 400, 3)))
    assert k.lookup.memo == {}
    k.version += 1
    assert not k.lookup.searching


def overlapping_static_kernel() -> Kernel:
    """A static boot layout whose segments overlap (physload checks only the first PFN):
    [0, 10) then [5, 8) inside it, then [20, 30)."""
    k = make_kernel("static", physseg_max=8, strategy="bsearch")
    k.uvm_page_physload(5, 8, 5, 8, 0)
    k.uvm_page_physload(0, 10, 0, 10, 0)
    k.uvm_page_physload(20, 30, 20, 30, 0)
    return k


@pytest.mark.parametrize("booted", [False, True])
def test_overlapping_static_segments_answer_as_the_builds_search(booted: bool) -> None:
    k = overlapping_static_kernel()
    if booted:
        k.uvm_page_init_fake(23)
    assert_agrees(k, frames(*range(40)))
    assert k.lookup.current_table.mode == "search"
    assert len(k.lookup.memo) <= 40  # one frame at a time


# --------------------------------------------------------------------- batch
def test_batch_modes_agree_with_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    k = fragmented_kernel(groups=64)
    addresses = [*frames(*range(256 + 8 * 64 + 16)), (1 << 64) - 1, 0x123]
    assert_agrees(k, addresses)
    assert k.lookup.current_table.mode == "direct"
    monkeypatch.setattr(lookup, "MAX_DIRECT_FRAMES", 0)
    k.version += 1
    assert_agrees(k, addresses)
    assert k.lookup.current_table.mode == "sections"
    monkeypatch.setattr(lookup, "MAX_TABLE_FRAMES", 0)
    k.version += 1
    assert_agrees(k, addresses)
    assert k.lookup.current_table.mode == "sorted"


def test_sections_skip_absent_sections_and_span_several(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "MAX_DIRECT_FRAMES", 0)
    section = 1 << lookup.SECTION_SHIFT
    k = make_kernel("static", physseg_max=4)
    k.uvm_page_physload(section - 4, 2 * section + 4, section - 4, 2 * section + 4, 0)
    k.uvm_page_physload(9 * section + 1, 9 * section + 3, 9 * section + 1, 9 * section + 3, 0)
    probes = [section - 5, section - 4, section, 2 * section + 3, 2 * section + 4, 5 * section]
    probes += [9 * section, 9 * section + 2, 9 * section + 3, 40 * section, 0]
    assert_agrees(k, frames(*probes))
    table = k.lookup.current_table
    assert table.mode == "sections"
    assert len(table.seg_table) == 5 * section  # sections 0, 1, 2 and 9, and the sentinel


def test_a_map_too_sparse_for_the_top_level_is_searched_sorted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lookup, "MAX_DIRECT_FRAMES", 0)
    monkeypatch.setattr(lookup, "MAX_TOP_SECTIONS", 2)
    k = make_kernel("static", physseg_max=4)
    k.uvm_page_physload(0, 4, 0, 4, 0)
    far = 10 << lookup.SECTION_SHIFT
    k.uvm_page_physload(far, far + 4, far, far + 4, 0)
    assert_agrees(k, frames(0, 3, 4, far - 1, far, far + 3, far + 4))
    assert k.lookup.current_table.mode == "sorted"


def test_no_segment_means_every_address_misses() -> None:
    k = make_kernel("rbtree", physseg_max=4)
    batch = k.phys_to_vm_pages([0, 0x1000])
    assert batch.segment.tolist() == [-1, -1]
    assert batch.index.tolist() == [-1, -1]
    assert k.lookup.current_table.mode == "empty"


@pytest.mark.parametrize("backend", ["rbtree", "static"])
def test_zero_length_segments_hold_no_frame(backend: str) -> None:
    k = make_kernel(backend, physseg_max=4)
    k.uvm_page_physload(0, 10, 0, 10, 0)
    k.uvm_page_physload(10, 20, 10, 20, 0)
    assert k.uvm_physseg_plug(25, 0)[0]
    assert k.uvm_physseg_get_entries() == 3
    assert_agrees(k, frames(9, 10, 11, 19, 20, 24, 25, 26))


def test_mixed_backed_and_unbacked_segments() -> None:
    k = make_kernel("rbtree", physseg_max=4)
    k.uvm_physseg_plug(0, 16)
    k.uvm_page_init_fake(16)
    seg = k.uvm_physseg_alloc(k.SIZEOF_UVM_PHYSSEG)
    assert seg is not None
    ok, unbacked = k.uvm_physseg_plug(64, 8)
    assert ok
    unbacked.pgs = None  # by hand: a segment without page array after boot
    k.version += 1
    batch = k.phys_to_vm_pages(frames(3, 65, 80))
    assert batch.slab[0] >= 0 and batch.index[0] >= 0
    assert (batch.segment[1], batch.offset[1], batch.slab[1], batch.index[1]) == (1, 1, -1, -1)
    assert batch.segment[2] == -1


def test_batch_keeps_the_input_shape_and_reports_hits() -> None:
    k = fixed_kernel()
    batch = k.phys_to_vm_pages(np.array([[0, 0x1000], [0x100000, 0x2000]], dtype=np.int64))
    assert isinstance(batch, PageBatch)
    assert batch.segment.shape == (2, 2)
    assert batch.hit.tolist() == [[True, True], [False, True]]
    assert batch.offset.tolist() == [[0, 1], [-1, 2]]


def test_batch_accepts_lists_negative_and_huge_integers() -> None:
    k = fixed_kernel()
    assert k.phys_to_vm_pages([0x1000, -1]).segment.tolist() == [0, -1]
    assert k.phys_to_vm_pages([1 << 70, 0x2000]).segment.tolist() == [-1, 0]
    assert k.phys_to_vm_pages([]).segment.tolist() == []


def test_batch_rejects_non_integers() -> None:
    k = fixed_kernel()
    with pytest.raises(TypeError, match="float64"):
        k.phys_to_vm_pages([0.5])


def test_the_table_is_rebuilt_only_when_the_version_moves() -> None:
    k = fragmented_kernel()
    k.phys_to_vm_pages([0])
    table = k.lookup.current_table
    k.phys_to_vm_pages([0x1000])
    assert k.lookup.current_table is table
    assert k.uvm_physseg_unplug(0, 1)
    k.phys_to_vm_pages([0])
    assert k.lookup.current_table is not table


def test_large_batches_cross_chunk_boundaries() -> None:
    k = fragmented_kernel(groups=8)
    rng = np.random.default_rng(7)
    addresses = rng.integers(0, 400 << SHIFT, size=lookup.LOOKUP_CHUNK * 2 + 17)
    batch = k.phys_to_vm_pages(addresses)
    sample = rng.choice(len(addresses), size=200, replace=False)
    for i in sample.tolist():
        seg, off, _ = expected(k, int(addresses[i]))
        assert (batch.offset[i] if seg is not None else None) == off


def test_lookup_table_is_usable_directly() -> None:
    k = fixed_kernel("static")
    table = LookupTable(k)
    assert table.version == k.version
    assert table.lookup([0x3000, 0x9000]).segment.tolist() == [0, 1]


# --------------------------------------------------------------------- random states
@st.composite
def boot_layouts(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Disjoint [start, end) ranges inside [0, UNIVERSE), in random order."""
    cuts = sorted(draw(st.sets(st.integers(0, UNIVERSE), min_size=2, max_size=16)))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    return draw(st.permutations(spans)) if spans else [(0, 1)]


@pytest.mark.parametrize("strategy", ["bsearch", "random", "bigfirst"])
@given(layout=boot_layouts(), boot=st.booleans(), probes=st.lists(st.integers(0, UNIVERSE + 8)))
@settings(max_examples=max(10, settings.default.max_examples // 4))
def test_static_boot_layouts_agree(
    strategy: str, layout: list[tuple[int, int]], boot: bool, probes: list[int]
) -> None:
    k = make_kernel("static", physseg_max=len(layout), strategy=strategy)
    for start, end in layout:
        k.uvm_page_physload(start, end, start, end, 0)
    if boot:
        k.uvm_page_init_fake(sum(end - start for start, end in layout))
    assert_agrees(k, frames(*probes, *range(0, UNIVERSE + 8, 7)))


class HotplugLookups(RuleBasedStateMachine):
    """A booted rbtree kernel under random plugs and unplugs; after every step the per-call
    memo, the batch table and the kernel's search agree on every frame of the universe."""

    @initialize(layout=boot_layouts())
    def boot(self, layout: list[tuple[int, int]]) -> None:
        self.kernel = make_kernel("rbtree", physseg_max=len(layout) + 64)
        for start, end in sorted(layout):
            self.kernel.uvm_page_physload(start, end, start, end, 0)
        self.kernel.uvm_page_init_fake(sum(end - start for start, end in layout) + 64)

    def _live(self) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in self.kernel.segments()]

    @rule(start=st.integers(0, UNIVERSE), pages=st.integers(1, 64))
    def plug(self, start: int, pages: int) -> None:
        end = start + pages
        if any(s < end and start < e for s, e in self._live()):
            return
        self.kernel.uvm_physseg_plug(start, pages)

    @rule(data=st.data())
    def unplug(self, data: st.DataObject) -> None:
        live = self._live()
        start, end = data.draw(st.sampled_from(live))
        lo = data.draw(st.integers(start, end - 1))
        hi = data.draw(st.integers(lo + 1, end))
        if len(live) == 1 and (lo, hi) == (start, end):
            return  # removing the last segment panics
        self.kernel.uvm_physseg_unplug(lo, hi - lo)

    @rule(pfn=st.integers(0, UNIVERSE))
    def look_up_one(self, pfn: int) -> None:
        self.kernel.PHYS_TO_VM_PAGE(pfn << SHIFT)

    @invariant()
    def every_frame_agrees(self) -> None:
        if hasattr(self, "kernel"):
            assert_agrees(self.kernel, frames(*range(0, UNIVERSE + 70, 3)))


HotplugLookups.TestCase.settings = settings(
    max_examples=max(5, settings.default.max_examples // 5),
    stateful_step_count=max(5, (settings.default.stateful_step_count or 50) // 3),
)
TestHotplugLookups = HotplugLookups.TestCase


class SearchingHotplugLookups(HotplugLookups):
    """The same machine with the per-call crossover lowered to 2 segments: every miss is
    answered from the span index (or the kernel's search before it is built)."""

    @initialize(layout=boot_layouts())
    def boot(self, layout: list[tuple[int, int]]) -> None:
        super().boot(layout)
        self.kernel.lookup.search_segments = 2

    @invariant()
    def nothing_is_memoised_when_searching(self) -> None:
        if hasattr(self, "kernel") and self.kernel.lookup.searching:
            assert self.kernel.lookup.memo == {}


SearchingHotplugLookups.TestCase.settings = HotplugLookups.TestCase.settings
TestSearchingHotplugLookups = SearchingHotplugLookups.TestCase
