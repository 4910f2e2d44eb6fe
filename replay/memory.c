/*
 * memory.c — sparse device memory for replay.
 *
 * Pages of 4 KB keyed by physical address (PA >> 12) in an open-addressing
 * table. Every 2-byte granule records the op that last wrote it, so a read
 * knows whether its bytes were ever written and which write it sees. The
 * bookkeeping pass of replay uses pages without data.
 */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct page {
	uint64_t key;
	int32_t uniform; /* the op that wrote every granule, or 0 (mixed / gaps) */
	int32_t writer[PAGE_BYTES / GRANULE];
	uint8_t data[];  /* PAGE_BYTES when the memory keeps data */
} page;

struct mem {
	page **slots;
	size_t cap, n;
	bool with_data;
};

mem *mem_new(bool with_data)
{
	mem *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cap = 1024;
	m->with_data = with_data;
	m->slots = calloc(m->cap, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void mem_free(mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i]);
	free(m->slots);
	free(m);
}

size_t mem_pages(const mem *m)
{
	return m->n;
}

static size_t slot_of(page *const *slots, size_t cap, uint64_t key)
{
	size_t i = (size_t)(key * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (cap - 1);
	while (slots[i] && slots[i]->key != key)
		i = (i + 1) & (cap - 1);
	return i;
}

/* The page holding key, created if create is set (NULL if absent). */
static page *get_page(mem *m, uint64_t key, bool create)
{
	size_t i = slot_of(m->slots, m->cap, key);
	if (m->slots[i] || !create)
		return m->slots[i];
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap * 2;
		page **slots = calloc(cap, sizeof *slots);
		if (!slots)
			return NULL;
		for (size_t k = 0; k < m->cap; k++)
			if (m->slots[k])
				slots[slot_of(slots, cap, m->slots[k]->key)] = m->slots[k];
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
		i = slot_of(m->slots, m->cap, key);
	}
	page *p = calloc(1, sizeof *p + (m->with_data ? PAGE_BYTES : 0));
	if (!p)
		return NULL;
	p->key = key;
	m->slots[i] = p;
	m->n++;
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
