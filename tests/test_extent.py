"""Specification of physseg.core.extent: NetBSD extent(9) decisions in integer units.

Examples first (one behaviour each), then NetBSD's ATF scenarios that exercise the extent, then
property tests: the O(log n) index against NetBSD's linear scan, and a stateful comparison with
a naive bitmap model that makes the same decisions by brute force.
"""

from __future__ import annotations

import contextlib
import doctest
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import physseg.core.extent
from physseg.core import alloc
from physseg.core.alloc import Allocator, FailingAllocator
from physseg.core.extent import Extent
from physseg.errors import (
    ExtentDestroyedError,
    ExtentError,
    ExtentNoDescriptorError,
    ExtentNoSpaceError,
    ExtentRegionNotFoundError,
)

State = tuple[list[tuple[int, int]], list[tuple[int, int]], int, int, int]


def state(ext: Extent) -> State:
    """Everything observable about an extent's contents and descriptors."""
    return (
        ext.regions(),
        ext.gaps(),
        ext.free_size,
        ext.descriptors_in_use,
        ext.descriptors_free,
    )


def fragmented(
    taken: list[tuple[int, int]], end: int = 99, fixed_descriptors: int | None = None
) -> Extent:
    """An extent ``[0, end]`` with exactly the ``(start, size)`` regions in ``taken``."""
    ext = Extent("test", 0, end, fixed_descriptors=fixed_descriptors)
    for start, size in taken:
        ext.alloc_region(start, size, malloc_ok=True)
    ext.check()
    return ext


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(physseg.core.extent).failed == 0


# -- construction ---------------------------------------------------------------------------


def test_new_extent_is_one_free_gap() -> None:
    ext = Extent("fresh", 10, 19)
    assert (ext.name, ext.start, ext.end, ext.fixed, ext.destroyed) == (
        "fresh",
        10,
        19,
        False,
        False,
    )
    assert ext.regions() == []
    assert ext.gaps() == [(10, 10)]
    assert (ext.free_size, ext.allocated_size, ext.largest_gap()) == (10, 0, 10)
    assert (ext.region_count, ext.descriptors_in_use, ext.descriptors_free) == (0, 0, 0)
    ext.check()


def test_single_unit_extent_is_valid() -> None:
    ext = Extent("one", 0, 0)
    assert ext.alloc(1) == 0
    assert (ext.free_size, ext.largest_gap(), ext.gaps()) == (0, 0, [])
    ext.check()


def test_fixed_extent_starts_with_its_whole_freelist() -> None:
    ext = Extent("fixed", 0, 9, fixed_descriptors=3)
    assert ext.fixed
    assert ext.descriptors_free == 3


