"""The machine database's figures (issue 12), measured through the real command.

* ``--history``: one ``physseg plug`` on a machine with a short history (10 recorded operations)
  against one on a machine with a long one (``--long``, default 100,000), in interleaved rounds
  on fresh copies of the two databases; prints each side's median wall time and the median of
  the per-round ratios (the interpreter's start-up included, as a user pays it).
* ``--kills N``: N mutating commands, each SIGKILLed at a random moment; afterwards the database
  must open and hold every command that printed success.
* ``--concurrent N``: N plugs of distinct ranges started at once; all must be recorded.

Usage: ``python benchmarks/run_store.py --history --kills 200 --concurrent 50``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from physseg.cli.units import parse_bytes

PHYSSEG = (sys.executable, "-m", "physseg")
MIB = 1 << 20
GIB = 1 << 30


def physseg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PHYSSEG, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"physseg {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def machine_with_history(path: Path, ops: int, workdir: Path) -> None:
    """Boot qemu-512m at ``path``, then record ``ops`` more operations (a plug and an unplug of
    the same 1 MiB range, repeated) with one ``replay``."""
    physseg("boot", "qemu-512m", "--state", str(path))
    trace = workdir / f"history-{ops}.trace"
    with trace.open("w") as handle:
        for i in range(ops // 2):
            addr = 4 * GIB + (i % 64) * 2 * MIB
            handle.write(f"plug {addr:#x} 1M\nunplug {addr:#x} 1M\n")
    physseg("replay", str(trace), "--state", str(path), "--no-progress")


def quantity(value: object) -> int:
    """A byte quantity as the trace format writes it: an int, or a string such as ``1M``."""
    return value if isinstance(value, int) else parse_bytes(str(value))


def recorded_ops(path: Path) -> list[dict[str, object]]:
    out = physseg("export", "--state", str(path), "-o", "-").stdout
    return [
        json.loads(line)
        for line in out.splitlines()
        if line.strip().startswith("{") and '"op"' in line
    ]


def history(long_ops: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        short, long = work / "short.db", work / "long.db"
        began = time.perf_counter()
        machine_with_history(short, 10, work)
        machine_with_history(long, long_ops, work)
        print(f"built the machines in {time.perf_counter() - began:.1f} s")
        times: dict[str, list[float]] = {"short": [], "long": []}
        ratios = []
        for _ in range(rounds):
            pair = {}
            for name, source in (("short", short), ("long", long)):
                copy = work / f"run-{name}.db"
                shutil.copyfile(source, copy)
                began = time.perf_counter()
                physseg("plug", "8G", "1M", "--state", str(copy))
                pair[name] = time.perf_counter() - began
                times[name].append(pair[name])
            ratios.append(pair["long"] / pair["short"])
        print(
            f"plug after 10 ops: {statistics.median(times['short']) * 1e3:.0f} ms;"
            f" after {long_ops:,} ops: {statistics.median(times['long']) * 1e3:.0f} ms;"
            f" median ratio {statistics.median(ratios):.2f} over {rounds} rounds"
        )


def kills(count: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory) / "machine.db"
        physseg("boot", "qemu-512m", "--state", str(state))
        acknowledged = set()
        for i in range(count):
            addr = 8 * GIB + i * 2 * MIB
            process = subprocess.Popen(
                [*PHYSSEG, "plug", hex(addr), "1M", "--state", str(state)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(rng.uniform(0.0, 0.8))
            process.send_signal(signal.SIGKILL)
            out, _ = process.communicate()
            if "Plugged" in out:
                acknowledged.add(addr)
        opened = physseg("show", "--state", str(state), "--json", check=False).returncode == 0
        recorded = {quantity(op["addr"]) for op in recorded_ops(state) if op["op"] == "plug"}
        lost = acknowledged - recorded
        print(
            f"{count} SIGKILLed plugs: {len(acknowledged)} printed success, the database"
            f" {'opens' if opened else 'DOES NOT OPEN'}, {len(lost)} acknowledged plugs lost"
        )


def concurrent(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory) / "machine.db"
        physseg("boot", "qemu-512m", "--state", str(state))
        began = time.perf_counter()
        processes = [
            subprocess.Popen(
                [*PHYSSEG, "plug", hex(4 * GIB + i * 2 * MIB), "1M", "--state", str(state)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(count)
        ]
        statuses = [process.wait() for process in processes]
        elapsed = time.perf_counter() - began
        plugs = [op for op in recorded_ops(state) if op["op"] == "plug"]
        print(
            f"{count} concurrent plugs: {statuses.count(0)} exited 0, {len(plugs)} recorded,"
            f" {elapsed:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", action="store_true")
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--concurrent", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.history:
        history(args.long, args.rounds)
    if args.kills:
        kills(args.kills, args.seed)
    if args.concurrent:
        concurrent(args.concurrent)


if __name__ == "__main__":
    main()
