/*
 * timing.c — kb-time's pipeline: read the ops and derive the dependency
 * graph (one pass in trace order), list-schedule it with an event queue,
 * store the timing run.
 *
 * Edges say when an op may start: after a predecessor starts (program
 * order on a PE: ops issue in order and overlap on different units), after
 * it ends (data hazards, host stream order), or after a launch has crossed
 * the host path. A launch ends when the last of its PE ops ends. The queue
 * pops the op with the earliest possible start; if its unit is busy it goes
 * back with the later time, so shared links are reserved in time order.
 */
#include "timing_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One op as the scheduler sees it. */
typedef struct top {
	int64_t launch;          /* trace launch id; 0 = host stream */
	int64_t bytes, flops, attr;
	uint64_t mem_pa;         /* DMA / host write: the memory side */
	int32_t sip, cube, pe;
	int32_t pending;         /* start predecessors not yet released */
	int32_t pending_done;    /* launch: PE ops not yet finished */
	int32_t wait_op;         /* index of the op that set key, -1 none */
	uint8_t kind, wait, scheduled;
	int64_t key, t_start, t_end;
} top;

typedef struct edge {
	int32_t to;
	uint8_t reason;
} edge;

typedef struct graph {
	top *ops;
	int32_t n;
	int32_t *succ_at;       /* CSR: successors of op i are succ[succ_at[i] .. succ_at[i+1]) */
	edge *succ;
	int64_t n_edges;
	int64_t *launch_op;     /* launch id -> op index */
	int64_t n_launches;
} graph;

typedef struct heap_item {
	int64_t key;
	int32_t op;
} heap_item;

typedef struct heap {
	heap_item *v;
	size_t n, cap;
} heap;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Reading the trace and building the graph                            */
/* ------------------------------------------------------------------ */

typedef struct shape_info {
	int64_t numel, rows;
} shape_info;

typedef struct raw_edge {
	int32_t from, to;
	uint8_t reason;
} raw_edge;

typedef struct builder {
	raw_edge *v;
	size_t n, cap;
} builder;

static int add_edge(builder *b, int32_t from, int32_t to, uint8_t reason)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1 << 16;
		raw_edge *v = realloc(b->v, cap * sizeof *v);
		if (!v)
			return -1;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = (raw_edge){from, to, reason};
	return 0;
}

