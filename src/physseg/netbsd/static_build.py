"""The static build: ``vm_physmem[VM_PHYSSEG_MAX]`` kept in strategy order.

Handles are indices into the array; inserting (bsearch, bigfirst) and removing shift the records
by structure copy, so a handle may name another segment afterwards ("mutable handles"). There is
no hot-plug: a plug after ``uvm_page_init`` panics and a middle unplug panics.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

from physseg.errors import ImageError, Reason
from physseg.netbsd.constants import VM_PSTRAT_BIGFIRST, VM_PSTRAT_BSEARCH, VM_PSTRAT_RANDOM
from physseg.netbsd.kernel import Handle, Kernel, panic
from physseg.netbsd.segment import Segment


class StaticKernel(Kernel):
    """``Kernel(backend="static")``: the pre-hotplug array with strategy RANDOM / BSEARCH /
    BIGFIRST, and the "contig" lookup when ``VM_PHYSSEG_MAX == 1``."""

    backend = "static"
    UVM_PHYSSEG_TYPE_INVALID: Handle = Handle(-1)
    UVM_PHYSSEG_TYPE_INVALID_EMPTY: Handle = Handle(-1)

    def _init_storage(self) -> None:
        self._segs = [Segment() for _ in range(self.VM_PHYSSEG_MAX)]
        self._n = 0

    @property
    def UVM_PHYSSEG_TYPE_INVALID_OVERFLOW(self) -> Any:
        """``uvm_physseg_get_last() + 1``: the current segment count (it moves). O(1). Raises
        nothing."""
        return self._n

    @property
    def vm_physmem(self) -> list[Segment]:
        """The whole array, used slots first (read it; mutate through the API). O(1). Raises
        nothing."""
        return self._segs

    def _is_invalid(self, upm: Any) -> bool:
        return bool(upm == -1)

    def _handles_and_records(self) -> Iterator[tuple[Handle, Segment]]:
        for lcv in range(self._n):
            yield Handle(lcv), self._segs[lcv]

    def _handle_of(self, seg: Segment) -> Handle:
        return Handle(next(lcv for lcv in range(self._n) if self._segs[lcv] is seg))

    @property
    def boot_records_used(self) -> int:
        """``vm_nphysseg``: the used slots of the array. O(1). Raises nothing."""
        return self._n

    def record_freeable(self, upm: Handle) -> bool:
        """Always True: removing a slot frees nothing. O(1). Raises nothing."""
        return True

    def segments_overlapping(self, first: int, last: int) -> list[Segment] | None:
        """The used, non-empty slots overlapping ``[first, last)`` by address, or ``None``
        when two used slots overlap (hand-made boot loads). O(n log n). Raises nothing."""
        ordered = sorted((s for s in self.segments() if s.start < s.end), key=_start)
        if any(b.start < a.end for a, b in pairwise(ordered)):
            return None
        return [s for s in ordered if s.start < last and s.end > first]

    def _owned_records(self) -> list[Segment]:
        return list(self._segs)

    def _save_build(self) -> Any:
        return self._n

    def _restore_build(self, saved: Any) -> None:
        self._n = saved

    # ----------------------------------------------------------------- images
    _IMAGE_BUILD_KEYS = ("n",)

    def _image_records(self) -> tuple[list[Segment], dict[str, int]]:
        """The used slots and, after them, every slot a removal left a stale copy in (the
        slots are readable through any index below ``VM_PHYSSEG_MAX``, quirk 4): the array up
        to its last slot that is not pristine. The slots above are as the constructor made
        them."""
        used = self._n
        for lcv in range(len(self._segs) - 1, self._n - 1, -1):
            if not self._segs[lcv].is_pristine():
                used = lcv + 1
                break
        return self._segs[:used], {"n": self._n}

    def _adopt_image_records(self, records: list[Segment], build: dict[str, int]) -> None:
        n = build["n"]
        if len(records) > self.VM_PHYSSEG_MAX:
            raise ImageError(
                "meta.records",
                f"{len(records)} slots do not fit the array of VM_PHYSSEG_MAX"
                f" {self.VM_PHYSSEG_MAX}",
            )
        if n > len(records):
            raise ImageError(
                "meta.build.n", f"vm_nphysseg {n} counts more slots than the {len(records)} kept"
            )
        for k, record in enumerate(records):
            if record.pool_slot != -1:
                raise ImageError(
                    f"meta.records[{k}].pool_slot",
                    f"{record.pool_slot}: the static array has no boot pool (-1 expected)",
                )
            self._segs[k].copy_from(record)
        self._n = n

    def seg(self, upm: Any) -> Segment:
        """``vm_physmem[upm]``, a used slot or not. O(1). Raises ``KernelPanic`` for an index
        outside the array (the C code would read memory beyond it)."""
        if not isinstance(upm, int) or not 0 <= upm < self.VM_PHYSSEG_MAX:
            panic(f"vm_physmem[{upm}] is outside the array of {self.VM_PHYSSEG_MAX}")
        return self._segs[upm]

    def segments(self) -> Iterator[Segment]:
        """Used slots in array order (strategy order). O(n). Raises nothing."""
        return iter(self._segs[: self._n])

    def uvm_physseg_init(self) -> None:
        """Does nothing, as in the static build (``vm_nphysseg`` is not reset). O(1). Raises
        nothing."""

    def uvm_physseg_get_entries(self) -> int:
        """``vm_nphysseg``. O(1). Raises nothing."""
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
    def uvm_physseg_valid_p(self, upm: Any) -> bool:
        """False for -1 and for the current count; True at boot (no bounds check, quirk 4);
        afterwards True iff the slot has a page array. O(1). Raises only as :meth:`seg`, after
        boot."""
        if upm in (-1, self._n):
            return False
        if not self.uvm.page_init_done:
            return True
        return self.seg(upm).pgs is not None

    def uvm_physseg_find(self, pfn: int) -> tuple[Any, int | None]:
        """Contig (``VM_PHYSSEG_MAX == 1``: slot 0 only), binary search (BSEARCH) or linear
        scan (RANDOM, BIGFIRST), exactly as ``vm_physseg_find_*``: the segment holding PFN
        ``pfn`` and the page offset in it. O(1) contig, O(log n) BSEARCH, O(n) RANDOM and
        BIGFIRST. Raises nothing."""
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
        """The segment holding PFN ``pfn``, else the lowest one above it. O(n). Raises
        nothing."""
        above = [seg for seg in self.segments() if seg.end > pfn]
        return min(above, key=lambda seg: seg.start, default=None)

    def uvm_physseg_get_first(self) -> Any:
        """Always 0, even when empty (quirk 3). O(1). Raises nothing."""
        return 0

    def uvm_physseg_get_last(self) -> Any:
        """``vm_nphysseg - 1`` (-1 when empty). O(1). Raises nothing."""
        return self._n - 1

    def uvm_physseg_get_next(self, upm: Any) -> Any:
        """``upm + 1`` (possibly the OVERFLOW value), -1 for an invalid handle. O(1). Raises
        only as :meth:`seg`."""
        if not self.uvm_physseg_valid_p(upm):
            return -1
        return upm + 1

    def uvm_physseg_get_prev(self, upm: Any) -> Any:
        """``upm - 1`` (-1 before the first), -1 for an invalid handle. O(1). Raises only as
        :meth:`seg`."""
        if not self.uvm_physseg_valid_p(upm):
            return -1
        return upm - 1

    def uvm_physseg_get_highest_frame(self) -> int:
        """The largest *exclusive* end PFN of any segment, 0 when empty (quirk 1). O(n).
        Raises nothing."""
        return max((seg.end for seg in self.segments()), default=0)

    # ----------------------------------------------------------------- plug
    def _post_preload_check(self) -> None:
        if any(seg.pgs is not None for seg in self.segments()):
            panic("Tried to add RAM after uvm_page_init")

    def uvm_physseg_plug(self, pfn: int, pages: int) -> tuple[bool, Any]:
        """Insert ``[pfn, pfn + pages)`` at its strategy position (RANDOM: append; BSEARCH:
        before the first larger start; BIGFIRST: before the first smaller size), shifting
        later records (their handles now name other segments). ``(False, -1)`` when ``pfn``
        is already managed (DEBUG check), ``(False, OVERFLOW)`` when the array is full. O(n).
        Panics (``KernelPanic``) without a page size and once any segment has a page array
        (no hot-plug in this build)."""
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
            panic("uvm_page_physget: out of memory!", Reason.LAST_SEGMENT)
        self._n -= 1
        for x in range(upm, self._n):
            self._segs[x].copy_from(self._segs[x + 1])
        self.version += 1

    # ----------------------------------------------------------------- unplug
    def _unplug_whole(self, upm: Any, seg: Segment, pages: int) -> None:
        self._remove(upm)

    def _alloc_fragment(self) -> Segment | None:
        """The static build has no records to allocate: the middle unplug panics instead."""
        return None

    def _unplug_middle(
        self, seg: Segment, off: int, pfn: int, pages: int, spare: Segment | None
    ) -> bool:
        panic("uvm_physseg_unplug: can't unplug() from the middle of a segment without UVM_HOTPLUG")

    # ----------------------------------------------------------------- physunload
    def uvm_page_physunload(self, upm: Any, freelist: int) -> tuple[bool, int | None]:
        """Take the first (else last) page when that edge page is free; the slot is removed
        once nothing is left of its span (the unloaded page is always a span edge, so this
        matches the rbtree build; see quirk 26). O(n). Panics (``KernelPanic``) once any
        segment has a page array and when the page is all that is left of the last segment."""
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

    def _take_edge(self, upm: Any, seg: Segment, front: bool, count: int) -> None:
        """Move the edge in place, as the static physunload does (no ``uvmexp`` change)."""
        if front:
            seg.avail_start += count
            seg.start += count
        else:
            seg.avail_end -= count
            seg.end -= count
        self.version += 1

    def uvm_page_physunload_force(self, upm: Any, freelist: int) -> tuple[bool, int | None]:
        """Take the first free page whatever the free list, truncating ``start`` to it
        (unavailable head pages are dropped, quirk 24). O(n). Panics (``KernelPanic``) once
        any segment has a page array and when the page is all that is left of the last
        segment."""
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


def _start(seg: Segment) -> int:
    return seg.start
