/*
 * et.c — the Chakra ET wire format: length-delimited protobuf messages,
 * decoded and encoded directly.
 *
 * Field numbers (et_def.proto): GlobalMetadata{1 version, 2 attr};
 * Node{1 id, 2 name, 3 type, 4 ctrl_deps, 5 data_deps, 6 start_time_micros,
 * 7 duration_micros, 8 inputs, 9 outputs, 10 attr}; AttributeProto{1 name,
 * 2 doc_string, then the value: 3 double, 5 float, 7 int32, 9 int64,
 * 11 uint32, 13 uint64, 15 sint32, 17 sint64, 19 fixed32, 21 fixed64,
 * 23 sfixed32, 25 sfixed64, 27 bool, 29 string, and lists at the even
 * numbers between}.
 */
#include "chakra.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A reader over [p, end), base = the file's first byte (for offsets). */
typedef struct rd {
	const uint8_t *p, *end, *base;
	int rank;
	kb_error *err;
	bool bad;
} rd;

static int bad(rd *r, const uint8_t *at, const char *what)
{
	if (!r->bad)
		kb_fail(r->err, "rank %d: byte offset %lld: %s", r->rank, (long long)(at - r->base), what);
	r->bad = true;
	return -1;
}

static int varint(rd *r, uint64_t *v)
{
	uint64_t x = 0;
	const uint8_t *at = r->p;
	for (int shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end)
			return bad(r, at, "truncated varint");
		uint8_t b = *r->p++;
		if (shift == 63 && b > 1)
			return bad(r, at, "varint longer than 64 bits");
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return bad(r, at, "varint longer than 10 bytes");
}

