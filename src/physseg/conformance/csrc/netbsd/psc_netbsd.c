/*
 * physseg conformance, NetBSD glue: NetBSD's own sys/uvm/uvm_physseg.c,
 * included unchanged from a source tree, behind the conformance ABI
 * (physseg_conformance.h).
 *
 * The build (src/physseg/conformance/netbsd_tree.py) gives
 *   -DPSC_UVM_HOTPLUG=1|0        UVM_HOTPLUG (rbtree) or the static vm_physmem[]
 *   -DPSC_VM_PHYSSEG_MAX=N       VM_PHYSSEG_MAX
 *   -DPSC_VM_PHYSSEG_STRAT=1|2|3 VM_PSTRAT_RANDOM, _BSEARCH, _BIGFIRST
 *   -DPSC_UVM_PHYSSEG_REV="1.9"  the file's revision, for psc_implementation()
 * and this file defines DIAGNOSTIC (KASSERTs live) and DEBUG (plug's overlap
 * pre-check), as the contract fixes for every build.
 *
 * What the kernel around uvm_physseg.c would do is done here:
 *   - panic() formats its message and ends the call through psc_abort("panic");
 *     a failed KASSERT(e) through psc_abort("kassert", "e");
 *   - printf() is silenced;
 *   - kmem(9) (and extent(9)'s descriptors) never reuse memory, so handles,
 *     which are pointers, stay unique; a request above 1 GiB is refused (NULL),
 *     as KM_NOSLEEP refuses an impossible size. A caller that keeps asking
 *     after PSC_HANG_REFUSALS refusals in a row is looping without end
 *     (uvm_physseg_plug's slab loop starts from (size_t)uvmexp.npages, about
 *     2^64 when npages is negative): that is reported as psc_abort("hang");
 *   - uvm_pagefree() marks the page (struct psc_page's on_free_list);
 *   - uvm_page_physget() and PHYS_TO_VM_PAGE() are uvm_page.c's (<= 1.18);
 *     psc_page_init() is the ATF test's uvm_page_init_fake().
 * uvm_physseg_get_highest_frame() on an empty rbtree dereferences NULL, as in
 * the kernel: the harness reports the SIGSEGV.
 */
#if PSC_UVM_HOTPLUG
#define UVM_HOTPLUG
#endif
#define DIAGNOSTIC
#define DEBUG

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "physseg_conformance.h"

#include "sys/uvm/uvm_physseg.c"

#ifndef PSC_UVM_PHYSSEG_REV
#define PSC_UVM_PHYSSEG_REV "(unknown revision)"
#endif

/* Refusals in a row after which an allocating loop is taken for endless. */
#define PSC_HANG_REFUSALS ((uint64_t)1 << 27)

/* ------------------------------------------------------------ kernel state */

struct uvmexp uvmexp;
struct uvm uvm;
psize_t physmem;
kmutex_t uvm_pageqlock;

/* ------------------------------------------------------------ allocation */

/*
 * Every block handed out, so that a vm_page pointer can be named by the
 * allocation holding it (struct psc_page's slab and index). Nothing is
 * ever released.
 */
struct psc_block {
	uintptr_t base;
	size_t size;
};

static struct psc_block *psc_blocks;
static size_t psc_nblocks, psc_blocks_room;
static uint64_t psc_refusals;

static void *
psc_register(void *p, size_t size)
{
	if (p == NULL)
		psc_abort("panic", "physseg glue: the host is out of memory");
	if (psc_nblocks == psc_blocks_room) {
		size_t room = psc_blocks_room ? 2 * psc_blocks_room : 64;
		struct psc_block *blocks = realloc(psc_blocks, room * sizeof(*blocks));
		if (blocks == NULL)
			psc_abort("panic", "physseg glue: the host is out of memory");
		psc_blocks = blocks;
		psc_blocks_room = room;
	}
	psc_blocks[psc_nblocks].base = (uintptr_t)p;
	psc_blocks[psc_nblocks].size = size;
	psc_nblocks++;
	return p;
}

