"""pytest-benchmark cases for lookups at several segment counts: the kernel's own searches
(``uvm_physseg_find`` of each build, ``RBTree.find`` with the ops), physseg's per-call
``PHYS_TO_VM_PAGE`` and its batch ``phys_to_vm_pages``.

Every case looks up the same :data:`LOOKUPS` seeded addresses of the layout's own distribution
(NetBSD's ``t_uvm_physseg_load.c``), so a case's mean divided by :data:`LOOKUPS` is the cost of
one lookup. ``pytest benchmarks --benchmark-only`` times them; ``--benchmark-disable`` runs each
once (CI). ``physseg bench`` is the full, statistically reported benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from physseg.bench.workloads import CASES, LookupCase, build_kernel
from physseg.netbsd import Kernel, RBTreeKernel

LOOKUPS = 1000
"""Addresses per benchmark call."""
BATCH = 100_000
"""Addresses per batch call (a batch pays a fixed cost per call that 1000 would not hide)."""
LAYOUTS = {"32": "1K", "33": "1MB", "4065": "128MB", "8161": "256MB"}
"""Segment count -> the load test case that builds it."""


def _case(segments: str) -> LookupCase:
    case = CASES[LAYOUTS[segments]]
    assert isinstance(case, LookupCase)
    return case


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> tuple[LookupCase, Kernel]:
    case = _case(request.param)
    return case, build_kernel(case, "rbtree", seed=1)


def _addresses(case: LookupCase, count: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    return case.addresses(np.random.default_rng(2), count)


def test_uvm_physseg_find(benchmark: Any, layout: tuple[LookupCase, Kernel]) -> None:
    case, k = layout
    pfns = [pa >> 12 for pa in _addresses(case, LOOKUPS).tolist()]
    find = k.uvm_physseg_find

    def run() -> int:
        return sum(1 for pfn in pfns if find(pfn)[1] is not None)

    assert benchmark(run) > 0


def test_rbtree_find_with_ops(benchmark: Any, layout: tuple[LookupCase, Kernel]) -> None:
    case, k = layout
    assert isinstance(k, RBTreeKernel)
    pfns = [pa >> 12 for pa in _addresses(case, LOOKUPS).tolist()]
    find = k.tree.find

    def run() -> int:
        return sum(1 for pfn in pfns if find(pfn) is not None)

    assert benchmark(run) > 0


def test_phys_to_vm_page(benchmark: Any, layout: tuple[LookupCase, Kernel]) -> None:
    case, k = layout
    addresses = _addresses(case, LOOKUPS).tolist()
    lookup = k.PHYS_TO_VM_PAGE
    for pa in addresses:  # warm the frame memo, as a running kernel would be
        lookup(pa)

    def run() -> None:
        for pa in addresses:
            lookup(pa)

    benchmark(run)
    assert k.uvm_pageismanaged(addresses[0]) is (
        k.uvm_physseg_find(addresses[0] >> 12)[1] is not None
    )


def test_phys_to_vm_pages(benchmark: Any, layout: tuple[LookupCase, Kernel]) -> None:
    case, k = layout
    addresses = _addresses(case, BATCH)
    k.phys_to_vm_pages(addresses[:1])  # build the frame table outside the timing
    batch = benchmark(k.phys_to_vm_pages, addresses)
    assert batch.segment.shape == (BATCH,) and bool(batch.hit.any())


@pytest.mark.parametrize("strategy", ["bsearch", "random"])
def test_static_find_32_segments(benchmark: Any, strategy: str) -> None:
    case = _case("32")
    k = build_kernel(case, f"static-{strategy}", seed=1)
    pfns = [pa >> 12 for pa in _addresses(case, LOOKUPS).tolist()]
    find = k.uvm_physseg_find

    def run() -> int:
        return sum(1 for pfn in pfns if find(pfn)[1] is not None)

    assert benchmark(run) == LOOKUPS
