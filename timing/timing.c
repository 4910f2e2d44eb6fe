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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One op as the scheduler sees it. */
typedef struct top {
	int64_t launch;          /* trace launch id; 0 = host stream */
	int64_t bytes, flops, attr;
	uint64_t mem_pa;         /* DMA / host write: the memory side */
	int32_t sip, cube, pe;
	int32_t pending;         /* start predecessors not yet released */
	int32_t pending_done;    /* launch: PE ops not yet finished */
	int32_t wait_op;         /* index of the op that set key, -1 none */
	int32_t next;            /* next op on the same PE or host stream, -1 none */
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
	if (kb_grow(&b->v, &b->cap, b->n + 1, sizeof *b->v, 1 << 16))
		return -1;
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

/* One decoded ops row (plus its op_operands third input, if any). */
typedef struct raw_op {
	int64_t launch, attr, bytes, flops;
	int32_t sip, cube, pe, kind;
	operand_cols dst, a, b, c;
} raw_op;

enum { READ_BATCH = 8192 };

/* A reader thread decodes rows into two alternating batches while the
 * main thread builds the graph from the other; the connection is used by
 * the reader alone while it runs. */
typedef struct op_reader {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3_stmt *ops, *extra;
	raw_op *buf[2];
	size_t count[2];
	bool ready[2], done, stop;
	int extra_rc;
} op_reader;

static void read_row(op_reader *r, raw_op *o, int64_t id)
{
	sqlite3_stmt *st = r->ops;
	o->launch = sqlite3_column_int64(st, 0);
	o->sip = sqlite3_column_int(st, 1);
	o->cube = sqlite3_column_int(st, 2);
	o->pe = sqlite3_column_int(st, 3);
	o->kind = sqlite3_column_int(st, 4);
	o->attr = sqlite3_column_int64(st, 5);
	o->bytes = sqlite3_column_int64(st, 6);
	o->flops = sqlite3_column_int64(st, 7);
	o->dst = operand_at(st, 8);
	o->a = operand_at(st, 12);
	o->b = operand_at(st, 16);
	memset(&o->c, 0, sizeof o->c);
	while (r->extra_rc == SQLITE_ROW && sqlite3_column_int64(r->extra, 0) < id)
		r->extra_rc = sqlite3_step(r->extra);
	if (r->extra_rc == SQLITE_ROW && sqlite3_column_int64(r->extra, 0) == id)
		o->c = operand_at(r->extra, 1);
}

static void *reader_main(void *arg)
{
	op_reader *r = arg;
	int64_t id = 0;
	for (int b = 0;; b ^= 1) {
		pthread_mutex_lock(&r->mu);
		while (r->ready[b] && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		size_t n = 0;
		bool more = !stop;
		while (more && n < READ_BATCH && (more = sqlite3_step(r->ops) == SQLITE_ROW))
			read_row(r, &r->buf[b][n++], ++id);
		pthread_mutex_lock(&r->mu);
		r->count[b] = n;
		r->ready[b] = n > 0;
		r->done = !more;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (!more)
			return NULL;
	}
}

/* The next batch (NULL at the end); release it with reader_next again. */
static const raw_op *reader_next(op_reader *r, int *b, size_t *n)
{
	pthread_mutex_lock(&r->mu);
	if (*b >= 0) { /* hand back the batch just processed */
		r->ready[*b] = false;
		pthread_cond_broadcast(&r->cv);
		*b ^= 1;
	} else {
		*b = 0;
	}
	while (!r->ready[*b] && !r->done)
		pthread_cond_wait(&r->cv, &r->mu);
	const raw_op *batch = r->ready[*b] ? r->buf[*b] : NULL;
	*n = r->count[*b];
	pthread_mutex_unlock(&r->mu);
	return batch;
}

static void reader_stop(op_reader *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	r->ready[0] = r->ready[1] = false;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->buf[0]);
	free(r->buf[1]);
}

/* What the graph pass keeps while it walks the ops. */
typedef struct build {
	const kb_machine *m;
	graph *g;
	shape_info *shapes;
	int64_t n_shapes;
	hazmap *hz;
	builder eb;
	pred_buf preds;
	int32_t *last_pe, *last_host;
} build;

/* Adds op i: program/host order, launch edges, hazards. */
static int add_op(build *bd, int32_t i, const raw_op *ro, kb_error *err)
{
	const kb_machine *m = bd->m;
	graph *g = bd->g;
	top *o = &g->ops[i];
	*o = (top){.launch = ro->launch, .attr = ro->attr, .bytes = ro->bytes, .flops = ro->flops, .sip = ro->sip,
		   .cube = ro->cube, .pe = ro->pe, .kind = (uint8_t)ro->kind, .wait_op = -1, .next = -1};
	if (o->sip < 0 || o->sip >= m->n_sips || o->cube >= m->n_cubes || o->pe >= m->pes_per_cube ||
	    (o->launch != 0 && (o->cube < 0 || o->pe < 0)) || o->launch < 0 || o->launch > g->n_launches ||
	    ro->kind <= KB_OP_NONE || ro->kind >= KB_OP_KIND_COUNT)
		return kb_fail(err, "op %d: sip%d.cube%d.pe%d / kind %d / launch %lld do not fit this topology", i + 1,
			       o->sip, o->cube, o->pe, ro->kind, (long long)o->launch);
	pred_buf *preds = &bd->preds;
	preds->n = 0;
	int32_t *last = o->launch == 0 ? &bd->last_host[o->sip] : &bd->last_pe[kb_pe_index(m, o->sip, o->cube, o->pe)];
	if (*last >= 0) { /* implicit order edge */
		g->ops[*last].next = i;
		o->pending++;
	}
	if (o->launch != 0) {
		int32_t lop = (int32_t)g->launch_op[o->launch];
		if ((*last < 0 || g->ops[*last].launch != o->launch) && pred_push(preds, lop, KB_WAIT_LAUNCH))
			goto oom;
		g->ops[lop].pending_done++;
	}
	*last = i;
	/* memory accesses: the reads, then the write */
	bool mem_is_a = kb_op_memory_is_a(o->kind);
	int64_t stride = kb_op_is_dma(o->kind) ? o->attr : 0;
	struct { const operand_cols *x; int64_t stride; bool write; } acc[5] = {
		{&ro->a, mem_is_a ? stride : 0, false},
		{&ro->b, 0, false},
		{&ro->c, 0, false},
		{&ro->dst, mem_is_a ? 0 : stride, false}, /* an accumulating GEMM reads its output */
		{&ro->dst, mem_is_a ? 0 : stride, true},
	};
	for (int k = 0; k < 5; k++) {
		if (k == 3 && !(o->kind == KB_OP_GEMM && (o->attr & KB_GEMM_ACCUMULATE)))
			continue;
		const operand_cols *x = acc[k].x;
		if (x->space && (x->shape < 1 || x->shape >= bd->n_shapes || (x->dtype != KB_F16 && x->dtype != KB_F32)))
			return kb_fail(err, "op %d: an operand has shape %lld / dtype %d: the trace is damaged", i + 1,
				       (long long)x->shape, x->dtype);
		int64_t len = x->space ? extent(bd->shapes, bd->n_shapes, x->shape, x->dtype, acc[k].stride) : 0;
		if (len && hazmap_access(bd->hz, x->pa, x->pa + (uint64_t)len, i, acc[k].write, preds))
			goto oom;
	}
	o->mem_pa = mem_is_a ? ro->a.pa : ro->dst.pa;
	/* one edge per predecessor (quadratic in one op's predecessors,
	 * which stay few: its operands' last writers and readers) */
	for (size_t k = 0; k < preds->n; k++)
		for (size_t j = 0; j < k; j++)
			if (preds->v[j].op == preds->v[k].op) {
				preds->v[k].op = -1;
				break;
			}
	for (size_t k = 0; k < preds->n; k++) {
		if (preds->v[k].op < 0 || preds->v[k].op == i)
			continue;
		if (add_edge(&bd->eb, preds->v[k].op, i, preds->v[k].reason))
			goto oom;
		o->pending++;
	}
	return 0;
oom:
	return kb_fail(err, "out of memory building the dependency graph");
}

/* Fills g->launch_op from the launches table. */
static int load_launches(sqlite3 *h, graph *g, kb_error *err)
{
	sqlite3_stmt *st;
	sqlite3_prepare_v2(h, "SELECT coalesce(max(id), 0) FROM launches", -1, &st, NULL);
	sqlite3_step(st);
	g->n_launches = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	g->launch_op = calloc((size_t)g->n_launches + 1, sizeof *g->launch_op);
	if (!g->launch_op)
		return kb_fail(err, "out of memory");
	int rc = 0;
	sqlite3_prepare_v2(h, "SELECT id, host_op_id FROM launches", -1, &st, NULL);
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), op = sqlite3_column_int64(st, 1);
		if (op < 1 || op > g->n)
			rc = kb_fail(err, "launch %lld names op %lld, which does not exist", (long long)id, (long long)op);
		else
			g->launch_op[id] = op - 1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Turns the edge list into successor lists (CSR). */
static int make_csr(graph *g, const builder *eb, kb_error *err)
{
	size_t n = (size_t)g->n;
	g->succ_at = calloc(n + 2, sizeof *g->succ_at);
	g->succ = malloc((eb->n ? eb->n : 1) * sizeof *g->succ);
	int32_t *fill = malloc((n + 1) * sizeof *fill);
	if (!g->succ_at || !g->succ || !fill) {
		free(fill);
		return kb_fail(err, "out of memory for %zu edges", eb->n);
	}
	for (size_t k = 0; k < eb->n; k++)
		g->succ_at[eb->v[k].from + 1]++;
	for (size_t k = 0; k < n; k++)
		g->succ_at[k + 1] += g->succ_at[k];
	memcpy(fill, g->succ_at, (n + 1) * sizeof *fill);
	for (size_t k = 0; k < eb->n; k++)
		g->succ[fill[eb->v[k].from]++] = (edge){eb->v[k].to, eb->v[k].reason};
	free(fill);
	g->n_edges = (int64_t)eb->n;
	return 0;
}

/* Loads ops and derives every edge in one pass in trace order. */
static int build_graph(kb_db *db, const kb_machine *m, graph *g, size_t *peak, kb_error *err)
{
	sqlite3 *h = kb_db_handle(db);
	build bd = {.m = m, .g = g, .hz = hazmap_new()};
	op_reader rd = {0};
	int rc = -1;
	if (!bd.hz)
		return kb_fail(err, "out of memory");
	if (load_shapes(h, &bd.shapes, &bd.n_shapes, err))
		goto out;
	sqlite3_stmt *st;
	sqlite3_prepare_v2(h, "SELECT count(*), coalesce(max(id), 0) FROM ops", -1, &st, NULL);
	int64_t n_ops = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	int64_t max_id = n_ops >= 0 ? sqlite3_column_int64(st, 1) : -1;
	sqlite3_finalize(st);
	if (n_ops < 0 || max_id != n_ops || n_ops > INT32_MAX - 1) {
		kb_fail(err, "op ids are not 1..%lld: the trace is damaged or too large", (long long)n_ops);
		goto out;
	}
	g->n = (int32_t)n_ops;
	g->ops = calloc((size_t)n_ops + 1, sizeof *g->ops);
	bd.last_pe = malloc((size_t)m->n_pes * sizeof *bd.last_pe);
	bd.last_host = malloc((size_t)m->n_sips * sizeof *bd.last_host);
	if (!g->ops || !bd.last_pe || !bd.last_host) {
		kb_fail(err, "out of memory for %lld ops", (long long)n_ops);
		goto out;
	}
	memset(bd.last_pe, 0xff, (size_t)m->n_pes * sizeof *bd.last_pe);
	memset(bd.last_host, 0xff, (size_t)m->n_sips * sizeof *bd.last_host);
	if (load_launches(h, g, err))
		goto out;

	static const char sql[] =
		"SELECT launch_id, sip, cube, pe, kind, attr, bytes, flops,"
		" dst_space, dst_dtype, dst_shape, dst_pa, a_space, a_dtype, a_shape, a_pa,"
		" b_space, b_dtype, b_shape, b_pa FROM ops ORDER BY id";
	if (sqlite3_prepare_v2(h, sql, -1, &rd.ops, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT op_id, space, dtype, shape, pa FROM op_operands WHERE slot = 3 ORDER BY op_id",
			       -1, &rd.extra, NULL) != SQLITE_OK) {
		kb_fail(err, "cannot read ops: %s", sqlite3_errmsg(h));
		goto out;
	}
	rd.buf[0] = malloc(READ_BATCH * sizeof(raw_op));
	rd.buf[1] = malloc(READ_BATCH * sizeof(raw_op));
	pthread_mutex_init(&rd.mu, NULL);
	pthread_cond_init(&rd.cv, NULL);
	rd.extra_rc = sqlite3_step(rd.extra);
	if (!rd.buf[0] || !rd.buf[1] || pthread_create(&rd.thread, NULL, reader_main, &rd)) {
		kb_fail(err, "cannot start the trace reader");
		free(rd.buf[0]);
		free(rd.buf[1]);
		rd.buf[0] = rd.buf[1] = NULL;
		goto out;
	}
	int batch = -1, failed = 0;
	size_t n_batch = 0;
	int32_t i = 0;
	for (const raw_op *rows; !failed && (rows = reader_next(&rd, &batch, &n_batch));)
		for (size_t r = 0; r < n_batch && !failed; r++, i++)
			failed = i >= g->n ? kb_fail(err, "more ops than counted: the trace changed while being read")
					   : add_op(&bd, i, &rows[r], err);
	reader_stop(&rd);
	if (failed)
		goto out;
	if (i != g->n) {
		kb_fail(err, "read %d of %d ops: %s", i, g->n, sqlite3_errmsg(h));
		goto out;
	}
	size_t used = hazmap_bytes(bd.hz) + bd.eb.cap * sizeof *bd.eb.v + (size_t)n_ops * sizeof(top);
	if (used > *peak)
		*peak = used;
	rc = make_csr(g, &bd.eb, err);
out:
	sqlite3_finalize(rd.ops);
	sqlite3_finalize(rd.extra);
	free(bd.shapes);
	free(bd.eb.v);
	free(bd.preds.v);
	free(bd.last_pe);
	free(bd.last_host);
	hazmap_free(bd.hz);
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
	if (kb_grow(&hp->v, &hp->cap, hp->n + 1, sizeof *hp->v, 1024))
		return -1;
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
	int32_t *dma_last, *gemm_last, *math_last; /* the op each unit ran last */
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

/* Applies a released constraint (to may start at `at`) to op `to`. */
static int release(sched *s, int32_t from, int32_t to, uint8_t reason, int64_t at)
{
	top *o = &s->g->ops[to];
	if (at > o->key || (at == o->key && o->wait == KB_WAIT_NONE && at > 0)) {
		o->key = at;
		o->wait = reason;
		o->wait_op = from;
	}
	if (--o->pending == 0 && heap_push(&s->q, o->key, to))
		return -1;
	return 0;
}

/* An op's start is known: release what waits for it to start (the next
 * op on its PE, the first PE ops of a launch). */
static int started(sched *s, int32_t i)
{
	const top *o = &s->g->ops[i];
	if (o->launch != 0 && o->next >= 0 && release(s, i, o->next, KB_WAIT_ORDER, o->t_start))
		return -1;
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason == KB_WAIT_LAUNCH && release(s, i, e->to, e->reason, o->t_start + s->md.cost.launch_ps))
			return -1;
	}
	return 0;
}

