"""The shipped sample maps against their golden files (tests/golden/memmap/<name>.json: the
parsed ranges and the boot plans with the ATF and the amd64 free-list tables), plus the facts
about each sample that were worked out by hand from NetBSD's rules.

Regenerate the golden files after an intended change with
``PHYSSEG_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_memmap_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from physseg.memmap import (
    AMD64_FREELISTS,
    RangeKind,
    SampleMap,
    list_sample_maps,
    load_map,
    parse_e820,
    plan_boot,
)
from physseg.memmap.samples import find_sample_map, sample_map_text

GOLDEN = Path(__file__).parent / "golden" / "memmap"
GIB = 1 << 30


def describe(sample: SampleMap) -> dict[str, object]:
    memmap = load_map(sample.name)
    return {
        "sample": sample.name,
        "file": sample.filename,
        "map": memmap.to_dict(),
        "boot_plan": plan_boot(memmap).to_dict(),
        "boot_plan_amd64": plan_boot(memmap, freelists=AMD64_FREELISTS).to_dict(),
    }


@pytest.mark.parametrize("sample", list_sample_maps(), ids=lambda s: s.name)
def test_sample_matches_its_golden_file(sample: SampleMap) -> None:
    path = GOLDEN / f"{sample.name}.json"
    got = describe(sample)
    if os.environ.get("PHYSSEG_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=2) + "\n")
    assert json.loads(path.read_text()) == got


def pfn_loads(name: str, **kwargs: object) -> list[tuple[int, int, int]]:
    plan = plan_boot(load_map(name), **kwargs)  # type: ignore[arg-type]
    return [(ld.start_pfn, ld.end_pfn, ld.free_list) for ld in plan.loads]


def test_qemu_guest_has_two_usable_ranges_and_three_loads() -> None:
    memmap = load_map("qemu-512m")
    assert len(memmap.ranges) == 7
    assert memmap.total_usable == 0x9FC00 + (0x1FFE0000 - 0x100000)
    assert pfn_loads("qemu-512m") == [(0x8, 0x9F, 3), (0x100, 0x1000, 3), (0x1000, 0x1FFE0, 0)]


def test_qemu_guest_kernel_view_applies_linux_edits() -> None:
    sample = find_sample_map("qemu-512m")
    assert sample is not None
    memmap = parse_e820(sample_map_text(sample), view="kernel")
    assert (memmap.ranges[0].start, memmap.ranges[0].end) == (0, 0x1000)
    assert memmap.ranges[0].kind is RangeKind.RESERVED


def test_desktop_loads_below_4g_on_the_dma_lists_and_the_remap_on_default() -> None:
    memmap = load_map("desktop-16g")
    assert 15.9 * GIB < memmap.total_usable < 16 * GIB
    assert pfn_loads("desktop-16g") == [
        (0x8, 0x9F, 3),
        (0x100, 0x1000, 3),
        (0x1000, 0x40000, 2),
        (0x40400, 0x8A71F, 1),
        (0x8A721, 0x8B4B2, 1),
        (0x8E7FF, 0x8E800, 1),
        (0x100000, 0x46F800, 0),
    ]


def test_server_map_crosses_one_tebibyte_and_uses_every_amd64_list() -> None:
    memmap = load_map("server-1t")
    assert memmap.total_usable > 1024 * GIB
    assert [r.kind for r in memmap.ranges].count(RangeKind.PERSISTENT) == 1
    assert pfn_loads("server-1t", freelists=AMD64_FREELISTS) == [
        (0x8, 0x9C, 5),
        (0x100, 0x1000, 5),
        (0x1000, 0x40000, 4),
        (0x40000, 0x5B6FF, 3),
        (0x6D2FF, 0x6F800, 3),
        (0x100000, 0x1000000, 2),
        (0x1000000, 0x8080000, 1),
        (0x9000000, 0x10000000, 1),
        (0x10000000, 0x11080000, 0),
    ]


def test_hotplug_guest_boots_on_its_online_blocks_only() -> None:
    memmap = load_map("vm-hotplug")
    assert memmap.total_usable == 4 * GIB + GIB // 2
    assert [(r.start, r.end) for r in memmap.hotplug()] == [(0x160000000, 0x180000000)]
    plan = plan_boot(memmap)
    assert len(plan.warnings) == 1  # the first block spans the ISA hole
    assert plan.avail_end == 0x160000000


def test_netbsd_sample_total_matches_what_netbsd_printed() -> None:
    plan = plan_boot(load_map("netbsd-uefi-8g"), lowmem_rsvd_pages=0)
    assert (plan.npages << 12) >> 20 == 8170  # "total memory = 8170 MB"
    assert len(plan.loads) == 6


def test_freebsd_sample_sums_its_chunks() -> None:
    memmap = load_map("freebsd-32g")
    assert memmap.total_usable == 34202599424
    assert pfn_loads("freebsd-32g")[-1] == (0x100000, 0x86EFD1, 0)
