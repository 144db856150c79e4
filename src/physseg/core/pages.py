"""Page arrays: ``struct vm_page`` records stored as numpy columns.

A :class:`Slab` is one ``vm_page`` array, what ``kmem_zalloc(n * sizeof(struct vm_page))``
returns in the kernel. It stores each field as its own numpy array (struct of arrays), so a page
costs :data:`BYTES_PER_PAGE` bytes instead of a Python object. A :class:`Page` is the equivalent
of a ``struct vm_page *``: a (slab, index) pair that reads and writes the fields in place,
compares equal for the same entry and supports pointer arithmetic.

A slab is *eager* (three plain numpy arrays, every entry held) or *lazy* (three
:class:`~physseg.core.lazycolumn.LazyColumn` objects: runs plus chunks materialised on first
touch, so that a 64 TiB machine's page arrays cost what its segments and touched pages cost).
Both read and write alike; the column functions of :mod:`physseg.core.lazycolumn` take either.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from physseg.core.lazycolumn import Column, LazyColumn

PG_FREE: Final = 0x01
"""Flag bit: the page is on a free list (set by ``uvm_pagefree``)."""
PG_BUSY: Final = 0x02
"""Flag bit: the page is allocated to a user (set by the page allocator)."""

BYTES_PER_PAGE: Final = 10
"""Memory per simulated page: phys_addr (8) + free_list (1) + flags (1)."""


class Slab:
    """One page array of ``npages`` zeroed ``vm_page`` records.

    Columns: ``phys_addr`` (uint64, byte address), ``free_list`` (int8), ``flags`` (uint8).
    Allocation is O(1) in time. Eager (``lazy=False``): plain numpy arrays, whose zeroed memory
    the OS commits on first touch, :data:`BYTES_PER_PAGE` bytes per page once touched, and the
    host must be able to reserve them all. Lazy (the default): lazy columns (runs
    plus :data:`~physseg.core.lazycolumn.CHUNK`-entry chunks materialised when written
    entry by entry). Raises ``ValueError`` for a negative ``npages`` and ``MemoryError`` when the
    host cannot hold an eager array.

    ``ident`` names the slab among those of one kernel: ``Kernel.new_slab`` numbers a kernel's
    slabs 1, 2, 3... in creation order, so the same calls on two kernels give the same
    numbers. The default, 0, marks a slab no kernel numbered (built directly, as tests do).
    Nothing but a kernel's own slabs are ever compared by ``ident``.

    >>> Slab(4, "demo", ident=7)
    Slab#7('demo', npages=4)
    """

    __slots__ = ("flags", "free_list", "ident", "lazy", "name", "npages", "phys_addr")

    def __init__(
        self, npages: int, name: str = "slab", *, ident: int = 0, lazy: bool = True
    ) -> None:
        if npages < 0:
            raise ValueError(f"a slab cannot have {npages} pages")
        self.ident = ident
        self.name = name
        self.npages = npages
        self.lazy = lazy
        self.phys_addr: Column
        self.free_list: Column
        self.flags: Column
        if lazy:
            self.phys_addr = LazyColumn(npages, np.uint64)
            self.free_list = LazyColumn(npages, np.int8)
            self.flags = LazyColumn(npages, np.uint8)
        else:
            self.phys_addr = np.zeros(npages, dtype=np.uint64)
            self.free_list = np.zeros(npages, dtype=np.int8)
            self.flags = np.zeros(npages, dtype=np.uint8)

    @property
    def nbytes(self) -> int:
        """Bytes of page records held by this slab (in bytes): every entry when eager, the
        runs and materialised chunks when lazy. O(1) eager, O(chunks) lazy. Raises nothing."""
        return int(self.phys_addr.nbytes + self.free_list.nbytes + self.flags.nbytes)

    def page(self, index: int) -> Page:
        """Return a pointer to entry ``index`` (no bounds check, as in C). O(1)."""
        return Page(self, index)

    def __repr__(self) -> str:
        return f"Slab#{self.ident}({self.name!r}, npages={self.npages})"


class Page:
    """A ``struct vm_page *``: entry ``index`` of ``slab``.

    Equal (and equally hashed) for the same slab and index. ``page + n`` and ``page - n`` are
    pointer arithmetic; ``a.offset_from(b)`` is ``a - b``. Field reads
    and writes raise ``IndexError`` outside the slab (the C code would read out of bounds).
    """

    __slots__ = ("index", "slab")

    def __init__(self, slab: Slab, index: int) -> None:
        self.slab = slab
        self.index = index

    @property
    def phys_addr(self) -> int:
        """Byte address of the page (set when its segment is initialised)."""
        return int(self.slab.phys_addr[self._checked()])

    @phys_addr.setter
    def phys_addr(self, value: int) -> None:
        self.slab.phys_addr[self._checked()] = value

    @property
    def free_list(self) -> int:
        """The free list the page belongs to."""
        return int(self.slab.free_list[self._checked()])

    @free_list.setter
    def free_list(self, value: int) -> None:
        self.slab.free_list[self._checked()] = value

    @property
    def flags(self) -> int:
        """The page's flag bits (:data:`PG_FREE`, :data:`PG_BUSY`)."""
        return int(self.slab.flags[self._checked()])

    @flags.setter
    def flags(self, value: int) -> None:
        self.slab.flags[self._checked()] = value

    def _checked(self) -> int:
        if not 0 <= self.index < self.slab.npages:
            raise IndexError(f"page {self.index} is outside {self.slab!r}")
        return self.index

    def __add__(self, n: int) -> Page:
        return Page(self.slab, self.index + n)

    def __sub__(self, n: int) -> Page:
        return Page(self.slab, self.index - n)

    def offset_from(self, base: Page) -> int:
        """``self - base`` in C: the distance in entries; ``ValueError`` across slabs."""
        if base.slab is not self.slab:
            raise ValueError("pointer difference between two different slabs")
        return self.index - base.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Page) and other.slab is self.slab and other.index == self.index

    def __hash__(self) -> int:
        return hash((self.slab.ident, self.index))

    def __repr__(self) -> str:
        return f"Page(slab#{self.slab.ident}, {self.index})"
