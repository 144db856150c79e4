"""Typed errors of physseg.

Two families live here:

* ``KernelPanic`` and ``KernelAssertionError`` model the kernel's ``panic()`` and a failed
  ``KASSERT()``. Only the NetBSD face (:mod:`physseg.netbsd`) raises them; the state after
  either is whatever the kernel's would be at that point.
* ``PhysSegError`` and its subclasses are what the Pythonic face (:class:`physseg.PhysMem`)
  raises for bad input. Every message names the range and the reason, and the state is left
  exactly as it was before the call.

The extent manager has its own ``ExtentError`` family, mirroring extent(9)'s error numbers.
"""

from __future__ import annotations


class KernelPanic(Exception):
    """The kernel called ``panic()``; the message is the kernel's."""


class KernelAssertionError(AssertionError):
    """A ``KASSERT()`` failed (the tests build with DIAGNOSTIC); the message is the condition."""


class PhysSegError(Exception):
    """Base class of every error the Pythonic face raises for a call it refuses."""


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
