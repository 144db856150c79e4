/* physseg NetBSD glue: <sys/systm.h>: panic, printf, KASSERT. */
#ifndef PSC_SYS_SYSTM_H
#define PSC_SYS_SYSTM_H
#include "psc_kern.h"
#endif
