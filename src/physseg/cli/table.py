"""How the command line shows a machine: rich tables for people and plain dicts for ``--json``.

Everything here reads a :class:`physseg.cli.state.MachineState` (its saved snapshot), so showing
a machine never needs the engine. Addresses are printed in bytes (hex), sizes in binary units,
page counts with thousands separators.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from physseg.cli.state import MachineState, snapshot_holes, snapshot_stats
from physseg.cli.units import format_addr, format_count, format_size
from physseg.physmem import Segment, Snapshot

DEFAULT_ROW_LIMIT: Final = 40
"""Segments a table lists before it summarises the rest (``--all`` lifts it)."""
PLAIN_WIDTH: Final = 120
"""Console width when the output is not a terminal (wide enough for every table)."""


def make_console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (stdout): the terminal's width and colours on a terminal,
    :data:`PLAIN_WIDTH` columns for tables, long lines unbroken and no escape codes otherwise
    (pipes, files, tests)."""
    target = sys.stdout if stream is None else stream
    if target.isatty():
        return Console(file=target, highlight=False)
    return Console(
        file=target, width=PLAIN_WIDTH, color_system=None, highlight=False, soft_wrap=True
    )


def snapshot(state: MachineState) -> Snapshot:
    """The saved machine's snapshot; an empty, unbooted one when it has none."""
    if state.snapshot is None:
        return Snapshot(state.config.backend, False, (), 0, 0, ())
    return state.snapshot


def segments(state: MachineState) -> list[Segment]:
    """The saved machine's segments in address order. O(n log n)."""
    return sorted((s.view for s in snapshot(state).segments), key=lambda v: v.start)


def short_freelist(state: MachineState, index: int) -> str:
    """``"3 FIRST16"``: the free list's number and its name without ``VM_FREELIST_``."""
    name = state.freelist_name(index).removeprefix("VM_FREELIST_")
    return f"{index} {name}" if not name.startswith("#") else str(index)


def _avail(seg: Segment, shift: int) -> str:
    if seg.avail_start == seg.start and seg.avail_end == seg.end:
        return "all"
    if seg.navail == 0:
        return "none"
    return f"[{format_addr(seg.avail_start << shift)}, {format_addr(seg.avail_end << shift)})"


def segments_table(
    state: MachineState, rows: Sequence[Segment], *, title: str | None = None
) -> Table:
    """A table of ``rows`` (segments of ``state``): number, byte range, size, avail window,
    free list and pages. O(len(rows))."""
    shift = state.config.page_shift
    numbering = {seg.start: index for index, seg in enumerate(segments(state))}
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    table.add_column("size", justify="right")
    table.add_column("avail window")
    table.add_column("free list")
    table.add_column("pages", justify="right")
    for seg in rows:
        table.add_row(
            str(numbering.get(seg.start, "")),
            format_addr(seg.start << shift),
            format_addr(seg.end << shift),
            format_size(seg.npages << shift),
            _avail(seg, shift),
            short_freelist(state, seg.free_list),
            format_count(seg.npages),
        )
    return table


def holes_table(state: MachineState, holes: Sequence[tuple[int, int]]) -> Table:
    """A table of ``holes`` (unmanaged PFN ranges ``[start, end)`` of ``state``) in bytes.
    O(len(holes))."""
    shift = state.config.page_shift
    table = Table(
        title="Holes (not managed)", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False
    )
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    table.add_column("size", justify="right")
    for start, end in holes:
        table.add_row(
            format_addr(start << shift),
            format_addr(end << shift),
            format_size((end - start) << shift),
        )
    return table


def totals_text(state: MachineState) -> Text:
    """One line of totals: segments, managed bytes and pages, free pages, plugged pages
    (``physmem``), holes and page-array slabs."""
    shift = state.config.page_shift
    stats = totals(state)
    return Text(
        f"Totals: {stats['segments']} segments, {format_size(stats['managed_pages'] << shift)}"
        f" managed ({format_count(stats['managed_pages'])} pages), free pages"
        f" {format_count(stats['free_pages'])}, hot-plugged pages"
        f" {format_count(stats['physmem'])}, {stats['holes']} holes,"
        f" {stats['slabs']} page-array slabs"
    )


def totals(state: MachineState) -> dict[str, int]:
    """The machine's counters (:meth:`physseg.PhysMem.stats`)."""
    return snapshot_stats(snapshot(state))


def header_text(state: MachineState, path: str) -> Text:
    """The line naming the machine: map, backend, page size, phase and state file."""
    info = state.map_info
    where = "no map" if info is None else f"{info.name} ({info.format})"
    phase = "booted" if snapshot(state).booted else "not booted"
    text = Text()
    text.append(where, style="bold")
    text.append(
        f", {state.config.backend} backend, {format_size(1 << state.config.page_shift)} pages"
        f", {phase}, {state.operations} logged operations, state {path}"
    )
    return text


def machine_view(state: MachineState, path: str, *, limit: int | None) -> RenderableType:
    """The whole machine for ``show``: header, segments and holes (the first ``limit`` of
    each, all when ``None``) and totals."""
    rows = segments(state)
    holes = snapshot_holes(snapshot(state))
    parts: list[RenderableType] = [header_text(state, path)]
    shown = rows if limit is None else rows[:limit]
    parts.append(segments_table(state, shown, title="Segments"))
    if len(shown) < len(rows):
        parts.append(Text(f"... and {len(rows) - len(shown)} more segments (--all lists them)"))
    if holes:
        shown_holes = holes if limit is None else holes[:limit]
        parts.append(holes_table(state, shown_holes))
        if len(shown_holes) < len(holes):
            parts.append(
                Text(f"... and {len(holes) - len(shown_holes)} more holes (--all lists them)")
            )
    parts.append(totals_text(state))
    return Group(*parts)


# --------------------------------------------------------------------------- JSON
def segment_dict(state: MachineState, seg: Segment) -> dict[str, object]:
    """A segment for ``--json``: byte addresses as hex strings, the PFN range, pages, the
    free list's number and name."""
    shift = state.config.page_shift
    return {
        "start": format_addr(seg.start << shift),
        "end": format_addr(seg.end << shift),
        "size": seg.npages << shift,
        "avail_start": format_addr(seg.avail_start << shift),
        "avail_end": format_addr(seg.avail_end << shift),
        "start_pfn": seg.start,
        "end_pfn": seg.end,
        "pages": seg.npages,
        "free_list": seg.free_list,
        "free_list_name": state.freelist_name(seg.free_list),
    }


def machine_dict(state: MachineState, path: str) -> dict[str, object]:
    """The whole machine for ``--json``: state file, configuration, map, segments, holes,
    totals and boot warnings."""
    shift = state.config.page_shift
    info = state.map_info
    holes = snapshot_holes(snapshot(state))
    return {
        "state": path,
        "booted": snapshot(state).booted,
        "machine": {
            "backend": state.config.backend,
            "physseg_max": state.config.physseg_max,
            "nfreelist": state.config.nfreelist,
            "page_size": 1 << shift,
        },
        "map": None
        if info is None
        else {"name": info.name, "source": info.source, "format": info.format},
        "segments": [segment_dict(state, seg) for seg in segments(state)],
        "holes": [
            {
                "start": format_addr(s << shift),
                "end": format_addr(e << shift),
                "size": (e - s) << shift,
            }
            for s, e in holes
        ],
        "totals": totals(state),
        "operations": state.operations,
        "warnings": [] if info is None else list(info.warnings),
    }
