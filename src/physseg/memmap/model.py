"""The typed result every memory-map parser returns: ``RangeKind``, ``MemRange``, ``MemMap``,
and the one error they raise, ``MemMapParseError``.

Addresses are **byte addresses** and every ``MemRange`` is end-exclusive (``[start, end)``),
whatever the source printed (``/proc/iomem``, e820 and lsmem print inclusive ends; the parsers
convert).
"""

from __future__ import annotations

import array
import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from physseg.textinput import quote_input

ADDRESS_LIMIT = 1 << 64
"""One past the largest physical byte address a 64-bit ``paddr_t`` can hold."""


class MemMapParseError(ValueError):
    """A memory map could not be parsed.

    Attributes: ``source`` (file name or ``"<string>"``), ``line_no`` (1-based; 0 when the
    problem is the input as a whole, e.g. no entries at all), ``line_text`` (the offending line
    without its newline, as :func:`physseg.textinput.quote_input` quotes it: control characters
    escaped, cut to 200 characters with the line's length in bytes; ``""`` when
    ``line_no == 0``) and ``reason``. ``line_bytes``, when given, is the whole line's length
    in bytes (for a line read only in part). The message is
    ``"<source>:<line>: <reason>: <text>"``, or ``"<source>: <reason>"`` for a whole-input
    error or when there is no text to quote; ``source`` is quoted the same way.
    """

    def __init__(
        self,
        source: str,
        line_no: int,
        line_text: str,
        reason: str,
        *,
        line_bytes: int | None = None,
    ) -> None:
        self.source = source
        self.line_no = line_no
        self.line_text = quote_input(line_text, total_bytes=line_bytes)
        self.reason = reason
        where = quote_input(source)
        if line_no > 0 and self.line_text:
            message = f"{where}:{line_no}: {reason}: {self.line_text}"
        elif line_no > 0:
            message = f"{where}:{line_no}: {reason}"
        else:
            message = f"{where}: {reason}"
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


_KINDS: tuple[RangeKind, ...] = tuple(RangeKind)
_KIND_CODES: dict[RangeKind, int] = {kind: code for code, kind in enumerate(_KINDS)}
_MAX_DEPTH = (1 << 32) - 1


