"""Each memory-map parser: what it accepts, what it returns, and how it reports bad input
(always MemMapParseError with the source, line number and line text)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from physseg.memmap import (
    MemMap,
    MemMapParseError,
    RangeKind,
    parse_e820,
    parse_freebsd,
    parse_iomem,
    parse_lsmem,
    parse_netbsd,
    parse_sysfs_memmap,
    parse_sysfs_memmap_dir,
)

Parser = Callable[[str, str], MemMap]


def spans(memmap: MemMap) -> list[tuple[int, int, RangeKind]]:
    return [(r.start, r.end, r.kind) for r in memmap.ranges]


def parse_error(parser: Parser, text: str) -> MemMapParseError:
    with pytest.raises(MemMapParseError) as info:
        parser(text, "in.txt")
    assert info.value.source == "in.txt"
    return info.value


def assert_line_error(parser: Parser, text: str, line_no: int, reason: str) -> None:
    error = parse_error(parser, text)
    assert error.line_no == line_no
    assert error.line_text == text.split("\n")[line_no - 1]
    assert reason in error.reason
    assert str(error).startswith(f"in.txt:{line_no}: ")


# --- /proc/iomem ---------------------------------------------------------------------------

IOMEM = """\
00000000-00000fff : Reserved
00001000-0009ffff : System RAM
000a0000-000fffff : PCI Bus 0000:00
00100000-bfffffff : System RAM
  01000000-01e0ffff : Kernel code
  01e10000-0257ffff : Kernel data
c0000000-c0000fff : ACPI Tables
100000000-13fffffff : System RAM
140000000-33fffffff : virtio0
  140000000-1bfffffff : System RAM (virtio_mem)
