"""A picture of physical memory: the saved machine drawn to a PNG with matplotlib (Agg).

Two views of the byte address space, one above the other:

* **Whole address space, log scale.** Position is ``log2(1 + addr / 4 KiB)``, so the first
  page, the 640 KiB of real-mode memory, the 16 MiB ISA-DMA limit and a TiB of RAM all get
  room. The free-list zones (``FIRST16`` below 16 MiB, ...) are marked, and a thin strip under
  the RAM shows what the firmware map says about the rest (reserved, ACPI, persistent...).
* **RAM to scale, holes cut out (broken axis).** Runs of RAM separated by less than
  :data:`BREAK_MIN_FRACTION` of the RAM are drawn to scale; every larger hole is replaced by
  a short break marked with its size. A run narrower than :data:`MIN_BLOCK_FRACTION` of the
  axis is widened to it, so nothing vanishes (its ticks still give its true addresses).

Segments are coloured by free list, hot-plugged ranges are hatched, unplugged ranges are drawn
in red hatching, and everything not managed is light grey.

Building the figure uses :class:`matplotlib.figure.Figure` directly (no pyplot global state).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from physseg.cli.state import MachineState, snapshot_holes
from physseg.cli.trace import PhysLoad, Plug, TraceOp, Unplug
from physseg.cli.units import format_addr, format_size

Interval = tuple[int, int]
"""A byte range ``[start, end)``."""

LOG_UNIT: Final = 4096
"""The log view's position is ``log2(1 + addr / LOG_UNIT)``: linear below one page."""
BREAK_MIN_FRACTION: Final = 0.02
"""A hole becomes a break in the broken view when it exceeds this fraction of the span of
RAM it interrupts (smaller holes are drawn to scale)."""
BREAK_WIDTH: Final = 0.05
"""Axis fraction each break takes."""
MIN_BLOCK_FRACTION: Final = 0.035
"""Narrowest axis fraction a run of RAM gets in the broken view."""
LOG_HEADROOM: Final = 1.2
"""Room right of the highest address in the log view (x 2.3), for the last zone's label."""
MIN_VISIBLE: Final = 0.0025
"""Narrowest bar drawn, as an axis fraction (about 3 pixels): tiny ranges stay visible."""
NARROW_BLOCK: Final = 0.12
"""A block narrower than this axis fraction gets one centred label instead of two."""
AXIS_PIXELS: Final = 1424
"""Width of a panel in pixels (the figure's 1600 minus its margins), to fit labels in bars."""
FIGSIZE: Final = (16.0, 9.0)
DPI: Final = 100
"""1600 x 900 pixels: 16:9, sharp on a projector."""

FREELIST_COLOURS: Final = {
    "VM_FREELIST_DEFAULT": "#0072B2",
    "VM_FREELIST_FIRST4G": "#009E73",
    "VM_FREELIST_FIRST1G": "#E69F00",
    "VM_FREELIST_FIRST16": "#D55E00",
    "VM_FREELIST_FIRST64G": "#56B4E9",
    "VM_FREELIST_FIRST1T": "#CC79A7",
}
"""Okabe-Ito colours (safe for colour-blind readers), one per ``VM_FREELIST_*`` name."""
_SPARE_COLOURS: Final = ("#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499")
FIRMWARE_COLOURS: Final = {
    "reserved": ("#9E9E9E", "reserved"),
    "acpi-data": ("#C9B37E", "ACPI tables"),
    "acpi-nvs": ("#8D6E63", "ACPI NVS"),
    "persistent": ("#7E57C2", "persistent memory"),
    "soft-reserved": ("#B39DDB", "soft reserved"),
    "unusable": ("#424242", "unusable"),
    "hotplug": ("#4DB6AC", "hot-pluggable RAM"),
    "other": ("#B0BEC5", "devices, other"),
}
"""Firmware-map kind -> (colour, legend text); usable RAM is not drawn in this strip."""
HOLE_COLOUR: Final = "#ECEFF1"
STOLEN_COLOUR: Final = "#455A64"
UNPLUGGED_COLOUR: Final = "#C62828"
TEXT_COLOUR: Final = "#263238"
MUTED_COLOUR: Final = "#607D8B"


