"""Parser for FreeBSD boot messages (``dmesg``, ``/var/run/dmesg.boot``).

With ``boot -v`` (bootverbose) ``cpu_startup`` (``sys/amd64/amd64/machdep.c``) lists the
memory the VM was given, ``phys_avail[]``::

    Physical memory chunk(s):
    0x0000000000010000 - 0x000000000009bfff, 573440 bytes (140 pages)

Each chunk's end is **inclusive**, ``bytes`` must equal ``end - start + 1`` and be ``pages``
pages of a power-of-two size. Older and 32-bit kernels print ``0x%08x``; arm64 prints
``%#016jx``, which drops the ``0x`` of a zero, so the prefix is optional. Chunks become
``USABLE`` ranges labelled ``physical memory chunk``. A later list (another boot) replaces an
earlier one.

Without a chunk list, ``real memory  = <bytes> (<n> MB)`` (else ``avail memory = ...``)
becomes one ``USABLE`` range ``[0, bytes)``: an approximation with no holes (``real memory``
may even come from SMBIOS's installed size).

Lines are read after :func:`physseg.memmap._text.strip_log_prefix`. The header, a line
starting like a chunk (``<hex> - <hex>,``) and ``real memory`` / ``avail memory`` lines
must parse; every other line is not part of the format and is skipped.
"""

from __future__ import annotations

import re

from physseg.memmap._text import (
    MapText,
    checked_range,
    numbered_lines,
    parse_hex,
    strip_log_prefix,
)
from physseg.memmap.model import (
    ADDRESS_LIMIT,
    MemMap,
    MemMapParseError,
    MemRange,
    RangeKind,
    RangeTable,
)

_HEADER = "Physical memory chunk(s):"
_CHUNK_CANDIDATE = re.compile(r"(?:0x)?[0-9a-fA-F]+ - (?:0x)?[0-9a-fA-F]+,", re.ASCII)
_CHUNK = re.compile(
    r"(?:0x)?(?P<start>[0-9a-fA-F]{1,16}) - (?:0x)?(?P<end>[0-9a-fA-F]{1,16}), "
    r"(?P<bytes>[0-9]{1,20}) bytes \((?P<pages>[0-9]{1,20}) pages\)",
    re.ASCII,
)
_SIZE_CANDIDATE = re.compile(r"(?:real|avail) memory +=", re.ASCII)
_SIZE = re.compile(
    r"(?P<which>real|avail) memory +=  ?(?P<bytes>[0-9]{1,20}) "
    r"\((?P<amount>[0-9]{1,20}) ?(?P<unit>MB|K bytes)\)",
    re.ASCII,
)


def _chunk(match: re.Match[str], source: str, no: int, line: str) -> MemRange:
    start = parse_hex(match["start"], source, no, line)
    end = parse_hex(match["end"], source, no, line, inclusive_end=True)
    start, end = checked_range(start, end, source, no, line)
    size, pages = int(match["bytes"]), int(match["pages"])
    if size != end - start:
        raise MemMapParseError(source, no, line, f"{size} bytes but the range holds {end - start}")
    page_size = size // pages if pages else 0
    if page_size == 0 or page_size * pages != size or page_size & (page_size - 1):
        raise MemMapParseError(source, no, line, f"{size} bytes is not {pages} whole pages")
    return MemRange(start, end, RangeKind.USABLE, "physical memory chunk")


def parse_freebsd(text: MapText, source: str = "<string>") -> MemMap:
    """Parse FreeBSD boot messages: the last ``Physical memory chunk(s):`` list, else one range
    from ``real memory`` / ``avail memory`` (see the module docstring). O(n) in lines.

    Raises ``MemMapParseError`` for a malformed chunk or size line, a chunk whose byte or page
    count does not match its range, a chunk outside a list, a size whose MB/KB figure does not
    match its bytes, and for the whole input when there is neither a chunk nor a non-zero size.
    Reads ``text`` (a string or streamed lines) one line at a time, keeping only the list
    being read and the last non-empty one.
    """
    current: RangeTable | None = None
    last_full: RangeTable | None = None
    sizes: dict[str, int] = {}
    for no, line in numbered_lines(text, source):
        body = strip_log_prefix(line).strip()
        if body == _HEADER:
            last_full = current if current else last_full
            current = RangeTable()
        elif _CHUNK_CANDIDATE.match(body):
            match = _CHUNK.fullmatch(body)
            if match is None:
                raise MemMapParseError(source, no, line, "malformed physical memory chunk line")
            if current is None:
                raise MemMapParseError(source, no, line, f"chunk line outside a '{_HEADER}' list")
            current.add(_chunk(match, source, no, line), no)
        elif _SIZE_CANDIDATE.match(body):
            match = _SIZE.fullmatch(body)
            if match is None:
                raise MemMapParseError(source, no, line, "expected '<bytes> (<n> MB)'")
            size = int(match["bytes"])
            shift = 20 if match["unit"] == "MB" else 10
            if not 0 < size <= ADDRESS_LIMIT:
                raise MemMapParseError(source, no, line, "memory size is zero or beyond 64 bits")
            if int(match["amount"]) != size >> shift:
                raise MemMapParseError(
                    source, no, line, f"{match['amount']} {match['unit']} does not match {size}"
                )
            sizes[match["which"]] = size
    last_full = current if current else last_full
    if last_full is not None:
        return MemMap(last_full, "freebsd", source)
    for which in ("real", "avail"):
        if which in sizes:
            rng = MemRange(0, sizes[which], RangeKind.USABLE, f"{which} memory")
            return MemMap((rng,), "freebsd", source)
    raise MemMapParseError(
        source, 0, "", f"no '{_HEADER}' list and no 'real memory =' or 'avail memory =' line"
    )
