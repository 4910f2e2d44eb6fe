/*
 * oppack.c — the op pack: a trace's ops once more, as zstd-compressed
 * chunks of variable-length integers (table op_pack, one row per
 * KB_PACK_OPS ops). Decoding a chunk costs a few nanoseconds per op where
 * SQLite's 26 columns per row cost ~300; the rows stay the trace's record
 * (what users query and edit) and any change to them deletes the pack
 * (triggers), after which readers decode the rows again.
 *
 * One op, field by field in KB_OP_FIELDS' order: the head (kind), a
 * presence mask (varint), the fields always written (launch, sip, cube,
 * pe, seq), the present masked fields, then per present operand its packed
 * fields (space, dtype, shape, pa). Signed integers are zigzagged, imm is
 * its 8 bytes. The op's id is the chunk's first id plus its index.
 * Decoding is bounded by the chunk's end and checks nothing else: the
 * decoded op goes through kb_op_check like a row.
 */
#include "db_int.h"

#include <string.h>

/* ---- one field (inlined: an op decodes in tens of nanoseconds) ---- */

static inline __attribute__((always_inline)) uint8_t *put_i64(uint8_t *p, int64_t v)
{
	return kb_put_svarint(p, v);
}

static inline __attribute__((always_inline)) uint8_t *put_u64(uint8_t *p, uint64_t v)
{
	return kb_put_uvarint(p, v);
}

static inline __attribute__((always_inline)) uint8_t *put_f64(uint8_t *p, double v)
{
	memcpy(p, &v, sizeof v);
	return p + sizeof v;
}

/* Integers by their type: unsigned ones as they are, signed ones zigzagged. */
#define PUT(p, v) _Generic((v), double: put_f64, uint64_t: put_u64, default: put_i64)(p, v)

static inline __attribute__((always_inline)) int get_i64(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	return (*p = kb_get_svarint(*p, end, v)) ? 0 : -1;
}

static inline __attribute__((always_inline)) int get_u64(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	return (*p = kb_get_uvarint(*p, end, v)) ? 0 : -1;
}

/* An int read the way SQLite's sqlite3_column_int reads a column. */
static inline __attribute__((always_inline)) int get_int(const uint8_t **p, const uint8_t *end, int *v)
{
	int64_t w;
	if (get_i64(p, end, &w))
		return -1;
	*v = (int)(uint32_t)(uint64_t)w;
	return 0;
}

static inline __attribute__((always_inline)) int get_f64(const uint8_t **p, const uint8_t *end, double *v)
{
	if (end - *p < (ptrdiff_t)sizeof *v)
		return -1;
	memcpy(v, *p, sizeof *v);
	*p += sizeof *v;
	return 0;
}

#define GET(p, end, dst) \
	_Generic(&(dst), double *: get_f64, uint64_t *: get_u64, int *: get_int, default: get_i64)(p, end, &(dst))

/* The head: unsigned, and an int as SQLite reads it. */
static inline __attribute__((always_inline)) int get_head(const uint8_t **p, const uint8_t *end, int *v)
{
	uint64_t u;
	if (get_u64(p, end, &u))
		return -1;
	*v = (int)(uint32_t)u;
	return 0;
}

/* Whether a field is there when it is masked: not 0 (-0.0 is 0: a REAL
 * column keeps no -0.0 either). */
static inline __attribute__((always_inline)) bool nonzero_i64(int64_t v)
{
	return v != 0;
}

static inline __attribute__((always_inline)) bool nonzero_u64(uint64_t v)
{
	return v != 0;
}

static inline __attribute__((always_inline)) bool nonzero_f64(double v)
{
	return v != 0;
}

#define NONZERO(v) _Generic((v), double: nonzero_f64, uint64_t: nonzero_u64, default: nonzero_i64)(v)

/* ---- the list's passes ---- */

#define IS_MASKED(pack) ((pack) >= 0)

/* The mask bits the list uses: anything else in a mask is damage. */
#define MASK_F(name, type, column, sql, pack, lo, hi) | (IS_MASKED(pack) ? 1u << (IS_MASKED(pack) ? (pack) : 0) : 0u)
#define MASK_O(name, bit, table) | 1u << (bit)
enum { MASK_ALL = 0 KB_OP_FIELDS(MASK_F, MASK_O) };

bool kb_operand_present(const kb_operand *x)
{
	bool any = false;
#define PRESENT(x, name, type, pack) any |= (pack) != KB_PACK_NONE && NONZERO(x->name);
	KB_OPERAND_FIELDS(PRESENT, x)
#undef PRESENT
	return any;
}

