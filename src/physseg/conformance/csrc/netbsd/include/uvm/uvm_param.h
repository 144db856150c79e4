/* physseg NetBSD glue: <uvm/uvm_param.h>: atop/ptoa and the page size (4 KiB). */
#ifndef PSC_UVM_UVM_PARAM_H
#define PSC_UVM_UVM_PARAM_H

#include <sys/param.h>

#define atop(x) (((paddr_t)(x)) >> PAGE_SHIFT)
#define ptoa(x) (((paddr_t)(x)) << PAGE_SHIFT)

#endif /* PSC_UVM_UVM_PARAM_H */
