"""Turn a memory map into the ``uvm_page_physload()`` calls NetBSD's x86 boot code would make.

Pure data: this module only computes a :class:`BootPlan`; loading it is
``for load in plan.loads: kernel.uvm_page_physload(*load.args())``.

The steps follow ``sys/arch/x86/x86/x86_machdep.c`` (NetBSD 8 and later):

1. ``x86_parse_clusters``: walk the map in firmware order (top-level ranges only). Types
   other than Memory (1), ACPI (3) and NVS (4) are skipped, so are entries smaller than a page.
   An entry that overlaps the ISA hole ``[IOM_BEGIN, IOM_END)`` = ``[0xa0000, 0x100000)`` gets
   a warning and is added as the parts below and above it.
2. ``x86_add_cluster``, for each part: an entry ending above ``MAXPHYSMEM`` (16 TiB on amd64)
   is skipped with a warning; one ending exactly there loses its last page. An entry equal,
   after rounding, to a cluster already taken is a duplicate and skipped. The part below
   ``MAXIOMEM + 1`` (2**48) is then allocated from the ``iomem`` extent (``bus_space.c``: fixed
   storage for 64 region descriptors, no coalescing); if that fails (it overlaps an earlier
   entry, or the descriptors are used up) the entry is skipped with a warning. ACPI and NVS
   entries stop here: they only claim address space. A Memory entry becomes a cluster,
   start rounded up and end rounded down to pages, unless ``VM_PHYSSEG_MAX`` clusters exist
   already: then "too many memory segments (increase VM_PHYSSEG_MAX)" and the walk stops,
   ignoring the rest of the map. ``avail_end`` is the highest cluster end.
3. ``init_x86_vm``: every free list whose limit lies above ``avail_end`` is folded into
   ``VM_FREELIST_DEFAULT``. Clusters are loaded in order, skipping memory below
   ``lowmem_rsvd`` (amd64 ``init_x86_64``: 8 pages - BIOS data, BIOS callback, MP trampoline,
   ACPI wakeup, and the bootstrap page tables; i386 keeps 6), and split around the kernel
   image ``[pa_kstart, pa_kend)`` when a cluster holds it entirely.
4. ``x86_load_region``: each piece is cut at the free-list limits, lowest first (16 MiB, 1 GiB,
   4 GiB, 64 GiB, 1 TiB as far as the table has them); the part below a limit goes on that list,
   the rest on ``VM_FREELIST_DEFAULT``. Every load has ``avail == [start, end)``.

Free lists. ``x86_freelists[]`` is built from the ``VM_FREELIST_*`` the port defines. Current
amd64 (``sys/arch/amd64/include/vmparam.h``) has six, ``DEFAULT=0, FIRST1T=1, FIRST64G=2,
FIRST4G=3, FIRST1G=4, FIRST16=5`` (:data:`AMD64_FREELISTS`). The default here is
:data:`ATF_FREELISTS`, the four lists of NetBSD's ATF tests (``tests/sys/uvm/t_uvm_physseg.c``)
and of older amd64 releases, ``DEFAULT=0, FIRST4G=1, FIRST1G=2, FIRST16=3``, matching the
engine's default ``nfreelist=4``.

One more limit, not in ``x86_machdep.c``: if the loads outnumber ``physseg_max``,
``uvm_page_physload`` would panic on the first one that does not fit; the plan keeps the first
``physseg_max`` and says so in ``warnings``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from physseg.memmap.model import MemMap, RangeKind

VM_FREELIST_DEFAULT = 0
VM_FREELIST_FIRST4G = 1
VM_FREELIST_FIRST1G = 2
VM_FREELIST_FIRST16 = 3
VM_NFREELIST = 4
"""The free-list numbers of :data:`ATF_FREELISTS` (the engine's default ``nfreelist``)."""

IOM_BEGIN = 0xA0000
IOM_END = 0x100000
"""The ISA hole ``[IOM_BEGIN, IOM_END)`` (``sys/arch/x86/include/isa_machdep.h``)."""
AMD64_MAXPHYSMEM = 0x1000_0000_0000
"""``MAXPHYSMEM`` on amd64 (16 TiB, ``sys/arch/amd64/include/param.h``)."""
AMD64_MAXIOMEM = 0xFFFF_FFFF_FFFF
"""``MAXIOMEM`` on amd64: the end (inclusive) of the ``iomem`` extent."""
AMD64_VM_PHYSSEG_MAX = 64
"""``VM_PHYSSEG_MAX`` on current amd64 (older releases: 32)."""
AMD64_LOWMEM_RSVD_PAGES = 8
"""Pages below ``lowmem_rsvd`` on amd64 (``init_x86_64``)."""
IOMEM_EXTENT_REGIONS = 64
"""Region descriptors in the ``iomem`` extent's fixed storage (``x86/bus_space.c``)."""

_GIB = 1 << 30
_BIM_MEMORY, _BIM_ACPI, _BIM_NVS = 1, 3, 4


@dataclass(frozen=True, slots=True)
class FreeList:
    """One ``x86_freelists[]`` entry: the ``VM_FREELIST_*`` name, its number (the
    ``free_list`` argument of ``uvm_page_physload``) and its limit (a byte address: pages
    below it belong on the list; 0 for ``VM_FREELIST_DEFAULT``)."""

    name: str
    index: int
    limit: int


@dataclass(frozen=True, slots=True)
class FreeListTable:
    """An ``x86_freelists[]`` table: ``VM_FREELIST_DEFAULT`` first (limit 0), then the other
    lists by decreasing limit, as in ``x86_machdep.c``; ``nfreelist`` is ``VM_NFREELIST``.

    Raises ``ValueError`` if the first entry is not a limit-0 default, the other limits are not
    positive and strictly decreasing, or the numbers are not distinct and below ``nfreelist``.
    """

    entries: tuple[FreeList, ...]
    nfreelist: int

    def __post_init__(self) -> None:
        if not self.entries or self.entries[0].limit != 0:
            raise ValueError("the first free list must be the default one, with limit 0")
        limits = [e.limit for e in self.entries[1:]]
        if any(b >= a for a, b in itertools.pairwise(limits)) or any(x <= 0 for x in limits):
            raise ValueError("free-list limits must be positive and strictly decreasing")
        indices = [e.index for e in self.entries]
        if len(set(indices)) != len(indices) or not all(0 <= i < self.nfreelist for i in indices):
            raise ValueError(f"free-list numbers must be distinct and below {self.nfreelist}")

    @property
    def default(self) -> FreeList:
        """The ``VM_FREELIST_DEFAULT`` entry."""
        return self.entries[0]

    def by_name(self, name: str) -> FreeList:
        """The entry called ``name`` (e.g. ``"VM_FREELIST_FIRST16"``); ``KeyError`` if none."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)


ATF_FREELISTS = FreeListTable(
    (
        FreeList("VM_FREELIST_DEFAULT", VM_FREELIST_DEFAULT, 0),
        FreeList("VM_FREELIST_FIRST4G", VM_FREELIST_FIRST4G, 4 * _GIB),
        FreeList("VM_FREELIST_FIRST1G", VM_FREELIST_FIRST1G, _GIB),
        FreeList("VM_FREELIST_FIRST16", VM_FREELIST_FIRST16, 16 << 20),
    ),
    VM_NFREELIST,
)
"""Four lists, numbered as in the ATF tests and the engine's default (``nfreelist=4``)."""

AMD64_FREELISTS = FreeListTable(
    (
        FreeList("VM_FREELIST_DEFAULT", 0, 0),
        FreeList("VM_FREELIST_FIRST1T", 1, 1024 * _GIB),
        FreeList("VM_FREELIST_FIRST64G", 2, 64 * _GIB),
        FreeList("VM_FREELIST_FIRST4G", 3, 4 * _GIB),
        FreeList("VM_FREELIST_FIRST1G", 4, _GIB),
        FreeList("VM_FREELIST_FIRST16", 5, 16 << 20),
    ),
    6,
)
"""Current amd64: six lists (needs an engine built with ``nfreelist=6``)."""


@dataclass(frozen=True, slots=True)
class PhysLoad:
    """The arguments of one ``uvm_page_physload`` call, in page frame numbers
    (end-exclusive) and the free-list number."""

    start_pfn: int
    end_pfn: int
    avail_start_pfn: int
    avail_end_pfn: int
    free_list: int

    def args(self) -> tuple[int, int, int, int, int]:
        """``(start, end, avail_start, avail_end, free_list)`` in the C argument order."""
        return (
            self.start_pfn,
            self.end_pfn,
            self.avail_start_pfn,
            self.avail_end_pfn,
            self.free_list,
        )

    @property
    def npages(self) -> int:
        """Pages in ``[start_pfn, end_pfn)``."""
        return self.end_pfn - self.start_pfn


WARNING_SUMMARIES = {
    "isa-hole": "overlap the ISA hole [0xa0000-0x100000): only their parts outside it are used",
    "above-maxphysmem": "skipped: they end above MAXPHYSMEM",
    "duplicate": "skipped: duplicates of an earlier entry",
    "descriptors-used-up": "skipped: the iomem extent's region descriptors are used up",
    "overlaps-earlier": "skipped: they overlap an earlier entry in the iomem extent",
    "too-many-segments": "ignored: VM_PHYSSEG_MAX clusters already",
    "too-many-loads": "dropped: more uvm_page_physload calls than VM_PHYSSEG_MAX",
}
"""Warning code to what a repeated warning says of all its entries."""


@dataclass(slots=True)
class BootWarning:
    """One kind of warning the boot code would print, with how many map entries drew it:
    ``code`` (a key of :data:`WARNING_SUMMARIES`), ``message`` (the first occurrence, in our
    words), ``count`` and ``first_line``, the source line of the first entry that drew it
    (0: unknown, e.g. a map built in Python). ``str()`` is the message for one entry (with
    its line), else one summary line: ``"12,345 entries skipped: ...; first at line 65: ..."``.
    """

    code: str
    message: str
    count: int = 1
    first_line: int = 0

    def __str__(self) -> str:
        where = f"line {self.first_line}" if self.first_line else "map entry"
        if self.count == 1:
            return f"{self.message} ({where})" if self.first_line else self.message
        return (
            f"{self.count:,} entries {WARNING_SUMMARIES[self.code]}; first at {where}: "
            f"{self.message}"
        )


@dataclass(slots=True)
class BootPlan:
    """What NetBSD's x86 boot code would do with a map: ``loads`` (the ``uvm_page_physload``
    calls in order), ``notices`` (what it would print, one :class:`BootWarning` per kind,
    counted, in the order each kind first appeared), ``clusters``
    (``mem_clusters[]`` as byte ranges ``[start, end)``), ``avail_end`` (bytes) and
    ``freelists``, each list's number after ``init_x86_vm`` folded the lists whose limit lies
    above ``avail_end`` into the default one."""

    loads: list[PhysLoad]
    notices: list[BootWarning]
    clusters: list[tuple[int, int]]
    avail_end: int
    freelists: dict[str, int]
    page_shift: int = 12

    @property
    def warnings(self) -> list[str]:
        """The notices as text, one line per kind (a repeated warning summarised with its
        count and first line). O(kinds)."""
        return [str(notice) for notice in self.notices]

    @property
    def npages(self) -> int:
        """Pages handed to UVM by all the loads."""
        return sum(load.npages for load in self.loads)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (addresses and PFNs in hex)."""
        return {
            "page_shift": self.page_shift,
            "avail_end": f"{self.avail_end:#x}",
            "clusters": [[f"{s:#x}", f"{e:#x}"] for s, e in self.clusters],
            "loads": [
                {
                    "start_pfn": f"{ld.start_pfn:#x}",
                    "end_pfn": f"{ld.end_pfn:#x}",
                    "avail_start_pfn": f"{ld.avail_start_pfn:#x}",
                    "avail_end_pfn": f"{ld.avail_end_pfn:#x}",
                    "free_list": ld.free_list,
                }
                for ld in self.loads
            ],
            "npages": self.npages,
            "freelists": dict(self.freelists),
            "warnings": self.warnings,
            "warning_counts": {n.code: n.count for n in self.notices},
        }


def _hex_range(start: int, end: int) -> str:
    return f"[{start:#x}-{end:#x})"


@dataclass(slots=True)
class _Clusters:
    """``x86_add_cluster``'s state: the clusters, the iomem extent's regions (disjoint, as
    sorted starts and their ends), the warnings counted by kind."""

    page_size: int
    physseg_max: int
    max_physmem: int
    iomem_end: int
    iomem_regions: int | None
    clusters: list[tuple[int, int]] = field(default_factory=list)
    cluster_set: set[tuple[int, int]] = field(default_factory=set)
    claimed_starts: list[int] = field(default_factory=list)
    claimed_ends: list[int] = field(default_factory=list)
    notices: dict[str, BootWarning] = field(default_factory=dict)
    line_no: int = 0

    def warn(self, code: str, message: Callable[[], str]) -> None:
        """Count a warning of kind ``code``; only the first one's text is made and kept."""
        notice = self.notices.get(code)
        if notice is None:
            self.notices[code] = BootWarning(code, message(), 1, self.line_no)
        else:
            notice.count += 1

    def round_up(self, pa: int) -> int:
        return -(-pa // self.page_size) * self.page_size

    def round_down(self, pa: int) -> int:
        return pa // self.page_size * self.page_size

    def overlaps_claimed(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` overlaps a region of the iomem extent. O(log r)."""
        at = bisect.bisect_right(self.claimed_starts, start)
        if at and self.claimed_ends[at - 1] > start:
            return True
        return at < len(self.claimed_starts) and self.claimed_starts[at] < end

    def add(self, start: int, end: int, bim: int) -> bool:
        """One ``x86_add_cluster`` call; False means "stop parsing" (the table is full).
        O(log r) for r iomem regions."""
        if end > self.max_physmem:
            self.warn(
                "above-maxphysmem",
                lambda: (
                    f"skipping large {_what(start, end, bim)}: it ends above MAXPHYSMEM "
                    f"{self.max_physmem:#x}"
                ),
            )
            return True
        if end == self.max_physmem:
            end -= self.page_size
        if end <= start:
            return True
        rounded = (self.round_up(start), self.round_down(end))
        if rounded in self.cluster_set:
            self.warn("duplicate", lambda: f"skipping duplicate {_what(start, end, bim)}")
            return True
        if start < self.iomem_end:
            io_end = min(end, self.iomem_end)
            if self.iomem_regions is not None and len(self.claimed_starts) >= self.iomem_regions:
                self.warn(
                    "descriptors-used-up",
                    lambda: (
                        f"cannot allocate {_what(start, end, bim)} from the iomem extent: its "
                        f"{self.iomem_regions} region descriptors are used up; skipped"
                    ),
                )
                return True
            if self.overlaps_claimed(start, io_end):
                self.warn(
                    "overlaps-earlier",
                    lambda: (
                        f"cannot allocate {_what(start, end, bim)} from the iomem extent: it "
                        "overlaps an earlier entry; skipped"
                    ),
                )
                return True
            at = bisect.bisect_right(self.claimed_starts, start)
            self.claimed_starts.insert(at, start)
            self.claimed_ends.insert(at, io_end)
        if bim != _BIM_MEMORY:
            return True
        if len(self.clusters) >= self.physseg_max:
            self.warn(
                "too-many-segments",
                lambda: (
                    f"too many memory segments: {self.physseg_max} clusters already, "
                    f"{_what(start, end, bim)} and the rest of the map are ignored "
                    "(increase VM_PHYSSEG_MAX)"
                ),
            )
            return False
        if rounded[0] < rounded[1]:
            self.clusters.append(rounded)
            self.cluster_set.add(rounded)
        return True


def _what(start: int, end: int, bim: int) -> str:
    return f"memory map entry {_hex_range(start, end)} (type {bim})"


def _isa_message(start: int, end: int, bim: int) -> str:
    return (
        f"memory map entry {_hex_range(start, end)} (type {bim}) overlaps the ISA hole "
        f"{_hex_range(IOM_BEGIN, IOM_END)}: only the parts outside it are used"
    )


def _parse_clusters(memmap: MemMap, state: _Clusters) -> None:
    """``x86_parse_clusters``: fill ``state`` from the map's top-level ranges. O(n log r)."""
    page_size = state.page_size
    usable, acpi, nvs = RangeKind.USABLE, RangeKind.ACPI_DATA, RangeKind.ACPI_NVS
    for start, end, kind, depth, line_no in memmap.table.rows():
        # identity tests: hashing an enum member runs Python code, millions of times here
        if kind is usable:
            bim = _BIM_MEMORY
        elif kind is acpi:
            bim = _BIM_ACPI
        elif kind is nvs:
            bim = _BIM_NVS
        else:
            continue
        if depth != 0 or end - start < page_size:
            continue
        state.line_no = line_no
        if start < IOM_END and end > IOM_BEGIN:
            state.warn("isa-hole", functools.partial(_isa_message, start, end, bim))
            if not state.add(start, IOM_BEGIN, bim) or not state.add(IOM_END, end, bim):
                return
        elif not state.add(start, end, bim):
            return


def _load_region(
    start: int, end: int, limits: list[tuple[int, int]], default: int, page_shift: int
) -> list[PhysLoad]:
    """``x86_load_region``: cut ``[start, end)`` at the ascending ``(limit, free_list)``
    pairs, the rest going on ``default``."""
    loads: list[PhysLoad] = []
    for limit, free_list in limits:
        if limit <= start:
            continue
        cut = min(limit, end)
        if cut == start:
            continue
        loads.append(_physload(start, cut, free_list, page_shift))
        start = cut
    if start != end:
        loads.append(_physload(start, end, default, page_shift))
    return loads


def _physload(start: int, end: int, free_list: int, page_shift: int) -> PhysLoad:
    first, last = start >> page_shift, end >> page_shift
    return PhysLoad(first, last, first, last, free_list)


def plan_boot(
    memmap: MemMap,
    page_shift: int = 12,
    physseg_max: int = AMD64_VM_PHYSSEG_MAX,
    *,
    freelists: FreeListTable = ATF_FREELISTS,
    lowmem_rsvd_pages: int = AMD64_LOWMEM_RSVD_PAGES,
    kernel: tuple[int, int] | None = None,
    max_physmem: int = AMD64_MAXPHYSMEM,
    iomem_end: int = AMD64_MAXIOMEM + 1,
    iomem_regions: int | None = IOMEM_EXTENT_REGIONS,
) -> BootPlan:
    """The ``uvm_page_physload`` calls NetBSD's x86 boot code makes for ``memmap`` (see the
    module docstring for the rules and their sources). O(n log r + c·f) for ``n`` map ranges,
    ``c`` clusters, ``r`` iomem regions and ``f`` free lists: linear in practice. Warnings
    are counted per kind (:class:`BootWarning`), so a map of millions of skipped entries
    yields one summary line, not millions.

    ``kernel`` is the kernel image ``(pa_kstart, pa_kend)`` in bytes, page aligned (amd64
    loads it at 0x200000; ``pa_kend`` is ``first_avail``, past the bootstrap tables); ``None``
    leaves no hole for it. ``max_physmem`` is ``MAXPHYSMEM``, ``iomem_end`` is ``MAXIOMEM + 1``
    (bytes) and ``iomem_regions`` the iomem extent's descriptors (``None``: unlimited); the
    defaults are amd64's.
    Raises ``ValueError`` for a ``page_shift`` outside 12..24, ``physseg_max < 1``, a negative
    ``lowmem_rsvd_pages``, an unaligned or empty ``kernel`` range, or a ``max_physmem`` or
    free-list limit that is not a multiple of the page size.
    """
    if not 12 <= page_shift <= 24:
        raise ValueError(f"page_shift {page_shift} is outside 12..24")
    page_size = 1 << page_shift
    if any(e.limit % page_size for e in freelists.entries):
        raise ValueError(f"a free-list limit is not a multiple of the page size {page_size:#x}")
    if physseg_max < 1:
        raise ValueError(f"physseg_max must be at least 1, not {physseg_max}")
    if lowmem_rsvd_pages < 0:
        raise ValueError(f"lowmem_rsvd_pages must not be negative, not {lowmem_rsvd_pages}")
    if max_physmem <= 0 or max_physmem % page_size:
        raise ValueError(f"max_physmem {max_physmem:#x} is not a positive page multiple")
    if kernel is not None:
        k_start, k_end = kernel
        if not 0 <= k_start < k_end or k_start % page_size or k_end % page_size:
            raise ValueError(f"kernel range {_hex_range(k_start, k_end)} is empty or unaligned")

    state = _Clusters(page_size, physseg_max, max_physmem, iomem_end, iomem_regions)
    _parse_clusters(memmap, state)
    avail_end = max((end for _, end in state.clusters), default=0)

    default = freelists.default.index
    folded = {e.name: e.index if avail_end >= e.limit else default for e in freelists.entries}
    limits = sorted(
        (e.limit, folded[e.name]) for e in freelists.entries if folded[e.name] != default
    )

    lowmem_rsvd = lowmem_rsvd_pages * page_size
    loads: list[PhysLoad] = []
    for seg_start, seg_end in state.clusters:
        if seg_end <= lowmem_rsvd:
            continue
        seg_start = max(seg_start, lowmem_rsvd)
        pieces = [(seg_start, seg_end)]
        if kernel is not None and seg_start <= kernel[0] and kernel[1] <= seg_end:
            pieces = [(seg_start, kernel[0]), (kernel[1], seg_end)]
        for start, end in pieces:
            if start != end:
                loads.extend(_load_region(start, end, limits, default, page_shift))

    if len(loads) > physseg_max:
        state.line_no = 0
        state.warn(
            "too-many-loads",
            lambda: (
                f"{len(loads)} uvm_page_physload calls but VM_PHYSSEG_MAX is {physseg_max}: "
                f"NetBSD would panic at call {physseg_max + 1}; the plan keeps the first "
                f"{physseg_max}"
            ),
        )
        del loads[physseg_max:]
    notices = list(state.notices.values())
    return BootPlan(loads, notices, state.clusters, avail_end, folded, page_shift)
