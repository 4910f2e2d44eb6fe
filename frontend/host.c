/*
 * host.c — the host runtime of a trace: devices, tensors, host writes,
 * launches, expectations, ranges and bench parameters.
 *
 * Every device action becomes ops on the rank's host stream (host_write,
 * host_fill, launch) or, inside a launch, on the PEs that run the kernel.
 * Errors unwind (longjmp) to kb_trace_bench, which drops the temporary
 * trace; all memory is owned by the ctx, so nothing leaks on that path.
 */
#include "frontend_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tensor's element count (its 2-D view must stay addressable). */
#define KB_MAX_TENSOR_NUMEL (INT64_C(1) << 40)

/* Calls that fill ctx->err on failure. */
#define CHECK(ctx, call) \
	do { \
		if ((call) < 0) \
			kb_throw(ctx); \
	} while (0)

void kb_set_device(kb_ctx *ctx, int rank)
{
	if (rank < 0 || rank >= ctx->m->n_sips)
		kb_fatal(ctx, "set_device(%d): no such device (%d SIPs)", rank, ctx->m->n_sips);
	ctx->rank = rank;
}

int kb_get_rank(kb_ctx *ctx)
{
	return ctx->rank;
}

const kb_machine *kb_ctx_machine(kb_ctx *ctx)
{
	return ctx->m;
}

void kb_spawn(kb_ctx *ctx, void (*worker)(kb_ctx *, int, void *), void *arg, int nprocs)
{
	if (nprocs < 1 || nprocs > ctx->m->n_sips)
		kb_fatal(ctx, "spawn: nprocs=%d but the system has %d SIPs (rank = SIP)", nprocs, ctx->m->n_sips);
	int saved = ctx->rank;
	for (int r = 0; r < nprocs; r++) {
		kb_set_device(ctx, r);
		worker(ctx, r, arg);
	}
	ctx->rank = saved;
}

static int param_index(kb_ctx *ctx, const char *name)
{
	for (int i = 0; i < KB_MAX_PARAMS && ctx->bench->params[i].name; i++)
		if (strcmp(ctx->bench->params[i].name, name) == 0)
			return i;
	kb_fatal(ctx, "bench '%s' has no parameter '%s'", ctx->bench->name, name);
}

int64_t kb_param_int(kb_ctx *ctx, const char *name)
{
	double v = ctx->params[param_index(ctx, name)];
	if (v != floor(v))
		kb_fatal(ctx, "%s.%s=%g must be an integer", ctx->bench->name, name, v);
	if (fabs(v) > 9007199254740992.0) /* 2^53: beyond, doubles skip integers and int64 may overflow */
		kb_fatal(ctx, "%s.%s=%g is out of range (|value| <= 2^53)", ctx->bench->name, name, v);
	return (int64_t)v;
}

double kb_param_float(kb_ctx *ctx, const char *name)
{
	return ctx->params[param_index(ctx, name)];
}

void kb_param_set(kb_ctx *ctx, const char *name, double value)
{
	ctx->params[param_index(ctx, name)] = value;
}

void *kb_host_alloc(kb_ctx *ctx, size_t bytes)
{
	host_block *b = malloc(sizeof *b + bytes);
	if (!b)
		kb_fatal(ctx, "out of host memory (%zu bytes requested)", bytes);
	b->prev = NULL;
	b->next = ctx->host_blocks;
	if (b->next)
		b->next->prev = b;
	ctx->host_blocks = b;
	return b->data;
}

void kb_host_free(kb_ctx *ctx, void *p)
{
	if (!p)
		return;
	host_block *b = (host_block *)((char *)p - offsetof(host_block, data));
	if (b->prev)
		b->prev->next = b->next;
	else
		ctx->host_blocks = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b);
}

