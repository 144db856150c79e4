/*
 * physseg NetBSD glue: condvar(9). Nothing else runs, so a wait could never
 * be woken: it is reported as a hang (uvm_physseg.c never asks extent(9)
 * to sleep).
 */
#ifndef PSC_SYS_CONDVAR_H
#define PSC_SYS_CONDVAR_H

#include <sys/mutex.h>
#include "physseg_conformance.h"

typedef struct kcondvar {
	int cv_unused;
} kcondvar_t;

static inline void cv_init(kcondvar_t *cv, const char *name) { (void)cv; (void)name; }
static inline void cv_destroy(kcondvar_t *cv) { (void)cv; }
static inline void cv_broadcast(kcondvar_t *cv) { (void)cv; }
static inline void
cv_wait(kcondvar_t *cv, kmutex_t *m)
{
	(void)cv; (void)m;
	psc_abort("hang", "cv_wait: a single-threaded kernel never wakes the sleeper");
}
static inline int
cv_wait_sig(kcondvar_t *cv, kmutex_t *m)
{
	cv_wait(cv, m);
	return 0;
}

#endif /* PSC_SYS_CONDVAR_H */
