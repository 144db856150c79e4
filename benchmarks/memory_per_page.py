"""Measure memory per simulated page for a 16 Mi-page (64 GiB) machine, run by hand.

    .venv/bin/python benchmarks/memory_per_page.py [--pages N]

Reports the retained bytes per page (tracemalloc, after boot) and the peak during boot.
"""

from __future__ import annotations

import argparse
import tracemalloc

from physseg import PhysMem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=16 << 20)
    args = parser.parse_args()
    tracemalloc.start()
    mem = PhysMem(physseg_max=8)
    mem.load(0, args.pages)
    mem.boot(steal=False)
    current, peak = tracemalloc.get_traced_memory()
    print(f"pages: {args.pages} ({args.pages * 4096 >> 30} GiB of 4 KiB pages)")
    print(f"retained: {current / 2**20:.1f} MiB = {current / args.pages:.2f} bytes/page")
    print(f"peak during boot: {peak / 2**20:.1f} MiB = {peak / args.pages:.2f} bytes/page")


if __name__ == "__main__":
    main()