@pytest.mark.parametrize(
    ("start", "end", "fixed", "fragment"),
    [
        (5, 4, None, "end 4 is below start 5"),
        (-1, 4, None, "start -1 is negative"),
        (0, 4, -1, "fixed_descriptors -1 is negative"),
    ],
)
def test_constructor_rejects_impossible_arguments(
    start: int, end: int, fixed: int | None, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        Extent("bad", start, end, fixed_descriptors=fixed)


def test_non_fixed_extent_allocates_its_header_through_the_allocator() -> None:
    allocator = Allocator()
    Extent("hotplug", 0, 9, allocator=allocator)
    Extent("boot", 0, 9, fixed_descriptors=1, allocator=allocator)
    assert allocator.log == [(alloc.EXTENT, 1)]


def test_refused_header_fails_the_creation() -> None:
    with pytest.raises(ExtentNoDescriptorError, match="refused the extent header"):
        Extent("hotplug", 0, 9, allocator=FailingAllocator(1))


def test_repr_names_the_extent_and_its_state() -> None:
    ext = Extent("slab", 0, 9, fixed_descriptors=2)
    ext.alloc(4)
    assert repr(ext) == "Extent('slab', 0, 9, fixed=2, regions=1, free=6)"
    assert repr(Extent("hot", 0, 9)) == "Extent('hot', 0, 9, dynamic, regions=0, free=10)"


# -- alloc: best fit --------------------------------------------------------------------------


def test_fresh_extent_hands_out_consecutive_chunks_with_one_descriptor() -> None:
    ext = Extent("slab", 100, 199, fixed_descriptors=2)
    assert [ext.alloc(size) for size in (10, 20, 5)] == [100, 110, 130]
    assert ext.regions() == [(100, 35)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (1, 1)
    ext.check()


def test_every_alloc_of_a_dynamic_extent_takes_a_descriptor_and_returns_the_spare() -> None:
    allocator = Allocator()
    ext = Extent("hotplug", 0, 99, allocator=allocator)
    ext.alloc(10)
    ext.alloc(10)
    assert allocator.log == [(alloc.EXTENT, 1), (alloc.DESCRIPTOR, 1), (alloc.DESCRIPTOR, 1)]
    assert ext.descriptors_in_use == 1


def test_exact_fit_is_preferred_to_an_earlier_gap_with_waste() -> None:
    ext = fragmented([(5, 25), (34, 66)])  # gaps [0, 4] (5 units) and [30, 33] (4 units)
    assert ext.alloc(4) == 30


def test_least_waste_wins_over_the_lowest_address() -> None:
    ext = fragmented([(6, 24), (35, 65)])  # gaps of 6 at 0 and of 5 at 30
    assert ext.alloc(4) == 30


def test_equal_waste_goes_to_the_lowest_address() -> None:
    ext = fragmented([(6, 14), (26, 74)])  # gaps of 6 at 0 and at 20
    assert ext.alloc(4) == 0


def test_tail_gap_waste_is_counted_like_any_other() -> None:
    ext = fragmented([(8, 82)])  # gap of 8 at 0, tail gap of 10 at 90
    assert ext.alloc(7) == 0
    assert ext.alloc(10) == 90


def test_exact_fit_in_the_tail_is_taken() -> None:
    ext = fragmented([(6, 89)])  # gap of 6 at 0, tail gap of 5 at 95
    assert ext.alloc(5) == 95


def test_no_space_names_the_request_and_the_largest_gap() -> None:
    ext = Extent("boot slab", 0, 767)
    ext.alloc_region(0, 756)
    before = state(ext)
    with pytest.raises(ExtentNoSpaceError) as caught:
        ext.alloc(256)
    assert (
        str(caught.value)
        == "extent 'boot slab' [0, 767]: no free gap of 256 units (largest gap 12)"
    )
    assert state(ext) == before


def test_a_full_extent_reports_a_largest_gap_of_zero() -> None:
    ext = Extent("full", 0, 9)
    ext.alloc(10)
    with pytest.raises(ExtentNoSpaceError, match=r"largest gap 0\)"):
        ext.alloc(1)


def test_request_larger_than_the_extent_finds_no_space() -> None:
    ext = Extent("small", 0, 9)
    with pytest.raises(ExtentNoSpaceError, match="no free gap of 11 units"):
        ext.alloc(11)


def test_request_larger_than_the_extent_still_needs_a_descriptor_first() -> None:
    ext = Extent("small", 0, 9, fixed_descriptors=0)
    with pytest.raises(ExtentNoDescriptorError):
        ext.alloc(11)


def test_alloc_coalesces_with_both_neighbours_and_releases_a_descriptor() -> None:
    ext = fragmented([(0, 10), (14, 10)], fixed_descriptors=3)  # regions use 2 static
    assert ext.descriptors_free == 1
    assert ext.alloc(4) == 10
    assert ext.regions() == [(0, 24)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (1, 2)
    ext.check()


def test_alloc_prepends_to_the_following_region() -> None:
    ext = fragmented([(10, 10)])
    assert ext.alloc(10) == 0
    assert ext.regions() == [(0, 20)]
    ext.check()


def test_alloc_not_touching_any_region_uses_its_own_descriptor() -> None:
    ext = fragmented([(0, 10), (20, 10)], fixed_descriptors=3)
    assert ext.alloc(3, alignment=4) == 12
    assert ext.regions() == [(0, 10), (12, 3), (20, 10)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (3, 0)
    ext.check()


@pytest.mark.parametrize(
    ("size", "alignment", "boundary", "fragment"),
    [
        (0, 1, 0, "size 0 is below 1"),
        (1, 0, 0, "alignment 0 is below 1"),
        (1, 1, -1, "boundary -1 must be 0 or at least the size 1"),
        (8, 1, 4, "boundary 4 must be 0 or at least the size 8"),
    ],
)
def test_alloc_rejects_invalid_arguments(
    size: int, alignment: int, boundary: int, fragment: str
) -> None:
    ext = Extent("args", 0, 99, fixed_descriptors=0)
    with pytest.raises(ValueError, match=fragment):
        ext.alloc(size, alignment, boundary)


# -- alloc: alignment and boundary (linear scan) ------------------------------------------------


def test_alignment_rounds_the_start_up() -> None:
    ext = fragmented([(0, 3)])
    assert ext.alloc(2, alignment=8) == 8
    assert ext.regions() == [(0, 3), (8, 2)]
    ext.check()


def test_alignment_waste_ignores_the_padding_before_the_start() -> None:
    # Gap [1, 6]: aligned start 4, end 5, waste 1. Gap [12, 15]: start 12, end 13, waste 2.
    # The smaller gap would win on gap size; NetBSD counts only the waste after the end.
    ext = fragmented([(0, 1), (7, 5), (16, 84)])
    assert ext.alloc(2, alignment=4) == 4


def test_alignment_skips_regions_below_the_aligned_extent_start() -> None:
    ext = Extent("skew", 1, 40)
    ext.alloc_region(2, 1)  # below the first aligned candidate (8), ends before it
    ext.alloc_region(12, 10)
    assert ext.alloc(4, alignment=8) == 8


def test_alignment_steps_over_a_region_covering_the_aligned_extent_start() -> None:
    ext = Extent("skew", 1, 40)
    ext.alloc_region(2, 8)  # [2, 9] covers the aligned start 8
    assert ext.alloc(4, alignment=8) == 16


def test_alignment_candidates_past_a_whole_gap_do_not_fit_there() -> None:
    ext = fragmented([(0, 17), (19, 13)])  # gap [17, 18]: aligned start 24 lies past it
    assert ext.alloc(1, alignment=8) == 32


def test_non_power_of_two_alignment_follows_netbsds_bit_arithmetic() -> None:
    # EXTENT_ALIGN(2, 3) = (2 + 2) & -3 = 4, not the multiple 3: NetBSD's macro, kept.
    ext = Extent("odd", 2, 20)
    assert ext.alloc(1, alignment=3) == 4


def test_exact_aligned_fit_ends_the_scan() -> None:
    ext = fragmented([(0, 4), (8, 92)])  # gap [4, 7]
    assert ext.alloc(4, alignment=4) == 4


def test_aligned_request_keeps_the_first_of_equal_wastes() -> None:
    ext = fragmented([(0, 4), (10, 6), (22, 78)])  # gaps [4, 9] and [16, 21]
    assert ext.alloc(4, alignment=4) == 4


def test_aligned_tail_with_more_waste_loses_to_an_interior_gap() -> None:
    ext = fragmented([(0, 4), (10, 20)])  # gap [4, 9] wastes 2, tail [30, 99] wastes 62
    assert ext.alloc(4, alignment=2) == 4


def test_aligned_tail_with_less_waste_wins() -> None:
    ext = fragmented([(0, 4), (40, 54)])  # gap [4, 39] wastes 32, tail [94, 99] wastes 2
    assert ext.alloc(4, alignment=2) == 94


def test_no_aligned_space_names_the_constraints() -> None:
    ext = fragmented([(0, 1), (3, 97)])
    with pytest.raises(ExtentNoSpaceError, match="no free gap of 2 units aligned to 4 within"):
        ext.alloc(2, alignment=4, boundary=8)


def test_candidate_crossing_a_boundary_moves_to_the_boundary_line() -> None:
    ext = fragmented([(0, 6)], end=31)
    assert ext.alloc(4, boundary=8) == 8


def test_region_may_end_just_before_a_boundary_line() -> None:
    ext = fragmented([(0, 4)], end=31)
    assert ext.alloc(4, boundary=8) == 4


def test_boundary_lines_count_from_zero_not_from_the_extent_start() -> None:
    ext = Extent("boundzero", 5, 40)
    assert ext.alloc(4, boundary=8) == 8


def test_boundary_move_out_of_a_gap_tries_the_next_gap() -> None:
    ext = fragmented([(10, 20)], end=47)  # gap [0, 9] then tail [30, 47]
    ext.alloc_region(0, 6)  # gap [6, 9]: 4 units, but [6, 9] crosses the line at 8
    assert ext.alloc(4, boundary=8) == 32


def test_boundary_move_out_of_the_tail_finds_no_space() -> None:
    ext = fragmented([(0, 6)], end=10)  # tail [6, 10]; moved to 8, [8, 11] passes the end
    with pytest.raises(ExtentNoSpaceError, match="within boundary 8"):
        ext.alloc(4, boundary=8)


def test_boundary_equal_to_the_size_is_allowed() -> None:
    ext = fragmented([(0, 1)], end=31)
    assert ext.alloc(8, boundary=8) == 8


@settings(max_examples=60, deadline=None)
@given(
    taken=st.lists(st.tuples(st.integers(0, 95), st.integers(1, 6)), max_size=25),
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8),
)
def test_indexed_best_fit_matches_netbsds_linear_scan(
    taken: list[tuple[int, int]], sizes: list[int]
) -> None:
    indexed = Extent("indexed", 0, 99)
    scanned = Extent("scanned", 0, 99)
    for start, size in taken:
        for ext in (indexed, scanned):
            with contextlib.suppress(ExtentNoSpaceError):
                ext.alloc_region(start, size)
    never_crossed = 1 << 20  # a boundary beyond the extent forces the linear scan
    for size in sizes:
        outcomes: list[int | None] = []
        for ext, boundary in ((indexed, 0), (scanned, never_crossed)):
            try:
                outcomes.append(ext.alloc(size, boundary=boundary))
            except ExtentNoSpaceError:
                outcomes.append(None)
        assert outcomes[0] == outcomes[1]
        assert indexed.regions() == scanned.regions()
    indexed.check()


# -- alloc_region -------------------------------------------------------------------------------


def test_alloc_region_takes_exactly_the_range() -> None:
    ext = Extent("region", 0, 99)
    ext.alloc_region(40, 10)
    assert ext.regions() == [(40, 10)]
    assert ext.gaps() == [(0, 40), (50, 50)]
    ext.check()


def test_alloc_region_coalesces_with_both_neighbours() -> None:
    ext = fragmented([(0, 10), (20, 10)])
    ext.alloc_region(10, 10)
    assert ext.regions() == [(0, 30)]
    assert ext.descriptors_in_use == 1
    ext.check()


@pytest.mark.parametrize(
    ("start", "size", "overlapped"),
    [(15, 10, "[20, 29]"), (25, 2, "[20, 29]"), (5, 30, "[20, 29]"), (29, 30, "[50, 59]")],
)
def test_alloc_region_over_an_allocated_unit_fails_unchanged(
    start: int, size: int, overlapped: str
) -> None:
    ext = fragmented([(20, 10), (50, 10)], fixed_descriptors=3)
    before = state(ext)
    with pytest.raises(ExtentNoSpaceError, match=rf"overlaps the allocated region \{overlapped}"):
        ext.alloc_region(start, size)
    assert state(ext) == before


@pytest.mark.parametrize(("start", "size"), [(-1, 2), (95, 6), (100, 1)])
def test_alloc_region_outside_the_extent_fails_before_taking_a_descriptor(
    start: int, size: int
) -> None:
    ext = Extent("region", 0, 99, fixed_descriptors=0)
    with pytest.raises(ExtentNoSpaceError, match="lies outside the extent"):
        ext.alloc_region(start, size)


def test_alloc_region_without_a_descriptor_fails() -> None:
    ext = Extent("region", 0, 99, fixed_descriptors=0)
    with pytest.raises(ExtentNoDescriptorError, match=r"alloc_region of \[3, 4\]"):
        ext.alloc_region(3, 2)


def test_alloc_region_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError, match="alloc_region size 0 is below 1"):
        Extent("region", 0, 99).alloc_region(3, 0)


# -- free ---------------------------------------------------------------------------------------


def test_free_of_a_whole_region_removes_it_and_merges_the_gaps() -> None:
    ext = fragmented([(10, 10), (30, 10)], fixed_descriptors=3)
    ext.free(30, 10)
    assert ext.regions() == [(10, 10)]
    assert ext.gaps() == [(0, 10), (20, 80)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (1, 2)
    ext.check()


def test_free_of_the_only_region_leaves_one_gap() -> None:
    ext = Extent("edge", 0, 99)
    ext.alloc(100)
    ext.free(0, 100)
    assert (ext.regions(), ext.gaps()) == ([], [(0, 100)])
    ext.check()


def test_free_of_the_front_shrinks_the_region() -> None:
    ext = fragmented([(10, 10)])
    ext.free(10, 4)
    assert ext.regions() == [(14, 6)]
    assert ext.gaps() == [(0, 14), (20, 80)]
    ext.check()


def test_free_of_the_front_of_a_region_at_the_extent_start() -> None:
    ext = fragmented([(0, 10)])
    ext.free(0, 4)
    assert ext.regions() == [(4, 6)]
    assert ext.gaps() == [(0, 4), (10, 90)]
    ext.check()


def test_free_of_the_back_shrinks_the_region() -> None:
    ext = fragmented([(10, 10)])
    ext.free(16, 4)
    assert ext.regions() == [(10, 6)]
    assert ext.gaps() == [(0, 10), (16, 84)]
    ext.check()


def test_free_of_the_back_of_a_region_at_the_extent_end() -> None:
    ext = fragmented([(90, 10)])
    ext.free(96, 4)
    assert ext.regions() == [(90, 6)]
    assert ext.gaps() == [(0, 90), (96, 4)]
    ext.check()


def test_free_inside_a_region_splits_it_with_the_spare_descriptor() -> None:
    ext = fragmented([(10, 10)], fixed_descriptors=2)
    ext.free(13, 4)
    assert ext.regions() == [(10, 3), (17, 3)]
    assert ext.gaps() == [(0, 10), (13, 4), (20, 80)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (2, 0)
    ext.check()


def test_freed_space_is_allocated_again() -> None:
    ext = Extent("reuse", 0, 99)
    ext.alloc(100)
    ext.free(40, 8)
    assert ext.alloc(8) == 40
    assert ext.regions() == [(0, 100)]
    ext.check()


@pytest.mark.parametrize(
    ("start", "size"),
    [(0, 5), (5, 10), (15, 10), (18, 15), (-2, 4), (95, 10), (20, 1)],
    ids=["in-gap", "gap-into-region", "region-into-gap", "two-regions", "below", "past", "hole"],
)
def test_free_of_a_range_not_inside_one_region_fails_unchanged(start: int, size: int) -> None:
    ext = fragmented([(10, 10), (21, 9), (90, 10)], fixed_descriptors=4)
    before = state(ext)
    with pytest.raises(ExtentRegionNotFoundError, match="not inside one allocated region"):
        ext.free(start, size)
    assert state(ext) == before


def test_free_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError, match="free size 0 is below 1"):
        fragmented([(0, 4)]).free(0, 0)


# -- descriptors --------------------------------------------------------------------------------


def test_fixed_extent_out_of_descriptors_refuses_alloc_even_with_space() -> None:
    ext = fragmented([(10, 10), (30, 10)], fixed_descriptors=2)
    before = state(ext)
    with pytest.raises(ExtentNoDescriptorError) as caught:
        ext.alloc(1)
    assert str(caught.value) == (
        "extent 'test' [0, 99]: no region descriptor for alloc of 1 units: "
        "all 2 fixed descriptors are in use and malloc_ok is False"
    )
    assert state(ext) == before


def test_fixed_extent_out_of_descriptors_refuses_a_free_that_needs_none() -> None:
    ext = fragmented([(10, 10), (30, 10)], fixed_descriptors=2)
    before = state(ext)
    with pytest.raises(ExtentNoDescriptorError, match=r"free of \[30, 39\]"):
        ext.free(30, 10)
    assert state(ext) == before


def test_malloc_ok_free_takes_a_dynamic_spare_from_the_allocator() -> None:
    allocator = Allocator()
    ext = Extent("boot", 0, 99, fixed_descriptors=1, allocator=allocator)
    ext.alloc(50)
    ext.free(10, 5, malloc_ok=True)
    assert allocator.log == [(alloc.DESCRIPTOR, 1)]
    assert ext.regions() == [(0, 10), (15, 35)]
    assert (ext.descriptors_in_use, ext.descriptors_free) == (2, 0)
    ext.check()


def test_a_released_dynamic_descriptor_does_not_join_the_freelist() -> None:
    ext = Extent("boot", 0, 99, fixed_descriptors=1)
    ext.alloc(50)
    ext.free(10, 5, malloc_ok=True)  # upper piece [15, 49] holds a dynamic descriptor
    ext.free(15, 35, malloc_ok=True)  # removing it releases that one: the freelist stays empty
    assert (ext.descriptors_in_use, ext.descriptors_free) == (1, 0)
    ext.free(0, 10, malloc_ok=True)  # the static one goes back
    assert (ext.descriptors_in_use, ext.descriptors_free) == (0, 1)
    ext.check()


def test_an_unused_dynamic_spare_is_released_not_kept() -> None:
    ext = Extent("boot", 0, 99, fixed_descriptors=1)
    ext.alloc(50)
    ext.free(40, 10, malloc_ok=True)
    assert (ext.descriptors_in_use, ext.descriptors_free) == (1, 0)
    ext.check()


def test_malloc_ok_alloc_grows_a_fixed_extent_past_its_budget() -> None:
    ext = fragmented([(10, 10)], fixed_descriptors=1)
    assert ext.alloc(3, malloc_ok=True) == 0
    assert (ext.descriptors_in_use, ext.descriptors_free) == (2, 0)
    ext.check()


def test_refused_dynamic_descriptor_fails_alloc_unchanged() -> None:
    ext = Extent("hotplug", 0, 99, allocator=FailingAllocator(3))  # header 1, alloc 2, alloc 3
    ext.alloc(10)
    before = state(ext)
    with pytest.raises(ExtentNoDescriptorError, match="the allocator refused a dynamic descriptor"):
        ext.alloc(10)
    assert state(ext) == before
    assert ext.alloc(10) == 10


def test_refused_dynamic_descriptor_fails_free_unchanged() -> None:
    ext = Extent("hotplug", 0, 99, allocator=FailingAllocator(3))
    ext.alloc(10)
    before = state(ext)
    with pytest.raises(ExtentNoDescriptorError):
        ext.free(0, 10)
    assert state(ext) == before


def test_refused_dynamic_descriptor_fails_a_malloc_ok_free_of_a_fixed_extent() -> None:
    allocator = FailingAllocator(1, kinds=[alloc.DESCRIPTOR])
    ext = Extent("boot", 0, 99, fixed_descriptors=1, allocator=allocator)
    ext.alloc(50)
    with pytest.raises(ExtentNoDescriptorError, match="allocator refused"):
        ext.free(10, 5, malloc_ok=True)
    assert ext.regions() == [(0, 50)]


# -- fits -------------------------------------------------------------------------------------


def test_fits_answers_for_space_and_changes_nothing() -> None:
    allocator = Allocator()
    ext = Extent("fits", 0, 99, allocator=allocator)
    ext.alloc_region(10, 85)  # gaps of 10 and 5
    before = (state(ext), allocator.calls)
    assert ext.fits(10)
    assert not ext.fits(11)
    assert not ext.fits(1000)
    assert (state(ext), allocator.calls) == before


def test_fits_needs_a_free_static_descriptor_in_a_fixed_extent() -> None:
    ext = fragmented([(10, 10)], fixed_descriptors=1)
    assert not ext.fits(1)


def test_fits_in_a_full_extent_is_false() -> None:
    ext = Extent("full", 0, 9)
    ext.alloc(10)
    assert not ext.fits(1)


def test_fits_rejects_an_empty_request() -> None:
    with pytest.raises(ValueError, match="fits size 0 is below 1"):
        Extent("fits", 0, 9).fits(0)


# -- destroy ----------------------------------------------------------------------------------


def test_destroy_returns_static_descriptors_and_retires_the_extent() -> None:
    ext = fragmented([(10, 10), (30, 10)], fixed_descriptors=2)
    ext.free(12, 2, malloc_ok=True)  # a third region, on a dynamic descriptor
    ext.destroy()
    assert ext.destroyed
    assert ext._free_static == 2  # the two static descriptors are back on the freelist
    assert repr(ext) == "Extent('test', 0, 99, fixed=2, destroyed)"
    assert (ext.name, ext.start, ext.end, ext.fixed) == ("test", 0, 99, True)


CALLS_AFTER_DESTROY: dict[str, Callable[[Extent], object]] = {
    "alloc": lambda e: e.alloc(1),
    "alloc_region": lambda e: e.alloc_region(0, 1),
    "free": lambda e: e.free(0, 1),
    "fits": lambda e: e.fits(1),
    "destroy": lambda e: e.destroy(),
    "regions": lambda e: e.regions(),
    "gaps": lambda e: e.gaps(),
    "largest_gap": lambda e: e.largest_gap(),
    "free_size": lambda e: e.free_size,
    "allocated_size": lambda e: e.allocated_size,
    "region_count": lambda e: e.region_count,
    "descriptors_in_use": lambda e: e.descriptors_in_use,
    "descriptors_free": lambda e: e.descriptors_free,
    "check": lambda e: e.check(),
}


@pytest.mark.parametrize("operation", sorted(CALLS_AFTER_DESTROY))
def test_every_call_after_destroy_raises(operation: str) -> None:
    ext = Extent("gone", 0, 9)
    ext.destroy()
    message = rf"'gone' \[0, 9\] has been destroyed: cannot {operation}$"
    with pytest.raises(ExtentDestroyedError, match=message):
        CALLS_AFTER_DESTROY[operation](ext)


# -- NetBSD ATF scenarios (tests/sys/uvm/t_uvm_physseg.c) -------------------------------------
# One unit is one struct vm_page; a slab of n entries is an extent of exactly n units.


def test_atf_seg_chomp_slab_with_one_boot_descriptor() -> None:
    """VM_PHYSSEG_MAX == 1: the boot extent's only descriptor is held after one alloc, so the
    free that follows cannot get its spare descriptor (ENOMEM)."""
    npages = 1
    boot = Extent("Boot time slab", 0, 2 * npages - 1, fixed_descriptors=npages)
    pgs = boot.alloc(1, 1, 0)
    assert pgs == 0
    with pytest.raises(ExtentNoDescriptorError):
        boot.free(pgs, 1)
    assert boot.regions() == [(0, 1)]


def test_atf_seg_chomp_slab_with_several_boot_descriptors() -> None:
    """VM_PHYSSEG_MAX > 1: alloc and free alternate freely, at boot and after it."""
    npages = 3
    boot = Extent("Boot time slab", 0, 2 * npages - 1, fixed_descriptors=npages)
    for _ in range(npages):
        pgs = boot.alloc(1, 1, 0)
        boot.free(pgs, 1)
    hotplug = Extent("Hotplug slab", 0, 2 * npages - 1)
    for _ in range(npages):
        pgs = hotplug.alloc(1, 1, 0)
        hotplug.free(pgs, 1)
    assert boot.regions() == hotplug.regions() == []
    assert boot.descriptors_free == npages


def test_atf_alloc_from_slab_second_request_lacks_a_descriptor() -> None:
    """uvm_physseg_alloc_from_slab with VM_PHYSSEG_MAX == 1: the second request fails for want
    of a descriptor although half the slab is free."""
    npages = 1
    boot = Extent("Boot time slab", 0, 2 * npages - 1, fixed_descriptors=npages)
    assert boot.alloc(npages) == 0
    assert not boot.fits(npages)
    with pytest.raises(ExtentNoDescriptorError):
        boot.alloc(npages)


def test_atf_alloc_from_slab_beyond_the_extent_finds_no_space() -> None:
    """VM_PHYSSEG_MAX > 1: two requests fill the slab; a third finds no space."""
    npages = 4
    boot = Extent("Boot time slab", 0, 2 * npages - 1, fixed_descriptors=npages)
    assert [boot.alloc(npages), boot.alloc(npages)] == [0, npages]
    with pytest.raises(ExtentNoSpaceError):
        boot.alloc(npages)


# -- check ------------------------------------------------------------------------------------


CORRUPTIONS: dict[str, Callable[[Extent], None]] = {
    "allocated count": lambda e: setattr(e, "_allocated", e._allocated + 1),
    "freelist": lambda e: setattr(e, "_free_static", e._free_static + 1),
    "gap index": lambda e: e._gaps.add(1),
    "gap by start": lambda e: e._gap_by_start.clear(),
    "region by end": lambda e: e._by_end.clear(),
    "touching regions": lambda e: setattr(e._by_start[0], "end", 9),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_check_detects_a_broken_invariant(corruption: str) -> None:
    ext = fragmented([(0, 5), (10, 5)], fixed_descriptors=2)
    CORRUPTIONS[corruption](ext)
    with pytest.raises(AssertionError, match="extent invariant broken"):
        ext.check()


# -- stateful comparison with a naive model -------------------------------------------------


# ----------------------------------------------------------------- plain data
def test_plain_data_round_trip_rebuilds_regions_gaps_and_descriptors() -> None:
    ext = fragmented([(0, 5), (10, 3), (50, 20)], fixed_descriptors=2)
    plain = ext.to_plain()
    assert plain["regions"] == [[0, 5, True], [10, 3, True], [50, 20, False]]
    twin = Extent.from_plain(plain)
    twin.check()
    assert state(twin) == state(ext)
    assert twin.alloc(5, malloc_ok=True) == ext.alloc(5, malloc_ok=True)
    assert state(twin) == state(ext)


def test_plain_data_of_a_destroyed_extent_stays_destroyed() -> None:
    ext = fragmented([(0, 5)], fixed_descriptors=3)
    ext.destroy()
    twin = Extent.from_plain(ext.to_plain())
    assert twin.destroyed and twin.to_plain() == ext.to_plain()
    with pytest.raises(ExtentDestroyedError):
        twin.alloc(1)


def test_from_plain_asks_the_allocator_for_nothing() -> None:
    allocator = Allocator()
    Extent.from_plain(fragmented([(0, 5), (10, 3)]).to_plain(), allocator)
    assert allocator.calls == 0


def _plain(**changes: object) -> dict[str, object]:
    plain = fragmented([(0, 5), (10, 3)], fixed_descriptors=3).to_plain()
    plain.update(changes)
    return plain


BAD_PLAIN = {
    "not a dict": [1, 2],
    "missing key": {k: v for k, v in _plain().items() if k != "free_static"},
    "unknown key": _plain(colour="red"),
    "name not a str": _plain(name=7),
    "bool where an int belongs": _plain(start=False),
    "negative start": _plain(start=-1),
    "end below start": _plain(start=50, end=40, regions=[], free_static=3),
    "end past u_long": _plain(end=1 << 64),
    "destroyed not a bool": _plain(destroyed=0),
    "region not a triple": _plain(regions=[[0, 5]]),
    "empty region": _plain(regions=[[0, 0, True]]),
    "region outside the extent": _plain(regions=[[95, 10, True]], free_static=2),
    "regions unsorted": _plain(regions=[[10, 3, True], [0, 5, True]]),
    "regions overlap": _plain(regions=[[0, 5, True], [3, 5, True]]),
    "regions touch (not coalesced)": _plain(regions=[[0, 5, True], [5, 3, True]]),
    "static descriptors miscounted": _plain(free_static=2),
    "static descriptor in a dynamic extent": _plain(fixed=None, free_static=0),
    "destroyed with regions": _plain(destroyed=True),
}


@pytest.mark.parametrize("corruption", sorted(BAD_PLAIN))
def test_from_plain_refuses_inconsistent_data(corruption: str) -> None:
    with pytest.raises(ValueError):
        Extent.from_plain(BAD_PLAIN[corruption])


class NaiveExtent:
    """The extent as a list of booleans, one per unit, deciding everything by brute force.

    Descriptors: a region's descriptor is the one of the leftmost old region it overlaps that no
    region further left has claimed; a region overlapping none holds the call's new descriptor;
    unclaimed descriptors are returned (static ones to the freelist). That is NetBSD's
    coalescing (append keeps the region before, prepend keeps the region after, a split gives
    the upper piece the spare).
    """

    def __init__(self, start: int, end: int, fixed: int | None, allocator: Allocator) -> None:
        self.start = start
        self.end = end
        self.fixed = fixed
        self.allocator = allocator
        self.used = [False] * (end - start + 1)
        self.static_of: dict[int, bool] = {}
        self.free_static = 0 if fixed is None else fixed
        if fixed is None:
            allocator.allocate(alloc.EXTENT)

    def runs(self, value: bool) -> list[tuple[int, int]]:
        """Maximal inclusive runs of units equal to ``value``."""
        found: list[tuple[int, int]] = []
        for offset, bit in enumerate(self.used):
            unit = self.start + offset
            if bit != value:
                continue
            if found and found[-1][1] == unit - 1:
                found[-1] = (found[-1][0], unit)
            else:
                found.append((unit, unit))
        return found

    def take(self, malloc_ok: bool) -> bool:
        if self.fixed is not None:
            if self.free_static:
                self.free_static -= 1
                return True
            if not malloc_ok:
                raise ExtentNoDescriptorError
        if not self.allocator.allocate(alloc.DESCRIPTOR):
            raise ExtentNoDescriptorError
        return False

    def give(self, static: bool) -> None:
        self.free_static += static

    def mark(self, first: int, last: int, value: bool, spare: bool) -> None:
        old = self.runs(True)
        for unit in range(first, last + 1):
            self.used[unit - self.start] = value
        claimed: set[int] = set()
        static_of: dict[int, bool] = {}
        spare_used = False
        for start, end in self.runs(True):
            owner = next((s for s, e in old if s <= end and e >= start and s not in claimed), None)
            if owner is None:
                assert not spare_used
                static_of[start], spare_used = spare, True
            else:
                claimed.add(owner)
                static_of[start] = self.static_of[owner]
        for start, _ in old:
            if start not in claimed:
                self.give(self.static_of[start])
        if not spare_used:
            self.give(spare)
        self.static_of = static_of

    def alloc(self, size: int, alignment: int, boundary: int, malloc_ok: bool) -> int:
        spare = self.take(malloc_ok)
        best: tuple[int, int] | None = None
        for first, last in self.runs(False):
            start = -(-first // alignment) * alignment
            if boundary and start + size - 1 >= (start // boundary + 1) * boundary:
                start = (start // boundary + 1) * boundary
            if start + size - 1 <= last and (best is None or last - (start + size - 1) < best[0]):
                best = (last - (start + size - 1), start)
        if best is None:
            self.give(spare)
            raise ExtentNoSpaceError
        self.mark(best[1], best[1] + size - 1, True, spare)
        return best[1]

    def alloc_region(self, start: int, size: int, malloc_ok: bool) -> None:
        end = start + size - 1
        if start < self.start or end > self.end:
            raise ExtentNoSpaceError
        spare = self.take(malloc_ok)
        if any(self.used[start - self.start : end - self.start + 1]):
            self.give(spare)
            raise ExtentNoSpaceError
        self.mark(start, end, True, spare)

    def free(self, start: int, size: int, malloc_ok: bool) -> None:
        spare = self.take(malloc_ok)
        end = start + size - 1
        inside = start >= self.start and end <= self.end
        if not inside or not all(self.used[start - self.start : end - self.start + 1]):
            self.give(spare)
            raise ExtentRegionNotFoundError
        self.mark(start, end, False, spare)

    def fits(self, size: int) -> bool:
        if self.fixed is not None and not self.free_static:
            return False
        return any(last - first + 1 >= size for first, last in self.runs(False))


def outcome(call: Callable[[], object]) -> tuple[str, object]:
    """``("ok", result)`` or ``("error", exception type)`` for an extent call."""
    try:
        return ("ok", call())
    except ExtentError as error:
        return ("error", type(error))


class ExtentAgainstNaiveModel(RuleBasedStateMachine):
    """Every call is made on the extent and on the naive model; results must agree."""

    ext: Extent
    model: NaiveExtent

    @initialize(
        start=st.integers(0, 6),
        length=st.integers(1, 48),
        fixed=st.none() | st.integers(0, 4),
        fail_at=st.frozensets(st.integers(2, 80), max_size=6),
    )
    def create(self, start: int, length: int, fixed: int | None, fail_at: frozenset[int]) -> None:
        end = start + length - 1
        self.ext = Extent(
            "model", start, end, fixed_descriptors=fixed, allocator=FailingAllocator(fail_at)
        )
        self.model = NaiveExtent(start, end, fixed, FailingAllocator(fail_at))

    def agree(self, on_extent: Callable[[], object], on_model: Callable[[], object]) -> None:
        assert outcome(on_extent) == outcome(on_model)

    @rule(
        size=st.integers(1, 20),
        alignment=st.sampled_from([1, 1, 1, 2, 4, 8]),
        boundary=st.sampled_from([0, 0, 0, 8, 16, 32]),
        malloc_ok=st.booleans(),
    )
    def alloc(self, size: int, alignment: int, boundary: int, malloc_ok: bool) -> None:
        boundary = boundary if boundary >= size else 0
        self.agree(
            lambda: self.ext.alloc(size, alignment, boundary, malloc_ok=malloc_ok),
            lambda: self.model.alloc(size, alignment, boundary, malloc_ok),
        )

    @rule(offset=st.integers(-2, 56), size=st.integers(1, 16), malloc_ok=st.booleans())
    def alloc_region(self, offset: int, size: int, malloc_ok: bool) -> None:
        start = self.ext.start + offset
        self.agree(
            lambda: self.ext.alloc_region(start, size, malloc_ok=malloc_ok),
            lambda: self.model.alloc_region(start, size, malloc_ok),
        )

    @rule(data=st.data(), malloc_ok=st.booleans())
    def free_inside_a_region(self, data: st.DataObject, malloc_ok: bool) -> None:
        regions = self.model.runs(True)
        if not regions:
            return
        first, last = data.draw(st.sampled_from(regions))
        start = data.draw(st.integers(first, last))
        end = data.draw(st.integers(start, last))
        self.agree(
            lambda: self.ext.free(start, end - start + 1, malloc_ok=malloc_ok),
            lambda: self.model.free(start, end - start + 1, malloc_ok),
        )

    @rule(offset=st.integers(-2, 56), size=st.integers(1, 16), malloc_ok=st.booleans())
    def free_anywhere(self, offset: int, size: int, malloc_ok: bool) -> None:
        start = self.ext.start + offset
        self.agree(
            lambda: self.ext.free(start, size, malloc_ok=malloc_ok),
            lambda: self.model.free(start, size, malloc_ok),
        )

    @rule(size=st.integers(1, 50))
    def fits(self, size: int) -> None:
        assert self.ext.fits(size) == self.model.fits(size)

    @rule()
    def round_trip_through_plain_data(self) -> None:
        """Go on with the extent rebuilt from its plain data, on the same allocator: every
        later decision must still be the model's."""
        self.ext = Extent.from_plain(self.ext.to_plain(), self.ext._allocator)

    @invariant()
    def same_state(self) -> None:
        model = self.model
        regions = [(s, e - s + 1) for s, e in model.runs(True)]
        gaps = [(s, e - s + 1) for s, e in model.runs(False)]
        assert self.ext.regions() == regions
        assert self.ext.gaps() == gaps
        assert self.ext.free_size == sum(size for _, size in gaps)
        assert self.ext.allocated_size == sum(size for _, size in regions)
        assert self.ext.largest_gap() == max((size for _, size in gaps), default=0)
        assert self.ext.descriptors_in_use == self.ext.region_count == len(regions)
        assert self.ext.descriptors_free == model.free_static
        assert self.ext._allocator.calls == model.allocator.calls
        self.ext.check()


ExtentAgainstNaiveModel.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_extent_against_naive_model = ExtentAgainstNaiveModel.TestCase
