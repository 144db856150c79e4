"""The static build: ``vm_physmem[VM_PHYSSEG_MAX]`` kept in strategy order.

Handles are indices into the array; inserting (bsearch, bigfirst) and removing shift the records
by structure copy, so a handle may name another segment afterwards ("mutable handles"). There is
no hot-plug: a plug after ``uvm_page_init`` panics and a middle unplug panics.
"""

from __future__ import annotations

from collections.abc import Iterator

from physseg.netbsd.constants import VM_PSTRAT_BIGFIRST, VM_PSTRAT_BSEARCH, VM_PSTRAT_RANDOM
from physseg.netbsd.kernel import Handle, Kernel, panic
from physseg.netbsd.segment import Segment


class StaticKernel(Kernel):
    """``Kernel(backend="static")``: the pre-hotplug array with strategy RANDOM / BSEARCH /
    BIGFIRST, and the "contig" lookup when ``VM_PHYSSEG_MAX == 1``."""

    backend = "static"
    UVM_PHYSSEG_TYPE_INVALID: Handle = -1
    UVM_PHYSSEG_TYPE_INVALID_EMPTY: Handle = -1

    def _init_storage(self) -> None:
        self._segs = [Segment() for _ in range(self.VM_PHYSSEG_MAX)]
        self._n = 0

    @property
    def UVM_PHYSSEG_TYPE_INVALID_OVERFLOW(self) -> Handle:
        """``uvm_physseg_get_last() + 1``: the current segment count (it moves)."""
        return self._n

    @property
    def vm_physmem(self) -> list[Segment]:
        """The whole array, used slots first (read it; mutate through the API)."""
        return self._segs

    def _is_invalid(self, upm: Handle) -> bool:
        return bool(upm == -1)

    def seg(self, upm: Handle) -> Segment:
        """``vm_physmem[upm]``; an index outside the array panics (the C code would read
        memory beyond it)."""
        if not isinstance(upm, int) or not 0 <= upm < self.VM_PHYSSEG_MAX:
            panic(f"vm_physmem[{upm}] is outside the array of {self.VM_PHYSSEG_MAX}")
        return self._segs[upm]

    def segments(self) -> Iterator[Segment]:
        """Used slots in array order (strategy order). O(n)."""
        return iter(self._segs[: self._n])

    def uvm_physseg_init(self) -> None:
        """Does nothing, as in the static build (``vm_nphysseg`` is not reset)."""

    def uvm_physseg_get_entries(self) -> int:
        """``vm_nphysseg``."""
        return self._n

    def _index_remove(self, seg: Segment) -> None:
        """The static build keeps no index beside the array itself."""

    def _index_add(self, seg: Segment) -> None:
        """The static build keeps no index beside the array itself."""

    # ----------------------------------------------------------------- invariants
    def _check_build(self) -> None:
        """The static build's part of :meth:`Kernel.check`: ``vm_nphysseg`` in
        ``[0, VM_PHYSSEG_MAX]``, and with BSEARCH ``BSEARCH order`` (the used slots ascend by
        start, equal starts allowed: plug inserts before the first larger start and trims
        never move a segment past a neighbour it does not overlap). RANDOM promises no order,
        and BIGFIRST's size order holds only at insertion (a trim shrinks a segment in place),
        so neither is checked. O(n)."""
        if not 0 <= self._n <= self.VM_PHYSSEG_MAX:
            raise AssertionError(
                f"vm_nphysseg: {self._n} is outside [0, VM_PHYSSEG_MAX = {self.VM_PHYSSEG_MAX}]"
            )
        if self.VM_PHYSSEG_STRAT == VM_PSTRAT_BSEARCH:
            segs = self._segs
            for i in range(1, self._n):
                if segs[i - 1].start > segs[i].start:
                    raise AssertionError(
                        f"BSEARCH order: vm_physmem[{i - 1}] {segs[i - 1]!r} starts after"
                        f" vm_physmem[{i}] {segs[i]!r}"
                    )

    # ----------------------------------------------------------------- lookup and walk
    def uvm_physseg_valid_p(self, upm: Handle) -> bool:
        """False for -1 and for the current count; True at boot (no bounds check, quirk 4);
        afterwards True iff the slot has a page array."""
        if upm in (-1, self._n):
            return False
        if not self.uvm.page_init_done:
            return True
        return self.seg(upm).pgs is not None

    def uvm_physseg_find(self, pfn: int) -> tuple[Handle, int | None]:
        """Contig (``VM_PHYSSEG_MAX == 1``: slot 0 only), binary search (BSEARCH) or linear
        scan (RANDOM, BIGFIRST), exactly as ``vm_physseg_find_*``. O(log n) or O(n)."""
        segs = self._segs
        if self.VM_PHYSSEG_MAX == 1:
            first = segs[0]
            if first.start <= pfn < first.end:
                return 0, pfn - first.start
            return -1, None
        if self.VM_PHYSSEG_STRAT == VM_PSTRAT_BSEARCH:
            start, length = 0, self._n
            while length != 0:
                guess = start + length // 2
                seg = segs[guess]
                if pfn >= seg.start:
                    if pfn < seg.end:
                        return guess, pfn - seg.start
                    start = guess + 1
                    length -= 1
                length //= 2
            return -1, None
        for lcv in range(self._n):
            seg = segs[lcv]
            if seg.start <= pfn < seg.end:
                return lcv, pfn - seg.start
        return -1, None

    def segment_geq(self, pfn: int) -> Segment | None:
        """The segment holding ``pfn``, else the lowest one above it. O(n)."""
        above = [seg for seg in self.segments() if seg.end > pfn]
        return min(above, key=lambda seg: seg.start, default=None)

    def uvm_physseg_get_first(self) -> Handle:
        """Always 0, even when empty (quirk 3)."""
        return 0

    def uvm_physseg_get_last(self) -> Handle:
        """``vm_nphysseg - 1`` (-1 when empty)."""
        return self._n - 1

    def uvm_physseg_get_next(self, upm: Handle) -> Handle:
        """``upm + 1`` (possibly the OVERFLOW value), -1 for an invalid handle."""
        if not self.uvm_physseg_valid_p(upm):
            return -1
        return upm + 1

    def uvm_physseg_get_prev(self, upm: Handle) -> Handle:
        """``upm - 1`` (-1 before the first), -1 for an invalid handle."""
        if not self.uvm_physseg_valid_p(upm):
            return -1
        return upm - 1

    def uvm_physseg_get_highest_frame(self) -> int:
        """The largest *exclusive* end of any segment, 0 when empty (quirk 1). O(n)."""
        return max((seg.end for seg in self.segments()), default=0)

    # ----------------------------------------------------------------- plug
    def _post_preload_check(self) -> None:
        if any(seg.pgs is not None for seg in self.segments()):
            panic("Tried to add RAM after uvm_page_init")

    def uvm_physseg_plug(self, pfn: int, pages: int) -> tuple[bool, Handle]:
        """Insert ``[pfn, pfn + pages)`` at its strategy position (RANDOM: append; BSEARCH:
        before the first larger start; BIGFIRST: before the first smaller size), shifting
        later records. ``(False, -1)`` when ``pfn`` is already managed (DEBUG check),
        ``(False, OVERFLOW)`` when the array is full; panics at run time. O(n)."""
        upm, _ = self.uvm_physseg_find(pfn)
        if self.uvm_physseg_valid_p(upm):
            return False, -1
        if self.uvmexp.pagesize == 0:
            panic("uvm_page_physload: page size not set!")
        if self._n == self.VM_PHYSSEG_MAX:
            return False, self._n
        self._post_preload_check()
        segs = self._segs
        start, end = pfn, pfn + pages
        if self.VM_PHYSSEG_STRAT == VM_PSTRAT_RANDOM:
            lcv = self._n
        elif self.VM_PHYSSEG_STRAT == VM_PSTRAT_BSEARCH:
            lcv = next((i for i in range(self._n) if start < segs[i].start), self._n)
        else:
            assert self.VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST
            size = end - start
            lcv = next((i for i in range(self._n) if size > segs[i].end - segs[i].start), self._n)
        for x in range(self._n, lcv, -1):
            segs[x].copy_from(segs[x - 1])
        ps = segs[lcv]
        ps.start = ps.avail_start = start
        ps.end = ps.avail_end = end
        ps.pgs = None
        self._n += 1
        self.physmem += pages
        self.version += 1
        return True, lcv

    def _remove(self, upm: int) -> None:
        if self._n == 1:
            self.version += 1
            panic("uvm_page_physget: out of memory!")
        self._n -= 1
        for x in range(upm, self._n):
            self._segs[x].copy_from(self._segs[x + 1])
        self.version += 1

    # ----------------------------------------------------------------- unplug
    def _unplug_whole(self, upm: Handle, seg: Segment, pages: int) -> None:
        self._remove(upm)

    def _alloc_fragment(self) -> Segment | None:
        """The static build has no records to allocate: the middle unplug panics instead."""
        return None

    def _unplug_middle(
        self, seg: Segment, off: int, pfn: int, pages: int, spare: Segment | None
    ) -> bool:
        panic("uvm_physseg_unplug: can't unplug() from the middle of a segment without UVM_HOTPLUG")

    # ----------------------------------------------------------------- physunload
    def uvm_page_physunload(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """Take the first (else last) page when that edge page is free; the slot is removed
        once nothing is left of its span (the unloaded page is always a span edge, so this
        matches the rbtree build; see quirk 26). Panics once any segment has pages."""
        self._post_preload_check()
        seg = self.seg(upm)
        if seg.free_list != freelist:
            return False, None
        if seg.avail_start == seg.start and seg.avail_start < seg.avail_end:
            pa = self.ctob(seg.avail_start)
            seg.avail_start += 1
            seg.start += 1
            if seg.avail_start == seg.end:
                self._remove(upm)
            self.version += 1
            return True, pa
        if seg.avail_end == seg.end and seg.avail_start < seg.avail_end:
            pa = self.ctob(seg.avail_end - 1)
            seg.avail_end -= 1
            seg.end -= 1
            if seg.avail_end == seg.start:
                self._remove(upm)
            self.version += 1
            return True, pa
        return False, None

    def _take_edge(self, upm: Handle, seg: Segment, front: bool, count: int) -> None:
        """Move the edge in place, as the static physunload does (no ``uvmexp`` change)."""
        if front:
            seg.avail_start += count
            seg.start += count
        else:
            seg.avail_end -= count
            seg.end -= count
        self.version += 1

    def uvm_page_physunload_force(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """Take the first free page whatever the free list, truncating ``start`` to it
        (unavailable head pages are dropped, quirk 24). Panics after boot."""
        self._post_preload_check()
        seg = self.seg(upm)
        if seg.avail_start >= seg.avail_end:
            return False, None
        pa = self.ctob(seg.avail_start)
        seg.avail_start += 1
        seg.start = seg.avail_start
        if seg.avail_start == seg.end:
            self._remove(upm)
        self.version += 1
        return True, pa
