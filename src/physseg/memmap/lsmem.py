"""Parser for the table printed by util-linux ``lsmem`` (``sys-utils/lsmem.c``).

lsmem lists Linux memory blocks (``/sys/devices/system/memory/memoryN``), merging neighbours
with the same attributes. Its default columns are ``RANGE SIZE STATE REMOVABLE BLOCK``
(``-o``/``--output-all`` add ``NODE`` and, in newer releases, ``ZONES``); ``RANGE`` is
``0x%016x-0x%016x`` with an **inclusive** end. ``REMOVABLE`` is blank for blocks that are not
online, so rows are read by value, not by column position: each row must hold exactly one
range and exactly one state (``online``, ``offline``, ``on->off`` for going-offline, ``?``).
The header line is optional (``lsmem -n``) but, if present, must name ``RANGE`` and ``STATE``.
The summary lines (``Memory block size:``, ``Total online memory:``,
``Total offline memory:``) are checked and otherwise ignored.

Kinds: ``online`` is ``USABLE``; ``offline`` and ``on->off`` are ``HOTPLUG`` (present memory
the OS may online or is removing); ``?`` is ``OTHER``. The state is kept as the label.
"""

from __future__ import annotations

import re

from physseg.memmap._text import checked_range, is_blank_or_comment, numbered_lines, parse_hex
from physseg.memmap.model import MemMap, MemMapParseError, MemRange, RangeKind

_RANGE = re.compile(r"0x(?P<start>[0-9a-fA-F]+)-0x(?P<end>[0-9a-fA-F]+)", re.ASCII)
_STATES = {
    "online": RangeKind.USABLE,
    "offline": RangeKind.HOTPLUG,
    "on->off": RangeKind.HOTPLUG,
    "?": RangeKind.OTHER,
}
_COLUMNS = frozenset({"RANGE", "SIZE", "STATE", "REMOVABLE", "BLOCK", "NODE", "ZONES"})
_SUMMARY = re.compile(
    r"(?:Memory block size|Total online memory|Total offline memory):\s+"
    r"(?:[0-9]+(?:[.,][0-9]+)?[KMGTPEZY]?B?)",
    re.ASCII,
)


def parse_lsmem(text: str, source: str = "<string>") -> MemMap:
    """Parse ``lsmem`` output (default or ``-o`` columns, with or without the header and the
    summary); blank lines and ``#`` comments are skipped. O(n) in the number of lines.

    Raises ``MemMapParseError`` for a header without ``RANGE`` or ``STATE``, a row without
    exactly one range and one state, a malformed summary line, any other line, a range whose
    end is below its start or that overlaps or precedes the row before it, or no rows at all.
    """
    ranges: list[MemRange] = []
    seen_header = False
    for line_no, line in numbered_lines(text):
        if is_blank_or_comment(line):
            continue
        tokens = line.split()
        names = set(tokens)
        if tokens[0] == "RANGE" or names <= _COLUMNS:
            if seen_header or ranges or not {"RANGE", "STATE"} <= names <= _COLUMNS:
                raise MemMapParseError(
                    source,
                    line_no,
                    line,
                    "lsmem header must come first and name RANGE and STATE among "
                    + ", ".join(sorted(_COLUMNS)),
                )
            seen_header = True
            continue
        if _SUMMARY.fullmatch(line.strip()):
            continue
        found = [m for m in map(_RANGE.fullmatch, tokens) if m is not None]
        states = [t for t in tokens if t in _STATES]
        if len(found) != 1 or len(states) != 1:
            raise MemMapParseError(
                source,
                line_no,
                line,
                "not an lsmem row (one 0x...-0x... range and one state: "
                "online, offline, on->off or ?)",
            )
        match = found[0]
        start = parse_hex(match["start"], source, line_no, line)
        end = parse_hex(match["end"], source, line_no, line, inclusive_end=True)
        start, end = checked_range(start, end, source, line_no, line)
        if ranges and start < ranges[-1].end:
            raise MemMapParseError(
                source,
                line_no,
                line,
                f"[{start:#x}-{end:#x}) overlaps or precedes the row before it",
            )
        ranges.append(MemRange(start, end, _STATES[states[0]], states[0]))
    if not ranges:
        raise MemMapParseError(source, 0, "", "no lsmem rows")
    return MemMap(tuple(ranges), "lsmem", source)
