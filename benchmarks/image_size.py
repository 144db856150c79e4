"""Measure engine images of shipped memory maps (size, save and load time, memory), run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/image_size.py [MAP ...] [--repeat N]

Boots each map as ``physseg boot MAP`` does (NetBSD/x86's boot plan, ATF free lists,
``VM_PHYSSEG_MAX`` 64, the page array stolen), unplugs and re-plugs a little (so the image holds
a hole and a scavenged page array), then reports the image's size (meta as compact JSON plus the
arrays' bytes), the best of N save and load times, and the peak memory traced during one save
and one load beyond the page arrays themselves (``vm_page`` columns: 10 bytes a page).
Default maps: ``qemu-512m``, ``desktop-16g`` and ``server-1t`` (which needs about 10 GB of
RAM: the live machine and each restored copy hold 2.6 GB of page records).
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from physseg import PhysMem
from physseg.core.pages import BYTES_PER_PAGE
from physseg.memmap import ATF_FREELISTS, load_map, plan_boot


def boot(name: str) -> PhysMem:
    """The machine ``physseg boot NAME`` makes, with one hole unplugged and half re-plugged."""
    plan = plan_boot(load_map(name, None), physseg_max=64, freelists=ATF_FREELISTS)
    mem = PhysMem(physseg_max=64, nfreelist=ATF_FREELISTS.nfreelist)
    for ld in plan.loads:
        mem.load(ld.start_pfn, ld.start_pfn + ld.npages, free_list=ld.free_list)
    mem.boot()
    largest = max(mem.segments(), key=lambda seg: seg.npages)
    middle = largest.start + largest.npages // 2
    mem.unplug(middle, 0x100)
    mem.plug(middle, 0x80)
    return mem


def best(call: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timed calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("maps", nargs="*", default=["qemu-512m", "desktop-16g", "server-1t"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in args.maps:
        mem = boot(name)
        image = mem.image()
        meta = len(json.dumps(image.meta, separators=(",", ":")))
        pages = sum(slab["npages"] for slab in image.meta["slabs"])
        save = best(mem.image, args.repeat)
        load = best(partial(PhysMem.from_image, image), args.repeat)
        tracemalloc.start()
        mem.image()
        save_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        twin = PhysMem.from_image(image)
        load_peak = tracemalloc.get_traced_memory()[1] - pages * BYTES_PER_PAGE
        tracemalloc.stop()
        assert twin.snapshot() == mem.snapshot()
        runs = image.arrays["phys_addr_count"].size
        print(
            f"{name}: {mem.stats()['managed_pages']} managed pages, {pages} vm_page entries;"
            f" image {meta + image.nbytes} B (meta {meta} B, arrays {image.nbytes} B,"
            f" {runs} phys_addr runs); save {save * 1000:.1f} ms, load {load * 1000:.1f} ms;"
            f" peak beyond the page arrays: save {save_peak / 2**20:.1f} MiB,"
            f" load {load_peak / 2**20:.1f} MiB"
        )
        del mem, twin, image


if __name__ == "__main__":
    main()