/* kmem(9)'s allocator: zeroed, never reused, NULL above PSC_KMEM_LIMIT. */
static void *
psc_kmem(size_t size)
{
	if (size > PSC_KMEM_LIMIT) {
		if (++psc_refusals >= PSC_HANG_REFUSALS)
			psc_abort("hang", "kmem_zalloc: refused 2^27 requests in a row"
			    " (uvm_physseg_plug's slab loop from (size_t)uvmexp.npages)");
		return NULL;
	}
	psc_refusals = 0;
	return psc_register(calloc(1, size ? size : 1), size);
}

void *
kmem_alloc(size_t size, km_flag_t flags)
{
	(void)flags;
	return psc_kmem(size);
}

void *
kmem_zalloc(size_t size, km_flag_t flags)
{
	(void)flags;
	return psc_kmem(size);
}

void
kmem_free(void *p, size_t size)
{
	(void)p;
	(void)size;
}

/* extent(9)'s malloc/free in its _EXTENT_TESTING build (psc_extent.c). */
void *
psc_extent_malloc(size_t size)
{
	return psc_kmem(size);
}

void
psc_extent_free(void *p)
{
	(void)p;
}

/* ------------------------------------------------------------ console */

int
psc_printf(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}

void
psc_panic(const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	len = strlen(message);
	while (len > 0 && message[len - 1] == '\n')
		message[--len] = '\0';
	psc_abort("panic", message);
}

/* ------------------------------------------------------------ uvm hooks */

void
uvm_pagefree(struct vm_page *pg)
{
	pg->on_free_list = 1;
}

void
uvmpdpol_reinit(void)
{
}

/* uvm_page.c (<= 1.18): PHYS_TO_VM_PAGE(). */
static struct vm_page *
uvm_phys_to_vm_page(paddr_t pa)
{
	paddr_t pf = atop(pa);
	paddr_t off;
	uvm_physseg_t upm;

	upm = uvm_physseg_find(pf, &off);
	if (upm != UVM_PHYSSEG_TYPE_INVALID)
		return uvm_physseg_get_pg(upm, off);
	return NULL;
}

/* uvm_page.c (<= 1.18): uvm_page_physget_freelist() and uvm_page_physget(). */
static bool
uvm_page_physget_freelist(paddr_t *paddrp, int freelist)
{
	uvm_physseg_t lcv;

	/* pass 1: try allocating from a matching end */
#if (VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST)
	for (lcv = uvm_physseg_get_last(); uvm_physseg_valid_p(lcv);
	    lcv = uvm_physseg_get_prev(lcv))
#else
	for (lcv = uvm_physseg_get_first(); uvm_physseg_valid_p(lcv);
	    lcv = uvm_physseg_get_next(lcv))
#endif
	{
		if (uvm.page_init_done == true)
			panic("uvm_page_physget: called _after_ bootstrap");
		if (uvm_page_physunload(lcv, freelist, paddrp))
			return true;
	}

	/* pass2: forget about matching ends, just allocate something */
#if (VM_PHYSSEG_STRAT == VM_PSTRAT_BIGFIRST)
	for (lcv = uvm_physseg_get_last(); uvm_physseg_valid_p(lcv);
	    lcv = uvm_physseg_get_prev(lcv))
#else
	for (lcv = uvm_physseg_get_first(); uvm_physseg_valid_p(lcv);
	    lcv = uvm_physseg_get_next(lcv))
#endif
	{
		if (uvm_page_physunload_force(lcv, freelist, paddrp))
			return true;
	}

	return false;
}

static bool
uvm_page_physget(paddr_t *paddrp)
{
	int i;

	for (i = 0; i < VM_NFREELIST; i++)
		if (uvm_page_physget_freelist(paddrp, i) == true)
			return true;
	return false;
}

/* ------------------------------------------------------------ the ABI */

