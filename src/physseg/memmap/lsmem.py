"""Parser for the output of util-linux ``lsmem`` (``sys-utils/lsmem.c``): the table (default
and ``--raw``), ``-P``/``--pairs`` and ``-J``/``--json``.

lsmem lists Linux memory blocks (``/sys/devices/system/memory/memoryN``), merging neighbours
with the same attributes. Its default columns are ``RANGE SIZE STATE REMOVABLE BLOCK``
(``-o``/``--output-all`` add ``NODE`` and, in newer releases, ``ZONES``); ``RANGE`` is
``0x%016x-0x%016x`` with an **inclusive** end. The four outputs:

* the table: a header line (optional, ``lsmem -n``) naming ``RANGE`` and ``STATE``, aligned
  rows, and the summary lines (``Memory block size:``, ``Total online memory:``,
  ``Total offline memory:``), which are checked and otherwise ignored. ``REMOVABLE`` is blank
  for blocks that are not online, so rows are read by value, not by column position: each
  row must hold exactly one range and exactly one state (``online``, ``offline``, ``on->off``
  for going-offline, ``?``);
* ``--raw``: the same without alignment (one space between cells, a blank cell as nothing)
  and without the summary; read by the same rules;
* ``-P``/``--pairs``: one row a line, ``KEY="value"`` pairs separated by blanks, e.g.
  ``RANGE="0x0000000000000000-0x000000007fffffff" SIZE="2G" STATE="online" REMOVABLE="yes"
  BLOCK="0-15"``; every row needs ``RANGE`` and ``STATE``;
* ``-J``/``--json``: one JSON object ``{"memory": [{"range": ..., "state": ..., ...}, ...]}``
  with the columns in lower case (``removable`` a boolean in newer releases, ``"yes"``/``"no"``
  in older). It is read whole, up to :data:`MAX_JSON_BYTES`.

Kinds: ``online`` is ``USABLE``; ``offline`` and ``on->off`` are ``HOTPLUG`` (present memory
the OS may online or is removing); ``?`` is ``OTHER``. The state is kept as the label. Rows
must be in address order without overlap, as lsmem prints them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Final

from physseg.memmap._text import (
    MapText,
    checked_range,
    is_blank_or_comment,
    numbered_lines,
    parse_hex,
)
from physseg.memmap.model import MemMap, MemMapParseError, RangeKind, RangeTable

MAX_JSON_BYTES: Final = 16 << 20
"""The largest ``lsmem --json`` output read (about 100,000 blocks listed one by one with
``--all``, far more than a machine has); JSON is parsed whole, so this bounds its memory."""

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


_PAIR = re.compile(r'([A-Z][A-Z_-]*)="((?:[^"\\]|\\.)*)"', re.ASCII)
_PAIRS_LINE = re.compile(r'\s*(?:[A-Z][A-Z_-]*="(?:[^"\\]|\\.)*"\s*)+', re.ASCII)


def _row(
    table: RangeTable, range_text: str, state: str, source: str, line_no: int, line: str
) -> None:
    """Append one row's range and state, checking the range and the row order."""
    match = _RANGE.fullmatch(range_text)
    if match is None:
        raise MemMapParseError(source, line_no, line, "RANGE is not 0x<start>-0x<end>")
    if state not in _STATES:
        raise MemMapParseError(
            source, line_no, line, "STATE is not one of online, offline, on->off or ?"
        )
    start = parse_hex(match["start"], source, line_no, line)
    end = parse_hex(match["end"], source, line_no, line, inclusive_end=True)
    start, end = checked_range(start, end, source, line_no, line)
    if table and start < table[-1].end:
        raise MemMapParseError(
            source,
            line_no,
            line,
            f"[{start:#x}-{end:#x}) overlaps or precedes the row before it",
        )
    table.append(start, end, _STATES[state], state, line_no=line_no)


