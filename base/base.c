/*
 * base.c — errors, file reads, the string map.
 */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KB_STATUS_TEXT(e, text) text,
static const char *const status_text[] = {KB_STATUSES(KB_STATUS_TEXT)};
#undef KB_STATUS_TEXT

const char *kb_strerror(kb_status s)
{
	return (unsigned)s < KB_STATUS_COUNT ? status_text[s] : "unknown status";
}

_Noreturn void kb_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	fflush(stdout);
	fprintf(stderr, "%s:%d: assertion '%s' failed: ", file, line, cond);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static int vfail(kb_error *err, kb_status status, const char *fmt, va_list ap)
{
	if (err) {
		err->status = status;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return -1;
}

int kb_fail(kb_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, KB_E_INPUT, fmt, ap);
	va_end(ap);
	return -1;
}

int kb_fail_status(kb_error *err, kb_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, status, fmt, ap);
	va_end(ap);
	return -1;
}

int kb_read_file(const char *path, char **text, size_t *len, kb_error *err)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return kb_fail_status(err, errno == ENOENT ? KB_E_NOT_FOUND : KB_E_IO, "cannot open '%s': %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return kb_fail(err, "'%s' is not a regular file", path);
	if (sb.st_size > KB_MAX_TEXT_FILE)
		return kb_fail_status(err, KB_E_BUDGET, "'%s' is %lld bytes, over the %d MiB a config may have", path,
				      (long long)sb.st_size,
			       KB_MAX_TEXT_FILE >> 20);
	FILE *f = fopen(path, "rb");
	if (!f)
		return kb_fail_status(err, errno == ENOENT ? KB_E_NOT_FOUND : KB_E_IO, "cannot open '%s': %s", path, strerror(errno));
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		return kb_fail_status(err, KB_E_IO, "cannot read '%s'", path);
	}
	buf[n] = '\0';
	*text = buf;
	if (len)
		*len = n;
	return 0;
}

/* Asks for huge pages under the block p of bytes (big blocks only), from
 * the page it starts in to the page its chunk ends in. A block mapped
 * apart (calloc and realloc map big blocks so) is thus hinted whole: a
 * hint on a part would split the mapping, and realloc could then no longer
 * move it with mremap (it would copy the block). In the heap the hint may
 * reach a neighbour's page: a hint, which changes no contents. */
static void hint_huge(void *p, size_t bytes)
{
	const uintptr_t huge = (uintptr_t)2 << 20, page = 4096;
	if (!p || bytes < 2 * huge)
		return;
#ifdef __GLIBC__
	bytes = malloc_usable_size(p); /* to the end of its chunk */
#endif
	uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + bytes + page - 1) & ~(page - 1);
	madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* failure changes nothing */
}

void *kb_calloc_big(size_t n, size_t elem)
{
	/* calloc maps a big block fresh (zero, untouched): the whole 2 MiB
	 * pages inside it can be huge pages from their first fault */
	void *p = calloc(n ? n : 1, elem ? elem : 1);
	hint_huge(p, n * elem); /* calloc checked the product */
	return p;
}

int kb_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	void **p = arr;
	void *grown = realloc(*p, n * elem);
	if (!grown)
		return -1;
	hint_huge(grown, n * elem);
	*p = grown;
	*cap = n;
	return 0;
}

