/*
 * The physseg conformance ABI, version 1: the C interface through which
 * `physseg conformance --lib PATH` drives an implementation of uvm_physseg(9)
 * (uvm_hotplug(9)) in lockstep with physseg's model.
 *
 * An implementation is a shared library exporting every psc_* function
 * below except psc_abort, which the harness provides (it is resolved when
 * the harness loads the library). docs/conformance.md describes the ABI.
 *
 * Units: every pfn, start, end, avail_start, avail_end, pages and off is in
 * page frames; pa is a byte address. end and avail_end are exclusive.
 * Pages are 4 KiB (PAGE_SHIFT 12).
 *
 * Lifetime: the harness calls psc_boot() once in a fresh process (it forks
 * one per call sequence), then any sequence of the other calls. No call may
 * keep state across processes.
 *
 * Handles are opaque 64-bit tokens (a pointer, an index...). The harness
 * only compares a handle with handles of the same implementation, and only
 * passes back handles the implementation returned from psc_first, psc_last,
 * psc_next or psc_prev in the current state. Two handles name the same
 * segment only if they are equal: an implementation must not reuse the
 * token of a removed segment for a new one within one process (the NetBSD
 * glue never returns freed memory to the allocator).
 */
#ifndef PHYSSEG_CONFORMANCE_H
#define PHYSSEG_CONFORMANCE_H

#include <stdint.h>

#define PSC_ABI_VERSION 1

typedef uint64_t psc_handle_t;

/* One vm_page record, as its identity and state. */
struct psc_page {
	uint64_t slab;         /* names the page array (vm_page allocation) holding it */
	uint64_t index;        /* its entry number in that array, from 0 */
	uint64_t phys_addr;    /* VM_PAGE_TO_PHYS(pg): byte address */
	int32_t on_free_list;  /* 1 if uvm_pagefree() put it on a free list */
};

struct psc_counters {
	int64_t entries;        /* segments held (uvm_physseg_get_entries) */
	int64_t npages;         /* uvmexp.npages (a signed int in the kernel) */
	uint64_t physmem;       /* physmem */
	int32_t page_init_done; /* uvm.page_init_done */
};

/* Identification. */
int psc_abi_version(void);            /* PSC_ABI_VERSION */
const char *psc_implementation(void); /* one line naming what this is */

/* A fresh machine: page size set, uvm_physseg_init() called. */
void psc_boot(void);

/* Boot and hotplug. */
psc_handle_t psc_physload(uint64_t start, uint64_t end, uint64_t avail_start,
    uint64_t avail_end, int32_t free_list);           /* uvm_page_physload */
int32_t psc_plug(uint64_t pfn, uint64_t pages, psc_handle_t *handle);
int32_t psc_unplug(uint64_t pfn, uint64_t pages);
int32_t psc_physunload(psc_handle_t h, int32_t free_list, uint64_t *pa);
int32_t psc_physunload_force(psc_handle_t h, int32_t free_list, uint64_t *pa);
int32_t psc_physget(uint64_t *pa);                    /* uvm_page_physget */
/* The boot -> run-time switch as NetBSD's ATF test does it
 * (uvm_page_init_fake): one zeroed array of pagecount vm_pages, its extent
 * chomped on the first segment, carved for every segment in iteration
 * order (init_seg), then uvm.page_init_done = true. */
void psc_page_init(uint64_t pagecount);

/* Lookup. */
psc_handle_t psc_find(uint64_t pfn, uint64_t *off);  /* *off untouched if not found */
int32_t psc_phys_to_vm_page(uint64_t pa, struct psc_page *page); /* 0: NULL */

/* Handles and iteration. */
int32_t psc_valid(psc_handle_t h);                    /* uvm_physseg_valid_p */
psc_handle_t psc_first(void);
psc_handle_t psc_last(void);
psc_handle_t psc_next(psc_handle_t h);
psc_handle_t psc_prev(psc_handle_t h);

/* Getters and setters of one segment. */
uint64_t psc_start(psc_handle_t h);
uint64_t psc_end(psc_handle_t h);
uint64_t psc_avail_start(psc_handle_t h);
uint64_t psc_avail_end(psc_handle_t h);
int32_t psc_free_list(psc_handle_t h);
uint64_t psc_start_hint(psc_handle_t h);
int32_t psc_set_start_hint(psc_handle_t h, uint64_t hint);
/* pgs[idx] of the segment; 0 (and *page untouched) while it has no page
 * array (pgs == NULL). */
int32_t psc_page(psc_handle_t h, uint64_t idx, struct psc_page *page);

uint64_t psc_highest_frame(void);
void psc_counters(struct psc_counters *counters);

/* Optional, for `physseg bench`: time rounds x n PHYS_TO_VM_PAGE(pas[i])
 * calls in C; returns the elapsed nanoseconds (CLOCK_MONOTONIC). */
uint64_t psc_bench_lookup(const uint64_t *pas, uint64_t n, uint64_t rounds);

/*
 * Provided by the harness: the implementation calls it for a kernel
 * panic() or a failed KASSERT() (kind "panic" or "kassert") with the
 * kernel's message, or, when it knows a call would never return (a kernel
 * loop that cannot end), with kind "hang". It records the abort and ends
 * the process; it does not return. A call that simply never returns is
 * reported as a hang by the harness's time limit.
 */
void psc_abort(const char *kind, const char *message) __attribute__((noreturn));

#endif /* PHYSSEG_CONFORMANCE_H */