/* An op's end is known: release what waits for it to end (the next host
 * op, data hazards) and count it towards its launch's end. */
static int finish(sched *s, int32_t i)
{
	top *o = &s->g->ops[i];
	s->done++;
	if (o->launch == 0 && o->next >= 0 && release(s, i, o->next, KB_WAIT_HOST, o->t_end))
		return -1;
	if (o->launch != 0) {
		int32_t li = (int32_t)s->g->launch_op[o->launch];
		top *l = &s->g->ops[li];
		if (o->t_end > l->t_end)
			l->t_end = o->t_end;
		if (--l->pending_done == 0 && l->scheduled && finish(s, li))
			return -1;
	}
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason != KB_WAIT_LAUNCH && release(s, i, e->to, e->reason, o->t_end))
			return -1;
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

/* The earliest time op i's unit is free (0 for unit-less ops) and the op
 * that holds it until then. */
static int64_t unit_free(const sched *s, const top *o, int *engine, int32_t *holder)
{
	*holder = -1;
	if (o->launch == 0)
		return 0;
	int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe);
	if (kb_op_is_dma(o->kind)) {
		const int64_t *f = &s->u.dma_free[pe * s->u.engines];
		int best = 0;
		for (int k = 1; k < s->u.engines; k++)
			if (f[k] < f[best])
				best = k;
		*engine = best;
		*holder = s->u.dma_last[pe * s->u.engines + best];
		return f[best];
	}
	*holder = o->kind == KB_OP_GEMM ? s->u.gemm_last[pe] : s->u.math_last[pe];
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
		int32_t holder;
		int64_t ts = model_route_free(&s->md, &r, &holder);
		if (ts < start) {
			ts = start;
		} else if (ts > start) {
			o->wait = KB_WAIT_LINK;
			o->wait_op = holder;
		}
		int64_t control = c->host_control_ps - (carry ? s->md.links[r.links[0]].latency_ps : 0);
		end = model_transfer(&s->md, &r, ts, o->bytes, i) + control;
		s->u.host_busy[o->sip] += end - start;
		s->u.host_ops[o->sip]++;
		return end;
	}
	int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe);
	if (kb_op_is_dma(o->kind)) {
		if (decode(s, i, &pa, err)) {
			*rc = -1;
			return 0;
		}
		model_route(&s->md, o->sip, o->cube, o->pe, &pa, &r);
		int32_t holder;
		int64_t ts = start + c->dma_setup_ps, free_at = model_route_free(&s->md, &r, &holder);
		if (free_at > ts) {
			ts = free_at;
			o->wait = KB_WAIT_LINK;
			o->wait_op = holder;
		}
		end = model_transfer(&s->md, &r, ts, o->bytes, i);
		s->u.dma_free[pe * s->u.engines + engine] = end;
		s->u.dma_last[pe * s->u.engines + engine] = i;
		s->u.busy[pe * U_COUNT + U_DMA] += end - start;
		s->u.ops[pe * U_COUNT + U_DMA]++;
		return end;
	}
	int unit = o->kind == KB_OP_GEMM ? U_GEMM : U_MATH;
	end = start + (unit == U_GEMM ? kb_cost_gemm_ps(c, o->flops / 2) : kb_cost_math_ps(c, o->kind, o->flops));
	(unit == U_GEMM ? s->u.gemm_free : s->u.math_free)[pe] = end;
	(unit == U_GEMM ? s->u.gemm_last : s->u.math_last)[pe] = i;
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
		int32_t holder;
		int64_t free_at = unit_free(s, o, &engine, &holder);
		if (free_at > it.key) { /* unit busy: come back when it is free */
			o->key = free_at;
			o->wait = KB_WAIT_UNIT;
			o->wait_op = holder;
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
	u->dma_last = malloc(pes * (size_t)u->engines * sizeof *u->dma_last);
	u->gemm_last = malloc(pes * sizeof *u->gemm_last);
	u->math_last = malloc(pes * sizeof *u->math_last);
	if (!(u->dma_free && u->gemm_free && u->math_free && u->busy && u->ops && u->host_busy && u->host_ops &&
	      u->dma_last && u->gemm_last && u->math_last))
		return -1;
	memset(u->dma_last, 0xff, pes * (size_t)u->engines * sizeof *u->dma_last);
	memset(u->gemm_last, 0xff, pes * sizeof *u->gemm_last);
	memset(u->math_last, 0xff, pes * sizeof *u->math_last);
	return 0;
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
	free(u->dma_last);
	free(u->gemm_last);
	free(u->math_last);
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

/* op_times is filled by one INSERT ... SELECT from kb_op_times_src, a
 * read-only virtual table over the scheduled ops: SQLite pulls the values
 * straight from memory instead of a bind and step per row. */
typedef struct times_src {
	const graph *g;
	int64_t run;
} times_src;

typedef struct times_vtab {
	sqlite3_vtab base;
	const times_src *src;
} times_vtab;

typedef struct times_cursor {
	sqlite3_vtab_cursor base;
	int32_t i;
} times_cursor;

static int src_connect(sqlite3 *h, void *aux, int argc, const char *const *argv, sqlite3_vtab **vt, char **msg)
{
	(void)argc, (void)argv, (void)msg;
	int rc = sqlite3_declare_vtab(h, "CREATE TABLE x(run_id, op_id, t_start_ps, t_end_ps, wait, wait_op)");
	if (rc != SQLITE_OK)
		return rc;
	times_vtab *t = sqlite3_malloc(sizeof *t);
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof *t);
	t->src = aux;
	*vt = &t->base;
	return SQLITE_OK;
}

