/*
 * memory.c — sparse device memory for replay.
 *
 * Pages of 4 KB, found through a two-level table: a kb_ptrmap of 16 MB
 * chunks (PA >> 24), each an array of its 4096 pages, with the last chunk
 * used remembered (a long operand resolves its chunk once, then indexes).
 * A page written whole by one op records just that op; otherwise it keeps
 * sorted runs of 2-byte granules with the op that last wrote each run
 * (8 bytes a run instead of 4 bytes a granule), so a read knows whether
 * its bytes were ever written and which write it sees. The bookkeeping
 * pass of replay uses pages without data.
 *
 * A page's bytes live in a 4 KB block of their own, except while they
 * are runs of repeated 32-bit values (zeros, fills, constant tiles, the
 * constant messages of a collective): then the page is a base value and
 * sorted runs of 4-byte words holding other values, and a block is taken
 * only when a write brings bytes that are not one repeated value, or too
 * many runs (blocks given back are reused).
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

/* Sorted, disjoint runs: granules and their writer, or words and their value. */
typedef struct runlist {
	wrun *v;
	uint16_t n, cap;
} runlist;

typedef struct page {
	int32_t uniform;  /* the op that wrote every granule, or 0: see runs */
	runlist runs;     /* writers; gaps were never written */
	uint8_t *data;    /* PAGE_BYTES, or NULL while the page is values: */
	uint32_t value;   /* the words' value outside vals */
	runlist vals;     /* words [lo, hi) holding value w */
} page;

#define PAGE_WORDS (PAGE_BYTES / 4)
#define MAX_VALUE_RUNS 32 /* past this many, a page takes its block */

#define CHUNK_BITS 12 /* pages per chunk: 4096 (16 MB of PA) */
#define CHUNK_PAGES (1u << CHUNK_BITS)

/* Page headers and data blocks are carved from slabs (a 4 KiB allocation
 * each cost a page fault, a quarter of a big replay's time; a block slab
 * of 64 MiB is mapped fresh, on huge pages); they live until the memory is
 * freed, data blocks given back go to a free list. */
typedef struct slabs {
	uint8_t **v;
	size_t n, cap, used; /* items taken from the newest slab */
	size_t item;         /* bytes an item takes */
	size_t per_slab;     /* items a slab holds: data blocks 64 MiB of huge pages a slab */
} slabs;

struct mem {
	kb_ptrmap chunks; /* PA >> (12 + CHUNK_BITS) -> page *[CHUNK_PAGES] */
	uint64_t last_key;
	page **last;      /* the chunk of last_key, or NULL */
	bool with_data;
	size_t n_pages;
	slabs headers, blocks;
	uint8_t *free_blocks; /* a list through the blocks' first bytes */
};

static void *slab_take(slabs *s)
{
	if (!s->n || s->used == s->per_slab) {
		uint8_t *slab = kb_calloc_big(s->per_slab, s->item);
		if (!slab || kb_grow(&s->v, &s->cap, s->n + 1, sizeof *s->v, 16)) {
			free(slab);
			return NULL;
		}
		s->v[s->n++] = slab;
		s->used = 0;
	}
	return s->v[s->n - 1] + s->used++ * s->item; /* zero, as calloc left it */
}

static void slabs_free(slabs *s)
{
	for (size_t k = 0; k < s->n; k++)
		free(s->v[k]);
	free(s->v);
}

mem *replay__mem_new(bool with_data)
{
	mem *m = calloc(1, sizeof *m);
	if (m) {
		m->with_data = with_data;
		m->headers.item = (sizeof(page) + 15) & ~(size_t)15;
		m->headers.per_slab = 4096;
		m->blocks.item = PAGE_BYTES;
		m->blocks.per_slab = 16384;
	}
	return m;
}

void replay__mem_free(mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->chunks.cap; i++) {
		page **c = m->chunks.vals[i];
		for (uint32_t k = 0; c && k < CHUNK_PAGES; k++)
			if (c[k])
				free(c[k]->runs.v), free(c[k]->vals.v);
		free(c);
	}
	slabs_free(&m->headers);
	slabs_free(&m->blocks);
	kb_ptrmap_release(&m->chunks);
	free(m);
}

size_t replay__mem_pages(const mem *m)
{
	return m->n_pages;
}

