"""The Pythonic face: hot-plug without C idioms.

:class:`PhysMem` drives one :class:`physseg.netbsd.Kernel` and validates every call before it
acts: bad input raises a typed :class:`physseg.errors.PhysSegError` that carries the operation,
the range and a reason code (its message is rendered from them), and leaves the state exactly as
it was. No kernel panic escapes this face. Every call holds one lock, so a ``PhysMem`` can be
shared between threads: each lookup sees the state before or after a mutation, never a half-done
one.

The face knows the engine only through its API: handles, the C getters, the engine's questions
(``segment_infos``, ``segment_at``, ``extent_infos``) and capabilities (``can_hotplug``,
``can_split_middle``, ``can_merge``); it never asks which build it drives.

Units: ``pfn``/``start``/``end`` are page frame numbers with exclusive ends; ``pa`` is a byte
address.

>>> mem = PhysMem()
>>> mem.load(0x100, 0x200)
Segment(start=256, end=512, avail_start=256, avail_end=512, free_list=0, start_hint=0)
>>> mem.boot(steal=False)
>>> str(mem.plug(0x400, 0x80))
'[0x400, 0x480)'
>>> mem.unplug(0x140, 0x10)
>>> [str(seg) for seg in mem]
['[0x100, 0x140)', '[0x150, 0x200)', '[0x400, 0x480)']
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np

from physseg.core.alloc import Allocator
from physseg.core.lazycolumn import column_bits_set
from physseg.core.pages import PG_BUSY, Page
from physseg.errors import (
    BootPhaseError,
    CapacityError,
    InvalidArgumentError,
    KernelAssertionError,
    KernelHang,
    KernelPanic,
    LastSegmentError,
    OutOfMemoryError,
    PagesBusyError,
    RangeNotManagedError,
    RangeOverlapError,
    Reason,
    StaleSegmentError,
    UnsupportedOperationError,
)
from physseg.netbsd import Kernel, KernelImage, SegmentInfo, load_image, make_kernel, save_image
from physseg.netbsd.lookup import UNBACKED, PageBatch

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


def _view(info: SegmentInfo) -> Segment:
    return Segment(
        info.start,
        info.end,
        info.avail_start,
        info.avail_end,
        info.free_list,
        info.start_hint,
    )


def _span(info: SegmentInfo) -> tuple[int, int]:
    return info.start, info.end


def _page_fast_path(
    kernel: Kernel, full_path: Callable[[int], Page | None]
) -> Callable[[int], Page | None]:
    """``PhysMem.page`` without the lock for an exact ``int``: one probe of the engine's frame
    memo, else ``full_path``. The same answers and errors as ``full_path``, because:

    * the memo holds only final answers (a page, or ``None``), only for frames in
      ``[0, 2**(64 - page_shift))`` (a negative or huge address misses and is validated by the
      full path), and is emptied in place, under the face's lock, by every layout or phase
      change; a probe that misses then takes the full path, which waits for the lock;
    * a dict probe is atomic under the GIL, so a call sees the memo before or after a
      concurrent mutation, never a half-done one;
    * a page in the memo means run time (page arrays exist only after boot); a ``None`` is an
      answer only once booted, so before boot it takes the full path, which raises;
    * on a large layout (the engine's lookup is ``searching``) the memo stays empty and a
      non-negative address is answered by the engine's span index, which is never changed
      after its build (a layout change drops it) and makes the ``Page`` on demand, as the
      kernel's miss does;
    * anything but an exact ``int`` (a bool, a numpy integer, an int subclass, a float) takes
      the full path.

    The engine keeps the memo and ``uvm`` the same objects for its whole life (rollback works
    in place), so they are bound once. O(1)."""
    lookup = kernel.lookup
    memo = lookup.memo
    uvm = kernel.uvm
    shift = kernel.PAGE_SHIFT

    def page(pa: int) -> Page | None:
        if type(pa) is int:
            try:
                found = memo[pa >> shift]
            except KeyError:
                index = lookup.span_index
                if index is not None and lookup.searching and pa >= 0 and uvm.page_init_done:
                    entry = index.entry(pa >> shift)
                    if entry is not UNBACKED:
                        return entry
            else:
                if found is not None or uvm.page_init_done:
                    return found
        return full_path(pa)

    page.__doc__ = PhysMem.page.__doc__
    return page


def _find_fast_path(
    kernel: Kernel, full_path: Callable[[int], tuple[Segment, int] | None]
) -> Callable[[int], tuple[Segment, int] | None]:
    """``PhysMem.find`` without the lock for an exact ``int``: a bisect over the engine's
    span index (:class:`physseg.netbsd.lookup.SpanIndex`) and the view cached for the
    position, else ``full_path``. The same answers and errors as ``full_path``, because:

    * a span index is never changed after its build (a layout change drops it), so whatever
      index a call reads answers as the layout before or after a concurrent mutation;
    * a view is cached only by the full path, under the lock, from the index current then,
      and the views are dropped when a segment's hint or avail window changes;
    * a ``pfn`` below the first start (every negative one among them) takes the full path,
      which validates it; a huge one misses the last segment as the kernel's search does;
    * anything but an exact ``int`` takes the full path.

    O(log n)."""
    lookup = kernel.lookup

    def find(pfn: int) -> tuple[Segment, int] | None:
        index = lookup.span_index
        if index is not None and type(pfn) is int:
            starts = index.starts
            i = bisect_right(starts, pfn) - 1
            if i >= 0:
                if pfn >= index.ends[i]:
                    return None
                try:
                    return index.views[i], pfn - starts[i]
                except KeyError:
                    pass
        return full_path(pfn)

    find.__doc__ = PhysMem.find.__doc__
    return find


class PhysMem:
    """A machine's physical memory: load segments at boot, ``boot()``, then hot-plug.

    ``PhysMem(backend="rbtree", *, physseg_max=64, strategy="bsearch", nfreelist=4,
    page_shift=12, allocator=None, coalesce=False, safe_unplug=False, lazy_pages=True)``; the
    first arguments and ``lazy_pages`` (lazy page arrays, materialised on first touch, or eager
    ones; the results are the same) are those of :class:`Kernel`, which raises ``ValueError``
    for a value out of its domain.
    Two opt-in policies go beyond the kernel:

    * ``coalesce=True``: after each run-time :meth:`plug`, the new segment is merged with an
      adjacent neighbour on the same free list whose page array is the same slab run, so
      one-page plugs (the Xen balloon's) grow one segment instead of adding one each
      (``Kernel.merge_adjacent``, on an engine that ``can_merge``). ``plug`` then returns the
      merged segment, which may extend beyond the plugged range; views of the neighbours it
      absorbed are stale, as after a trim; no page changes its ``vm_page`` entry.
    * ``safe_unplug=True``: :meth:`unplug` refuses a range holding an allocated page
      (``PG_BUSY``, set by :class:`physseg.pagealloc.PageAllocator`) with ``PagesBusyError``
      naming the first one, and changes nothing.

    >>> mem = PhysMem(coalesce=True)
    >>> _ = mem.load(0x100, 0x200)
    >>> mem.boot(steal=False)
    >>> mem.unplug(0x1f0, 0x10)
    >>> str(mem.plug(0x1f0, 0x10))   # merged back with its neighbour
    '[0x100, 0x200)'
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
        lazy_pages: bool = True,
    ) -> None:
        self._attach(
            make_kernel(
                backend,
                physseg_max=physseg_max,
                strategy=strategy,
                nfreelist=nfreelist,
                page_shift=page_shift,
                allocator=allocator,
                lazy_pages=lazy_pages,
            ),
            coalesce=coalesce,
            safe_unplug=safe_unplug,
        )

    def _attach(self, kernel: Kernel, *, coalesce: bool, safe_unplug: bool) -> None:
        """Make this face the one over ``kernel`` (the constructors' common end)."""
        self._coalesce = bool(coalesce)
        self._safe_unplug = bool(safe_unplug)
        self._kernel = kernel
        self._lock = threading.RLock()
        # The lookup fast paths, as instance attributes that shadow the methods (a closure
        # call skips the method binding and the attribute loads: measured 1.52x -> 1.41x of
        # PHYS_TO_VM_PAGE, benchmarks/face_lookup.py). They fall back to the methods.
        self.page = _page_fast_path(kernel, self.page)  # type: ignore[method-assign,assignment]
        self.find = _find_fast_path(kernel, self.find)  # type: ignore[method-assign,assignment]

    @classmethod
    def from_image(
        cls,
        image: KernelImage,
        *,
        allocator: Allocator | None = None,
        coalesce: bool = False,
        safe_unplug: bool = False,
        lazy_pages: bool = True,
    ) -> PhysMem:
        """A face over the kernel ``image`` describes (:func:`physseg.netbsd.load_image`), with
        the policies given here (an image holds the engine, not the face's options): the
        machine :meth:`image` saved, in the same phase, with the same segments, page arrays,
        counters and slab numbering. O(n log n + R log R + P) for n segments, R extent regions
        and P page entries.

        Raises ``ImageError`` (``physseg.errors``, a ``ValueError`` naming the part of the
        image and why) for an image that is malformed, inconsistent or past the bounds of
        :mod:`physseg.netbsd.image`; nothing is built then.

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> _ = mem.plug(0x400, 0x80)
        >>> twin = PhysMem.from_image(mem.image())
        >>> twin.snapshot() == mem.snapshot(), [str(seg) for seg in twin]
        (True, ['[0x100, 0x200)', '[0x400, 0x480)'])
        """
        face = cls.__new__(cls)
        face._attach(
            load_image(image, allocator, lazy_pages=lazy_pages),
            coalesce=coalesce,
            safe_unplug=safe_unplug,
        )
        return face

    # ----------------------------------------------------------------- properties
    @property
    def kernel(self) -> Kernel:
        """The engine underneath, the same object for this face's whole life (for reading;
        mutating it bypasses every check). O(1)."""
        return self._kernel

    @property
    def coalesce(self) -> bool:
        """Whether run-time plugs merge with adjacent mergeable segments (see the class). O(1)."""
        return self._coalesce

    @property
    def safe_unplug(self) -> bool:
        """Whether :meth:`unplug` refuses ranges holding allocated pages (see the class). O(1)."""
        return self._safe_unplug

    @property
    def backend(self) -> str:
        """The engine's build: ``"rbtree"`` or ``"static"``. O(1).

        >>> PhysMem("static").backend
        'static'
        """
        return self._kernel.backend

    @property
    def page_shift(self) -> int:
        """log2 of the page size. O(1)."""
        return self._kernel.PAGE_SHIFT

    @property
    def page_size(self) -> int:
        """Page size in bytes. O(1).

        >>> PhysMem(page_shift=14).page_size
        16384
        """
        return self._kernel.PAGE_SIZE

    @property
    def max_pfn(self) -> int:
        """One past the highest PFN a 64-bit physical address can name. O(1)."""
        return 1 << (64 - self._kernel.PAGE_SHIFT)

    @property
    def booted(self) -> bool:
        """Whether :meth:`boot` has run (``uvm.page_init_done``). O(1)."""
        return self._kernel.uvm.page_init_done

    @property
    def npages(self) -> int:
        """``uvmexp.npages``: managed free pages as the kernel counts them (in pages). O(1)."""
        return self._kernel.uvmexp.npages

    @property
    def physmem(self) -> int:
        """``physmem``: pages added by run-time plugs (never decremented, as in the kernel).
        O(1)."""
        return self._kernel.physmem

    # ----------------------------------------------------------------- validation
    def _int(
        self,
        op: str,
        name: str,
        value: object,
        minimum: int = 0,
        maximum: int | None = None,
        pfn: int | None = None,
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidArgumentError(
                op, Reason.NOT_AN_INT, pfn=pfn, name=name, value=value, page_shift=self.page_shift
            )
        number = int(value)
        if number < minimum:
            reason, limit = Reason.TOO_SMALL, minimum
        elif maximum is not None and number > maximum:
            reason, limit = Reason.TOO_LARGE, maximum
        else:
            return number
        raise InvalidArgumentError(
            op, reason, pfn=pfn, name=name, value=number, limit=limit, page_shift=self.page_shift
        )

    def _range(self, op: str, pfn: object, npages: object) -> tuple[int, int]:
        first = self._int(op, "pfn", pfn)
        count = self._int(op, "npages", npages, minimum=1, pfn=first)
        if first + count > self.max_pfn:
            raise InvalidArgumentError(
                op,
                Reason.BEYOND_ADDRESS_SPACE,
                pfn=first,
                npages=count,
                limit=self.max_pfn,
                page_shift=self.page_shift,
            )
        return first, count

    def _need_booted(self, op: str, booted: bool) -> None:
        if booted and not self.booted:
            raise BootPhaseError(op, Reason.NEEDS_BOOT, page_shift=self.page_shift)
        if not booted and self.booted:
            raise BootPhaseError(op, Reason.BOOT_ONLY, page_shift=self.page_shift)

    def _check_free(self, op: str, pfn: int, npages: int) -> None:
        above = self._kernel.segment_at(pfn)
        if above is not None and above.start < pfn + npages:
            raise RangeOverlapError(
                op,
                Reason.OVERLAP,
                pfn=pfn,
                npages=npages,
                segment=_span(above),
                page_shift=self.page_shift,
            )

    def _boot_transaction(self, op: str, call: Callable[[], _T]) -> _T:
        """Run a boot-time kernel call as a transaction of the engine: on a panic, a KASSERT
        or ``MemoryError`` the same kernel object is rolled back to its state before the call
        (:meth:`Kernel.rollback`), and the face raises what the kernel ran into, read from the
        abort's reason code: ``CapacityError`` when a split needed a boot pool slot and none was
        left, ``LastSegmentError`` when a page steal would have removed the last segment, else
        ``OutOfMemoryError`` (no free page left to steal, or the host cannot hold the page
        array)."""
        kernel = self._kernel
        shift = self.page_shift
        try:
            result: _T = kernel.transaction(call)
        except MemoryError as exc:
            raise OutOfMemoryError(
                op, Reason.HOST_OUT_OF_MEMORY, detail=str(exc), page_shift=shift
            ) from None
        except (KernelPanic, KernelAssertionError) as exc:
            if exc.reason is Reason.BOOT_POOL_EXHAUSTED:
                raise CapacityError(
                    op, Reason.SPLIT_NEEDS_SLOT, limit=kernel.VM_PHYSSEG_MAX, page_shift=shift
                ) from None
            if exc.reason is Reason.LAST_SEGMENT:
                infos = kernel.segment_infos()
                raise LastSegmentError(
                    op,
                    Reason.WOULD_REMOVE_LAST,
                    segment=_span(infos[0]) if len(infos) == 1 else None,
                    detail=str(exc),
                    page_shift=shift,
                ) from None
            raise OutOfMemoryError(
                op, Reason.NO_PAGE_TO_STEAL, detail=str(exc), page_shift=shift
            ) from None
        return result

    # ----------------------------------------------------------------- boot time
    def load(
        self,
        start: int,
        end: int,
        avail_start: int | None = None,
        avail_end: int | None = None,
        free_list: int = 0,
    ) -> Segment:
        """Load PFNs ``[start, end)`` at boot (``uvm_page_physload``) with free pages
        ``[avail_start, avail_end)`` (default: the whole span) on ``free_list``; returns the
        new segment's view.

        Raises ``BootPhaseError`` after boot, ``InvalidArgumentError`` for bad numbers (empty
        span, avail window outside the span, unknown free list), ``RangeOverlapError``, and
        ``CapacityError`` when the boot pool / static array is full. O(log n) (rbtree), O(n)
        (static).

        >>> mem = PhysMem()
        >>> str(mem.load(0x100, 0x200, avail_start=0x110))
        '[0x100, 0x200)'
        >>> try:
        ...     mem.load(0x180, 0x300)
        ... except RangeOverlapError as err:
        ...     print(err.reason.value, [hex(pfn) for pfn in err.segment])
        overlap ['0x100', '0x200']
        """
        op = "load"
        shift = self.page_shift
        with self._lock:
            self._need_booted(op, booted=False)
            first = self._int(op, "start", start)
            last = self._int(op, "end", end)
            if last <= first:
                raise InvalidArgumentError(
                    op, Reason.EMPTY_SPAN, pfn=first, npages=last - first, page_shift=shift
                )
            npages = last - first
            self._range(op, first, npages)
            a_start = first if avail_start is None else self._int(op, "avail_start", avail_start)
            a_end = last if avail_end is None else self._int(op, "avail_end", avail_end)
            if not first <= a_start <= a_end <= last:
                raise InvalidArgumentError(
                    op,
                    Reason.AVAIL_OUTSIDE_SPAN,
                    pfn=first,
                    npages=npages,
                    window=(a_start, a_end),
                    page_shift=shift,
                )
            fl = self._int(op, "free_list", free_list)
            if fl >= self._kernel.VM_NFREELIST:
                raise InvalidArgumentError(
                    op,
                    Reason.NO_SUCH_FREE_LIST,
                    pfn=first,
                    npages=npages,
                    value=fl,
                    limit=self._kernel.VM_NFREELIST,
                    page_shift=shift,
                )
            self._check_free(op, first, npages)
            self._check_capacity(op, first, npages)
            upm = self._kernel.uvm_page_physload(first, last, a_start, a_end, fl)
            return _view(self._kernel.segment_info(upm))

    def _check_capacity(self, op: str, pfn: int, npages: int) -> None:
        kernel = self._kernel
        if kernel.boot_records_used >= kernel.VM_PHYSSEG_MAX:
            raise CapacityError(
                op,
                Reason.SLOTS_FULL,
                pfn=pfn,
                npages=npages,
                limit=kernel.VM_PHYSSEG_MAX,
                page_shift=self.page_shift,
            )

    def steal_page(self) -> int:
        """Take one free page at boot (``uvm_page_physget``) and return its byte address.

        Raises ``BootPhaseError`` after boot, ``OutOfMemoryError`` when no page is free,
        ``LastSegmentError`` when the only page left would remove the last segment and
        ``CapacityError`` when taking the page splits a segment (rbtree: the first free page
        lies above unavailable ones) and no boot segment slot is left. State unchanged on
        error. O(n) segments walked, plus O(n + regions) for the rollback checkpoint.

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> hex(mem.steal_page())
        '0x100000'
        >>> str(mem.segments()[0])
        '[0x101, 0x200)'
        """
        op = "steal_page"
        with self._lock:
            self._need_booted(op, booted=False)
            ok, pa = self._boot_transaction(op, self._kernel.uvm_page_physget)
            if not ok or pa is None:
                raise OutOfMemoryError(op, Reason.NO_FREE_PAGE, page_shift=self.page_shift)
            return pa

    def boot(self, *, steal: bool = True) -> None:
        """Switch to run time (``uvm_page_init``): size one page array for every segment and
        initialise every page. ``steal=True`` takes the pages holding that array from the
        segments, as the kernel does; ``steal=False`` allocates it outside them (the ATF
        ``uvm_page_init_fake``), leaving the segments as loaded.

        Raises ``BootPhaseError`` when already booted or nothing is loaded,
        ``OutOfMemoryError`` when the segments cannot hold their own page array or the host
        cannot allocate it, and, from the page stealing, ``LastSegmentError`` and
        ``CapacityError`` as :meth:`steal_page`. State unchanged on error, in the same
        ``Kernel`` object. O(n + pages) (every page is initialised, vectorised).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot()
        >>> mem.booted, str(mem.segments()[0])   # the page array took the first pages
        (True, '[0x108, 0x200)')
        """
        op = "boot"
        with self._lock:
            self._need_booted(op, booted=False)
            if self._kernel.uvm_physseg_get_entries() == 0:
                raise BootPhaseError(op, Reason.NOTHING_LOADED, page_shift=self.page_shift)
            if steal:
                self._boot_transaction(op, self._kernel.uvm_page_init)
            else:
                pagecount = sum(info.end - info.start for info in self._kernel.segment_infos())
                self._boot_transaction(op, lambda: self._kernel.uvm_page_init_fake(pagecount))

    # ----------------------------------------------------------------- run time
    def plug(self, pfn: int, npages: int) -> Segment:
        """Hot-plug PFNs ``[pfn, pfn + npages)`` and return its segment
        (``uvm_physseg_plug``).

        Raises ``BootPhaseError`` before boot, ``UnsupportedOperationError`` on an engine that
        cannot hot-plug (the static backend), ``InvalidArgumentError``, ``RangeOverlapError``,
        and ``OutOfMemoryError`` when no page array can be found (the kernel sizes a new slab
        from ``uvmexp.npages`` and cannot plug more pages than that at once; reason
        ``WOULD_HANG`` when ``uvmexp.npages`` is negative, where the kernel would never return,
        quirk 38) or an allocation fails. State unchanged on error. O(log n + E log E) for E
        slabs, plus O(npages) to initialise the pages.

        With ``coalesce=True`` the returned segment is the one now holding the range after
        merging with its neighbours (its ``start``/``end`` may lie outside the range).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> str(mem.plug(0x1000, 0x40))
        '[0x1000, 0x1040)'
        >>> mem.plug(0x1000, 0x1000)
        Traceback (most recent call last):
        ...
        physseg.errors.RangeOverlapError: plug [0x1000, 0x2000): overlaps segment [0x1000, ...
        """
        op = "plug"
        shift = self.page_shift
        with self._lock:
            self._need_booted(op, booted=True)
            kernel = self._kernel
            first, count = self._range(op, pfn, npages)
            if not kernel.can_hotplug:
                raise UnsupportedOperationError(
                    op,
                    Reason.CANNOT_HOTPLUG,
                    pfn=first,
                    npages=count,
                    detail=self.backend,
                    page_shift=shift,
                )
            self._check_free(op, first, count)
            try:
                ok, upm = kernel.uvm_physseg_plug(first, count)
            except KernelAssertionError as exc:
                raise OutOfMemoryError(
                    op,
                    Reason.ALLOCATION_FAILED,
                    pfn=first,
                    npages=count,
                    detail=str(exc),
                    page_shift=shift,
                ) from None
            except KernelHang as exc:
                raise OutOfMemoryError(
                    op,
                    Reason.WOULD_HANG,
                    pfn=first,
                    npages=count,
                    limit=exc.npages,
                    page_shift=shift,
                ) from None
            if not ok:
                if count > kernel.uvmexp.npages:
                    raise OutOfMemoryError(
                        op,
                        Reason.SLAB_TOO_SMALL,
                        pfn=first,
                        npages=count,
                        limit=kernel.uvmexp.npages,
                        page_shift=shift,
                    )
                raise OutOfMemoryError(
                    op, Reason.ALLOCATION_FAILED, pfn=first, npages=count, page_shift=shift
                )
            if self._coalesce:
                upm = self._coalesce_around(upm)
            return _view(kernel.segment_info(upm))

    def unplug(self, pfn: int, npages: int) -> None:
        """Hot-unplug PFNs ``[pfn, pfn + npages)``, which must lie inside one segment: removes
        it whole, trims it or splits it (``uvm_physseg_unplug``). The caller guarantees the
        pages are unused, as in the kernel, unless ``safe_unplug=True``: then a range holding
        an allocated page raises ``PagesBusyError`` naming the first one (O(npages),
        vectorised).

        Raises ``BootPhaseError`` before boot, ``InvalidArgumentError``,
        ``RangeNotManagedError`` (starts in a hole or crosses the segment's end),
        ``LastSegmentError``, ``UnsupportedOperationError`` (a middle split on an engine that
        cannot split, the static backend; with ``physseg_max=1``, removing a boot-time segment
        whole, whose record the kernel cannot free) and ``OutOfMemoryError`` (an allocation
        failed; nothing changed). O(log n).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> mem.unplug(0x180, 0x10)
        >>> [str(seg) for seg in mem]
        ['[0x100, 0x180)', '[0x190, 0x200)']
        >>> mem.unplug(0x180, 1)
        Traceback (most recent call last):
        ...
        physseg.errors.RangeNotManagedError: unplug [0x180, 0x181): pfn 0x180 is in a hole
        """
        op = "unplug"
        shift = self.page_shift
        with self._lock:
            self._need_booted(op, booted=True)
            kernel = self._kernel
            first, count = self._range(op, pfn, npages)
            seg = self._segment_holding(op, first, count)
            whole = count == seg.end - seg.start
            if whole and kernel.uvm_physseg_get_entries() == 1:
                raise LastSegmentError(
                    op,
                    Reason.WOULD_REMOVE_LAST,
                    pfn=first,
                    npages=count,
                    segment=_span(seg),
                    page_shift=shift,
                )
            if whole and not kernel.record_freeable(seg.handle):
                raise UnsupportedOperationError(
                    op,
                    Reason.BOOT_RECORD_UNFREEABLE,
                    pfn=first,
                    npages=count,
                    segment=_span(seg),
                    page_shift=shift,
                )
            middle = first > seg.start and first + count < seg.end
            if middle and not kernel.can_split_middle:
                raise UnsupportedOperationError(
                    op,
                    Reason.CANNOT_SPLIT,
                    pfn=first,
                    npages=count,
                    segment=_span(seg),
                    detail=self.backend,
                    page_shift=shift,
                )
            if self._safe_unplug:
                self._check_unused(op, seg, first, count)
            if not kernel.uvm_physseg_unplug(first, count, atomic=True):
                raise OutOfMemoryError(
                    op,
                    Reason.ALLOCATION_FAILED,
                    pfn=first,
                    npages=count,
                    detail="record or extent descriptor; nothing was changed",
                    page_shift=shift,
                )

    def _segment_holding(self, op: str, pfn: int, npages: int) -> SegmentInfo:
        kernel = self._kernel
        upm, off = kernel.uvm_physseg_find(pfn)
        if off is None:
            raise RangeNotManagedError(
                op, Reason.IN_HOLE, pfn=pfn, npages=npages, page_shift=self.page_shift
            )
        seg = kernel.segment_info(upm)
        if pfn + npages > seg.end:
            raise RangeNotManagedError(
                op,
                Reason.CROSSES_END,
                pfn=pfn,
                npages=npages,
                segment=_span(seg),
                page_shift=self.page_shift,
            )
        return seg

    def _check_unused(self, op: str, seg: SegmentInfo, pfn: int, npages: int) -> None:
        pgs = seg.pgs
        assert pgs is not None, "after boot every segment has a page array"
        first = pgs.index + (pfn - seg.start)
        busy, count = column_bits_set(pgs.slab.flags, first, first + npages, PG_BUSY)
        if count:
            raise PagesBusyError(
                op,
                Reason.PAGES_BUSY,
                pfn=pfn,
                npages=npages,
                page=pfn + busy - first,
                count=count,
                page_shift=self.page_shift,
            )

    def _coalesce_around(self, upm: Any) -> Any:
        """Merge the segment ``upm`` with its predecessor, then with its successor, where the
        engine says they are mergeable; returns the surviving handle (the lowest). O(log n)."""
        kernel = self._kernel
        prev = kernel.uvm_physseg_get_prev(upm)
        if kernel.uvm_physseg_valid_p(prev) and kernel.segments_mergeable(prev, upm):
            upm = kernel.merge_adjacent(prev, upm)
        after = kernel.uvm_physseg_get_next(upm)
        if kernel.uvm_physseg_valid_p(after) and kernel.segments_mergeable(upm, after):
            upm = kernel.merge_adjacent(upm, after)
        return upm

    def set_start_hint(self, segment: Segment, hint: int) -> Segment:
        """Set a live segment's start hint (a search cache for page allocation, in pages from
        ``avail_start``); returns the updated view. Raises ``StaleSegmentError`` when
        ``segment`` no longer describes a live segment, ``InvalidArgumentError`` for a hint
        that is not an int in ``[0, 2**64)`` (the kernel's field is a ``u_long``). O(log n).

        >>> mem = PhysMem()
        >>> seg = mem.load(0x100, 0x200)
        >>> mem.set_start_hint(seg, 5).start_hint
        5
        """
        op = "set_start_hint"
        with self._lock:
            value = self._int(op, "hint", hint, maximum=_U64_MAX)
            info = self._live(op, segment)
            self._kernel.uvm_physseg_set_start_hint(info.handle, value)
            return _view(self._kernel.segment_info(info.handle))

    def _live(self, op: str, segment: Segment) -> SegmentInfo:
        if not isinstance(segment, Segment):
            raise InvalidArgumentError(
                op, Reason.WRONG_TYPE, name="a Segment", value=segment, page_shift=self.page_shift
            )
        upm, off = self._kernel.uvm_physseg_find(segment.start)
        info = None if off is None else self._kernel.segment_info(upm)
        if info is None or info.start != segment.start or info.end != segment.end:
            raise StaleSegmentError(
                op,
                Reason.STALE_SEGMENT,
                segment=(segment.start, segment.end),
                page_shift=self.page_shift,
            )
        return info

    # ----------------------------------------------------------------- lookups
    def find(self, pfn: int) -> tuple[Segment, int] | None:
        """The segment holding ``pfn`` and the page offset in it, or ``None``. Raises
        ``InvalidArgumentError`` unless ``pfn`` is a non-negative int. O(log n): a bisect over
        the engine's span index and a view cached for the layout, once the layout has been
        asked often enough to build the index (the kernel's search until then).

        Each face answers through a fast path bound at construction (see
        :func:`_find_fast_path`); this method is the full path it falls back to.

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> seg, off = mem.find(0x105)
        >>> str(seg), off
        ('[0x100, 0x200)', 5)
        >>> mem.find(0x300) is None
        True
        """
        first = self._int("find", "pfn", pfn)
        with self._lock:
            kernel = self._kernel
            index = kernel.lookup.spans()
            upm, off = kernel.uvm_physseg_find(first)
            if off is None:
                return None
            view = _view(kernel.segment_info(upm))
            if index is not None:
                index.views[index.position(first)] = view
            return view, off

    def page(self, pa: int) -> Page | None:
        """The page record of byte address ``pa`` (``PHYS_TO_VM_PAGE``), ``None`` if the
        address is not managed. Raises ``BootPhaseError`` before boot (no page arrays yet) and
        ``InvalidArgumentError`` unless ``pa`` is a non-negative int. O(1) from the engine's
        frame memo.

        Each face answers through a fast path bound at construction (see
        :func:`_page_fast_path`); this method is the full path it falls back to.

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> hex(mem.page(0x105000).phys_addr)
        '0x105000'
        >>> mem.page(0x300000) is None
        True
        """
        address = self._int("page", "pa", pa)
        with self._lock:
            self._need_booted("page", booted=True)
            return self._kernel.PHYS_TO_VM_PAGE(address)

    def pages(self, addresses: Any) -> PageBatch:
        """Batch :meth:`page` over an array of byte addresses (see
        :class:`physseg.netbsd.lookup.PageBatch`; the result has the shape of ``addresses``).
        O(m) after an O(n log n) rebuild when the segments changed.

        Raises ``InvalidArgumentError`` unless every address is an int in ``[0, 2**64)``
        (a bool, float or string array is refused, not truncated), and ``BootPhaseError``
        before boot, as :meth:`page` does.

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> batch = mem.pages([0x100000, 0x101000, 0x300000])
        >>> batch.hit.tolist(), batch.offset.tolist()
        ([True, True, False], [0, 1, -1])
        """
        op = "pages"
        shift = self.page_shift
        batch = np.asarray(addresses)
        if batch.size == 0:
            batch = batch.astype(np.uint64)
        if batch.dtype.kind == "O" and all(
            isinstance(a, int | np.integer) and not isinstance(a, bool) for a in batch.flat
        ):
            if not all(0 <= int(a) <= _U64_MAX for a in batch.flat):
                bad = next(int(a) for a in batch.flat if not 0 <= int(a) <= _U64_MAX)
                raise InvalidArgumentError(
                    op, Reason.ADDRESS_OUT_OF_RANGE, value=bad, page_shift=shift
                )
            batch = batch.astype(np.uint64)
        if batch.dtype.kind not in "iu":
            raise InvalidArgumentError(
                op,
                Reason.NOT_INTEGERS,
                name="addresses",
                value=f"an array of {batch.dtype}",
                page_shift=shift,
            )
        if batch.dtype.kind == "i" and batch.size and int(batch.min()) < 0:
            raise InvalidArgumentError(
                op, Reason.NEGATIVE_ADDRESS, value=int(batch.min()), page_shift=shift
            )
        with self._lock:
            self._need_booted(op, booted=True)
            return self._kernel.phys_to_vm_pages(batch.astype(np.uint64, copy=False))

    def __iter__(self) -> Iterator[Segment]:
        """The segments in the backend's order (address order for the rbtree), as views
        taken now. O(n)."""
        with self._lock:
            return iter([_view(info) for info in self._kernel.segment_infos()])

    def segments(self) -> list[Segment]:
        """The segments as a list, in the backend's order. O(n).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x300, 0x400)
        >>> _ = mem.load(0x100, 0x200)
        >>> [str(seg) for seg in mem.segments()]
        ['[0x100, 0x200)', '[0x300, 0x400)']
        """
        return list(self)

    def __len__(self) -> int:
        """The number of segments. O(1)."""
        return self._kernel.uvm_physseg_get_entries()

    def holes(self) -> list[tuple[int, int]]:
        """Unmanaged ``[start, end)`` PFN ranges between the first and last segment.
        O(n log n).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x300, 0x400)
        >>> _ = mem.load(0x100, 0x200)
        >>> [(hex(a), hex(b)) for a, b in mem.holes()]
        [('0x200', '0x300')]
        """
        spans = sorted((seg.start, seg.end) for seg in self)
        return [
            (a_end, b_start)
            for (_, a_end), (b_start, _) in itertools.pairwise(spans)
            if b_start > a_end
        ]

    def stats(self) -> dict[str, int]:
        """Summary counters: segments, managed pages (spans), free pages (``npages``),
        ``physmem``, holes and distinct page-array slabs. O(n log n).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> mem.boot(steal=False)
        >>> stats = mem.stats()
        >>> stats["segments"], stats["managed_pages"], stats["free_pages"], stats["slabs"]
        (1, 256, 256, 1)
        """
        with self._lock:
            infos = self._kernel.segment_infos()
            slabs = {info.pgs.slab.ident for info in infos if info.pgs is not None}
            return {
                "segments": len(infos),
                "managed_pages": sum(info.end - info.start for info in infos),
                "free_pages": self.npages,
                "physmem": self.physmem,
                "holes": len(self.holes()),
                "slabs": len(slabs),
            }

    def snapshot(self) -> Snapshot:
        """The full observable state (segments, page-array placement, counters, extents).
        O(n + regions).

        >>> a, b = PhysMem(), PhysMem()
        >>> for mem in (a, b):
        ...     _ = mem.load(0x100, 0x200)
        >>> a.snapshot() == b.snapshot()
        True
        """
        with self._lock:
            kernel = self._kernel
            states = tuple(
                SegmentState(
                    _view(info),
                    -1 if info.pgs is None else info.pgs.slab.ident,
                    -1 if info.pgs is None else info.pgs.index,
                )
                for info in kernel.segment_infos()
            )
            extents = tuple((e.slab, e.destroyed, e.regions) for e in kernel.extent_infos())
            return Snapshot(self.backend, self.booted, states, self.npages, self.physmem, extents)

    def image(self) -> KernelImage:
        """The engine's image (:func:`physseg.netbsd.save_image`), taken under the lock: plain
        data and a few numpy arrays from which :meth:`from_image` rebuilds this machine. The
        face's options (``coalesce``, ``safe_unplug``) are not in it. O(n + R + P / chunk):
        the page columns are run-length encoded vectorised, so a booted 1 TiB machine's image
        is a few kilobytes.

        Raises ``ImageError`` for an engine past the image bounds (``physseg_max`` above
        ``physseg.netbsd.image.MAX_PHYSSEG``, more page entries than ``MAX_IMAGE_PAGES``).

        >>> mem = PhysMem()
        >>> _ = mem.load(0x100, 0x200)
        >>> image = mem.image()
        >>> image.meta["format"], image.meta["counters"]["page_init_done"]
        (1, False)
        """
        with self._lock:
            return save_image(self._kernel)

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