@dataclass(frozen=True, slots=True)
class PlotSegment:
    """One segment to draw: byte range ``[start, end)`` and its free list's number."""

    start: int
    end: int
    free_list: int


@dataclass(frozen=True, slots=True)
class MapLayout:
    """Everything the picture shows, in bytes; build it with :func:`layout_from_state`.

    ``freelists`` maps a free-list number to ``(VM_FREELIST_* name, limit)``; ``firmware`` lists
    the map's non-RAM ranges as ``(start, end, kind)``; ``plugged`` / ``unplugged`` are the
    byte ranges hot-plugged (and still managed) / unplugged (and not managed) at run time;
    ``stolen`` the RAM loaded at boot that ``uvm_page_init`` took for the page array."""

    title: str
    subtitle: str
    segments: tuple[PlotSegment, ...]
    freelists: dict[int, tuple[str, int]]
    firmware: tuple[tuple[int, int, str], ...] = ()
    plugged: tuple[Interval, ...] = ()
    unplugged: tuple[Interval, ...] = ()
    stolen: tuple[Interval, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What :func:`render_map` wrote: the file and its size in pixels."""

    path: Path
    width: int
    height: int


# --------------------------------------------------------------------------- intervals
def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union of ``intervals`` (touching ones joined, empty ones dropped).
    O(n log n)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(intervals: Iterable[Interval], cut: Iterable[Interval]) -> list[Interval]:
    """The parts of ``intervals`` outside every range of ``cut``, sorted and merged.
    O((n + m) log(n + m))."""
    result: list[Interval] = []
    cuts = merge(cut)
    for start, end in merge(intervals):
        cursor = start
        for c_start, c_end in cuts:
            if c_end <= cursor or c_start >= end:
                continue
            if c_start > cursor:
                result.append((cursor, c_start))
            cursor = max(cursor, c_end)
        if cursor < end:
            result.append((cursor, end))
    return result


def intersect(intervals: Iterable[Interval], other: Iterable[Interval]) -> list[Interval]:
    """The parts of ``intervals`` inside ``other``, sorted and merged. O((n + m) log(n + m))."""
    merged = merge(intervals)
    return subtract(merged, subtract(merged, other))


# --------------------------------------------------------------------------- layout
def layout_from_state(state: MachineState, ops: Iterable[TraceOp] = ()) -> MapLayout:
    """The picture of a saved machine: its segments, free-list names and limits, the firmware
    map's non-RAM ranges, and from its journal ``ops`` the ranges hot-plugged and unplugged
    and the RAM stolen for the page array (loaded by ``physload``, neither managed nor
    unplugged now). O(n log n) in segments and journal rows; the rows are read once, keeping
    only their ranges."""
    shift = state.config.page_shift
    snapshot = state.snapshot
    views = (
        []
        if snapshot is None
        else sorted((s.view for s in snapshot.segments), key=lambda v: v.start)
    )
    segments = tuple(PlotSegment(v.start << shift, v.end << shift, v.free_list) for v in views)
    managed = [(s.start, s.end) for s in segments]
    plugged: list[tuple[int, int]] = []
    unplugged: list[tuple[int, int]] = []
    loaded: list[tuple[int, int]] = []
    for op in ops:
        if isinstance(op, Plug):
            plugged.append((op.addr, op.addr + op.size))
        elif isinstance(op, Unplug):
            unplugged.append((op.addr, op.addr + op.size))
        elif isinstance(op, PhysLoad):
            loaded.append((op.addr, op.addr + op.size))
    info = state.map_info
    firmware = tuple(
        (r.start, r.end, r.kind) for r in (info.ranges if info else ()) if r.kind != "usable"
    )
    managed_bytes = sum(s.end - s.start for s in segments)
    holes = 0 if snapshot is None else len(snapshot_holes(snapshot))
    name = info.name if info else "a machine built by a trace"
    source = f"{info.format} map" if info else "trace"
    phase = "booted" if snapshot is not None and snapshot.booted else "not booted"
    return MapLayout(
        title=f"Physical memory of {name}",
        subtitle=(
            f"{source}  |  {len(segments)} segments, {format_size(managed_bytes)} managed"
            f"  |  {holes} holes  |  {format_size(1 << shift)} pages  |"
            f"  {state.config.backend} backend, {phase}"
        ),
        segments=segments,
        freelists={f.index: (f.name, f.limit) for f in state.freelists},
        firmware=firmware,
        plugged=tuple(intersect(plugged, managed)),
        unplugged=tuple(subtract(unplugged, managed)),
        stolen=tuple(subtract(loaded, managed + unplugged)),
    )


def freelist_colour(layout: MapLayout, index: int) -> str:
    """The colour of free list ``index``: by its ``VM_FREELIST_*`` name, else a spare one."""
    name = layout.freelists.get(index, ("", 0))[0]
    return FREELIST_COLOURS.get(name, _SPARE_COLOURS[index % len(_SPARE_COLOURS)])


def freelist_label(layout: MapLayout, index: int) -> str:
    """Legend text of free list ``index`` (``"FIRST16: below 16 MiB"``)."""
    name, limit = layout.freelists.get(index, (f"free list {index}", 0))
    short = name.removeprefix("VM_FREELIST_")
    if limit:
        return f"{short}: below {format_size(limit)}"
    return f"{short}: all other RAM" if short == "DEFAULT" else short


def freelist_zones(layout: MapLayout) -> list[tuple[int, int, int]]:
    """The address zones of the free lists the segments use, as ``(start, end, free list)``
    byte ranges in address order: a list with a limit owns the addresses from the previous
    used limit up to its own; the default list (limit 0) owns the rest, up to 2**64. Lists
    nothing uses (folded into the default at boot, or without RAM) get no zone. O(f log f)."""
    used = {seg.free_list for seg in layout.segments}
    limits = sorted(
        (limit, index) for index, (_, limit) in layout.freelists.items() if limit and index in used
    )
    default = next((i for i, (_, limit) in layout.freelists.items() if limit == 0), None)
    zones = []
    start = 0
    for limit, index in limits:
        zones.append((start, limit, index))
        start = limit
    if default is not None and default in used:
        zones.append((start, 1 << 64, default))
    return zones


def log_position(addr: float | np.ndarray[Any, Any]) -> Any:
    """Where ``addr`` lies on the log view: ``log2(1 + addr / LOG_UNIT)`` (0 at address 0,
    1 at one page, 9 at 1 MiB, 29 at 1 TiB). Vectorised."""
    return np.log2(1.0 + np.asarray(addr, dtype=float) / LOG_UNIT)


@dataclass(frozen=True, slots=True)
class BrokenAxis:
    """The broken view's piecewise-linear map from bytes to an axis of length 1.

    ``blocks`` are the runs of RAM drawn to scale, ``knots`` the ``(byte, position)`` pairs
    between which positions are interpolated (each break sits between two knots), and
    ``breaks`` the ``(hole start, hole end, axis position of the break's centre)``."""

    blocks: tuple[Interval, ...]
    knots: tuple[tuple[int, float], ...]
    breaks: tuple[tuple[int, int, float], ...]

    @classmethod
    def build(cls, ranges: Sequence[Interval]) -> BrokenAxis:
        """Group ``ranges`` (non-empty) into blocks, cutting at holes larger than
        :data:`BREAK_MIN_FRACTION` of the whole span of RAM, and lay the blocks out: widths
        proportional to size, except that blocks below :data:`MIN_BLOCK_FRACTION` are widened
        to it and the others share what is left (when there is room for that at all).
        O(n log n)."""
        spans = merge(ranges)
        total = sum(end - start for start, end in spans)
        blocks = [spans[0]]
        for start, end in spans[1:]:
            if start - blocks[-1][1] > BREAK_MIN_FRACTION * total:
                blocks.append((start, end))
            else:
                blocks[-1] = (blocks[-1][0], end)
        room = 1.0 - BREAK_WIDTH * (len(blocks) - 1)
        sizes = np.array([end - start for start, end in blocks], dtype=float)
        widths = sizes / sizes.sum() * room
        fixed = np.zeros(len(blocks), dtype=bool)
        while MIN_BLOCK_FRACTION * len(blocks) < room:
            spare = room - MIN_BLOCK_FRACTION * fixed.sum()
            widths = np.where(fixed, MIN_BLOCK_FRACTION, sizes / sizes[~fixed].sum() * spare)
            too_small = ~fixed & (widths < MIN_BLOCK_FRACTION)
            if not too_small.any():
                break
            fixed |= too_small
        knots: list[tuple[int, float]] = []
        breaks: list[tuple[int, int, float]] = []
        position = 0.0
        for (start, end), width in zip(blocks, widths, strict=True):
            if knots:
                breaks.append((knots[-1][0], start, position - BREAK_WIDTH / 2))
            knots += [(start, position), (end, position + float(width))]
            position += float(width) + BREAK_WIDTH
        return cls(tuple(blocks), tuple(knots), tuple(breaks))

    def position(self, addr: float | np.ndarray[Any, Any]) -> Any:
        """Axis position of ``addr`` (clamped to the first and last block). Vectorised."""
        xs = [float(k[0]) for k in self.knots]
        ys = [k[1] for k in self.knots]
        return np.interp(np.asarray(addr, dtype=float), xs, ys)


# --------------------------------------------------------------------------- drawing
def _bars(
    ax: Any,
    spans: Iterable[tuple[float, float]],
    y: tuple[float, float],
    min_width: float,
    **style: Any,
) -> None:
    """Draw ``spans`` (axis units) on band ``y``, each at least ``min_width`` wide."""
    bars = [(a, max(b - a, min_width)) for a, b in spans]
    if bars:
        ax.broken_barh(bars, y, **style)


def _draw_ram(
    ax: Any, layout: MapLayout, to_axis: Any, y: tuple[float, float], min_width: float
) -> None:
    """On band ``y``: segments by free list, the stolen page array, then the hot-plugged and
    unplugged overlays (``to_axis`` maps a byte address to the axis)."""

    def spans(ranges: Iterable[Interval]) -> list[tuple[float, float]]:
        return [(float(to_axis(a)), float(to_axis(b))) for a, b in ranges]

    by_list: dict[int, list[Interval]] = {}
    for seg in layout.segments:
        by_list.setdefault(seg.free_list, []).append((seg.start, seg.end))
    for index, ranges in sorted(by_list.items()):
        colour = freelist_colour(layout, index)
        _bars(ax, spans(ranges), y, min_width, facecolors=colour, edgecolors="white", linewidth=0.6)
    _bars(ax, spans(layout.stolen), y, min_width, facecolors=STOLEN_COLOUR, edgecolors="none")
    _bars(
        ax,
        spans(layout.plugged),
        y,
        min_width,
        facecolors="none",
        edgecolors="white",
        hatch="///",
        linewidth=0,
    )
    _bars(
        ax,
        spans(layout.unplugged),
        y,
        min_width,
        facecolors="white",
        edgecolors=UNPLUGGED_COLOUR,
        hatch="xxx",
        linewidth=1.2,
    )


def _style_axis(ax: Any, heading: str) -> None:
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(MUTED_COLOUR)
    ax.tick_params(axis="x", colors=TEXT_COLOUR, labelsize=11.5, length=4)
    ax.set_title(heading, loc="left", fontsize=14, color=TEXT_COLOUR, pad=26, fontweight="bold")


def _log_ticks(top: int) -> list[int]:
    """0, then 64 KiB, 1 MiB, 16 MiB, ... (every factor of 16) up to ``top``."""
    ticks = [0]
    value = 1 << 16
    while value <= top:
        ticks.append(value)
        value <<= 4
    return ticks


def _draw_log_view(ax: Any, layout: MapLayout) -> None:
    memory_like = [e for _, e, kind in layout.firmware if kind in ("persistent", "hotplug")]
    top_addr = max(
        [s.end for s in layout.segments] + [e for _, e in layout.unplugged] + memory_like
    )
    top = float(log_position(top_addr)) + LOG_HEADROOM
    min_width = MIN_VISIBLE * top
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.25)
    ram_y = (0.42, 0.5)
    ax.broken_barh([(0, top)], ram_y, facecolors=HOLE_COLOUR, edgecolors="none")
    _draw_ram(ax, layout, log_position, ram_y, min_width)
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for start, end, kind in layout.firmware:
        by_kind.setdefault(kind, []).append((float(log_position(start)), float(log_position(end))))
    for kind, spans in by_kind.items():
        colour = FIRMWARE_COLOURS.get(kind, FIRMWARE_COLOURS["other"])[0]
        _bars(
            ax, spans, (0.14, 0.18), min_width, facecolors=colour, edgecolors="white", linewidth=0.4
        )
    ax.text(-0.005 * top, 0.67, "RAM", ha="right", va="center", fontsize=11, color=MUTED_COLOUR)
    if layout.firmware:
        ax.text(
            -0.005 * top, 0.23, "firmware", ha="right", va="center", fontsize=11, color=MUTED_COLOUR
        )
    for left, right, index in freelist_zones(layout):
        a, b = float(log_position(left)), min(float(log_position(right)), top)
        if left > 0:
            ax.axvline(
                a, ymin=0.05, ymax=0.96, color=MUTED_COLOUR, linestyle=(0, (4, 3)), linewidth=1
            )
        name = layout.freelists.get(index, (f"#{index}", 0))[0].removeprefix("VM_FREELIST_")
        ax.text(
            (a + b) / 2,
            1.1,
            name,
            ha="center",
            va="center",
            fontsize=12,
            color=freelist_colour(layout, index),
            fontweight="bold",
        )
    ticks = _log_ticks(top_addr * 2)
    ax.set_xticks([float(log_position(t)) for t in ticks])
    ax.set_xticklabels(["0" if t == 0 else format_size(t) for t in ticks])


def _draw_broken_view(ax: Any, layout: MapLayout) -> None:
    ram = [(s.start, s.end) for s in layout.segments] + [*layout.unplugged, *layout.stolen]
    axis = BrokenAxis.build(ram)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0, 1.25)
    band = (0.3, 0.5)
    for start, end in axis.blocks:
        a, b = float(axis.position(start)), float(axis.position(end))
        ax.broken_barh([(a, b - a)], band, facecolors=HOLE_COLOUR, edgecolors="none")
    _draw_ram(ax, layout, axis.position, band, MIN_VISIBLE)
    for seg in layout.segments:
        a, b = float(axis.position(seg.start)), float(axis.position(seg.end))
        size = format_size(seg.end - seg.start)
        if (b - a) * AXIS_PIXELS > 9 * len(size) + 16:
            colour = freelist_colour(layout, seg.free_list)
            ax.text(
                (a + b) / 2,
                0.55,
                size,
                ha="center",
                va="center",
                fontsize=12,
                color="white",
                fontweight="bold",
                path_effects=[patheffects.withStroke(linewidth=3, foreground=colour)],
            )
    for start, end, centre in axis.breaks:
        half = BREAK_WIDTH * 0.28
        for x in (centre - half, centre + half):
            ax.plot([x - 0.006, x + 0.006], [0.22, 0.88], color=MUTED_COLOUR, linewidth=1.6)
        ax.text(
            centre,
            1.0,
            f"hole\n{format_size(end - start)}",
            ha="center",
            va="center",
            fontsize=10.5,
            color=MUTED_COLOUR,
            linespacing=1.1,
        )
    ticks: list[float] = []
    for start, end in axis.blocks:
        a, b = float(axis.position(start)), float(axis.position(end))
        if b - a < NARROW_BLOCK:
            marks = [
                ((a + b) / 2, f"{format_addr(start)} \N{EN DASH}\n{format_addr(end)}", "center")
            ]
        else:
            marks = [(a, _address_label(start), "left"), (b, _address_label(end), "right")]
        for x, text, align in marks:
            ticks.append(x)
            ax.text(
                x,
                -0.12,
                text,
                ha=align,
                va="top",
                fontsize=10.5,
                color=TEXT_COLOUR,
                linespacing=1.3,
            )
    ax.set_xticks(ticks)
    ax.set_xticklabels([])


