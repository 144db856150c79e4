"""The NetBSD face: ``uvm_physseg``'s C API one-to-one (see ``docs/netbsd-api.md``)."""

from __future__ import annotations

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
from physseg.netbsd.kernel import Kernel
from physseg.netbsd.rbtree_build import RBTreeKernel
from physseg.netbsd.static_build import StaticKernel

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
]
