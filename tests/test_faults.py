"""Fault injection: make the N-th allocation fail, for every N a representative sequence has.

Every allocation the engine makes at run time (segment records, page-array slabs, extent
headers, extent region descriptors) goes through one :class:`physseg.core.alloc.Allocator`. Each
sweep runs a sequence once with a plain allocator to learn how many allocations it makes, then
once per allocation with a :class:`physseg.core.alloc.FailingAllocator` that refuses exactly that
one.

* The Pythonic face (``PhysMem``) must, at every fault point, either succeed or raise a typed
  ``PhysSegError`` and leave :func:`full_state` (snapshot, descriptors, page entries, counters)
  exactly as it was; the call that meets the fault may only succeed or raise
  ``OutOfMemoryError``. ``PhysMem.check()`` (the engine's ``Kernel.check()``) must pass
  after every call.
* The NetBSD face (``Kernel``) must do what the kernel does at that point, leaks and partial
  effects included; each fault point below says what that is (digest §1.13, §2.4, §2.6), and
  ``Kernel.check()`` passes after every call that returns, except where the kernel's own
  failure path leaves a segment using freed page entries.

Boot (``uvm_page_physload``, ``uvm_page_physget``, ``uvm_page_init``) has no fault points: the
kernel uses the static segment pool, fixed extent storage and stolen pages before ``kmem`` is
up, and the tests check that no allocation happens there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from physseg import KernelAssertionError, OutOfMemoryError, PhysMem, PhysSegError
from physseg.core.alloc import DESCRIPTOR, EXTENT, SEGMENT, SLAB, Allocator, FailingAllocator
from physseg.netbsd import Kernel, make_kernel
from support.naive import fields, full_state

Step = tuple[str, Callable[[PhysMem], object]]


@dataclass(frozen=True)
class Sequence:
    """A named list of ``PhysMem`` calls and how to build the machine they run on."""

    name: str
    steps: tuple[Step, ...]
    backend: str = "rbtree"
    physseg_max: int = 4
    coalesce: bool = False

    def machine(self, allocator: Allocator) -> PhysMem:
        return PhysMem(
            self.backend,
            physseg_max=self.physseg_max,
            allocator=allocator,
            coalesce=self.coalesce,
        )


def _boot_fake(pm: PhysMem) -> None:
    pm.boot(steal=False)


BOOTED: tuple[Step, ...] = (
    ("load [0, 0x80)", lambda pm: pm.load(0, 0x80)),
    ("load [0x100, 0x140)", lambda pm: pm.load(0x100, 0x140)),
    ("boot", _boot_fake),
)

SEQUENCES = [
    Sequence(
        "init",
        (
            ("load [0, 0x80)", lambda pm: pm.load(0, 0x80)),
            ("load [0x100, 0x140) avail [0x108, 0x140)", lambda pm: pm.load(0x100, 0x140, 0x108)),
            ("steal_page", lambda pm: pm.steal_page()),
            ("boot with stealing", lambda pm: pm.boot()),
        ),
    ),
    Sequence(
        "plug",
        (
            *BOOTED,
            ("plug a new slab", lambda pm: pm.plug(0x200, 0x10)),
            ("plug from the hotplug slab", lambda pm: pm.plug(0x300, 8)),
            ("unplug the boot head", lambda pm: pm.unplug(0, 8)),
            ("plug into the boot slab's hole", lambda pm: pm.plug(0x400, 8)),
            ("plug beyond every slab", lambda pm: pm.plug(0x500, 0x60)),
            ("plug more than is managed", lambda pm: pm.plug(0x800, 0x400)),
        ),
    ),
    Sequence(
        "unplug",
        (
            *BOOTED,
            ("plug a new slab", lambda pm: pm.plug(0x200, 0x20)),
            ("unplug front", lambda pm: pm.unplug(0x200, 2)),
            ("unplug back", lambda pm: pm.unplug(0x21E, 2)),
            ("unplug middle", lambda pm: pm.unplug(0x208, 4)),
            ("unplug middle again", lambda pm: pm.unplug(0x210, 2)),
            ("unplug a whole fragment", lambda pm: pm.unplug(0x212, 0xC)),
            ("unplug middle of a boot segment", lambda pm: pm.unplug(0x10, 4)),
            ("unplug the last page of a hotplug fragment", lambda pm: pm.unplug(0x202, 6)),
            ("plug into the freed entries", lambda pm: pm.plug(0x600, 0xA)),
        ),
    ),
    Sequence(
        "coalesce",
        (
            *BOOTED,
            ("plug a new slab", lambda pm: pm.plug(0x200, 0x20)),
            ("unplug middle", lambda pm: pm.unplug(0x208, 8)),
            ("plug it back (merges)", lambda pm: pm.plug(0x208, 8)),
            ("unplug front", lambda pm: pm.unplug(0x200, 4)),
            ("plug it back (merges)", lambda pm: pm.plug(0x200, 4)),
        ),
        coalesce=True,
    ),
    Sequence(
        "static",
        (
            *BOOTED,
            ("unplug front", lambda pm: pm.unplug(0, 4)),
            ("unplug back", lambda pm: pm.unplug(0x7C, 4)),
            ("unplug whole", lambda pm: pm.unplug(0x100, 0x40)),
        ),
        backend="static",
    ),
]


def allocation_count(sequence: Sequence) -> int:
    """How many allocations ``sequence`` makes when every one is granted."""
    allocator = Allocator()
    pm = sequence.machine(allocator)
    for _, step in sequence.steps:
        with contextlib.suppress(PhysSegError):
            step(pm)
    return allocator.calls


def run_with_fault(sequence: Sequence, fail_at: int) -> list[str]:
    """Run ``sequence`` with allocation ``fail_at`` refused; returns what each step did."""
    allocator = FailingAllocator(fail_at)
    pm = sequence.machine(allocator)
    outcomes = []
    for label, step in sequence.steps:
        before = full_state(pm)
        calls = allocator.calls
        try:
            step(pm)
            outcomes.append(f"{label}: ok")
        except PhysSegError as exc:
            assert full_state(pm) == before, f"{label} refused ({exc}) but changed the state"
            hit = calls < fail_at <= allocator.calls
            assert not hit or isinstance(exc, OutOfMemoryError), f"{label}: {exc!r}"
            outcomes.append(f"{label}: {type(exc).__name__}")
        pm.check()
    assert allocator.failures == 1
    return outcomes


@pytest.mark.parametrize("sequence", SEQUENCES, ids=lambda s: s.name)
def test_physmem_succeeds_or_refuses_cleanly_at_every_fault_point(sequence: Sequence) -> None:
    count = allocation_count(sequence)
    if sequence.name in ("init", "static"):
        assert count == 0
    else:
        assert count >= 4
    for fail_at in range(1, count + 1):
        outcomes = run_with_fault(sequence, fail_at)
        assert len(outcomes) == len(sequence.steps)


def test_physmem_reports_the_failed_allocation() -> None:
    pm = PhysMem(physseg_max=4, allocator=FailingAllocator(2, kinds=[SLAB]))
    pm.load(0, 0x40)
    pm.boot(steal=False)
    view = pm.plug(0x100, 0x10)
    assert (view.start, view.end) == (0x100, 0x110)
    assert pm.kernel.seg(pm.kernel.uvm_physseg_find(0x100)[0]).ext.slab.npages == 0x3F
    pm = PhysMem(physseg_max=4, allocator=FailingAllocator(1, kinds=[SEGMENT]))
    pm.load(0, 0x40)
    pm.boot(steal=False)
    before = full_state(pm)
    with pytest.raises(OutOfMemoryError, match=r"plug \[0x100, 0x110\): an allocation failed"):
        pm.plug(0x100, 0x10)
    assert full_state(pm) == before


# ---------------------------------------------------------------------- the NetBSD face


def booted_kernel(allocator: Allocator, physseg_max: int = 4) -> Kernel:
    """One boot segment ``[0, 0x40)`` whose boot slab has no spare entries."""
    kernel = make_kernel("rbtree", physseg_max=physseg_max, allocator=allocator)
    kernel.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    kernel.uvm_page_init_fake(0x40)
    return kernel


def layout(kernel: Kernel) -> list[tuple[int, int, int, int, int, int]]:
    return [fields(record) for record in kernel.segments()]


def test_kernel_boot_makes_no_allocation() -> None:
    allocator = Allocator()
    kernel = make_kernel("rbtree", physseg_max=4, allocator=allocator)
    kernel.uvm_page_physload(0, 0x80, 0, 0x80, 0)
    kernel.uvm_page_physload(0x100, 0x140, 0x110, 0x140, 1)
    assert kernel.uvm_page_physget()[0]
    kernel.uvm_page_init()
    static = make_kernel("static", physseg_max=4, allocator=allocator)
    static.uvm_page_physload(0, 0x80, 0, 0x80, 0)
    static.uvm_page_init_fake(0x80)
    assert allocator.log == []
    kernel.check()
    static.check()


def test_kernel_new_slab_plug_has_four_fault_points() -> None:
    allocator = Allocator()
    kernel = booted_kernel(allocator)
    assert kernel.uvm_physseg_plug(0x100, 0x10)[0]
    assert [kind for kind, _ in allocator.log] == [SEGMENT, SLAB, EXTENT, DESCRIPTOR]
    kernel.check()


def test_kernel_plug_record_allocation_fails_cleanly() -> None:
    kernel = booted_kernel(FailingAllocator(1))
    before = layout(kernel), kernel.uvmexp.npages, kernel.physmem
    assert kernel.uvm_physseg_plug(0x100, 0x10) == (False, None)
    assert (layout(kernel), kernel.uvmexp.npages, kernel.physmem) == before
    kernel.check()


def test_kernel_plug_retries_a_failed_slab_one_page_smaller() -> None:
    allocator = FailingAllocator(2)
    kernel = booted_kernel(allocator)
    ok, upm = kernel.uvm_physseg_plug(0x100, 0x10)
    assert ok
    assert allocator.log[1:3] == [(SLAB, 0x40), (SLAB, 0x3F)]
    assert kernel.seg(upm).pgs.slab.npages == 0x3F
    assert kernel.physmem == 0x10
    kernel.check()


def test_kernel_plug_extent_header_failure_is_the_kassert_with_node_and_slab_leaked() -> None:
    allocator = FailingAllocator(3)
    kernel = booted_kernel(allocator)
    before = layout(kernel), kernel.uvmexp.npages, kernel.physmem
    with pytest.raises(KernelAssertionError, match=r"seg->ext != NULL"):
        kernel.uvm_physseg_plug(0x100, 0x10)
    assert (layout(kernel), kernel.uvmexp.npages, kernel.physmem) == before
    assert [kind for kind, _ in allocator.log] == [SEGMENT, SLAB, EXTENT]


def test_kernel_plug_descriptor_failure_on_a_fresh_slab_leaks_node_and_slab_quirk_11() -> None:
    allocator = FailingAllocator(4)
    kernel = booted_kernel(allocator)
    before = layout(kernel), kernel.uvmexp.npages, kernel.physmem
    assert kernel.uvm_physseg_plug(0x100, 0x10) == (False, None)
    assert (layout(kernel), kernel.uvmexp.npages, kernel.physmem) == before
    assert [kind for kind, _ in allocator.log] == [SEGMENT, SLAB, EXTENT, DESCRIPTOR]
    assert kernel.uvm_physseg_find(0x100) == (None, None)
    kernel.check()  # the leaked node and slab are out of reach


@pytest.mark.parametrize("fail_at", [3, 4], ids=["extent header", "descriptor"])
def test_kernel_plug_failing_after_its_new_slab_leaves_the_slab_numbering(fail_at: int) -> None:
    """The leaked slab of a failed plug gives its number back: the next slab is number 2,
    as if the failed plug had never run."""
    kernel = booted_kernel(FailingAllocator(fail_at))
    if fail_at == 3:
        with pytest.raises(KernelAssertionError, match=r"seg->ext != NULL"):
            kernel.uvm_physseg_plug(0x100, 0x10)
    else:
        assert kernel.uvm_physseg_plug(0x100, 0x10) == (False, None)
    ok, upm = kernel.uvm_physseg_plug(0x100, 0x10)
    assert ok and kernel.seg(upm).pgs.slab.ident == 2


def test_physmem_refused_plug_leaves_later_snapshots_as_without_it() -> None:
    def booted(allocator: Allocator) -> PhysMem:
        pm = PhysMem(physseg_max=4, allocator=allocator)
        pm.load(0, 0x40)
        pm.boot(steal=False)
        return pm

    refused = booted(FailingAllocator(3))  # the new slab's extent header
    with pytest.raises(OutOfMemoryError):
        refused.plug(0x100, 0x10)
    refused.plug(0x100, 0x10)
    plain = booted(Allocator())
    plain.plug(0x100, 0x10)
    assert refused.snapshot() == plain.snapshot()


def test_kernel_scavenging_descriptor_failure_falls_back_to_a_new_slab() -> None:
    allocator = FailingAllocator(6)
    kernel = booted_kernel(allocator)
    _, first = kernel.uvm_physseg_plug(0x100, 0x10)
    ok, upm = kernel.uvm_physseg_plug(0x200, 8)
    assert ok
    assert [kind for kind, _ in allocator.log[4:]] == [
        SEGMENT,
        DESCRIPTOR,
        SLAB,
        EXTENT,
        DESCRIPTOR,
    ]
    assert kernel.seg(upm).pgs.slab is not kernel.seg(first).pgs.slab
    kernel.check()


@pytest.mark.parametrize(
    ("pfn", "pages"),
    [(0x100, 2), (0x10E, 2), (0x100, 0x10)],
    ids=["front", "back", "whole"],
)
def test_kernel_unplug_without_a_spare_descriptor_fails_and_changes_nothing(
    pfn: int, pages: int
) -> None:
    kernel = booted_kernel(FailingAllocator(5))
    kernel.uvm_physseg_plug(0x100, 0x10)
    ext = kernel.seg(kernel.uvm_physseg_find(0x100)[0]).ext
    before = layout(kernel), kernel.uvmexp.npages, ext.extent.regions()
    assert not kernel.uvm_physseg_unplug(pfn, pages)
    assert (layout(kernel), kernel.uvmexp.npages, ext.extent.regions()) == before
    kernel.check()


def test_kernel_middle_unplug_descriptor_failure_changes_nothing() -> None:
    kernel = booted_kernel(FailingAllocator(5))
    kernel.uvm_physseg_plug(0x100, 0x10)
    before = layout(kernel), kernel.uvmexp.npages
    assert not kernel.uvm_physseg_unplug(0x104, 4)
    assert (layout(kernel), kernel.uvmexp.npages) == before
    kernel.check()


def test_kernel_middle_unplug_record_failure_leaks_the_freed_entries() -> None:
    """Digest §2.6 B: the kernel frees the page entries, then fails to allocate the tail's
    record and returns false. The segment still covers the range, its entries are free in
    the extent, and the next plug scavenges them: two live segments share page entries.
    Kernel.check() reports both states: they are the kernel's, not invariants it keeps."""
    kernel = booted_kernel(FailingAllocator(6))
    _, upm = kernel.uvm_physseg_plug(0x100, 0x10)
    seg = kernel.seg(upm)
    assert not kernel.uvm_physseg_unplug(0x104, 4)
    assert fields(seg) == (0x100, 0x110, 0x100, 0x110, 0, 0)
    assert seg.ext.extent.regions() == [(0, 4), (8, 8)]
    with pytest.raises(AssertionError, match=r"^extent allocation: .* are not allocated"):
        kernel.check()
    _, other = kernel.uvm_physseg_plug(0x200, 4)
    assert kernel.seg(other).pgs == seg.pgs + 4
    with pytest.raises(AssertionError, match=r"^shared page entries: "):
        kernel.check()


