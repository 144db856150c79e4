"""Every exception type of physseg, with the fields it carries and the message rendered from them.

Three families live here:

* ``KernelPanic`` and ``KernelAssertionError`` model the kernel's ``panic()`` and a failed
  ``KASSERT()``. Only the engine (:mod:`physseg.netbsd`) raises them; the state after either is
  whatever the kernel's would be at that point. Each carries a :class:`Reason` code beside the
  kernel's own text, so a caller that needs to know *why* reads ``exc.reason``.
  ``KernelHang`` is the third kernel abort: a call the kernel would never return from (it
  loops for ~2**57 iterations, quirk 38). The engine raises it with the kernel as it was before
  the call (what the call had done so far is rolled back).
* ``PhysSegError`` and its subclasses are what the Pythonic face (:class:`physseg.PhysMem`) and
  the policies over it raise for a call they refuse; the state is left exactly as it was.
  Each carries the operation, the range in PFNs and the page shift, a :class:`Reason` and the
  values the reason needs; the message is rendered from those fields, in page frame numbers
  (``str(exc)``) or in byte addresses (``str(exc.in_bytes())``). No code parses a message.
* ``ExtentError`` and its subclasses mirror extent(9)'s error numbers; a failed call leaves
  the extent unchanged.

``ImageError`` stands apart: an engine image (``physseg.netbsd.image``) was refused, naming the
part of the image (``what``) and why (``reason``).

>>> err = RangeNotManagedError("unplug", Reason.IN_HOLE, pfn=0x40, npages=1, page_shift=12)
>>> str(err)
'unplug [0x40, 0x41): pfn 0x40 is in a hole'
>>> str(err.in_bytes())
'unplug [0x40000, 0x41000): address 0x40000 is in a hole'
>>> err.reason is Reason.IN_HOLE, err.pfn, err.npages
(True, 64, 1)
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from typing import Any, Final


class Reason(enum.Enum):
    """Why a call was refused or the kernel aborted; the value is a stable short code."""

    # --- kernel aborts (KernelPanic / KernelAssertionError)
    PANIC = "panic"
    """A kernel ``panic()`` with no more specific code (its text says which)."""
    KASSERT = "kassert"
    """A failed ``KASSERT()`` with no more specific code (its condition says which)."""
    NULL_DEREFERENCE = "null-dereference"
    """The kernel would dereference a NULL pointer (a NULL handle, a missing page array)."""
    BOOT_POOL_EXHAUSTED = "boot-pool-exhausted"
    """A boot-time record was needed and all ``VM_PHYSSEG_MAX`` boot pool slots are used."""
    LAST_SEGMENT = "last-segment"
    """Removing the last segment: the kernel panics "out of memory!"."""
    BOOT_PAGE_ARRAY_OOM = "boot-page-array-oom"
    """``uvm_pageboot_alloc`` found no free page to steal for the page array."""
    EXTENT_ALLOC_FAILED = "extent-alloc-failed"
    """An extent header or descriptor allocation failed where the kernel KASSERTs success."""
    KERNEL_HANG = "kernel-hang"
    """The kernel would never return from the call (``KernelHang``, quirk 38)."""
    # --- refusals of the Pythonic face and the policies over it (PhysSegError)
    NOT_AN_INT = "not-an-int"
    TOO_SMALL = "too-small"
    TOO_LARGE = "too-large"
    BEYOND_ADDRESS_SPACE = "beyond-address-space"
    NOT_PAGE_ALIGNED = "not-page-aligned"
    EMPTY_SPAN = "empty-span"
    AVAIL_OUTSIDE_SPAN = "avail-outside-span"
    NO_SUCH_FREE_LIST = "no-such-free-list"
    NEEDS_BOOT = "needs-boot"
    BOOT_ONLY = "boot-only"
    NOTHING_LOADED = "nothing-loaded"
    OVERLAP = "overlap"
    IN_HOLE = "in-hole"
    CROSSES_END = "crosses-end"
    SLOTS_FULL = "slots-full"
    SPLIT_NEEDS_SLOT = "split-needs-slot"
    WOULD_REMOVE_LAST = "would-remove-last"
    HOST_OUT_OF_MEMORY = "host-out-of-memory"
    NO_PAGE_TO_STEAL = "no-page-to-steal"
    NO_FREE_PAGE = "no-free-page"
    ALLOCATION_FAILED = "allocation-failed"
    SLAB_TOO_SMALL = "slab-too-small"
    CANNOT_HOTPLUG = "cannot-hotplug"
    CANNOT_SPLIT = "cannot-split"
    BOOT_RECORD_UNFREEABLE = "boot-record-unfreeable"
    STALE_SEGMENT = "stale-segment"
    WRONG_TYPE = "wrong-type"
    ADDRESS_OUT_OF_RANGE = "address-out-of-range"
    NEGATIVE_ADDRESS = "negative-address"
    NOT_INTEGERS = "not-integers"
    PAGES_BUSY = "pages-busy"
    NOT_ALLOCATED = "not-allocated"
    GIVEN_TWICE = "given-twice"
    NOT_MANAGED = "not-managed"
    PFN_OUT_OF_RANGE = "pfn-out-of-range"
    TOO_FEW_FREE = "too-few-free"
    BAD_VALUE = "bad-value"
    """A configuration value out of its domain; ``detail`` says which and why."""
    WOULD_HANG = "would-hang"
    """A plug the kernel would never return from: no slab has room and ``uvmexp.npages``
    (``limit``) is negative (quirk 38)."""


class KernelPanic(Exception):
    """The kernel called ``panic()``: ``message`` is the kernel's text, ``reason`` the code."""

    def __init__(self, message: str, reason: Reason = Reason.PANIC) -> None:
        super().__init__(message, reason)
        self.message = message
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class KernelAssertionError(AssertionError):
    """A ``KASSERT()`` failed (the tests build with DIAGNOSTIC): ``condition`` is the C
    condition that did not hold, ``reason`` the code."""

    def __init__(self, condition: str, reason: Reason = Reason.KASSERT) -> None:
        super().__init__(condition, reason)
        self.condition = condition
        self.reason = reason

    def __str__(self) -> str:
        return self.condition


