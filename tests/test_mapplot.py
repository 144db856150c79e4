"""The picture of physical memory: interval arithmetic, the two axes, the layout taken from a
saved machine, and PNGs that are really there and really drawn."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.image import imread

from physseg.cli.mapplot import (
    BREAK_WIDTH,
    HOLE_COLOUR,
    MIN_BLOCK_FRACTION,
    STOLEN_COLOUR,
    BrokenAxis,
    MapLayout,
    PlotSegment,
    freelist_colour,
    freelist_label,
    freelist_zones,
    intersect,
    layout_from_state,
    log_position,
    merge,
    render_map,
    subtract,
)
from physseg.cli.state import FreeListName, MachineConfig, MachineState, MapInfo, MapRange
from physseg.cli.trace import Init, PhysLoad, Plug, TraceOp, Unplug, apply_op
from physseg.memmap import ATF_FREELISTS, load_map, plan_boot

MIB = 1 << 20
GIB = 1 << 30
ATF_NAMES = {e.index: (e.name, e.limit) for e in ATF_FREELISTS.entries}

intervals = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: (min(t), max(t))),
    max_size=6,
)


def points(ranges: list[tuple[int, int]]) -> set[int]:
    return {x for start, end in ranges for x in range(start, end)}


@given(intervals)
def test_merge_is_the_sorted_disjoint_union(ranges: list[tuple[int, int]]) -> None:
    merged = merge(ranges)
    assert points(merged) == points(ranges)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(merged))
    assert all(start < end for start, end in merged)


@given(intervals, intervals)
def test_subtract_and_intersect_are_set_operations(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    assert points(subtract(a, b)) == points(a) - points(b)
    assert points(intersect(a, b)) == points(a) & points(b)


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
    axis = BrokenAxis.build(ranges)
    starts = [start for start, _ in axis.blocks]
    ends = [end for _, end in axis.blocks]
    positions = axis.position(np.array(sorted(starts + ends), dtype=float))
    assert np.all(np.diff(positions) >= 0)
    assert axis.position(starts[0]) == 0
    assert axis.position(ends[-1]) == pytest.approx(1.0)
    widths = [axis.position(e) - axis.position(s) for s, e in axis.blocks]
    if 1 < len(widths) <= 10:
        assert min(widths) >= MIN_BLOCK_FRACTION - 1e-9
    assert len(axis.breaks) == len(axis.blocks) - 1


def test_broken_axis_cuts_only_large_holes() -> None:
    axis = BrokenAxis.build([(0, 100 * MIB), (101 * MIB, 200 * MIB), (64 * GIB, 65 * GIB)])
    assert axis.blocks == ((0, 200 * MIB), (64 * GIB, 65 * GIB))
    ((hole_start, hole_end, centre),) = axis.breaks
    assert (hole_start, hole_end) == (200 * MIB, 64 * GIB)
    assert axis.position(200 * MIB) < centre < axis.position(64 * GIB)
    assert axis.position(64 * GIB) - axis.position(200 * MIB) == pytest.approx(BREAK_WIDTH)


def layout(segments: list[PlotSegment], **extra: object) -> MapLayout:
    return MapLayout("t", "s", tuple(segments), ATF_NAMES, **extra)  # type: ignore[arg-type]


def test_freelist_zones_follow_the_lists_in_use() -> None:
    folded = layout([PlotSegment(0x8000, 16 * MIB, 3), PlotSegment(16 * MIB, 512 * MIB, 0)])
    assert freelist_zones(folded) == [(0, 16 * MIB, 3), (16 * MIB, 1 << 64, 0)]
    full = layout([PlotSegment(0, 16 * MIB, 3), PlotSegment(GIB, 2 * GIB, 1)])
    assert freelist_zones(full) == [(0, 16 * MIB, 3), (16 * MIB, 4 * GIB, 1)]


def test_freelist_names_and_colours() -> None:
    shown = layout([PlotSegment(0, 4096, 7)])
    assert freelist_label(shown, 3) == "FIRST16: below 16 MiB"
    assert freelist_label(shown, 0) == "DEFAULT: all other RAM"
    assert freelist_label(shown, 7) == "free list 7"
    assert freelist_colour(shown, 0) != freelist_colour(shown, 3)
    assert freelist_colour(shown, 7).startswith("#")


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
    assert shown.plugged == ((GIB, GIB + 16 * MIB), (GIB + 32 * MIB, GIB + 64 * MIB))
    assert shown.unplugged == ((256 * MIB, 260 * MIB), (GIB + 16 * MIB, GIB + 32 * MIB))
    ((stolen_start, stolen_end),) = shown.stolen
    assert stolen_start == 0x8000  # uvm_page_physget steals from the first segment
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
    assert layout_from_state(MachineState(MachineConfig())).segments == ()
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
    segments = tuple(
        PlotSegment(ld.start_pfn << 12, ld.end_pfn << 12, ld.free_list) for ld in plan.loads
    )
    shown = MapLayout(
        "server-1t", "plan", segments, ATF_NAMES, ((0x12 << 40, 0x124 << 36, "persistent"),)
    )
    path = tmp_path / "server.png"
    render_map(shown, path)
    assert path.stat().st_size > 30_000


def test_render_map_refuses_nothing_and_unknown_views(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no segments"):
        render_map(layout([]), tmp_path / "x.png")
    with pytest.raises(ValueError, match="unknown views"):
        render_map(layout([PlotSegment(0, 4096, 0)]), tmp_path / "x.png", views="3d")
    assert not (tmp_path / "x.png").exists()


def test_broken_axis_with_too_many_blocks_to_widen_stays_proportional() -> None:
    ranges = [(n * 64 * GIB, n * 64 * GIB + (n + 1) * MIB) for n in range(14)]
    axis = BrokenAxis.build(ranges)
    widths = [axis.position(e) - axis.position(s) for s, e in axis.blocks]
    assert len(widths) == 14
    assert widths[1] == pytest.approx(2 * widths[0])