@pytest.mark.parametrize("fail_at", [5, 6], ids=["record", "descriptor"])
def test_kernel_atomic_middle_unplug_failure_changes_nothing(fail_at: int) -> None:
    allocator = FailingAllocator(fail_at)
    kernel = booted_kernel(allocator)
    _, upm = kernel.uvm_physseg_plug(0x100, 0x10)
    regions = kernel.seg(upm).ext.extent.regions()
    before = layout(kernel), kernel.uvmexp.npages
    assert not kernel.uvm_physseg_unplug(0x104, 4, atomic=True)
    assert (layout(kernel), kernel.uvmexp.npages) == before
    assert kernel.seg(upm).ext.extent.regions() == regions
    assert [kind for kind, _ in allocator.log[4:]] == [SEGMENT, DESCRIPTOR][: fail_at - 4]
    kernel.check()


def test_kernel_boot_extent_overflow_descriptors_go_through_the_allocator() -> None:
    """Regression: the boot extent's EX_MALLOCOK descriptors once bypassed the allocator."""
    allocator = FailingAllocator(1)
    kernel = booted_kernel(allocator, physseg_max=1)
    before = layout(kernel), kernel.uvmexp.npages
    assert not kernel.uvm_physseg_unplug(0x10, 4)
    assert (layout(kernel), kernel.uvmexp.npages) == before
    assert allocator.log == [(DESCRIPTOR, 1)]
    kernel.check()