class KernelHang(Exception):
    """The kernel would never return from ``op``: a run-time plug that no slab has room for
    needs a brand-new slab, whose loop starts at ``slabpages = (size_t)uvmexp.npages``; with
    ``npages`` negative (quirk 5) that is near 2**64 and ``kmem_zalloc(KM_NOSLEEP)`` refuses
    every size it tries for ~2**57 iterations (quirk 38). Fields: ``op``, ``pfn`` and ``pages``
    (the call's arguments, a PFN and a page count), ``npages`` (``uvmexp.npages``, in pages)
    and ``reason``; ``slabpages`` is where the loop starts. The message is rendered from them.
    The engine raises it with the kernel as it was before the call."""

    def __init__(
        self, op: str, pfn: int, pages: int, npages: int, reason: Reason = Reason.KERNEL_HANG
    ) -> None:
        super().__init__(op, pfn, pages, npages, reason)
        self.op = op
        self.pfn = pfn
        self.pages = pages
        self.npages = npages
        self.reason = reason

    @property
    def slabpages(self) -> int:
        """``(size_t)uvmexp.npages``: the first slab size the loop tries (in pages). O(1).
        Raises nothing."""
        return self.npages % (1 << 64)

    def __str__(self) -> str:
        return (
            f"{self.op}({self.pfn:#x}, {self.pages}): uvmexp.npages is {self.npages}, so the"
            f" brand-new slab loop starts at slabpages = {self.slabpages:#x} and every"
            " kmem_zalloc(KM_NOSLEEP) fails: the kernel never returns (quirk 38)"
        )


class _Units:
    """Formats the numbers of a message in page frame numbers or in byte addresses."""

    __slots__ = ("in_bytes", "shift")

    def __init__(self, shift: int, in_bytes: bool) -> None:
        self.shift = shift
        self.in_bytes = in_bytes

    def addr(self, pfn: int) -> int:
        return pfn << self.shift if self.in_bytes else pfn

    def span(self, start: int, end: int) -> str:
        return f"[{self.addr(start):#x}, {self.addr(end):#x})"

    def at(self, pfn: int) -> str:
        return f"address {pfn << self.shift:#x}" if self.in_bytes else f"pfn {pfn:#x}"


