"""physseg.textinput: bounded_byte_lines splits a stream as str.split("\\n") would, never keeping
more than the limit of a line, and quote_input never lets a control character through."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.textinput import bounded_byte_lines, quote_input

CHUNKS = st.lists(st.sampled_from([b"a", b"\xc3\xa9", b"\n", b"\r", b"\r\n", b"xyz", b"\xff"]))


@settings(max_examples=300, deadline=None)
@given(CHUNKS.map(b"".join), st.integers(1, 8))
def test_lines_match_a_plain_split_cut_at_the_limit(data: bytes, limit: int) -> None:
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    got = list(bounded_byte_lines(io.BytesIO(data), limit))
    assert [line.line_no for line in got] == list(range(1, len(expected) + 1))
    for line, raw in zip(got, expected, strict=True):
        assert line.nbytes == len(raw)
        assert line.cut == (len(raw) > limit)
        kept = raw[:limit] if line.cut else raw.removesuffix(b"\r")
        assert line.text == kept.decode("utf-8", "replace")


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(bounded_byte_lines(io.BytesIO(b"x"), 0))


@given(st.text(), st.integers(0, 50))
def test_quoted_text_holds_no_control_character_and_respects_the_width(
    text: str, width: int
) -> None:
    quoted = quote_input(text, max_chars=width)
    suffix = f"... ({len(text.encode('utf-8', 'replace')):,} bytes)"
    assert len(quoted) <= width + (len(suffix) if quoted.endswith(suffix) else 0)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in quoted)
