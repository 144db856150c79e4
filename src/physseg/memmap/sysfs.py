"""Parser for Linux ``/sys/firmware/memmap`` (``Documentation/ABI/testing/sysfs-firmware-memmap``).

The directory holds one subdirectory per firmware map entry, ``0``, ``1``, ``2``... in firmware
order, each with three files: ``start`` and ``end`` (hex with ``0x``; ``end`` is
**inclusive**) and ``type`` (``System RAM``, ``ACPI Tables``, ``ACPI Non-volatile Storage``,
``Reserved``/``reserved``, ``Persistent Memory``... kinds from
:func:`physseg.memmap.model.classify_label`). It is the raw firmware map kexec uses, before the
kernel's own edits.

Two inputs are accepted: the directory itself (:func:`parse_sysfs_memmap_dir`) and its text
dump as printed by ``grep -r . /sys/firmware/memmap`` (:func:`parse_sysfs_memmap`), one
``<path>/<N>/<field>:<value>`` line per file, in any order.
"""

from __future__ import annotations

import array
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physseg.memmap._text import MapText, is_blank_or_comment, numbered_lines
from physseg.memmap.model import (
    ADDRESS_LIMIT,
    MemMap,
    MemMapParseError,
    MemRange,
    RangeTable,
    classify_label,
)

_LINE = re.compile(
    r"(?:[^:]*/)?(?P<index>[0-9]+)/(?P<field>start|end|type):(?P<value>.*)", re.ASCII
)
_HEX = re.compile(r"0x[0-9a-fA-F]+", re.ASCII)
_FIELDS = ("start", "end", "type")
_MAX_INDEX_DIGITS = 19
"""Digits an entry number may have (it is kept as a 64-bit unsigned integer)."""
_DENSE_INDEXES = 1 << 24
"""Entry numbers below this are remembered a byte each (16 MiB at most), the rest in a set."""


@dataclass(slots=True)
class _Field:
    value: str
    source: str
    line_no: int
    line: str


def _missing(index: int, fields: dict[str, _Field]) -> None:
    """Raise the error for the first field ``fields`` lacks, naming its first line."""
    first = min(fields.values(), key=lambda f: f.line_no)
    for name in _FIELDS:
        if name not in fields:
            raise MemMapParseError(
                first.source, first.line_no, first.line, f"entry {index} has no '{name}'"
            )


def _entry(index: int, fields: dict[str, _Field]) -> MemRange:
    """The range of a complete entry; ``MemMapParseError`` naming the bad field's line."""
    values: dict[str, int] = {}
    for name in ("start", "end"):
        field = fields[name]
        if not _HEX.fullmatch(field.value):
            raise MemMapParseError(
                field.source, field.line_no, field.line, f"'{name}' is not a 0x hex number"
            )
        values[name] = int(field.value, 16)
    start, end = values["start"], values["end"] + 1
    if not start < end <= ADDRESS_LIMIT:
        field = fields["end"]
        raise MemMapParseError(
            field.source,
            field.line_no,
            field.line,
            f"entry {index}: end {values['end']:#x} is below start {start:#x} or beyond 64 bits",
        )
    label = fields["type"].value.strip()
    if not label:
        field = fields["type"]
        raise MemMapParseError(field.source, field.line_no, field.line, "empty 'type'")
    return MemRange(start, end, classify_label(label), label)


def _build(entries: dict[int, dict[str, _Field]], source: str) -> MemMap:
    if not entries:
        raise MemMapParseError(source, 0, "", "no /sys/firmware/memmap entries")
    ranges: list[MemRange] = []
    for index in sorted(entries):
        _missing(index, entries[index])
        ranges.append(_entry(index, entries[index]))
    return MemMap(tuple(ranges), "sysfs", source)


