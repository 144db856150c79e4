"""``physseg plug ADDR SIZE``: hot-plug a range of RAM into the saved machine."""

from __future__ import annotations

import argparse
from typing import Any

from physseg.cli.commands._common import (
    add_common_options,
    byte_quantity,
    byte_size,
    print_json,
)
from physseg.cli.store import transaction
from physseg.cli.table import make_console, segment_dict, segments_table, totals, totals_text
from physseg.cli.trace import Plug, apply_op
from physseg.cli.units import format_addr, format_size
from physseg.physmem import Segment


def register(subparsers: Any) -> None:
    """Add the ``plug`` subcommand."""
    parser = subparsers.add_parser(
        "plug",
        help="hot-plug [ADDR, ADDR+SIZE) (uvm_physseg_plug)",
        description="Hot-plug the page-aligned byte range [ADDR, ADDR+SIZE) as a new segment "
        "(uvm_physseg_plug) and save the machine.",
    )
    parser.add_argument("addr", metavar="ADDR", type=byte_quantity, help="start (0x1000, 4G...)")
    parser.add_argument("size", metavar="SIZE", type=byte_size, help="length (4096, 64M...)")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plug the range and save; prints the new segment once it is committed. Returns 0
    (failures raise, and leave the machine as it was)."""
    op = Plug(args.addr, args.size)
    with transaction(args.state) as tx:
        _, mem = tx.load()
        segment = apply_op(mem, op)
        assert isinstance(segment, Segment)
        state = tx.append(mem, [op])
    if args.json:
        print_json({"plugged": segment_dict(state, segment), "totals": totals(state)})
        return 0
    console = make_console()
    console.print(
        f"Plugged [{format_addr(args.addr)}, {format_addr(args.addr + args.size)})"
        f" ({format_size(args.size)}) as a new segment:"
    )
    console.print(segments_table(state, [segment]))
    console.print(totals_text(state))
    return 0