static int src_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int src_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void)vt;
	info->estimatedCost = 1e6;
	return SQLITE_OK;
}

static int src_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **cur)
{
	(void)vt;
	times_cursor *c = sqlite3_malloc(sizeof *c);
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof *c);
	*cur = &c->base;
	return SQLITE_OK;
}

static int src_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int src_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
	(void)idx, (void)idx_str, (void)argc, (void)argv;
	((times_cursor *)cur)->i = 0;
	return SQLITE_OK;
}

static int src_next(sqlite3_vtab_cursor *cur)
{
	((times_cursor *)cur)->i++;
	return SQLITE_OK;
}

static const times_src *src_of(sqlite3_vtab_cursor *cur)
{
	return ((times_vtab *)cur->pVtab)->src;
}

static int src_eof(sqlite3_vtab_cursor *cur)
{
	return ((times_cursor *)cur)->i >= src_of(cur)->g->n;
}

static int src_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	int32_t i = ((times_cursor *)cur)->i;
	const times_src *src = src_of(cur);
	const top *o = &src->g->ops[i];
	int64_t v[6] = {src->run, i + 1, o->t_start, o->t_end, o->wait, o->wait_op + 1};
	sqlite3_result_int64(ctx, v[col]);
	return SQLITE_OK;
}

static int src_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((times_cursor *)cur)->i + 1;
	return SQLITE_OK;
}

static const sqlite3_module times_module = {
	.xConnect = src_connect, .xBestIndex = src_best_index, .xDisconnect = src_disconnect,
	.xOpen = src_open, .xClose = src_close, .xFilter = src_filter, .xNext = src_next,
	.xEof = src_eof, .xColumn = src_column, .xRowid = src_rowid,
};

static int store_ops(sqlite3 *h, const graph *g, int64_t run, kb_error *err)
{
	times_src src = {g, run}; /* lives while the module is registered */
	if (sqlite3_create_module(h, "kb_op_times_src", &times_module, &src) != SQLITE_OK)
		return kb_fail(err, "cannot register the results table: %s", sqlite3_errmsg(h));
	int rc = exec_sql(h, "INSERT INTO op_times SELECT * FROM kb_op_times_src", err);
	sqlite3_create_module(h, "kb_op_times_src", NULL, NULL); /* drop it */
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
	double t0 = kb_now_s();
	if (build_graph(db, m, &g, &peak, err))
		goto out;
	double t1 = kb_now_s();
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
	double t2 = kb_now_s();
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
	res->write_s = kb_now_s() - t2;
	rc = 0;
out:
	free(s.q.v);
	units_release(&s.u);
	model_release(&s.md);
	graph_release(&g);
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
