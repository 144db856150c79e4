"""The Pythonic face: hot-plug without C idioms.

:class:`PhysMem` drives one :class:`physseg.netbsd.Kernel` and validates every call before it
acts: bad input raises a typed :class:`physseg.errors.PhysSegError` whose message names the range
and the reason, and leaves the state exactly as it was. No kernel panic escapes this face. Every
call holds one lock, so a ``PhysMem`` can be shared between threads: each lookup sees the state
before or after a mutation, never a half-done one.

Units: ``pfn``/``start``/``end`` are page frame numbers with exclusive ends; ``pa`` is a byte
address.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import numpy as np

from physseg.core.alloc import Allocator
from physseg.core.pages import PG_BUSY, Page
from physseg.errors import (
    BootPhaseError,
    CapacityError,
    InvalidArgumentError,
    KernelAssertionError,
    KernelPanic,
    LastSegmentError,
    OutOfMemoryError,
    PagesBusyError,
    RangeNotManagedError,
    RangeOverlapError,
    StaleSegmentError,
    UnsupportedOperationError,
)
from physseg.netbsd import Kernel, RBTreeKernel, make_kernel
from physseg.netbsd.lookup import PageBatch
from physseg.netbsd.segment import Segment as SegmentRecord

DEFAULT_PHYSSEG_MAX: Final = 64
"""``VM_PHYSSEG_MAX`` of NetBSD/amd64, the default boot pool size."""

_U64_MAX: Final = (1 << 64) - 1
"""The largest ``paddr_t`` / ``u_long``."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Segment:
    """A read-only view of one segment, taken when it was returned (PFNs, ends exclusive)."""

    start: int
    end: int
    avail_start: int
    avail_end: int
    free_list: int
    start_hint: int

    @property
    def npages(self) -> int:
        """Pages in the span ``[start, end)``."""
        return self.end - self.start

    @property
    def navail(self) -> int:
        """Pages in the avail window (0 when it is empty or inverted)."""
        return max(0, min(self.avail_end, self.end) - max(self.avail_start, self.start))

    def __contains__(self, pfn: object) -> bool:
        return isinstance(pfn, int) and self.start <= pfn < self.end

    def __str__(self) -> str:
        return f"[{self.start:#x}, {self.end:#x})"


