/*
 * replay.c — kb-replay's driver: load the ops and a timing run, replay
 * them in event order against sparse memory, check causality and verify
 * the expectations.
 */
#include "replay_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 12 bytes, two per op: replay order is (t, key), key = is_read << 31 | op
 * (writes before reads at equal times, then op id). */
typedef struct __attribute__((packed)) event {
	int64_t t;
	uint32_t key;
} event;

#define EV_READ (UINT32_C(1) << 31)

typedef struct blob_cache {
	int64_t id;
	void *data;
	size_t n;
} blob_cache;

/* The rows an expectation checks: all (n = 0), or some, whose expected
 * values are the blob's rows in order (stored) or the rows themselves. */
typedef struct ex_rows {
	int64_t tensor, blob;
	int64_t *rows;
	int n;
	bool stored;
	double rtol, atol;
	bool ramp;                /* no blob: value + per_row * row + per_col * col */
	double value, per_row, per_col;
} ex_rows;

typedef struct replay {
	kb_db *db;
	const kb_machine *m;
	const kb_replay_options *opt;
	kb_replay_report *rep;
	shape4 *shapes;
	int64_t n_shapes;
	opstore ops;              /* packed; op_at() decodes one */
	struct { int32_t id; rop op; } *recent; /* ops decoded by op_read, by id mod RECENT, for op_write */
	int32_t n;
	int32_t *expect_writer;   /* per op: the newest writer its reads should see */
	int32_t *order;           /* a topological order of the dependency graph */
	void **pending;           /* per op: its result between read and write */
	blob_cache *blobs;        /* decoded host data, freed after its last host write */
	size_t n_blobs, cap_blobs;
	int32_t *blob_uses;       /* per blob id: host writes not yet done */
	struct ex_rows *ex;       /* per expectation (by id order): the rows checked */
	int n_ex;
	uint8_t *in_slice;        /* NULL: every op runs */
	mem *mem;
	bool fatal;               /* corrupt input: stop replaying */
	scratch raw, in[4], tmp[3]; /* per-op working buffers, reused */
	uint64_t budget;          /* bytes of simulated memory replay may hold */
} replay;

__attribute__((format(printf, 2, 3)))
static void problem(replay *r, const char *fmt, ...)
{
	kb_replay_report *rep = r->rep;
	rep->n_problems++;
	if (rep->n_kept >= r->opt->max_problems)
		return;
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char **p = realloc(rep->problems, (size_t)(rep->n_kept + 1) * sizeof *p);
	if (!p)
		return;
	rep->problems = p;
	if ((p[rep->n_kept] = strdup(line)))
		rep->n_kept++;
}

#define RECENT 4096 /* ops in flight between their read and their write, most of them */

/* Op i (0-based), decoded into *buf. */
static const rop *op_at(const replay *r, int32_t i, rop *buf)
{
	replay__opstore_get(&r->ops, i, r->shapes, r->n_shapes, buf);
	return buf;
}

static const char *op_name(const replay *r, int32_t i, char *buf, size_t cap)
{
	rop ob;
	const rop *o = op_at(r, i, &ob);
	if (o->cube < 0)
		snprintf(buf, cap, "op %d (%s on sip%d.host)", i + 1, kb_op_kind_name((kb_op_kind)o->kind), o->sip);
	else
		snprintf(buf, cap, "op %d (%s on sip%d.cube%d.pe%d)", i + 1, kb_op_kind_name((kb_op_kind)o->kind), o->sip,
			 o->cube, o->pe);
	return buf;
}

