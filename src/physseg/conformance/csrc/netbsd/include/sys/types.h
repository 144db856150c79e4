/* physseg NetBSD glue: glibc's <sys/types.h> plus the kernel's address types (LP64). */
#ifndef PSC_SYS_TYPES_H
#define PSC_SYS_TYPES_H

#include <sys/cdefs.h>
#include_next <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

typedef unsigned long paddr_t;
typedef unsigned long psize_t;
typedef unsigned long vaddr_t;
typedef unsigned long vsize_t;

#define PRIxPADDR "lx"
#define PRIxPSIZE "lx"
#define PRIuPSIZE "lu"
#define PRIxVADDR "lx"
#define PRIxVSIZE "lx"
#define PRIuVSIZE "lu"

#endif /* PSC_SYS_TYPES_H */