@dataclass(frozen=True, slots=True)
class SegmentState:
    """Everything observable about one live segment, page-array placement included."""

    view: Segment
    slab: int
    index: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole observable state of a :class:`PhysMem`; equal snapshots mean equal states."""

    backend: str
    booted: bool
    segments: tuple[SegmentState, ...]
    npages: int
    physmem: int
    extents: tuple[tuple[int, bool, tuple[tuple[int, int], ...]], ...]


def _span(pfn: int, npages: int) -> str:
    return f"[{pfn:#x}, {pfn + npages:#x})"


def _view(record: SegmentRecord) -> Segment:
    return Segment(
        record.start,
        record.end,
        record.avail_start,
        record.avail_end,
        record.free_list,
        record.start_hint,
    )


class PhysMem:
    """A machine's physical memory: load segments at boot, ``boot()``, then hot-plug.

    ``PhysMem(backend="rbtree", *, physseg_max=64, strategy="bsearch", nfreelist=4,
    page_shift=12, allocator=None, coalesce=False, safe_unplug=False)``; the first arguments
    are those of :class:`Kernel`. Two opt-in policies go beyond the kernel:

    * ``coalesce=True``: after each run-time :meth:`plug`, the new segment is merged with an
      adjacent neighbour on the same free list whose page array is the same slab run, so
      one-page plugs (the Xen balloon's) grow one segment instead of adding one each
      (``RBTreeKernel.merge_adjacent``). ``plug`` then returns the merged segment, which may
      extend beyond the plugged range; views of the neighbours it absorbed are stale, as after
      a trim; no page changes its ``vm_page`` entry.
    * ``safe_unplug=True``: :meth:`unplug` refuses a range holding an allocated page
      (``PG_BUSY``, set by :class:`physseg.pagealloc.PageAllocator`) with ``PagesBusyError``
      naming the first one, and changes nothing.
    """

    def __init__(
        self,
        backend: str = "rbtree",
        *,
        physseg_max: int = DEFAULT_PHYSSEG_MAX,
        strategy: str = "bsearch",
        nfreelist: int = 4,
        page_shift: int = 12,
        allocator: Allocator | None = None,
        coalesce: bool = False,
        safe_unplug: bool = False,
    ) -> None:
        self._coalesce = bool(coalesce)
        self._safe_unplug = bool(safe_unplug)
        self._kernel = make_kernel(
            backend,
            physseg_max=physseg_max,
            strategy=strategy,
            nfreelist=nfreelist,
            page_shift=page_shift,
            allocator=allocator,
        )
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- properties
    @property
    def kernel(self) -> Kernel:
        """The engine underneath (for reading; mutating it bypasses every check)."""
        return self._kernel

    @property
    def coalesce(self) -> bool:
        """Whether run-time plugs merge with adjacent mergeable segments (see the class)."""
        return self._coalesce

    @property
    def safe_unplug(self) -> bool:
        """Whether :meth:`unplug` refuses ranges holding allocated pages (see the class)."""
        return self._safe_unplug

    @property
    def backend(self) -> str:
        """``"rbtree"`` or ``"static"``."""
        return self._kernel.backend

    @property
    def page_shift(self) -> int:
        """log2 of the page size."""
        return self._kernel.PAGE_SHIFT

    @property
    def page_size(self) -> int:
        """Page size in bytes."""
        return self._kernel.PAGE_SIZE

    @property
    def max_pfn(self) -> int:
        """One past the highest PFN a 64-bit physical address can name."""
        return 1 << (64 - self._kernel.PAGE_SHIFT)

    @property
    def booted(self) -> bool:
        """Whether :meth:`boot` has run (``uvm.page_init_done``)."""
        return self._kernel.uvm.page_init_done

    @property
    def npages(self) -> int:
        """``uvmexp.npages``: managed free pages as the kernel counts them."""
        return self._kernel.uvmexp.npages

    @property
    def physmem(self) -> int:
        """``physmem``: pages added by run-time plugs (never decremented, as in the kernel)."""
        return self._kernel.physmem

    # ----------------------------------------------------------------- validation
    def _int(
        self, op: str, name: str, value: object, minimum: int = 0, maximum: int | None = None
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidArgumentError(
                f"{op}: {name} must be an int, not {type(value).__name__} {value!r}"
            )
        number = int(value)
        if number < minimum:
            raise InvalidArgumentError(f"{op}: {name} must be >= {minimum}, not {number}")
        if maximum is not None and number > maximum:
            raise InvalidArgumentError(f"{op}: {name} must be <= {maximum:#x}, not {number:#x}")
        return number

    def _range(self, op: str, pfn: object, npages: object) -> tuple[int, int]:
        first = self._int(op, "pfn", pfn)
        count = self._int(f"{op} at pfn {first:#x}", "npages", npages, minimum=1)
        if first + count > self.max_pfn:
            raise InvalidArgumentError(
                f"{op} {_span(first, count)}: beyond the 64-bit physical address space"
                f" (max pfn {self.max_pfn:#x})"
            )
        return first, count

    def _need_booted(self, op: str, booted: bool) -> None:
        if booted and not self.booted:
            raise BootPhaseError(f"{op}: only allowed after boot()")
        if not booted and self.booted:
            raise BootPhaseError(f"{op}: only allowed before boot() (a boot-time operation)")

    def _check_free(self, op: str, pfn: int, npages: int) -> None:
        above = self._kernel.segment_geq(pfn)
        if above is not None and above.start < pfn + npages:
            raise RangeOverlapError(
                f"{op} {_span(pfn, npages)}: overlaps segment {_view(above)} already managed"
            )

    def _boot_transaction(self, op: str, call: Callable[[], _T]) -> _T:
        """Run a boot-time kernel call; on a panic or KASSERT restore the state from before it
        and raise what the kernel ran into: ``CapacityError`` when a split needed a boot pool
        slot and none was left, ``LastSegmentError`` when a page steal would have removed the
        last segment (the kernel's "out of memory!" panics in unplug and physunload), else
        ``OutOfMemoryError`` (no free page left to steal, or the host cannot hold the page
        array: ``MemoryError``)."""
        kernel = self._kernel
        backup = copy.deepcopy(kernel, {id(kernel.allocator): kernel.allocator})
        try:
            return call()
        except MemoryError as exc:
            self._kernel = backup
            raise OutOfMemoryError(f"{op}: the host cannot hold the page array ({exc})") from None
        except (KernelPanic, KernelAssertionError) as exc:
            self._kernel = backup
            reason = str(exc)
            if "VM_PHYSSEG_MAX" in reason:
                raise CapacityError(
                    f"{op}: splitting a segment needs a boot segment slot and all"
                    f" {backup.VM_PHYSSEG_MAX} are used (raise physseg_max)"
                ) from None
            if reason.endswith("out of memory!"):
                records = list(backup.segments())
                which = f" {_view(records[0])}" if len(records) == 1 else ""
                raise LastSegmentError(
                    f"{op}: would remove the last segment{which} ({reason})"
                ) from None
            raise OutOfMemoryError(f"{op}: no free page left to steal ({reason})") from None

    # ----------------------------------------------------------------- boot time
    def load(
        self,
        start: int,
        end: int,
        avail_start: int | None = None,
        avail_end: int | None = None,
        free_list: int = 0,
    ) -> Segment:
        """Load ``[start, end)`` at boot (``uvm_page_physload``) with free pages
        ``[avail_start, avail_end)`` (default: the whole span) on ``free_list``.

        Raises ``BootPhaseError`` after boot, ``InvalidArgumentError`` for bad numbers (empty
        span, avail window outside the span, unknown free list), ``RangeOverlapError``, and
        ``CapacityError`` when the boot pool / static array is full. O(log n) (rbtree)."""
        op = "load"
        with self._lock:
            self._need_booted(op, booted=False)
            first = self._int(op, "start", start)
            last = self._int(op, "end", end)
            if last <= first:
                raise InvalidArgumentError(f"{op} [{first:#x}, {last:#x}): empty span")
            npages = last - first
            self._range(op, first, npages)
            a_start = first if avail_start is None else self._int(op, "avail_start", avail_start)
            a_end = last if avail_end is None else self._int(op, "avail_end", avail_end)
            if not first <= a_start <= a_end <= last:
                raise InvalidArgumentError(
                    f"{op} {_span(first, npages)}: avail window [{a_start:#x}, {a_end:#x})"
                    " must lie inside the span and not be inverted"
                )
            fl = self._int(op, "free_list", free_list)
            if fl >= self._kernel.VM_NFREELIST:
                raise InvalidArgumentError(
                    f"{op} {_span(first, npages)}: free list {fl} does not exist"
                    f" (nfreelist {self._kernel.VM_NFREELIST})"
                )
            self._check_free(op, first, npages)
            self._check_capacity(op, first, npages)
            upm = self._kernel.uvm_page_physload(first, last, a_start, a_end, fl)
            return _view(self._kernel.seg(upm))

    def _check_capacity(self, op: str, pfn: int, npages: int) -> None:
        kernel = self._kernel
        used = getattr(kernel, "nseg", None)
        if used is None:
            used = kernel.uvm_physseg_get_entries()
        if used >= kernel.VM_PHYSSEG_MAX:
            raise CapacityError(
                f"{op} {_span(pfn, npages)}: all {kernel.VM_PHYSSEG_MAX} boot segment slots"
                " are used (raise physseg_max)"
            )

    def steal_page(self) -> int:
        """Take one free page at boot (``uvm_page_physget``) and return its byte address.

        Raises ``BootPhaseError`` after boot, ``OutOfMemoryError`` when no page is free,
        ``LastSegmentError`` when the only page left would remove the last segment and
        ``CapacityError`` when taking the page splits a segment (rbtree: the first free page
        lies above unavailable ones) and no boot segment slot is left. State unchanged on
        error."""
        op = "steal_page"
        with self._lock:
            self._need_booted(op, booted=False)
            ok, pa = self._boot_transaction(op, self._kernel.uvm_page_physget)
            if not ok or pa is None:
                raise OutOfMemoryError(f"{op}: no free page left in any segment")
            return pa

    def boot(self, *, steal: bool = True) -> None:
        """Switch to run time (``uvm_page_init``): size one page array for every segment and
        initialise every page. ``steal=True`` takes the pages holding that array from the
        segments, as the kernel does; ``steal=False`` allocates it outside them (the ATF
        ``uvm_page_init_fake``), leaving the segments as loaded.

        Raises ``BootPhaseError`` when already booted or nothing is loaded,
        ``OutOfMemoryError`` when the segments cannot hold their own page array or the host
        cannot allocate it, and, from the page stealing, ``LastSegmentError`` and
        ``CapacityError`` as :meth:`steal_page`. State unchanged on error."""
        op = "boot"
        with self._lock:
            self._need_booted(op, booted=False)
            if self._kernel.uvm_physseg_get_entries() == 0:
                raise BootPhaseError(f"{op}: no memory loaded")
            if steal:
                self._boot_transaction(op, self._kernel.uvm_page_init)
            else:
                pagecount = sum(seg.end - seg.start for seg in self._kernel.segments())
                self._boot_transaction(op, lambda: self._kernel.uvm_page_init_fake(pagecount))

    # ----------------------------------------------------------------- run time
    def plug(self, pfn: int, npages: int) -> Segment:
        """Hot-plug ``[pfn, pfn + npages)`` and return its segment (``uvm_physseg_plug``).

        Raises ``BootPhaseError`` before boot, ``UnsupportedOperationError`` on the static
        backend, ``InvalidArgumentError``, ``RangeOverlapError``, and ``OutOfMemoryError`` when
        no page array can be found (the kernel sizes a new slab from ``uvmexp.npages`` and
        cannot plug more pages than that at once) or an allocation fails. O(log n + E log E)
        for E slabs.

        With ``coalesce=True`` the returned segment is the one now holding the range after
        merging with its neighbours (its ``start``/``end`` may lie outside the range)."""
        op = "plug"
        with self._lock:
            self._need_booted(op, booted=True)
            first, count = self._range(op, pfn, npages)
            if self.backend != "rbtree":
                raise UnsupportedOperationError(
                    f"{op} {_span(first, count)}: the static backend cannot hot-plug"
                )
            self._check_free(op, first, count)
            try:
                ok, upm = self._kernel.uvm_physseg_plug(first, count)
            except KernelAssertionError as exc:
                raise OutOfMemoryError(
                    f"{op} {_span(first, count)}: allocation failed ({exc})"
                ) from None
            if not ok:
                reason = "an allocation failed"
                if count > self._kernel.uvmexp.npages:
                    reason = (
                        f"no slab has room and a new slab is sized from uvmexp.npages"
                        f" ({self._kernel.uvmexp.npages} < {count})"
                    )
                raise OutOfMemoryError(f"{op} {_span(first, count)}: {reason}")
            record = self._kernel.seg(upm)
            if self._coalesce:
                record = self._coalesce_around(record)
            return _view(record)

    def unplug(self, pfn: int, npages: int) -> None:
        """Hot-unplug ``[pfn, pfn + npages)``, which must lie inside one segment: removes it
        whole, trims it or splits it (``uvm_physseg_unplug``). The caller guarantees the pages
        are unused, as in the kernel, unless ``safe_unplug=True``: then a range holding an
        allocated page raises ``PagesBusyError`` naming the first one (O(npages), vectorised).

        Raises ``BootPhaseError`` before boot, ``InvalidArgumentError``,
        ``RangeNotManagedError`` (starts in a hole or crosses the segment's end),
        ``LastSegmentError``, ``UnsupportedOperationError`` (middle split on the static
        backend; with ``physseg_max=1``, removing a boot-time segment whole, whose record the
        kernel cannot free) and ``OutOfMemoryError`` (an allocation failed; nothing changed).
        O(log n)."""
        op = "unplug"
        with self._lock:
            self._need_booted(op, booted=True)
            first, count = self._range(op, pfn, npages)
            seg = self._segment_holding(op, first, count)
            whole = count == seg.end - seg.start
            if whole and self._kernel.uvm_physseg_get_entries() == 1:
                raise LastSegmentError(
                    f"{op} {_span(first, count)}: would remove the last segment {_view(seg)}"
                )
            if whole and seg.pool_slot >= 0 and self._kernel.VM_PHYSSEG_MAX == 1:
                raise UnsupportedOperationError(
                    f"{op} {_span(first, count)}: segment {_view(seg)} holds the only boot pool"
                    " record, which the kernel cannot free with physseg_max=1 (it panics"
                    ' "tried to free() the entire static array!")'
                )
            middle = first > seg.start and first + count < seg.end
            if middle and self.backend != "rbtree":
                raise UnsupportedOperationError(
                    f"{op} {_span(first, count)}: the static backend cannot split segment"
                    f" {_view(seg)} in the middle"
                )
            if self._safe_unplug:
                self._check_unused(op, seg, first, count)
            if not self._kernel.uvm_physseg_unplug(first, count, atomic=True):
                raise OutOfMemoryError(
                    f"{op} {_span(first, count)}: an allocation failed (record or extent"
                    " descriptor); nothing was changed"
                )

    def _segment_holding(self, op: str, pfn: int, npages: int) -> SegmentRecord:
        upm, off = self._kernel.uvm_physseg_find(pfn)
        if off is None:
            raise RangeNotManagedError(f"{op} {_span(pfn, npages)}: pfn {pfn:#x} is in a hole")
        seg = self._kernel.seg(upm)
        if pfn + npages > seg.end:
            raise RangeNotManagedError(
                f"{op} {_span(pfn, npages)}: crosses the end of segment {_view(seg)}"
            )
        return seg

    def _check_unused(self, op: str, seg: SegmentRecord, pfn: int, npages: int) -> None:
        pgs = seg.pgs
        assert pgs is not None, "after boot every segment has a page array"
        first = pgs.index + (pfn - seg.start)
        busy = np.flatnonzero(pgs.slab.flags[first : first + npages] & PG_BUSY)
        if busy.size:
            page = pfn + int(busy[0])
            raise PagesBusyError(
                f"{op} {_span(pfn, npages)}: page {page:#x} (pa {page << self.page_shift:#x})"
                f" is allocated ({busy.size} busy page(s) in the range); nothing was changed"
            )

    def _coalesce_around(self, record: SegmentRecord) -> SegmentRecord:
        """Merge ``record`` with its predecessor, then with its successor, where mergeable;
        returns the surviving record (the lowest). Only reached after a run-time plug, which
        only the rbtree backend accepts. O(log n)."""
        kernel = cast(RBTreeKernel, self._kernel)
        prev = kernel.uvm_physseg_get_prev(record)
        if prev is not None and kernel.segments_mergeable(prev, record):
            record = kernel.merge_adjacent(prev, record)
        after = kernel.uvm_physseg_get_next(record)
        if after is not None and kernel.segments_mergeable(record, after):
            record = kernel.merge_adjacent(record, after)
        return record

    def set_start_hint(self, segment: Segment, hint: int) -> Segment:
        """Set a live segment's start hint (a search cache for page allocation); returns the
        updated view. Raises ``StaleSegmentError`` when ``segment`` no longer describes a
        live segment, ``InvalidArgumentError`` for a hint that is not an int in
        ``[0, 2**64)`` (the kernel's field is a ``u_long``)."""
        op = "set_start_hint"
        with self._lock:
            value = self._int(op, "hint", hint, maximum=_U64_MAX)
            record = self._live(op, segment)
            record.start_hint = value
            return _view(record)

    def _live(self, op: str, segment: Segment) -> SegmentRecord:
        if not isinstance(segment, Segment):
            raise InvalidArgumentError(f"{op}: expected a Segment, not {segment!r}")
        upm, off = self._kernel.uvm_physseg_find(segment.start)
        record = None if off is None else self._kernel.seg(upm)
        if record is None or record.start != segment.start or record.end != segment.end:
            raise StaleSegmentError(f"{op}: segment {segment} is no longer live")
        return record

    # ----------------------------------------------------------------- lookups
    def find(self, pfn: int) -> tuple[Segment, int] | None:
        """The segment holding ``pfn`` and the page offset in it, or ``None``. O(log n)."""
        first = self._int("find", "pfn", pfn)
        with self._lock:
            upm, off = self._kernel.uvm_physseg_find(first)
            if off is None:
                return None
            return _view(self._kernel.seg(upm)), off

    def page(self, pa: int) -> Page | None:
        """The page record of byte address ``pa`` (``PHYS_TO_VM_PAGE``), ``None`` if the
        address is not managed. Raises ``BootPhaseError`` before boot (no page arrays yet)."""
        address = self._int("page", "pa", pa)
        with self._lock:
            self._need_booted("page", booted=True)
            return self._kernel.PHYS_TO_VM_PAGE(address)

    def pages(self, addresses: Any) -> PageBatch:
        """Batch :meth:`page` over an array of byte addresses (see
        :class:`physseg.netbsd.lookup.PageBatch`; the result has the shape of ``addresses``). O(m)
        after an O(n log n) rebuild when the segments changed.

        Raises ``InvalidArgumentError`` unless every address is an int in ``[0, 2**64)``
        (a bool, float or string array is refused, not truncated), and ``BootPhaseError``
        before boot, as :meth:`page` does."""
        op = "pages"
        batch = np.asarray(addresses)
        if batch.size == 0:
            batch = batch.astype(np.uint64)
        if batch.dtype.kind == "O" and all(
            isinstance(a, int | np.integer) and not isinstance(a, bool) for a in batch.flat
        ):
            if not all(0 <= int(a) <= _U64_MAX for a in batch.flat):
                bad = next(int(a) for a in batch.flat if not 0 <= int(a) <= _U64_MAX)
                raise InvalidArgumentError(f"{op}: address {bad:#x} is not in [0, 2**64)")
            batch = batch.astype(np.uint64)
        if batch.dtype.kind not in "iu":
            raise InvalidArgumentError(
                f"{op}: addresses must be integers, not an array of {batch.dtype}"
            )
        if batch.dtype.kind == "i" and batch.size and int(batch.min()) < 0:
            raise InvalidArgumentError(
                f"{op}: address {int(batch.min()):#x} is negative (addresses are in [0, 2**64))"
            )
        with self._lock:
            self._need_booted(op, booted=True)
            return self._kernel.phys_to_vm_pages(batch.astype(np.uint64, copy=False))

    def __iter__(self) -> Iterator[Segment]:
        """The segments in the backend's order (address order for the rbtree), as views
        taken now."""
        with self._lock:
            return iter([_view(record) for record in self._kernel.segments()])

    def segments(self) -> list[Segment]:
        """The segments as a list, in the backend's order."""
        return list(self)

    def __len__(self) -> int:
        return self._kernel.uvm_physseg_get_entries()

    def holes(self) -> list[tuple[int, int]]:
        """Unmanaged ``[start, end)`` PFN ranges between the first and last segment."""
        spans = sorted((seg.start, seg.end) for seg in self)
        return [
            (a_end, b_start)
            for (_, a_end), (b_start, _) in itertools.pairwise(spans)
            if b_start > a_end
        ]

    def stats(self) -> dict[str, int]:
        """Summary counters: segments, managed pages (spans), free pages (``npages``),
        ``physmem``, holes and distinct page-array slabs."""
        with self._lock:
            records = list(self._kernel.segments())
            slabs = {r.pgs.slab.ident for r in records if r.pgs is not None}
            return {
                "segments": len(records),
                "managed_pages": sum(r.end - r.start for r in records),
                "free_pages": self.npages,
                "physmem": self.physmem,
                "holes": len(self.holes()),
                "slabs": len(slabs),
            }

    def snapshot(self) -> Snapshot:
        """The full observable state (segments, page-array placement, counters, extents)."""
        with self._lock:
            states = []
            extents = {}
            for record in self._kernel.segments():
                pgs = record.pgs
                states.append(
                    SegmentState(
                        _view(record),
                        -1 if pgs is None else pgs.slab.ident,
                        -1 if pgs is None else pgs.index,
                    )
                )
                if record.ext is not None and record.ext.slab.ident not in extents:
                    ext = record.ext.extent
                    extents[record.ext.slab.ident] = (
                        record.ext.slab.ident,
                        ext.destroyed,
                        tuple(ext.regions()) if not ext.destroyed else (),
                    )
            return Snapshot(
                self.backend,
                self.booted,
                tuple(states),
                self.npages,
                self.physmem,
                tuple(sorted(extents.values())),
            )

    def check(self) -> None:
        """Verify every invariant; raises ``AssertionError`` naming the broken one.

        Everything is the engine's (:meth:`Kernel.check`: the build's indexes, segments
        disjoint, page arrays matching their PFNs, unshared and allocated in their extents):
        the face keeps no index of its own, and its calls leave the engine only in states that
        complete kernel calls reach (a boot-time abort is rolled back, a run-time one leaves
        nothing live behind), so the engine's check is the whole check.
        O(n log n + R log R + P), see :meth:`Kernel.check`."""
        with self._lock:
            self._kernel.check()
