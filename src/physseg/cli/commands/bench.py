"""``physseg bench``: the paper's evaluation (NetBSD's load tests) on every lookup path, C
measured live beside them, with the paper's statistics, tables and figures written to
``--out``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from physseg.bench.ccompare import CSide
from physseg.bench.impls import IMPLS, Impl, resolve_impls
from physseg.bench.reference import CReference
from physseg.bench.report import console_tables, results_dict, write_outputs
from physseg.bench.runner import run_cases
from physseg.bench.workloads import (
    CASES,
    GROUPS,
    PAPER,
    QUICK,
    LookupCase,
    MutationCase,
    resolve_cases,
)
from physseg.cli.commands._common import print_json
from physseg.errors import CommandError

DEFAULT_SEED: Final = 20170310
"""Default seed (the first day of AsiaBSDCon 2017, where the paper was presented)."""
WIDE_WIDTH: Final = 200
"""Console width of ``--wide`` when stdout is not a terminal: the whole lookup table."""
NARROW_WIDTH: Final = 80
"""Console width when stdout is not a terminal: the classic terminal's."""


def positive_int(text: str) -> int:
    """argparse type for a count >= 1 (``1000``, ``10_000``, ``1e6`` and ``10M`` accepted)."""
    value = text.strip().replace("_", "")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(value[-1:].upper(), 1)
    if scale != 1:
        value = value[:-1]
    try:
        number = float(value) if "e" in value.lower() else int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count") from None
    count = int(number * scale)
    if count < 1 or count != number * scale:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return count


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="reproduce the paper's evaluation (static array vs R-B tree) and physseg's own",
        description="Time NetBSD's t_uvm_physseg_load workloads on the static array, the R-B "
        "tree and physseg's fast paths, side by side; print the tables and write "
        "results.json, results.csv, report.md and the figures to --out. The quick profile "
        "(default) takes a couple of minutes; --paper runs the paper's sizes (hours).",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help=f"the paper's sizes: {PAPER.runs} runs, N up to 100M, "
        f"{PAPER.lookups:,} lookups per fragmented run, 10^6 segments",
    )
    parser.add_argument(
        "--cases",
        metavar="LIST",
        help="comma-separated cases or groups ("
        + ", ".join([*GROUPS, "all"])
        + "); cases: "
        + ", ".join(CASES)
        + f"; default: the profile's (quick: {', '.join(QUICK.cases)})",
    )
    parser.add_argument(
        "--impls",
        metavar="LIST",
        help="comma-separated implementations (default all): " + ", ".join(IMPLS),
    )
    parser.add_argument(
        "--runs",
        type=positive_int,
        metavar="R",
        help=f"runs per case (quick: {QUICK.runs}, mutations {QUICK.mutation_runs}; "
        f"paper: {PAPER.runs})",
    )
    parser.add_argument(
        "--lookups",
        type=positive_int,
        metavar="N",
        help="lookups per run of the fragmented and honest cases (quick: "
        f"{QUICK.lookups:,}; paper: {PAPER.lookups:,}); a fixed case always does its own N",
    )
    parser.add_argument(
        "--ops",
        type=positive_int,
        metavar="K",
        help=f"plugs (and unplugs) per run of a mutation case (quick: {QUICK.mutation_ops}; "
        f"paper: {PAPER.mutation_ops})",
    )
    parser.add_argument(
        "--netbsd-src",
        type=Path,
        metavar="DIR",
        help="time NetBSD's uvm_physseg.c from this source tree (built here, R-B tree and "
        "static builds) as the C beside physseg; default: physseg's own C implementation of "
        "the conformance ABI (R-B tree only, not NetBSD's code)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="output directory (default: bench-results/)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="one lookup table with every implementation side by side (default: split to fit "
        f"the terminal, or {NARROW_WIDTH} columns when not on a terminal)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print results.json's document on stdout instead of tables (progress on stderr)",
    )
    parser.set_defaults(func=run)


class _RichProgress:
    """The runner's progress reports as rich progress bars, one per task."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int) -> None:
        assert self._task is not None
        self._progress.advance(self._task, steps)


def _command(args: argparse.Namespace) -> str:
    words = ["physseg", "bench"]
    if args.paper:
        words.append("--paper")
    for option in ("cases", "impls", "runs", "lookups", "ops"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", str(value)]
    if args.netbsd_src is not None:
        words += ["--netbsd-src", str(args.netbsd_src)]
    words += ["--seed", str(args.seed), "--out", str(args.out)]
    return " ".join(words)


def c_side(
    netbsd_src: Path | None, cases: list[LookupCase | MutationCase], impls: list[Impl]
) -> CSide:
    """The C beside the chosen implementations: every C build the lookup cases need, built
    (or taken from the cache) now. O(builds). Raises nothing: a side that cannot be built
    says why in its reference."""
    builds = {impl.build for impl in impls if impl.in_c}
    if not builds:
        return CSide(CReference.not_measured("no C implementation selected (--impls)"))
    needs = [
        (build, case.segments)
        for case in cases
        if isinstance(case, LookupCase)
        for build in case.builds
        if build in builds
    ]
    return CSide.prepare(netbsd_src, needs)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; returns 0 (whether the targets are met is in the report)."""
    profile = PAPER if args.paper else QUICK
    try:
        cases = resolve_cases(args.cases, profile)
        impls = resolve_impls(args.impls)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        console = Console(stderr=True, highlight=False)
    elif sys.stdout.isatty():
        console = Console(highlight=False, width=WIDE_WIDTH if args.wide else None)
    else:
        width = WIDE_WIDTH if args.wide else NARROW_WIDTH
        console = Console(file=sys.stdout, width=width, color_system=None, highlight=False)
    side = c_side(args.netbsd_src, cases, impls)
    if not side.reference.measured:
        print(side.reference.caption(), file=sys.stderr)
    console.print(
        f"physseg bench: {profile.name} profile, {len(cases)} cases "
        f"({', '.join(case.name for case in cases)}), seed {args.seed}; times are CPU time "
        f"of the benchmark thread (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=args.no_progress or not console.is_terminal,
    )
    with bars:
        results = run_cases(
            cases,
            impls,
            runs=args.runs,
            lookups=args.lookups,
            ops=args.ops,
            seed=args.seed,
            profile=profile,
            command=_command(args),
            progress=_RichProgress(bars),
            c_side=side,
        )
    written = write_outputs(results, args.out)
    if args.json:
        print_json({**results_dict(results), "files": [str(path) for path in written]})
        return 0
    for table in console_tables(results, None if args.wide else console.width):
        console.print(table)
    for result in results.lookups:
        for failure in result.c_failures.values():
            console.print(f"{result.case.name}: {failure}")
    console.print(f"{results.elapsed_s:.1f} s; wrote " + ", ".join(str(p) for p in written))
    return 0
