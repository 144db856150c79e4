"""A minimal page allocator over the free lists: gives pages an in-use state.

The segment manager knows which pages exist, not which are in use (NetBSD's unplug trusts the
caller). :class:`PageAllocator` hands out and takes back pages the way UVM's simple list
allocator does (``uvm_pglistalloc_simple`` and ``uvm_pglistalloc_s_ps`` in ``uvm_pglist.c``),
which is the allocator that reads and writes a segment's *start hint*:

* free lists are tried in order ``0, 1, ...`` (``VM_FREELIST_DEFAULT`` first); within a list the
  segments are walked in the engine's order (backwards for the ``bigfirst`` strategy);
* in a segment the scan starts at ``avail_start + start_hint``, runs to the end of the avail
  window and, when the hint is not zero, wraps once to cover ``[avail_start, avail_start +
  start_hint)``; the hint is then left just after the last page taken, or, when the segment ran
  out, unchanged after a wrap and at the end of the window otherwise, exactly as the C code
  leaves it. A segment whose avail window is empty is skipped and its hint left alone.

A page is *free* when its ``PG_FREE`` flag is set and ``PG_BUSY`` clear; allocating clears
``PG_FREE`` and sets ``PG_BUSY`` (the in-use state), freeing does the reverse and stamps the
page's free list from its segment (``uvm_page_lookup_freelist``). Pages outside a segment's avail
window are never handed out.

Speed comes from the layout: one Python pass reads the segment records into numpy columns
(:class:`_Layout`), then every page scan, count and flag update is a numpy pass, so a machine of
thousands of one-page segments (an uncoalesced Xen balloon) costs microseconds a segment, not a
Python loop a page.

The allocator relies on pages not being unplugged while allocated: use
``PhysMem(safe_unplug=True)``, which refuses such unplugs. It is not thread-safe; serialise it
with the plugs and unplugs of the memory it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.core.pages import PG_BUSY, PG_FREE, Slab
from physseg.errors import (
    BootPhaseError,
    InvalidArgumentError,
    OutOfMemoryError,
    RangeNotManagedError,
    Reason,
)
from physseg.netbsd import Kernel, SegmentInfo
from physseg.netbsd.constants import VM_PSTRAT_BIGFIRST
from physseg.physmem import PhysMem

_STATE: Final = np.uint8(PG_FREE | PG_BUSY)
_FREE: Final = np.uint8(PG_FREE)
_BUSY: Final = np.uint8(PG_BUSY)
_NOT_FREE: Final = np.uint8(~PG_FREE & 0xFF)
_NOT_BUSY: Final = np.uint8(~PG_BUSY & 0xFF)

SCAN_CHUNK_PAGES: Final = 1 << 16
"""Pages an allocation reads at once before checking whether it has enough. Larger chunks mean
fewer numpy calls, smaller ones less reading past the pages needed; 64 Ki pages (64 KiB of
flags) keeps both well under a millisecond."""

Pfns = npt.NDArray[np.int64]
Ints = npt.NDArray[np.int64]


def _no_pfns() -> Pfns:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class PageUsage:
    """Page counts over the live segments: ``free`` (allocatable now) and ``busy``
    (allocated)."""

    free: int
    busy: int


class _Layout:
    """The segments with a page array, in walk order, as numpy columns (PFNs, exclusive ends).

    ``lo``/``hi`` bound the avail window clipped to the span; ``entry + pfn`` is the slab entry
    of ``pfn``; ``slab`` indexes :attr:`slabs`. Built in one Python pass, O(n).
    """

    __slots__ = (
        "avail_start",
        "end",
        "entry",
        "free_list",
        "hi",
        "hint",
        "lo",
        "segs",
        "slab",
        "slabs",
        "start",
    )

    def __init__(self, segs: list[SegmentInfo]) -> None:
        self.segs = segs
        slab_pos: dict[int, int] = {}
        self.slabs: list[Slab] = []
        rows = []
        for seg in segs:
            pgs = seg.pgs
            assert pgs is not None
            pos = slab_pos.get(pgs.slab.ident)
            if pos is None:
                pos = slab_pos[pgs.slab.ident] = len(self.slabs)
                self.slabs.append(pgs.slab)
            rows.append(
                (
                    seg.start,
                    seg.end,
                    seg.avail_start,
                    seg.avail_end,
                    seg.start_hint,
                    seg.free_list,
                    pgs.index,
                    pos,
                )
            )
        cols = np.array(rows, dtype=np.int64).reshape(len(rows), 8).T
        self.start, self.end, self.avail_start, avail_end, self.hint, self.free_list = cols[:6]
        self.entry = cols[6] - self.start
        self.slab = cols[7]
        self.lo = np.maximum(self.avail_start, self.start)
        self.hi = np.minimum(avail_end, self.end)

    def gather(
        self, rows: Ints, first: Ints, length: Ints, rotation: Ints
    ) -> tuple[Ints, Pfns, npt.NDArray[np.uint8]]:
        """The pages of ``rows``: for row ``r`` the ``length`` PFNs from ``first``, read
        starting ``rotation`` pages in and wrapping. Returns, flattened in that order, each
        page's row, PFN and flags. O(pages), vectorised; every ``length`` must be positive."""
        row = np.repeat(rows, length)
        offsets = np.cumsum(length) - length
        step = np.arange(row.size, dtype=np.int64) - np.repeat(offsets, length)
        pfn = np.repeat(first, length) + (step + np.repeat(rotation, length)) % np.repeat(
            length, length
        )
        entry = self.entry[row] + pfn
        slab = self.slab[row]
        flags = np.empty(row.size, dtype=np.uint8)
        for pos, each in enumerate(self.slabs):
            mask = slab == pos
            flags[mask] = each.flags[entry[mask]]
        return row, pfn, flags

    def spans(self) -> tuple[Ints, Pfns, npt.NDArray[np.uint8]]:
        """Every page of every segment's span, in walk order (see :meth:`gather`)."""
        length = self.end - self.start
        rows = np.flatnonzero(length > 0)
        return self.gather(rows, self.start[rows], length[rows], np.zeros_like(rows))

    def update(self, rows: Ints, pfns: Pfns, clear: np.uint8, put: np.uint8) -> None:
        """``flags = (flags & clear) | put`` on the pages ``pfns`` of ``rows``."""
        entry = self.entry[rows] + pfns
        slab = self.slab[rows]
        for pos, each in enumerate(self.slabs):
            picked = entry[slab == pos]
            each.flags[picked] = (each.flags[picked] & clear) | put