"""


def test_iomem_keeps_every_entry_with_its_depth_and_inclusive_end_made_exclusive() -> None:
    memmap = parse_iomem(IOMEM, "iomem")
    assert memmap.format == "iomem"
    assert memmap.source == "iomem"
    assert [(r.start, r.end, r.depth, r.label) for r in memmap.ranges][:5] == [
        (0x0, 0x1000, 0, "Reserved"),
        (0x1000, 0xA0000, 0, "System RAM"),
        (0xA0000, 0x100000, 0, "PCI Bus 0000:00"),
        (0x100000, 0xC0000000, 0, "System RAM"),
        (0x1000000, 0x1E10000, 1, "Kernel code"),
    ]


def test_iomem_usable_is_system_ram_and_driver_managed_ram_is_hotplug() -> None:
    memmap = parse_iomem(IOMEM)
    assert [(r.start, r.end) for r in memmap.usable()] == [
        (0x1000, 0xA0000),
        (0x100000, 0xC0000000),
        (0x100000000, 0x140000000),
    ]
    assert [(r.start, r.end) for r in memmap.hotplug()] == [(0x140000000, 0x1C0000000)]
    assert memmap.ranges[-1].depth == 1
    assert memmap.ranges[2].kind is RangeKind.OTHER
    assert memmap.ranges[6].kind is RangeKind.ACPI_DATA


def test_iomem_dax_kmem_two_levels_down_is_hotplug() -> None:
    text = (
        "1080000000-10ffffffff : Soft Reserved\n"
        "  1080000000-10ffffffff : dax0.0\n"
        "    1080000000-10ffffffff : System RAM (kmem)\n"
    )
    memmap = parse_iomem(text)
    assert [r.kind for r in memmap.ranges] == [
        RangeKind.SOFT_RESERVED,
        RangeKind.OTHER,
        RangeKind.HOTPLUG,
    ]
    assert memmap.ranges[2].depth == 2


def test_iomem_skips_blank_lines_and_comments_and_accepts_an_empty_name() -> None:
    memmap = parse_iomem("# captured as root\n\n00000000-00000fff :\n")
    assert [(r.start, r.end, r.label) for r in memmap.ranges] == [(0, 0x1000, "")]


def test_iomem_read_without_root_is_refused_with_advice() -> None:
    text = "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n"
    error = parse_error(parse_iomem, text)
    assert error.line_no == 1
    assert "root" in error.reason
    assert "CAP_SYS_ADMIN" in error.reason


@pytest.mark.parametrize(
    ("text", "line_no", "reason"),
    [
        ("00000000-00000fff : Reserved\nSystem RAM\n", 2, "not a /proc/iomem entry"),
        ("00000000-00000fff : a\n 00000000-000000ff : b\n", 2, "odd indentation"),
        ("00000000-00000fff : a\n    00000000-000000ff : b\n", 2, "more than one level"),
        ("  00000000-00000fff : a\n", 1, "more than one level"),
        ("00001000-00001fff : a\n  00000000-00001fff : b\n", 2, "not inside its parent"),
        ("00001000-00001fff : a\n  00001000-00002fff : b\n", 2, "not inside its parent"),
        ("00000000-00000fff : a\n00000800-00001fff : b\n", 2, "overlaps or precedes"),
        ("00002000-00002fff : a\n00000000-00000fff : b\n", 2, "overlaps or precedes"),
        ("00002000-00000fff : a\n", 1, "empty or reversed"),
        ("10000000000000000-10000000000000fff : a\n", 1, "64 bits"),
    ],
)
def test_iomem_malformed_lines_are_reported_with_number_and_text(
    text: str, line_no: int, reason: str
) -> None:
    assert_line_error(parse_iomem, text, line_no, reason)


def test_iomem_siblings_are_checked_per_parent() -> None:
    text = (
        "00000000-00000fff : a\n"
        "  00000800-00000fff : a1\n"
        "00001000-00001fff : b\n"
        "  00001000-000017ff : b1\n"
    )
    assert [r.depth for r in parse_iomem(text).ranges] == [0, 1, 0, 1]


def test_iomem_without_entries_is_an_error_for_the_whole_input() -> None:
    error = parse_error(parse_iomem, "# nothing\n")
    assert error.line_no == 0
    assert "no /proc/iomem entries" in error.reason


# --- /sys/firmware/memmap --------------------------------------------------------------------

SYSFS = """\
/sys/firmware/memmap/10/end:0x13fffffff
/sys/firmware/memmap/10/start:0x100000000
/sys/firmware/memmap/10/type:System RAM
/sys/firmware/memmap/0/type:System RAM
/sys/firmware/memmap/0/start:0x0
/sys/firmware/memmap/0/end:0x9fbff
/sys/firmware/memmap/2/start:0xf0000
/sys/firmware/memmap/2/end:0xfffff
/sys/firmware/memmap/2/type:reserved
"""


def test_sysfs_text_orders_entries_by_index_whatever_the_line_order() -> None:
    memmap = parse_sysfs_memmap(SYSFS)
    assert memmap.format == "sysfs"
    assert spans(memmap) == [
        (0x0, 0x9FC00, RangeKind.USABLE),
        (0xF0000, 0x100000, RangeKind.RESERVED),
        (0x100000000, 0x140000000, RangeKind.USABLE),
    ]


def test_sysfs_text_accepts_relative_paths_and_comments() -> None:
    memmap = parse_sysfs_memmap("# grep -r . .\n0/start:0x1000\n0/end:0x1fff\n0/type:ACPI Tables\n")
    assert spans(memmap) == [(0x1000, 0x2000, RangeKind.ACPI_DATA)]


@pytest.mark.parametrize(
    ("text", "line_no", "reason"),
    [
        ("0/start:0x0\n0/size:0x10\n", 2, "not a '<path>/<N>/"),
        ("0/start:0x0\n0/start:0x10\n", 2, "twice"),
        ("0/start:0x0\n0/type:System RAM\n", 1, "has no 'end'"),
        ("0/start:zero\n0/end:0xfff\n0/type:System RAM\n", 1, "not a 0x hex number"),
        ("0/start:0x2000\n0/end:0xfff\n0/type:System RAM\n", 2, "below start"),
        ("0/start:0x0\n0/end:0x10000000000000000\n0/type:x\n", 2, "beyond 64 bits"),
        ("0/start:0x0\n0/end:0xfff\n0/type: \n", 3, "empty 'type'"),
        ("0/start:0x0\n0/end:0xfff\n0/type:x\n0/end:0xfff\n", 4, "entry 0 has 'end' twice"),
        ("1/start:0x0\n1/end:0xfff\n1/type:x\n1/type:x\n1/end:0xf\n", 4, "has 'type' twice"),
        ("0/start:0x0\n0/end:0xfff\n0/type:x\n" * 2, 4, "entry 0 has 'start' twice"),
        ("12345678901234567890/start:0x0\n", 1, "entry number of more than 19 digits"),
    ],
)
def test_sysfs_text_malformed_input_is_reported_with_number_and_text(
    text: str, line_no: int, reason: str
) -> None:
    assert_line_error(parse_sysfs_memmap, text, line_no, reason)


def test_sysfs_text_without_entries_is_an_error() -> None:
    assert parse_error(parse_sysfs_memmap, "\n").line_no == 0


def make_sysfs_dir(root: Path, entries: dict[str, tuple[str, str, str]]) -> Path:
    for name, (start, end, kind) in entries.items():
        (root / name).mkdir()
        (root / name / "start").write_text(start + "\n")
        (root / name / "end").write_text(end + "\n")
        (root / name / "type").write_text(kind + "\n")
    return root


def test_sysfs_directory_is_read_in_numeric_order(tmp_path: Path) -> None:
    make_sysfs_dir(
        tmp_path,
        {
            "10": ("0x100000000", "0x13fffffff", "System RAM"),
            "9": ("0x100000", "0xbfffffff", "System RAM"),
        },
    )
    memmap = parse_sysfs_memmap_dir(tmp_path)
    assert memmap.source == str(tmp_path)
    assert [(r.start, r.end) for r in memmap.ranges] == [
        (0x100000, 0xC0000000),
        (0x100000000, 0x140000000),
    ]


def test_sysfs_directory_error_names_the_bad_file(tmp_path: Path) -> None:
    make_sysfs_dir(tmp_path, {"0": ("0x0", "0xfffff", "System RAM"), "1": ("x", "0x1", "a")})
    with pytest.raises(MemMapParseError) as info:
        parse_sysfs_memmap_dir(tmp_path)
    assert info.value.source == str(tmp_path / "1" / "start")
    assert (info.value.line_no, info.value.line_text) == (1, "x")


def test_sysfs_directory_refuses_stray_entries_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("x")
    with pytest.raises(MemMapParseError, match="unexpected entry 'notes'"):
        parse_sysfs_memmap_dir(tmp_path)
    (tmp_path / "notes").unlink()
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "start").write_text("0x0")
    with pytest.raises(MemMapParseError, match="missing file 'end'"):
        parse_sysfs_memmap_dir(tmp_path)


def test_sysfs_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MemMapParseError, match="no /sys/firmware/memmap entries"):
        parse_sysfs_memmap_dir(tmp_path)


# --- lsmem -----------------------------------------------------------------------------------

LSMEM = """\
RANGE                                  SIZE   STATE REMOVABLE BLOCK NODE
0x0000000000000000-0x000000007fffffff    2G  online        no  0-15    0
0x0000000100000000-0x000000010fffffff  256M offline           32-33    0
0x0000000110000000-0x0000000117ffffff  128M  on->off       yes    34    0
0x0000000118000000-0x000000011fffffff  128M       ?               35    0

