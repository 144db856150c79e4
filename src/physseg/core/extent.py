"""extent(9) in integer units: best-fit allocation of inclusive ranges with region descriptors.

An :class:`Extent` manages the inclusive range ``[start, end]`` as NetBSD's ``subr_extent.c``
does: allocated *regions* are kept sorted and coalesced (two regions never touch), free space is
the *gaps* between them, and every region holds one *region descriptor*. Descriptors come from
the extent's fixed freelist (an ``EX_FIXED`` extent created with caller storage) or, dynamically,
from the :class:`~physseg.core.alloc.Allocator`; running out of them is an error of its own
(:class:`~physseg.errors.ExtentNoDescriptorError`, NetBSD's ``ENOMEM``), distinct from running
out of space (:class:`~physseg.errors.ExtentNoSpaceError`, ``EAGAIN``).

The decisions are NetBSD's, made faster
---------------------------------------
NetBSD walks the region list for every call. Here the same decisions are taken from indexes:

* regions: a ``SortedList`` of region starts plus two dicts, region by start and region by end;
* gaps: a ``SortedList`` of integer keys ``(size << shift) | start`` (``shift`` is the bit length
  of the extent's end, so every start fits below it) plus two dicts, gap end by start and gap
  start by end. One integer per gap keeps the ``SortedList`` comparisons cheap.

``extent_alloc`` without ``EX_FAST`` scans the gaps in address order, takes the first gap whose
*waste* is zero and otherwise the first gap of least waste. With alignment 1 and no boundary a
request of ``size`` placed at the start of a gap of ``g`` units wastes ``g - size`` units, both
between regions (``er_start - newstart - size``) and at the tail (``ex_end - newstart -
(size - 1)``), so the choice is the gap that minimises ``(gap size, gap start)`` among the gaps
of at least ``size`` units: the first key not below ``size << shift``. Example, gaps
``(start, size)`` = ``(0, 5) (10, 3) (20, 3) (30, 8)``::

    keys sorted:  (3, 10) (3, 20) (5, 0) (8, 30)
    alloc(3)   -> bisect at (3, 0): (3, 10), the exact fit at the lowest address -> 10
    alloc(4)   -> bisect at (4, 0): (5, 0), least waste -> 0
    alloc(9)   -> past the end: no space

So with ``alignment == 1 and boundary == 0`` (all the segment manager asks for) ``alloc`` and
``free`` cost O(log n) in the number of regions. Any other alignment or a boundary falls back to
NetBSD's linear scan, O(n), which places the request and computes the waste exactly as
``extent_alloc_subregion1`` does (see :meth:`Extent._scan`).

Integers do not wrap here: NetBSD's ``u_long`` overflow branches cannot trigger and are absent.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from sortedcontainers import SortedList

from physseg.core import alloc
from physseg.core.alloc import Allocator
from physseg.errors import (
    ExtentDestroyedError,
    ExtentNoDescriptorError,
    ExtentNoSpaceError,
    ExtentRegionNotFoundError,
)

__all__ = ["Extent"]


def _align(value: int, alignment: int) -> int:
    """``EXTENT_ALIGN(value, alignment, 0)``: round ``value`` up to a multiple of ``alignment``.

    NetBSD computes ``(value + alignment - 1) & -alignment``; for a power of two that is the
    round-up, for any other positive value it is the same bit arithmetic (never below
    ``value``), reproduced so that the decisions stay NetBSD's. O(1).
    """
    return (value + alignment - 1) & -alignment


class _Region:
    """One allocated region ``[start, end]`` (inclusive) and the descriptor that holds it.

    ``static`` is True when the descriptor came from a fixed extent's freelist (it goes back
    there when released) and False when it was allocated dynamically (it is released).
    """

    __slots__ = ("end", "start", "static")

    def __init__(self, start: int, end: int, static: bool) -> None:
        self.start = start
        self.end = end
        self.static = static


class Extent:
    """An extent map over the inclusive integer range ``[start, end]`` (extent(9)).

    ``fixed_descriptors=N`` models ``extent_create`` with caller storage for exactly ``N``
    region descriptors (``EX_FIXED``); once they are all in use a descriptor is allocated through
    the allocator only when the call passes ``malloc_ok=True`` (``EX_MALLOCOK``).
    ``fixed_descriptors=None`` is an ordinary extent: its header (kind ``alloc.EXTENT``) and
    every descriptor (kind ``alloc.DESCRIPTOR``) are allocated through the allocator (default
    ``Allocator()``), so it fails only when the allocator does.

    Raises ``ValueError`` if ``start < 0`` (extent bounds are ``u_long``), ``end < start`` or
    ``fixed_descriptors < 0``; ``ExtentNoDescriptorError`` if the allocator refuses the header of
    a non-fixed extent (``extent_create`` returns NULL). O(1).

    >>> ex = Extent("demo", 0, 99)
    >>> ex.alloc(10), ex.alloc(5)
    (0, 10)
    >>> ex.regions(), ex.descriptors_in_use
    ([(0, 15)], 1)
    """

    __slots__ = (
        "_allocated",
        "_allocator",
        "_by_end",
        "_by_start",
        "_destroyed",
        "_end",
        "_fixed",
        "_free_static",
        "_gap_by_end",
        "_gap_by_start",
        "_gaps",
        "_mask",
        "_name",
        "_shift",
        "_start",
        "_starts",
    )

    def __init__(
        self,
        name: str,
        start: int,
        end: int,
        *,
        fixed_descriptors: int | None = None,
        allocator: Allocator | None = None,
    ) -> None:
        if start < 0:
            raise ValueError(f"extent {name!r}: start {start} is negative")
        if end < start:
            raise ValueError(f"extent {name!r}: end {end} is below start {start}")
        if fixed_descriptors is not None and fixed_descriptors < 0:
            raise ValueError(f"extent {name!r}: fixed_descriptors {fixed_descriptors} is negative")
        self._name = name
        self._start = start
        self._end = end
        self._fixed = fixed_descriptors
        self._allocator = Allocator() if allocator is None else allocator
        if fixed_descriptors is None and not self._allocator.allocate(alloc.EXTENT):
            raise ExtentNoDescriptorError(
                f"extent {name!r} [{start}, {end}]: the allocator refused the extent header"
            )
        self._destroyed = False
        self._free_static = 0 if fixed_descriptors is None else fixed_descriptors
        self._allocated = 0
        self._starts = SortedList()
        self._by_start: dict[int, _Region] = {}
        self._by_end: dict[int, _Region] = {}
        self._shift = max(end.bit_length(), 1)
        self._mask = (1 << self._shift) - 1
        self._gaps = SortedList()
        self._gap_by_start: dict[int, int] = {}
        self._gap_by_end: dict[int, int] = {}
        self._put_gap(start, end)

    # -- identity ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The extent's name (used in every error message). O(1)."""
        return self._name

    @property
    def start(self) -> int:
        """First unit of the extent. O(1)."""
        return self._start

    @property
    def end(self) -> int:
        """Last unit of the extent (inclusive). O(1)."""
        return self._end

    @property
    def fixed(self) -> bool:
        """Whether the extent has a fixed descriptor freelist (``EX_FIXED``). O(1)."""
        return self._fixed is not None

    @property
    def destroyed(self) -> bool:
        """Whether :meth:`destroy` has been called. O(1)."""
        return self._destroyed

    def __repr__(self) -> str:
        kind = "dynamic" if self._fixed is None else f"fixed={self._fixed}"
        head = f"Extent({self._name!r}, {self._start}, {self._end}, {kind}"
        if self._destroyed:
            return f"{head}, destroyed)"
        return f"{head}, regions={len(self._by_start)}, free={self.free_size})"

    # -- allocation ---------------------------------------------------------------------------

    def alloc(
        self, size: int, alignment: int = 1, boundary: int = 0, *, malloc_ok: bool = False
    ) -> int:
        """Allocate ``size`` units by NetBSD's best fit and return the region's first unit.

        Takes a descriptor first (``ExtentNoDescriptorError`` if none is available, whatever the
        space), then places the request: an exact fit (zero waste) is taken at once, otherwise
        the candidate of least waste, ties to the lowest address. The start is rounded up to
        ``alignment``; with ``boundary`` (``EX_BOUNDZERO``: lines at every multiple of
        ``boundary`` counted from 0) a candidate whose end would reach the next line is moved to
        that line. The waste is what NetBSD counts: the units between the candidate's end and
        the end of its gap (padding before an aligned start is not counted). The new region is
        coalesced with the regions it touches and the unused descriptor returned. A request
        larger than the whole extent is not an argument error: it finds no space (NetBSD's
        ``_EXTENT_TESTING`` build, which the ATF tests link, prints the "bad size" panic and
        scans on).

        Raises ``ValueError`` for ``size < 1``, ``alignment < 1``, ``boundary < 0`` or
        ``0 < boundary < size``; ``ExtentNoDescriptorError``; ``ExtentNoSpaceError`` (the
        descriptor is returned); ``ExtentDestroyedError``. The extent is unchanged on error.

        O(log n) for ``alignment == 1 and boundary == 0``, else O(n) (linear scan), n regions.

        >>> ex = Extent("demo", 0, 31)
        >>> ex.alloc_region(0, 6)
        >>> ex.alloc(4, boundary=8)
        8
        """
        if self._destroyed:
            raise self._destroyed_error("alloc")
        if size < 1:
            raise ValueError(f"{self._label()}: alloc size {size} is below 1")
        if alignment < 1:
            raise ValueError(f"{self._label()}: alloc alignment {alignment} is below 1")
        if boundary < 0 or 0 < boundary < size:
            raise ValueError(
                f"{self._label()}: alloc boundary {boundary} must be 0 or at least the size {size}"
            )
        static = self._take_descriptor(malloc_ok)
        if static is None:
            raise self._no_descriptor_error(f"alloc of {size} units", malloc_ok)
        if alignment == 1 and boundary == 0:
            gaps = self._gaps
            index = gaps.bisect_left(size << self._shift)
            if index == len(gaps):
                self._release(static)
                raise self._no_space_error(size, alignment, boundary)
            key: int = gaps.pop(index)
            gap_start = key & self._mask
            gap_end = self._gap_by_start.pop(gap_start)
            del self._gap_by_end[gap_end]
            self._occupy(gap_start, gap_start + size - 1, gap_start, gap_end, static)
            return gap_start
        start = self._scan(size, alignment, boundary)
        if start is None:
            self._release(static)
            raise self._no_space_error(size, alignment, boundary)
        gap_start, gap_end = self._gap_around(start)
        self._take_gap(gap_start, gap_end)
        self._occupy(start, start + size - 1, gap_start, gap_end, static)
        return start

    def alloc_region(self, start: int, size: int, *, malloc_ok: bool = False) -> None:
        """Allocate exactly ``[start, start + size - 1]`` (``extent_alloc_region``).

        The range must lie inside the extent (checked first, before any descriptor is taken),
        then a descriptor is taken, then the range must be entirely free. The new region is
        coalesced with its neighbours.

        Raises ``ValueError`` for ``size < 1``; ``ExtentNoSpaceError`` if the range is outside
        the extent or overlaps an allocated region; ``ExtentNoDescriptorError``;
        ``ExtentDestroyedError``. The extent is unchanged on error. O(log n).
        """
        if self._destroyed:
            raise self._destroyed_error("alloc_region")
        if size < 1:
            raise ValueError(f"{self._label()}: alloc_region size {size} is below 1")
        end = start + size - 1
        if start < self._start or end > self._end:
            raise ExtentNoSpaceError(
                f"{self._label()}: cannot allocate [{start}, {end}]: it lies outside the extent"
            )
        static = self._take_descriptor(malloc_ok)
        if static is None:
            raise self._no_descriptor_error(f"alloc_region of [{start}, {end}]", malloc_ok)
        gap_start, gap_end = self._gap_around(start)
        if start < gap_start or end > gap_end:
            self._release(static)
            taken = self._starts[self._starts.bisect_right(end) - 1]
            raise ExtentNoSpaceError(
                f"{self._label()}: cannot allocate [{start}, {end}]: it overlaps "
                f"the allocated region [{taken}, {self._by_start[taken].end}]"
            )
        self._take_gap(gap_start, gap_end)
        self._occupy(start, end, gap_start, gap_end, static)

    def free(self, start: int, size: int, *, malloc_ok: bool = False) -> None:
        """Free ``[start, start + size - 1]``, which must lie inside one allocated region.

        Takes one spare descriptor first, needed or not (``ExtentNoDescriptorError``: "the
        classic alloc() at free() problem"), then: the whole region is removed, or the region
        shrinks from its front or from its back, or it is split in two (the spare descriptor
        holds the upper piece). An unused spare is returned.

        Raises ``ValueError`` for ``size < 1``; ``ExtentNoDescriptorError``;
        ``ExtentRegionNotFoundError`` if the range is not inside one region (NetBSD panics
        "region not found"); ``ExtentDestroyedError``. The extent is unchanged on error.
        O(log n).

        >>> ex = Extent("demo", 0, 99)
        >>> ex.alloc(30)
        0
        >>> ex.free(10, 5)
        >>> ex.regions()
        [(0, 10), (15, 15)]
        """
        if self._destroyed:
            raise self._destroyed_error("free")
        if size < 1:
            raise ValueError(f"{self._label()}: free size {size} is below 1")
        end = start + size - 1
        spare = self._take_descriptor(malloc_ok)
        if spare is None:
            raise self._no_descriptor_error(f"free of [{start}, {end}]", malloc_ok)
        starts = self._starts
        index = starts.bisect_right(start) - 1
        region = self._by_start[starts[index]] if index >= 0 else None
        if region is None or region.end < end:
            self._release(spare)
            raise ExtentRegionNotFoundError(
                f"{self._label()}: cannot free [{start}, {end}] ({size} units): "
                "it is not inside one allocated region"
            )
        by_start = self._by_start
        by_end = self._by_end
        region_start = region.start
        region_end = region.end
        if start == region_start:
            gap_start = self._take_gap_ending_at(region_start - 1)
            if gap_start is None:
                gap_start = start
            if end == region_end:
                gap_end = self._take_gap_starting_at(region_end + 1)
                if gap_end is None:
                    gap_end = end
                del starts[index]
                del by_start[region_start]
                del by_end[region_end]
                self._release(region.static)
            else:
                gap_end = end
                del starts[index]
                del by_start[region_start]
                region.start = end + 1
                by_start[end + 1] = region
                starts.add(end + 1)
            self._release(spare)
        elif end == region_end:
            gap_start = start
            gap_end = self._take_gap_starting_at(region_end + 1)
            if gap_end is None:
                gap_end = end
            del by_end[region_end]
            region.end = start - 1
            by_end[start - 1] = region
            self._release(spare)
        else:
            gap_start = start
            gap_end = end
            upper = _Region(end + 1, region_end, spare)
            region.end = start - 1
            by_end[start - 1] = region
            by_end[region_end] = upper
            by_start[end + 1] = upper
            starts.add(end + 1)
        self._put_gap(gap_start, gap_end)
        self._allocated -= size

    def fits(self, size: int) -> bool:
        """Whether ``alloc(size)`` (alignment 1, no boundary, ``malloc_ok=False``) would succeed.

        Changes nothing. A fixed extent needs a free static descriptor; for a non-fixed extent
        the allocator is assumed to grant the descriptor (it is not consulted, so that nothing
        changes). Raises ``ValueError`` for ``size < 1`` and ``ExtentDestroyedError``. O(1).
        """
        if self._destroyed:
            raise self._destroyed_error("fits")
        if size < 1:
            raise ValueError(f"{self._label()}: fits size {size} is below 1")
        if self._fixed is not None and self._free_static == 0:
            return False
        return self._largest_gap() >= size

    def destroy(self) -> None:
        """Release every region descriptor (``extent_destroy``) and retire the extent.

        Static descriptors go back to the freelist, dynamic ones are released, the header of a
        non-fixed extent is released. Every later call except ``name``, ``start``, ``end``,
        ``fixed``, ``destroyed`` and ``repr`` raises ``ExtentDestroyedError`` (also a second
        ``destroy``). O(n).
        """
        if self._destroyed:
            raise self._destroyed_error("destroy")
        for region in self._by_start.values():
            self._release(region.static)
        self._starts.clear()
        self._by_start.clear()
        self._by_end.clear()
        self._gaps.clear()
        self._gap_by_start.clear()
        self._gap_by_end.clear()
        self._allocated = 0
        self._destroyed = True

    def restore(self, plain: dict[str, Any]) -> None:
        """Put the extent back in the state :meth:`to_plain` described, in place (the same
        object stays valid for every holder), drawing later descriptors from its own
        allocator. The allocator is not consulted now: descriptors allocated since are given
        back silently, as if never taken. Raises ``ValueError`` as :meth:`from_plain` does,
        changing nothing. O(n log n) for n regions."""
        fresh = Extent.from_plain(plain, self._allocator)
        for slot in Extent.__slots__:
            setattr(self, slot, getattr(fresh, slot))

    def to_plain(self) -> dict[str, Any]:
        """The extent's whole state as plain data (str, int, bool, None and lists: JSON-able),
        for :meth:`from_plain`: ``name``, ``start``, ``end`` (inclusive), ``fixed`` (the
        descriptor budget of an ``EX_FIXED`` extent, ``None`` for a dynamic one),
        ``free_static`` (static descriptors on the freelist), ``destroyed`` and ``regions``, a
        list of ``[start, size, static]`` ascending (``static``: whether the region holds a
        descriptor of the fixed freelist). The gap index is derived, so it is not included; the
        allocator is not state. O(n). Raises nothing, destroyed or not.

        >>> ex = Extent("demo", 0, 99, fixed_descriptors=2)
        >>> ex.alloc(10)
        0
        >>> ex.to_plain()["regions"], ex.to_plain()["free_static"]
        ([[0, 10, True]], 1)
        """
        by_start = self._by_start
        return {
            "name": self._name,
            "start": self._start,
            "end": self._end,
            "fixed": self._fixed,
            "free_static": self._free_static,
            "destroyed": self._destroyed,
            "regions": [
                [start, by_start[start].end - start + 1, by_start[start].static]
                for start in self._starts
            ],
        }

    @classmethod
    def from_plain(cls, data: Any, allocator: Allocator | None = None) -> Extent:
        """An extent in the state :meth:`to_plain` described, its gap index rebuilt from the
        regions, drawing later descriptors from ``allocator`` (default ``Allocator()``; it is
        not asked for anything now: the descriptors the regions hold were accounted when they
        were taken).

        The data is validated, not trusted: every key present and no other, ints that are not
        bools, ``0 <= start <= end < 2**64`` (``u_long`` bounds), a budget and a freelist in
        ``[0, 2**63)``, regions ``[start, size, static]`` of at least one unit inside
        ``[start, end]``, sorted, disjoint and never touching (coalesced), no static
        descriptor in a dynamic extent, static descriptors held plus the freelist equal to the
        budget (0 for a dynamic extent), and a destroyed extent holding no region. Raises
        ``ValueError`` naming the first thing wrong. O(n log n) for n regions.

        >>> ex = Extent.from_plain(Extent("demo", 0, 99).to_plain())
        >>> ex.alloc(5), ex.gaps()
        (0, [(5, 95)])
        >>> Extent.from_plain({**ex.to_plain(), "regions": [[90, 20, False]]})
        Traceback (most recent call last):
        ...
        ValueError: regions[0]: [90, 109] is not inside the extent [0, 99]
        """
        if not isinstance(data, dict):
            raise ValueError(f"an extent is a dict, not {type(data).__name__}")
        keys = ("name", "start", "end", "fixed", "free_static", "destroyed", "regions")
        missing = [key for key in keys if key not in data]
        if missing:
            raise ValueError(f"missing key {missing[0]!r}")
        unknown = sorted(str(key) for key in data if key not in keys)
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        name = data["name"]
        if not isinstance(name, str):
            raise ValueError(f"name must be a str, not {type(name).__name__}")
        start = _plain_int(data["start"], "start", 0, _U_LONG_MAX)
        end = _plain_int(data["end"], "end", start, _U_LONG_MAX)
        fixed_data = data["fixed"]
        fixed = None if fixed_data is None else _plain_int(fixed_data, "fixed", 0, _COUNT_MAX)
        free_static = _plain_int(data["free_static"], "free_static", 0, _COUNT_MAX)
        destroyed = data["destroyed"]
        if not isinstance(destroyed, bool):
            raise ValueError(f"destroyed must be a bool, not {type(destroyed).__name__}")
        plain_regions = data["regions"]
        if not isinstance(plain_regions, list):
            raise ValueError(f"regions must be a list, not {type(plain_regions).__name__}")
        regions: list[_Region] = []
        for k, item in enumerate(plain_regions):
            if not isinstance(item, list | tuple) or len(item) != 3:
                raise ValueError(f"regions[{k}] must be [start, size, static]")
            first = _plain_int(item[0], f"regions[{k}] start", 0, _U_LONG_MAX)
            size = _plain_int(item[1], f"regions[{k}] size", 1, _U_LONG_MAX)
            static = item[2]
            if not isinstance(static, bool):
                raise ValueError(f"regions[{k}] static must be a bool, not {type(static).__name__}")
            last = first + size - 1
            if first < start or last > end:
                raise ValueError(
                    f"regions[{k}]: [{first}, {last}] is not inside the extent [{start}, {end}]"
                )
            if regions and regions[-1].end + 1 >= first:
                low = regions[-1]
                raise ValueError(
                    f"regions[{k}]: [{first}, {last}] is not above regions[{k - 1}]"
                    f" [{low.start}, {low.end}] with a gap between (regions are sorted, disjoint"
                    " and coalesced)"
                )
            regions.append(_Region(first, last, static))
        if destroyed and regions:
            raise ValueError(f"a destroyed extent holds no region, not {len(regions)}")
        held_static = sum(1 for region in regions if region.static)
        if fixed is None and held_static:
            raise ValueError("a dynamic extent holds no static descriptor")
        budget = 0 if fixed is None else fixed
        if held_static + free_static != budget:
            raise ValueError(
                f"{held_static} static descriptors held plus {free_static} on the freelist"
                f" differ from the fixed budget {budget}"
            )
        extent = cls.__new__(cls)
        extent._name = name
        extent._start = start
        extent._end = end
        extent._fixed = fixed
        extent._allocator = Allocator() if allocator is None else allocator
        extent._destroyed = destroyed
        extent._free_static = free_static
        extent._allocated = sum(region.end - region.start + 1 for region in regions)
        extent._starts = SortedList(region.start for region in regions)
        extent._by_start = {region.start: region for region in regions}
        extent._by_end = {region.end: region for region in regions}
        extent._shift = max(end.bit_length(), 1)
        extent._mask = (1 << extent._shift) - 1
        extent._gaps = SortedList()
        extent._gap_by_start = {}
        extent._gap_by_end = {}
        if not destroyed:
            cursor = start
            for region in regions:
                if region.start > cursor:
                    extent._put_gap(cursor, region.start - 1)
                cursor = region.end + 1
            if cursor <= end:
                extent._put_gap(cursor, end)
        return extent

    # -- introspection ------------------------------------------------------------------------

    def regions(self) -> list[tuple[int, int]]:
        """The allocated regions as ``(start, size)``, ascending. O(n)."""
        if self._destroyed:
            raise self._destroyed_error("regions")
        by_start = self._by_start
        return [(start, by_start[start].end - start + 1) for start in self._starts]

    def gaps(self) -> list[tuple[int, int]]:
        """The free gaps as ``(start, size)``, ascending. O(n log n)."""
        if self._destroyed:
            raise self._destroyed_error("gaps")
        return [(start, end - start + 1) for start, end in sorted(self._gap_by_start.items())]

    def largest_gap(self) -> int:
        """Size of the largest free gap (0 when the extent is full). O(1)."""
        if self._destroyed:
            raise self._destroyed_error("largest_gap")
        return self._largest_gap()

    @property
    def free_size(self) -> int:
        """Number of free units. O(1)."""
        if self._destroyed:
            raise self._destroyed_error("free_size")
        return self._end - self._start + 1 - self._allocated

    @property
    def allocated_size(self) -> int:
        """Number of allocated units. O(1)."""
        if self._destroyed:
            raise self._destroyed_error("allocated_size")
        return self._allocated

    @property
    def region_count(self) -> int:
        """Number of allocated regions. O(1)."""
        if self._destroyed:
            raise self._destroyed_error("region_count")
        return len(self._by_start)

    @property
    def descriptors_in_use(self) -> int:
        """Descriptors held by regions (one per region; spares never outlive a call). O(1)."""
        if self._destroyed:
            raise self._destroyed_error("descriptors_in_use")
        return len(self._by_start)

    @property
    def descriptors_free(self) -> int:
        """Length of the static freelist (always 0 for a non-fixed extent). O(1)."""
        if self._destroyed:
            raise self._destroyed_error("descriptors_free")
        return self._free_static

    def check(self) -> None:
        """Verify every invariant; raise ``AssertionError`` naming the first broken one.

        Regions sorted, inside the extent, disjoint and never adjacent (coalesced); both region
        dicts agree with the sorted starts; the gap index (keys and both dicts) holds exactly
        the gaps between the regions; the allocated count matches; descriptor counts add up
        (static descriptors held + freelist == fixed budget; a non-fixed extent holds none).
        Raises ``ExtentDestroyedError`` after :meth:`destroy`. O(n log n).
        """
        if self._destroyed:
            raise self._destroyed_error("check")
        starts = list(self._starts)
        records = [self._by_start.get(start) for start in starts]
        regions = [record for record in records if record is not None]
        _require(len(regions) == len(starts), "a sorted start has no region record")
        _require(len(self._by_start) == len(starts), "region-by-start holds other regions")
        _require(len(self._by_end) == len(starts), "region-by-end holds other regions")
        _require(all(self._by_end.get(r.end) is r for r in regions), "region-by-end is wrong")
        pairs = [(r.start, r.end) for r in regions]
        _require([s for s, _ in pairs] == starts, "a region record disagrees with its key")
        _require(all(s <= e for s, e in pairs), "a region ends before it starts")
        _require(
            all(low[1] + 1 < high[0] for low, high in pairwise(pairs)),
            "regions are unsorted, overlap or touch (not coalesced)",
        )
        _require(
            not pairs or (pairs[0][0] >= self._start and pairs[-1][1] <= self._end),
            "a region lies outside the extent",
        )
        expected: list[tuple[int, int]] = []
        cursor = self._start
        for s, e in pairs:
            if s > cursor:
                expected.append((cursor, s - 1))
            cursor = e + 1
        if cursor <= self._end:
            expected.append((cursor, self._end))
        _require(sorted(self._gap_by_start.items()) == expected, "gap-by-start is wrong")
        _require(
            sorted(self._gap_by_end.items()) == sorted((e, s) for s, e in expected),
            "gap-by-end is wrong",
        )
        keys = sorted(((e - s + 1) << self._shift) | s for s, e in expected)
        _require(list(self._gaps) == keys, "the gap size index is wrong")
        _require(self._allocated == sum(e - s + 1 for s, e in pairs), "allocated count is wrong")
        held_static = sum(1 for r in regions if r.static)
        budget = 0 if self._fixed is None else self._fixed
        _require(
            self._free_static >= 0 and held_static + self._free_static == budget,
            "static descriptors held plus the freelist differ from the fixed budget",
        )

    # -- internals ------------------------------------------------------------------------------

    def _take_descriptor(self, malloc_ok: bool) -> bool | None:
        """Take a descriptor: True static (from the freelist), False dynamic, None if none.

        A fixed extent uses its freelist first and the allocator only with ``malloc_ok``; a
        non-fixed extent always asks the allocator. O(1).
        """
        if self._fixed is not None:
            if self._free_static:
                self._free_static -= 1
                return True
            if not malloc_ok:
                return None
        if self._allocator.allocate(alloc.DESCRIPTOR):
            return False
        return None

    def _release(self, static: bool) -> None:
        """Return a descriptor: a static one to the freelist; a dynamic one is released. O(1)."""
        if static:
            self._free_static += 1

    def _put_gap(self, start: int, end: int) -> None:
        """Index the free gap ``[start, end]``. O(log n)."""
        self._gaps.add(((end - start + 1) << self._shift) | start)
        self._gap_by_start[start] = end
        self._gap_by_end[end] = start

    def _take_gap(self, start: int, end: int) -> None:
        """Remove the indexed gap ``[start, end]`` from the index. O(log n)."""
        self._gaps.remove(((end - start + 1) << self._shift) | start)
        del self._gap_by_start[start]
        del self._gap_by_end[end]

    def _take_gap_ending_at(self, end: int) -> int | None:
        """Remove the gap ending at ``end`` if there is one and return its start. O(log n)."""
        start = self._gap_by_end.get(end)
        if start is not None:
            self._take_gap(start, end)
        return start

    def _take_gap_starting_at(self, start: int) -> int | None:
        """Remove the gap starting at ``start`` if there is one and return its end. O(log n)."""
        end = self._gap_by_start.get(start)
        if end is not None:
            self._take_gap(start, end)
        return end

    def _gap_around(self, unit: int) -> tuple[int, int]:
        """The free span ``[after the region before unit, before the region after it]``.

        "Before" means starting below ``unit``; the span is the gap containing ``unit`` when
        ``unit`` is free, and is empty or excludes ``unit`` when ``unit`` is allocated. O(log n).
        """
        starts = self._starts
        index = starts.bisect_left(unit)
        low = self._by_start[starts[index - 1]].end + 1 if index else self._start
        high = starts[index] - 1 if index < len(starts) else self._end
        return low, high

    def _occupy(self, start: int, end: int, gap_start: int, gap_end: int, static: bool) -> None:
        """Insert region ``[start, end]`` into the gap ``[gap_start, gap_end]`` (already taken
        out of the index) with NetBSD's coalescing, holding descriptor ``static``.

        Appending to the region before keeps that region's descriptor; prepending to the region
        after keeps that one's; filling the gap exactly merges all three into the region before
        and releases the region after's descriptor. The new descriptor is used only when nothing
        is touched. What remains of the gap on either side is indexed again. O(log n).
        """
        if start > gap_start:
            self._put_gap(gap_start, start - 1)
        if end < gap_end:
            self._put_gap(end + 1, gap_end)
        by_start = self._by_start
        by_end = self._by_end
        before = by_end.get(start - 1)
        after = by_start.get(end + 1)
        if before is not None:
            del by_end[before.end]
            if after is not None:
                before.end = after.end
                del by_start[after.start]
                self._starts.remove(after.start)
                self._release(after.static)
            else:
                before.end = end
            by_end[before.end] = before
            self._release(static)
        elif after is not None:
            del by_start[after.start]
            self._starts.remove(after.start)
            after.start = start
            by_start[start] = after
            self._starts.add(start)
            self._release(static)
        else:
            region = _Region(start, end, static)
            by_start[start] = region
            by_end[end] = region
            self._starts.add(start)
        self._allocated += end - start + 1

    def _scan(self, size: int, alignment: int, boundary: int) -> int | None:
        """NetBSD's best-fit scan with alignment and boundary; the chosen start or None.

        The first candidate is the aligned extent start, moved past the last region starting
        below it if that region still covers it; then each gap before a region, and the tail
        gap, is tried from the aligned unit after the previous region. A zero-waste candidate
        ends the scan; otherwise the first candidate of least waste wins. O(n).
        """
        starts = self._starts
        by_start = self._by_start
        cursor = _align(self._start, alignment)
        first = starts.bisect_left(cursor)
        if first:
            covering_end = by_start[starts[first - 1]].end
            if covering_end >= cursor:
                cursor = _align(covering_end + 1, alignment)
        best_start: int | None = None
        best_waste = 0
        for region_start in starts.islice(first):
            placed = _place(cursor, region_start - 1, size, boundary)
            if placed is not None:
                candidate, waste = placed
                if waste == 0:
                    return candidate
                if best_start is None or waste < best_waste:
                    best_start, best_waste = candidate, waste
            cursor = _align(by_start[region_start].end + 1, alignment)
        placed = _place(cursor, self._end, size, boundary)
        if placed is not None:
            candidate, waste = placed
            if best_start is None or waste < best_waste:
                return candidate
        return best_start

    def _largest_gap(self) -> int:
        if not self._gaps:
            return 0
        largest: int = self._gaps[-1]
        return largest >> self._shift

    def _label(self) -> str:
        return f"extent {self._name!r} [{self._start}, {self._end}]"

    def _destroyed_error(self, operation: str) -> ExtentDestroyedError:
        return ExtentDestroyedError(f"{self._label()} has been destroyed: cannot {operation}")

    def _no_descriptor_error(self, request: str, malloc_ok: bool) -> ExtentNoDescriptorError:
        if self._fixed is not None and not malloc_ok:
            reason = f"all {self._fixed} fixed descriptors are in use and malloc_ok is False"
        else:
            reason = "the allocator refused a dynamic descriptor"
        return ExtentNoDescriptorError(
            f"{self._label()}: no region descriptor for {request}: {reason}"
        )

    def _no_space_error(self, size: int, alignment: int, boundary: int) -> ExtentNoSpaceError:
        constraints = ""
        if alignment != 1:
            constraints += f" aligned to {alignment}"
        if boundary:
            constraints += f" within boundary {boundary}"
        return ExtentNoSpaceError(
            f"{self._label()}: no free gap of {size} units{constraints} "
            f"(largest gap {self._largest_gap()})"
        )


