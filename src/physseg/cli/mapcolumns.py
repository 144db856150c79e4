"""The numbers a memory picture is drawn from: sets of page ranges as sorted numpy arrays
(:class:`Spans`), the segments as columns of numbers (:class:`SegmentTable`), how many pages of
each set fall in each pixel column (:func:`column_pages`) and how a column's height is shared
between the sets (:func:`stack_rows`, :func:`column_image`).

A picture costs what its pixels cost, not what its segments cost: the segments are read once
into arrays (O(n), vectorised), and every pixel column is then a difference of two cumulative
coverages found by binary search, O(P log n) for P columns, whatever n is::

    set:      [----)      [--------)   [-)
    column:        |   j   |                   pages of the set in column j
                   l       r                   = covered_below(r) - covered_below(l)

Units are whatever the caller's ranges are in (the picture uses page frame numbers); every
range is ``[start, end)``, end exclusive. No matplotlib here: the tests and the benchmark
check the numbers without drawing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
"""A 1-D array of 64-bit integers (page frame numbers or page counts)."""


def _ints(values: Any) -> Ints:
    return np.ascontiguousarray(values, dtype=np.int64).reshape(-1)


@dataclass(frozen=True, slots=True, eq=False)
class Spans:
    """A set of integers held as sorted, disjoint, non-touching ranges ``[starts[i],
    ends[i])``; build one with :meth:`of` or :meth:`from_pairs`, which normalise any ranges.

    >>> Spans.from_pairs([(5, 8), (0, 2), (2, 3), (7, 9)]).pairs()
    [(0, 3), (5, 9)]
    """

    starts: Ints
    ends: Ints

    @classmethod
    def of(cls, starts: Any, ends: Any) -> Spans:
        """The union of the ranges ``[starts[i], ends[i])`` (empty ones dropped, overlapping
        and touching ones joined). Raises ``ValueError`` when the two lengths differ.
        O(n log n), vectorised."""
        first, last = _ints(starts), _ints(ends)
        if first.shape != last.shape:
            raise ValueError(f"{first.size} starts but {last.size} ends")
        keep = first < last
        first, last = first[keep], last[keep]
        if first.size == 0:
            return cls.empty()
        order = np.argsort(first, kind="stable")
        first, last = first[order], last[order]
        reach = np.maximum.accumulate(last)
        opens = np.ones(first.size, dtype=bool)
        opens[1:] = first[1:] > reach[:-1]
        heads = np.flatnonzero(opens)
        tails = np.append(heads[1:] - 1, first.size - 1)
        return cls(first[heads], reach[tails])

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, int]]) -> Spans:
        """The union of ``(start, end)`` pairs. Raises nothing. O(n log n)."""
        flat = np.array([value for pair in pairs for value in pair], dtype=np.int64)
        return cls.of(flat[0::2], flat[1::2])

    @classmethod
    def empty(cls) -> Spans:
        """The empty set. O(1). Raises nothing."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        """The number of ranges. O(1)."""
        return int(self.starts.size)

    @property
    def total(self) -> int:
        """How many integers the set holds (pages, in the picture). O(n). Raises nothing."""
        return int((self.ends - self.starts).sum())

    def pairs(self) -> list[tuple[int, int]]:
        """The ranges as ``(start, end)`` tuples, in order. O(n). Raises nothing."""
        return list(zip(self.starts.tolist(), self.ends.tolist(), strict=True))

    def union(self, other: Spans) -> Spans:
        """The integers in either set. O((n + m) log(n + m)). Raises nothing."""
        return Spans.of(
            np.concatenate([self.starts, other.starts]), np.concatenate([self.ends, other.ends])
        )

    def intersection(self, other: Spans) -> Spans:
        """The integers in both sets: for each range of ``other``, the ranges of this set it
        overlaps (two binary searches), clipped to it. O((n + m) log(n + m)), vectorised.
        Raises nothing.

        >>> Spans.from_pairs([(0, 10)]).intersection(Spans.from_pairs([(2, 4), (8, 12)])).pairs()
        [(2, 4), (8, 10)]
        """
        if not len(self) or not len(other):
            return Spans.empty()
        first = np.searchsorted(self.ends, other.starts, side="right")
        past = np.searchsorted(self.starts, other.ends, side="left")
        counts = np.maximum(past - first, 0)
        theirs = np.repeat(np.arange(len(other)), counts)
        offsets = np.arange(theirs.size) - np.repeat(np.cumsum(counts) - counts, counts)
        mine = first[theirs] + offsets
        # pieces of disjoint, non-touching ranges clipped to disjoint, non-touching ranges:
        # sorted, disjoint and not touching already
        return Spans(
            np.maximum(self.starts[mine], other.starts[theirs]),
            np.minimum(self.ends[mine], other.ends[theirs]),
        )

    def minus(self, other: Spans) -> Spans:
        """The integers of this set outside ``other``: its intersection with the gaps of
        ``other``. O((n + m) log(n + m)), vectorised. Raises nothing.

        >>> Spans.from_pairs([(0, 10)]).minus(Spans.from_pairs([(2, 4), (8, 12)])).pairs()
        [(0, 2), (4, 8)]
        """
        if not len(self) or not len(other):
            return self
        low = min(int(self.starts[0]), int(other.starts[0]))
        high = max(int(self.ends[-1]), int(other.ends[-1]))
        gaps = Spans.of(np.concatenate([[low], other.ends]), np.concatenate([other.starts, [high]]))
        return self.intersection(gaps)

    def contains(self, points: Any) -> NDArray[np.bool_]:
        """For each of ``points``, whether the set holds it. O(k log n) for k points.
        Raises nothing."""
        at = _ints(points)
        index = np.searchsorted(self.starts, at, side="right") - 1
        inside = index >= 0
        inside[inside] = at[inside] < self.ends[index[inside]]
        return inside

    def covered_below(self, points: Any) -> Ints:
        """For each of ``points`` ``x``, how many integers of the set are below ``x``.
        O(k log n) for k points. Raises nothing.

        >>> Spans.from_pairs([(2, 5), (8, 10)]).covered_below([0, 3, 6, 9, 20]).tolist()
        [0, 1, 3, 4, 5]
        """
        at = _ints(points)
        prefix = np.concatenate([[0], np.cumsum(self.ends - self.starts)])
        before = np.searchsorted(self.starts, at, side="left")
        covered = prefix[before]
        last = before > 0
        overshoot = self.ends[before[last] - 1] - at[last]
        covered[last] -= np.maximum(overshoot, 0)
        return covered

    def check(self) -> None:
        """Raise ``AssertionError`` unless the ranges are non-empty, sorted, disjoint and not
        touching. O(n)."""
        assert self.starts.shape == self.ends.shape, "starts and ends differ in length"
        assert np.all(self.starts < self.ends), "an empty range"
        assert np.all(self.ends[:-1] < self.starts[1:]), "ranges unsorted, overlapping or touching"


class SegmentLike(Protocol):
    """What :meth:`SegmentTable.from_infos` reads of a segment (``SegmentInfo``, a
    ``Segment`` view): its PFN span and its free list."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def free_list(self) -> int: ...


