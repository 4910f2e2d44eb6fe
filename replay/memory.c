/*
 * memory.c — sparse device memory for replay.
 *
 * Pages of 4 KB keyed by physical address (PA >> 12) in a kb_ptrmap. A
 * page written whole by one op records just that op; otherwise it keeps
 * sorted runs of 2-byte granules with the op that last wrote each run
 * (8 bytes a run instead of 4 bytes a granule), so a read knows whether
 * its bytes were ever written and which write it sees. The bookkeeping
 * pass of replay uses pages without data.
 */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

/* Granules [lo, hi) of a page last written by op w. */
typedef struct wrun {
	uint16_t lo, hi;
	int32_t w;
} wrun;

#define PAGE_GRANULES (PAGE_BYTES / GRANULE)

typedef struct page {
	int32_t uniform;  /* the op that wrote every granule, or 0: see runs */
	uint16_t n, cap;  /* runs, sorted, disjoint; gaps were never written */
	wrun *runs;
	uint8_t data[];   /* PAGE_BYTES when the memory keeps data */
} page;

/* Pages are carved from slabs of SLAB_PAGES (a few MiB, on huge pages:
 * a 4 KiB allocation per page cost a page fault each, a quarter of a big
 * replay's time); they live until the memory is freed. */
#define SLAB_PAGES 1024

struct mem {
	kb_ptrmap pages; /* PA / PAGE_BYTES -> page */
	bool with_data;
	uint8_t **slabs;
	size_t n_slabs, cap_slabs, used; /* pages taken from the newest slab */
};

static size_t page_bytes(const mem *m)
{
	size_t b = sizeof(page) + (m->with_data ? PAGE_BYTES : 0);
	return (b + 15) & ~(size_t)15;
}

mem *replay__mem_new(bool with_data)
{
	mem *m = calloc(1, sizeof *m);
	if (m)
		m->with_data = with_data;
	return m;
}

void replay__mem_free(mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->pages.cap; i++) {
		page *p = m->pages.vals[i];
		if (p)
			free(p->runs);
	}
	for (size_t k = 0; k < m->n_slabs; k++)
		free(m->slabs[k]);
	free(m->slabs);
	kb_ptrmap_release(&m->pages);
	free(m);
}

size_t replay__mem_pages(const mem *m)
{
	return m->pages.n;
}

/* The page holding key, created if create is set (NULL if absent). */
static page *get_page(mem *m, uint64_t key, bool create)
{
	page *p = kb_ptrmap_get(&m->pages, key);
	if (p || !create)
		return p;
	if (!m->n_slabs || m->used == SLAB_PAGES) {
		uint8_t *slab = kb_calloc_big(SLAB_PAGES, page_bytes(m));
		if (!slab || kb_grow(&m->slabs, &m->cap_slabs, m->n_slabs + 1, sizeof *m->slabs, 16)) {
			free(slab);
			return NULL;
		}
		m->slabs[m->n_slabs++] = slab;
		m->used = 0;
	}
	p = (page *)(m->slabs[m->n_slabs - 1] + m->used * page_bytes(m)); /* zero, as calloc left it */
	if (kb_ptrmap_put(&m->pages, key, p))
		return NULL;
	m->used++;
	return p;
}

static int run_ends_after(const void *run, const void *g)
{
	return ((const wrun *)run)->hi > *(const uint16_t *)g;
}

/* The first run of p ending after granule g. */
static size_t first_after(const page *p, uint16_t g)
{
	return kb_partition(p->runs, p->n, sizeof *p->runs, run_ends_after, &g);
}

/* Granules [g0, g1) of a mixed page: the newest writer, and the gaps. */
static void runs_read(const page *p, uint64_t key, uint16_t g0, uint16_t g1, read_info *ri)
{
	KB_ASSERT(g0 < g1 && g1 <= PAGE_GRANULES, "granules [%u, %u) of a page of %d", g0, g1, PAGE_GRANULES);
	uint16_t c = g0;
	for (size_t k = first_after(p, g0); k < p->n && p->runs[k].lo < g1; k++) {
		const wrun *r = &p->runs[k];
		if (r->lo > c) {
			if (!ri->unwritten)
				ri->first_unwritten = key * PAGE_BYTES + (uint64_t)c * GRANULE;
			ri->unwritten += (int64_t)(r->lo - c) * GRANULE;
		}
		if (r->w > ri->max_writer)
			ri->max_writer = r->w;
		c = r->hi;
	}
	if (c < g1) {
		if (!ri->unwritten)
			ri->first_unwritten = key * PAGE_BYTES + (uint64_t)c * GRANULE;
		ri->unwritten += (int64_t)(g1 - c) * GRANULE;
	}
}

