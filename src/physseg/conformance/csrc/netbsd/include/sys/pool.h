/*
 * physseg NetBSD glue: pool(9), as much as subr_extent.c uses. The kernel
 * build never runs extent_init(), so a get allocates a region descriptor
 * from kmem(9) by its type; a put is a kmem_free (memory is never reused).
 */
#ifndef PSC_SYS_POOL_H
#define PSC_SYS_POOL_H

#include <sys/kmem.h>

struct pool {
	size_t pr_size;
};

#define PR_NOWAIT 0x00
#define PR_WAITOK 0x01

#ifndef _EXTENT_TESTING
#define pool_get(pp, flags) \
	kmem_alloc(sizeof(struct extent_region), ((flags) & PR_WAITOK) ? KM_SLEEP : KM_NOSLEEP)
#define pool_put(pp, p) kmem_free((p), sizeof(struct extent_region))

static inline void
pool_init(struct pool *pp, size_t size, unsigned int align, unsigned int align_offset,
    int flags, const char *wchan, void *palloc, int ipl)
{
	(void)align; (void)align_offset; (void)flags; (void)wchan; (void)palloc; (void)ipl;
	pp->pr_size = size;
}
#endif

#endif /* PSC_SYS_POOL_H */
