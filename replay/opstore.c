/*
 * opstore.c — replay's ops, packed with the op pack's coding
 * (kb_op_pack_put: ~20-40 bytes an op where a kb_op takes ~270) and
 * decoded when one is used (tens of nanoseconds), into the rop the
 * numerics work on. The coding keeps every value the checks downstream
 * see; the fields replay does not read (seq, bytes, flops, va) are not kept.
 */
#include "replay_int.h"

#include <stdlib.h>
#include <string.h>

int replay__opstore_init(opstore *s, int32_t n_ops)
{
	memset(s, 0, sizeof *s);
	s->off = kb_calloc_big((size_t)n_ops + 1, sizeof *s->off);
	s->cap = (size_t)n_ops * 32 + KB_OP_PACK_MAX;
	s->buf = kb_calloc_big(s->cap, 1);
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

int replay__opstore_put(opstore *s, const kb_op *o)
{
	if (s->len > UINT32_MAX - KB_OP_PACK_MAX)
		return -1; /* 4 GiB of packed ops: over any trace replay can hold */
	if (s->cap - s->len < KB_OP_PACK_MAX) {
		size_t cap = s->cap + s->cap / 2 + KB_OP_PACK_MAX;
		uint8_t *b = realloc(s->buf, cap);
		if (!b)
			return -1;
		s->buf = b;
		s->cap = cap;
	}
	kb_op k = *o;
	k.seq = k.bytes = k.flops = 0; /* replay uses none of them: they would only take room */
	s->off[s->n++] = (uint32_t)s->len;
	s->len += kb_op_pack_put(s->buf + s->len, &k);
	return 0;
}

static void operand_of(const kb_operand *x, const shape4 *shapes, int64_t n_shapes, rop_operand *o)
{
	KB_ASSERT(!x->space || (x->shape >= 1 && x->shape < n_shapes), "operand shape %lld of %lld", (long long)x->shape,
		  (long long)n_shapes);
	*o = (rop_operand){x->space, x->dtype, &shapes[x->space ? x->shape : 0], x->pa};
}

void replay__rop_of(const kb_op *k, const shape4 *shapes, int64_t n_shapes, rop *o)
{
	o->sip = k->sip;
	o->cube = k->cube;
	o->pe = k->pe;
	o->kind = (uint8_t)k->kind;
	o->attr = k->attr;
	o->imm = k->imm;
	o->blob = k->blob;
	o->launch = k->launch;
	o->chan = k->chan > 0 && k->chan < INT32_MAX ? (int32_t)k->chan : 0;
	o->chan_seq = k->chan_seq;
	operand_of(&k->dst, shapes, n_shapes, &o->dst);
	operand_of(&k->a, shapes, n_shapes, &o->a);
	operand_of(&k->b, shapes, n_shapes, &o->b);
	operand_of(&k->c, shapes, n_shapes, &o->c);
}

void replay__opstore_get(const opstore *s, int32_t i, const shape4 *shapes, int64_t n_shapes, rop *o)
{
	KB_ASSERT(i >= 0 && i < s->n, "op %d of %d", i, s->n);
	const uint8_t *p = s->buf + s->off[i];
	kb_op k;
	int rc = kb_op_pack_get(&p, s->buf + s->len, i + 1, &k);
	KB_ASSERT(rc == 0, "op %d does not decode from replay's own store", i + 1);
	replay__rop_of(&k, shapes, n_shapes, o);
}

void replay__opstore_head(const opstore *s, int32_t i, int *kind, int32_t *sip, int64_t *launch)
{
	KB_ASSERT(i >= 0 && i < s->n, "op %d of %d", i, s->n);
	kb_op k;
	int rc = kb_op_pack_head(s->buf + s->off[i], s->buf + s->len, &k);
	KB_ASSERT(rc == 0, "op %d does not decode from replay's own store", i + 1);
	*kind = k.kind;
	*sip = k.sip;
	*launch = k.launch;
}