static int load_shapes(sqlite3 *h, shape_info **out, int64_t *n, kb_error *err)
{
	sqlite3_stmt *st;
	int64_t max = 0;
	if (sqlite3_prepare_v2(h, "SELECT max(id) FROM shapes", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "cannot read shapes: %s", sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		max = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	shape_info *s = calloc((size_t)max + 1, sizeof *s);
	if (!s)
		return kb_fail(err, "out of memory");
	sqlite3_prepare_v2(h, "SELECT id, d0, d0 * d1 * d2 * d3 FROM shapes", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		s[id].rows = sqlite3_column_int64(st, 1);
		s[id].numel = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	*out = s;
	*n = max + 1;
	return 0;
}

/* The bytes an operand occupies; a strided DMA operand spans its rows. */
static int64_t extent(const shape_info *shapes, int64_t n_shapes, int64_t shape, int dtype, int64_t stride)
{
	if (shape <= 0 || shape >= n_shapes)
		return 0;
	int64_t size = dtype == KB_F16 ? 2 : 4;
	const shape_info *s = &shapes[shape];
	if (stride > 0 && s->rows > 0)
		return ((s->rows - 1) * stride + s->numel / s->rows) * size;
	return s->numel * size;
}

static bool is_dma(int kind)
{
	return kind == KB_OP_DMA_READ || kind == KB_OP_DMA_WRITE || kind == KB_OP_IPCQ_SEND || kind == KB_OP_IPCQ_RECV;
}

typedef struct operand_cols {
	int space, dtype;
	int64_t shape;
	uint64_t pa;
} operand_cols;

static operand_cols operand_at(sqlite3_stmt *st, int col)
{
	return (operand_cols){sqlite3_column_int(st, col), sqlite3_column_int(st, col + 1),
			      sqlite3_column_int64(st, col + 2), (uint64_t)sqlite3_column_int64(st, col + 3)};
}

/* Loads ops and derives every edge in one pass in trace order. */
static int build_graph(kb_db *db, const kb_machine *m, graph *g, size_t *peak, kb_error *err)
{
	sqlite3 *h = kb_db_handle(db);
	sqlite3_stmt *st = NULL, *extra = NULL;
	shape_info *shapes = NULL;
	int64_t n_shapes = 0, n_ops = 0;
	hazmap *hz = hazmap_new();
	builder eb = {0};
	pred_buf preds = {0};
	int32_t *last_pe = NULL, *last_host = NULL;
	int rc = -1;
	if (!hz)
		return kb_fail(err, "out of memory");
	if (load_shapes(h, &shapes, &n_shapes, err))
		goto out;
	if (sqlite3_prepare_v2(h, "SELECT count(*), coalesce(max(id), 0) FROM ops", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		kb_fail(err, "cannot read ops: %s", sqlite3_errmsg(h));
		goto out;
	}
	n_ops = sqlite3_column_int64(st, 0);
	if (sqlite3_column_int64(st, 1) != n_ops) {
		kb_fail(err, "op ids are not 1..%lld: the trace is damaged", (long long)n_ops);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (n_ops > INT32_MAX - 1) {
		kb_fail(err, "%lld ops: more than this version can schedule", (long long)n_ops);
		goto out;
	}
	g->n = (int32_t)n_ops;
	g->ops = calloc((size_t)n_ops + 1, sizeof *g->ops);
	last_pe = malloc((size_t)m->n_pes * sizeof *last_pe);
	last_host = malloc((size_t)m->n_sips * sizeof *last_host);
	if (!g->ops || !last_pe || !last_host) {
		kb_fail(err, "out of memory for %lld ops", (long long)n_ops);
		goto out;
	}
	memset(last_pe, 0xff, (size_t)m->n_pes * sizeof *last_pe);
	memset(last_host, 0xff, (size_t)m->n_sips * sizeof *last_host);

	/* launches: id -> the op index of their host-stream launch op */
	sqlite3_prepare_v2(h, "SELECT coalesce(max(id), 0) FROM launches", -1, &st, NULL);
	sqlite3_step(st);
	g->n_launches = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	g->launch_op = calloc((size_t)g->n_launches + 1, sizeof *g->launch_op);
	if (!g->launch_op) {
		kb_fail(err, "out of memory");
		goto out;
	}
	sqlite3_prepare_v2(h, "SELECT id, host_op_id FROM launches", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), op = sqlite3_column_int64(st, 1);
		if (op < 1 || op > n_ops) {
			kb_fail(err, "launch %lld names op %lld, which does not exist", (long long)id, (long long)op);
			goto out;
		}
		g->launch_op[id] = op - 1;
	}
	sqlite3_finalize(st);
	st = NULL;

	static const char sql[] =
		"SELECT id, launch_id, sip, cube, pe, kind, attr, bytes, flops,"
		" dst_space, dst_dtype, dst_shape, dst_pa, a_space, a_dtype, a_shape, a_pa,"
		" b_space, b_dtype, b_shape, b_pa FROM ops ORDER BY id";
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT op_id, space, dtype, shape, pa FROM op_operands WHERE slot = 3 ORDER BY op_id",
			       -1, &extra, NULL) != SQLITE_OK) {
		kb_fail(err, "cannot read ops: %s", sqlite3_errmsg(h));
		goto out;
	}
	int extra_rc = sqlite3_step(extra);
	for (int32_t i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		top *o = &g->ops[i];
		int64_t launch = sqlite3_column_int64(st, 1);
		o->launch = launch;
		o->sip = sqlite3_column_int(st, 2);
		o->cube = sqlite3_column_int(st, 3);
		o->pe = sqlite3_column_int(st, 4);
		o->kind = (uint8_t)sqlite3_column_int(st, 5);
		o->attr = sqlite3_column_int64(st, 6);
		o->bytes = sqlite3_column_int64(st, 7);
		o->flops = sqlite3_column_int64(st, 8);
		operand_cols dst = operand_at(st, 9), a = operand_at(st, 13), b = operand_at(st, 17);
		o->wait_op = -1;
		if (o->sip < 0 || o->sip >= m->n_sips || o->cube >= m->n_cubes || o->pe >= m->pes_per_cube ||
		    (launch != 0 && (o->cube < 0 || o->pe < 0)) || launch < 0 || launch > g->n_launches ||
		    o->kind == KB_OP_NONE || o->kind >= KB_OP_KIND_COUNT) {
			kb_fail(err, "op %d: sip%d.cube%d.pe%d / kind %d / launch %lld do not fit this topology", i + 1,
				o->sip, o->cube, o->pe, o->kind, (long long)launch);
			goto out;
		}
		preds.n = 0;
		if (launch == 0) { /* host stream of rank sip, in order */
			if (last_host[o->sip] >= 0 && pred_push(&preds, last_host[o->sip], KB_WAIT_HOST))
				goto oom;
			last_host[o->sip] = i;
		} else {
			int pe = kb_pe_index(m, o->sip, o->cube, o->pe);
			int32_t prev = last_pe[pe];
			int32_t lop = (int32_t)g->launch_op[launch];
			if (prev >= 0 && pred_push(&preds, prev, KB_WAIT_ORDER))
				goto oom;
			if ((prev < 0 || g->ops[prev].launch != launch) && pred_push(&preds, lop, KB_WAIT_LAUNCH))
				goto oom;
			if (add_edge(&eb, i, lop, EDGE_DONE))
				goto oom;
			g->ops[lop].pending_done++;
			last_pe[pe] = i;
		}
		/* memory accesses: reads first, then the write */
		int64_t stride = is_dma(o->kind) ? o->attr : 0;
		bool mem_is_a = o->kind == KB_OP_DMA_READ;
		int64_t ae = extent(shapes, n_shapes, a.shape, a.dtype, mem_is_a ? stride : 0);
		int64_t be = extent(shapes, n_shapes, b.shape, b.dtype, 0);
		int64_t de = extent(shapes, n_shapes, dst.shape, dst.dtype, mem_is_a ? 0 : stride);
		if (a.space && ae && hazmap_access(hz, a.pa, a.pa + (uint64_t)ae, i, false, &preds))
			goto oom;
		if (b.space && be && hazmap_access(hz, b.pa, b.pa + (uint64_t)be, i, false, &preds))
			goto oom;
		while (extra_rc == SQLITE_ROW && sqlite3_column_int64(extra, 0) < i + 1)
			extra_rc = sqlite3_step(extra);
		if (extra_rc == SQLITE_ROW && sqlite3_column_int64(extra, 0) == i + 1) {
			operand_cols c = {sqlite3_column_int(extra, 1), sqlite3_column_int(extra, 2),
					  sqlite3_column_int64(extra, 3), (uint64_t)sqlite3_column_int64(extra, 4)};
			int64_t ce = extent(shapes, n_shapes, c.shape, c.dtype, 0);
			if (c.space && ce && hazmap_access(hz, c.pa, c.pa + (uint64_t)ce, i, false, &preds))
				goto oom;
		}
		if (o->kind == KB_OP_GEMM && (o->attr & KB_GEMM_ACCUMULATE) && dst.space && de &&
		    hazmap_access(hz, dst.pa, dst.pa + (uint64_t)de, i, false, &preds))
			goto oom;
		if (dst.space && de && hazmap_access(hz, dst.pa, dst.pa + (uint64_t)de, i, true, &preds))
			goto oom;
		o->mem_pa = mem_is_a ? a.pa : dst.pa;
		/* one edge per predecessor, with the strongest reason: an end
		 * constraint (data, host order) beats a start one (program order).
		 * Quadratic in one op's predecessors, which stay few. */
		for (size_t k = 0; k < preds.n; k++)
			for (size_t j = 0; j < k; j++)
				if (preds.v[j].op == preds.v[k].op) {
					if (preds.v[j].reason == KB_WAIT_ORDER)
						preds.v[j].reason = preds.v[k].reason;
					preds.v[k].op = -1;
					break;
				}
		for (size_t k = 0; k < preds.n; k++) {
			if (preds.v[k].op < 0 || preds.v[k].op == i)
				continue;
			if (add_edge(&eb, preds.v[k].op, i, preds.v[k].reason))
				goto oom;
			o->pending++;
		}
	}
	{
		size_t used = hazmap_bytes(hz) + eb.cap * sizeof *eb.v + (size_t)n_ops * sizeof(top);
		if (used > *peak)
			*peak = used;
	}
	/* successor lists (CSR) */
	g->succ_at = calloc((size_t)n_ops + 2, sizeof *g->succ_at);
	g->succ = malloc((eb.n ? eb.n : 1) * sizeof *g->succ);
	if (!g->succ_at || !g->succ)
		goto oom;
	for (size_t k = 0; k < eb.n; k++)
		g->succ_at[eb.v[k].from + 1]++;
	for (int64_t k = 0; k < n_ops; k++)
		g->succ_at[k + 1] += g->succ_at[k];
	{
		int32_t *fill = malloc(((size_t)n_ops + 1) * sizeof *fill);
		if (!fill)
			goto oom;
		memcpy(fill, g->succ_at, ((size_t)n_ops + 1) * sizeof *fill);
		for (size_t k = 0; k < eb.n; k++)
			g->succ[fill[eb.v[k].from]++] = (edge){eb.v[k].to, eb.v[k].reason};
		free(fill);
	}
	g->n_edges = (int64_t)eb.n;
	rc = 0;
	goto out;
oom:
	kb_fail(err, "out of memory building the dependency graph");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(extra);
	free(shapes);
	free(eb.v);
	free(preds.v);
	free(last_pe);
	free(last_host);
	hazmap_free(hz);
	return rc;
}

static void graph_release(graph *g)
{
	free(g->ops);
	free(g->succ_at);
	free(g->succ);
	free(g->launch_op);
	memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ */
/* Scheduling                                                          */
/* ------------------------------------------------------------------ */

static int heap_push(heap *hp, int64_t key, int32_t op)
{
	if (hp->n == hp->cap) {
		size_t cap = hp->cap ? hp->cap * 2 : 1024;
		heap_item *v = realloc(hp->v, cap * sizeof *v);
		if (!v)
			return -1;
		hp->v = v;
		hp->cap = cap;
	}
	size_t i = hp->n++;
	/* ties go to the lower op id, which keeps schedules deterministic */
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (hp->v[p].key < key || (hp->v[p].key == key && hp->v[p].op < op))
			break;
		hp->v[i] = hp->v[p];
		i = p;
	}
	hp->v[i] = (heap_item){key, op};
	return 0;
}

static heap_item heap_pop(heap *hp)
{
	heap_item top_item = hp->v[0], last = hp->v[--hp->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && (hp->v[c + 1].key < hp->v[c].key ||
				      (hp->v[c + 1].key == hp->v[c].key && hp->v[c + 1].op < hp->v[c].op)))
			c++;
		if (last.key < hp->v[c].key || (last.key == hp->v[c].key && last.op < hp->v[c].op))
			break;
		hp->v[i] = hp->v[c];
		i = c;
	}
	hp->v[i] = last;
	return top_item;
}

typedef struct units {
	int64_t *dma_free;       /* engines per PE */
	int64_t *gemm_free, *math_free;
	int64_t *busy;           /* per PE: dma, gemm, math */
	int64_t *ops;
	int64_t *host_busy, *host_ops;
	int engines;
} units;

enum { U_DMA, U_GEMM, U_MATH, U_COUNT };

typedef struct sched {
	graph *g;
	model md;
	units u;
	heap q;
	const kb_machine *m;
	int64_t done;
} sched;

/* Applies one released edge's constraint to its successor. */
static int release(sched *s, int32_t from, const edge *e, int64_t at)
{
	top *o = &s->g->ops[e->to];
	if (at > o->key || (at == o->key && o->wait == KB_WAIT_NONE && at > 0)) {
		o->key = at;
		o->wait = e->reason;
		o->wait_op = from;
	}
	if (--o->pending == 0 && heap_push(&s->q, o->key, e->to))
		return -1;
	return 0;
}

static int finish(sched *s, int32_t i);

/* An op's start is known: release edges that wait for it to start. */
static int started(sched *s, int32_t i)
{
	const top *o = &s->g->ops[i];
	int64_t launch_ps = s->md.cost.launch_ps;
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason == KB_WAIT_ORDER && release(s, i, e, o->t_start))
			return -1;
		if (e->reason == KB_WAIT_LAUNCH && release(s, i, e, o->t_start + launch_ps))
			return -1;
	}
	return 0;
}

