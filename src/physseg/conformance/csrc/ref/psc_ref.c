/*
 * psc_ref.c: physseg's own compact implementation of the conformance ABI
 * (physseg_conformance.h), written from the specification digest
 * (docs: uvm_physseg-semantics.md sections 1-4) and from the Python model
 * (physseg.netbsd, the oracle), with the UVM_HOTPLUG (rbtree build)
 * semantics.  It is not NetBSD's code: segments live in one sorted array of
 * pointers to heap (or boot pool) records instead of a red-black tree, and
 * extent(9) is a sorted array of regions.  CI runs the conformance harness
 * on it, and on the deliberately broken variants selected with
 * -DPSC_MUTANT=n (see the PSC_MUTANT table below), so the harness is
 * checked without a NetBSD source tree.
 *
 * Build knobs: -DPSC_VM_PHYSSEG_MAX=N (boot pool records and the boot
 * extent's region descriptors), -DPSC_VM_PHYSSEG_STRAT=1|2|3 (only the walk
 * direction of uvm_page_physget: 3 = BIGFIRST walks from the last segment
 * backwards), -DPSC_UVM_HOTPLUG must not be 0 (this is the rbtree build).
 *
 * Units: pfn, start, end, pages, off in page frames (ends exclusive); pa a
 * byte address; extent units are vm_page entry indices (inclusive ends).
 * Memory is never given back (handles stay unique within a process).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "physseg_conformance.h"

#ifndef PSC_UVM_HOTPLUG
#define PSC_UVM_HOTPLUG 1
#endif
#if !PSC_UVM_HOTPLUG
#error "psc_ref.c implements the UVM_HOTPLUG (rbtree) build only"
#endif
#ifndef PSC_VM_PHYSSEG_MAX
#define PSC_VM_PHYSSEG_MAX 32
#endif
#if PSC_VM_PHYSSEG_MAX < 1
#error "PSC_VM_PHYSSEG_MAX must be at least 1"
#endif
#ifndef PSC_VM_PHYSSEG_STRAT
#define PSC_VM_PHYSSEG_STRAT 2
#endif
#if PSC_VM_PHYSSEG_STRAT < 1 || PSC_VM_PHYSSEG_STRAT > 3
#error "PSC_VM_PHYSSEG_STRAT must be 1 (random), 2 (bsearch) or 3 (bigfirst)"
#endif

/*
 * Mutants: each is one deliberate bug the conformance harness must catch.
 *   0 none (the reference)
 *   1 middle split: the tail piece starts one page too high
 *   2 find: a segment's end counts as inside it (<= end)
 *   3 run-time front trim: uvmexp.npages not decremented
 *   4 iteration: get_next and get_prev swapped
 *   5 run-time unplug: the vm_page entries are not given back to the extent
 *     (leaked), so a later plug makes a new slab instead of scavenging
 *   6 removing the last segment returns false instead of panicking
 */
#ifndef PSC_MUTANT
#define PSC_MUTANT 0
#endif
#if PSC_MUTANT < 0 || PSC_MUTANT > 6
#error "PSC_MUTANT must be 0..6"
#endif
#define MUTANT(n) (PSC_MUTANT == (n))

#define PAGE_SHIFT 12
#define VM_NFREELIST 4
#define VM_PSTRAT_BIGFIRST 3
#define KMEM_MAX_BYTES ((uint64_t)1 << 30) /* the glue's kmem_zalloc refuses more */
#define PG_FREE 0x01
#define PADDR_INVALID UINT64_MAX
#define ENOMEM 12
#define EAGAIN 35

/* ------------------------------------------------------------------ aborts */

static void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
panic(const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	psc_abort("panic", message);
}

#define KASSERT(cond, text)                                                   \
	do {                                                                  \
		if (!(cond))                                                  \
			psc_abort("kassert", (text));                         \
	} while (0)

static void *
zalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);

	if (p == NULL)
		panic("psc_ref: out of host memory (%zu x %zu bytes)", count, size);
	return p;
}

/* ------------------------------------------------------------------ pages */

struct vm_page {
	uint64_t phys_addr; /* byte address */
	uint8_t flags;      /* PG_FREE */
	int8_t free_list;
};

