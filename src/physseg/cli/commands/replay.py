"""``physseg replay TRACE``: apply a trace of operations to the saved machine (or to a fresh
one), with a progress bar for long traces, stopping at the first failing line unless
``--keep-going``."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from physseg.cli.commands._common import (
    add_common_options,
    ensure_replaceable,
    open_machine,
    positive_int,
    print_json,
)
from physseg.cli.state import MachineConfig, MachineState, save_state
from physseg.cli.table import make_console, totals, totals_text
from physseg.cli.trace import FORMATS, JSONL, ReplayReport, detect_format, replay
from physseg.physmem import PhysMem

PROGRESS_MIN_BYTES: Final = 64 << 10
"""Traces at least this long (about 2,000 lines) get a progress bar on a terminal."""
PROGRESS_EVERY: Final = 512
"""Lines between progress-bar updates (updating on every line would cost more than the
operations)."""
DETECT_LINES: Final = 64
"""Lines read to guess the format of a trace whose name does not tell it."""


def register(subparsers: Any) -> None:
    """Add the ``replay`` subcommand."""
    parser = subparsers.add_parser(
        "replay",
        help="apply a trace of plug/unplug/find/physload/init lines",
        description="Apply TRACE (text or JSON lines, see docs/cli.md) to the saved machine. "
        "Stops at the first failing line and saves nothing, unless --keep-going: then every "
        "failure is reported and what succeeded is saved.",
    )
    parser.add_argument("trace", metavar="TRACE", help="trace file, or - for standard input")
    parser.add_argument("--format", choices=("auto", *FORMATS), default="auto", help="trace format")
    parser.add_argument(
        "--keep-going", action="store_true", help="apply every line, reporting each failure"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="apply the trace but do not save the result"
    )
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    fresh = parser.add_argument_group("starting from an empty machine")
    fresh.add_argument(
        "--fresh",
        action="store_true",
        help="start from an empty, unbooted machine (the trace loads and boots it with "
        "physload/init) instead of the saved one, which it replaces",
    )
    fresh.add_argument("--backend", choices=("rbtree", "static"), default="rbtree")
    fresh.add_argument("--physseg-max", type=positive_int, default=64, metavar="N")
    fresh.add_argument("--nfreelist", type=positive_int, default=4, metavar="N")
    add_common_options(parser)
    parser.set_defaults(func=run)


@contextmanager
def _opened(name: str) -> Iterator[tuple[TextIO, int | None]]:
    """The trace as a text stream and its size in bytes (``None`` for standard input)."""
    if name == "-":
        yield sys.stdin, None
        return
    path = Path(name)
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        yield stream, path.stat().st_size


@contextmanager
def _progress_bar(total: int | None, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A per-line callback that drives a rich progress bar on stderr, or ``None``."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[lines]:,} lines"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    task = progress.add_task("replay", total=total, lines=0)
    pending = [0, 0]

    def advance(nchars: int) -> None:
        pending[0] += nchars
        pending[1] += 1
        if pending[1] % PROGRESS_EVERY == 0:
            progress.update(task, advance=pending[0], lines=pending[1])
            pending[0] = 0

    with progress:
        yield advance
        progress.update(task, advance=pending[0], lines=pending[1])


def _start(args: argparse.Namespace) -> tuple[MachineState, PhysMem]:
    if args.fresh:
        ensure_replaceable(args.state)
        config = MachineConfig(
            backend=args.backend, physseg_max=args.physseg_max, nfreelist=args.nfreelist
        )
        return MachineState(config), config.new_machine()
    return open_machine(args.state)


def shown(line: str, fmt: str) -> str:
    """A trace line as a failure message quotes it: a text line without its comment and with
    single spaces, a JSON line stripped."""
    if fmt == JSONL:
        return line.strip()
    return " ".join(line.split("#", 1)[0].split())


def summary(report: ReplayReport) -> str:
    """One line: operations read, applied (per kind, with the find answers), failed."""
    kinds = ", ".join(f"{name} {count}" for name, count in sorted(report.counts.items()))
    finds = ""
    if report.finds_managed or report.finds_hole:
        finds = f"; finds: {report.finds_managed} managed, {report.finds_hole} in a hole"
    return (
        f"{report.lines} operations read, {len(report.applied)} applied"
        f"{' (' + kinds + ')' if kinds else ''}{finds}, {len(report.failures)} failed"
    )


def run(args: argparse.Namespace) -> int:
    """Replay the trace; 0 when every line succeeded, 1 otherwise."""
    state, mem = _start(args)
    source = "<stdin>" if args.trace == "-" else args.trace
    with _opened(args.trace) as (stream, size):
        if args.format != "auto":
            fmt = args.format
            lines: Iterator[str] = iter(stream)
        else:
            head = list(itertools.islice(stream, DETECT_LINES))
            fmt = detect_format(source, head)
            lines = itertools.chain(head, stream)
        show_bar = (
            not args.no_progress
            and not args.json
            and sys.stderr.isatty()
            and (size is None or size >= PROGRESS_MIN_BYTES)
        )
        started = time.perf_counter()
        with _progress_bar(size, show_bar) as progress:
            report = replay(
                mem, lines, fmt, source=source, keep_going=args.keep_going, progress=progress
            )
        elapsed = time.perf_counter() - started
    save = not args.dry_run and (report.ok or args.keep_going)
    if save:
        state.record(mem, report.applied)
        save_state(args.state, state)
    for failure in report.failures:
        print(
            f"physseg replay: {source}:{failure.line_no}: {shown(failure.text, fmt)}:"
            f" {failure.reason}",
            file=sys.stderr,
        )
    if args.json:
        print_json(
            {
                "trace": source,
                "format": fmt,
                "operations": report.lines,
                "applied": len(report.applied),
                "counts": dict(report.counts),
                "finds": {"managed": report.finds_managed, "hole": report.finds_hole},
                "failures": [
                    {"line": f.line_no, "text": f.text, "reason": f.reason} for f in report.failures
                ],
                "stopped_at": report.stopped_at,
                "saved": save,
                "seconds": round(elapsed, 3),
                "totals": totals(state) if save else None,
            }
        )
        return 0 if report.ok else 1
    console = make_console()
    console.print(f"Replayed {source} ({fmt}) in {elapsed:.2f} s: {summary(report)}")
    if report.stopped_at is not None:
        console.print(
            f"Stopped at line {report.stopped_at}; nothing was saved"
            " (--keep-going applies the other lines)"
        )
    elif save:
        console.print(f"Saved to {args.state}.")
        console.print(totals_text(state))
    else:
        console.print("Dry run: nothing was saved.")
    return 0 if report.ok else 1
