"""Plug and unplug per operation as the segment count grows, run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/plug_growth.py [CASE ...]

CASE is a mutation case of ``physseg bench`` (default ``mutate-1K mutate-1M``): the load
test's fragmented layout of n segments (the 10^6 one takes about a minute to build). Then 300
distinct holes are plugged back one by one (each scavenges page entries from a slab extent)
and the 300 segments unplugged again (whole-segment removals); each operation is timed alone
and the medians are printed. Run it with two source trees' ``PYTHONPATH`` to compare them.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

import numpy as np

from physseg.bench.workloads import CASES, MutationCase

OPERATIONS = 300
"""Plugs (and as many unplugs) timed per case."""


def main() -> None:
    for name in sys.argv[1:] or ["mutate-1K", "mutate-1M"]:
        case = CASES[name]
        assert isinstance(case, MutationCase), f"{name} is not a mutation case"
        kernel, holes = case.build(np.random.default_rng(1))
        picks = random.Random(2).sample(holes, OPERATIONS)
        plugs, unplugs = [], []
        for pfn, pages in picks:
            start = time.perf_counter()
            ok, _ = kernel.uvm_physseg_plug(pfn, pages)
            plugs.append(time.perf_counter() - start)
            assert ok, f"plug({pfn:#x}, {pages}) failed"
        for pfn, pages in picks:
            start = time.perf_counter()
            ok = kernel.uvm_physseg_unplug(pfn, pages)
            unplugs.append(time.perf_counter() - start)
            assert ok, f"unplug({pfn:#x}, {pages}) failed"
        print(
            f"{name}: plug {statistics.median(plugs) * 1e6:.1f} us,"
            f" unplug {statistics.median(unplugs) * 1e6:.1f} us (medians of {OPERATIONS})"
        )


if __name__ == "__main__":
    main()