def _address_label(addr: int) -> str:
    return f"{format_addr(addr)}\n{format_size(addr) if addr else '0'}"


def _legend(fig: Figure, layout: MapLayout) -> None:
    """Up to three legend rows: the free lists in address order; what is not managed; the
    firmware map's kinds."""
    order = [index for _, _, index in freelist_zones(layout)]
    order += sorted({seg.free_list for seg in layout.segments} - set(order))
    lists = [
        Patch(facecolor=freelist_colour(layout, index), label=freelist_label(layout, index))
        for index in order
    ]
    if layout.plugged:
        lists.append(
            Patch(
                facecolor=FREELIST_COLOURS["VM_FREELIST_DEFAULT"],
                edgecolor="white",
                hatch="///",
                label="hot-plugged",
            )
        )
    others = [
        Patch(facecolor=HOLE_COLOUR, edgecolor=MUTED_COLOUR, linewidth=0.5, label="not managed")
    ]
    if layout.stolen:
        others.append(Patch(facecolor=STOLEN_COLOUR, label="page array (stolen at boot)"))
    if layout.unplugged:
        others.append(
            Patch(facecolor="white", edgecolor=UNPLUGGED_COLOUR, hatch="xxx", label="unplugged")
        )
    firmware = [
        Patch(
            facecolor=FIRMWARE_COLOURS.get(kind, FIRMWARE_COLOURS["other"])[0],
            label=f"firmware: {FIRMWARE_COLOURS.get(kind, FIRMWARE_COLOURS['other'])[1]}",
        )
        for kind in dict.fromkeys(k for _, _, k in layout.firmware)
    ]
    style: dict[str, Any] = {
        "frameon": False,
        "fontsize": 12,
        "handlelength": 1.6,
        "handleheight": 1.1,
        "columnspacing": 1.8,
        "loc": "lower center",
    }
    rows = [row for row in (lists, others, firmware) if row]
    for number, handles in enumerate(rows):
        y = 0.015 + 0.045 * (len(rows) - 1 - number)
        fig.legend(handles=handles, ncol=len(handles), bbox_to_anchor=(0.5, y), **style)


