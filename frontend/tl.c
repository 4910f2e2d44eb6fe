/*
 * tl.c — the kernel DSL: every call checks shapes and dtypes, allocates
 * its result in the PE's kernel scratch and records exactly one op (view
 * records none). Nothing is computed: replay does the numerics later.
 */
#include "frontend_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void frontend__fail(kb_tl *tl, const char *op, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	kb_fatal(tl->ctx, "kernel '%s' on sip%d.cube%d.pe%d: %s: %s", tl->kernel, tl->sip, tl->cube, tl->pe, op, what);
}

void tl_work(kb_tl *tl, kb_op_kind kind, int64_t flops)
{
	if (!kb_op_is_opaque(kind, KB_OP_OPAQUE))
		frontend__fail(tl, "work", "kind %s is not gemm or a math kind", kb_op_kind_name(kind));
	if (flops < 0)
		frontend__fail(tl, "work", "%lld flops", (long long)flops);
	kb_op op = {.kind = kind, .attr = KB_OP_OPAQUE, .flops = flops};
	frontend__record(tl, &op);
}

kb_tile *tl_scratch(kb_tl *tl, kb_shape shape, kb_dtype dtype)
{
	return frontend__new_tile(tl, "scratch", shape, dtype);
}

int64_t tl_next_op(kb_tl *tl)
{
	return kb_session_next_op(tl->ctx->s);
}

_Noreturn void tl_fatal(kb_tl *tl, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	frontend__fail(tl, "kernel", "%s", what);
}

static void shape_text(kb_shape s, char *buf, size_t cap)
{
	size_t o = (size_t)snprintf(buf, cap, "(");
	for (int i = 0; i < s.ndim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)s.d[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, ")");
}

