"""``physseg boot MAP``: parse a memory map, load it the way NetBSD's x86 boot code does,
run ``uvm_page_init`` and save the machine as the new state."""

from __future__ import annotations

import argparse
from typing import Any

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
    MemMap,
    MemMapParseError,
    list_sample_maps,
    load_map,
    plan_boot,
)

FREELIST_TABLES = {"atf": ATF_FREELISTS, "amd64": AMD64_FREELISTS}
"""``--freelists`` choices: the ATF tests' four lists (the engine's default) or current
amd64's six."""


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
    parser.add_argument("map", metavar="MAP", help="memory-map file or directory, or a sample name")
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
    top = [r for r in memmap.ranges if r.depth == 0]
    kept = [clean_text(w, MAX_WARNING_CHARS) for w in warnings]
    if len(top) > MAX_MAP_RANGES:
        kept.append(f"only the first {MAX_MAP_RANGES} of the map's {len(top)} ranges are kept")
    if len(kept) > MAX_WARNINGS:
        kept[MAX_WARNINGS - 1 :] = [f"{len(kept) - MAX_WARNINGS + 1} more warnings not kept"]
    return MapInfo(
        clean_text(name),
        clean_text(memmap.source),
        clean_text(memmap.format),
        tuple(
            MapRange(r.start, r.end, r.kind.value, clean_text(r.label))
            for r in top[:MAX_MAP_RANGES]
        ),
        tuple(kept),
    )


def run(args: argparse.Namespace) -> int:
    """Boot the map and save it (replacing the machine in the file, in one transaction);
    prints the machine once it is committed. Returns 0."""
    check_machine(args.state, missing_ok=True)
    try:
        memmap = load_map(args.map, args.format)
    except MemMapParseError as exc:
        raise CommandError(f"cannot read the memory map: {exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    table = FREELIST_TABLES[args.freelists]
    plan = plan_boot(memmap, physseg_max=args.physseg_max, freelists=table)
    if not plan.loads:
        usable = format_size(memmap.total_usable)
        raise CommandError(
            f"{memmap.source}: no RAM to load ({usable} usable, none of it above the reserved"
            " low memory)"
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
            raise CommandError(f"booting {args.map} failed: {exc}") from None
    state = MachineState(
        config,
        map_info=map_info(args.map, memmap, plan.warnings),
        freelists=tuple(FreeListName(e.index, e.name, e.limit) for e in table.entries),
    )
    state = save_new(args.state, state, mem, ops)
    if args.json:
        result = machine_dict(state, str(args.state))
        result["plan"] = plan.to_dict()
        print_json(result)
        return 0
    console = make_console()
    stolen = plan.npages - mem.stats()["managed_pages"]
    console.print(
        f"Booted {args.map} ({memmap.format}, {len(memmap.ranges)} map ranges,"
        f" {format_size(memmap.total_usable)} usable): {len(plan.loads)} physloads of"
        f" {format_count(plan.npages)} pages, {format_count(stolen)} of them stolen for the"
        " page array"
    )
    for warning in plan.warnings:
        console.print(f"warning: {warning}")
    for rng in memmap.hotplug():
        console.print(
            f"note: the map's hot-pluggable range [{format_addr(rng.start)},"
            f" {format_addr(rng.end)}) is not loaded at boot; add it with"
            f" `physseg plug {format_addr(rng.start)} {format_quantity(rng.size)}`"
        )
    console.print(machine_view(state, str(args.state), limit=None))
    return 0
