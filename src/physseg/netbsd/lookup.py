"""Address → page lookups: the per-call frame memo and the batch frame table.

The kernel finds the page of a byte address by searching its segments (an rbtree walk, a binary
search or a linear scan). physseg keeps that search (``uvm_physseg_find``) and adds two derived
indexes over the frame numbers, both held by one :class:`PageLookup` object that the kernel owns
and empties on every change of its layout (``Kernel.version``):

* **Per call** (``Kernel.PHYS_TO_VM_PAGE``, ``uvm_pageismanaged``): a dict from frame number to
  the frame's ``Page`` pointer, or ``None`` for a hole and, at boot, for a frame of a segment
  without a page array (what ``PHYS_TO_VM_PAGE`` answers there). After boot such a frame
  (:data:`UNBACKED`, the kernel's KASSERT) is never memoised, so every memo hit is the answer
  itself and the kernel's fast path is one dict probe with no test. It is a lazily
  materialised direct frame table: a miss fills the whole aligned window of
  :data:`FILL_FRAMES` frames around the frame from the segments that overlap it
  (:meth:`PageLookup.fill`). Every assignment of ``kernel.version`` and every change of
  ``uvm.page_init_done`` empties the memo (:meth:`PageLookup.invalidate`).

* **Per call at large segment counts**: from :data:`SEARCH_SEGMENTS` live segments on, a miss
  fills nothing. A window of 1024 frames mints 1024 ``Page`` objects, which a uniform stream
  over millions of frames never reuses before the memo is emptied, and which set off gen-2
  garbage collections over millions of tracked objects. The frame is answered instead by a
  ``bisect`` over the sorted segment starts of a :class:`SpanIndex` (built once per layout,
  after enough calls to pay for it, see :data:`SPAN_BUILD_SHIFT`), and its ``Page`` is made
  on demand. The same index serves ``PhysMem.find``.

* **Batch** (``Kernel.phys_to_vm_pages``): :class:`LookupTable`, a frame → (segment position,
  offset) table built with numpy, read in chunks of :data:`LOOKUP_CHUNK` addresses. A map up to
  :data:`MAX_DIRECT_FRAMES` wide gets a direct table, one entry per frame from the lowest
  segment start to the highest end plus an all-miss sentinel. A wider map gets a two-level table
  in the manner of Linux's sparsemem: frames are grouped in sections of ``2**SECTION_SHIFT``,
  only sections that hold memory are materialised (as rows of the flat table) and a top-level
  array maps a section number to its row, or to the all-miss sentinel row::

      pfn ──► section = pfn >> SECTION_SHIFT ──► top[section - first] = row base ──┐
          └─► pfn & SECTION_MASK ─────────────────────────────────────────────────┴─► (seg, off)

  Maps too sparse for that (more than :data:`MAX_TABLE_FRAMES` materialised frames or
  :data:`MAX_TOP_SECTIONS` sections end to end) fall back to a binary search of sorted start and
  end arrays, and a layout whose segments overlap (possible only in the static build, with
  hand-made boot loads) is resolved through the build's own search so that the answer is the
  kernel's. The table is rebuilt on the first batch after the version moved (O(n + frames)).

Both answer exactly what ``uvm_physseg_find`` + ``uvm_physseg_get_pg`` answer, as long as
segment fields are changed through the API; code that writes ``start`` or ``end`` of a live
segment by hand, as C code may, must bump ``kernel.version`` itself. This module knows the kernel
only through :class:`LookupSource` (it imports no build): the builds differ in how they list the
segments of a window (``segments_overlapping``), nothing else.
"""

from __future__ import annotations

import array
import bisect
import enum
import itertools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from physseg.core.pages import Page, Slab
from physseg.netbsd.segment import Segment

__all__ = [
    "FILL_FRAMES",
    "LOOKUP_CHUNK",
    "MAX_DIRECT_FRAMES",
    "MAX_TABLE_FRAMES",
    "MAX_TOP_SECTIONS",
    "MEMO_LIMIT",
    "SEARCH_SEGMENTS",
    "SECTION_SHIFT",
    "SPAN_BLOCKS_PER_SEGMENT",
    "SPAN_BUILD_SHIFT",
    "SPAN_WALK",
    "UNBACKED",
    "FrameEntry",
    "LookupSource",
    "LookupTable",
    "PageBatch",
    "PageLookup",
    "SpanIndex",
    "Unbacked",
]


class Unbacked(enum.Enum):
    """The type of :data:`UNBACKED`."""

    TOKEN = "unbacked"


