"""``Kernel.check()``: every index it recomputes, corrupted one at a time, makes it fail with a
message that names the invariant; the states the kernel itself reaches (quirks included) pass.

Each corruption below writes one field behind the engine's back, as a bug in the engine would,
on a healthy kernel of the backend it applies to: the rbtree build's tree, entry count, boot
pool cursor, extent member counts and scavenging index; the static array's count and BSEARCH
order; and, on both, the segments' spans, page arrays and extents, and the lookup memo and
batch table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from physseg import KernelAssertionError
from physseg.core.pages import Slab
from physseg.netbsd import Kernel, RBTreeKernel, StaticKernel, make_kernel
from physseg.netbsd.segment import Segment

pytestmark = pytest.mark.usefixtures("page_mode")

BOOT_A = (0x00, 0x40)
BOOT_B = (0x100, 0x140)
HOT = (0x200, 0x220)
"""Hot-plugged into a new slab (rbtree only), then split: [0x200, 0x208) and [0x20c, 0x220)."""


def healthy(backend: str, strategy: str = "bsearch") -> Kernel:
    """Two boot segments on one boot slab; on the rbtree build also a hot-plugged segment
    split in the middle, so that two segments share one hotplug slab extent."""
    kernel = make_kernel(backend, physseg_max=8, strategy=strategy)
    kernel.uvm_page_physload(*BOOT_A, *BOOT_A, 0)
    kernel.uvm_page_physload(*BOOT_B, *BOOT_B, 1)
    kernel.uvm_page_init_fake(0x80)
    if backend == "rbtree":
        assert kernel.uvm_physseg_plug(HOT[0], HOT[1] - HOT[0])[0]
        assert kernel.uvm_physseg_unplug(HOT[0] + 8, 4)
    kernel.check()
    return kernel


def record(kernel: Kernel, pfn: int) -> Segment:
    """The live segment holding ``pfn``."""
    upm, off = kernel.uvm_physseg_find(pfn)
    assert off is not None
    return kernel.seg(upm)


def rbtree(kernel: Kernel) -> RBTreeKernel:
    assert isinstance(kernel, RBTreeKernel)
    return kernel


def static(kernel: Kernel) -> StaticKernel:
    assert isinstance(kernel, StaticKernel)
    return kernel


# ----------------------------------------------------------------------------- corruptions
def remember_a_wrong_page(kernel: Kernel) -> None:
    kernel.PHYS_TO_VM_PAGE(BOOT_A[0] << kernel.PAGE_SHIFT)
    kernel.lookup.memo[BOOT_A[0] + 1] = kernel.lookup.memo[BOOT_A[0]]


def keep_a_stale_table(kernel: Kernel) -> None:
    kernel.phys_to_vm_pages([0])
    assert kernel.lookup.current_table is not None
    kernel._version += 1  # a layout change that forgot to drop the lookups' answers


def paint_the_root_red(kernel: Kernel) -> None:
    root = rbtree(kernel).tree._root
    assert root is not None
    root._rb_red = True


def bump_nentries(kernel: Kernel) -> None:
    rbtree(kernel)._nentries += 1


def overrun_the_boot_pool_cursor(kernel: Kernel) -> None:
    rbtree(kernel).nseg = kernel.VM_PHYSSEG_MAX + 1


def rewind_the_boot_pool_cursor(kernel: Kernel) -> None:
    rbtree(kernel).nseg = 1  # BOOT_B's record sits in slot 1


def miscount_extent_members(kernel: Kernel) -> None:
    ext = record(kernel, HOT[0]).ext
    assert ext is not None and ext.members == 2
    ext.members = 1


def drop_a_scavenging_start(kernel: Kernel) -> None:
    seg = record(kernel, HOT[1] - 1)
    rbtree(kernel)._starts[seg.ext].remove(seg.start)


def swap_two_spans(kernel: Kernel) -> None:
    a, b = record(kernel, BOOT_A[0]), record(kernel, BOOT_B[0])
    (a.start, a.end, a.avail_start, a.avail_end), (b.start, b.end, b.avail_start, b.avail_end) = (
        (b.start, b.end, b.avail_start, b.avail_end),
        (a.start, a.end, a.avail_start, a.avail_end),
    )


def stretch_into_the_next_segment(kernel: Kernel) -> None:
    record(kernel, BOOT_A[0]).end = BOOT_B[0] + 1


def overrun_vm_nphysseg(kernel: Kernel) -> None:
    static(kernel)._n = kernel.VM_PHYSSEG_MAX + 1


def overwrite_a_phys_addr(kernel: Kernel) -> None:
    pgs = record(kernel, BOOT_B[0]).pgs
    assert pgs is not None
    (pgs + 3).phys_addr = 0


def point_at_a_neighbours_entries(kernel: Kernel) -> None:
    a, b = record(kernel, BOOT_A[0]), record(kernel, BOOT_B[0])
    assert a.pgs is not None
    b.pgs = a.pgs + 0x20


def point_past_the_slab(kernel: Kernel) -> None:
    seg = record(kernel, BOOT_B[0])
    assert seg.pgs is not None
    seg.pgs = seg.pgs + 0x1000


def free_entries_in_the_extent(kernel: Kernel) -> None:
    seg = record(kernel, BOOT_B[0])
    assert seg.ext is not None and seg.pgs is not None
    seg.ext.extent.free(seg.pgs.index + 4, 2)


def destroy_a_live_extent(kernel: Kernel) -> None:
    ext = record(kernel, BOOT_A[0]).ext
    assert ext is not None
    ext.extent.destroy()


def miscount_the_extent_itself(kernel: Kernel) -> None:
    ext = record(kernel, BOOT_A[0]).ext
    assert ext is not None
    ext.extent._allocated += 1


def carve_another_slab(kernel: Kernel) -> None:
    ext = record(kernel, BOOT_A[0]).ext
    assert ext is not None
    ext.slab = Slab(ext.slab.npages, "elsewhere")


@dataclass(frozen=True)
class Corruption:
    name: str
    corrupt: Callable[[Kernel], None]
    backends: tuple[str, ...]
    message: str
    """A regex the message must match from its start: the invariant's name first."""


