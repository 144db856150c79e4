/* physseg NetBSD glue: glibc's <sys/param.h> plus NetBSD's ALIGN() and page macros. */
#ifndef PSC_SYS_PARAM_H
#define PSC_SYS_PARAM_H

#include <sys/types.h>
#include_next <sys/param.h>

#ifndef ALIGNBYTES
#define ALIGNBYTES (sizeof(long) - 1)
#endif
#ifndef ALIGN
#define ALIGN(p) (((uintptr_t)(p) + ALIGNBYTES) & ~ALIGNBYTES)
#endif

/* Every build has 4 KiB pages (the conformance contract). */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1 << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SIZE - 1)
#define PGSHIFT PAGE_SHIFT
#define ctob(x) ((x) << PGSHIFT)
#define btoc(x) (((x) + PAGE_MASK) >> PGSHIFT)

#endif /* PSC_SYS_PARAM_H */
