"""Stateful model test of the NetBSD face: ``physseg.netbsd.Kernel`` against the naive model.

One hypothesis state machine drives a kernel through its whole life, boot-time
``uvm_page_physload`` / ``uvm_physseg_unplug`` / ``uvm_page_physunload`` / ``_force`` /
``uvm_page_physget``, then ``uvm_page_init`` (real, with page stealing, or the ATF
``uvm_page_init_fake``), then run-time ``uvm_physseg_plug`` and ``uvm_physseg_unplug`` (whole,
front, back, middle, plus ranges in holes and across segment ends, with and without
``atomic``), start hints and the boot-only calls made too late. Every call goes to the engine
and to :class:`NaiveKernel`; a predicted panic or KASSERT must happen. After every step
:func:`check_agreement` compares the two on every PFN and every page.

When the kernel aborts with some of its work already done (the last-segment unplug after its
``extent_free``, quirk 17), the real kernel is dead: the machine stops mutating and keeps
checking lookups. Until then ``Kernel.check()`` runs after every step (see
:meth:`KernelMachine.kernel_indexes_hold`).

The machine runs on every backend and strategy: the rbtree build with ``VM_PHYSSEG_MAX`` 1
(the ATF build), 3 and 16, with BSEARCH and BIGFIRST (which reverses ``physget``'s walk), and
the static array with the "contig" lookup (``VM_PHYSSEG_MAX == 1``) and with each strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from physseg import KernelAssertionError, KernelHang, KernelPanic
from physseg.core.alloc import FailingAllocator
from physseg.netbsd import Kernel, RBTreeKernel, make_kernel
from support.naive import (
    UNPLUG_SHAPES,
    Expected,
    Hang,
    Kassert,
    NaiveKernel,
    NaiveSeg,
    Panic,
    Unmodelled,
    check_agreement,
    fields,
    unplug_range,
)

pytestmark = pytest.mark.usefixtures("page_mode")

UNIVERSE = 160
"""PFNs the machine uses: every segment lies below it and every PFN below it is looked up."""
NFREELIST = 3
MAX_SPAN = 24
ABORTS: dict[type[Expected], type[BaseException]] = {
    Panic: KernelPanic,
    Kassert: KernelAssertionError,
    Hang: KernelHang,
}
"""The engine's exception for each abort the model predicts."""


def _free_list(draw: int) -> int:
    """Mostly a valid free list; -1 and ``NFREELIST`` (bad ones) once in a while."""
    return draw if draw < 0 or draw >= 4 * NFREELIST else draw % NFREELIST


def loads(free_lists: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, int, int, int, int]]:
    """A ``uvm_page_physload``: start, length, unavailable head and tail pages, free list.
    The machine moves a managed start to the next free PFN unless the length is a multiple of
    8 (so a few loads overlap at their first PFN) and clips the length to the free run."""
    return st.tuples(
        st.integers(0, UNIVERSE - MAX_SPAN),
        st.integers(1, MAX_SPAN),
        st.just(0) | st.integers(0, MAX_SPAN),
        st.just(0) | st.integers(0, MAX_SPAN),
        free_lists,
    )


GOOD_LOADS = loads(st.integers(0, NFREELIST - 1))
ANY_LOADS = st.one_of(
    loads(st.integers(-1, 4 * NFREELIST).map(_free_list)),
    st.tuples(st.integers(0, UNIVERSE), st.just(0), st.just(0), st.just(0), st.just(0)),
)
"""Loads with a bad free list now and then, and empty spans (``start >= end`` panics)."""


@dataclass(frozen=True)
class Config:
    """One kernel build."""

    ident: str
    backend: str
    physseg_max: int
    strategy: str


CONFIGS = [
    Config("rbtree-max1", "rbtree", 1, "bsearch"),
    Config("rbtree-max3", "rbtree", 3, "bsearch"),
    Config("rbtree-max16", "rbtree", 16, "bsearch"),
    Config("rbtree-max16-bigfirst", "rbtree", 16, "bigfirst"),
    Config("static-contig", "static", 1, "bsearch"),
    Config("static-bsearch", "static", 8, "bsearch"),
    Config("static-random", "static", 8, "random"),
    Config("static-bigfirst", "static", 8, "bigfirst"),
]


