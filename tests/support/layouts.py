"""Kernel layouts several test modules build."""

from __future__ import annotations

from physseg.netbsd import Kernel, make_kernel


def fragmented_kernel(groups: int = 16) -> Kernel:
    """A booted rbtree kernel: A = [0, 256) and B = [256, 256 + 8 groups) with the first
    1..7 frames of every group unplugged (the load test's fragmentation): ``groups + 1``
    segments."""
    k = make_kernel("rbtree", physseg_max=32)
    k.uvm_physseg_plug(0, 256)
    k.uvm_page_init_fake(256 + 8 * groups)
    k.uvm_physseg_plug(256, 8 * groups)
    for g in range(groups):
        assert k.uvm_physseg_unplug(256 + 8 * g, 1 + g % 7)
    return k
