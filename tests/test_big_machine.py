"""Machines of any size: lazy page arrays let a 64 TiB machine boot, check and hot-plug in
little memory, with the same page contents an eager machine would hold."""

from __future__ import annotations

import pytest

from physseg import OutOfMemoryError, PhysMem
from physseg.core.pages import PG_FREE

TIB_PAGES = 1 << 28
"""4 KiB pages in 1 TiB."""


@pytest.mark.parametrize("segments", [1, 1024])
def test_a_64_tib_machine_boots_checks_and_hot_plugs_in_little_memory(segments: int) -> None:
    pages = 64 * TIB_PAGES
    mem = PhysMem(physseg_max=2048)
    per = pages // segments
    for k in range(segments):
        mem.load(k * per, (k + 1) * per)
    mem.boot()
    mem.check()
    seg = mem.plug(pages + (1 << 20), TIB_PAGES)
    assert seg.npages == TIB_PAGES
    top = mem.page((pages + (1 << 20) + TIB_PAGES - 1) << 12)
    assert top is not None and top.phys_addr == (pages + (1 << 20) + TIB_PAGES - 1) << 12
    assert top.flags == PG_FREE
    mem.check()
    mem.unplug(pages + (1 << 20), TIB_PAGES)
    mem.check()
    infos = mem.kernel.segment_infos()
    slabs = {info.pgs.slab.ident: info.pgs.slab for info in infos if info.pgs is not None}
    assert sum(slab.nbytes for slab in slabs.values()) < 1 << 20


def test_a_run_time_slab_is_sized_from_npages_with_no_cap() -> None:
    """The kernel sizes a brand-new hot-plug slab from ``uvmexp.npages`` and so does physseg,
    with no cap: a 64 TiB machine's one-page plug gets a slab of 2**34 entries, a lazy array
    that costs only the entries written. ``uvm_page_init``'s page array
    (``uvm_pageboot_alloc``) is sized from the segments. A plug larger than
    ``uvmexp.npages`` is refused (quirk 10)."""
    mem = PhysMem()
    mem.load(0, 64 * TIB_PAGES)
    mem.boot(steal=False)  # the boot slab holds exactly the loaded pages: none to scavenge
    (info,) = mem.kernel.segment_infos()
    assert info.pgs is not None and info.pgs.slab.npages >= 64 * TIB_PAGES
    npages = mem.npages
    assert npages == 64 * TIB_PAGES
    mem.plug(64 * TIB_PAGES, 1)
    plugged = mem.kernel.segment_infos()[1]
    assert plugged.pgs is not None
    assert plugged.pgs.slab.npages == npages
    assert plugged.pgs.slab.nbytes < 1 << 20
    small = PhysMem()
    small.load(0, 1 << 22)
    small.boot()
    with pytest.raises(OutOfMemoryError):
        small.plug(1 << 30, TIB_PAGES)
    assert len(small) == 1
