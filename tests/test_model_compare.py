"""Differential test: the rbtree build and the static BSEARCH build on the same boot sequences.

Both builds keep their segments in address order (the static array sorted by BSEARCH), so on
the calls both support they must show the same state, handles aside: the same segments with the
same fields, the same answer from ``uvm_physseg_find`` for every PFN, the same counters, and
after ``uvm_page_init`` the same page-array placement and extent regions. Where the digest
documents a difference the machine asserts that difference instead of equality:

* quirk 1: the static ``get_highest_frame`` is the exclusive end, one more than the rbtree's;
* quirk 6: a run-time whole-segment unplug lowers ``uvmexp.npages`` in the rbtree build only;
* quirk 7: every static plug (rev >= 1.18) counts in ``physmem``, no rbtree boot plug does.

Calls whose results the digest says differ are not generated: a middle unplug (the static
build panics), ``physunload_force`` below unavailable head pages (quirk 24: split vs truncate;
every load here starts its avail window at its first page, which trims keep so), and a
``physload`` once the rbtree boot pool is used up (its slots are never reused, the static
array's are). After a panic both kernels are dead and the machine only looks up PFNs; until
then both pass ``Kernel.check()`` after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from physseg import KernelAssertionError, KernelPanic
from physseg.netbsd import Kernel, make_kernel
from support.naive import fields

UNIVERSE = 160
NFREELIST = 3
PHYSSEG_MAX = 8
SHAPES = ("whole", "front", "back", "cross", "hole")

LOADS = st.tuples(
    st.integers(0, UNIVERSE - 24),
    st.integers(1, 24),
    st.just(0) | st.integers(0, 24),
    st.integers(0, NFREELIST - 1),
)
"""start, length, unavailable tail pages, free list (the avail window starts at ``start``)."""


def observable(kernel: Kernel) -> tuple[Any, ...]:
    """What the two builds must agree on, handles aside."""
    records = list(kernel.segments())
    found = []
    for pfn in range(UNIVERSE + 2):
        upm, off = kernel.uvm_physseg_find(pfn)
        found.append(None if off is None else (kernel.seg(upm).start, off))
    pages = []
    regions: list[tuple[int, int]] = []
    for record in records:
        if record.pgs is not None:
            n = record.end - record.start
            slab = record.pgs.slab
            first = record.pgs.index
            pages.append((first, slab.phys_addr[first : first + n].tobytes()))
    if records and records[0].ext is not None:
        regions = records[0].ext.extent.regions()
    return (
        [fields(r) for r in records],
        kernel.uvm_physseg_get_entries(),
        kernel.uvm.page_init_done,
        found,
        pages,
        regions,
    )


class TwoBuilds(RuleBasedStateMachine):
    """``Kernel("rbtree")`` and ``Kernel("static", strategy="bsearch")`` in lockstep. The
    tree's page arrays are lazy and the array's eager, so the lockstep also holds the two
    page-array modes to the same page contents."""

    def __init__(self) -> None:
        super().__init__()
        self.tree = make_kernel(
            "rbtree", physseg_max=PHYSSEG_MAX, nfreelist=NFREELIST, lazy_pages=True
        )
        self.array = make_kernel(
            "static",
            physseg_max=PHYSSEG_MAX,
            strategy="bsearch",
            nfreelist=NFREELIST,
            lazy_pages=False,
        )
        self.loaded_pages = 0
        self.npages_skew = 0
        self.dead = False

    def both(self, call: Callable[[Kernel], Any]) -> Any:
        """Run ``call`` on both kernels: the same result, or the same kind of abort."""
        outcomes = []
        for kernel in (self.tree, self.array):
            try:
                outcomes.append(("ok", call(kernel)))
            except (KernelPanic, KernelAssertionError) as exc:
                outcomes.append((type(exc).__name__, None))
        (tree_kind, tree_result), (array_kind, array_result) = outcomes
        assert tree_kind == array_kind, outcomes
        if tree_kind != "ok":
            event(f"both aborted: {tree_kind}")
            self.dead = True
            return None
        return tree_result, array_result

    def segments(self) -> list[tuple[int, int, int, int, int, int]]:
        return [fields(r) for r in self.tree.segments()]

    def handles(self, index: int) -> tuple[Any, int]:
        """The rbtree and static handles of the ``index``-th segment (mod the count)."""
        position = index % self.tree.uvm_physseg_get_entries()
        return list(self.tree.segments())[position], position

    def unplug_range(self, index: int, shape: str, a: int) -> tuple[int, int]:
        start, end = self.segments()[index % len(self.segments())][:2]
        n = end - start
        if shape == "front" and n > 1:
            return start, 1 + a % (n - 1)
        if shape == "back" and n > 1:
            return end - 1 - a % (n - 1), 1 + a % (n - 1)
        if shape == "cross":
            return start + a % n, n + 1
        if shape == "hole":
            _upm, off = self.tree.uvm_physseg_find(a % UNIVERSE)
            return (a % UNIVERSE if off is None else UNIVERSE + a), 1
        return start, n

    def alive(self) -> bool:
        return not self.dead

    def at_boot(self) -> bool:
        return not self.dead and not self.tree.uvm.page_init_done

    def at_run_time(self) -> bool:
        return not self.dead and self.tree.uvm.page_init_done

    # ------------------------------------------------------------------ boot time
    @initialize(memory_map=st.lists(LOADS, min_size=1, max_size=5))
    def load_memory_map(self, memory_map: list[tuple[int, int, int, int]]) -> None:
        for load in memory_map:
            self.physload(load)

    @precondition(at_boot)
    @rule(load=LOADS)
    def physload(self, load: tuple[int, int, int, int]) -> None:
        start, length, tail, free_list = load
        above = self.tree.segment_geq(start)
        if self.tree.nseg == PHYSSEG_MAX or (above is not None and above.start <= start):
            return
        end = start + length if above is None else min(start + length, above.start)
        avail_end = max(start, end - tail)
        if self.both(lambda k: k.uvm_page_physload(start, end, start, avail_end, free_list)):
            self.loaded_pages += end - start

    @precondition(at_boot)
    @rule(index=st.integers(0, 63), freelist=st.integers(0, NFREELIST - 1))
    def physunload(self, index: int, freelist: int) -> None:
        tree_upm, array_upm = self.handles(index)
        self.both(
            lambda k: k.uvm_page_physunload(tree_upm if k is self.tree else array_upm, freelist)
        )

    @precondition(at_boot)
    @rule(index=st.integers(0, 63))
    def physunload_force(self, index: int) -> None:
        tree_upm, array_upm = self.handles(index)
        self.both(
            lambda k: k.uvm_page_physunload_force(tree_upm if k is self.tree else array_upm, 0)
        )

    @precondition(at_boot)
    @rule()
    def physget(self) -> None:
        self.both(lambda k: k.uvm_page_physget())

    @precondition(at_boot)
    @rule(index=st.integers(0, 63), shape=st.sampled_from(SHAPES), a=st.integers(0, 255))
    def boot_unplug(self, index: int, shape: str, a: int) -> None:
        pfn, pages = self.unplug_range(index, shape, a)
        self.both(lambda k: k.uvm_physseg_unplug(pfn, pages))

    @precondition(at_boot)
    @rule(fake=st.booleans())
    def page_init(self, fake: bool) -> None:
        if fake:
            pagecount = sum(s[1] - s[0] for s in self.segments())
            self.both(lambda k: k.uvm_page_init_fake(pagecount).index)
        else:
            self.both(lambda k: k.uvm_page_init())

    # ------------------------------------------------------------------ run time
    @precondition(at_run_time)
    @rule(index=st.integers(0, 63), shape=st.sampled_from(SHAPES), a=st.integers(0, 255))
    def unplug(self, index: int, shape: str, a: int) -> None:
        pfn, pages = self.unplug_range(index, shape, a)
        whole = (pfn, pfn + pages) in {s[:2] for s in self.segments()}
        done = self.both(lambda k: k.uvm_physseg_unplug(pfn, pages))
        if done is not None and done[0] and whole:
            self.npages_skew += pages
            event("run-time whole unplug (quirk 6)")

    @precondition(at_run_time)
    @rule(index=st.integers(0, 63), hint=st.integers(0, 2**32))
    def set_start_hint(self, index: int, hint: int) -> None:
        tree_upm, array_upm = self.handles(index)
        self.both(
            lambda k: k.uvm_physseg_set_start_hint(tree_upm if k is self.tree else array_upm, hint)
        )

    @rule(pfn=st.integers(0, UNIVERSE))
    def lookup(self, pfn: int) -> None:
        tree = self.tree.uvm_physseg_find(pfn)[1]
        array = self.array.uvm_physseg_find(pfn)[1]
        assert self.dead or tree == array

    @invariant()
    def same_observable_state(self) -> None:
        if self.dead:
            return
        tree, array = self.tree, self.array
        tree.check()
        array.check()
        assert observable(tree) == observable(array)
        assert tree.uvmexp.npages == array.uvmexp.npages - self.npages_skew
        assert (tree.physmem, array.physmem) == (0, self.loaded_pages)
        if tree.uvm_physseg_get_entries():
            highest = tree.uvm_physseg_get_highest_frame()
            assert array.uvm_physseg_get_highest_frame() == highest + 1
        if tree.uvm.page_init_done:
            batch = np.arange(UNIVERSE, dtype=np.uint64) << np.uint64(12)
            assert tree.phys_to_vm_pages(batch).index.tolist() == (
                array.phys_to_vm_pages(batch).index.tolist()
            )


def test_rbtree_and_static_bsearch_builds_agree() -> None:
    base = settings.default
    run_state_machine_as_test(
        TwoBuilds, settings=settings(base, max_examples=base.max_examples * 3 // 2)
    )
