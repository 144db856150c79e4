"""The ``UVM_HOTPLUG`` build: segments in a red-black tree, handles are the records.

Beyond the kernel: plug and unplug never walk every segment. Each slab extent counts the live
segments that use it (``SlabExtent.members``, the kernel's ``segcount`` walk) and the build
keeps, per extent, the sorted starts of its live segments that have a page array, so that the
scavenging plug tries the extents in the order the kernel's address-order walk would meet them,
without visiting the segments in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sortedcontainers import SortedList

from physseg.core.alloc import SEGMENT, SLAB
from physseg.core.pages import Page, Slab
from physseg.core.rbtree import RB_DIR_LEFT, RB_DIR_RIGHT, RBTree
from physseg.errors import (
    ExtentNoDescriptorError,
    ExtentNoSpaceError,
    ImageError,
    KernelAssertionError,
    KernelHang,
    Reason,
)
from physseg.netbsd.constants import SIZEOF_UVM_PHYSSEG
from physseg.netbsd.kernel import Handle, Kernel, kassert, panic
from physseg.netbsd.segment import Segment, SlabExtent

_NULL_DEREF = "NULL pointer dereference"


class SegmentOps:
    """rbtree(3) ops for segments: ordered by address, overlaps KASSERTed (DIAGNOSTIC)."""

    __slots__ = ()

    def compare_nodes(self, a: Segment, b: Segment) -> int:
        """-1 if ``a`` starts before ``b``, +1 if at or after ``b``'s end, 0 otherwise.
        Raises ``KernelAssertionError`` when the two spans overlap."""
        kassert(a.start < b.start or a.start >= b.end, "enode1->start < enode2->start || ...")
        kassert(b.start < a.start or b.start >= a.end, "enode2->start < enode1->start || ...")
        if a.start < b.start:
            return -1
        if a.start >= b.end:
            return 1
        return 0

    def compare_key(self, node: Segment, pfn: int) -> int:
        """0 if ``pfn`` is in ``node``; -1 if ``node`` lies below it; +1 if above."""
        if node.start <= pfn < node.end:
            return 0
        if node.start < pfn:
            return -1
        return 1


class RBTreeKernel(Kernel):
    """``Kernel(backend="rbtree")``: the build the paper introduced (``UVM_HOTPLUG``)."""

    backend = "rbtree"
    can_hotplug = True
    can_split_middle = True
    can_merge = True

    def _init_storage(self) -> None:
        self._pool = [Segment(pool_slot=i) for i in range(self.VM_PHYSSEG_MAX)]
        self.nseg = 0
        self._ops = SegmentOps()
        self._tree: RBTree[Segment, int] = RBTree(self._ops)
        self._nentries = 0
        self._starts: dict[SlabExtent | None, SortedList] = {}

    @property
    def tree(self) -> RBTree[Segment, int]:
        """The red-black tree of live segments, in address order (read it; mutate through the
        API). O(1). Raises nothing."""
        return self._tree

    def seg(self, upm: Any) -> Segment:
        """The record itself. O(1). Raises ``KernelPanic`` (reason ``NULL_DEREFERENCE``) for
        a NULL (``None``) handle, as a NULL dereference would fault."""
        if upm is None:
            panic(_NULL_DEREF, Reason.NULL_DEREFERENCE)
        seg: Segment = upm
        return seg

    def _handles_and_records(self) -> Iterator[tuple[Handle, Segment]]:
        for seg in self._tree:
            yield Handle(seg), seg

    def _handle_of(self, seg: Segment) -> Any:
        return Handle(seg)

    @property
    def boot_records_used(self) -> int:
        """The boot pool cursor ``nseg`` (slots are never reused). O(1). Raises nothing."""
        return self.nseg

    def record_freeable(self, upm: Any) -> bool:
        """False for a boot pool record when ``VM_PHYSSEG_MAX`` is 1: ``uvm_physseg_free``
        panics "tried to free() the entire static array!". O(1). Raises only as :meth:`seg`."""
        return not (self.seg(upm).pool_slot >= 0 and self.VM_PHYSSEG_MAX == 1)

    def segments_overlapping(self, first: int, last: int) -> list[Segment] | None:
        """The live segments overlapping PFNs ``[first, last)``, ascending. O(log n + k) for k
        found. Raises nothing."""
        tree = self._tree
        found: list[Segment] = []
        node = tree.find_geq(first)
        while node is not None and node.start < last:
            found.append(node)
            node = tree.iterate(node, RB_DIR_RIGHT)
        return found

    # ----------------------------------------------------------------- transactions
    def _owned_records(self) -> list[Segment]:
        live = [seg for seg in self._tree if seg.pool_slot < 0]
        return self._pool + live

    def _save_build(self) -> Any:
        starts = {ext: list(values) for ext, values in self._starts.items()}
        return list(self._tree), self.nseg, self._nentries, starts

    def _restore_build(self, saved: Any) -> None:
        live, self.nseg, self._nentries, starts = saved
        self._tree.clear()
        for seg in live:
            self._tree.insert(seg)
        self._starts = {ext: SortedList(values) for ext, values in starts.items()}

    # ----------------------------------------------------------------- images
    _IMAGE_BUILD_KEYS = ("nseg", "nentries")

    def _image_records(self) -> tuple[list[Segment], dict[str, int]]:
        """The live records in address order, each with its ``pool_slot``, and the pool cursor
        and ``nentries``. A pool slot below the cursor that is not live is never handed out
        again (``uvm_physseg_alloc`` only moves the cursor forward) and no handle of a restored
        kernel reaches it, and every slot at or above the cursor is still zero: neither needs
        keeping."""
        return list(self._tree), {"nseg": self.nseg, "nentries": self._nentries}

    def _adopt_image_records(self, records: list[Segment], build: dict[str, int]) -> None:
        nseg = build["nseg"]
        if nseg > self.VM_PHYSSEG_MAX:
            raise ImageError(
                "meta.build.nseg",
                f"the boot pool cursor {nseg} is past VM_PHYSSEG_MAX {self.VM_PHYSSEG_MAX}",
            )
        self.nseg = nseg
        self._nentries = build["nentries"]
        taken: set[int] = set()
        prev: Segment | None = None
        for k, record in enumerate(records):
            slot = record.pool_slot
            if not -1 <= slot < nseg:
                raise ImageError(
                    f"meta.records[{k}].pool_slot",
                    f"{slot} is neither -1 (a run-time record) nor a boot pool slot below the"
                    f" cursor {nseg}",
                )
            if slot in taken:
                raise ImageError(
                    f"meta.records[{k}].pool_slot", f"boot pool slot {slot} is used twice"
                )
            if prev is not None and not (prev.start < record.start and prev.end <= record.start):
                raise ImageError(
                    f"meta.records[{k}]",
                    f"{record!r} is not above records[{k - 1}] {prev!r}: the live segments are"
                    " kept in address order and do not overlap",
                )
            target = record
            if slot >= 0:
                taken.add(slot)
                target = self._pool[slot]
                target.copy_from(record)
            self._tree.insert(target)
            self._index_add(target)
            prev = record

    def segments(self) -> Iterator[Segment]:
        """Live segments in ascending address order. O(n). Raises nothing."""
        return iter(self._tree)

    def uvm_physseg_init(self) -> None:
        """``rb_tree_init`` and ``nentries = 0``; the boot pool and its cursor are untouched.
        O(1). Raises nothing."""
        self._tree = RBTree(self._ops)
        self._nentries = 0
        self._starts = {}
        self.version += 1

    def uvm_physseg_get_entries(self) -> int:
        """``uvm_physseg_graph.nentries``. O(1). Raises nothing."""
        return self._nentries

    # ----------------------------------------------------------------- indexes
    def _is_live(self, seg: Segment) -> bool:
        return seg in self._tree

    def _index_remove(self, seg: Segment) -> None:
        if not self._is_live(seg):
            return
        if seg.ext is not None:
            seg.ext.members -= 1
        if seg.pgs is not None:
            starts = self._starts[seg.ext]
            starts.remove(seg.start)
            if not starts:
                del self._starts[seg.ext]

    def _index_add(self, seg: Segment) -> None:
        if not self._is_live(seg):
            return
        if seg.ext is not None:
            seg.ext.members += 1
        if seg.pgs is not None:
            self._starts.setdefault(seg.ext, SortedList()).add(seg.start)

    # ----------------------------------------------------------------- invariants
    def _check_build(self) -> None:
        """The rbtree build's part of :meth:`Kernel.check`: ``red-black tree``
        (``RBTree.check``: links, colours, ordering, size; two in-order segments that overlap
        trip the ops' KASSERT), ``nentries`` (equals the tree's size), ``boot pool cursor``
        (``nseg`` in ``[0, VM_PHYSSEG_MAX]``: the KASSERT that guards the pool fires after the
        increment, so a kernel that hit it fails here), ``boot pool slot`` (every live pool
        record sits below ``nseg``), ``extent members`` (each live extent counts the live
        segments that use it) and ``scavenging index`` (per extent, the sorted starts of its
        live segments that have a page array). O(n log n) for n segments."""
        try:
            self._tree.check()
        except KernelAssertionError as exc:
            raise AssertionError(
                f"red-black tree: ordering: two in-order segments overlap (KASSERT {exc})"
            ) from None
        except AssertionError as exc:
            raise AssertionError(f"red-black tree: {exc}") from None
        if self._nentries != len(self._tree):
            raise AssertionError(
                f"nentries: uvm_physseg_graph.nentries is {self._nentries}, the tree holds"
                f" {len(self._tree)} segments"
            )
        if not 0 <= self.nseg <= self.VM_PHYSSEG_MAX:
            raise AssertionError(
                f"boot pool cursor: nseg {self.nseg} is outside [0, VM_PHYSSEG_MAX ="
                f" {self.VM_PHYSSEG_MAX}]"
            )
        members: dict[int, tuple[SlabExtent, int]] = {}
        starts: dict[SlabExtent | None, list[int]] = {}
        for seg in self._tree:
            if seg.pool_slot >= self.nseg:
                raise AssertionError(
                    f"boot pool slot: {seg!r} sits in slot {seg.pool_slot}, at or past nseg"
                    f" {self.nseg}"
                )
            if seg.ext is not None:
                ext, count = members.get(id(seg.ext), (seg.ext, 0))
                members[id(ext)] = (ext, count + 1)
            if seg.pgs is not None:
                starts.setdefault(seg.ext, []).append(seg.start)
        for ext, count in members.values():
            if ext.members != count:
                raise AssertionError(
                    f"extent members: {ext!r} counts {ext.members}, {count} live segments use it"
                )
        kept = {ext: list(keys) for ext, keys in self._starts.items()}
        if kept != starts:
            which = next(e for e in kept.keys() | starts.keys() if kept.get(e) != starts.get(e))
            raise AssertionError(
                f"scavenging index: the starts kept for {which!r} are {kept.get(which)}, its"
                f" live segments with a page array start at {starts.get(which)}"
            )

    # ----------------------------------------------------------------- allocation
    def uvm_physseg_alloc(self, size: int) -> Segment | None:
        """``uvm_physseg_alloc(size)``, ``size`` in bytes: at boot the next ``size / sizeof``
        slots of the static pool (never reused), at run time a zeroed record from the
        allocator, or ``None`` when it refuses. O(1). At boot, panics (``KernelPanic``) on a
        size that is not a multiple of ``sizeof(struct uvm_physseg)`` and KASSERTs
        (``KernelAssertionError``, reason ``BOOT_POOL_EXHAUSTED``) past the pool's end, the
        cursor already moved as in C."""
        if not self.uvm.page_init_done:
            if size % SIZEOF_UVM_PHYSSEG:
                panic(
                    "uvm_physseg_alloc: tried to alloc size other than multiple"
                    " of struct uvm_physseg at boot"
                )
            n = size // SIZEOF_UVM_PHYSSEG
            self.nseg += n
            kassert(
                0 < self.nseg <= self.VM_PHYSSEG_MAX,
                "nseg > 0 && nseg <= VM_PHYSSEG_MAX",
                Reason.BOOT_POOL_EXHAUSTED,
            )
            return self._pool[self.nseg - n]
        if not self.allocator.allocate(SEGMENT, size):
            return None
        return Segment()

    def uvm_physseg_free(self, seg: Segment, size: int) -> None:
        """``uvm_physseg_free(seg, size)``, ``size`` in bytes: frees to the static pool are
        ignored (leaked), run-time records are left to the garbage collector. O(1). Panics
        (``KernelPanic``) on sizes the kernel rejects: at boot a size that is not a multiple of
        ``sizeof(struct uvm_physseg)``; for a pool record, that too or a size covering the
        whole pool (every pool record when ``VM_PHYSSEG_MAX`` is 1)."""
        if not self.uvm.page_init_done and size % SIZEOF_UVM_PHYSSEG:
            panic("uvm_physseg_free: tried to free size other than struct uvm_physseg at boot")
        if seg.pool_slot >= 0:
            if size % SIZEOF_UVM_PHYSSEG:
                panic(
                    "uvm_physseg_free: tried to free() other than struct uvm_physseg"
                    " from static array"
                )
            if size // SIZEOF_UVM_PHYSSEG >= self.VM_PHYSSEG_MAX:
                panic("uvm_physseg_free: tried to free() the entire static array!")

    # ----------------------------------------------------------------- lookup and walk
    def uvm_physseg_valid_p(self, upm: Any) -> bool:
        """False for NULL; True at boot; afterwards True iff the segment has a page array.
        O(1). Raises nothing."""
        if upm is None:
            return False
        if not self.uvm.page_init_done:
            return True
        return upm.pgs is not None

    def uvm_physseg_find(self, pfn: int) -> tuple[Any, int | None]:
        """The segment holding PFN ``pfn`` and the page offset in it, by a tree search.
        O(log n). Raises nothing."""
        node = self._tree.find(pfn)
        if node is None:
            return None, None
        return node, pfn - node.start

    def segment_geq(self, pfn: int) -> Segment | None:
        """The segment holding PFN ``pfn``, else the lowest one above it. O(log n). Raises
        nothing."""
        return self._tree.find_geq(pfn)

    def uvm_physseg_get_first(self) -> Any:
        """Lowest-address segment or ``None``. O(1) (the tree caches it). Raises nothing."""
        return self._tree.min()

    def uvm_physseg_get_last(self) -> Any:
        """Highest-address segment or ``None``. O(1) (the tree caches it). Raises nothing."""
        return self._tree.max()

    def uvm_physseg_get_next(self, upm: Any) -> Any:
        """Successor in address order, ``None`` past the end or for an invalid handle.
        O(1) amortised, O(log n) worst. Raises nothing."""
        if not self.uvm_physseg_valid_p(upm):
            return None
        return self._tree.iterate(upm, RB_DIR_RIGHT)

    def uvm_physseg_get_prev(self, upm: Any) -> Any:
        """Predecessor in address order, ``None`` before the start or for an invalid handle.
        O(1) amortised, O(log n) worst. Raises nothing."""
        if not self.uvm_physseg_valid_p(upm):
            return None
        return self._tree.iterate(upm, RB_DIR_LEFT)

    def uvm_physseg_get_highest_frame(self) -> int:
        """The last PFN of the highest segment (``end - 1``). O(1). Raises ``KernelPanic``
        (reason ``NULL_DEREFERENCE``) for an empty tree (the kernel dereferences NULL)."""
        last = self._tree.max()
        if last is None:
            panic(f"uvm_physseg_get_highest_frame: {_NULL_DEREF}", Reason.NULL_DEREFERENCE)
        return last.end - 1

    # ----------------------------------------------------------------- plug
    def uvm_physseg_plug(self, pfn: int, pages: int) -> tuple[bool, Any]:
        """Create ``[pfn, pfn + pages)``. Before any segment has a page array this only
        records the span (boot); afterwards it scavenges page entries from existing slabs in
        the kernel's order, else allocates a brand-new slab sized like ``uvmexp.npages``, and
        initialises the pages. Returns ``(False, None)`` when ``pfn`` is already managed (DEBUG
        check), when no record or slab can be allocated, or when the new slab cannot be carved
        (node and slab leak, as in the kernel; the leaked slab gives its number back, so a
        failed plug leaves :meth:`Kernel.new_slab`'s numbering as it was).

        O(log n) at boot. After it O(log n + E log E) to find the page entries (O(n) if a
        segment has a page array but no extent, which only a hand-made ``init_seg`` makes),
        plus O(pages) to initialise them (vectorised); a brand-new slab adds one O(1) try per
        size the allocator refuses. While ``uvmexp.npages`` is negative, add
        O(VM_PHYSSEG_MAX + n + regions) for the checkpoint a hang is rolled back to.

        Raises ``KernelHang`` when no slab has room and ``uvmexp.npages`` is negative: the
        brand-new slab loop would start near 2**64 pages and never end (quirk 38); the kernel
        is left as it was before the call. KASSERTs (``KernelAssertionError``) at boot when
        the boot pool is exhausted; after boot when ``pages`` is 0 or the allocator refuses a
        new slab's extent header; and when the span overlaps a segment above ``pfn`` (the
        tree's comparator, as under DIAGNOSTIC; the kernel's "Duplicate address range" panic,
        ``KernelPanic``, cannot be reached behind it)."""
        if self._tree.find(pfn) is not None:
            return False, None
        preload = not self._starts
        saved = self.checkpoint() if not preload and self.uvmexp.npages < 0 else None
        ps = self.uvm_physseg_alloc(SIZEOF_UVM_PHYSSEG)
        if ps is None:
            return False, None
        ps.start = ps.avail_start = pfn
        ps.end = ps.avail_end = pfn + pages
        pgs: Page | None = None
        if not preload:
            pgs, donor = self._scavenge(pages)
            if pgs is None:
                try:
                    slab = self._new_slab(pfn, pages)
                except KernelHang:
                    assert saved is not None
                    self.rollback(saved)
                    raise
                if slab is None:
                    self.uvm_physseg_free(ps, SIZEOF_UVM_PHYSSEG)
                    return False, None
                try:
                    self.uvm_physseg_seg_chomp_slab(Handle(ps), Page(slab, 0), slab.npages)
                    pgs = self.uvm_physseg_seg_alloc_from_slab(Handle(ps), pages)
                except KernelAssertionError:
                    self._slab_ids -= 1
                    raise
                if pgs is None:
                    self._slab_ids -= 1
                    return False, None
            else:
                ps.ext = donor
            self.physmem += pages
        else:
            ps.pgs = None
        if self._tree.insert(ps) is not ps:
            panic("uvm_page_physload: Duplicate address range detected!")
        self._nentries += 1
        self._index_add(ps)
        self.version += 1
        if not preload:
            self.uvm_physseg_init_seg(Handle(ps), pgs)
        return True, ps

    def _new_slab(self, pfn: int, pages: int) -> Slab | None:
        """The kernel's brand-new slab loop: try ``slabpages`` from ``(size_t)uvmexp.npages``
        down to ``pages``, one page less per refusal of the allocator. When the host itself
        cannot hold the array (``MemoryError``, an eager slab), the next try is half the size:
        a host that refuses N pages refuses N - 1 too. With ``uvmexp.npages`` negative the
        loop starts at 2**64 - |npages| and every ``kmem_zalloc(KM_NOSLEEP)`` fails for ~2**57
        tries (quirk 38): ``KernelHang`` before anything is allocated."""
        npages = self.uvmexp.npages
        slabpages = npages % (1 << 64)
        if npages < 0 and slabpages >= pages:
            raise KernelHang("uvm_physseg_plug", pfn, pages, npages)
        while slabpages >= pages:
            if self.allocator.allocate(SLAB, slabpages):
                try:
                    return self.new_slab(slabpages, "Hotplug slab")
                except MemoryError:
                    slabpages //= 2
                    continue
            slabpages -= 1
        return None

    def _scavenge(self, pages: int) -> tuple[Page | None, SlabExtent | None]:
        """The kernel's "scavenge from earlier unplug()s" choice: the first segment in address
        order with a page array whose extent can hold ``pages`` entries donates them."""
        if None in self._starts:
            return self._scavenge_by_walk(pages)
        kassert(pages > 0, "pages > 0")
        order = sorted(self._starts.items(), key=lambda item: item[1][0])
        for ext, _starts in order:
            assert ext is not None
            try:
                index = ext.extent.alloc(pages)
            except (ExtentNoSpaceError, ExtentNoDescriptorError):
                continue
            return Page(ext.slab, index), ext
        return None, None

    def _scavenge_by_walk(self, pages: int) -> tuple[Page | None, SlabExtent | None]:
        """The kernel's own O(n) walk, used when a segment has a page array but no extent
        (possible only through ``uvm_physseg_init_seg`` called by hand)."""
        for current in list(self._tree):
            if current.pgs is not None:
                pgs = self.uvm_physseg_seg_alloc_from_slab(Handle(current), pages)
                if pgs is not None:
                    return pgs, current.ext
        return None, None

    # ----------------------------------------------------------------- unplug
    def _unplug_whole(self, upm: Any, seg: Segment, pages: int) -> None:
        if self._nentries == 1:
            panic("uvm_physseg_unplug: out of memory!", Reason.LAST_SEGMENT)
        if self.uvm.page_init_done:
            ext = seg.ext
            assert ext is not None
            kassert(ext.members > 0, "segcount > 0")
            if ext.members == 1:
                ext.extent.destroy()
            self.uvmexp.npages -= pages
        self._remove_record(seg)

    def _remove_record(self, seg: Segment) -> None:
        """Take a live record out of the indexes and the tree, ``memset`` it to zero and free
        it, then drop ``nentries`` (in the kernel's order: a panic in the free leaves
        ``nentries`` as it was). O(log n)."""
        self._index_remove(seg)
        self._tree.remove(seg)
        seg.zero()
        self.uvm_physseg_free(seg, SIZEOF_UVM_PHYSSEG)
        self._nentries -= 1

    def _alloc_fragment(self) -> Segment | None:
        return self.uvm_physseg_alloc(SIZEOF_UVM_PHYSSEG)

    def _unplug_middle(
        self, seg: Segment, off: int, pfn: int, pages: int, spare: Segment | None
    ) -> bool:
        ps = spare if spare is not None else self._alloc_fragment()
        if ps is None:
            return False
        booted = self.uvm.page_init_done
        if booted:
            kassert(seg.ext is not None, "seg->ext != NULL")
            ps.ext = seg.ext
            self.uvmexp.npages -= pages
        ps.start = ps.avail_start = pfn + pages
        ps.end = ps.avail_end = seg.end
        seg.end = seg.avail_end = pfn
        if booted and seg.pgs is not None:
            ps.pgs = seg.pgs + (off + pages)
        if self._tree.insert(ps) is not ps:
            panic("uvm_page_physload: Duplicate address range detected!")
        self._nentries += 1
        self._index_add(ps)
        return True

    # ----------------------------------------------------------------- physseg extension: merge
    def segments_mergeable(self, left: Any, right: Any) -> bool:
        """physseg extension, not a kernel function: whether :meth:`merge_adjacent` may join
        ``left`` and ``right``. True when both are live, ``left.end == right.start``, both sit
        on the same free list, both have a page array carved from the same slab extent and
        ``right``'s entries follow ``left``'s in that slab, and neither avail window stops
        short of the shared edge (``left.avail_end == left.end``,
        ``right.avail_start == right.start``). O(1). Raises nothing for records; a NULL handle
        raises ``AttributeError``."""
        lp = left.pgs
        rp = right.pgs
        return (
            left is not right
            and self._is_live(left)
            and self._is_live(right)
            and left.end == right.start
            and left.free_list == right.free_list
            and lp is not None
            and rp is not None
            and left.ext is not None
            and left.ext is right.ext
            and lp.slab is rp.slab
            and lp.index + (left.end - left.start) == rp.index
            and left.avail_end == left.end
            and right.avail_start == right.start
        )

    def merge_adjacent(self, left: Any, right: Any) -> Any:
        """physseg extension, not a kernel function (NetBSD never merges segments): fold
        ``right`` into ``left`` and return ``left``, now spanning both.

        ``left`` keeps its record, start, avail start, free list, start hint and pmseg; its end
        and avail end become ``right``'s. ``right`` leaves the tree, its extent's member count
        and the scavenging index, is zeroed and freed as a whole-segment unplug frees a record,
        so a handle to it is dead afterwards. Nothing else moves: every page keeps its
        ``vm_page`` entry (the two page arrays are already one run of the same slab, and the
        extent already holds them as one coalesced region), ``uvmexp.npages`` and ``physmem``
        are unchanged, ``nentries`` drops by one and ``version`` moves.

        O(log n). KASSERTs (``KernelAssertionError``) :meth:`segments_mergeable`; freeing
        ``right``'s record panics where :meth:`uvm_physseg_free` does."""
        kassert(self.segments_mergeable(left, right), "segments_mergeable(left, right)")
        end, avail_end = right.end, right.avail_end
        self._remove_record(right)
        left.end = end
        left.avail_end = avail_end
        self.version += 1
        return left

    # ----------------------------------------------------------------- physunload
    def uvm_page_physunload(self, upm: Any, freelist: int) -> tuple[bool, int | None]:
        """Steal the first (else last) page of the segment at boot when that edge page is
        free and the segment is on ``freelist``, as a one-page unplug (a back trim lowers
        ``uvmexp.npages`` even at boot, quirk 5). O(log n). Panics (``KernelPanic``) after
        ``uvm_page_init`` and when the page is all that is left of the last segment."""
        if self.uvm.page_init_done:
            panic("uvm_page_physunload: unload attempted after uvm_page_init()")
        seg = self.seg(upm)
        if seg.free_list != freelist:
            return False, None
        if seg.avail_start == seg.start and seg.avail_start < seg.avail_end:
            pa = self.ctob(seg.avail_start)
            return self.uvm_physseg_unplug(seg.avail_start, 1), pa
        if seg.avail_end == seg.end and seg.avail_start < seg.avail_end:
            pa = self.ctob(seg.avail_end - 1)
            return self.uvm_physseg_unplug(seg.avail_end - 1, 1), pa
        return False, None

    def _take_edge(self, upm: Any, seg: Segment, front: bool, count: int) -> None:
        """A front trim or a back trim of ``count`` pages (the back trim's boot-time
        ``uvmexp.npages`` decrement included, quirk 5)."""
        pfn = seg.avail_start if front else seg.avail_end - count
        self.uvm_physseg_unplug(pfn, count)

    def uvm_page_physunload_force(self, upm: Any, freelist: int) -> tuple[bool, int | None]:
        """Steal the first free page of the segment at boot, whatever its free list (a page
        after unavailable head pages splits the segment, quirk 24). O(log n). Panics
        (``KernelPanic``) after ``uvm_page_init`` and when the page is all that is left of the
        last segment; KASSERTs (``KernelAssertionError``) when the split needs a boot pool slot
        and none is left."""
        seg = self.seg(upm)
        if self.uvm.page_init_done:
            panic("uvm_page_physunload_force: unload attempted after uvm_page_init()")
        if seg.avail_start >= seg.avail_end:
            return False, None
        pa = self.ctob(seg.avail_start)
        return self.uvm_physseg_unplug(seg.avail_start, 1), pa
