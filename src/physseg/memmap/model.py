"""The typed result every memory-map parser returns: ``RangeKind``, ``MemRange``, ``MemMap``,
and the one error they raise, ``MemMapParseError``.

Addresses are **byte addresses** and every ``MemRange`` is end-exclusive (``[start, end)``),
whatever the source printed (``/proc/iomem``, e820 and lsmem print inclusive ends; the parsers
convert).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

ADDRESS_LIMIT = 1 << 64
"""One past the largest physical byte address a 64-bit ``paddr_t`` can hold."""


class MemMapParseError(ValueError):
    """A memory map could not be parsed.

    Attributes: ``source`` (file name or ``"<string>"``), ``line_no`` (1-based; 0 when the
    problem is the input as a whole, e.g. no entries at all), ``line_text`` (the offending line
    as given, without its newline; ``""`` when ``line_no == 0``) and ``reason``.
    The message is ``"<source>:<line>: <reason>: <text>"``, or ``"<source>: <reason>"`` for a
    whole-input error.
    """

    def __init__(self, source: str, line_no: int, line_text: str, reason: str) -> None:
        self.source = source
        self.line_no = line_no
        self.line_text = line_text
        self.reason = reason
        if line_no > 0:
            message = f"{source}:{line_no}: {reason}: {line_text}"
        else:
            message = f"{source}: {reason}"
        super().__init__(message)


class RangeKind(enum.Enum):
    """What a range of physical address space holds, normalised across formats."""

    USABLE = "usable"
    """RAM the firmware hands to the OS (e820 type 1, ``System RAM``, lsmem ``online``)."""
    RESERVED = "reserved"
    ACPI_DATA = "acpi-data"
    """ACPI tables; reclaimable once parsed (e820 type 3)."""
    ACPI_NVS = "acpi-nvs"
    """ACPI non-volatile storage; must be preserved (e820 type 4)."""
    UNUSABLE = "unusable"
    PERSISTENT = "persistent"
    """NVDIMM / persistent memory (e820 types 7 and 12)."""
    SOFT_RESERVED = "soft-reserved"
    """EFI specific-purpose memory (``EFI_MEMORY_SP``), left for drivers."""
    HOTPLUG = "hotplug"
    """RAM added or removable at run time: driver-managed ``System RAM (virtio_mem)`` /
    ``(kmem)`` in ``/proc/iomem``, offline lsmem blocks."""
    OTHER = "other"
    """Anything else; the source's own name is kept in ``MemRange.label``."""


@dataclass(frozen=True, slots=True)
class MemRange:
    """One range ``[start, end)`` of physical byte addresses.

    ``label`` is the source's own name for the range (``"System RAM"``, ``"ACPI NVS"``,
    ``"offline"``...), kept verbatim for every kind. ``depth`` is the nesting level in
    ``/proc/iomem`` (0 = top level; always 0 in the other formats).
    Raises ``ValueError`` if ``not 0 <= start < end <= 2**64`` or ``depth < 0``.
    """

    start: int
    end: int
    kind: RangeKind
    label: str = ""
    depth: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= ADDRESS_LIMIT:
            raise ValueError(f"bad range [{self.start:#x}-{self.end:#x})")
        if self.depth < 0:
            raise ValueError(f"bad depth {self.depth}")

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.end - self.start

    def __str__(self) -> str:
        return f"[{self.start:#x}-{self.end:#x}) {self.kind.value} {self.label!r}"


