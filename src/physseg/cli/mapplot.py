"""A picture of physical memory: the saved machine drawn to a PNG with matplotlib (Agg).

Two views of the byte address space, one above the other:

* **Whole address space, log scale.** Position is ``log2(1 + addr / 4 KiB)``, so the first
  page, the 640 KiB of real-mode memory, the 16 MiB ISA-DMA limit and a TiB of RAM all get
  room. The free-list zones (``FIRST16`` below 16 MiB, ...) are marked, and a thin strip under
  the RAM shows what the firmware map says about the rest (reserved, ACPI, persistent...).
* **RAM to scale, holes cut out (broken axis).** Runs of RAM separated by less than
  :data:`BREAK_MIN_FRACTION` of the RAM are drawn to scale; larger holes (the
  :data:`MAX_BREAKS` largest) are replaced by a short break marked with its size. A run
  narrower than :data:`MIN_BLOCK_FRACTION` of the axis is widened to it, so nothing vanishes
  (its ticks still give its true addresses).

**A pixel column is a stacked bar.** Each view is cut into one column per pixel; the pages of
every layer (managed memory by free list, the hot-plugged part of it in a lighter shade, the
page array stolen at boot, unplugged ranges, and what is not managed) that fall in a column
are counted (:mod:`physseg.cli.mapcolumns`: binary searches over cumulative coverage, O(P log
n) for P columns and n segments), and the column's height is shared in proportion, any layer
present getting at least one pixel row. So no managed page is ever invisible, however
fragmented, and drawing costs what the picture costs, not what the segments cost. The legend
states the resolution (bytes per pixel).

Building the figure uses :class:`matplotlib.figure.Figure` directly (no pyplot global state).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import NDArray

from physseg.cli.mapcolumns import (
    Ints,
    SegmentTable,
    Spans,
    column_image,
    column_pages,
    column_shares,
    stack_rows,
)
from physseg.cli.state import MachineState
from physseg.cli.trace import PhysLoad, Plug, TraceOp, Unplug
from physseg.cli.units import format_addr, format_size

LOG_UNIT: Final = 4096
"""The log view's position is ``log2(1 + addr / LOG_UNIT)``: linear below one page."""
BREAK_MIN_FRACTION: Final = 0.02
"""A hole becomes a break in the broken view when it exceeds this fraction of the span of
RAM it interrupts (smaller holes are drawn to scale)."""
MAX_BREAKS: Final = 8
"""At most this many holes (the largest) become breaks: with :data:`BREAK_WIDTH` and
:data:`MIN_BLOCK_FRACTION`, nine blocks still leave every block room to be widened."""
BREAK_WIDTH: Final = 0.05
"""Axis fraction each break takes."""
MIN_BLOCK_FRACTION: Final = 0.035
"""Narrowest axis fraction a run of RAM gets in the broken view."""
LOG_HEADROOM: Final = 1.2
"""Room right of the highest address in the log view (x 2.3), for the last zone's label."""
NARROW_BLOCK: Final = 0.12
"""A block narrower than this axis fraction gets one centred label instead of two."""
AXIS_PIXELS: Final = 1424
"""Width of a panel in pixels (the figure's 1600 minus its margins): one column each."""
BAND_ROWS: Final = 64
"""Pixel rows of a RAM band (its height on the figure): a column's layers share them."""
BROKEN_XLIM: Final = (-0.01, 1.01)
"""The broken view's axis range (its blocks fill ``[0, 1]``)."""
MAX_SEPARATORS: Final = 256
"""Adjacent segments get a thin white line between them in the broken view when there are at
most this many such boundaries (more would be a white smear, not information)."""
HOTPLUG_TINT: Final = 0.5
"""Hot-plugged memory is its free list's colour mixed with this much white."""
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

MANAGED: Final = "managed"
HOT_PLUGGED: Final = "hot-plugged"
PAGE_ARRAY: Final = "page array"
UNPLUGGED: Final = "unplugged"
NOT_MANAGED: Final = "not managed"
"""The kinds of layer a RAM column stacks, bottom to top (:class:`Layer`)."""


