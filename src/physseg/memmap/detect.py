"""Format detection and the entry points that dispatch to the parsers: :func:`detect_format`,
:func:`parse`, :func:`parse_stream` and :func:`load_map`.

Detection, in this order (the first rule that holds wins):

1. The first line that is neither blank nor a ``#`` comment decides the file formats:
   ``<hex>-<hex> : <name>`` without indentation is ``iomem``; ``<path>/<N>/start:``,
   ``/end:`` or ``/type:`` is ``sysfs``; an lsmem header (``RANGE ...``), a row starting with
   ``0x<hex>-0x<hex>`` and more columns (the table or ``lsmem --raw``), a ``RANGE="``
   pair (``lsmem -P``) or ``{`` (``lsmem --json``, the only JSON format) is ``lsmem``.
2. Otherwise the log formats, looking at every line after its log prefix: an e820 table line
   (as :mod:`physseg.memmap.e820` defines it) or ``... physical RAM map:`` header is ``e820``;
   else a ``MEMMAP:`` line is ``netbsd``; else ``Physical memory chunk(s):`` is ``freebsd``;
   else ``total memory = <n>[ <unit>B]`` is ``netbsd``; else ``real memory`` or
   ``avail memory = <bytes> (<n> MB)`` is ``freebsd``; else ``avail memory = <n>[ <unit>B]``
   is ``netbsd``.

Detection reads the input one line at a time and stops as soon as the answer is known (the
first line for the file formats, the first e820 line for a log). A stream is read twice,
once to detect and once to parse: a file is sought back to where it started, anything else
(a pipe, standard input) is first copied into a temporary file that stays in memory up to
:data:`SPOOL_BYTES`.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final, cast

from physseg.memmap import e820, freebsd, iomem, lsmem, netbsd, sysfs
from physseg.memmap._text import (
    MAX_LINE_BYTES,
    MapText,
    is_blank_or_comment,
    numbered_lines,
    strip_log_prefix,
)
from physseg.memmap.model import MemMap, MemMapParseError
from physseg.memmap.samples import find_sample_map, list_sample_maps, sample_map_text
from physseg.textinput import InputLine, bounded_byte_lines, quote_input

LOOKAHEAD_BYTES: Final = 1 << 20
"""How much of an unseekable stream (a pipe) is read ahead to detect its format; when those
lines do not settle it (a log without an e820 table), the stream is copied and read twice."""
SPOOL_BYTES: Final = 8 << 20
"""How much of that copy is kept in memory; the rest goes to a temporary file."""
MAX_COPY_BYTES: Final = 1 << 30
"""The longest unseekable stream copied for a second read (an endless one is refused)."""
COPY_CHUNK_BYTES: Final = 1 << 20
"""Bytes copied at a time."""

PARSERS: dict[str, Callable[[MapText, str], MemMap]] = {
    "iomem": iomem.parse_iomem,
    "sysfs": sysfs.parse_sysfs_memmap,
    "lsmem": lsmem.parse_lsmem,
    "e820": e820.parse_e820,
    "netbsd": netbsd.parse_netbsd,
    "freebsd": freebsd.parse_freebsd,
}
"""Format name to parser ``(text or streamed lines, source) -> MemMap``."""

_IOMEM = re.compile(r"[0-9a-fA-F]+-[0-9a-fA-F]+ :(?: .*)?", re.ASCII)
_SYSFS = re.compile(r"(?:[^:]*/)?[0-9]+/(?:start|end|type):.*", re.ASCII)
_LSMEM_ROW = re.compile(r"0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\s+\S.*", re.ASCII)
_LSMEM_OTHER = re.compile(r'\{|RANGE="', re.ASCII)
_NETBSD_TOTAL = re.compile(r"total memory = [0-9]+(?: [KMGTPE]B)?", re.ASCII)
_NETBSD_AVAIL = re.compile(r"avail memory = [0-9]+(?: [KMGTPE]B)?", re.ASCII)
_FREEBSD_SIZE = re.compile(r"(?:real|avail) memory +=  ?[0-9]+ \(", re.ASCII)
_LOG_RULES: tuple[tuple[str, Callable[[str], object]], ...] = (
    ("e820", e820.is_e820_line),
    ("netbsd", lambda body: body.startswith("MEMMAP:")),
    ("freebsd", lambda body: body == "Physical memory chunk(s):"),
    ("netbsd", _NETBSD_TOTAL.fullmatch),
    ("freebsd", _FREEBSD_SIZE.match),
    ("netbsd", _NETBSD_AVAIL.fullmatch),
)
"""(format, predicate on a stripped log line), in priority order."""


class MemMapFormatError(MemMapParseError):
    """No detection rule matched the input: ``formats`` names the formats tried (the keys of
    :data:`PARSERS`); a caller says how its user names one (``fmt=`` in Python, ``--format``
    on the command line)."""

    def __init__(self, source: str, formats: tuple[str, ...]) -> None:
        super().__init__(
            source,
            0,
            "",
            "cannot tell the format (want /proc/iomem, /sys/firmware/memmap, lsmem, a Linux "
            "e820 table, NetBSD MEMMAP:/total memory or FreeBSD memory lines)",
        )
        self.formats = formats


def _file_format(first: str) -> str | None:
    if _IOMEM.fullmatch(first):
        return "iomem"
    stripped = first.strip()
    if _SYSFS.fullmatch(stripped):
        return "sysfs"
    if stripped.split()[0] == "RANGE" or _LSMEM_ROW.fullmatch(stripped):
        return "lsmem"
    if _LSMEM_OTHER.match(stripped):
        return "lsmem"
    return None


def detect_format(text: MapText, source: str = "<string>") -> str:
    """The format name of ``text`` (a string or streamed lines; a key of :data:`PARSERS`), by
    the rules in the module docstring, reading no further than needed. O(n) in the lines read.

    Raises ``MemMapFormatError`` (a ``MemMapParseError`` for the whole input) when no rule
    matches, and ``MemMapParseError`` for a line longer than the parsers accept.
    """
    found, _ = _detect(text, source)
    if found is None:
        raise MemMapFormatError(source, tuple(PARSERS))
    return found


def _detect(text: MapText, source: str) -> tuple[str | None, bool]:
    """The best format the lines of ``text`` show, and whether no later line could change it
    (a file format, or an e820 line: the first log rule)."""
    best = len(_LOG_RULES)
    first_seen = False
    for _, line in numbered_lines(text, source):
        if not first_seen and not is_blank_or_comment(line):
            first_seen = True
            found = _file_format(line.rstrip())
            if found is not None:
                return found, True
        body = strip_log_prefix(line).strip()
        for rank in range(best):
            if _LOG_RULES[rank][1](body):
                best = rank
                break
        if best == 0:
            return _LOG_RULES[0][0], True
    return (_LOG_RULES[best][0] if best < len(_LOG_RULES) else None), False


def parse(text: MapText, fmt: str | None = None, source: str = "<string>") -> MemMap:
    """Parse ``text`` (a string, or lines streamed once: then give ``fmt``, or use
    :func:`parse_stream`) as ``fmt`` (a key of :data:`PARSERS`), detected when ``None``.
    Raises ``MemMapParseError`` from detection or the parser, ``ValueError`` for an unknown
    ``fmt``. O(n) in lines."""
    parser = PARSERS.get(fmt) if fmt is not None else None
    if fmt is not None and parser is None:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(PARSERS)}")
    if parser is None:
        parser = PARSERS[detect_format(text, source)]
    return parser(text, source)


def parse_stream(stream: BinaryIO, fmt: str | None = None, source: str = "<stream>") -> MemMap:
    """Parse a map from a binary ``stream`` one line at a time (UTF-8, bad bytes replaced;
    no line longer than :data:`physseg.memmap._text.MAX_LINE_BYTES` is ever held): memory
    O(one line) beyond the parsed map whatever the input's size. With ``fmt=None`` the format
    is detected first (see the module docstring): from the lines up to :data:`LOOKAHEAD_BYTES`
    when they settle it, else by a second read, of the file itself when ``stream`` can seek,
    else of a copy of the stream (in memory up to :data:`SPOOL_BYTES`, then in a temporary
    file; at most :data:`MAX_COPY_BYTES`). O(n) in lines.

    Raises what :func:`parse` raises, ``MemMapParseError`` for an unseekable stream longer
    than :data:`MAX_COPY_BYTES` whose format is not settled by its first lines, and
    ``OSError`` from reading the stream or writing the copy.
    """
    lines = bounded_byte_lines(stream, MAX_LINE_BYTES)
    if fmt is not None:
        return parse(lines, fmt, source)
    if stream.seekable():
        start = stream.tell()
        found = detect_format(lines, source)
        stream.seek(start)
        return parse(bounded_byte_lines(stream, MAX_LINE_BYTES), found, source)
    head: list[InputLine] = []
    size = 0
    for line in lines:
        head.append(line)
        size += len(line.text) + 1
        if size >= LOOKAHEAD_BYTES or line.cut:
            break
    else:
        return parse(head, detect_format(head, source), source)  # the whole input
    guess, settled = _detect(head, source)
    if settled and guess is not None:
        return parse(itertools.chain(head, lines), guess, source)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as copy:
        for line in head:
            copy.write(line.text.encode("utf-8", "surrogatepass") + b"\n")
        copied = copy.tell()
        while chunk := stream.read(COPY_CHUNK_BYTES):
            copied += len(chunk)
            if copied > MAX_COPY_BYTES:
                raise MemMapParseError(
                    source,
                    0,
                    "",
                    f"longer than {MAX_COPY_BYTES:,} bytes and its format is not clear from"
                    " its first lines; name the format",
                )
            copy.write(chunk)
        copy.seek(0)
        return parse_stream(cast(BinaryIO, copy), None, source)


def load_map(path_or_name: str | Path, fmt: str | None = None) -> MemMap:
    """Load a map from a file, a ``/sys/firmware/memmap``-style directory, or the name of a
    shipped sample (:func:`physseg.memmap.samples.list_sample_maps`); an existing path wins
    over a sample of the same name. ``fmt`` as in :func:`parse` (a directory is always
    ``sysfs``). A file is read as a stream (:func:`parse_stream`), never whole.

    Raises ``FileNotFoundError`` if ``path_or_name`` is neither, ``ValueError`` for a ``fmt``
    other than ``sysfs`` with a directory, and what :func:`parse` raises.
    """
    path = Path(path_or_name)
    if path.is_dir():
        if fmt not in (None, "sysfs"):
            raise ValueError(f"{path} is a directory, which only the sysfs format reads")
        return sysfs.parse_sysfs_memmap_dir(path)
    if path.is_file():
        with path.open("rb") as stream:
            return parse_stream(stream, fmt, str(path))
    sample = find_sample_map(str(path_or_name))
    if sample is None:
        names = ", ".join(s.name for s in list_sample_maps())
        raise FileNotFoundError(
            f"'{quote_input(str(path_or_name))}' is neither a file nor a shipped sample map"
            f" ({names})"
        )
    return parse(sample_map_text(sample), fmt or sample.format, f"sample:{sample.name}")
