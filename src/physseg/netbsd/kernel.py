"""The build-independent half of the NetBSD face: state, getters, page arrays, boot.

:class:`Kernel` is what users construct; ``Kernel(backend=...)`` returns an instance of the
build's subclass (:class:`physseg.netbsd.rbtree_build.RBTreeKernel` for ``UVM_HOTPLUG``,
:class:`physseg.netbsd.static_build.StaticKernel` for the static array). This module holds the
code the two builds share in ``uvm_physseg.c`` and ``uvm_page.c``; the subclasses hold what
differs (storage, lookup, iteration, plug, whole and middle unplug, physunload).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter
from typing import Any, ClassVar, NewType, NoReturn

import numpy as np
import numpy.typing as npt

from physseg.core.alloc import Allocator
from physseg.core.extent import Extent
from physseg.core.lazycolumn import column_fill, column_first_mismatch, column_or
from physseg.core.pages import PG_FREE, Page, Slab
from physseg.errors import (
    ExtentDestroyedError,
    ExtentNoDescriptorError,
    ExtentNoSpaceError,
    ExtentRegionNotFoundError,
    KernelAssertionError,
    KernelPanic,
    Reason,
)
from physseg.netbsd.atf import AtfHarness
from physseg.netbsd.constants import (
    ENOMEM,
    EX_MALLOCOK,
    PADDR_INVALID,
    SIZEOF_UVM_PHYSSEG,
    SIZEOF_VM_PAGE,
    STRATEGIES,
    VM_FREELIST_DEFAULT,
    VM_FREELIST_FIRST1G,
    VM_FREELIST_FIRST4G,
    VM_FREELIST_FIRST16,
    VM_PSTRAT_BIGFIRST,
)
from physseg.netbsd.lookup import UNBACKED, PageBatch, PageLookup
from physseg.netbsd.segment import PmapPhysseg, Segment, SlabExtent

Handle = NewType("Handle", object)
"""An opaque segment handle (``uvm_physseg_t``): only the engine makes one and only the engine
looks inside. The rbtree build's is the record itself, the static build's an array index; the
invalid constants are handles too. ``mypy --strict`` keeps callers from inventing or
inspecting one."""


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What a caller outside the engine may know of one live segment, copied when asked.

    PFNs with exclusive ends: ``[start, end)`` is the span, ``[avail_start, avail_end)`` the
    pages given to UVM. ``pgs`` points at the ``vm_page`` of ``start`` (``None`` before the
    segment has a page array), as ``uvm_physseg_get_pg(handle, 0)``. ``handle`` is valid until
    the next change of the layout.
    """

    handle: Handle
    start: int
    end: int
    avail_start: int
    avail_end: int
    free_list: int
    start_hint: int
    pgs: Page | None


@dataclass(frozen=True, slots=True)
class SegmentColumns:
    """The PFN fields of every live segment as int64 numpy arrays, one entry per segment in
    the build's iteration order (address order for the rbtree): what a caller that aggregates
    many segments at once (a memory picture, statistics) reads instead of one
    :class:`SegmentInfo` per segment. Copies: later changes of the layout do not reach them."""

    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    avail_start: npt.NDArray[np.int64]
    avail_end: npt.NDArray[np.int64]
    free_list: npt.NDArray[np.int64]

    def __len__(self) -> int:
        """The number of segments. O(1)."""
        return int(self.start.size)


@dataclass(frozen=True, slots=True)
class ExtentInfo:
    """One slab extent as a caller may see it: the ``ident`` of the slab it carves, whether it
    was destroyed, and its allocated regions as ``(first entry, entries)``."""

    slab: int
    destroyed: bool
    regions: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What :meth:`Kernel.checkpoint` took: every record's fields, every live extent's state,
    the counters and the build's own structure. Opaque; give it back to
    :meth:`Kernel.rollback`."""

    records: tuple[tuple[Segment, tuple[Any, ...]], ...]
    extents: tuple[tuple[SlabExtent, dict[str, Any], int], ...]
    counters: tuple[Any, ...]
    build: Any


class UvmExp:
    """The fields of ``struct uvmexp`` that uvm_physseg touches."""

    __slots__ = ("npages", "pagesize")

    def __init__(self, pagesize: int) -> None:
        self.pagesize = pagesize
        self.npages = 0


class UvmState:
    """The field of ``struct uvm`` that uvm_physseg touches: the boot → run-time switch.

    ``on_change`` is called whenever ``page_init_done`` takes a new value (by the kernel or by
    hand, as the ATF tests do): what ``PHYS_TO_VM_PAGE`` answers for a frame without a page
    array depends on it, so the kernel empties its lookup memo then.
    """

    __slots__ = ("_done", "_on_change")

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._done = False
        self._on_change = on_change

    @property
    def page_init_done(self) -> bool:
        """Whether ``uvm_page_init`` has run (run time). O(1). Raises nothing."""
        return self._done

    @page_init_done.setter
    def page_init_done(self, value: bool) -> None:
        """Switch phase; a change empties the kernel's lookup memo. O(memo entries)."""
        changed = value != self._done
        self._done = value
        if changed:
            self._on_change()


def kassert(condition: bool, text: str, reason: Reason = Reason.KASSERT) -> None:
    """``KASSERT(condition)`` of a DIAGNOSTIC kernel: raise ``KernelAssertionError(text,
    reason)``, ``text`` being the C condition."""
    if not condition:
        raise KernelAssertionError(text, reason)


def panic(message: str, reason: Reason = Reason.PANIC) -> NoReturn:
    """``panic(message)``: raise ``KernelPanic(message, reason)``."""
    raise KernelPanic(message, reason)