_Template = Callable[["PhysSegError", _Units], str]


def _last(e: PhysSegError, u: _Units) -> str:
    which = "" if e.segment is None else f" {u.span(*e.segment)}"
    detail = "" if e.detail is None else f" ({e.detail})"
    return f"would remove the last segment{which}{detail}"


_TEMPLATES: Final[dict[Reason, _Template]] = {
    Reason.NOT_AN_INT: lambda e, u: (
        f"{e.name} must be an int, not {type(e.value).__name__} {e.value!r}"
    ),
    Reason.TOO_SMALL: lambda e, u: f"{e.name} must be >= {e.limit}, not {e.value}",
    Reason.TOO_LARGE: lambda e, u: f"{e.name} must be <= {e.limit:#x}, not {e.value:#x}",
    Reason.BEYOND_ADDRESS_SPACE: lambda e, u: (
        f"beyond the 64-bit physical address space (max {u.at(e.limit or 0)})"
    ),
    Reason.NOT_PAGE_ALIGNED: lambda e, u: f"not page-aligned (page size {e.limit:#x})",
    # ``value``: the byte address or ``(start, end)`` byte range that is not aligned
    Reason.EMPTY_SPAN: lambda e, u: "empty span",
    Reason.AVAIL_OUTSIDE_SPAN: lambda e, u: (
        f"avail window {u.span(*(e.window or (0, 0)))} must lie inside the span and not be inverted"
    ),
    Reason.NO_SUCH_FREE_LIST: lambda e, u: (
        f"free list {e.value} does not exist (nfreelist {e.limit})"
    ),
    Reason.NEEDS_BOOT: lambda e, u: (
        "only allowed after boot()" + ("" if e.detail is None else f" ({e.detail})")
    ),
    Reason.BOOT_ONLY: lambda e, u: "only allowed before boot() (a boot-time operation)",
    Reason.NOTHING_LOADED: lambda e, u: "no memory loaded",
    Reason.OVERLAP: lambda e, u: (
        f"overlaps segment {u.span(*(e.segment or (0, 0)))} already managed"
    ),
    Reason.IN_HOLE: lambda e, u: f"{u.at(e.pfn or 0)} is in a hole",
    Reason.CROSSES_END: lambda e, u: f"crosses the end of segment {u.span(*(e.segment or (0, 0)))}",
    Reason.SLOTS_FULL: lambda e, u: (
        f"all {e.limit} boot segment slots are used (raise physseg_max)"
    ),
    Reason.SPLIT_NEEDS_SLOT: lambda e, u: (
        f"splitting a segment needs a boot segment slot and all {e.limit} are used"
        " (raise physseg_max)"
    ),
    Reason.WOULD_REMOVE_LAST: _last,
    Reason.HOST_OUT_OF_MEMORY: lambda e, u: f"the host cannot hold the page array ({e.detail})",
    Reason.NO_PAGE_TO_STEAL: lambda e, u: f"no free page left to steal ({e.detail})",
    Reason.NO_FREE_PAGE: lambda e, u: "no free page left in any segment",
    Reason.ALLOCATION_FAILED: lambda e, u: (
        "an allocation failed" if e.detail is None else f"allocation failed ({e.detail})"
    ),
    Reason.WOULD_HANG: lambda e, u: (
        f"no slab has room and uvmexp.npages is {e.limit}: the kernel would size a new slab"
        f" from (size_t){e.limit} = 2**64 - {-(e.limit or 0)} pages and never return (quirk 38)"
    ),
    Reason.SLAB_TOO_SMALL: lambda e, u: (
        f"no slab has room and a new slab is sized from uvmexp.npages ({e.limit} < {e.npages})"
    ),
    Reason.CANNOT_HOTPLUG: lambda e, u: f"the {e.detail} backend cannot hot-plug",
    Reason.CANNOT_SPLIT: lambda e, u: (
        f"the {e.detail} backend cannot split segment {u.span(*(e.segment or (0, 0)))}"
        " in the middle"
    ),
    Reason.BOOT_RECORD_UNFREEABLE: lambda e, u: (
        f"segment {u.span(*(e.segment or (0, 0)))} holds the only boot pool record, which the"
        ' kernel cannot free with physseg_max=1 (it panics "tried to free() the entire static'
        ' array!")'
    ),
    Reason.STALE_SEGMENT: lambda e, u: (
        f"segment {u.span(*(e.segment or (0, 0)))} is no longer live"
    ),
    Reason.WRONG_TYPE: lambda e, u: f"expected {e.name}, not {e.value!r}",
    Reason.ADDRESS_OUT_OF_RANGE: lambda e, u: f"address {e.value:#x} is not in [0, 2**64)",
    Reason.NEGATIVE_ADDRESS: lambda e, u: (
        f"address {e.value:#x} is negative (addresses are in [0, 2**64))"
    ),
    Reason.NOT_INTEGERS: lambda e, u: f"{e.name} must be integers, not {e.value}",
    Reason.PAGES_BUSY: lambda e, u: (
        f"page {e.page:#x} (pa {(e.page or 0) << e.page_shift:#x}) is allocated"
        f" ({e.count} busy page(s) in the range); nothing was changed"
    ),
    Reason.NOT_ALLOCATED: lambda e, u: f"page {e.page:#x} is not allocated",
    Reason.GIVEN_TWICE: lambda e, u: f"{u.at(e.page or 0)} given twice",
    Reason.NOT_MANAGED: lambda e, u: f"{u.at(e.page or 0)} is not a managed page",
    Reason.PFN_OUT_OF_RANGE: lambda e, u: f"{u.at(e.page or 0)} is out of range",
    Reason.TOO_FEW_FREE: lambda e, u: f"only {e.count} free on {e.detail}; nothing was allocated",
    Reason.BAD_VALUE: lambda e, u: f"{e.detail}",
}


