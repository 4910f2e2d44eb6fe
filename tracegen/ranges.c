/*
 * ranges.c — a first-fit range allocator with coalescing frees.
 *
 * Used for every memory of the machine (HBM slices, TCM, SRAM, kernel
 * scratch) and for the VA space. Free ranges are kept sorted by address;
 * the counts involved (a few live tensors or tiles per PE) make a linear
 * scan the simplest correct choice.
 */
#include "tracegen.h"

#include <stdlib.h>
#include <string.h>

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int kb_ranges_init(kb_ranges *r, uint64_t base, uint64_t size, uint64_t align)
{
	memset(r, 0, sizeof *r);
	r->base = base;
	r->size = size;
	r->align = align ? align : 1;
	kb_ranges_reset(r);
	return r->free ? 0 : -1;
}

void kb_ranges_release(kb_ranges *r)
{
	free(r->free);
	memset(r, 0, sizeof *r);
}

static int reserve(kb_ranges *r, size_t n)
{
	return kb_grow(&r->free, &r->cap_free, n, sizeof *r->free, 4);
}

void kb_ranges_reset(kb_ranges *r)
{
	if (reserve(r, 1))
		return;
	r->free[0].start = r->base;
	r->free[0].len = r->size;
	r->n_free = r->size ? 1 : 0;
	r->used = 0;
	r->rover = r->base;
}

/* The first free range with n bytes at or after `from` (the part of the
 * range before `from` stays free); 1 if there is none. */
static int alloc_from(kb_ranges *r, uint64_t n, uint64_t from, uint64_t *addr)
{
	for (size_t i = 0; i < r->n_free; i++) {
		struct kb_free_range *f = &r->free[i];
		uint64_t at = f->start > from ? f->start : from, end = f->start + f->len;
		if (at >= end || end - at < n)
			continue;
		if (at > f->start) { /* split: [start, at) stays free */
			if (at + n < end) {
				if (reserve(r, r->n_free + 1))
					return -1;
				f = &r->free[i];
				memmove(f + 2, f + 1, (r->n_free - i - 1) * sizeof *f);
				r->n_free++;
				f[1].start = at + n;
				f[1].len = end - at - n;
			}
			f->len = at - f->start;
		} else {
			f->start += n;
			f->len -= n;
			if (!f->len) {
				memmove(f, f + 1, (r->n_free - i - 1) * sizeof *f);
				r->n_free--;
			}
		}
		*addr = at;
		r->used += n;
		KB_ASSERT(r->used <= r->size && at >= r->base && at + n <= r->base + r->size,
			  "allocation [0x%llx, +%llu) in [0x%llx, +%llu) with %llu used", (unsigned long long)at,
			  (unsigned long long)n, (unsigned long long)r->base, (unsigned long long)r->size,
			  (unsigned long long)r->used);
		if (r->used > r->peak)
			r->peak = r->used;
		r->rover = at + n;
		return 0;
	}
	return 1; /* nothing at or after `from` */
}

int kb_ranges_alloc(kb_ranges *r, uint64_t n, uint64_t *addr)
{
	n = round_up(n ? n : 1, r->align);
	uint64_t from = r->next_fit ? r->rover : r->base;
	int rc = alloc_from(r, n, from, addr);
	if (rc > 0 && from != r->base) /* next fit wraps around */
		rc = alloc_from(r, n, r->base, addr);
	return rc ? -1 : 0;
}

int kb_ranges_free(kb_ranges *r, uint64_t addr, uint64_t n)
{
	n = round_up(n ? n : 1, r->align);
	if (addr < r->base || addr + n > r->base + r->size || (addr - r->base) % r->align)
		return -1;
	size_t i = 0;
	while (i < r->n_free && r->free[i].start < addr)
		i++;
	/* must not overlap a free neighbour */
	if (i > 0 && r->free[i - 1].start + r->free[i - 1].len > addr)
		return -1;
	if (i < r->n_free && addr + n > r->free[i].start)
		return -1;
	bool join_prev = i > 0 && r->free[i - 1].start + r->free[i - 1].len == addr;
	bool join_next = i < r->n_free && addr + n == r->free[i].start;
	if (join_prev && join_next) {
		r->free[i - 1].len += n + r->free[i].len;
		memmove(&r->free[i], &r->free[i + 1], (r->n_free - i - 1) * sizeof r->free[0]);
		r->n_free--;
	} else if (join_prev) {
		r->free[i - 1].len += n;
	} else if (join_next) {
		r->free[i].start = addr;
		r->free[i].len += n;
	} else {
		if (reserve(r, r->n_free + 1))
			return -1;
		memmove(&r->free[i + 1], &r->free[i], (r->n_free - i) * sizeof r->free[0]);
		r->free[i].start = addr;
		r->free[i].len = n;
		r->n_free++;
	}
	KB_ASSERT(r->used >= n, "freeing %llu bytes with %llu in use", (unsigned long long)n, (unsigned long long)r->used);
	r->used -= n;
	return 0;
}

uint64_t kb_ranges_largest_free(const kb_ranges *r)
{
	uint64_t best = 0;
	for (size_t i = 0; i < r->n_free; i++)
		if (r->free[i].len > best)
			best = r->free[i].len;
	return best;
}
