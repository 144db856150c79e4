"""Machines of any size: boot and hot-plug a 64 TiB machine against a 16 GiB one, run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/big_machine.py [--rounds 7]

Each machine is ``PhysMem(physseg_max=2048)`` with its pages (4 KiB) loaded as one segment or
split into 1,024 equal segments, then ``boot()`` (``uvm_page_init``, stealing the page array
from the segments). Timed in this process, interleaved (round 1 of every machine, then round 2,
...), the median of ``--rounds`` rounds:

* **boot**: ``load`` of every segment plus ``boot()``;
* **plug+unplug**: ``plug`` of a range above the machine's top, then ``unplug`` of it (a
  whole-segment removal), on a freshly booted machine: 1 TiB, and 8 GiB. A 16 GiB machine
  refuses a 1 TiB plug, as the kernel does: a new slab is sized from ``uvmexp.npages``
  (~4 Mi pages < 2**28), see quirk 10; its 8 GiB plug is the like-for-like baseline.

Peak RSS is measured in a child process per machine (``/proc/self/status`` VmHWM at exit,
after boot and both plugs), a fresh interpreter each, with the interpreter's own VmHWM after
the imports shown beside it. Eager page arrays (``lazy_pages=False``) are shown for the 16 GiB
machine only: a 64 TiB machine's eager arrays (160 GiB) do not fit this host.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from physseg import OutOfMemoryError, PhysMem

GIB_PAGES = 1 << 18
"""Pages of 4 KiB in 1 GiB."""
TIB_PAGES = 1 << 28
"""Pages of 4 KiB in 1 TiB."""
PLUGS = {"1 TiB": TIB_PAGES, "8 GiB": 8 * GIB_PAGES}


@dataclass(frozen=True)
class Machine:
    """One machine shape."""

    name: str
    pages: int
    segments: int
    lazy: bool = True

    def build(self) -> PhysMem:
        """Load the segments and boot; the machine at run time."""
        mem = PhysMem(physseg_max=2048, lazy_pages=self.lazy)
        per = self.pages // self.segments
        for k in range(self.segments):
            mem.load(k * per, (k + 1) * per)
        mem.boot()
        return mem

    def plug_unplug(self, mem: PhysMem, pages: int) -> bool:
        """Plug ``pages`` above the top and unplug them; False when the plug is refused."""
        pfn = self.pages + GIB_PAGES
        try:
            mem.plug(pfn, pages)
        except OutOfMemoryError:
            return False
        mem.unplug(pfn, pages)
        return True


MACHINES = [
    Machine("16 GiB, 1 segment", 16 * GIB_PAGES, 1),
    Machine("64 TiB, 1 segment", 64 * TIB_PAGES, 1),
    Machine("16 GiB, 1024 segments", 16 * GIB_PAGES, 1024),
    Machine("64 TiB, 1024 segments", 64 * TIB_PAGES, 1024),
    Machine("16 GiB, 1 segment, eager", 16 * GIB_PAGES, 1, lazy=False),
    Machine("16 GiB, 1024 segments, eager", 16 * GIB_PAGES, 1024, lazy=False),
]


def _vm_hwm_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(index: int) -> None:
    """Boot machine ``index``, plug and unplug both sizes, print the two VmHWM figures."""
    base = _vm_hwm_kib()
    machine = MACHINES[index]
    mem = machine.build()
    for pages in PLUGS.values():
        machine.plug_unplug(mem, pages)
    print(base, _vm_hwm_kib())


def peak_rss(index: int) -> tuple[int, int]:
    """``(VmHWM after the imports, VmHWM at exit)`` of a child running machine ``index``, KiB."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(index)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    boots: dict[str, list[float]] = {m.name: [] for m in MACHINES}
    plugs: dict[tuple[str, str], list[float]] = {}
    refused: set[tuple[str, str]] = set()
    for _ in range(args.rounds):
        for machine in MACHINES:
            start = time.perf_counter()
            mem = machine.build()
            boots[machine.name].append(time.perf_counter() - start)
            for label, pages in PLUGS.items():
                start = time.perf_counter()
                ok = machine.plug_unplug(mem, pages)
                plugs.setdefault((machine.name, label), []).append(time.perf_counter() - start)
                if not ok:
                    refused.add((machine.name, label))
            del mem
    med = {name: statistics.median(times) for name, times in boots.items()}
    pmed = {key: statistics.median(times) for key, times in plugs.items()}
    print(f"median of {args.rounds} interleaved rounds; peak RSS in a child process per machine")
    print(f"{'machine':<30} {'boot ms':>9} {'plug+unplug 1 TiB':>18} {'8 GiB':>9} {'peak RSS':>10}")
    for index, machine in enumerate(MACHINES):
        base, peak = peak_rss(index)
        cells = []
        for label in PLUGS:
            key = (machine.name, label)
            ms = f"{pmed[key] * 1e3:.3f} ms"
            cells.append("refused" if key in refused else ms)
        print(
            f"{machine.name:<30} {med[machine.name] * 1e3:>9.1f} {cells[0]:>18} {cells[1]:>9}"
            f" {peak / 2**20:>6.2f} GiB (imports {base / 2**10:.0f} MiB)"
        )
    print("ratios, 64 TiB / 16 GiB (target <= 3):")
    for shape in ("1 segment", "1024 segments"):
        big, small = f"64 TiB, {shape}", f"16 GiB, {shape}"
        print(f"  boot, {shape}: {med[big] / med[small]:.2f}")
        print(
            f"  plug+unplug, {shape}: 1 TiB on 64 TiB / 8 GiB on 16 GiB"
            f" {pmed[(big, '1 TiB')] / pmed[(small, '8 GiB')]:.2f};"
            f" 8 GiB / 8 GiB {pmed[(big, '8 GiB')] / pmed[(small, '8 GiB')]:.2f}"
        )


if __name__ == "__main__":
    main()
