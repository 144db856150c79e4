/*
 * physseg conformance, NetBSD glue: extent(9) from the tree's
 * sys/kern/subr_extent.c, built in one of two ways.
 *
 * Default, the kernel's behaviour: the file's _KERNEL branch with
 * DIAGNOSTIC, so its argument checks and "region not found" panic through
 * psc_abort() as they would stop a kernel; kmem(9) and pool(9) are the
 * glue's (memory never reused).
 *
 * -DPSC_EXTENT_TESTING: the file's own userland harness branch
 * (_EXTENT_TESTING), where panic(a) is printf(a) and execution goes on;
 * NetBSD's t_extent builds it without DIAGNOSTIC (its multi-argument panics
 * do not fit that one-argument macro), and so does this. malloc, free and
 * printf are routed to the glue (memory never reused, output silenced).
 */
#include "physseg_conformance.h"

#if defined(PSC_EXTENT_TESTING)

#define _EXTENT_TESTING
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

void *psc_extent_malloc(size_t size);
void psc_extent_free(void *p);
int psc_printf(const char *fmt, ...);

#define malloc psc_extent_malloc
#define free psc_extent_free
#define printf psc_printf

#else /* the kernel's build */

#define _KERNEL
#define DIAGNOSTIC
#include "psc_kern.h"

#endif

#include "sys/kern/subr_extent.c"
