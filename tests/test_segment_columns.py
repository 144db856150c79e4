"""``Kernel.segment_columns()``: the numeric fields of ``segment_infos()``, as numpy columns."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.netbsd import Kernel, SegmentColumns


def _assert_columns_match(kernel: Kernel) -> None:
    infos = kernel.segment_infos()
    columns = kernel.segment_columns()
    assert isinstance(columns, SegmentColumns) and len(columns) == len(infos)
    for field in ("start", "end", "avail_start", "avail_end", "free_list"):
        column = getattr(columns, field)
        assert column.dtype == np.int64
        assert column.tolist() == [getattr(info, field) for info in infos], field


@settings(max_examples=40, deadline=None)
@given(
    holes=st.lists(st.tuples(st.integers(0, 255), st.integers(1, 8)), max_size=12),
    plugs=st.lists(st.integers(0, 31), max_size=6, unique=True),
)
def test_columns_follow_plugs_and_unplugs(holes: list[tuple[int, int]], plugs: list[int]) -> None:
    kernel = Kernel(backend="rbtree", physseg_max=4)
    kernel.uvm_page_physload(0x100, 0x200, 0x110, 0x200, 1)
    kernel.uvm_page_physload(0x400, 0x500, 0x400, 0x480, 0)
    kernel.uvm_page_init_fake(0x300)
    for slot in plugs:
        kernel.uvm_physseg_plug(0x1000 + 0x40 * slot, 0x20)
    for offset, npages in holes:
        kernel.uvm_physseg_unplug(0x100 + offset, npages)
    _assert_columns_match(kernel)


def test_columns_of_the_static_array_keep_its_order_and_of_an_empty_kernel() -> None:
    kernel = Kernel(backend="static", physseg_max=3, strategy="bigfirst")
    assert len(kernel.segment_columns()) == 0
    kernel.uvm_page_physload(0x10, 0x20, 0x10, 0x20, 2)
    kernel.uvm_page_physload(0x100, 0x300, 0x180, 0x300, 0)
    kernel.uvm_page_physload(0x40, 0x50, 0x40, 0x48, 1)
    _assert_columns_match(kernel)
    assert kernel.segment_columns().start.tolist() == [0x100, 0x10, 0x40]  # biggest first