def render_map(layout: MapLayout, path: Path, *, views: str = "both") -> RenderResult:
    """Draw ``layout`` to the PNG ``path``: ``views`` is ``"both"`` (log view above the broken
    view), ``"log"`` or ``"broken"``. Raises ``ValueError`` for an unknown ``views`` or a
    layout without segments, ``OSError`` when the file cannot be written. O(n) in ranges
    drawn (plus matplotlib's fixed cost, about a second)."""
    if views not in ("both", "log", "broken"):
        raise ValueError(f"unknown views {views!r}: expected both, log or broken")
    if not layout.segments:
        raise ValueError("nothing to draw: the machine has no segments")
    fig = Figure(figsize=FIGSIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.text(0.035, 0.95, layout.title, fontsize=24, fontweight="bold", color=TEXT_COLOUR, va="top")
    fig.text(0.035, 0.895, layout.subtitle, fontsize=13.5, color=MUTED_COLOUR, va="top")
    panels = ["log", "broken"] if views == "both" else [views]
    grid = fig.add_gridspec(
        len(panels), 1, left=0.085, right=0.975, top=0.78, bottom=0.265, hspace=0.85
    )
    for row, panel in enumerate(panels):
        ax = fig.add_subplot(grid[row, 0])
        if panel == "log":
            _style_axis(ax, "Whole physical address space (log scale) with the free-list zones")
            _draw_log_view(ax, layout)
        else:
            _style_axis(ax, "RAM to scale, large holes cut out")
            _draw_broken_view(ax, layout)
    _legend(fig, layout)
    fig.savefig(path, dpi=DPI, facecolor="white")
    width, height = (int(v) for v in fig.get_size_inches() * DPI)
    return RenderResult(path, width, height)
