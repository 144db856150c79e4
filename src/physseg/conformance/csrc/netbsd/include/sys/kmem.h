/* physseg NetBSD glue: kmem(9) (defined in psc_netbsd.c: memory never reused, > 1 GiB refused). */
#ifndef PSC_SYS_KMEM_H
#define PSC_SYS_KMEM_H

#include <sys/types.h>

typedef unsigned int km_flag_t;
#define KM_SLEEP 0x00000001
#define KM_NOSLEEP 0x00000002

void *kmem_alloc(size_t size, km_flag_t flags);
void *kmem_zalloc(size_t size, km_flag_t flags);
void kmem_free(void *p, size_t size);

#endif /* PSC_SYS_KMEM_H */