static void pa_text(const replay *r, uint64_t pa, char *buf, size_t cap)
{
	kb_physaddr d;
	if (kb_pa_decode(r->m, pa, &d, NULL) == 0)
		kb_pa_format(&d, buf, cap);
	else
		snprintf(buf, cap, "0x%llx", (unsigned long long)pa);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static int load_shapes(replay *r, kb_error *err)
{
	return kb_read_shapes(r->db, &r->shapes, &r->n_shapes, err);
}

/* An operand's shape and dtype are ones replay can compute on. */
static int operand_ok(const replay *r, const kb_operand *x, kb_error *err)
{
	if (x->space && (x->shape < 1 || x->shape >= r->n_shapes || !replay__dtype_bytes(x->dtype)))
		return kb_fail(err, "an operand has shape %lld / dtype %d: the trace is damaged", (long long)x->shape,
			       x->dtype);
	return 0;
}

/* Replay computes in f32 buffers of each operand's element count: one
 * operand may take a quarter of the memory budget, at most 1 GiB. */
static uint64_t operand_budget(const replay *r)
{
	uint64_t q = r->budget / 4;
	return q < (UINT64_C(1) << 30) ? q : UINT64_C(1) << 30;
}

/* Shapes as the numerics index them: NULL if they agree with the kind. */
static const char *shapes_agree(const rop *o)
{
	const shape4 *d = o->dst.shape, *a = o->a.shape, *b = o->b.shape, *c = o->c.shape;
	switch (o->kind) {
	case KB_OP_GEMM: {
		if (a->ndim != 2 || b->ndim != 2 || d->ndim != 2)
			return "a_shape / b_shape / dst_shape: a GEMM's operands are 2-D";
		bool ta = o->attr & KB_GEMM_TRANS_A, tb = o->attr & KB_GEMM_TRANS_B;
		int64_t M = ta ? a->d[1] : a->d[0], K = ta ? a->d[0] : a->d[1], K2 = tb ? b->d[1] : b->d[0];
		int64_t N = tb ? b->d[0] : b->d[1];
		if (K != K2 || d->d[0] != M || d->d[1] != N)
			return "a_shape / b_shape / dst_shape / attr: the GEMM's dimensions do not agree";
		return NULL;
	}
	case KB_OP_MATH_MAX: case KB_OP_MATH_SUM: case KB_OP_MATH_SOFTMAX: {
		if (o->attr < 0 || o->attr >= a->ndim)
			return "attr: the reduction axis is not a dimension of a";
		int64_t keep = o->kind == KB_OP_MATH_SOFTMAX ? a->numel : a->numel / a->d[o->attr];
		return d->numel == keep ? NULL : "dst_shape: does not match the reduction of a";
	}
	case KB_OP_MATH_TRANS:
		return a->ndim == 2 && d->numel == a->numel ? NULL : "a_shape / dst_shape: a transpose of a 2-D tile";
	case KB_OP_MATH_FILL: case KB_OP_HOST_FILL: case KB_OP_HOST_WRITE: case KB_OP_LAUNCH: case KB_OP_MMU_MAP:
	case KB_OP_IPCQ_INIT:
		return NULL;
	default:
		break;
	}
	if (kb_op_is_dma(o->kind))
		return a->numel == d->numel ? NULL : "a_shape / dst_shape: a copy moves as many elements as it writes";
	/* elementwise: each input broadcasts to dst (numpy rules, right-aligned) */
	const shape4 *in[3] = {a, o->b.space ? b : NULL, o->c.space ? c : NULL};
	for (int k = 0; k < 3; k++) {
		if (!in[k])
			continue;
		if (in[k]->ndim > d->ndim)
			return "a_shape / b_shape / dst_shape: an input has more dimensions than dst";
		for (int j = 0; j < in[k]->ndim; j++) {
			int64_t x = in[k]->d[in[k]->ndim - 1 - j], y = d->d[d->ndim - 1 - j];
			if (x != 1 && x != y)
				return "a_shape / b_shape / dst_shape: an input does not broadcast to dst";
		}
	}
	return NULL;
}

/* Refuses what a damaged trace could hold: unknown kinds, PEs outside the
 * machine, addresses that are not memory of the space they claim or run
 * past its end, operands over the budget, shapes the numerics would index
 * out of bounds. */
static int check_op(const replay *r, const rop *o, int32_t i, kb_error *err)
{
	const kb_machine *m = r->m;
	bool host_stream = kb_op_is_control(o->kind);
	if (o->kind <= KB_OP_NONE || o->kind >= KB_OP_KIND_COUNT || o->sip < 0 || o->sip >= m->n_sips ||
	    o->cube >= m->n_cubes || o->pe >= m->pes_per_cube || (!host_stream && (o->cube < 0 || o->pe < 0)))
		return kb_fail(err, "op %d: kind %d on sip%d.cube%d.pe%d does not fit this trace's machine: the trace is damaged",
			       i + 1, o->kind, o->sip, o->cube, o->pe);
	const rop_operand *x[4] = {&o->dst, &o->a, &o->b, &o->c};
	bool strided = kb_op_is_dma(o->kind);
	for (int k = 0; k < 4; k++) {
		kb_error why;
		if (!x[k]->space)
			continue;
		if (x[k]->dtype != KB_F16 && x[k]->dtype != KB_F32)
			return kb_fail(err, "ops row %d: dtype %d is not f16 or f32: the trace is damaged", i + 1, x[k]->dtype);
		/* the bytes it covers: rows at the row stride for a DMA's memory side */
		const shape4 *sh = x[k]->shape;
		int64_t rows = sh->ndim == 1 ? 1 : sh->d[0], cols = sh->numel / rows;
		int64_t stride = strided && ((k == 1) == kb_op_memory_is_a(o->kind)) && o->attr ? o->attr : cols;
		if (stride < cols)
			return kb_fail(err, "ops row %d: row stride %lld is narrower than the %lld-element rows: the trace is"
					    " damaged", i + 1, (long long)stride, (long long)cols);
		uint64_t span = (uint64_t)((rows - 1) * stride + cols) * replay__dtype_bytes(x[k]->dtype);
		if (kb_pa_check_range(m, x[k]->pa, span, x[k]->space, &why))
			return kb_fail(err, "op %d: %s: the trace is damaged", i + 1, why.msg);
		if ((uint64_t)sh->numel * 4 > operand_budget(r))
			return kb_fail(err, "ops row %d: an operand of %lld elements is over replay's %llu MiB per operand",
				       i + 1, (long long)sh->numel, (unsigned long long)(operand_budget(r) >> 20));
	}
	const char *bad = shapes_agree(o);
	if (bad)
		return kb_fail(err, "ops row %d: %s: the trace is damaged", i + 1, bad);
	return 0;
}

static int load_ops(replay *r, kb_error *err)
{
	kb_op_reader *rd;
	int64_t n;
	if (kb_read_op_count(r->db, &n, err) || kb_op_reader_start(r->db, n, &rd, err))
		return -1;
	r->n = (int32_t)n;
	int oom = replay__opstore_init(&r->ops, r->n);
	r->recent = malloc(RECENT * sizeof *r->recent); /* an optimisation: none if memory is short */
	for (int k = 0; r->recent && k < RECENT; k++)
		r->recent[k].id = -1;
	r->pending = kb_calloc_big((size_t)n + 1, sizeof *r->pending);
	r->expect_writer = kb_calloc_big((size_t)n + 1, sizeof *r->expect_writer);
	r->blob_uses = calloc((size_t)kb_db_counts_of(r->db)->blobs + 1, sizeof *r->blob_uses);
	if (oom || !r->pending || !r->expect_writer || !r->blob_uses) {
		kb_op_reader_stop(rd);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld ops", (long long)n);
	}
	int rc = 0, more;
	int32_t i = 0;
	const kb_op *rows;
	size_t n_rows;
	while (!rc && (more = kb_op_reader_next(rd, &rows, &n_rows, err)) == 1) {
		for (size_t k = 0; k < n_rows && !rc; k++, i++) {
			const kb_op *rec = &rows[k];
			rop ob, *o = &ob;
			rc = operand_ok(r, &rec->dst, err) || operand_ok(r, &rec->a, err) || operand_ok(r, &rec->b, err) ||
			     operand_ok(r, &rec->c, err);
			if (rc)
				break;
			replay__rop_of(rec, r->shapes, r->n_shapes, o);
			rc = kb_op_is_opaque(o->kind, o->attr)
				     ? kb_fail(err, "ops row %d: opaque work (flops without operands): a timing-only trace"
						    " has no values to replay", i + 1)
				     : check_op(r, o, i, err);
			if (!rc && (o->kind == KB_OP_MATH_FMA || o->kind == KB_OP_MATH_CLAMP) && !o->c.space)
				rc = kb_fail(err, "ops row %d: op_operands: this kind reads a third operand: the trace is"
						  " damaged", i + 1);
			if (!rc && replay__opstore_put(&r->ops, rec))
				rc = kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld ops", (long long)n);
			if (o->kind == KB_OP_HOST_WRITE && o->blob > 0) /* checked: 1..blobs */
				r->blob_uses[o->blob]++;
			if (!rc && o->kind == KB_OP_GEMM)
				r->rep->total_gemm_flops += 2 * o->dst.shape->numel *
							    (o->attr & KB_GEMM_TRANS_A ? o->a.shape->d[0] : o->a.shape->d[1]);
			if (rc)
				more = -1;
		}
	}
	kb_op_reader_stop(rd);
	return more < 0 || rc ? -1 : 0;
}

typedef struct event_sink {
	event *ev;
	size_t n;
} event_sink;

static int add_events(void *ctx, int64_t op, int64_t t0, int64_t t1, kb_error *err)
{
	(void)err;
	event_sink *e = ctx;
	e->ev[e->n++] = (event){t0, (uint32_t)(op - 1) | EV_READ};
	e->ev[e->n++] = (event){t1, (uint32_t)(op - 1)};
	return 0;
}

/* The timing run to replay in time order (before anything is loaded: a
 * missing run is reported at once). */
static int find_run(replay *r, kb_error *err)
{
	int64_t run;
	if (kb_read_run(r->db, r->opt->run, &run, r->rep->run, sizeof r->rep->run, err))
		return -1;
	r->rep->run_id = run;
	char have[256];
	if (!run && r->opt->run) {
		kb_read_run_labels(r->db, have, sizeof have);
		return kb_fail_status(err, KB_E_NOT_FOUND, "%s: no timing run labelled '%s' (runs: %s)", kb_db_path(r->db),
				      r->opt->run, have);
	}
	if (!run)
		return kb_fail_status(err, KB_E_NOT_FOUND,
				      "%s: no timing run (run kb-time first, or replay with --order dataflow)", kb_db_path(r->db));
	return 0;
}

/* The run's op times as read/write events in replay order. */
static int load_events(replay *r, event **out, size_t *n_out, kb_error *err)
{
	int64_t run = r->rep->run_id;
	event_sink e = {kb_calloc_big(2 * ((size_t)r->n + 1), sizeof *e.ev), 0};
	if (!e.ev)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (kb_read_op_times(r->db, run, r->n, add_events, &e, err)) {
		free(e.ev);
		return -1;
	}
	*out = e.ev;
	*n_out = e.n;
	return 0;
}

/* Sorts events by (t, key): a stable LSD radix sort, 16 bits a pass, over
 * the key's 32 bits and as many of t's as the latest event needs (times
 * are >= 0, checked by the reader); 3-5 linear passes instead of qsort's
 * n log n calls. -1: out of memory for the second buffer. */
static inline size_t event_digit(event e, int pass)
{
	uint64_t v = pass < 2 ? e.key >> (16 * pass) : (uint64_t)e.t >> (16 * (pass - 2));
	return (size_t)(v & 0xffff);
}

static int sort_events(event *ev, size_t n)
{
	if (n < 2)
		return 0;
	uint64_t t_max = 0;
	for (size_t i = 0; i < n; i++)
		if ((uint64_t)ev[i].t > t_max)
			t_max = (uint64_t)ev[i].t;
	int t_passes = 0;
	while (t_passes < 4 && t_max >> (16 * t_passes)) /* a shift by 64 is undefined */
		t_passes++;
	event *tmp = kb_calloc_big(n, sizeof *tmp);
	size_t *count = malloc(65536 * sizeof *count);
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return -1;
	}
	event *src = ev, *dst = tmp;
	for (int pass = 0; pass < 2 + t_passes; pass++) {
		memset(count, 0, 65536 * sizeof *count);
		for (size_t i = 0; i < n; i++)
			count[event_digit(src[i], pass)]++;
		size_t at = 0;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];
			count[d] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[event_digit(src[i], pass)]++] = src[i];
		event *x = src;
		src = dst;
		dst = x;
	}
	if (src != ev)
		memcpy(ev, src, n * sizeof *ev);
	free(tmp);
	free(count);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Executing ops                                                       */