static bool same_shape(kb_shape a, kb_shape b)
{
	if (a.ndim != b.ndim)
		return false;
	for (int i = 0; i < a.ndim; i++)
		if (a.d[i] != b.d[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* Tiles                                                               */
/* ------------------------------------------------------------------ */

static void human_bytes(uint64_t n, char *buf, size_t cap)
{
	if (n >= (1u << 20))
		snprintf(buf, cap, "%.2f MB", (double)n / (1 << 20));
	else if (n >= 1024)
		snprintf(buf, cap, "%.1f KB", (double)n / 1024);
	else
		snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
}

/* A tile struct: a recycled one if any left quarantine, else a new one on
 * the launch's list. */
static kb_tile *take_struct(kb_tl *tl, const char *op)
{
	kb_ctx *ctx = tl->ctx;
	kb_tile *t = ctx->spare;
	if (t) {
		ctx->spare = t->next_spare;
		kb_tile *keep = t->next;
		memset(t, 0, sizeof *t);
		t->next = keep;
		return t;
	}
	t = calloc(1, sizeof *t);
	if (!t)
		frontend__fail(tl, op, "out of memory");
	t->next = ctx->tiles;
	ctx->tiles = t;
	return t;
}

kb_tile *frontend__new_tile(kb_tl *tl, const char *op, kb_shape shape, kb_dtype dtype)
{
	kb_ctx *ctx = tl->ctx;
	for (int i = 0; i < shape.ndim; i++)
		if (shape.d[i] < 1)
			frontend__fail(tl, op, "dimension %d of the result is %lld", i, (long long)shape.d[i]);
	uint64_t nbytes = (uint64_t)kb_shape_numel(shape) * kb_dtype_size(dtype), off;
	if (kb_scratch_alloc(ctx->s, tl->sip, tl->cube, tl->pe, nbytes, &off)) {
		char need[32], largest[32], total[32];
		human_bytes(nbytes, need, sizeof need);
		human_bytes(kb_scratch_largest_free(ctx->s, tl->sip, tl->cube, tl->pe), largest, sizeof largest);
		human_bytes(ctx->m->scratch_bytes, total, sizeof total);
		frontend__fail(tl, op, "needs %s of kernel scratch, largest free block is %s of %s "
			"(free tiles with tl_free, or raise cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb)",
			need, largest, total);
	}
	kb_tile *t = take_struct(tl, op);
	t->shape = shape;
	t->dtype = dtype;
	t->shape_id = frontend__shape_id_or_throw(ctx, shape);
	t->offset = off;
	t->nbytes = nbytes;
	t->pa = kb_mem_pa(ctx->s, KB_SPACE_TCM, tl->sip, tl->cube, tl->pe, off);
	return t;
}

void frontend__use(kb_tl *tl, const char *op, const kb_tile *t)
{
	if (!t)
		frontend__fail(tl, op, "NULL tile");
	if (t->freed || (t->owner && t->owner->freed))
		frontend__fail(tl, op, "uses a tile after tl_free");
}

kb_operand frontend__tile_operand(const kb_tile *t)
{
	return (kb_operand){KB_SPACE_TCM, t->dtype, t->shape_id, 0, t->pa};
}

void frontend__tile_release(kb_ctx *ctx)
{
	while (ctx->tiles) {
		kb_tile *t = ctx->tiles;
		ctx->tiles = t->next;
		free(t);
	}
	ctx->spare = NULL;
	ctx->q_next = ctx->q_count = 0;
}

void tl_free(kb_tl *tl, kb_tile *t)
{
	frontend__use(tl, "free", t);
	if (t->owner)
		frontend__fail(tl, "free", "tile is a view; free the tile it views");
	kb_scratch_free(tl->ctx->s, tl->sip, tl->cube, tl->pe, t->offset, t->nbytes);
	t->freed = true;
	/* quarantine: the oldest freed tile goes back into use, the newest
	 * TILE_QUARANTINE stay marked freed so a stale handle is caught */
	kb_ctx *ctx = tl->ctx;
	if (ctx->q_count == TILE_QUARANTINE) {
		kb_tile *old = ctx->quarantine[ctx->q_next];
		old->next_spare = ctx->spare;
		ctx->spare = old;
	} else {
		ctx->q_count++;
	}
	ctx->quarantine[ctx->q_next] = t;
	ctx->q_next = (ctx->q_next + 1) % TILE_QUARANTINE;
}

kb_shape tl_shape(const kb_tile *t)
{
	return t->shape;
}

kb_dtype tl_dtype(const kb_tile *t)
{
	return t->dtype;
}

int64_t frontend__record(kb_tl *tl, kb_op *op)
{
	op->launch = tl->launch;
	op->sip = tl->sip;
	op->cube = tl->cube;
	op->pe = tl->pe;
	int64_t id = kb_session_op(tl->ctx->s, op, &tl->ctx->err);
	if (id < 0)
		kb_throw(tl->ctx);
	return id;
}

/* ------------------------------------------------------------------ */
/* Program ids and arguments                                           */
/* ------------------------------------------------------------------ */

int tl_program_id(kb_tl *tl, int axis)
{
	if (axis != 0 && axis != 1)
		frontend__fail(tl, "program_id", "axis %d (0 = PE in cube, 1 = cube)", axis);
	return axis == 0 ? tl->pe : tl->cube;
}

int tl_num_programs(kb_tl *tl, int axis)
{
	if (axis != 0 && axis != 1)
		frontend__fail(tl, "num_programs", "axis %d (0 = PE in cube, 1 = cube)", axis);
	return tl->n_programs[axis];
}

static const kb_arg *find_arg(kb_tl *tl, const char *name, kb_arg_type type)
{
	static const char *const type_names[] = {"tensor", "int", "float", "pointer"};
	for (int i = 0; i < tl->n_args; i++) {
		if (strcmp(tl->args[i].name, name) != 0)
			continue;
		if (tl->args[i].type != type)
			frontend__fail(tl, "argument", "'%s' is a %s, read as a %s", name, type_names[tl->args[i].type],
				type_names[type]);
		return &tl->args[i];
	}
	frontend__fail(tl, "argument", "no argument named '%s'", name);
}

uint64_t tl_arg_base(kb_tl *tl, const char *name)
{
	return find_arg(tl, name, KB_ARG_TENSOR)->tensor->va;
}

uint64_t tl_arg_ptr(kb_tl *tl, const char *name)
{
	const kb_tensor *t = find_arg(tl, name, KB_ARG_TENSOR)->tensor;
	for (size_t i = 0; i < t->n_shards; i++)
		if (t->shards[i].cube == tl->cube && t->shards[i].pe == tl->pe)
			return t->va + t->shards[i].offset_bytes;
	frontend__fail(tl, "arg_ptr", "tensor '%s' has no shard on this PE", t->name);
}

int64_t tl_arg_int(kb_tl *tl, const char *name)
{
	return find_arg(tl, name, KB_ARG_INT)->i;
}

void *tl_arg_ptr_user(kb_tl *tl, const char *name)
{
	return find_arg(tl, name, KB_ARG_PTR)->p;
}

double tl_arg_float(kb_tl *tl, const char *name)
{
	return find_arg(tl, name, KB_ARG_FLOAT)->f;
}

/* ------------------------------------------------------------------ */
/* DMA                                                                 */
/* ------------------------------------------------------------------ */

/* Names the tensor whose VA range is nearest va, and whether its map
 * reaches this PE's cube, for unmapped-address errors. */
static void nearest_tensor(kb_ctx *ctx, uint64_t va, char *buf, size_t cap)
{
	const kb_tensor *best = NULL;
	uint64_t best_d = UINT64_MAX;
	for (const kb_tensor *t = ctx->tensors; t; t = t->next) {
		uint64_t d = va < t->va ? t->va - va : va >= t->va + t->va_bytes ? va - (t->va + t->va_bytes) + 1 : 0;
		if (d < best_d) {
			best_d = d;
			best = t;
		}
	}
	if (!best)
		snprintf(buf, cap, "no tensor exists");
	else if (best_d == 0)
		snprintf(buf, cap, "inside tensor '%s' of device %d, which is not mapped on this PE's cube", best->name,
			 best->rank);
	else
		snprintf(buf, cap, "nearest tensor '%s' spans 0x%llx..0x%llx", best->name, (unsigned long long)best->va,
			 (unsigned long long)(best->va + best->va_bytes));
}

/* The memory operand for [va, +rows x cols) with a row stride (elements). */
kb_operand frontend__memory_operand(kb_tl *tl, const char *op, uint64_t va, kb_shape shape, int64_t stride,
				 kb_dtype dtype)
{
	size_t isz = kb_dtype_size(dtype);
	int64_t rows = shape.ndim == 1 ? 1 : shape.d[0];
	int64_t cols = kb_shape_numel(shape) / rows;
	uint64_t span = (uint64_t)((rows - 1) * (stride ? stride : cols) + cols) * isz;
	const kb_mapping *map = kb_mmu_lookup(tl->ctx->s, tl->sip, tl->cube, tl->pe, va, span);
	if (!map) {
		char near[200];
		nearest_tensor(tl->ctx, va, near, sizeof near);
		frontend__fail(tl, op, "VA 0x%llx (+%llu bytes) is not mapped on this PE (%s)", (unsigned long long)va,
			(unsigned long long)span, near);
	}
	if (map->dtype != dtype)
		frontend__fail(tl, op, "%s access to a %s tensor at VA 0x%llx", kb_dtype_name(dtype), kb_dtype_name(map->dtype),
			(unsigned long long)va);
	return (kb_operand){map->space, dtype, frontend__shape_id_or_throw(tl->ctx, shape), va, map->pa + (va - map->va)};
}

static kb_tile *load(kb_tl *tl, uint64_t va, kb_shape shape, int64_t stride, kb_dtype dtype)
{
	if (stride && (shape.ndim != 2 || stride < shape.d[1]))
		frontend__fail(tl, "load", "row stride %lld needs a 2-D shape no wider than it", (long long)stride);
	kb_op op = {.kind = KB_OP_DMA_READ, .attr = stride};
	op.a = frontend__memory_operand(tl, "load", va, shape, stride, dtype);
	kb_tile *t = frontend__new_tile(tl, "load", shape, dtype);
	op.dst = frontend__tile_operand(t);
	op.bytes = (int64_t)t->nbytes;
	frontend__record(tl, &op);
	return t;
}

static void store(kb_tl *tl, uint64_t va, kb_tile *t, int64_t stride)
{
	frontend__use(tl, "store", t);
	if (stride && (t->shape.ndim != 2 || stride < t->shape.d[1]))
		frontend__fail(tl, "store", "row stride %lld needs a 2-D tile no wider than it", (long long)stride);
	kb_op op = {.kind = KB_OP_DMA_WRITE, .attr = stride, .bytes = (int64_t)t->nbytes};
	op.a = frontend__tile_operand(t);
	op.dst = frontend__memory_operand(tl, "store", va, t->shape, stride, t->dtype);
	frontend__record(tl, &op);
}

kb_tile *tl_load_strided(kb_tl *tl, uint64_t va, kb_shape shape, int64_t stride, kb_dtype dtype)
{
	if (stride < 1)
		frontend__fail(tl, "load", "row stride %lld must be >= 1", (long long)stride);
	return load(tl, va, shape, stride, dtype);
}

void tl_store_strided(kb_tl *tl, uint64_t va, kb_tile *t, int64_t stride)
{
	if (stride < 1)
		frontend__fail(tl, "store", "row stride %lld must be >= 1", (long long)stride);
	store(tl, va, t, stride);
}

kb_tile *tl_load(kb_tl *tl, uint64_t va, kb_shape shape, kb_dtype dtype)
{
	return load(tl, va, shape, 0, dtype);
}

void tl_store(kb_tl *tl, uint64_t va, kb_tile *t)
{
	store(tl, va, t, 0);
}

/* ------------------------------------------------------------------ */
/* GEMM                                                                */
/* ------------------------------------------------------------------ */

/* Checks a·b and returns M, N, K. */
static void dot_dims(kb_tl *tl, const char *op, kb_tile *a, kb_tile *b, int flags, int64_t *M, int64_t *N, int64_t *K)
{
	frontend__use(tl, op, a);
	frontend__use(tl, op, b);
	char sa[64], sb[64]; /* the shapes as text, made only for an error */
	if (a->shape.ndim != 2 || b->shape.ndim != 2) {
		shape_text(a->shape, sa, sizeof sa);
		shape_text(b->shape, sb, sizeof sb);
		frontend__fail(tl, op, "operands must be 2-D, got %s and %s", sa, sb);
	}
	if (a->dtype != b->dtype)
		frontend__fail(tl, op, "operand dtypes differ (%s and %s)", kb_dtype_name(a->dtype), kb_dtype_name(b->dtype));
	int64_t am = a->shape.d[(flags & TL_TRANS_A) ? 1 : 0], ak = a->shape.d[(flags & TL_TRANS_A) ? 0 : 1];
	int64_t bk = b->shape.d[(flags & TL_TRANS_B) ? 1 : 0], bn = b->shape.d[(flags & TL_TRANS_B) ? 0 : 1];
	if (ak != bk) {
		shape_text(a->shape, sa, sizeof sa);
		shape_text(b->shape, sb, sizeof sb);
		frontend__fail(tl, op, "inner dimensions differ: %s%s x %s%s", sa, (flags & TL_TRANS_A) ? "^T" : "", sb,
			       (flags & TL_TRANS_B) ? "^T" : "");
	}
	*M = am;
	*N = bn;
	*K = ak;
}

static void record_gemm(kb_tl *tl, kb_tile *a, kb_tile *b, kb_tile *out, kb_tile *acc, int flags, int64_t M,
			int64_t N, int64_t K)
{
	kb_op op = {.kind = KB_OP_GEMM, .attr = flags | (acc ? KB_GEMM_ACCUMULATE : 0),
			.flops = 2 * M * N * K, .bytes = (int64_t)(a->nbytes + b->nbytes + out->nbytes)};
	op.a = frontend__tile_operand(a);
	op.b = frontend__tile_operand(b);
	op.dst = frontend__tile_operand(out); /* with KB_GEMM_ACCUMULATE, dst is read too */
	frontend__record(tl, &op);
}

kb_tile *tl_dot(kb_tl *tl, kb_tile *a, kb_tile *b, int flags)
{
	int64_t M, N, K;
	dot_dims(tl, "dot", a, b, flags, &M, &N, &K);
	kb_tile *out = frontend__new_tile(tl, "dot", KB_SHAPE(M, N), KB_F32);
	record_gemm(tl, a, b, out, NULL, flags, M, N, K);
	return out;
}

void tl_dot_acc(kb_tl *tl, kb_tile *acc, kb_tile *a, kb_tile *b, int flags)
{
	int64_t M, N, K;
	dot_dims(tl, "dot_acc", a, b, flags, &M, &N, &K);
	frontend__use(tl, "dot_acc", acc);
	if (acc->dtype != KB_F32 || !same_shape(acc->shape, KB_SHAPE(M, N))) {
		char s[64];
		shape_text(acc->shape, s, sizeof s);
		frontend__fail(tl, "dot_acc", "accumulator must be f32 (%lld,%lld), got %s %s", (long long)M, (long long)N,
			kb_dtype_name(acc->dtype), s);
	}
	record_gemm(tl, a, b, acc, acc, flags, M, N, K);
}

/* ------------------------------------------------------------------ */
/* Math                                                                */
/* ------------------------------------------------------------------ */

/* numpy broadcasting of up to three shapes (right-aligned). */
static kb_shape broadcast(kb_tl *tl, const char *op, kb_tile *const *in, int n)
{
	kb_shape out = {0, {1, 1, 1, 1}};
	for (int i = 0; i < n; i++)
		if (in[i]->shape.ndim > out.ndim)
			out.ndim = in[i]->shape.ndim;
	for (int d = 0; d < out.ndim; d++) {
		int64_t ext = 1;
		for (int i = 0; i < n; i++) {
			int k = in[i]->shape.ndim - out.ndim + d;
			int64_t e = k < 0 ? 1 : in[i]->shape.d[k];
			if (e != 1 && ext != 1 && e != ext) {
				char s0[64], s1[64];
				shape_text(in[0]->shape, s0, sizeof s0);
				shape_text(in[i]->shape, s1, sizeof s1);
				frontend__fail(tl, op, "shapes %s and %s do not broadcast", s0, s1);
			}
			if (e != 1)
				ext = e;
		}
		out.d[d] = ext;
	}
	return out;
}

static kb_tile *elementwise(kb_tl *tl, kb_op_kind kind, kb_tile *a, kb_tile *b, kb_tile *c, double imm)
{
	const char *op = kb_op_kind_name(kind);
	kb_tile *in[3] = {a, b, c};
	int n = c ? 3 : b ? 2 : 1;
	for (int i = 0; i < n; i++) {
		frontend__use(tl, op, in[i]);
		if (in[i]->dtype != a->dtype)
			frontend__fail(tl, op, "operand dtypes differ (%s and %s); convert with tl_cast",
				kb_dtype_name(a->dtype), kb_dtype_name(in[i]->dtype));
	}
	kb_tile *out = frontend__new_tile(tl, op, broadcast(tl, op, in, n), a->dtype);
	int64_t numel = kb_shape_numel(out->shape);
	kb_op row = {.kind = kind, .imm = imm, .flops = numel, .bytes = (int64_t)out->nbytes};
	row.a = frontend__tile_operand(a);
	if (b)
		row.b = frontend__tile_operand(b);
	if (c)
		row.c = frontend__tile_operand(c);
	row.dst = frontend__tile_operand(out);
	frontend__record(tl, &row);
	return out;
}

kb_tile *tl_add(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_ADD, a, b, NULL, 0); }
kb_tile *tl_sub(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_SUB, a, b, NULL, 0); }
kb_tile *tl_mul(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_MUL, a, b, NULL, 0); }
kb_tile *tl_div(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_DIV, a, b, NULL, 0); }
kb_tile *tl_maximum(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_MAXIMUM, a, b, NULL, 0); }
kb_tile *tl_minimum(kb_tl *tl, kb_tile *a, kb_tile *b) { return elementwise(tl, KB_OP_MATH_MINIMUM, a, b, NULL, 0); }
kb_tile *tl_fma(kb_tl *tl, kb_tile *a, kb_tile *b, kb_tile *c) { return elementwise(tl, KB_OP_MATH_FMA, a, b, c, 0); }
kb_tile *tl_clamp(kb_tl *tl, kb_tile *x, kb_tile *lo, kb_tile *hi) { return elementwise(tl, KB_OP_MATH_CLAMP, x, lo, hi, 0); }
kb_tile *tl_exp(kb_tl *tl, kb_tile *x) { return elementwise(tl, KB_OP_MATH_EXP, x, NULL, NULL, 0); }
kb_tile *tl_log(kb_tl *tl, kb_tile *x) { return elementwise(tl, KB_OP_MATH_LOG, x, NULL, NULL, 0); }
kb_tile *tl_sqrt(kb_tl *tl, kb_tile *x) { return elementwise(tl, KB_OP_MATH_SQRT, x, NULL, NULL, 0); }
kb_tile *tl_abs(kb_tl *tl, kb_tile *x) { return elementwise(tl, KB_OP_MATH_ABS, x, NULL, NULL, 0); }
kb_tile *tl_neg(kb_tl *tl, kb_tile *x) { return elementwise(tl, KB_OP_MATH_NEG, x, NULL, NULL, 0); }
kb_tile *tl_add_scalar(kb_tl *tl, kb_tile *x, double v) { return elementwise(tl, KB_OP_MATH_ADD_S, x, NULL, NULL, v); }
kb_tile *tl_mul_scalar(kb_tl *tl, kb_tile *x, double v) { return elementwise(tl, KB_OP_MATH_MUL_S, x, NULL, NULL, v); }

