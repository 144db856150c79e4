"""Constants of the NetBSD face: extent(9) flags, errno values, strategies, sizes."""

from __future__ import annotations

from typing import Final

EX_NOWAIT: Final = 0
EX_WAITOK: Final = 1 << 0
EX_FAST: Final = 1 << 1
EX_CATCH: Final = 1 << 2
EX_NOCOALESCE: Final = 1 << 3
EX_MALLOCOK: Final = 1 << 4
EX_WAITSPACE: Final = 1 << 5
EX_BOUNDZERO: Final = 1 << 6
EX_EARLY: Final = 1 << 7

ENOMEM: Final = 12
"""extent(9): no region descriptor."""
EAGAIN: Final = 35
"""extent(9): no space (NetBSD's value of EAGAIN)."""

VM_PSTRAT_RANDOM: Final = 1
VM_PSTRAT_BSEARCH: Final = 2
VM_PSTRAT_BIGFIRST: Final = 3
STRATEGIES: Final = {
    "random": VM_PSTRAT_RANDOM,
    "bsearch": VM_PSTRAT_BSEARCH,
    "bigfirst": VM_PSTRAT_BIGFIRST,
}

VM_FREELIST_DEFAULT: Final = 0
VM_FREELIST_FIRST4G: Final = 1
VM_FREELIST_FIRST1G: Final = 2
VM_FREELIST_FIRST16: Final = 3

PADDR_INVALID: Final = (1 << 64) - 1
"""``(paddr_t)-1``: what the getters return for an invalid handle."""

SIZEOF_UVM_PHYSSEG: Final = 88
"""``sizeof(struct uvm_physseg)`` on amd64 (rb_node 24, four paddr_t, two pointers, two ints,
pmseg); only multiples of it matter to ``uvm_physseg_alloc/free``."""

SIZEOF_VM_PAGE: Final = 128
"""``sizeof(struct vm_page)`` used by ``uvm_page_init``'s sizing formula (amd64, about 2020)."""
