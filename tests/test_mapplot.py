"""The picture of physical memory: the two axes, the layout taken from a saved machine, the
pixel columns it is drawn from (checked against the machine's own totals, on a fragmented
machine too), and PNGs that are really there and really drawn."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.image import imread

from physseg.cli.mapcolumns import SegmentTable, Spans
from physseg.cli.mapplot import (
    BREAK_WIDTH,
    HOLE_COLOUR,
    HOT_PLUGGED,
    MANAGED,
    MAX_BREAKS,
    MIN_BLOCK_FRACTION,
    NOT_MANAGED,
    PAGE_ARRAY,
    STOLEN_COLOUR,
    UNPLUGGED,
    UNPLUGGED_COLOUR,
    BrokenAxis,
    MapLayout,
    broken_columns,
    freelist_colour,
    freelist_label,
    freelist_zones,
    hotplug_colour,
    layout_from_state,
    log_address,
    log_columns,
    log_position,
    panel_columns,
    ram_layers,
    render_map,
    resolution_text,
)
from physseg.cli.state import FreeListName, MachineConfig, MachineState, MapInfo, MapRange
from physseg.cli.trace import Init, PhysLoad, Plug, TraceOp, Unplug, apply_op
from physseg.memmap import ATF_FREELISTS, load_map, plan_boot
from physseg.physmem import PhysMem

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
ATF_NAMES = {e.index: (e.name, e.limit) for e in ATF_FREELISTS.entries}


def test_log_position_gives_every_scale_room() -> None:
    assert log_position(0) == 0
    assert log_position(4096) == 1
    assert float(log_position(1 << 40)) == pytest.approx(28, abs=1e-6)


@given(
    st.lists(
        st.tuples(st.integers(0, 1 << 44), st.integers(1, 1 << 38)).map(lambda t: (t[0], sum(t))),
        min_size=1,
        max_size=14,
    )
)
def test_broken_axis_is_monotone_and_fills_the_unit_length(ranges: list[tuple[int, int]]) -> None:
    axis = BrokenAxis.build(Spans.from_pairs(ranges))
    starts = [start for start, _ in axis.blocks]
    ends = [end for _, end in axis.blocks]
    positions = axis.position(np.array(sorted(starts + ends), dtype=float))
    assert np.all(np.diff(positions) >= 0)
    assert axis.position(starts[0]) == 0
    assert axis.position(ends[-1]) == pytest.approx(1.0)
    widths = [axis.position(e) - axis.position(s) for s, e in axis.blocks]
    assert len(axis.blocks) <= MAX_BREAKS + 1
    if len(widths) > 1:
        assert min(widths) >= MIN_BLOCK_FRACTION - 1e-9
    assert len(axis.breaks) == len(axis.blocks) - 1


def test_broken_axis_cuts_only_large_holes() -> None:
    axis = BrokenAxis.build(
        Spans.from_pairs([(0, 100 * MIB), (101 * MIB, 200 * MIB), (64 * GIB, 65 * GIB)])
    )
    assert axis.blocks == ((0, 200 * MIB), (64 * GIB, 65 * GIB))
    ((hole_start, hole_end, centre),) = axis.breaks
    assert (hole_start, hole_end) == (200 * MIB, 64 * GIB)
    assert axis.position(200 * MIB) < centre < axis.position(64 * GIB)
    assert axis.position(64 * GIB) - axis.position(200 * MIB) == pytest.approx(BREAK_WIDTH)


def table(*segments: tuple[int, int, int]) -> SegmentTable:
    """Segments given as ``(start, end, free list)`` in bytes, in 4 KiB pages."""
    return SegmentTable.of(
        [start >> 12 for start, _, _ in segments],
        [end >> 12 for _, end, _ in segments],
        [free_list for _, _, free_list in segments],
    )


def layout(segments: SegmentTable, **extra: object) -> MapLayout:
    return MapLayout("t", "s", segments, ATF_NAMES, **extra)  # type: ignore[arg-type]


def test_freelist_zones_follow_the_lists_in_use() -> None:
    folded = layout(table((0x8000, 16 * MIB, 3), (16 * MIB, 512 * MIB, 0)))
    assert freelist_zones(folded) == [(0, 16 * MIB, 3), (16 * MIB, 1 << 64, 0)]
    full = layout(table((0, 16 * MIB, 3), (GIB, 2 * GIB, 1)))
    assert freelist_zones(full) == [(0, 16 * MIB, 3), (16 * MIB, 4 * GIB, 1)]


def test_freelist_names_and_colours() -> None:
    shown = layout(table((0, 4096, 7)))
    assert freelist_label(shown, 3) == "FIRST16: below 16 MiB"
    assert freelist_label(shown, 0) == "DEFAULT: all other RAM"
    assert freelist_label(shown, 7) == "free list 7"
    assert freelist_colour(shown, 0) != freelist_colour(shown, 3)
    assert freelist_colour(shown, 7).startswith("#")
    assert hotplug_colour("#000000") == "#808080"


def booted_state(ops: list[TraceOp]) -> MachineState:
    """The machine ``ops`` build, with the tiny map's ranges and the ATF free lists."""
    state = MachineState(
        MachineConfig(),
        map_info=MapInfo(
            "tiny",
            "<test>",
            "e820",
            (
                MapRange(0, 0x8000, "reserved", "BIOS"),
                MapRange(0x8000, 512 * MIB, "usable", "usable"),
                MapRange(0xFEC00000, 0xFEC01000, "other", "IOAPIC"),
            ),
        ),
        freelists=tuple(FreeListName(e.index, e.name, e.limit) for e in ATF_FREELISTS.entries),
    )
    mem = state.config.new_machine()
    for op in ops:
        apply_op(mem, op)
    return replace(state, snapshot=mem.snapshot(), operations=len(ops))