/* ------------------------------------------------------------------ */

/* The row stride of an operand (only the memory side of a DMA has one). */
static int64_t stride_of(const rop *o, const rop_operand *x)
{
	if (!kb_op_is_dma(o->kind))
		return 0;
	return (x == &o->a) == kb_op_memory_is_a(o->kind) ? o->attr : 0;
}

/* The inputs op i reads, in replay__compute()'s order (a, b, c, dst if accumulating). */
static int inputs(const rop *o, const rop_operand *x[4])
{
	x[0] = o->a.space ? &o->a : NULL;
	x[1] = o->b.space ? &o->b : NULL;
	x[2] = o->c.space ? &o->c : NULL;
	x[3] = o->kind == KB_OP_GEMM && (o->attr & KB_GEMM_ACCUMULATE) ? &o->dst : NULL;
	return 4;
}

/* Reads operand x of op o (bytes, contiguous) into buf; accumulates ri. */
static int read_operand(mem *m, const rop *o, const rop_operand *x, void *buf, read_info *ri)
{
	span_iter s = replay__operand_spans(x, stride_of(o, x));
	uint8_t *dst = buf;
	for (size_t row = 0; row < s.rows; row++) {
		if (replay__mem_read(m, s.pa + row * s.stride_bytes, dst, s.row_bytes, ri))
			return -1;
		if (dst)
			dst += s.row_bytes;
	}
	return 0;
}

static int write_result(mem *m, const rop *o, const void *buf, int32_t writer)
{
	span_iter s = replay__operand_spans(&o->dst, stride_of(o, &o->dst));
	const uint8_t *src = buf;
	for (size_t row = 0; row < s.rows; row++) {
		if (replay__mem_write(m, s.pa + row * s.stride_bytes, src, s.row_bytes, writer))
			return -1;
		if (src)
			src += s.row_bytes;
	}
	return 0;
}

static const void *blob_data(replay *r, const rop *o, int32_t i, kb_error *err)
{
	int64_t id = o->blob;
	for (size_t k = 0; k < r->n_blobs; k++)
		if (r->blobs[k].id == id)
			return r->blobs[k].data;
	void *data;
	size_t n;
	int dtype;
	kb_error why;
	if (kb_db_blob_get(r->db, id, &data, &n, &dtype, &why)) {
		char name[96];
		problem(r, "%s: its host data is corrupt: %s", op_name(r, i, name, sizeof name), why.msg);
		r->fatal = true;
		return NULL;
	}
	span_iter s = replay__operand_spans(&o->dst, 0);
	if (n != s.row_bytes) {
		free(data);
		kb_fail(err, "op %d: host data blob %lld has %zu bytes for a %zu-byte write", i + 1, (long long)id, n,
			s.row_bytes);
		return NULL;
	}
	if (kb_grow(&r->blobs, &r->cap_blobs, r->n_blobs + 1, sizeof *r->blobs, 16)) {
		free(data);
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		return NULL;
	}
	r->blobs[r->n_blobs++] = (blob_cache){id, data, n};
	return data;
}

/* Reports what a read found wrong: unwritten bytes, or a write it should
 * (not) have seen. */
static void check_read(replay *r, int32_t i, const read_info *ri, bool check_order)
{
	char name[96], where[64], other[96];
	if (ri->unwritten && check_order && r->expect_writer[i] > 0 && ri->max_writer < r->expect_writer[i]) {
		problem(r, "%s read its input before %s wrote it (timing broke causality)", op_name(r, i, name, sizeof name),
			op_name(r, r->expect_writer[i] - 1, other, sizeof other));
		return;
	}
	if (ri->unwritten) {
		pa_text(r, ri->first_unwritten, where, sizeof where);
		problem(r, "%s reads %lld bytes nothing wrote, from %s", op_name(r, i, name, sizeof name),
			(long long)ri->unwritten, where);
		return;
	}
	if (!check_order || ri->max_writer == r->expect_writer[i])
		return;
	if (ri->max_writer < r->expect_writer[i])
		problem(r, "%s read its input before %s wrote it (timing broke causality)", op_name(r, i, name, sizeof name),
			op_name(r, r->expect_writer[i] - 1, other, sizeof other));
	else
		problem(r, "%s overwrote the input of %s before it was read (timing broke causality)",
			op_name(r, ri->max_writer - 1, other, sizeof other), op_name(r, i, name, sizeof name));
}

