"""A deliberately naive model of the uvm_physseg kernel, shared by the stateful tests.

The model keeps the segments in a plain list in the backend's iteration order, answers "who
owns this PFN" by scanning that list, and models each slab's extent as a list of allocated
runs. It follows the rules of the semantics digest (§1, §2, §4, quirks of §7) with no index
and no cleverness, so that it can be checked by reading. The stateful tests
(``test_model_kernel.py``, ``test_model_physmem.py``, ``test_model_compare.py``) drive an engine
and this model with the same calls and compare them after every step.

What the model predicts is either a value or an exception of the :class:`Expected` family
(``Panic``, ``Kassert``, ``Hang``): the engine must then raise ``KernelPanic`` /
``KernelAssertionError`` / ``KernelHang`` and the model has already applied whatever the kernel
does before it aborts (nothing, for a hang). A call the model does not cover (an overlap the
kernel only KASSERTs half-way through) raises :class:`Unmodelled` *before* the model changes
anything, and the caller skips it.

The tests in ``tests/test_model_naive.py`` check the model itself against hand-worked examples
from the digest, so a wrong model cannot silently agree with a wrong engine.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from physseg import PhysMem
from physseg.netbsd import Kernel
from physseg.netbsd.segment import Segment

SIZEOF_VM_PAGE = 128
"""``sizeof(struct vm_page)`` in ``uvm_page_init``'s sizing formula."""


class Expected(Exception):
    """The kernel aborts here (the model has applied what happens before the abort)."""


class Panic(Expected):
    """The kernel calls ``panic()``: the engine must raise ``KernelPanic``."""


class Kassert(Expected):
    """A ``KASSERT`` fails: the engine must raise ``KernelAssertionError``."""


class Hang(Expected):
    """The kernel would never return (quirk 38): the engine must raise ``KernelHang`` and
    leave everything as it was."""


class Unmodelled(Exception):
    """The call leaves what the model covers; raised before the model changes anything."""


@dataclass
class Region:
    """An allocated extent region ``[start, end]`` (inclusive, as extent(9)) and whether its
    descriptor came from the fixed freelist."""

    start: int
    end: int
    static: bool


def granted() -> bool:
    """An allocation that cannot fail."""
    return True


class NaiveExtent:
    """extent(9) over slots ``[0, size)``: best fit, coalescing, descriptor accounting.
    ``allocate`` is asked for every dynamic descriptor: always for a non-fixed extent, and for
    a fixed extent's overflow descriptors (``malloc_ok``) once its static ones are in use."""

    def __init__(
        self, size: int, fixed: int | None, allocate: Callable[[], bool] = granted
    ) -> None:
        self.size = size
        self.fixed = fixed
        self.allocate = allocate
        self.free_static = fixed or 0
        self.regions: list[Region] = []
        self.destroyed = False

    def _take(self, malloc_ok: bool) -> bool | None:
        if self.fixed is not None:
            if self.free_static:
                self.free_static -= 1
                return True
            return False if malloc_ok and self.allocate() else None
        return False if self.allocate() else None

    def _release(self, static: bool) -> None:
        if static:
            self.free_static += 1

    def used(self) -> set[int]:
        """Every allocated slot."""
        return {slot for r in self.regions for slot in range(r.start, r.end + 1)}

    def gaps(self) -> list[tuple[int, int]]:
        """Free runs as ``(start, length)``, ascending."""
        used = self.used()
        runs: list[tuple[int, int]] = []
        slot = 0
        while slot < self.size:
            if slot in used:
                slot += 1
                continue
            first = slot
            while slot < self.size and slot not in used:
                slot += 1
            runs.append((first, slot - first))
        return runs

    def alloc(self, n: int, *, malloc_ok: bool = False) -> int | None:
        """Best fit: the smallest gap that holds ``n``, ties to the lowest address; None when
        no descriptor or no gap."""
        static = self._take(malloc_ok)
        if static is None:
            return None
        fitting = [(length, start) for start, length in self.gaps() if length >= n]
        if not fitting:
            self._release(static)
            return None
        _, start = min(fitting)
        end = start + n - 1
        before = next((r for r in self.regions if r.end == start - 1), None)
        after = next((r for r in self.regions if r.start == end + 1), None)
        if before is not None and after is not None:
            before.end = after.end
            self.regions.remove(after)
            self._release(after.static)
            self._release(static)
        elif before is not None:
            before.end = end
            self._release(static)
        elif after is not None:
            after.start = start
            self._release(static)
        else:
            self.regions.append(Region(start, end, static))
            self.regions.sort(key=lambda r: r.start)
        return start

    def free(self, start: int, n: int, *, malloc_ok: bool) -> bool:
        """Free ``[start, start + n)``; False (ENOMEM) without a spare descriptor; a range
        outside every region panics "region not found"."""
        spare = self._take(malloc_ok)
        if spare is None:
            return False
        end = start + n - 1
        region = next((r for r in self.regions if r.start <= start and end <= r.end), None)
        if region is None:
            self._release(spare)
            raise Panic("extent_free: region not found")
        if region.start == start and region.end == end:
            self.regions.remove(region)
            self._release(region.static)
            self._release(spare)
        elif region.start == start:
            region.start = end + 1
            self._release(spare)
        elif region.end == end:
            region.end = start - 1
            self._release(spare)
        else:
            upper = Region(end + 1, region.end, spare)
            region.end = start - 1
            self.regions.append(upper)
            self.regions.sort(key=lambda r: r.start)
        return True

    def as_regions(self) -> list[tuple[int, int]]:
        """``(start, size)`` per region, ascending: the engine's ``Extent.regions()``."""
        return [(r.start, r.end - r.start + 1) for r in self.regions]


