/*
 * replay_int.h — private to replay/: the sparse memory and the op
 * numerics shared by replay.c and numerics.c.
 */
#ifndef KB_REPLAY_INT_H
#define KB_REPLAY_INT_H

#include "replay.h"

/* ---- sparse memory (memory.c) ---- */

#define PAGE_BYTES 4096
#define GRANULE 2 /* bytes per writer record: the smallest element */

typedef struct mem mem;

mem *replay__mem_new(bool with_data);
void replay__mem_free(mem *m);
size_t replay__mem_pages(const mem *m);

/* What a read found. */
typedef struct read_info {
	int32_t max_writer;    /* newest writer (op id) among the bytes, 0 = none */
	int64_t unwritten;     /* bytes nothing had written */
	uint64_t first_unwritten;
} read_info;

/* Copies n bytes at pa into out (NULL: only inspect the writers). */
int replay__mem_read(mem *m, uint64_t pa, void *out, size_t n, read_info *ri);
/* Appends the ops that last wrote bytes [pa, pa + n) to *v (a growable
 * array; an op repeating the entry before it, if that is at `from` or
 * later, once). */
int replay__mem_writers(mem *m, uint64_t pa, size_t n, int32_t **v, size_t *n_v, size_t *cap, size_t from);
/* Writes n bytes (NULL: zeros; ignored without data) as op `writer`. */
int replay__mem_write(mem *m, uint64_t pa, const void *in, size_t n, int32_t writer);

/* ---- operands and numerics (numerics.c) ---- */

typedef kb_shape_rec shape4; /* ndim, d[4], numel: as db's reader gives them */

typedef struct rop_operand {
	int space, dtype;
	const shape4 *shape; /* into the trace's shapes table */
	uint64_t pa;
} rop_operand;

/* One op, as replay needs it. */
typedef struct rop {
	int32_t sip, cube, pe;
	int32_t chan;             /* IPCQ: channel id (0 none) */
	int64_t launch, chan_seq;
	uint8_t kind;
	int64_t attr;
	double imm;
	int64_t blob;
	rop_operand dst, a, b, c;
} rop;

/* The ops, packed with db's op pack coding (opstore.c): ~30 bytes each. */
typedef struct opstore {
	uint8_t *buf;
	size_t len, cap;
	uint32_t *off; /* per op: where its encoding starts */
	int32_t n;
} opstore;

int replay__opstore_init(opstore *s, int32_t n_ops);
void replay__opstore_free(opstore *s);
/* Appends op o (checked: its operands' shapes are ids below n_shapes); -1: out of memory. */
int replay__opstore_put(opstore *s, const kb_op *o);
/* Op i (0-based) as replay works on it, its shapes pointing into shapes[]. */
void replay__opstore_get(const opstore *s, int32_t i, const shape4 *shapes, int64_t n_shapes, rop *o);
/* The one way replay turns a kb_op into its working record. */
void replay__rop_of(const kb_op *k, const shape4 *shapes, int64_t n_shapes, rop *o);
/* Only op i's kind, SIP and launch (the first fields: a few ns). */
void replay__opstore_head(const opstore *s, int32_t i, int *kind, int32_t *sip, int64_t *launch);
size_t replay__opstore_bytes(const opstore *s);

/* Byte ranges an operand covers: one per row when strided. */
typedef struct span_iter {
	uint64_t pa;
	size_t row_bytes, rows, stride_bytes;
} span_iter;

span_iter replay__operand_spans(const rop_operand *o, int64_t stride);

/* A growable buffer reused from op to op (fresh large mallocs cost page
 * faults on every op). */
typedef struct scratch {
	void *p;
	size_t cap;
} scratch;

void *replay__scratch_get(scratch *s, size_t bytes);
void replay__scratch_release(scratch *s);

/* Computes op's result (dst dtype, contiguous) from f32 inputs already
 * loaded into in[0..2] (a, b, c; dst for an accumulating GEMM in in[3]);
 * tmp holds the f32 result and transposed operands. */
int replay__compute(const rop *op, float *const in[4], void *out, scratch tmp[3], int64_t *flops);

size_t replay__dtype_bytes(int dtype);
void replay__to_f32(int dtype, const void *src, float *dst, int64_t n);
void replay__from_f32(int dtype, const float *src, void *dst, int64_t n);

#endif
