"""Parser for NetBSD boot messages (``dmesg``, ``/var/run/dmesg.boot``, ``/var/log/messages``).

**The firmware map.** A kernel built with ``options DEBUG_MEMLOAD`` prints the map the boot
loader passed (``sys/arch/x86/x86/x86_machdep.c``, ``x86_parse_clusters``)::

    MEMMAP: UEFI MEMORY MAP (12 ENTRIES):                     (or BIOS)
    MEMMAP: 0x0000000000000000-0x000000000009efff, size=0x000000000009f000, type=1(Memory)

The end is **inclusive** and must equal ``start + size - 1``; the type name must be the one
NetBSD prints for the number (1 ``Memory``, 2 ``Reserved``, 3 ``ACPI``, 4 ``NVS``,
7 ``Persistent``, 12 ``Persistent (Legacy)``, anything else ``unknown``, e.g. 5 = BIM_Unusable,
6 = BIM_Disabled). A header's entry count must match the entries that follow it. An entry of
size 0 (the end then wraps to ``start - 1``) is valid firmware output but holds no memory: it
is counted and produces no range. When a log holds several maps (several boots), the last one
is returned. ``MCFG: MEMMAP: ...`` lines (``acpi_mcfg.c`` re-printing the map) do not start
with ``MEMMAP:`` and are not part of the format.

**The fallback.** Without ``MEMMAP:`` lines the only size NetBSD prints is
``total memory = %s`` (``cpu_startup``, via ``format_bytes`` = ``humanize_number(buf, 9, bytes,
"B", 1024)`` with the trailing `` B`` removed: ``65536 KB``, ``4095 MB``, ``99999``), and
``avail memory = %s``. The last ``total memory`` (else ``avail memory``) becomes one ``USABLE``
range ``[0, size)``: an approximation, rounded down to the printed unit, with no holes.

Lines are read after :func:`physseg.memmap._text.strip_log_prefix` (``[   1.0000000]``
timestamps, syslog prefixes). A line starting with ``MEMMAP:`` or ``total memory =`` /
``avail memory =`` must parse; every other line is not part of the format and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from physseg.memmap._text import MapText, numbered_lines, strip_log_prefix
from physseg.memmap.model import (
    ADDRESS_LIMIT,
    MemMap,
    MemMapParseError,
    MemRange,
    RangeKind,
    RangeTable,
)

BIM_NAMES = {
    1: "Memory",
    2: "Reserved",
    3: "ACPI",
    4: "NVS",
    7: "Persistent",
    12: "Persistent (Legacy)",
}
"""The names ``x86_parse_clusters`` prints for the ``BIM_*`` types it knows."""
BIM_KINDS = {
    1: RangeKind.USABLE,
    2: RangeKind.RESERVED,
    3: RangeKind.ACPI_DATA,
    4: RangeKind.ACPI_NVS,
    5: RangeKind.UNUSABLE,
    7: RangeKind.PERSISTENT,
    12: RangeKind.PERSISTENT,
}
"""``BIM_*`` type (``sys/arch/x86/include/bootinfo.h``) to kind; others are ``OTHER``."""

_HEADER = re.compile(r"MEMMAP: (?:BIOS|UEFI) MEMORY MAP \((?P<count>[0-9]+) ENTRIES\):", re.ASCII)
_ENTRY = re.compile(
    r"MEMMAP: 0x(?P<start>[0-9a-fA-F]{16})-0x(?P<end>[0-9a-fA-F]{16}), "
    r"size=0x(?P<size>[0-9a-fA-F]{16}), type=(?P<type>-?[0-9]{1,10})\((?P<name>.*)\)",
    re.ASCII,
)
_TOTAL = re.compile(
    r"(?P<which>total|avail) memory = (?P<value>[0-9]{1,20})(?: (?P<unit>[KMGTPE])B)?",
    re.ASCII,
)
_MULTIPLIERS = {
    None: 1,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "T": 1 << 40,
    "P": 1 << 50,
    "E": 1 << 60,
}


@dataclass(slots=True)
class _Map:
    line_no: int = 0
    line: str = ""
    announced: int | None = None
    entries: int = 0
    ranges: RangeTable = field(default_factory=RangeTable)

    def check(self, source: str) -> None:
        if self.announced is not None and self.announced != self.entries:
            raise MemMapParseError(
                source,
                self.line_no,
                self.line,
                f"header announces {self.announced} entries but {self.entries} follow",
            )


def _entry(match: re.Match[str], source: str, no: int, line: str) -> MemRange | None:
    start, end, size = (int(match[k], 16) for k in ("start", "end", "size"))
    bim = int(match["type"]) & 0xFFFFFFFF
    if end != (start + size - 1) % ADDRESS_LIMIT:
        raise MemMapParseError(source, no, line, "end is not start + size - 1")
    expected = BIM_NAMES.get(bim, "unknown")
    if match["name"] != expected:
        raise MemMapParseError(source, no, line, f"type {bim} is printed as '{expected}'")
    if size == 0:
        return None
    if start + size > ADDRESS_LIMIT:
        raise MemMapParseError(source, no, line, "entry runs past the 64-bit address space")
    label = expected if bim in BIM_NAMES else f"type {bim}"
    return MemRange(start, start + size, BIM_KINDS.get(bim, RangeKind.OTHER), label)


def parse_netbsd(text: MapText, source: str = "<string>") -> MemMap:
    """Parse NetBSD boot messages: the last ``MEMMAP:`` firmware map, else one range from
    ``total memory =`` / ``avail memory =`` (see the module docstring). O(n) in lines.

    Raises ``MemMapParseError`` for a malformed ``MEMMAP:``/``total memory``/``avail memory``
    line, an end that is not ``start + size - 1``, a type printed under the wrong name, a
    header whose count does not match, and for the whole input when there is neither a
    non-empty map nor a non-zero memory size. Reads ``text`` (a string or streamed lines) one
    line at a time, keeping only the map being read and the last non-empty one.
    """
    current: _Map | None = None
    last_full: RangeTable | None = None
    sizes: dict[str, tuple[int, str]] = {}
    for no, line in numbered_lines(text, source):
        body = strip_log_prefix(line).strip()
        if body.startswith("MEMMAP:"):
            header = _HEADER.fullmatch(body)
            if header is not None:
                if current is not None:
                    current.check(source)
                    last_full = current.ranges if current.ranges else last_full
                current = _Map(no, line, int(header["count"]))
                continue
            entry = _ENTRY.fullmatch(body)
            if entry is None:
                raise MemMapParseError(source, no, line, "malformed MEMMAP line")
            if current is None:
                current = _Map()
            current.entries += 1
            rng = _entry(entry, source, no, line)
            if rng is not None:
                current.ranges.add(rng, no)
        elif body.startswith(("total memory =", "avail memory =")):
            total = _TOTAL.fullmatch(body)
            if total is None:
                raise MemMapParseError(
                    source, no, line, "expected '<n>' or '<n> KB|MB|GB|TB|PB|EB'"
                )
            size = int(total["value"]) * _MULTIPLIERS[total["unit"]]
            if not 0 < size <= ADDRESS_LIMIT:
                raise MemMapParseError(source, no, line, "memory size is zero or beyond 64 bits")
            sizes[total["which"]] = (size, f"{total['which']} memory")
    if current is not None:
        current.check(source)
        last_full = current.ranges if current.ranges else last_full
    if last_full is not None:
        return MemMap(last_full, "netbsd", source)
    fallback = sizes.get("total") or sizes.get("avail")
    if fallback is None:
        raise MemMapParseError(
            source, 0, "", "no MEMMAP entries and no 'total memory =' or 'avail memory =' line"
        )
    size, label = fallback
    return MemMap((MemRange(0, size, RangeKind.USABLE, label),), "netbsd", source)