/* The read half of op i: gather inputs, compute the result. */
static int op_read(replay *r, int32_t i, bool check_order, kb_error *err)
{
	rop ob;
	const rop *o = op_at(r, i, &ob);
	if (r->recent) { /* kept for its write */
		r->recent[i % RECENT].id = i;
		r->recent[i % RECENT].op = ob;
	}
	if (kb_op_is_control(o->kind))
		return 0;
	size_t out_bytes = (size_t)o->dst.shape->numel * replay__dtype_bytes(o->dst.dtype);
	if (o->kind == KB_OP_HOST_FILL) {
		if (!o->attr)
			return 0; /* writes zeros */
		int64_t n = o->dst.shape->numel; /* a random fill: kb_rand_elem of the block's seed */
		float *v = replay__scratch_get(&r->tmp[2], (size_t)(n ? n : 1) * sizeof *v);
		void *out = malloc(out_bytes ? out_bytes : 1);
		if (!v || !out) {
			free(out);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
		for (int64_t j = 0; j < n; j++)
			v[j] = kb_rand_elem((uint64_t)o->attr, (uint64_t)j, (float)o->imm);
		replay__from_f32(o->dst.dtype, v, out, n);
		r->pending[i] = out;
		return 0;
	}
	if (o->kind == KB_OP_HOST_WRITE) {
		r->pending[i] = (void *)blob_data(r, o, i, err);
		return r->pending[i] || r->fatal ? 0 : -1;
	}
	const rop_operand *x[4];
	inputs(o, x);
	read_info ri = {0};
	void *out = malloc(out_bytes ? out_bytes : 1);
	if (!out)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (kb_op_is_dma(o->kind)) { /* a copy: bytes move unchanged */
		if (read_operand(r->mem, o, x[0], out, &ri)) {
			free(out);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
	} else {
		float *in[4] = {NULL};
		int rc = 0;
		double t0 = o->kind == KB_OP_GEMM ? kb_now_s() : 0; /* a GEMM's whole cost: conversions included */
		for (int k = 0; k < 4 && !rc; k++) {
			if (!x[k])
				continue;
			size_t n = (size_t)x[k]->shape->numel, raw_n = n * replay__dtype_bytes(x[k]->dtype);
			void *raw = replay__scratch_get(&r->raw, raw_n ? raw_n : 1);
			in[k] = replay__scratch_get(&r->in[k], (n ? n : 1) * sizeof(float));
			rc = !raw || !in[k] || read_operand(r->mem, o, x[k], raw, &ri);
			if (!rc)
				replay__to_f32(x[k]->dtype, raw, in[k], (int64_t)n);
		}
		if (!rc)
			rc = replay__compute(o, in, out, r->tmp, &r->rep->gemm_flops);
		if (o->kind == KB_OP_GEMM)
			r->rep->gemm_s += kb_now_s() - t0;
		if (rc) {
			free(out);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
	}
	check_read(r, i, &ri, check_order);
	r->pending[i] = out;
	return 0;
}

/* The write half of op i: its result lands in memory. */
static int op_write(replay *r, int32_t i, kb_error *err)
{
	rop ob;
	const rop *o = r->recent && r->recent[i % RECENT].id == i ? &r->recent[i % RECENT].op : op_at(r, i, &ob);
	if (o->kind == KB_OP_LAUNCH || !o->dst.space)
		return 0;
	if (write_result(r->mem, o, r->pending[i], i + 1))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if ((uint64_t)replay__mem_pages(r->mem) * PAGE_BYTES > r->budget)
		return kb_fail(err, "op %d: the simulated memory written passes replay's budget of %llu MiB", i + 1,
			       (unsigned long long)(r->budget >> 20));
	if (o->kind != KB_OP_HOST_WRITE)
		free(r->pending[i]);
	else if (o->blob > 0 && --r->blob_uses[o->blob] == 0)
		for (size_t k = 0; k < r->n_blobs; k++)
			if (r->blobs[k].id == o->blob) { /* its last write: drop it from the cache */
				free(r->blobs[k].data);
				r->blobs[k] = r->blobs[--r->n_blobs];
				break;
			}
	r->pending[i] = NULL;
	return 0;
}

/* Trace order: which write each op's reads should see (newest writer). */
/* ---- dataflow order ----
 * Trace order is not causal once ranks talk (rank 0's recv is traced
 * before rank 1's send), so the dataflow order is a topological order of
 * the dependencies: program order per PE and host stream, launch before
 * its ops, the host op after a launch after all of them, send k before
 * recv k, recv k - n_slots before send k. Among ready ops the lowest id
 * goes first, so it is trace order wherever that is causal. */

typedef struct dgraph {
	int32_t *head, *next_edge, *to; /* adjacency lists */
	int32_t *pending;
	size_t n_edges, cap;
} dgraph;

static int dedge(dgraph *d, int32_t from, int32_t to)
{
	if (from < 0 || to < 0 || from == to)
		return 0;
	if (d->n_edges == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		int32_t *ne = realloc(d->next_edge, cap * sizeof *ne);
		if (!ne)
			return -1;
		d->next_edge = ne;
		int32_t *t = realloc(d->to, cap * sizeof *t);
		if (!t)
			return -1;
		d->to = t;
		d->cap = cap;
	}
	d->to[d->n_edges] = to;
	d->next_edge[d->n_edges] = d->head[from];
	d->head[from] = (int32_t)d->n_edges++;
	d->pending[to]++;
	return 0;
}

typedef struct rchan {
	int32_t *send, *recv;
	size_t n_send, n_recv;
	int64_t n_slots;
} rchan;

static int chan_put(int32_t **v, size_t *n, int64_t k, int32_t op)
{
	if (k < 0 || k >= INT32_MAX)
		return -1;
	if ((size_t)k >= *n) {
		int32_t *g = realloc(*v, ((size_t)k + 1) * sizeof *g);
		if (!g)
			return -1;
		memset(g + *n, 0xff, ((size_t)k + 1 - *n) * sizeof *g);
		*v = g;
		*n = (size_t)k + 1;
	}
	(*v)[k] = op;
	return 0;
}

static int dataflow_order(replay *r, kb_error *err)
{
	const kb_machine *m = r->m;
	int32_t n = r->n;
	int rc = -1;
	dgraph d = {0};
	rchan *ch = NULL;
	int64_t n_ch = 0, n_launch = 0;
	int32_t *launch_op = NULL, *after = NULL, *last_pe = NULL, *last_host = NULL, *heap = NULL;
	kb_channel_rec *recs = NULL;
	int64_t *host_op = NULL;
	if (kb_read_channels(r->db, &recs, &n_ch, err))
		return -1;
	ch = calloc((size_t)n_ch + 1, sizeof *ch);
	if (!ch) {
		free(recs);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	for (int64_t c = 0; c < n_ch; c++)
		ch[c + 1].n_slots = recs[c].n_slots;
	free(recs);
	if (kb_read_launches(r->db, n, &host_op, &n_launch, err))
		goto out;
	free(host_op); /* launches are numbered in host-op order, as the ops say */
	launch_op = malloc(((size_t)n_launch + 1) * sizeof *launch_op);
	after = malloc(((size_t)n_launch + 1) * sizeof *after);
	last_pe = malloc((size_t)m->n_pes * sizeof *last_pe);
	last_host = malloc((size_t)m->n_sips * sizeof *last_host);
	d.head = kb_calloc_big((size_t)n + 1, sizeof *d.head);
	d.pending = kb_calloc_big((size_t)n + 1, sizeof *d.pending);
	heap = kb_calloc_big((size_t)n + 1, sizeof *heap);
	d.cap = 2 * (size_t)n + 1024; /* program order and messages: ~2 edges an op; grown past that */
	d.next_edge = kb_calloc_big(d.cap, sizeof *d.next_edge);
	d.to = kb_calloc_big(d.cap, sizeof *d.to);
	if (!launch_op || !after || !last_pe || !last_host || !d.head || !d.pending || !heap || !d.next_edge || !d.to) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto out;
	}
	memset(launch_op, 0xff, ((size_t)n_launch + 1) * sizeof *launch_op);
	memset(after, 0xff, ((size_t)n_launch + 1) * sizeof *after);
	memset(last_pe, 0xff, (size_t)m->n_pes * sizeof *last_pe);
	memset(last_host, 0xff, (size_t)m->n_sips * sizeof *last_host);
	memset(d.head, 0xff, ((size_t)n + 1) * sizeof *d.head);
	int64_t launches_seen = 0;
	for (int32_t i = 0; i < n; i++) {
		rop ob;
		const rop *o = op_at(r, i, &ob);
		bool host = o->launch == 0;
		if (o->launch < 0 || o->launch > n_launch) {
			kb_fail(err, "op %d: launch %lld does not exist: the trace is damaged", i + 1, (long long)o->launch);
			goto out;
		}
		int32_t *last = host ? &last_host[o->sip] : &last_pe[kb_pe_index(m, o->sip, o->cube, o->pe)];
		if (dedge(&d, *last, i))
			goto oom;
		*last = i;
		if (host) {
			if (o->kind == KB_OP_LAUNCH && launches_seen < n_launch)
				launch_op[++launches_seen] = i; /* launches are numbered in host-op order */
		} else {
			int32_t lop = launch_op[o->launch];
			/* the launch precedes its ops; the rank's next host op follows them */
			if (dedge(&d, lop, i))
				goto oom;
			if (after[o->launch] < 0) {
				int32_t k = lop + 1;
				int kind;
				int32_t sip, k_sip;
				int64_t launch;
				replay__opstore_head(&r->ops, lop >= 0 ? lop : i, &kind, &sip, &launch);
				for (; k < n; k++) {
					replay__opstore_head(&r->ops, k, &kind, &k_sip, &launch);
					if (launch == 0 && k_sip == sip)
						break;
				}
				after[o->launch] = k < n ? k : n;
			}
			if (after[o->launch] < n && dedge(&d, i, after[o->launch]))
				goto oom;
		}
		if ((o->kind == KB_OP_IPCQ_SEND || o->kind == KB_OP_IPCQ_RECV) && o->chan >= 1 && o->chan <= n_ch) {
			rchan *c = &ch[o->chan];
			bool send = o->kind == KB_OP_IPCQ_SEND;
			if (chan_put(send ? &c->send : &c->recv, send ? &c->n_send : &c->n_recv, o->chan_seq, i)) {
				kb_fail(err, "op %d: IPCQ message %lld: the trace is damaged", i + 1, (long long)o->chan_seq);
				goto out;
			}
		}
	}
	for (int64_t c = 1; c <= n_ch; c++)
		for (size_t k = 0; k < ch[c].n_send || k < ch[c].n_recv; k++) {
			int32_t snd = k < ch[c].n_send ? ch[c].send[k] : -1, rcv = k < ch[c].n_recv ? ch[c].recv[k] : -1;
			if (snd >= 0 && rcv >= 0 && dedge(&d, snd, rcv))
				goto oom;
			size_t j = k - (size_t)ch[c].n_slots;
			if (ch[c].n_slots > 0 && k >= (size_t)ch[c].n_slots && snd >= 0 && j < ch[c].n_recv &&
			    dedge(&d, ch[c].recv[j], snd))
				goto oom;
		}
	size_t hn = 0, out_n = 0;
	for (int32_t i = 0; i < n; i++)
		if (d.pending[i] == 0) {
			heap[hn++] = i;
			kb_heap32_up(heap, hn - 1);
		}
	while (hn) {
		int32_t i = kb_heap32_pop(heap, &hn);
		r->order[out_n++] = i;
		for (int32_t e = d.head[i]; e >= 0; e = d.next_edge[e])
			if (--d.pending[d.to[e]] == 0) {
				heap[hn++] = d.to[e];
				kb_heap32_up(heap, hn - 1);
			}
	}
	if (out_n < (size_t)n) { /* a cycle (an IPCQ deadlock): the rest in trace order */
		problem(r, "dataflow order: %lld ops wait on each other in a cycle (an IPCQ deadlock); they run in trace"
			   " order", (long long)((size_t)n - out_n));
		for (int32_t i = 0; i < n; i++)
			if (d.pending[i] > 0)
				r->order[out_n++] = i;
	}
	rc = 0;
	goto out;
oom:
	kb_fail_status(err, KB_E_NOMEM, "out of memory");
out:
	for (int64_t c = 0; ch && c <= n_ch; c++) {
		free(ch[c].send);
		free(ch[c].recv);
	}
	free(ch);
	free(launch_op);
	free(after);
	free(last_pe);
	free(last_host);
	free(heap);
	free(d.head);
	free(d.pending);
	free(d.next_edge);
	free(d.to);
	return rc;
}

/* One all_reduce call (its rows, one per rank) being summed up. */
typedef struct coll_group {
	replay *r;
	bool open;
	int64_t call, ws, ok, unchecked, wrong, bytes;
	char algo[64], fail[400];
} coll_group;

static int coll_flush(coll_group *g, kb_error *err)
{
	kb_replay_report *rep = g->r->rep;
	if (!g->open)
		return 0;
	g->open = false;
	char line[600];
	if (g->fail[0])
		snprintf(line, sizeof line, "[FAIL] %s (ws=%lld, %lld B): %.450s", g->algo, (long long)g->ws,
			 (long long)g->bytes, g->fail);
	else
		snprintf(line, sizeof line, "%s (ws=%lld, %lld B): %lld OK%s", g->algo, (long long)g->ws,
			 (long long)g->bytes, (long long)g->ok, g->unchecked ? " (some ranks have no expectation)" : "");
	char **p = realloc(rep->collectives, (size_t)(rep->n_collectives + 1) * sizeof *p);
	if (p)
		rep->collectives = p;
	int64_t *w = realloc(rep->coll_wrong, (size_t)(rep->n_collectives + 1) * sizeof *w);
	if (w)
		rep->coll_wrong = w;
	if (!p || !w || !(p[rep->n_collectives] = strdup(line)))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	w[rep->n_collectives] = g->unchecked ? -1 : g->wrong;
	rep->n_collectives++;
	return 0;
}

static int coll_row(void *ctx, const kb_collective_rec *c, kb_error *err)
{
	coll_group *g = ctx;
	const kb_replay_report *rep = g->r->rep;
	if (g->open && (c->call != g->call || strcmp(c->algorithm, g->algo) != 0) && coll_flush(g, err))
		return -1;
	if (!g->open) {
		*g = (coll_group){g->r, true, c->call, c->world_size, 0, 0, 0, c->bytes, "", ""};
		snprintf(g->algo, sizeof g->algo, "%s", c->algorithm);
	}
	const kb_expect_result *e = NULL;
	for (int k = 0; k < rep->n_expects && !e; k++)
		if (strcmp(rep->expects[k].tensor, c->tensor) == 0)
			e = &rep->expects[k];
	if (!e || e->problem[0])
		g->unchecked += c->n_shards;
	else
		g->wrong += e->mismatches;
	if (e && e->pass)
		g->ok += c->n_shards;
	else if (e && !g->fail[0] && e->problem[0])
		snprintf(g->fail, sizeof g->fail, "%s: %.200s", e->tensor, e->problem);
	else if (e && !g->fail[0])
		snprintf(g->fail, sizeof g->fail, "got %.6g at %s[%lld,%lld] on sip%d.cube%d.pe%d, expected %.6g", e->got,
			 e->tensor, (long long)e->row, (long long)e->col, e->sip, e->cube, e->pe, e->want);
	return 0;
}

/* One line per collective call, the seed's: ranks verified through the
 * expectations of the tensors it reduced (an expectation checks a tensor's
 * final contents, so a tensor reduced twice answers for both calls). */
static int collective_lines(replay *r, kb_error *err)
{
	coll_group g = {.r = r};
	return kb_read_collectives(r->db, coll_row, &g, err) || coll_flush(&g, err) ? -1 : 0;
}

static int expected_writers(replay *r, kb_error *err)
{
	mem *m = replay__mem_new(false);
	if (!m)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	int rc = 0;
	for (int32_t k = 0; k < r->n && !rc; k++) {
		int32_t i = r->order[k];
		rop ob;
		const rop *o = op_at(r, i, &ob);
		const rop_operand *x[4];
		inputs(o, x);
		read_info ri = {0};
		for (int k = 0; k < 4 && !rc; k++)
			if (x[k] && o->kind != KB_OP_HOST_WRITE && o->kind != KB_OP_HOST_FILL)
				rc = read_operand(m, o, x[k], NULL, &ri);
		r->expect_writer[i] = ri.max_writer;
		if (!rc && o->dst.space && o->kind != KB_OP_LAUNCH)
			rc = write_result(m, o, NULL, i + 1);
	}
	replay__mem_free(m);
	return rc ? kb_fail_status(err, KB_E_NOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------------ */
/* Sampled checks and the backward slice                               */
/* ------------------------------------------------------------------ */

/* The rows each expectation checks: those stored with it, or with
 * --sample N, N rows evenly spaced from the first to the last. */
static int load_samples(replay *r, kb_error *err)
{
	kb_expect_rec *ex;
	int n;
	if (kb_read_expectations(r->db, &ex, &n, err))
		return -1;
	int rc = 0;
	if (!(r->ex = calloc((size_t)(n ? n : 1), sizeof *r->ex))) {
		free(ex);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	for (int k = 0; k < n && !rc; k++) {
		ex_rows *x = &r->ex[r->n_ex++];
		*x = (ex_rows){ex[k].tensor, ex[k].blob, NULL, 0, false, ex[k].rtol, ex[k].atol, ex[k].ramp,
			       ex[k].value, ex[k].per_row, ex[k].per_col};
		kb_tensor_rec t;
		if (kb_read_tensor(r->db, x->tensor, &t, err)) {
			rc = -1;
			break;
		}
		int64_t n_rows = t.rows;
		if (ex[k].rows_blob) {
			void *data;
			size_t nb;
			kb_error why;
			if (kb_db_blob_get(r->db, ex[k].rows_blob, &data, &nb, NULL, &why)) {
				rc = kb_fail(err, "expectation %d: its sampled rows are corrupt: %s", k + 1, why.msg);
				break;
			}
			x->rows = data;
			x->n = (int)(nb / sizeof(int64_t));
			x->stored = true;
			if (nb == 0 || nb % sizeof(int64_t) || nb / sizeof(int64_t) > INT32_MAX / 2)
				rc = kb_fail(err, "expectation %d: %zu bytes of sampled rows: the trace is damaged", k + 1, nb);
			for (int j = 0; j < x->n && !rc; j++)
				if (x->rows[j] < 0 || x->rows[j] >= n_rows || (j && x->rows[j] <= x->rows[j - 1]))
					rc = kb_fail(err, "expectation %d: sampled row %lld is not ascending inside 0..%lld: the"
							  " trace is damaged", k + 1, (long long)x->rows[j], (long long)n_rows - 1);
		} else if (r->opt->sample > 0 && n_rows > r->opt->sample) {
			int m = r->opt->sample;
			if (!(x->rows = malloc((size_t)m * sizeof *x->rows))) {
				rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
				break;
			}
			for (int j = 0; j < m; j++) { /* first and last included, ascending, distinct */
				int64_t row = m == 1 ? 0 : (int64_t)j * (n_rows - 1) / (m - 1);
				if (!x->n || row > x->rows[x->n - 1])
					x->rows[x->n++] = row;
			}
		}
	}
	free(ex);
	return rc;
}

/* Appends the last writers of expectation x's checked rows (all of them
 * when it is not sampled), by shard. */
static int target_writers(replay *r, mem *m, const ex_rows *x, int32_t **v, size_t *n_v, size_t *cap, kb_error *err)
{
	kb_tensor_rec t;
	kb_shard_rec *sh;
	size_t n_sh;
	if (kb_read_tensor(r->db, x->tensor, &t, err) || kb_read_shards(r->db, x->tensor, &sh, &n_sh, err))
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n_sh && !rc; i++) {
		uint64_t row_bytes = (uint64_t)sh[i].cols * replay__dtype_bytes(t.dtype);
		if (!x->n) /* a whole expectation: every row */
			rc = replay__mem_writers(m, sh[i].pa, (size_t)sh[i].rows * row_bytes, v, n_v, cap, 0);
		for (int k = 0; k < x->n && !rc; k++)
			if (x->rows[k] >= sh[i].row0 && x->rows[k] < sh[i].row0 + sh[i].rows)
				rc = replay__mem_writers(m, sh[i].pa + (uint64_t)(x->rows[k] - sh[i].row0) * row_bytes, row_bytes, v, n_v,
						 cap, 0);
	}
	free(sh);
	return rc ? kb_fail_status(err, KB_E_NOMEM, "out of memory") : 0;
}

/* The backward slice of the sampled rows: a bookkeeping pass in dataflow
 * order records which ops wrote each op's inputs; from the last writers of
 * the sampled rows, every op reached through those edges (data through
 * memory, so IPCQ slots and remote loads too) runs, and no other. */
static int compute_slice(replay *r, kb_error *err)
{
	bool any = false;
	for (int k = 0; k < r->n_ex; k++)
		any |= r->ex[k].n > 0;
	if (!any)
		return 0;
	mem *m = replay__mem_new(false);
	int64_t *at = kb_calloc_big((size_t)r->n + 1, sizeof *at);
	int32_t *w = NULL, *stack = NULL;
	size_t n_w = 0, cap_w = 0;
	r->in_slice = kb_calloc_big((size_t)r->n + 1, 1);
	int rc = -1;
	if (!m || !at || !r->in_slice)
		goto oom;
	/* writers of op i's inputs: w[at[i] .. at[i + 1]) once the pass is done */
	int32_t *len = kb_calloc_big((size_t)r->n + 1, sizeof *len);
	if (!len)
		goto oom;
	for (int32_t k = 0; k < r->n; k++) {
		int32_t i = r->order[k];
		rop ob;
		const rop *o = op_at(r, i, &ob);
		const rop_operand *x[4];
		inputs(o, x);
		at[i] = (int64_t)n_w;
		for (int j = 0; j < 4; j++) {
			if (!x[j] || o->kind == KB_OP_HOST_WRITE || o->kind == KB_OP_HOST_FILL)
				continue;
			span_iter sp = replay__operand_spans(x[j], stride_of(o, x[j]));
			for (size_t row = 0; row < sp.rows; row++)
				if (replay__mem_writers(m, sp.pa + row * sp.stride_bytes, sp.row_bytes, &w, &n_w, &cap_w, (size_t)at[i])) {
					free(len);
					goto oom;
				}
		}
		len[i] = (int32_t)((int64_t)n_w - at[i]);
		if (o->dst.space && o->kind != KB_OP_LAUNCH && write_result(m, o, NULL, i + 1)) {
			free(len);
			goto oom;
		}
	}
	size_t n_edges = n_w, cap_stack = 0, n_stack = 0;
	for (int k = 0; k < r->n_ex; k++) /* sampled rows, and every row of the others */
		if (target_writers(r, m, &r->ex[k], &w, &n_w, &cap_w, err)) {
			free(len);
			goto out;
		}
	for (size_t k = n_edges; k < n_w; k++) { /* the roots */
		int32_t op = w[k] - 1;
		if (op >= 0 && op < r->n && !r->in_slice[op]) {
			r->in_slice[op] = 1;
			if (kb_grow(&stack, &cap_stack, n_stack + 1, sizeof *stack, 1024)) {
				free(len);
				goto oom;
			}
			stack[n_stack++] = op;
		}
	}
	while (n_stack) {
		int32_t i = stack[--n_stack];
		for (int64_t e = at[i]; e < at[i] + len[i]; e++) {
			int32_t op = w[e] - 1;
			if (op < 0 || op >= r->n || r->in_slice[op])
				continue;
			r->in_slice[op] = 1;
			if (kb_grow(&stack, &cap_stack, n_stack + 1, sizeof *stack, 1024)) {
				free(len);
				goto oom;
			}
			stack[n_stack++] = op;
		}
	}
	free(len);
	r->rep->sliced = true;
	for (int32_t i = 0; i < r->n; i++)
		r->rep->slice_ops += r->in_slice[i];
	rc = 0;
	goto out;
oom:
	rc = kb_fail_status(err, KB_E_NOMEM, "out of memory computing the slice of the sampled rows");
out:
	replay__mem_free(m);
	free(at);
	free(w);
	free(stack);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */


/* Counts value g (expected w) into e: the range of what was got, and where
 * the first mismatch (bad) lies. */
static inline void tally(kb_expect_result *e, double g, double w, bool bad, int64_t row, int64_t col,
			 const int where[3])
{
	if (!e->checked++ || g < e->got_min)
		e->got_min = g;
	if (e->checked == 1 || g > e->got_max)
		e->got_max = g;
	if (bad && !e->mismatches++) {
		e->row = row;
		e->col = col;
		e->sip = where[0];
		e->cube = where[1];
		e->pe = where[2];
		e->got = g;
		e->want = w;
	}
}

/* An expected value that is not a number or infinite: damage, said in
 * e->problem (which stops the check). */
static bool want_damaged(kb_expect_result *e, double w, int64_t row, int64_t col)
{
	if (isfinite(w))
		return false;
	snprintf(e->problem, sizeof e->problem, "expected value [%lld,%lld] is %g: the trace is damaged", (long long)row,
		 (long long)col, w);
	return true;
}

/* Sets the bits [lo, hi) of a bitmap, whole bytes at once. */
static void set_bits(uint8_t *b, int64_t lo, int64_t hi)
{
	for (; lo < hi && lo % 8; lo++)
		b[lo / 8] |= (uint8_t)(1u << (lo % 8));
	if (hi - lo >= 8) {
		memset(b + lo / 8, 0xff, (size_t)((hi - lo) / 8));
		lo += (hi - lo) / 8 * 8;
	}
	for (; lo < hi; lo++)
		b[lo / 8] |= (uint8_t)(1u << (lo % 8));
}

/* Compares rows [row, row + n) of a shard (nc columns from c0, stored at
 * pa) with the expected values, whose row `row` starts at want_row (a
 * ramp's values are computed, rounded to f32 like stored ones). */
static void check_segment(replay *r, const ex_rows *x, kb_expect_result *e, int sip, int cube, int pe, uint64_t pa,
			  int64_t row, int64_t n_rows, int64_t c0, int64_t nc, int dtype, const float *want, uint8_t *seen,
			  int64_t want_row, int64_t cols)
{
	size_t isz = replay__dtype_bytes(dtype);
	int64_t n = n_rows * nc;
	if ((uint64_t)n * 4 > operand_budget(r)) {
		snprintf(e->problem, sizeof e->problem, "a shard of %lld elements is over replay's budget", (long long)n);
		return;
	}
	void *raw = malloc((size_t)n * isz);
	float *got = malloc((size_t)n * sizeof *got);
	read_info ri = {0};
	if (!raw || !got) {
		snprintf(e->problem, sizeof e->problem, "out of memory");
	} else {
		replay__mem_read(r->mem, pa, raw, (size_t)n * isz, &ri);
		if (ri.unwritten) {
			char where[64];
			pa_text(r, ri.first_unwritten, where, sizeof where);
			snprintf(e->problem, sizeof e->problem,
				 "shard on sip%d.cube%d.pe%d: %lld bytes were never written (first at %s)", sip, cube, pe,
				 (long long)ri.unwritten, where);
		} else {
			replay__to_f32(dtype, raw, got, n);
		}
	}
	const int where[3] = {sip, cube, pe};
	for (int64_t dr = 0; !e->problem[0] && dr < n_rows; dr++) {
		int64_t base = (want_row + dr) * cols;
		set_bits(seen, base + c0, base + c0 + nc);
		const float *g_row = got + dr * nc;
		if (x->ramp && x->per_col == 0) { /* one expected value for the row: its tolerance and rel once */
			double w = (double)(float)(x->value + x->per_row * (double)(row + dr));
			if (want_damaged(e, w, row + dr, c0))
				break;
			double aw = w > 0 ? w : -w, tol = e->atol + e->rtol * aw, row_max = 0;
			for (int64_t j = 0; j < nc; j++) {
				double g = g_row[j], diff = g > w ? g - w : w - g;
				if (diff > row_max)
					row_max = diff;
				tally(e, g, w, !(diff <= tol), row + dr, c0 + j, where);
			}
			double rel = w != 0 ? row_max / aw : row_max; /* the largest diff over |w|: the largest rel */
			if (row_max > e->max_abs)
				e->max_abs = row_max;
			if (rel > e->max_rel)
				e->max_rel = rel;
			continue;
		}
		for (int64_t j = 0; j < nc; j++) {
			int64_t col = c0 + j, at = base + col;
			double w = x->ramp ? (double)(float)(x->value + x->per_row * (double)(row + dr) + x->per_col * (double)col)
					   : want[at];
			if (want_damaged(e, w, row + dr, col))
				break;
			double g = g_row[j], diff = g > w ? g - w : w - g, aw = w > 0 ? w : -w;
			double rel = w != 0 ? diff / aw : diff;
			if (diff > e->max_abs)
				e->max_abs = diff;
			if (rel > e->max_rel)
				e->max_rel = rel;
			tally(e, g, w, !(diff <= e->atol + e->rtol * aw), row + dr, col, where);
		}
	}
	free(raw);
	free(got);
}

/* The clear bits of seen in [lo, hi), a byte at a time where it can
 * (a damaged shape can ask for billions); the first one into *first if
 * it is still -1. */
static int64_t unseen_bits(const uint8_t *seen, int64_t lo, int64_t hi, int64_t *first)
{
	int64_t n = 0;
	for (int64_t at = lo; at < hi;) {
		if (at % 8 == 0 && hi - at >= 8) {
			uint8_t b = seen[at / 8];
			if (b == 0xff) {
				at += 8;
				continue;
			}
			n += 8 - __builtin_popcount(b);
			if (*first < 0)
				*first = at + __builtin_ctz((unsigned)(uint8_t)~b);
			at += 8;
			continue;
		}
		if (!(seen[at / 8] >> (at % 8) & 1)) {
			n++;
			if (*first < 0)
				*first = at;
		}
		at++;
	}
	return n;
}

static void check_expectation(replay *r, const ex_rows *x, kb_expect_result *e)
{
	kb_tensor_rec t;
	kb_error why;
	if (kb_read_tensor(r->db, x->tensor, &t, &why)) {
		snprintf(e->problem, sizeof e->problem, "%s", why.msg);
		return;
	}
	snprintf(e->tensor, sizeof e->tensor, "%s", t.name);
	if (!replay__dtype_bytes(t.dtype)) {
		snprintf(e->problem, sizeof e->problem, "tensor dtype %d is not f16 or f32: the trace is damaged", t.dtype);
		return;
	}
	int64_t rows = t.rows, cols = t.cols;
	e->rows = rows;
	float *want = NULL;
	size_t want_n = 0;
	int64_t want_rows = x->stored ? x->n : rows;
	if (x->ramp) /* computed where it is compared: nothing to decode */
		want_n = (size_t)(want_rows * cols) * sizeof(float);
	else if (kb_db_blob_get(r->db, x->blob, (void **)&want, &want_n, NULL, &why)) {
		snprintf(e->problem, sizeof e->problem, "the expected values are corrupt: %s", why.msg);
		return;
	}
	if (want_n != (size_t)(want_rows * cols) * sizeof(float)) {
		snprintf(e->problem, sizeof e->problem, "the expected values have %zu bytes, the tensor %lld elements",
			 want_n, (long long)(want_rows * cols));
		free(want);
		return;
	}
	kb_shard_rec *sh;
	size_t n_sh;
	if (kb_read_shards(r->db, x->tensor, &sh, &n_sh, &why)) {
		snprintf(e->problem, sizeof e->problem, "%s", why.msg);
		free(want);
		return;
	}
	uint64_t isz = replay__dtype_bytes(t.dtype);
	/* which expected values a shard held: every one must be checked */
	int64_t n_want = want_rows * cols;
	uint8_t *seen = calloc((size_t)n_want / 8 + 1, 1);
	if (!seen)
		snprintf(e->problem, sizeof e->problem, "out of memory");
	for (size_t i = 0; i < n_sh && !e->problem[0]; i++) {
		const kb_shard_rec *s = &sh[i];
		if (!x->n) {
			check_segment(r, x, e, s->sip, s->cube, s->pe, s->pa, s->row0, s->rows, s->col0, s->cols, t.dtype, want,
				      seen, s->row0, cols);
			continue;
		}
		for (int k = 0; k < x->n && !e->problem[0]; k++) /* the sampled rows this shard holds */
			if (x->rows[k] >= s->row0 && x->rows[k] < s->row0 + s->rows)
				check_segment(r, x, e, s->sip, s->cube, s->pe,
					      s->pa + (uint64_t)(x->rows[k] - s->row0) * (uint64_t)s->cols * isz, x->rows[k], 1,
					      s->col0, s->cols, t.dtype, want, seen, x->stored ? k : x->rows[k], cols);
	}
	bool every_row = !x->n || x->stored; /* else only the sampled rows of a whole expectation */
	int64_t missing = 0, first = -1, n_check = every_row ? want_rows : x->n;
	for (int64_t k = 0; seen && !e->problem[0] && n_sh && k < n_check; k++) { /* the rows checked, in want */
		int64_t lo = (every_row ? k : x->rows[k]) * cols;
		missing += unseen_bits(seen, lo, lo + cols, &first);
	}
	if (missing)
		snprintf(e->problem, sizeof e->problem,
			 "%lld of %lld expected values lie in no shard (first [%lld,%lld]): the trace is damaged",
			 (long long)missing, (long long)n_want, (long long)(first / cols), (long long)(first % cols));
	free(seen);
	free(sh);
	free(want);
	e->rows_checked = x->n ? x->n : rows;
	e->pass = !e->problem[0] && e->mismatches == 0 && e->checked > 0;
	if (!e->problem[0] && e->checked == 0)
		snprintf(e->problem, sizeof e->problem, "the tensor has no shards");
}

static int verify(replay *r, kb_error *err)
{
	r->rep->expects = calloc((size_t)(r->n_ex ? r->n_ex : 1), sizeof *r->rep->expects);
	if (!r->rep->expects)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	kb_progress_begin(r->opt->progress, "verify", "expectations", r->n_ex);
	for (int k = 0; k < r->n_ex; k++) {
		kb_progress_show(r->opt->progress, k);
		kb_expect_result *e = &r->rep->expects[k];
		e->rtol = r->ex[k].rtol;
		e->atol = r->ex[k].atol;
		check_expectation(r, &r->ex[k], e);
		r->rep->n_expects++;
		r->rep->n_failed += !e->pass;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

int kb_replay(kb_db *db, const kb_machine *m, const kb_replay_options *opt_in, kb_replay_report *rep, kb_error *err)
{
	kb_replay_options opt = *opt_in;
	if (opt.max_problems <= 0)
		opt.max_problems = 20;
	memset(rep, 0, sizeof *rep);
	rep->order = opt.order;
	replay r = {.db = db, .m = m, .opt = &opt, .rep = rep, .budget = opt.max_bytes ? opt.max_bytes : KB_REPLAY_MAX_BYTES};
	event *ev = NULL;
	size_t n_ev = 0;
	int rc = -1;
	double t0 = kb_now_s();
	if ((opt.order == KB_ORDER_TIME && find_run(&r, err)) || load_shapes(&r, err) || load_ops(&r, err))
		goto out;
	rep->ops = r.n;
	if (!(r.order = kb_calloc_big((size_t)r.n + 1, sizeof *r.order))) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto out;
	}
	if (dataflow_order(&r, err) || load_samples(&r, err) || compute_slice(&r, err))
		goto out;
	if (opt.order == KB_ORDER_TIME) {
		if (load_events(&r, &ev, &n_ev, err) || expected_writers(&r, err))
			goto out;
		if (sort_events(ev, n_ev)) {
			kb_fail_status(err, KB_E_NOMEM, "out of memory sorting %zu events", n_ev);
			goto out;
		}
	} else {
		snprintf(rep->run, sizeof rep->run, "dataflow order");
	}
	if (!(r.mem = replay__mem_new(true))) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto out;
	}
	kb_progress_begin(opt.progress, "replay", "ops", r.n);
	if (opt.order == KB_ORDER_TIME) {
		for (size_t k = 0; k < n_ev && !r.fatal; k++) {
			int32_t op = (int32_t)(ev[k].key & ~EV_READ);
			if (r.in_slice && !r.in_slice[op])
				continue;
			if (ev[k].key & EV_READ ? op_read(&r, op, true, err) : op_write(&r, op, err))
				goto out;
			kb_progress_tick(opt.progress, (int64_t)k / 2); /* a read and a write event per op */
		}
	} else {
		for (int32_t k = 0; k < r.n && !r.fatal; k++) {
			if (r.in_slice && !r.in_slice[r.order[k]])
				continue;
			if (op_read(&r, r.order[k], false, err) || op_write(&r, r.order[k], err))
				goto out;
			kb_progress_tick(opt.progress, k);
		}
	}
	rep->op_bytes = (int64_t)(replay__opstore_bytes(&r.ops) + n_ev * sizeof *ev +
				  (size_t)r.n * (sizeof *r.pending + sizeof *r.expect_writer + sizeof *r.order +
						 (r.in_slice ? 1 : 0)));
	rep->sim_bytes = (int64_t)replay__mem_pages(r.mem) * PAGE_BYTES;
	kb_db_progress(db, opt.progress); /* reading the expected values */
	if (!r.fatal && (verify(&r, err) || collective_lines(&r, err)))
		goto out;
	rep->total_s = kb_now_s() - t0;
	rc = 0;
out:
	kb_db_progress(db, NULL);
	kb_progress_end(opt.progress);
	free(ev);
	for (int32_t i = 0; r.pending && i < r.ops.n; i++) {
		rop ob;
		if (r.pending[i] && op_at(&r, i, &ob)->kind != KB_OP_HOST_WRITE)
			free(r.pending[i]);
	}
	for (size_t k = 0; k < r.n_blobs; k++)
		free(r.blobs[k].data);
	free(r.blobs);
	free(r.blob_uses);
	for (int k = 0; k < r.n_ex; k++)
		free(r.ex[k].rows);
	free(r.ex);
	free(r.in_slice);
	free(r.pending);
	free(r.expect_writer);
	free(r.order);
	replay__opstore_free(&r.ops);
	free(r.recent);
	free(r.shapes);
	replay__mem_free(r.mem);
	replay__scratch_release(&r.raw);
	for (int k = 0; k < 4; k++)
		replay__scratch_release(&r.in[k]);
	for (int k = 0; k < 3; k++)
		replay__scratch_release(&r.tmp[k]);
	if (rc) { /* a failed replay hands back an empty report */
		kb_replay_report_release(rep);
		memset(rep, 0, sizeof *rep);
	}
	return rc;
}

bool kb_replay_passed(const kb_replay_report *rep)
{
	return rep->n_problems == 0 && rep->n_failed == 0 && rep->n_expects > 0;
}

void kb_replay_report_release(kb_replay_report *rep)
{
	for (int k = 0; k < rep->n_collectives; k++)
		free(rep->collectives[k]);
	free(rep->collectives);
	free(rep->coll_wrong);
	for (int k = 0; k < rep->n_kept; k++)
		free(rep->problems[k]);
	free(rep->problems);
	free(rep->expects);
	memset(rep, 0, sizeof *rep);
}