/* The chunk holding page key, created if create is set (NULL if absent). */
static page **get_chunk(mem *m, uint64_t key, bool create)
{
	uint64_t ck = key >> CHUNK_BITS;
	if (m->last && m->last_key == ck)
		return m->last;
	page **c = kb_ptrmap_get(&m->chunks, ck);
	if (!c && create) {
		if (!(c = calloc(CHUNK_PAGES, sizeof *c)))
			return NULL;
		if (kb_ptrmap_put(&m->chunks, ck, c)) {
			free(c);
			return NULL;
		}
	}
	if (c) {
		m->last = c;
		m->last_key = ck;
	}
	return c;
}

/* The page holding key, created if create is set (NULL if absent). */
static page *get_page(mem *m, uint64_t key, bool create)
{
	page **c = get_chunk(m, key, create);
	if (!c)
		return NULL;
	page **slot = &c[key & (CHUNK_PAGES - 1)];
	if (*slot || !create)
		return *slot;
	page *p = slab_take(&m->headers);
	if (!p)
		return NULL;
	*slot = p;
	m->n_pages++;
	return p;
}

static int run_ends_after(const void *run, const void *g)
{
	return ((const wrun *)run)->hi > *(const uint16_t *)g;
}

/* The first run of l ending after unit g. */
static size_t first_after(const runlist *l, uint16_t g)
{
	return kb_partition(l->v, l->n, sizeof *l->v, run_ends_after, &g);
}

/* Records w over units [g0, g1) of l (of `units`): the runs it overlaps
 * give way, the first and last may keep an end. */
static int runs_put(runlist *l, uint16_t g0, uint16_t g1, int32_t w, size_t units)
{
	KB_ASSERT(g0 < g1 && g1 <= units, "units [%u, %u) of %zu", g0, g1, units);
	size_t a = first_after(l, g0), b = a;
	while (b < l->n && l->v[b].lo < g1)
		b++;
	wrun left = {0, 0, 0}, right = {0, 0, 0};
	if (a < b && l->v[a].lo < g0)
		left = (wrun){l->v[a].lo, g0, l->v[a].w};
	if (a < b && l->v[b - 1].hi > g1)
		right = (wrun){g1, l->v[b - 1].hi, l->v[b - 1].w};
	size_t add = 1 + (left.hi > 0) + (right.hi > 0), n = l->n - (b - a) + add;
	if (n > l->cap) {
		size_t cap = l->cap ? l->cap : 4;
		while (cap < n)
			cap *= 2;
		wrun *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = (uint16_t)(cap < 65535 ? cap : 65535);
	}
	memmove(&l->v[a + add], &l->v[b], (l->n - b) * sizeof *l->v);
	size_t k = a;
	if (left.hi > 0)
		l->v[k++] = left;
	l->v[k++] = (wrun){g0, g1, w};
	if (right.hi > 0)
		l->v[k++] = right;
	KB_ASSERT(n <= units && (a == 0 || l->v[a - 1].hi <= l->v[a].lo) && (k == n || l->v[k - 1].hi <= l->v[k].lo),
		  "the runs of a page overlap after writing units [%u, %u) (%zu runs)", g0, g1, n);
	l->n = (uint16_t)n;
	return 0;
}