@dataclass(frozen=True, slots=True)
class MapLayout:
    """Everything the picture shows; build it with :func:`layout_from_state` (or from a live
    machine's ``segment_infos()`` through :meth:`SegmentTable.from_infos`).

    ``segments`` and the page sets ``plugged`` / ``unplugged`` / ``stolen`` are in page frame
    numbers of ``1 << page_shift`` bytes: the ranges hot-plugged (and still managed),
    unplugged (and not managed) at run time, and the RAM loaded at boot that ``uvm_page_init``
    took for the page array. ``freelists`` maps a free-list number to ``(VM_FREELIST_* name,
    limit in bytes)``; ``firmware`` lists the map's non-RAM ranges as ``(start, end, kind)``
    in bytes."""

    title: str
    subtitle: str
    segments: SegmentTable
    freelists: dict[int, tuple[str, int]]
    firmware: tuple[tuple[int, int, str], ...] = ()
    plugged: Spans = field(default_factory=Spans.empty)
    unplugged: Spans = field(default_factory=Spans.empty)
    stolen: Spans = field(default_factory=Spans.empty)
    page_shift: int = 12


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a RAM column: its kind (:data:`MANAGED`, :data:`HOT_PLUGGED`,
    :data:`PAGE_ARRAY`, :data:`UNPLUGGED`, :data:`NOT_MANAGED`), its free list (managed
    kinds; else -1) and its colour."""

    kind: str
    free_list: int
    colour: str


@dataclass(frozen=True, slots=True, eq=False)
class PanelColumns:
    """The numbers one view is drawn from: column ``j`` covers the pages ``[lefts[j],
    rights[j])`` (``valid[j]`` false: a column in a break or a margin, drawn empty);
    ``pages[k, j]`` is how many pages of ``layers[k]`` it holds (exact; the last layer, not
    managed, is the rest of the column); ``rows[k, j]`` the pixel rows the layer gets.
    ``bytes_per_pixel`` is the coarsest column's width in bytes (the log view's grows with
    the address: its ``log_step`` is the ratio of one pixel's width to its address)."""

    layers: tuple[Layer, ...]
    lefts: Ints
    rights: Ints
    valid: NDArray[np.bool_]
    pages: Ints
    rows: Ints
    bytes_per_pixel: int
    log_step: float = 0.0

    def total(self, kind: str) -> int:
        """Pages of every layer of ``kind`` over every valid column. O(K P). Raises
        nothing."""
        chosen = [k for k, layer in enumerate(self.layers) if layer.kind == kind]
        return int(self.pages[chosen][:, self.valid].sum())

    def image(self) -> NDArray[np.uint8]:
        """The view's band as an RGBA image (``BAND_ROWS`` x columns, row 0 at the
        bottom). O(K rows P). Raises nothing."""
        colours = (to_rgba_array([layer.colour for layer in self.layers]) * 255).round()
        return column_image(self.rows, colours.astype(np.uint8))


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What :func:`render_map` wrote: the file, its size in pixels and the resolution of
    each view drawn (bytes per pixel; the log view's at its top address)."""

    path: Path
    width: int
    height: int
    bytes_per_pixel: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- layout
def _page_spans(ranges: list[tuple[int, int]], page_shift: int) -> Spans:
    """Byte ranges as the pages they touch."""
    unit = 1 << page_shift
    return Spans.of(
        [start >> page_shift for start, _ in ranges],
        [(end + unit - 1) >> page_shift for _, end in ranges],
    )


def layout_from_state(state: MachineState, ops: Iterable[TraceOp] = ()) -> MapLayout:
    """The picture of a saved machine: its segments, free-list names and limits, the firmware
    map's non-RAM ranges, and from its journal ``ops`` the ranges hot-plugged and unplugged
    and the RAM stolen for the page array (loaded by ``physload``, neither managed nor
    unplugged now). O(n log n) in segments and journal rows, vectorised but for reading them
    once. Raises nothing."""
    shift = state.config.page_shift
    snapshot = state.snapshot
    segments = SegmentTable.from_infos(
        [] if snapshot is None else [s.view for s in snapshot.segments]
    )
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
    managed = segments.spans()
    gone = _page_spans(unplugged, shift).minus(managed)
    info = state.map_info
    firmware = tuple(
        (r.start, r.end, r.kind) for r in (info.ranges if info else ()) if r.kind != "usable"
    )
    name = info.name if info else "a machine built by a trace"
    source = f"{info.format} map" if info else "trace"
    phase = "booted" if snapshot is not None and snapshot.booted else "not booted"
    return MapLayout(
        title=f"Physical memory of {name}",
        subtitle=(
            f"{source}  |  {len(segments)} segments,"
            f" {format_size(segments.managed_pages << shift)} managed"
            f"  |  {segments.holes} holes  |  {format_size(1 << shift)} pages  |"
            f"  {state.config.backend} backend, {phase}"
        ),
        segments=segments,
        freelists={f.index: (f.name, f.limit) for f in state.freelists},
        firmware=firmware,
        plugged=_page_spans(plugged, shift).intersection(managed),
        unplugged=gone,
        stolen=_page_spans(loaded, shift).minus(managed.union(gone)),
        page_shift=shift,
    )


def freelist_colour(layout: MapLayout, index: int) -> str:
    """The colour of free list ``index``: by its ``VM_FREELIST_*`` name, else a spare one.
    O(1). Raises nothing."""
    name = layout.freelists.get(index, ("", 0))[0]
    return FREELIST_COLOURS.get(name, _SPARE_COLOURS[index % len(_SPARE_COLOURS)])


def hotplug_colour(colour: str) -> str:
    """``colour`` mixed with :data:`HOTPLUG_TINT` white: how hot-plugged pages of a free list
    are drawn. O(1). Raises ``ValueError`` for a colour matplotlib does not know.

    >>> hotplug_colour("#0072B2")
    '#80b8d8'
    """
    rgb = to_rgba_array(colour)[0, :3]
    mixed = (rgb * (1 - HOTPLUG_TINT) + HOTPLUG_TINT) * 255
    return "#" + "".join(f"{round(value):02x}" for value in mixed)


def freelist_label(layout: MapLayout, index: int) -> str:
    """Legend text of free list ``index`` (``"FIRST16: below 16 MiB"``). O(1). Raises
    nothing."""
    name, limit = layout.freelists.get(index, (f"free list {index}", 0))
    short = name.removeprefix("VM_FREELIST_")
    if limit:
        return f"{short}: below {format_size(limit)}"
    return f"{short}: all other RAM" if short == "DEFAULT" else short


def freelist_zones(layout: MapLayout) -> list[tuple[int, int, int]]:
    """The address zones of the free lists the segments use, as ``(start, end, free list)``
    byte ranges in address order: a list with a limit owns the addresses from the previous
    used limit up to its own; the default list (limit 0) owns the rest, up to 2**64. Lists
    nothing uses (folded into the default at boot, or without RAM) get no zone.
    O(n + f log f). Raises nothing."""
    used = set(layout.segments.free_lists_used())
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


def _freelist_order(layout: MapLayout) -> list[int]:
    """The free lists in use, in zone (address) order, then any without a zone."""
    order = [index for _, _, index in freelist_zones(layout)]
    return order + [i for i in layout.segments.free_lists_used() if i not in order]


def ram_layers(layout: MapLayout) -> RamLayers:
    """The layers a RAM column stacks, bottom to top, with their page sets (disjoint): the
    boot-loaded and the hot-plugged pages of each free list in use, the stolen page array,
    the unplugged ranges; last :data:`NOT_MANAGED`, the rest of a column (no set). Empty
    layers are left out. O(n log n), vectorised. Raises nothing."""
    layers: list[Layer] = []
    sets: list[Spans] = []
    plugged_sets: list[tuple[Layer, Spans]] = []
    for index in _freelist_order(layout):
        pages = layout.segments.spans(index)
        colour = freelist_colour(layout, index)
        plugged = pages.intersection(layout.plugged)
        boot = pages.minus(layout.plugged) if len(plugged) else pages
        if len(boot):
            layers.append(Layer(MANAGED, index, colour))
            sets.append(boot)
        if len(plugged):
            plugged_sets.append((Layer(HOT_PLUGGED, index, hotplug_colour(colour)), plugged))
    for layer, pages in plugged_sets:
        layers.append(layer)
        sets.append(pages)
    for kind, colour, pages in (
        (PAGE_ARRAY, STOLEN_COLOUR, layout.stolen),
        (UNPLUGGED, UNPLUGGED_COLOUR, layout.unplugged),
    ):
        if len(pages):
            layers.append(Layer(kind, -1, colour))
            sets.append(pages)
    layers.append(Layer(NOT_MANAGED, -1, HOLE_COLOUR))
    return tuple(layers), sets


RamLayers = tuple[tuple[Layer, ...], list[Spans]]
"""What :func:`ram_layers` returns: the layers and their page sets."""


def panel_columns(
    ram: RamLayers, lefts: Ints, rights: Ints, valid: NDArray[np.bool_], **resolution: Any
) -> PanelColumns:
    """The RAM columns ``[lefts[j], rights[j])`` (pages) of the layers ``ram``: exact page
    counts per layer and the rows each gets (:func:`physseg.cli.mapcolumns.stack_rows`),
    invalid columns empty. ``resolution`` gives :class:`PanelColumns`' ``bytes_per_pixel``
    and ``log_step``. O(K P log n). Raises nothing."""
    layers, sets = ram
    counted = column_pages(sets, lefts, rights)
    rest = (rights - lefts) - counted.sum(axis=0)
    pages = np.vstack([counted, rest[None, :]])
    shares = column_shares(sets, lefts, rights)
    shares[:, ~valid] = 0.0
    pages[:, ~valid] = 0
    return PanelColumns(
        layers, lefts, rights, valid, pages, stack_rows(shares, BAND_ROWS), **resolution
    )


def log_position(addr: float | np.ndarray[Any, Any]) -> Any:
    """Where ``addr`` lies on the log view: ``log2(1 + addr / LOG_UNIT)`` (0 at address 0,
    1 at one page, 9 at 1 MiB, 29 at 1 TiB). Vectorised. O(1) a value. Raises nothing."""
    return np.log2(1.0 + np.asarray(addr, dtype=float) / LOG_UNIT)


def log_address(position: float | np.ndarray[Any, Any]) -> Any:
    """The byte address at ``position`` on the log view (the inverse of
    :func:`log_position`). Vectorised. O(1) a value. Raises nothing."""
    return LOG_UNIT * (np.exp2(np.asarray(position, dtype=float)) - 1.0)


def log_top(layout: MapLayout) -> tuple[int, float]:
    """The highest byte address the log view must show (RAM, unplugged RAM, persistent or
    hot-pluggable firmware ranges) and the view's right end (with :data:`LOG_HEADROOM`).
    O(n). Raises ``ValueError`` for a layout without segments."""
    if not len(layout.segments):
        raise ValueError("nothing to draw: the machine has no segments")
    shift = layout.page_shift
    ends = [int(layout.segments.ends.max()) << shift]
    if len(layout.unplugged):
        ends.append(int(layout.unplugged.ends[-1]) << shift)
    ends += [end for _, end, kind in layout.firmware if kind in ("persistent", "hotplug")]
    top_addr = max(ends)
    return top_addr, float(log_position(top_addr)) + LOG_HEADROOM


def log_columns(
    layout: MapLayout, ram: RamLayers | None = None, npixels: int = AXIS_PIXELS
) -> PanelColumns:
    """The log view's ``npixels`` columns from address 0 to its right end, each the pages
    between two pixel edges (a column finer than a page shows the page it lies in); ``ram``:
    the layout's :func:`ram_layers`, computed when not given. Raises ``ValueError`` for a
    layout without segments. O(n log n + K P log n)."""
    top_addr, top = log_top(layout)
    shift = layout.page_shift
    limit = 1 << (64 - shift)
    edges_bytes = log_address(np.linspace(0.0, top, npixels + 1))
    edges = np.minimum(np.floor(edges_bytes / (1 << shift)), limit).astype(np.int64)
    edges = np.maximum.accumulate(edges)
    valid = np.ones(npixels, dtype=bool)
    step = float(np.exp2(top / npixels) - 1.0)
    return panel_columns(
        ram_layers(layout) if ram is None else ram,
        edges[:-1],
        edges[1:],
        valid,
        bytes_per_pixel=round(top_addr * step),
        log_step=step,
    )


@dataclass(frozen=True, slots=True)
class BrokenAxis:
    """The broken view's piecewise-linear map from addresses (any unit: the picture uses
    pages) to an axis of length 1.

    ``blocks`` are the runs of RAM drawn to scale, ``knots`` the ``(address, position)``
    pairs between which positions are interpolated (each break sits between two knots), and
    ``breaks`` the ``(hole start, hole end, axis position of the break's centre)``."""

    blocks: tuple[tuple[int, int], ...]
    knots: tuple[tuple[int, float], ...]
    breaks: tuple[tuple[int, int, float], ...]

    @classmethod
    def build(cls, ram: Spans) -> BrokenAxis:
        """Group ``ram`` (non-empty) into blocks, cutting at the holes larger than
        :data:`BREAK_MIN_FRACTION` of the RAM (the :data:`MAX_BREAKS` largest of them), and
        lay the blocks out: widths proportional to size, except that blocks below
        :data:`MIN_BLOCK_FRACTION` are widened to it and the others share what is left.
        Raises ``ValueError`` for no RAM. O(n log n), vectorised."""
        if not len(ram):
            raise ValueError("no RAM to lay out")
        gaps = ram.starts[1:] - ram.ends[:-1]
        wide = np.flatnonzero(gaps > BREAK_MIN_FRACTION * ram.total)
        cuts = np.sort(wide[np.argsort(-gaps[wide], kind="stable")[:MAX_BREAKS]])
        firsts = np.concatenate([[0], cuts + 1])
        lasts = np.concatenate([cuts, [len(ram) - 1]])
        blocks = [
            (int(ram.starts[a]), int(ram.ends[b])) for a, b in zip(firsts, lasts, strict=True)
        ]
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
        """Axis position of ``addr`` (clamped to the first and last block). Vectorised,
        O(log blocks) a value. Raises nothing."""
        xs = [float(k[0]) for k in self.knots]
        ys = [k[1] for k in self.knots]
        return np.interp(np.asarray(addr, dtype=float), xs, ys)

    def columns(
        self, npixels: int, low: float, high: float
    ) -> tuple[Ints, Ints, NDArray[np.bool_]]:
        """Cut the axis ``[low, high]`` into ``npixels`` columns and give each the addresses
        ``[lefts[j], rights[j])`` it shows: a column belongs to the block its centre lies in
        (``valid``; columns in breaks and margins are not), and a block's columns tile it
        exactly, from its start to its end. O(P + blocks). Raises nothing."""
        lefts = np.zeros(npixels, dtype=np.int64)
        rights = np.zeros(npixels, dtype=np.int64)
        valid = np.zeros(npixels, dtype=bool)
        step = (high - low) / npixels
        centres = low + step * (np.arange(npixels) + 0.5)
        for number, (start, end) in enumerate(self.blocks):
            a, b = self.knots[2 * number][1], self.knots[2 * number + 1][1]
            mine = np.flatnonzero((centres >= a) & (centres < b))
            if mine.size == 0:
                mine = np.array([int(np.clip(round((a - low) / step), 0, npixels - 1))])
            edges_at = low + step * np.arange(mine[0], mine[-1] + 2)
            fraction = np.clip((edges_at - a) / (b - a), 0.0, 1.0)
            edges = start + np.floor(fraction * (end - start)).astype(np.int64)
            edges[0], edges[-1] = start, end
            edges = np.maximum.accumulate(edges)
            lefts[mine], rights[mine], valid[mine] = edges[:-1], edges[1:], True
        return lefts, rights, valid


def broken_ram(layout: MapLayout) -> Spans:
    """The pages the broken view lays out: managed, unplugged and stolen. O(n log n).
    Raises nothing."""
    return layout.segments.spans().union(layout.unplugged).union(layout.stolen)


def broken_columns(
    layout: MapLayout,
    axis: BrokenAxis | None = None,
    ram: RamLayers | None = None,
    npixels: int = AXIS_PIXELS,
) -> PanelColumns:
    """The broken view's ``npixels`` columns over :data:`BROKEN_XLIM` (``axis``: the view's
    axis, built from :func:`broken_ram`, and ``ram``: the layout's :func:`ram_layers`, both
    computed when not given). ``bytes_per_pixel`` is the coarsest block's. Raises
    ``ValueError`` for a layout without segments. O(n log n + K P log n)."""
    if not len(layout.segments):
        raise ValueError("nothing to draw: the machine has no segments")
    axis = BrokenAxis.build(broken_ram(layout)) if axis is None else axis
    lefts, rights, valid = axis.columns(npixels, *BROKEN_XLIM)
    step = (BROKEN_XLIM[1] - BROKEN_XLIM[0]) / npixels
    coarsest = max(
        (end - start) * step / (axis.knots[2 * n + 1][1] - axis.knots[2 * n][1])
        for n, (start, end) in enumerate(axis.blocks)
    )
    return panel_columns(
        ram_layers(layout) if ram is None else ram,
        lefts,
        rights,
        valid,
        bytes_per_pixel=round(coarsest * (1 << layout.page_shift)),
    )


# --------------------------------------------------------------------------- drawing
def _draw_band(ax: Any, columns: PanelColumns, xlim: tuple[float, float], y: float) -> None:
    """The stacked columns as an image filling ``xlim`` from height ``y`` (0.5 high)."""
    ax.imshow(
        columns.image(),
        extent=(xlim[0], xlim[1], y, y + 0.5),
        origin="lower",
        interpolation="nearest",
        aspect="auto",
        zorder=1,
    )


def _draw_firmware(ax: Any, layout: MapLayout, columns: PanelColumns, top: float) -> None:
    """The firmware strip: each column coloured by the kind covering most of it."""
    kinds = list(dict.fromkeys(kind for _, _, kind in layout.firmware))
    if not kinds:
        return
    shift = layout.page_shift
    sets = [
        _page_spans([(a, b) for a, b, k in layout.firmware if k == kind], shift) for kind in kinds
    ]
    sampled = np.maximum(columns.rights, columns.lefts + 1)
    pages = column_pages(sets, columns.lefts, sampled)
    colours = to_rgba_array(
        [FIRMWARE_COLOURS.get(kind, FIRMWARE_COLOURS["other"])[0] for kind in kinds] + ["#00000000"]
    )
    chosen = np.where(pages.max(axis=0) > 0, np.argmax(pages, axis=0), len(kinds))
    strip = (colours[chosen][None, :, :] * 255).round().astype(np.uint8)
    ax.imshow(
        strip,
        extent=(0, top, 0.14, 0.18),
        origin="lower",
        interpolation="nearest",
        aspect="auto",
        zorder=1,
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


def _draw_log_view(ax: Any, layout: MapLayout, columns: PanelColumns) -> None:
    top_addr, top = log_top(layout)
    _draw_band(ax, columns, (0.0, top), 0.42)
    _draw_firmware(ax, layout, columns, top)
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.25)
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


def _size_labels(ax: Any, layout: MapLayout, axis: BrokenAxis) -> None:
    """The size of every segment wide enough to hold it, inside its bar (at most one per
    few dozen pixels, whatever the number of segments)."""
    segments = layout.segments
    a = axis.position(segments.starts)
    b = axis.position(segments.ends)
    wide = np.flatnonzero((b - a) * AXIS_PIXELS > 52)
    for number in wide.tolist():
        size = format_size(
            int(segments.ends[number] - segments.starts[number]) << layout.page_shift
        )
        if (b[number] - a[number]) * AXIS_PIXELS > 9 * len(size) + 16:
            colour = freelist_colour(layout, int(segments.free_lists[number]))
            ax.text(
                (a[number] + b[number]) / 2,
                0.55,
                size,
                ha="center",
                va="center",
                fontsize=12,
                color="white",
                fontweight="bold",
                path_effects=[patheffects.withStroke(linewidth=3, foreground=colour)],
                zorder=3,
            )


def _draw_broken_view(ax: Any, layout: MapLayout, axis: BrokenAxis, columns: PanelColumns) -> None:
    shift = layout.page_shift
    _draw_band(ax, columns, BROKEN_XLIM, 0.3)
    ax.set_xlim(*BROKEN_XLIM)
    ax.set_ylim(0, 1.25)
    _size_labels(ax, layout, axis)
    segments = layout.segments
    shared = segments.ends[:-1][segments.ends[:-1] == segments.starts[1:]]
    if 0 < shared.size <= MAX_SEPARATORS:
        ax.vlines(axis.position(shared), 0.3, 0.8, colors="white", linewidth=0.8, zorder=2)
    for start, end, centre in axis.breaks:
        half = BREAK_WIDTH * 0.28
        for x in (centre - half, centre + half):
            ax.plot([x - 0.006, x + 0.006], [0.22, 0.88], color=MUTED_COLOUR, linewidth=1.6)
        ax.text(
            centre,
            1.0,
            f"hole\n{format_size((end - start) << shift)}",
            ha="center",
            va="center",
            fontsize=10.5,
            color=MUTED_COLOUR,
            linespacing=1.1,
        )
    ticks: list[float] = []
    for start, end in axis.blocks:
        a, b = float(axis.position(start)), float(axis.position(end))
        first, last = start << shift, end << shift
        if b - a < NARROW_BLOCK:
            marks = [
                ((a + b) / 2, f"{format_addr(first)} \N{EN DASH}\n{format_addr(last)}", "center")
            ]
        else:
            marks = [(a, _address_label(first), "left"), (b, _address_label(last), "right")]
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


def resolution_text(drawn: dict[str, PanelColumns]) -> str:
    """The legend's line on resolution: bytes per pixel column of each view drawn. O(1).
    Raises nothing."""
    parts = []
    if "broken" in drawn:
        parts.append(f"RAM view 1 px = {format_size(drawn['broken'].bytes_per_pixel)}")
    if "log" in drawn:
        log = drawn["log"]
        parts.append(
            f"log view 1 px = {100 * log.log_step:.2f} % of its address"
            f" ({format_size(log.bytes_per_pixel)} at the top)"
        )
    return (
        "Resolution: "
        + "; ".join(parts)
        + ". Each pixel column stacks the shares of what it covers; any share gets >= 1 px."
    )


def _legend(fig: Figure, layout: MapLayout, drawn: dict[str, PanelColumns]) -> None:
    """Up to three legend rows (the free lists in address order; what is not managed; the
    firmware map's kinds) and the resolution."""
    lists = [
        Patch(facecolor=freelist_colour(layout, index), label=freelist_label(layout, index))
        for index in _freelist_order(layout)
    ]
    if len(layout.plugged):
        lists.append(
            Patch(
                facecolor=hotplug_colour(FREELIST_COLOURS["VM_FREELIST_DEFAULT"]),
                label="hot-plugged (lighter)",
            )
        )
    others = [
        Patch(facecolor=HOLE_COLOUR, edgecolor=MUTED_COLOUR, linewidth=0.5, label="not managed")
    ]
    if len(layout.stolen):
        others.append(Patch(facecolor=STOLEN_COLOUR, label="page array (stolen at boot)"))
    if len(layout.unplugged):
        others.append(Patch(facecolor=UNPLUGGED_COLOUR, label="unplugged"))
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
    fig.text(
        0.5,
        0.03 + 0.045 * len(rows),
        resolution_text(drawn),
        ha="center",
        va="bottom",
        fontsize=11.5,
        color=MUTED_COLOUR,
    )


def render_map(layout: MapLayout, path: Path, *, views: str = "both") -> RenderResult:
    """Draw ``layout`` to the PNG ``path``: ``views`` is ``"both"`` (log view above the broken
    view), ``"log"`` or ``"broken"``. Raises ``ValueError`` for an unknown ``views`` or a
    layout without segments, ``OSError`` when the file cannot be written. O(n log n)
    vectorised for the segments' arrays, O(K P log n) for the P pixel columns, plus
    matplotlib's fixed cost (about half a second)."""
    if views not in ("both", "log", "broken"):
        raise ValueError(f"unknown views {views!r}: expected both, log or broken")
    if not len(layout.segments):
        raise ValueError("nothing to draw: the machine has no segments")
    panels = ["log", "broken"] if views == "both" else [views]
    axis = BrokenAxis.build(broken_ram(layout)) if "broken" in panels else None
    ram = ram_layers(layout)
    drawn = {
        panel: log_columns(layout, ram) if panel == "log" else broken_columns(layout, axis, ram)
        for panel in panels
    }
    fig = Figure(figsize=FIGSIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.text(0.035, 0.95, layout.title, fontsize=24, fontweight="bold", color=TEXT_COLOUR, va="top")
    fig.text(0.035, 0.895, layout.subtitle, fontsize=13.5, color=MUTED_COLOUR, va="top")
    grid = fig.add_gridspec(
        len(panels), 1, left=0.085, right=0.975, top=0.78, bottom=0.29, hspace=0.85
    )
    for row, panel in enumerate(panels):
        ax = fig.add_subplot(grid[row, 0])
        if panel == "log":
            _style_axis(ax, "Whole physical address space (log scale) with the free-list zones")
            _draw_log_view(ax, layout, drawn[panel])
        else:
            assert axis is not None
            _style_axis(ax, "RAM to scale, large holes cut out")
            _draw_broken_view(ax, layout, axis, drawn[panel])
    _legend(fig, layout, drawn)
    fig.savefig(path, dpi=DPI, facecolor="white")
    width, height = (int(v) for v in fig.get_size_inches() * DPI)
    return RenderResult(
        path, width, height, {name: cols.bytes_per_pixel for name, cols in drawn.items()}
    )