class Kernel(AtfHarness, ABC):
    """NetBSD's uvm_physseg C API one-to-one; see ``docs/netbsd-api.md``.

    ``Kernel(backend="rbtree" | "static", physseg_max=1, strategy="bsearch", nfreelist=4,
    page_shift=12, allocator=None, lazy_pages=True)``; ``lazy_pages`` chooses lazy page arrays
    (:class:`physseg.core.pages.Slab`: runs plus chunks materialised on first touch) or eager
    ones (every entry a numpy element from the start); both give the same results. Raises
    ``ValueError`` for an unknown backend or strategy and for sizes out of range. The new
    kernel is in the state the ATF ``setup()`` leaves.

    Every method states its cost in n (live segments), E (slab extents), R (regions of one slab
    extent), m (addresses of a batch) and the pages it touches, per build where the builds
    differ; a call that changes the layout also empties the lookup memo (:attr:`version`),
    which is not counted. Units are the kernel's: ``pfn``, ``start``, ``end`` and ``avail_*``
    are PFNs with exclusive ends, ``pa`` is a byte address, ``pages`` counts pages, and
    ``idx``, extent sizes and the ``n`` argument of :meth:`malloc_pages` and
    :meth:`uvm_physseg_seg_chomp_slab` count ``vm_page`` entries of a slab. A call that reaches
    a record through a handle panics where :meth:`seg` does (``KernelPanic`` for a NULL rbtree
    handle or a static index outside the array, where the C code would fault); "Raises only as
    :meth:`seg`" says a method raises nothing else.
    """

    backend = "abstract"
    _builds: ClassVar[dict[str, type[Kernel]]] = {}
    UVM_PHYSSEG_TYPE_INVALID: Handle = Handle(None)
    UVM_PHYSSEG_TYPE_INVALID_EMPTY: Handle = Handle(None)
    PADDR_INVALID = PADDR_INVALID
    SIZEOF_UVM_PHYSSEG = SIZEOF_UVM_PHYSSEG
    SIZEOF_VM_PAGE = SIZEOF_VM_PAGE
    VM_FREELIST_DEFAULT = VM_FREELIST_DEFAULT
    VM_FREELIST_FIRST4G = VM_FREELIST_FIRST4G
    VM_FREELIST_FIRST1G = VM_FREELIST_FIRST1G
    VM_FREELIST_FIRST16 = VM_FREELIST_FIRST16

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A build registers itself under the ``backend`` name its class body declares (the
        package imports both builds); a subclass of a build that declares none (a test's
        variant) registers nothing."""
        super().__init_subclass__(**kwargs)
        if "backend" in cls.__dict__:
            Kernel._builds[cls.backend] = cls

    def __new__(cls, backend: str = "rbtree", *args: Any, **kwargs: Any) -> Kernel:
        return super().__new__(build_class(backend) if cls is Kernel else cls)

    def __init__(
        self,
        backend: str = "rbtree",
        physseg_max: int = 1,
        strategy: str = "bsearch",
        nfreelist: int = 4,
        page_shift: int = 12,
        allocator: Allocator | None = None,
        *,
        lazy_pages: bool = True,
    ) -> None:
        if not isinstance(physseg_max, int) or physseg_max < 1:
            raise ValueError(f"physseg_max must be a positive int, not {physseg_max!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}: expected one of {sorted(STRATEGIES)}")
        if not isinstance(nfreelist, int) or nfreelist < 1:
            raise ValueError(f"nfreelist must be a positive int, not {nfreelist!r}")
        if not isinstance(page_shift, int) or not 9 <= page_shift <= 30:
            raise ValueError(f"page_shift must be an int in [9, 30], not {page_shift!r}")
        self.VM_PHYSSEG_MAX = physseg_max
        self.UVM_PHYSSEG_BOOT_UNPLUG_MAX = physseg_max
        self.strategy = strategy
        self.VM_PHYSSEG_STRAT = STRATEGIES[strategy]
        self.VM_NFREELIST = nfreelist
        self.PAGE_SHIFT = page_shift
        self.PAGE_SIZE = 1 << page_shift
        self.allocator = allocator if allocator is not None else Allocator()
        self.lazy_pages = lazy_pages
        """Whether :meth:`new_slab` makes lazy page arrays (see :class:`Slab`)."""
        self._slab_ids = 0
        """Slabs this kernel has created: :meth:`new_slab` numbers the next one this plus 1."""
        self.uvmexp = UvmExp(self.PAGE_SIZE)
        self._lookup = PageLookup(self)
        self.uvm = UvmState(self._lookup.invalidate)
        self.physmem = 0
        self._memo = self._lookup.memo
        self._version = 0
        self.stolen: list[tuple[int, int]] = []
        """``(byte address, pages)`` runs that ``uvm_page_init`` stole for the page array."""
        self._init_storage()
        self.uvm_physseg_init()

    # ----------------------------------------------------------------- build hooks
    @abstractmethod
    def _init_storage(self) -> None:
        """Build-specific."""

    @abstractmethod
    def seg(self, upm: Handle) -> Segment:
        """The record behind ``upm`` (``HANDLE_TO_PHYSSEG_NODE``), whatever its validity.
        O(1). Raises ``KernelPanic`` where the C dereference would fault: a NULL rbtree handle,
        a static index outside the array."""

    @abstractmethod
    def segments(self) -> Iterator[Segment]:
        """The live segment records in the build's iteration order (address order for the
        rbtree, array order for static). O(n). Raises nothing."""

    @abstractmethod
    def uvm_physseg_init(self) -> None:
        """``uvm_physseg_init()``: the rbtree build empties its tree and ``nentries``; the
        static build does nothing. O(1). Raises nothing."""

    @abstractmethod
    def uvm_physseg_valid_p(self, upm: Handle) -> bool:
        """``uvm_physseg_valid_p(upm)``: False for the invalid constants; at boot True for any
        other handle, unchecked (quirk 4); after ``uvm_page_init`` True iff the segment has a
        page array. O(1). Raises only as :meth:`seg` (static, after boot)."""

    @abstractmethod
    def uvm_physseg_find(self, pfn: int) -> tuple[Handle, int | None]:
        """``uvm_physseg_find(pfn, &off)`` → ``(handle, off)``: the segment holding PFN ``pfn``
        and the page offset of ``pfn`` in it, or ``(INVALID, None)``. O(log n) rbtree; static
        O(1) contig (``VM_PHYSSEG_MAX == 1``), O(log n) BSEARCH, O(n) RANDOM and BIGFIRST.
        Raises nothing."""

    @abstractmethod
    def segment_geq(self, pfn: int) -> Segment | None:
        """physseg extension: the live record holding PFN ``pfn``, else the lowest one above
        it, else ``None``. O(log n) rbtree, O(n) static. Raises nothing."""

    @abstractmethod
    def uvm_physseg_get_first(self) -> Handle:
        """``uvm_physseg_get_first()``: the first handle of the iteration; rbtree the lowest
        segment (NULL when empty), static always 0 (OVERFLOW when empty, quirk 3). O(1).
        Raises nothing."""

    @abstractmethod
    def uvm_physseg_get_last(self) -> Handle:
        """``uvm_physseg_get_last()``: the last handle of the iteration; rbtree the highest
        segment (NULL when empty), static ``vm_nphysseg - 1`` (-1 when empty). O(1). Raises
        nothing."""

    @abstractmethod
    def uvm_physseg_get_next(self, upm: Handle) -> Handle:
        """``uvm_physseg_get_next(upm)``: the next handle of the iteration, OVERFLOW after the
        last; INVALID for an invalid handle. O(1) amortised and O(log n) worst rbtree, O(1)
        static. Raises only as :meth:`seg`."""

    @abstractmethod
    def uvm_physseg_get_prev(self, upm: Handle) -> Handle:
        """``uvm_physseg_get_prev(upm)``: the previous handle of the iteration, INVALID_EMPTY
        before the first; INVALID for an invalid handle. O(1) amortised and O(log n) worst
        rbtree, O(1) static. Raises only as :meth:`seg`."""

    @abstractmethod
    def uvm_physseg_get_highest_frame(self) -> int:
        """``uvm_physseg_get_highest_frame()``: rbtree the last PFN of the highest segment
        (``end - 1``), O(1), raising ``KernelPanic`` when there is none (the kernel dereferences
        NULL); static the largest *exclusive* end PFN, 0 when empty (quirk 1), O(n)."""

    @abstractmethod
    def uvm_physseg_get_entries(self) -> int:
        """The ATF tests' ``uvm_physseg_get_entries()``: the number of live segments
        (``nentries`` / ``vm_nphysseg``). O(1). Raises nothing."""

    @abstractmethod
    def uvm_physseg_plug(self, pfn: int, pages: int) -> tuple[bool, Handle]:
        """``uvm_physseg_plug(pfn, pages, &psp)`` → ``(ok, handle)``: a new segment of PFNs
        ``[pfn, pfn + pages)``, all of it available, with a page array when plugged after boot
        (rbtree only). ``ok`` is False, and nothing changes, when ``pfn`` is already managed
        (the DEBUG check). Costs O(log n) at boot and O(log n + E log E + pages) after it
        (rbtree), O(n) (static); the builds name their other failures and raises."""

    @abstractmethod
    def uvm_page_physunload(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """``uvm_page_physunload(upm, freelist, &pa)`` → ``(ok, pa)``: at boot, take the first
        page of the segment, else its last, when that edge page is available and the segment is
        on ``freelist``; ``pa`` is the page's byte address, ``(False, None)`` when neither edge
        can go. O(log n) rbtree, O(n) static. Panics (``KernelPanic``) after boot and when the
        page is all that is left of the last segment."""

    @abstractmethod
    def uvm_page_physunload_force(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """``uvm_page_physunload_force(upm, freelist, &pa)`` → ``(ok, pa)``: at boot, take the
        first available page of the segment whatever its free list (``freelist`` is ignored);
        ``pa`` is its byte address, ``(False, None)`` when no page is available. Unavailable
        pages below it stay behind as a segment of their own (rbtree: a split) or leave the
        span (static), quirk 24. O(log n) rbtree, O(n) static. Panics (``KernelPanic``) after
        boot and when the page is all that is left of the last segment."""

    @abstractmethod
    def _unplug_whole(self, upm: Handle, seg: Segment, pages: int) -> None:
        """Build-specific."""

    @abstractmethod
    def _alloc_fragment(self) -> Segment | None:
        """A record for the tail piece of a middle split (``None`` when allocation fails)."""

    @abstractmethod
    def _unplug_middle(
        self, seg: Segment, off: int, pfn: int, pages: int, spare: Segment | None
    ) -> bool:
        """Build-specific."""

    @abstractmethod
    def _index_remove(self, seg: Segment) -> None:
        """Take a live segment out of the build's indexes before its start/pgs/ext change."""

    @abstractmethod
    def _index_add(self, seg: Segment) -> None:
        """Put a live segment back into the build's indexes after its start/pgs/ext changed."""

    @abstractmethod
    def segments_overlapping(self, first: int, last: int) -> list[Segment] | None:
        """The live segments overlapping PFNs ``[first, last)`` in address order (empty ones
        included), or ``None`` when the build's search is not a function of the spans
        (overlapping segments, possible only in the static build). O(log n + k) for k found
        (rbtree), O(n log n) (static). Raises nothing."""

    @abstractmethod
    def _owned_records(self) -> list[Segment]:
        """Every record the build owns whose fields a boot-time call may change."""

    @abstractmethod
    def _save_build(self) -> Any:
        """The build's own structure (which records are live, in which order, its counters)."""

    @abstractmethod
    def _restore_build(self, saved: Any) -> None:
        """Put back what :meth:`_save_build` took; the records' fields are already restored."""

    _IMAGE_BUILD_KEYS: ClassVar[tuple[str, ...]] = ()
    """The names of the build's counters in an engine image (``meta.build``), all ints."""

    @abstractmethod
    def _image_records(self) -> tuple[list[Segment], dict[str, int]]:
        """For :mod:`physseg.netbsd.image`: the records an image keeps, in the order it keeps
        them, and the build's counters named as :attr:`_IMAGE_BUILD_KEYS`."""

    @abstractmethod
    def _adopt_image_records(self, records: list[Segment], build: dict[str, int]) -> None:
        """For :mod:`physseg.netbsd.image`, on a kernel fresh from its constructor: make
        ``records`` (fields and ``pool_slot`` as :meth:`_image_records` gave them, extents'
        member counts at zero) this kernel's, set the build's counters from ``build`` and
        rebuild the build's indexes. Raises ``ImageError`` for what the build cannot hold."""

    # ----------------------------------------------------------------- capabilities
    can_hotplug: ClassVar[bool] = False
    """Whether ``uvm_physseg_plug`` works after ``uvm_page_init`` (the static build panics)."""
    can_split_middle: ClassVar[bool] = False
    """Whether an unplug may split a segment in the middle (the static build panics)."""
    can_merge: ClassVar[bool] = False
    """Whether :meth:`merge_adjacent` is available (a physseg extension of the rbtree build)."""

    @property
    @abstractmethod
    def boot_records_used(self) -> int:
        """Boot-time records taken so far: the rbtree build's boot pool cursor (slots are never
        reused), the static build's used slots. A boot-time load needs one more. O(1). Raises
        nothing."""

    @abstractmethod
    def record_freeable(self, upm: Handle) -> bool:
        """Whether a whole-segment unplug of ``upm`` can free its record (the rbtree build
        panics freeing a boot pool record when ``VM_PHYSSEG_MAX`` is 1). O(1). Raises only as
        :meth:`seg`."""

    def segments_mergeable(self, left: Handle, right: Handle) -> bool:
        """physseg extension: whether :meth:`merge_adjacent` may join ``left`` and ``right``;
        always False on a build without :attr:`can_merge`. O(1). Raises nothing."""
        return False

    def merge_adjacent(self, left: Handle, right: Handle) -> Handle:
        """physseg extension: fold ``right`` into ``left`` and return ``left``. A build without
        :attr:`can_merge` panics (``KernelPanic``), as would a call of a function its kernel
        does not have. O(1) here; the rbtree build's is O(log n)."""
        panic(f"merge_adjacent: the {self.backend} build cannot merge segments")

    # ----------------------------------------------------------------- layout version
    @property
    def version(self) -> int:
        """The layout version: bumped on every change of the segment layout (plug, unplug,
        page arrays, boot steals, panics included). O(1). Raises nothing."""
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        """Record a layout change: the lookups' derived answers are dropped (the per-call memo
        and the batch table of :class:`physseg.netbsd.lookup.PageLookup`). O(memo entries)."""
        self._version = value
        self._lookup.invalidate()

    @property
    def lookup(self) -> PageLookup:
        """The kernel's lookup state (the per-call memo and the batch table); read it, the
        kernel keeps it current. O(1). Raises nothing."""
        return self._lookup

    # ----------------------------------------------------------------- questions
    def segment_info(self, upm: Handle) -> SegmentInfo:
        """A copy of the fields of the segment behind ``upm`` (see :class:`SegmentInfo`: PFNs,
        ``pgs`` a pointer), whatever its validity. O(1). Raises ``KernelPanic`` where
        :meth:`seg` does (a NULL handle, a static index outside the array)."""
        return _info(upm, self.seg(upm))

    def segment_infos(self) -> list[SegmentInfo]:
        """:meth:`segment_info` of every live segment, in the build's iteration order
        (address order for the rbtree). O(n). Raises nothing."""
        return [_info(upm, seg) for upm, seg in self._handles_and_records()]

    def segment_columns(self) -> SegmentColumns:
        """The fields of :meth:`segment_infos` that are numbers, as one numpy column each (see
        :class:`SegmentColumns`): about 0.1 µs a field a segment where ``segment_infos`` costs
        about 2 µs a segment (no handle, page pointer or object per segment). O(n). Raises
        nothing."""
        records = [seg for _, seg in self._handles_and_records()]
        count = len(records)

        def column(field: str) -> npt.NDArray[np.int64]:
            read = attrgetter(field)
            return np.fromiter(map(read, records), dtype=np.int64, count=count)

        return SegmentColumns(
            column("start"),
            column("end"),
            column("avail_start"),
            column("avail_end"),
            column("free_list"),
        )

    @abstractmethod
    def _handles_and_records(self) -> Iterator[tuple[Handle, Segment]]:
        """Every live segment's handle and record, in iteration order."""

    def segment_at(self, pfn: int) -> SegmentInfo | None:
        """physseg extension: the live segment holding PFN ``pfn``, else the lowest one above
        it, else ``None``. O(log n) rbtree, O(n) static. Raises nothing."""
        seg = self.segment_geq(pfn)
        return None if seg is None else _info(self._handle_of(seg), seg)

    @abstractmethod
    def _handle_of(self, seg: Segment) -> Handle:
        """The handle of a live record."""

    def extent_infos(self) -> tuple[ExtentInfo, ...]:
        """Every slab extent a live segment uses, ordered by slab ident (see
        :class:`ExtentInfo`; regions in vm_page entries). O(n + E log E + regions). Raises
        nothing."""
        seen: dict[int, ExtentInfo] = {}
        for seg in self.segments():
            ext = seg.ext
            if ext is not None and ext.slab.ident not in seen:
                extent = ext.extent
                regions = () if extent.destroyed else tuple(extent.regions())
                seen[ext.slab.ident] = ExtentInfo(ext.slab.ident, extent.destroyed, regions)
        return tuple(seen[ident] for ident in sorted(seen))

    # ----------------------------------------------------------------- transactions
    def checkpoint(self) -> Checkpoint:
        """Everything a boot-time call may change: every record's fields, every live slab
        extent's state and member count, the counters and the build's structure. Slabs that
        exist now are not copied: boot-time calls write only the page arrays they create.
        O(VM_PHYSSEG_MAX + n + regions): every boot pool slot or array slot is saved. Raises
        nothing."""
        records = tuple((seg, seg.save()) for seg in self._owned_records())
        exts: dict[int, SlabExtent] = {}
        for seg, _ in records:
            if seg.ext is not None:
                exts[id(seg.ext)] = seg.ext
        extents = tuple((ext, ext.extent.to_plain(), ext.members) for ext in exts.values())
        counters = (
            self.uvmexp.npages,
            self.physmem,
            list(self.stolen),
            self.uvm.page_init_done,
            self._slab_ids,
        )
        return Checkpoint(records, extents, counters, self._save_build())

    def rollback(self, saved: Checkpoint) -> None:
        """Put this kernel back in the state :meth:`checkpoint` took, in place: the same
        ``Kernel`` object and, for every segment live then, the same record and handle. The
        layout version moves forward (caches are dropped), the allocator is not rewound.
        O(VM_PHYSSEG_MAX + n log n + R log R) rbtree (its tree is rebuilt), O(VM_PHYSSEG_MAX +
        R log R) static, for R extent regions (each extent's gap index is rebuilt). Raises
        nothing."""
        for seg, fields in saved.records:
            seg.restore(fields)
        for ext, state, members in saved.extents:
            ext.extent.restore(state)
            ext.members = members
        npages, physmem, stolen, page_init_done, slab_ids = saved.counters
        self._slab_ids = slab_ids
        self.uvmexp.npages = npages
        self.physmem = physmem
        self.stolen = list(stolen)
        self.uvm.page_init_done = page_init_done
        self._restore_build(saved.build)
        self.version += 1

    def transaction(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` and return its result; when it raises (a panic, a KASSERT,
        ``MemoryError``), roll the kernel back to its state before the call and re-raise: it
        raises what ``call`` raises. O(VM_PHYSSEG_MAX + n + regions) on top of the call (the
        :meth:`checkpoint`), plus the :meth:`rollback` when the call fails."""
        saved = self.checkpoint()
        try:
            return call()
        except BaseException:
            self.rollback(saved)
            raise

    # ----------------------------------------------------------------- conversions
    def atop(self, pa: int) -> int:
        """Byte address ``pa`` → the PFN of the page holding it (``pa >> PAGE_SHIFT``). O(1).
        Raises nothing."""
        return pa >> self.PAGE_SHIFT

    def ctob(self, pfn: int) -> int:
        """PFN → the byte address of the page's first byte (``pfn << PAGE_SHIFT``); ``ptoa`` is
        the same function. O(1). Raises nothing."""
        return pfn << self.PAGE_SHIFT

    ptoa = ctob

    @property
    def UVM_PHYSSEG_TYPE_INVALID_OVERFLOW(self) -> Handle:
        """The overflow handle, past the last segment: ``None`` (NULL, equal to INVALID) in
        the rbtree build, the current segment count in the static one (it moves). O(1).
        Raises nothing."""
        return Handle(None)

    def _is_invalid(self, upm: Handle) -> bool:
        return upm is None

    # ----------------------------------------------------------------- getters
    def uvm_physseg_get_start(self, upm: Handle) -> int:
        """``uvm_physseg_get_start(upm)``: the segment's first PFN, or ``PADDR_INVALID``
        (``2**64 - 1``) for an invalid handle. O(1). Raises only as :meth:`seg`."""
        return self.seg(upm).start if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_end(self, upm: Handle) -> int:
        """``uvm_physseg_get_end(upm)``: the segment's end PFN (exclusive: its last PFN + 1),
        or ``PADDR_INVALID`` for an invalid handle. O(1). Raises only as :meth:`seg`."""
        return self.seg(upm).end if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_avail_start(self, upm: Handle) -> int:
        """``uvm_physseg_get_avail_start(upm)``: the first PFN of the avail window (the pages
        given to UVM), or ``PADDR_INVALID`` for an invalid handle. O(1). Raises only as
        :meth:`seg`."""
        return self.seg(upm).avail_start if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_avail_end(self, upm: Handle) -> int:
        """``uvm_physseg_get_avail_end(upm)``: the end PFN of the avail window (exclusive), or
        ``PADDR_INVALID`` for an invalid handle. O(1). Raises only as :meth:`seg`."""
        return self.seg(upm).avail_end if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_set_avail_start(self, upm: Handle, avail_start: int) -> None:
        """``UVM_PHYSSEG_LEGACY`` ``uvm_physseg_set_avail_start``: store PFN ``avail_start`` as
        the first of the avail window (no page or counter changes). O(1). KASSERTs
        (``KernelAssertionError``) a valid handle and ``start <= avail_start < avail_end``, so
        no empty window can be made through it."""
        avail_end = self.uvm_physseg_get_avail_end(upm)
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        seg = self.seg(upm)
        kassert(
            avail_start < avail_end and avail_start >= seg.start,
            "avail_start < avail_end && avail_start >= ps->start",
        )
        seg.avail_start = avail_start
        self._lookup.fields_changed()

    def uvm_physseg_set_avail_end(self, upm: Handle, avail_end: int) -> None:
        """``UVM_PHYSSEG_LEGACY`` ``uvm_physseg_set_avail_end``: store PFN ``avail_end`` as the
        exclusive end of the avail window (no page or counter changes). O(1). KASSERTs
        (``KernelAssertionError``) a valid handle and ``avail_start < avail_end <= end``."""
        avail_start = self.uvm_physseg_get_avail_start(upm)
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        seg = self.seg(upm)
        kassert(
            avail_end > avail_start and avail_end <= seg.end,
            "avail_end > avail_start && avail_end <= ps->end",
        )
        seg.avail_end = avail_end
        self._lookup.fields_changed()

    def uvm_physseg_get_pg(self, upm: Handle, idx: int) -> Page | None:
        """``uvm_physseg_get_pg(upm, idx)``: ``&pgs[idx]``, the pointer to vm_page entry
        ``idx`` of the segment's page array (no bounds check); ``None`` when the segment has no
        page array (C returns ``NULL + idx``). O(1). KASSERTs (``KernelAssertionError``) a
        valid handle."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        pgs = self.seg(upm).pgs
        return None if pgs is None else Page(pgs.slab, pgs.index + idx)

    def uvm_physseg_get_pmseg(self, upm: Handle) -> PmapPhysseg:
        """``uvm_physseg_get_pmseg(upm)``: the segment's embedded ``struct pmap_physseg``
        (mutable in place). O(1). KASSERTs (``KernelAssertionError``) a valid handle."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).pmseg

    def uvm_physseg_get_free_list(self, upm: Handle) -> int:
        """``uvm_physseg_get_free_list(upm)``: the segment's free list (``VM_FREELIST_*``; 0
        for a hot-plugged segment). O(1). KASSERTs (``KernelAssertionError``) a valid handle."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).free_list

    def uvm_physseg_get_start_hint(self, upm: Handle) -> int:
        """``uvm_physseg_get_start_hint(upm)``: where ``uvm_pglistalloc`` starts looking, in
        pages from ``avail_start`` (0 unless set). O(1). KASSERTs (``KernelAssertionError``) a
        valid handle."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).start_hint

    def uvm_physseg_set_start_hint(self, upm: Handle, start_hint: int) -> bool:
        """``uvm_physseg_set_start_hint(upm, start_hint)``: store the hint (pages from
        ``avail_start``) and return True; False, without a KASSERT, for an invalid handle.
        O(1). Raises only as :meth:`seg`."""
        if not self.uvm_physseg_valid_p(upm):
            return False
        self.seg(upm).start_hint = start_hint
        self._lookup.fields_changed()
        return True

    # ----------------------------------------------------------------- page arrays
    def new_slab(self, npages: int, name: str) -> Slab:
        """A fresh zeroed page array of ``npages`` entries, numbered by this kernel: its
        ``ident`` is 1, 2, 3... in the order this kernel creates slabs, so the same calls on
        two kernels give the same numbers whatever else the process does. Raises what
        ``Slab`` raises (``ValueError``, ``MemoryError``); a refused slab takes no number.
        Lazy or eager as :attr:`lazy_pages` says. O(1) (numpy commits the zeroed memory
        lazily)."""
        slab = Slab(npages, name, ident=self._slab_ids + 1, lazy=self.lazy_pages)
        self._slab_ids += 1
        return slab

    def uvm_physseg_init_seg(self, upm: Handle, pgs: Page | None) -> None:
        """Give the segment its page array ``pgs``: set every page's ``phys_addr``, count and
        free the pages in the avail window (``uvmexp.npages += ...``). Eager slab: O(pages),
        vectorised; lazy slab: three runs, O(log runs + runs replaced) plus O(CHUNK) per
        materialised chunk in the range; plus O(log n) for the rbtree's indexes. KASSERTs
        (``KernelAssertionError``) a handle other than INVALID, a non-NULL ``pgs`` and a
        segment without a page array yet; panics (``KernelPanic``) when the segment's pages
        would overrun ``pgs``'s slab (C would write past it)."""
        kassert(not self._is_invalid(upm) and pgs is not None, "upm != INVALID && pgs != NULL")
        assert pgs is not None
        seg = self.seg(upm)
        kassert(seg.pgs is None, "seg->pgs == NULL")
        n = seg.end - seg.start
        first = pgs.index
        slab = pgs.slab
        if first < 0 or first + n > slab.npages:
            panic(f"uvm_physseg_init_seg: pgs[0..{n}) overruns {slab!r} at entry {first}")
        self._index_remove(seg)
        seg.pgs = Page(slab, first)
        self._index_add(seg)
        column_fill(slab.phys_addr, first, first + n, self.ctob(seg.start), self.PAGE_SIZE)
        lo = max(seg.avail_start, seg.start) - seg.start
        hi = min(seg.avail_end, seg.end) - seg.start
        if hi > lo:
            self.uvmexp.npages += hi - lo
            column_or(slab.flags, first + lo, first + hi, PG_FREE)
            column_fill(slab.free_list, first + lo, first + hi, seg.free_list, 0)
        self.version += 1

    def uvm_physseg_seg_chomp_slab(self, upm: Handle, pgs: Page, n: int) -> None:
        """Make ``seg->ext`` an extent over the ``n`` entries from ``pgs``: at boot the fixed
        "Boot time slab" extent with ``UVM_PHYSSEG_BOOT_UNPLUG_MAX`` descriptors, at run time a
        "Hotplug slab" extent. O(1), plus O(log n) for the rbtree's indexes. KASSERTs
        (``KernelAssertionError``, ``seg->ext != NULL``) when the allocator refuses a run-time
        extent's header; raises ``ValueError`` for ``n < 1``.
        """
        seg = self.seg(upm)
        if not self.uvm.page_init_done:
            extent = Extent(
                "Boot time slab",
                pgs.index,
                pgs.index + n - 1,
                fixed_descriptors=self.UVM_PHYSSEG_BOOT_UNPLUG_MAX,
                allocator=self.allocator,
            )
            ext = SlabExtent(extent, pgs.slab, boot=True)
        else:
            try:
                extent = Extent(
                    "Hotplug slab", pgs.index, pgs.index + n - 1, allocator=self.allocator
                )
            except ExtentNoDescriptorError:
                raise KernelAssertionError("seg->ext != NULL", Reason.EXTENT_ALLOC_FAILED) from None
            ext = SlabExtent(extent, pgs.slab, boot=False)
        self._set_ext(seg, ext)

    def _set_ext(self, seg: Segment, ext: SlabExtent | None) -> None:
        self._index_remove(seg)
        seg.ext = ext
        self._index_add(seg)

    def uvm_physseg_seg_alloc_from_slab(self, upm: Handle, pages: int) -> Page | None:
        """Carve ``pages`` vm_page entries from the segment's slab extent (best fit) and return
        the pointer to the first; ``None`` when the extent has no room or no descriptor. A
        segment without an extent first borrows the previous segment's. O(log n + log R).
        KASSERTs (``KernelAssertionError``) ``pages > 0`` and, for a borrower, boot time and a
        previous segment with an extent (the first segment has none to lend: ``KernelPanic``,
        as :meth:`seg`); raises ``ExtentDestroyedError`` for a destroyed extent."""
        seg = self.seg(upm)
        kassert(pages > 0, "pages > 0")
        if seg.ext is None:
            kassert(self.uvm.page_init_done is not True, "uvm.page_init_done != true")
            prev = self.seg(self.uvm_physseg_get_prev(upm))
            self._set_ext(seg, prev.ext)
            kassert(seg.ext is not None, "seg->ext != NULL")
        ext = seg.ext
        assert ext is not None
        try:
            index = ext.extent.alloc(pages)
        except (ExtentNoSpaceError, ExtentNoDescriptorError):
            return None
        return Page(ext.slab, index)

    def extent_free(self, ext: SlabExtent, start: Page, size: int, flags: int = 0) -> int:
        """``extent_free()`` of ``size`` vm_page entries from ``start`` → 0, or ``ENOMEM`` when
        no spare descriptor is left. O(log R). Panics (``KernelPanic``) "region not found" for
        a range that is not allocated, as the kernel's extent(9) does, and likewise for a size
        below 1 or a destroyed extent."""
        try:
            ext.extent.free(start.index, size, malloc_ok=bool(flags & EX_MALLOCOK))
        except ExtentNoDescriptorError:
            return ENOMEM
        except (ExtentRegionNotFoundError, ExtentDestroyedError, ValueError) as exc:
            panic(f"extent_free: {exc}")
        return 0

    # ----------------------------------------------------------------- boot
    def uvm_page_physload(
        self, start: int, end: int, avail_start: int, avail_end: int, free_list: int
    ) -> Handle:
        """``uvm_page_physload()``: load PFNs ``[start, end)`` at boot with the avail window
        ``[avail_start, avail_end)`` (not checked against the span) on ``free_list``; returns
        the handle. The boot-time plug's cost: O(log n) rbtree, O(n) static. Panics
        (``KernelPanic``) after ``uvm_page_init``, without a page size, on a bad free list, on
        ``start >= end`` and when the plug fails (the DEBUG overlap check, a full static
        array); the rbtree plug KASSERTs (``KernelAssertionError``) on an exhausted boot pool
        and on an overlap the DEBUG check missed."""
        if self.uvm.page_init_done:
            panic("uvm_page_physload: unload attempted after uvm_page_init()")
        if self.uvmexp.pagesize == 0:
            panic("uvm_page_physload: page size not set!")
        if free_list >= self.VM_NFREELIST or free_list < VM_FREELIST_DEFAULT:
            panic(f"uvm_page_physload: bad free list {free_list}")
        if start >= end:
            panic("uvm_page_physload: start >= end")
        ok, upm = self.uvm_physseg_plug(start, end - start)
        if not ok:
            panic("uvm_physseg_plug() failed at boot.")
        seg = self.seg(upm)
        seg.avail_start = avail_start
        seg.avail_end = avail_end
        seg.free_list = free_list
        return upm

    def uvm_page_physget(self) -> tuple[bool, int | None]:
        """``uvm_page_physget(&pa)`` → ``(ok, pa)``: steal one page at boot and give its byte
        address. For each free list in turn, in the strategy's walk order (BIGFIRST: from the
        last segment back), first an edge page of a segment on that list (``physunload``), then
        any available page (``physunload_force``); ``(False, None)`` when none is left.
        O(VM_NFREELIST · n) rbtree, O(VM_NFREELIST · n²) static (each static unload first
        looks for a page array in every segment). Panics (``KernelPanic``) after bootstrap;
        raises what the unloads raise (:meth:`uvm_page_physunload`,
        :meth:`uvm_page_physunload_force`)."""
        for freelist in range(self.VM_NFREELIST):
            for unload in (self.uvm_page_physunload, self.uvm_page_physunload_force):
                ok, pa = self._physget_pass(unload, freelist)
                if ok:
                    return ok, pa
        return False, None

    def _physget_order(self) -> Iterator[Handle]:
        """The segments in ``uvm_page_physget_freelist``'s walk order: from the last backwards
        with BIGFIRST, else from the first forwards, while the handle is valid. The next
        handle is taken after the caller's step, as the C loop does."""
        backwards = self.VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST
        lcv = self.uvm_physseg_get_last() if backwards else self.uvm_physseg_get_first()
        while self.uvm_physseg_valid_p(lcv):
            yield lcv
            lcv = self.uvm_physseg_get_prev(lcv) if backwards else self.uvm_physseg_get_next(lcv)

    def _physget_pass(self, unload: Any, freelist: int) -> tuple[bool, int | None]:
        for lcv in self._physget_order():
            if self.uvm.page_init_done:
                panic("uvm_page_physget: called _after_ bootstrap")
            ok, pa = unload(lcv, freelist)
            if ok:
                return True, pa
        return False, None

    def uvm_page_init(self) -> None:
        """The boot → run-time switch: size one page array for every segment
        (``((freepages + 1) << PAGE_SHIFT) / (PAGE_SIZE + sizeof(struct vm_page))``), steal the
        pages it occupies with ``uvm_page_physget`` (as ``uvm_pageboot_alloc`` does without
        ``PMAP_STEAL_MEMORY``), carve it for every segment and switch to run time; the stolen
        ``(byte address, pages)`` runs are kept in ``stolen``. O(n log n + pages) to carve and
        write every page (vectorised), plus the stealing: O(n) per run of pages taken from one
        segment edge, one :meth:`uvm_page_physget` per page taken alone. Panics
        (``KernelPanic``) when no memory is loaded or nothing can be stolen, and raises what
        ``uvm_page_physget`` raises; a segment of zero pages fails the carving's KASSERT
        (``KernelAssertionError``); ``MemoryError`` when the host cannot hold the array."""
        if self.uvm_physseg_get_last() == self.UVM_PHYSSEG_TYPE_INVALID:
            panic("uvm_page_init: no memory pre-allocated")
        freepages = sum(seg.end - seg.start for seg in self.segments())
        pagecount = ((freepages + 1) << self.PAGE_SHIFT) // (self.PAGE_SIZE + SIZEOF_VM_PAGE)
        steal = -(-pagecount * SIZEOF_VM_PAGE // self.PAGE_SIZE)
        while steal > 0:
            run = self._steal_run(steal)
            if run is None:
                ok, pa = self.uvm_page_physget()
                if not ok or pa is None:
                    panic("uvm_pageboot_alloc: out of memory", Reason.BOOT_PAGE_ARRAY_OOM)
                run = (pa, 1)
            self.stolen.append(run)
            steal -= run[1]
        self._page_init_loop(Page(self.new_slab(pagecount, "boot page array"), 0), pagecount)

    def _steal_run(self, limit: int) -> tuple[int, int] | None:
        """Up to ``limit`` ``uvm_page_physget`` calls in one step, when they would all take
        their page from the same edge of the same segment: the first segment on free list 0,
        in physget's walk order, whose edge page is free (pass 1 of the first free list), kept
        at one page or more so that no call of the run would remove it. ``None`` when no such
        run of two pages or more exists (the caller then makes one exact call). Same end state
        as the single calls; O(n) per run instead of O(n) per page."""
        for lcv in self._physget_order():
            seg = self.seg(lcv)
            if seg.free_list == VM_FREELIST_DEFAULT and seg.avail_start < seg.avail_end:
                front = seg.avail_start == seg.start
                if front or seg.avail_end == seg.end:
                    room = min(seg.avail_end - seg.avail_start, seg.end - seg.start) - 1
                    count = min(limit, room)
                    if count < 2:
                        return None
                    first = seg.avail_start if front else seg.avail_end - count
                    self._take_edge(lcv, seg, front, count)
                    return self.ctob(first), count
        return None

    @abstractmethod
    def _take_edge(self, upm: Handle, seg: Segment, front: bool, count: int) -> None:
        """What ``count`` successive ``uvm_page_physunload`` calls do to one edge of ``seg``
        when none of them removes it."""

    def uvm_page_init_fake(self, pagecount: int) -> Page:
        """The ATF tests' ``uvm_page_init_fake``: switch to run time with every segment's page
        array carved, in iteration order, from one new slab of ``pagecount`` vm_page entries.
        O(n log n + pages), the page writes vectorised. Panics (``KernelPanic``) when the slab
        is too small for the segments and, rbtree, when none is loaded (a NULL dereference);
        KASSERTs (``KernelAssertionError``) on a segment of zero pages; raises ``ValueError``
        for ``pagecount < 1``. It is the ``uvm_page_init`` loop over a fresh
        ``pagecount``-entry slab, without sizing or stealing; returns the slab's first entry."""
        pagearray = Page(self.new_slab(pagecount, "boot slab"), 0)
        self._page_init_loop(pagearray, pagecount)
        return pagearray

    def _page_init_loop(self, pagearray: Page, pagecount: int) -> None:
        bank = self.uvm_physseg_get_first()
        self.uvm_physseg_seg_chomp_slab(bank, pagearray, pagecount)
        cursor = pagearray.index
        while self.uvm_physseg_valid_p(bank):
            n = self.seg(bank).end - self.seg(bank).start
            self.uvm_physseg_seg_alloc_from_slab(bank, n)
            self.uvm_physseg_init_seg(bank, Page(pagearray.slab, cursor))
            cursor += n
            bank = self.uvm_physseg_get_next(bank)
        self.uvm.page_init_done = True
        self.version += 1

    # ----------------------------------------------------------------- invariants
    def check(self) -> None:
        """Recompute every index the engine derives from its segments and compare; raises
        ``AssertionError`` whose message starts with the name of the first broken invariant.

        The build's own structure first (:meth:`_check_build`: the rbtree build's tree, entry
        count, boot pool cursor, extent member counts and scavenging index; the static build's
        segment count and BSEARCH order), then what both builds keep:

        * ``segments disjoint``: no PFN lies in two live segments (the rbtree build KASSERTs it
          on insertion; the static array leaves it to its callers, whose physload the DEBUG
          check refuses only when its *first* PFN is managed, quirk 9);
        * ``page array bounds``: a live segment's page array lies inside its slab;
        * ``shared page entries``: no two live segments use the same entry of one slab;
        * after boot, ``page phys_addr``: entry ``i`` of a live segment's page array holds
          ``ctob(start + i)`` (at boot a page array only comes from a hand-made
          ``uvm_physseg_init_seg``, which a boot-time front trim leaves behind, quirk 20);
        * after boot, ``extent allocation``: a live segment's entries are allocated in its
          extent, which carves the slab they are in and passes ``Extent.check()``;
        * ``lookup memo`` / ``lookup table``: every frame the per-call memo holds answers what
          the kernel's search answers now, and a built batch table is of the current layout
          (:meth:`physseg.netbsd.lookup.PageLookup.check`).

        Not checked, because the kernel does not keep them: ``uvmexp.npages`` against the
        pages counted (quirks 5 and 6 make it drift) and ``physmem`` (never decremented, quirk
        7). A kernel
        that panicked or KASSERTed part-way through a call may legitimately fail the check
        (the C kernel would not go on), as may one after a failed non-atomic middle unplug,
        whose freed entries the segment still uses (§2.6 B).

        Cost: O(n log n + R log R + P + M log n) for n live segments, R regions in their
        extents (each extent's own ``check``), P entries in their page arrays (compared
        vectorised, a bounded chunk at a time) and M frames in the lookup memo."""
        self._check_build()
        self._lookup.check()
        records = sorted(self.segments(), key=lambda seg: (seg.start, seg.end))
        for low, high in pairwise(records):
            if low.end > high.start:
                raise AssertionError(f"segments disjoint: {low!r} and {high!r} overlap")
        arrays = [seg for seg in records if seg.pgs is not None]
        used: dict[int, tuple[Slab, list[tuple[int, int, Segment]]]] = {}
        for seg in arrays:
            assert seg.pgs is not None
            first, n, slab = seg.pgs.index, seg.end - seg.start, seg.pgs.slab
            if first < 0 or first + n > slab.npages:
                raise AssertionError(
                    f"page array bounds: {seg!r} uses entries [{first}, {first + n}) of {slab!r}"
                )
            used.setdefault(id(slab), (slab, []))[1].append((first, first + n, seg))
        for slab, spans in used.values():
            spans.sort(key=lambda span: (span[0], span[1]))
            for (_, low_end, low), (high_first, high_end, high) in pairwise(spans):
                if low_end > high_first:
                    raise AssertionError(
                        f"shared page entries: {low!r} and {high!r} both use entries"
                        f" [{high_first}, {min(low_end, high_end)}) of {slab!r}"
                    )
        if not self.uvm.page_init_done:
            return
        carved: dict[int, tuple[SlabExtent, list[Segment]]] = {}
        for seg in arrays:
            assert seg.pgs is not None
            self._check_phys_addr(seg, seg.pgs.slab, seg.pgs.index, seg.end - seg.start)
            if seg.ext is not None and seg.end > seg.start:
                carved.setdefault(id(seg.ext), (seg.ext, []))[1].append(seg)
        for ext, users in carved.values():
            self._check_extent_allocation(ext, users)

    @abstractmethod
    def _check_build(self) -> None:
        """The build's part of :meth:`check`: its own storage and indexes."""

    def _check_phys_addr(self, seg: Segment, slab: Slab, first: int, n: int) -> None:
        """``slab.phys_addr[first + i] == ctob(seg.start + i)`` for ``i`` in ``[0, n)``:
        O(n) vectorised for an eager slab (bounded temporary memory), O(runs + touched
        entries) for a lazy one."""
        entry = column_first_mismatch(
            slab.phys_addr, first, first + n, self.ctob(seg.start), self.PAGE_SIZE
        )
        if entry >= 0:
            i = entry - first
            raise AssertionError(
                f"page phys_addr: {seg!r}: pgs[{i}] (entry {entry} of {slab!r}) holds"
                f" {int(slab.phys_addr[entry]):#x}, not {self.ctob(seg.start + i):#x}"
            )

    def _check_extent_allocation(self, ext: SlabExtent, users: list[Segment]) -> None:
        """Every one of ``users`` (live segments with ``ext``) has its entries allocated in
        ``ext``, which carves their slab; ``ext`` itself passes ``Extent.check()``.
        O(R log R + u log R) for R regions and u users."""
        if ext.extent.destroyed:
            raise AssertionError(f"extent allocation: {users[0]!r} uses destroyed {ext!r}")
        try:
            ext.extent.check()
        except AssertionError as exc:
            raise AssertionError(f"extent allocation: {ext!r}: {exc}") from None
        regions = ext.extent.regions()
        starts = [start for start, _ in regions]
        for seg in users:
            pgs = seg.pgs
            assert pgs is not None
            first, last = pgs.index, pgs.index + (seg.end - seg.start)
            if pgs.slab is not ext.slab:
                raise AssertionError(
                    f"extent allocation: {seg!r} has entries of {pgs.slab!r}, its extent"
                    f" carves {ext.slab!r}"
                )
            k = bisect_right(starts, first) - 1
            if k < 0 or last > regions[k][0] + regions[k][1]:
                raise AssertionError(
                    f"extent allocation: {seg!r}: entries [{first}, {last}) are not allocated"
                    f" in {ext!r}"
                )

    # ----------------------------------------------------------------- unplug
    def uvm_physseg_unplug(self, pfn: int, pages: int, *, atomic: bool = False) -> bool:
        """``uvm_physseg_unplug(pfn, pages)``: remove PFNs ``[pfn, pfn + pages)`` from the one
        segment holding them: the whole segment, a front or back trim, or a middle split; after
        boot their vm_page entries go back to the slab extent. False when ``pfn`` is in no
        (valid) segment, when the range runs past the segment's end, or when the run-time
        ``extent_free`` of its page entries fails. O(log n + log R) rbtree (O(R) more when the
        slab extent is destroyed); static the find's cost, O(n) to remove a whole segment.

        Panics (``KernelPanic``) on removing the last segment, on a middle split in the static
        build, after boot on a segment without an extent (a NULL dereference), on page entries
        the extent does not hold ("region not found") and where freeing the record panics (a
        boot pool record when ``VM_PHYSSEG_MAX`` is 1, see :meth:`record_freeable`); KASSERTs
        (``KernelAssertionError``) when a boot-time middle split finds the boot pool exhausted.

        ``atomic=True`` is a physseg extension (the kernel has none): a middle split allocates
        its new record *before* freeing the page entries, so every ``False`` leaves the state
        exactly as it was (the kernel frees the entries first and leaks them on failure)."""
        try:
            return self._unplug(pfn, pages, atomic)
        finally:
            self.version += 1

    def _unplug(self, pfn: int, pages: int, atomic: bool) -> bool:
        upm, off = self.uvm_physseg_find(pfn)
        if not self.uvm_physseg_valid_p(upm):
            return False
        assert off is not None
        seg = self.seg(upm)
        start = self.uvm_physseg_get_start(upm)
        end = self.uvm_physseg_get_end(upm)
        if end < pfn + pages:
            return False
        kassert(pfn == start + off, "pfn == start + off")
        booted = self.uvm.page_init_done
        middle = off > 0 and pfn + pages < end
        spare: Segment | None = None
        if atomic and middle:
            spare = self._alloc_fragment()
            if spare is None:
                return False
        if booted:
            if seg.ext is None or seg.pgs is None:
                panic(
                    "uvm_physseg_unplug: NULL pointer dereference (seg->ext)",
                    Reason.NULL_DEREFERENCE,
                )
            if self.extent_free(seg.ext, seg.pgs + off, pages, EX_MALLOCOK) != 0:
                return False
        if off == 0 and pfn + pages == end:
            self._unplug_whole(upm, seg, pages)
        elif middle:
            if not self._unplug_middle(seg, off, pfn, pages, spare):
                return False
        elif off == 0:
            if booted:
                self.uvmexp.npages -= pages
            self._index_remove(seg)
            seg.start = pfn + pages
            seg.avail_start = seg.start
            if booted and seg.pgs is not None:
                seg.pgs = seg.pgs + pages
            self._index_add(seg)
        else:
            seg.end = pfn
            seg.avail_end = seg.end
            self.uvmexp.npages -= pages
        return True

    # ----------------------------------------------------------------- PHYS_TO_VM_PAGE
    def PHYS_TO_VM_PAGE(self, pa: int) -> Page | None:
        """``PHYS_TO_VM_PAGE(pa)``: the ``vm_page`` of byte address ``pa``, or ``None`` when it
        is not managed; at boot also ``None`` inside a segment (no page arrays yet, C returns
        ``NULL + off``). The same answer as ``uvm_physseg_find`` + ``uvm_physseg_get_pg``, from
        the frame memo of :class:`physseg.netbsd.lookup.PageLookup`: O(1), one dict probe; a
        miss fills the aligned window of 1024 frames around ``pa``, O(log n + 1024) rbtree and
        O(n log n + 1024) static, or from ``SEARCH_SEGMENTS`` segments on answers by a bisect,
        O(log n), memoising nothing. Repeated calls below that count return the same ``Page``
        object, which stands for a pointer: do not mutate it. Raises ``KernelAssertionError``
        after boot for an address in a segment without a page array (the kernel's
        ``KASSERT(uvm_physseg_valid_p(upm))``)."""
        # The memo holds only final answers (a page, or None), so a hit needs no test.
        try:
            return self._memo[pa >> self.PAGE_SHIFT]
        except KeyError:
            page = self._lookup.fill(pa >> self.PAGE_SHIFT)
        if page is UNBACKED:
            if self.uvm.page_init_done:
                kassert(False, "uvm_physseg_valid_p(upm)")
            return None
        return page

    def VM_PAGE_TO_PHYS(self, page: Page) -> int:
        """``VM_PAGE_TO_PHYS(page)``: the byte address of ``page`` (``pg->phys_addr``, written
        by ``uvm_physseg_init_seg``; 0 in an entry no segment initialised). O(1). Raises
        ``IndexError`` for a pointer outside its slab."""
        return page.phys_addr

    def uvm_pageismanaged(self, pa: int) -> bool:
        """Whether byte address ``pa`` lies in a segment (``uvm_physseg_find`` succeeds), with
        or without a page array. O(1) from the frame memo for a frame with a page; otherwise
        the kernel's search, O(log n) rbtree (as ``uvm_physseg_find``). Raises nothing."""
        pfn = pa >> self.PAGE_SHIFT
        if self._memo.get(pfn) is not None:
            return True
        return self.uvm_physseg_find(pfn)[1] is not None

    def phys_to_vm_pages(self, addresses: Any) -> PageBatch:
        """Batch ``PHYS_TO_VM_PAGE`` over an array of byte addresses (any integer array-like);
        see :class:`physseg.netbsd.lookup.PageBatch`. O(m) through the direct or two-level
        frame table of :class:`physseg.netbsd.lookup.LookupTable`, O(m log n) through its binary
        search fallback for very sparse maps; the table is rebuilt (O(n log n + frames)) on the
        first batch after the segments changed. Raises ``TypeError`` for non-integer
        addresses."""
        return self._lookup.table().lookup(addresses)


def build_class(backend: str) -> type[Kernel]:
    """The ``Kernel`` subclass of ``backend`` (``"rbtree"`` or ``"static"``, as registered by
    the builds); ``ValueError`` for anything else. O(1)."""
    build = Kernel._builds.get(backend)
    if build is None:
        names = " or ".join(repr(name) for name in sorted(Kernel._builds))
        raise ValueError(f"unknown backend {backend!r}: expected {names}")
    return build


def _info(upm: Handle, seg: Segment) -> SegmentInfo:
    return SegmentInfo(
        upm,
        seg.start,
        seg.end,
        seg.avail_start,
        seg.avail_end,
        seg.free_list,
        seg.start_hint,
        seg.pgs,
    )
