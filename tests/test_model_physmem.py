"""Stateful model test of the Pythonic face: ``physseg.PhysMem`` against the naive model.

The machine calls every ``PhysMem`` operation (``load``, ``steal_page``, ``boot`` with and
without stealing, ``plug``, ``unplug``, ``set_start_hint``, ``find``, ``page``, ``pages``,
iteration, ``len``, ``holes``, ``stats``, ``snapshot``, ``check``), valid calls and calls the
face must refuse. It predicts the outcome from :class:`NaiveKernel` plus the face's own rules
(validation first, then the kernel): an accepted call must do what the model does; a refused
call must raise the documented ``PhysSegError`` subclass and leave :func:`full_state` exactly as
it was. After every step the engine underneath is compared with the model
(:func:`check_agreement`) and ``PhysMem.check()`` (the engine's ``Kernel.check()``) must pass;
no ``KernelPanic`` may escape.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
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

from conftest import mode_examples
from physseg import (
    BootPhaseError,
    CapacityError,
    LastSegmentError,
    OutOfMemoryError,
    PhysMem,
    PhysSegError,
    RangeNotManagedError,
    RangeOverlapError,
    Segment,
    StaleSegmentError,
    UnsupportedOperationError,
)
from physseg.core.alloc import FailingAllocator
from support.naive import (
    UNPLUG_SHAPES,
    Expected,
    Hang,
    Kassert,
    NaiveKernel,
    NaiveSeg,
    Unmodelled,
    check_agreement,
    full_state,
    unplug_range,
)

pytestmark = pytest.mark.usefixtures("page_mode")

UNIVERSE = 160
NFREELIST = 3
MAX_SPAN = 24


@dataclass(frozen=True)
class Config:
    """One ``PhysMem`` construction."""

    ident: str
    backend: str
    physseg_max: int
    strategy: str
    coalesce: bool = False


CONFIGS = [
    Config("rbtree-max64", "rbtree", 64, "bsearch"),
    Config("rbtree-max1", "rbtree", 1, "bsearch"),
    Config("rbtree-max3-bigfirst", "rbtree", 3, "bigfirst"),
    Config("rbtree-max4-coalesce", "rbtree", 4, "bsearch", coalesce=True),
    Config("static-bsearch", "static", 6, "bsearch"),
    Config("static-bigfirst", "static", 6, "bigfirst"),
]

LOADS = st.tuples(
    st.integers(0, UNIVERSE - MAX_SPAN),
    st.integers(1, MAX_SPAN),
    st.just(0) | st.integers(0, MAX_SPAN),
    st.just(0) | st.integers(0, MAX_SPAN),
    st.integers(0, NFREELIST - 1),
)
"""start, length, unavailable head pages, unavailable tail pages, free list."""


def mergeable(left: NaiveSeg, right: NaiveSeg) -> bool:
    """What ``RBTreeKernel.segments_mergeable`` allows (adjacent, same free list, one run of
    one slab, avail windows reaching the shared edge)."""
    return (
        left.end == right.start
        and left.free_list == right.free_list
        and left.slab is not None
        and left.slab is right.slab
        and left.first + (left.end - left.start) == right.first
        and left.avail_end == left.end
        and right.avail_start == right.start
    )


class PhysMemMachine(RuleBasedStateMachine):
    """A ``PhysMem`` and a ``NaiveKernel`` receiving the same calls."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.pm = PhysMem(
            config.backend,
            physseg_max=config.physseg_max,
            strategy=config.strategy,
            nfreelist=NFREELIST,
            coalesce=config.coalesce,
        )
        pm = self.pm
        assert (pm.backend, pm.coalesce, pm.safe_unplug) == (config.backend, config.coalesce, False)
        assert (pm.page_shift, pm.page_size, pm.max_pfn) == (12, 4096, 1 << 52)
        self.model = NaiveKernel(
            config.backend, config.physseg_max, config.strategy, nfreelist=NFREELIST
        )
        self.views: list[Segment] = []
        self.unplugged: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ plumbing
    def refused(self, error: type[PhysSegError], call: Callable[[], object]) -> None:
        """``call`` must raise ``error`` and change nothing."""
        before = full_state(self.pm)
        with pytest.raises(error) as info:
            call()
        assert full_state(self.pm) == before, f"{info.value} changed the state"
        assert str(info.value), "an error without a message"
        event(f"refused: {error.__name__}")

    def transaction(self, predict: Callable[[], Any]) -> tuple[Any, Expected | None]:
        """Run a model call the face wraps in a rollback: on a predicted abort the model is
        restored and the abort returned."""
        backup = self.model.clone()
        try:
            return predict(), None
        except Expected as exc:
            self.model = backup
            return None, exc

    def remember(self, view: Segment) -> Segment:
        self.views.append(view)
        del self.views[:-12]
        return view

    def pick(self, index: int) -> NaiveSeg:
        return self.model.segs[index % len(self.model.segs)]

    def boot_error(self, abort: Expected) -> type[PhysSegError]:
        """The face's error for a page steal the kernel aborts."""
        if isinstance(abort, Kassert):
            return CapacityError
        if str(abort).endswith("out of memory!"):
            return LastSegmentError
        return OutOfMemoryError

    def at_boot(self) -> bool:
        return not self.model.booted

    def at_run_time(self) -> bool:
        return self.model.booted

    # ------------------------------------------------------------------ boot time
    @initialize(memory_map=st.lists(LOADS, min_size=1, max_size=4))
    def load_memory_map(self, memory_map: list[tuple[int, int, int, int, int]]) -> None:
        for load in memory_map:
            self.load(*load)

    @precondition(at_boot)
    @rule(load=LOADS, overlap=st.booleans())
    def load_one(self, load: tuple[int, int, int, int, int], overlap: bool) -> None:
        start, *rest = load
        if not overlap:
            start = self.model.free_pfn(start)
        self.load(start, *rest)

    def load(self, start: int, length: int, head: int, tail: int, free_list: int) -> None:
        room = self.model.free_run(start)
        end = start + (min(length, room) if room else length)
        avail_start = min(start + head, end)
        avail_end = max(avail_start, end - tail)
        call = lambda: self.pm.load(start, end, avail_start, avail_end, free_list)  # noqa: E731
        if self.model.booted:
            self.refused(BootPhaseError, call)
        elif any(self.model.owner(pfn) for pfn in range(start, end)):
            self.refused(RangeOverlapError, call)
        elif (self.model.nseg if self.model.rbtree else len(self.model.segs)) >= (
            self.model.physseg_max
        ):
            self.refused(CapacityError, call)
        else:
            seg = self.model.physload(start, end, avail_start, avail_end, free_list)
            view = call()
            assert (view.start, view.end, view.avail_start, view.avail_end) == seg.fields[:4]
            self.remember(view)

    @precondition(at_boot)
    @rule()
    def steal_page(self) -> None:
        if self.model.booted:
            self.refused(BootPhaseError, self.pm.steal_page)
            return
        result, abort = self.transaction(self.model.physget)
        if abort is not None:
            self.refused(self.boot_error(abort), self.pm.steal_page)
        elif not result[0]:
            self.refused(OutOfMemoryError, self.pm.steal_page)
        else:
            assert self.pm.steal_page() == result[1]

    @precondition(at_boot)
    @rule(steal=st.booleans())
    def boot(self, steal: bool) -> None:
        call = lambda: self.pm.boot(steal=steal)  # noqa: E731
        if self.model.booted or not self.model.segs:
            self.refused(BootPhaseError, call)
            return
        if not steal:
            self.model.page_init_fake(sum(s.end - s.start for s in self.model.segs))
            call()
            return
        _, abort = self.transaction(self.model.page_init)
        if abort is not None:
            self.refused(self.boot_error(abort), call)
        else:
            call()
            event("booted")

    @precondition(at_run_time)
    @rule(call=st.sampled_from(["load", "steal_page", "boot"]), load=LOADS)
    def boot_call_after_boot(self, call: str, load: tuple[int, int, int, int, int]) -> None:
        if call == "load":
            self.load(*load)
        elif call == "steal_page":
            self.steal_page()
        else:
            self.boot(steal=bool(load[4] % 2))

    # ------------------------------------------------------------------ run time
    @precondition(at_boot)
    @rule(call=st.sampled_from(["plug", "unplug"]), index=st.integers(0, 63))
    def run_time_call_at_boot(self, call: str, index: int) -> None:
        if call == "plug":
            self.plug(index, 1)
        else:
            self.unplug(index, "whole", 0, 0)

    @precondition(at_run_time)
    @rule(start=st.integers(0, UNIVERSE - MAX_SPAN), length=st.integers(1, MAX_SPAN))
    def plug(self, start: int, length: int) -> None:
        room = self.model.free_run(start)
        self.plug_range(start, min(length, room) if room else length)

    @precondition(lambda self: bool(self.unplugged))
    @rule(index=st.integers(0, 63))
    def replug(self, index: int) -> None:
        """Plug back a range unplugged earlier: it scavenges the freed slots and, with
        ``coalesce``, merges with the neighbours it was cut from."""
        self.plug_range(*self.unplugged[index % len(self.unplugged)])

    def plug_range(self, start: int, pages: int) -> None:
        room = self.model.free_run(start)
        call = lambda: self.pm.plug(start, pages)  # noqa: E731
        if not self.model.booted:
            self.refused(BootPhaseError, call)
        elif not self.model.rbtree:
            self.refused(UnsupportedOperationError, call)
        elif room < pages:
            self.refused(RangeOverlapError, call)
        else:
            try:
                ok, seg = self.model.plug(start, pages)
            except Unmodelled as exc:
                event(f"skipped: {exc}")
                return
            except (Kassert, Hang):  # an allocation KASSERT, or a hang (quirk 38)
                ok = False
            if not ok:
                self.refused(OutOfMemoryError, call)
                return
            assert seg is not None
            if self.config.coalesce:
                seg = self.coalesce(seg)
            view = call()
            assert (view.start, view.end) == (seg.start, seg.end)
            self.remember(view)

    def coalesce(self, seg: NaiveSeg) -> NaiveSeg:
        """The face's opt-in merge after a plug: with the predecessor, then the successor."""
        order = self.model.segs
        index = order.index(seg)
        if index > 0 and mergeable(order[index - 1], seg):
            left = order[index - 1]
            left.end, left.avail_end = seg.end, seg.avail_end
            order.remove(seg)
            seg = left
            event("coalesced with the predecessor")
        index = order.index(seg)
        if index + 1 < len(order) and mergeable(seg, order[index + 1]):
            right = order[index + 1]
            seg.end, seg.avail_end = right.end, right.avail_end
            order.remove(right)
            event("coalesced with the successor")
        return seg

    @precondition(at_run_time)
    @rule(
        index=st.integers(0, 63),
        shape=st.sampled_from(UNPLUG_SHAPES),
        a=st.integers(0, 255),
        b=st.integers(0, 255),
    )
    def unplug(self, index: int, shape: str, a: int, b: int) -> None:
        if not self.model.segs:
            return
        seg = self.pick(index)
        pfn, pages = unplug_range(self.model, seg, shape, a, b, UNIVERSE)
        call = lambda: self.pm.unplug(pfn, pages)  # noqa: E731
        holder = self.model.owner(pfn)
        whole = holder is not None and pages == holder.end - holder.start
        if not self.model.booted:
            self.refused(BootPhaseError, call)
        elif holder is None or pfn + pages > holder.end:
            self.refused(RangeNotManagedError, call)
        elif whole and len(self.model.segs) == 1:
            self.refused(LastSegmentError, call)
        elif self.unsupported(holder, pfn, pages):
            self.refused(UnsupportedOperationError, call)
        elif not self.model.unplug(pfn, pages, atomic=True):
            self.refused(OutOfMemoryError, call)
        else:
            call()
            self.unplugged = [*self.unplugged[-7:], (pfn, pages)]
            event(f"unplug {shape}")

    def unsupported(self, holder: NaiveSeg, pfn: int, pages: int) -> bool:
        """A middle split of a static segment; with one boot pool slot, removing the segment
        whose record is that slot (the kernel would panic freeing it)."""
        if pfn > holder.start and pfn + pages < holder.end:
            return not self.model.rbtree
        whole = pages == holder.end - holder.start
        return whole and holder.pool and self.model.physseg_max == 1

    @rule(index=st.integers(0, 63), hint=st.integers(0, 2**64 - 1))
    def set_start_hint(self, index: int, hint: int) -> None:
        if not self.views:
            return
        view = self.views[index % len(self.views)]
        live = next(
            (s for s in self.model.segs if (s.start, s.end) == (view.start, view.end)), None
        )
        if live is None:
            self.refused(StaleSegmentError, lambda: self.pm.set_start_hint(view, hint))
            return
        live.start_hint = hint
        assert self.pm.set_start_hint(view, hint).start_hint == hint

    # ------------------------------------------------------------------ lookups
    @rule(pfn=st.integers(0, UNIVERSE + 8), byte=st.integers(0, 4095))
    def lookups(self, pfn: int, byte: int) -> None:
        seg = self.model.owner(pfn)
        found = self.pm.find(pfn)
        if seg is None:
            assert found is None
        else:
            assert found is not None and found[1] == pfn - seg.start
            assert (found[0].start, found[0].end) == (seg.start, seg.end)
        pa = (pfn << 12) + byte
        if not self.model.booted:
            self.refused(BootPhaseError, lambda: self.pm.page(pa))
            self.refused(BootPhaseError, lambda: self.pm.pages([pa]))
            return
        page = self.pm.page(pa)
        batch = self.pm.pages(np.array([pa, pa + 4096], dtype=np.uint64))
        if seg is None:
            assert page is None and batch.index[0] == -1
            return
        assert seg.slab is not None and page is not None
        assert (page.slab.ident, page.index) == (seg.slab.ident, seg.first + pfn - seg.start)
        assert page.phys_addr == pfn << 12
        assert (batch.slab[0], batch.index[0]) == (page.slab.ident, page.index)

    @invariant()
    def agrees_with_model(self) -> None:
        pm, model = self.pm, self.model
        check_agreement(pm.kernel, model, UNIVERSE + 4)
        pm.check()
        views = pm.segments()
        assert [(v.start, v.end, v.avail_start, v.avail_end) for v in views] == [
            s.fields[:4] for s in model.segs
        ]
        for view, seg in zip(views, model.segs, strict=True):
            window = min(seg.avail_end, seg.end) - max(seg.avail_start, seg.start)
            assert view.navail == max(0, window)
            assert view.start in view and view.end not in view and "x" not in view
        assert len(pm) == model.nentries
        spans = sorted((s.start, s.end) for s in model.segs)
        holes = [(a[1], b[0]) for a, b in itertools.pairwise(spans) if b[0] > a[1]]
        assert pm.holes() == holes
        stats = pm.stats()
        assert stats["segments"] == len(model.segs)
        assert stats["managed_pages"] == sum(s.end - s.start for s in model.segs)
        assert (stats["free_pages"], stats["physmem"]) == (model.npages, model.physmem)
        assert stats["holes"] == len(holes)
        snapshot = pm.snapshot()
        assert tuple(state.view for state in snapshot.segments) == tuple(views)
        assert (snapshot.booted, snapshot.npages) == (model.booted, model.npages)


