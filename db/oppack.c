/*
 * oppack.c — the op pack: a trace's ops once more, as zstd-compressed
 * chunks of variable-length integers (table op_pack, one row per
 * KB_PACK_OPS ops). Decoding a chunk costs a few nanoseconds per op where
 * SQLite's 26 columns per row cost ~300; the rows stay the trace's record
 * (what users query and edit) and any change to them deletes the pack
 * (triggers), after which readers decode the rows again.
 *
 * One op: kind, a presence mask (varint), then launch, sip, cube, pe, seq
 * and the present fields, signed ones zigzagged, imm as its 8 bytes, and
 * per present operand space, dtype, shape, pa. The op's id is the chunk's
 * first id plus its index. Decoding is bounded by the chunk's end and
 * checks nothing else: the decoded op goes through kb_op_check like a row.
 */
#include "db_int.h"

#include <string.h>

enum {
	P_ATTR = 1 << 0, P_IMM = 1 << 1, P_BYTES = 1 << 2, P_FLOPS = 1 << 3, P_BLOB = 1 << 4,
	P_CHAN = 1 << 5, /* chan and chan_seq */
	P_OPERAND = 1 << 6, /* bits 6-9: dst, a, b, c */
};

size_t kb_pack_put(uint8_t *out, const kb_op_row *op)
{
	const kb_operand *x[4] = {&op->dst, &op->a, &op->b, &op->c};
	double imm = op->imm == 0 ? 0.0 : op->imm; /* a REAL column keeps no -0.0: neither does the pack */
	unsigned mask = (op->attr ? P_ATTR : 0) | (imm != 0 ? P_IMM : 0) | (op->bytes ? P_BYTES : 0) |
			(op->flops ? P_FLOPS : 0) | (op->blob ? P_BLOB : 0) | (op->chan || op->chan_seq ? P_CHAN : 0);
	for (int k = 0; k < 3; k++)
		mask |= x[k]->space || x[k]->dtype || x[k]->shape || x[k]->pa ? (unsigned)P_OPERAND << k : 0;
	mask |= op->c.space ? (unsigned)P_OPERAND << 3 : 0; /* like op_operands: c only with a space */
	uint8_t *p = out;
	p = kb_put_uvarint(p, (uint64_t)(int64_t)op->kind);
	p = kb_put_uvarint(p, mask);
	p = kb_put_svarint(p, op->launch);
	p = kb_put_svarint(p, op->sip);
	p = kb_put_svarint(p, op->cube);
	p = kb_put_svarint(p, op->pe);
	p = kb_put_svarint(p, op->seq);
	if (mask & P_ATTR)
		p = kb_put_svarint(p, op->attr);
	if (mask & P_IMM) {
		memcpy(p, &imm, sizeof imm);
		p += sizeof imm;
	}
	if (mask & P_BYTES)
		p = kb_put_svarint(p, op->bytes);
	if (mask & P_FLOPS)
		p = kb_put_svarint(p, op->flops);
	if (mask & P_BLOB)
		p = kb_put_svarint(p, op->blob);
	if (mask & P_CHAN) {
		p = kb_put_svarint(p, op->chan);
		p = kb_put_svarint(p, op->chan_seq);
	}
	for (int k = 0; k < 4; k++) {
		if (!(mask & ((unsigned)P_OPERAND << k)))
			continue;
		p = kb_put_svarint(p, x[k]->space);
		p = kb_put_svarint(p, x[k]->dtype);
		p = kb_put_svarint(p, x[k]->shape);
		p = kb_put_uvarint(p, x[k]->pa);
	}
	return (size_t)(p - out);
}

static int get_u(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	return (*p = kb_get_uvarint(*p, end, v)) ? 0 : -1;
}

static int get_s(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	return (*p = kb_get_svarint(*p, end, v)) ? 0 : -1;
}

/* An int column read the way SQLite's sqlite3_column_int reads it. */
static int get_i(const uint8_t **p, const uint8_t *end, int *v)
{
	int64_t w;
	if (get_s(p, end, &w))
		return -1;
	*v = (int)(uint32_t)(uint64_t)w;
	return 0;
}

int kb_pack_get(const uint8_t **p, const uint8_t *end, int64_t id, kb_op_rec *o)
{
	uint64_t kind, mask;
	memset(o, 0, sizeof *o);
	o->id = id;
	if (get_u(p, end, &kind) || get_u(p, end, &mask) || mask >= (uint64_t)P_OPERAND << 4 ||
	    get_s(p, end, &o->launch) || get_i(p, end, &o->sip) || get_i(p, end, &o->cube) ||
	    get_i(p, end, &o->pe) || get_s(p, end, &o->seq))
		return -1;
	o->kind = (int)(uint32_t)kind;
	if ((mask & P_ATTR) && get_s(p, end, &o->attr))
		return -1;
	if (mask & P_IMM) {
		if (end - *p < (ptrdiff_t)sizeof o->imm)
			return -1;
		memcpy(&o->imm, *p, sizeof o->imm);
		*p += sizeof o->imm;
	}
	if (((mask & P_BYTES) && get_s(p, end, &o->bytes)) || ((mask & P_FLOPS) && get_s(p, end, &o->flops)) ||
	    ((mask & P_BLOB) && get_s(p, end, &o->blob)) ||
	    ((mask & P_CHAN) && (get_s(p, end, &o->chan) || get_s(p, end, &o->chan_seq))))
		return -1;
	kb_operand_rec *x[4] = {&o->dst, &o->a, &o->b, &o->c};
	for (int k = 0; k < 4; k++)
		if ((mask & ((uint64_t)P_OPERAND << k)) &&
		    (get_i(p, end, &x[k]->space) || get_i(p, end, &x[k]->dtype) || get_s(p, end, &x[k]->shape) ||
		     get_u(p, end, &x[k]->pa)))
			return -1;
	return 0;
}
