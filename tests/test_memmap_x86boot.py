"""plan_boot(): NetBSD's x86 boot rules (x86_machdep.c: x86_parse_clusters, x86_add_cluster,
init_x86_vm, x86_load_region) applied to small hand-made maps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.memmap import (
    AMD64_FREELISTS,
    ATF_FREELISTS,
    VM_FREELIST_DEFAULT,
    VM_FREELIST_FIRST1G,
    VM_FREELIST_FIRST4G,
    VM_FREELIST_FIRST16,
    FreeList,
    FreeListTable,
    MemMap,
    MemRange,
    PhysLoad,
    RangeKind,
    parse_iomem,
    plan_boot,
)

RAM = RangeKind.USABLE
MIB = 1 << 20
GIB = 1 << 30


def memmap(*ranges: tuple[int, int] | tuple[int, int, RangeKind]) -> MemMap:
    return MemMap(tuple(MemRange(r[0], r[1], r[2] if len(r) == 3 else RAM) for r in ranges), "test")


def loads(
    *ranges: tuple[int, int] | tuple[int, int, RangeKind], **kwargs: object
) -> list[tuple[int, int, int]]:
    plan = plan_boot(memmap(*ranges), **kwargs)  # type: ignore[arg-type]
    return [(ld.start_pfn, ld.end_pfn, ld.free_list) for ld in plan.loads]


def test_small_vm_loads_low_memory_on_first16_and_the_rest_on_default() -> None:
    assert loads((0x0, 0x9FC00), (0x100000, 0x20000000)) == [
        (0x8, 0x9F, VM_FREELIST_FIRST16),
        (0x100, 0x1000, VM_FREELIST_FIRST16),
        (0x1000, 0x20000, VM_FREELIST_DEFAULT),
    ]


def test_lowmem_reservation_is_eight_pages_on_amd64_and_configurable() -> None:
    assert loads((0x0, 0x9F000))[0][0] == 8
    assert loads((0x0, 0x9F000), lowmem_rsvd_pages=6)[0][0] == 6
    # All of it lies below lowmem_rsvd; and with under 16 MiB every list folds into DEFAULT.
    assert loads((0x0, 0x5000), (0x100000, 0x200000)) == [(0x100, 0x200, VM_FREELIST_DEFAULT)]


def test_cluster_start_is_rounded_up_and_end_down_to_pages() -> None:
    plan = plan_boot(memmap((0x100800, 0x2007FF)))
    assert plan.clusters == [(0x101000, 0x200000)]
    assert plan.avail_end == 0x200000


def test_entry_smaller_than_a_page_or_rounding_to_nothing_is_skipped() -> None:
    plan = plan_boot(memmap((0x200000, 0x200800), (0x300800, 0x301800)))
    assert (plan.clusters, plan.loads, plan.warnings) == ([], [], [])


def test_entry_overlapping_the_isa_hole_is_split_around_it_with_a_warning() -> None:
    plan = plan_boot(memmap((0x0, 0x200000)))
    assert plan.clusters == [(0x0, 0xA0000), (0x100000, 0x200000)]
    assert len(plan.warnings) == 1
    assert "ISA hole [0xa0000-0x100000)" in plan.warnings[0]


def test_entry_starting_inside_the_isa_hole_keeps_only_what_lies_above_it() -> None:
    plan = plan_boot(memmap((0xC0000, 0x200000)))
    assert plan.clusters == [(0x100000, 0x200000)]


def test_only_memory_acpi_and_nvs_types_are_considered() -> None:
    plan = plan_boot(
        memmap(
            (0x100000, 0x200000, RangeKind.RESERVED),
            (0x200000, 0x300000, RangeKind.PERSISTENT),
            (0x300000, 0x400000, RangeKind.HOTPLUG),
            (0x400000, 0x500000, RangeKind.ACPI_NVS),
            (0x500000, 0x600000),
        )
    )
    assert plan.clusters == [(0x500000, 0x600000)]


def test_nested_iomem_ranges_are_ignored() -> None:
    nested = MemMap(
        (
            MemRange(0x100000, 0x400000, RangeKind.RESERVED),
            MemRange(0x100000, 0x200000, RAM, depth=1),
        ),
        "iomem",
    )
    assert plan_boot(nested).clusters == []


def test_acpi_entry_claims_iomem_so_an_overlapping_memory_entry_is_skipped() -> None:
    plan = plan_boot(memmap((0x1000000, 0x2000000, RangeKind.ACPI_DATA), (0x1800000, 0x3000000)))
    assert plan.clusters == []
    assert "overlaps an earlier entry" in plan.warnings[0]


def test_duplicate_entry_is_skipped() -> None:
    plan = plan_boot(memmap((0x100000, 0x200000), (0x100000, 0x200000)))
    assert plan.clusters == [(0x100000, 0x200000)]
    assert plan.warnings == ["skipping duplicate memory map entry [0x100000-0x200000) (type 1)"]


def test_iomem_extent_descriptors_run_out() -> None:
    ranges = [(0x100000 * i, 0x100000 * i + 0x80000) for i in range(1, 5)]
    plan = plan_boot(memmap(*ranges), iomem_regions=3)
    assert len(plan.clusters) == 3
    assert "3 region descriptors are used up" in plan.warnings[0]
    assert len(plan_boot(memmap(*ranges), iomem_regions=None).clusters) == 4


def test_only_the_part_below_iomem_end_is_claimed() -> None:
    plan = plan_boot(
        memmap((0xC0000000, 0x140000000), (0x100000000, 0x180000000)), iomem_end=1 << 32
    )
    assert plan.clusters == [(0xC0000000, 0x140000000), (0x100000000, 0x180000000)]


def test_entry_ending_above_maxphysmem_is_skipped_and_one_ending_there_loses_a_page() -> None:
    plan = plan_boot(memmap((0x100000, GIB), (GIB, 2 * GIB + 4096)), max_physmem=2 * GIB)
    assert plan.clusters == [(0x100000, GIB)]
    assert "above MAXPHYSMEM 0x80000000" in plan.warnings[0]
    plan = plan_boot(memmap((0x100000, 2 * GIB)), max_physmem=2 * GIB)
    assert plan.clusters == [(0x100000, 2 * GIB - 4096)]


def test_one_page_entry_ending_at_maxphysmem_vanishes() -> None:
    plan = plan_boot(memmap((GIB - 4096, GIB)), max_physmem=GIB)
    assert (plan.clusters, plan.warnings) == ([], [])


def test_too_many_clusters_stops_the_walk() -> None:
    plan = plan_boot(
        memmap((0x100000, 0x200000), (0x300000, 0x400000), (0x500000, 0x600000)), physseg_max=2
    )
    assert plan.clusters == [(0x100000, 0x200000), (0x300000, 0x400000)]
    assert "too many memory segments" in plan.warnings[0]
    assert "increase VM_PHYSSEG_MAX" in plan.warnings[0]


def test_too_many_clusters_inside_an_isa_hole_split_stops_the_walk() -> None:
    plan = plan_boot(memmap((0x0, 0x200000), (0x300000, 0x400000)), physseg_max=1)
    assert plan.clusters == [(0x0, 0xA0000)]
    assert len(plan.warnings) == 2


def test_more_loads_than_physseg_max_are_cut_with_a_warning() -> None:
    plan = plan_boot(memmap((0x100000, 8 * GIB)), physseg_max=2)
    assert len(plan.loads) == 2
    assert "NetBSD would panic at call 3" in plan.warnings[-1]


def test_free_lists_above_avail_end_fold_into_the_default_list() -> None:
    plan = plan_boot(memmap((0x100000, 512 * MIB)))
    assert plan.freelists == {
        "VM_FREELIST_DEFAULT": 0,
        "VM_FREELIST_FIRST4G": 0,
        "VM_FREELIST_FIRST1G": 0,
        "VM_FREELIST_FIRST16": 3,
    }


def test_a_list_whose_limit_equals_avail_end_is_kept() -> None:
    plan = plan_boot(memmap((0x100000, 4 * GIB)))
    assert plan.freelists["VM_FREELIST_FIRST4G"] == VM_FREELIST_FIRST4G
    assert [ld.free_list for ld in plan.loads] == [3, 2, 1]


def test_amd64_table_cuts_at_16m_1g_4g_64g_and_1t() -> None:
    assert loads((0x100000, 2048 * GIB), freelists=AMD64_FREELISTS) == [
        (0x100, 0x1000, 5),
        (0x1000, 0x40000, 4),
        (0x40000, 0x100000, 3),
        (0x100000, 0x1000000, 2),
        (0x1000000, 0x10000000, 1),
        (0x10000000, 0x20000000, 0),
    ]


def test_kernel_image_is_carved_out_of_the_cluster_holding_it() -> None:
    kernel = (0x200000, 0x1800000)
    assert loads((0x100000, GIB), kernel=kernel) == [
        (0x100, 0x200, VM_FREELIST_FIRST16),
        (0x1800, 0x40000, VM_FREELIST_FIRST1G),
    ]
    assert loads((0x200000, GIB), kernel=kernel) == [(0x1800, 0x40000, VM_FREELIST_FIRST1G)]
    assert loads((0x400000, GIB), kernel=kernel)[0] == (0x400, 0x1000, VM_FREELIST_FIRST16)


def test_eight_kib_pages() -> None:
    plan = plan_boot(
        memmap((0x101000, 0x200000), (0x2000000, 0x2001000), (0x2002000, 0x2006000)),
        page_shift=13,
    )
    assert plan.clusters == [(0x102000, 0x200000), (0x2002000, 0x2006000)]
    assert plan.loads[0].args() == (0x81, 0x100, 0x81, 0x100, VM_FREELIST_FIRST16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_shift": 11},
        {"page_shift": 25},
        {"freelists": FreeListTable((FreeList("D", 0, 0), FreeList("A", 1, 0x1800)), 2)},
        {"physseg_max": 0},
        {"lowmem_rsvd_pages": -1},
        {"max_physmem": 0},
        {"max_physmem": 4097},
        {"kernel": (0x200000, 0x200000)},
        {"kernel": (0x200800, 0x400000)},
        {"kernel": (0x200000, 0x400800)},
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        plan_boot(memmap((0x100000, 0x200000)), **kwargs)  # type: ignore[arg-type]


def test_physload_arguments_and_plan_summary() -> None:
    load = PhysLoad(0x100, 0x1000, 0x100, 0x1000, VM_FREELIST_FIRST16)
    assert load.args() == (0x100, 0x1000, 0x100, 0x1000, 3)
    assert load.npages == 0xF00
    plan = plan_boot(memmap((0x100000, 0x2000000)))
    assert plan.npages == 0x1F00
    assert plan.to_dict() == {
        "page_shift": 12,
        "avail_end": "0x2000000",
        "clusters": [["0x100000", "0x2000000"]],
        "loads": [
            {
                "start_pfn": "0x100",
                "end_pfn": "0x1000",
                "avail_start_pfn": "0x100",
                "avail_end_pfn": "0x1000",
                "free_list": 3,
            },
            {
                "start_pfn": "0x1000",
                "end_pfn": "0x2000",
                "avail_start_pfn": "0x1000",
                "avail_end_pfn": "0x2000",
                "free_list": 0,
            },
        ],
        "npages": 0x1F00,
        "freelists": {
            "VM_FREELIST_DEFAULT": 0,
            "VM_FREELIST_FIRST4G": 0,
            "VM_FREELIST_FIRST1G": 0,
            "VM_FREELIST_FIRST16": 3,
        },
        "warnings": [],
        "warning_counts": {},
    }


def test_freelist_tables_expose_their_entries() -> None:
    assert ATF_FREELISTS.default.index == VM_FREELIST_DEFAULT
    assert ATF_FREELISTS.by_name("VM_FREELIST_FIRST1G").index == VM_FREELIST_FIRST1G
    assert AMD64_FREELISTS.by_name("VM_FREELIST_FIRST1T").limit == 1 << 40
    with pytest.raises(KeyError):
        ATF_FREELISTS.by_name("VM_FREELIST_FIRST64G")


@pytest.mark.parametrize(
    ("entries", "nfreelist", "match"),
    [
        ((), 1, "default"),
        ((FreeList("A", 1, 16 * MIB),), 2, "default"),
        ((FreeList("D", 0, 0), FreeList("A", 1, MIB), FreeList("B", 2, GIB)), 3, "decreasing"),
        ((FreeList("D", 0, 0), FreeList("A", 1, 0)), 2, "positive"),
        ((FreeList("D", 0, 0), FreeList("A", 0, MIB)), 2, "distinct"),
        ((FreeList("D", 0, 0), FreeList("A", 2, MIB)), 2, "below 2"),
    ],
)
def test_freelist_table_validates_its_shape(
    entries: tuple[FreeList, ...], nfreelist: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        FreeListTable(entries, nfreelist)


@st.composite
def usable_maps(draw: st.DrawFn) -> MemMap:
    """Sorted, disjoint ranges (not page aligned), mostly usable, some ACPI/reserved."""
    cuts = sorted(draw(st.sets(st.integers(0, 1 << 41), min_size=2, max_size=16)))
    kinds = st.sampled_from([RAM, RAM, RAM, RangeKind.ACPI_NVS, RangeKind.RESERVED])
    ranges = [MemRange(a, b, draw(kinds)) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
    return MemMap(tuple(ranges), "test")


@settings(max_examples=150, deadline=None)
@given(usable_maps(), st.sampled_from([ATF_FREELISTS, AMD64_FREELISTS]))
def test_loads_are_disjoint_aligned_usable_and_on_the_right_free_list(
    memmap: MemMap, table: FreeListTable
) -> None:
    plan = plan_boot(memmap, freelists=table)
    usable = memmap.usable()
    previous_end = 0
    limits = sorted((e.limit, e.index) for e in table.entries[1:])
    for load in plan.loads:
        start, end = load.start_pfn << 12, load.end_pfn << 12
        assert start >= max(previous_end, 8 << 12)
        assert any(r.start <= start and end <= r.end for r in usable)
        assert not IOM_START <= start < IOM_STOP
        assert 0 <= load.free_list < table.nfreelist
        below = [limit for limit, index in limits if index == load.free_list]
        if below:
            lower = max([0] + [limit for limit, _ in limits if limit < below[0]])
            assert lower <= start and end <= below[0]
        previous_end = end
    if not plan.warnings:
        clusters_pages = sum((e - max(s, 8 << 12)) >> 12 for s, e in plan.clusters if e > 8 << 12)
        assert plan.npages == clusters_pages


IOM_START, IOM_STOP = 0xA0000, 0x100000


# --- many entries: counted warnings, indexed iomem claims ------------------------------------


def test_repeated_warnings_are_counted_in_one_line_naming_the_first() -> None:
    text = "".join(
        f"{i * 0x300000:08x}-{i * 0x300000 + 0x1FFFFF:08x} : System RAM\n" for i in range(1, 101)
    )
    plan = plan_boot(parse_iomem(text), iomem_regions=3)
    assert len(plan.clusters) == 3
    assert plan.warnings == [
        "97 entries skipped: the iomem extent's region descriptors are used up; first at "
        "line 4: cannot allocate memory map entry [0xc00000-0xe00000) (type 1) from the iomem "
        "extent: its 3 region descriptors are used up; skipped"
    ]
    assert plan.to_dict()["warning_counts"] == {"descriptors-used-up": 97}


def test_a_single_warning_names_its_line() -> None:
    lines = "00100000-001fffff : System RAM\n00200000-002fffff : reserved\n"
    plan = plan_boot(parse_iomem(lines + "00300000-003fffff : System RAM\n"), iomem_regions=1)
    assert plan.warnings == [
        "cannot allocate memory map entry [0x300000-0x400000) (type 1) from the iomem "
        "extent: its 1 region descriptors are used up; skipped (line 3)"
    ]


def naive_clusters(memmap: MemMap, iomem_regions: int | None) -> tuple[list[tuple[int, int]], int]:
    """x86_add_cluster written plainly (a list of claims searched linearly), for maps with no
    ISA-hole, MAXPHYSMEM or VM_PHYSSEG_MAX case: the clusters, and how many entries were
    skipped."""
    clusters: list[tuple[int, int]] = []
    claimed: list[tuple[int, int]] = []
    skipped = 0
    for r in memmap.ranges:
        bim = {RAM: 1, RangeKind.ACPI_DATA: 3, RangeKind.ACPI_NVS: 4}.get(r.kind)
        if bim is None or r.end - r.start < 4096:
            continue
        rounded = (-(-r.start // 4096) * 4096, r.end // 4096 * 4096)
        full = iomem_regions is not None and len(claimed) >= iomem_regions
        if rounded in clusters or full or any(r.start < e and s < r.end for s, e in claimed):
            skipped += 1
            continue
        claimed.append((r.start, r.end))
        if bim == 1 and rounded[0] < rounded[1]:
            clusters.append(rounded)
    return clusters, skipped


@st.composite
def overlapping_maps(draw: st.DrawFn) -> MemMap:
    """Ranges above 1 MiB that may overlap, repeat or nest, of a few kinds."""
    kinds = st.sampled_from([RAM, RAM, RangeKind.ACPI_DATA, RangeKind.RESERVED])
    ranges = []
    for _ in range(draw(st.integers(0, 40))):
        start = MIB + draw(st.integers(0, 64)) * 0x800
        ranges.append(MemRange(start, start + draw(st.integers(1, 32)) * 0x800, draw(kinds)))
    return MemMap(tuple(ranges), "test")


@settings(max_examples=200, deadline=None)
@given(overlapping_maps(), st.sampled_from([None, 1, 3, 64]))
def test_clusters_and_skips_match_a_plain_x86_add_cluster(
    memmap: MemMap, iomem_regions: int | None
) -> None:
    plan = plan_boot(memmap, physseg_max=1000, iomem_regions=iomem_regions)
    clusters, skipped = naive_clusters(memmap, iomem_regions)
    assert plan.clusters == clusters
    assert sum(n.count for n in plan.notices) == skipped
