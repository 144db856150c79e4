"""The lookup implementations the benchmark compares, each bound to a kernel.

* ``static-bsearch``, ``static-random``, ``rbtree``: the build's ``uvm_physseg_find`` (binary
  search / linear scan / ``rb_tree_find_node`` with the segment ops) + ``uvm_physseg_get_pg``,
  what the load test's ``uvm_phys_to_vm_page`` calls: the same entry point for every build, so
  the comparison is of the searches alone;
* ``fast-static``, ``fast-rbtree``: physseg's per-call ``Kernel.PHYS_TO_VM_PAGE`` (frame memo);
* ``batch-static``, ``batch-rbtree``: ``Kernel.phys_to_vm_pages`` over a numpy array (frame table);
* ``c-static``, ``c-rbtree``: a C implementation's ``PHYS_TO_VM_PAGE`` on the same layout, timed
  in C by the live comparator (:mod:`physseg.bench.ccompare`) when the run has one: NetBSD's
  ``uvm_physseg.c`` with ``--netbsd-src`` (both), physseg's own C otherwise (``c-rbtree``).

A runner takes one :class:`Chunk` of addresses and looks every address up, discarding the
results as the load test does. Per-call runners iterate a list of Python ints (the addresses
"generated in advance"); batch runners take the numpy array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.netbsd import Kernel

__all__ = ["C_STYLE", "IMPLS", "Chunk", "Impl", "Runner", "resolve_impls"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Addresses of one slice of a run, as a numpy array and as a list of Python ints."""

    array: npt.NDArray[np.uint64]
    values: list[int]


Runner = Callable[[Chunk], None]


@dataclass(frozen=True, slots=True)
class Impl:
    """One implementation: its name, the kernel build it runs on, its style and legend label."""

    name: str
    build: str
    style: str
    label: str

    @property
    def in_c(self) -> bool:
        """Whether this is a C implementation, timed by the live comparator rather than by a
        Python runner. O(1)."""
        return self.style == C_STYLE

    def runner(self, kernel: Kernel) -> Runner:
        """A function looking up every address of a chunk on ``kernel``. O(1). Raises
        ``KeyError`` for a C implementation (the live comparator times those)."""
        return _RUNNERS[self.style](kernel)


def _kernel_search(kernel: Kernel) -> Runner:
    find = kernel.uvm_physseg_find
    get_pg = kernel.uvm_physseg_get_pg
    shift = kernel.PAGE_SHIFT

    def run(chunk: Chunk) -> None:
        for pa in chunk.values:
            upm, off = find(pa >> shift)
            if off is not None:
                get_pg(upm, off)

    return run


def _per_call(kernel: Kernel) -> Runner:
    lookup = kernel.PHYS_TO_VM_PAGE

    def run(chunk: Chunk) -> None:
        for pa in chunk.values:
            lookup(pa)

    return run


def _batch(kernel: Kernel) -> Runner:
    lookup = kernel.phys_to_vm_pages

    def run(chunk: Chunk) -> None:
        lookup(chunk.array)

    return run


C_STYLE: Final = "c"
"""The style of the C implementations."""

_RUNNERS: Final[dict[str, Callable[[Kernel], Runner]]] = {
    "kernel": _kernel_search,
    "per-call": _per_call,
    "batch": _batch,
}

IMPLS: Final[dict[str, Impl]] = {
    impl.name: impl
    for impl in (
        Impl("static-bsearch", "static-bsearch", "kernel", "static array, bsearch"),
        Impl("static-random", "static-random", "kernel", "static array, random (linear)"),
        Impl("rbtree", "rbtree", "kernel", "R-B tree (kernel search)"),
        Impl("fast-static", "static-bsearch", "per-call", "physseg PHYS_TO_VM_PAGE, static"),
        Impl("fast-rbtree", "rbtree", "per-call", "physseg PHYS_TO_VM_PAGE, R-B tree"),
        Impl("batch-static", "static-bsearch", "batch", "physseg batch, static"),
        Impl("batch-rbtree", "rbtree", "batch", "physseg batch, R-B tree"),
        Impl("c-static", "static-bsearch", C_STYLE, "C, static array (bsearch)"),
        Impl("c-rbtree", "rbtree", C_STYLE, "C, R-B tree"),
    )
}
"""Every implementation by name, in report order."""


def resolve_impls(spec: str | None) -> list[Impl]:
    """The implementations named by ``spec`` (comma-separated; ``None``: all). Raises
    ``ValueError`` naming an unknown one."""
    if spec is None:
        return list(IMPLS.values())
    names = {part.strip() for part in spec.split(",") if part.strip()}
    unknown = sorted(names - set(IMPLS))
    if unknown:
        raise ValueError(f"unknown implementation {unknown[0]!r}; known: {', '.join(IMPLS)}")
    if not names:
        raise ValueError("no implementation selected")
    return [impl for impl in IMPLS.values() if impl.name in names]
