"""Parser for the e820 tables Linux prints at boot (``arch/x86/kernel/e820.c``), from
``dmesg``, ``journalctl -k`` or a syslog file.

Accepted table lines (each with an optional ``[    0.000000]`` timestamp and the prefixes
:func:`physseg.memmap._text.strip_log_prefix` removes):

* classic, every kernel since 3.x: ``<who>: [mem 0x%016x-0x%016x] <type>`` with an
  **inclusive** end, ``<type>`` one of ``usable``, ``reserved``, ``soft reserved``,
  ``ACPI data``, ``ACPI NVS``, ``unusable``, ``persistent (type N)``, ``type N``, optionally
  followed by ``; crypto-capable``;
* the 2025 tip/x86 layout: the same with a size column (``   1.9 GB``) before the type, types
  ``System RAM``, ``device reserved``, ``persistent RAM (type N)``..., and
  ``<who>: [gap 0x...-0x...]`` lines (with or without a size and ``...``) between entries;
* pre-3.x kernels: ``<who>: %016x - %016x (<type>)`` with an **exclusive** end.

``<who>`` is the table's name: ``BIOS-e820`` (or ``BIOS-88``, ``BIOS-e801``, ``Xen``...) for
the map the firmware gave, ``modified`` / ``user`` / ``reserve setup_data`` for tables printed
after Linux edited it. The edits are also logged one at a time as
``e820: update [mem ...] <old> ==> <new>`` and ``e820: remove [mem ...] [<type>]`` (pre-3.x:
``e820 update range: ... (<old>) ==> (<new>)``).

**Which lines count.** A line is part of the format when, after the log prefix, it is a
``... physical RAM map:`` header, starts with ``<who>: [mem 0x`` / ``<who>: [gap 0x`` followed
by 16 hex digits (``<who>``: up to three words, not ``e820``), ``<who>: `` followed by 16 hex
digits and `` - ``, or ``e820: update``/``e820: remove``/``e820 update range:``/
``e820 remove range:``. Such a line must parse completely or :class:`MemMapParseError` is
raised with its number. Every other line is not e820 output and is skipped: this excludes,
by the 16-digit rule, the kernel's other ``[mem 0x%08x-...]`` messages (``RAMDISK:``,
``e820: [mem ...] available for PCI devices``, NUMA and zone lines).

**Which table is returned.** Consecutive lines with the same ``<who>`` form one table; a header
or a change of ``<who>`` starts the next. ``view="firmware"`` (default) returns the last table
that is not one of Linux's edited tables (``modified``, ``user``, ``reserve setup_data``): the
map the firmware handed over, which is what another OS (NetBSD) would be given.
``view="kernel"`` returns the last table of any kind with the ``e820: update``/``remove``
lines printed after it replayed in order, i.e. Linux's final view. Caveat: Linux logs edits to
its kexec and firmware copies with the same message, and they are replayed too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from physseg.memmap._text import (
    MapText,
    checked_range,
    numbered_lines,
    parse_hex,
    strip_log_prefix,
)
from physseg.memmap.model import (
    MemMap,
    MemMapParseError,
    MemRange,
    RangeKind,
    RangeTable,
    classify_label,
)

View = Literal["firmware", "kernel"]
EDITED_TABLES = frozenset({"modified", "user", "reserve setup_data"})
"""``<who>`` names of the tables Linux prints after editing the firmware map."""

_WHO = r"(?P<who>(?!e820(?: |:))[A-Za-z][\w.-]*(?: [A-Za-z_][\w.-]*){0,2})"
_HEX16 = r"[0-9a-fA-F]{16}"
_HEX = r"[0-9a-fA-F]{1,16}"
_CANDIDATE = re.compile(rf"\s*{_WHO}: (?:\[(?:mem|gap) 0x{_HEX16}|{_HEX16} - )", re.ASCII)
_NEW = re.compile(
    rf"\s*{_WHO}: \[(?P<what>mem|gap) 0x(?P<start>{_HEX16})-0x(?P<end>{_HEX16})\](?P<rest>.*)",
    re.ASCII,
)
_OLD = re.compile(rf"\s*{_WHO}: (?P<start>{_HEX16}) - (?P<end>{_HEX16})(?P<rest>.*)", re.ASCII)
_SIZE = r"(?P<size>[0-9]+(?:\.[0-9]+)?) *(?P<unit>[KMGTP]i?B)"
_MEM_REST = re.compile(rf"(?: +{_SIZE})? +(?P<type>[A-Za-z].*?) *", re.ASCII)
_GAP_REST = re.compile(rf"(?: +{_SIZE})?(?: +\.\.\.)? *", re.ASCII)
_OLD_REST = re.compile(r" +(?:\((?P<ptype>[^()]+)\)|(?P<ttype>type [0-9]+)) *", re.ASCII)
_HEADER = re.compile(r"\s*(?:e820: )?[\w-]+ physical RAM map:\s*", re.ASCII)
_EDIT_CANDIDATE = re.compile(
    r"\s*e820(?:: (?:update|remove) | (?:update|remove) range: )", re.ASCII
)
_EDIT_NEW = re.compile(
    rf"\s*e820: (?P<op>update|remove) \[mem 0x(?P<start>{_HEX})-0x(?P<end>{_HEX})\](?P<rest>.*)",
    re.ASCII,
)
_EDIT_OLD = re.compile(
    rf"\s*e820 (?P<op>update|remove) range: (?P<start>{_HEX}) - (?P<end>{_HEX})(?P<rest>.*)",
    re.ASCII,
)
_UPDATE_REST = re.compile(r" *(?P<old>[^ ].*?) *==> *(?P<new>[^ ].*?) *", re.ASCII)
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


@dataclass(slots=True)
class _Table:
    who: str
    ranges: RangeTable = field(default_factory=RangeTable)


@dataclass(frozen=True, slots=True)
class _Edit:
    line_no: int
    op: str
    start: int
    end: int
    old: str
    new: str


def is_e820_line(body: str) -> bool:
    """Whether a log line (its log prefix already removed) is part of the e820 format: a
    table line, a ``physical RAM map:`` header or an ``update``/``remove`` line."""
    return bool(_HEADER.fullmatch(body) or _EDIT_CANDIDATE.match(body) or _CANDIDATE.match(body))


def _unparen(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        return text[1:-1].strip()
    return text


def _check_size(size_text: str, unit: str, size: int, source: str, no: int, line: str) -> None:
    """The printed size must match the range to within a tenth of its unit (binary or
    decimal multiples), else the line is inconsistent."""
    printed = Fraction(size_text)
    binary = _UNITS[unit[0]]
    decimal = 1000 ** (list(_UNITS).index(unit[0]) + 1)
    if not any(abs(printed * base - size) < Fraction(base, 10) for base in (binary, decimal)):
        raise MemMapParseError(
            source, no, line, f"size column '{size_text} {unit}' does not match {size:#x} bytes"
        )


def _table_line(body: str, source: str, no: int, line: str) -> tuple[str, MemRange | None]:
    """Parse one table line: its ``<who>`` and its range (``None`` for a gap line)."""
    match = _NEW.fullmatch(body)
    if match is not None:
        start = parse_hex(match["start"], source, no, line)
        end = parse_hex(match["end"], source, no, line, inclusive_end=True)
        start, end = checked_range(start, end, source, no, line)
        pattern = _MEM_REST if match["what"] == "mem" else _GAP_REST
        rest = pattern.fullmatch(match["rest"])
        if rest is None:
            what = "a type" if match["what"] == "mem" else "at most a size and '...'"
            raise MemMapParseError(source, no, line, f"expected {what} after the range")
        if rest["size"] is not None:
            _check_size(rest["size"], rest["unit"], end - start, source, no, line)
        if match["what"] == "gap":
            return match["who"], None
        label = rest["type"]
        return match["who"], MemRange(start, end, classify_label(label.split(";")[0]), label)
    match = _OLD.fullmatch(body)
    if match is None:
        raise MemMapParseError(source, no, line, "malformed e820 table line")
    start = parse_hex(match["start"], source, no, line)
    end = parse_hex(match["end"], source, no, line)
    start, end = checked_range(start, end, source, no, line)
    rest = _OLD_REST.fullmatch(match["rest"])
    if rest is None:
        raise MemMapParseError(source, no, line, "expected '(<type>)' or 'type N' after the range")
    label = rest["ptype"] or rest["ttype"]
    return match["who"], MemRange(start, end, classify_label(label), label)


def _edit_line(body: str, source: str, no: int, line: str) -> _Edit:
    """Parse an ``e820: update``/``remove`` line (new or pre-3.x form)."""
    match = _EDIT_NEW.fullmatch(body)
    inclusive = match is not None
    if match is None:
        match = _EDIT_OLD.fullmatch(body)
    if match is None:
        raise MemMapParseError(source, no, line, "malformed e820 update/remove line")
    start = parse_hex(match["start"], source, no, line)
    end = parse_hex(match["end"], source, no, line, inclusive_end=inclusive)
    start, end = checked_range(start, end, source, no, line)
    if match["op"] == "remove":
        return _Edit(no, "remove", start, end, _unparen(match["rest"]), "")
    rest = _UPDATE_REST.fullmatch(match["rest"])
    if rest is None:
        raise MemMapParseError(source, no, line, "expected '<old type> ==> <new type>'")
    return _Edit(no, "update", start, end, _unparen(rest["old"]), _unparen(rest["new"]))


def _matches(rng: MemRange, type_text: str) -> bool:
    kind = classify_label(type_text)
    if kind is not rng.kind:
        return False
    return kind is not RangeKind.OTHER or type_text.lower() == rng.label.lower()


def _replay(ranges: list[MemRange], edit: _Edit) -> list[MemRange]:
    """Apply one update (retype the matching parts) or remove (drop them), as
    ``e820__range_update`` / ``e820__range_remove`` do. O(n)."""
    out: list[MemRange] = []
    for rng in ranges:
        hit = rng.start < edit.end and edit.start < rng.end
        if not hit or (edit.old and not _matches(rng, edit.old)):
            out.append(rng)
            continue
        low, high = max(rng.start, edit.start), min(rng.end, edit.end)
        if rng.start < low:
            out.append(MemRange(rng.start, low, rng.kind, rng.label))
        if edit.op == "update":
            out.append(MemRange(low, high, classify_label(edit.new), edit.new))
        if high < rng.end:
            out.append(MemRange(high, rng.end, rng.kind, rng.label))
    return out


def _with_entries(table: _Table, source: str) -> _Table:
    if not table.ranges:
        raise MemMapParseError(
            source, 0, "", f"the chosen e820 table ({table.who}) has only [gap] lines"
        )
    return table


def parse_e820(text: MapText, source: str = "<string>", *, view: View = "firmware") -> MemMap:
    """Parse the e820 table(s) in a Linux boot log (see the module docstring for the lines
    that count and the table returned). O(n) in the log's lines plus O(t·e) for ``t`` edits
    replayed over ``e`` entries.

    ``view="firmware"`` gives the map the firmware handed over, in its order;
    ``view="kernel"`` gives Linux's final map sorted by address. ``text`` is a string or
    streamed lines, read one line at a time: only the table being read, the last firmware
    table and (kernel view) the edits after the last table are kept.
    Raises ``MemMapParseError`` for a malformed e820 line (number and text), a size column that
    does not match its range, and for the whole input when there is no table (or, for the
    firmware view, only edited tables); ``ValueError`` for an unknown ``view``.
    """
    if view not in ("firmware", "kernel"):
        raise ValueError(f"view must be 'firmware' or 'kernel', not {view!r}")
    current: _Table | None = None
    firmware: _Table | None = None
    who_seen: set[str] = set()
    edits: list[_Edit] = []
    new_table = True
    for no, line in numbered_lines(text, source):
        body = strip_log_prefix(line)
        if _HEADER.fullmatch(body):
            new_table = True
        elif _EDIT_CANDIDATE.match(body):
            edit = _edit_line(body, source, no, line)
            if view == "kernel":
                edits.append(edit)
        elif _CANDIDATE.match(body):
            who, rng = _table_line(body, source, no, line)
            if new_table or current is None or who != current.who:
                current = _Table(who)
                new_table = False
                if who in EDITED_TABLES:
                    who_seen.add(who)
                else:
                    firmware = current
            if rng is not None:
                current.ranges.add(rng, no)
            edits.clear()  # only the edits printed after the last table line are replayed
    if current is None:
        raise MemMapParseError(source, 0, "", "no e820 table ('<who>: [mem 0x...] <type>' lines)")
    if view == "kernel":
        ranges = list(_with_entries(current, source).ranges)
        for edit in edits:
            ranges = _replay(ranges, edit)
        if not ranges:
            raise MemMapParseError(source, 0, "", "the e820 edits leave no ranges")
        ranges.sort(key=lambda r: (r.start, r.end))
        return MemMap(tuple(ranges), "e820", source)
    if firmware is None:
        raise MemMapParseError(
            source,
            0,
            "",
            "only edited e820 tables ("
            + ", ".join(sorted(who_seen))
            + "); use view='kernel' for Linux's own view",
        )
    return MemMap(_with_entries(firmware, source).ranges, "e820", source)
