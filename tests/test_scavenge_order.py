"""The rbtree build's indexed scavenging makes the same choices as the kernel's O(n) walk.

(With ``physseg_max == 1`` unplugging a whole boot-pool segment panics "tried to free() the
entire static array!", as the kernel does; both kernels must panic alike, and the run ends.)

``RBTreeKernel._scavenge`` tries each slab extent once, ordered by its lowest live segment;
the kernel walks every segment in address order and tries each one's extent. A kernel whose
scavenging is the walk itself is the oracle: the same random plug/unplug sequence must leave
both with identical segments, page-array placement, extents and counters.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from physseg.core.pages import Page
from physseg.errors import KernelPanic
from physseg.netbsd import RBTreeKernel
from physseg.netbsd.segment import SlabExtent


class WalkingKernel(RBTreeKernel):
    """The kernel's own scavenging: walk every segment in address order."""

    def _scavenge(self, pages: int) -> tuple[Page | None, SlabExtent | None]:
        return self._scavenge_by_walk(pages)


def state(kernel: RBTreeKernel) -> tuple[object, ...]:
    segments = tuple(
        (
            s.start,
            s.end,
            s.avail_start,
            s.avail_end,
            s.pgs.slab.npages if s.pgs else -1,
            s.pgs.index if s.pgs else -1,
            tuple(s.ext.extent.regions()) if s.ext and not s.ext.extent.destroyed else (),
            s.ext.members if s.ext else 0,
        )
        for s in kernel.segments()
    )
    return segments, kernel.uvmexp.npages, kernel.physmem, kernel.uvm_physseg_get_entries()


operation = st.tuples(
    st.sampled_from(["plug", "unplug"]),
    st.integers(min_value=0, max_value=4095),
    st.integers(min_value=1, max_value=96),
)


@settings(max_examples=150, deadline=None)
@given(
    physseg_max=st.sampled_from([1, 2, 32]),
    ops=st.lists(operation, min_size=1, max_size=40),
)
def test_indexed_scavenging_matches_the_kernels_walk(
    physseg_max: int, ops: list[tuple[str, int, int]]
) -> None:
    fast = RBTreeKernel("rbtree", physseg_max=physseg_max)
    walk = WalkingKernel("rbtree", physseg_max=physseg_max)
    for kernel in (fast, walk):
        kernel.uvm_physseg_plug(0, 512)
        kernel.uvm_page_init_fake(640)
    for name, pfn, pages in ops:
        results = []
        for kernel in (fast, walk):
            if name == "plug":
                if any(s.start < pfn + pages and pfn < s.end for s in kernel.segments()):
                    results.append("overlap")
                    continue
                results.append(kernel.uvm_physseg_plug(pfn, pages)[0])
            else:
                upm, off = kernel.uvm_physseg_find(pfn)
                if off is None or (
                    kernel.uvm_physseg_get_entries() == 1
                    and off == 0
                    and pages == upm.end - upm.start
                ):
                    results.append("skip")
                    continue
                try:
                    results.append(kernel.uvm_physseg_unplug(pfn, pages))
                except KernelPanic as exc:
                    results.append(str(exc))
        assert results[0] == results[1]
        assert state(fast) == state(walk)
        if any(isinstance(result, str) and "static array" in result for result in results):
            return