void kb_fill_random(float *data, int64_t n, uint64_t seed, float scale)
{
	uint64_t x = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
	for (int64_t i = 0; i < n; i++) {
		/* splitmix64 */
		uint64_t z = (x += UINT64_C(0x9E3779B97F4A7C15));
		z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
		z ^= z >> 31;
		data[i] = scale * (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
	}
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

static void host_op(kb_ctx *ctx, kb_op *op)
{
	if (kb_session_op(ctx->s, op, &ctx->err) < 0)
		kb_throw(ctx);
}

/* Shard indices ordered by offset: replicas (same offset) end up adjacent. */
static int by_offset(const void *x, const void *y, void *tensor)
{
	const kb_shard *shards = ((const kb_tensor *)tensor)->shards;
	const kb_shard *a = &shards[*(const size_t *)x], *b = &shards[*(const size_t *)y];
	if (a->offset_bytes != b->offset_bytes)
		return a->offset_bytes < b->offset_bytes ? -1 : 1;
	return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

/* How far a copy on (cube, pe) is from PE (c, p): own, same cube, other. */
static int distance(const kb_shard *sh, int c, int p)
{
	return sh->cube == c ? sh->pe != p : 2;
}

/* Installs t's map on every PE of SIP sip in the cubes holding t, as the
 * seeds' MmuMapMsg(target_pe="all") does: every VA range of the tensor,
 * each to the copy nearest the PE (its own, else one in its cube), so a
 * kernel reads any shard by VA. One map message per cube is recorded on
 * sip's host stream as control traffic (KB_MMU_ENTRY_BYTES per range). */
static void map_tensor(kb_ctx *ctx, kb_tensor *t, int sip)
{
	const kb_machine *m = ctx->m;
	size_t n = t->n_shards, *order = kb_host_alloc(ctx, n * sizeof *order);
	bool holds[KB_MAX_CUBES] = {false};
	size_t n_ranges = 0;
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		holds[t->shards[i].cube] = true;
	}
	qsort_r(order, n, sizeof *order, by_offset, t);
	for (size_t i = 0; i < n; i++)
		n_ranges += i == 0 || t->shards[order[i]].offset_bytes != t->shards[order[i - 1]].offset_bytes;
	for (int c = 0; c < m->n_cubes; c++) {
		if (!holds[c])
			continue;
		for (int p = 0; p < m->pes_per_cube; p++)
			for (size_t i = 0; i < n;) {
				size_t best = order[i], j = i;
				for (; j < n && t->shards[order[j]].offset_bytes == t->shards[order[i]].offset_bytes; j++)
					if (distance(&t->shards[order[j]], c, p) < distance(&t->shards[best], c, p))
						best = order[j];
				const kb_shard *sh = &t->shards[best];
				kb_mapping map = {t->va + sh->offset_bytes, sh->nbytes, t->shard_pa[best], t->dp.mem, t->dtype,
						  t->id};
				CHECK(ctx, kb_mmu_map(ctx->s, sip, c, p, &map, &ctx->err));
				i = j;
			}
		kb_op op = {.sip = sip, .cube = c, .pe = -1, .kind = KB_OP_MMU_MAP, .attr = (int64_t)n_ranges,
				.bytes = (int64_t)n_ranges * KB_MMU_ENTRY_BYTES};
		host_op(ctx, &op);
	}
	kb_host_free(ctx, order);
}

static kb_tensor *create_tensor(kb_ctx *ctx, const char *name, kb_shape shape, kb_dtype dtype, kb_dp dp)
{
	if (shape.ndim < 1 || shape.ndim > 4)
		kb_fatal(ctx, "tensor '%s': %d dimensions (1 to 4 supported)", name, shape.ndim);
	if (strlen(name) >= sizeof ((kb_tensor *)0)->name)
		kb_fatal(ctx, "tensor name '%.40s...' is longer than %zu characters", name, sizeof ((kb_tensor *)0)->name - 1);
	int64_t numel = 1;
	for (int i = 0; i < shape.ndim; i++) {
		if (shape.d[i] < 1 || shape.d[i] > INT32_MAX)
			kb_fatal(ctx, "tensor '%s': dimension %d is %lld (1..%d)", name, i, (long long)shape.d[i], INT32_MAX);
		if (__builtin_mul_overflow(numel, shape.d[i], &numel) || numel > KB_MAX_TENSOR_NUMEL)
			kb_fatal(ctx, "tensor '%s': more than 2^40 elements", name);
	}
	if (!kb_dtype_size(dtype))
		kb_fatal(ctx, "tensor '%s': unknown dtype", name);
	for (kb_tensor *t = ctx->tensors; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			kb_fatal(ctx, "tensor '%s' already exists", name);
	if (!dp.mem)
		dp.mem = KB_SPACE_HBM;
	kb_tensor *t = calloc(1, sizeof *t);
	if (!t)
		kb_fatal(ctx, "out of memory");
	t->next = ctx->tensors;
	ctx->tensors = t;
	snprintf(t->name, sizeof t->name, "%s", name);
	t->shape = shape;
	t->dtype = dtype;
	t->dp = dp;
	t->rank = ctx->rank;
	t->rows = shape.d[0];
	t->cols = kb_shape_numel(shape) / shape.d[0];
	if (shape.ndim == 1) { /* a vector is one row */
		t->rows = 1;
		t->cols = shape.d[0];
	}
	size_t isz = kb_dtype_size(dtype);
	CHECK(ctx, kb_dp_resolve(&dp, ctx->m, ctx->rank, t->rows, t->cols, isz, &t->shards, &t->n_shards, &ctx->err));
	t->shard_pa = calloc(t->n_shards, sizeof *t->shard_pa);
	if (!t->shard_pa)
		kb_fatal(ctx, "out of memory");
	for (size_t i = 0; i < t->n_shards; i++)
		if (t->shards[i].offset_bytes + t->shards[i].nbytes > t->va_bytes)
			t->va_bytes = t->shards[i].offset_bytes + t->shards[i].nbytes;
	CHECK(ctx, kb_va_alloc(ctx->s, t->va_bytes, &t->va, &ctx->err));

	char placement[160];
	kb_dp_format(&dp, placement, sizeof placement);
	t->shape_id = frontend__shape_id_or_throw(ctx, shape);
	kb_tensor_row row = {t->name, t->rank, dtype, t->shape_id, t->va, (uint64_t)kb_shape_numel(shape) * isz,
			     placement};
	t->id = kb_session_tensor(ctx->s, &row, &ctx->err);
	if (t->id < 0)
		kb_throw(ctx);
	for (size_t i = 0; i < t->n_shards; i++) {
		const kb_shard *sh = &t->shards[i];
		uint64_t off;
		if (kb_mem_alloc(ctx->s, dp.mem, sh->sip, sh->cube, sh->pe, sh->nbytes, &off, &ctx->err)) {
			char why[sizeof ctx->err.msg];
			snprintf(why, sizeof why, "%s", ctx->err.msg);
			kb_fatal(ctx, "tensor '%s' shard %zu: %s", t->name, i, why);
		}
		t->shard_pa[i] = kb_mem_pa(ctx->s, dp.mem, sh->sip, sh->cube, sh->pe, off);
		kb_shard_row sr = {t->id, sh->sip, sh->cube, sh->pe, dp.mem, t->va + sh->offset_bytes, t->shard_pa[i],
				   sh->offset_bytes, sh->nbytes, sh->row0, sh->col0, sh->rows, sh->cols};
		CHECK(ctx, kb_session_shard(ctx->s, &sr, &ctx->err));
	}
	map_tensor(ctx, t, t->rank);
	return t;
}

/* The operand describing shard i of t. */
static kb_operand shard_operand(kb_ctx *ctx, const kb_tensor *t, size_t i)
{
	const kb_shard *sh = &t->shards[i];
	kb_shape s = KB_SHAPE(sh->rows, sh->cols);
	return (kb_operand){t->dp.mem, t->dtype, frontend__shape_id_or_throw(ctx, s), t->va + sh->offset_bytes, t->shard_pa[i]};
}

kb_tensor *kb_zeros(kb_ctx *ctx, const char *name, kb_shape shape, kb_dtype dtype, kb_dp dp)
{
	kb_tensor *t = create_tensor(ctx, name, shape, dtype, dp);
	for (size_t i = 0; i < t->n_shards; i++) {
		kb_op op = {.sip = t->shards[i].sip, .cube = t->shards[i].cube, .pe = t->shards[i].pe,
				.kind = KB_OP_HOST_FILL, .bytes = (int64_t)t->shards[i].nbytes};
		op.dst = shard_operand(ctx, t, i);
		host_op(ctx, &op);
	}
	return t;
}

void kb_rand(kb_ctx *ctx, kb_tensor *t, uint64_t seed, float scale)
{
	if (!(scale > 0) || scale > 65504)
		kb_fatal(ctx, "rand '%s': scale %g is not in (0, 65504]", t->name, scale);
	for (size_t i = 0; i < t->n_shards; i++) {
		const kb_shard *sh = &t->shards[i];
		kb_op op = {.sip = sh->sip, .cube = sh->cube, .pe = sh->pe, .kind = KB_OP_HOST_FILL,
				.bytes = (int64_t)sh->nbytes, .attr = (int64_t)kb_rand_block_seed(seed, sh->row0, sh->col0),
				.imm = scale};
		op.dst = shard_operand(ctx, t, i);
		host_op(ctx, &op);
	}
}

float kb_rand_value(const kb_tensor *t, uint64_t seed, float scale, int64_t row, int64_t col)
{
	for (size_t i = 0; i < t->n_shards; i++) {
		const kb_shard *sh = &t->shards[i];
		if (row >= sh->row0 && row < sh->row0 + sh->rows && col >= sh->col0 && col < sh->col0 + sh->cols)
			return kb_dtype_round(t->dtype, kb_rand_elem(kb_rand_block_seed(seed, sh->row0, sh->col0),
					(uint64_t)((row - sh->row0) * sh->cols + (col - sh->col0)), scale));
	}
	return 0;
}

kb_tensor *kb_empty(kb_ctx *ctx, const char *name, kb_shape shape, kb_dtype dtype, kb_dp dp)
{
	return create_tensor(ctx, name, shape, dtype, dp);
}

kb_shape kb_tensor_shape(const kb_tensor *t)
{
	return t->shape;
}

uint64_t kb_tensor_va(const kb_tensor *t)
{
	return t->va;
}

static void check_mine(kb_ctx *ctx, const kb_tensor *t, const char *what)
{
	if (t->rank != ctx->rank)
		kb_fatal(ctx, "%s: tensor '%s' lives on device %d, current device is %d", what, t->name, t->rank,
			 ctx->rank);
}

void kb_map_peer(kb_ctx *ctx, kb_tensor *t)
{
	if (t->rank == ctx->rank)
		kb_fatal(ctx, "map_peer: tensor '%s' already lives on device %d", t->name, t->rank);
	map_tensor(ctx, t, ctx->rank);
}

/* Host-writes every shard of t, shard by shard (no whole-tensor array):
 * row(arg, r, c0, n, out) gives elements [r, c0 .. c0 + n) as f32. */
typedef void (*row_fn)(const void *arg, int64_t r, int64_t c0, int64_t n, float *out);

static void write_shards(kb_ctx *ctx, kb_tensor *t, row_fn row, const void *arg)
{
	size_t isz = kb_dtype_size(t->dtype), most = 1;
	int64_t cols = 1;
	for (size_t i = 0; i < t->n_shards; i++) {
		most = t->shards[i].nbytes > most ? t->shards[i].nbytes : most;
		cols = t->shards[i].cols > cols ? t->shards[i].cols : cols;
	}
	/* one buffer for every shard (a fresh one each cost its page faults);
	 * f32 rows are made in place, f16 ones converted from a row of f32 */
	unsigned char *buf = kb_host_alloc(ctx, most);
	float *vals = t->dtype == KB_F16 ? kb_host_alloc(ctx, (size_t)cols * sizeof *vals) : NULL;
	for (size_t i = 0; i < t->n_shards; i++) {
		const kb_shard *sh = &t->shards[i];
		for (int64_t r = 0; r < sh->rows; r++) {
			unsigned char *out = buf + (size_t)(r * sh->cols) * isz;
			if (t->dtype != KB_F16) {
				row(arg, sh->row0 + r, sh->col0, sh->cols, (float *)out);
				continue;
			}
			row(arg, sh->row0 + r, sh->col0, sh->cols, vals);
			for (int64_t c = 0; c < sh->cols; c++) {
				uint16_t h = kb_f32_to_f16(vals[c]);
				memcpy(out + (size_t)c * 2, &h, 2);
			}
		}
		int64_t blob = kb_session_blob(ctx->s, "host_data", t->dtype, isz, buf, sh->nbytes, &ctx->err);
		if (blob < 0)
			kb_throw(ctx);
		kb_op op = {.sip = sh->sip, .cube = sh->cube, .pe = sh->pe, .kind = KB_OP_HOST_WRITE,
			    .bytes = (int64_t)sh->nbytes, .blob = blob};
		op.dst = shard_operand(ctx, t, i);
		host_op(ctx, &op);
	}
	kb_host_free(ctx, buf);
	if (vals)
		kb_host_free(ctx, vals);
}

typedef struct host_array {
	const float *data;
	int64_t cols;
} host_array;

static void array_row(const void *arg, int64_t r, int64_t c0, int64_t n, float *out)
{
	const host_array *a = arg;
	memcpy(out, a->data + r * a->cols + c0, (size_t)n * sizeof *out);
}

static void constant_row(const void *arg, int64_t r, int64_t c0, int64_t n, float *out)
{
	(void)c0;
	float v = ((const float *)arg)[r];
	for (int64_t c = 0; c < n; c++)
		out[c] = v;
}

void kb_copy_from_host(kb_ctx *ctx, kb_tensor *t, const float *data)
{
	check_mine(ctx, t, "copy_from_host");
	host_array a = {data, t->cols};
	write_shards(ctx, t, array_row, &a);
}

void kb_copy_rows_from_host(kb_ctx *ctx, kb_tensor *t, const float *row_values)
{
	check_mine(ctx, t, "copy_rows_from_host");
	write_shards(ctx, t, constant_row, row_values);
}

/* Tolerances inside 0..KB_MAX_RTOL / KB_MAX_ATOL and finite expected
 * values: a check that would pass anything is refused at trace time. */
static void expect_sane(kb_ctx *ctx, const kb_tensor *t, const float *expected, size_t n, double rtol, double atol)
{
	if (!(rtol >= 0 && rtol <= KB_MAX_RTOL && atol >= 0 && atol <= KB_MAX_ATOL))
		kb_fatal(ctx, "expect '%s': tolerances rtol %g, atol %g are outside 0..%g and 0..%g", t->name, rtol, atol,
			 KB_MAX_RTOL, KB_MAX_ATOL);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(expected[i]))
			kb_fatal(ctx, "expect '%s': expected value %zu is %g (not finite)", t->name, i, (double)expected[i]);
}

void kb_expect(kb_ctx *ctx, kb_tensor *t, const float *expected, double rtol, double atol)
{
	expect_sane(ctx, t, expected, (size_t)(t->rows * t->cols), rtol, atol);
	size_t n = (size_t)(t->rows * t->cols) * sizeof(float);
	int64_t blob = kb_session_blob(ctx->s, "expected", KB_F32, sizeof(float), expected, n, &ctx->err);
	if (blob < 0 || kb_session_expect(ctx->s, t->id, blob, 0, rtol, atol, &ctx->err))
		kb_throw(ctx);
}

void kb_expect_ramp(kb_ctx *ctx, kb_tensor *t, double value, double per_row, double per_col, double rtol,
		    double atol)
{
	/* the corners bound every value of a ramp */
	float corners[4];
	for (int k = 0; k < 4; k++)
		corners[k] = (float)(value + per_row * (double)(k & 1 ? t->rows - 1 : 0) +
				     per_col * (double)(k & 2 ? t->cols - 1 : 0));
	expect_sane(ctx, t, corners, 4, rtol, atol);
	if (kb_session_expect_ramp(ctx->s, t->id, value, per_row, per_col, rtol, atol, &ctx->err))
		kb_throw(ctx);
}

void kb_expect_row_values(kb_ctx *ctx, kb_tensor *t, const float *row_values, double rtol, double atol)
{
	double step = t->rows > 1 ? (double)row_values[1] - (double)row_values[0] : 0;
	bool even = true;
	for (int64_t r = 0; r < t->rows && even; r++)
		even = (float)((double)row_values[0] + step * (double)r) == row_values[r];
	if (even) {
		kb_expect_ramp(ctx, t, row_values[0], step, 0, rtol, atol);
		return;
	}
	float *all = kb_host_alloc(ctx, (size_t)(t->rows * t->cols) * sizeof *all);
	for (int64_t r = 0; r < t->rows; r++)
		for (int64_t c = 0; c < t->cols; c++)
			all[r * t->cols + c] = row_values[r];
	kb_expect(ctx, t, all, rtol, atol);
	kb_host_free(ctx, all);
}

void kb_expect_rows(kb_ctx *ctx, kb_tensor *t, const int64_t *rows, int n_rows, const float *expected, double rtol,
		    double atol)
{
	if (n_rows < 1)
		kb_fatal(ctx, "expect_rows '%s': no rows", t->name);
	for (int k = 0; k < n_rows; k++)
		if (rows[k] < 0 || rows[k] >= t->rows || (k && rows[k] <= rows[k - 1]))
			kb_fatal(ctx, "expect_rows '%s': row %lld is not ascending inside 0..%lld", t->name, (long long)rows[k],
				 (long long)t->rows - 1);
	expect_sane(ctx, t, expected, (size_t)n_rows * (size_t)t->cols, rtol, atol);
	size_t n = (size_t)n_rows * (size_t)t->cols * sizeof(float);
	int64_t blob = kb_session_blob(ctx->s, "expected", KB_F32, sizeof(float), expected, n, &ctx->err);
	int64_t rb = blob < 0 ? -1
			      : kb_session_blob(ctx->s, "rows", 0, sizeof(int64_t), rows, (size_t)n_rows * sizeof *rows,
						&ctx->err);
	if (rb < 0 || kb_session_expect(ctx->s, t->id, blob, rb, rtol, atol, &ctx->err))
		kb_throw(ctx);
}

/* ------------------------------------------------------------------ */
/* Ranges                                                              */
/* ------------------------------------------------------------------ */

void kb_range_push(kb_ctx *ctx, const char *label)
{
	int r = ctx->rank, d = ctx->range_depth[r];
	if (d == MAX_RANGE_DEPTH)
		kb_fatal(ctx, "range_push('%s'): more than %d nested ranges", label, MAX_RANGE_DEPTH);
	int64_t parent = d ? ctx->range_stack[r][d - 1] : 0;
	int64_t id = kb_session_range(ctx->s, r, parent, label, &ctx->err);
	if (id < 0)
		kb_throw(ctx);
	ctx->range_stack[r][ctx->range_depth[r]++] = id;
}

void kb_range_pop(kb_ctx *ctx)
{
	int r = ctx->rank;
	if (!ctx->range_depth[r])
		kb_fatal(ctx, "range_pop on device %d without a matching range_push", r);
	int64_t id = ctx->range_stack[r][--ctx->range_depth[r]];
	CHECK(ctx, kb_session_range_end(ctx->s, id, &ctx->err));
}

/* ------------------------------------------------------------------ */
/* Launch                                                              */
/* ------------------------------------------------------------------ */

static void format_args(const kb_arg *args, int n, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && o < cap; i++) {
		const kb_arg *a = &args[i];
		if (a->type == KB_ARG_TENSOR)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s=tensor:%s@0x%llx", i ? " " : "", a->name,
					      a->tensor->name, (unsigned long long)a->tensor->va);
		else if (a->type == KB_ARG_INT)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s=i64:%lld", i ? " " : "", a->name, (long long)a->i);
		else if (a->type == KB_ARG_PTR) /* a host pointer: its value would make traces differ run to run */
			o += (size_t)snprintf(buf + o, cap - o, "%s%s=ptr", i ? " " : "", a->name);
		else
			o += (size_t)snprintf(buf + o, cap - o, "%s%s=f64:%.17g", i ? " " : "", a->name, a->f);
	}
}