/* One page array (a kmem_zalloc'd vm_page allocation). */
struct slab {
	struct vm_page *pages;
	uint64_t npages;
	unsigned ident; /* the kernel's slab number, 1, 2, ... (messages only) */
};

static unsigned slab_count;

static struct slab *
slab_new(uint64_t npages)
{
	struct slab *slab = zalloc(1, sizeof *slab);

	slab->pages = zalloc((size_t)npages, sizeof(struct vm_page));
	slab->npages = npages;
	slab->ident = ++slab_count;
	return slab;
}

/* ------------------------------------------------------------------ extent(9) */

/* One allocated region [start, end] (inclusive) and its descriptor's origin. */
struct region {
	uint64_t start, end;
	bool fixed_desc; /* from the fixed freelist (goes back there) */
};

struct extent {
	const char *name;
	uint64_t start, end; /* inclusive */
	bool fixed;          /* EX_FIXED: free_desc static descriptors */
	int free_desc;
	bool destroyed;
	struct region *regions; /* sorted, coalesced (never touching) */
	size_t nregions, cap;
	struct slab *slab; /* the page array whose entries it carves */
};

static struct extent *
extent_create(const char *name, struct slab *slab, uint64_t start, uint64_t n, int fixed_desc)
{
	struct extent *ex;

	if (n < 1)
		panic("extent '%s': end %lld is below start %llu", name,
		    (long long)start + (long long)n - 1, (unsigned long long)start);
	ex = zalloc(1, sizeof *ex);
	ex->name = name;
	ex->start = start;
	ex->end = start + n - 1;
	ex->fixed = fixed_desc >= 0;
	ex->free_desc = fixed_desc >= 0 ? fixed_desc : 0;
	ex->slab = slab;
	return ex;
}

/* A descriptor: 1 static, 0 dynamic (the allocator always grants), -1 none. */
static int
extent_take_desc(struct extent *ex, bool malloc_ok)
{
	if (ex->fixed) {
		if (ex->free_desc > 0) {
			ex->free_desc--;
			return 1;
		}
		if (!malloc_ok)
			return -1;
	}
	return 0;
}

static void
extent_release_desc(struct extent *ex, bool fixed_desc)
{
	if (fixed_desc)
		ex->free_desc++;
}

static void
extent_insert_region(struct extent *ex, size_t at, struct region r)
{
	if (ex->nregions == ex->cap) {
		size_t cap = ex->cap ? 2 * ex->cap : 4;
		struct region *grown = zalloc(cap, sizeof *grown);

		if (ex->nregions)
			memcpy(grown, ex->regions, ex->nregions * sizeof *grown);
		ex->regions = grown; /* the old array is never freed */
		ex->cap = cap;
	}
	memmove(&ex->regions[at + 1], &ex->regions[at], (ex->nregions - at) * sizeof r);
	ex->regions[at] = r;
	ex->nregions++;
}

static void
extent_delete_region(struct extent *ex, size_t at)
{
	memmove(&ex->regions[at], &ex->regions[at + 1],
	    (ex->nregions - at - 1) * sizeof ex->regions[0]);
	ex->nregions--;
}

/*
 * extent_alloc, best fit: the gap of least waste (gap size - size), ties to
 * the lowest address, an exact fit taken at once; the request sits at the
 * gap's start and coalesces with the regions it touches.  0, ENOMEM (no
 * descriptor, checked first) or EAGAIN (no space).
 */