@dataclass(frozen=True, slots=True, eq=False)
class SegmentTable:
    """The segments as three arrays in address order: ``starts``, ``ends`` (PFNs, ``[start,
    end)``) and ``free_lists``."""

    starts: Ints
    ends: Ints
    free_lists: Ints

    @classmethod
    def of(cls, starts: Any, ends: Any, free_lists: Any) -> SegmentTable:
        """The segments given as three sequences, sorted by start. Raises ``ValueError`` when
        the lengths differ. O(n log n), vectorised."""
        first, last, lists = _ints(starts), _ints(ends), _ints(free_lists)
        if not first.shape == last.shape == lists.shape:
            raise ValueError("starts, ends and free lists differ in length")
        order = np.argsort(first, kind="stable")
        return cls(first[order], last[order], lists[order])

    @classmethod
    def from_infos(cls, infos: Sequence[SegmentLike]) -> SegmentTable:
        """The segments of ``infos`` (``kernel.segment_infos()``, a snapshot's views). Raises
        nothing. O(n) reads of the records, O(n log n) vectorised sort."""
        count = len(infos)
        return cls.of(
            np.fromiter((info.start for info in infos), dtype=np.int64, count=count),
            np.fromiter((info.end for info in infos), dtype=np.int64, count=count),
            np.fromiter((info.free_list for info in infos), dtype=np.int64, count=count),
        )

    def __len__(self) -> int:
        """The number of segments. O(1)."""
        return int(self.starts.size)

    @property
    def managed_pages(self) -> int:
        """Pages in all segments. O(n). Raises nothing."""
        return int((self.ends - self.starts).sum())

    @property
    def holes(self) -> int:
        """The number of unmanaged gaps between the first and the last segment. O(n).
        Raises nothing."""
        return int(np.count_nonzero(self.starts[1:] > self.ends[:-1]))

    def free_lists_used(self) -> list[int]:
        """The free lists the segments are on, ascending. O(n + largest free list). Raises
        nothing."""
        if not len(self):
            return []
        return [int(value) for value in np.flatnonzero(np.bincount(self.free_lists))]

    def spans(self, free_list: int | None = None) -> Spans:
        """The pages of the segments on ``free_list`` (every segment: ``None``). O(n).
        Raises nothing."""
        if free_list is None:
            return Spans.of(self.starts, self.ends)
        chosen = self.free_lists == free_list
        return Spans.of(self.starts[chosen], self.ends[chosen])