static unsigned mask_of(const kb_op *op)
{
	unsigned mask = 0;
#define SET_F(name, type, column, sql, pack, lo, hi) \
	if (IS_MASKED(pack) && NONZERO(op->name)) \
		mask |= 1u << (IS_MASKED(pack) ? (pack) : 0);
#define SET_O(name, bit, table) \
	if (kb_operand_present(&op->name)) \
		mask |= 1u << (bit);
	KB_OP_FIELDS(SET_F, SET_O)
#undef SET_F
#undef SET_O
	return mask;
}

size_t kb_op_pack_put(uint8_t *out, const kb_op *op)
{
	unsigned mask = mask_of(op);
	uint8_t *p = out;
#define HEAD_F(name, type, column, sql, pack, lo, hi) \
	if ((pack) == KB_PACK_HEAD) \
		p = kb_put_uvarint(p, (uint64_t)(int64_t)op->name);
#define ALWAYS_F(name, type, column, sql, pack, lo, hi) \
	if ((pack) == KB_PACK_ALWAYS) \
		p = PUT(p, op->name);
#define MASKED_F(name, type, column, sql, pack, lo, hi) \
	if (IS_MASKED(pack) && (mask & 1u << (IS_MASKED(pack) ? (pack) : 0))) \
		p = PUT(p, op->name);
#define NO_O(name, bit, table)
#define OPERAND_O(name, bit, table) \
	if (mask & 1u << (bit)) { \
		KB_OPERAND_FIELDS(OPERAND_FIELD, &op->name) \
	}
#define OPERAND_FIELD(x, name, type, pack) \
	if ((pack) != KB_PACK_NONE) \
		p = PUT(p, (x)->name);
	KB_OP_FIELDS(HEAD_F, NO_O)
	p = kb_put_uvarint(p, mask);
	KB_OP_FIELDS(ALWAYS_F, NO_O)
	KB_OP_FIELDS(MASKED_F, NO_O)
#define NO_F(name, type, column, sql, pack, lo, hi)
	KB_OP_FIELDS(NO_F, OPERAND_O)
	KB_ASSERT(p - out <= KB_OP_PACK_MAX, "an op packed into %td bytes", p - out);
	return (size_t)(p - out);
}

/* The head and the fields always written; *mask the presence mask. */
static inline __attribute__((always_inline)) int get_fixed(const uint8_t **p, const uint8_t *end, kb_op *o,
							    uint64_t *mask)
{
#define GET_HEAD_F(name, type, column, sql, pack, lo, hi) \
	if ((pack) == KB_PACK_HEAD && get_head(p, end, (int *)&o->name)) \
		return -1;
#define GET_ALWAYS_F(name, type, column, sql, pack, lo, hi) \
	if ((pack) == KB_PACK_ALWAYS && GET(p, end, o->name)) \
		return -1;
	KB_OP_FIELDS(GET_HEAD_F, NO_O)
	if (get_u64(p, end, mask))
		return -1;
	KB_OP_FIELDS(GET_ALWAYS_F, NO_O)
	return 0;
}

int kb_op_pack_get(const uint8_t **p, const uint8_t *end, int64_t id, kb_op *o)
{
	/* every field is set: decoded, or 0 when absent (no memset of the
	 * whole op first: decoding is the hot path of replay) */
	uint64_t mask;
	o->id = id;
	if (get_fixed(p, end, o, &mask) || (mask & ~(uint64_t)MASK_ALL))
		return -1;
#define GET_MASKED_F(name, type, column, sql, pack, lo, hi) \
	if (IS_MASKED(pack)) { \
		if (!(mask & 1u << (IS_MASKED(pack) ? (pack) : 0))) \
			o->name = 0; \
		else if (GET(p, end, o->name)) \
			return -1; \
	}
#define GET_OPERAND_O(name, bit, table) \
	o->name = (kb_operand){0}; \
	if (mask & 1u << (bit)) { \
		KB_OPERAND_FIELDS(GET_OPERAND_FIELD, &o->name) \
	}
#define GET_OPERAND_FIELD(x, name, type, pack) \
	if ((pack) != KB_PACK_NONE && GET(p, end, (x)->name)) \
		return -1;
	KB_OP_FIELDS(GET_MASKED_F, NO_O)
	KB_OP_FIELDS(NO_F, GET_OPERAND_O)
	KB_ASSERT(*p <= end, "the decoder read %td bytes past the end", *p - end);
	return 0;
}

int kb_op_pack_head(const uint8_t *p, const uint8_t *end, kb_op *o)
{
	uint64_t mask;
	return get_fixed(&p, end, o, &mask);
}