UNBACKED: Final = Unbacked.TOKEN
"""What :meth:`PageLookup.fill` answers after boot for a frame inside a segment whose page
array is NULL: ``PHYS_TO_VM_PAGE`` fails the kernel's ``KASSERT(uvm_physseg_valid_p(upm))``
for it (at boot it returns ``None``, which is what the memo then holds). Never memoised."""

FrameEntry: TypeAlias = "Page | Unbacked | None"
"""What :meth:`PageLookup.fill` answers for a frame: its page pointer, :data:`UNBACKED`, or
``None``; the memo holds only pages and ``None``."""

FILL_SHIFT: Final = 10
FILL_FRAMES: Final = 1 << FILL_SHIFT
"""Frames filled by one memo miss (an aligned window; 4 MiB of 4 KiB pages). A larger window
warms up in fewer misses but costs more per miss (about 0.2 µs per frame of a segment with a
page array, for its ``Page`` pointer): 1024 keeps a miss under a millisecond."""
MEMO_LIMIT: Final = 1 << 21
"""Entries the per-call memo may hold (about 150 bytes each) before it is emptied and refilled:
it bounds the memo at ~300 MiB whatever the address stream."""

SECTION_SHIFT: Final = 15
"""log2 of the frames per section of the batch table: 32768 frames, 128 MiB of 4 KiB pages
(Linux x86-64's ``SECTION_SIZE_BITS`` = 27). A materialised section costs 16 bytes a frame;
smaller sections waste less on sparse maps but lengthen the top level."""
SECTION_MASK: Final = (1 << SECTION_SHIFT) - 1
MAX_DIRECT_FRAMES: Final = 1 << 22
"""Widest map (frames from the lowest segment start to the highest end: 16 GiB of 4 KiB pages,
64 MiB of tables) looked up through a single-level direct table, one entry per frame: five numpy
passes a lookup instead of the two-level table's nine."""
MAX_TABLE_FRAMES: Final = 1 << 23
"""Most frames the two-level table materialises (128 MiB of int64 pairs); a map holding memory
in more sections than that (over 32 GiB of 4 KiB pages) is searched in sorted arrays instead."""
MAX_TOP_SECTIONS: Final = 1 << 22
"""Longest top level (sections from the lowest to the highest segment): sparser maps are
searched in sorted arrays instead."""
LOOKUP_CHUNK: Final = 1 << 15
"""Addresses per numpy pass of a batch: each temporary (256 KiB) stays in the L2 cache, which
makes a pass several times faster than one over the whole batch."""

SEARCH_SEGMENTS: Final = 1 << 18
"""Live segments from which a per-call miss is answered from the :class:`SpanIndex` instead
of filling a memo window (a layout with fewer segments switches too once its frames overflow
the memo, :attr:`PageLookup.searching`). Measured with ``benchmarks/lookup_scale.py`` over
the load test's fragmented layout (8 frames a segment), uniform random addresses, medians of
5 interleaved rounds on the shared 2-core machine, memo time / search time:

* ``--steady`` (as ``physseg bench`` runs a case: one warm-up, then rounds on the same layout,
  the memo keeping its windows): 0.43 at 16384 segments, 0.44 at 65536, 0.49 at 131073. While
  the frames fit the memo, a warm memo is one dict probe and wins by 2x.
* ``--crossover`` (a fresh layout version every round of 200K calls, so every fill is paid):
  0.10 at 10^3, 0.49 at 10^4, 0.74-1.12 at 3x10^4, 2.2 at 5x10^4, 4.1 at 10^5: right after a
  layout change, windows of 1024 pages used once lose from a few 10^4 segments on.

A layout that is looked up many times between changes is the common case (the benchmark, a
running machine), so the memo keeps every layout whose frames it can hold; at 2**18 segments of
8 frames the frames reach :data:`MEMO_LIMIT`, the memo could only refill forever (what the
per-call path did at 10^6 segments, with gen-2 collections over millions of pages), and the
search starts from the first call, without a first overflow."""
SPAN_BUILD_SHIFT: Final = 4
"""A :class:`SpanIndex` (O(n) to build) is built once ``n >> SPAN_BUILD_SHIFT`` calls since the
last layout change asked for it; until then each call runs the kernel's own O(log n) search.
A call that searches costs about as much as sixteen index entries to build, so the build
never costs more than the searches it replaces, and a plug after every lookup (a balloon) does
not pay O(n) per lookup."""

SPAN_BLOCKS_PER_SEGMENT: Final = 2
"""Most blocks a :class:`SpanIndex`'s block table holds per segment (8 bytes each, an
``array('q')``): blocks are widened until the span fits, so a block holds about half a
segment on a dense layout, and its bisect runs over one or two starts."""

SPAN_WALK: Final = 8
"""Segments of one block a :class:`SpanIndex` walks one by one; a block holding more (a
cluster of small segments in a sparse layout) is bisected instead."""

