"""Format detection, parse() with and without an explicit format, load_map() and the shipped
sample index."""

from __future__ import annotations

import io
import re
from importlib import resources
from pathlib import Path

import pytest

from physseg.memmap import (
    PARSERS,
    MemMapParseError,
    SampleMap,
    detect_format,
    list_sample_maps,
    load_map,
    parse,
    parse_lsmem,
    parse_stream,
)
from physseg.memmap.detect import LOOKAHEAD_BYTES, MemMapFormatError
from physseg.memmap.samples import find_sample_map, sample_map_text


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("# as root\n00000000-00000fff : Reserved\n", "iomem"),
        ("/sys/firmware/memmap/0/end:0x9fbff\n", "sysfs"),
        ("RANGE SIZE STATE REMOVABLE BLOCK\n", "lsmem"),
        ("0x0000000000000000-0x000000007fffffff 2G online yes 0-15\n", "lsmem"),
        ("[    0.000000] BIOS-provided physical RAM map:\n", "e820"),
        ("x\nBIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n", "e820"),
        ("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n", "e820"),
        ("[   1.0000000] MEMMAP: BIOS MEMORY MAP (6 ENTRIES):\n", "netbsd"),
        ("Physical memory chunk(s):\n", "freebsd"),
        ("total memory = 4095 MB\navail memory = 3900 MB\n", "netbsd"),
        ("real memory  = 8589934592 (8192 MB)\n", "freebsd"),
        ("avail memory = 8000000000 (7629 MB)\n", "freebsd"),
        ("avail memory = 3900 MB\n", "netbsd"),
        ('{\n   "memory": [\n', "lsmem"),
        ('RANGE="0x0000000000000000-0x000000007fffffff" SIZE="2G" STATE="online"\n', "lsmem"),
    ],
)
def test_detect_format_recognises_each_format(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


def test_detect_format_prefers_e820_over_other_log_lines() -> None:
    text = "total memory = 4095 MB\nBIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
    assert detect_format(text) == "e820"


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "hello world\n", "RAMDISK: [mem 0x0]\n"]
)
def test_detect_format_gives_up_with_a_parse_error(text: str) -> None:
    with pytest.raises(MemMapParseError, match="cannot tell the format") as info:
        detect_format(text, "mystery.txt")
    assert info.value.source == "mystery.txt"
    assert info.value.line_no == 0


def test_parse_detects_or_obeys_the_format() -> None:
    text = "00000000-00000fff : System RAM\n"
    assert parse(text).format == "iomem"
    with pytest.raises(MemMapParseError):
        parse(text, "lsmem")


def test_parse_rejects_an_unknown_format_name() -> None:
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        parse("x", "csv")


def test_parsers_table_names_every_format() -> None:
    assert set(PARSERS) == {"iomem", "sysfs", "lsmem", "e820", "netbsd", "freebsd"}


def test_load_map_reads_a_file_and_names_it_as_source(tmp_path: Path) -> None:
    path = tmp_path / "iomem.txt"
    path.write_text("00000000-00000fff : Reserved\n00001000-0009ffff : System RAM\n")
    memmap = load_map(path)
    assert (memmap.format, memmap.source, memmap.total_usable) == ("iomem", str(path), 0x9F000)


