"""Running the cases: timed runs, side by side, with the random-number cost measured apart.

A lookup case builds its layout once per kernel build, warms every implementation up with
:data:`WARMUP_LOOKUPS` addresses (this is where the per-call memo and the batch table are
filled; the time is reported), then does R runs. A run draws its N addresses in chunks of
:data:`CHUNK` with a seeded numpy generator (timed: the RNG cost), and every implementation
looks up every chunk (timed apart; the order of the implementations rotates from run to run).
The garbage collector is off while timing, as ``timeit`` does.

Times are the thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``), less the cost of reading that
clock: on a shared machine it leaves out the periods other processes hold the CPU, which wall
time would charge to physseg. Wall times are recorded next to them (``wall_times``), and the
load average before and after a benchmark goes in its environment.

A C implementation (``c-*``, with a live comparator :class:`~physseg.bench.ccompare.CSide`;
its child is forked before the case's kernels are built, then given their layout) takes its
turn in the same rotation: its child times the same chunk in C and the runner adds what it
reports to the CPU series (the lesser of C's ``CLOCK_MONOTONIC`` reading and the child's thread
CPU time around the call) and to the wall series (C's reading). A C implementation that
fails (a crash, a panic, a time limit) is dropped from the case with the reason in
``c_failures``; the case goes on.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from physseg.bench.ccompare import CLookup, CSide
from physseg.bench.impls import Chunk, Impl
from physseg.bench.reference import CReference
from physseg.bench.stats import Summary, summarize
from physseg.bench.workloads import LookupCase, MutationCase, Profile, build_kernel
from physseg.errors import CComparatorError
from physseg.netbsd import Kernel

__all__ = [
    "CHUNK",
    "WARMUP_LOOKUPS",
    "BenchResults",
    "LookupResult",
    "MutationResult",
    "NullProgress",
    "Progress",
    "clock_overhead_ns",
    "environment",
    "run_cases",
    "run_lookup_case",
    "run_mutation_case",
]

CHUNK: Final = 1 << 18
"""Addresses drawn and looked up at a time (a 100M-call run never holds 100M addresses). A
batch of this size returns 8 MiB of results, which glibc then serves from memory the process
already has; a batch of 2^20 (32 MiB) is mapped fresh every time and pays ~3 ns a lookup more
for the OS to zero its pages."""
NO_C_SIDE: Final = "this run was given no C side"
"""The reason in :attr:`BenchResults.c_reference` when :func:`run_cases` got no ``c_side``."""
CLOCK_CALIBRATION: Final = 2000
"""Back-to-back clock reads whose minimum is the clock's own cost, subtracted from timings."""
WARMUP_LOOKUPS: Final = 1 << 16
"""Untimed-for-the-runs lookups per implementation before the first run (enough to touch every
memo window of the 4 GiB case with overwhelming probability)."""


class Progress(Protocol):
    """Where the runner reports progress (the CLI draws rich progress bars)."""

    def start(self, description: str, total: int) -> None:
        """A new task of ``total`` steps begins."""

    def advance(self, steps: int) -> None:
        """``steps`` more steps of the current task are done."""


class NullProgress:
    """Progress that goes nowhere."""

    def start(self, description: str, total: int) -> None:
        """Ignore the new task."""

    def advance(self, steps: int) -> None:
        """Ignore the steps."""


