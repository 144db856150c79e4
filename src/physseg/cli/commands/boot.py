"""``physseg boot MAP``: parse a memory map (a file, a directory, a shipped sample or ``-`` for
standard input, read line by line), load it the way NetBSD's x86 boot code does, run
``uvm_page_init`` and save the machine as the new state. The plan's warnings go to stderr, one
line per kind of warning (counted), never one per map entry."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

from physseg.cli.commands._common import add_common_options, int_at_least, print_json
from physseg.cli.state import (
    MAX_MAP_RANGES,
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    PHYSSEG_MAX_LIMIT,
    FreeListName,
    MachineConfig,
    MachineState,
    MapInfo,
    MapRange,
    clean_text,
)
from physseg.cli.store import check_machine, save_new
from physseg.cli.table import machine_dict, machine_view, make_console
from physseg.cli.trace import Init, PhysLoad, TraceOp, apply_op
from physseg.cli.units import format_addr, format_count, format_quantity, format_size
from physseg.errors import CommandError, PhysSegError
from physseg.memmap import (
    AMD64_FREELISTS,
    ATF_FREELISTS,
    PARSERS,
    BootPlan,
    MemMap,
    MemMapFormatError,
    MemMapParseError,
    list_sample_maps,
    load_map,
    parse_stream,
    plan_boot,
)
from physseg.textinput import quote_input

FREELIST_TABLES = {"atf": ATF_FREELISTS, "amd64": AMD64_FREELISTS}
"""``--freelists`` choices: the ATF tests' four lists (the engine's default) or current
amd64's six."""
STDIN: Final = "-"
"""The MAP argument that reads the map from standard input."""
STDIN_SOURCE: Final = "<stdin>"
"""How messages and the saved machine name a map read from standard input."""
MAX_NOTES: Final = 8
"""Hot-pluggable ranges named one by one after a boot; more are counted in one line."""