def machine_settings(page_mode: str) -> settings:
    """The profile's budget split over the configurations, and between the page modes (see
    ``tests/conftest.py``)."""
    base = settings.default
    return settings(
        base, max_examples=mode_examples(max(10, base.max_examples * 3 // 10), page_mode)
    )


class BootedPhysMemMachine(PhysMemMachine):
    """The same machine, booted in ``initialize`` so that every step is a run-time one."""

    @initialize(memory_map=st.lists(LOADS, min_size=1, max_size=4), steal=st.booleans())
    def load_memory_map(  # type: ignore[override]
        self, memory_map: list[tuple[int, int, int, int, int]], steal: bool
    ) -> None:
        for load in memory_map:
            self.load(*load)
        self.boot(steal)


class FaultyPhysMemMachine(BootedPhysMemMachine):
    """The booted machine (every page available, so that boot succeeds) on an allocator that
    refuses a few run-time allocations hypothesis picks: a plug or unplug the model says fails
    there must raise ``OutOfMemoryError`` and change nothing; the others must go through."""

    @initialize(
        memory_map=st.lists(LOADS, min_size=1, max_size=4),
        steal=st.booleans(),
        fail_at=st.frozensets(st.integers(1, 10), min_size=1, max_size=5),
    )
    def load_memory_map(  # type: ignore[override]
        self, memory_map: list[tuple[int, int, int, int, int]], steal: bool, fail_at: frozenset[int]
    ) -> None:
        config = self.config
        self.pm = PhysMem(
            config.backend,
            physseg_max=config.physseg_max,
            strategy=config.strategy,
            nfreelist=NFREELIST,
            coalesce=config.coalesce,
            allocator=FailingAllocator(fail_at),
        )
        self.model = NaiveKernel(
            config.backend,
            config.physseg_max,
            config.strategy,
            nfreelist=NFREELIST,
            fail_at=fail_at,
        )
        full = [(start, length, 0, 0, free_list) for start, length, _, _, free_list in memory_map]
        super().load_memory_map(full, steal)

    @invariant()
    def same_allocations(self) -> None:
        assert self.pm.kernel.allocator.calls == self.model.calls


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.ident)
def test_physmem_agrees_with_the_naive_model(config: Config, page_mode: str) -> None:
    run_state_machine_as_test(lambda: PhysMemMachine(config), settings=machine_settings(page_mode))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.ident)
def test_booted_physmem_agrees_with_the_naive_model(config: Config, page_mode: str) -> None:
    run_state_machine_as_test(
        lambda: BootedPhysMemMachine(config), settings=machine_settings(page_mode)
    )


@pytest.mark.parametrize(
    "config", [c for c in CONFIGS if c.backend == "rbtree"], ids=lambda c: c.ident
)
def test_physmem_under_allocation_faults_agrees_with_the_naive_model(
    config: Config, page_mode: str
) -> None:
    run_state_machine_as_test(
        lambda: FaultyPhysMemMachine(config), settings=machine_settings(page_mode)
    )