class PhysSegError(Exception):
    """Base class of every error the Pythonic face (and the policies over it) raises for a
    call it refuses; the state is left exactly as it was before the call.

    Fields: ``op`` (the operation), ``reason`` (a :class:`Reason`), ``pfn`` and ``npages``
    (the range asked for, in page frames; ``None`` when the call had none), ``page_shift``
    (log2 of the page size, to render byte addresses), and the values the reason names:
    ``name`` and ``value`` (an argument), ``limit`` (a bound), ``segment`` and ``window``
    (``(start, end)`` PFN ranges), ``page`` (a PFN), ``count`` and ``detail`` (free text the
    kernel or a configuration supplied, never parsed). The message is rendered from them.
    ``NOT_PAGE_ALIGNED`` is the one reason about bytes: its ``value`` is the unaligned byte
    address or ``(start, end)`` byte range, shown as given.
    """

    op: str
    reason: Reason
    pfn: int | None
    npages: int | None
    page_shift: int
    name: str | None
    value: Any
    limit: int | None
    segment: tuple[int, int] | None
    window: tuple[int, int] | None
    page: int | None
    count: int | None
    detail: str | None
    units_in_bytes: bool

    def __init__(
        self,
        op: str,
        reason: Reason,
        *,
        pfn: int | None = None,
        npages: int | None = None,
        page_shift: int = 12,
        name: str | None = None,
        value: object = None,
        limit: int | None = None,
        segment: tuple[int, int] | None = None,
        window: tuple[int, int] | None = None,
        page: int | None = None,
        count: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(op, reason)
        self.op = op
        self.reason = reason
        self.pfn = pfn
        self.npages = npages
        self.page_shift = page_shift
        self.name = name
        self.value = value
        self.limit = limit
        self.segment = segment
        self.window = window
        self.page = page
        self.count = count
        self.detail = detail
        self.units_in_bytes = False

    def in_bytes(self) -> PhysSegError:
        """A copy of this error (same type and fields) whose message names byte addresses
        instead of page frame numbers, for people who typed bytes. O(1)."""
        twin = copy.copy(self)
        twin.units_in_bytes = True
        return twin

    def render(self, *, in_bytes: bool = False) -> str:
        """The message: ``"<op> [<range>): <why>"``, numbers in PFNs or in bytes. O(1)."""
        units = _Units(self.page_shift, in_bytes)
        head = self.op
        if self.reason is Reason.NOT_PAGE_ALIGNED:
            where = self.value
            head += (
                f" [{where[0]:#x}, {where[1]:#x})" if isinstance(where, tuple) else f" {where:#x}"
            )
        elif self.pfn is not None and self.npages is not None:
            head = f"{self.op} {units.span(self.pfn, self.pfn + self.npages)}"
        elif self.pfn is not None:
            head = f"{self.op} at {units.at(self.pfn)}"
        return f"{head}: {_TEMPLATES[self.reason](self, units)}"

    def __str__(self) -> str:
        return self.render(in_bytes=self.units_in_bytes)


class InvalidArgumentError(PhysSegError, ValueError):
    """An argument has the wrong type or an impossible value (negative, zero length, too big)."""


class RangeOverlapError(PhysSegError):
    """The range overlaps memory that is already managed."""


class RangeNotManagedError(PhysSegError):
    """The range is not (entirely) inside one managed segment: it falls in a hole or crosses
    a segment boundary."""


class LastSegmentError(PhysSegError):
    """The call would remove the last remaining segment (the kernel panics "out of memory!")."""


class BootPhaseError(PhysSegError):
    """The call is not allowed in the current phase: a boot-only call after ``boot()``, or a
    run-time call before it."""


class CapacityError(PhysSegError):
    """A fixed-size table is full (the static array's ``physseg_max`` slots, the boot pool)."""


class OutOfMemoryError(PhysSegError, MemoryError):
    """An allocation the operation needs failed (segment record, page-array slab, extent
    descriptor); nothing was changed."""


class UnsupportedOperationError(PhysSegError):
    """The backend does not support the operation (e.g. hot-plug on the static array)."""


class StaleSegmentError(PhysSegError):
    """The segment view no longer describes a live segment (it was unplugged, trimmed or
    split since the view was taken)."""


class PagesBusyError(PhysSegError):
    """Safe unplug refused: the range holds pages that are allocated."""


class CommandError(Exception):
    """An operational failure of a ``physseg`` command: printed as one line, exit status 1."""


class ExtentError(Exception):
    """Base class of extent(9) failures; a failed call leaves the extent unchanged."""


class ExtentNoSpaceError(ExtentError):
    """No free gap can hold the request (extent(9): ``EAGAIN``)."""


class ExtentNoDescriptorError(ExtentError, MemoryError):
    """No region descriptor is available (extent(9): ``ENOMEM``)."""


class ExtentRegionNotFoundError(ExtentError):
    """The range to free is not inside one allocated region (extent(9) panics
    "region not found")."""


class ExtentDestroyedError(ExtentError):
    """The extent has been destroyed and can no longer be used."""


class ImageError(ValueError):
    """An engine image was refused (``physseg.netbsd.load_image``): ``what`` names the part of
    the image (``"meta.slabs[1].npages"``, ``"arrays.flags_count"``, ``"kernel"`` for the
    rebuilt kernel's invariants), ``reason`` says what is wrong with it. The message is
    rendered from the two; nothing was built.

    >>> err = ImageError("meta.format", "format 2 is newer than this physseg (1)")
    >>> str(err)
    'image meta.format: format 2 is newer than this physseg (1)'
    >>> err.what, isinstance(err, ValueError)
    ('meta.format', True)
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what, reason)
        self.what = what
        self.reason = reason

    def __str__(self) -> str:
        return f"image {self.what}: {self.reason}"


class CComparatorError(Exception):
    """The live C comparator of ``physseg bench`` failed for one case: ``implementation`` (the
    benchmark's name for it, ``c-rbtree``), ``stage`` (``replay`` while the layout was being
    built, ``lookup`` while timing) and ``detail`` (what happened: a signal, a panic's text, an
    exit status, a time limit). The message is rendered from the three; the benchmark goes on
    without that implementation.

    >>> err = CComparatorError("c-rbtree", "replay", "killed by SIGSEGV")
    >>> str(err)
    'c-rbtree failed during replay: killed by SIGSEGV'
    >>> err.stage, err.detail
    ('replay', 'killed by SIGSEGV')
    """

    def __init__(self, implementation: str, stage: str, detail: str) -> None:
        super().__init__(implementation, stage, detail)
        self.implementation = implementation
        self.stage = stage
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.implementation} failed during {self.stage}: {self.detail}"