/* Reductions and softmax along axis (negative counts from the end). */
static kb_tile *along_axis(kb_tl *tl, kb_op_kind kind, kb_tile *x, int axis)
{
	const char *op = kb_op_kind_name(kind);
	frontend__use(tl, op, x);
	int ax = axis < 0 ? x->shape.ndim + axis : axis;
	if (ax < 0 || ax >= x->shape.ndim)
		frontend__fail(tl, op, "axis %d out of range for a %d-D tile", axis, x->shape.ndim);
	kb_shape s = x->shape;
	if (kind != KB_OP_MATH_SOFTMAX)
		s.d[ax] = 1;
	kb_tile *out = frontend__new_tile(tl, op, s, x->dtype);
	int64_t n = kb_shape_numel(x->shape);
	kb_op row = {.kind = kind, .attr = ax, .flops = kind == KB_OP_MATH_SOFTMAX ? KB_SOFTMAX_PASSES * n : n,
			 .bytes = (int64_t)out->nbytes};
	row.a = frontend__tile_operand(x);
	row.dst = frontend__tile_operand(out);
	frontend__record(tl, &row);
	return out;
}

kb_tile *tl_max(kb_tl *tl, kb_tile *x, int axis) { return along_axis(tl, KB_OP_MATH_MAX, x, axis); }
kb_tile *tl_sum(kb_tl *tl, kb_tile *x, int axis) { return along_axis(tl, KB_OP_MATH_SUM, x, axis); }
kb_tile *tl_softmax(kb_tl *tl, kb_tile *x, int axis) { return along_axis(tl, KB_OP_MATH_SOFTMAX, x, axis); }

