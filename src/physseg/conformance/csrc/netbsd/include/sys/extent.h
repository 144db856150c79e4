/*
 * physseg NetBSD glue: extent(9) as subr_extent.c revision 1.79 (kmem(9),
 * mutex and condvar era) defines it. Written from what that file uses; the
 * 1996 header some trees hold (struct extent with ex_mtype, no lock) does
 * not match it.
 */
#ifndef PSC_SYS_EXTENT_H
#define PSC_SYS_EXTENT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/mutex.h>
#include <sys/condvar.h>

struct extent_region {
	LIST_ENTRY(extent_region) er_link;	/* link in region list */
	u_long er_start;			/* start of region (inclusive) */
	u_long er_end;				/* end of region (inclusive) */
	int er_flags;				/* ER_* */
};

#define ER_ALLOC	0x01	/* region descriptor dynamically allocated */

struct extent {
	const char *ex_name;
	LIST_HEAD(, extent_region) ex_regions;	/* allocated regions, sorted */
	u_long ex_start;
	u_long ex_end;
	kmutex_t ex_lock;
	kcondvar_t ex_cv;
	int ex_flags;				/* EXF_* */
};

struct extent_fixed {
	struct extent fex_extent;		/* MUST BE FIRST */
	LIST_HEAD(, extent_region) fex_freelist;	/* free descriptors */
	void *fex_storage;
	size_t fex_storagesize;
};

/* ex_flags, internal */
#define EXF_FIXED	0x01
#define EXF_NOCOALESCE	0x02
#define EXF_EARLY	0x04
#define EXF_FLWANTED	0x08

/* flags of the extent functions */
#define EX_NOWAIT	0x00
#define EX_WAITOK	0x01
#define EX_FAST		0x02
#define EX_CATCH	0x04
#define EX_NOCOALESCE	0x08
#define EX_MALLOCOK	0x10
#define EX_WAITSPACE	0x20
#define EX_BOUNDZERO	0x40
#define EX_EARLY	0x80

#define EX_NOALIGN	1
#define EX_NOBOUNDARY	0

#define EXTENT_FIXED_STORAGE_SIZE(_nregions)		\
	(ALIGN(sizeof(struct extent_fixed)) +		\
	((ALIGN(sizeof(struct extent_region))) *	\
	 (_nregions)))

void extent_init(void);
struct extent *extent_create(const char *, u_long, u_long, void *, size_t, int);
void extent_destroy(struct extent *);
int extent_alloc_subregion1(struct extent *, u_long, u_long, u_long, u_long, u_long,
    u_long, int, u_long *);
int extent_alloc_subregion(struct extent *, u_long, u_long, u_long, u_long, u_long,
    int, u_long *);
int extent_alloc_region(struct extent *, u_long, u_long, int);
int extent_alloc(struct extent *, u_long, u_long, u_long, int, u_long *);
int extent_alloc1(struct extent *, u_long, u_long, u_long, u_long, int, u_long *);
int extent_free(struct extent *, u_long, u_long, int);
void extent_print(struct extent *);

#endif /* PSC_SYS_EXTENT_H */
