"""A refused boot-time call leaves the *same* kernel object in the state before the call.

``PhysMem`` runs ``boot()`` and ``steal_page()`` as transactions of the engine
(``Kernel.checkpoint`` / ``Kernel.rollback``): no copy of the kernel is swapped in, so a caller
holding ``mem.kernel`` or a segment handle from before keeps a live one.
"""

from __future__ import annotations

from typing import Any

import pytest

from physseg import CapacityError, OutOfMemoryError, PhysMem
from physseg.core import pages
from physseg.errors import KernelPanic
from physseg.netbsd import Handle, Kernel, make_kernel
from support.naive import full_state

pytestmark = pytest.mark.usefixtures("page_mode")


def handles(kernel: Kernel) -> list[tuple[Handle, int, int, int, int]]:
    return [
        (
            info.handle,
            kernel.uvm_physseg_get_start(info.handle),
            kernel.uvm_physseg_get_end(info.handle),
            kernel.uvm_physseg_get_avail_start(info.handle),
            kernel.uvm_physseg_get_avail_end(info.handle),
        )
        for info in kernel.segment_infos()
    ]


@pytest.mark.parametrize("backend", ["rbtree", "static"])
def test_a_boot_that_cannot_steal_its_page_array_leaves_the_same_kernel_as_it_was(
    backend: str,
) -> None:
    mem = PhysMem(backend, physseg_max=8)
    mem.load(0x100, 0x104, avail_start=0x102, avail_end=0x102)  # no free page to steal
    mem.load(0x200, 0x202, avail_start=0x201, avail_end=0x201)
    mem.load(0x1000, 0x11000, avail_start=0x10FFF, avail_end=0x11000)  # one page: stolen first
    kernel = mem.kernel
    before_handles = handles(kernel)
    before = full_state(mem)

    with pytest.raises(OutOfMemoryError, match="no free page left to steal"):
        mem.boot()

    assert mem.kernel is kernel
    assert full_state(mem) == before
    assert handles(kernel) == before_handles
    kernel.check()
    mem.boot(steal=False)  # and the kernel is still fully usable
    assert mem.booted


def test_a_steal_that_needs_a_boot_slot_leaves_every_handle_live() -> None:
    mem = PhysMem(physseg_max=2)
    mem.load(0x100, 0x200, avail_start=0x180, avail_end=0x190)
    mem.load(0x400, 0x500, avail_start=0x480, avail_end=0x490)
    kernel = mem.kernel
    before_handles = handles(kernel)
    before = full_state(mem)

    with pytest.raises(CapacityError):
        mem.steal_page()  # the first free page lies inside: a split, and no slot is left

    assert mem.kernel is kernel
    assert full_state(mem) == before
    assert handles(kernel) == before_handles
    assert [kernel.uvm_physseg_valid_p(h) for h, *_ in before_handles] == [True, True]
    kernel.check()


def test_a_host_out_of_memory_during_boot_rolls_back_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mem = PhysMem(physseg_max=4)
    mem.load(0x100, 0x10000)
    kernel = mem.kernel
    before = full_state(mem)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MemoryError("no room for the page array")

    monkeypatch.setattr(pages.Slab, "__init__", refuse)
    with pytest.raises(OutOfMemoryError, match="host cannot hold the page array"):
        mem.boot()
    monkeypatch.undo()

    assert mem.kernel is kernel
    assert full_state(mem) == before
    mem.boot()
    assert mem.booted


def test_kernel_rollback_undoes_a_half_done_call_and_moves_the_version() -> None:
    k = make_kernel("rbtree", physseg_max=4)
    k.uvm_page_physload(0x100, 0x200, 0x100, 0x200, 0)
    k.uvm_page_physload(0x300, 0x400, 0x300, 0x400, 0)
    first = k.uvm_physseg_get_first()
    saved = k.checkpoint()
    version = k.version
    records = [(info.start, info.end) for info in k.segment_infos()]

    def half_done() -> None:
        assert k.uvm_physseg_unplug(0x140, 0x10)  # a split: a new pool record goes live
        raise KernelPanic("boom")

    with pytest.raises(KernelPanic):
        k.transaction(half_done)

    assert [(info.start, info.end) for info in k.segment_infos()] == records
    assert k.uvm_physseg_get_entries() == 2
    assert k.uvm_physseg_get_first() is first
    assert k.version > version
    k.rollback(saved)  # a checkpoint can be given back more than once
    assert [(info.start, info.end) for info in k.segment_infos()] == records
