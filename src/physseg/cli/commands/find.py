"""``physseg find ADDR``: which segment manages a byte address (``uvm_physseg_find``)."""

from __future__ import annotations

import argparse
import bisect
from typing import Any

from physseg.cli.commands._common import add_common_options, byte_quantity, print_json
from physseg.cli.state import MachineState
from physseg.cli.store import read_machine
from physseg.cli.table import make_console, segment_dict, segments, short_freelist
from physseg.cli.units import format_addr, format_size
from physseg.physmem import Segment


def register(subparsers: Any) -> None:
    """Add the ``find`` subcommand."""
    parser = subparsers.add_parser(
        "find",
        help="find the segment and page of a byte address",
        description="Look ADDR up: the segment holding it and the page offset inside it, or "
        "the hole it falls in. Reads the machine's database only.",
    )
    parser.add_argument(
        "addr", metavar="ADDR", type=byte_quantity, help="byte address (0x1000, 4G...)"
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def locate(rows: list[Segment], pfn: int) -> tuple[int, Segment | None]:
    """Binary search of the address-ordered ``rows`` for ``pfn``: ``(index, segment)`` of the
    segment holding it, or ``(index, None)`` where ``index`` is the first segment above it.
    O(log n)."""
    index = bisect.bisect_right([seg.start for seg in rows], pfn) - 1
    if index >= 0 and pfn < rows[index].end:
        return index, rows[index]
    return index + 1, None


def _where(
    state: MachineState, rows: list[Segment], index: int
) -> tuple[str, dict[str, str] | None]:
    shift = state.config.page_shift
    if not rows:
        return "the machine has no segments", None
    if index == 0:
        return (
            f"below the first segment, which starts at {format_addr(rows[0].start << shift)}",
            None,
        )
    if index == len(rows):
        return f"above the last segment, which ends at {format_addr(rows[-1].end << shift)}", None
    start, end = rows[index - 1].end << shift, rows[index].start << shift
    hole = {"start": format_addr(start), "end": format_addr(end)}
    return (
        f"in the hole [{hole['start']}, {hole['end']}) ({format_size(end - start)}) between"
        f" segments #{index - 1} and #{index}",
        hole,
    )


def run(args: argparse.Namespace) -> int:
    """Print where the address is; returns 0 whether it is managed or not."""
    state = read_machine(args.state)
    shift = state.config.page_shift
    pfn = args.addr >> shift
    rows = segments(state)
    index, seg = locate(rows, pfn)
    if seg is None:
        where, hole = _where(state, rows, index)
        if args.json:
            print_json(
                {
                    "addr": format_addr(args.addr),
                    "pfn": pfn,
                    "managed": False,
                    "hole": hole,
                    "where": where,
                }
            )
        else:
            make_console().print(f"{format_addr(args.addr)} (pfn {pfn:#x}) is not managed: {where}")
        return 0
    offset = pfn - seg.start
    in_avail = seg.avail_start <= pfn < seg.avail_end
    if args.json:
        print_json(
            {
                "addr": format_addr(args.addr),
                "pfn": pfn,
                "managed": True,
                "segment_index": index,
                "segment": segment_dict(state, seg),
                "offset": offset,
                "in_avail": in_avail,
            }
        )
        return 0
    make_console().print(
        f"{format_addr(args.addr)} (pfn {pfn:#x}) is managed: page {offset:#x} of segment"
        f" #{index} [{format_addr(seg.start << shift)}, {format_addr(seg.end << shift)})"
        f" ({format_size(seg.npages << shift)}, free list {short_freelist(state, seg.free_list)}),"
        f" {'inside' if in_avail else 'outside'} its avail window"
    )
    return 0