class RangeTable(Sequence[MemRange]):
    """A compact, append-only sequence of :class:`MemRange`: one machine word per column
    (start, inclusive last byte, line number), a byte for the kind, interned labels, so a
    map of millions of entries costs about 33 bytes an entry instead of a few hundred for
    ``MemRange`` objects. Indexing builds the ``MemRange`` on demand; :meth:`rows` walks the
    columns without building any. Each entry also keeps the 1-based line of the source it
    came from (0: unknown).

    >>> table = RangeTable()
    >>> table.append(0x1000, 0x2000, RangeKind.USABLE, "System RAM", line_no=3)
    >>> len(table), str(table[0]), table.line_no(0)
    (1, "[0x1000-0x2000) usable 'System RAM'", 3)
    """

    __slots__ = ("_depth", "_kind", "_label", "_label_ids", "_labels", "_last", "_line", "_start")

    def __init__(self, ranges: Iterable[MemRange] = ()) -> None:
        self._start = array.array("Q")
        self._last = array.array("Q")
        self._line = array.array("Q")
        self._kind = array.array("B")
        self._depth = array.array("I")
        self._label = array.array("I")
        self._labels: list[str] = []
        self._label_ids: dict[str, int] = {}
        for rng in ranges:
            self.append(rng.start, rng.end, rng.kind, rng.label, rng.depth)

    def append(
        self,
        start: int,
        end: int,
        kind: RangeKind,
        label: str = "",
        depth: int = 0,
        *,
        line_no: int = 0,
    ) -> None:
        """Add ``[start, end)`` (byte addresses) with its kind, label, ``/proc/iomem`` depth
        and source line. O(1) amortised. Raises ``ValueError`` (and adds nothing) as
        :class:`MemRange` does, or for a depth or line number beyond the columns' range."""
        if not 0 <= start < end <= ADDRESS_LIMIT:
            raise ValueError(f"bad range [{start:#x}-{end:#x})")
        if not 0 <= depth <= _MAX_DEPTH or not 0 <= line_no < ADDRESS_LIMIT:
            raise ValueError(f"bad depth {depth} or line {line_no}")
        label_id = self._label_ids.get(label)
        if label_id is None:
            label_id = self._label_ids[label] = len(self._labels)
            self._labels.append(label)
        self._start.append(start)
        self._last.append(end - 1)
        self._line.append(line_no)
        self._kind.append(_KINDS.index(kind))  # a C scan by identity: no enum hashing
        self._depth.append(depth)
        self._label.append(label_id)

    def add(self, rng: MemRange, line_no: int = 0) -> None:
        """Append ``rng`` (from source line ``line_no``; 0: unknown). O(1) amortised.
        Raises ``ValueError`` for a line number outside ``[0, 2**64)``."""
        self.append(rng.start, rng.end, rng.kind, rng.label, rng.depth, line_no=line_no)

    def __len__(self) -> int:
        return len(self._start)

    @overload
    def __getitem__(self, index: int) -> MemRange: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[MemRange, ...]: ...

    def __getitem__(self, index: int | slice) -> MemRange | tuple[MemRange, ...]:
        """The entry at ``index`` as a new ``MemRange`` (a tuple of them for a slice).
        O(1) (O(k) for k entries). Raises ``IndexError`` out of range."""
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        return MemRange(
            self._start[index],
            self._last[index] + 1,
            _KINDS[self._kind[index]],
            self._labels[self._label[index]],
            self._depth[index],
        )

    def __iter__(self) -> Iterator[MemRange]:
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        return f"RangeTable({len(self)} ranges)"

    def line_no(self, index: int) -> int:
        """The source line entry ``index`` came from (0: unknown). O(1). Raises
        ``IndexError`` out of range."""
        return self._line[index]

    def rows(self) -> Iterator[tuple[int, int, RangeKind, int, int]]:
        """``(start, end, kind, depth, line_no)`` of every entry in order, without building
        ``MemRange`` objects. O(n)."""
        kinds = _KINDS
        for start, last, kind, depth, line in zip(
            self._start, self._last, self._kind, self._depth, self._line, strict=True
        ):
            yield start, last + 1, kinds[kind], depth, line

    def columns(self, kind: RangeKind) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """The starts and inclusive last bytes of the entries of ``kind``, as new numpy
        ``uint64`` arrays in table order. O(n)."""
        mask = np.frombuffer(self._kind, dtype=np.uint8) == _KIND_CODES[kind]
        starts = np.frombuffer(self._start, dtype=np.uint64)[mask]
        lasts = np.frombuffer(self._last, dtype=np.uint64)[mask]
        return starts, lasts

    def take(self, order: npt.NDArray[np.intp]) -> RangeTable:
        """A new table of the entries at the positions ``order`` lists, in that order (labels
        and lines kept). O(len(order)). Raises ``IndexError`` for a position out of range."""
        table = RangeTable()
        table._labels = list(self._labels)
        table._label_ids = dict(self._label_ids)
        for name in ("_start", "_last", "_line", "_kind", "_depth", "_label"):
            column: array.array[int] = getattr(self, name)
            dtype = np.dtype(column.typecode)
            picked = np.frombuffer(column, dtype=dtype)[order]
            getattr(table, name).frombytes(np.ascontiguousarray(picked).data.cast("B"))
        return table

    @classmethod
    def from_columns(
        cls,
        starts: npt.NDArray[np.uint64],
        lasts: npt.NDArray[np.uint64],
        kind: RangeKind,
        label: str,
    ) -> RangeTable:
        """A table of ``[starts[i], lasts[i] + 1)`` ranges, all of ``kind`` and ``label`` at
        depth 0 and line 0. O(n). Raises ``ValueError`` if the arrays differ in length or an
        entry has ``last < start``."""
        if starts.shape != lasts.shape or bool(np.any(lasts < starts)):
            raise ValueError("starts and lasts must pair up with start <= last")
        table = cls()
        count = len(starts)
        table._start.frombytes(np.ascontiguousarray(starts, dtype=np.uint64).data.cast("B"))
        table._last.frombytes(np.ascontiguousarray(lasts, dtype=np.uint64).data.cast("B"))
        table._line.frombytes(bytes(8 * count))
        table._kind.frombytes(bytes([_KIND_CODES[kind]]) * count)
        table._depth.frombytes(bytes(4 * count))
        table._labels.append(label)
        table._label_ids[label] = 0
        table._label.frombytes(bytes(4 * count))
        return table


