"""Boot a very long memory map and report time and peak memory, run by hand.

    PYTHONPATH=src .venv/bin/python benchmarks/boot_stream.py [--lines N ...] [--rounds R]

Writes, in a temporary directory, a ``/proc/iomem``-style map of N disjoint two-page
``System RAM`` entries for each N (default 100,000 and 3,000,000: 3.3 MB and 99 MB; beyond the
iomem extent's 64 region descriptors NetBSD skips every entry, so all but a few dozen draw a
warning), plus the 7-line ``qemu-512m`` sample as a baseline. Each round boots every map once,
in turn (``physseg boot MAP --state DB`` in a fresh child process, stdout and stderr to
files), and the child reports the boot's wall time, its own CPU time (user + system, imports
included: on shared cores the steadier figure) and its peak resident set (``VmHWM`` from
``/proc/self/status``, Linux only). Prints, per map, the median over the rounds of each,
the CPU time per line beyond the sample's (the fixed cost of starting Python, importing and
saving a machine) relative to the smallest generated map's (1.0 = linear), and the lines each
child wrote to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from physseg.cli.main import main
start = time.perf_counter()
status = main(["boot", sys.argv[1], "--state", sys.argv[2]])
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
report = {"status": status, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime}
print(json.dumps({**report, "vmhwm_kib": int(hwm)}), file=sys.stderr)
"""
"""The child: one boot, then its wall time (the boot only), CPU time (the whole process,
imports included) and peak RSS as a JSON line on stderr."""


def write_map(path: Path, lines: int) -> None:
    """``lines`` disjoint two-page System RAM entries, one page apart, above 1 MiB."""
    with path.open("w") as out:
        for index in range(lines):
            start = 0x100000 + index * 0x3000
            out.write(f"{start:08x}-{start + 0x1FFF:08x} : System RAM\n")


def boot_once(map_path: str, work: Path) -> dict[str, float]:
    """Boot ``map_path`` in a child; its time, peak RSS and stderr line count."""
    state = work / "machine.db"
    state.unlink(missing_ok=True)
    with (work / "out.txt").open("w") as out, (work / "err.txt").open("w") as err:
        subprocess.run(
            [sys.executable, "-c", CHILD, map_path, str(state)], stdout=out, stderr=err, check=True
        )
    lines = (work / "err.txt").read_text().splitlines()
    report = json.loads(lines[-1])
    if report["status"] != 0:
        raise SystemExit(f"boot of {map_path} failed: {lines[:-1]}")
    return {
        "seconds": report["seconds"],
        "cpu": report["cpu"],
        "vmhwm_mib": report["vmhwm_kib"] / 1024,
        "stderr_lines": len(lines) - 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 3_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        maps = {"qemu-512m (sample)": "qemu-512m"}
        sizes: dict[str, int] = {}
        for count in sorted(args.lines):
            path = work / f"map-{count}.iomem"
            write_map(path, count)
            name = f"{count:,} lines ({path.stat().st_size / 1e6:.1f} MB)"
            maps[name], sizes[name] = str(path), count
        results: dict[str, list[dict[str, float]]] = {name: [] for name in maps}
        for _ in range(args.rounds):
            for name, map_path in maps.items():
                results[name].append(boot_once(map_path, work))
    smallest = next(iter(sizes), None)
    fixed = statistics.median(r["cpu"] for r in results["qemu-512m (sample)"])
    per_line = {  # CPU seconds a line, beyond the fixed cost of a 7-line boot
        name: (statistics.median(r["cpu"] for r in results[name]) - fixed) / count
        for name, count in sizes.items()
    }
    print(
        f"{'map':<28} {'wall s':>7} {'cpu s':>7} {'peak RSS MiB':>13} {'cpu/line vs first':>18}"
        f" {'stderr':>7}"
    )
    for name, rounds in results.items():
        seconds = statistics.median(r["seconds"] for r in rounds)
        cpu = statistics.median(r["cpu"] for r in rounds)
        rss = statistics.median(r["vmhwm_mib"] for r in rounds)
        ratio = ""
        if smallest and name in sizes:
            ratio = f"{per_line[name] / per_line[smallest]:.2f}"
        err_lines = int(max(r["stderr_lines"] for r in rounds))
        print(f"{name:<28} {seconds:>7.2f} {cpu:>7.2f} {rss:>13.0f} {ratio:>18} {err_lines:>7}")
    print(f"medians of {args.rounds} interleaved rounds; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