/* A unary op whose result has its own shape or dtype (trans, cast). */
static kb_tile *reshaped(kb_tl *tl, kb_op_kind kind, kb_tile *x, kb_shape shape, kb_dtype dtype)
{
	kb_tile *out = frontend__new_tile(tl, kb_op_kind_name(kind), shape, dtype);
	kb_op row = {.kind = kind, .flops = kb_shape_numel(shape), .bytes = (int64_t)out->nbytes};
	if (x)
		row.a = frontend__tile_operand(x);
	row.dst = frontend__tile_operand(out);
	frontend__record(tl, &row);
	return out;
}

kb_tile *tl_trans(kb_tl *tl, kb_tile *x)
{
	frontend__use(tl, "trans", x);
	if (x->shape.ndim != 2)
		frontend__fail(tl, "trans", "needs a 2-D tile, got %d-D", x->shape.ndim);
	return reshaped(tl, KB_OP_MATH_TRANS, x, KB_SHAPE(x->shape.d[1], x->shape.d[0]), x->dtype);
}

kb_tile *tl_cast(kb_tl *tl, kb_tile *x, kb_dtype dtype)
{
	frontend__use(tl, "cast", x);
	if (!kb_dtype_size(dtype))
		frontend__fail(tl, "cast", "unknown dtype");
	return reshaped(tl, KB_OP_MATH_CAST, x, x->shape, dtype);
}