def register(subparsers: Any) -> None:
    """Add the ``boot`` subcommand."""
    samples = "\n".join(f"  {s.name:<16} {s.description}" for s in list_sample_maps())
    parser = subparsers.add_parser(
        "boot",
        help="boot a machine from a memory map (a file or a shipped sample)",
        description="Parse MAP, load its usable RAM as NetBSD/x86 would (page rounding, "
        "free-list splits, low memory reserved), run uvm_page_init and save the machine "
        "in its database (replacing a previous machine there).",
        epilog=f"shipped sample maps:\n{samples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "map",
        metavar="MAP",
        help="memory-map file or directory, a sample name, or - for standard input",
    )
    parser.add_argument(
        "--format", choices=sorted(PARSERS), help="the map's format (default: detected)"
    )
    parser.add_argument(
        "--freelists",
        choices=sorted(FREELIST_TABLES),
        default="atf",
        help="free-list table: atf = 4 lists (default), amd64 = current amd64's 6",
    )
    parser.add_argument(
        "--physseg-max",
        type=int_at_least(1, PHYSSEG_MAX_LIMIT),
        default=64,
        metavar="N",
        help=f"VM_PHYSSEG_MAX, the number of boot segments (default 64, at most"
        f" {PHYSSEG_MAX_LIMIT})",
    )
    parser.add_argument(
        "--backend", choices=("rbtree", "static"), default="rbtree", help="engine backend"
    )
    parser.add_argument(
        "--no-steal",
        action="store_true",
        help="allocate the page arrays outside RAM instead of stealing pages for them",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def map_info(name: str, memmap: MemMap, warnings: list[str]) -> MapInfo:
    """What the machine keeps of a parsed map: its top-level ranges and the plan's warnings,
    within the store's limits (texts cut and cleaned by :func:`clean_text`, at most
    :data:`MAX_MAP_RANGES` ranges and :data:`MAX_WARNINGS` warnings, the last one saying what
    was left out)."""
    top: list[int] = []
    ntop = 0
    for index, (_, _, _, depth, _) in enumerate(memmap.table.rows()):
        if depth == 0:
            ntop += 1
            if len(top) < MAX_MAP_RANGES:
                top.append(index)
    kept = [clean_text(w, MAX_WARNING_CHARS) for w in warnings[:MAX_WARNINGS]]
    if ntop > MAX_MAP_RANGES:
        kept.append(f"only the first {MAX_MAP_RANGES} of the map's {ntop:,} ranges are kept")
    if len(warnings) >= MAX_WARNINGS or len(kept) > MAX_WARNINGS:
        more = len(warnings) + (ntop > MAX_MAP_RANGES) - MAX_WARNINGS + 1
        kept[MAX_WARNINGS - 1 :] = [f"{more} more warnings not kept"]
    ranges = (memmap.ranges[index] for index in top)
    return MapInfo(
        clean_text(name),
        clean_text(memmap.source),
        clean_text(memmap.format),
        tuple(MapRange(r.start, r.end, r.kind.value, clean_text(r.label)) for r in ranges),
        tuple(kept),
    )


def read_map(name: str, fmt: str | None) -> MemMap:
    """The map ``name`` names (``-``: standard input), read line by line. Raises
    ``CommandError`` for a map that does not parse (when its format cannot be told, naming
    ``--format`` and the formats it takes) and ``OSError`` for one that cannot be read."""
    try:
        if name == STDIN:
            return parse_stream(sys.stdin.buffer, fmt, STDIN_SOURCE)
        return load_map(name, fmt)
    except MemMapFormatError as exc:
        raise CommandError(
            f"cannot read the memory map: {exc}; name it with --format"
            f" ({', '.join(sorted(exc.formats))})"
        ) from None
    except MemMapParseError as exc:
        raise CommandError(f"cannot read the memory map: {exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def print_warnings(plan: BootPlan) -> None:
    """The plan's warnings on stderr, one line per kind (a repeated one counted)."""
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Boot the map and save it (replacing the machine in the file, in one transaction);
    prints the machine once it is committed. Returns 0."""
    check_machine(args.state, missing_ok=True)
    memmap = read_map(args.map, args.format)
    shown = STDIN_SOURCE if args.map == STDIN else quote_input(args.map)
    table = FREELIST_TABLES[args.freelists]
    plan = plan_boot(memmap, physseg_max=args.physseg_max, freelists=table)
    if not plan.loads:
        usable = format_size(memmap.total_usable)
        raise CommandError(
            f"{quote_input(memmap.source)}: no RAM to load ({usable} usable, none of it above"
            " the reserved low memory)"
        )
    config = MachineConfig(
        backend=args.backend, physseg_max=args.physseg_max, nfreelist=table.nfreelist
    )
    shift = config.page_shift
    ops: list[TraceOp] = [
        PhysLoad(ld.start_pfn << shift, ld.npages << shift, free_list=ld.free_list)
        for ld in plan.loads
    ]
    ops.append(Init(steal=not args.no_steal))
    mem = config.new_machine()
    for op in ops:
        try:
            apply_op(mem, op)
        except PhysSegError as exc:
            raise CommandError(f"booting {shown} failed: {exc}") from None
    state = MachineState(
        config,
        map_info=map_info(args.map, memmap, plan.warnings),
        freelists=tuple(FreeListName(e.index, e.name, e.limit) for e in table.entries),
    )
    state = save_new(args.state, state, mem, ops)
    print_warnings(plan)
    if args.json:
        result = machine_dict(state, str(args.state))
        result["plan"] = plan.to_dict()
        print_json(result)
        return 0
    console = make_console()
    stolen = plan.npages - mem.stats()["managed_pages"]
    console.print(
        f"Booted {shown} ({memmap.format}, {format_count(len(memmap.ranges))} map ranges,"
        f" {format_size(memmap.total_usable)} usable): {len(plan.loads)} physloads of"
        f" {format_count(plan.npages)} pages, {format_count(stolen)} of them stolen for the"
        " page array",
        markup=False,
    )
    hotplug = memmap.hotplug()
    for rng in hotplug[:MAX_NOTES]:
        console.print(
            f"note: the map's hot-pluggable range [{format_addr(rng.start)},"
            f" {format_addr(rng.end)}) is not loaded at boot; add it with"
            f" `physseg plug {format_addr(rng.start)} {format_quantity(rng.size)}`",
            markup=False,
        )
    if len(hotplug) > MAX_NOTES:
        console.print(
            f"note: {len(hotplug) - MAX_NOTES:,} more hot-pluggable ranges are not loaded"
            f" ({format_size(memmap.total_hotplug)} in all)",
            markup=False,
        )
    console.print(machine_view(state, str(args.state), limit=None))
    return 0