def parse_lsmem(text: MapText, source: str = "<string>") -> MemMap:
    """Parse ``lsmem`` output: the table (default or ``-o`` columns, with or without the
    header and the summary), ``--raw``, ``-P``/``--pairs`` or ``-J``/``--json``, told apart by
    the first line that is not blank or a ``#`` comment (``{``: JSON; ``KEY="``: pairs). Read
    one line at a time (JSON: whole, at most :data:`MAX_JSON_BYTES`). O(n) in lines.

    Raises ``MemMapParseError`` for a header without ``RANGE`` or ``STATE``, a row without
    exactly one range and one state (pairs: a ``RANGE`` and a ``STATE``), a malformed summary
    or pairs line, JSON that is not ``{"memory": [...]}`` with a ``range`` and a ``state`` in
    each entry or is longer than :data:`MAX_JSON_BYTES`, any other line, a range whose end is
    below its start or that overlaps or precedes the row before it, or no rows at all.
    """
    lines = numbered_lines(text, source)
    for line_no, line in lines:
        if is_blank_or_comment(line):
            continue
        stripped = line.lstrip()
        if stripped.startswith("{"):
            table = _parse_json(line, lines, source)
        elif _PAIR.match(stripped):
            table = _parse_pairs(itertools.chain([(line_no, line)], lines), source)
        else:
            table = _parse_table(itertools.chain([(line_no, line)], lines), source)
        if not table:
            break
        return MemMap(table, "lsmem", source)
    raise MemMapParseError(source, 0, "", "no lsmem rows")


def _parse_json(first: str, lines: Iterator[tuple[int, str]], source: str) -> RangeTable:
    """``lsmem --json``: the whole document, from its first line on."""
    parts = [first]
    size = len(first)
    for _, line in lines:
        size += len(line) + 1
        if size > MAX_JSON_BYTES:
            raise MemMapParseError(
                source, 0, "", f"lsmem JSON longer than {MAX_JSON_BYTES:,} characters"
            )
        parts.append(line)
    try:
        document = json.loads("\n".join(parts))
    except RecursionError:
        raise MemMapParseError(source, 0, "", "lsmem JSON nested too deep") from None
    except ValueError as exc:
        raise MemMapParseError(source, 0, "", f"not valid JSON: {exc}") from None
    rows = document.get("memory") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise MemMapParseError(source, 0, "", 'lsmem JSON must be {"memory": [...]}')
    table = RangeTable()
    for number, row in enumerate(rows):
        where = f"memory[{number}]"
        if not isinstance(row, dict):
            raise MemMapParseError(source, 0, "", f"{where} is not an object")
        range_text, state = row.get("range"), row.get("state")
        if not isinstance(range_text, str) or not isinstance(state, str):
            raise MemMapParseError(source, 0, "", f'{where} needs "range" and "state" strings')
        try:
            _row(table, range_text, state, source, 1, range_text)
        except MemMapParseError as exc:
            raise MemMapParseError(source, 0, "", f"{where}: {exc.reason}") from None
    return table


def _parse_pairs(lines: Iterable[tuple[int, str]], source: str) -> RangeTable:
    """``lsmem -P``: ``KEY="value"`` rows, from the first one on."""
    table = RangeTable()
    for line_no, line in lines:
        if is_blank_or_comment(line) or _SUMMARY.fullmatch(line.strip()):
            continue
        if not _PAIRS_LINE.fullmatch(line):
            raise MemMapParseError(source, line_no, line, 'not an lsmem -P row (KEY="value" pairs)')
        values = dict(_PAIR.findall(line))
        if "RANGE" not in values or "STATE" not in values:
            raise MemMapParseError(source, line_no, line, "an lsmem -P row needs RANGE and STATE")
        _row(table, values["RANGE"], values["STATE"], source, line_no, line)
    return table


def _parse_table(lines: Iterable[tuple[int, str]], source: str) -> RangeTable:
    """The table (default or ``--raw``), from its first line on."""
    table = RangeTable()
    seen_header = False
    for line_no, line in lines:
        if not is_blank_or_comment(line):
            seen_header = _table_line(table, seen_header, line_no, line, source)
    return table


def _table_line(table: RangeTable, seen_header: bool, line_no: int, line: str, source: str) -> bool:
    """Read one line of the table; returns whether the header has been seen."""
    tokens = line.split()
    names = set(tokens)
    if tokens[0] == "RANGE" or names <= _COLUMNS:
        if seen_header or table or not {"RANGE", "STATE"} <= names <= _COLUMNS:
            raise MemMapParseError(
                source,
                line_no,
                line,
                "lsmem header must come first and name RANGE and STATE among "
                + ", ".join(sorted(_COLUMNS)),
            )
        return True
    if _SUMMARY.fullmatch(line.strip()):
        return seen_header
    found = [m for m in map(_RANGE.fullmatch, tokens) if m is not None]
    states = [t for t in tokens if t in _STATES]
    if len(found) != 1 or len(states) != 1:
        raise MemMapParseError(
            source,
            line_no,
            line,
            "not an lsmem row (one 0x...-0x... range and one state: online, offline, on->off or ?)",
        )
    _row(table, found[0].group(), states[0], source, line_no, line)
    return seen_header
