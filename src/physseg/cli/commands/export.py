"""``physseg export``: write the saved machine as a JSON-lines trace (its configuration in a
header line, then its journal) that ``physseg replay --fresh`` turns back into the same
machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from physseg.cli.commands._common import add_common_options, print_json
from physseg.cli.exchange import format_header
from physseg.cli.store import reading
from physseg.cli.trace import JSONL, format_op
from physseg.errors import CommandError


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="write the machine as JSON lines that `physseg replay --fresh` rebuilds",
        description="Write the saved machine as a JSON-lines trace: a header comment with its "
        "configuration, free-list names and map, then every journaled operation, one a line. "
        "`physseg replay --fresh FILE` rebuilds the same machine from it. Reads the machine's "
        "database only.",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="-",
        help="where to write (default: - , standard output)",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def _write(args: argparse.Namespace, out: TextIO) -> int:
    with reading(args.state) as reader:
        state = reader.state()
        out.write(format_header(state) + "\n")
        count = 0
        for op in reader.journal():
            out.write(format_op(op, JSONL) + "\n")
            count += 1
    return count


def run(args: argparse.Namespace) -> int:
    """Write the export; returns 0. A file is written only when the whole export succeeded
    (it is written beside the target and renamed over it); a target that cannot be written is
    a ``CommandError`` naming it as given. ``--json`` has no effect on the
    export itself; with ``-o FILE`` it prints a summary."""
    if args.output == "-":
        _write(args, sys.stdout)
        return 0
    target = Path(args.output)
    if target.is_dir():
        raise CommandError(f"cannot write {args.output} (a directory); nothing was written")
    tmp = target.with_name(f".{target.name}.export.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            count = _write(args, out)
        tmp.replace(target)
    except OSError as exc:
        # the temporary file is ours, not the user's: name the path they gave
        raise CommandError(
            f"cannot write {args.output} ({exc.strerror or exc}); nothing was written"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    if args.json:
        print_json({"export": str(target), "state": str(args.state), "operations": count})
    else:
        print(f"Exported {count} operations of {args.state} to {target}.")
    return 0
