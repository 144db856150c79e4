"""Fuzzing: whatever text a parser is given (slices of real samples with lines mutated,
dropped, repeated or replaced, or random text), it returns a non-empty MemMap or raises
MemMapParseError whose line number and (quoted) text point into the input; never anything
else. And the same text streamed line by line from bytes gives the same map or the same
error as the whole string."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physseg.memmap import (
    MemMap,
    MemMapParseError,
    list_sample_maps,
    parse,
    parse_e820,
    parse_freebsd,
    parse_iomem,
    parse_lsmem,
    parse_netbsd,
    parse_stream,
    parse_sysfs_memmap,
    plan_boot,
)
from physseg.memmap._text import MAX_LINE_BYTES
from physseg.memmap.samples import sample_map_text
from physseg.textinput import bounded_byte_lines, quote_input

EXTRA: dict[str, list[str]] = {
    "e820": [
        " BIOS-e820: 0000000000000000 - 000000000009f400 (usable)\n"
        " BIOS-e820: 0000000000100000 - 000000003fff0000 (usable)\n"
        "e820 update range: 0000000000000000 - 0000000000010000 (usable) ==> (reserved)",
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]  639.0 KB System RAM\n"
        "BIOS-e820: [gap 0x00000000000a0000-0x00000000000effff]  320   KB ...\n"
        "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdbfff]    1.9 GB System RAM\n"
        "modified: [mem 0x0000000000100000-0x000000007ffdbfff] usable\n"
        "e820: remove [mem 0x7f000000-0x7fffffff] usable",
    ],
    "iomem": [
        "100000000-33fffffff : virtio0\n  100000000-1bfffffff : System RAM (virtio_mem)",
    ],
    "freebsd": ["real memory  = 268435456 (262144K bytes)\navail memory = 3900 (0 MB)"],
    "netbsd": ["total memory = 65536 KB\navail memory = 38672 KB"],
}
CORPORA: dict[str, list[list[str]]] = {
    fmt: [sample_map_text(s).splitlines() for s in list_sample_maps() if s.format == fmt]
    + [doc.splitlines() for doc in EXTRA.get(fmt, [])]
    for fmt in ("iomem", "sysfs", "lsmem", "e820", "netbsd", "freebsd")
}
ALL_LINES = sorted({line for docs in CORPORA.values() for doc in docs for line in doc})
ALPHABET = "0123456789abcdefABCDEFx-[]:() .,=#/<>?\t_MEMAPRNGSTOyusblinv\r"


def mutate(draw: st.DrawFn, line: str) -> str:
    """``line`` with one to four characters replaced, inserted or deleted."""
    chars = list(line)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        at = draw(st.integers(0, len(chars)))
        char = draw(st.sampled_from(ALPHABET))
        if op == "insert" or not chars:
            chars.insert(at, char)
        elif op == "replace":
            chars[min(at, len(chars) - 1)] = char
        else:
            del chars[min(at, len(chars) - 1)]
    return "".join(chars)


@st.composite
def perturbed(draw: st.DrawFn, docs: list[list[str]]) -> str:
    """A slice of a sample document with a few lines mutated, dropped, repeated, or replaced
    by a line from another format or by random text."""
    doc = draw(st.sampled_from(docs))
    start = draw(st.integers(0, len(doc) - 1))
    lines = doc[start : start + draw(st.integers(1, 24))]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        op = draw(st.sampled_from(["mutate", "mutate", "drop", "repeat", "foreign", "random"]))
        if not lines or op == "random":
            lines.insert(at, draw(st.text(alphabet=ALPHABET, max_size=90) | st.text(max_size=30)))
        elif op == "mutate":
            lines[at] = mutate(draw, lines[at])
        elif op == "drop":
            del lines[at]
        elif op == "repeat":
            lines.insert(at, lines[at])
        else:
            lines.insert(at, draw(st.sampled_from(ALL_LINES)))
    return "\n".join(lines)


FORMAT_OF = {
    "iomem": "iomem",
    "sysfs": "sysfs",
    "lsmem": "lsmem",
    "e820": "e820",
    "e820-kernel": "e820",
    "netbsd": "netbsd",
    "freebsd": "freebsd",
}
PARSERS: dict[str, Callable[..., MemMap]] = {
    "iomem": parse_iomem,
    "sysfs": parse_sysfs_memmap,
    "lsmem": parse_lsmem,
    "e820": parse_e820,
    "e820-kernel": partial(parse_e820, view="kernel"),
    "netbsd": parse_netbsd,
    "freebsd": parse_freebsd,
}


def outcome(call: Callable[[], MemMap]) -> object:
    """What a parse gives, comparably: the map's ranges and format, or the error's fields."""
    try:
        memmap = call()
    except MemMapParseError as error:
        return (error.line_no, error.line_text, error.reason)
    return (list(memmap.ranges), memmap.format)


def streamed(parser: Callable[..., MemMap], text: str) -> object:
    """The parser's outcome on ``text`` read line by line from a byte stream."""
    stream = io.BytesIO(text.encode("utf-8"))
    if parser is parse:
        return outcome(lambda: parse_stream(stream, source="<string>"))
    return outcome(lambda: parser(bounded_byte_lines(stream, MAX_LINE_BYTES), "<string>"))


def check(parser: Callable[..., MemMap], text: str) -> None:
    assert outcome(lambda: parser(text)) == streamed(parser, text)
    try:
        memmap = parser(text)
    except MemMapParseError as error:
        lines = text.split("\n")
        assert error.line_no == 0 or error.line_text == quote_input(
            lines[error.line_no - 1].removesuffix("\r")
        )
        return
    assert memmap.ranges
    plan_boot(memmap)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parser_raises_only_memmap_parse_error(name: str, data: st.DataObject) -> None:
    text = data.draw(perturbed(CORPORA[FORMAT_OF[name]]) | st.text(max_size=200))
    check(PARSERS[name], text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_detection_and_parse_raise_only_memmap_parse_error(data: st.DataObject) -> None:
    docs = [doc for fmt_docs in CORPORA.values() for doc in fmt_docs]
    check(parse, data.draw(perturbed(docs)))
