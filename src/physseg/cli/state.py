"""The saved machine as the command line knows it: its configuration, the map it was booted
from, its free-list names and its snapshot, and the bounds every one of those values must meet
when it is read back. No file format lives here: :mod:`physseg.cli.store` keeps the machine in
its database and checks what it reads with the ``check_*`` functions below.

The bounds are the face's own where it has them (a configuration is checked by building the
empty :class:`PhysMem` it describes, so the backend, strategy, page size and counts are judged
by the engine that will run them) and stated limits where it has none
(:data:`PHYSSEG_MAX_LIMIT`, :data:`NFREELIST_LIMIT`, :data:`MAX_SEGMENTS` and the text limits),
so a value read from a file can cost neither unbounded memory nor unbounded time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

from physseg.memmap import RangeKind
from physseg.physmem import PhysMem, Segment, Snapshot

PHYSSEG_MAX_LIMIT: Final = 1 << 16
"""The largest ``VM_PHYSSEG_MAX`` a machine may have (NetBSD's ports use 16 to 1024; the
rbtree build keeps one boot-pool record per slot, so the bound bounds its memory)."""
NFREELIST_LIMIT: Final = 128
"""The largest ``VM_NFREELIST`` (a page's free list is an ``int8``)."""
MAX_SEGMENTS: Final = 1 << 17
"""The most segments a saved machine may have: reading one costs about 1 KiB a segment, so
this bounds what a file can make a reader allocate."""
MAX_EXTENT_REGIONS: Final = 1 << 18
"""The most page-array extent regions a saved snapshot may list."""
MAX_MAP_RANGES: Final = 4096
"""The most top-level ranges of a boot map a machine keeps."""
MAX_WARNINGS: Final = 256
"""The most boot-plan warnings a machine keeps."""
MAX_NAME_CHARS: Final = 256
"""The longest name, label or free-list name (characters)."""
MAX_WARNING_CHARS: Final = 1024
"""The longest boot-plan warning (characters)."""
MAX_COUNT: Final = 1 << 62
"""The largest page counter (``npages``, ``physmem``) or slab number a snapshot may hold."""
ADDRESS_LIMIT: Final = 1 << 64
"""One past the highest byte address: map ranges and free-list limits lie in
``[0, ADDRESS_LIMIT]``."""
_RANGE_KINDS: Final = frozenset(kind.value for kind in RangeKind)


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """The :class:`PhysMem` constructor arguments of the saved machine."""

    backend: str = "rbtree"
    physseg_max: int = 64
    strategy: str = "bsearch"
    nfreelist: int = 4
    page_shift: int = 12

    def new_machine(self) -> PhysMem:
        """A fresh, empty, unbooted ``PhysMem`` with this configuration. Raises what the
        ``PhysMem`` constructor raises for bad values (``ValueError``). O(physseg_max)."""
        return PhysMem(
            self.backend,
            physseg_max=self.physseg_max,
            strategy=self.strategy,
            nfreelist=self.nfreelist,
            page_shift=self.page_shift,
        )

    @property
    def max_pfn(self) -> int:
        """One past the highest page frame number of this page size. O(1)."""
        return 1 << (64 - self.page_shift)

    def check(self) -> None:
        """Raise ``ValueError`` naming the field unless every value is one the face accepts:
        strings and integers of the right type, ``physseg_max`` in ``[1,``
        :data:`PHYSSEG_MAX_LIMIT` ``]``, ``nfreelist`` in ``[1,`` :data:`NFREELIST_LIMIT`
        ``]``, and a backend, strategy and page size (``page_shift`` in [9, 30]) the engine
        builds. O(physseg_max): the empty machine is built and dropped.

        >>> MachineConfig(page_shift=40).check()
        Traceback (most recent call last):
        ...
        ValueError: page_shift is 40, not in [9, 30]
        """
        for name in ("backend", "strategy"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
                raise ValueError(f"{name} must be a short string, not {_shown(value)}")
        check_int("physseg_max", self.physseg_max, 1, PHYSSEG_MAX_LIMIT)
        check_int("nfreelist", self.nfreelist, 1, NFREELIST_LIMIT)
        check_int("page_shift", self.page_shift, 9, 30)
        self.new_machine()


@dataclass(frozen=True, slots=True)
class MapRange:
    """One range of the memory map the machine was booted from: ``[start, end)`` in bytes,
    its kind (a :class:`physseg.memmap.RangeKind` value) and the source's label."""

    start: int
    end: int
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class MapInfo:
    """Where the machine came from: the name given to ``boot``, the parsed source, its format,
    its top-level ranges and the boot plan's warnings."""

    name: str
    source: str
    format: str
    ranges: tuple[MapRange, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FreeListName:
    """A free list's number and its ``VM_FREELIST_*`` name, with the byte address below which
    its pages lie (0 for the default list)."""

    index: int
    name: str
    limit: int


@dataclass(frozen=True, slots=True)
class MachineState:
    """What the command line shows of a saved machine: its configuration, its newest
    ``snapshot`` (``None``: nothing recorded yet, shown as an empty unbooted machine), the map
    it was booted from, its free-list names and the number of ``operations`` in its
    journal."""

    config: MachineConfig
    snapshot: Snapshot | None = None
    map_info: MapInfo | None = None
    freelists: tuple[FreeListName, ...] = ()
    operations: int = 0

    def freelist_name(self, index: int) -> str:
        """The name of free list ``index`` (``"VM_FREELIST_FIRST16"``), or ``"#<index>"``
        when the state has no name for it. O(free lists).

        >>> MachineState(MachineConfig()).freelist_name(2)
        '#2'
        """
        for entry in self.freelists:
            if entry.index == index:
                return entry.name
        return f"#{index}"


def snapshot_stats(snapshot: Snapshot) -> dict[str, int]:
    """The counters :meth:`PhysMem.stats` reports, computed from a snapshot (equal to
    ``stats()`` of the machine it was taken from). O(n log n) in segments."""
    views = [s.view for s in snapshot.segments]
    return {
        "segments": len(views),
        "managed_pages": sum(v.npages for v in views),
        "free_pages": snapshot.npages,
        "physmem": snapshot.physmem,
        "holes": len(snapshot_holes(snapshot)),
        "slabs": len({s.slab for s in snapshot.segments if s.slab >= 0}),
    }


def snapshot_holes(snapshot: Snapshot) -> list[tuple[int, int]]:
    """The unmanaged ``[start, end)`` PFN ranges between the first and the last segment, as
    :meth:`PhysMem.holes` gives them. O(n log n)."""
    spans = sorted((s.view.start, s.view.end) for s in snapshot.segments)
    return [
        (a_end, b_start)
        for (_, a_end), (b_start, _) in itertools.pairwise(spans)
        if b_start > a_end
    ]


# --------------------------------------------------------------------------- checks
def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name: str, value: object, minimum: int, maximum: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) in ``[minimum, maximum]``; else
    ``ValueError`` naming ``name``, the value and the range. O(1).

    >>> check_int("nfreelist", 0, 1, 128)
    Traceback (most recent call last):
    ...
    ValueError: nfreelist is 0, not in [1, 128]
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not an integer: {_shown(value)}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} is {_shown(value)}, not in [{minimum}, {maximum}]")
    return value


def check_text(name: str, value: object, max_chars: int = MAX_NAME_CHARS) -> str:
    """``value`` if it is a ``str`` of at most ``max_chars`` characters without control
    characters (a file cannot send escape sequences to the terminal); else ``ValueError``
    naming ``name``. O(len(value))."""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text: {_shown(value)}")
    if len(value) > max_chars:
        raise ValueError(f"{name} is longer than {max_chars} characters")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise ValueError(f"{name} holds a control character: {_shown(value)}")
    return value


def clean_text(text: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """``text`` as :func:`check_text` accepts it: control characters replaced by ``?`` and
    cut to ``max_chars`` characters (ending in ``...`` when cut). O(len(text)).

    >>> clean_text("a\\tb" + "c" * 300, 8)
    'a?bcc...'
    """
    clean = "".join("?" if ord(ch) < 32 or 127 <= ord(ch) < 160 else ch for ch in text)
    return clean if len(clean) <= max_chars else clean[: max_chars - 3] + "..."


def check_map_info(info: MapInfo) -> None:
    """Raise ``ValueError`` naming the field unless ``info``'s texts are short and clean, its
    ranges at most :data:`MAX_MAP_RANGES` non-empty byte ranges in ``[0, 2**64]`` of a known
    kind, and its warnings at most :data:`MAX_WARNINGS`. O(ranges + warnings)."""
    check_text("map.name", info.name)
    check_text("map.source", info.source)
    check_text("map.format", info.format)
    if len(info.ranges) > MAX_MAP_RANGES:
        raise ValueError(f"the map has more than {MAX_MAP_RANGES} ranges")
    for number, rng in enumerate(info.ranges):
        where = f"map range {number}"
        start = check_int(f"{where} start", rng.start, 0, ADDRESS_LIMIT - 1)
        check_int(f"{where} end", rng.end, start + 1, ADDRESS_LIMIT)
        if rng.kind not in _RANGE_KINDS:
            raise ValueError(f"{where} has an unknown kind {_shown(rng.kind)}")
        check_text(f"{where} label", rng.label)
    if len(info.warnings) > MAX_WARNINGS:
        raise ValueError(f"the map has more than {MAX_WARNINGS} warnings")
    for number, warning in enumerate(info.warnings):
        check_text(f"map warning {number}", warning, MAX_WARNING_CHARS)


def check_freelists(config: MachineConfig, freelists: tuple[FreeListName, ...]) -> None:
    """Raise ``ValueError`` unless every free-list name has a distinct number below
    ``config.nfreelist``, a short clean name and a limit in ``[0, 2**64]``.
    O(free lists)."""
    seen: set[int] = set()
    for entry in freelists:
        index = check_int("free list number", entry.index, 0, config.nfreelist - 1)
        if index in seen:
            raise ValueError(f"free list {index} is named twice")
        seen.add(index)
        check_text(f"free list {index} name", entry.name)
        check_int(f"free list {index} limit", entry.limit, 0, ADDRESS_LIMIT)


def check_snapshot(config: MachineConfig, snapshot: Snapshot) -> None:
    """Raise ``ValueError`` naming the first bad value unless ``snapshot`` could be one of a
    machine of ``config``: at most :data:`MAX_SEGMENTS` disjoint segments ``[start, end)``
    inside the PFN space, avail bounds and start hints inside it, free lists below
    ``nfreelist``, page-array positions ``>= -1`` (-1: none), counters in
    ``[-2**62, 2**62]``, at most :data:`MAX_EXTENT_REGIONS` extent regions of at least one
    entry. O(n log n + regions)."""
    top = config.max_pfn
    if len(snapshot.segments) > MAX_SEGMENTS:
        raise ValueError(f"more than {MAX_SEGMENTS} segments")
    if not isinstance(snapshot.booted, bool):
        raise ValueError(f"booted is not a boolean: {_shown(snapshot.booted)}")
    for number, state in enumerate(snapshot.segments):
        seg, where = state.view, f"segment {number}"
        check_int(f"{where} start", seg.start, 0, top - 1)
        check_int(f"{where} end", seg.end, seg.start + 1, top)
        check_int(f"{where} avail_start", seg.avail_start, 0, top)
        check_int(f"{where} avail_end", seg.avail_end, 0, top)
        check_int(f"{where} free_list", seg.free_list, 0, config.nfreelist - 1)
        check_int(f"{where} start_hint", seg.start_hint, 0, top)
        check_int(f"{where} slab", state.slab, -1, MAX_COUNT)
        check_int(f"{where} page index", state.index, -1, top)
    spans: list[Segment] = sorted((s.view for s in snapshot.segments), key=lambda v: v.start)
    for left, right in itertools.pairwise(spans):
        if right.start < left.end:
            raise ValueError(f"segments {left} and {right} overlap")
    check_int("npages", snapshot.npages, -MAX_COUNT, MAX_COUNT)
    check_int("physmem", snapshot.physmem, 0, MAX_COUNT)
    if sum(len(regions) for _, _, regions in snapshot.extents) > MAX_EXTENT_REGIONS:
        raise ValueError(f"more than {MAX_EXTENT_REGIONS} extent regions")
    for slab, destroyed, regions in snapshot.extents:
        check_int("extent slab", slab, 1, MAX_COUNT)
        if not isinstance(destroyed, bool):
            raise ValueError(f"extent of slab {slab}: destroyed is not a boolean")
        for start, size in regions:
            check_int(f"extent of slab {slab} region start", start, 0, top)
            check_int(f"extent of slab {slab} region size", size, 1, top)
