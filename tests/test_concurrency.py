"""Concurrency: ``PhysMem`` shared between threads, lookups racing with hot-plug.

``test_readers_see_only_published_states``: reader threads hammer every lookup (``find``,
``page``, ``pages``, iteration, ``len``, ``holes``, ``snapshot``) while one writer replays a
fixed plan of plugs and unplugs. The writer publishes the state after each mutation (its
snapshot, then a counter). Every answer a reader gets must be the answer of one published state
between the counter it read before the call and the one after (plus the mutation in flight):
never a half-done plug or unplug. At every checkpoint the writer waits until every reader has
made a call that started after it, so the readers provably interleave with the mutations.

``test_concurrent_writers_are_serialised``: two writers plug and unplug in disjoint regions
while readers run; the end state must be exactly the union of what each writer's plan does
alone, with the counters that add up, and ``check()`` must pass.

Both are bounded (a fixed plan; a deadline on every wait) and their assertions deterministic.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from physseg import PhysMem, Snapshot

READERS = 4
MUTATIONS = 300
CHECKPOINT = 10
"""The writer waits for every reader after each ``CHECKPOINT`` mutations."""
DEADLINE = 30.0
"""Seconds any wait may take before the test fails (the run itself takes about one)."""
BOOT_PAGES = 0x1000
PAGE_SHIFT = 12

Op = tuple[str, int, int]


def machine() -> PhysMem:
    """A booted machine with one large boot segment ``[0, 0x1000)`` that is never touched."""
    pm = PhysMem(physseg_max=8)
    pm.load(0, BOOT_PAGES)
    pm.boot(steal=False)
    return pm


def apply(pm: PhysMem, op: Op) -> None:
    kind, pfn, pages = op
    if kind == "plug":
        pm.plug(pfn, pages)
    else:
        pm.unplug(pfn, pages)


def plan(seed: int, low: int, high: int, steps: int) -> list[Op]:
    """A reproducible list of plugs and unplugs (whole, front, back, middle) inside
    ``[low, high)``, every one valid when applied in order to :func:`machine`."""
    rng = random.Random(seed)
    pm = machine()
    ops: list[Op] = []
    while len(ops) < steps:
        hot = [s for s in pm if low <= s.start < high]
        if hot and rng.random() < 0.5:
            seg = rng.choice(hot)
            n = seg.npages
            shape = rng.choice(["front", "back", "middle", "whole"])
            if shape == "front" and n > 1:
                op: Op = ("unplug", seg.start, rng.randint(1, n - 1))
            elif shape == "back" and n > 1:
                pages = rng.randint(1, n - 1)
                op = ("unplug", seg.end - pages, pages)
            elif shape == "middle" and n > 2:
                off = rng.randint(1, n - 2)
                op = ("unplug", seg.start + off, rng.randint(1, n - 1 - off))
            else:
                op = ("unplug", seg.start, n)
        else:
            start, pages = rng.randrange(low, high - 32), rng.randint(1, 32)
            if any(s.start < start + pages and start < s.end for s in pm):
                continue
            op = ("plug", start, pages)
        apply(pm, op)
        ops.append(op)
    return ops


def find_in(state: Snapshot, pfn: int) -> tuple[int, int, int, int] | None:
    """``(start, end, offset, segment index)`` of the segment holding ``pfn`` in ``state``."""
    for n, seg in enumerate(state.segments):
        if seg.view.start <= pfn < seg.view.end:
            return seg.view.start, seg.view.end, pfn - seg.view.start, n
    return None


def expected(state: Snapshot, kind: str, arg: int) -> Any:
    """What a lookup of ``kind`` with argument ``arg`` answers in ``state``."""
    if kind == "find":
        hit = find_in(state, arg)
        return None if hit is None else hit[:3]
    if kind == "page":
        hit = find_in(state, arg >> PAGE_SHIFT)
        if hit is None:
            return None
        seg = state.segments[hit[3]]
        return seg.slab, seg.index + hit[2], (arg >> PAGE_SHIFT) << PAGE_SHIFT
    if kind == "pages":
        answers = []
        for pfn in range(arg, arg + 64, 3):
            hit = find_in(state, pfn)
            seg = None if hit is None else state.segments[hit[3]]
            answers.append(
                (-1, -1) if seg is None or hit is None else (seg.slab, seg.index + hit[2])
            )
        return tuple(answers)
    views = tuple(seg.view for seg in state.segments)
    if kind == "iterate":
        return views
    if kind == "len":
        return len(views)
    if kind == "holes":
        spans = sorted((v.start, v.end) for v in views)
        return [(a[1], b[0]) for a, b in itertools.pairwise(spans) if b[0] > a[1]]
    assert kind == "snapshot"
    return state


def observe(pm: PhysMem, kind: str, arg: int) -> Any:
    """Make the lookup and reduce its answer to what :func:`expected` computes."""
    if kind == "find":
        found = pm.find(arg)
        return None if found is None else (found[0].start, found[0].end, found[1])
    if kind == "page":
        page = pm.page(arg)
        return None if page is None else (page.slab.ident, page.index, page.phys_addr)
    if kind == "pages":
        pfns = np.arange(arg, arg + 64, 3, dtype=np.uint64)
        batch = pm.pages(pfns << np.uint64(PAGE_SHIFT))
        return tuple(zip(batch.slab.tolist(), batch.index.tolist(), strict=True))
    if kind == "iterate":
        return tuple(pm)
    if kind == "len":
        return len(pm)
    if kind == "holes":
        return pm.holes()
    assert kind == "snapshot"
    return pm.snapshot()


KINDS = ("find", "page", "pages", "iterate", "len", "holes", "snapshot")


class Published:
    """The writer's published states and the counter readers read around each call."""

    def __init__(self, first: Snapshot) -> None:
        self.states = [first]
        self.counter = 0

    def publish(self, state: Snapshot) -> None:
        self.states.append(state)
        self.counter = len(self.states) - 1