kb_tile *tl_full(kb_tl *tl, kb_shape shape, kb_dtype dtype, double value)
{
	kb_tile *out = frontend__new_tile(tl, "full", shape, dtype);
	kb_op row = {.kind = KB_OP_MATH_FILL, .imm = value, .flops = kb_shape_numel(shape),
			 .bytes = (int64_t)out->nbytes};
	row.dst = frontend__tile_operand(out);
	frontend__record(tl, &row);
	return out;
}

kb_tile *tl_view(kb_tl *tl, kb_tile *x, kb_shape shape)
{
	frontend__use(tl, "view", x);
	if (kb_shape_numel(shape) != kb_shape_numel(x->shape)) {
		char a[64], b[64];
		shape_text(x->shape, a, sizeof a);
		shape_text(shape, b, sizeof b);
		frontend__fail(tl, "view", "%s has %lld elements, %s has %lld", a, (long long)kb_shape_numel(x->shape), b,
			(long long)kb_shape_numel(shape));
	}
	kb_tile *v = take_struct(tl, "view");
	kb_tile *keep = v->next;
	*v = *x;
	v->next = keep;
	v->shape = shape;
	v->shape_id = frontend__shape_id_or_throw(tl->ctx, shape);
	v->owner = x->owner ? x->owner : x;
	return v;
}