#if defined(UVM_HOTPLUG)
#define PSC_TOKEN(upm) ((psc_handle_t)(uintptr_t)(upm))
#define PSC_HANDLE(h) ((uvm_physseg_t)(uintptr_t)(h))
#define PSC_BACKEND "rbtree"
#define PSC_ENTRIES() ((int64_t)uvm_physseg_graph.nentries)
#else
#define PSC_TOKEN(upm) ((psc_handle_t)(int64_t)(upm))
#define PSC_HANDLE(h) ((uvm_physseg_t)(int64_t)(h))
#define PSC_BACKEND "static"
#define PSC_ENTRIES() ((int64_t)vm_nphysseg)
#endif

#if VM_PHYSSEG_STRAT == VM_PSTRAT_RANDOM
#define PSC_STRATEGY "random"
#elif VM_PHYSSEG_STRAT == VM_PSTRAT_BSEARCH
#define PSC_STRATEGY "bsearch"
#else
#define PSC_STRATEGY "bigfirst"
#endif

#define PSC_STR(x) #x
#define PSC_XSTR(x) PSC_STR(x)

int
psc_abi_version(void)
{
	return PSC_ABI_VERSION;
}

const char *
psc_implementation(void)
{
	return "NetBSD uvm_physseg.c " PSC_UVM_PHYSSEG_REV " (" PSC_BACKEND
	    ", VM_PHYSSEG_MAX " PSC_XSTR(VM_PHYSSEG_MAX) ", " PSC_STRATEGY
	    ", physseg glue)";
}

void
psc_boot(void)
{
	uvmexp.pagesize = PAGE_SIZE;
	uvmexp.pagemask = PAGE_MASK;
	uvmexp.pageshift = PAGE_SHIFT;
	uvmexp.npages = 0;
	uvm.page_init_done = false;
	uvm_physseg_init();
}

psc_handle_t
psc_physload(uint64_t start, uint64_t end, uint64_t avail_start, uint64_t avail_end,
    int32_t free_list)
{
	return PSC_TOKEN(uvm_page_physload(start, end, avail_start, avail_end, free_list));
}

int32_t
psc_plug(uint64_t pfn, uint64_t pages, psc_handle_t *handle)
{
	uvm_physseg_t upm = UVM_PHYSSEG_TYPE_INVALID;
	bool ok = uvm_physseg_plug(pfn, pages, &upm);

	*handle = PSC_TOKEN(upm);
	return ok;
}

int32_t
psc_unplug(uint64_t pfn, uint64_t pages)
{
	return uvm_physseg_unplug(pfn, pages);
}

int32_t
psc_physunload(psc_handle_t h, int32_t free_list, uint64_t *pa)
{
	return uvm_page_physunload(PSC_HANDLE(h), free_list, (paddr_t *)pa);
}

int32_t
psc_physunload_force(psc_handle_t h, int32_t free_list, uint64_t *pa)
{
	return uvm_page_physunload_force(PSC_HANDLE(h), free_list, (paddr_t *)pa);
}

int32_t
psc_physget(uint64_t *pa)
{
	return uvm_page_physget((paddr_t *)pa);
}

/* tests/sys/uvm/t_uvm_physseg.c: uvm_page_init_fake(). */
void
psc_page_init(uint64_t pagecount)
{
	size_t bytes = sizeof(struct vm_page) * (size_t)pagecount;
	struct vm_page *pagearray = psc_register(calloc(1, bytes ? bytes : 1), bytes);
	uvm_physseg_t bank;
	size_t n;

	for (bank = uvm_physseg_get_first(),
		 uvm_physseg_seg_chomp_slab(bank, pagearray, pagecount);
	     uvm_physseg_valid_p(bank);
	     bank = uvm_physseg_get_next(bank)) {

		n = uvm_physseg_get_end(bank) - uvm_physseg_get_start(bank);
		uvm_physseg_seg_alloc_from_slab(bank, n);
		uvm_physseg_init_seg(bank, pagearray);

		/* set up page array pointers */
		pagearray += n;
		pagecount -= n;
	}

	uvm.page_init_done = true;
}

psc_handle_t
psc_find(uint64_t pfn, uint64_t *off)
{
	return PSC_TOKEN(uvm_physseg_find(pfn, (psize_t *)off));
}

