"""The numbers a memory picture is drawn from: page sets as sorted arrays, page counts per pixel
column, and how a column's rows are shared, each against a set-of-integers model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from physseg.cli.mapcolumns import (
    SegmentTable,
    Spans,
    column_image,
    column_pages,
    column_shares,
    stack_rows,
)
from physseg.physmem import Segment

ranges = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (min(t), max(t))),
    max_size=8,
)
edges = st.lists(st.integers(-5, 70), min_size=2, max_size=12).map(sorted)


def points(pairs: list[tuple[int, int]]) -> set[int]:
    return {x for start, end in pairs for x in range(start, end)}


@given(ranges)
def test_a_set_is_its_sorted_disjoint_untouching_union(pairs: list[tuple[int, int]]) -> None:
    spans = Spans.from_pairs(pairs)
    spans.check()
    assert points(spans.pairs()) == points(pairs)
    assert spans.total == len(points(pairs))


@given(ranges, ranges)
def test_union_intersection_and_minus_are_the_set_operations(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    left, right = Spans.from_pairs(a), Spans.from_pairs(b)
    for result, expected in (
        (left.union(right), points(a) | points(b)),
        (left.intersection(right), points(a) & points(b)),
        (left.minus(right), points(a) - points(b)),
    ):
        result.check()
        assert points(result.pairs()) == expected


@given(ranges, st.lists(st.integers(-5, 70), max_size=10))
def test_contains_and_covered_below_count_the_model(
    pairs: list[tuple[int, int]], xs: list[int]
) -> None:
    spans, model = Spans.from_pairs(pairs), points(pairs)
    assert spans.contains(xs).tolist() == [x in model for x in xs]
    assert spans.covered_below(xs).tolist() == [sum(1 for p in model if p < x) for x in xs]


def test_a_broken_set_fails_its_check() -> None:
    touching = Spans(np.array([0, 5]), np.array([5, 9]))
    with pytest.raises(AssertionError, match="touching"):
        touching.check()
    with pytest.raises(ValueError, match="2 starts but 1 ends"):
        Spans.of([0, 1], [2])


@given(st.lists(ranges, min_size=1, max_size=3), edges)
def test_column_pages_count_each_layer_in_each_column(
    layers: list[list[tuple[int, int]]], cut: list[int]
) -> None:
    sets = [Spans.from_pairs(pairs) for pairs in layers]
    pages = column_pages(sets, cut[:-1], cut[1:])
    for k, pairs in enumerate(layers):
        model = points(pairs)
        expected = [len({p for p in model if a <= p < b}) for a, b in itertools.pairwise(cut)]
        assert pages[k].tolist() == expected
        inside = {p for p in model if cut[0] <= p < cut[-1]}
        assert pages[k].sum() == len(inside)  # columns tile the range: nothing counted twice


@given(ranges, ranges, edges)
def test_column_shares_sum_to_one_and_sample_a_page_finer_than_a_column(
    a: list[tuple[int, int]], b: list[tuple[int, int]], cut: list[int]
) -> None:
    first = Spans.from_pairs(a)
    second = Spans.from_pairs(b).minus(first)  # layers are disjoint
    shares = column_shares([first, second], cut[:-1], cut[1:])
    assert shares.shape == (3, len(cut) - 1)
    assert np.allclose(shares.sum(axis=0), 1.0)
    for j, (left, right) in enumerate(itertools.pairwise(cut)):
        if left == right:  # a pixel finer than a page shows the page it lies in
            assert shares[0, j] == (left in points(a))


@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=6),
    st.integers(6, 80),
)
def test_stack_rows_is_proportional_and_shows_every_layer_present(
    weights: list[float], rows: int
) -> None:
    total = sum(weights)
    shares = np.array([[w / total if total else 0.0] for w in weights])
    counts = stack_rows(shares, rows).ravel()
    if total == 0:
        assert counts.tolist() == [0] * len(weights)  # no data: no row
        return
    assert counts.sum() == rows
    for share, count in zip(shares.ravel(), counts, strict=True):
        assert (count > 0) == (share > 0)
        assert abs(count - share * rows) <= len(weights)  # off by the rows given to tiny layers


def test_stack_rows_refuses_more_layers_than_rows() -> None:
    with pytest.raises(ValueError, match="3 rows cannot show 4 layers"):
        stack_rows(np.full((4, 1), 0.25), 3)


def test_column_image_stacks_layers_from_the_bottom() -> None:
    colours = np.array([[255, 0, 0, 255], [0, 0, 255, 255]], dtype=np.uint8)
    image = column_image(np.array([[1, 0], [2, 0]]), colours)
    assert image.shape == (3, 2, 4)
    assert image[:, 0, 0].tolist() == [255, 0, 0]  # red at the bottom, then blue
    assert image[:, 0, 2].tolist() == [0, 255, 255]
    assert image[:, 1, 3].tolist() == [0, 0, 0]  # a column without rows is transparent


def test_a_segment_table_reads_views_in_address_order() -> None:
    views = [
        Segment(0x300, 0x400, 0x300, 0x400, 1, 0x300),
        Segment(0x100, 0x200, 0x100, 0x200, 0, 0x100),
    ]
    table = SegmentTable.from_infos(views)
    assert table.starts.tolist() == [0x100, 0x300]
    assert table.free_lists.tolist() == [0, 1]
    assert (len(table), table.managed_pages, table.holes) == (2, 0x200, 1)
    assert table.free_lists_used() == [0, 1]
    assert table.spans(1).pairs() == [(0x300, 0x400)]
    assert SegmentTable.from_infos([]).free_lists_used() == []