CORRUPTIONS = [
    Corruption("root colour", paint_the_root_red, ("rbtree",), r"red-black tree: root colour"),
    Corruption("nentries", bump_nentries, ("rbtree",), r"nentries: .* is 5, the tree holds 4"),
    Corruption(
        "cursor overrun", overrun_the_boot_pool_cursor, ("rbtree",), r"boot pool cursor: nseg 9"
    ),
    Corruption(
        "cursor rewound", rewind_the_boot_pool_cursor, ("rbtree",), r"boot pool slot: .* slot 1"
    ),
    Corruption(
        "members", miscount_extent_members, ("rbtree",), r"extent members: .* counts 1, 2 live"
    ),
    Corruption("starts", drop_a_scavenging_start, ("rbtree",), r"scavenging index: "),
    Corruption("swap rbtree", swap_two_spans, ("rbtree",), r"red-black tree: ordering: in-order"),
    Corruption("swap static", swap_two_spans, ("static",), r"BSEARCH order: vm_physmem\[0\]"),
    Corruption(
        "overlap rbtree",
        stretch_into_the_next_segment,
        ("rbtree",),
        r"red-black tree: ordering: two in-order segments overlap",
    ),
    Corruption(
        "overlap static", stretch_into_the_next_segment, ("static",), r"segments disjoint: "
    ),
    Corruption("vm_nphysseg", overrun_vm_nphysseg, ("static",), r"vm_nphysseg: 9 is outside"),
    Corruption(
        "phys_addr",
        overwrite_a_phys_addr,
        ("rbtree", "static"),
        r"page phys_addr: .*: pgs\[3\] .* holds 0x0, not 0x103000",
    ),
    Corruption(
        "shared",
        point_at_a_neighbours_entries,
        ("rbtree", "static"),
        r"shared page entries: .* both use entries \[32, 64\)",
    ),
    Corruption(
        "bounds", point_past_the_slab, ("rbtree", "static"), r"page array bounds: .* entries"
    ),
    Corruption(
        "freed entries",
        free_entries_in_the_extent,
        ("rbtree", "static"),
        r"extent allocation: .* are not allocated in",
    ),
    Corruption(
        "destroyed", destroy_a_live_extent, ("rbtree", "static"), r"extent allocation: .* destroyed"
    ),
    Corruption(
        "extent index",
        miscount_the_extent_itself,
        ("rbtree", "static"),
        r"extent allocation: .*: allocated count is wrong",
    ),
    Corruption(
        "lookup memo",
        remember_a_wrong_page,
        ("rbtree", "static"),
        r"lookup memo: frame 0x1 holds Page\(slab#\d+, 0\)",
    ),
    Corruption(
        "lookup table", keep_a_stale_table, ("rbtree", "static"), r"lookup table: built for layout"
    ),
    Corruption(
        "extent slab",
        carve_another_slab,
        ("rbtree", "static"),
        r"extent allocation: .* has entries of Slab#1",
    ),
]


