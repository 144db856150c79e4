"""Line handling shared by the memory-map parsers: splitting, comments, and stripping the
prefixes that log collectors put in front of kernel messages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final, TypeAlias

from physseg.memmap.model import ADDRESS_LIMIT, MemMapParseError
from physseg.textinput import InputLine

MapText: TypeAlias = str | Iterable[InputLine]
"""What a parser reads: the whole text, or its lines as
:func:`physseg.textinput.bounded_byte_lines` yields them (a stream read line by line)."""

MAX_LINE_BYTES: Final = 64 << 10
"""The longest line (bytes, newline excluded) a memory map may have. Real lines are under 200
bytes (a ``/proc/iomem`` name is at most a few dozen); the bound keeps one line's memory small
whatever the input."""

_SYSLOG = re.compile(
    r"(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+-]+Z?) \S+ \S+?: ",
    re.ASCII,
)
_LOGLEVEL = re.compile(r"<[0-9]+>", re.ASCII)
_FACILITY = re.compile(r"[a-z]+ *:(?:emerg|alert|crit|err|warn|notice|info|debug) *: ", re.ASCII)
_TIMESTAMP = re.compile(
    r"\[ *[0-9]+\.[0-9]+\] ?|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}\] ?",
    re.ASCII,
)


def _split(text: str) -> Iterator[tuple[int, str]]:
    """The lines of ``text`` one at a time (no list of them all), split on ``\\n`` only."""
    line_no, at = 0, 0
    while True:
        line_no += 1
        cut = text.find("\n", at)
        if cut < 0:
            if at < len(text):
                yield line_no, text[at:]
            return
        yield line_no, text[at:cut]
        at = cut + 1


def numbered_lines(text: MapText, source: str = "<string>") -> Iterator[tuple[int, str]]:
    """Yield ``(line_no, line)`` for every line of ``text`` (1-based, split on ``\\n`` only,
    a trailing ``\\r`` removed), so numbers match what an editor shows; the same lines
    whether ``text`` is a string or its lines read from a stream. Lazy: O(one line) memory
    beyond the input, O(len(text)) time.

    Raises ``MemMapParseError`` for a line longer than :data:`MAX_LINE_BYTES` bytes (quoting
    its start and its length, never all of it).
    """
    if isinstance(text, str):
        for line_no, line in _split(text):
            if len(line) > MAX_LINE_BYTES // 4:
                size = len(line.encode("utf-8", "surrogatepass"))
                if size > MAX_LINE_BYTES:
                    raise MemMapParseError(source, line_no, line, _too_long(), line_bytes=size)
            yield line_no, line.removesuffix("\r")
        return
    for read in text:
        if read.cut:
            raise MemMapParseError(
                source, read.line_no, read.text, _too_long(), line_bytes=read.nbytes
            )
        yield read.line_no, read.text


def _too_long() -> str:
    return f"line longer than {MAX_LINE_BYTES:,} bytes (no memory-map line is)"


def is_blank_or_comment(line: str) -> bool:
    """True for an empty line or one whose first non-blank character is ``#``."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def strip_log_prefix(line: str) -> str:
    """Remove what log tools put before a kernel message: a syslog/journal prefix
    (``"Dec 14 10:00:00 host kernel: "``), a raw ``<6>`` level, ``dmesg -x``'s
    ``"kern  :info  : "`` and a ``[    0.000000]`` or ``dmesg -T`` timestamp (each optional,
    in that order). Leading blanks of the message itself are kept. O(len(line))."""
    rest = line
    for pattern in (_SYSLOG, _LOGLEVEL, _FACILITY, _TIMESTAMP):
        match = pattern.match(rest)
        if match:
            rest = rest[match.end() :]
    return rest


def parse_hex(
    digits: str, source: str, line_no: int, line: str, *, inclusive_end: bool = False
) -> int:
    """The value of hex ``digits`` (no ``0x``); with ``inclusive_end`` the value plus one
    (an inclusive end made exclusive). Raises ``MemMapParseError`` if the result is not
    below 2**64 (2**64 itself allowed for an exclusive end)."""
    value = int(digits, 16) + (1 if inclusive_end else 0)
    limit = ADDRESS_LIMIT if inclusive_end else ADDRESS_LIMIT - 1
    if value > limit:
        raise MemMapParseError(source, line_no, line, "address does not fit in 64 bits")
    return value


def checked_range(start: int, end: int, source: str, line_no: int, line: str) -> tuple[int, int]:
    """``(start, end)`` unchanged if ``start < end``; else ``MemMapParseError`` naming the
    range (an empty or reversed range is malformed in every format)."""
    if start >= end:
        raise MemMapParseError(
            source, line_no, line, f"range [{start:#x}-{end:#x}) is empty or reversed"
        )
    return start, end