class KernelMachine(RuleBasedStateMachine):
    """A ``Kernel`` and a ``NaiveKernel`` receiving the same calls."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.kernel: Kernel = make_kernel(
            config.backend,
            physseg_max=config.physseg_max,
            strategy=config.strategy,
            nfreelist=NFREELIST,
        )
        self.model = NaiveKernel(
            config.backend, config.physseg_max, config.strategy, nfreelist=NFREELIST
        )
        self.halted = False

    # ------------------------------------------------------------------ plumbing
    def run(self, predict: Callable[[], Any], act: Callable[[], Any]) -> tuple[Any, Any] | None:
        """Predict with the model, then act on the engine. Returns ``(expected, actual)``, or
        None when the model predicted an abort (and the engine aborted the same way) or does
        not cover the call (and the engine was not called)."""
        before = self.model.signature()
        try:
            expected = predict()
        except Unmodelled as exc:
            event(f"skipped: {exc}")
            return None
        except Expected as exc:
            with pytest.raises(ABORTS[type(exc)]):
                act()
            event(f"abort: {type(exc).__name__} {exc}")
            if before != self.model.signature():
                event("abort with partial effects: machine halted")
                self.halted = True
            return None
        actual = act()
        if failed(expected) and before != self.model.signature():
            event("failure with partial effects: machine halted")
            self.halted = True
        return expected, actual

    def handle(self, seg: NaiveSeg) -> Any:
        """The engine's handle for the model's segment (same position in the same order)."""
        position = self.model.segs.index(seg)
        if self.model.rbtree:
            return list(self.kernel.segments())[position]
        return position

    def pick(self, index: int) -> NaiveSeg:
        return self.model.segs[index % len(self.model.segs)]

    def alive(self) -> bool:
        return not self.halted

    def at_boot(self) -> bool:
        return not self.halted and not self.model.booted

    def at_boot_with_segments(self) -> bool:
        return self.at_boot() and bool(self.model.segs)

    def at_run_time(self) -> bool:
        return not self.halted and self.model.booted

    # ------------------------------------------------------------------ boot time
    @initialize(memory_map=st.lists(GOOD_LOADS, min_size=1, max_size=5))
    def load_memory_map(self, memory_map: list[tuple[int, int, int, int, int]]) -> None:
        """The machine-dependent boot code loads a few segments first."""
        for load in memory_map:
            self.physload(*load)

    @precondition(at_boot)
    @rule(load=ANY_LOADS)
    def physload_one(self, load: tuple[int, int, int, int, int]) -> None:
        self.physload(*load)

    def physload(self, start: int, length: int, head: int, tail: int, free_list: int) -> None:
        if length % 8 and self.model.owner(start) is not None:
            start = self.model.free_pfn(start)
        room = self.model.free_run(start)
        end = start + (min(length, room) if room and length else length)
        avail_start = min(start + head, end)
        avail_end = max(avail_start, end - tail)
        outcome = self.run(
            lambda: self.model.physload(start, end, avail_start, avail_end, free_list),
            lambda: self.kernel.uvm_page_physload(start, end, avail_start, avail_end, free_list),
        )
        if outcome is not None:
            seg, upm = outcome
            assert fields(self.kernel.seg(upm)) == seg.fields

    @precondition(at_boot_with_segments)
    @rule(
        index=st.integers(0, 63),
        freelist=st.integers(0, NFREELIST - 1),
        force=st.booleans(),
    )
    def physunload(self, index: int, freelist: int, force: bool) -> None:
        seg = self.pick(index)
        upm = self.handle(seg)
        if force:
            outcome = self.run(
                lambda: self.model.physunload_force(seg),
                lambda: self.kernel.uvm_page_physunload_force(upm, freelist),
            )
        else:
            outcome = self.run(
                lambda: self.model.physunload(seg, freelist),
                lambda: self.kernel.uvm_page_physunload(upm, freelist),
            )
        if outcome is not None:
            assert outcome[1] == outcome[0]

    @precondition(lambda self: self.alive() and bool(self.model.segs))
    @rule(index=st.integers(0, 63), end=st.booleans(), value=st.integers(-2, MAX_SPAN + 2))
    def set_avail(self, index: int, end: bool, value: int) -> None:
        """The ``UVM_PHYSSEG_LEGACY`` setters, with values on both sides of their KASSERTs."""
        seg = self.pick(index)
        upm = self.handle(seg)
        pfn = max(0, (seg.avail_end if end else seg.start) + value - 2)
        if end:
            self.run(
                lambda: self.model.set_avail_end(seg, pfn),
                lambda: self.kernel.uvm_physseg_set_avail_end(upm, pfn),
            )
        else:
            self.run(
                lambda: self.model.set_avail_start(seg, pfn),
                lambda: self.kernel.uvm_physseg_set_avail_start(upm, pfn),
            )

    @precondition(at_boot)
    @rule()
    def physget(self) -> None:
        outcome = self.run(self.model.physget, self.kernel.uvm_page_physget)
        if outcome is not None:
            assert outcome[1] == outcome[0]

    @precondition(at_boot_with_segments)
    @rule(
        index=st.integers(0, 63),
        shape=st.sampled_from(UNPLUG_SHAPES),
        a=st.integers(0, 255),
        b=st.integers(0, 255),
    )
    def boot_unplug(self, index: int, shape: str, a: int, b: int) -> None:
        pfn, pages = unplug_range(self.model, self.pick(index), shape, a, b, UNIVERSE)
        outcome = self.run(
            lambda: self.model.unplug(pfn, pages),
            lambda: self.kernel.uvm_physseg_unplug(pfn, pages),
        )
        if outcome is not None:
            assert outcome[1] is outcome[0]

    @precondition(at_boot_with_segments)
    @rule(fake=st.booleans())
    def page_init(self, fake: bool) -> None:
        if fake:
            pagecount = sum(s.end - s.start for s in self.model.segs)
            self.run(
                lambda: self.model.page_init_fake(pagecount),
                lambda: self.kernel.uvm_page_init_fake(pagecount),
            )
        else:
            self.run(self.model.page_init, self.kernel.uvm_page_init)

    # ------------------------------------------------------------------ run time
    def hot_plug_capable(self) -> bool:
        return self.at_run_time() and self.model.rbtree

    @precondition(hot_plug_capable)
    @rule(start=st.integers(0, UNIVERSE - MAX_SPAN), length=st.integers(1, MAX_SPAN))
    def plug(self, start: int, length: int) -> None:
        room = self.model.free_run(start)
        pages = min(length, room) if room else length
        outcome = self.run(
            lambda: self.model.plug(start, pages),
            lambda: self.kernel.uvm_physseg_plug(start, pages),
        )
        if outcome is None:
            return
        (ok, seg), (engine_ok, upm) = outcome
        assert engine_ok is ok
        if ok:
            assert seg is not None and fields(self.kernel.seg(upm)) == seg.fields
            event("plug: scavenged" if seg.slab is not self.model.slabs[-1] else "plug: new slab")

    @precondition(at_run_time)
    @rule(
        index=st.integers(0, 63),
        shape=st.sampled_from(UNPLUG_SHAPES),
        a=st.integers(0, 255),
        b=st.integers(0, 255),
        atomic=st.booleans(),
    )
    def unplug(self, index: int, shape: str, a: int, b: int, atomic: bool) -> None:
        pfn, pages = unplug_range(self.model, self.pick(index), shape, a, b, UNIVERSE)
        outcome = self.run(
            lambda: self.model.unplug(pfn, pages, atomic=atomic),
            lambda: self.kernel.uvm_physseg_unplug(pfn, pages, atomic=atomic),
        )
        if outcome is not None:
            assert outcome[1] is outcome[0]
            event(f"unplug {shape}: {outcome[0]}")

    @precondition(lambda self: self.alive() and bool(self.model.segs))
    @rule(index=st.integers(0, 63), hint=st.integers(0, 2**64 - 1))
    def set_start_hint(self, index: int, hint: int) -> None:
        seg = self.pick(index)
        assert self.kernel.uvm_physseg_set_start_hint(self.handle(seg), hint)
        seg.start_hint = hint

    @precondition(at_run_time)
    @rule(call=st.sampled_from(["physload", "physunload", "physunload_force", "physget", "plug"]))
    def call_not_allowed_after_boot(self, call: str) -> None:
        """A boot-only call, or a plug into the static array (which cannot hot-plug): the
        kernel panics, or refuses when the plug starts inside a segment or the array is full."""
        if call == "plug" and self.model.rbtree:
            return
        seg = self.model.segs[0]
        upm = self.handle(seg)
        model, kernel = self.model, self.kernel
        predict: dict[str, Callable[[], Any]] = {
            "physload": lambda: model.physload(UNIVERSE, UNIVERSE + 1, UNIVERSE, UNIVERSE + 1, 0),
            "physunload": lambda: model.physunload(seg, 0),
            "physunload_force": lambda: model.physunload_force(seg),
            "physget": model.physget,
            "plug": lambda: model.plug(model.free_pfn(0), 1),
        }
        act: dict[str, Callable[[], Any]] = {
            "physload": lambda: kernel.uvm_page_physload(
                UNIVERSE, UNIVERSE + 1, UNIVERSE, UNIVERSE + 1, 0
            ),
            "physunload": lambda: kernel.uvm_page_physunload(upm, 0),
            "physunload_force": lambda: kernel.uvm_page_physunload_force(upm, 0),
            "physget": kernel.uvm_page_physget,
            "plug": lambda: kernel.uvm_physseg_plug(model.free_pfn(0), 1),
        }
        outcome = self.run(predict[call], act[call])
        if outcome is not None:
            (ok, _), (engine_ok, _) = outcome
            assert not ok and engine_ok is False

    # ------------------------------------------------------------------ always
    @rule(pfn=st.integers(0, UNIVERSE + 8))
    def lookup(self, pfn: int) -> None:
        upm, off = self.kernel.uvm_physseg_find(pfn)
        seg = self.model.owner(pfn)
        assert (off is None) is (seg is None)
        if seg is not None:
            assert fields(self.kernel.seg(upm)) == seg.fields and off == pfn - seg.start

    @invariant()
    def agrees_with_model(self) -> None:
        check_agreement(self.kernel, self.model, UNIVERSE + 4)

    @invariant()
    def kernel_indexes_hold(self) -> None:
        """``Kernel.check()`` after every step, unless the machine is halted (an abort left
        part of the kernel's work done). A kernel that hit the boot pool's KASSERT
        (``nseg <= VM_PHYSSEG_MAX``, which fires after the increment) keeps its cursor past
        the pool's end, in the model as in the engine: the one invariant that KASSERT breaks,
        so the check sees the cursor at the pool's end and verifies everything else."""
        if self.halted:
            return
        kernel = self.kernel
        if self.model.nseg <= self.model.physseg_max:
            kernel.check()
            return
        assert isinstance(kernel, RBTreeKernel)
        nseg, kernel.nseg = kernel.nseg, kernel.VM_PHYSSEG_MAX
        try:
            kernel.check()
        finally:
            kernel.nseg = nseg


class BootedKernelMachine(KernelMachine):
    """The same machine, booted before its first step, so that the run-time half gets every
    step: the memory map is loaded and ``uvm_page_init`` (or the fake) runs in ``initialize``."""

    @initialize(memory_map=st.lists(GOOD_LOADS, min_size=1, max_size=5), fake=st.booleans())
    def load_memory_map(  # type: ignore[override]
        self, memory_map: list[tuple[int, int, int, int, int]], fake: bool
    ) -> None:
        for load in memory_map:
            self.physload(*load)
        if self.model.segs:
            self.page_init(fake)


class FaultyKernelMachine(BootedKernelMachine):
    """The booted machine (loads with every page available, so that boot succeeds) on an
    allocator that refuses a few run-time allocations, chosen by hypothesis: at each refusal
    the kernel must do what the model says the kernel does there (a clean ``false``, a smaller
    slab, the extent KASSERT, a leak), and both must have asked for the same number of
    allocations. A failure that leaves partial effects (a middle unplug
    whose tail record is refused after its entries were freed) ends the kernel's life."""

    @initialize(
        memory_map=st.lists(GOOD_LOADS, min_size=1, max_size=5),
        fake=st.booleans(),
        fail_at=st.frozensets(st.integers(1, 30), max_size=6),
    )
    def load_memory_map(  # type: ignore[override]
        self, memory_map: list[tuple[int, int, int, int, int]], fake: bool, fail_at: frozenset[int]
    ) -> None:
        config = self.config
        self.kernel = make_kernel(
            config.backend,
            physseg_max=config.physseg_max,
            strategy=config.strategy,
            nfreelist=NFREELIST,
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
        super().load_memory_map(full, fake)

    @invariant()
    def same_allocations(self) -> None:
        assert self.kernel.allocator.calls == self.model.calls


def failed(result: object) -> bool:
    """Whether a kernel call's result reports failure (``False`` or ``(False, ...)``)."""
    if isinstance(result, tuple):
        return result[0] is False
    return result is False


def machine_settings(page_mode: str) -> settings:
    """The profile's budget split over the configurations, and between the page modes (see
    ``tests/conftest.py``)."""
    base = settings.default
    return settings(base, max_examples=mode_examples(base.max_examples * 2 // 5, page_mode))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.ident)
def test_kernel_agrees_with_the_naive_model(config: Config, page_mode: str) -> None:
    run_state_machine_as_test(lambda: KernelMachine(config), settings=machine_settings(page_mode))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.ident)
def test_booted_kernel_agrees_with_the_naive_model(config: Config, page_mode: str) -> None:
    run_state_machine_as_test(
        lambda: BootedKernelMachine(config), settings=machine_settings(page_mode)
    )


@pytest.mark.parametrize(
    "config", [c for c in CONFIGS if c.backend == "rbtree"], ids=lambda c: c.ident
)
def test_kernel_under_allocation_faults_agrees_with_the_naive_model(
    config: Config, page_mode: str
) -> None:
    run_state_machine_as_test(
        lambda: FaultyKernelMachine(config), settings=machine_settings(page_mode)
    )


@pytest.mark.parametrize("backend", ["rbtree", "static"])
def test_page_init_without_memory_panics(backend: str) -> None:
    model = NaiveKernel(backend, 4)
    kernel = make_kernel(backend, physseg_max=4)
    with pytest.raises(Panic, match="no memory pre-allocated"):
        model.page_init()
    with pytest.raises(KernelPanic, match="no memory pre-allocated"):
        kernel.uvm_page_init()