def merged(table: RangeTable, kind: RangeKind, label: str) -> RangeTable:
    """The entries of ``kind`` in ``table``, sorted, with the overlapping or touching ones
    merged, as ranges of ``kind`` labelled ``label``. O(n log n), vectorised."""
    starts, lasts = _merged_columns(table, kind)
    return RangeTable.from_columns(starts, lasts, kind, label)


def _merged_columns(
    table: RangeTable, kind: RangeKind
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The starts and inclusive last bytes of the merged runs of ``kind`` in ``table``."""
    starts, lasts = table.columns(kind)
    if len(starts) == 0:
        return starts, lasts
    if bool(np.any(starts[1:] < starts[:-1])):  # maps are mostly listed in order already
        order = np.argsort(starts, kind="stable")
        starts, lasts = starts[order], lasts[order]
        del order
    reach = np.maximum.accumulate(lasts)
    del lasts
    breaks = np.ones(len(starts), dtype=bool)
    following = starts[1:]
    # a range starts a new run when it begins more than one byte past everything before it
    # (start - 1 wraps for start == 0, which the first test excludes)
    breaks[1:] = (following > 0) & (following - np.uint64(1) > reach[:-1])
    firsts = np.flatnonzero(breaks)
    del breaks
    run_ends = np.append(firsts[1:] - 1, len(starts) - 1)
    return starts[firsts], reach[run_ends]


def _total(table: RangeTable, kind: RangeKind) -> int:
    """Bytes in the merged runs of ``kind``: each run's size minus one fits in 64 bits, and so
    does their sum, which is at most ``2**64`` minus the number of runs."""
    starts, lasts = _merged_columns(table, kind)
    return int(np.sum(lasts - starts, dtype=np.uint64)) + len(starts)


@dataclass(frozen=True, slots=True)
class MemMap:
    """A parsed memory map: the ranges in the order the source listed them, the format name
    (``"iomem"``, ``"sysfs"``, ``"lsmem"``, ``"e820"``, ``"netbsd"``, ``"freebsd"``) and where
    it came from (a path or ``"<string>"``). ``ranges`` may be given as any sequence of
    ``MemRange``; it is kept as a :class:`RangeTable` (compact, with each entry's line)."""

    ranges: Sequence[MemRange]
    format: str
    source: str = "<string>"

    def __post_init__(self) -> None:
        if not isinstance(self.ranges, RangeTable):
            object.__setattr__(self, "ranges", RangeTable(self.ranges))

    @property
    def table(self) -> RangeTable:
        """``ranges`` as the :class:`RangeTable` it is stored in. O(1)."""
        assert isinstance(self.ranges, RangeTable)
        return self.ranges

    def usable(self) -> RangeTable:
        """The ``USABLE`` ranges (at any ``/proc/iomem`` depth), sorted and merged where they
        overlap or touch; each labelled ``"usable"``. O(n log n), vectorised."""
        return merged(self.table, RangeKind.USABLE, "usable")

    def hotplug(self) -> RangeTable:
        """The ``HOTPLUG`` ranges, sorted and merged; each labelled ``"hotplug"``.
        O(n log n), vectorised."""
        return merged(self.table, RangeKind.HOTPLUG, "hotplug")

    @property
    def total_usable(self) -> int:
        """Bytes of usable RAM (the sum over ``usable()``, so overlaps count once).
        O(n log n)."""
        return _total(self.table, RangeKind.USABLE)

    @property
    def total_hotplug(self) -> int:
        """Bytes of hot-pluggable RAM (the sum over ``hotplug()``). O(n log n)."""
        return _total(self.table, RangeKind.HOTPLUG)

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
