"""The per-call lookup ratios of issue 14, side by side in one process, run by hand.

    .venv/bin/python benchmarks/face_lookup.py [--rounds 7] [--calls 20000]

Prints, for each ratio, the median over interleaved rounds of ns per call of each contender
and the median of the per-round ratios:

* ``PhysMem.page`` vs ``Kernel.PHYS_TO_VM_PAGE`` (32 segments; target <= 1.5x);
* ``PhysMem.find`` vs a plain ``bisect`` over the same sorted starts, at 32 segments and at
  the 8161 of the load test's "256MB" fragmentation set-up (target <= 2x);
* ``Kernel.PHYS_TO_VM_PAGE`` vs a Python floor, a method on a plain object doing
  ``return self.d[pa >> 12]`` over a dict of the same entries (32 segments; target <= 1.4x).

The 32 segments are the load test's fixed layout (32 adjacent 8-page segments), booted; the
8161-segment machine is built by ``physseg.bench.workloads.fragment`` as ``physseg bench``
builds it and handed to ``PhysMem`` through an engine image. Addresses are uniform over the
layout's span, drawn once per machine; every contender looks up the same list in each round,
after one warm-up pass (the memo is filled, the span index built).
"""

from __future__ import annotations

import argparse
import statistics
import time
from bisect import bisect_right
from collections.abc import Callable

import numpy as np

from physseg import PhysMem
from physseg.bench.workloads import fragment
from physseg.netbsd import make_kernel, save_image

PAGE_SHIFT = 12


class Floor:
    """The floor of a per-call lookup in Python: one method call and one dict probe."""

    def __init__(self, table: dict[int, object]) -> None:
        self.d = table

    def get(self, pa: int) -> object:
        return self.d[pa >> 12]


class PlainBisect:
    """A plain ``bisect`` over sorted segment starts, as a method (the call costs the same)."""

    def __init__(self, starts: list[int]) -> None:
        self.starts = starts

    def find(self, pfn: int) -> int:
        return bisect_right(self.starts, pfn)


def fixed_machine() -> PhysMem:
    mem = PhysMem(physseg_max=32)
    for pfn in range(0, 256, 8):
        mem.load(pfn, pfn + 8)
    mem.boot(steal=False)
    return mem


def fragmented_machine(b_pages: int) -> PhysMem:
    kernel = make_kernel("rbtree", physseg_max=32)
    fragment(kernel, 256, b_pages, np.random.default_rng(1))
    return PhysMem.from_image(save_image(kernel))


def per_call_ns(fn: Callable[[int], object], values: list[int]) -> float:
    start = time.perf_counter_ns()
    for value in values:
        fn(value)
    return (time.perf_counter_ns() - start) / len(values)


def compare(
    title: str,
    target: float,
    contenders: dict[str, Callable[[int], object]],
    values: list[int],
    rounds: int,
) -> None:
    """Interleaved rounds: every contender once per round, in turn; medians."""
    for fn in contenders.values():
        per_call_ns(fn, values)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(per_call_ns(fn, values))
    (name_a, a), (name_b, b) = times.items()
    ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
    verdict = "met" if ratio <= target else "NOT met"
    print(
        f"{title}: {name_a} {statistics.median(a):.0f} ns, {name_b} {statistics.median(b):.0f} ns,"
        f" ratio {ratio:.2f}x (target <= {target}x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    rng = np.random.default_rng(2)

    mem = fixed_machine()
    kernel = mem.kernel
    addresses = rng.integers(0, 256 << PAGE_SHIFT, size=args.calls).tolist()
    compare(
        "page vs PHYS_TO_VM_PAGE, 32 segments",
        1.5,
        {"PhysMem.page": mem.page, "Kernel.PHYS_TO_VM_PAGE": kernel.PHYS_TO_VM_PAGE},
        addresses,
        args.rounds,
    )
    floor = Floor({pa >> PAGE_SHIFT: kernel.PHYS_TO_VM_PAGE(pa) for pa in addresses})
    compare(
        "PHYS_TO_VM_PAGE vs floor, 32 segments",
        1.4,
        {"Kernel.PHYS_TO_VM_PAGE": kernel.PHYS_TO_VM_PAGE, "floor": floor.get},
        addresses,
        args.rounds,
    )
    for machine, span in ((mem, 256), (fragmented_machine(65280), 256 + 65280)):
        starts = sorted(seg.start for seg in machine)
        pfns = rng.integers(0, span, size=args.calls).tolist()
        compare(
            f"find vs bisect, {len(starts)} segments",
            2.0,
            {"PhysMem.find": machine.find, "bisect": PlainBisect(starts).find},
            pfns,
            args.rounds,
        )


if __name__ == "__main__":
    main()