/* An op's end is known: release edges that wait for it to end. */
static int finish(sched *s, int32_t i)
{
	top *o = &s->g->ops[i];
	s->done++;
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason == EDGE_DONE) {
			top *l = &s->g->ops[e->to];
			if (o->t_end > l->t_end)
				l->t_end = o->t_end;
			if (--l->pending_done == 0 && l->scheduled && finish(s, e->to))
				return -1;
		} else if (e->reason != KB_WAIT_ORDER && e->reason != KB_WAIT_LAUNCH && release(s, i, e, o->t_end)) {
			return -1;
		}
	}
	return 0;
}

static int decode(sched *s, int32_t i, kb_physaddr *pa, kb_error *err)
{
	if (kb_pa_decode(s->m, s->g->ops[i].mem_pa, pa, err)) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		return kb_fail(err, "op %d: %s", i + 1, why);
	}
	return 0;
}

/* The earliest time op i's unit is free (its own start, for unit-less ops). */
static int64_t unit_free(const sched *s, const top *o, int *engine)
{
	if (o->launch == 0)
		return 0;
	int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe);
	if (is_dma(o->kind)) {
		const int64_t *f = &s->u.dma_free[pe * s->u.engines];
		int best = 0;
		for (int k = 1; k < s->u.engines; k++)
			if (f[k] < f[best])
				best = k;
		*engine = best;
		return f[best];
	}
	return o->kind == KB_OP_GEMM ? s->u.gemm_free[pe] : s->u.math_free[pe];
}

