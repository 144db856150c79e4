/*
 * physseg conformance, NetBSD glue: the kernel services NetBSD's
 * uvm_physseg.c and subr_extent.c expect, for a userspace build.
 *
 * panic() and a failed KASSERT() end the call through the harness's
 * psc_abort(); printf() is silenced (the harness compares results, not
 * console output); kmem(9) never reuses memory and refuses requests above
 * PSC_KMEM_LIMIT bytes, as a kernel's KM_NOSLEEP allocator refuses an
 * impossible size.
 */
#ifndef PSC_KERN_H
#define PSC_KERN_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sys/types.h>

#include "physseg_conformance.h"

/* The largest request kmem(9) grants: 1 GiB. */
#define PSC_KMEM_LIMIT ((size_t)1 << 30)

void psc_panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
int psc_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define panic psc_panic
#define printf psc_printf

#if defined(DIAGNOSTIC)
#define KASSERT(e) \
	((e) ? (void)0 : psc_abort("kassert", #e))
#define KASSERTMSG(e, ...) \
	((e) ? (void)0 : psc_abort("kassert", #e))
#else
#define KASSERT(e) ((void)0)
#define KASSERTMSG(e, ...) ((void)0)
#endif

extern psize_t physmem;

#endif /* PSC_KERN_H */