TINY: list[TraceOp] = [
    PhysLoad(0x8000, 16 * MIB - 0x8000, free_list=3),
    PhysLoad(16 * MIB, 496 * MIB, free_list=2),
    Init(),
    Plug(GIB, 64 * MIB),
    Unplug(GIB + 16 * MIB, 16 * MIB),
    Unplug(256 * MIB, 4 * MIB),
]


def test_layout_from_state_finds_plugged_unplugged_and_stolen_ranges() -> None:
    shown = layout_from_state(booted_state(TINY), TINY)
    assert shown.title == "Physical memory of tiny"
    assert "e820 map" in shown.subtitle
    pages = [(GIB, GIB + 16 * MIB), (GIB + 32 * MIB, GIB + 64 * MIB)]
    assert shown.plugged.pairs() == [(a >> 12, b >> 12) for a, b in pages]
    pages = [(256 * MIB, 260 * MIB), (GIB + 16 * MIB, GIB + 32 * MIB)]
    assert shown.unplugged.pairs() == [(a >> 12, b >> 12) for a, b in pages]
    ((stolen_start, stolen_end),) = shown.stolen.pairs()
    assert stolen_start == 0x8000 >> 12  # uvm_page_physget steals from the first segment
    assert stolen_end > stolen_start
    assert [kind for _, _, kind in shown.firmware] == ["reserved", "other"]


def test_layout_of_a_trace_built_machine_has_no_map(tmp_path: Path) -> None:
    state = MachineState(MachineConfig())
    mem = state.config.new_machine()
    ops: list[TraceOp] = [PhysLoad(0, 16 * MIB)]
    apply_op(mem, ops[0])
    shown = layout_from_state(replace(state, snapshot=mem.snapshot(), operations=1), ops)
    assert shown.title == "Physical memory of a machine built by a trace"
    assert "not booted" in shown.subtitle
    assert shown.firmware == ()
    assert len(layout_from_state(MachineState(MachineConfig())).segments) == 0
    render_map(shown, tmp_path / "trace.png", views="log")
    assert colours(tmp_path / "trace.png") > 10


def palette(path: Path) -> set[str]:
    """The distinct colours of the PNG at ``path``, as ``#rrggbb``."""
    rgb = np.rint(imread(path)[:, :, :3] * 255).astype(np.uint32)
    packed = np.unique(rgb[:, :, 0] << 16 | rgb[:, :, 1] << 8 | rgb[:, :, 2])
    return {f"#{int(value):06X}" for value in packed}


def colours(path: Path) -> int:
    """How many distinct colours the PNG at ``path`` has."""
    return len(palette(path))


@pytest.mark.parametrize("views", ["both", "log", "broken"])
def test_render_map_writes_a_colourful_png(tmp_path: Path, views: str) -> None:
    path = tmp_path / "map.png"
    result = render_map(layout_from_state(booted_state(TINY), TINY), path, views=views)
    assert (result.path, result.width, result.height) == (path, 1600, 900)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 30_000
    assert imread(path).shape[:2] == (900, 1600)
    drawn = palette(path)
    assert len(drawn) > 50
    wanted = {"#D55E00", "#E69F00", "#0072B2", HOLE_COLOUR.upper(), STOLEN_COLOUR.upper()}
    assert wanted <= drawn  # FIRST16, FIRST1G, DEFAULT, holes, the stolen page array


