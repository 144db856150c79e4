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

import re
from dataclasses import dataclass
from pathlib import Path

from physseg.memmap._text import MapText, is_blank_or_comment, numbered_lines
from physseg.memmap.model import ADDRESS_LIMIT, MemMap, MemMapParseError, MemRange, classify_label

_LINE = re.compile(
    r"(?:[^:]*/)?(?P<index>[0-9]+)/(?P<field>start|end|type):(?P<value>.*)", re.ASCII
)
_HEX = re.compile(r"0x[0-9a-fA-F]+", re.ASCII)
_FIELDS = ("start", "end", "type")


@dataclass(slots=True)
class _Field:
    value: str
    source: str
    line_no: int
    line: str


def _build(entries: dict[int, dict[str, _Field]], source: str) -> MemMap:
    if not entries:
        raise MemMapParseError(source, 0, "", "no /sys/firmware/memmap entries")
    ranges: list[MemRange] = []
    for index in sorted(entries):
        fields = entries[index]
        first = min(fields.values(), key=lambda f: f.line_no)
        for name in _FIELDS:
            if name not in fields:
                raise MemMapParseError(
                    first.source, first.line_no, first.line, f"entry {index} has no '{name}'"
                )
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
                f"entry {index}: end {values['end']:#x} is below start {start:#x} "
                "or beyond 64 bits",
            )
        label = fields["type"].value.strip()
        if not label:
            field = fields["type"]
            raise MemMapParseError(field.source, field.line_no, field.line, "empty 'type'")
        ranges.append(MemRange(start, end, classify_label(label), label))
    return MemMap(tuple(ranges), "sysfs", source)


def parse_sysfs_memmap(text: MapText, source: str = "<string>") -> MemMap:
    """Parse ``grep -r . /sys/firmware/memmap`` output: lines ``<path>/<N>/start:0x...``,
    ``.../end:0x...`` and ``.../type:<name>`` in any order; blank lines and ``#`` comments are
    skipped. Entries are returned in index order (the firmware's). O(n log n).

    Raises ``MemMapParseError`` for any other line, a field given twice, an entry missing a
    field, a ``start``/``end`` that is not ``0x`` hex, an end below its start, an empty type,
    or no entries at all. ``text`` is a string or streamed lines; the entries are kept until
    the end (their fields may come in any order), the lines are not.
    """
    entries: dict[int, dict[str, _Field]] = {}
    for line_no, line in numbered_lines(text, source):
        if is_blank_or_comment(line):
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise MemMapParseError(
                source, line_no, line, "not a '<path>/<N>/{start,end,type}:<value>' line"
            )
        fields = entries.setdefault(int(match["index"]), {})
        name = match["field"]
        if name in fields:
            raise MemMapParseError(
                source, line_no, line, f"entry {match['index']} has '{name}' twice"
            )
        fields[name] = _Field(match["value"].strip(), source, line_no, line)
    return _build(entries, source)


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