/* Places op i at start and returns its end, reserving units and links. */
static int64_t place(sched *s, int32_t i, int64_t start, int engine, kb_error *err, int *rc)
{
	top *o = &s->g->ops[i];
	const kb_cost *c = &s->md.cost;
	kb_physaddr pa;
	route r;
	int64_t end;
	*rc = 0;
	if (o->kind == KB_OP_HOST_WRITE || o->kind == KB_OP_HOST_FILL) {
		if (decode(s, i, &pa, err)) {
			*rc = -1;
			return 0;
		}
		bool carry = o->kind == KB_OP_HOST_WRITE;
		model_host_route(&s->md, &pa, carry, &r);
		int64_t ts = model_route_free(&s->md, &r);
		if (ts < start) {
			ts = start;
		} else if (ts > start) {
			o->wait = KB_WAIT_LINK;
			o->wait_op = -1;
		}
		int64_t control = c->host_control_ps - (carry ? s->md.links[r.links[0]].latency_ps : 0);
		end = model_transfer(&s->md, &r, ts, o->bytes) + control;
		s->u.host_busy[o->sip] += end - start;
		s->u.host_ops[o->sip]++;
		return end;
	}
	int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe);
	if (is_dma(o->kind)) {
		if (decode(s, i, &pa, err)) {
			*rc = -1;
			return 0;
		}
		model_route(&s->md, o->sip, o->cube, o->pe, &pa, &r);
		int64_t ts = start + c->dma_setup_ps, free_at = model_route_free(&s->md, &r);
		if (free_at > ts) {
			ts = free_at;
			o->wait = KB_WAIT_LINK;
			o->wait_op = -1;
		}
		end = model_transfer(&s->md, &r, ts, o->bytes);
		s->u.dma_free[pe * s->u.engines + engine] = end;
		s->u.busy[pe * U_COUNT + U_DMA] += end - start;
		s->u.ops[pe * U_COUNT + U_DMA]++;
		return end;
	}
	int unit = o->kind == KB_OP_GEMM ? U_GEMM : U_MATH;
	end = start + (unit == U_GEMM ? kb_cost_gemm_ps(c, o->flops / 2) : kb_cost_math_ps(c, o->kind, o->flops));
	(unit == U_GEMM ? s->u.gemm_free : s->u.math_free)[pe] = end;
	s->u.busy[pe * U_COUNT + unit] += end - start;
	s->u.ops[pe * U_COUNT + unit]++;
	return end;
}