/* Records op w over granules [g0, g1) of a page not uniformly w's. */
static int runs_write(page *p, uint16_t g0, uint16_t g1, int32_t w)
{
	KB_ASSERT(g0 < g1 && g1 <= PAGE_GRANULES, "granules [%u, %u) of a page of %d", g0, g1, PAGE_GRANULES);
	if (p->uniform) { /* the page stops being uniform: one run of it */
		if (!p->cap) {
			p->runs = malloc(4 * sizeof *p->runs);
			if (!p->runs)
				return -1;
			p->cap = 4;
		}
		p->runs[0] = (wrun){0, PAGE_GRANULES, p->uniform};
		p->n = 1;
		p->uniform = 0;
	}
	/* runs [a, b) overlap [g0, g1); the first and last may keep an end */
	size_t a = first_after(p, g0), b = a;
	while (b < p->n && p->runs[b].lo < g1)
		b++;
	wrun left = {0, 0, 0}, right = {0, 0, 0};
	if (a < b && p->runs[a].lo < g0)
		left = (wrun){p->runs[a].lo, g0, p->runs[a].w};
	if (a < b && p->runs[b - 1].hi > g1)
		right = (wrun){g1, p->runs[b - 1].hi, p->runs[b - 1].w};
	size_t add = 1 + (left.hi > 0) + (right.hi > 0), n = p->n - (b - a) + add;
	if (n > p->cap) {
		size_t cap = p->cap ? p->cap : 4;
		while (cap < n)
			cap *= 2;
		wrun *v = realloc(p->runs, cap * sizeof *v);
		if (!v)
			return -1;
		p->runs = v;
		p->cap = (uint16_t)(cap < 65535 ? cap : 65535);
	}
	memmove(&p->runs[a + add], &p->runs[b], (p->n - b) * sizeof *p->runs);
	size_t k = a;
	if (left.hi > 0)
		p->runs[k++] = left;
	p->runs[k++] = (wrun){g0, g1, w};
	if (right.hi > 0)
		p->runs[k++] = right;
	KB_ASSERT(n <= PAGE_GRANULES && (a == 0 || p->runs[a - 1].hi <= p->runs[a].lo) &&
			  (k == n || p->runs[k - 1].hi <= p->runs[k].lo),
		  "the runs of a page overlap after writing granules [%u, %u) (%zu runs)", g0, g1, n);
	p->n = (uint16_t)n;
	if (p->n == 1 && p->runs[0].lo == 0 && p->runs[0].hi == PAGE_GRANULES) {
		p->uniform = w;
		p->n = 0;
	}
	return 0;
}

int replay__mem_read(mem *m, uint64_t pa, void *out, size_t n, read_info *ri)
{
	uint8_t *dst = out;
	while (n) {
		uint64_t key = pa / PAGE_BYTES;
		size_t off = (size_t)(pa % PAGE_BYTES), len = PAGE_BYTES - off < n ? PAGE_BYTES - off : n;
		page *p = get_page(m, key, false);
		if (!p) {
			if (!ri->unwritten)
				ri->first_unwritten = pa;
			ri->unwritten += (int64_t)len;
			if (dst)
				memset(dst, 0, len);
		} else if (p->uniform) { /* written whole by one op: nothing to scan */
			if (p->uniform > ri->max_writer)
				ri->max_writer = p->uniform;
			if (dst && m->with_data)
				memcpy(dst, p->data + off, len);
		} else {
			runs_read(p, key, (uint16_t)(off / GRANULE), (uint16_t)((off + len - 1) / GRANULE + 1), ri);
			if (dst && m->with_data)
				memcpy(dst, p->data + off, len);
		}
		if (dst)
			dst += len;
		pa += len;
		n -= len;
	}
	return 0;
}

int replay__mem_writers(mem *m, uint64_t pa, size_t n, int32_t **v, size_t *n_v, size_t *cap, size_t from)
{
	while (n) {
		uint64_t key = pa / PAGE_BYTES;
		size_t off = (size_t)(pa % PAGE_BYTES), len = PAGE_BYTES - off < n ? PAGE_BYTES - off : n;
		const page *p = get_page(m, key, false);
		size_t k = 0, end = 0;
		if (p && !p->uniform) {
			uint16_t g0 = (uint16_t)(off / GRANULE), g1 = (uint16_t)((off + len - 1) / GRANULE + 1);
			k = first_after(p, g0);
			for (end = k; end < p->n && p->runs[end].lo < g1; end++)
				;
		}
		for (size_t j = k; p && (p->uniform ? j == k : j < end); j++) {
			int32_t w = p->uniform ? p->uniform : p->runs[j].w;
			if (*n_v > from && (*v)[*n_v - 1] == w)
				continue; /* a long read of one writer's data: once */
			if (kb_grow(v, cap, *n_v + 1, sizeof **v, 16))
				return -1;
			(*v)[(*n_v)++] = w;
		}
		pa += len;
		n -= len;
	}
	return 0;
}

int replay__mem_write(mem *m, uint64_t pa, const void *in, size_t n, int32_t writer)
{
	const uint8_t *src = in;
	while (n) {
		uint64_t key = pa / PAGE_BYTES;
		size_t off = (size_t)(pa % PAGE_BYTES), len = PAGE_BYTES - off < n ? PAGE_BYTES - off : n;
		page *p = get_page(m, key, true);
		if (!p)
			return -1;
		if (len == PAGE_BYTES) {
			p->uniform = writer;
			p->n = 0;
		} else if (p->uniform != writer &&
			   runs_write(p, (uint16_t)(off / GRANULE), (uint16_t)((off + len - 1) / GRANULE + 1), writer)) {
			return -1;
		}
		if (m->with_data) {
			if (src)
				memcpy(p->data + off, src, len);
			else
				memset(p->data + off, 0, len);
		}
		if (src)
			src += len;
		pa += len;
		n -= len;
	}
	return 0;
}