@dataclass(slots=True)
class _Plan:
    """What an allocation takes (rows and PFNs, in order) and the hints it leaves behind."""

    rows: list[Ints]
    pfns: list[Pfns]
    hint_rows: list[Ints]
    hints: list[Ints]
    missing: int


class PageAllocator:
    """``uvm_pagealloc`` / ``uvm_pagefree`` over the pages of ``mem`` (a :class:`PhysMem` or a
    :class:`Kernel`; a ``PhysMem``'s engine is the same object for its whole life).

    >>> from physseg import PhysMem
    >>> mem = PhysMem()
    >>> _ = mem.load(0x100, 0x200)
    >>> mem.boot(steal=False)
    >>> pages = PageAllocator(mem)
    >>> [hex(p) for p in pages.alloc(2)]
    ['0x100', '0x101']
    >>> pages.free(0x100)
    >>> [hex(p) for p in pages.alloc(2)]   # the start hint moved past 0x101
    ['0x102', '0x103']
    >>> pages.usage()
    PageUsage(free=253, busy=3)
    """

    __slots__ = ("_source",)

    def __init__(self, mem: PhysMem | Kernel) -> None:
        if not isinstance(mem, PhysMem | Kernel):
            raise InvalidArgumentError(
                "PageAllocator", Reason.WRONG_TYPE, name="a PhysMem or Kernel", value=mem
            )
        self._source = mem

    @property
    def kernel(self) -> Kernel:
        """The engine whose pages are allocated."""
        source = self._source
        return source.kernel if isinstance(source, PhysMem) else source

    def _layout(self, kernel: Kernel) -> _Layout:
        order = [info for info in kernel.segment_infos() if info.pgs is not None]
        if kernel.VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST:
            order.reverse()
        return _Layout(order)

    def _booted_kernel(self, op: str) -> Kernel:
        kernel = self.kernel
        if not kernel.uvm.page_init_done:
            raise BootPhaseError(
                op, Reason.NEEDS_BOOT, detail="no page arrays yet", page_shift=kernel.PAGE_SHIFT
            )
        return kernel

    # ----------------------------------------------------------------- allocation
    def alloc(
        self, npages: int = 1, *, free_list: int | None = None, partial: bool = False
    ) -> Pfns:
        """Allocate ``npages`` free pages and return their PFNs (int64, in the order taken).

        ``free_list=None`` tries every free list in order, else only that one. With
        ``partial=False`` it is all or nothing (``uvm_pglistalloc``): ``OutOfMemoryError`` when
        fewer pages are free, and nothing changes. With ``partial=True`` it returns what it
        found, possibly nothing (the balloon's page-at-a-time loop that stops at the first
        failure). Raises ``BootPhaseError`` before boot and ``InvalidArgumentError`` for a bad
        count or free list. O(n + pages read) for n segments: one Python pass over the records,
        then numpy in chunks of :data:`SCAN_CHUNK_PAGES`."""
        op = "alloc"
        kernel = self._booted_kernel(op)
        if isinstance(npages, bool) or not isinstance(npages, int | np.integer) or npages < 1:
            raise InvalidArgumentError(
                op,
                Reason.NOT_AN_INT if not isinstance(npages, int | np.integer) else Reason.TOO_SMALL,
                name="npages",
                value=npages,
                limit=1,
            )
        lists = self._lists(op, kernel, free_list)
        layout = self._layout(kernel)
        plan = self._plan(layout, int(npages), lists)
        if plan.missing and not partial:
            where = "any free list" if free_list is None else f"free list {free_list}"
            raise OutOfMemoryError(
                op,
                Reason.TOO_FEW_FREE,
                value=npages,
                count=npages - plan.missing,
                detail=where,
                page_shift=kernel.PAGE_SHIFT,
            )
        rows = np.concatenate(plan.rows) if plan.rows else _no_pfns()
        pfns = np.concatenate(plan.pfns) if plan.pfns else _no_pfns()
        layout.update(rows, pfns, _NOT_FREE, _BUSY)
        if plan.hint_rows:
            hint_rows = np.concatenate(plan.hint_rows)
            hints = np.concatenate(plan.hints)
            changed = hints != layout.hint[hint_rows]
            for row, hint in zip(hint_rows[changed], hints[changed], strict=True):
                kernel.uvm_physseg_set_start_hint(layout.segs[int(row)].handle, int(hint))
        return pfns

    def _lists(self, op: str, kernel: Kernel, free_list: int | None) -> range:
        if free_list is None:
            return range(kernel.VM_NFREELIST)
        if (
            isinstance(free_list, bool)
            or not isinstance(free_list, int)
            or not 0 <= free_list < kernel.VM_NFREELIST
        ):
            raise InvalidArgumentError(
                op,
                Reason.NO_SUCH_FREE_LIST,
                value=free_list,
                limit=kernel.VM_NFREELIST,
                page_shift=kernel.PAGE_SHIFT,
            )
        return range(free_list, free_list + 1)

    @staticmethod
    def _plan(layout: _Layout, npages: int, lists: range) -> _Plan:
        """``uvm_pglistalloc_simple`` without changing anything: which pages each segment
        gives and the start hint each visited segment is left with."""
        plan = _Plan([], [], [], [], npages)
        length = layout.hi - layout.lo
        usable = length > 0
        for fl in lists:
            rows = np.flatnonzero(usable & (layout.free_list == fl))
            if not rows.size:
                continue
            lo = layout.lo[rows]
            hi = layout.hi[rows]
            cand = layout.avail_start[rows] + np.maximum(layout.hint[rows], 0)
            wraps = (cand > lo) & (cand < hi)
            rotation = np.where(wraps, cand - lo, 0)
            exhausted = np.where(wraps, cand, hi) - layout.avail_start[rows]
            sizes = length[rows]
            done = 0
            while done < rows.size:
                total = np.cumsum(sizes[done:])
                stop = done + int(np.searchsorted(total, max(plan.missing, SCAN_CHUNK_PAGES)))
                stop = min(stop + 1, rows.size)
                part = slice(done, stop)
                row, pfn, flags = layout.gather(rows[part], lo[part], sizes[part], rotation[part])
                free = np.flatnonzero((flags & _STATE) == _FREE)[: plan.missing]
                plan.rows.append(row[free])
                plan.pfns.append(pfn[free])
                plan.missing -= int(free.size)
                if plan.missing == 0:
                    last = int(free[-1])
                    at = done + int(np.searchsorted(rows[part], row[last]))
                    plan.hint_rows += [rows[done:at], rows[at : at + 1]]
                    plan.hints += [
                        exhausted[done:at],
                        pfn[last : last + 1] + 1 - layout.avail_start[row[last : last + 1]],
                    ]
                    return plan
                plan.hint_rows.append(rows[part])
                plan.hints.append(exhausted[part])
                done = stop
        return plan

    # ----------------------------------------------------------------- free
    def free(self, pfns: npt.ArrayLike) -> None:
        """Free the allocated pages ``pfns`` (one PFN or an integer array): each becomes free
        again on its segment's free list (``uvm_pagefree``).

        Validates everything first and changes nothing on error: ``InvalidArgumentError`` for a
        non-integer or out-of-range PFN, a PFN given twice or a page that is not allocated (a
        double free); ``RangeNotManagedError`` for a PFN no segment holds (or without a page
        array); ``BootPhaseError`` before boot. O(m log n) for m pages, vectorised."""
        op = "free"
        kernel = self._booted_kernel(op)
        arr = np.atleast_1d(np.asarray(pfns))
        if arr.size == 0:
            return
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise InvalidArgumentError(op, Reason.WRONG_TYPE, name="integer PFNs", value=arr)
        shift = kernel.PAGE_SHIFT
        bad = (arr < 0) | (arr >= 1 << (64 - shift))
        if bad.any():
            raise InvalidArgumentError(
                op, Reason.PFN_OUT_OF_RANGE, page=int(arr[bad][0]), page_shift=shift
            )
        values = arr.astype(np.uint64)
        uniq, counts = np.unique(values, return_counts=True)
        if uniq.size != values.size:
            raise InvalidArgumentError(
                op, Reason.GIVEN_TWICE, page=int(uniq[counts > 1][0]), page_shift=shift
            )
        batch = kernel.phys_to_vm_pages(values << np.uint64(kernel.PAGE_SHIFT))
        unmanaged = batch.slab < 0
        if unmanaged.any():
            raise RangeNotManagedError(
                op, Reason.NOT_MANAGED, page=int(values[unmanaged][0]), page_shift=shift
            )
        # ``batch.segment`` numbers the segments in address order (the batch table's order).
        infos = sorted(kernel.segment_infos(), key=_start)
        slabs: dict[int, Slab] = {
            info.pgs.slab.ident: info.pgs.slab for info in infos if info.pgs is not None
        }
        groups = [(slabs[int(ident)], batch.slab == ident) for ident in np.unique(batch.slab)]
        for slab, mask in groups:
            idle = (slab.flags[batch.index[mask]] & _BUSY) == 0
            if idle.any():
                raise InvalidArgumentError(
                    op, Reason.NOT_ALLOCATED, page=int(values[mask][idle][0]), page_shift=shift
                )
        free_lists = np.fromiter(
            (info.free_list for info in infos), dtype=np.int8, count=len(infos)
        )
        for slab, mask in groups:
            entries = batch.index[mask]
            slab.flags[entries] = (slab.flags[entries] & _NOT_BUSY) | _FREE
            slab.free_list[entries] = free_lists[batch.segment[mask]]

    # ----------------------------------------------------------------- queries
    def is_busy(self, pfn: int) -> bool:
        """Whether page ``pfn`` is managed and allocated. O(log n)."""
        kernel = self.kernel
        upm, off = kernel.uvm_physseg_find(pfn)
        if off is None:
            return False
        pgs = kernel.segment_info(upm).pgs
        return pgs is not None and bool(pgs.slab.flags[pgs.index + off] & _BUSY)

    def busy_pfns(self) -> Pfns:
        """Every allocated page's PFN, ascending. O(n + managed pages), vectorised."""
        _, pfn, flags = self._layout(self.kernel).spans()
        return np.sort(pfn[(flags & _BUSY) != 0])

    def usage(self) -> PageUsage:
        """Free (allocatable) and busy page counts over the live segments.
        O(n + managed pages), vectorised."""
        layout = self._layout(self.kernel)
        row, pfn, flags = layout.spans()
        window = (pfn >= layout.lo[row]) & (pfn < layout.hi[row])
        free = int(np.count_nonzero(window & ((flags & _STATE) == _FREE)))
        return PageUsage(free, int(np.count_nonzero(flags & _BUSY)))

    def check(self) -> None:
        """Verify the allocator's invariant: no live page is both free and allocated. Raises
        ``AssertionError`` naming the first such page. O(n + managed pages)."""
        _, pfn, flags = self._layout(self.kernel).spans()
        both = pfn[(flags & _STATE) == _STATE]
        assert not both.size, (
            f"page {int(both.min()):#x} is both free and allocated"
            " (unplugged while allocated and plugged again?)"
        )


def _start(info: SegmentInfo) -> int:
    return info.start