@pytest.mark.parametrize(
    ("backend", "corruption"),
    [(backend, c) for c in CORRUPTIONS for backend in c.backends],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_a_corrupted_index_fails_the_check_naming_its_invariant(
    backend: str, corruption: Corruption
) -> None:
    kernel = healthy(backend)
    corruption.corrupt(kernel)
    with pytest.raises(AssertionError, match="^" + corruption.message) as caught:
        kernel.check()
    assert not isinstance(caught.value, KernelAssertionError)


# ----------------------------------------------------------------------------- what passes
@pytest.mark.parametrize("backend", ["rbtree", "static"])
def test_a_kernel_passes_at_every_phase(backend: str) -> None:
    kernel = make_kernel(backend, physseg_max=4)
    kernel.check()
    kernel.uvm_page_physload(0, 0x40, 0x10, 0x40, 0)
    kernel.uvm_page_physload(0x100, 0x180, 0x100, 0x180, 0)
    kernel.check()
    assert kernel.uvm_page_physget()[0]
    kernel.check()
    kernel.uvm_page_init()
    kernel.check()
    assert kernel.uvm_physseg_unplug(0x100, 8)
    kernel.check()


@pytest.mark.parametrize("strategy", ["random", "bigfirst"])
def test_the_static_array_keeps_no_order_beyond_its_strategy(strategy: str) -> None:
    """RANDOM appends; BIGFIRST sorts by size only at insertion, a trim shrinks in place: the
    array is then neither address- nor size-ordered, and check() does not ask it to be."""
    kernel = make_kernel("static", physseg_max=4, strategy=strategy)
    kernel.uvm_page_physload(0x100, 0x180, 0x100, 0x180, 0)
    kernel.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    kernel.uvm_page_physload(0x200, 0x210, 0x200, 0x210, 0)
    assert kernel.uvm_physseg_unplug(0x100, 0x78)
    kernel.uvm_page_init_fake(0x80)
    assert [seg.start for seg in kernel.segments()] != sorted(s.start for s in kernel.segments())
    kernel.check()


def test_a_boot_time_front_trim_of_a_hand_made_page_array_passes_quirk_20() -> None:
    """ATF uvm_page_physunload_start: init_seg at boot, then a front unload; pgs is not
    advanced, so pgs[0] describes the page before start. Page arrays count after boot only."""
    kernel = make_kernel("rbtree", physseg_max=4)
    upm = kernel.uvm_page_physload(0x100, 0x200, 0x100, 0x200, 0)
    kernel.uvm_physseg_init_seg(upm, kernel.malloc_pages(0x100))
    assert kernel.uvm_page_physunload(upm, 0)[0]
    assert kernel.uvm_physseg_get_pg(upm, 0).phys_addr == 0x100 << 12
    kernel.check()


def test_the_uvmexp_npages_drift_of_quirk_5_passes() -> None:
    kernel = make_kernel("rbtree", physseg_max=4)
    upm = kernel.uvm_page_physload(0, 10, 5, 10, 0)
    for _ in range(4):
        assert kernel.uvm_page_physunload(upm, 0)[0]
    kernel.uvm_page_init_fake(6)
    assert kernel.uvmexp.npages == -3
    kernel.check()


# ------------------------------------------------------------------------ what the kernel breaks
def test_the_boot_pool_kassert_leaves_the_cursor_past_the_pool() -> None:
    """The KASSERT guarding the pool fires after the increment (digest §2.3): a kernel that
    went on after it fails the check, as the C kernel would never go on."""
    kernel = make_kernel("rbtree", physseg_max=1)
    kernel.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    with pytest.raises(KernelAssertionError, match="nseg <= VM_PHYSSEG_MAX"):
        kernel.uvm_page_physload(0x100, 0x140, 0x100, 0x140, 0)
    with pytest.raises(AssertionError, match=r"^boot pool cursor: nseg 2 is outside"):
        kernel.check()


def test_an_overlapping_static_physload_is_the_callers_breach_quirk_9() -> None:
    """The static build refuses a physload only when its first PFN is managed (DEBUG): one
    starting below a segment and reaching into it is stored; check() reports it."""
    kernel = make_kernel("static", physseg_max=4)
    kernel.uvm_page_physload(0x100, 0x140, 0x100, 0x140, 0)
    kernel.uvm_page_physload(0xF0, 0x110, 0xF0, 0x110, 0)
    with pytest.raises(AssertionError, match=r"^segments disjoint: "):
        kernel.check()
