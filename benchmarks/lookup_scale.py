"""Per-call lookups at large segment counts (issue 14), side by side in one process, run by hand.

    .venv/bin/python benchmarks/lookup_scale.py [--segments 1000000] [--calls 200000] [--rounds 5]
    .venv/bin/python benchmarks/lookup_scale.py --crossover [--counts 1000,...] [--calls 200000]
    .venv/bin/python benchmarks/lookup_scale.py --steady [--counts 1000,...] [--calls 100000]

The machine is the load test's fragmentation set-up grown to ``--segments`` segments
(``physseg.bench.workloads.fragment``: A = [0, 256), B hot-plugged, the first 1-7 frames of
every 8-frame group of B unplugged). Addresses are uniform random over the whole span.

Default mode prints, as medians over interleaved rounds after a warm-up pass:

* ``Kernel.PHYS_TO_VM_PAGE`` per call vs a plain ``bisect`` over the sorted segment starts (a
  method on a plain object), and their ratio (target <= 2x at 10^6 segments);
* ``PhysMem.page`` per call on the same machine (after the kernel's rounds, not interleaved),
  as a ratio to ``Kernel.PHYS_TO_VM_PAGE``;
* the p50 and p99 of single calls, each timed alone with ``perf_counter_ns`` (target: p99 <=
  10x p50), and the gen-2 garbage collections the timed calls set off.

``--crossover`` times the two per-call miss paths of ``physseg.netbsd.lookup.PageLookup``
against each other at several segment counts (the memo's 1024-frame window fills, and the span
index's bisect), each round on a fresh layout version so that the fills are paid, as in a run of
``physseg bench``: the data behind ``SEARCH_SEGMENTS``. ``--steady`` times them as
``physseg bench`` runs a case instead: one warm-up, then rounds on the same layout, so the memo
keeps what it filled (unless it overflows).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from bisect import bisect_right
from collections.abc import Callable

import numpy as np

from physseg import PhysMem
from physseg.bench.workloads import PF_STEP, fragment
from physseg.netbsd import Kernel, make_kernel, save_image

PAGE_SHIFT = 12
A_PAGES = 256


class PlainBisect:
    """A plain ``bisect`` over sorted segment starts, as a method (the call costs the same)."""

    def __init__(self, starts: list[int]) -> None:
        self.starts = starts

    def find(self, pa: int) -> int:
        return bisect_right(self.starts, pa >> 12)


def machine(segments: int) -> Kernel:
    kernel = make_kernel("rbtree", physseg_max=32)
    fragment(kernel, A_PAGES, PF_STEP * (segments - 1), np.random.default_rng(1))
    return kernel


def loop_ns(fn: Callable[[int], object], values: list[int]) -> float:
    start = time.perf_counter_ns()
    for value in values:
        fn(value)
    return (time.perf_counter_ns() - start) / len(values)


def single_ns(fn: Callable[[int], object], values: list[int]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for value in values:
        start = clock()
        fn(value)
        out.append(clock() - start)
    return out


def gen2_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def scale(segments: int, calls: int, rounds: int) -> None:
    started = time.perf_counter()
    kernel = machine(segments)
    span = A_PAGES + PF_STEP * (segments - 1)
    print(f"{segments} segments, {span} frames: built in {time.perf_counter() - started:.1f} s")
    starts = sorted(info.start for info in kernel.segment_infos())
    floor = PlainBisect(starts)
    rng = np.random.default_rng(2)
    values = (rng.integers(0, span, size=calls) << PAGE_SHIFT).tolist()
    lookup = kernel.PHYS_TO_VM_PAGE
    loop_ns(lookup, values)  # warm-up: the span index is built
    loop_ns(floor.find, values)
    per_call: list[float] = []
    plain: list[float] = []
    gen2 = gen2_collections()
    for _ in range(rounds):
        per_call.append(loop_ns(lookup, values))
        plain.append(loop_ns(floor.find, values))
    gen2 = gen2_collections() - gen2
    ratio = statistics.median(a / b for a, b in zip(per_call, plain, strict=True))
    print(
        f"per call: PHYS_TO_VM_PAGE {statistics.median(per_call):.0f} ns,"
        f" bisect {statistics.median(plain):.0f} ns, ratio {ratio:.2f}x"
        f" (target <= 2x: {'met' if ratio <= 2 else 'NOT met'}); gen-2 collections: {gen2}"
    )
    mem = PhysMem.from_image(save_image(kernel))
    mem.kernel.lookup.search_segments = kernel.lookup.search_segments
    loop_ns(mem.page, values)  # warm-up: the span index is built
    face = [loop_ns(mem.page, values) for _ in range(rounds)]
    face_ratio = statistics.median(a / b for a, b in zip(face, per_call, strict=True))
    print(
        f"per call: PhysMem.page {statistics.median(face):.0f} ns,"
        f" {face_ratio:.2f}x PHYS_TO_VM_PAGE"
    )
    singles = np.array(single_ns(lookup, values))
    floors = np.array(single_ns(floor.find, values))
    p50, p99 = np.percentile(singles, [50, 99])
    f50, f99 = np.percentile(floors, [50, 99])
    print(
        f"single calls: PHYS_TO_VM_PAGE p50 {p50:.0f} ns, p99 {p99:.0f} ns, p99/p50"
        f" {p99 / p50:.1f}x (target <= 10x: {'met' if p99 <= 10 * p50 else 'NOT met'});"
        f" bisect p50 {f50:.0f} ns, p99 {f99:.0f} ns"
    )


def crossover(counts: list[int], calls: int, rounds: int) -> None:
    rng = np.random.default_rng(3)
    for segments in counts:
        kernel = machine(segments)
        span = A_PAGES + PF_STEP * (segments - 1)
        values = (rng.integers(0, span, size=calls) << PAGE_SHIFT).tolist()
        lookup = kernel.PHYS_TO_VM_PAGE
        times: dict[str, list[float]] = {"memo": [], "search": []}
        for _ in range(rounds):
            for mode, limit in (("memo", 1 << 62), ("search", 0)):
                kernel.lookup.search_segments = limit
                kernel.version += 1  # a fresh layout version: the fills are paid again
                while kernel.lookup.spans() is None:  # built before the timing in both modes
                    pass
                times[mode].append(loop_ns(lookup, values))
        memo = statistics.median(times["memo"])
        search = statistics.median(times["search"])
        print(
            f"{segments:>7} segments: memo {memo:.0f} ns/call, search {search:.0f} ns/call,"
            f" memo/search {memo / search:.2f}"
        )
        del kernel
        gc.collect()


def steady(counts: list[int], calls: int, rounds: int) -> None:
    """As ``physseg bench`` runs a case: a warm-up of 65536 calls, then rounds on the same
    layout (the memo keeps what it filled). One kernel per path, rounds interleaved."""
    rng = np.random.default_rng(4)
    for segments in counts:
        span = A_PAGES + PF_STEP * (segments - 1)
        warm = (rng.integers(0, span, size=65536) << PAGE_SHIFT).tolist()
        values = (rng.integers(0, span, size=calls) << PAGE_SHIFT).tolist()
        kernels = {"memo": machine(segments), "search": machine(segments)}
        kernels["memo"].lookup.search_segments = 1 << 62
        kernels["search"].lookup.search_segments = 0
        for kernel in kernels.values():
            loop_ns(kernel.PHYS_TO_VM_PAGE, warm)
        times: dict[str, list[float]] = {"memo": [], "search": []}
        for _ in range(rounds):
            for mode, kernel in kernels.items():
                times[mode].append(loop_ns(kernel.PHYS_TO_VM_PAGE, values))
        memo = statistics.median(times["memo"])
        search = statistics.median(times["search"])
        print(
            f"{segments:>7} segments, steady: memo {memo:.0f} ns/call, search {search:.0f}"
            f" ns/call, memo/search {memo / search:.2f}"
            f" (memo overflowed: {kernels['memo'].lookup.searching})"
        )
        del kernels
        gc.collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--steady", action="store_true")
    parser.add_argument(
        "--counts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1_000, 4_000, 10_000, 16_384, 30_000, 50_000, 100_000],
        help="segment counts of --crossover, comma-separated",
    )
    args = parser.parse_args()
    if args.crossover:
        crossover(args.counts, args.calls, args.rounds)
    elif args.steady:
        steady(args.counts, args.calls, args.rounds)
    else:
        scale(args.segments, args.calls, args.rounds)


if __name__ == "__main__":
    main()