@dataclass(slots=True)
class LookupResult:
    """Timings of one lookup case: per implementation, the seconds of each run's lookups."""

    case: LookupCase
    lookups: int
    runs: int
    impls: list[Impl]
    build_s: dict[str, float] = field(default_factory=dict)
    """Seconds to build the layout, per kernel build."""
    warmup_s: dict[str, float] = field(default_factory=dict)
    """Seconds of the warm-up pass (``WARMUP_LOOKUPS`` lookups), per implementation."""
    times: dict[str, list[float]] = field(default_factory=dict)
    """Per implementation, per run: CPU seconds of the lookups."""
    wall_times: dict[str, list[float]] = field(default_factory=dict)
    """The same in wall-clock seconds."""
    rng_array: list[float] = field(default_factory=list)
    """Per run: seconds to draw the addresses as numpy arrays."""
    rng_list: list[float] = field(default_factory=list)
    """Per run: seconds to turn them into Python ints (what per-call implementations read)."""
    c_failures: dict[str, str] = field(default_factory=dict)
    """Per C implementation dropped from the case: why (the comparator's error)."""

    def impl_names(self) -> list[str]:
        """The implementations that ran, in report order."""
        return [impl.name for impl in self.impls]

    def seconds(self, impl: str, *, with_rng: bool = False) -> Summary:
        """Run-time statistics of ``impl`` in seconds, optionally with the RNG cost added
        (array drawing for batch implementations, plus the list conversion for the others)."""
        times = self.times[impl]
        if with_rng:
            rng = self._rng_for(impl)
            times = [t + r for t, r in zip(times, rng, strict=True)]
        return summarize(times)

    def ns_per_lookup(self, impl: str, *, with_rng: bool = False) -> Summary:
        """Run-time statistics of ``impl`` as nanoseconds per lookup."""
        return self.seconds(impl, with_rng=with_rng).scaled(1e9 / self.lookups)

    def rng_seconds(self, impl: str) -> Summary:
        """Statistics of the per-run RNG cost ``impl`` pays."""
        return summarize(self._rng_for(impl))

    def setup_s(self, impl: str) -> float:
        """One-time cost of ``impl`` beyond its steady lookups: the warm-up pass minus what the
        same number of lookups takes in the runs (the memo fill or table build), >= 0."""
        steady = self.seconds(impl).mean / self.lookups * WARMUP_LOOKUPS
        return max(0.0, self.warmup_s[impl] - steady)

    def _rng_for(self, impl: str) -> list[float]:
        chosen = next(i for i in self.impls if i.name == impl)
        if chosen.style == "batch" or chosen.in_c:
            return self.rng_array
        return [a + b for a, b in zip(self.rng_array, self.rng_list, strict=True)]


@dataclass(slots=True)
class MutationResult:
    """Timings of one mutation case: per run, the mean microseconds of a plug and an unplug."""

    case: MutationCase
    runs: int
    ops: int
    build_s: float = 0.0
    plug_us: list[float] = field(default_factory=list)
    unplug_us: list[float] = field(default_factory=list)


@dataclass(slots=True)
class BenchResults:
    """Everything one ``physseg bench`` invocation measured."""

    profile: str
    seed: int
    command: str
    lookups: list[LookupResult] = field(default_factory=list)
    mutations: list[MutationResult] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    c_reference: CReference = field(default_factory=lambda: CReference.not_measured(NO_C_SIDE))
    """Which C the ``c-*`` figures are, where and when measured; or why there are none."""


@contextmanager
def _gc_off() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def clock_overhead_ns() -> int:
    """What one reading of the thread CPU clock costs (the least of many back-to-back
    readings), in nanoseconds."""
    clock = time.thread_time_ns
    best = None
    for _ in range(CLOCK_CALIBRATION):
        t0 = clock()
        t1 = clock()
        best = t1 - t0 if best is None else min(best, t1 - t0)
    assert best is not None
    return best


def _case_seed(name: str) -> int:
    return zlib.crc32(name.encode())


def run_lookup_case(
    case: LookupCase,
    impls: Sequence[Impl],
    *,
    runs: int,
    lookups: int,
    seed: int,
    progress: Progress | None = None,
    c_side: CSide | None = None,
) -> LookupResult:
    """Time ``runs`` runs of ``lookups`` lookups for every implementation in ``impls`` that
    runs on one of the case's builds (a C one only where ``c_side`` offers its build).
    O(runs x lookups x implementations). Raises ``ValueError`` for a non-positive count or
    when no implementation applies; a failing C implementation is dropped, not raised."""
    if runs < 1 or lookups < 1:
        raise ValueError(f"{case.name}: runs and lookups must be positive ({runs}, {lookups})")
    chosen = [
        impl
        for impl in impls
        if impl.build in case.builds
        and (not impl.in_c or (c_side is not None and c_side.offers(impl.build)))
    ]
    if not chosen:
        raise ValueError(f"{case.name}: none of the implementations runs on {case.builds}")
    progress = progress or NullProgress()
    result = LookupResult(case, lookups, runs, chosen)
    progress.start(f"{case.name}: building {case.segments} segments", len(chosen) + 1)
    c_lookups: dict[str, CLookup] = {}
    try:
        for impl in chosen:
            if impl.in_c:
                assert c_side is not None
                c_lookups[impl.name] = c_side.spawn(impl.name, impl.build, case.segments)
        kernels = {}
        for build in dict.fromkeys(impl.build for impl in chosen):
            started = time.perf_counter()
            kernels[build] = build_kernel(case, build, seed)
            result.build_s[build] = time.perf_counter() - started
        _replay_c(result, kernels, c_lookups)
        _time_runs(result, kernels, c_lookups, seed, progress)
    finally:
        for c_lookup in c_lookups.values():
            c_lookup.close()
    return result