_NO_START: Final = (1 << 63) - 1
"""The start of the :class:`SpanIndex` sentinel segment: above every frame, so a walk stops."""

_ADDRESS_MASK: Final = (1 << 64) - 1


class Booted(Protocol):
    """The boot → run-time switch of a kernel (``struct uvm``'s ``page_init_done``)."""

    @property
    def page_init_done(self) -> bool: ...


class LookupSource(Protocol):
    """What the lookups read of a kernel: its page shift, phase, layout version, segments and
    search."""

    PAGE_SHIFT: int

    @property
    def uvm(self) -> Booted: ...

    def uvm_physseg_get_entries(self) -> int: ...

    @property
    def version(self) -> int: ...

    def segments(self) -> Iterator[Segment]: ...

    def segments_overlapping(self, first: int, last: int) -> list[Segment] | None: ...

    def uvm_physseg_find(self, pfn: int) -> tuple[Any, int | None]: ...

    def seg(self, upm: Any) -> Segment: ...


class SpanIndex:
    """The live, non-empty segments of one layout in address order, for per-call lookups that
    allocate nothing but the ``Page`` they return (PFNs; ends exclusive). Built by
    :meth:`PageLookup.spans`, dropped with the layout; nothing in it is changed after the
    build but ``views``, so a reader holding the object sees one layout whole.

    ``starts`` and ``ends`` are lists for a plain ``bisect`` (what ``PhysMem.find`` reads).
    But a ``bisect`` over 10^6 starts walks 20 levels of Python ints scattered over the heap,
    a cache miss each, so :meth:`entry` and :meth:`position` read two flat ``array('q')``
    instead. ``spans`` holds four words a segment, in one cache line half, and a sentinel::

        spans = [start_0, end_0, base_0, slab_0,  start_1, ...,  2**63 - 1, 0, 0, -1]

    where the page of PFN ``pfn`` in segment ``i`` is entry ``base_i + pfn`` of
    ``slab_list[slab_i]`` (``slab_i == -1``: no page array). ``block_first`` cuts the span
    from the lowest start in blocks of ``2**block_shift`` frames (at most
    :data:`SPAN_BLOCKS_PER_SEGMENT` blocks a segment) and names, per block, the last segment
    starting at or before the block's first frame; the segment holding a frame of block ``b``
    is that one or one of the few after it, before ``block_first[b + 1] + 1``::

        pfn ──► b = (pfn - starts[0]) >> block_shift ──► i = block_first[b]
            ──► walk i forward while start_{i+1} <= pfn (bisect when the block holds more
                than SPAN_WALK segments) ──► pfn < end_i ? segment i : a hole

    ``views`` is a cache a face fills with its own read-only view of the segment at a
    position; it is emptied when a segment's fields change without a layout change (a start
    hint, an avail window: :meth:`PageLookup.fields_changed`).
    """

    __slots__ = (
        "block_first",
        "block_shift",
        "blocks",
        "ends",
        "segments",
        "slab_list",
        "spans",
        "starts",
        "views",
    )

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        count = len(segments)
        self.starts = [seg.start for seg in segments]
        self.ends = [seg.end for seg in segments]
        self.views: dict[int, Any] = {}
        slab_numbers: dict[int, int] = {}
        self.slab_list: list[Slab] = []
        words = np.zeros((count + 1, 4), dtype=np.int64)
        words[count] = (_NO_START, 0, 0, -1)
        for i, seg in enumerate(segments):
            pgs = seg.pgs
            if pgs is None:
                words[i] = (seg.start, seg.end, 0, -1)
                continue
            number = slab_numbers.get(id(pgs.slab))
            if number is None:
                number = slab_numbers[id(pgs.slab)] = len(self.slab_list)
                self.slab_list.append(pgs.slab)
            words[i] = (seg.start, seg.end, pgs.index - seg.start, number)
        self.spans = array.array("q", words.tobytes())
        span = self.ends[-1] - self.starts[0] if count else 0
        shift = 0
        while span >> shift > SPAN_BLOCKS_PER_SEGMENT * count:
            shift += 1
        self.block_shift = shift
        self.blocks = (span >> shift) + 1 if count else 0
        first = np.arange(self.blocks + 1, dtype=np.int64) << shift
        if count:
            first += self.starts[0]
        starts = words[:count, 0]
        positions = np.maximum(np.searchsorted(starts, first, side="right") - 1, 0)
        self.block_first = array.array("q", positions.astype(np.int64).tobytes())

    def __len__(self) -> int:
        """The number of segments indexed. O(1)."""
        return len(self.starts)

    def position(self, pfn: int) -> int:
        """The position of the segment holding PFN ``pfn``, -1 in a hole. O(1) when
        ``pfn``'s block holds at most :data:`SPAN_WALK` segments, else O(log k) for the k it
        holds. Raises ``TypeError`` for a non-integer."""
        if not self.blocks:
            return -1
        block = (pfn - self.starts[0]) >> self.block_shift
        if block < 0 or block >= self.blocks:
            return -1
        first = self.block_first
        i = first[block]
        last = first[block + 1]
        spans = self.spans
        if last - i > SPAN_WALK:
            i = bisect.bisect_right(self.starts, pfn, i, last + 1) - 1
        else:
            while spans[4 * i + 4] <= pfn:
                i += 1
        if pfn >= spans[4 * i + 1]:
            return -1
        return i

    def entry(self, pfn: int) -> FrameEntry:
        """``pfn``'s page (made now), :data:`UNBACKED` or ``None`` (a hole). Costs as
        :meth:`position`. Raises ``TypeError`` for a non-integer."""
        i = self.position(pfn)
        if i < 0:
            return None
        spans = self.spans
        number = spans[4 * i + 3]
        if number < 0:
            return UNBACKED
        return Page(self.slab_list[number], spans[4 * i + 2] + pfn)


