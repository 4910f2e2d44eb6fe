/*
 * deps.c — data hazards from recorded physical address ranges.
 *
 * Physical addresses are global (they encode sip, cube, PE and memory), so
 * one map covers every memory. It is split into 1 GB regions (PA >> 30:
 * one per TCM, SRAM or slice granule); each region keeps sorted, disjoint
 * segments with the last op that wrote them and the ops that read them
 * since. Ops are analysed in trace order, so "last" means last in program
 * and host order:
 *   read  -> after the last writer (RAW)
 *   write -> after the last writer (WAW) and every reader since (WAR)
 */
#include "timing_int.h"

#include <stdlib.h>
#include <string.h>

#define REGION_SHIFT 30

typedef struct seg {
	uint64_t lo, hi;
	int32_t writer;    /* -1: none */
	int32_t n_readers, cap_readers;
	int32_t *readers;
} seg;

typedef struct region {
	seg *segs;
	size_t n, cap;
} region;

struct hazmap {
	kb_ptrmap regions; /* PA >> 30 -> region */
	size_t bytes;
};

int timing__pred_push(pred_buf *b, int32_t op, uint8_t reason)
{
	if (kb_grow(&b->v, &b->cap, b->n + 1, sizeof *b->v, 16))
		return -1;
	b->v[b->n++] = (pred){op, reason};
	return 0;
}

hazmap *timing__hazmap_new(void)
{
	return calloc(1, sizeof(hazmap));
}

void timing__hazmap_free(hazmap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->regions.cap; i++) {
		region *r = h->regions.vals[i];
		for (size_t j = 0; r && j < r->n; j++)
			free(r->segs[j].readers);
		if (r)
			free(r->segs);
		free(r);
	}
	kb_ptrmap_release(&h->regions);
	free(h);
}

size_t timing__hazmap_bytes(const hazmap *h)
{
	return h->bytes + h->regions.cap * (sizeof(uint64_t) + sizeof(void *)) + h->regions.n * sizeof(region);
}

static region *find_region(hazmap *h, uint64_t key)
{
	region *r = kb_ptrmap_get(&h->regions, key);
	if (r)
		return r;
	r = calloc(1, sizeof *r);
	if (!r || kb_ptrmap_put(&h->regions, key, r)) {
		free(r);
		return NULL;
	}
	return r;
}

static int add_reader(hazmap *h, seg *s, int32_t op)
{
	if (s->n_readers && s->readers[s->n_readers - 1] == op)
		return 0;
	if (s->n_readers == s->cap_readers) {
		int32_t cap = s->cap_readers ? s->cap_readers * 2 : 2;
		int32_t *r = realloc(s->readers, (size_t)cap * sizeof *r);
		if (!r)
			return -1;
		h->bytes += (size_t)(cap - s->cap_readers) * sizeof *r;
		s->readers = r;
		s->cap_readers = cap;
	}
	s->readers[s->n_readers++] = op;
	return 0;
}

/* Makes room for k more segments at position at. */
static int insert_segs(hazmap *h, region *r, size_t at, size_t k)
{
	size_t before = r->cap;
	if (kb_grow(&r->segs, &r->cap, r->n + k, sizeof *r->segs, 8))
		return -1;
	h->bytes += (r->cap - before) * sizeof *r->segs;
	memmove(&r->segs[at + k], &r->segs[at], (r->n - at) * sizeof *r->segs);
	r->n += k;
	return 0;
}

/* Splits segment i at x (lo < x < hi); the right half gets copies of the readers. */
static int split(hazmap *h, region *r, size_t i, uint64_t x)
{
	if (insert_segs(h, r, i + 1, 1))
		return -1;
	seg *left = &r->segs[i], *right = &r->segs[i + 1];
	*right = *left;
	right->lo = x;
	left->hi = x;
	right->readers = NULL;
	right->n_readers = right->cap_readers = 0;
	for (int32_t k = 0; k < left->n_readers; k++)
		if (add_reader(h, right, left->readers[k]))
			return -1;
	return 0;
}

static int seg_ends_after(const void *s, const void *x)
{
	return ((const seg *)s)->hi > *(const uint64_t *)x;
}

/* First segment with hi > x. */
static size_t first_after(const region *r, uint64_t x)
{
	return kb_partition(r->segs, r->n, sizeof *r->segs, seg_ends_after, &x);
}

static int access_region(hazmap *h, region *r, uint64_t lo, uint64_t hi, int32_t op, bool write, pred_buf *out)
{
	size_t i = first_after(r, lo);
	if (i < r->n && r->segs[i].lo < lo && split(h, r, i++, lo))
		return -1;
	/* walk [lo, hi), filling gaps with fresh segments */
	uint64_t at = lo;
	size_t first = i;
	while (at < hi) {
		if (i == r->n || r->segs[i].lo > at) {
			uint64_t end = i == r->n || r->segs[i].lo > hi ? hi : r->segs[i].lo;
			if (insert_segs(h, r, i, 1))
				return -1;
			r->segs[i] = (seg){at, end, -1, 0, 0, NULL};
		} else if (r->segs[i].hi > hi && split(h, r, i, hi)) {
			return -1;
		}
		seg *s = &r->segs[i];
		if (s->writer >= 0 && s->writer != op && timing__pred_push(out, s->writer, KB_WAIT_DEPENDENCY))
			return -1;
		if (write) {
			for (int32_t k = 0; k < s->n_readers; k++)
				if (s->readers[k] != op && timing__pred_push(out, s->readers[k], KB_WAIT_DEPENDENCY))
					return -1;
			s->writer = op;
			s->n_readers = 0;
		} else if (add_reader(h, s, op)) {
			return -1;
		}
		at = s->hi;
		i++;
	}
	if (write && i - first > 1) { /* the written segments are now identical: merge them */
		for (size_t k = first + 1; k < i; k++)
			free(r->segs[k].readers);
		r->segs[first].hi = r->segs[i - 1].hi;
		memmove(&r->segs[first + 1], &r->segs[i], (r->n - i) * sizeof *r->segs);
		r->n -= i - first - 1;
	}
	return 0;
}

int timing__hazmap_access(hazmap *h, uint64_t lo, uint64_t hi, int32_t op, bool write, pred_buf *out)
{
	while (lo < hi) {
		uint64_t key = lo >> REGION_SHIFT;
		uint64_t end = (key + 1) << REGION_SHIFT;
		if (end > hi)
			end = hi;
		region *r = find_region(h, key);
		if (!r || access_region(h, r, lo, end, op, write, out))
			return -1;
		lo = end;
	}
	return 0;
}