def column_pages(layers: Sequence[Spans], lefts: Any, rights: Any) -> Ints:
    """A ``(len(layers), P)`` array: how many integers of each layer lie in each column
    ``[lefts[j], rights[j])``. O(len(layers) P log n); exact. Raises ``ValueError`` when the
    two edge arrays differ in length.

    >>> column_pages([Spans.from_pairs([(2, 5)])], [0, 4], [4, 8]).tolist()
    [[2, 1]]
    """
    left, right = _ints(lefts), _ints(rights)
    if left.shape != right.shape:
        raise ValueError(f"{left.size} left edges but {right.size} right edges")
    pages = np.zeros((len(layers), left.size), dtype=np.int64)
    for number, layer in enumerate(layers):
        pages[number] = layer.covered_below(right) - layer.covered_below(left)
    return pages


def column_shares(layers: Sequence[Spans], lefts: Any, rights: Any) -> NDArray[np.float64]:
    """A ``(len(layers) + 1, P)`` array of the share of each column each layer covers, the
    last row being what no layer covers; every column sums to 1. A column narrower than one
    unit (``lefts[j] == rights[j]``: a pixel finer than a page) shows the unit at its left
    edge. Layers must be disjoint. Raises ``ValueError`` as :func:`column_pages`.
    O(len(layers) P log n)."""
    left, right = _ints(lefts), _ints(rights)
    sampled = np.maximum(right, left + 1)
    pages = column_pages(layers, left, sampled).astype(np.float64)
    width = (sampled - left).astype(np.float64)
    shares = np.vstack([pages, width - pages.sum(axis=0)]) / width
    return np.clip(shares, 0.0, 1.0)


def stack_rows(shares: NDArray[np.float64], rows: int) -> Ints:
    """Share ``rows`` pixel rows of each column between the layers in proportion to
    ``shares`` (``(K, P)``, columns summing to 1, or to 0 for a column without data, which
    gets no row): rounded to the nearest row, except that a layer with any share gets at
    least one row, so nothing present is invisible; the rows taken for that come from the
    largest layer. Returns ``(K, P)`` row counts, each column summing to ``rows`` (0 without
    data). Raises ``ValueError`` unless ``rows >= K``. O(K P log K).

    >>> stack_rows(np.array([[0.001], [0.249], [0.75]]), 8).ravel().tolist()
    [1, 2, 5]
    """
    layers = shares.shape[0]
    if rows < layers:
        raise ValueError(f"{rows} rows cannot show {layers} layers")
    has_data = shares.sum(axis=0) > 0
    target = np.where(has_data, rows, 0)
    ideal = shares * rows
    counts = np.floor(ideal).astype(np.int64)
    columns = np.arange(counts.shape[1])
    short = target - counts.sum(axis=0)
    by_remainder = np.argsort(counts - ideal, axis=0, kind="stable")
    for rank in range(layers):
        wanting = short > rank
        counts[by_remainder[rank, wanting], columns[wanting]] += 1
    counts = np.maximum(counts, (shares > 0).astype(np.int64))
    for _ in range(layers):
        over = counts.sum(axis=0) > target
        if not over.any():
            break
        largest = np.argmax(counts, axis=0)
        counts[largest[over], columns[over]] -= 1
    return counts


def column_image(counts: Ints, colours: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """An RGBA image ``(rows, P, 4)`` of the stacked columns: row 0 at the bottom, layer 0
    lowest; ``colours`` is ``(K, 4)``; rows above a column's total (a column without data)
    are transparent. O(K rows P). Raises nothing."""
    tops = np.cumsum(counts, axis=0)
    height = int(tops[-1].max()) if tops.size else 0
    row = np.arange(height)[:, None]
    layer = (row[None, :, :] >= tops[:, None, :]).sum(axis=0)
    palette: NDArray[np.uint8] = np.vstack([colours, np.zeros((1, 4), dtype=np.uint8)])
    image: NDArray[np.uint8] = palette[layer]
    return image