class PageLookup:
    """A kernel's derived lookup state: the per-call frame memo, the span index and the batch
    table.

    The kernel creates one, reads :attr:`memo` on every ``PHYS_TO_VM_PAGE`` and calls
    :meth:`invalidate` whenever its layout or phase changes; nothing else writes either.
    ``memo`` is the same dict object for the lookup's whole life (emptied in place), so the
    kernel may keep a reference to it. ``search_segments`` (default :data:`SEARCH_SEGMENTS`)
    is the segment count from which misses search instead of filling; a test may lower it.
    """

    __slots__ = (
        "_asked",
        "_source",
        "_table",
        "memo",
        "search_segments",
        "searching",
        "span_index",
    )

    def __init__(self, source: LookupSource) -> None:
        self._source = source
        self.memo: dict[int, Page | None] = {}
        """Frame number → its ``Page`` or ``None``; filled by :meth:`fill`."""
        self._table: LookupTable | None = None
        self.span_index: SpanIndex | None = None
        """The :class:`SpanIndex` of the current layout once built, else ``None``: read it
        (one attribute load) before asking :meth:`spans`."""
        self._asked = 0
        self.search_segments = SEARCH_SEGMENTS
        self.searching = False
        """Whether per-call misses of this layout search (the span index, else the kernel's
        search) instead of filling the memo: set by :meth:`fill` when the layout has
        ``search_segments`` segments or more, or when its frames overflowed the memo
        (:data:`MEMO_LIMIT`); cleared with the layout. The memo stays empty while set."""

    @property
    def current_table(self) -> LookupTable | None:
        """The batch table as last built, ``None`` when the layout changed since. O(1)."""
        return self._table

    def invalidate(self) -> None:
        """Forget every derived answer (the layout or the phase changed). O(memo entries)."""
        self.memo.clear()
        self._table = None
        self.span_index = None
        self._asked = 0
        self.searching = False

    def fields_changed(self) -> None:
        """A segment's fields that no lookup answers from changed (a start hint, an avail
        window): only the faces' cached views go. O(views)."""
        index = self.span_index
        if index is not None:
            index.views.clear()

    def spans(self) -> SpanIndex | None:
        """The :class:`SpanIndex` of the current layout, or ``None`` when it is not worth
        building yet (fewer than ``n >> SPAN_BUILD_SHIFT`` calls asked since the layout changed:
        search the kernel instead) or cannot answer as the kernel's search does (segments that
        overlap, possible only in the static build). Amortised O(1) a call; the build is
        O(n) for the rbtree build, O(n log n) for the static one."""
        index = self.span_index
        if index is not None:
            return index
        source = self._source
        self._asked += 1
        if self._asked <= source.uvm_physseg_get_entries() >> SPAN_BUILD_SHIFT:
            return None
        segments = sorted((seg for seg in source.segments() if seg.end > seg.start), key=_start)
        if any(a.end > b.start for a, b in itertools.pairwise(segments)):
            self._asked = -(1 << 62)  # overlapping: never build for this layout
            return None
        index = SpanIndex(segments)
        self.span_index = index
        return index

    def fill(self, pfn: int) -> FrameEntry:
        """``pfn``'s entry, memoising what a later call may reuse.

        Below ``search_segments`` live segments the aligned window of :data:`FILL_FRAMES`
        frames holding ``pfn`` is filled from the segments overlapping it (a window without
        memory stores ``pfn`` alone). From it on, and for the rest of the layout once the memo
        reached :data:`MEMO_LIMIT` entries (its frames do not fit: refills would never end),
        nothing is memoised (:attr:`searching`) and the frame is answered from the
        :class:`SpanIndex`, or by the kernel's search while there is none. When the
        build's search is not a function of the spans (a static build whose segments
        overlap), only ``pfn`` is filled, through the build's own search. Frames of segments
        without a page array are memoised as ``None`` at boot and not at all after it
        (:data:`UNBACKED` is returned). O(log n + FILL_FRAMES) for the rbtree build, O(n log n +
        FILL_FRAMES) for the static one; amortised O(log n) from ``search_segments`` on.
        """
        pfn = operator.index(pfn)
        index = self.span_index
        if index is not None and self.searching:
            return index.entry(pfn)
        source = self._source
        if not 0 <= pfn < 1 << (64 - source.PAGE_SHIFT):
            return None  # outside the physical address space: a hole, not memoised
        memo = self.memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
            self.searching = True
        elif source.uvm_physseg_get_entries() >= self.search_segments:
            self.searching = True
        if self.searching:
            index = self.spans()
            if index is not None:
                return index.entry(pfn)
            upm, off = source.uvm_physseg_find(pfn)
            return None if off is None else _entry(source.seg(upm), pfn)
        booted = source.uvm.page_init_done
        first = pfn >> FILL_SHIFT << FILL_SHIFT
        last = first + FILL_FRAMES
        segments = source.segments_overlapping(first, last)
        if segments is None:
            upm, off = source.uvm_physseg_find(pfn)
            entry = None if off is None else _entry(source.seg(upm), pfn)
            if entry is not UNBACKED:
                memo[pfn] = entry
            elif not booted:
                memo[pfn] = None
            return entry
        if not segments:
            memo[pfn] = None
            return None
        entries: list[Page | None] = [None] * FILL_FRAMES
        unbacked: list[tuple[int, int]] = []
        for seg in segments:
            lo = max(seg.start, first)
            hi = min(seg.end, last)
            if lo >= hi:
                continue
            pgs = seg.pgs
            if pgs is None:
                unbacked.append((lo, hi))
            else:
                slab = pgs.slab
                base = pgs.index - seg.start
                entries[lo - first : hi - first] = [Page(slab, base + f) for f in range(lo, hi)]
        memo.update(zip(range(first, last), entries, strict=True))
        if unbacked and booted:
            for lo, hi in unbacked:
                for f in range(lo, hi):
                    del memo[f]
            if any(lo <= pfn < hi for lo, hi in unbacked):
                return UNBACKED
        return entries[pfn - first]

    def table(self) -> LookupTable:
        """The batch table of the current layout, rebuilt (O(n log n + frames)) when the
        layout changed since it was built, else O(1)."""
        table = self._table
        if table is None or table.version != self._source.version:
            table = LookupTable(self._source)
            self._table = table
        return table

    def check(self) -> None:
        """Every memo entry equals what the kernel's segments answer now (a page, or ``None``
        for a hole and, at boot only, for a frame without a page array), the span index, if
        built, lists the live segments now, and the batch table, if built, was built for the
        current layout. Raises ``AssertionError`` naming the first stale entry. The memo is
        checked against a freshly built :class:`LookupTable` (the same answers as the kernel's
        search, see the module docstring): O(n log n + F + M) for M memo entries and F table
        frames, one vectorised comparison instead of a search per entry."""
        source = self._source
        table = self._table
        if table is not None and table.version != source.version:
            raise AssertionError(
                f"lookup table: built for layout {table.version}, the kernel is at {source.version}"
            )
        index = self.span_index
        if index is not None:
            live = sorted((seg for seg in source.segments() if seg.end > seg.start), key=_start)
            spans = [(seg.start, seg.end) for seg in live]
            if index.segments != live or list(zip(index.starts, index.ends, strict=True)) != spans:
                raise AssertionError("lookup span index: not the live segments of the layout")
        memo = self.memo
        if not memo:
            return
        keys = list(memo.keys())
        entries = list(memo.values())
        # A frame outside the 64-bit physical address space (a negative or huge ``pa``) is
        # in no segment: expected a hole. The others are looked up in a fresh table.
        limit = 1 << (64 - source.PAGE_SHIFT)
        inside = np.array([0 <= key < limit for key in keys], dtype=np.bool_)
        frames = np.array([key if 0 <= key < limit else 0 for key in keys], dtype=np.uint64)
        fresh = LookupTable(source)
        found = fresh.lookup(frames << np.uint64(source.PAGE_SHIFT))
        found.segment[~inside] = -1
        # What each entry should be: 0 None (a hole; at boot also a frame without a page
        # array), 2 a Page (slab, index); after boot a frame without a page array is never
        # memoised (-1 matches no entry).
        arrays = [seg.pgs for seg in fresh.segments]
        unbacked = np.array([pgs is None for pgs in arrays] + [False], dtype=np.bool_)
        slab_ids = np.array([0 if pgs is None else id(pgs.slab) for pgs in arrays] + [0])
        expected_kind = np.where(found.segment < 0, 0, 2)
        expected_kind[unbacked[found.segment]] = -1 if source.uvm.page_init_done else 0
        got = np.array(
            [(0, 0, 0) if e is None else (2, id(e.slab), e.index) for e in entries],
            dtype=np.int64,
        ).reshape(len(entries), 3)
        paged = expected_kind == 2
        wrong = got[:, 0] != expected_kind
        wrong |= paged & (got[:, 1] != slab_ids[found.segment])
        wrong |= paged & (got[:, 2] != found.index)
        bad = np.flatnonzero(wrong)
        if bad.size:
            i = int(bad[0])
            pfn = keys[i]
            upm, off = source.uvm_physseg_find(pfn)
            expected = None if off is None else _entry(source.seg(upm), pfn)
            raise AssertionError(
                f"lookup memo: frame {pfn:#x} holds {entries[i]!r}, the kernel's search gives"
                f" {expected!r}"
            )