static int
extent_alloc(struct extent *ex, uint64_t size, bool malloc_ok, uint64_t *result)
{
	uint64_t cursor = ex->start, best_start = 0, best_len = 0;
	size_t best_at = 0; /* index of the first region after the chosen gap */
	bool found = false;
	int desc;

	if (ex->destroyed)
		panic("extent '%s' [%llu, %llu] has been destroyed: cannot alloc", ex->name,
		    (unsigned long long)ex->start, (unsigned long long)ex->end);
	desc = extent_take_desc(ex, malloc_ok);
	if (desc < 0)
		return ENOMEM;
	for (size_t i = 0; i <= ex->nregions; i++) {
		uint64_t limit = i < ex->nregions ? ex->regions[i].start : ex->end + 1;

		if (limit > cursor) {
			uint64_t len = limit - cursor;

			if (len >= size && (!found || len < best_len)) {
				found = true;
				best_len = len;
				best_start = cursor;
				best_at = i;
				if (len == size)
					break;
			}
		}
		if (i < ex->nregions)
			cursor = ex->regions[i].end + 1;
	}
	if (!found) {
		extent_release_desc(ex, desc == 1);
		return EAGAIN;
	}
	uint64_t end = best_start + size - 1;
	bool before = best_at > 0 && ex->regions[best_at - 1].end + 1 == best_start;
	bool after = best_at < ex->nregions && ex->regions[best_at].start == end + 1;

	if (before && after) {
		ex->regions[best_at - 1].end = ex->regions[best_at].end;
		extent_release_desc(ex, ex->regions[best_at].fixed_desc);
		extent_delete_region(ex, best_at);
		extent_release_desc(ex, desc == 1);
	} else if (before) {
		ex->regions[best_at - 1].end = end;
		extent_release_desc(ex, desc == 1);
	} else if (after) {
		ex->regions[best_at].start = best_start;
		extent_release_desc(ex, desc == 1);
	} else {
		extent_insert_region(ex, best_at, (struct region){best_start, end, desc == 1});
	}
	*result = best_start;
	return 0;
}

/*
 * extent_free of [start, start + size - 1]: one descriptor taken first
 * (ENOMEM), then the region holding the range is removed, shrunk or split.
 * Panics for size 0, a range not inside one region, a destroyed extent.
 */
static int
extent_free(struct extent *ex, uint64_t start, uint64_t size, bool malloc_ok)
{
	uint64_t end = start + size - 1;
	size_t i;
	int spare;

	if (ex->destroyed)
		panic("extent_free: extent '%s' [%llu, %llu] has been destroyed: cannot free",
		    ex->name, (unsigned long long)ex->start, (unsigned long long)ex->end);
	if (size < 1)
		panic("extent_free: extent '%s' [%llu, %llu]: free size 0 is below 1", ex->name,
		    (unsigned long long)ex->start, (unsigned long long)ex->end);
	spare = extent_take_desc(ex, malloc_ok);
	if (spare < 0)
		return ENOMEM;
	for (i = ex->nregions; i > 0 && ex->regions[i - 1].start > start; i--)
		continue;
	if (i == 0 || ex->regions[i - 1].end < end)
		panic("extent_free: extent '%s' [%llu, %llu]: cannot free [%llu, %llu] (%llu units): "
		      "it is not inside one allocated region",
		    ex->name, (unsigned long long)ex->start, (unsigned long long)ex->end,
		    (unsigned long long)start, (unsigned long long)end, (unsigned long long)size);
	struct region *r = &ex->regions[i - 1];

	if (start == r->start && end == r->end) {
		extent_release_desc(ex, r->fixed_desc);
		extent_delete_region(ex, i - 1);
		extent_release_desc(ex, spare == 1);
	} else if (start == r->start) {
		r->start = end + 1;
		extent_release_desc(ex, spare == 1);
	} else if (end == r->end) {
		r->end = start - 1;
		extent_release_desc(ex, spare == 1);
	} else {
		struct region upper = {end + 1, r->end, spare == 1};

		r->end = start - 1;
		extent_insert_region(ex, i, upper);
	}
	return 0;
}

static void
extent_destroy(struct extent *ex)
{
	for (size_t i = 0; i < ex->nregions; i++)
		extent_release_desc(ex, ex->regions[i].fixed_desc);
	ex->nregions = 0;
	ex->destroyed = true;
}

/* ------------------------------------------------------------------ segments */

struct seg {
	uint64_t start, end;             /* pfn, end exclusive */
	uint64_t avail_start, avail_end; /* pfn, end exclusive */
	struct vm_page *pgs;             /* the vm_page of start, or NULL */
	struct slab *pgs_slab;           /* the allocation pgs points into */
	struct extent *ext;              /* the slab extent pgs came from */
	int free_list;
	uint64_t start_hint;
	int pool_slot; /* boot pool index, -1 for a run-time record */
};