class NaiveSlab:
    """A page array of ``size`` slots and its extent; ``ident`` is the engine's ``Slab.ident``
    once a test has seen it."""

    def __init__(
        self, size: int, fixed: int | None, allocate: Callable[[], bool] = granted
    ) -> None:
        self.size = size
        self.extent = NaiveExtent(size, fixed, allocate)
        self.ident: int | None = None


@dataclass
class NaiveSeg:
    """One segment: its identity, span and avail window (PFNs, ends exclusive), and where its
    page array lives (``slab`` and the slot of PFN ``start``); ``pool``: the rbtree build took
    its record from the boot static pool."""

    ident: int
    start: int
    end: int
    avail_start: int
    avail_end: int
    free_list: int = 0
    start_hint: int = 0
    slab: NaiveSlab | None = field(default=None, repr=False)
    first: int = 0
    pool: bool = False

    @property
    def fields(self) -> tuple[int, int, int, int, int, int]:
        """What both faces show of a segment."""
        return (
            self.start,
            self.end,
            self.avail_start,
            self.avail_end,
            self.free_list,
            self.start_hint,
        )


class NaiveKernel:
    """The whole kernel state, naively: see the module docstring.

    ``backend`` is ``"rbtree"`` or ``"static"``; ``strategy`` is ``"random"``, ``"bsearch"`` or
    ``"bigfirst"``; the other arguments are those of ``physseg.netbsd.Kernel``.
    """

    def __init__(
        self,
        backend: str,
        physseg_max: int,
        strategy: str = "bsearch",
        nfreelist: int = 4,
        page_shift: int = 12,
        fail_at: frozenset[int] = frozenset(),
    ) -> None:
        self.backend = backend
        self.fail_at = fail_at
        self.calls = 0
        """Run-time allocations asked for so far: the numbering ``FailingAllocator`` uses."""
        self.physseg_max = physseg_max
        self.strategy = strategy
        self.nfreelist = nfreelist
        self.page_shift = page_shift
        self.page_size = 1 << page_shift
        self.segs: list[NaiveSeg] = []
        self.booted = False
        self.npages = 0
        self.physmem = 0
        self.nseg = 0
        self.lost_entries = 0
        self.stale_hints = [0] * physseg_max
        self.slabs: list[NaiveSlab] = []
        self._idents = 0

    def allocate(self) -> bool:
        """One run-time allocation (record, slab, extent header or descriptor): granted
        unless its number is in ``fail_at``."""
        self.calls += 1
        return self.calls not in self.fail_at

    @property
    def nentries(self) -> int:
        """The kernel's segment count (it can exceed the live segments after a panic)."""
        return len(self.segs) + self.lost_entries

    @property
    def rbtree(self) -> bool:
        """Whether this is the ``UVM_HOTPLUG`` build."""
        return self.backend == "rbtree"

    def clone(self) -> NaiveKernel:
        """An independent copy (for calls the Pythonic face rolls back)."""
        return copy.deepcopy(self)

    def signature(self) -> Hashable:
        """Everything an abort could have changed except the boot pool cursor: equal
        signatures before and after a call mean the call changed nothing."""
        slabs = {id(slab): n for n, slab in enumerate(self.slabs)}
        return (
            tuple((s.fields, slabs.get(id(s.slab)), s.first) for s in self.segs),
            tuple(
                (tuple(slab.extent.as_regions()), slab.extent.free_static, slab.extent.destroyed)
                for slab in self.slabs
            ),
            self.npages,
            self.physmem,
            self.booted,
            self.lost_entries,
        )

    # ------------------------------------------------------------------ views
    def owner(self, pfn: int) -> NaiveSeg | None:
        """The segment whose span holds ``pfn``."""
        holders = [s for s in self.segs if s.start <= pfn < s.end]
        assert len(holders) <= 1, f"model broken: pfn {pfn} in {holders}"
        return holders[0] if holders else None

    def owners(self) -> dict[int, int]:
        """PFN -> identity of the segment holding it, for every managed PFN."""
        table: dict[int, int] = {}
        for seg in self.segs:
            for pfn in range(seg.start, seg.end):
                assert pfn not in table, f"model broken: pfn {pfn} managed twice"
                table[pfn] = seg.ident
        return table

    def live_slabs(self) -> list[NaiveSlab]:
        """Slabs some live segment's page array comes from, in the order the kernel's
        scavenging walk meets them (by their lowest-address member)."""
        seen: list[NaiveSlab] = []
        for seg in sorted(self.segs, key=lambda s: s.start):
            if seg.slab is not None and all(seg.slab is not s for s in seen):
                seen.append(seg.slab)
        return seen

    def free_pfn(self, pfn: int) -> int:
        """The first unmanaged PFN at or above ``pfn``."""
        while (holder := self.owner(pfn)) is not None:
            pfn = holder.end
        return pfn

    def free_run(self, pfn: int) -> int:
        """How many PFNs from ``pfn`` on are unmanaged (0 when ``pfn`` is managed)."""
        above = [s.start for s in self.segs if s.end > pfn]
        if any(s.start <= pfn for s in self.segs if s.end > pfn):
            return 0
        return (min(above) if above else 1 << 40) - pfn

    def highest_frame(self) -> int:
        """rbtree: the last PFN of the highest segment; static: the largest exclusive end
        (quirk 1)."""
        if self.rbtree:
            return max(s.end for s in self.segs) - 1
        return max((s.end for s in self.segs), default=0)

    # ------------------------------------------------------------------ helpers
    def _new_seg(self, start: int, end: int) -> NaiveSeg:
        self._idents += 1
        return NaiveSeg(self._idents, start, end, start, end)

    def _pool_alloc(self) -> None:
        """The rbtree build's boot pool: a bump cursor, KASSERT past ``VM_PHYSSEG_MAX``."""
        self.nseg += 1
        if self.nseg > self.physseg_max:
            raise Kassert("nseg > 0 && nseg <= VM_PHYSSEG_MAX")

    def _insert(self, seg: NaiveSeg) -> int:
        """Put ``seg`` where the backend keeps it; returns its position. A static slot is only
        partly overwritten: the new segment keeps the start hint the slot held."""
        if self.rbtree or self.strategy == "bsearch":
            index = next((i for i, s in enumerate(self.segs) if seg.start < s.start), None)
        elif self.strategy == "random":
            index = None
        else:
            size = seg.end - seg.start
            index = next((i for i, s in enumerate(self.segs) if size > s.end - s.start), None)
        position = len(self.segs) if index is None else index
        if not self.rbtree:
            seg.start_hint = (
                self.segs[position].start_hint
                if position < len(self.segs)
                else self.stale_hints[position]
            )
        self.segs.insert(position, seg)
        return position

    def _init_seg(self, seg: NaiveSeg, slab: NaiveSlab, first: int) -> None:
        seg.slab = slab
        seg.first = first
        lo = max(seg.avail_start, seg.start)
        hi = min(seg.avail_end, seg.end)
        self.npages += max(0, hi - lo)

    # ------------------------------------------------------------------ boot time
    def physload(self, start: int, end: int, avail_start: int, avail_end: int, fl: int) -> NaiveSeg:
        """``uvm_page_physload``: panics after boot, on a bad free list, an empty span and
        when the plug fails; the avail window is stored unchecked."""
        if self.booted:
            raise Panic("unload attempted after uvm_page_init()")
        if not 0 <= fl < self.nfreelist:
            raise Panic("bad free list")
        if start >= end:
            raise Panic("start >= end")
        ok, seg = self.plug(start, end - start)
        if not ok:
            raise Panic("uvm_physseg_plug() failed at boot.")
        assert seg is not None
        seg.avail_start = avail_start
        seg.avail_end = avail_end
        seg.free_list = fl
        return seg

    def plug(self, pfn: int, pages: int) -> tuple[bool, NaiveSeg | None]:
        """``uvm_physseg_plug``; see digest §1.13 and §2.4."""
        if (
            any(pfn < s.end and s.start < pfn + pages for s in self.segs)
            and self.owner(pfn) is None
        ):
            raise Unmodelled("an overlap the DEBUG check misses")
        if not self.rbtree:
            return self._static_plug(pfn, pages)
        if self.owner(pfn) is not None:
            return False, None
        preload = all(s.slab is None for s in self.segs)
        if preload and self.booted:
            raise Unmodelled("a run-time plug before any segment has pages")
        if preload:
            self._pool_alloc()
        elif not self.allocate():
            return False, None
        seg = self._new_seg(pfn, pfn + pages)
        if preload:
            seg.pool = True
            self._insert(seg)
            return True, seg
        for slab in self.live_slabs():
            first = slab.extent.alloc(pages)
            if first is not None:
                break
        else:
            slabpages = self.npages % (1 << 64)  # (size_t)uvmexp.npages
            if self.npages < 0 and slabpages >= pages:
                raise Hang(f"slabpages starts at 2**64 - {-self.npages}")
            while slabpages >= pages and not self.allocate():
                slabpages -= 1
            if slabpages < pages:
                return False, None
            if not self.allocate():
                raise Kassert("seg->ext != NULL")
            slab = NaiveSlab(slabpages, None, self.allocate)
            self.slabs.append(slab)
            first = slab.extent.alloc(pages)
            if first is None:
                return False, None
            assert first == 0
        self.physmem += pages
        self._insert(seg)
        self._init_seg(seg, slab, first)
        return True, seg

    def _static_plug(self, pfn: int, pages: int) -> tuple[bool, NaiveSeg | None]:
        holder = self.owner(pfn)
        if holder is not None and (not self.booted or holder.slab is not None):
            return False, None
        if len(self.segs) == self.physseg_max:
            return False, None
        if any(s.slab is not None for s in self.segs):
            raise Panic("Tried to add RAM after uvm_page_init")
        seg = self._new_seg(pfn, pfn + pages)
        self._insert(seg)
        self.physmem += pages
        return True, seg

    def set_avail_start(self, seg: NaiveSeg, avail_start: int) -> None:
        """``uvm_physseg_set_avail_start`` (UVM_PHYSSEG_LEGACY): KASSERTs
        ``start <= avail_start < avail_end``, then stores."""
        if not seg.start <= avail_start < seg.avail_end:
            raise Kassert("avail_start < avail_end && avail_start >= ps->start")
        seg.avail_start = avail_start

    def set_avail_end(self, seg: NaiveSeg, avail_end: int) -> None:
        """``uvm_physseg_set_avail_end``: KASSERTs ``avail_start < avail_end <= end``."""
        if not seg.avail_start < avail_end <= seg.end:
            raise Kassert("avail_end > avail_start && avail_end <= ps->end")
        seg.avail_end = avail_end

    def physunload(self, seg: NaiveSeg, freelist: int) -> tuple[bool, int | None]:
        """``uvm_page_physunload``: an edge page whose PFN is free (digest §4.1)."""
        self._boot_only("physunload")
        if seg.free_list != freelist:
            return False, None
        nonempty = seg.avail_start < seg.avail_end
        if seg.avail_start == seg.start and nonempty:
            pfn = seg.avail_start
            if self.rbtree:
                return self.unplug(pfn, 1), pfn << self.page_shift
            seg.avail_start += 1
            seg.start += 1
        elif seg.avail_end == seg.end and nonempty:
            pfn = seg.avail_end - 1
            if self.rbtree:
                return self.unplug(pfn, 1), pfn << self.page_shift
            seg.avail_end -= 1
            seg.end -= 1
        else:
            return False, None
        if seg.start == seg.end:
            self._static_remove(seg)
        return True, pfn << self.page_shift

    def physunload_force(self, seg: NaiveSeg) -> tuple[bool, int | None]:
        """``uvm_page_physunload_force``: the first free page whatever the free list; below
        unavailable head pages the rbtree splits and the static build truncates (quirk 24)."""
        self._boot_only("physunload_force")
        if seg.avail_start >= seg.avail_end:
            return False, None
        pfn = seg.avail_start
        if self.rbtree:
            return self.unplug(pfn, 1), pfn << self.page_shift
        seg.avail_start += 1
        seg.start = seg.avail_start
        if seg.avail_start == seg.end:
            self._static_remove(seg)
        return True, pfn << self.page_shift

    def _boot_only(self, what: str) -> None:
        if self.rbtree and self.booted:
            raise Panic(f"{what} after uvm_page_init()")
        if not self.rbtree and any(s.slab is not None for s in self.segs):
            raise Panic("Tried to add RAM after uvm_page_init")

    def _static_remove(self, seg: NaiveSeg) -> None:
        if len(self.segs) == 1:
            raise Panic("uvm_page_physget: out of memory!")
        self.stale_hints[len(self.segs) - 1] = self.segs[-1].start_hint
        self.segs.remove(seg)

    def physget(self) -> tuple[bool, int | None]:
        """``uvm_page_physget``: per free list, an edge page (pass 1) then any free page
        (pass 2); BIGFIRST walks from the last segment backwards (quirk 27)."""
        for freelist in range(self.nfreelist):
            for force in (False, True):
                order = list(self.segs)
                if self.strategy == "bigfirst":
                    order.reverse()
                for seg in order:
                    if self.booted:
                        raise Panic("uvm_page_physget: called _after_ bootstrap")
                    if force:
                        ok, pa = self.physunload_force(seg)
                    else:
                        ok, pa = self.physunload(seg, freelist)
                    if ok:
                        return True, pa
        return False, None

    def page_init(self) -> NaiveSlab:
        """``uvm_page_init``: size one page array from the spans, steal its pages with
        ``physget``, carve it for every segment in order, switch to run time."""
        if not self.segs:
            raise Panic("uvm_page_init: no memory pre-allocated")
        freepages = sum(s.end - s.start for s in self.segs)
        pagecount = ((freepages + 1) << self.page_shift) // (self.page_size + SIZEOF_VM_PAGE)
        steal = -(-pagecount * SIZEOF_VM_PAGE // self.page_size)
        for _ in range(steal):
            ok, _pa = self.physget()
            if not ok:
                raise Panic("uvm_pageboot_alloc: out of memory")
        return self.page_init_fake(pagecount)

    def page_init_fake(self, pagecount: int) -> NaiveSlab:
        """The ``uvm_page_init`` loop over a fresh ``pagecount``-slot slab."""
        slab = NaiveSlab(pagecount, self.physseg_max, self.allocate)
        self.slabs.append(slab)
        cursor = 0
        for seg in list(self.segs):
            n = seg.end - seg.start
            slab.extent.alloc(n)
            if cursor + n > pagecount:
                raise Panic("uvm_physseg_init_seg: pgs overruns the slab")
            self._init_seg(seg, slab, cursor)
            cursor += n
        self.booted = True
        return slab

    # ------------------------------------------------------------------ unplug
    def unplug(self, pfn: int, pages: int, *, atomic: bool = False) -> bool:
        """``uvm_physseg_unplug``; see digest §2.6 (``atomic``: physseg's extension that
        allocates a middle split's record before freeing the page entries)."""
        seg = self.owner(pfn)
        if seg is None or (self.booted and seg.slab is None):
            return False
        if pfn + pages > seg.end:
            return False
        off = pfn - seg.start
        middle = off > 0 and pfn + pages < seg.end
        spare = False
        if atomic and middle:
            if not self.rbtree or not self._fragment_alloc():
                return False
            spare = True
        if self.booted:
            assert seg.slab is not None
            if not seg.slab.extent.free(seg.first + off, pages, malloc_ok=True):
                return False
        if off == 0 and pfn + pages == seg.end:
            self._unplug_whole(seg, pages)
        elif middle:
            return self._unplug_middle(seg, pfn, pages, spare)
        elif off == 0:
            if self.booted:
                self.npages -= pages
            seg.start = seg.avail_start = pfn + pages
            if self.booted:
                seg.first += pages
        else:
            seg.end = seg.avail_end = pfn
            self.npages -= pages
        return True

    def _fragment_alloc(self) -> bool:
        """A record for a middle split's tail: the boot pool at boot, else an allocation."""
        if self.booted:
            return self.allocate()
        self._pool_alloc()
        return True

    def _unplug_whole(self, seg: NaiveSeg, pages: int) -> None:
        if not self.rbtree:
            self._static_remove(seg)
            return
        if len(self.segs) == 1:
            raise Panic("uvm_physseg_unplug: out of memory!")
        if self.booted:
            assert seg.slab is not None
            if sum(1 for s in self.segs if s.slab is seg.slab) == 1:
                seg.slab.extent.destroyed = True
            self.npages -= pages
        self.segs.remove(seg)
        if seg.pool and self.physseg_max == 1:
            self.lost_entries += 1
            raise Panic("uvm_physseg_free: tried to free() the entire static array!")

    def _unplug_middle(self, seg: NaiveSeg, pfn: int, pages: int, spare: bool) -> bool:
        if not self.rbtree:
            raise Panic("can't unplug() from the middle of a segment without UVM_HOTPLUG")
        if not spare and not self._fragment_alloc():
            return False
        tail = self._new_seg(pfn + pages, seg.end)
        tail.pool = not self.booted
        if self.booted:
            self.npages -= pages
            tail.slab = seg.slab
            tail.first = seg.first + (pfn + pages - seg.start)
        seg.end = seg.avail_end = pfn
        self._insert(tail)
        return True


# ---------------------------------------------------------------------- engine against model


def fields(record: Segment) -> tuple[int, int, int, int, int, int]:
    """What both faces show of an engine segment record."""
    return (
        record.start,
        record.end,
        record.avail_start,
        record.avail_end,
        record.free_list,
        record.start_hint,
    )


def check_agreement(kernel: Kernel, model: NaiveKernel, universe: int) -> None:
    """Assert that ``kernel`` is in the state ``model`` describes, looking at every PFN below
    ``universe`` and at every page of every segment (also after a panic that left partial
    effects: the engine's lookup caches must follow them, see ``test_regressions.py``).

    Checks: segments and their fields in the backend's order, both through ``segments()`` and
    through the handle walk (first/next and last/prev) and the getters; counters (entries,
    ``uvmexp.npages``, ``physmem``, the boot pool cursor, the boot switch); the batch lookup
    for every PFN, ``find`` and ``uvm_pageismanaged`` on both sides of every segment edge and
    at every fifth PFN (managed ones found at the right offset, holes not); the highest frame
    (quirk 1). After boot also: each segment's page
    array is the slab and slot the model predicts, every page's ``phys_addr`` is its PFN times
    the page size, ``PHYS_TO_VM_PAGE`` at every segment edge, no two live segments share a slot
    (checked on the engine alone), and every live extent holds exactly the model's regions and
    free static descriptors (so the slots a plug scavenges are the ones unplugs freed).
    """
    records = list(kernel.segments())
    assert [fields(r) for r in records] == [s.fields for s in model.segs]
    assert kernel.uvm_physseg_get_entries() == model.nentries
    assert (kernel.uvmexp.npages, kernel.physmem) == (model.npages, model.physmem)
    assert kernel.uvm.page_init_done is model.booted
    if model.rbtree:
        assert kernel.nseg == model.nseg  # type: ignore[attr-defined]
    _check_walk(kernel, records)
    _check_lookups(kernel, model, records, universe)
    if records:
        assert kernel.uvm_physseg_get_highest_frame() == model.highest_frame()
    if model.booted:
        _check_pages(kernel, model, records)


def _check_walk(kernel: Kernel, records: list[Segment]) -> None:
    forward = []
    upm = kernel.uvm_physseg_get_first()
    while kernel.uvm_physseg_valid_p(upm):
        forward.append(kernel.seg(upm))
        for getter, name in (
            (kernel.uvm_physseg_get_start, "start"),
            (kernel.uvm_physseg_get_end, "end"),
            (kernel.uvm_physseg_get_avail_start, "avail_start"),
            (kernel.uvm_physseg_get_avail_end, "avail_end"),
        ):
            assert getter(upm) == getattr(kernel.seg(upm), name)
        assert kernel.uvm_physseg_get_free_list(upm) == kernel.seg(upm).free_list
        assert kernel.uvm_physseg_get_start_hint(upm) == kernel.seg(upm).start_hint
        upm = kernel.uvm_physseg_get_next(upm)
    assert len(forward) == len(records)
    assert all(a is b for a, b in zip(forward, records, strict=True))
    backward = []
    upm = kernel.uvm_physseg_get_last()
    while kernel.uvm_physseg_valid_p(upm):
        backward.append(kernel.seg(upm))
        upm = kernel.uvm_physseg_get_prev(upm)
    assert all(a is b for a, b in zip(backward, reversed(records), strict=True))
    invalid = kernel.UVM_PHYSSEG_TYPE_INVALID
    assert kernel.uvm_physseg_get_start(invalid) == kernel.PADDR_INVALID


def _check_lookups(
    kernel: Kernel, model: NaiveKernel, records: list[Segment], universe: int
) -> None:
    owners = model.owners()
    position = {seg.ident: n for n, seg in enumerate(model.segs)}
    shift = kernel.PAGE_SHIFT
    edges = {pfn for s in model.segs for pfn in (s.start - 1, s.start, s.end - 1, s.end)}
    for pfn in sorted(edges | set(range(0, universe, 5))):
        upm, off = kernel.uvm_physseg_find(pfn)
        ident = owners.get(pfn)
        if ident is None:
            assert off is None and upm == kernel.UVM_PHYSSEG_TYPE_INVALID, f"hole {pfn} found"
            assert not kernel.uvm_pageismanaged(pfn << shift)
            continue
        record = records[position[ident]]
        assert kernel.seg(upm) is record, f"pfn {pfn} found in the wrong segment"
        assert off == pfn - record.start
        assert kernel.uvm_pageismanaged(pfn << shift)
    batch = kernel.phys_to_vm_pages(np.arange(universe, dtype=np.uint64) << np.uint64(shift))
    expected_offset = [
        pfn - model.segs[position[owners[pfn]]].start if pfn in owners else -1
        for pfn in range(universe)
    ]
    assert batch.offset.tolist() == expected_offset


def _check_pages(kernel: Kernel, model: NaiveKernel, records: list[Segment]) -> None:
    bound = {slab.ident: slab for slab in model.slabs if slab.ident is not None}
    shift = kernel.PAGE_SHIFT
    slots: dict[int, list[tuple[int, int]]] = {}
    for record, seg in zip(records, model.segs, strict=True):
        assert record.pgs is not None and record.ext is not None and seg.slab is not None
        ident = record.pgs.slab.ident
        if seg.slab.ident is None:
            assert ident not in bound, f"{seg} got pages from an existing slab, not a new one"
            seg.slab.ident = ident
            bound[ident] = seg.slab
        assert ident == seg.slab.ident, f"{seg}: pages from slab #{ident}"
        assert record.pgs.index == seg.first, f"{seg}: first slot {record.pgs.index}"
        assert record.ext.slab is record.pgs.slab
        n = record.end - record.start
        pfns = np.arange(record.start, record.end, dtype=np.uint64)
        assert np.array_equal(record.pgs.slab.phys_addr[seg.first : seg.first + n], pfns << shift)
        for pfn in {record.start, record.end - 1}:
            page = kernel.PHYS_TO_VM_PAGE(pfn << shift)
            assert page is not None and page == record.pgs + (pfn - record.start)
            assert kernel.VM_PAGE_TO_PHYS(page) == pfn << shift
        slots.setdefault(ident, []).append((seg.first, seg.first + n))
    for ident, spans in slots.items():
        spans.sort()
        for (_, a_end), (b_start, _) in itertools.pairwise(spans):
            assert a_end <= b_start, f"two live segments share slots of slab #{ident}"
    for record in records:
        assert record.ext is not None and record.pgs is not None
        slab = bound[record.pgs.slab.ident]
        extent = record.ext.extent
        assert not extent.destroyed
        assert extent.regions() == slab.extent.as_regions()
        if slab.extent.fixed is not None:
            assert extent.descriptors_free == slab.extent.free_static


UNPLUG_SHAPES = ("whole", "front", "back", "middle", "cross", "hole")
"""How an unplug range sits in the segment it is aimed at."""


def unplug_range(
    model: NaiveKernel, seg: NaiveSeg, shape: str, a: int, b: int, universe: int
) -> tuple[int, int]:
    """A ``(pfn, pages)`` range of the given shape (one of :data:`UNPLUG_SHAPES`) relative to
    ``seg``, sized by the draws ``a`` and ``b``; a shape the segment is too small for becomes a
    whole-segment range. ``hole`` picks an unmanaged PFN below ``universe``."""

    def hole() -> int:
        holes = [pfn for pfn in range(universe) if model.owner(pfn) is None]
        return holes[a % len(holes)] if holes else universe + a

    return shaped_range(seg.start, seg.end, shape, a, b, hole)


def shaped_range(
    start: int, end: int, shape: str, a: int, b: int, hole: Callable[[], int]
) -> tuple[int, int]:
    """A ``(pfn, pages)`` range of ``shape`` (one of :data:`UNPLUG_SHAPES`) relative to the
    segment ``[start, end)``, sized by the draws ``a`` and ``b``; ``hole()`` gives the unmanaged
    PFN a ``hole`` range starts at. A shape the segment is too small for becomes the whole
    segment."""
    n = end - start
    if shape == "front" and n > 1:
        return start, 1 + a % (n - 1)
    if shape == "back" and n > 1:
        pages = 1 + a % (n - 1)
        return end - pages, pages
    if shape == "middle" and n > 2:
        off = 1 + a % (n - 2)
        return start + off, 1 + b % (n - 1 - off)
    if shape == "cross" and n > 0:
        off = a % n
        return start + off, n - off + 1 + b % 3
    if shape == "hole":
        return hole(), 1 + b % 4
    return start, n


def full_state(pm: PhysMem) -> Hashable:
    """Everything observable about ``pm``: its ``snapshot()`` plus what a snapshot leaves out
    (the kernel's segment count, the boot pool cursor, every extent's descriptor counts, the
    contents of every page entry of every live slab, the pages stolen at boot). Two equal
    results mean a call changed nothing."""
    kernel = pm.kernel
    records = list(kernel.segments())
    slabs = {r.pgs.slab.ident: r.pgs.slab for r in records if r.pgs is not None}
    extents = {id(r.ext): r.ext.extent for r in records if r.ext is not None}
    return (
        pm.snapshot(),
        kernel.uvm_physseg_get_entries(),
        getattr(kernel, "nseg", None),
        tuple(
            sorted(
                (e.name, e.destroyed)
                + (() if e.destroyed else (e.descriptors_in_use, e.descriptors_free))
                for e in extents.values()
            )
        ),
        tuple(
            (
                ident,
                *(
                    np.asarray(column).tobytes()
                    for column in (slab.phys_addr, slab.flags, slab.free_list)
                ),
            )
            for ident, slab in sorted(slabs.items())
        ),
        tuple(kernel.stolen),
    )
