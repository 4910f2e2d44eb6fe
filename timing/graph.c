/*
 * graph.c — kb-time's dependency graph, built once per trace in one pass
 * over the ops in trace order: an op record per op, successor lists (CSR),
 * launches and IPCQ channels.
 *
 * Edges say when an op may start: after a predecessor starts (program
 * order on a PE: ops issue in order and overlap on different units), after
 * it ends (data hazards, host stream order), or after a launch has crossed
 * the host path. Nothing here depends on a timing parameter.
 */
#include "timing_int.h"

#include <math.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

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
	if (b->n == b->cap) { /* by half: doubling would leave up to half of it unused */
		size_t cap = b->cap + b->cap / 2 + 1024;
		raw_edge *v = realloc(b->v, cap * sizeof *v);
		if (!v)
			return -1;
		b->v = v;
		b->cap = cap;
	}
	KB_ASSERT(from >= 0 && from != to && to >= 0, "edge %d -> %d", from, to);
	b->v[b->n++] = (raw_edge){from, to, reason};
	return 0;
}

/* The bytes an operand occupies; a strided DMA operand spans its rows. */
static int64_t extent(const kb_shape_rec *shapes, int64_t n_shapes, int64_t shape, int dtype, int64_t stride)
{
	if (shape <= 0 || shape >= n_shapes)
		return 0;
	int64_t size = dtype == KB_F16 ? 2 : 4;
	const kb_shape_rec *s = &shapes[shape];
	if (stride > 0 && s->rows > 0)
		return ((s->rows - 1) * stride + s->numel / s->rows) * size;
	return s->numel * size;
}

typedef kb_op raw_op; /* one ops row as db's reader decodes it */

/* What the graph pass keeps while it walks the ops. */
typedef struct build {
	const kb_machine *m;
	const kb_trace_counts *counts;
	graph *g;
	kb_shape_rec *shapes;
	int64_t n_shapes;
	hazmap *hz;
	builder eb;
	pred_buf preds;
	int32_t *last_pe, *last_host;
} build;

/* Files an IPCQ op under (channel, k); o->aux keeps the channel index. */
static int note_message(build *bd, int32_t i, const raw_op *ro, kb_error *err)
{
	graph *g = bd->g;
	if (ro->chan < 1 || ro->chan > g->n_chans || ro->chan_seq < 0 || ro->chan_seq >= INT32_MAX)
		return kb_fail(err, "op %d: IPCQ channel %lld / message %lld is not in the channels table: the trace is"
				    " damaged", i + 1, (long long)ro->chan, (long long)ro->chan_seq);
	tchan *c = &g->chans[ro->chan - 1];
	bool send = ro->kind == KB_OP_IPCQ_SEND;
	int32_t **v = send ? &c->send : &c->recv;
	size_t *n = send ? &c->n_send : &c->n_recv, *cap = send ? &c->cap_send : &c->cap_recv, k = (size_t)ro->chan_seq;
	if (k >= *n) {
		if (kb_grow(v, cap, k + 1, sizeof **v, 16))
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		memset(*v + *n, 0xff, (k + 1 - *n) * sizeof **v);
		*n = k + 1;
	}
	if ((*v)[k] >= 0)
		return kb_fail(err, "op %d: channel %lld carries two %ss numbered %lld: the trace is damaged", i + 1,
			       (long long)ro->chan, send ? "send" : "recv", (long long)ro->chan_seq);
	(*v)[k] = i;
	g->ops[i].aux = (int32_t)(ro->chan - 1);
	return 0;
}

/* The k-th send of a channel feeds its k-th recv (data); send k needs the
 * slot recv k - n_slots freed (credit). A partner that never comes leaves
 * the op waiting forever: the schedule reports the deadlock. The edges are
 * not stored twice: make_csr takes them from the channels. */
typedef struct chan_iter {
	const tchan *ch;
	size_t pos, end;        /* 2k: message k's data edge, 2k + 1: its credit edge */
} chan_iter;