/* Granules [g0, g1) of a mixed page: the newest writer, and the gaps. */
static void runs_read(const page *p, uint64_t key, uint16_t g0, uint16_t g1, read_info *ri)
{
	KB_ASSERT(g0 < g1 && g1 <= PAGE_GRANULES, "granules [%u, %u) of a page of %d", g0, g1, PAGE_GRANULES);
	uint16_t c = g0;
	for (size_t k = first_after(&p->runs, g0); k < p->runs.n && p->runs.v[k].lo < g1; k++) {
		const wrun *r = &p->runs.v[k];
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
	if (p->uniform) { /* the page stops being uniform: one run of it */
		p->runs.n = 0;
		if (runs_put(&p->runs, 0, PAGE_GRANULES, p->uniform, PAGE_GRANULES))
			return -1;
		p->uniform = 0;
	}
	if (runs_put(&p->runs, g0, g1, w, PAGE_GRANULES))
		return -1;
	if (p->runs.n == 1 && p->runs.v[0].lo == 0 && p->runs.v[0].hi == PAGE_GRANULES) {
		p->uniform = w;
		p->runs.n = 0;
	}
	return 0;
}

/* Fills n bytes at dst, page offset off onwards, with v repeated. */
static void fill_value(uint8_t *dst, size_t off, size_t n, uint32_t v)
{
	size_t k = 0;
	for (; k < n && k < 8; k++) /* v's byte (off + k) % 4, then the pattern doubled */
		dst[k] = (uint8_t)(v >> (8 * ((off + k) % 4)));
	for (size_t have = k; have < n; have *= 2)
		memcpy(dst + have, dst, have < n - have ? have : n - have);
}

/* Bytes [off, off + len) of page p into dst. */
static void page_read(const page *p, size_t off, size_t len, uint8_t *dst)
{
	if (p->data) {
		memcpy(dst, p->data + off, len);
		return;
	}
	fill_value(dst, off, len, p->value); /* the base, then the runs over it */
	for (size_t k = first_after(&p->vals, (uint16_t)(off / 4)); k < p->vals.n && p->vals.v[k].lo * 4u < off + len;
	     k++) {
		size_t lo = p->vals.v[k].lo * 4u > off ? p->vals.v[k].lo * 4u : off;
		size_t hi = p->vals.v[k].hi * 4u < off + len ? p->vals.v[k].hi * 4u : off + len;
		fill_value(dst + (lo - off), lo, hi - lo, (uint32_t)p->vals.v[k].w);
	}
}

/* A page's data block, its values written out (taken on the first write
 * they cannot describe). */
static uint8_t *page_data(mem *m, page *p)
{
	if (p->data)
		return p->data;
	uint8_t *d;
	if (m->free_blocks) {
		d = m->free_blocks;
		memcpy(&m->free_blocks, d, sizeof m->free_blocks);
	} else if (!(d = slab_take(&m->blocks))) {
		return NULL;
	}
	page_read(p, 0, PAGE_BYTES, d);
	p->data = d;
	p->vals.n = 0;
	return d;
}

/* The page becomes v repeated: its block goes back to the free list. */
static void page_set_value(mem *m, page *p, uint32_t v)
{
	if (p->data) {
		memcpy(p->data, &m->free_blocks, sizeof m->free_blocks);
		m->free_blocks = p->data;
		p->data = NULL;
	}
	p->value = v;
	p->vals.n = 0;
}

/* Whether n bytes at src (a multiple of 4) repeat their first 32 bits. */
static bool repeats(const uint8_t *src, size_t n, uint32_t *v)
{
	memcpy(v, src, 4);
	return n <= 4 || memcmp(src, src + 4, n - 4) == 0; /* period 4: each byte equals the one 4 on */
}

/* Writes len bytes of src (NULL: zeros) at page offset off. */
static int page_write(mem *m, page *p, size_t off, size_t len, const uint8_t *src)
{
	uint32_t v = 0;
	bool one = off % 4 == 0 && len % 4 == 0 && (!src || repeats(src, len, &v));
	if (one && len == PAGE_BYTES) {
		page_set_value(m, p, v); /* one value: no block */
		return 0;
	}
	if (one && !p->data && p->vals.n < MAX_VALUE_RUNS)
		return runs_put(&p->vals, (uint16_t)(off / 4), (uint16_t)((off + len) / 4), (int32_t)v, PAGE_WORDS);
	uint8_t *d = page_data(m, p);
	if (!d)
		return -1;
	if (src)
		memcpy(d + off, src, len);
	else
		memset(d + off, 0, len);
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
		} else {
			if (p->uniform) { /* written whole by one op: nothing to scan */
				if (p->uniform > ri->max_writer)
					ri->max_writer = p->uniform;
			} else {
				runs_read(p, key, (uint16_t)(off / GRANULE), (uint16_t)((off + len - 1) / GRANULE + 1), ri);
			}
			if (dst && m->with_data)
				page_read(p, off, len, dst);
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
			k = first_after(&p->runs, g0);
			for (end = k; end < p->runs.n && p->runs.v[end].lo < g1; end++)
				;
		}
		for (size_t j = k; p && (p->uniform ? j == k : j < end); j++) {
			int32_t w = p->uniform ? p->uniform : p->runs.v[j].w;
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
			p->runs.n = 0;
		} else if (p->uniform != writer &&
			   runs_write(p, (uint16_t)(off / GRANULE), (uint16_t)((off + len - 1) / GRANULE + 1), writer)) {
			return -1;
		}
		if (m->with_data && page_write(m, p, off, len, src))
			return -1;
		if (src)
			src += len;
		pa += len;
		n -= len;
	}
	return 0;
}
