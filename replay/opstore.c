/*
 * opstore.c — replay's ops, packed. A decoded op (rop) is 160 bytes; most
 * of it is zero or small (two or three operands, no channel, no blob), so
 * each op is kept as a byte string of variable-length integers, ~30–40
 * bytes, and decoded when it is used (a few tens of nanoseconds).
 *
 * Encoding: kind, a presence mask, then the present fields as LEB128
 * varints (signed ones zigzagged) — the round trip is exact for every
 * value, damaged ones included, so the checks downstream see what the
 * trace holds.
 */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

enum {
	HAS_ATTR = 1 << 4, /* bits 0-3: operands dst, a, b, c */
	HAS_IMM = 1 << 5,
	HAS_BLOB = 1 << 6,
	HAS_CHAN = 1 << 7, /* chan and chan_seq */
};

#define MAX_ENCODED 160 /* 2 + 10 varints of <= 10 bytes + 8 (imm) + 4 * 4 varints: under this */

int replay__opstore_init(opstore *s, int32_t n_ops)
{
	memset(s, 0, sizeof *s);
	s->off = malloc(((size_t)n_ops + 1) * sizeof *s->off);
	s->cap = (size_t)n_ops * 32 + MAX_ENCODED;
	s->buf = malloc(s->cap);
	return s->off && s->buf ? 0 : -1;
}

void replay__opstore_free(opstore *s)
{
	free(s->buf);
	free(s->off);
	memset(s, 0, sizeof *s);
}

size_t replay__opstore_bytes(const opstore *s)
{
	return s->len + (size_t)s->n * sizeof *s->off;
}

static uint64_t imm_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u; /* -0.0 is kept too */
}

int replay__opstore_put(opstore *s, const rop *o, const shape4 *shapes)
{
	if (s->len > UINT32_MAX - MAX_ENCODED)
		return -1; /* 4 GiB of packed ops: over any trace replay can hold */
	if (s->cap - s->len < MAX_ENCODED) {
		size_t cap = s->cap + s->cap / 2 + MAX_ENCODED;
		uint8_t *b = realloc(s->buf, cap);
		if (!b)
			return -1;
		s->buf = b;
		s->cap = cap;
	}
	const rop_operand *x[4] = {&o->dst, &o->a, &o->b, &o->c};
	uint8_t mask = 0;
	for (int k = 0; k < 4; k++)
		mask |= (uint8_t)(x[k]->space ? 1 << k : 0);
	mask |= (uint8_t)((o->attr ? HAS_ATTR : 0) | (imm_bits(o->imm) ? HAS_IMM : 0) | (o->blob ? HAS_BLOB : 0) |
			  (o->chan || o->chan_seq ? HAS_CHAN : 0));
	uint8_t *p = s->buf + s->len;
	s->off[s->n++] = (uint32_t)s->len;
	*p++ = o->kind;
	*p++ = mask;
	p = kb_put_svarint(p, o->sip);
	p = kb_put_svarint(p, o->cube);
	p = kb_put_svarint(p, o->pe);
	p = kb_put_svarint(p, o->launch);
	if (mask & HAS_ATTR)
		p = kb_put_svarint(p, o->attr);
	if (mask & HAS_IMM) {
		memcpy(p, &o->imm, sizeof o->imm);
		p += sizeof o->imm;
	}
	if (mask & HAS_BLOB)
		p = kb_put_svarint(p, o->blob);
	if (mask & HAS_CHAN) {
		p = kb_put_svarint(p, o->chan);
		p = kb_put_svarint(p, o->chan_seq);
	}
	for (int k = 0; k < 4; k++) {
		if (!(mask & (1 << k)))
			continue;
		p = kb_put_svarint(p, x[k]->space);
		p = kb_put_svarint(p, x[k]->dtype);
		p = kb_put_uvarint(p, (uint64_t)(x[k]->shape - shapes));
		p = kb_put_uvarint(p, x[k]->pa);
	}
	s->len = (size_t)(p - s->buf);
	return 0;
}

void replay__opstore_get(const opstore *s, int32_t i, const shape4 *shapes, rop *o)
{
	const uint8_t *p = s->buf + s->off[i], *end = s->buf + s->len; /* written here: never past end */
	int64_t v;
	uint64_t u;
	memset(o, 0, sizeof *o);
	o->kind = *p++;
	uint8_t mask = *p++;
	p = kb_get_svarint(p, end, &v), o->sip = (int32_t)v;
	p = kb_get_svarint(p, end, &v), o->cube = (int32_t)v;
	p = kb_get_svarint(p, end, &v), o->pe = (int32_t)v;
	p = kb_get_svarint(p, end, &o->launch);
	if (mask & HAS_ATTR)
		p = kb_get_svarint(p, end, &o->attr);
	if (mask & HAS_IMM) {
		memcpy(&o->imm, p, sizeof o->imm);
		p += sizeof o->imm;
	}
	if (mask & HAS_BLOB)
		p = kb_get_svarint(p, end, &o->blob);
	if (mask & HAS_CHAN) {
		p = kb_get_svarint(p, end, &v), o->chan = (int32_t)v;
		p = kb_get_svarint(p, end, &o->chan_seq);
	}
	rop_operand *x[4] = {&o->dst, &o->a, &o->b, &o->c};
	for (int k = 0; k < 4; k++) {
		x[k]->shape = &shapes[0];
		if (!(mask & (1 << k)))
			continue;
		p = kb_get_svarint(p, end, &v), x[k]->space = (int)v;
		p = kb_get_svarint(p, end, &v), x[k]->dtype = (int)v;
		p = kb_get_uvarint(p, end, &u), x[k]->shape = &shapes[u];
		p = kb_get_uvarint(p, end, &x[k]->pa);
	}
}

void replay__opstore_head(const opstore *s, int32_t i, int *kind, int32_t *sip, int64_t *launch)
{
	const uint8_t *p = s->buf + s->off[i], *end = s->buf + s->len;
	int64_t v;
	*kind = p[0];
	p = kb_get_svarint(p + 2, end, &v), *sip = (int32_t)v;
	p = kb_get_svarint(p, end, &v); /* cube */
	p = kb_get_svarint(p, end, &v); /* pe */
	kb_get_svarint(p, end, launch);
}
