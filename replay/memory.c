/*
 * memory.c — sparse device memory for replay.
 *
 * Pages of 4 KB keyed by physical address (PA >> 12) in a kb_ptrmap. Every 2-byte granule records the op that last wrote it, so a read
 * knows whether its bytes were ever written and which write it sees. The
 * bookkeeping pass of replay uses pages without data.
 */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct page {
	int32_t uniform; /* the op that wrote every granule, or 0 (mixed / gaps) */
	int32_t writer[PAGE_BYTES / GRANULE];
	uint8_t data[];  /* PAGE_BYTES when the memory keeps data */
} page;

struct mem {
	kb_ptrmap pages; /* PA / PAGE_BYTES -> page */
	bool with_data;
};

mem *mem_new(bool with_data)
{
	mem *m = calloc(1, sizeof *m);
	if (m)
		m->with_data = with_data;
	return m;
}

void mem_free(mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->pages.cap; i++)
		free(m->pages.vals[i]);
	kb_ptrmap_release(&m->pages);
	free(m);
}

size_t mem_pages(const mem *m)
{
	return m->pages.n;
}

/* The page holding key, created if create is set (NULL if absent). */
static page *get_page(mem *m, uint64_t key, bool create)
{
	page *p = kb_ptrmap_get(&m->pages, key);
	if (p || !create)
		return p;
	p = calloc(1, sizeof *p + (m->with_data ? PAGE_BYTES : 0));
	if (!p || kb_ptrmap_put(&m->pages, key, p)) {
		free(p);
		return NULL;
	}
	return p;
}

int mem_read(mem *m, uint64_t pa, void *out, size_t n, read_info *ri)
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
			for (size_t g = off / GRANULE; g <= (off + len - 1) / GRANULE; g++) {
				int32_t w = p->writer[g];
				if (!w) {
					if (!ri->unwritten)
						ri->first_unwritten = key * PAGE_BYTES + g * GRANULE;
					ri->unwritten += GRANULE;
				} else if (w > ri->max_writer) {
					ri->max_writer = w;
				}
			}
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

int mem_write(mem *m, uint64_t pa, const void *in, size_t n, int32_t writer)
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
		} else if (p->uniform != writer) {
			if (p->uniform) /* the page stops being uniform: spell it out */
				for (size_t g = 0; g < PAGE_BYTES / GRANULE; g++)
					p->writer[g] = p->uniform;
			p->uniform = 0;
		}
		if (!p->uniform)
			for (size_t g = off / GRANULE; g <= (off + len - 1) / GRANULE; g++)
				p->writer[g] = writer;
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
