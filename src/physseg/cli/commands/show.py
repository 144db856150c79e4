"""``physseg show``: the saved machine's segments, holes and totals."""

from __future__ import annotations

import argparse
from typing import Any

from physseg.cli.commands._common import add_common_options, print_json
from physseg.cli.store import read_machine
from physseg.cli.table import DEFAULT_ROW_LIMIT, machine_dict, machine_view, make_console


def register(subparsers: Any) -> None:
    """Add the ``show`` subcommand."""
    parser = subparsers.add_parser(
        "show",
        help="show the machine: segments, avail windows, free lists, holes, totals",
        description="Show the saved machine. Reads its database only (fast for any size or age).",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"list every segment (default: the first {DEFAULT_ROW_LIMIT})",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the machine; returns 0."""
    state = read_machine(args.state)
    if args.json:
        print_json(machine_dict(state, str(args.state)))
    else:
        limit = None if args.all else DEFAULT_ROW_LIMIT
        make_console().print(machine_view(state, str(args.state), limit=limit))
    return 0
