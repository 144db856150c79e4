"""Untrusted text input: reading it a bounded line at a time, and quoting it back in messages.

Whatever a user feeds physseg (a memory map, a trace, standard input) may hold terminal escape
sequences or a line of hundreds of megabytes. Two rules hold everywhere input is read or
echoed:

* a line is read with a size limit (:func:`bounded_byte_lines`): memory stays
  O(``limit``) whatever the input, and an over-long line is reported with its length, never
  kept;
* every piece of input a message quotes goes through :func:`quote_input`: control characters
  are shown escaped (``\\x1b``, ``\\n``), never sent to the terminal, and a long text is cut to
  :data:`QUOTE_CHARS` characters followed by its full length in bytes.

>>> quote_input("plug 4G\\x1b[2J 64M")
'plug 4G\\\\x1b[2J 64M'
>>> quote_input("x" * 300, max_chars=8)
'xxxxxxxx... (300 bytes)'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final, NamedTuple

QUOTE_CHARS: Final = 200
"""Characters of input a message quotes at most (a map or trace line is under 150)."""
SKIP_BYTES: Final = 1 << 16
"""Bytes read at a time while skipping the rest of an over-long line (memory per read)."""
COUNT_LIMIT_BYTES: Final = 1 << 30
"""How far the rest of an over-long line is read to count it: reading stops a little past
this (an endless stream without a newline), and the line is quoted as "more than" this."""

_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(ch: str) -> str:
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if code < 32 or 127 <= code < 160:
        return f"\\x{code:02x}"
    if code in (0x2028, 0x2029, 0x200E, 0x200F) or 0x202A <= code <= 0x202E:
        return f"\\u{code:04x}"
    return ch


def quote_input(text: str, *, max_chars: int = QUOTE_CHARS, total_bytes: int | None = None) -> str:
    """``text`` as a one-line message may show it: C0 and C1 control characters (escape,
    newline, carriage return, DEL...), line and paragraph separators and bidirectional
    overrides shown escaped (``\\x1b``, ``\\n``, ``\\u202e``; a backslash is left as it is,
    so a ``repr`` inside a message reads as usual), and at most ``max_chars`` characters
    shown, escapes counted. When that cuts ``text`` (or ``total_bytes``, the length in bytes of
    the whole input ``text`` was cut from, is larger than ``text``), ``"... (N bytes)"``
    follows, N being ``total_bytes`` or the UTF-8 length of ``text`` (``"more than"``
    :data:`COUNT_LIMIT_BYTES` beyond that count). O(``max_chars``), plus O(len(text)) to
    count bytes when ``text`` is cut and no ``total_bytes`` is given; O(len(text)) without a
    character loop for short printable ASCII. Raises nothing.

    >>> quote_input("a\\tb\\u202ec")
    'a\\\\tb\\\\u202ec'
    >>> quote_input("abcdef", max_chars=3, total_bytes=10_000)
    'abc... (10,000 bytes)'
    """
    plain = len(text) <= max_chars and text.isascii() and text.isprintable()
    if plain and (total_bytes is None or total_bytes <= len(text)):
        return text  # nothing to escape or cut: every trace line is quoted as it is read
    pieces: list[str] = []
    shown = 0
    used = 0
    for ch in text:
        piece = _escaped(ch)
        if shown + len(piece) > max_chars:
            break
        pieces.append(piece)
        shown += len(piece)
        used += 1
    quoted = "".join(pieces)
    if used == len(text):
        if total_bytes is None or total_bytes <= len(text.encode("utf-8", "replace")):
            return quoted
    elif total_bytes is None:
        total_bytes = len(text.encode("utf-8", "replace"))
    if total_bytes > COUNT_LIMIT_BYTES:
        return f"{quoted}... (more than {COUNT_LIMIT_BYTES:,} bytes)"
    return f"{quoted}... ({total_bytes:,} bytes)"


class InputLine(NamedTuple):
    """One line as :func:`bounded_byte_lines` read it (a named tuple: millions are made, and
    a tuple is the cheapest record to make): its 1-based number, its text (decoded
    as UTF-8 with bad bytes replaced, the ``\\n`` and one ``\\r`` before it removed; only the
    first ``limit`` bytes of an over-long line), ``nbytes``, the line's full length in bytes
    without its newline, and ``cut``, whether only a prefix was kept (``nbytes > limit``)."""

    line_no: int
    text: str
    nbytes: int
    cut: bool = False


def bounded_byte_lines(stream: BinaryIO, limit: int) -> Iterator[InputLine]:
    """The lines of a binary ``stream`` split on ``\\n`` only, numbered from 1, never holding
    more than ``limit + 1`` bytes of one: an over-long line keeps its first ``limit`` bytes,
    the rest is read :data:`SKIP_BYTES` at a time, counted (up to :data:`COUNT_LIMIT_BYTES`)
    and dropped, and the line is yielded with ``cut`` set and its byte count (more than
    :data:`COUNT_LIMIT_BYTES` when counting stopped there), for the caller to refuse.
    Memory O(``limit``); time O(bytes read). Raises ``ValueError`` for ``limit < 1`` and what
    the stream's ``readline`` raises (``OSError``).

    >>> import io
    >>> [(ln.line_no, ln.text, ln.nbytes, ln.cut) for ln in bounded_byte_lines(
    ...     io.BytesIO(b"ab\\r\\n" + b"x" * 10 + b"\\nz"), 4)]
    [(1, 'ab', 3, False), (2, 'xxxx', 10, True), (3, 'z', 1, False)]
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    line_no = 0
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        line_no += 1
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            nbytes = len(raw)
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield InputLine(line_no, raw.decode("utf-8", "replace"), nbytes)
            continue
        nbytes = len(raw)
        if nbytes <= limit:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield InputLine(line_no, raw.decode("utf-8", "replace"), nbytes)
            continue
        while nbytes < COUNT_LIMIT_BYTES:
            rest = stream.readline(SKIP_BYTES)
            if not rest:
                break
            if rest.endswith(b"\n"):
                nbytes += len(rest) - 1
                break
            nbytes += len(rest)
        yield InputLine(line_no, raw[:limit].decode("utf-8", "replace"), nbytes, cut=True)
