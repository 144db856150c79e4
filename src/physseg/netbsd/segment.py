"""The segment record (``struct uvm_physseg``) and the slab extent its page array comes from."""

from __future__ import annotations

from typing import Any

from physseg.core.extent import Extent
from physseg.core.pages import Page, Slab
from physseg.core.rbtree import RBNode


class PmapPhysseg:
    """The machine-dependent ``struct pmap_physseg`` embedded in every segment.

    The ATF tests define it as ``{ int dummy_variable; }``; physseg does the same.
    """

    __slots__ = ("dummy_variable",)

    def __init__(self) -> None:
        self.dummy_variable: int | bool = 0


class SlabExtent:
    """An extent(9) carving one page-array slab: extent units are entry indices of ``slab``.

    ``members`` counts the live segments whose ``ext`` is this object (the kernel recounts
    them by walking every segment; physseg keeps the count).
    """

    __slots__ = ("boot", "extent", "members", "slab")

    def __init__(self, extent: Extent, slab: Slab, *, boot: bool) -> None:
        self.extent = extent
        self.slab = slab
        self.boot = boot
        self.members = 0

    def __repr__(self) -> str:
        return f"SlabExtent({self.extent.name!r}, {self.slab!r}, members={self.members})"


class Segment(RBNode):
    """One physical segment: ``struct uvm_physseg``.

    PFN fields, ends exclusive: ``[start, end)`` is the span, ``[avail_start, avail_end)`` the
    pages given to UVM. ``pgs`` points at the ``vm_page`` of PFN ``start`` (``None`` = NULL),
    ``ext`` is the slab extent ``pgs`` was carved from. ``pool_slot`` is the index in the boot
    static pool, or -1 for a record from the run-time allocator. All fields are writable, as in
    C; the engine's own paths keep its indexes in step.
    """

    __slots__ = (
        "avail_end",
        "avail_start",
        "end",
        "ext",
        "free_list",
        "pgs",
        "pmseg",
        "pool_slot",
        "start",
        "start_hint",
    )

    def __init__(self, pool_slot: int = -1) -> None:
        super().__init__()
        self.pool_slot = pool_slot
        self.start = 0
        self.end = 0
        self.avail_start = 0
        self.avail_end = 0
        self.pgs: Page | None = None
        self.ext: SlabExtent | None = None
        self.free_list = 0
        self.start_hint = 0
        self.pmseg = PmapPhysseg()

    def zero(self) -> None:
        """``memset(seg, 0, sizeof *seg)`` on the record's fields (not its tree linkage)."""
        self.start = self.end = self.avail_start = self.avail_end = 0
        self.pgs = None
        self.ext = None
        self.free_list = 0
        self.start_hint = 0
        self.pmseg = PmapPhysseg()

    def is_pristine(self) -> bool:
        """Whether every field is as ``Segment()`` leaves it (zeros, NULL pointers, an int 0 in
        ``pmseg``). O(1)."""
        dummy = self.pmseg.dummy_variable
        return (
            self.start == self.end == self.avail_start == self.avail_end == 0
            and self.pgs is None
            and self.ext is None
            and self.free_list == 0
            and self.start_hint == 0
            and type(dummy) is int
            and dummy == 0
        )

    def copy_from(self, other: Segment) -> None:
        """Structure copy ``*self = *other`` of the fields (the static array's shifting)."""
        self.start = other.start
        self.end = other.end
        self.avail_start = other.avail_start
        self.avail_end = other.avail_end
        self.pgs = other.pgs
        self.ext = other.ext
        self.free_list = other.free_list
        self.start_hint = other.start_hint
        self.pmseg = PmapPhysseg()
        self.pmseg.dummy_variable = other.pmseg.dummy_variable

    def save(self) -> tuple[Any, ...]:
        """The record's fields (not its tree linkage), for :meth:`restore`. O(1)."""
        return (*(getattr(self, name) for name in _SAVED_FIELDS), self.pmseg.dummy_variable)

    def restore(self, fields: tuple[Any, ...]) -> None:
        """Write back the fields :meth:`save` took (``pgs`` and ``ext`` are the same objects
        again, and so is the embedded ``pmseg``). O(1)."""
        *values, dummy = fields
        for name, value in zip(_SAVED_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.pmseg.dummy_variable = dummy

    def __repr__(self) -> str:
        return (
            f"Segment([{self.start:#x}, {self.end:#x}) avail [{self.avail_start:#x}, "
            f"{self.avail_end:#x}) free_list={self.free_list})"
        )


_SAVED_FIELDS = (
    "start",
    "end",
    "avail_start",
    "avail_end",
    "pgs",
    "ext",
    "free_list",
    "start_hint",
    "pmseg",
)
"""The fields :meth:`Segment.save` copies (``pmseg`` first by identity, then its value)."""
