"""pytest-benchmark cases for plug and unplug at several segment counts (the rbtree build).

The layout is the load test's fragmentation with n segments; each round plugs one of its holes
back (scavenging page entries from the slab extents) or unplugs such a plugged segment (a
whole-segment removal), so the layout is the same before every round. ``--benchmark-disable``
runs each once (CI); ``physseg bench --cases mutation`` (add ``mutate-1M`` for 10^6 segments)
is the full benchmark.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from physseg.bench.workloads import CASES, MutationCase
from physseg.netbsd import Kernel

ROUNDS = 50
"""Timed operations per case."""


@pytest.fixture(scope="module", params=["mutate-1K", "mutate-10K", "mutate-100K"])
def layout(request: pytest.FixtureRequest) -> tuple[Kernel, list[tuple[int, int]]]:
    case = CASES[request.param]
    assert isinstance(case, MutationCase)
    return case.build(np.random.default_rng(1))


def test_plug(benchmark: Any, layout: tuple[Kernel, list[tuple[int, int]]]) -> None:
    k, holes = layout
    count = k.uvm_physseg_get_entries()
    rng = random.Random(2)
    plugged: list[tuple[int, int]] = []

    def setup() -> tuple[tuple[int, int], dict[str, Any]]:
        if plugged:
            assert k.uvm_physseg_unplug(*plugged.pop())
        hole = rng.choice(holes)
        plugged.append(hole)
        return hole, {}

    def plug(pfn: int, pages: int) -> bool:
        ok, _ = k.uvm_physseg_plug(pfn, pages)
        return ok

    assert benchmark.pedantic(plug, setup=setup, rounds=ROUNDS)
    assert k.uvm_physseg_unplug(*plugged.pop())
    assert k.uvm_physseg_get_entries() == count


def test_unplug(benchmark: Any, layout: tuple[Kernel, list[tuple[int, int]]]) -> None:
    k, holes = layout
    count = k.uvm_physseg_get_entries()
    rng = random.Random(3)

    def setup() -> tuple[tuple[int, int], dict[str, Any]]:
        hole = rng.choice(holes)
        assert k.uvm_physseg_plug(*hole)[0]
        return hole, {}

    assert benchmark.pedantic(k.uvm_physseg_unplug, setup=setup, rounds=ROUNDS)
    assert k.uvm_physseg_get_entries() == count


def test_unplug_middle_split(benchmark: Any, layout: tuple[Kernel, list[tuple[int, int]]]) -> None:
    """The fragmentation step itself: one frame out of the middle of a fragment (+1 segment)."""
    k, holes = layout
    count = k.uvm_physseg_get_entries()
    candidates = iter([(pfn + pages + 1, 1) for pfn, pages in holes if pages <= 5])

    def setup() -> tuple[tuple[int, int], dict[str, Any]]:
        return next(candidates), {}

    rounds = min(ROUNDS, sum(1 for _, pages in holes if pages <= 5))
    assert benchmark.pedantic(k.uvm_physseg_unplug, setup=setup, rounds=rounds)
    assert k.uvm_physseg_get_entries() > count
