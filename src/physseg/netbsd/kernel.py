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
from collections.abc import Iterator
from itertools import pairwise
from typing import Any, NoReturn

import numpy as np

from physseg.core.alloc import Allocator
from physseg.core.extent import Extent
from physseg.core.pages import PG_FREE, Page, Slab
from physseg.errors import (
    ExtentDestroyedError,
    ExtentNoDescriptorError,
    ExtentNoSpaceError,
    ExtentRegionNotFoundError,
    KernelAssertionError,
    KernelPanic,
)
from physseg.netbsd.constants import (
    EAGAIN,
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
from physseg.netbsd.lookup import (
    UNBACKED,
    FrameEntry,
    LayoutVersion,
    LookupTable,
    PageBatch,
    fill_frames,
    table_for,
)
from physseg.netbsd.segment import PmapPhysseg, Segment, SlabExtent

Handle = Any
_INIT_CHUNK = 1 << 20
"""Pages whose ``phys_addr`` init_seg writes per vectorised step (bounds temporary memory)."""
"""A segment handle: a ``Segment`` (rbtree build), an ``int`` (static build) or invalid."""


class UvmExp:
    """The fields of ``struct uvmexp`` that uvm_physseg touches."""

    __slots__ = ("npages", "pagesize")

    def __init__(self, pagesize: int) -> None:
        self.pagesize = pagesize
        self.npages = 0


class UvmState:
    """The field of ``struct uvm`` that uvm_physseg touches: the boot → run-time switch."""

    __slots__ = ("page_init_done",)

    def __init__(self) -> None:
        self.page_init_done = False


def kassert(condition: bool, text: str) -> None:
    """``KASSERT(condition)`` of a DIAGNOSTIC kernel: raise ``KernelAssertionError(text)``."""
    if not condition:
        raise KernelAssertionError(text)


def panic(message: str) -> NoReturn:
    """``panic(message)``: raise ``KernelPanic(message)``."""
    raise KernelPanic(message)


class Kernel(ABC):
    """NetBSD's uvm_physseg C API one-to-one; see ``docs/netbsd-api.md``.

    ``Kernel(backend="rbtree" | "static", physseg_max=1, strategy="bsearch", nfreelist=4,
    page_shift=12, allocator=None)``. Raises ``ValueError`` for an unknown backend or strategy
    and for sizes out of range. The new kernel is in the state the ATF ``setup()`` leaves.
    """

    backend = "abstract"
    UVM_PHYSSEG_TYPE_INVALID: Handle = None
    UVM_PHYSSEG_TYPE_INVALID_EMPTY: Handle = None
    PADDR_INVALID = PADDR_INVALID
    SIZEOF_UVM_PHYSSEG = SIZEOF_UVM_PHYSSEG
    SIZEOF_VM_PAGE = SIZEOF_VM_PAGE
    VM_FREELIST_DEFAULT = VM_FREELIST_DEFAULT
    VM_FREELIST_FIRST4G = VM_FREELIST_FIRST4G
    VM_FREELIST_FIRST1G = VM_FREELIST_FIRST1G
    VM_FREELIST_FIRST16 = VM_FREELIST_FIRST16

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
        self._slab_ids = 0
        """Slabs this kernel has created: :meth:`new_slab` numbers the next one this plus 1."""
        self.uvmexp = UvmExp(self.PAGE_SIZE)
        self.uvm = UvmState()
        self.physmem = 0
        self.version = 0
        """Bumped on every change of the segment layout; caches compare against it."""
        self.stolen: list[tuple[int, int]] = []
        """``(byte address, pages)`` runs that ``uvm_page_init`` stole for the page array."""
        self._lookup_table: LookupTable | None = None
        self._init_storage()
        self.uvm_physseg_init()

    # ----------------------------------------------------------------- build hooks
    @abstractmethod
    def _init_storage(self) -> None:
        """Build-specific."""

    @abstractmethod
    def seg(self, upm: Handle) -> Segment:
        """The record behind ``upm`` (``HANDLE_TO_PHYSSEG_NODE``); a NULL handle panics."""

    @abstractmethod
    def segments(self) -> Iterator[Segment]:
        """The live segments in the build's iteration order (address order for the rbtree)."""

    @abstractmethod
    def uvm_physseg_init(self) -> None:
        """``uvm_physseg_init()``."""

    @abstractmethod
    def uvm_physseg_valid_p(self, upm: Handle) -> bool:
        """``uvm_physseg_valid_p()``: invalid constants → False; at boot → True; else pgs set."""

    @abstractmethod
    def uvm_physseg_find(self, pfn: int) -> tuple[Handle, int | None]:
        """``uvm_physseg_find(pfn, &off)`` → ``(handle, off)`` or ``(INVALID, None)``."""

    @abstractmethod
    def segment_geq(self, pfn: int) -> Segment | None:
        """physseg extension: the segment holding ``pfn``, else the lowest one above it."""

    @abstractmethod
    def uvm_physseg_get_first(self) -> Handle:
        """``uvm_physseg_get_first()``."""

    @abstractmethod
    def uvm_physseg_get_last(self) -> Handle:
        """``uvm_physseg_get_last()``."""

    @abstractmethod
    def uvm_physseg_get_next(self, upm: Handle) -> Handle:
        """``uvm_physseg_get_next()``: INVALID for an invalid handle."""

    @abstractmethod
    def uvm_physseg_get_prev(self, upm: Handle) -> Handle:
        """``uvm_physseg_get_prev()``: INVALID for an invalid handle."""

    @abstractmethod
    def uvm_physseg_get_highest_frame(self) -> int:
        """``uvm_physseg_get_highest_frame()``."""

    @abstractmethod
    def uvm_physseg_get_entries(self) -> int:
        """The ATF tests' ``uvm_physseg_get_entries()``: the number of segments."""

    @abstractmethod
    def uvm_physseg_plug(self, pfn: int, pages: int) -> tuple[bool, Handle]:
        """``uvm_physseg_plug(pfn, pages, &psp)`` → ``(ok, handle)``."""

    @abstractmethod
    def uvm_page_physunload(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """``uvm_page_physunload(upm, freelist, &pa)`` → ``(ok, pa or None)``."""

    @abstractmethod
    def uvm_page_physunload_force(self, upm: Handle, freelist: int) -> tuple[bool, int | None]:
        """``uvm_page_physunload_force(upm, freelist, &pa)`` → ``(ok, pa or None)``."""

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

    # ----------------------------------------------------------------- conversions
    def atop(self, pa: int) -> int:
        """Byte address → PFN."""
        return pa >> self.PAGE_SHIFT

    def ctob(self, pfn: int) -> int:
        """PFN → byte address."""
        return pfn << self.PAGE_SHIFT

    ptoa = ctob

    @property
    def UVM_PHYSSEG_TYPE_INVALID_OVERFLOW(self) -> Handle:
        """The overflow handle (``None`` for the rbtree; the segment count for static)."""
        return None

    def _is_invalid(self, upm: Handle) -> bool:
        return upm is None

    # ----------------------------------------------------------------- getters
    def uvm_physseg_get_start(self, upm: Handle) -> int:
        """The segment's first PFN, or ``PADDR_INVALID`` for an invalid handle."""
        return self.seg(upm).start if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_end(self, upm: Handle) -> int:
        """The segment's end PFN (exclusive), or ``PADDR_INVALID``."""
        return self.seg(upm).end if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_avail_start(self, upm: Handle) -> int:
        """The first free PFN, or ``PADDR_INVALID``."""
        return self.seg(upm).avail_start if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_get_avail_end(self, upm: Handle) -> int:
        """The end of the free PFNs (exclusive), or ``PADDR_INVALID``."""
        return self.seg(upm).avail_end if self.uvm_physseg_valid_p(upm) else PADDR_INVALID

    def uvm_physseg_set_avail_start(self, upm: Handle, avail_start: int) -> None:
        """``UVM_PHYSSEG_LEGACY`` setter; KASSERTs validity and ``start <= v < avail_end``."""
        avail_end = self.uvm_physseg_get_avail_end(upm)
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        seg = self.seg(upm)
        kassert(
            avail_start < avail_end and avail_start >= seg.start,
            "avail_start < avail_end && avail_start >= ps->start",
        )
        seg.avail_start = avail_start

    def uvm_physseg_set_avail_end(self, upm: Handle, avail_end: int) -> None:
        """``UVM_PHYSSEG_LEGACY`` setter; KASSERTs validity and ``avail_start < v <= end``."""
        avail_start = self.uvm_physseg_get_avail_start(upm)
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        seg = self.seg(upm)
        kassert(
            avail_end > avail_start and avail_end <= seg.end,
            "avail_end > avail_start && avail_end <= ps->end",
        )
        seg.avail_end = avail_end

    def uvm_physseg_get_pg(self, upm: Handle, idx: int) -> Page | None:
        """``&pgs[idx]`` (no bounds check); ``None`` when the segment has no page array
        (C returns ``NULL + idx``). KASSERTs the handle is valid. O(1)."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        pgs = self.seg(upm).pgs
        return None if pgs is None else Page(pgs.slab, pgs.index + idx)

    def uvm_physseg_get_pmseg(self, upm: Handle) -> PmapPhysseg:
        """The segment's embedded ``struct pmap_physseg`` (mutable in place)."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).pmseg

    def uvm_physseg_get_free_list(self, upm: Handle) -> int:
        """The segment's free list; KASSERTs the handle is valid."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).free_list

    def uvm_physseg_get_start_hint(self, upm: Handle) -> int:
        """The segment's start hint; KASSERTs the handle is valid."""
        kassert(self.uvm_physseg_valid_p(upm), "uvm_physseg_valid_p(upm)")
        return self.seg(upm).start_hint

    def uvm_physseg_set_start_hint(self, upm: Handle, start_hint: int) -> bool:
        """Store the hint and return True; False (no assertion) for an invalid handle."""
        if not self.uvm_physseg_valid_p(upm):
            return False
        self.seg(upm).start_hint = start_hint
        return True

    # ----------------------------------------------------------------- page arrays
    def new_slab(self, npages: int, name: str) -> Slab:
        """A fresh zeroed page array of ``npages`` entries, numbered by this kernel: its
        ``ident`` is 1, 2, 3... in the order this kernel creates slabs, so the same calls on
        two kernels give the same numbers whatever else the process does. Raises what
        ``Slab`` raises (``ValueError``, ``MemoryError``); a refused slab takes no number.
        O(1) (numpy commits the zeroed memory lazily)."""
        slab = Slab(npages, name, ident=self._slab_ids + 1)
        self._slab_ids += 1
        return slab

    def malloc_pages(self, n: int) -> Page:
        """A fresh zeroed array of ``n`` vm_pages (the ATF tests' ``malloc``)."""
        return Page(self.new_slab(n, "malloc"), 0)

    def uvm_physseg_init_seg(self, upm: Handle, pgs: Page | None) -> None:
        """Give the segment its page array ``pgs``: set every page's ``phys_addr``, count and
        free the pages in the avail window (``uvmexp.npages += ...``). KASSERTs a valid handle,
        a non-NULL ``pgs`` and a segment not yet initialised. O(pages), vectorised."""
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
        shift = np.uint64(self.PAGE_SHIFT)
        for chunk in range(0, n, _INIT_CHUNK):
            size = min(_INIT_CHUNK, n - chunk)
            target = slab.phys_addr[first + chunk : first + chunk + size]
            target[:] = np.arange(seg.start + chunk, seg.start + chunk + size, dtype=np.uint64)
            target <<= shift
        lo = max(seg.avail_start, seg.start) - seg.start
        hi = min(seg.avail_end, seg.end) - seg.start
        if hi > lo:
            self.uvmexp.npages += hi - lo
            slab.flags[first + lo : first + hi] |= PG_FREE
            slab.free_list[first + lo : first + hi] = seg.free_list
        self.version += 1

    def uvm_physseg_seg_chomp_slab(self, upm: Handle, pgs: Page, n: int) -> None:
        """Make ``seg->ext`` an extent over the ``n`` entries from ``pgs``: at boot the fixed
        "Boot time slab" extent with ``UVM_PHYSSEG_BOOT_UNPLUG_MAX`` descriptors, at run time a
        "Hotplug slab" extent (whose header allocation may fail: KASSERT ``seg->ext != NULL``).
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
                raise KernelAssertionError("seg->ext != NULL") from None
            ext = SlabExtent(extent, pgs.slab, boot=False)
        self._set_ext(seg, ext)

    def _set_ext(self, seg: Segment, ext: SlabExtent | None) -> None:
        self._index_remove(seg)
        seg.ext = ext
        self._index_add(seg)

    def uvm_physseg_seg_alloc_from_slab(self, upm: Handle, pages: int) -> Page | None:
        """Carve ``pages`` entries from the segment's slab extent (best fit); ``None`` when the
        extent has no room or no descriptor. A segment without an extent borrows the previous
        segment's (only legal at boot: KASSERT)."""
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

    def extent_alloc(
        self, ext: SlabExtent, size: int, alignment: int = 1, boundary: int = 0, flags: int = 0
    ) -> tuple[int, Page | None]:
        """``extent_alloc()`` in vm_page units → ``(0, page)``, ``(ENOMEM, None)`` (no
        descriptor) or ``(EAGAIN, None)`` (no space)."""
        try:
            index = ext.extent.alloc(size, alignment, boundary, malloc_ok=bool(flags & EX_MALLOCOK))
        except ExtentNoDescriptorError:
            return ENOMEM, None
        except ExtentNoSpaceError:
            return EAGAIN, None
        return 0, Page(ext.slab, index)

    def extent_free(self, ext: SlabExtent, start: Page, size: int, flags: int = 0) -> int:
        """``extent_free()`` in vm_page units → 0 or ``ENOMEM``; a range that is not allocated
        panics "region not found", as the kernel's extent(9) does."""
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
        """Load ``[start, end)`` at boot with free pages ``[avail_start, avail_end)`` on
        ``free_list``; returns the handle. Panics after ``uvm_page_init``, without a page size,
        on a bad free list, on ``start >= end`` and when the plug fails."""
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
        """Steal one page at boot: for each free list in turn, first an edge page of a segment
        on that list (``physunload``), then any free page (``physunload_force``)."""
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
        ``PMAP_STEAL_MEMORY``), carve it for every segment and switch to run time. Panics when
        no memory is loaded or nothing can be stolen."""
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
                    panic("uvm_pageboot_alloc: out of memory")
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
        """The ATF tests' ``uvm_page_init_fake``: the ``uvm_page_init`` loop over a fresh
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
          extent, which carves the slab they are in and passes ``Extent.check()``.

        Not checked, because the kernel does not keep them: ``uvmexp.npages`` against the
        pages counted (quirks 5 and 6 make it drift) and ``physmem`` (never decremented, quirk
        7). Nor are the lookup memo and batch table of :mod:`physseg.netbsd.lookup`. A kernel
        that panicked or KASSERTed part-way through a call may legitimately fail the check
        (the C kernel would not go on), as may one after a failed non-atomic middle unplug,
        whose freed entries the segment still uses (§2.6 B).

        Cost: O(n log n + R log R + P) for n live segments, R regions in their extents (each
        extent's own ``check``) and P entries in their page arrays (compared vectorised, a
        bounded chunk at a time)."""
        self._check_build()
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
        """``slab.phys_addr[first + i] == ctob(seg.start + i)`` for ``i`` in ``[0, n)``, in
        chunks of ``_INIT_CHUNK`` pages (bounded temporary memory). O(n), vectorised."""
        shift = np.uint64(self.PAGE_SHIFT)
        for chunk in range(0, n, _INIT_CHUNK):
            size = min(_INIT_CHUNK, n - chunk)
            held = slab.phys_addr[first + chunk : first + chunk + size]
            pfns = np.arange(seg.start + chunk, seg.start + chunk + size, dtype=np.uint64)
            wrong = np.flatnonzero(held != pfns << shift)
            if wrong.size:
                i = chunk + int(wrong[0])
                raise AssertionError(
                    f"page phys_addr: {seg!r}: pgs[{i}] (entry {first + i} of {slab!r}) holds"
                    f" {int(held[int(wrong[0])]):#x}, not {self.ctob(seg.start + i):#x}"
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
        """Remove ``[pfn, pfn + pages)`` from the one segment holding it: the whole segment,
        a front or back trim, or a middle split. False when ``pfn`` is in no (valid) segment,
        when the range runs past the segment's end, or when the run-time ``extent_free`` of its
        page entries fails. Panics on removing the last segment.

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
                panic("uvm_physseg_unplug: NULL pointer dereference (seg->ext)")
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
    version = LayoutVersion()
    """Bumped on every change of the segment layout; caches compare against it. Assigning it
    also empties the per-call frame memo below (see
    :class:`physseg.netbsd.lookup.LayoutVersion`)."""
    _frame_pages: dict[int, FrameEntry]
    """Frame number → its ``Page``, ``UNBACKED`` or ``None``; filled by ``fill_frames``."""

    def PHYS_TO_VM_PAGE(self, pa: int) -> Page | None:
        """The ``vm_page`` of byte address ``pa``, or ``None`` when it is not managed; at boot
        also ``None`` inside a segment (no page arrays yet, C returns ``NULL + off``). After
        boot, an address in a segment without a page array fails the kernel's
        ``KASSERT(uvm_physseg_valid_p(upm))``. The same answer as ``uvm_physseg_find`` +
        ``uvm_physseg_get_pg``, from the frame memo of :mod:`physseg.netbsd.lookup`: O(1), one dict
        probe; a miss fills its window of frames (O(log n + 1024)). Repeated calls return the
        same ``Page`` object, which stands for a pointer: do not mutate it."""
        try:
            page = self._frame_pages[pa >> self.PAGE_SHIFT]
        except KeyError:
            page = fill_frames(self, pa >> self.PAGE_SHIFT)
        if page is UNBACKED:
            if self.uvm.page_init_done:
                kassert(False, "uvm_physseg_valid_p(upm)")
            return None
        return page

    def VM_PAGE_TO_PHYS(self, page: Page) -> int:
        """The byte address of ``page`` (``pg->phys_addr``)."""
        return page.phys_addr

    def uvm_pageismanaged(self, pa: int) -> bool:
        """Whether byte address ``pa`` lies in a segment (``uvm_physseg_find`` succeeds).
        O(1) from the frame memo, as :meth:`PHYS_TO_VM_PAGE`."""
        try:
            page = self._frame_pages[pa >> self.PAGE_SHIFT]
        except KeyError:
            page = fill_frames(self, pa >> self.PAGE_SHIFT)
        return page is not None

    def phys_to_vm_pages(self, addresses: Any) -> PageBatch:
        """Batch ``PHYS_TO_VM_PAGE`` over an array of byte addresses (any integer array-like);
        see :class:`physseg.netbsd.lookup.PageBatch`. O(m) through the two-level frame table of
        :class:`physseg.netbsd.lookup.LookupTable`, rebuilt (O(n log n + frames)) on the first batch
        after the segments changed. Raises ``TypeError`` for non-integer addresses."""
        return table_for(self).lookup(addresses)


def build_class(backend: str) -> type[Kernel]:
    """The ``Kernel`` subclass of ``backend`` (``"rbtree"`` or ``"static"``); ``ValueError``
    for anything else."""
    from physseg.netbsd.rbtree_build import RBTreeKernel
    from physseg.netbsd.static_build import StaticKernel

    builds: dict[str, type[Kernel]] = {"rbtree": RBTreeKernel, "static": StaticKernel}
    if backend not in builds:
        raise ValueError(f"unknown backend {backend!r}: expected 'rbtree' or 'static'")
    return builds[backend]