static int schedule(sched *s, kb_error *err)
{
	graph *g = s->g;
	for (int32_t i = 0; i < g->n; i++)
		if (g->ops[i].pending == 0 && heap_push(&s->q, 0, i))
			return kb_fail(err, "out of memory");
	while (s->q.n) {
		heap_item it = heap_pop(&s->q);
		top *o = &g->ops[it.op];
		if (o->kind == KB_OP_LAUNCH) {
			o->t_start = it.key;
			o->t_end = o->t_start + s->md.cost.launch_ps;
			o->scheduled = 1;
			if (started(s, it.op) || (o->pending_done == 0 && finish(s, it.op)))
				return kb_fail(err, "out of memory");
			continue;
		}
		int engine = 0;
		int64_t free_at = unit_free(s, o, &engine);
		if (free_at > it.key) { /* unit busy: come back when it is free */
			o->key = free_at;
			o->wait = KB_WAIT_UNIT;
			o->wait_op = -1;
			if (heap_push(&s->q, free_at, it.op))
				return kb_fail(err, "out of memory");
			continue;
		}
		int rc;
		o->t_start = it.key;
		o->t_end = place(s, it.op, it.key, engine, err, &rc);
		if (rc)
			return -1;
		if (o->t_end <= o->t_start)
			o->t_end = o->t_start + 1; /* every op takes time: reads precede writes */
		o->scheduled = 1;
		if (started(s, it.op) || finish(s, it.op))
			return kb_fail(err, "out of memory");
	}
	if (s->done < g->n) {
		for (int32_t i = 0; i < g->n; i++)
			if (!g->ops[i].scheduled)
				return kb_fail(err, "deadlock: %lld of %d ops cannot start; first: op %d (%s on sip%d.cube%d.pe%d)"
					       " waits for %d more predecessor(s)", (long long)(g->n - s->done), g->n, i + 1,
					       kb_op_kind_name((kb_op_kind)g->ops[i].kind), g->ops[i].sip, g->ops[i].cube,
					       g->ops[i].pe, g->ops[i].pending);
	}
	return 0;
}

