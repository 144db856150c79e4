/* physseg NetBSD glue: glibc's <sys/cdefs.h> plus the NetBSD macros the tree uses. */
#ifndef PSC_SYS_CDEFS_H
#define PSC_SYS_CDEFS_H

#include_next <sys/cdefs.h>

#define __RCSID(id)
#define __KERNEL_RCSID(n, id)
#define __predict_true(e) __builtin_expect(((e) != 0), 1)
#define __predict_false(e) __builtin_expect(((e) != 0), 0)
#define __diagused __attribute__((__unused__))
#define __debugused __attribute__((__unused__))
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif

#endif /* PSC_SYS_CDEFS_H */
