"""``physseg map`` at any scale (issue 13): the picture of a machine with many segments against
the picture of a machine with few, drawn in the same process.

Each machine is built straight on the engine (``Kernel.uvm_page_physload``, one page every
other page, unbooted: the fastest way to a million segments; not timed). A round times, for
each machine, reading ``kernel.segment_columns()`` into a
:class:`physseg.cli.mapcolumns.SegmentTable` and, apart, :func:`physseg.cli.mapplot.render_map`
of both views to a PNG. Rounds interleave the two machines; the script prints each side's
median and the median of the per-round ratios, for the read and the drawing together (the
target: at most 5) and for the drawing alone.

Usage: ``python benchmarks/map_scale.py [--segments 1000000] [--small 10] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from physseg.cli.mapcolumns import SegmentTable
from physseg.cli.mapplot import MapLayout, render_map
from physseg.memmap import ATF_FREELISTS
from physseg.netbsd import Kernel

FREELISTS = {entry.index: (entry.name, entry.limit) for entry in ATF_FREELISTS.entries}


def machine(segments: int) -> Kernel:
    """An unbooted engine with ``segments`` one-page segments, one every other page from
    PFN 0x100, on the default free list."""
    kernel = Kernel(physseg_max=segments)
    for number in range(segments):
        pfn = 0x100 + 2 * number
        kernel.uvm_page_physload(pfn, pfn + 1, pfn, pfn + 1, 0)
    return kernel


def draw(kernel: Kernel, path: Path) -> tuple[float, float]:
    """Seconds to read the kernel's segments (``segment_columns()``) and seconds
    to draw them to ``path``."""
    began = time.perf_counter()
    columns = kernel.segment_columns()
    table = SegmentTable.of(columns.start, columns.end, columns.free_list)
    read = time.perf_counter()
    layout = MapLayout("bench", f"{len(table):,} segments", table, FREELISTS)
    render_map(layout, path)
    return read - began, time.perf_counter() - read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    small, large = machine(args.small), machine(args.segments)
    print(
        f"built {args.small:,} and {args.segments:,} segments in "
        f"{time.perf_counter() - began:.1f} s (not timed)",
        file=sys.stderr,
    )
    small_times: list[tuple[float, float]] = []
    large_times: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        draw(small, out / "warm.png")  # imports and font caches, once
        for number in range(args.rounds):
            first, second = (small, large) if number % 2 == 0 else (large, small)
            times = {id(first): draw(first, out / "a.png"), id(second): draw(second, out / "b.png")}
            small_times.append(times[id(small)])
            large_times.append(times[id(large)])
            print(
                f"round {number + 1}: (read s, draw s) {args.small:,} segments "
                f"{small_times[-1]}, {args.segments:,} segments {large_times[-1]}",
                file=sys.stderr,
            )
    for what, pick in (("read + draw", lambda t: t[0] + t[1]), ("draw alone", lambda t: t[1])):
        little = [pick(t) for t in small_times]
        big = [pick(t) for t in large_times]
        ratios = [b / a for b, a in zip(big, little, strict=True)]
        print(
            f"{what}: {args.small:,} segments median {statistics.median(little):.3f} s, "
            f"{args.segments:,} segments median {statistics.median(big):.3f} s, ratio "
            f"(median of {args.rounds} interleaved rounds) {statistics.median(ratios):.2f}x"
        )
    print("target: read + draw <= 5x")


if __name__ == "__main__":
    main()
