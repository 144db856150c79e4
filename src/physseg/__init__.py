"""physseg: a userspace model of NetBSD's uvm_hotplug(9) physical-memory segment manager."""

from __future__ import annotations

from physseg.errors import KernelAssertionError, KernelPanic

__version__ = "0.1.0"

__all__ = ["KernelAssertionError", "KernelPanic", "__version__"]