def _entry(seg: Segment, pfn: int) -> FrameEntry:
    pgs = seg.pgs
    if pgs is None:
        return UNBACKED
    return Page(pgs.slab, pgs.index + pfn - seg.start)


def _start(seg: Segment) -> int:
    return seg.start


# --------------------------------------------------------------------- batch
@dataclass(frozen=True, slots=True)
class PageBatch:
    """The result of a batch lookup, one entry per address (arrays of the input's shape, rows
    of one block of memory).

    ``segment``: position of the segment in :attr:`segments` (address order), -1 for a miss;
    ``offset``: page offset in that segment (-1 for a miss); ``slab``: the ``ident`` of the slab
    holding the page (-1 for a miss or a segment without a page array); ``index``: the page's
    entry in that slab (-1 likewise).
    """

    segment: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    slab: npt.NDArray[np.int64]
    index: npt.NDArray[np.int64]
    segments: tuple[Segment, ...]

    @property
    def hit(self) -> npt.NDArray[np.bool_]:
        """True where the address is managed."""
        return self.segment >= 0


class LookupTable:
    """A snapshot of a kernel's segments for vectorised lookups (see the module docstring).

    ``mode`` says how an address is resolved: ``"direct"`` (one table entry per frame from the
    lowest segment start to the highest end), ``"sections"`` (the two-level table), ``"sorted"``
    (binary search), ``"search"`` (overlapping segments: the build's own search per distinct
    frame) or ``"empty"`` (no segment holds a frame). Build O(n log n + F) for n segments and F
    table entries; :meth:`lookup` is O(m) for m addresses with a frame table, O(m log n) with
    the sorted arrays.
    """

    __slots__ = (
        "backed",
        "base",
        "ends",
        "find",
        "first",
        "limit",
        "mode",
        "off_table",
        "page_shift",
        "positions",
        "record",
        "seg_table",
        "segments",
        "slab",
        "starts",
        "top",
        "version",
    )

    def __init__(self, kernel: LookupSource) -> None:
        segs = sorted(kernel.segments(), key=_start)
        self.segments: tuple[Segment, ...] = tuple(segs)
        self.version = kernel.version
        self.page_shift = kernel.PAGE_SHIFT
        self.find: Callable[[int], tuple[Any, int | None]] = kernel.uvm_physseg_find
        self.record: Callable[[Any], Segment] = kernel.seg
        count = len(segs)
        starts = np.fromiter((s.start for s in segs), dtype=np.int64, count=count)
        ends = np.fromiter((s.end for s in segs), dtype=np.int64, count=count)
        # One entry per segment plus a sentinel at index -1 that misses read: slab -1, base 0.
        self.slab = np.full(count + 1, -1, dtype=np.int64)
        self.base = np.zeros(count + 1, dtype=np.int64)
        for i, seg in enumerate(segs):
            if seg.pgs is not None:
                self.slab[i] = seg.pgs.slab.ident
                self.base[i] = seg.pgs.index
        backed = int(np.count_nonzero(self.slab[:count] >= 0))
        self.backed = "all" if backed == count else "none" if backed == 0 else "some"
        nonempty = np.flatnonzero(ends > starts)
        self.positions = nonempty
        self.starts = starts[nonempty]
        self.ends = ends[nonempty]
        self.seg_table = self.off_table = self.top = np.zeros(0, dtype=np.int64)
        self.first = self.limit = 0
        if len(nonempty) == 0:
            self.mode = "empty"
        elif np.any(self.starts[1:] < self.ends[:-1]):
            self.mode = "search"
        elif int(self.ends[-1]) - int(self.starts[0]) <= MAX_DIRECT_FRAMES:
            self._build_direct()
            self.mode = "direct"
        elif self._build_sections():
            self.mode = "sections"
        else:
            self.mode = "sorted"

    # ----------------------------------------------------------------- build
    def _tables(self, lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], total: int) -> None:
        """Frame tables of ``total`` entries where entry ``f`` in ``[lo[i], hi[i])`` names
        segment ``positions[i]`` at offset ``f - lo[i]``, every other entry -1. O(n + total),
        as one run-length expansion (holes and segments alternate)."""
        runs = 2 * len(lo) + 1
        values = np.full(runs, -1, dtype=np.int64)
        values[1::2] = self.positions
        bounds = np.empty(runs + 1, dtype=np.int64)
        bounds[0] = 0
        bounds[1:-1:2] = lo
        bounds[2:-1:2] = hi
        bounds[-1] = total
        lengths = np.diff(bounds)
        self.seg_table = np.repeat(values, lengths)
        offsets = np.arange(total, dtype=np.int64)
        offsets -= np.repeat(bounds[:-1], lengths)
        offsets[self.seg_table < 0] = -1
        self.off_table = offsets

    def _build_direct(self) -> None:
        self.first = int(self.starts[0])
        self.limit = int(self.ends[-1]) - self.first
        self._tables(self.starts - self.first, self.ends - self.first, self.limit + 1)

    def _build_sections(self) -> bool:
        """Build the two-level table; False (nothing built) when it would be too large."""
        first_sec = self.starts >> SECTION_SHIFT
        last_sec = (self.ends - 1) >> SECTION_SHIFT
        base_sec = int(first_sec[0])
        span = int(last_sec.max()) - base_sec + 1
        if span > MAX_TOP_SECTIONS:
            return False
        opened = np.bincount(first_sec - base_sec, minlength=span + 1)
        closed = np.bincount(last_sec - base_sec + 1, minlength=span + 1)
        present = np.cumsum(opened - closed)[:span] > 0
        rows = int(np.count_nonzero(present))
        if rows << SECTION_SHIFT > MAX_TABLE_FRAMES:
            return False
        top = np.full(span + 1, rows << SECTION_SHIFT, dtype=np.int64)
        top[:span][present] = np.arange(rows, dtype=np.int64) << SECTION_SHIFT
        # A segment's sections are consecutive rows, so its frames stay contiguous in the
        # compressed space of the materialised rows.
        lo = top[first_sec - base_sec] + (self.starts & SECTION_MASK)
        hi = top[last_sec - base_sec] + ((self.ends - 1) & SECTION_MASK) + 1
        self._tables(lo, hi, (rows + 1) << SECTION_SHIFT)
        self.top = top
        self.first = base_sec
        self.limit = span
        return True

    # ----------------------------------------------------------------- lookup
    def lookup(self, addresses: npt.ArrayLike) -> PageBatch:
        """Look up byte ``addresses`` (integers of any shape; negative ones wrap to 64 bits as
        a ``paddr_t`` would and miss). Raises ``TypeError`` for non-integer input. O(m)."""
        flat, shape = _as_addresses(addresses)
        m = flat.size
        # One block for the four results: a single allocation is mapped and unmapped whole,
        # where four separate ones of a few hundred KiB make the heap grow and shrink on every
        # batch (measured: 4 ns instead of 20 ns a lookup for 100K addresses).
        segment, offset, slab, index = np.empty((4, m), dtype=np.int64)
        if self.mode == "empty":
            segment.fill(-1)
            offset.fill(-1)
        elif self.mode == "search":
            self._resolve_search(flat, segment, offset)
        else:
            resolve = {
                "direct": self._resolve_direct,
                "sections": self._resolve_sections,
                "sorted": self._resolve_sorted,
            }[self.mode]
            scratch = np.empty(min(m, LOOKUP_CHUNK), dtype=np.uint64)
            shift = np.uint64(self.page_shift)
            for lo in range(0, m, LOOKUP_CHUNK):
                hi = min(lo + LOOKUP_CHUNK, m)
                pfns = np.right_shift(flat[lo:hi], shift, out=scratch[: hi - lo])
                resolve(pfns, segment[lo:hi], offset[lo:hi])
                self._pages(segment[lo:hi], offset[lo:hi], slab[lo:hi], index[lo:hi])
        if self.mode in ("empty", "search"):
            self._pages(segment, offset, slab, index)
        return PageBatch(
            segment.reshape(shape),
            offset.reshape(shape),
            slab.reshape(shape),
            index.reshape(shape),
            self.segments,
        )

    def _resolve_direct(
        self,
        pfns: npt.NDArray[np.uint64],
        segment: npt.NDArray[np.int64],
        offset: npt.NDArray[np.int64],
    ) -> None:
        """Frame ``pfn`` is entry ``pfn - first``; below ``first`` it wraps, and everything
        past the table reads the sentinel entry ``limit``. Consumes ``pfns``."""
        pfns -= np.uint64(self.first)
        np.minimum(pfns, np.uint64(self.limit), out=pfns)
        where = pfns.view(np.int64)
        self.seg_table.take(where, out=segment, mode="clip")
        self.off_table.take(where, out=offset, mode="clip")

    def _resolve_sections(
        self,
        pfns: npt.NDArray[np.uint64],
        segment: npt.NDArray[np.int64],
        offset: npt.NDArray[np.int64],
    ) -> None:
        """Section ``pfn >> SECTION_SHIFT`` picks a row (or the all-miss sentinel row), the
        low bits the entry in it. Consumes ``pfns``."""
        sections = pfns >> np.uint64(SECTION_SHIFT)
        sections -= np.uint64(self.first)
        np.minimum(sections, np.uint64(self.limit), out=sections)
        where = self.top.take(sections.view(np.int64), mode="clip")
        pfns &= np.uint64(SECTION_MASK)
        where |= pfns.view(np.int64)
        self.seg_table.take(where, out=segment, mode="clip")
        self.off_table.take(where, out=offset, mode="clip")

    def _resolve_sorted(
        self,
        pfns: npt.NDArray[np.uint64],
        segment: npt.NDArray[np.int64],
        offset: npt.NDArray[np.int64],
    ) -> None:
        starts = self.starts.astype(np.uint64)
        ends = self.ends.astype(np.uint64)
        pos = np.searchsorted(starts, pfns, side="right") - 1
        safe = np.maximum(pos, 0)
        hit = (pos >= 0) & (pfns < ends[safe])
        segment[:] = np.where(hit, self.positions[safe], -1)
        offset[:] = np.where(hit, (pfns - starts[safe]).view(np.int64), -1)

    def _resolve_search(
        self,
        flat: npt.NDArray[np.uint64],
        segment: npt.NDArray[np.int64],
        offset: npt.NDArray[np.int64],
    ) -> None:
        """Overlapping segments: every distinct frame through the build's own search."""
        pfns = flat >> np.uint64(self.page_shift)
        unique, inverse = np.unique(pfns, return_inverse=True)
        position = {id(seg): i for i, seg in enumerate(self.segments)}
        found_seg = np.full(len(unique), -1, dtype=np.int64)
        found_off = np.full(len(unique), -1, dtype=np.int64)
        for i, pfn in enumerate(unique.tolist()):
            upm, off = self.find(pfn)
            if off is not None:
                found_seg[i] = position[id(self.record(upm))]
                found_off[i] = off
        segment[:] = found_seg[inverse.ravel()]
        offset[:] = found_off[inverse.ravel()]

    def _pages(
        self,
        segment: npt.NDArray[np.int64],
        offset: npt.NDArray[np.int64],
        slab: npt.NDArray[np.int64],
        index: npt.NDArray[np.int64],
    ) -> None:
        """Slab and entry of each hit's page from its segment and offset (a miss reads the
        sentinel: slab -1, base 0, so ``index = 0 + (-1)``)."""
        if self.backed == "none":
            slab.fill(-1)
            index.fill(-1)
            return
        self.slab.take(segment, out=slab, mode="wrap")
        self.base.take(segment, out=index, mode="wrap")
        index += offset
        if self.backed == "some":
            index[slab < 0] = -1


def _as_addresses(addresses: npt.ArrayLike) -> tuple[npt.NDArray[np.uint64], tuple[int, ...]]:
    """Flatten ``addresses`` into uint64 (``paddr_t``) and remember the shape: negative
    integers wrap to 64 bits, Python ints beyond 64 bits become the highest address (misses,
    as per call)."""
    arr = np.asarray(addresses)
    if arr.dtype.kind in "iu":
        flat = arr.astype(np.uint64, copy=False).ravel()
    elif arr.dtype.kind == "O":
        flat = np.fromiter(
            (min(operator.index(a), _ADDRESS_MASK) & _ADDRESS_MASK for a in arr.ravel()),
            dtype=np.uint64,
            count=arr.size,
        )
    elif arr.size == 0:
        flat = np.zeros(0, dtype=np.uint64)
    else:
        raise TypeError(f"addresses must be integers, not {arr.dtype}")
    return flat, arr.shape
