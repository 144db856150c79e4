"""``physseg unplug ADDR SIZE``: hot-unplug a range of RAM from the saved machine."""

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
from physseg.cli.trace import Unplug, apply_op
from physseg.cli.units import format_addr, format_size
from physseg.physmem import PhysMem, Segment


def register(subparsers: Any) -> None:
    """Add the ``unplug`` subcommand."""
    parser = subparsers.add_parser(
        "unplug",
        help="hot-unplug [ADDR, ADDR+SIZE) (uvm_physseg_unplug)",
        description="Hot-unplug the page-aligned byte range [ADDR, ADDR+SIZE), which must lie "
        "inside one segment: the segment is removed, trimmed or split (uvm_physseg_unplug). "
        "Saves the machine.",
    )
    parser.add_argument("addr", metavar="ADDR", type=byte_quantity, help="start (0x1000, 4G...)")
    parser.add_argument("size", metavar="SIZE", type=byte_size, help="length (4096, 64M...)")
    add_common_options(parser)
    parser.set_defaults(func=run)


def effect(before: Segment, after: list[Segment], page_shift: int) -> str:
    """What an unplug did to segment ``before``, given the segments now inside its span, with
    byte ranges."""

    def span(seg: Segment) -> str:
        return f"[{format_addr(seg.start << page_shift)}, {format_addr(seg.end << page_shift)})"

    if not after:
        return f"removed segment {span(before)}"
    if len(after) == 2:
        return f"split segment {span(before)} into {span(after[0])} and {span(after[1])}"
    if after[0].start == before.start:
        return f"trimmed the end of segment {span(before)}, now {span(after[0])}"
    return f"trimmed the start of segment {span(before)}, now {span(after[0])}"


def _within(mem: PhysMem, span: Segment) -> list[Segment]:
    return [seg for seg in mem if span.start <= seg.start and seg.end <= span.end]


def run(args: argparse.Namespace) -> int:
    """Unplug the range and save; prints what happened to the segment once it is
    committed. Returns 0 (failures raise, and leave the machine as it was)."""
    op = Unplug(args.addr, args.size)
    with transaction(args.state) as tx:
        _, mem = tx.load()
        found = mem.find(args.addr >> mem.page_shift)
        apply_op(mem, op)
        assert found is not None
        before = found[0]
        after = _within(mem, before)
        state = tx.append(mem, [op])
    what = effect(before, after, mem.page_shift)
    if args.json:
        print_json(
            {
                "unplugged": {"start": format_addr(args.addr), "size": args.size},
                "segment_before": segment_dict(state, before),
                "segments_after": [segment_dict(state, seg) for seg in after],
                "effect": what,
                "totals": totals(state),
            }
        )
        return 0
    console = make_console()
    console.print(
        f"Unplugged [{format_addr(args.addr)}, {format_addr(args.addr + args.size)})"
        f" ({format_size(args.size)}): {what}"
    )
    if after:
        console.print(segments_table(state, after))
    console.print(totals_text(state))
    return 0
