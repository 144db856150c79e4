"""Measure what chooses the store's checkpoint interval K, run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/store_checkpoint_interval.py [MAP ...]

A changing command opens its machine by restoring the newest checkpoint (cost R) and replaying
the journal rows after it (cost r each, fewer than K of them), and every K rows one command also
writes a checkpoint (cost C). So a command pays on average about ``R + r (K - 1) / 2 + C / K``
on top of its own work, and at worst ``R + r (K - 1) + C``; the mean is least at
``K* = sqrt(2 C / r)``. For each map (booted as ``physseg boot MAP`` does) this script
measures, in process and on a real database file:

* r and R: ``Transaction.load()`` with 0 to 2,000 journal rows after the checkpoint (a least
  squares line: R its intercept, r its slope; the rows are the ``plug``/``unplug`` pairs of a
  hot-plug trace: 64 KiB plugged above the RAM, and unplugged again);
* C: ``PhysMem.image()``, writing the checkpoint rows and committing (fsync included), on the
  same machine;

then prints, for a few values of K, the mean and worst overhead a command pays, and the K
that keeps the largest mean overhead over all the machines measured least. Each map is
measured as booted and grown by 10,000 hot-plugged segments (``--grown``). Timings are the
best of ``--repeat`` runs. Default maps: ``qemu-512m`` and ``desktop-16g``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from physseg.cli import store
from physseg.cli.checkpoint import write_checkpoint
from physseg.cli.state import MachineConfig, MachineState
from physseg.cli.store import save_new, transaction
from physseg.cli.trace import Init, PhysLoad, Plug, TraceOp, Unplug, apply_op
from physseg.memmap import ATF_FREELISTS, load_map, plan_boot

ROWS = (0, 250, 500, 1000, 2000)
"""Journal rows after the checkpoint at which opening is timed."""
CANDIDATES = (10, 16, 30, 100, 300, 1000)
"""Values of K the overhead table shows."""


def boot_ops(name: str) -> list[TraceOp]:
    """The operations ``physseg boot NAME`` journals."""
    plan = plan_boot(load_map(name, None), physseg_max=64, freelists=ATF_FREELISTS)
    ops: list[TraceOp] = [
        PhysLoad(ld.start_pfn << 12, ld.npages << 12, free_list=ld.free_list) for ld in plan.loads
    ]
    return [*ops, Init()]


def workload(count: int, base: int) -> list[TraceOp]:
    """``count`` rows of plug/unplug pairs of 64 KiB at distinct addresses from ``base``."""
    ops: list[TraceOp] = []
    for n in range(count // 2):
        addr = base + n * (1 << 20)
        ops += [Plug(addr, 64 << 10), Unplug(addr, 64 << 10)]
    return ops


def best(repeat: int, call: Callable[[], object]) -> float:
    """The least wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def machine_with_rows(directory: Path, name: str, grown: int, rows: int) -> Path:
    """A database of map ``name`` booted with ``grown`` 64 KiB segments plugged (all before
    its checkpoint), then ``rows`` workload rows after the checkpoint."""
    path = directory / f"{name}-{grown}-{rows}.db"
    ops = boot_ops(name)
    ops += [Plug((1 << 40) + n * (1 << 20), 64 << 10) for n in range(grown)]
    config = MachineConfig(nfreelist=ATF_FREELISTS.nfreelist)
    mem = config.new_machine()
    for op in ops:
        apply_op(mem, op)
    save_new(path, MachineState(config), mem, ops)
    extra = workload(rows, 1 << 44)
    with transaction(path) as tx:
        _, mem = tx.load()
        for op in extra:
            apply_op(mem, op)
        tx.append(mem, extra)
    return path


def open_cost(path: Path) -> None:
    """Open the machine as a changing command does (read-only: nothing is written)."""
    with transaction(path, write=False) as tx:
        tx.load()


def checkpoint_cost(path: Path, repeat: int) -> float:
    """The least time of taking the machine's image, writing it as the checkpoint and
    committing with ``synchronous = FULL``, as a command does (seconds)."""
    with transaction(path, write=False) as tx:
        state, mem = tx.load()
    times = []
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous = FULL")
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            write_checkpoint(conn, state.operations, mem.image())
            conn.execute("COMMIT")
            times.append(time.perf_counter() - started)
    return min(times)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ``y = a + b x``: ``(a, b)``."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return mean_y - slope * mean_x, slope


def measure(name: str, grown: int, repeat: int) -> tuple[float, float, float]:
    """R (s), r (s a row) and C (s) for map ``name`` grown by ``grown`` segments."""
    store.CHECKPOINT_EVERY = 1 << 20  # no checkpoint but the boot's while building
    with tempfile.TemporaryDirectory() as directory:
        points = []
        for rows in ROWS:
            path = machine_with_rows(Path(directory), name, grown, rows)
            points.append((rows, best(repeat, lambda path=path: open_cost(path))))
        restore, per_row = fit(points)
        write = checkpoint_cost(path, repeat)
    return restore, per_row, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("maps", nargs="*", default=["qemu-512m", "desktop-16g"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--grown",
        type=int,
        nargs="*",
        default=[0, 10_000],
        help="segments hot-plugged before the checkpoint (default: 0 and 10,000)",
    )
    args = parser.parse_args()
    figures = []
    for name in args.maps:
        for grown in args.grown:
            figures.append(measure(name, grown, args.repeat))
            report(f"{name} + {grown:,} segments", *figures[-1])
    worst = {k: max(mean_overhead(k, r, c) for _, r, c in figures) for k in range(1, 5001)}
    chosen = min(worst, key=worst.__getitem__)
    print(
        f"K = {chosen} keeps the largest mean overhead over these machines least:"
        f" {worst[chosen] * 1e3:.1f} ms (K = 100: {worst[100] * 1e3:.1f} ms,"
        f" K = 1000: {worst[1000] * 1e3:.1f} ms)"
    )


def mean_overhead(k: int, per_row: float, write: float) -> float:
    """A command's mean cost of replaying and checkpointing at interval ``k`` (seconds)."""
    return per_row * (k - 1) / 2 + write / k


def report(what: str, restore: float, per_row: float, write: float) -> None:
    """Print one machine's figures and the overhead table."""
    optimum = math.sqrt(2 * write / per_row)
    print(
        f"{what}: restore R = {restore * 1e3:.1f} ms, replay r = {per_row * 1e6:.0f} us/row,"
        f" checkpoint C = {write * 1e3:.1f} ms, K* = sqrt(2C/r) = {optimum:.0f}"
    )
    print("      K   mean overhead   worst overhead   (ms, beyond R)")
    for k in CANDIDATES:
        mean = mean_overhead(k, per_row, write)
        worst = per_row * (k - 1) + write
        print(f"  {k:5d}   {mean * 1e3:13.1f}   {worst * 1e3:14.1f}")


if __name__ == "__main__":
    main()