def _place(cursor: int, limit: int, size: int, boundary: int) -> tuple[int, int] | None:
    """Place ``size`` units at ``cursor`` in a gap ending at ``limit`` (inclusive), NetBSD's way.

    With a boundary, a candidate whose end passes the last unit before the next multiple of
    ``boundary`` above ``cursor`` is moved to start on that multiple. Returns ``(start,
    waste)`` with ``waste = limit - end``, or None if it does not fit. O(1).
    """
    end = cursor + size - 1
    if end > limit:
        return None
    if boundary:
        last_before_line = _align(cursor + 1, boundary) - 1
        if end > last_before_line:
            cursor = last_before_line + 1
            end = cursor + size - 1
            if end > limit:
                return None
    return cursor, limit - end


_U_LONG_MAX = (1 << 64) - 1
"""The largest extent bound: extent(9) bounds are ``u_long``."""
_COUNT_MAX = (1 << 63) - 1
"""The largest descriptor count :meth:`Extent.from_plain` accepts (a ``long``)."""


def _plain_int(value: object, name: str, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (a bool is not an int here); ``ValueError``
    naming ``name`` otherwise. O(1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside [{low}, {high}]")
    return value


def _require(condition: bool, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` (used by :meth:`Extent.check`)."""
    if not condition:
        raise AssertionError(f"extent invariant broken: {message}")