static struct seg boot_pool[PSC_VM_PHYSSEG_MAX];
static int nseg;            /* boot pool cursor: slots are never reused */
static struct seg **segs;   /* live segments, ascending start */
static size_t nentries, segs_cap;
static int64_t npages;      /* uvmexp.npages */
static uint64_t physmem;
static bool page_init_done; /* uvm.page_init_done */

static struct seg *
seg_alloc(void)
{
	if (!page_init_done) {
		nseg++;
		KASSERT(nseg > 0 && nseg <= PSC_VM_PHYSSEG_MAX, "nseg > 0 && nseg <= VM_PHYSSEG_MAX");
		boot_pool[nseg - 1].pool_slot = nseg - 1;
		return &boot_pool[nseg - 1];
	}
	struct seg *seg = zalloc(1, sizeof *seg);

	seg->pool_slot = -1;
	return seg;
}

static void
seg_free(struct seg *seg)
{
	if (seg->pool_slot >= 0 && PSC_VM_PHYSSEG_MAX <= 1)
		panic("uvm_physseg_free: tried to free() the entire static array!");
}

static bool
valid_p(const struct seg *seg)
{
	if (seg == NULL)
		return false;
	return !page_init_done || seg->pgs != NULL;
}

static struct seg *
deref(struct seg *seg)
{
	if (seg == NULL)
		panic("NULL pointer dereference");
	return seg;
}