void kb_launch(kb_ctx *ctx, const char *name, kb_kernel_fn kernel, const kb_arg *args, int n_args)
{
	kb_launch_id(ctx, name, kernel, args, n_args);
}

int64_t kb_launch_id(kb_ctx *ctx, const char *name, kb_kernel_fn kernel, const kb_arg *args, int n_args)
{
	const kb_machine *m = ctx->m;
	bool run[KB_MAX_CUBES][KB_MAX_PES] = {{false}};
	int n_pes = 0, max_cube = -1, max_pe = -1;
	for (int i = 0; i < n_args; i++) {
		if (!args[i].name || !*args[i].name)
			kb_fatal(ctx, "launch '%s': argument %d has no name", name, i);
		for (int j = 0; j < i; j++)
			if (strcmp(args[i].name, args[j].name) == 0)
				kb_fatal(ctx, "launch '%s': argument '%s' given twice", name, args[i].name);
		if (args[i].type != KB_ARG_TENSOR)
			continue;
		kb_tensor *t = args[i].tensor;
		if (!t)
			kb_fatal(ctx, "launch '%s': tensor argument '%s' is NULL", name, args[i].name);
		check_mine(ctx, t, name);
		for (size_t s = 0; s < t->n_shards; s++) {
			const kb_shard *sh = &t->shards[s];
			if (!run[sh->cube][sh->pe]) {
				run[sh->cube][sh->pe] = true;
				n_pes++;
			}
			if (sh->cube > max_cube)
				max_cube = sh->cube;
			if (sh->pe > max_pe)
				max_pe = sh->pe;
		}
	}
	if (!n_pes)
		kb_fatal(ctx, "launch '%s': no tensor argument, so no PE to run on", name);
	char args_text[2048];
	format_args(args, n_args, args_text, sizeof args_text);

	kb_op op = {.sip = ctx->rank, .cube = -1, .pe = -1, .kind = KB_OP_LAUNCH, .attr = n_pes};
	int64_t host_op_id = kb_session_op(ctx->s, &op, &ctx->err);
	if (host_op_id < 0)
		kb_throw(ctx);
	int64_t launch = kb_session_launch(ctx->s, ctx->rank, name, host_op_id, n_pes, args_text, &ctx->err);
	if (launch < 0)
		kb_throw(ctx);
	int64_t first = kb_session_next_op(ctx->s);
	for (int c = 0; c < m->n_cubes; c++)
		for (int p = 0; p < m->pes_per_cube; p++) {
			if (!run[c][p])
				continue;
			kb_tl tl = {ctx, ctx->rank, c, p, launch, name, args, n_args, {max_pe + 1, max_cube + 1}};
			kb_scratch_reset(ctx->s, ctx->rank, c, p);
			kernel(&tl);
			frontend__tile_release(ctx);
		}
	CHECK(ctx, kb_session_launch_end(ctx->s, launch, first, &ctx->err));
	return launch;
}
