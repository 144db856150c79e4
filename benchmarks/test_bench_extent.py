"""pytest-benchmark timings of extent alloc/free on heavily fragmented extents.

``pytest benchmarks --benchmark-only`` times them; ``--benchmark-disable`` runs each target once
as a smoke test. The fragmented extents come from ``run_extent.py`` (same folder).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from physseg.core.extent import Extent
from physseg.errors import ExtentNoSpaceError
from run_extent import STRIDE, fragmented_extent, hole_size, request_sizes

ROUNDS = 2_000
"""Timed operations per benchmark: far fewer than the extent's gaps, so state barely drifts."""


@pytest.fixture(scope="module", params=[10_000, 100_000], ids=["1e4-regions", "1e5-regions"])
def extent(request: pytest.FixtureRequest) -> Iterator[Extent]:
    regions: int = request.param
    ext = fragmented_extent(regions)
    yield ext
    assert ext.region_count == regions  # every benchmark leaves the extent as it found it


def test_alloc_best_fit(benchmark: BenchmarkFixture, extent: Extent) -> None:
    sizes = iter(request_sizes(ROUNDS + 1))
    placed: list[tuple[int, int]] = []

    def setup() -> tuple[tuple[int], dict[str, object]]:
        if placed:
            extent.free(*placed.pop())
        return (next(sizes),), {}

    def alloc(size: int) -> None:
        placed.append((extent.alloc(size), size))

    benchmark.pedantic(alloc, setup=setup, rounds=ROUNDS)
    extent.free(*placed.pop())


def test_free_after_best_fit(benchmark: BenchmarkFixture, extent: Extent) -> None:
    sizes = iter(request_sizes(ROUNDS + 1, seed=3))

    def setup() -> tuple[tuple[int, int], dict[str, object]]:
        size = next(sizes)
        return (extent.alloc(size), size), {}

    benchmark.pedantic(extent.free, setup=setup, rounds=ROUNDS)


def test_free_splitting_a_region(benchmark: BenchmarkFixture, extent: Extent) -> None:
    # The last unit of stride k lies strictly inside a region unless hole k fills the stride.
    inside = (k * STRIDE + STRIDE - 1 for k in range(2 * ROUNDS) if hole_size(k) < STRIDE - 2)
    freed: list[int] = []

    def setup() -> tuple[tuple[int, int], dict[str, object]]:
        if freed:
            extent.alloc_region(freed.pop(), 1)
        start = next(inside)
        freed.append(start)
        return (start, 1), {}

    benchmark.pedantic(extent.free, setup=setup, rounds=ROUNDS)
    extent.alloc_region(freed.pop(), 1)


def test_alloc_aligned_scanning_every_region(benchmark: BenchmarkFixture, extent: Extent) -> None:
    """The O(n) fallback at its worst, for comparison: an aligned request larger than every hole
    walks the whole region list and finds no space."""

    def alloc_without_fit() -> None:
        with pytest.raises(ExtentNoSpaceError):
            extent.alloc(STRIDE, alignment=2)

    benchmark.pedantic(alloc_without_fit, rounds=10)