def test_load_map_reads_a_sysfs_directory(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    for name, value in (("start", "0x0"), ("end", "0xfff"), ("type", "System RAM")):
        (tmp_path / "0" / name).write_text(value)
    assert load_map(str(tmp_path)).format == "sysfs"
    with pytest.raises(ValueError, match="directory"):
        load_map(tmp_path, "iomem")


def test_load_map_accepts_a_sample_name() -> None:
    memmap = load_map("qemu-512m")
    assert (memmap.format, memmap.source) == ("e820", "sample:qemu-512m")


def test_load_map_fails_for_an_unknown_name() -> None:
    with pytest.raises(FileNotFoundError, match="qemu-512m"):
        load_map("no-such-map")


def test_sample_index_lists_every_shipped_file_exactly_once() -> None:
    shipped = {
        entry.name
        for entry in resources.files("physseg").joinpath("data", "maps").iterdir()
        if entry.is_file()
    }
    assert sorted(s.filename for s in list_sample_maps()) == sorted(shipped)
    assert len({s.name for s in list_sample_maps()}) == len(list_sample_maps())


@pytest.mark.parametrize("sample", list_sample_maps(), ids=lambda s: s.name)
def test_every_sample_is_detected_as_its_listed_format(sample: SampleMap) -> None:
    assert find_sample_map(sample.name) == sample
    assert detect_format(sample_map_text(sample)) == sample.format


def test_find_sample_map_returns_none_for_unknown_names() -> None:
    assert find_sample_map("nope") is None


class Pipe(io.BytesIO):
    """A byte stream that cannot seek, as standard input from a pipe."""

    def seekable(self) -> bool:
        return False


@pytest.mark.parametrize("sample", list_sample_maps(), ids=lambda s: s.name)
def test_a_sample_streamed_through_a_pipe_parses_as_the_whole_text(sample: SampleMap) -> None:
    text = sample_map_text(sample)
    whole = parse(text, source="x")
    piped = parse_stream(Pipe(text.encode()), source="x")
    assert (piped.format, list(piped.ranges)) == (whole.format, list(whole.ranges))


def test_a_pipe_whose_first_mebibyte_does_not_settle_the_format_is_read_twice() -> None:
    filler = "kernel: nothing to see here\n" * (LOOKAHEAD_BYTES // 20)
    text = (
        filler + "total memory = 4095 MB\nBIOS-e820: [mem 0x0000000000000000-0x00000000"
        "3fffffff] usable\n"
    )
    memmap = parse_stream(Pipe(text.encode()), source="log")
    assert memmap.format == "e820"
    assert memmap.table.line_no(0) == filler.count("\n") + 2


def test_undetectable_input_raises_the_format_error_naming_the_formats() -> None:
    with pytest.raises(MemMapFormatError) as caught:
        parse_stream(Pipe(b"hello\n"), source="notes")
    assert caught.value.formats == tuple(PARSERS)
    assert "fmt=" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"memory": {}}', 'lsmem JSON must be {"memory": [...]}'),
        ('{"memory": [{"range": "0x0-0xfff"}]}', 'memory[0] needs "range" and "state" strings'),
        ('{"memory": [{"range": "0x0-0xfff", "state": "up"}]}', "memory[0]: STATE is not one"),
        ('{"memory": []}', "no lsmem rows"),
        ('{"memory":\n' + "[\n" * 100_000, "lsmem JSON nested too deep"),
        ("{ nope", "not valid JSON"),
        ('RANGE="0x0-0xfff" SIZE="4K"', "an lsmem -P row needs RANGE and STATE"),
        ('RANGE="0x0-0xfff" STATE="online" junk', 'not an lsmem -P row (KEY="value" pairs)'),
        ('RANGE="0x1000-0x1fff" STATE="online"\nRANGE="0x0-0xfff" STATE="online"', "precedes"),
    ],
)
def test_bad_lsmem_json_and_pairs_are_refused(text: str, reason: str) -> None:
    with pytest.raises(MemMapParseError, match=re.escape(reason)):
        parse_lsmem(text)


def test_lsmem_json_removable_may_be_a_boolean_or_text() -> None:
    text = (
        '{"memory": [{"range": "0x0000000000000000-0x000000007fffffff", "size": "2G",'
        ' "state": "online", "removable": "yes", "block": "0-15"},'
        ' {"range": "0x0000000080000000-0x00000000bfffffff", "size": "1G",'
        ' "state": "on->off", "removable": false, "block": "16-23"}]}'
    )
    memmap = parse_lsmem(text)
    assert [(r.start, r.end, r.label) for r in memmap.ranges] == [
        (0, 0x80000000, "online"),
        (0x80000000, 0xC0000000, "on->off"),
    ]
