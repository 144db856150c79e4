"""Kernel construction: backends, configuration checks and the initial ATF set-up state."""

from __future__ import annotations

import pytest

from physseg.netbsd import Kernel, RBTreeKernel, StaticKernel


@pytest.mark.parametrize(("backend", "cls"), [("rbtree", RBTreeKernel), ("static", StaticKernel)])
def test_backend_selects_the_build(backend: str, cls: type) -> None:
    kernel = Kernel(backend, physseg_max=8)
    assert isinstance(kernel, cls)
    assert isinstance(kernel, Kernel)
    assert kernel.backend == backend
    assert kernel.uvmexp.pagesize == 4096
    assert kernel.uvmexp.npages == 0
    assert kernel.uvm.page_init_done is False
    assert kernel.uvm_physseg_get_entries() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "btree"}, "unknown backend"),
        ({"physseg_max": 0}, "physseg_max"),
        ({"strategy": "contig"}, "unknown strategy"),
        ({"nfreelist": 0}, "nfreelist"),
        ({"page_shift": 8}, "page_shift"),
        ({"page_shift": 31}, "page_shift"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Kernel(**kwargs)  # type: ignore[arg-type]


def test_page_geometry_follows_page_shift() -> None:
    kernel = Kernel("rbtree", page_shift=14)
    assert kernel.PAGE_SIZE == 16384
    assert kernel.atop(3 * 16384 + 5) == 3
    assert kernel.ctob(3) == kernel.ptoa(3) == 3 * 16384