static int fixed(rd *r, int n, uint64_t *v)
{
	if (r->end - r->p < n)
		return bad(r, r->p, "truncated fixed-width field");
	uint64_t x = 0;
	for (int i = n - 1; i >= 0; i--)
		x = x << 8 | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

/* A length-delimited field's body: a sub-reader over it. */
static int sub(rd *r, rd *s)
{
	uint64_t len;
	const uint8_t *at = r->p;
	if (varint(r, &len))
		return -1;
	if (len > (uint64_t)(r->end - r->p))
		return bad(r, at, "length-delimited field runs past its message");
	*s = (rd){r->p, r->p + len, r->base, r->rank, r->err, false};
	r->p += len;
	return 0;
}

/* Skips a field of wire type wt. */
static int skip(rd *r, int wt, const uint8_t *at)
{
	uint64_t v;
	rd s;
	switch (wt) {
	case 0: return varint(r, &v);
	case 1: return fixed(r, 8, &v);
	case 2: return sub(r, &s);
	case 5: return fixed(r, 4, &v);
	default: return bad(r, at, "unsupported protobuf wire type (groups or garbage)");
	}
}

/* The next field's number and wire type; 0 at the end. */
static int field(rd *r, int *num, int *wt, const uint8_t **at)
{
	*at = r->p;
	if (r->p >= r->end)
		return 0;
	uint64_t tag;
	if (varint(r, &tag))
		return -1;
	if (tag >> 3 == 0 || tag >> 3 > 536870911)
		return bad(r, *at, "field number 0 or out of range");
	*num = (int)(tag >> 3);
	*wt = (int)(tag & 7);
	return 1;
}

/* ---- the rank's arena: names and dependency lists ---- */
typedef struct arena {
	char *p;
	size_t n, cap;
} arena;

static int64_t arena_put(arena *a, const void *src, size_t len, size_t align)
{
	size_t at = (a->n + align - 1) / align * align;
	if (kb_grow(&a->p, &a->cap, at + len + 1, 1, 4096))
		return -1;
	if (len)
		memcpy(a->p + at, src, len);
	a->p[at + len] = 0;
	a->n = at + len + 1;
	return (int64_t)at;
}

/* An attribute's integer value (any integer or bool form), if it has one. */
typedef struct attr {
	char name[32];
	bool has_int;
	int64_t i;
	uint64_t u;
	bool big; /* an unsigned value beyond INT64_MAX */
} attr;

static int read_attr(rd *r, attr *a)
{
	*a = (attr){0};
	int num, wt, got;
	const uint8_t *at;
	while ((got = field(r, &num, &wt, &at)) == 1) {
		uint64_t v;
		if (num == 1 && wt == 2) {
			rd s;
			if (sub(r, &s))
				return -1;
			size_t len = (size_t)(s.end - s.p);
			snprintf(a->name, sizeof a->name, "%.*s", (int)(len < sizeof a->name ? len : sizeof a->name - 1),
				 (const char *)s.p);
			if (len >= sizeof a->name)
				a->name[0] = 0; /* not a name kernbench reads */
			continue;
		}
		int want = (num == 19 || num == 23) ? 5 : (num == 21 || num == 25) ? 1 : 0;
		bool integer = num >= 7 && num <= 27 && num % 2 == 1;
		if (!integer || wt != want) {
			if (skip(r, wt, at))
				return -1;
			continue;
		}
		if ((want == 0 && varint(r, &v)) || (want == 5 && fixed(r, 4, &v)) || (want == 1 && fixed(r, 8, &v)))
			return -1;
		a->has_int = true;
		a->u = v;
		switch (num) {
		case 7: a->i = (int32_t)(uint32_t)v; break;                       /* int32 */
		case 15: a->i = (int32_t)((uint32_t)v >> 1 ^ -(uint32_t)(v & 1)); break; /* sint32 */
		case 17: a->i = (int64_t)(v >> 1 ^ -(v & 1)); break;              /* sint64 */
		case 23: a->i = (int32_t)(uint32_t)v; break;                      /* sfixed32 */
		case 27: a->i = v != 0; break;                                    /* bool */
		case 9: case 25: a->i = (int64_t)v; break;                        /* int64, sfixed64 */
		default: /* uint32, uint64, fixed32, fixed64 */
			a->big = v > (uint64_t)INT64_MAX;
			a->i = a->big ? INT64_MAX : (int64_t)v;
			break;
		}
	}
	return got;
}

/* Appends a repeated uint64 field's values (packed or not) to *deps. */
static int read_deps(rd *r, int wt, const uint8_t *at, uint64_t **deps, size_t *n, size_t *cap)
{
	uint64_t v;
	if (wt == 0) {
		if (varint(r, &v) || kb_grow(deps, cap, *n + 1, sizeof **deps, 8))
			return r->bad ? -1 : bad(r, at, "out of memory");
		(*deps)[(*n)++] = v;
		return 0;
	}
	if (wt != 2)
		return bad(r, at, "a dependency list of the wrong wire type");
	rd s;
	if (sub(r, &s))
		return -1;
	while (s.p < s.end) {
		if (varint(&s, &v)) {
			r->bad = true;
			return -1;
		}
		if (kb_grow(deps, cap, *n + 1, sizeof **deps, 8))
			return bad(r, at, "out of memory");
		(*deps)[(*n)++] = v;
	}
	return 0;
}

static int size_attr(rd *r, const attr *a, const uint8_t *at, int64_t *out)
{
	if (a->big || a->i < 0 || a->i > KB_ET_MAX_SIZE) {
		char m[160];
		snprintf(m, sizeof m, "attribute %s = %s%llu is outside 0..2^48", a->name, a->big || a->i >= 0 ? "" : "-",
			 a->big || a->i >= 0 ? (unsigned long long)a->u : (unsigned long long)-(uint64_t)a->i);
		return bad(r, at, m);
	}
	*out = a->i;
	return 0;
}

static int read_node(rd *r, kb_et_node *n, arena *ar, uint64_t **data, size_t *n_data, size_t *cap_data,
		     uint64_t **ctrl, size_t *n_ctrl, size_t *cap_ctrl)
{
	int num, wt, got;
	const uint8_t *at;
	*n_data = *n_ctrl = 0;
	int64_t name_at = -1;
	while ((got = field(r, &num, &wt, &at)) == 1) {
		uint64_t v;
		if ((num == 1 || num == 3 || num == 7) && wt == 0) {
			if (varint(r, &v))
				return -1;
			if (num == 1)
				n->id = v;
			else if (num == 3)
				n->type = v > 100 ? -1 : (int)v;
			else
				n->duration_us = v;
		} else if (num == 2 && wt == 2) {
			rd s;
			if (sub(r, &s))
				return -1;
			if ((name_at = arena_put(ar, s.p, (size_t)(s.end - s.p), 1)) < 0)
				return bad(r, at, "out of memory");
		} else if (num == 4 || num == 5) {
			if (num == 5 ? read_deps(r, wt, at, data, n_data, cap_data) : read_deps(r, wt, at, ctrl, n_ctrl, cap_ctrl))
				return -1;
		} else if (num == 10 && wt == 2) {
			rd s;
			attr a;
			if (sub(r, &s) || read_attr(&s, &a) < 0) {
				r->bad = true;
				return -1;
			}
			if (!a.has_int)
				continue;
			const char *k = a.name;
			int rc = 0;
			if (strcmp(k, "num_ops") == 0)
				rc = size_attr(r, &a, at, &n->num_ops), n->has_num_ops = true;
			else if (strcmp(k, "tensor_size") == 0)
				rc = size_attr(r, &a, at, &n->tensor_size);
			else if (strcmp(k, "comm_size") == 0)
				rc = size_attr(r, &a, at, &n->comm_size);
			else if (strcmp(k, "comm_type") == 0)
				n->comm_type = a.i, n->has_comm_type = true;
			else if (strcmp(k, "comm_src") == 0)
				n->comm_src = a.i, n->has_comm_src = true;
			else if (strcmp(k, "comm_dst") == 0)
				n->comm_dst = a.i, n->has_comm_dst = true;
			else if (strcmp(k, "comm_tag") == 0)
				n->comm_tag = a.i, n->has_comm_tag = true;
			else if (strcmp(k, "is_cpu_op") == 0)
				n->is_cpu_op = a.i != 0;
			else if (strcmp(k, "kb_pe") == 0)
				n->kb_pe = a.i >= 0 && a.i < KB_MAX_CUBES * KB_MAX_PES ? (int)a.i : -1;
			else if (strcmp(k, "kb_kind") == 0)
				n->kb_kind = a.i > 0 && a.i < KB_OP_KIND_COUNT ? (int)a.i : 0;
			if (rc)
				return -1;
		} else if (skip(r, wt, at)) {
			return -1;
		}
	}
	if (got < 0)
		return -1;
	n->name = (const char *)(intptr_t)name_at; /* an arena offset until the arena stops moving */
	return 0;
}

int kb_et_decode(const uint8_t *buf, size_t len, int rank, kb_et_rank *out, kb_error *err)
{
	*out = (kb_et_rank){0};
	rd r = {buf, buf + len, buf, rank, err, false};
	arena ar = {0};
	uint64_t *data = NULL, *ctrl = NULL;
	size_t n_data = 0, n_ctrl = 0, cap_data = 0, cap_ctrl = 0, cap = 0;
	int64_t *dep_at = NULL; /* per node: its dependency list's arena offset */
	size_t cap_dep = 0;
	bool meta = false;
	while (r.p < r.end) {
		rd m;
		const uint8_t *at = r.p;
		if (sub(&r, &m))
			goto fail;
		if (!meta) { /* GlobalMetadata */
			meta = true;
			int num, wt, got;
			const uint8_t *fat;
			while ((got = field(&m, &num, &wt, &fat)) == 1) {
				if (num == 1 && wt == 2) {
					rd s;
					if (sub(&m, &s))
						break;
					size_t l = (size_t)(s.end - s.p);
					snprintf(out->version, sizeof out->version, "%.*s", (int)(l < 31 ? l : 31), (const char *)s.p);
				} else if (skip(&m, wt, fat)) {
					break;
				}
			}
			if (m.bad) {
				r.bad = true;
				goto fail;
			}
			continue;
		}
		if (kb_grow(&out->nodes, &cap, out->n + 1, sizeof *out->nodes, 64) ||
		    kb_grow(&dep_at, &cap_dep, out->n + 1, sizeof *dep_at, 64)) {
			bad(&r, at, "out of memory");
			goto fail;
		}
		kb_et_node *n = &out->nodes[out->n];
		*n = (kb_et_node){.offset = at - buf, .kb_pe = -1};
		if (read_node(&m, n, &ar, &data, &n_data, &cap_data, &ctrl, &n_ctrl, &cap_ctrl)) {
			r.bad = true;
			goto fail;
		}
		if (n_data + n_ctrl > (size_t)INT32_MAX) {
			bad(&r, at, "too many dependencies");
			goto fail;
		}
		n->n_data = (int)n_data;
		n->n_deps = (int)(n_data + n_ctrl);
		dep_at[out->n] = -1;
		if (n->n_deps) {
			int64_t o = arena_put(&ar, data, n_data * sizeof *data, 8);
			if (o >= 0 && n_ctrl) {
				size_t end = (size_t)o + n_data * sizeof *data;
				if (kb_grow(&ar.p, &ar.cap, end + n_ctrl * sizeof *ctrl + 1, 1, 4096))
					o = -1;
				else {
					memcpy(ar.p + end, ctrl, n_ctrl * sizeof *ctrl);
					ar.n = end + n_ctrl * sizeof *ctrl + 1;
				}
			}
			if (o < 0) {
				bad(&r, at, "out of memory");
				goto fail;
			}
			dep_at[out->n] = o;
		}
		out->n++;
	}
	if (!meta)
		kb_fail(err, "rank %d: byte offset 0: an empty file (no GlobalMetadata)", rank);
	else {
		/* the arena stopped moving: offsets become pointers */
		for (size_t i = 0; i < out->n; i++) {
			kb_et_node *n = &out->nodes[i];
			intptr_t o = (intptr_t)n->name;
			n->name = o >= 0 ? ar.p + o : "";
			n->deps = dep_at[i] >= 0 ? (uint64_t *)(void *)(ar.p + dep_at[i]) : NULL;
		}
		out->arena = ar.p;
		free(data);
		free(ctrl);
		free(dep_at);
		return 0;
	}
fail:
	free(ar.p);
	free(data);
	free(ctrl);
	free(dep_at);
	free(out->nodes);
	*out = (kb_et_rank){0};
	return -1;
}

void kb_et_rank_free(kb_et_rank *r)
{
	free(r->nodes);
	free(r->arena);
	*r = (kb_et_rank){0};
}

void kb_et_free(kb_et_set *s)
{
	for (int i = 0; i < s->n_ranks; i++)
		kb_et_rank_free(&s->ranks[i]);
	free(s->ranks);
	*s = (kb_et_set){0};
}

static int read_file(const char *path, uint8_t **buf, size_t *len, kb_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kb_fail(err, "cannot read '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fclose(f);
		return kb_fail(err, "'%s' is not a regular file", path);
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf || fread(*buf, 1, *len, f) != *len) {
		fclose(f);
		free(*buf);
		return kb_fail(err, "cannot read '%s'", path);
	}
	fclose(f);
	return 0;
}

int kb_et_load(const char *prefix, kb_et_set *out, kb_error *err)
{
	*out = (kb_et_set){0};
	char path[4200];
	size_t cap = 0;
	for (int rank = 0;; rank++) {
		snprintf(path, sizeof path, "%s.%d.et", prefix, rank);
		struct stat st;
		if (stat(path, &st) != 0) {
			if (rank == 0)
				return kb_fail(err, "no Chakra ET at '%s' (kb-trace chakra PREFIX reads PREFIX.0.et,"
						    " PREFIX.1.et, ...)", path);
			/* a gap: a later rank without this one */
			for (int k = rank + 1; k < rank + 64; k++) {
				char later[4200];
				snprintf(later, sizeof later, "%s.%d.et", prefix, k);
				if (stat(later, &st) == 0) {
					kb_et_free(out);
					return kb_fail(err, "rank %d: '%s' is missing, but rank %d's file exists", rank, path, k);
				}
			}
			return 0;
		}
		if (rank >= 65536) {
			kb_et_free(out);
			return kb_fail(err, "more than 65536 ranks under '%s'", prefix);
		}
		if (kb_grow(&out->ranks, &cap, (size_t)rank + 1, sizeof *out->ranks, 16)) {
			kb_et_free(out);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
		uint8_t *buf = NULL;
		size_t len = 0;
		if (read_file(path, &buf, &len, err)) {
			kb_et_free(out);
			return -1;
		}
		int rc = kb_et_decode(buf, len, rank, &out->ranks[rank], err);
		free(buf);
		if (rc) {
			char m[sizeof err->msg];
			snprintf(m, sizeof m, "%s", err->msg);
			kb_fail(err, "%s: %s", path, m);
			kb_et_free(out);
			return -1;
		}
		out->n_ranks = rank + 1;
		out->n_nodes += (int64_t)out->ranks[rank].n;
	}
}

/* ---- writing ---- */

static void put(kb_et_buf *b, const void *p, size_t n)
{
	if (b->failed || kb_grow(&b->p, &b->cap, b->n + n, 1, 4096)) {
		b->failed = true;
		return;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_varint(kb_et_buf *b, uint64_t v)
{
	uint8_t t[10];
	int n = 0;
	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, t, (size_t)n);
}

static void put_tag(kb_et_buf *b, int num, int wt)
{
	put_varint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void put_bytes(kb_et_buf *b, int num, const void *p, size_t n)
{
	put_tag(b, num, 2);
	put_varint(b, n);
	put(b, p, n);
}

/* An attribute with an int64 (field 9), uint64 (13) or bool (27) value. */
static void put_attr(kb_et_buf *b, const char *name, int vnum, uint64_t v)
{
	kb_et_buf a = {0};
	put_bytes(&a, 1, name, strlen(name));
	put_tag(&a, vnum, 0);
	put_varint(&a, v);
	put_bytes(b, 10, a.p, a.n);
	b->failed |= a.failed;
	free(a.p);
}

static void put_delimited(kb_et_buf *b, const kb_et_buf *m)
{
	b->failed |= m->failed;
	put_varint(b, m->n);
	put(b, m->p, m->n);
}

void kb_et_put_metadata(kb_et_buf *b, const char *version)
{
	kb_et_buf m = {0};
	put_bytes(&m, 1, version, strlen(version));
	put_delimited(b, &m);
	free(m.p);
}

void kb_et_put_node(kb_et_buf *b, const kb_et_node *n)
{
	kb_et_buf m = {0};
	put_tag(&m, 1, 0);
	put_varint(&m, n->id);
	put_bytes(&m, 2, n->name, strlen(n->name));
	put_tag(&m, 3, 0);
	put_varint(&m, (uint64_t)n->type);
	for (int pass = 0; pass < 2; pass++) { /* data_deps (5), then ctrl_deps (4): packed */
		int lo = pass ? n->n_data : 0, hi = pass ? n->n_deps : n->n_data;
		if (hi <= lo)
			continue;
		kb_et_buf d = {0};
		for (int i = lo; i < hi; i++)
			put_varint(&d, n->deps[i]);
		put_bytes(&m, pass ? 4 : 5, d.p, d.n);
		m.failed |= d.failed;
		free(d.p);
	}
	if (n->duration_us) {
		put_tag(&m, 7, 0);
		put_varint(&m, n->duration_us);
	}
	put_attr(&m, "is_cpu_op", 27, n->is_cpu_op);
	if (n->has_num_ops)
		put_attr(&m, "num_ops", 9, (uint64_t)n->num_ops);
	if (n->tensor_size)
		put_attr(&m, "tensor_size", 13, (uint64_t)n->tensor_size);
	if (n->has_comm_type)
		put_attr(&m, "comm_type", 9, (uint64_t)n->comm_type);
	if (n->comm_size)
		put_attr(&m, "comm_size", 13, (uint64_t)n->comm_size);
	if (n->has_comm_src)
		put_attr(&m, "comm_src", 9, (uint64_t)n->comm_src);
	if (n->has_comm_dst)
		put_attr(&m, "comm_dst", 9, (uint64_t)n->comm_dst);
	if (n->has_comm_tag)
		put_attr(&m, "comm_tag", 9, (uint64_t)n->comm_tag);
	if (n->kb_pe >= 0)
		put_attr(&m, "kb_pe", 9, (uint64_t)n->kb_pe);
	if (n->kb_kind > 0)
		put_attr(&m, "kb_kind", 9, (uint64_t)n->kb_kind);
	put_delimited(b, &m);
	free(m.p);
}
