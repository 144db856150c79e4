"""Measure memory per simulated page for a 16 Mi-page (64 GiB) machine, run by hand.

    .venv/bin/python benchmarks/memory_per_page.py [--pages N] [--eager] [--touch]

Reports the retained bytes per page (tracemalloc, after boot) and the peak during boot. Page
arrays are lazy unless ``--eager``. ``--touch`` then touches every page: it allocates every
free page through ``PageAllocator`` and frees them all (writing ``flags`` and ``free_list`` of
each), and rewrites every entry of all three columns entry by entry (an integer-array write,
which materialises every chunk of a lazy column): the worst case of a lazy machine.
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

from physseg import PhysMem
from physseg.pagealloc import PageAllocator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=16 << 20)
    parser.add_argument("--eager", action="store_true", help="eager page arrays")
    parser.add_argument("--touch", action="store_true", help="touch every page (see above)")
    args = parser.parse_args()
    tracemalloc.start()
    mem = PhysMem(physseg_max=8, lazy_pages=not args.eager)
    mem.load(0, args.pages)
    mem.boot(steal=False)
    if args.touch:
        pages = PageAllocator(mem)
        pages.free(pages.alloc(mem.npages))
        for info in mem.kernel.segment_infos():
            assert info.pgs is not None
            slab = info.pgs.slab
            entries = np.arange(info.pgs.index, info.pgs.index + info.end - info.start)
            for column in (slab.phys_addr, slab.free_list, slab.flags):
                column[entries] = column[entries]
        del pages, entries
    current, peak = tracemalloc.get_traced_memory()
    mode = "eager" if args.eager else "lazy"
    touched = ", every page touched" if args.touch else ""
    print(f"pages: {args.pages} ({args.pages * 4096 >> 30} GiB of 4 KiB pages), {mode}{touched}")
    slabs = {info.pgs.slab.ident: info.pgs.slab for info in mem.kernel.segment_infos() if info.pgs}
    records = sum(slab.nbytes for slab in slabs.values())
    print(f"page records (Slab.nbytes): {records / args.pages:.2f} bytes/page")
    print(
        f"retained: {current / 2**20:.1f} MiB = {current / args.pages:.2f} bytes/page"
        " (with the lookup's batch table, 16 B/frame, when a batch lookup built it)"
    )
    print(f"peak (boot, and the touching): {peak / 2**20:.1f} MiB = {peak / args.pages:.2f} B/page")


if __name__ == "__main__":
    main()
