"""The engine's allocator: one object through which every allocation goes.

The kernel allocates segment records (``kmem_zalloc``), page-array slabs (``kmem_zalloc``) and
extent region descriptors (``pool_get``); any of them may fail (``KM_NOSLEEP``). physseg routes
all of them through an :class:`Allocator`, so that tests can make the N-th allocation fail and
check what each face does at that point.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

SEGMENT: Final = "segment"
"""A ``struct uvm_physseg`` record from the run-time allocator."""
SLAB: Final = "slab"
"""A ``vm_page`` array (page-array slab)."""
EXTENT: Final = "extent"
"""An extent header (``extent_create`` of a non-fixed extent)."""
DESCRIPTOR: Final = "descriptor"
"""An extent region descriptor allocated dynamically."""

KINDS: Final = (SEGMENT, SLAB, EXTENT, DESCRIPTOR)


class Allocator:
    """Grants every allocation and counts them.

    ``calls`` is the number of allocations asked for so far and ``log`` records
    ``(kind, size)`` for each, so a test can learn how many allocation points a sequence has.
    """

    __slots__ = ("calls", "log")

    def __init__(self) -> None:
        self.calls = 0
        self.log: list[tuple[str, int]] = []

    def allocate(self, kind: str, size: int = 1) -> bool:
        """Ask for ``size`` units of ``kind``; True if granted. O(1)."""
        self.calls += 1
        self.log.append((kind, size))
        return self._grant(kind, size)

    def _grant(self, kind: str, size: int) -> bool:
        return True


class FailingAllocator(Allocator):
    """Fails the allocations whose 1-based call numbers are in ``fail_at``.

    ``kinds`` restricts failures to those kinds (calls of other kinds are still counted).
    ``failures`` counts the allocations refused so far.
    """

    __slots__ = ("fail_at", "failures", "kinds")

    def __init__(self, fail_at: int | Iterable[int], kinds: Iterable[str] | None = None) -> None:
        super().__init__()
        self.fail_at = frozenset([fail_at] if isinstance(fail_at, int) else fail_at)
        self.kinds = frozenset(KINDS if kinds is None else kinds)
        self.failures = 0

    def _grant(self, kind: str, size: int) -> bool:
        if self.calls in self.fail_at and kind in self.kinds:
            self.failures += 1
            return False
        return True