static chan_iter chan_begin(const tchan *ch)
{
	return (chan_iter){ch, 0, 2 * (ch->n_send > ch->n_recv ? ch->n_send : ch->n_recv)};
}

/* The channel's next edge (from -> to with its reason): 1, or 0 at the
 * end. A recv with no send, or a send whose freeing recv never comes,
 * still waits for its predecessor: from -1, no edge. */
static int chan_next(chan_iter *it, int32_t *from, int32_t *to, uint8_t *reason)
{
	const tchan *ch = it->ch;
	while (it->pos < it->end) {
		size_t k = it->pos / 2;
		bool credit = it->pos++ % 2;
		int32_t snd = k < ch->n_send ? ch->send[k] : -1, rcv = k < ch->n_recv ? ch->recv[k] : -1;
		if (!credit && rcv >= 0) {
			*from = snd, *to = rcv, *reason = KB_WAIT_DATA;
			return 1;
		}
		if (credit && snd >= 0 && k >= (size_t)ch->n_slots) {
			size_t j = k - (size_t)ch->n_slots;
			*from = j < ch->n_recv ? ch->recv[j] : -1, *to = snd, *reason = KB_WAIT_CREDIT;
			return 1;
		}
	}
	return 0;
}

static int load_channels(kb_db *db, graph *g, const kb_machine *m, kb_error *err)
{
	kb_channel_rec *c;
	int64_t n;
	if (kb_read_channels(db, &c, &n, err))
		return -1;
	g->n_chans = (int32_t)n;
	g->chans = calloc((size_t)n + 1, sizeof *g->chans);
	if (!g->chans) {
		free(c);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	int rc = 0;
	for (int32_t k = 0; k < g->n_chans && !rc; k++) {
		const kb_channel_rec *r = &c[k];
		bool ok = r->src_dir < KB_DIR_COUNT && r->dst_dir < KB_DIR_COUNT;
		for (int e = 0; e < 2 && ok; e++) {
			const int *p = e ? r->dst : r->src;
			ok = p[0] < m->n_sips && p[1] < m->n_cubes && p[2] < m->pes_per_cube;
		}
		if (!ok) {
			rc = kb_fail(err, "channels row %d: its PEs / directions do not fit this topology", k + 1);
			break;
		}
		tchan *ch = &g->chans[k];
		ch->n_slots = (int32_t)r->n_slots;
		ch->credit_bytes = r->credit_bytes;
		for (int j = 0; j < 3; j++) {
			ch->src[j] = (int16_t)r->src[j];
			ch->dst[j] = (int16_t)r->dst[j];
		}
		ch->src_dir = (int8_t)r->src_dir;
		ch->dst_dir = (int8_t)r->dst_dir;
	}
	free(c);
	return rc;
}

/* Adds op i: program/host order, launch edges, hazards. */
static int add_op(build *bd, int32_t i, const raw_op *ro, kb_error *err)
{
	const kb_machine *m = bd->m;
	graph *g = bd->g;
	top *o = &g->ops[i];
	/* db's reader checked the row against the schema; here: the machine */
	if (ro->sip < 0 || ro->sip >= m->n_sips || ro->cube >= m->n_cubes || ro->pe >= m->pes_per_cube ||
	    ((ro->launch != 0 || !kb_op_is_control(ro->kind)) && (ro->cube < 0 || ro->pe < 0)) ||
	    (ro->kind == KB_OP_MMU_MAP && ro->cube < 0) || ro->cube < -1 || ro->pe < -1 || ro->launch < 0 ||
	    ro->launch > g->n_launches || ro->kind <= KB_OP_NONE || ro->kind >= KB_OP_KIND_COUNT)
		return kb_fail(err, "op %d: sip%d.cube%d.pe%d / kind %d / launch %lld do not fit this topology", i + 1,
			       ro->sip, ro->cube, ro->pe, ro->kind, (long long)ro->launch);
	/* the array is zeroed and nothing touched op i before: set the rest */
	o->launch = (int32_t)ro->launch;
	o->bytes = ro->bytes;
	if (kb_op_is_dma(ro->kind) || ro->kind == KB_OP_HOST_WRITE || ro->kind == KB_OP_HOST_FILL)
		o->mem_pa = kb_op_memory_is_a(ro->kind) ? ro->a.pa : ro->dst.pa;
	else
		o->flops = ro->flops;
	o->sip = (int16_t)ro->sip;
	o->cube = (int16_t)ro->cube;
	o->pe = (int16_t)ro->pe;
	o->kind = (uint8_t)ro->kind;
	o->next = -1;
	pred_buf *preds = &bd->preds;
	preds->n = 0;
	int32_t *last = o->launch == 0 ? &bd->last_host[o->sip] : &bd->last_pe[kb_pe_index(m, o->sip, o->cube, o->pe)];
	KB_ASSERT(*last < i, "op %d follows op %d in program order", i + 1, *last + 1);
	if (*last >= 0) { /* implicit order edge */
		g->ops[*last].next = i;
		o->pending++;
	}
	if (o->launch != 0) {
		int32_t lop = (int32_t)g->launch_op[o->launch];
		KB_ASSERT(lop >= 0 && lop < i, "op %d of launch %d before its launch op %d", i + 1, o->launch, lop + 1);
		if ((*last < 0 || g->ops[*last].launch != o->launch) && timing__pred_push(preds, lop, KB_WAIT_LAUNCH))
			goto oom;
		g->ops[lop].aux++;
	}
	*last = i;
	/* memory accesses: the reads, then the write */
	bool mem_is_a = kb_op_memory_is_a(o->kind);
	int64_t stride = kb_op_is_dma(o->kind) ? ro->attr : 0;
	bool compute = o->launch != 0 && !kb_op_is_dma(o->kind);
	if (compute)
		o->bytes = 0; /* recounted below: every operand crosses the TCM port */
	struct { const kb_operand *x; int64_t stride; bool write; } acc[5] = {
		{&ro->a, mem_is_a ? stride : 0, false},
		{&ro->b, 0, false},
		{&ro->c, 0, false},
		{&ro->dst, mem_is_a ? 0 : stride, false}, /* an accumulating GEMM reads its output */
		{&ro->dst, mem_is_a ? 0 : stride, true},
	};
	bool ipcq = o->kind == KB_OP_IPCQ_SEND || o->kind == KB_OP_IPCQ_RECV;
	if (ipcq && note_message(bd, i, ro, err))
		return -1;
	for (int k = 0; k < 5; k++) {
		if (k == 3 && !(o->kind == KB_OP_GEMM && (ro->attr & KB_GEMM_ACCUMULATE)))
			continue;
		/* rx slots are ordered by the channel's data and credit edges,
		 * not by addresses: ranks are traced one after another */
		if ((o->kind == KB_OP_IPCQ_SEND && k == 4) || (o->kind == KB_OP_IPCQ_RECV && k == 0))
			continue;
		const kb_operand *x = acc[k].x;
		if (x->space && (x->shape < 1 || x->shape >= bd->n_shapes || (x->dtype != KB_F16 && x->dtype != KB_F32)))
			return kb_fail(err, "op %d: an operand has shape %lld / dtype %d: the trace is damaged", i + 1,
				       (long long)x->shape, x->dtype);
		int64_t len = x->space ? extent(bd->shapes, bd->n_shapes, x->shape, x->dtype, acc[k].stride) : 0;
		kb_error why;
		if (len && k != 3 && kb_pa_check_range(m, x->pa, (uint64_t)len, x->space, &why))
			return kb_fail(err, "op %d: %s: the trace is damaged", i + 1, why.msg);
		if (len && timing__hazmap_access(bd->hz, x->pa, x->pa + (uint64_t)len, i, acc[k].write, preds))
			goto oom;
		if (compute)
			o->bytes += len;
	}
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
	return kb_fail_status(err, KB_E_NOMEM, "out of memory building the dependency graph");
}

/* An explicit dependency (op_deps: an imported trace's own edges). */
static int explicit_dep(void *ctx, int64_t op, int64_t dep, kb_error *err)
{
	build *bd = ctx;
	if (dep < 1 || op < 1 || dep == op || op > bd->g->n || dep > bd->g->n)
		return kb_fail(err, "op_deps: op %lld on op %lld: the trace is damaged", (long long)op, (long long)dep);
	if (add_edge(&bd->eb, (int32_t)(dep - 1), (int32_t)(op - 1), KB_WAIT_DEPENDENCY))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory building the dependency graph");
	bd->g->ops[op - 1].pending++;
	return 0;
}

/* Fills g->launch_op from the launches table. */
static int load_launches(kb_db *db, graph *g, kb_error *err)
{
	int64_t *host_op;
	if (kb_read_launches(db, g->n, &host_op, &g->n_launches, err))
		return -1;
	g->launch_op = host_op;
	for (int64_t id = 1; id <= g->n_launches; id++)
		g->launch_op[id]--; /* op id -> op index */
	return 0;
}

/* Turns the edges into successor lists (CSR): the builder's edges up to
 * n_own (program order, launches, hazards), the channels' edges, then the
 * builder's from n_own (explicit dependencies), each list in that order.
 * Counts each message's channel predecessors into its pending. */
static int make_csr(graph *g, const builder *eb, size_t n_own, kb_error *err)
{
	size_t n = (size_t)g->n, total = eb->n;
	g->succ_at = kb_calloc_big(n + 2, sizeof *g->succ_at);
	if (!g->succ_at)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %d ops", g->n);
	/* counts in succ_at[from + 2], their running sums (succ_at[i + 2]:
	 * where list i + 1 starts), then each edge at succ_at[from + 1]++,
	 * which leaves succ_at[i] where list i starts */
	int32_t *at = g->succ_at, from, to;
	uint8_t reason;
	for (size_t k = 0; k < eb->n; k++)
		at[eb->v[k].from + 2]++;
	for (int32_t c = 0; c < g->n_chans; c++)
		for (chan_iter it = chan_begin(&g->chans[c]); chan_next(&it, &from, &to, &reason);) {
			g->ops[to].pending++;
			if (from >= 0) {
				at[from + 2]++;
				total++;
			}
		}
	if (total > INT32_MAX)
		return kb_fail_status(err, KB_E_NOMEM, "%zu edges: more than the graph holds", total);
	g->succ = kb_calloc_big(total ? total : 1, sizeof *g->succ);
	if (!g->succ)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %zu edges", total);
	for (size_t k = 2; k <= n + 1; k++)
		at[k] += at[k - 1];
	for (size_t k = 0; k < n_own; k++)
		g->succ[at[eb->v[k].from + 1]++] = (edge){eb->v[k].to, eb->v[k].reason};
	for (int32_t c = 0; c < g->n_chans; c++)
		for (chan_iter it = chan_begin(&g->chans[c]); chan_next(&it, &from, &to, &reason);)
			if (from >= 0)
				g->succ[at[from + 1]++] = (edge){to, reason};
	for (size_t k = n_own; k < eb->n; k++)
		g->succ[at[eb->v[k].from + 1]++] = (edge){eb->v[k].to, eb->v[k].reason};
	KB_ASSERT(at[0] == 0 && at[n] == (int32_t)total, "successor lists span %d..%d of %zu edges", at[0], at[n],
		  total);
	g->n_edges = (int64_t)total;
	return 0;
}

/* Loads ops and derives every edge in one pass in trace order. */
int timing__graph_build(kb_db *db, const kb_machine *m, graph *g, size_t *peak, kb_error *err)
{
	build bd = {.m = m, .g = g, .hz = timing__hazmap_new(), .counts = kb_db_counts_of(db)};
	kb_op_reader *rds = NULL;
	int rc = -1;
	int64_t n_ops;
	if (!bd.hz)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (kb_read_shapes(db, &bd.shapes, &bd.n_shapes, err) || kb_read_op_count(db, &n_ops, err))
		goto out;
	g->n = (int32_t)n_ops;
	g->ops = kb_calloc_big((size_t)n_ops + 1, sizeof *g->ops);
	bd.last_pe = malloc((size_t)m->n_pes * sizeof *bd.last_pe);
	bd.last_host = malloc((size_t)m->n_sips * sizeof *bd.last_host);
	bd.eb.cap = 2 * (size_t)n_ops + 1024; /* ~2 edges per op; grown past that */
	bd.eb.v = kb_calloc_big(bd.eb.cap, sizeof *bd.eb.v);
	if (!g->ops || !bd.last_pe || !bd.last_host || !bd.eb.v) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld ops", (long long)n_ops);
		goto out;
	}
	memset(bd.last_pe, 0xff, (size_t)m->n_pes * sizeof *bd.last_pe);
	memset(bd.last_host, 0xff, (size_t)m->n_sips * sizeof *bd.last_host);
	if (load_launches(db, g, err) || load_channels(db, g, m, err) || kb_op_reader_start(db, n_ops, &rds, err))
		goto out; /* the readers use db from here on */
	int failed = 0, got;
	int32_t i = 0;
	const raw_op *rows;
	size_t n_rows;
	kb_progress_begin(g->progress, "read", "ops", g->n);
	while (!failed && (got = kb_op_reader_next(rds, &rows, &n_rows, err)) == 1)
		for (size_t r = 0; r < n_rows && !failed; r++, i++)
			failed = i >= g->n ? kb_fail(err, "more ops than counted: the trace changed while being read")
					   : add_op(&bd, i, &rows[r], err) || (kb_progress_tick(g->progress, i), 0);
	kb_op_reader_stop(rds);
	rds = NULL;
	if (failed || got < 0)
		goto out;
	if (i != g->n) {
		kb_fail(err, "read %d of %d ops: the trace changed while being read", i, g->n);
		goto out;
	}
	size_t n_own = bd.eb.n;
	if (kb_read_op_deps(db, explicit_dep, &bd, err))
		goto out;
	/* the peak: while walking the ops (the hazard map), or while the
	 * successor lists are built (it is freed by then) */
	size_t walked = bd.eb.cap * sizeof *bd.eb.v + (size_t)n_ops * sizeof(top) + timing__hazmap_bytes(bd.hz);
	if (bd.eb.n && bd.eb.n < bd.eb.cap) { /* give back what the successor lists will need */
		raw_edge *v = realloc(bd.eb.v, bd.eb.n * sizeof *v);
		if (v) {
			bd.eb.v = v;
			bd.eb.cap = bd.eb.n;
		}
	}
	size_t kept = bd.eb.cap * sizeof *bd.eb.v + (size_t)n_ops * sizeof(top);
	timing__hazmap_free(bd.hz);
	bd.hz = NULL;
	malloc_trim(0); /* the hazard map's many small blocks: back to the system before the lists grow */
	rc = make_csr(g, &bd.eb, n_own, err);
	size_t csr = (size_t)g->n_edges * sizeof(edge) + ((size_t)n_ops + 2) * sizeof(int32_t);
	*peak = walked > kept + csr ? walked : kept + csr;
out:
	kb_op_reader_stop(rds);
	free(bd.shapes);
	free(bd.eb.v);
	free(bd.preds.v);
	free(bd.last_pe);
	free(bd.last_host);
	timing__hazmap_free(bd.hz);
	return rc;
}

void timing__graph_release(graph *g)
{
	free(g->ops);
	free(g->succ_at);
	free(g->succ);
	free(g->launch_op);
	for (int32_t c = 0; g->chans && c < g->n_chans; c++) {
		free(g->chans[c].send);
		free(g->chans[c].recv);
	}
	free(g->chans);
	memset(g, 0, sizeof *g);
}