def _replay_c(
    result: LookupResult, kernels: dict[str, Kernel], c_lookups: dict[str, CLookup]
) -> None:
    """Give each C child the layout of its build's kernel (the replay time goes in
    ``build_s``); drop one whose replay fails."""
    for impl in [impl for impl in result.impls if impl.in_c]:
        c_lookup = c_lookups[impl.name]
        try:
            c_lookup.replay(kernels[impl.build])
        except CComparatorError as exc:
            del c_lookups[impl.name]
            _drop_c(result, impl.name, exc)
            continue
        result.build_s[impl.name] = c_lookup.replay_s


def _drop_c(result: LookupResult, name: str, exc: CComparatorError) -> None:
    result.c_failures[name] = str(exc)
    result.impls[:] = [impl for impl in result.impls if impl.name != name]
    for series in (result.times, result.wall_times, result.warmup_s):
        series.pop(name, None)


def _time_runs(
    result: LookupResult,
    kernels: dict[str, Kernel],
    c_lookups: dict[str, CLookup],
    seed: int,
    progress: Progress,
) -> None:
    case, runs, lookups, chosen = result.case, result.runs, result.lookups, result.impls
    runners = {impl.name: impl.runner(kernels[impl.build]) for impl in chosen if not impl.in_c}
    salt = _case_seed(case.name)
    cpu = time.thread_time_ns
    wall = time.perf_counter_ns
    overhead = clock_overhead_ns()
    with _gc_off():
        warm = case.addresses(np.random.default_rng([seed, salt, 1 << 30]), WARMUP_LOOKUPS)
        warm_chunk = Chunk(warm, warm.tolist())
        for impl in list(chosen):
            if impl.in_c:
                timing = _time_c(result, c_lookups, impl.name, warm_chunk)
                if timing is not None:
                    result.warmup_s[impl.name] = timing[0] / 1e9
                progress.advance(1)
                continue
            t0 = cpu()
            runners[impl.name](warm_chunk)
            result.warmup_s[impl.name] = max(0, cpu() - t0 - overhead) / 1e9
            progress.advance(1)
    progress.start(f"{case.name}: {runs} x {lookups:,} lookups", runs * lookups)
    result.times = {impl.name: [] for impl in chosen}
    result.wall_times = {impl.name: [] for impl in chosen}
    with _gc_off():
        for run in range(runs):
            rng = np.random.default_rng([seed, salt, run])
            names = [impl.name for impl in chosen]
            spent = dict.fromkeys(names, 0)
            spent_wall = dict.fromkeys(names, 0)
            rng_array = rng_list = 0
            order = chosen[run % len(chosen) :] + chosen[: run % len(chosen)]
            for first in range(0, lookups, CHUNK):
                count = min(CHUNK, lookups - first)
                t0 = cpu()
                array = case.addresses(rng, count)
                t1 = cpu()
                chunk = Chunk(array, array.tolist())
                t2 = cpu()
                rng_array += max(0, t1 - t0 - overhead)
                rng_list += max(0, t2 - t1 - overhead)
                for impl in order:
                    if impl.in_c:
                        timing = _time_c(result, c_lookups, impl.name, chunk)
                        if timing is not None:
                            spent[impl.name] += timing[0]
                            spent_wall[impl.name] += timing[1]
                        continue
                    w0 = wall()
                    t0 = cpu()
                    runners[impl.name](chunk)
                    t1 = cpu()
                    spent_wall[impl.name] += wall() - w0
                    spent[impl.name] += max(0, t1 - t0 - overhead)
                del chunk
                progress.advance(count)
            for impl in chosen:
                result.times[impl.name].append(spent[impl.name] / 1e9)
                result.wall_times[impl.name].append(spent_wall[impl.name] / 1e9)
            result.rng_array.append(rng_array / 1e9)
            result.rng_list.append(rng_list / 1e9)