/* Index of the first live segment whose start is >= pfn (> pfn if upper). */
static size_t
bound(uint64_t pfn, bool upper)
{
	size_t lo = 0, hi = nentries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (segs[mid]->start < pfn || (upper && segs[mid]->start == pfn))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct seg *
find(uint64_t pfn, uint64_t *off)
{
	size_t at = bound(pfn, true);

	if (at == 0)
		return NULL;
	struct seg *seg = segs[at - 1];
	if (MUTANT(2) ? pfn > seg->end : pfn >= seg->end)
		return NULL;
	if (off != NULL)
		*off = pfn - seg->start;
	return seg;
}

static size_t
index_of(const struct seg *seg)
{
	size_t at = bound(seg->start, false);

	while (segs[at] != seg)
		at++;
	return at;
}

/*
 * Insert a record in address order.  The comparator's DIAGNOSTIC KASSERT
 * fires when a live segment starts inside the new one (the insertion
 * descent always compares the new node with its successor, existing node
 * first); a new segment starting inside a live one is refused earlier.
 */
static void
seg_insert(struct seg *seg)
{
	size_t at = bound(seg->start, false);

	if (at < nentries && segs[at]->start < seg->end)
		psc_abort("kassert", "enode1->start < enode2->start || ...");
	if (nentries == segs_cap) {
		size_t cap = segs_cap ? 2 * segs_cap : 16;
		struct seg **grown = zalloc(cap, sizeof *grown);

		if (nentries)
			memcpy(grown, segs, nentries * sizeof *grown);
		segs = grown;
		segs_cap = cap;
	}
	memmove(&segs[at + 1], &segs[at], (nentries - at) * sizeof *segs);
	segs[at] = seg;
	nentries++;
}

static void
seg_remove(struct seg *seg)
{
	size_t at = index_of(seg);
	int pool_slot = seg->pool_slot;

	memmove(&segs[at], &segs[at + 1], (nentries - at - 1) * sizeof *segs);
	memset(seg, 0, sizeof *seg);
	seg->pool_slot = pool_slot; /* the allocator's bookkeeping, not the record */
	seg_free(seg);
	nentries--;
}

static struct seg *
get_first(void)
{
	return nentries ? segs[0] : NULL;
}

static struct seg *
get_last(void)
{
	return nentries ? segs[nentries - 1] : NULL;
}

static struct seg *
neighbour(struct seg *seg, bool next)
{
	size_t at;

	if (!valid_p(seg))
		return NULL;
	if (MUTANT(4))
		next = !next;
	at = index_of(seg);
	if (next)
		return at + 1 < nentries ? segs[at + 1] : NULL;
	return at > 0 ? segs[at - 1] : NULL;
}

/* ------------------------------------------------------------------ page arrays */

/* Give seg its page array pgs_slab->pages[first..]: phys_addr, count and free the avail pages. */
static void
init_seg(struct seg *seg, struct slab *slab, uint64_t first)
{
	uint64_t n = seg->end - seg->start;

	KASSERT(seg->pgs == NULL, "seg->pgs == NULL");
	if (first + n > slab->npages)
		panic("uvm_physseg_init_seg: pgs[0..%llu) overruns Slab#%u('boot slab', "
		      "npages=%llu) at entry %llu",
		    (unsigned long long)n, slab->ident, (unsigned long long)slab->npages,
		    (unsigned long long)first);
	seg->pgs = &slab->pages[first];
	seg->pgs_slab = slab;
	for (uint64_t i = 0; i < n; i++)
		seg->pgs[i].phys_addr = (seg->start + i) << PAGE_SHIFT;
	uint64_t lo = seg->avail_start > seg->start ? seg->avail_start : seg->start;
	uint64_t hi = seg->avail_end < seg->end ? seg->avail_end : seg->end;

	if (hi > lo) {
		npages += (int64_t)(hi - lo);
		for (uint64_t pfn = lo; pfn < hi; pfn++) {
			seg->pgs[pfn - seg->start].flags |= PG_FREE;
			seg->pgs[pfn - seg->start].free_list = (int8_t)seg->free_list;
		}
	}
}

/* seg->ext becomes an extent over the n entries of slab: the boot or a hotplug one. */
static void
chomp_slab(struct seg *seg, struct slab *slab, uint64_t n)
{
	deref(seg);
	if (!page_init_done)
		seg->ext = extent_create("Boot time slab", slab, 0, n, PSC_VM_PHYSSEG_MAX);
	else
		seg->ext = extent_create("Hotplug slab", slab, 0, n, -1);
}

/* Carve pages entries from seg's extent (a boot segment borrows its predecessor's). */
static bool
alloc_from_slab(struct seg *seg, uint64_t pages, uint64_t *first)
{
	KASSERT(pages > 0, "pages > 0");
	if (seg->ext == NULL) {
		KASSERT(!page_init_done, "uvm.page_init_done != true");
		seg->ext = deref(neighbour(seg, false))->ext;
		KASSERT(seg->ext != NULL, "seg->ext != NULL");
	}
	return extent_alloc(seg->ext, pages, false, first) == 0;
}

/* ------------------------------------------------------------------ plug, unplug */

static bool
plug(uint64_t pfn, uint64_t pages, struct seg **out)
{
	struct seg *ps;
	struct slab *slab = NULL;
	uint64_t first = 0;
	bool preload = true;

	if (find(pfn, NULL) != NULL)
		return false;
	ps = seg_alloc();
	ps->start = ps->avail_start = pfn;
	ps->end = ps->avail_end = pfn + pages;
	for (size_t i = 0; i < nentries && preload; i++)
		preload = segs[i]->pgs == NULL;
	if (!preload) {
		/* Scavenge from the live segments' extents, in address order. */
		for (size_t i = 0; i < nentries && slab == NULL; i++) {
			struct seg *donor = segs[i];

			if (donor->pgs != NULL && alloc_from_slab(donor, pages, &first)) {
				slab = donor->ext->slab;
				ps->ext = donor->ext;
			}
		}
		if (slab == NULL) {
			/* A brand-new slab: from (size_t)uvmexp.npages down to pages. */
			if (npages < 0)
				psc_abort("hang", "uvm_physseg_plug: the new slab loop starts at "
						  "(size_t)uvmexp.npages, a negative count");
			/* kmem_zalloc refuses sizes above 1 GiB: the first one it grants. */
			uint64_t slabpages = (uint64_t)npages;
			uint64_t most = KMEM_MAX_BYTES / sizeof(struct vm_page);

			if (slabpages > most)
				slabpages = most;
			if (slabpages < pages) {
				seg_free(ps);
				return false;
			}
			slab = slab_new(slabpages);
			chomp_slab(ps, slab, slabpages);
			if (!alloc_from_slab(ps, pages, &first))
				return false;
		}
		physmem += pages;
	}
	seg_insert(ps);
	if (!preload)
		init_seg(ps, slab, first);
	*out = ps;
	return true;
}

static void
unplug_whole(struct seg *seg, uint64_t pages)
{
	if (page_init_done) {
		size_t users = 0;

		for (size_t i = 0; i < nentries; i++)
			users += segs[i]->ext == seg->ext;
		KASSERT(users > 0, "segcount > 0");
		if (users == 1)
			extent_destroy(seg->ext);
		npages -= (int64_t)pages;
	}
	seg_remove(seg);
}

static void
unplug_middle(struct seg *seg, uint64_t off, uint64_t pfn, uint64_t pages)
{
	struct seg *ps = seg_alloc();

	if (page_init_done) {
		KASSERT(seg->ext != NULL, "seg->ext != NULL");
		ps->ext = seg->ext;
		npages -= (int64_t)pages;
	}
	ps->start = ps->avail_start = pfn + pages + (MUTANT(1) ? 1 : 0);
	ps->end = ps->avail_end = seg->end;
	seg->end = seg->avail_end = pfn;
	if (page_init_done && seg->pgs != NULL) {
		ps->pgs = seg->pgs + off + pages;
		ps->pgs_slab = seg->pgs_slab;
	}
	seg_insert(ps);
}

static bool
unplug(uint64_t pfn, uint64_t pages)
{
	uint64_t off = 0;
	struct seg *seg = find(pfn, &off);

	if (!valid_p(seg))
		return false;
	uint64_t end = seg->end;

	if (pages > end - pfn)
		return false;
	KASSERT(pfn == seg->start + off, "pfn == start + off");
	bool whole = off == 0 && pages == end - pfn;
	bool middle = off > 0 && pages < end - pfn;

	if (page_init_done) {
		if (seg->ext == NULL || seg->pgs == NULL)
			panic("uvm_physseg_unplug: NULL pointer dereference (seg->ext)");
		uint64_t entry = (uint64_t)(seg->pgs - seg->ext->slab->pages) + off;

		if (!MUTANT(5) && extent_free(seg->ext, entry, pages, true) != 0)
			return false;
	}
	if (whole) {
		if (nentries == 1) {
			if (MUTANT(6))
				return false;
			panic("uvm_physseg_unplug: out of memory!");
		}
		unplug_whole(seg, pages);
	} else if (middle) {
		unplug_middle(seg, off, pfn, pages);
	} else if (off == 0) {
		if (page_init_done && !MUTANT(3))
			npages -= (int64_t)pages;
		seg->start = seg->avail_start = pfn + pages;
		if (page_init_done && seg->pgs != NULL)
			seg->pgs += pages;
	} else {
		seg->end = seg->avail_end = pfn;
		npages -= (int64_t)pages; /* at boot too (the kernel's back-trim bug) */
	}
	return true;
}

/* ------------------------------------------------------------------ boot-time stealing */

static bool
physunload(struct seg *seg, int free_list, uint64_t *pa)
{
	if (page_init_done)
		panic("uvm_page_physunload: unload attempted after uvm_page_init()");
	deref(seg);
	if (seg->free_list != free_list)
		return false;
	if (seg->avail_start == seg->start && seg->avail_start < seg->avail_end) {
		*pa = seg->avail_start << PAGE_SHIFT;
		return unplug(seg->avail_start, 1);
	}
	if (seg->avail_end == seg->end && seg->avail_start < seg->avail_end) {
		*pa = (seg->avail_end - 1) << PAGE_SHIFT;
		return unplug(seg->avail_end - 1, 1);
	}
	return false;
}

static bool
physunload_force(struct seg *seg, int free_list, uint64_t *pa)
{
	(void)free_list;
	deref(seg);
	if (page_init_done)
		panic("uvm_page_physunload_force: unload attempted after uvm_page_init()");
	if (seg->avail_start >= seg->avail_end)
		return false;
	*pa = seg->avail_start << PAGE_SHIFT;
	return unplug(seg->avail_start, 1);
}

/* ------------------------------------------------------------------ the ABI */

int
psc_abi_version(void)
{
	return PSC_ABI_VERSION;
}

#define PSC_STR2(x) #x
#define PSC_STR(x) PSC_STR2(x)

const char *
psc_implementation(void)
{
	static const char *const mutants[] = {
	    "",
	    " MUTANT 1: middle split tail off by one",
	    " MUTANT 2: find counts the end as inside (<= end)",
	    " MUTANT 3: run-time front trim keeps uvmexp.npages",
	    " MUTANT 4: get_next and get_prev swapped",
	    " MUTANT 5: unplug leaks its vm_pages (no extent_free)",
	    " MUTANT 6: removing the last segment returns false",
	};
	static char name[256];

	snprintf(name, sizeof name,
	    "physseg psc_ref.c (own UVM_HOTPLUG implementation, VM_PHYSSEG_MAX "
	    PSC_STR(PSC_VM_PHYSSEG_MAX) ", VM_PHYSSEG_STRAT " PSC_STR(PSC_VM_PHYSSEG_STRAT) ")%s",
	    mutants[PSC_MUTANT]);
	return name;
}

void
psc_boot(void)
{
	memset(boot_pool, 0, sizeof boot_pool);
	nseg = 0;
	segs = NULL;
	nentries = segs_cap = 0;
	npages = 0;
	physmem = 0;
	page_init_done = false;
	slab_count = 0;
}

static struct seg *
seg_of(psc_handle_t h)
{
	return (struct seg *)(uintptr_t)h;
}

static psc_handle_t
handle_of(const struct seg *seg)
{
	return (psc_handle_t)(uintptr_t)seg;
}

psc_handle_t
psc_physload(uint64_t start, uint64_t end, uint64_t avail_start, uint64_t avail_end,
    int32_t free_list)
{
	struct seg *seg = NULL;

	if (page_init_done)
		panic("uvm_page_physload: unload attempted after uvm_page_init()");
	if (free_list >= VM_NFREELIST || free_list < 0)
		panic("uvm_page_physload: bad free list %d", free_list);
	if (start >= end)
		panic("uvm_page_physload: start >= end");
	if (!plug(start, end - start, &seg))
		panic("uvm_physseg_plug() failed at boot.");
	seg->avail_start = avail_start;
	seg->avail_end = avail_end;
	seg->free_list = free_list;
	return handle_of(seg);
}

int32_t
psc_plug(uint64_t pfn, uint64_t pages, psc_handle_t *handle)
{
	struct seg *seg = NULL;
	bool ok = plug(pfn, pages, &seg);

	*handle = ok ? handle_of(seg) : 0;
	return ok;
}

int32_t
psc_unplug(uint64_t pfn, uint64_t pages)
{
	return unplug(pfn, pages);
}

int32_t
psc_physunload(psc_handle_t h, int32_t free_list, uint64_t *pa)
{
	return physunload(seg_of(h), free_list, pa);
}

int32_t
psc_physunload_force(psc_handle_t h, int32_t free_list, uint64_t *pa)
{
	return physunload_force(seg_of(h), free_list, pa);
}

int32_t
psc_physget(uint64_t *pa)
{
	bool backwards = PSC_VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST;

	for (int free_list = 0; free_list < VM_NFREELIST; free_list++) {
		for (int pass = 0; pass < 2; pass++) {
			struct seg *lcv = backwards ? get_last() : get_first();

			while (valid_p(lcv)) {
				if (page_init_done)
					panic("uvm_page_physget: called _after_ bootstrap");
				bool ok = pass == 0 ? physunload(lcv, free_list, pa)
						    : physunload_force(lcv, free_list, pa);
				if (ok)
					return 1;
				lcv = neighbour(lcv, !backwards);
			}
		}
	}
	return 0;
}

void
psc_page_init(uint64_t pagecount)
{
	struct slab *slab = slab_new(pagecount);
	struct seg *bank = get_first();
	uint64_t cursor = 0, unused;

	chomp_slab(bank, slab, pagecount);
	while (valid_p(bank)) {
		uint64_t n = bank->end - bank->start;

		alloc_from_slab(bank, n, &unused);
		init_seg(bank, slab, cursor);
		cursor += n;
		bank = neighbour(bank, true);
	}
	page_init_done = true;
}

psc_handle_t
psc_find(uint64_t pfn, uint64_t *off)
{
	return handle_of(find(pfn, off));
}

static void
fill_page(struct psc_page *page, const struct slab *slab, const struct vm_page *pg)
{
	page->slab = (uint64_t)(uintptr_t)slab->pages;
	page->index = (uint64_t)(pg - slab->pages);
	page->phys_addr = pg->phys_addr;
	page->on_free_list = (pg->flags & PG_FREE) != 0;
}

/* PHYS_TO_VM_PAGE: find(atop(pa)) then &pgs[off]; NULL when unmanaged (or at boot). */
static struct vm_page *
phys_to_vm_page(uint64_t pa, struct seg **segp)
{
	uint64_t off = 0;
	struct seg *seg = find(pa >> PAGE_SHIFT, &off);

	if (seg == NULL)
		return NULL;
	if (seg->pgs == NULL) {
		KASSERT(!page_init_done, "uvm_physseg_valid_p(upm)");
		return NULL;
	}
	*segp = seg;
	return &seg->pgs[off];
}

int32_t
psc_phys_to_vm_page(uint64_t pa, struct psc_page *page)
{
	struct seg *seg = NULL;
	struct vm_page *pg = phys_to_vm_page(pa, &seg);

	if (pg == NULL)
		return 0;
	fill_page(page, seg->pgs_slab, pg);
	return 1;
}

int32_t
psc_valid(psc_handle_t h)
{
	return valid_p(seg_of(h));
}

psc_handle_t
psc_first(void)
{
	return handle_of(get_first());
}

psc_handle_t
psc_last(void)
{
	return handle_of(get_last());
}

psc_handle_t
psc_next(psc_handle_t h)
{
	return handle_of(neighbour(seg_of(h), true));
}

psc_handle_t
psc_prev(psc_handle_t h)
{
	return handle_of(neighbour(seg_of(h), false));
}

uint64_t
psc_start(psc_handle_t h)
{
	return valid_p(seg_of(h)) ? seg_of(h)->start : PADDR_INVALID;
}

uint64_t
psc_end(psc_handle_t h)
{
	return valid_p(seg_of(h)) ? seg_of(h)->end : PADDR_INVALID;
}

uint64_t
psc_avail_start(psc_handle_t h)
{
	return valid_p(seg_of(h)) ? seg_of(h)->avail_start : PADDR_INVALID;
}

uint64_t
psc_avail_end(psc_handle_t h)
{
	return valid_p(seg_of(h)) ? seg_of(h)->avail_end : PADDR_INVALID;
}

int32_t
psc_free_list(psc_handle_t h)
{
	KASSERT(valid_p(seg_of(h)), "uvm_physseg_valid_p(upm)");
	return seg_of(h)->free_list;
}

uint64_t
psc_start_hint(psc_handle_t h)
{
	KASSERT(valid_p(seg_of(h)), "uvm_physseg_valid_p(upm)");
	return seg_of(h)->start_hint;
}

int32_t
psc_set_start_hint(psc_handle_t h, uint64_t hint)
{
	if (!valid_p(seg_of(h)))
		return 0;
	seg_of(h)->start_hint = hint;
	return 1;
}

int32_t
psc_page(psc_handle_t h, uint64_t idx, struct psc_page *page)
{
	struct seg *seg = deref(seg_of(h));

	if (seg->pgs == NULL)
		return 0;
	fill_page(page, seg->pgs_slab, &seg->pgs[idx]);
	return 1;
}

uint64_t
psc_highest_frame(void)
{
	struct seg *last = get_last();

	if (last == NULL)
		panic("uvm_physseg_get_highest_frame: NULL pointer dereference");
	return last->end - 1;
}

void
psc_counters(struct psc_counters *counters)
{
	counters->entries = (int64_t)nentries;
	counters->npages = npages;
	counters->physmem = physmem;
	counters->page_init_done = page_init_done;
}

uint64_t
psc_bench_lookup(const uint64_t *pas, uint64_t n, uint64_t rounds)
{
	struct timespec t0, t1;
	uintptr_t sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t r = 0; r < rounds; r++) {
		for (uint64_t i = 0; i < n; i++) {
			struct seg *seg = NULL;

			sink += (uintptr_t)phys_to_vm_page(pas[i], &seg);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__asm__ volatile("" : : "r"(sink) : "memory");
	return (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
	    (uint64_t)t0.tv_nsec;
}