/* The allocation holding pg names its slab; its entry number is the index. */
static void
psc_describe(const struct vm_page *pg, struct psc_page *page)
{
	uintptr_t at = (uintptr_t)pg;
	size_t i;

	page->slab = 0;
	page->index = at;
	for (i = 0; i < psc_nblocks; i++) {
		if (at >= psc_blocks[i].base && at < psc_blocks[i].base + psc_blocks[i].size) {
			page->slab = psc_blocks[i].base;
			page->index = (at - psc_blocks[i].base) / sizeof(struct vm_page);
			break;
		}
	}
	page->phys_addr = pg->phys_addr;
	page->on_free_list = pg->on_free_list;
}

int32_t
psc_phys_to_vm_page(uint64_t pa, struct psc_page *page)
{
	paddr_t off;
	uvm_physseg_t upm = uvm_physseg_find(atop(pa), &off);
	struct vm_page *pg = uvm_phys_to_vm_page(pa);

	/* At boot a segment has no page array: C returns NULL + off, the ABI 0. */
	if (pg == NULL || HANDLE_TO_PHYSSEG_NODE(upm)->pgs == NULL)
		return 0;
	psc_describe(pg, page);
	return 1;
}

int32_t
psc_valid(psc_handle_t h)
{
	return uvm_physseg_valid_p(PSC_HANDLE(h));
}

psc_handle_t
psc_first(void)
{
	return PSC_TOKEN(uvm_physseg_get_first());
}

psc_handle_t
psc_last(void)
{
	return PSC_TOKEN(uvm_physseg_get_last());
}

psc_handle_t
psc_next(psc_handle_t h)
{
	return PSC_TOKEN(uvm_physseg_get_next(PSC_HANDLE(h)));
}

psc_handle_t
psc_prev(psc_handle_t h)
{
	return PSC_TOKEN(uvm_physseg_get_prev(PSC_HANDLE(h)));
}

uint64_t
psc_start(psc_handle_t h)
{
	return uvm_physseg_get_start(PSC_HANDLE(h));
}

uint64_t
psc_end(psc_handle_t h)
{
	return uvm_physseg_get_end(PSC_HANDLE(h));
}

uint64_t
psc_avail_start(psc_handle_t h)
{
	return uvm_physseg_get_avail_start(PSC_HANDLE(h));
}

uint64_t
psc_avail_end(psc_handle_t h)
{
	return uvm_physseg_get_avail_end(PSC_HANDLE(h));
}

int32_t
psc_free_list(psc_handle_t h)
{
	return uvm_physseg_get_free_list(PSC_HANDLE(h));
}

uint64_t
psc_start_hint(psc_handle_t h)
{
	return uvm_physseg_get_start_hint(PSC_HANDLE(h));
}

int32_t
psc_set_start_hint(psc_handle_t h, uint64_t hint)
{
	return uvm_physseg_set_start_hint(PSC_HANDLE(h), (u_int)hint);
}

int32_t
psc_page(psc_handle_t h, uint64_t idx, struct psc_page *page)
{
	struct uvm_physseg *seg = HANDLE_TO_PHYSSEG_NODE(PSC_HANDLE(h));

	if (seg->pgs == NULL)
		return 0;
	psc_describe(&seg->pgs[idx], page);
	return 1;
}

uint64_t
psc_highest_frame(void)
{
	return uvm_physseg_get_highest_frame();
}

void
psc_counters(struct psc_counters *counters)
{
	counters->entries = PSC_ENTRIES();
	counters->npages = uvmexp.npages;
	counters->physmem = physmem;
	counters->page_init_done = uvm.page_init_done;
}

uint64_t
psc_bench_lookup(const uint64_t *pas, uint64_t n, uint64_t rounds)
{
	struct timespec t0, t1;
	uintptr_t sink = 0;
	uint64_t r, i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (r = 0; r < rounds; r++)
		for (i = 0; i < n; i++)
			sink ^= (uintptr_t)uvm_phys_to_vm_page(pas[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__asm__ volatile("" : : "r"(sink));
	return (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u
	    + (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
}
