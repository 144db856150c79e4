/*
 * physseg NetBSD glue: <uvm/uvm_page.h>: struct vm_page (what uvm_physseg.c
 * touches, and whether uvm_pagefree() was called on it), the free lists and
 * the VM_PHYSSEG_* configuration of the build (-DPSC_VM_PHYSSEG_MAX,
 * -DPSC_VM_PHYSSEG_STRAT).
 */
#ifndef PSC_UVM_UVM_PAGE_H
#define PSC_UVM_UVM_PAGE_H

#include <sys/types.h>

struct vm_page {
	paddr_t phys_addr;	/* physical address of the page */
	int on_free_list;	/* 1 once uvm_pagefree() put it on a free list */
};

#define VM_PSTRAT_RANDOM	1
#define VM_PSTRAT_BSEARCH	2
#define VM_PSTRAT_BIGFIRST	3

#ifndef PSC_VM_PHYSSEG_MAX
#error "-DPSC_VM_PHYSSEG_MAX=N is required"
#endif
#ifndef PSC_VM_PHYSSEG_STRAT
#error "-DPSC_VM_PHYSSEG_STRAT=1|2|3 is required"
#endif
#define VM_PHYSSEG_MAX		PSC_VM_PHYSSEG_MAX
#define VM_PHYSSEG_STRAT	PSC_VM_PHYSSEG_STRAT

#define VM_NFREELIST		4
#define VM_FREELIST_DEFAULT	0

#define VM_PAGE_TO_PHYS(pg)	((pg)->phys_addr)

void uvm_pagefree(struct vm_page *);

#endif /* PSC_UVM_UVM_PAGE_H */
