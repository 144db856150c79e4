"""Safe unplug: ``PhysMem(safe_unplug=True)`` refuses ranges holding allocated pages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg import PagesBusyError, PhysMem, PhysSegError, RangeNotManagedError
from physseg.pagealloc import PageAllocator


def booted(*, safe: bool = True, backend: str = "rbtree") -> tuple[PhysMem, PageAllocator]:
    """One segment [0x100, 0x140) with its page array outside it, and an allocator."""
    mem = PhysMem(backend, safe_unplug=safe)
    mem.load(0x100, 0x140)
    mem.load(0x200, 0x210)
    mem.boot(steal=False)
    return mem, PageAllocator(mem)


def busy(pages: PageAllocator, *pfns: int) -> None:
    """Allocate everything, then free all but ``pfns``."""
    taken = pages.alloc(pages.usage().free)
    pages.free(np.setdiff1d(taken, np.array(pfns)))


def test_safe_unplug_is_off_by_default() -> None:
    assert PhysMem().safe_unplug is False
    assert PhysMem(safe_unplug=True).safe_unplug is True


def test_refusal_names_the_first_busy_page_and_counts_them() -> None:
    mem, pages = booted()
    busy(pages, 0x125, 0x121, 0x13F)
    with pytest.raises(PagesBusyError) as caught:
        mem.unplug(0x110, 0x20)
    message = str(caught.value)
    assert "unplug [0x110, 0x130)" in message
    assert "page 0x121 (pa 0x121000) is allocated" in message
    assert "2 busy page(s)" in message
    assert "nothing was changed" in message


@pytest.mark.parametrize(
    ("pfn", "npages"),
    [(0x100, 0x40), (0x100, 0x21), (0x120, 0x20), (0x110, 0x20)],
    ids=["whole", "front", "back", "middle"],
)
def test_refusal_leaves_the_state_exactly_as_it_was(pfn: int, npages: int) -> None:
    mem, pages = booted()
    busy(pages, 0x120)
    before = mem.snapshot()
    with pytest.raises(PagesBusyError):
        mem.unplug(pfn, npages)
    assert mem.snapshot() == before
    assert pages.busy_pfns().tolist() == [0x120]


def test_busy_pages_outside_the_range_do_not_matter() -> None:
    mem, pages = booted()
    busy(pages, 0x120)
    mem.unplug(0x121, 0x1F)
    mem.unplug(0x100, 0x20)
    assert [str(seg) for seg in mem] == ["[0x120, 0x121)", "[0x200, 0x210)"]


def test_freed_pages_can_be_unplugged() -> None:
    mem, pages = booted()
    busy(pages, 0x120)
    pages.free(0x120)
    mem.unplug(0x100, 0x40)
    assert len(mem) == 1


def test_without_safe_mode_busy_pages_are_unplugged_as_the_kernel_does() -> None:
    mem, pages = booted(safe=False)
    busy(pages, 0x120)
    mem.unplug(0x100, 0x40)
    assert pages.busy_pfns().size == 0


def test_the_range_is_checked_before_the_pages() -> None:
    mem, pages = booted()
    busy(pages, 0x13F)
    with pytest.raises(RangeNotManagedError, match="crosses the end"):
        mem.unplug(0x13F, 2)


def test_safe_unplug_on_the_static_backend() -> None:
    mem, pages = booted(backend="static")
    busy(pages, 0x13F)
    with pytest.raises(PagesBusyError, match="page 0x13f "):
        mem.unplug(0x130, 0x10)
    mem.unplug(0x100, 0x10)
    assert issubclass(PagesBusyError, PhysSegError)


@settings(max_examples=max(50, settings.default.max_examples // 2))
@given(
    held=st.sets(st.integers(0x100, 0x13F), max_size=6),
    first=st.integers(0x100, 0x13F),
    data=st.data(),
)
def test_refused_exactly_when_the_range_holds_a_busy_page(
    held: set[int], first: int, data: st.DataObject
) -> None:
    mem, pages = booted()
    busy(pages, *held)
    npages = data.draw(st.integers(1, 0x140 - first))
    inside = sorted(p for p in held if first <= p < first + npages)
    before = mem.snapshot()
    if inside:
        with pytest.raises(PagesBusyError, match=rf"page {inside[0]:#x} .*\({len(inside)} busy"):
            mem.unplug(first, npages)
        assert mem.snapshot() == before
    else:
        mem.unplug(first, npages)
        assert all(mem.find(p) is None for p in range(first, first + npages))
    assert pages.busy_pfns().tolist() == sorted(held)