Memory block size:       128M
Total online memory:       2G
Total offline memory:    512M
"""


def test_lsmem_reads_rows_by_value_even_with_a_blank_removable_cell() -> None:
    memmap = parse_lsmem(LSMEM)
    assert memmap.format == "lsmem"
    assert spans(memmap) == [
        (0x0, 0x80000000, RangeKind.USABLE),
        (0x100000000, 0x110000000, RangeKind.HOTPLUG),
        (0x110000000, 0x118000000, RangeKind.HOTPLUG),
        (0x118000000, 0x120000000, RangeKind.OTHER),
    ]
    assert [r.label for r in memmap.ranges] == ["online", "offline", "on->off", "?"]


def test_lsmem_header_and_summary_are_optional() -> None:
    memmap = parse_lsmem("0x0000000000000000-0x000000007fffffff 2G online yes 0-15\n")
    assert memmap.total_usable == 0x80000000


def test_lsmem_accepts_bytes_summary_and_reordered_columns() -> None:
    text = (
        "STATE RANGE SIZE\n"
        "online 0x0000000000000000-0x0000000007ffffff 134217728\n\n"
        "Memory block size:           134217728\n"
        "Total online memory:         134217728\n"
        "Total offline memory:                0\n"
    )
    assert parse_lsmem(text).total_usable == 0x8000000


@pytest.mark.parametrize(
    ("text", "line_no", "reason"),
    [
        ("RANGE SIZE BLOCK\n", 1, "name RANGE and STATE"),
        ("RANGE STATE COLOUR\n", 1, "name RANGE and STATE"),
        ("0x0-0xfff online\nRANGE STATE\n", 2, "header must come first"),
        ("RANGE STATE\nRANGE STATE\n", 2, "header must come first"),
        ("0x0000000000000000-0x0000000007ffffff 128M\n", 1, "not an lsmem row"),
        ("0x0-0xfff online offline\n", 1, "not an lsmem row"),
        ("0x0-0xfff 0x1000-0x1fff online\n", 1, "not an lsmem row"),
        ("Memory block size:  lots\n", 1, "not an lsmem row"),
        ("0x2000-0xfff online\n", 1, "empty or reversed"),
        ("0x1000-0x1fff online\n0x0-0x17ff online\n", 2, "overlaps or precedes"),
    ],
)
def test_lsmem_malformed_lines_are_reported_with_number_and_text(
    text: str, line_no: int, reason: str
) -> None:
    assert_line_error(parse_lsmem, text, line_no, reason)


def test_lsmem_summary_only_is_an_error() -> None:
    error = parse_error(parse_lsmem, "Memory block size: 128M\nTotal online memory: 4G\n")
    assert (error.line_no, error.reason) == (0, "no lsmem rows")


# --- Linux dmesg e820 ------------------------------------------------------------------------

CLASSIC = """\
[    0.000000] Linux version 6.1.0 (gcc 12)
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved
[    0.000000] BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable
[    0.000000] BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] ACPI data
[    0.000000] BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] ACPI NVS
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff] persistent (type 12)
[    0.000000] BIOS-e820: [mem 0x0000000180000000-0x00000001ffffffff] type 20
[    0.004420] RAMDISK: [mem 0x1f5e8000-0x1fbfffff]
[    0.004997]   node   0: [mem 0x0000000000001000-0x000000000009efff]
[    0.005001] Initmem setup node 0 [mem 0x0000000000001000-0x000000007ffdffff]
[    0.040120] e820: [mem 0x80000000-0xfebfffff] available for PCI devices
[    0.040121] [mem 0x80000000-0xfebfffff] available for PCI devices
"""


def test_e820_classic_table_with_timestamps_and_noise() -> None:
    memmap = parse_e820(CLASSIC)
    assert memmap.format == "e820"
    assert spans(memmap) == [
        (0x0, 0x9FC00, RangeKind.USABLE),
        (0x9FC00, 0xA0000, RangeKind.RESERVED),
        (0xF0000, 0x100000, RangeKind.RESERVED),
        (0x100000, 0x7FFE0000, RangeKind.USABLE),
        (0x7FFE0000, 0x80000000, RangeKind.ACPI_DATA),
        (0xFFFC0000, 0x100000000, RangeKind.ACPI_NVS),
        (0x100000000, 0x180000000, RangeKind.PERSISTENT),
        (0x180000000, 0x200000000, RangeKind.OTHER),
    ]
    assert memmap.ranges[-1].label == "type 20"


def test_e820_without_timestamps_and_with_log_prefixes() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
        "Dec 14 10:00:00 host kernel: BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff]"
        " usable\n"
        "<6>[    0.000000] BIOS-e820: [mem 0x0000000000200000-0x00000000002fffff] usable\n"
        "kern  :info  : [Sat Dec 14 10:00:00 2025] BIOS-e820: "
        "[mem 0x0000000000300000-0x00000000003fffff] usable\n"
        "2025-12-14T10:00:00+01:00 host kernel: BIOS-e820: "
        "[mem 0x0000000000400000-0x00000000004fffff] usable\n"
    )
    assert [r.start for r in parse_e820(text).ranges] == [
        0x0,
        0x100000,
        0x200000,
        0x300000,
        0x400000,
    ]


NEW_LAYOUT = """\
BIOS-provided physical RAM map:
BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]  639.0 KB System RAM
BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff]    1.0 KB device reserved
BIOS-e820: [gap 0x00000000000a0000-0x00000000000effff]
BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff]   64   KB device reserved
BIOS-e820: [mem 0x0000000000100000-0x000000007ffdbfff]    1.9 GB System RAM
[Firmware Bug]: out of order E820 entry!
BIOS-e820: [gap 0x000000007ffdc000-0x00000000fffbffff]    2.0 GB ...
BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff]  256   KB soft reserved
BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff]    2   GB persistent RAM (type 7)
"""


def test_e820_new_layout_with_sizes_gaps_and_system_ram() -> None:
    memmap = parse_e820(NEW_LAYOUT)
    assert spans(memmap) == [
        (0x0, 0x9FC00, RangeKind.USABLE),
        (0x9FC00, 0xA0000, RangeKind.RESERVED),
        (0xF0000, 0x100000, RangeKind.RESERVED),
        (0x100000, 0x7FFDC000, RangeKind.USABLE),
        (0xFFFC0000, 0x100000000, RangeKind.SOFT_RESERVED),
        (0x100000000, 0x180000000, RangeKind.PERSISTENT),
    ]
    assert memmap.ranges[0].label == "System RAM"


def test_e820_size_column_may_use_decimal_units() -> None:
    text = "BIOS-e820: [mem 0x0000000000000000-0x000000003b9ac9ff]    1.0 GB usable\n"
    assert parse_e820(text).total_usable == 1_000_000_000


def test_e820_pre_3x_layout_has_exclusive_ends() -> None:
    text = (
        " BIOS-e820: 0000000000000000 - 000000000009f400 (usable)\n"
        " BIOS-e820: 00000000000f0000 - 0000000000100000 (reserved)\n"
        " BIOS-e820: 0000000000100000 - 000000003fff0000 (usable)\n"
        " BIOS-e820: 000000003fff0000 - 0000000040000000 type 9\n"
    )
    assert spans(parse_e820(text)) == [
        (0x0, 0x9F400, RangeKind.USABLE),
        (0xF0000, 0x100000, RangeKind.RESERVED),
        (0x100000, 0x3FFF0000, RangeKind.USABLE),
        (0x3FFF0000, 0x40000000, RangeKind.OTHER),
    ]


def test_e820_crypto_capable_suffix_keeps_the_type() -> None:
    text = "BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff] usable; crypto-capable\n"
    rng = parse_e820(text).ranges[0]
    assert (rng.kind, rng.label) == (RangeKind.USABLE, "usable; crypto-capable")


EDITED = """\
BIOS-provided physical RAM map:
BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable
BIOS-e820: [mem 0x0000000000100000-0x000000003fffffff] usable
BIOS-e820: [mem 0x0000000040000000-0x0000000040000fff] type 20
e820: update [mem 0x3ff00000-0x3fffffff] usable ==> reserved
user-defined physical RAM map:
user: [mem 0x0000000000000000-0x000000000009ffff] usable
user: [mem 0x0000000000100000-0x000000001fffffff] usable
e820: update [mem 0x00000000-0x00000fff] usable ==> reserved
e820: remove [mem 0x000a0000-0x000fffff] usable
e820: update [mem 0x40000000-0x40000fff] type 20 ==> usable
e820: update [mem 0x1ff00000-0x1fffffff] reserved ==> usable
e820 remove range: 000000001fe00000 - 000000001ff00000 (usable)
"""


def test_e820_firmware_view_is_the_last_unedited_table() -> None:
    memmap = parse_e820(EDITED)
    assert spans(memmap) == [
        (0x0, 0xA0000, RangeKind.USABLE),
        (0x100000, 0x40000000, RangeKind.USABLE),
        (0x40000000, 0x40001000, RangeKind.OTHER),
    ]


def test_e820_kernel_view_replays_the_edits_after_the_last_table() -> None:
    memmap = parse_e820(EDITED, view="kernel")
    assert spans(memmap) == [
        (0x0, 0x1000, RangeKind.RESERVED),
        (0x1000, 0xA0000, RangeKind.USABLE),
        (0x100000, 0x1FE00000, RangeKind.USABLE),
        (0x1FF00000, 0x20000000, RangeKind.USABLE),
    ]


def test_e820_kernel_view_remove_without_type_drops_every_kind() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] reserved\n"
        "BIOS-e820: [mem 0x0000000000001000-0x0000000000004fff] usable\n"
        "e820: remove [mem 0x00000000-0x00001fff]\n"
        "e820: update [mem 0x00003000-0x00003fff] type 20 ==> reserved\n"
        "e820: update [mem 0x00004000-0x00004fff] (usable) ==> (type 21)\n"
    )
    memmap = parse_e820(text, view="kernel")
    assert spans(memmap) == [
        (0x2000, 0x4000, RangeKind.USABLE),
        (0x4000, 0x5000, RangeKind.OTHER),
    ]
    assert memmap.ranges[1].label == "type 21"


def test_e820_other_kinds_match_edits_by_label() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] type 20\n"
        "e820: update [mem 0x00000000-0x00000fff] Type 20 ==> usable\n"
    )
    assert spans(parse_e820(text, view="kernel")) == [(0, 0x1000, RangeKind.USABLE)]


def test_e820_modified_and_setup_data_tables_are_kernel_tables() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x000000007fffffff] usable\n"
        "modified physical RAM map:\n"
        "modified: [mem 0x0000000000000000-0x0000000000000fff] reserved\n"
        "modified: [mem 0x0000000000001000-0x000000007fffffff] usable\n"
        "extended physical RAM map:\n"
        "reserve setup_data: [mem 0x0000000000000000-0x0000000000000fff] reserved\n"
        "reserve setup_data: [mem 0x0000000000001000-0x0000000000003fff] usable\n"
        "reserve setup_data: [mem 0x0000000000004000-0x000000007fffffff] usable\n"
    )
    assert len(parse_e820(text).ranges) == 1
    assert len(parse_e820(text, view="kernel").ranges) == 3


def test_e820_two_boots_give_the_second_firmware_table() -> None:
    text = (
        "BIOS-provided physical RAM map:\n"
        "BIOS-e820: [mem 0x0000000000000000-0x000000007fffffff] usable\n"
        "BIOS-provided physical RAM map:\n"
        "BIOS-e820: [mem 0x0000000000000000-0x00000000ffffffff] usable\n"
    )
    assert parse_e820(text).total_usable == 0x100000000


def test_e820_only_edited_tables_need_the_kernel_view() -> None:
    text = "modified: [mem 0x0000000000000000-0x000000007fffffff] usable\n"
    error = parse_error(parse_e820, text)
    assert error.line_no == 0
    assert "view='kernel'" in error.reason
    assert parse_e820(text, view="kernel").total_usable == 0x80000000


def test_e820_table_of_gap_lines_only_is_an_error() -> None:
    text = "BIOS-e820: [gap 0x0000000000000000-0x000000000009ffff]\n"
    assert "only [gap] lines" in parse_error(parse_e820, text).reason


def test_e820_without_any_table_is_an_error() -> None:
    error = parse_error(parse_e820, "RAMDISK: [mem 0x1f5e8000-0x1fbfffff]\n")
    assert (error.line_no, error.line_text) == (0, "")


def test_e820_rejects_an_unknown_view() -> None:
    with pytest.raises(ValueError, match="view"):
        parse_e820(CLASSIC, view="linux")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("BIOS-e820: [mem 0x0000000000000000-0x00000000zzzz] usable", "malformed"),
        ("BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff]", "expected a type"),
        ("BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] 640 KB", "expected a type"),
        ("BIOS-e820: [mem 0x0000000000001000-0x0000000000000fff] usable", "empty or reversed"),
        ("BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff]  2.0 MB usable", "size column"),
        ("BIOS-e820: [gap 0x0000000000000000-0x000000000009ffff] usable", "at most a size"),
        ("BIOS-e820: 0000000000000000 - 000000000009f400 usable", "'(<type>)'"),
        ("BIOS-e820: 0000000000000000 - 00000000009f400 (usable)", "malformed"),
        ("e820: update [mem 0x00000000-0x00000fff] usable", "'<old type> ==> <new type>'"),
        ("e820: update [mem 0x00000000-0x00000fff usable ==> reserved", "malformed e820 update"),
        ("e820: remove [mem 0x00001000-0x00000fff] usable", "empty or reversed"),
    ],
)
def test_e820_malformed_lines_are_reported_with_number_and_text(line: str, reason: str) -> None:
    text = "[    0.000000] BIOS-provided physical RAM map:\n[    0.000000] " + line + "\n"
    assert_line_error(parse_e820, text, 2, reason)


# --- NetBSD ----------------------------------------------------------------------------------

NETBSD = """\
[     1.000000] NetBSD 10.0 (GENERIC) #0
[     1.000000] MEMMAP: BIOS MEMORY MAP (6 ENTRIES):
[     1.000000] MEMMAP: 0x0000000000000000-0x000000000009fbff, size=0x000000000009fc00, type=1(Memory)
[     1.000000] MEMMAP: 0x000000000009fc00-0x000000000009ffff, size=0x0000000000000400, type=2(Reserved)
[     1.000000] MEMMAP: 0x0000000000100000-0x000000007ffdffff, size=0x000000007fee0000, type=1(Memory)
[     1.000000] WARNING: memory map entry overlaps with ``Compatibility Holes'': 0x0/0xa0000/0x1
[     1.000000] MEMMAP: 0x000000007ffe0000-0x000000007fffffff, size=0x0000000000020000, type=3(ACPI)
[     1.000000] MEMMAP: 0x0000000080000000-0x00000000803fffff, size=0x0000000000400000, type=5(unknown)
[     1.000000] MEMMAP: 0x0000000100000000-0x00000001ffffffff, size=0x0000000100000000, type=12(Persistent (Legacy))
[     1.000000] MCFG: MEMMAP: 0x00000000e0000000-0x00000000efffffff, size=0x0000000010000000, type=2(Reserved)
[     1.000000] total memory = 2047 MB
"""  # noqa: E501


def test_netbsd_memmap_lines_give_the_firmware_map() -> None:
    memmap = parse_netbsd(NETBSD)
    assert memmap.format == "netbsd"
    assert spans(memmap) == [
        (0x0, 0x9FC00, RangeKind.USABLE),
        (0x9FC00, 0xA0000, RangeKind.RESERVED),
        (0x100000, 0x7FFE0000, RangeKind.USABLE),
        (0x7FFE0000, 0x80000000, RangeKind.ACPI_DATA),
        (0x80000000, 0x80400000, RangeKind.UNUSABLE),
        (0x100000000, 0x200000000, RangeKind.PERSISTENT),
    ]
    assert [r.label for r in memmap.ranges][3:] == ["ACPI", "type 5", "Persistent (Legacy)"]


def test_netbsd_zero_size_entry_counts_but_holds_no_memory() -> None:
    text = (
        "MEMMAP: UEFI MEMORY MAP (2 ENTRIES):\n"
        "MEMMAP: 0x0000000000100000-0x00000000000fffff, size=0x0000000000000000, type=1(Memory)\n"
        "MEMMAP: 0x0000000000100000-0x00000000001fffff, size=0x0000000000100000, type=4(NVS)\n"
    )
    assert spans(parse_netbsd(text)) == [(0x100000, 0x200000, RangeKind.ACPI_NVS)]


def test_netbsd_type_printed_negative_is_read_as_unsigned() -> None:
    text = (
        "MEMMAP: 0x0000000000000000-0x0000000000000fff, size=0x0000000000001000,"
        " type=-268435457(unknown)\n"
    )
    rng = parse_netbsd(text).ranges[0]
    assert (rng.kind, rng.label) == (RangeKind.OTHER, "type 4026531839")


def test_netbsd_last_map_wins_and_empty_maps_are_passed_over() -> None:
    one = "MEMMAP: 0x0000000000000000-0x0000000000000fff, size=0x0000000000001000, type=1(Memory)"
    empty = "MEMMAP: 0x0000000000001000-0x0000000000000fff, size=0x0000000000000000, type=1(Memory)"
    two = one.replace("type=1(Memory)", "type=2(Reserved)")
    text = "\n".join(
        [
            "MEMMAP: BIOS MEMORY MAP (1 ENTRIES):",
            one,
            "MEMMAP: BIOS MEMORY MAP (1 ENTRIES):",
            two,
            "MEMMAP: BIOS MEMORY MAP (1 ENTRIES):",
            empty,
        ]
    )
    assert spans(parse_netbsd(text)) == [(0, 0x1000, RangeKind.RESERVED)]


@pytest.mark.parametrize(
    ("text", "size", "label"),
    [
        ("[   1.0000000] total memory = 65536 KB\n[   1.0000000] avail memory = 38672 KB\n",
         65536 << 10, "total memory"),
        ("avail memory = 3900 MB\n", 3900 << 20, "avail memory"),
        ("total memory = 99999\n", 99999, "total memory"),
        ("total memory = 16 GB\ntotal memory = 32 GB\n", 32 << 30, "total memory"),
    ],
)  # fmt: skip
def test_netbsd_falls_back_to_the_printed_memory_size(text: str, size: int, label: str) -> None:
    memmap = parse_netbsd(text)
    assert spans(memmap) == [(0, size, RangeKind.USABLE)]
    assert memmap.ranges[0].label == label


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("MEMMAP: 0x0000000000000000-0x0000000000000fff, size=0x1000, type=1(Memory)", "malformed"),
        (
            "MEMMAP: 0x0000000000000000-0x0000000000000ffe"
            ", size=0x0000000000001000, type=1(Memory)",
            "start + size - 1",
        ),
        (
            "MEMMAP: 0x0000000000000000-0x0000000000000fff, size=0x0000000000001000, type=1(RAM)",
            "printed as 'Memory'",
        ),
        (
            "MEMMAP: 0xfffffffffffff000-0x0000000000000fff"
            ", size=0x0000000000002000, type=1(Memory)",
            "past the 64-bit",
        ),
        ("MEMMAP: BIOS MEMORY MAP (lots ENTRIES):", "malformed"),
        ("total memory = 4 GiB", "expected '<n>'"),
        ("total memory = 0 KB", "zero"),
        ("avail memory = 99999 EB", "beyond 64 bits"),
    ],
)
def test_netbsd_malformed_lines_are_reported_with_number_and_text(line: str, reason: str) -> None:
    assert_line_error(parse_netbsd, "NetBSD 10.0\n[   1.0000000] " + line + "\n", 2, reason)


def test_netbsd_header_count_must_match_its_entries() -> None:
    text = (
        "MEMMAP: BIOS MEMORY MAP (3 ENTRIES):\n"
        "MEMMAP: 0x0000000000000000-0x0000000000000fff, size=0x0000000000001000, type=1(Memory)\n"
        "MEMMAP: BIOS MEMORY MAP (1 ENTRIES):\n"
    )
    assert_line_error(parse_netbsd, text, 1, "announces 3 entries but 1 follow")
    assert_line_error(parse_netbsd, text.split("\n", 2)[2], 1, "announces 1 entries but 0")


def test_netbsd_without_map_or_size_is_an_error() -> None:
    assert parse_error(parse_netbsd, "NetBSD 10.0\n").line_no == 0


# --- FreeBSD ---------------------------------------------------------------------------------

FREEBSD = """\
real memory  = 8589934592 (8192 MB)
Physical memory chunk(s):
0x0000000000010000 - 0x000000000009bfff, 573440 bytes (140 pages)
0x0000000000100000 - 0x00000000001fffff, 1048576 bytes (256 pages)
0x0000000100000000 - 0x000000017fffffff, 2147483648 bytes (524288 pages)
avail memory = 8000000000 (7629 MB)
"""


def test_freebsd_chunks_are_usable_ranges() -> None:
    memmap = parse_freebsd(FREEBSD)
    assert memmap.format == "freebsd"
    assert spans(memmap) == [
        (0x10000, 0x9C000, RangeKind.USABLE),
        (0x100000, 0x200000, RangeKind.USABLE),
        (0x100000000, 0x180000000, RangeKind.USABLE),
    ]


def test_freebsd_arm64_chunks_may_omit_0x_and_use_16k_pages() -> None:
    text = (
        "Physical memory chunk(s):\n"
        "0000000000000000 - 0x00000000003fffff, 4194304 bytes (256 pages)\n"
    )
    assert spans(parse_freebsd(text)) == [(0, 0x400000, RangeKind.USABLE)]


def test_freebsd_last_non_empty_chunk_list_wins() -> None:
    text = FREEBSD + "Physical memory chunk(s):\n0x1000 - 0x1fff, 4096 bytes (1 pages)\n"
    assert spans(parse_freebsd(text)) == [(0x1000, 0x2000, RangeKind.USABLE)]
    assert len(parse_freebsd(FREEBSD + "Physical memory chunk(s):\n").ranges) == 3


@pytest.mark.parametrize(
    ("text", "size", "label"),
    [
        ("real memory  = 34359738368 (32768 MB)\n", 32 << 30, "real memory"),
        ("avail memory = 33090113536 (31557 MB)\n", 33090113536, "avail memory"),
        ("real memory  = 268435456 (262144K bytes)\n", 256 << 20, "real memory"),
        ("Physical memory chunk(s):\nreal memory  = 1048576 (1 MB)\n", 1 << 20, "real memory"),
    ],
)
def test_freebsd_falls_back_to_the_printed_memory_size(text: str, size: int, label: str) -> None:
    memmap = parse_freebsd(text)
    assert spans(memmap) == [(0, size, RangeKind.USABLE)]
    assert memmap.ranges[0].label == label


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0x0000000000010000 - 0x000000000009bfff, 573440 bytes", "malformed"),
        ("0x0000000000010000 - 0x000000000009bfff, 573441 bytes (140 pages)", "range holds"),
        ("0x0000000000010000 - 0x000000000009bfff, 573440 bytes (139 pages)", "whole pages"),
        ("0x0000000000010000 - 0x000000000009bfff, 573440 bytes (0 pages)", "whole pages"),
        ("0x0000000000010000 - 0x000000000000bfff, 573440 bytes (140 pages)", "reversed"),
        ("real memory  = 8589934592 (8191 MB)", "does not match"),
        ("real memory  = 8589934592", "expected '<bytes> (<n> MB)'"),
        ("avail memory = 0 (0 MB)", "zero"),
    ],
)
def test_freebsd_malformed_lines_are_reported_with_number_and_text(line: str, reason: str) -> None:
    assert_line_error(parse_freebsd, "Physical memory chunk(s):\n" + line + "\n", 2, reason)


def test_freebsd_chunk_outside_a_list_is_an_error() -> None:
    assert_line_error(parse_freebsd, "0x1000 - 0x1fff, 4096 bytes (1 pages)\n", 1, "outside")


def test_freebsd_without_chunks_or_size_is_an_error() -> None:
    assert parse_error(parse_freebsd, "FreeBSD 14.1-RELEASE\n").line_no == 0


def test_e820_kernel_view_that_removes_everything_is_an_error() -> None:
    text = (
        "BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] usable\n"
        "e820: remove [mem 0x00000000-0x00000fff] usable\n"
    )
    assert "leave no ranges" in parse_error(partial(parse_e820, view="kernel"), text).reason


def test_netbsd_map_of_empty_entries_falls_back_to_the_memory_size() -> None:
    text = (
        "MEMMAP: BIOS MEMORY MAP (1 ENTRIES):\n"
        "MEMMAP: 0x0000000000001000-0x0000000000000fff, size=0x0000000000000000, type=1(Memory)\n"
        "total memory = 4 MB\n"
    )
    assert spans(parse_netbsd(text)) == [(0, 4 << 20, RangeKind.USABLE)]