/* ------------------------------------------------------------------ */
/* Library: tiled GEMM from memory to memory                           */
/* ------------------------------------------------------------------ */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void tl_gemm_tiled(kb_tl *tl, uint64_t a_va, uint64_t b_va, uint64_t c_va, int64_t M, int64_t K, int64_t N,
		   int64_t tm, int64_t tn, int64_t tk, kb_dtype in_dtype, kb_dtype c_dtype)
{
	if (M < 1 || K < 1 || N < 1 || tm < 1 || tn < 1 || tk < 1)
		frontend__fail(tl, "gemm_tiled", "sizes must be positive (M=%lld K=%lld N=%lld tiles %lldx%lldx%lld)",
			(long long)M, (long long)K, (long long)N, (long long)tm, (long long)tn, (long long)tk);
	size_t isz = kb_dtype_size(in_dtype), osz = kb_dtype_size(c_dtype);
	for (int64_t m0 = 0; m0 < M; m0 += tm) {
		int64_t mt = min64(tm, M - m0);
		for (int64_t n0 = 0; n0 < N; n0 += tn) {
			int64_t nt = min64(tn, N - n0);
			kb_tile *acc = NULL;
			for (int64_t k0 = 0; k0 < K; k0 += tk) {
				int64_t kt = min64(tk, K - k0);
				bool whole_a = kt == K, whole_b = nt == N;
				kb_tile *a = load(tl, a_va + (uint64_t)(m0 * K + k0) * isz, KB_SHAPE(mt, kt),
						  whole_a ? 0 : K, in_dtype);
				kb_tile *b = load(tl, b_va + (uint64_t)(k0 * N + n0) * isz, KB_SHAPE(kt, nt),
						  whole_b ? 0 : N, in_dtype);
				if (acc)
					tl_dot_acc(tl, acc, a, b, 0);
				else
					acc = tl_dot(tl, a, b, 0);
				tl_free(tl, a);
				tl_free(tl, b);
			}
			kb_tile *out = c_dtype == KB_F32 ? acc : tl_cast(tl, acc, c_dtype);
			store(tl, c_va + (uint64_t)(m0 * N + n0) * osz, out, nt == N ? 0 : N);
			if (out != acc)
				tl_free(tl, out);
			tl_free(tl, acc);
		}
	}
}