static int units_init(units *u, const kb_machine *m)
{
	memset(u, 0, sizeof *u);
	u->engines = (int)m->cfg.dma_engines;
	size_t pes = (size_t)m->n_pes;
	u->dma_free = calloc(pes * (size_t)u->engines, sizeof *u->dma_free);
	u->gemm_free = calloc(pes, sizeof *u->gemm_free);
	u->math_free = calloc(pes, sizeof *u->math_free);
	u->busy = calloc(pes * U_COUNT, sizeof *u->busy);
	u->ops = calloc(pes * U_COUNT, sizeof *u->ops);
	u->host_busy = calloc((size_t)m->n_sips, sizeof *u->host_busy);
	u->host_ops = calloc((size_t)m->n_sips, sizeof *u->host_ops);
	return u->dma_free && u->gemm_free && u->math_free && u->busy && u->ops && u->host_busy && u->host_ops ? 0 : -1;
}

static void units_release(units *u)
{
	free(u->dma_free);
	free(u->gemm_free);
	free(u->math_free);
	free(u->busy);
	free(u->ops);
	free(u->host_busy);
	free(u->host_ops);
}

/* ------------------------------------------------------------------ */
/* Storing the run                                                     */
/* ------------------------------------------------------------------ */

static int exec_sql(sqlite3 *h, const char *sql, kb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kb_fail(err, "%s", msg ? msg : sqlite3_errmsg(h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int step(sqlite3 *h, sqlite3_stmt *st, kb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : kb_fail(err, "cannot store the timing run: %s", sqlite3_errmsg(h));
}

/* Creates the run row (replacing one of the same label if asked). */
static int64_t new_run(sqlite3 *h, const kb_time_options *opt, const kb_machine *m, int64_t total, int64_t n_ops,
		       char *label, kb_error *err)
{
	sqlite3_stmt *st;
	if (opt->label) {
		snprintf(label, 64, "%s", opt->label);
	} else { /* the first free run<N>, counting from the number of runs */
		sqlite3_prepare_v2(h, "SELECT count(*) + 1 FROM timing_runs", -1, &st, NULL);
		sqlite3_step(st);
		int64_t n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sqlite3_prepare_v2(h, "SELECT 1 FROM timing_runs WHERE label = ?", -1, &st, NULL);
		do {
			snprintf(label, 64, "run%lld", (long long)n++);
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
		} while (sqlite3_step(st) == SQLITE_ROW);
		sqlite3_finalize(st);
	}
	sqlite3_prepare_v2(h, "SELECT id FROM timing_runs WHERE label = ?", -1, &st, NULL);
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	int64_t old = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (old && !opt->replace)
		return kb_fail(err, "a timing run labelled '%s' exists (use --replace or another --label)", label);
	if (old) {
		static const char *const tables[] = {"op_times", "launch_times", "range_times", "unit_busy", "link_usage"};
		for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
			char sql[96];
			snprintf(sql, sizeof sql, "DELETE FROM %s WHERE run_id = %lld", tables[t], (long long)old);
			if (exec_sql(h, sql, err))
				return -1;
		}
		char sql[96];
		snprintf(sql, sizeof sql, "DELETE FROM timing_runs WHERE id = %lld", (long long)old);
		if (exec_sql(h, sql, err))
			return -1;
	}
	char *effective = kb_topo_effective(&m->cfg);
	if (!effective)
		return kb_fail(err, "out of memory");
	sqlite3_prepare_v2(h, "INSERT INTO timing_runs VALUES(NULL, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, opt->source ? opt->source : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, opt->overrides ? opt->overrides : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, effective, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, total);
	sqlite3_bind_int64(st, 6, n_ops);
	sqlite3_bind_text(st, 7, KB_VERSION, -1, SQLITE_STATIC);
	int rc = step(h, st, err);
	sqlite3_finalize(st);
	free(effective);
	return rc ? -1 : sqlite3_last_insert_rowid(h);
}

static int store_ops(sqlite3 *h, const graph *g, int64_t run, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "INSERT INTO op_times VALUES(?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "%s", sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run);
	int rc = 0;
	for (int32_t i = 0; i < g->n && !rc; i++) {
		const top *o = &g->ops[i];
		sqlite3_bind_int64(st, 2, i + 1);
		sqlite3_bind_int64(st, 3, o->t_start);
		sqlite3_bind_int64(st, 4, o->t_end);
		sqlite3_bind_int(st, 5, o->wait);
		sqlite3_bind_int64(st, 6, o->wait_op + 1);
		rc = step(h, st, err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int store_spans(sqlite3 *h, const graph *g, const kb_cost *c, int64_t run, kb_error *err)
{
	sqlite3_stmt *ins, *q;
	int rc = 0;
	sqlite3_prepare_v2(h, "INSERT INTO launch_times VALUES(?, ?, ?, ?, ?)", -1, &ins, NULL);
	for (int64_t l = 1; l <= g->n_launches && !rc; l++) {
		const top *o = &g->ops[g->launch_op[l]];
		int64_t v[] = {run, l, o->t_start, o->t_start + c->launch_ps, o->t_end};
		for (int k = 0; k < 5; k++)
			sqlite3_bind_int64(ins, k + 1, v[k]);
		rc = step(h, ins, err);
	}
	sqlite3_finalize(ins);
	if (rc)
		return rc;
	/* a range spans the ops of its rank recorded between push and pop */
	sqlite3_prepare_v2(h, "SELECT id, rank, first_op_id, end_op_id FROM ranges", -1, &q, NULL);
	sqlite3_prepare_v2(h, "INSERT INTO range_times VALUES(?, ?, ?, ?)", -1, &ins, NULL);
	while (!rc && sqlite3_step(q) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(q, 0), first = sqlite3_column_int64(q, 2), end = sqlite3_column_int64(q, 3);
		int rank = sqlite3_column_int(q, 1);
		int64_t t0 = INT64_MAX, t1 = 0;
		for (int64_t i = first - 1; i >= 0 && i < end - 1 && i < g->n; i++)
			if (g->ops[i].sip == rank) {
				if (g->ops[i].t_start < t0)
					t0 = g->ops[i].t_start;
				if (g->ops[i].t_end > t1)
					t1 = g->ops[i].t_end;
			}
		if (t0 == INT64_MAX)
			t0 = t1;
		int64_t v[] = {run, id, t0, t1};
		for (int k = 0; k < 4; k++)
			sqlite3_bind_int64(ins, k + 1, v[k]);
		rc = step(h, ins, err);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	return rc;
}

static int store_usage(sqlite3 *h, const sched *s, int64_t run, kb_error *err)
{
	const kb_machine *m = s->m;
	sqlite3_stmt *st;
	static const char *const unit_names[] = {"dma", "gemm", "math"};
	int rc = 0;
	sqlite3_prepare_v2(h, "INSERT INTO unit_busy VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, run);
	for (int pe = 0; pe < m->n_pes && !rc; pe++)
		for (int u = 0; u < U_COUNT && !rc; u++) {
			if (!s->u.ops[pe * U_COUNT + u])
				continue;
			int per_sip = m->n_cubes * m->pes_per_cube;
			sqlite3_bind_text(st, 2, unit_names[u], -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, pe / per_sip);
			sqlite3_bind_int(st, 4, pe % per_sip / m->pes_per_cube);
			sqlite3_bind_int(st, 5, pe % m->pes_per_cube);
			sqlite3_bind_int64(st, 6, s->u.ops[pe * U_COUNT + u]);
			sqlite3_bind_int64(st, 7, s->u.busy[pe * U_COUNT + u]);
			rc = step(h, st, err);
		}
	for (int sip = 0; sip < m->n_sips && !rc; sip++) {
		if (!s->u.host_ops[sip])
			continue;
		sqlite3_bind_text(st, 2, "host", -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, sip);
		sqlite3_bind_int(st, 4, -1);
		sqlite3_bind_int(st, 5, -1);
		sqlite3_bind_int64(st, 6, s->u.host_ops[sip]);
		sqlite3_bind_int64(st, 7, s->u.host_busy[sip]);
		rc = step(h, st, err);
	}
	sqlite3_finalize(st);
	sqlite3_prepare_v2(h, "INSERT INTO link_usage VALUES(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, run);
	for (int32_t l = 0; l < s->md.n_links && !rc; l++) {
		const link *k = &s->md.links[l];
		if (!k->transfers)
			continue;
		char name[96];
		const char *kind;
		model_link_name(&s->md, l, name, sizeof name, &kind);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4, k->gbps);
		sqlite3_bind_int64(st, 5, k->transfers);
		sqlite3_bind_int64(st, 6, k->bytes);
		sqlite3_bind_int64(st, 7, k->busy_ps);
		rc = step(h, st, err);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

int kb_time_trace(kb_db *db, const kb_machine *m, const kb_time_options *opt, kb_time_result *res, kb_error *err)
{
	memset(res, 0, sizeof *res);
	sqlite3 *h = kb_db_handle(db);
	graph g = {0};
	sched s = {0};
	size_t peak = 0;
	int rc = -1;
	double t0 = now_s();
	if (build_graph(db, m, &g, &peak, err))
		goto out;
	double t1 = now_s();
	s.g = &g;
	s.m = m;
	if (model_init(&s.md, m, err) || units_init(&s.u, m)) {
		if (!err->msg[0])
			kb_fail(err, "out of memory");
		goto out;
	}
	if (schedule(&s, err)) {
		rc = strncmp(err->msg, "deadlock", 8) == 0 ? KB_TIME_DEADLOCK : -1;
		goto out;
	}
	double t2 = now_s();
	int64_t total = 0;
	for (int32_t i = 0; i < g.n; i++)
		if (g.ops[i].t_end > total)
			total = g.ops[i].t_end;
	if (exec_sql(h, "BEGIN IMMEDIATE", err))
		goto out;
	res->run_id = new_run(h, opt, m, total, g.n, res->label, err);
	if (res->run_id < 0 || store_ops(h, &g, res->run_id, err) || store_spans(h, &g, &s.md.cost, res->run_id, err) ||
	    store_usage(h, &s, res->run_id, err) || exec_sql(h, "COMMIT", err)) {
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	res->total_ps = total;
	res->n_ops = g.n;
	peak += s.q.cap * sizeof(heap_item) + (size_t)g.n_edges * sizeof(edge);
	res->peak_bytes = (int64_t)peak;
	res->read_s = t1 - t0;
	res->schedule_s = t2 - t1;
	res->write_s = now_s() - t2;
	rc = 0;
out:
	free(s.q.v);
	units_release(&s.u);
	model_release(&s.md);
	graph_release(&g);
	return rc;
}

int kb_time_trace_topology(kb_db *db, kb_topo_cfg *cfg, kb_error *err)
{
	char *yaml = kb_db_meta_get(db, "topology_yaml"), *over = kb_db_meta_get(db, "topology_overrides");
	char name[300];
	snprintf(name, sizeof name, "%s (embedded topology)", kb_db_path(db));
	int rc = -1;
	if (!yaml) {
		kb_fail(err, "%s: the trace has no embedded topology", kb_db_path(db));
		goto out;
	}
	if (kb_topo_load_text(cfg, name, yaml, err))
		goto out;
	for (char *line = over, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *key, *value;
		if (kb_split_assignment(line, &key, &value) || kb_topo_set(cfg, key, value, err)) {
			if (!err->msg[0])
				kb_fail(err, "%s: bad recorded override '%s'", kb_db_path(db), line);
			kb_topo_release(cfg);
			goto out;
		}
	}
	rc = 0;
out:
	free(yaml);
	free(over);
	return rc;
}

int kb_time_check_structure(const kb_topo_cfg *was, const kb_topo_cfg *now, kb_error *err)
{
#define SAME(f, path) \
	if (was->f != now->f) \
		return kb_fail(err, "%s is %lld but the trace was recorded with %lld (only timing parameters may change)", \
			       path, (long long)now->f, (long long)was->f)
	SAME(sips_count, "system.sips.count");
	SAME(cube_mesh_w, "sip.cube_mesh.w");
	SAME(cube_mesh_h, "sip.cube_mesh.h");
	SAME(pe_per_corner, "cube.pe_layout.pe_per_corner");
	SAME(n_corners, "the number of cube.pe_layout.corners");
	SAME(hbm_gb_per_cube, "cube.memory_map.hbm_total_gb_per_cube");
	SAME(hbm_slices_per_cube, "cube.memory_map.hbm_slices_per_cube");
	SAME(tcm_mb, "cube.pe_template.components.pe_tcm.attrs.size_mb");
	SAME(tcm_reserved_mb, "cube.pe_template.components.pe_tcm.attrs.reserved_mb");
	SAME(kernel_scratch_mb, "cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb");
	SAME(sram_mb, "cube.components.sram.attrs.size_mb");
	SAME(page_size, "cube.pe_template.components.pe_mmu.attrs.page_size");
#undef SAME
	return 0;
}
