"""Traces: the text and JSON-lines formats, parsing with line numbers, writing them back,
applying operations to a PhysMem and replaying whole traces."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from physseg import PhysMem, Segment
from physseg.cli.trace import (
    JSONL,
    MAX_JSON_DEPTH,
    MAX_LINE_CHARS,
    SHOWN_CHARS,
    TEXT,
    Find,
    Init,
    PhysLoad,
    Plug,
    TraceCheckError,
    TraceOp,
    TraceParseError,
    Unplug,
    apply_op,
    bounded_lines,
    detect_format,
    format_op,
    json_depth,
    load_json,
    op_from_dict,
    op_name,
    op_to_dict,
    parse_line,
    parse_trace,
    read_trace,
    replay,
)
from physseg.errors import InvalidArgumentError, RangeNotManagedError, RangeOverlapError

GIB = 1 << 30
MIB = 1 << 20


def booted(*, steal: bool = False) -> PhysMem:
    """A machine with RAM at [16 MiB, 512 MiB) and [1 GiB, 2 GiB), booted."""
    mem = PhysMem()
    for op in (PhysLoad(16 * MIB, 496 * MIB, free_list=2), PhysLoad(GIB, GIB), Init(steal)):
        apply_op(mem, op)
    return mem


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("line", "op"),
    [
        ("plug 4G 128M", Plug(4 * GIB, 128 * MIB)),
        ("unplug 0x100000000 4096", Unplug(4 * GIB, 4096)),
        ("find 1G", Find(GIB)),
        ("find 1G expect=hole", Find(GIB, "hole")),
        ("physload 16M 496M", PhysLoad(16 * MIB, 496 * MIB)),
        (
            "physload 16M 496M avail_start=32M avail_end=0x20000000 free_list=2",
            PhysLoad(16 * MIB, 496 * MIB, 32 * MIB, 512 * MIB, 2),
        ),
        ("init", Init()),
        ("init steal=no", Init(steal=False)),
        ("init steal=Yes", Init(steal=True)),
        ("  PLUG   4G  128M   # a comment", Plug(4 * GIB, 128 * MIB)),
        ("plug 4G 128M\r\n", Plug(4 * GIB, 128 * MIB)),
    ],
)
def test_text_lines_parse_to_operations(line: str, op: TraceOp) -> None:
    assert parse_line(line) == op


@pytest.mark.parametrize(
    ("line", "op"),
    [
        ('{"op": "plug", "addr": "4G", "size": 134217728}', Plug(4 * GIB, 128 * MIB)),
        ('{"op": "unplug", "addr": 4096, "size": "4K"}', Unplug(4096, 4096)),
        ('{"op": "find", "addr": "0x1000", "expect": "managed"}', Find(4096, "managed")),
        ('{"op": "init", "steal": false}', Init(steal=False)),
        (
            '{"op": "physload", "addr": "16M", "size": "16M", "free_list": "3",'
            ' "avail_start": "20M"}',
            PhysLoad(16 * MIB, 16 * MIB, 20 * MIB, None, 3),
        ),
    ],
)
def test_json_lines_parse_to_operations(line: str, op: TraceOp) -> None:
    assert parse_line(line, JSONL) == op


@pytest.mark.parametrize("line", ["", "   ", "# comment", "  # indented comment", "\n"])
@pytest.mark.parametrize("fmt", [TEXT, JSONL])
def test_blank_and_comment_lines_are_skipped(line: str, fmt: str) -> None:
    assert parse_line(line, fmt) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("plugg 4G 1G", "unknown operation 'plugg'"),
        ("plug 4G", "plug takes 2 value(s): plug ADDR SIZE"),
        ("plug 4G 1G 2G", "plug takes 2 value(s)"),
        ("plug addr=4G size=1G", "plug takes 2 value(s)"),
        ("plug 4G 0", "plug needs a size > 0"),
        ("plug 4G lots", "'lots' is not a byte quantity"),
        ("plug 4G 1.5", "not a whole number of bytes"),
        ("plug 4G 1G free_list=1", "plug takes no 'free_list' (it takes: addr, size)"),
        ("init 4G", "init takes 0 value(s)"),
        ("init steal=maybe", "steal must be yes or no"),
        ("init colour=red", "init takes no 'colour' (it takes: steal)"),
        ("find 4G expect=sometimes", "expect must be managed or hole"),
        ("find 4G expect=hole expect=hole", "expect given twice"),
        ("physload 0 4K free_list=x", "free_list must be a non-negative integer"),
    ],
)
def test_bad_text_lines_name_the_reason(line: str, reason: str) -> None:
    with pytest.raises(TraceParseError) as caught:
        parse_line(line, TEXT, line_no=7, source="t.trace")
    assert reason in caught.value.reason
    assert caught.value.line_no == 7
    assert caught.value.line_text == line
    assert str(caught.value) == f"t.trace:7: {caught.value.reason}: {line}"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a JSON line must be an object, not list"),
        ('{"addr": 1}', 'a JSON line needs "op"'),
        ('{"op": 3}', 'a JSON line needs "op"'),
        ('{"op": "plug", "size": 4096}', "plug needs addr"),
        ('{"op": "plug", "addr": true, "size": 4096}', "addr must be a byte quantity"),
        ('{"op": "plug", "addr": 1.5, "size": 4096}', "addr must be a byte quantity"),
        ('{"op": "plug", "addr": -4096, "size": 4096}', "addr must be >= 0"),
        ('{"op": "physload", "addr": 0, "size": 4096, "free_list": -1}', "free_list must be"),
        ('{"op": "physload", "addr": 0, "size": 4096, "free_list": true}', "free_list must be"),
        ('{"op": "init", "steal": 1}', "steal must be yes or no"),
        ('{"op": "find", "addr": 0, "expect": 1}', "expect must be managed or hole"),
    ],
)
def test_bad_json_lines_name_the_reason(line: str, reason: str) -> None:
    with pytest.raises(TraceParseError) as caught:
        parse_line(line, JSONL, line_no=3)
    assert caught.value.reason.startswith(reason)


def test_parse_trace_numbers_lines_and_stops_at_the_first_bad_one() -> None:
    text = "# header\nplug 4G 1G\n\nunplug 4G 4K\nbogus\nplug 8G 1G\n"
    assert parse_trace("\n".join(text.splitlines()[:4])) == [
        (2, Plug(4 * GIB, GIB)),
        (4, Unplug(4 * GIB, 4096)),
    ]
    with pytest.raises(TraceParseError) as caught:
        parse_trace(text, source="x")
    assert caught.value.line_no == 5


@pytest.mark.parametrize(
    ("name", "lines", "fmt"),
    [
        ("ops.jsonl", ["plug 4G 1G"], JSONL),
        ("ops.NDJSON", [], JSONL),
        ("ops.json", [], JSONL),
        ("ops.trace", ['{"op": "init"}'], TEXT),
        ("ops.txt", [], TEXT),
        ("ops", ["# comment", "", '  {"op": "init"}'], JSONL),
        ("-", ["init"], TEXT),
        ("ops", ["# only comments"], TEXT),
    ],
)
def test_detect_format_by_suffix_then_by_first_operation(
    name: str, lines: list[str], fmt: str
) -> None:
    assert detect_format(name, lines) == fmt


# --------------------------------------------------------------------------- writing
quantities = st.integers(min_value=0, max_value=1 << 62)
sizes = st.integers(min_value=1, max_value=1 << 62)
operations = st.one_of(
    st.builds(Plug, quantities, sizes),
    st.builds(Unplug, quantities, sizes),
    st.builds(Find, quantities, st.sampled_from([None, "managed", "hole"])),
    st.builds(
        PhysLoad,
        quantities,
        sizes,
        st.none() | quantities,
        st.none() | quantities,
        st.integers(min_value=0, max_value=5),
    ),
    st.builds(Init, st.booleans()),
)


@given(operations, st.sampled_from([TEXT, JSONL]))
def test_format_op_reads_back_equal(op: TraceOp, fmt: str) -> None:
    assert parse_line(format_op(op, fmt), fmt) == op


@given(operations)
def test_op_dicts_read_back_equal(op: TraceOp) -> None:
    record = op_to_dict(op)
    assert record["op"] == op_name(op)
    assert op_from_dict(record) == op


def test_op_from_dict_needs_an_op_name() -> None:
    with pytest.raises(ValueError, match='needs "op"'):
        op_from_dict({"addr": "0x1000"})


def test_format_op_writes_options_only_when_not_default() -> None:
    assert format_op(PhysLoad(0x8000, 0x97000)) == "physload 0x8000 604K"
    assert format_op(PhysLoad(0, 4096, 0, 4096, 3)) == (
        "physload 0x0 4K avail_start=0x0 avail_end=0x1000 free_list=3"
    )
    assert format_op(Init(steal=False)) == "init steal=no"
    assert format_op(Find(0, "hole")) == "find 0x0 expect=hole"


@given(st.text(max_size=60), st.sampled_from([TEXT, JSONL]))
def test_any_line_parses_or_raises_trace_parse_error(line: str, fmt: str) -> None:
    try:
        parse_line(line, fmt)
    except TraceParseError as exc:
        assert exc.reason


@given(
    st.lists(
        st.sampled_from(["plug", "unplug", "find", "init", "physload", "expect=hole", "4G", "0x"])
        | st.text(alphabet="0123456789abcdefxXKMG=._#", max_size=8),
        max_size=6,
    )
)
def test_word_soup_parses_or_raises_trace_parse_error(words: list[str]) -> None:
    try:
        parse_line(" ".join(words))
    except TraceParseError as exc:
        assert exc.reason


# --------------------------------------------------------------------------- applying
def test_apply_op_drives_every_physmem_call() -> None:
    mem = PhysMem()
    seg = apply_op(mem, PhysLoad(16 * MIB, 16 * MIB, 20 * MIB, 24 * MIB, 3))
    assert isinstance(seg, Segment)
    assert (seg.start, seg.end, seg.avail_start, seg.avail_end) == (0x1000, 0x2000, 0x1400, 0x1800)
    assert apply_op(mem, Init(steal=False)) is None
    assert mem.booted
    plugged = apply_op(mem, Plug(GIB, 4 * MIB))
    assert (plugged, 0) == mem.find(GIB >> 12)
    assert apply_op(mem, Unplug(GIB, 4096)) is None
    assert apply_op(mem, Find(GIB + 4096, "managed")) == mem.find((GIB >> 12) + 1)
    assert apply_op(mem, Find(GIB, "hole")) is None


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (Plug(4 * GIB + 1, 4096), r"plug \[0x100000001, 0x100001001\): not page-aligned"),
        (Unplug(4 * GIB, 100), r"unplug \[0x100000000, 0x100000064\): not page-aligned"),
        (PhysLoad(0, 4096, avail_start=1), r"physload avail_start 0x1: not page-aligned"),
    ],
)
def test_unaligned_ranges_are_refused_in_bytes(op: TraceOp, message: str) -> None:
    mem = PhysMem() if isinstance(op, PhysLoad) else booted()
    with pytest.raises(InvalidArgumentError, match=message):
        apply_op(mem, op)


def test_physmem_errors_keep_their_type_and_speak_bytes() -> None:
    mem = booted()
    with pytest.raises(RangeOverlapError, match=r"^plug \[0x40000000, 0x40001000\): overlaps"):
        apply_op(mem, Plug(GIB, 4096))
    with pytest.raises(RangeNotManagedError, match=r"address 0xc0000000 is in a hole"):
        apply_op(mem, Unplug(3 * GIB, 4096))


def test_find_expectations_fail_with_what_was_found() -> None:
    mem = booted()
    with pytest.raises(TraceCheckError, match=r"expected hole, but it is managed by segment \["):
        apply_op(mem, Find(GIB, "hole"))
    with pytest.raises(TraceCheckError, match="expected managed, but it is in a hole"):
        apply_op(mem, Find(3 * GIB, "managed"))


def test_physmem_errors_keep_their_fields_through_apply_op() -> None:
    mem = booted()
    with pytest.raises(RangeNotManagedError) as info:
        apply_op(mem, Unplug(3 * GIB, 4096))
    assert (info.value.op, info.value.pfn, info.value.npages) == ("unplug", 3 * GIB >> 12, 1)
    assert str(info.value).startswith("unplug [0xc0000000, 0xc0001000): ")


# --------------------------------------------------------------------------- replaying
TRACE = """\
# two plugs, a bad line, an unplug and two finds
plug 4G 16M
plug 4G 16M
unplug 0x100000000 4K
find 0x100000000 expect=hole
find 0x100001000
nonsense
"""


def test_replay_stops_at_the_first_failing_line() -> None:
    mem = booted()
    report = replay(mem, TRACE.splitlines(keepends=True), source="t")
    assert not report.ok
    assert report.stopped_at == 3
    assert [(f.line_no, f.text) for f in report.failures] == [(3, "plug 4G 16M")]
    assert "overlaps" in report.failures[0].reason
    assert report.applied == [Plug(4 * GIB, 16 * MIB)]
    assert report.lines == 2


def test_replay_keep_going_reports_every_failure_and_applies_the_rest() -> None:
    mem = booted()
    seen: list[int] = []
    lines = TRACE.splitlines(keepends=True)
    report = replay(mem, lines, keep_going=True, progress=seen.append)
    assert [f.line_no for f in report.failures] == [3, 7]
    assert report.failures[1].reason.startswith("unknown operation 'nonsense'")
    assert report.stopped_at is None
    assert report.lines == 6
    assert dict(report.counts) == {"plug": 1, "unplug": 1, "find": 2}
    assert (report.finds_managed, report.finds_hole) == (1, 1)
    assert sum(seen) == len(TRACE)
    assert mem.find((4 * GIB >> 12) + 1) is not None


def test_replay_of_a_clean_trace_is_ok() -> None:
    mem = PhysMem()
    lines = [
        '{"op": "physload", "addr": "16M", "size": "16M"}',
        '{"op": "init", "steal": false}',
        '{"op": "plug", "addr": "1G", "size": "1M"}',
    ]
    report = replay(mem, lines, JSONL)
    assert report.ok
    assert len(report.applied) == 3
    assert len(mem) == 2


# --------------------------------------------------------------------------- bounds
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"op": "plug", "addr": ' + "9" * 100_000 + ', "size": 4096}', "more than 40 digits"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 16 levels"),
        ('{"op": "plug", "addr": NaN, "size": 4096}', "NaN is not a JSON number"),
        ('{"op": "init", "op": "plug"}', "key 'op' given twice"),
        ('{"op": "plug", "addr": "0x1' + "0" * 16 + '1", "size": 4096}', "at most 2**64 bytes"),
        ('{"op": "plug", "addr": ' + str(1 << 65) + ', "size": 4096}', "at most 2**64 bytes"),
        ("x" * (MAX_LINE_CHARS + 1), "line longer than"),
    ],
)
def test_hostile_json_lines_are_one_line_parse_errors(line: str, reason: str) -> None:
    with pytest.raises(TraceParseError) as caught:
        parse_line(line, JSONL, line_no=7, source="t.jsonl")
    assert reason in caught.value.reason
    assert caught.value.line_no == 7
    assert len(str(caught.value)) < 3 * SHOWN_CHARS
    assert "\n" not in str(caught.value)


def test_a_text_line_of_a_huge_number_is_a_parse_error() -> None:
    with pytest.raises(TraceParseError, match="at most 2\\*\\*64 bytes"):
        parse_line("plug 0x" + "f" * 4000 + " 4K")


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth('{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert json_depth("12") == 0
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) == eval(
        "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    )


def test_messages_quote_control_characters_harmlessly() -> None:
    with pytest.raises(TraceParseError) as caught:
        parse_line("plugg \x1b[2J 4K")
    assert "\x1b" not in str(caught.value)


def test_bounded_lines_cut_an_endless_line_and_read_no_further() -> None:
    class Endless(io.StringIO):
        """A stream of one line that never ends (what /dev/zero is to a line reader)."""

        reads = 0

        def readline(self, size: int | None = -1) -> str:
            self.reads += 1
            return "\0" * (size if size and size > 0 else 1 << 16)

    stream = Endless()
    lines = bounded_lines(stream, limit=100)
    first = next(lines)
    assert len(first) == 101
    assert stream.reads == 1


def test_bounded_lines_skip_the_rest_of_a_long_line_when_asked_for_more() -> None:
    stream = io.StringIO("a" * 250 + "\nplug 4G 4K\n")
    assert [len(line) for line in bounded_lines(stream, limit=100)] == [101, 11]


def test_read_trace_keeps_going_past_a_too_long_line_only_when_told() -> None:
    lines = ["x" * (MAX_LINE_CHARS + 1), "plug 4G 4K\n"]
    assert len(read_trace(lines)) == 1
    kept = read_trace(lines, keep_going=True)
    assert [line.op for line in kept] == [None, Plug(4 * GIB, 4096)]
