"""The memory-map record types: MemRange, MemMap, classify_label and MemMapParseError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.memmap import (
    MemMap,
    MemMapParseError,
    MemRange,
    RangeKind,
    RangeTable,
    classify_label,
)

RAM = RangeKind.USABLE


def test_range_is_end_exclusive_and_reports_its_size() -> None:
    rng = MemRange(0x1000, 0x3000, RAM, "System RAM")
    assert rng.size == 0x2000
    assert str(rng) == "[0x1000-0x3000) usable 'System RAM'"


@pytest.mark.parametrize(
    ("start", "end", "depth"),
    [(0x2000, 0x2000, 0), (0x2000, 0x1000, 0), (-1, 0x1000, 0), (0, 2**64 + 1, 0), (0, 1, -1)],
)
def test_range_refuses_empty_reversed_negative_or_oversized(
    start: int, end: int, depth: int
) -> None:
    with pytest.raises(ValueError, match="bad"):
        MemRange(start, end, RAM, depth=depth)


def test_range_may_end_at_the_top_of_64_bit_space() -> None:
    assert MemRange(2**64 - 4096, 2**64, RAM).size == 4096


def test_range_is_immutable() -> None:
    rng = MemRange(0, 4096, RAM)
    with pytest.raises(AttributeError):
        rng.start = 1  # type: ignore[misc]


def test_usable_merges_overlapping_and_touching_ranges_in_address_order() -> None:
    memmap = MemMap(
        (
            MemRange(0x5000, 0x6000, RAM),
            MemRange(0x0, 0x2000, RAM),
            MemRange(0x2000, 0x3000, RAM),
            MemRange(0x1000, 0x1800, RAM, depth=1),
            MemRange(0x3000, 0x5000, RangeKind.RESERVED),
        ),
        "test",
    )
    assert [(r.start, r.end) for r in memmap.usable()] == [(0x0, 0x3000), (0x5000, 0x6000)]
    assert {r.label for r in memmap.usable()} == {"usable"}
    assert memmap.total_usable == 0x4000


def test_hotplug_merges_only_hotplug_ranges() -> None:
    memmap = MemMap(
        (
            MemRange(0x0, 0x1000, RAM),
            MemRange(0x4000, 0x6000, RangeKind.HOTPLUG),
            MemRange(0x2000, 0x5000, RangeKind.HOTPLUG),
        ),
        "test",
    )
    assert [(r.start, r.end) for r in memmap.hotplug()] == [(0x2000, 0x6000)]
    assert memmap.total_usable == 0x1000


def test_to_dict_gives_hex_addresses_and_the_usable_summary() -> None:
    memmap = MemMap((MemRange(0x1000, 0x2000, RAM, "usable"),), "e820", "x.log")
    assert memmap.to_dict() == {
        "format": "e820",
        "source": "x.log",
        "ranges": [
            {"start": "0x1000", "end": "0x2000", "kind": "usable", "label": "usable", "depth": 0}
        ],
        "usable": [["0x1000", "0x2000"]],
        "total_usable": 0x1000,
    }


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("usable", RangeKind.USABLE),
        ("System RAM", RangeKind.USABLE),
        ("kernel usable RAM", RangeKind.USABLE),
        ("reserved", RangeKind.RESERVED),
        ("Reserved", RangeKind.RESERVED),
        ("device reserved", RangeKind.RESERVED),
        ("soft reserved", RangeKind.SOFT_RESERVED),
        ("Soft Reserved", RangeKind.SOFT_RESERVED),
        ("ACPI data", RangeKind.ACPI_DATA),
        ("ACPI Tables", RangeKind.ACPI_DATA),
        ("ACPI NVS", RangeKind.ACPI_NVS),
        ("ACPI Non-volatile Storage", RangeKind.ACPI_NVS),
        ("unusable", RangeKind.UNUSABLE),
        ("Unusable memory", RangeKind.UNUSABLE),
        ("persistent (type 12)", RangeKind.PERSISTENT),
        ("persistent RAM (type 7)", RangeKind.PERSISTENT),
        ("Persistent Memory (legacy)", RangeKind.PERSISTENT),
        ("System RAM (virtio_mem)", RangeKind.HOTPLUG),
        ("System RAM (kmem)", RangeKind.HOTPLUG),
        ("System  RAM", RangeKind.USABLE),
        ("type 20", RangeKind.OTHER),
        ("Kernel code", RangeKind.OTHER),
        ("", RangeKind.OTHER),
    ],
)
def test_classify_label_knows_the_linux_type_names(label: str, kind: RangeKind) -> None:
    assert classify_label(label) is kind


def test_parse_error_message_names_source_line_reason_and_text() -> None:
    error = MemMapParseError("iomem.txt", 7, "zz-00 : x", "not an entry")
    assert str(error) == "iomem.txt:7: not an entry: zz-00 : x"
    assert (error.source, error.line_no, error.line_text, error.reason) == (
        "iomem.txt",
        7,
        "zz-00 : x",
        "not an entry",
    )
    assert isinstance(error, ValueError)


def test_whole_input_parse_error_has_no_line_part() -> None:
    assert str(MemMapParseError("<string>", 0, "", "no entries")) == "<string>: no entries"


def test_package_docstring_example_runs() -> None:
    import doctest

    import physseg.memmap

    result = doctest.testmod(physseg.memmap)
    assert (result.attempted, result.failed) == (2, 0)


# --- the compact table and the vectorised merge -----------------------------------------------


def naive_merge(ranges: list[MemRange]) -> list[tuple[int, int]]:
    """Overlapping or touching ranges merged, the plain way."""
    merged: list[tuple[int, int]] = []
    for r in sorted(ranges, key=lambda r: (r.start, r.end)):
        if merged and r.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], r.end))
        else:
            merged.append((r.start, r.end))
    return merged


KINDS = st.sampled_from([RAM, RAM, RangeKind.HOTPLUG, RangeKind.RESERVED])
ENDS = st.integers(0, 2**64).flatmap(
    lambda a: st.integers(0, 2**64).map(lambda b: (min(a, b), max(a, b)))
)
SMALL = st.integers(0, 64).flatmap(lambda a: st.integers(a + 1, a + 16).map(lambda b: (a, b)))
RANGES = st.lists(
    st.tuples((SMALL | ENDS).filter(lambda se: se[0] < se[1]), KINDS, st.text(max_size=3)),
    max_size=30,
).map(lambda rows: [MemRange(s, e, kind, label) for (s, e), kind, label in rows])


@settings(max_examples=300, deadline=None)
@given(RANGES)
def test_the_table_keeps_every_range_and_the_merge_matches_a_plain_one(
    ranges: list[MemRange],
) -> None:
    memmap = MemMap(tuple(ranges), "test")
    assert list(memmap.ranges) == ranges
    assert len(memmap.ranges) == len(ranges)
    usable = [r for r in ranges if r.kind is RAM]
    hotplug = [r for r in ranges if r.kind is RangeKind.HOTPLUG]
    assert [(r.start, r.end) for r in memmap.usable()] == naive_merge(usable)
    assert [(r.start, r.end) for r in memmap.hotplug()] == naive_merge(hotplug)
    assert memmap.total_usable == sum(e - s for s, e in naive_merge(usable))
    assert memmap.total_hotplug == sum(e - s for s, e in naive_merge(hotplug))


def test_the_table_reads_rows_slices_and_lines_without_building_ranges() -> None:
    table = RangeTable()
    table.append(0, 2**64, RAM, "all", line_no=9)
    table.add(MemRange(0x1000, 0x2000, RangeKind.OTHER, "PCI", depth=1), 10)
    assert list(table.rows()) == [(0, 2**64, RAM, 0, 9), (0x1000, 0x2000, RangeKind.OTHER, 1, 10)]
    assert table[-1] == MemRange(0x1000, 0x2000, RangeKind.OTHER, "PCI", depth=1)
    assert table[:1] == (MemRange(0, 2**64, RAM, "all"),)
    assert (table.line_no(0), table.line_no(1)) == (9, 10)
    with pytest.raises(ValueError, match="bad range"):
        table.append(5, 5, RAM)
    assert len(table) == 2


def test_parse_error_quotes_its_line_escaped_and_cut() -> None:
    error = MemMapParseError("m\x1b]0;x\x07", 3, "\x1b[2J" + "x" * 500, "bad")
    assert "\x1b" not in str(error) and "\x07" not in str(error)
    assert error.line_text == "\\x1b[2J" + "x" * 193 + "... (504 bytes)"
    assert str(error).startswith("m\\x1b]0;x\\x07:3: bad: \\x1b[2J")