class Reader(threading.Thread):
    """Calls lookups until ``stop`` is set, logging ``(before, kind, arg, answer, after)``."""

    def __init__(self, pm: PhysMem, published: Published, stop: threading.Event, seed: int):
        super().__init__(daemon=True)
        self.pm = pm
        self.published = published
        self.stop = stop
        self.rng = random.Random(seed)
        self.calls = 0
        self.log: list[tuple[int, str, int, Any, int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                kind = KINDS[self.calls % len(KINDS)]
                pfn = self.rng.randrange(BOOT_PAGES - 16, 0x2100)
                arg = (pfn << PAGE_SHIFT) + self.rng.randrange(4096) if kind == "page" else pfn
                before = self.published.counter
                answer = observe(self.pm, kind, arg)
                after = self.published.counter
                self.log.append((before, kind, arg, answer, after))
                self.calls += 1
        except BaseException as exc:  # reported by the test thread
            self.error = exc


@contextmanager
def frequent_switches() -> Iterator[None]:
    """Make the interpreter switch threads every 10 µs, so races show up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def wait_until(condition: Callable[[], bool], readers: list[Reader], what: str) -> None:
    """Wait for ``condition``; fail at the deadline or as soon as a reader has failed."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        failed = [r.error for r in readers if r.error is not None]
        assert not failed, f"a reader failed while waiting for {what}: {failed[0]!r}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.0002)


@pytest.mark.parametrize("searching", [False, True], ids=["memo", "span-index"])
def test_readers_see_only_published_states(searching: bool) -> None:
    """``searching``: the per-call crossover lowered to one segment, so ``page`` misses are
    answered from the span index instead of the memo (a large machine's lookup path)."""
    ops = plan(seed=5, low=0x1000, high=0x2000, steps=MUTATIONS)
    pm = machine()
    if searching:
        pm.kernel.lookup.search_segments = 1
    published = Published(pm.snapshot())
    stop = threading.Event()
    readers = [Reader(pm, published, stop, seed) for seed in range(READERS)]
    with frequent_switches():
        for reader in readers:
            reader.start()
        wait_until(lambda: all(r.calls for r in readers), readers, "the readers to start")
        for number, op in enumerate(ops, 1):
            apply(pm, op)
            published.publish(pm.snapshot())
            if number % CHECKPOINT == 0:
                marks = [r.calls + 2 for r in readers]
                wait_until(
                    lambda marks=marks: all(
                        r.calls >= m for r, m in zip(readers, marks, strict=True)
                    ),
                    readers,
                    f"every reader to make a call after mutation {number}",
                )
        stop.set()
        for reader in readers:
            reader.join(DEADLINE)
    assert all(r.error is None for r in readers), [r.error for r in readers]
    states = published.states
    last = len(states) - 1
    observations = [entry for reader in readers for entry in reader.log]
    for before, kind, arg, answer, after in observations:
        window = range(before, min(after + 1, last) + 1)
        assert any(expected(states[j], kind, arg) == answer for j in window), (
            f"{kind}({arg:#x}) answered {answer!r}, which no state {window} published"
        )
    seen = {before for before, *_ in observations}
    assert len(seen) > MUTATIONS // CHECKPOINT
    assert {kind for _, kind, *_ in observations} == set(KINDS)


def test_concurrent_writers_are_serialised() -> None:
    plans = [
        plan(seed=11, low=0x1000, high=0x1800, steps=150),
        plan(seed=12, low=0x1800, high=0x2000, steps=150),
    ]
    alone = []
    for ops in plans:
        pm = machine()
        for op in ops:
            apply(pm, op)
        alone.append(pm)
    pm = machine()
    published = Published(pm.snapshot())
    stop = threading.Event()
    readers = [Reader(pm, published, stop, seed) for seed in range(2)]
    errors: list[BaseException] = []

    def write(ops: list[Op]) -> None:
        try:
            for op in ops:
                apply(pm, op)
        except BaseException as exc:  # reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(ops,), daemon=True) for ops in plans]
    with frequent_switches():
        for thread in [*readers, *writers]:
            thread.start()
        for writer in writers:
            writer.join(DEADLINE)
        stop.set()
        for reader in readers:
            reader.join(DEADLINE)
    assert errors == [] and all(r.error is None for r in readers)
    assert not any(thread.is_alive() for thread in [*readers, *writers])
    pm.check()
    boot = (0, BOOT_PAGES)
    union = sorted({(s.start, s.end) for s in alone[0]} | {(s.start, s.end) for s in alone[1]})
    assert [(s.start, s.end) for s in pm] == union
    assert pm.physmem == alone[0].physmem + alone[1].physmem
    assert pm.npages == alone[0].npages + alone[1].npages - BOOT_PAGES
    assert union[0] == boot