def _time_c(
    result: LookupResult, c_lookups: dict[str, CLookup], name: str, chunk: Chunk
) -> tuple[int, int] | None:
    """(CPU, wall) nanoseconds C took for ``chunk``; ``None`` once the implementation is
    dropped."""
    if name not in c_lookups:
        return None
    try:
        return c_lookups[name].time_lookups(chunk.array)
    except CComparatorError as exc:
        del c_lookups[name]
        _drop_c(result, name, exc)
        return None


def run_mutation_case(
    case: MutationCase,
    *,
    runs: int,
    ops: int,
    seed: int,
    progress: Progress | None = None,
) -> MutationResult:
    """Time ``runs`` runs of ``ops`` plugs into distinct holes of the case's layout followed by
    the ``ops`` unplugs of the plugged segments (the layout is the same after every run); a
    run's per-operation time is its loop's CPU time over ``ops``.
    Raises ``ValueError`` for a non-positive count, ``AssertionError`` if an operation fails."""
    if runs < 1 or ops < 1:
        raise ValueError(f"{case.name}: runs and ops must be positive ({runs}, {ops})")
    progress = progress or NullProgress()
    progress.start(f"{case.name}: building {case.segments:,} segments", 1)
    started = time.perf_counter()
    kernel, holes = case.build(np.random.default_rng([seed, 0]))
    build_s = time.perf_counter() - started
    progress.advance(1)
    ops = min(ops, len(holes))
    result = MutationResult(case, runs, ops, build_s)
    progress.start(f"{case.name}: {runs} x {ops:,} plugs + unplugs", runs * ops)
    plug = kernel.uvm_physseg_plug
    unplug = kernel.uvm_physseg_unplug
    cpu = time.thread_time_ns
    overhead = clock_overhead_ns()
    rng = np.random.default_rng([seed, _case_seed(case.name)])
    with _gc_off():
        for _ in range(runs):
            chosen = [holes[g] for g in rng.choice(len(holes), size=ops, replace=False).tolist()]
            t0 = cpu()
            plugged = [plug(pfn, pages)[0] for pfn, pages in chosen]
            t1 = cpu()
            unplugged = [unplug(pfn, pages) for pfn, pages in chosen]
            t2 = cpu()
            assert all(plugged), "a plug into a hole failed"
            assert all(unplugged), "an unplug of a plugged hole failed"
            assert kernel.uvm_physseg_get_entries() == case.segments
            result.plug_us.append(max(0, t1 - t0 - overhead) / ops / 1000)
            result.unplug_us.append(max(0, t2 - t1 - overhead) / ops / 1000)
            progress.advance(ops)
    return result


def environment() -> dict[str, str]:
    """The machine and software the numbers come from, and the load average now."""
    return {
        "load_average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpus": str(os.cpu_count()),
    }


def run_cases(
    cases: Sequence[LookupCase | MutationCase],
    impls: Sequence[Impl],
    *,
    runs: int | None,
    lookups: int | None,
    ops: int | None,
    seed: int,
    profile: Profile,
    command: str,
    progress: Progress | None = None,
    c_side: CSide | None = None,
) -> BenchResults:
    """Run every case with the profile's sizes (``runs``, ``lookups`` and ``ops`` override
    them when given; a fixed case always does its own N lookups), the C implementations of
    ``impls`` beside the Python ones where ``c_side`` offers them."""
    started = time.perf_counter()
    results = BenchResults(profile.name, seed, command, environment=environment())
    if c_side is not None:
        results.c_reference = c_side.reference
    for case in cases:
        if isinstance(case, MutationCase):
            results.mutations.append(
                run_mutation_case(
                    case,
                    runs=runs or profile.mutation_runs,
                    ops=ops or profile.mutation_ops,
                    seed=seed,
                    progress=progress,
                )
            )
        else:
            count = case.lookups if case.kind == "fixed" else lookups or profile.lookups
            results.lookups.append(
                run_lookup_case(
                    case,
                    impls,
                    runs=runs or profile.runs,
                    lookups=count,
                    seed=seed,
                    progress=progress,
                    c_side=c_side,
                )
            )
    results.elapsed_s = time.perf_counter() - started
    results.environment["load_average_after"] = environment()["load_average"]
    return results
