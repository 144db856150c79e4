"""Page arrays: slabs, page pointers and the memory budget per simulated page."""

from __future__ import annotations

import doctest

import pytest

import physseg.core.pages
from physseg import PhysMem
from physseg.core.pages import BYTES_PER_PAGE, PG_FREE, Page, Slab
from physseg.netbsd import Kernel, make_kernel
from physseg.netbsd import kernel as kernel_module

pytestmark = pytest.mark.usefixtures("page_mode")


def test_an_eager_slab_is_zeroed_and_holds_every_entry() -> None:
    slab = Slab(16, "test", lazy=False)
    assert slab.npages == 16
    assert slab.nbytes == 16 * BYTES_PER_PAGE
    assert int(slab.phys_addr[0:16].sum()) == 0
    assert "test" in repr(slab)


def test_a_lazy_slab_is_zeroed_and_holds_nothing_until_written() -> None:
    slab = Slab(1 << 34, "test")
    assert slab.npages == 1 << 34 and slab.lazy
    assert slab.nbytes == 0
    assert int(slab.phys_addr[(1 << 34) - 16 :].sum()) == 0
    slab.flags[5] = PG_FREE
    assert 0 < slab.nbytes <= 2 * BYTES_PER_PAGE << 16


def test_a_slab_built_directly_has_the_default_number_or_the_one_given() -> None:
    assert Slab(4).ident == 0
    assert Slab(4, "test", ident=9).ident == 9
    assert doctest.testmod(physseg.core.pages).failed == 0


def test_each_kernel_numbers_its_own_slabs_in_creation_order() -> None:
    first = make_kernel("rbtree", physseg_max=4)
    second = make_kernel("rbtree", physseg_max=4)
    assert first.malloc_pages(4).slab.ident == 1
    assert first.new_slab(4, "test").ident == 2
    assert second.malloc_pages(4).slab.ident == 1  # untouched by the first kernel's slabs
    second.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    assert second.uvm_page_init_fake(0x40).slab.ident == 2
    assert first.new_slab(4, "test").ident == 3
    ok, upm = second.uvm_physseg_plug(0x100, 0x10)
    assert ok and second.seg(upm).pgs.slab.ident == 3


def test_a_slab_that_cannot_be_made_takes_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = make_kernel("static", physseg_max=4)
    with pytest.raises(ValueError, match="-1 pages"):
        kernel.new_slab(-1, "test")

    def host_refuses(npages: int, name: str, *, ident: int, lazy: bool) -> Slab:
        raise MemoryError(f"cannot allocate {npages} pages")

    with monkeypatch.context() as patch:
        patch.setattr(kernel_module, "Slab", host_refuses)
        with pytest.raises(MemoryError):
            kernel.new_slab(1 << 40, "test")
    assert kernel.new_slab(1, "test").ident == 1


def test_negative_slab_is_refused() -> None:
    with pytest.raises(ValueError, match="-1 pages"):
        Slab(-1)


def test_page_fields_read_and_write_in_place() -> None:
    slab = Slab(4)
    page = slab.page(2)
    page.phys_addr = 0x2000
    page.free_list = 3
    page.flags = PG_FREE
    assert (slab.phys_addr[2], slab.free_list[2], slab.flags[2]) == (0x2000, 3, PG_FREE)
    assert (page.phys_addr, page.free_list, page.flags) == (0x2000, 3, PG_FREE)


def test_page_pointer_arithmetic_and_identity() -> None:
    slab, other = Slab(8), Slab(8)
    base = Page(slab, 1)
    assert base + 3 == Page(slab, 4)
    assert (base + 3) - 2 == Page(slab, 2)
    assert (base + 5).offset_from(base) == 5
    assert Page(slab, 1) != Page(other, 1)
    assert Page(slab, 1) != 1
    assert len({Page(slab, 1), Page(slab, 1), Page(other, 1)}) == 2
    assert "slab#" in repr(base)
    with pytest.raises(ValueError, match="different slabs"):
        Page(other, 3).offset_from(base)


def test_out_of_bounds_field_access_raises() -> None:
    page = Page(Slab(2), 2)
    with pytest.raises(IndexError, match="outside"):
        _ = page.phys_addr
    with pytest.raises(IndexError):
        page.flags = 1


def test_memory_budget_per_page_for_16_mi_pages() -> None:
    """A 64 GiB machine (16 Mi pages) must fit in well under 1 GiB: <= 32 bytes a page."""
    npages = 16 << 20
    kernel = Kernel("rbtree", physseg_max=4)
    kernel.uvm_page_physload(0, npages, 0, npages, 0)
    pagearray = kernel.uvm_page_init_fake(npages)
    per_page = pagearray.slab.nbytes / npages
    assert per_page <= 32
    assert kernel.uvmexp.npages == npages
    assert kernel.PHYS_TO_VM_PAGE((npages - 1) << 12) == pagearray + (npages - 1)


def test_the_page_mode_reaches_every_constructor(page_mode: str) -> None:
    lazy = page_mode == "lazy"
    kernel = make_kernel("rbtree", physseg_max=4)
    kernel.uvm_page_physload(0, 0x40, 0, 0x40, 0)
    assert kernel.uvm_page_init_fake(0x40).slab.lazy is lazy
    mem = PhysMem()
    mem.load(0, 0x40)
    mem.boot()
    twin = PhysMem.from_image(mem.image())
    for face in (mem, twin):
        (info,) = face.kernel.segment_infos()
        assert info.pgs is not None and info.pgs.slab.lazy is lazy
    assert Kernel("static").lazy_pages is lazy


@pytest.mark.parametrize("lazy", [True, False])
def test_a_kernel_keeps_the_page_mode_it_was_given(lazy: bool) -> None:
    mem = PhysMem(lazy_pages=lazy)
    mem.load(0, 0x40)
    mem.boot()
    (info,) = mem.kernel.segment_infos()
    assert info.pgs is not None and info.pgs.slab.lazy is lazy
    assert PhysMem.from_image(mem.image(), lazy_pages=not lazy).kernel.lazy_pages is not lazy