def merge_ranges(ranges: list[MemRange], kind: RangeKind, label: str) -> tuple[MemRange, ...]:
    """Sort ``ranges`` and merge the overlapping or touching ones into new ranges of ``kind``
    and ``label``. O(n log n)."""
    merged: list[MemRange] = []
    for rng in sorted(ranges, key=lambda r: (r.start, r.end)):
        if merged and rng.start <= merged[-1].end:
            if rng.end > merged[-1].end:
                merged[-1] = MemRange(merged[-1].start, rng.end, kind, label)
        else:
            merged.append(MemRange(rng.start, rng.end, kind, label))
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class MemMap:
    """A parsed memory map: the ranges in the order the source listed them, the format name
    (``"iomem"``, ``"sysfs"``, ``"lsmem"``, ``"e820"``, ``"netbsd"``, ``"freebsd"``) and where
    it came from (a path or ``"<string>"``)."""

    ranges: tuple[MemRange, ...]
    format: str
    source: str = "<string>"

    def usable(self) -> tuple[MemRange, ...]:
        """The ``USABLE`` ranges (at any ``/proc/iomem`` depth), sorted and merged where they
        overlap or touch; each labelled ``"usable"``. O(n log n)."""
        picked = [r for r in self.ranges if r.kind is RangeKind.USABLE]
        return merge_ranges(picked, RangeKind.USABLE, "usable")

    def hotplug(self) -> tuple[MemRange, ...]:
        """The ``HOTPLUG`` ranges, sorted and merged; each labelled ``"hotplug"``.
        O(n log n)."""
        picked = [r for r in self.ranges if r.kind is RangeKind.HOTPLUG]
        return merge_ranges(picked, RangeKind.HOTPLUG, "hotplug")

    @property
    def total_usable(self) -> int:
        """Bytes of usable RAM (the sum over ``usable()``, so overlaps count once)."""
        return sum(r.size for r in self.usable())

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: format, source, ranges (hex strings), usable ranges and
        ``total_usable``. O(n log n)."""

        def one(r: MemRange) -> dict[str, object]:
            return {
                "start": f"{r.start:#x}",
                "end": f"{r.end:#x}",
                "kind": r.kind.value,
                "label": r.label,
                "depth": r.depth,
            }

        return {
            "format": self.format,
            "source": self.source,
            "ranges": [one(r) for r in self.ranges],
            "usable": [[f"{r.start:#x}", f"{r.end:#x}"] for r in self.usable()],
            "total_usable": self.total_usable,
        }


_NAMED_KINDS: dict[str, RangeKind] = {
    "usable": RangeKind.USABLE,
    "system ram": RangeKind.USABLE,
    "kernel usable ram": RangeKind.USABLE,
    "system ram (kernel)": RangeKind.USABLE,
    "reserved": RangeKind.RESERVED,
    "device reserved": RangeKind.RESERVED,
    "soft reserved": RangeKind.SOFT_RESERVED,
    "acpi data": RangeKind.ACPI_DATA,
    "acpi tables": RangeKind.ACPI_DATA,
    "acpi nvs": RangeKind.ACPI_NVS,
    "acpi non-volatile storage": RangeKind.ACPI_NVS,
    "unusable": RangeKind.UNUSABLE,
    "unusable memory": RangeKind.UNUSABLE,
    "persistent memory": RangeKind.PERSISTENT,
    "persistent memory (legacy)": RangeKind.PERSISTENT,
}
_PERSISTENT_TYPE = re.compile(r"persistent(?: ram)? \(type [0-9]+\)", re.ASCII)
_DRIVER_RAM = re.compile(r"system ram \(.+\)", re.ASCII)


def classify_label(label: str) -> RangeKind:
    """The kind of a Linux firmware-type name, as printed by dmesg's e820 table, in
    ``/proc/iomem`` or in ``/sys/firmware/memmap/*/type`` (case-insensitive): e.g.
    ``"usable"``, ``"System RAM"``, ``"ACPI Non-volatile Storage"``, ``"persistent (type 12)"``.
    ``"System RAM (<driver>)"`` (e.g. ``virtio_mem``, ``kmem``) is ``HOTPLUG``; anything
    unknown is ``OTHER``. O(len(label))."""
    key = " ".join(label.split()).lower()
    kind = _NAMED_KINDS.get(key)
    if kind is not None:
        return kind
    if _PERSISTENT_TYPE.fullmatch(key):
        return RangeKind.PERSISTENT
    if _DRIVER_RAM.fullmatch(key):
        return RangeKind.HOTPLUG
    return RangeKind.OTHER
