"""The ATF test harness's helpers on the engine: what ``t_uvm_physseg.c`` defines around the
kernel code it includes (its ``malloc`` of page arrays and its direct ``extent_alloc`` calls),
kept apart from the engine's own calls. :class:`physseg.netbsd.Kernel` inherits them, so the
ported ATF cases call them as the C tests do: ``kernel.malloc_pages(n)``.
"""

from __future__ import annotations

from typing import Protocol

from physseg.core.pages import Page, Slab
from physseg.errors import ExtentNoDescriptorError, ExtentNoSpaceError
from physseg.netbsd.constants import EAGAIN, ENOMEM, EX_MALLOCOK
from physseg.netbsd.segment import SlabExtent


class _MakesSlabs(Protocol):
    def new_slab(self, npages: int, name: str) -> Slab: ...


class AtfHarness:
    """``malloc_pages`` and ``extent_alloc`` in vm_page units, as the ATF tests use them."""

    __slots__ = ()

    def malloc_pages(self: _MakesSlabs, n: int) -> Page:
        """A fresh zeroed array of ``n`` vm_pages (the ATF tests' ``malloc``), as the pointer
        to its first entry. O(1): zeroed memory is committed lazily. Raises ``ValueError`` for
        ``n < 0``."""
        return Page(self.new_slab(n, "malloc"), 0)

    def extent_alloc(
        self, ext: SlabExtent, size: int, alignment: int = 1, boundary: int = 0, flags: int = 0
    ) -> tuple[int, Page | None]:
        """``extent_alloc()`` in vm_page units → ``(0, page)``, ``(ENOMEM, None)`` (no
        descriptor) or ``(EAGAIN, None)`` (no space); ``page`` points at the first entry.
        O(log R) for ``alignment == 1`` and ``boundary == 0``, else O(R). Raises ``ValueError``
        for a bad size, alignment or boundary, ``ExtentDestroyedError`` for a destroyed
        extent."""
        try:
            index = ext.extent.alloc(size, alignment, boundary, malloc_ok=bool(flags & EX_MALLOCOK))
        except ExtentNoDescriptorError:
            return ENOMEM, None
        except ExtentNoSpaceError:
            return EAGAIN, None
        return 0, Page(ext.slab, index)
