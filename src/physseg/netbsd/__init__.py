"""The NetBSD face: ``uvm_physseg``'s C API one-to-one (see ``docs/netbsd-api.md``)."""

from __future__ import annotations

from physseg.core.alloc import Allocator
from physseg.netbsd.constants import (
    EAGAIN,
    ENOMEM,
    EX_BOUNDZERO,
    EX_CATCH,
    EX_EARLY,
    EX_FAST,
    EX_MALLOCOK,
    EX_NOCOALESCE,
    EX_NOWAIT,
    EX_WAITOK,
    EX_WAITSPACE,
    PADDR_INVALID,
    VM_FREELIST_DEFAULT,
    VM_FREELIST_FIRST1G,
    VM_FREELIST_FIRST4G,
    VM_FREELIST_FIRST16,
    VM_PSTRAT_BIGFIRST,
    VM_PSTRAT_BSEARCH,
    VM_PSTRAT_RANDOM,
)
from physseg.netbsd.kernel import Kernel, build_class
from physseg.netbsd.rbtree_build import RBTreeKernel
from physseg.netbsd.static_build import StaticKernel


def make_kernel(
    backend: str = "rbtree",
    physseg_max: int = 1,
    strategy: str = "bsearch",
    nfreelist: int = 4,
    page_shift: int = 12,
    allocator: Allocator | None = None,
) -> Kernel:
    """``Kernel(...)`` with a precise static type: the build's subclass as a ``Kernel``.
    Raises ``ValueError`` as ``Kernel`` does."""
    return build_class(backend)(backend, physseg_max, strategy, nfreelist, page_shift, allocator)


__all__ = [
    "EAGAIN",
    "ENOMEM",
    "EX_BOUNDZERO",
    "EX_CATCH",
    "EX_EARLY",
    "EX_FAST",
    "EX_MALLOCOK",
    "EX_NOCOALESCE",
    "EX_NOWAIT",
    "EX_WAITOK",
    "EX_WAITSPACE",
    "PADDR_INVALID",
    "VM_FREELIST_DEFAULT",
    "VM_FREELIST_FIRST1G",
    "VM_FREELIST_FIRST4G",
    "VM_FREELIST_FIRST16",
    "VM_PSTRAT_BIGFIRST",
    "VM_PSTRAT_BSEARCH",
    "VM_PSTRAT_RANDOM",
    "Kernel",
    "RBTreeKernel",
    "StaticKernel",
    "make_kernel",
]
