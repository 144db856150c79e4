"""Batch lookups: many byte addresses → page identities in one numpy pass.

A :class:`LookupTable` is a sorted-array snapshot of a kernel's segments (starts, ends and where
each segment's page array lives). It is rebuilt lazily when the kernel's ``version`` changes, so
it is always consistent with plug and unplug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from physseg.netbsd.kernel import Kernel
    from physseg.segment import Segment


@dataclass(frozen=True, slots=True)
class PageBatch:
    """The result of a batch lookup, one entry per address.

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
    """Sorted arrays over a kernel's segments for vectorised lookups. Build O(n log n);
    lookup O(m log n) for m addresses, in numpy."""

    __slots__ = ("ends", "page_shift", "pgs_index", "segments", "slab_ident", "starts", "version")

    def __init__(self, kernel: Kernel) -> None:
        segs = sorted(kernel.segments(), key=lambda s: s.start)
        self.segments = tuple(segs)
        self.version = kernel.version
        self.page_shift = kernel.PAGE_SHIFT
        self.starts = np.fromiter((s.start for s in segs), dtype=np.int64, count=len(segs))
        self.ends = np.fromiter((s.end for s in segs), dtype=np.int64, count=len(segs))
        self.slab_ident = np.fromiter(
            (s.pgs.slab.ident if s.pgs is not None else -1 for s in segs),
            dtype=np.int64,
            count=len(segs),
        )
        self.pgs_index = np.fromiter(
            (s.pgs.index if s.pgs is not None else -1 for s in segs),
            dtype=np.int64,
            count=len(segs),
        )

    def lookup(self, addresses: npt.ArrayLike) -> PageBatch:
        """Look up byte ``addresses`` (any integer array-like). O(m log n)."""
        pfns = np.asarray(addresses, dtype=np.uint64) >> np.uint64(self.page_shift)
        pfns = pfns.astype(np.int64)
        pos = np.searchsorted(self.starts, pfns, side="right") - 1
        safe = np.maximum(pos, 0)
        hit = (pos >= 0) & (pfns < self.ends[safe]) if len(self.starts) else pos >= 0
        segment = np.where(hit, pos, -1)
        offset = np.where(hit, pfns - self.starts[safe] if len(self.starts) else 0, -1)
        slab = np.where(hit, self.slab_ident[safe] if len(self.starts) else -1, -1)
        has_pgs = hit & (slab >= 0)
        index = np.where(has_pgs, self.pgs_index[safe] + offset if len(self.starts) else 0, -1)
        slab = np.where(has_pgs, slab, -1)
        return PageBatch(segment, offset, slab, index, self.segments)


def table_for(kernel: Kernel, cache: dict[int, LookupTable]) -> LookupTable:
    """The kernel's lookup table, rebuilt when the kernel changed since ``cache`` was filled."""
    table = cache.get(0)
    if table is None or table.version != kernel.version:
        table = LookupTable(kernel)
        cache[0] = table
    return table
