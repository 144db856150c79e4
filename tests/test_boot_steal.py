"""uvm_page_init steals its page array in runs; the result equals one physget call a page.

The run shortcut (``Kernel._steal_run``) must leave exactly the state that the kernel's
``uvm_pageboot_alloc`` loop of single ``uvm_page_physget`` calls leaves, on every backend and
strategy, whatever the boot layout (avail windows, free lists, tiny segments).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.errors import KernelPanic
from physseg.netbsd import Kernel, RBTreeKernel, StaticKernel

CONFIGS = [
    ("rbtree", "bsearch"),
    ("rbtree", "bigfirst"),
    ("static", "bsearch"),
    ("static", "random"),
    ("static", "bigfirst"),
]


def single_stepping(kernel_class: type[Kernel]) -> type[Kernel]:
    class SingleSteps(kernel_class):  # type: ignore[valid-type, misc]
        def _steal_run(self, limit: int) -> tuple[int, int] | None:
            return None

    return SingleSteps


def stolen_pages(kernel: Kernel) -> set[int]:
    return {pa + i * kernel.PAGE_SIZE for pa, n in kernel.stolen for i in range(n)}


def state(kernel: Kernel) -> tuple[Any, ...]:
    return (
        [(s.start, s.end, s.avail_start, s.avail_end, s.free_list) for s in kernel.segments()],
        kernel.uvmexp.npages,
        stolen_pages(kernel),
        kernel.uvm.page_init_done,
    )


segment = st.tuples(
    st.integers(min_value=1, max_value=900),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=3),
)


@settings(max_examples=120, deadline=None)
@given(config=st.sampled_from(CONFIGS), layout=st.lists(segment, min_size=1, max_size=6))
def test_runs_equal_single_physget_calls(
    config: tuple[str, str], layout: list[tuple[int, int, int, int]]
) -> None:
    backend, strategy = config
    build = RBTreeKernel if backend == "rbtree" else StaticKernel
    kernels = [
        build(backend, physseg_max=16, strategy=strategy),
        single_stepping(build)(backend, physseg_max=16, strategy=strategy),
    ]
    outcomes = []
    for kernel in kernels:
        base = 0
        for size, head, tail, free_list in layout:
            avail_start = base + min(head, size - 1)
            avail_end = max(avail_start, base + size - tail)
            kernel.uvm_page_physload(base, base + size, avail_start, avail_end, free_list)
            base += size + 7
        try:
            kernel.uvm_page_init()
            outcomes.append(("ok", state(kernel)))
        except KernelPanic as exc:
            outcomes.append(("panic", str(exc)))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(("backend", "strategy"), CONFIGS)
def test_a_large_boot_steals_in_few_runs(backend: str, strategy: str) -> None:
    kernel = Kernel(backend, physseg_max=4, strategy=strategy)
    kernel.uvm_page_physload(0, 1 << 20, 0, 1 << 20, 0)
    kernel.uvm_page_init()
    assert len(kernel.stolen) <= 2
    assert len(stolen_pages(kernel)) == sum(n for _, n in kernel.stolen) > 30000
