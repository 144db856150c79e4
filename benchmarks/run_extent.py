"""Time extent alloc/free on an extent fragmented into many regions (run by hand).

    .venv/bin/python benchmarks/run_extent.py                 # 10^4 and 10^5 regions
    .venv/bin/python benchmarks/run_extent.py --regions 1000000

For each size the extent is fragmented into ``regions`` allocated regions separated by holes of
1..14 units, then timed: a batch of best-fit allocs (alignment 1, no boundary: the O(log n)
index), the frees of that batch in shuffled order, steady alloc+free pairs, and a few aligned
allocs that take NetBSD's O(n) linear scan, for comparison: typical ones (the scan stops at the
first exact fit) and ones that fit nowhere (the whole region list is walked). Prints ns per
operation.
"""

from __future__ import annotations

import argparse
import random
import time

from physseg.core.extent import Extent
from physseg.errors import ExtentNoSpaceError

STRIDE = 16
"""Units per fragment: one allocated unit, a hole of 1..STRIDE-2 units, then allocated again."""


def hole_size(k: int) -> int:
    """Size of the k-th hole: spread over 1..STRIDE-2 so best fit has real choices."""
    return 1 + (k * 7919) % (STRIDE - 2)


def fragmented_extent(regions: int) -> Extent:
    """A dynamic extent whose allocated space is cut into ``regions`` regions by holes.

    The whole extent is allocated, then ``regions - 1`` holes are freed (each a split), so the
    build itself exercises ``free``; O(regions log regions).
    """
    ext = Extent("bench", 0, regions * STRIDE - 1)
    ext.alloc(regions * STRIDE)
    for k in range(regions - 1):
        ext.free(k * STRIDE + 1, hole_size(k))
    return ext


def request_sizes(count: int, seed: int = 1) -> list[int]:
    """``count`` request sizes in 1..STRIDE-2, reproducible."""
    rng = random.Random(seed)
    return [rng.randint(1, STRIDE - 2) for _ in range(count)]


def ns_per_op(seconds: float, operations: int) -> float:
    return seconds * 1e9 / operations


def run(regions: int, batch: int, linear_ops: int) -> None:
    began = time.perf_counter()
    ext = fragmented_extent(regions)
    built = time.perf_counter() - began
    print(f"{regions:,} regions, {len(ext.gaps()):,} gaps (built in {built:.2f} s)")

    sizes = request_sizes(batch)
    began = time.perf_counter()
    placed = [(ext.alloc(size), size) for size in sizes]
    alloc_s = time.perf_counter() - began
    random.Random(2).shuffle(placed)
    began = time.perf_counter()
    for start, size in placed:
        ext.free(start, size)
    free_s = time.perf_counter() - began
    print(f"  alloc  (best fit, indexed)  {ns_per_op(alloc_s, batch):9.0f} ns/op  x{batch:,}")
    print(f"  free   (shuffled)           {ns_per_op(free_s, batch):9.0f} ns/op  x{batch:,}")

    began = time.perf_counter()
    for size in sizes:
        ext.free(ext.alloc(size), size)
    pair_s = time.perf_counter() - began
    print(f"  alloc+free pair             {ns_per_op(pair_s, batch):9.0f} ns/op  x{batch:,}")
    assert ext.region_count == regions

    began = time.perf_counter()
    aligned = [min(size, STRIDE // 2) for size in sizes[:linear_ops]]  # fits an odd-start hole
    placed = [(ext.alloc(size, alignment=2), size) for size in aligned]
    linear_s = time.perf_counter() - began
    for start, size in placed:
        ext.free(start, size)
    print(
        f"  alloc  (aligned, linear)    {ns_per_op(linear_s, linear_ops):9.0f} ns/op  x{linear_ops}"
    )

    began = time.perf_counter()
    for _ in range(linear_ops):
        try:
            ext.alloc(STRIDE, alignment=2)
        except ExtentNoSpaceError:
            pass
        else:
            raise AssertionError("a request larger than every hole was placed")
    full_s = time.perf_counter() - began
    print(
        f"  alloc  (aligned, no fit)    {ns_per_op(full_s, linear_ops):9.0f} ns/op  x{linear_ops}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--regions", type=int, nargs="+", default=[10_000, 100_000], help="region counts to time"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="allocs timed (default: regions / 10, at most 20000)",
    )
    parser.add_argument("--linear", type=int, default=20, help="aligned (linear-scan) allocs")
    args = parser.parse_args()
    for regions in args.regions:
        batch = min(regions // 10, 20_000) if args.batch is None else args.batch
        run(regions, batch, args.linear)


if __name__ == "__main__":
    main()
