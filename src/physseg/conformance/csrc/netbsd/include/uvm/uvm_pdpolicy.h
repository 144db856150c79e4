/* physseg NetBSD glue: <uvm/uvm_pdpolicy.h>: the page daemon's re-initialisation hook. */
#ifndef PSC_UVM_UVM_PDPOLICY_H
#define PSC_UVM_UVM_PDPOLICY_H
void uvmpdpol_reinit(void);
#endif
