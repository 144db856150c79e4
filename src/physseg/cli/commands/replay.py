"""``physseg replay TRACE``: apply a trace of operations to the saved machine (or to a fresh
one, configured by an export's header line), with a progress bar for long traces, stopping at
the first failing line unless ``--keep-going``.

The trace is read and parsed first, line by line within the trace parser's bounds, and only
then is the machine's write lock taken, so a slow input never holds other commands up; the
operations are applied and journaled in one transaction."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
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

from physseg.cli.commands._common import add_common_options, int_at_least, print_json
from physseg.cli.exchange import parse_header
from physseg.cli.state import NFREELIST_LIMIT, PHYSSEG_MAX_LIMIT, MachineConfig, MachineState
from physseg.cli.store import check_machine, save_new, transaction
from physseg.cli.table import make_console, totals, totals_text
from physseg.cli.trace import (
    FORMATS,
    JSONL,
    MAX_LINE_CHARS,
    ReplayReport,
    TraceLine,
    apply_trace,
    bounded_lines,
    detect_format,
    read_trace,
)
from physseg.errors import CommandError

PROGRESS_MIN_BYTES: Final = 64 << 10
"""Traces at least this long (about 2,000 lines) get a progress bar on a terminal."""
PROGRESS_EVERY: Final = 512
"""Lines between progress-bar updates (updating on every line would cost more than the
operations)."""
DETECT_LINES: Final = 64
"""Lines read at most to guess the format of a trace whose name does not tell it (reading stops
at the first operation line)."""


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
        "physload/init) instead of the saved one, which it replaces; configured by the "
        "trace's `# physseg-machine` header (what `physseg export` writes), if any, and by "
        "the options below, which win over it",
    )
    fresh.add_argument(
        "--backend", choices=("rbtree", "static"), help="engine backend (default rbtree)"
    )
    fresh.add_argument(
        "--physseg-max",
        type=int_at_least(1, PHYSSEG_MAX_LIMIT),
        metavar="N",
        help="VM_PHYSSEG_MAX (default 64)",
    )
    fresh.add_argument(
        "--nfreelist",
        type=int_at_least(1, NFREELIST_LIMIT),
        metavar="N",
        help="VM_NFREELIST (default 4)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


@contextmanager
def _opened(name: str) -> Iterator[TextIO]:
    """The trace as a text stream (standard input for ``-``)."""
    if name == "-":
        yield sys.stdin
        return
    with Path(name).open(encoding="utf-8", errors="replace", newline="") as stream:
        yield stream


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


def fresh_machine(args: argparse.Namespace, first_line: str | None, source: str) -> MachineState:
    """The empty machine a ``--fresh`` replay starts from: the trace's header, if its first
    line is one (:func:`physseg.cli.exchange.parse_header`), else the defaults, with the
    options given on the command line put over it. Raises ``CommandError`` for a bad header
    or an impossible configuration."""
    try:
        header = None if first_line is None else parse_header(first_line)
    except ValueError as exc:
        raise CommandError(f"{source}:1: bad machine header: {exc}") from None
    base = header if header is not None else MachineState(MachineConfig())
    options = {
        "backend": args.backend,
        "physseg_max": args.physseg_max,
        "nfreelist": args.nfreelist,
    }
    config = replace(base.config, **{k: v for k, v in options.items() if v is not None})
    try:
        config.check()
    except ValueError as exc:
        raise CommandError(f"impossible machine: {exc}") from None
    return replace(base, config=config)


def read_lines(args: argparse.Namespace, source: str) -> tuple[str, list[TraceLine], str | None]:
    """The trace's format, its parsed lines (:func:`read_trace`) and its first line."""
    with _opened(args.trace) as stream:
        lines = bounded_lines(stream)
        head: list[str] = []
        for line in lines:  # up to the first operation line: all detection needs
            head.append(line)
            stripped = line.strip()
            if len(head) == DETECT_LINES or len(line) > MAX_LINE_CHARS:
                break
            if stripped and not stripped.startswith("#"):
                break
        fmt = args.format if args.format != "auto" else detect_format(source, head)
        parsed = read_trace(
            itertools.chain(head, lines), fmt, source=source, keep_going=args.keep_going
        )
    return fmt, parsed, head[0] if head else None


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
    check_machine(args.state, missing_ok=args.fresh)  # refuse a bad file before reading
    source = "<stdin>" if args.trace == "-" else args.trace
    fmt, parsed, first_line = read_lines(args, source)
    total = sum(line.chars for line in parsed)
    show_bar = (
        not args.no_progress
        and not args.json
        and sys.stderr.isatty()
        and total >= PROGRESS_MIN_BYTES
    )
    started = time.perf_counter()
    if args.fresh:
        state = fresh_machine(args, first_line, source)
        mem = state.config.new_machine()
        with _progress_bar(total, show_bar) as progress:
            report = apply_trace(mem, parsed, keep_going=args.keep_going, progress=progress)
        save = not args.dry_run and (report.ok or args.keep_going)
        if save:
            state = save_new(args.state, state, mem, report.applied)
    else:
        with transaction(args.state, write=not args.dry_run) as tx:
            state, mem = tx.load()
            with _progress_bar(total, show_bar) as progress:
                report = apply_trace(mem, parsed, keep_going=args.keep_going, progress=progress)
            save = not args.dry_run and (report.ok or args.keep_going)
            if save:
                state = tx.append(mem, report.applied)
    elapsed = time.perf_counter() - started
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
