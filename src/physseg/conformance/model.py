"""The model side of the lockstep: :class:`physseg.netbsd.Kernel` behind the observer's
:class:`~physseg.conformance.observe.Machine` interface, and its aborts as data."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from physseg.conformance.observe import PageState
from physseg.core.pages import PG_FREE, Page
from physseg.errors import KernelAssertionError, KernelPanic
from physseg.netbsd import Kernel

ABORTS: tuple[type[BaseException], ...] = (KernelPanic, KernelAssertionError)
"""What the model raises where the kernel would stop: a panic, a failed KASSERT, a call that
would never return."""


def abort_kind(exc: BaseException) -> str:
    """``panic``, ``kassert`` or ``hang`` for an exception of :data:`ABORTS`. O(1)."""
    return "kassert" if isinstance(exc, KernelAssertionError) else "panic"


def _page(page: Page | None) -> PageState | None:
    if page is None:
        return None
    return (page.slab.ident, page.index, page.phys_addr, bool(page.flags & PG_FREE))


class ModelMachine:
    """The model kernel ``kernel`` as a conformance machine (raw handles are the kernel's)."""

    __slots__ = ("kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def boot(self) -> None:
        """Nothing: a fresh kernel is booted (page size set, ``uvm_physseg_init`` done)."""

    def physload(self, start: int, end: int, avail_start: int, avail_end: int, fl: int) -> object:
        """``uvm_page_physload``. Raises the kernel's aborts."""
        return self.kernel.uvm_page_physload(start, end, avail_start, avail_end, fl)

    def plug(self, pfn: int, pages: int) -> tuple[bool, object]:
        """``uvm_physseg_plug``. Raises the kernel's aborts."""
        return self.kernel.uvm_physseg_plug(pfn, pages)

    def unplug(self, pfn: int, pages: int) -> bool:
        """``uvm_physseg_unplug``. Raises the kernel's aborts."""
        return self.kernel.uvm_physseg_unplug(pfn, pages)

    def physunload(self, h: Any, fl: int, force: bool) -> tuple[bool, int | None]:
        """``uvm_page_physunload`` or ``_force``. Raises the kernel's aborts."""
        k = self.kernel
        return k.uvm_page_physunload_force(h, fl) if force else k.uvm_page_physunload(h, fl)

    def physget(self) -> tuple[bool, int | None]:
        """``uvm_page_physget``. Raises the kernel's aborts."""
        return self.kernel.uvm_page_physget()

    def page_init(self, pagecount: int) -> None:
        """The ATF test's ``uvm_page_init_fake``. Raises the kernel's aborts."""
        self.kernel.uvm_page_init_fake(pagecount)

    def find(self, pfn: int) -> tuple[object, int | None]:
        """``uvm_physseg_find``."""
        return self.kernel.uvm_physseg_find(pfn)

    def phys_to_vm_page(self, pa: int) -> PageState | None:
        """``PHYS_TO_VM_PAGE``."""
        return _page(self.kernel.PHYS_TO_VM_PAGE(pa))

    def valid(self, h: Any) -> bool:
        """``uvm_physseg_valid_p``."""
        return self.kernel.uvm_physseg_valid_p(h)

    def first(self) -> object:
        """``uvm_physseg_get_first``."""
        return self.kernel.uvm_physseg_get_first()

    def last(self) -> object:
        """``uvm_physseg_get_last``."""
        return self.kernel.uvm_physseg_get_last()

    def next(self, h: Any) -> object:
        """``uvm_physseg_get_next``."""
        return self.kernel.uvm_physseg_get_next(h)

    def prev(self, h: Any) -> object:
        """``uvm_physseg_get_prev``."""
        return self.kernel.uvm_physseg_get_prev(h)

    def field(self, name: str, h: Any) -> int:
        """``uvm_physseg_get_<name>``."""
        k = self.kernel
        getters = {
            "start": k.uvm_physseg_get_start,
            "end": k.uvm_physseg_get_end,
            "avail_start": k.uvm_physseg_get_avail_start,
            "avail_end": k.uvm_physseg_get_avail_end,
            "free_list": k.uvm_physseg_get_free_list,
            "start_hint": k.uvm_physseg_get_start_hint,
        }
        return getters[name](h)

    def set_start_hint(self, h: Any, hint: int) -> bool:
        """``uvm_physseg_set_start_hint``."""
        return self.kernel.uvm_physseg_set_start_hint(h, hint)

    def page(self, h: Any, idx: int) -> PageState | None:
        """``pgs[idx]`` of the segment, ``None`` while it has no page array."""
        return _page(self.kernel.uvm_physseg_get_pg(h, idx))

    def highest_frame(self) -> int:
        """``uvm_physseg_get_highest_frame``. Raises the kernel's aborts."""
        return self.kernel.uvm_physseg_get_highest_frame()

    def counters(self) -> tuple[int, int, int, bool]:
        """``(entries, uvmexp.npages, physmem, uvm.page_init_done)``."""
        k = self.kernel
        return (k.uvm_physseg_get_entries(), k.uvmexp.npages, k.physmem, k.uvm.page_init_done)

    def handle_key(self, h: object) -> Hashable:
        """Ints (static indices) and ``None`` by value, records by identity."""
        return h if h is None or isinstance(h, int) else ("record", id(h))