def parse_sysfs_memmap(text: MapText, source: str = "<string>") -> MemMap:
    """Parse ``grep -r . /sys/firmware/memmap`` output: lines ``<path>/<N>/start:0x...``,
    ``.../end:0x...`` and ``.../type:<name>`` in any order; blank lines and ``#`` comments are
    skipped. Entries are returned in index order (the firmware's). ``text`` is a string or
    streamed lines, read one at a time: an entry is kept as text only until its three fields
    have come (``grep`` prints them together), then as a compact range. O(n log n).

    Raises ``MemMapParseError`` for any other line, an entry number of more than 19 digits, a
    field given twice, an entry missing a field, a ``start``/``end`` that is not ``0x`` hex,
    an end below its start, an empty type, or no entries at all. A complete entry is checked
    when its last field comes; a field of an entry already complete is "given twice".
    """
    pending: dict[int, dict[str, _Field]] = {}
    done = array.array("Q")
    complete = _IndexSet()
    table = RangeTable()
    for line_no, line in numbered_lines(text, source):
        if is_blank_or_comment(line):
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise MemMapParseError(
                source, line_no, line, "not a '<path>/<N>/{start,end,type}:<value>' line"
            )
        if len(match["index"]) > _MAX_INDEX_DIGITS:
            raise MemMapParseError(source, line_no, line, "entry number of more than 19 digits")
        index = int(match["index"])
        fields = pending.setdefault(index, {})
        name = match["field"]
        if name in fields or index in complete:
            raise MemMapParseError(
                source, line_no, line, f"entry {match['index']} has '{name}' twice"
            )
        fields[name] = _Field(match["value"].strip(), source, line_no, line)
        if len(fields) == len(_FIELDS):
            first = min(f.line_no for f in fields.values())
            table.add(_entry(index, fields), first)
            done.append(index)
            complete.add(index)
            del pending[index]
    for index in sorted(pending):
        _missing(index, pending[index])
    if not done:
        raise MemMapParseError(source, 0, "", "no /sys/firmware/memmap entries")
    order = np.argsort(np.frombuffer(done, dtype=np.uint64), kind="stable")
    return MemMap(table.take(order), "sysfs", source)


class _IndexSet:
    """Entry numbers seen: a byte per number below :data:`_DENSE_INDEXES` (sysfs numbers its
    entries 0, 1, 2...), a set for the rest."""

    __slots__ = ("dense", "sparse")

    def __init__(self) -> None:
        self.dense = bytearray()
        self.sparse: set[int] = set()

    def __contains__(self, index: int) -> bool:
        if index < len(self.dense):
            return bool(self.dense[index])
        return index in self.sparse

    def add(self, index: int) -> None:
        if index >= _DENSE_INDEXES:
            self.sparse.add(index)
            return
        if index >= len(self.dense):
            grown = min(_DENSE_INDEXES, max(index + 1, 2 * len(self.dense)))
            self.dense.extend(bytes(grown - len(self.dense)))
        self.dense[index] = 1


def parse_sysfs_memmap_dir(path: str | Path) -> MemMap:
    """Parse a ``/sys/firmware/memmap`` directory (or a copy of one): every entry must be a
    numbered subdirectory holding ``start``, ``end`` and ``type``. O(n log n) plus the file
    reads.

    Raises ``MemMapParseError`` naming the offending file (line 1 and its content) for a bad
    value, or the directory for an unexpected entry, a missing file or no entries at all;
    ``OSError`` if the directory cannot be read.
    """
    root = Path(path)
    entries: dict[int, dict[str, _Field]] = {}
    for child in sorted(root.iterdir()):
        if not (child.is_dir() and child.name.isascii() and child.name.isdigit()):
            raise MemMapParseError(
                str(root), 0, "", f"unexpected entry {child.name!r} (want numbered directories)"
            )
        fields: dict[str, _Field] = {}
        for name in _FIELDS:
            file = child / name
            if not file.is_file():
                raise MemMapParseError(str(child), 0, "", f"missing file '{name}'")
            value = file.read_text(encoding="utf-8", errors="replace").strip()
            fields[name] = _Field(value, str(file), 1, value)
        entries[int(child.name)] = fields
    return _build(entries, str(root))
