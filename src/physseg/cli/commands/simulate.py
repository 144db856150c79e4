"""``physseg simulate balloon|virtio-mem``: run a simulated hot-plug driver, print a summary and
write its timeline (PNG, CSV, JSON).

Without ``--coalesce`` or ``--no-coalesce`` both policies run on the same seed and the figure
shows them side by side; with one of them only that policy runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from physseg.cli.commands._common import non_negative_int, positive_int, print_json
from physseg.simulate.balloon import PAGE_SIZE, BalloonConfig, run_balloon
from physseg.simulate.report import format_summary, json_document, write_outputs
from physseg.simulate.schedule import Schedule, load_trace
from physseg.simulate.timeline import SimResult
from physseg.simulate.virtio_mem import VirtioMemConfig, run_virtio_mem

DEFAULT_OUT = "sim-results"
DEFAULT_STEPS = {"balloon": 200, "virtio-mem": 120}


def _common(parser: argparse.ArgumentParser, driver: str) -> None:
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=DEFAULT_STEPS[driver],
        help=f"time steps to simulate (default: {DEFAULT_STEPS[driver]})",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=1,
        help="seed of the schedule and workload (default: 1)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path(DEFAULT_OUT),
        help=f"directory for the PNG, CSV and JSON (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--coalesce",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run only with (--coalesce) or without (--no-coalesce) the coalescing policy;"
        " default: both, side by side",
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        type=Path,
        help="target schedule: one size in KiB per line, one line per step"
        " (default: a seeded random staircase)",
    )
    parser.add_argument(
        "--no-workload",
        dest="workload",
        action="store_false",
        help="no memory user: no page is ever in use",
    )
    parser.add_argument(
        "--boot-mib", type=positive_int, default=256, help="boot memory in MiB (default: 256)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the JSON file's document (and the files written) instead of the summary",
    )
    parser.set_defaults(func=run, driver=driver)


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand and its ``balloon`` and ``virtio-mem`` drivers."""
    parser = subparsers.add_parser(
        "simulate",
        help="run a simulated Xen balloon or virtio-mem driver and plot its timeline",
        description="Drive a fresh machine with a simulated hot-plug driver for a number of time"
        " steps, with and without the coalescing policy, and write a summary, a PNG, CSV and"
        " JSON. Unplugs use the safe mode, which refuses pages in use.",
    )
    drivers = parser.add_subparsers(dest="driver", metavar="DRIVER", required=True)
    balloon = drivers.add_parser(
        "balloon",
        help="NetBSD's Xen balloon: one-page hot-plugs past the boot reservation",
        description="The Xen balloon(4) driver: a target reservation in KiB, inflating and"
        " deflating by at most PAGE_SIZE/sizeof(xen_pfn_t) pages a step, hot-plugging one page"
        " per plug call past the boot reservation.",
    )
    _common(balloon, "balloon")
    balloon.add_argument(
        "--max-mib",
        type=positive_int,
        default=320,
        help="the hypervisor's maximum reservation in MiB (default: 320)",
    )
    virtio = drivers.add_parser(
        "virtio-mem",
        help="Linux's virtio-mem: device blocks plugged and unplugged toward a requested size",
        description="A virtio-mem device and Linux's driver (sub block mode): device blocks"
        " plugged and unplugged toward a requested size, whole memory blocks preferred.",
    )
    _common(virtio, "virtio-mem")
    virtio.add_argument(
        "--region-mib",
        type=positive_int,
        default=1024,
        help="size of the device region in MiB (default: 1024)",
    )
    virtio.add_argument(
        "--block-mib",
        type=positive_int,
        default=2,
        help="device block size in MiB (default: 2)",
    )


def _command(args: argparse.Namespace) -> str:
    words = ["physseg simulate", args.driver, f"--steps {args.steps}", f"--seed {args.seed}"]
    if args.coalesce is not None:
        words.append("--coalesce" if args.coalesce else "--no-coalesce")
    if args.trace is not None:
        words.append(f"--trace {args.trace}")
    if not args.workload:
        words.append("--no-workload")
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    """Run the chosen driver under the chosen policies, print the summary, write the files;
    returns 0. A bad trace file or configuration raises (one line, exit 1)."""
    schedule: Schedule | None = load_trace(args.trace) if args.trace is not None else None
    policies = (True, False) if args.coalesce is None else (bool(args.coalesce),)
    results: list[SimResult] = []
    for coalesce in policies:
        if args.driver == "balloon":
            balloon = BalloonConfig(
                boot_mib=args.boot_mib, max_mib=args.max_mib, workload=args.workload
            )
            results.append(
                run_balloon(
                    balloon, steps=args.steps, seed=args.seed, coalesce=coalesce, schedule=schedule
                )
            )
        else:
            virtio = VirtioMemConfig(
                boot_mib=args.boot_mib,
                region_mib=args.region_mib,
                block_mib=args.block_mib,
                workload=args.workload,
            )
            results.append(
                run_virtio_mem(
                    virtio, steps=args.steps, seed=args.seed, coalesce=coalesce, schedule=schedule
                )
            )
    written = write_outputs(results, PAGE_SIZE, args.out, _command(args))
    if args.json:
        document = json_document(results, PAGE_SIZE, _command(args))
        print_json({**document, "files": [str(path) for path in written]})
        return 0
    print(format_summary(results, PAGE_SIZE))
    for path in written:
        print(f"wrote {path}")
    return 0
