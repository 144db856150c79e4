"""physseg: a userspace model of NetBSD's uvm_hotplug(9) physical-memory segment manager.

Two faces on one engine: :class:`physseg.PhysMem` (Pythonic, validated, thread-safe) and
:class:`physseg.netbsd.Kernel` (the C API one-to-one, panics included).
"""

from __future__ import annotations

from physseg.core.pages import Page
from physseg.errors import (
    BootPhaseError,
    CapacityError,
    InvalidArgumentError,
    KernelAssertionError,
    KernelHang,
    KernelPanic,
    LastSegmentError,
    OutOfMemoryError,
    PagesBusyError,
    PhysSegError,
    RangeNotManagedError,
    RangeOverlapError,
    StaleSegmentError,
    UnsupportedOperationError,
)
from physseg.physmem import PhysMem, Segment, Snapshot

__version__ = "0.1.0"

__all__ = [
    "BootPhaseError",
    "CapacityError",
    "InvalidArgumentError",
    "KernelAssertionError",
    "KernelHang",
    "KernelPanic",
    "LastSegmentError",
    "OutOfMemoryError",
    "Page",
    "PagesBusyError",
    "PhysMem",
    "PhysSegError",
    "RangeNotManagedError",
    "RangeOverlapError",
    "Segment",
    "Snapshot",
    "StaleSegmentError",
    "UnsupportedOperationError",
    "__version__",
]