def test_render_map_draws_the_terabyte_server_from_its_boot_plan(tmp_path: Path) -> None:
    plan = plan_boot(load_map("server-1t"))
    segments = SegmentTable.of(
        [ld.start_pfn for ld in plan.loads],
        [ld.end_pfn for ld in plan.loads],
        [ld.free_list for ld in plan.loads],
    )
    shown = MapLayout(
        "server-1t", "plan", segments, ATF_NAMES, ((0x12 << 40, 0x124 << 36, "persistent"),)
    )
    path = tmp_path / "server.png"
    render_map(shown, path)
    assert path.stat().st_size > 30_000


def test_render_map_refuses_nothing_and_unknown_views(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no segments"):
        render_map(layout(table()), tmp_path / "x.png")
    with pytest.raises(ValueError, match="unknown views"):
        render_map(layout(table((0, 4096, 0))), tmp_path / "x.png", views="3d")
    assert not (tmp_path / "x.png").exists()


def test_only_the_largest_holes_become_breaks_and_every_block_gets_room() -> None:
    ranges = [(n * n * 64 * GIB, n * n * 64 * GIB + MIB) for n in range(14)]
    axis = BrokenAxis.build(Spans.from_pairs(ranges))
    assert len(axis.breaks) == MAX_BREAKS
    holes = sorted(b[0] - a[1] for a, b in itertools.pairwise(ranges))
    assert sorted(end - start for start, end, _ in axis.breaks) == holes[-MAX_BREAKS:]
    widths = [axis.position(e) - axis.position(s) for s, e in axis.blocks]
    assert min(widths) >= MIN_BLOCK_FRACTION - 1e-9


def test_broken_axis_columns_tile_each_block_exactly() -> None:
    ram = Spans.from_pairs([(0, 1000), (5000, 5003), (90_000, 190_000)])
    axis = BrokenAxis.build(ram)
    lefts, rights, valid = axis.columns(500, -0.01, 1.01)
    assert np.all(rights[valid] >= lefts[valid])
    covered = Spans.of(lefts[valid], rights[valid])
    assert covered.pairs() == [(0, 1000), (5000, 5003), (90_000, 190_000)]
    assert (rights - lefts)[valid].sum() == ram.total  # no column counted twice
    assert not valid[0] and not valid[-1]  # the margins


def test_log_address_inverts_log_position() -> None:
    addrs = np.array([0, 4096, 1 << 20, 1 << 40])
    assert np.allclose(log_address(log_position(addrs)), addrs)


# --------------------------------------------------------------------------- a fragmented machine
FRAGMENTS = 5000
"""The issue's case: 5,000 x (plug 64 KiB every 1 MiB from 4 GiB, unplug 16 KiB inside it)."""


@pytest.fixture(scope="module")
def fragmented() -> tuple[PhysMem, MapLayout]:
    """128 MiB booted, then the fragments: 10,001 segments, 234 MiB of them hot-plugged and
    78 MiB unplugged in a 4.88 GiB range."""
    mem = PhysMem()
    mem.load(0x100, 0x8000)
    mem.boot(steal=False)
    ops: list[TraceOp] = []
    for number in range(FRAGMENTS):
        addr = 4 * GIB + number * MIB
        ops += [Plug(addr, 64 * KIB), Unplug(addr + 16 * KIB, 16 * KIB)]
    for op in ops:
        apply_op(mem, op)
    state = MachineState(
        MachineConfig(),
        snapshot=mem.snapshot(),
        freelists=tuple(FreeListName(e.index, e.name, e.limit) for e in ATF_FREELISTS.entries),
    )
    return mem, layout_from_state(state, ops)


def test_the_fragmented_columns_add_up_to_the_machine_totals(
    fragmented: tuple[PhysMem, MapLayout],
) -> None:
    mem, shown = fragmented
    stats = mem.stats()
    holes = sum(end - start for start, end in mem.holes())
    unplugged = FRAGMENTS * (16 * KIB >> 12)
    assert stats["segments"] == 1 + 2 * FRAGMENTS
    first, last = int(shown.segments.starts[0]), int(shown.segments.ends[-1])
    cut = np.linspace(first, last, 1425).astype(np.int64)
    linear = panel_columns(
        ram_layers(shown), cut[:-1], cut[1:], np.ones(1424, dtype=bool), bytes_per_pixel=0
    )
    log, broken = log_columns(shown), broken_columns(shown)
    for columns in (linear, log, broken):
        assert columns.total(MANAGED) + columns.total(HOT_PLUGGED) == stats["managed_pages"]
        assert columns.total(HOT_PLUGGED) == FRAGMENTS * (48 * KIB >> 12)
        assert columns.total(UNPLUGGED) == unplugged
        assert columns.total(PAGE_ARRAY) == 0
    assert linear.total(NOT_MANAGED) + linear.total(UNPLUGGED) == holes
    axis = BrokenAxis.build(shown.segments.spans().union(shown.unplugged))
    cut_out = sum(end - start for start, end, _ in axis.breaks)
    assert broken.total(NOT_MANAGED) + broken.total(UNPLUGGED) == holes - cut_out
    assert log.total(NOT_MANAGED) == (int(log.rights[-1]) - stats["managed_pages"] - unplugged)


def test_no_column_hides_its_managed_pages(fragmented: tuple[PhysMem, MapLayout]) -> None:
    _, shown = fragmented
    for columns in (log_columns(shown), broken_columns(shown)):
        kinds = [layer.kind for layer in columns.layers]
        managed = [k for k, kind in enumerate(kinds) if kind in (MANAGED, HOT_PLUGGED)]
        has_pages = columns.pages[managed].sum(axis=0) > 0
        has_rows = columns.rows[managed].sum(axis=0) > 0
        assert has_pages.any()
        assert np.array_equal(has_pages, has_rows & columns.valid)
        present = columns.pages > 0
        assert np.array_equal(present, (columns.rows > 0) & present)


def test_the_fragmented_range_is_drawn_with_its_managed_share(
    tmp_path: Path, fragmented: tuple[PhysMem, MapLayout]
) -> None:
    _, shown = fragmented
    path = tmp_path / "fragments.png"
    result = render_map(shown, path, views="broken")
    pixels = np.rint(imread(path)[:, :, :3] * 255).astype(np.uint32)
    packed = pixels[:, :, 0] << 16 | pixels[:, :, 1] << 8 | pixels[:, :, 2]

    def columns_with(colour: str) -> int:
        value = int(colour[1:], 16)
        return int(np.count_nonzero((packed == value).any(axis=0)))

    plugged = hotplug_colour(freelist_colour(shown, 0))
    assert columns_with(plugged) > 1000  # the 4.88 GiB block, about 1,300 px wide
    assert columns_with(UNPLUGGED_COLOUR) > 1000
    red = np.count_nonzero(packed == int(UNPLUGGED_COLOUR[1:], 16))
    grey = np.count_nonzero(packed == int(HOLE_COLOUR[1:], 16))
    assert red < grey / 10  # not drawn solid red: most of the range is a hole
    assert result.bytes_per_pixel["broken"] < 5 * MIB


def test_the_legend_states_the_resolution(fragmented: tuple[PhysMem, MapLayout]) -> None:
    _, shown = fragmented
    text = resolution_text({"broken": broken_columns(shown), "log": log_columns(shown)})
    assert text.startswith("Resolution: RAM view 1 px = ")
    assert "MiB" in text
    assert "% of its address" in text


def test_the_picture_costs_its_pixels_not_its_segments(
    fragmented: tuple[PhysMem, MapLayout], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A picture of 10,001 segments draws about as many matplotlib artists as one of 3: the
    segments are aggregated into pixel columns, not drawn one by one (the old picture drew a
    bar per segment and took 17 s for 10,008 segments)."""
    from matplotlib.figure import Figure

    drawn: list[int] = []
    save = Figure.savefig

    def counting_savefig(self: Figure, *args: object, **kwargs: object) -> None:
        drawn.append(len(self.findobj()))
        save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", counting_savefig)
    _, many = fragmented
    few = replace(
        many, segments=SegmentTable.of([0x100, 0x1000, 0x2000], [0x800, 0x1800, 0x2800], [0, 0, 0])
    )
    render_map(few, tmp_path / "few.png")
    render_map(many, tmp_path / "many.png")
    assert len(many.segments) > 10_000
    assert drawn[1] <= drawn[0] + 50, drawn
