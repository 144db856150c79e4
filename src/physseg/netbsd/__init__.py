"""The engine: ``uvm_physseg``'s C API one-to-one (see ``docs/netbsd-api.md``).

Importing the package registers both builds (``rbtree`` and ``static``) with :class:`Kernel`;
nothing outside this package needs to know which build a kernel is: ask its capabilities
(``can_hotplug``, ``can_split_middle``, ``can_merge``) and its questions (``segment_infos``,
``segment_at``, ``extent_infos``) instead. :func:`save_image` and :func:`load_image`
(:mod:`physseg.netbsd.image`) turn a kernel into a :class:`KernelImage` of plain data and back.
"""

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
from physseg.netbsd.image import IMAGE_FORMAT, KernelImage, load_image, save_image
from physseg.netbsd.kernel import (
    Checkpoint,
    ExtentInfo,
    Handle,
    Kernel,
    SegmentColumns,
    SegmentInfo,
    build_class,
)
from physseg.netbsd.rbtree_build import RBTreeKernel
from physseg.netbsd.static_build import StaticKernel


def make_kernel(
    backend: str = "rbtree",
    physseg_max: int = 1,
    strategy: str = "bsearch",
    nfreelist: int = 4,
    page_shift: int = 12,
    allocator: Allocator | None = None,
    *,
    lazy_pages: bool = True,
) -> Kernel:
    """``Kernel(...)`` with a precise static type: the build's subclass as a ``Kernel``.
    Raises ``ValueError`` as ``Kernel`` does."""
    return build_class(backend)(
        backend, physseg_max, strategy, nfreelist, page_shift, allocator, lazy_pages=lazy_pages
    )


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
    "IMAGE_FORMAT",
    "PADDR_INVALID",
    "VM_FREELIST_DEFAULT",
    "VM_FREELIST_FIRST1G",
    "VM_FREELIST_FIRST4G",
    "VM_FREELIST_FIRST16",
    "VM_PSTRAT_BIGFIRST",
    "VM_PSTRAT_BSEARCH",
    "VM_PSTRAT_RANDOM",
    "Checkpoint",
    "ExtentInfo",
    "Handle",
    "Kernel",
    "KernelImage",
    "RBTreeKernel",
    "SegmentColumns",
    "SegmentInfo",
    "StaticKernel",
    "load_image",
    "make_kernel",
    "save_image",
]
