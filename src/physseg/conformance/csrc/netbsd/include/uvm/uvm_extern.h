/* physseg NetBSD glue: <uvm/uvm_extern.h>: struct uvmexp (the counters uvm_physseg.c uses). */
#ifndef PSC_UVM_UVM_EXTERN_H
#define PSC_UVM_UVM_EXTERN_H

struct uvmexp {
	int pagesize;	/* bytes per page */
	int pagemask;	/* pagesize - 1 */
	int pageshift;	/* log2(pagesize) */
	int npages;	/* pages managed by the VM system (signed, as in the kernel) */
};

extern struct uvmexp uvmexp;

#endif /* PSC_UVM_UVM_EXTERN_H */
