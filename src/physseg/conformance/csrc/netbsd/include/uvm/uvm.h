/*
 * physseg NetBSD glue: <uvm/uvm.h>: struct uvm (page_init_done), the page
 * queue lock, the rbtree, and the kernel services (psc_kern.h). The build's
 * UVM_HOTPLUG, DIAGNOSTIC and DEBUG come from psc_netbsd.c.
 */
#ifndef PSC_UVM_UVM_H
#define PSC_UVM_UVM_H

#include <sys/types.h>
#include <sys/mutex.h>
#include <sys/rbtree.h>

#include "psc_kern.h"

#include <uvm/uvm_param.h>
#include <uvm/uvm_extern.h>
#include <uvm/uvm_page.h>

struct uvm {
	bool page_init_done;	/* true once uvm_page_init() finished */
};

extern struct uvm uvm;
extern kmutex_t uvm_pageqlock;

#endif /* PSC_UVM_UVM_H */
