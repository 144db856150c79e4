"""What a brand-new hot-plug slab's size costs, run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/slab_size.py [--rounds 7]

A run-time plug that no slab has room for gets a slab sized from ``uvmexp.npages``, with no
cap since quirk 38 (physseg used to cap it at 2**28 entries). Two machines, each one segment
booted with ``boot(steal=False)`` (its slab exactly full): 1 TiB (``npages`` = 2**28, the old
cap) and 64 TiB (2**34). Each round times, on a fresh machine of each size in turn
(interleaved), a one-page ``plug`` above the top plus its ``unplug``, the best of 5; the
medians over the rounds and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from physseg import PhysMem

SIZES = {"npages 2**28 (1 TiB)": 1 << 28, "npages 2**34 (64 TiB)": 1 << 34}
TRIES = 5


def booted(pages: int) -> PhysMem:
    mem = PhysMem()
    mem.load(0, pages)
    mem.boot(steal=False)
    return mem


def plug_unplug(mem: PhysMem, pfn: int) -> float:
    start = time.perf_counter()
    mem.plug(pfn, 1)
    mem.unplug(pfn, 1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {label: [] for label in SIZES}
    for _ in range(args.rounds):
        for label, pages in SIZES.items():
            mem = booted(pages)
            seconds[label].append(min(plug_unplug(mem, pages + 16 + k) for k in range(TRIES)))
    medians = {label: statistics.median(times) for label, times in seconds.items()}
    for label, median in medians.items():
        print(f"{label:24} plug+unplug {median * 1e3:.3f} ms")
    small, large = medians.values()
    print(f"ratio 2**34 / 2**28: {large / small:.2f} (median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