uint64_t kb_hash64(const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

uint64_t kb_hash64_lanes(const void *data, size_t n)
{
	const uint64_t K = UINT64_C(0x9e3779b97f4a7c15);
	const unsigned char *p = data;
	uint64_t h[4] = {UINT64_C(0x243f6a8885a308d3), UINT64_C(0x13198a2e03707344), UINT64_C(0xa4093822299f31d0),
			 UINT64_C(0x082efa98ec4e6c89)};
	size_t i = 0;
	for (; i + 32 <= n; i += 32)
		for (int l = 0; l < 4; l++) {
			h[l] = (h[l] ^ load_le64(p + i + 8 * (size_t)l)) * K;
			h[l] ^= h[l] >> 32;
		}
	for (int l = 0; i < n; l = (l + 1) % 4) { /* the tail: whole words, then the last bytes */
		uint64_t w = 0;
		size_t k = n - i < 8 ? n - i : 8;
		for (size_t b = 0; b < k; b++)
			w |= (uint64_t)p[i + b] << (8 * b);
		h[l] = (h[l] ^ w) * K;
		h[l] ^= h[l] >> 32;
		i += k;
	}
	uint64_t x = (uint64_t)n * K;
	for (int l = 0; l < 4; l++) {
		x = (x ^ h[l]) * K;
		x ^= x >> 29;
	}
	return x;
}

void kb_strmap_init(kb_strmap *m)
{
	memset(m, 0, sizeof *m);
}

void kb_strmap_release(kb_strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	kb_strmap_init(m);
}

static size_t slot_of(const kb_strmap *m, const char *key)
{
	size_t i = (size_t)kb_hash64(key, strlen(key)) & (m->cap - 1);
	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

int kb_strmap_get(const kb_strmap *m, const char *key, int64_t *val)
{
	if (!m->cap)
		return 0;
	size_t i = slot_of(m, key);
	if (!m->keys[i])
		return 0;
	*val = m->vals[i];
	return 1;
}

static int grow(kb_strmap *m)
{
	kb_strmap bigger = {calloc(m->cap ? m->cap * 2 : 64, sizeof(char *)),
			    calloc(m->cap ? m->cap * 2 : 64, sizeof(int64_t)), m->cap ? m->cap * 2 : 64, m->n};
	if (!bigger.keys || !bigger.vals) {
		free(bigger.keys);
		free(bigger.vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = slot_of(&bigger, m->keys[i]);
		bigger.keys[j] = m->keys[i];
		bigger.vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	*m = bigger;
	return 0;
}

int kb_strmap_put(kb_strmap *m, const char *key, int64_t val)
{
	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -1;
	size_t i = slot_of(m, key);
	if (!m->keys[i]) {
		m->keys[i] = strdup(key);
		if (!m->keys[i])
			return -1;
		m->n++;
	}
	m->vals[i] = val;
	return 0;
}

double kb_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kb_ptrmap_release(kb_ptrmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static size_t ptr_slot(const uint64_t *keys, void *const *vals, size_t cap, uint64_t key)
{
	size_t i = (size_t)(key * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (cap - 1);
	while (vals[i] && keys[i] != key)
		i = (i + 1) & (cap - 1);
	return i;
}

void *kb_ptrmap_get(const kb_ptrmap *m, uint64_t key)
{
	return m->cap ? m->vals[ptr_slot(m->keys, m->vals, m->cap, key)] : NULL;
}

int kb_ptrmap_put(kb_ptrmap *m, uint64_t key, void *val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		uint64_t *keys = calloc(cap, sizeof *keys);
		void **vals = calloc(cap, sizeof *vals);
		if (!keys || !vals) {
			free(keys);
			free(vals);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->vals[i]) {
				size_t j = ptr_slot(keys, vals, cap, m->keys[i]);
				keys[j] = m->keys[i];
				vals[j] = m->vals[i];
			}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	size_t i = ptr_slot(m->keys, m->vals, m->cap, key);
	if (!m->vals[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

int kb_progress_wanted(int quiet)
{
	const char *e = getenv("KB_PROGRESS");
	if (e && strcmp(e, "always") == 0)
		return 2;
	if (quiet || (e && strcmp(e, "never") == 0))
		return 0;
	return isatty(STDERR_FILENO);
}

void kb_progress_begin(kb_progress *p, const char *phase, const char *unit, int64_t total)
{
	if (!p || !p->on)
		return;
	p->phase = phase;
	p->unit = unit;
	p->total = total;
	p->start = kb_now_s();
	p->done = 0;
	p->next = p->on == 2 ? p->start : p->start + 0.2;
	if (p->on == 2)
		kb_progress_show(p, 0);
}

void kb_progress_show(kb_progress *p, int64_t done)
{
	if (!p || !p->on)
		return;
	p->done = done;
	double now = kb_now_s();
	if (now < p->next)
		return;
	p->next = now + 0.2;
	double rate = now > p->start ? (double)done / (now - p->start) : 0;
	const char *cr = p->on == 2 ? "" : "\r\033[K", *nl = p->on == 2 ? "\n" : "";
	if (!p->unit)
		fprintf(stderr, "%s%s: %s (%.1f s)%s", cr, p->tool, p->phase, now - p->start, nl);
	else if (p->on == 2)
		fprintf(stderr, "%s: %s %lld of %lld %s (%.1f s, ETA %.0f s)\n", p->tool, p->phase, (long long)done,
			(long long)p->total, p->unit, now - p->start, rate > 0 ? (double)(p->total - done) / rate : 0.0);
	else if (p->total > 0 && rate < 1000) /* points, expectations: a rate per second and the time left */
		fprintf(stderr, "\r\033[K%s: %s %3.0f%% (%lld of %lld %s, %.1f s, %.1f %s/s, ETA %.0f s)", p->tool, p->phase,
			100.0 * (double)done / (double)p->total, (long long)done, (long long)p->total, p->unit,
			now - p->start, rate, p->unit, rate > 0 ? (double)(p->total - done) / rate : 0.0);
	else if (p->total > 0)
		fprintf(stderr, "\r\033[K%s: %s %3.0f%% (%lld of %lld %s, %.1f s, %.2f M %s/s)", p->tool, p->phase,
			100.0 * (double)done / (double)p->total, (long long)done, (long long)p->total, p->unit,
			now - p->start, rate / 1e6, p->unit);
	else
		fprintf(stderr, "\r\033[K%s: %s %lld %s (%.1f s, %.2f M %s/s)", p->tool, p->phase, (long long)done,
			p->unit, now - p->start, rate / 1e6, p->unit);
	fflush(stderr);
	p->shown = 1;
}

void kb_progress_end(kb_progress *p)
{
	if (p && p->on == 2 && p->phase && p->next > p->start) { /* logs: the phase's last count */
		p->next = 0;
		kb_progress_show(p, p->done);
		p->phase = NULL;
		return;
	}
	if (!p || p->on != 1 || !p->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->shown = 0;
}

int kb_text_check(const char *name, const char *text, size_t len, kb_error *err)
{
	int line = 1, col = 1;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)text[i];
		int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (c == 0)
			return kb_fail(err, "%s:%d:%d: a NUL byte in the text", name, line, col);
		bool ok = n > 0 && i + (size_t)n <= len;
		for (int k = 1; ok && k < n; k++)
			ok = ((unsigned char)text[i + k] & 0xC0) == 0x80;
		if (ok && n > 1) { /* no overlong forms, surrogates or code points past U+10FFFF */
			uint32_t cp = c & (0x7F >> n);
			for (int k = 1; k < n; k++)
				cp = cp << 6 | ((unsigned char)text[i + k] & 0x3F);
			ok = !(n == 2 && cp < 0x80) && !(n == 3 && cp < 0x800) && !(n == 4 && cp < 0x10000) &&
			     !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
		}
		if (!ok)
			return kb_fail(err, "%s:%d:%d: invalid UTF-8 (byte 0x%02x)", name, line, col, c);
		if (c == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += (size_t)n;
	}
	return 0;
}

FILE *kb_out_open(kb_out *o, const char *path, kb_error *err)
{
	o->f = NULL;
	if (strlen(path) >= sizeof o->path) {
		kb_fail(err, "output path '%.60s...' is too long", path);
		return NULL;
	}
	snprintf(o->path, sizeof o->path, "%s", path);
	snprintf(o->tmp, sizeof o->tmp, "%s.tmp-%ld", path, (long)getpid());
	o->f = fopen(o->tmp, "w");
	if (!o->f)
		kb_fail_status(err, KB_E_IO, "cannot write '%s': %s", path, strerror(errno));
	return o->f;
}

int kb_out_close(kb_out *o, bool keep, kb_error *err)
{
	if (!o->f)
		return keep ? -1 : 0;
	int bad = fflush(o->f) != 0 || ferror(o->f);
	int e = errno;
	bad |= fclose(o->f) != 0;
	o->f = NULL;
	if (keep && !bad && rename(o->tmp, o->path) == 0)
		return 0;
	if (keep && !bad)
		e = errno;
	unlink(o->tmp);
	return keep ? kb_fail_status(err, KB_E_IO, "cannot write '%s': %s", o->path, strerror(e ? e : EIO)) : 0;
}

void kb_html_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

void kb_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void kb_heap32_up(int32_t *h, size_t i)
{
	while (i && h[(i - 1) / 2] > h[i]) {
		int32_t t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

int32_t kb_heap32_pop(int32_t *h, size_t *n)
{
	int32_t top = h[0];
	h[0] = h[--*n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < *n && h[l] < h[m])
			m = l;
		if (l + 1 < *n && h[l + 1] < h[m])
			m = l + 1;
		if (m == i)
			break;
		int32_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
	return top;
}
