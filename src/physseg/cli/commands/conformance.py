"""``physseg conformance``: check a C implementation of uvm_physseg against the model.

Exit statuses: 0 no divergence (explained revision differences allowed), 1 divergences found,
2 the tree or library could not be built or loaded (the compiler's or loader's message is
printed whole).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from rich import box
from rich.console import Console
from rich.table import Table

from physseg.cli.commands._common import non_negative_int, print_json
from physseg.conformance.build import BuildError
from physseg.conformance.check import ConfigReport, Target, check
from physseg.conformance.clib import LoadError
from physseg.conformance.config import ALL_CONFIGS, Config
from physseg.conformance.runner import HarnessError
from physseg.conformance.targets import (
    MUTANTS,
    TreeError,
    library_target,
    netbsd_target,
    reference_target,
)

DEFAULT_SEQUENCES: Final = 200
DEFAULT_HANG_TIMEOUT: Final = 2.0


def _config(text: str) -> Config:
    try:
        return Config.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0.05 to 3600 seconds")
    return value


def register(subparsers: Any) -> None:
    """Add the ``conformance`` subcommand."""
    parser = subparsers.add_parser(
        "conformance",
        help="check a C implementation of uvm_physseg (NetBSD's own, or yours) against the model",
        description="Build NetBSD's uvm_physseg.c in userspace (or load a library of the"
        " conformance ABI), drive it call by call in lockstep with physseg's model through"
        " NetBSD's ATF scenarios and random call sequences, and report every divergence,"
        " shrunk to a minimal call sequence with a C reproduction. docs/conformance.md.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--netbsd-src",
        metavar="DIR",
        type=Path,
        help="a NetBSD source tree (or a directory with the six files at their NetBSD paths)",
    )
    source.add_argument(
        "--lib", metavar="PATH", type=Path, help="a shared library of the conformance ABI"
    )
    source.add_argument(
        "--reference",
        action="store_true",
        help="physseg's own C implementation (rbtree configurations only)",
    )
    parser.add_argument(
        "--config",
        metavar="NAME",
        type=_config,
        action="append",
        help="a configuration such as rbtree-max32-bsearch (repeatable; default: all that"
        " apply; --lib: rbtree-max32-bsearch)",
    )
    parser.add_argument(
        "--sequences",
        type=non_negative_int,
        default=DEFAULT_SEQUENCES,
        help=f"random call sequences per configuration (default: {DEFAULT_SEQUENCES})",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default: 0)")
    parser.add_argument(
        "--hang-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_HANG_TIMEOUT,
        help=f"a call that takes longer is a hang (default: {DEFAULT_HANG_TIMEOUT:g})",
    )
    parser.add_argument("--no-atf", dest="atf", action="store_false", help="skip ATF scenarios")
    parser.add_argument(
        "--extent-testing",
        action="store_true",
        help="build subr_extent.c with _EXTENT_TESTING (its panics only print, as in NetBSD's"
        " ATF build); default: extent(9) panics as in a kernel",
    )
    parser.add_argument(
        "--revision",
        metavar="REV",
        help="the uvm_physseg.c revision the implementation follows, e.g. 1.9 (default: read"
        " from the tree's $NetBSD$ line; unknown for --lib)",
    )
    parser.add_argument(
        "--mutant",
        choices=sorted(MUTANTS),
        help="with --reference: a deliberately broken variant, to see a divergence caught",
    )
    parser.add_argument(
        "--repro-dir",
        metavar="DIR",
        type=Path,
        help="write each divergence's C reproduction to DIR/<config>-<n>.c",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of the tables"
    )
    parser.set_defaults(func=run)


def _targets(args: argparse.Namespace) -> list[Target]:
    if args.reference:
        configs = args.config or [c for c in ALL_CONFIGS if c.hotplug]
        return [reference_target(config, args.mutant) for config in configs]
    if args.mutant is not None:
        raise ValueError("--mutant needs --reference")
    if args.lib is not None:
        configs = args.config or [Config.parse("rbtree-max32-bsearch")]
        return [library_target(args.lib, config, args.revision) for config in configs]
    configs = args.config or list(ALL_CONFIGS)
    targets = [
        netbsd_target(args.netbsd_src, config, extent_testing=args.extent_testing)
        for config in configs
    ]
    if args.revision is not None:
        targets = [
            Target(
                t.config, t.description, t.machine, t.set_abort_fd, args.revision, t.extent_testing
            )
            for t in targets
        ]
    return targets


def _table(reports: list[ConfigReport]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="physseg conformance")
    columns = ("configuration", "scenarios", "sequences", "calls", "divergences", "explained", "s")
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for r in reports:
        explained = sum(count for count, _ in r.explained.values())
        table.add_row(
            r.config,
            str(r.scenarios),
            str(r.sequences),
            str(r.calls),
            str(len(r.divergences)),
            str(explained),
            f"{r.seconds:.1f}",
        )
    return table


def _repro_path(directory: Path, config: str, number: int) -> Path:
    """Where the ``number``-th divergence of ``config`` has its C reproduction."""
    return directory / f"{config}-{number}.c"


def _details(reports: list[ConfigReport], repro_dir: Path | None) -> list[str]:
    lines: list[str] = []
    for r in reports:
        for number, d in enumerate(r.divergences, start=1):
            lines.append(f"DIVERGENCE {r.config} ({d.origin}), {len(d.calls)} calls:")
            for i, call in enumerate(d.calls):
                marker = "  <-- first difference" if i == d.difference.step else ""
                lines.append(f"  {i + 1}. {call}{marker}")
            diff = d.difference
            lines.append(
                f"  field {diff.field}: model {diff.model!r}, implementation {diff.actual!r}"
            )
            if repro_dir is not None:
                lines.append(f"  C reproduction: {_repro_path(repro_dir, r.config, number)}")
        for name, (count, example) in r.explained.items():
            cause = example.explained_by
            assert cause is not None
            lines.append(f"EXPLAINED {r.config}: {count} sequence(s), {name},")
            lines.append(f"  {cause.expected(r.revision)}: {cause.explanation}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Build or load every target, check each, print the table (or ``--json``); returns 0,
    1 when an unexplained divergence was found, 2 when a target could not be built or
    loaded."""
    try:
        targets = _targets(args)
    except (BuildError, LoadError, TreeError, ValueError) as exc:
        print(f"physseg conformance: {exc}", file=sys.stderr)
        return 2
    reports: list[ConfigReport] = []
    for target in targets:
        if not args.json:
            print(f"checking {target.config.name}: {target.description}", file=sys.stderr)
        try:
            reports.append(
                check(target, args.sequences, args.seed, args.hang_timeout, atf=args.atf)
            )
        except HarnessError as exc:
            print(f"physseg conformance: harness failure:\n{exc.detail}", file=sys.stderr)
            return 2
    if args.repro_dir is not None:
        args.repro_dir.mkdir(parents=True, exist_ok=True)
        for r in reports:
            for number, d in enumerate(r.divergences, start=1):
                _repro_path(args.repro_dir, r.config, number).write_text(d.reproduction())
    diverged = any(r.divergences for r in reports)
    if args.json:
        print_json(
            {
                "command": "conformance",
                "sequences": args.sequences,
                "seed": args.seed,
                "configurations": [r.to_json() for r in reports],
                "divergences": sum(len(r.divergences) for r in reports),
                "status": 1 if diverged else 0,
            }
        )
    else:
        console = Console(width=100 if not sys.stdout.isatty() else None)
        console.print(_table(reports))
        for line in _details(reports, args.repro_dir):
            print(line)
        print("divergences found" if diverged else "no divergence")
    return 1 if diverged else 0
