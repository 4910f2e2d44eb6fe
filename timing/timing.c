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

#include <math.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Simulated times stay below this (saturated costs cannot overflow). */
#define KB_MAX_SIM_PS INT64_C(1000000000000000000)

/* One op as the scheduler sees it. */
typedef struct top {
	int64_t bytes;           /* moved; for GEMM / MATH the operand bytes through the TCM port */
	union {
		int64_t flops;   /* GEMM / MATH work */
		uint64_t mem_pa; /* DMA, IPCQ, host write / fill: the memory side */
	};
	int64_t stall;           /* ps lost waiting for a unit or to link sharing */
	int64_t queue;           /* ps from ready (every predecessor released it) to start */
	int64_t t_start;         /* until the op starts: when its last predecessor released it */
	int64_t t_end;
	int32_t launch;          /* trace launch id; 0 = host stream */
	int32_t stall_link;      /* the link that cost it most, -1 none */
	int32_t pending;         /* start predecessors not yet released */
	int32_t aux;             /* launch: PE ops not yet finished; IPCQ send / recv: the channel index */
	int32_t wait_op;         /* index of the op that set the release time, -1 none */
	int32_t next;            /* next op on the same PE or host stream, -1 none */
	int16_t sip, cube, pe;   /* checked against the machine before they are narrowed */
	uint8_t kind;
	uint8_t wait : 7, scheduled : 1;
} top; /* 80 bytes: it is most of kb-time's memory */

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
	struct tchan *chans;    /* IPCQ channels, by table id - 1 */
	int32_t n_chans;
	kb_progress *progress;  /* NULL: none */
} graph;

/* An IPCQ channel as the scheduler sees it: the op of its k-th send and
 * k-th recv (-1 none), its slots and the credit message's cost. */
typedef struct tchan {
	int32_t *send, *recv;
	size_t n_send, n_recv, cap_send, cap_recv;
	int32_t n_slots;
	int64_t credit_bytes, credit_ps;
	int16_t src[3], dst[3];
	int8_t src_dir, dst_dir;
	int64_t sends_done, recvs_done;
} tchan;

typedef struct heap_item {
	int64_t key;
	int32_t id;       /* op index; flow id for a flow completion */
	uint32_t version; /* flow completion: the flow version it was computed for */
	uint8_t type;     /* EV_* */
} heap_item;

typedef struct heap {
	heap_item *v;
	size_t n, cap;
} heap;

/* ------------------------------------------------------------------ */
/* Reading the trace and building the graph                            */
/* ------------------------------------------------------------------ */

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

typedef kb_op_rec raw_op; /* one ops row as db's reader decodes it */

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
			return kb_fail(err, "out of memory");
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
 * the op waiting forever: the schedule reports the deadlock. */
static int channel_edges(build *bd)
{
	graph *g = bd->g;
	for (int32_t c = 0; c < g->n_chans; c++) {
		const tchan *ch = &g->chans[c];
		size_t n = ch->n_send > ch->n_recv ? ch->n_send : ch->n_recv;
		for (size_t k = 0; k < n; k++) {
			int32_t snd = k < ch->n_send ? ch->send[k] : -1, rcv = k < ch->n_recv ? ch->recv[k] : -1;
			if (rcv >= 0) {
				if (snd >= 0 && add_edge(&bd->eb, snd, rcv, KB_WAIT_DATA))
					return -1;
				g->ops[rcv].pending++;
			}
			if (snd >= 0 && k >= (size_t)ch->n_slots) {
				size_t j = k - (size_t)ch->n_slots;
				int32_t freed = j < ch->n_recv ? ch->recv[j] : -1;
				if (freed >= 0 && add_edge(&bd->eb, freed, snd, KB_WAIT_CREDIT))
					return -1;
				g->ops[snd].pending++;
			}
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
		return kb_fail(err, "out of memory");
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
	o->wait_op = o->next = o->stall_link = -1;
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
		g->ops[lop].aux++;
	}
	*last = i;
	/* memory accesses: the reads, then the write */
	bool mem_is_a = kb_op_memory_is_a(o->kind);
	int64_t stride = kb_op_is_dma(o->kind) ? ro->attr : 0;
	bool compute = o->launch != 0 && !kb_op_is_dma(o->kind);
	if (compute)
		o->bytes = 0; /* recounted below: every operand crosses the TCM port */
	struct { const kb_operand_rec *x; int64_t stride; bool write; } acc[5] = {
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
		const kb_operand_rec *x = acc[k].x;
		if (x->space && (x->shape < 1 || x->shape >= bd->n_shapes || (x->dtype != KB_F16 && x->dtype != KB_F32)))
			return kb_fail(err, "op %d: an operand has shape %lld / dtype %d: the trace is damaged", i + 1,
				       (long long)x->shape, x->dtype);
		int64_t len = x->space ? extent(bd->shapes, bd->n_shapes, x->shape, x->dtype, acc[k].stride) : 0;
		kb_error why;
		if (len && k != 3 && kb_pa_check_range(m, x->pa, (uint64_t)len, x->space, &why))
			return kb_fail(err, "op %d: %s: the trace is damaged", i + 1, why.msg);
		if (len && hazmap_access(bd->hz, x->pa, x->pa + (uint64_t)len, i, acc[k].write, preds))
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
	return kb_fail(err, "out of memory building the dependency graph");
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

/* Turns the edge list into successor lists (CSR). */
static int make_csr(graph *g, const builder *eb, kb_error *err)
{
	size_t n = (size_t)g->n;
	g->succ_at = kb_calloc_big(n + 2, sizeof *g->succ_at);
	g->succ = kb_calloc_big(eb->n ? eb->n : 1, sizeof *g->succ);
	if (!g->succ_at || !g->succ)
		return kb_fail(err, "out of memory for %zu edges", eb->n);
	/* counts, their running sums (the end of each list), then the edges
	 * from the last back, each list filled from its end: succ_at[i] ends
	 * at the start of list i, and every list keeps the edges' order */
	for (size_t k = 0; k < eb->n; k++)
		g->succ_at[eb->v[k].from]++;
	for (size_t k = 1; k <= n; k++)
		g->succ_at[k] += g->succ_at[k - 1];
	for (size_t k = eb->n; k-- > 0;)
		g->succ[--g->succ_at[eb->v[k].from]] = (edge){eb->v[k].to, eb->v[k].reason};
	g->n_edges = (int64_t)eb->n;
	return 0;
}

/* Loads ops and derives every edge in one pass in trace order. */
static int build_graph(kb_db *db, const kb_machine *m, graph *g, size_t *peak, kb_error *err)
{
	build bd = {.m = m, .g = g, .hz = hazmap_new(), .counts = kb_db_counts_of(db)};
	kb_op_reader *rds = NULL;
	int rc = -1;
	int64_t n_ops;
	if (!bd.hz)
		return kb_fail(err, "out of memory");
	if (kb_read_shapes(db, &bd.shapes, &bd.n_shapes, err) || kb_read_op_count(db, &n_ops, err))
		goto out;
	g->n = (int32_t)n_ops;
	g->ops = kb_calloc_big((size_t)n_ops + 1, sizeof *g->ops);
	bd.last_pe = malloc((size_t)m->n_pes * sizeof *bd.last_pe);
	bd.last_host = malloc((size_t)m->n_sips * sizeof *bd.last_host);
	bd.eb.cap = 2 * (size_t)n_ops + 1024; /* ~2 edges per op; grown past that */
	bd.eb.v = kb_calloc_big(bd.eb.cap, sizeof *bd.eb.v);
	if (!g->ops || !bd.last_pe || !bd.last_host || !bd.eb.v) {
		kb_fail(err, "out of memory for %lld ops", (long long)n_ops);
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
	if (channel_edges(&bd)) {
		kb_fail(err, "out of memory building the dependency graph");
		goto out;
	}
	/* the peak: while walking the ops (the hazard map), or while the
	 * successor lists are built (it is freed by then) */
	size_t walked = bd.eb.cap * sizeof *bd.eb.v + (size_t)n_ops * sizeof(top) + hazmap_bytes(bd.hz);
	if (bd.eb.n && bd.eb.n < bd.eb.cap) { /* give back what the successor lists will need */
		raw_edge *v = realloc(bd.eb.v, bd.eb.n * sizeof *v);
		if (v) {
			bd.eb.v = v;
			bd.eb.cap = bd.eb.n;
		}
	}
	size_t kept = bd.eb.cap * sizeof *bd.eb.v + (size_t)n_ops * sizeof(top);
	size_t csr = bd.eb.n * sizeof(edge) + ((size_t)n_ops + 2) * sizeof(int32_t);
	hazmap_free(bd.hz);
	bd.hz = NULL;
	malloc_trim(0); /* the hazard map's many small blocks: back to the system before the lists grow */
	*peak = walked > kept + csr ? walked : kept + csr;
	rc = make_csr(g, &bd.eb, err);
out:
	kb_op_reader_stop(rds);
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
	for (int32_t c = 0; g->chans && c < g->n_chans; c++) {
		free(g->chans[c].send);
		free(g->chans[c].recv);
	}
	free(g->chans);
	memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ */
/* Scheduling                                                          */
/* ------------------------------------------------------------------ */

/* Event kinds, in the order they run at equal times: what frees a unit
 * or a link runs before anything that could claim it. */
enum { EV_FLOW_DONE, EV_OP_DONE, EV_FLOW_START, EV_READY };

static bool before(const heap_item *a, const heap_item *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (a->type != b->type)
		return a->type < b->type;
	return a->id < b->id; /* ties go to the lower id: deterministic schedules */
}

static int heap_push(heap *hp, heap_item it)
{
	if (kb_grow(&hp->v, &hp->cap, hp->n + 1, sizeof *hp->v, 1024))
		return -1;
	size_t i = hp->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&it, &hp->v[p]))
			break;
		hp->v[i] = hp->v[p];
		i = p;
	}
	hp->v[i] = it;
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
		if (c + 1 < hp->n && before(&hp->v[c + 1], &hp->v[c]))
			c++;
		if (!before(&hp->v[c], &last))
			break;
		hp->v[i] = hp->v[c];
		i = c;
	}
	hp->v[i] = last;
	return top_item;
}

typedef struct units {
	int32_t *on;             /* per PE: slots (DMA engines, GEMM, MATH, IPCQ): the op on it, -1 free */
	int32_t *parked;         /* per PE: the op waiting for a unit, -1 none */
	int64_t *busy, *ops;     /* per PE x U_COUNT */
	int64_t *host_busy, *host_ops;
	int32_t *host_out;       /* per rank: host data ops not yet landed */
	int64_t *host_landed;    /* per rank: when the last of them lands */
	int32_t *host_parked;    /* per rank: a launch waiting for them */
	int engines, slots;
} units;

enum { U_DMA, U_GEMM, U_MATH, U_IPCQ, U_COUNT };

typedef struct sched {
	graph *g;
	model md;
	units u;
	heap q;
	const kb_machine *m;
	int64_t done;
} sched;

static int push(sched *s, int64_t key, int32_t id, uint8_t type, uint32_t version)
{
	return heap_push(&s->q, (heap_item){key, id, version, type});
}

/* Applies a released constraint (to may start at `at`) to op `to`. */
static int release(sched *s, int32_t from, int32_t to, uint8_t reason, int64_t at)
{
	top *o = &s->g->ops[to];
	if (at > o->t_start || (at == o->t_start && o->wait == KB_WAIT_NONE && at > 0)) {
		o->t_start = at; /* the release time, until it starts */
		o->wait = reason & 0x7f;
		o->wait_op = from;
	}
	return --o->pending == 0 ? push(s, o->t_start, to, EV_READY, 0) : 0;
}

/* An op's start is known: release what waits for it to start (the next
 * op on its PE, the first PE ops of a launch). */
static int started(sched *s, int32_t i, int64_t now)
{
	top *o = &s->g->ops[i];
	o->scheduled = 1;
	o->queue = now - o->t_start; /* t_start: when it was released */
	o->stall = o->wait == KB_WAIT_UNIT ? o->queue : 0;
	o->t_start = now;
	if (o->launch != 0 && o->next >= 0 && release(s, i, o->next, KB_WAIT_ORDER, o->t_start))
		return -1;
	if (o->kind != KB_OP_LAUNCH)
		return 0; /* launch edges leave launches only */
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason == KB_WAIT_LAUNCH && release(s, i, e->to, e->reason, o->t_start + s->md.cost.launch_ps))
			return -1;
	}
	return 0;
}

/* An op's end is known: release what waits for it to end (the host op
 * after a launch, data hazards) and count it towards its launch's end. */
static int finish(sched *s, int32_t i)
{
	top *o = &s->g->ops[i];
	kb_progress_tick(s->g->progress, ++s->done);
	if (o->kind == KB_OP_LAUNCH && o->next >= 0 && release(s, i, o->next, KB_WAIT_HOST, o->t_end))
		return -1;
	if (o->launch != 0) {
		int32_t li = (int32_t)s->g->launch_op[o->launch];
		top *l = &s->g->ops[li];
		if (o->t_end > l->t_end)
			l->t_end = o->t_end;
		if (--l->aux == 0 && l->scheduled && finish(s, li))
			return -1;
	}
	if (o->kind == KB_OP_IPCQ_SEND)
		s->g->chans[o->aux].sends_done++;
	else if (o->kind == KB_OP_IPCQ_RECV)
		s->g->chans[o->aux].recvs_done++;
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		/* a freed slot's credit reaches the sender after the credit message */
		int64_t at = o->t_end + (e->reason == KB_WAIT_CREDIT ? s->g->chans[o->aux].credit_ps : 0);
		if (e->reason != KB_WAIT_LAUNCH && release(s, i, e->to, e->reason, at))
			return -1;
	}
	return 0;
}

/* The credit message of each channel: from the receiver back to the
 * sender's PE, route latency plus credit bytes at the route's bottleneck
 * (it does not share links: the seed's credit fast path). */
static void credit_costs(sched *s)
{
	for (int32_t c = 0; c < s->g->n_chans; c++) {
		tchan *ch = &s->g->chans[c];
		kb_physaddr to = {0, (unsigned)ch->src[0], (unsigned)ch->src[1], KB_SPACE_TCM, (unsigned)ch->src[2], 0};
		route r;
		timing_dma_route(&s->md, ch->dst[0], ch->dst[1], ch->dst[2], &to, false, &r);
		ch->credit_ps = r.latency_ps + fabric_ps((double)ch->credit_bytes, r.min_gbps > 0 ? r.min_gbps : 1e12);
	}
}

/* After a deadlock: per PE stuck on an IPCQ op, the op and the queue
 * pointers of each of its directions (the seed's pointer dump). */
static char *pointer_dump(const sched *s)
{
	const graph *g = s->g;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	int shown = 0;
	bool *seen = calloc((size_t)s->m->n_pes, sizeof *seen); /* PEs whose first blocked op was met */
	for (int32_t i = 0; seen && i < g->n && shown < 64; i++) {
		const top *o = &g->ops[i];
		if (o->scheduled || o->launch == 0)
			continue;
		int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe);
		if (seen[pe])
			continue;
		seen[pe] = true;
		if (o->kind != KB_OP_IPCQ_SEND && o->kind != KB_OP_IPCQ_RECV)
			continue;
		const tchan *mc = &g->chans[o->aux];
		bool send = o->kind == KB_OP_IPCQ_SEND;
		fprintf(f, "sip%d.cube%d.pe%d: stuck on op %d (%s %s, waiting for %s)\n", o->sip, o->cube, o->pe, i + 1,
			kb_op_kind_name((kb_op_kind)o->kind), kb_dir_name((kb_dir)(send ? mc->src_dir : mc->dst_dir)),
			send ? "a credit: the receiver never frees a slot" : "a message no send provides");
		for (int d = 0; d < KB_DIR_COUNT; d++) {
			const tchan *out = NULL, *in = NULL;
			for (int32_t c = 0; c < g->n_chans; c++) {
				const tchan *ch = &g->chans[c];
				if (!ch->n_send && !ch->n_recv)
					continue; /* a wiring nothing used (another install) */
				if (ch->src[0] == o->sip && ch->src[1] == o->cube && ch->src[2] == o->pe && ch->src_dir == d)
					out = ch;
				if (ch->dst[0] == o->sip && ch->dst[1] == o->cube && ch->dst[2] == o->pe && ch->dst_dir == d)
					in = ch;
			}
			if (!out && !in)
				continue;
			fprintf(f, "  %s: my_head=%lld my_tail=%lld peer_head_cache=%lld peer_tail_cache=%lld"
				   " (sends traced %zu, recvs traced %zu)\n", kb_dir_name((kb_dir)d),
				(long long)(out ? out->sends_done : 0), (long long)(in ? in->recvs_done : 0),
				(long long)(in ? in->sends_done : 0), (long long)(out ? out->recvs_done : 0),
				out ? out->n_send : (size_t)0, in ? in->n_recv : (size_t)0);
		}
		shown++;
	}
	free(seen);
	fclose(f);
	return buf;
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

static int unit_of(int kind)
{
	if (kind == KB_OP_IPCQ_SEND) /* the queue engine pushes sends; a recv is a local copy on a DMA engine */
		return U_IPCQ;
	return kb_op_is_dma(kind) ? U_DMA : kind == KB_OP_GEMM ? U_GEMM : U_MATH;
}

/* The unit slots of op o's kind on PE pe: [*first, *first + *n). */
static void unit_slots(const units *u, int kind, int pe, int *first, int *n)
{
	int unit = unit_of(kind);
	*first = pe * u->slots + (unit == U_DMA ? 0 : u->engines + unit - U_GEMM);
	*n = unit == U_DMA ? u->engines : 1;
}

/* Queues the completion of every flow whose rate changed. */
static int drain_changed(sched *s)
{
	fabric *fb = &s->md.fab;
	for (size_t k = 0; k < fb->n_changed; k++) {
		int32_t f = fb->changed[k];
		if (push(s, fabric_eta(&s->md, f), f, EV_FLOW_DONE, fb->flows[f].version))
			return -1;
	}
	fb->n_changed = 0;
	return 0;
}

/* GEMM / MATH: total cycles and the setup part, in ps. */
static void compute_cost(const sched *s, const top *o, int64_t *total, int64_t *setup)
{
	const kb_cost *c = &s->md.cost;
	bool gemm = o->kind == KB_OP_GEMM;
	*total = gemm ? kb_cost_gemm_ps(c, o->flops / 2) : kb_cost_math_ps(c, (kb_op_kind)o->kind, o->flops);
	*setup = (gemm ? c->gemm_setup_cycles : c->math_setup_cycles) * c->cycle_ps;
	if (*setup > *total)
		*setup = *total;
}

/* Host data ops (write, fill, map message): one flow, in order per rank;
 * the next one starts when this one's bytes are injected. */
static int start_host_op(sched *s, int32_t i, int64_t now, kb_error *err)
{
	top *o = &s->g->ops[i];
	kb_physaddr pa;
	route r;
	bool map = o->kind == KB_OP_MMU_MAP;
	if (!map && decode(s, i, &pa, err))
		return -1;
	timing_host_route(&s->md, o->sip, map ? o->cube : (int)pa.cube, map ? NULL : &pa, o->kind != KB_OP_HOST_FILL, &r);
	if (started(s, i, now))
		return -1;
	s->u.host_out[o->sip]++;
	s->u.host_ops[o->sip]++;
	if (fabric_start(&s->md, &r, o->bytes, 0, i, now) < 0 || drain_changed(s))
		return kb_fail(err, "out of memory");
	return 0;
}

/* EV_READY: every predecessor has released op i. */
static int ready(sched *s, int32_t i, int64_t now, kb_error *err)
{
	top *o = &s->g->ops[i];
	units *u = &s->u;
	if (o->kind == KB_OP_LAUNCH) { /* after every earlier host op of its rank has landed */
		if (u->host_out[o->sip] > 0) {
			u->host_parked[o->sip] = i;
			o->wait = KB_WAIT_HOST;
			return 0;
		}
		if (u->host_landed[o->sip] > now) {
			o->wait = KB_WAIT_HOST;
			return push(s, u->host_landed[o->sip], i, EV_READY, 0);
		}
		o->t_end = now + s->md.cost.launch_ps;
		if (started(s, i, now) || (o->aux == 0 && finish(s, i)))
			return kb_fail(err, "out of memory");
		return 0;
	}
	if (o->launch == 0)
		return start_host_op(s, i, now, err);
	int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe), first, n, slot = -1;
	unit_slots(u, o->kind, pe, &first, &n);
	int32_t holder = -1;
	for (int k = first; k < first + n && slot < 0; k++) {
		if (u->on[k] < 0)
			slot = k;
		else if (holder < 0 || s->g->ops[u->on[k]].t_start < s->g->ops[holder].t_start)
			holder = u->on[k];
	}
	if (slot < 0) { /* every unit of its kind busy: wait for one to free */
		u->parked[pe] = i;
		o->wait = KB_WAIT_UNIT;
		o->wait_op = holder;
		return 0;
	}
	u->on[slot] = i;
	if (started(s, i, now))
		return kb_fail(err, "out of memory");
	/* the data moves after the setup; a compute op without operand bytes
	 * is pure compute */
	int64_t total = 0, setup = s->md.cost.dma_setup_ps;
	bool flows = true;
	if (!kb_op_is_dma(o->kind)) {
		compute_cost(s, o, &total, &setup);
		flows = o->bytes > 0 && total > setup;
	}
	if (push(s, now + (flows ? setup : total), i, flows ? EV_FLOW_START : EV_OP_DONE, 0))
		return kb_fail(err, "out of memory");
	return 0;
}

/* EV_FLOW_START: op i's data starts to move. */
static int start_flow(sched *s, int32_t i, int64_t now, kb_error *err)
{
	top *o = &s->g->ops[i];
	route r;
	double bound = 0;
	if (kb_op_is_dma(o->kind)) {
		kb_physaddr pa;
		if (decode(s, i, &pa, err))
			return -1;
		timing_dma_route(&s->md, o->sip, o->cube, o->pe, &pa, kb_op_memory_is_a(o->kind), &r);
	} else { /* operands stream through the TCM port at the engine's pace at most */
		int64_t total, setup;
		compute_cost(s, o, &total, &setup);
		timing_tcm_route(&s->md, o->sip, o->cube, o->pe, &r);
		bound = (double)o->bytes * 1000.0 / (double)(total - setup);
	}
	if (fabric_start(&s->md, &r, o->bytes, bound, i, now) < 0 || drain_changed(s))
		return kb_fail(err, "out of memory");
	return 0;
}

/* Op i has moved its last byte (or computed its last cycle) at now. */
static int complete(sched *s, int32_t i, int64_t now, int64_t latency_ps)
{
	top *o = &s->g->ops[i];
	units *u = &s->u;
	if (o->launch == 0) {
		bool pcie = o->kind != KB_OP_HOST_FILL; /* its latency is in the route */
		o->t_end = now + latency_ps + s->md.cost.host_control_ps -
			   (pcie ? s->md.links[s->md.base[L_PCIE]].latency_ps : 0);
		u->host_busy[o->sip] += now - o->t_start;
		if (o->next >= 0 && release(s, i, o->next, KB_WAIT_HOST, now))
			return -1;
		if (o->t_end > u->host_landed[o->sip])
			u->host_landed[o->sip] = o->t_end;
		if (--u->host_out[o->sip] == 0 && u->host_parked[o->sip] >= 0) {
			int64_t at = u->host_landed[o->sip] > now ? u->host_landed[o->sip] : now;
			if (push(s, at, u->host_parked[o->sip], EV_READY, 0))
				return -1;
			u->host_parked[o->sip] = -1;
		}
	} else {
		int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe), first, n;
		o->t_end = now + latency_ps;
		unit_slots(u, o->kind, pe, &first, &n);
		for (int k = first; k < first + n; k++)
			if (u->on[k] == i)
				u->on[k] = -1;
		int unit = unit_of(o->kind);
		u->busy[pe * U_COUNT + unit] += now - o->t_start;
		u->ops[pe * U_COUNT + unit]++;
		int32_t w = u->parked[pe];
		if (w >= 0 && unit_of(s->g->ops[w].kind) == unit) {
			u->parked[pe] = -1;
			if (push(s, now, w, EV_READY, 0))
				return -1;
		}
	}
	if (o->t_end <= o->t_start)
		o->t_end = o->t_start + 1; /* every op takes time: reads precede writes */
	return finish(s, i);
}

/* EV_FLOW_DONE: a flow's completion, unless its rate changed since. */
static int flow_done(sched *s, const heap_item *it)
{
	const flow *f = &s->md.fab.flows[it->id];
	if (f->version != it->version || f->n == 0)
		return 0;
	int32_t i = f->op;
	flow_result fr;
	fabric_finish(&s->md, it->id, it->key, &fr);
	top *o = &s->g->ops[i];
	o->stall += llround(fr.stall_ps);
	o->stall_link = fr.stall_link;
	return complete(s, i, it->key, fr.latency_ps);
}

static int schedule(sched *s, kb_error *err)
{
	graph *g = s->g;
	for (int32_t i = 0; i < g->n; i++)
		if (g->ops[i].pending == 0 && push(s, 0, i, EV_READY, 0))
			return kb_fail(err, "out of memory");
	int64_t now = 0;
	kb_progress_begin(g->progress, "schedule", "ops", g->n);
	for (;;) {
		/* rates change only between instants: settle them before time moves */
		if (s->md.fab.n_dirty && (!s->q.n || s->q.v[0].key > now)) {
			if (fabric_resolve(&s->md, now) || drain_changed(s))
				return kb_fail(err, "out of memory");
			continue;
		}
		if (!s->q.n)
			break;
		heap_item it = heap_pop(&s->q);
		now = it.key;
		if (now > KB_MAX_SIM_PS || now < 0)
			return kb_fail(err, "the simulated time passes 10^18 ps (11.6 days) at op %d: a bandwidth or clock is"
					    " too low for this trace", it.id + 1);
		int rc;
		switch (it.type) {
		case EV_FLOW_DONE: rc = flow_done(s, &it); break;
		case EV_OP_DONE: rc = complete(s, it.id, now, 0); break;
		case EV_FLOW_START: rc = start_flow(s, it.id, now, err); break;
		default: rc = ready(s, it.id, now, err);
		}
		if (rc) {
			if (!err->msg[0])
				kb_fail(err, "out of memory");
			return -1;
		}
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
	u->slots = u->engines + 3;
	size_t pes = (size_t)m->n_pes, sips = (size_t)m->n_sips;
	u->on = malloc(pes * (size_t)u->slots * sizeof *u->on);
	u->parked = malloc(pes * sizeof *u->parked);
	u->busy = calloc(pes * U_COUNT, sizeof *u->busy);
	u->ops = calloc(pes * U_COUNT, sizeof *u->ops);
	u->host_busy = calloc(sips, sizeof *u->host_busy);
	u->host_ops = calloc(sips, sizeof *u->host_ops);
	u->host_out = calloc(sips, sizeof *u->host_out);
	u->host_landed = calloc(sips, sizeof *u->host_landed);
	u->host_parked = malloc(sips * sizeof *u->host_parked);
	if (!(u->on && u->parked && u->busy && u->ops && u->host_busy && u->host_ops && u->host_out && u->host_landed &&
	      u->host_parked))
		return -1;
	memset(u->on, 0xff, pes * (size_t)u->slots * sizeof *u->on);
	memset(u->parked, 0xff, pes * sizeof *u->parked);
	memset(u->host_parked, 0xff, sips * sizeof *u->host_parked);
	return 0;
}

static void units_release(units *u)
{
	free(u->on);
	free(u->parked);
	free(u->busy);
	free(u->ops);
	free(u->host_busy);
	free(u->host_ops);
	free(u->host_out);
	free(u->host_landed);
	free(u->host_parked);
}

/* ------------------------------------------------------------------ */
/* Storing the run                                                     */
/* ------------------------------------------------------------------ */

/* Op i's op_times columns (db's writer pulls them while it inserts). */
static void op_row(const void *ctx, int64_t i, int64_t row[KB_OP_TIME_COLS])
{
	const top *o = &((const graph *)ctx)->ops[i];
	int64_t v[KB_OP_TIME_COLS] = {o->t_start, o->t_end, o->wait, o->wait_op + 1, o->stall, o->stall_link + 1, o->queue};
	memcpy(row, v, sizeof v);
}

static int store_spans(kb_run_writer *w, const graph *g, const kb_cost *c, kb_db *db, kb_error *err)
{
	int rc = 0;
	for (int64_t l = 1; l <= g->n_launches && !rc; l++) {
		const top *o = &g->ops[g->launch_op[l]];
		rc = kb_run_launch_time(w, l, o->t_start, o->t_start + c->launch_ps, o->t_end, err);
	}
	if (rc)
		return rc;
	/* a range spans the ops of its rank recorded between push and pop */
	kb_range_rec *r;
	size_t n;
	if (kb_read_ranges(db, &r, &n, err))
		return -1;
	for (size_t k = 0; k < n && !rc; k++) {
		int64_t t0 = INT64_MAX, t1 = 0;
		for (int64_t i = r[k].first_op - 1; i >= 0 && i < r[k].end_op - 1 && i < g->n; i++)
			if (g->ops[i].sip == r[k].rank) {
				if (g->ops[i].t_start < t0)
					t0 = g->ops[i].t_start;
				if (g->ops[i].t_end > t1)
					t1 = g->ops[i].t_end;
			}
		if (t0 == INT64_MAX)
			t0 = t1;
		rc = kb_run_range_time(w, r[k].id, t0, t1, err);
	}
	free(r);
	return rc;
}

/* The link-load series: GB/s per link kind and bucket (kinds that moved bytes). */
static int store_load(kb_run_writer *w, const sched *s, kb_error *err)
{
	static const char *const kinds[] = {"hbm", "tcm", "sram", "noc_out", "noc_in", "cube_link", "sip_link", "pcie"};
	const load_series *ls = &s->md.load;
	int rc = 0;
	for (int k = 0; k < L_KIND_COUNT && !rc; k++) {
		const double *b = ls->bytes + (size_t)k * LOAD_BUCKETS;
		bool any = false;
		for (int32_t i = 0; i < ls->used && !any; i++)
			any = b[i] > 0;
		for (int32_t i = 0; any && i <= ls->used && !rc; i++) /* a closing zero after the last bucket */
			rc = kb_run_link_load(w, kinds[k], (int64_t)i * ls->width_ps,
					      i < ls->used ? b[i] * 1000.0 / (double)ls->width_ps : 0.0, err);
	}
	return rc;
}

static int store_usage(kb_run_writer *w, const sched *s, kb_error *err)
{
	const kb_machine *m = s->m;
	static const char *const unit_names[] = {"dma", "gemm", "math", "ipcq"};
	int rc = 0, per_sip = m->n_cubes * m->pes_per_cube;
	for (int pe = 0; pe < m->n_pes && !rc; pe++)
		for (int u = 0; u < U_COUNT && !rc; u++)
			if (s->u.ops[pe * U_COUNT + u])
				rc = kb_run_unit_busy(w, unit_names[u], pe / per_sip, pe % per_sip / m->pes_per_cube,
						      pe % m->pes_per_cube, s->u.ops[pe * U_COUNT + u],
						      s->u.busy[pe * U_COUNT + u], err);
	for (int sip = 0; sip < m->n_sips && !rc; sip++)
		if (s->u.host_ops[sip])
			rc = kb_run_unit_busy(w, "host", sip, -1, -1, s->u.host_ops[sip], s->u.host_busy[sip], err);
	for (int32_t l = 0; l < s->md.n_links && !rc; l++) {
		const link *k = &s->md.links[l];
		if (!k->transfers)
			continue;
		char name[96];
		const char *kind, *dir;
		timing_link_name(&s->md, l, name, sizeof name, &kind, &dir);
		kb_link_usage_rec rec = {name, kind, dir, k->gbps, k->transfers, k->bytes, k->busy_ps, l + 1,
					 llround(k->stall_ps)};
		rc = kb_run_link_usage(w, &rec, err);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

int kb_time_trace(kb_db *db, const kb_machine *m, const kb_time_options *opt, kb_time_result *res, kb_error *err)
{
	memset(res, 0, sizeof *res);
	graph g = {0};
	sched s = {0};
	size_t peak = 0;
	int rc = -1;
	double t0 = kb_now_s();
	g.progress = opt->progress;
	if (build_graph(db, m, &g, &peak, err))
		goto out;
	double t1 = kb_now_s();
	s.g = &g;
	s.m = m;
	if (timing_model_init(&s.md, m, err) || units_init(&s.u, m)) {
		if (!err->msg[0])
			kb_fail(err, "out of memory");
		goto out;
	}
	credit_costs(&s);
	s.md.load.bytes = calloc((size_t)L_KIND_COUNT * LOAD_BUCKETS, sizeof *s.md.load.bytes);
	s.md.load.width_ps = 1000;
	if (!s.md.load.bytes) {
		kb_fail(err, "out of memory");
		goto out;
	}
	if (schedule(&s, err)) {
		rc = strncmp(err->msg, "deadlock", 8) == 0 ? KB_TIME_DEADLOCK : -1;
		if (rc == KB_TIME_DEADLOCK)
			res->diagnostics = pointer_dump(&s);
		goto out;
	}
	double t2 = kb_now_s();
	int64_t total = 0;
	for (int32_t i = 0; i < g.n; i++)
		if (g.ops[i].t_end > total)
			total = g.ops[i].t_end;
	kb_progress_begin(g.progress, "write", "ops", g.n);
	char *effective = kb_topo_effective(&m->cfg);
	if (!effective) {
		kb_fail(err, "out of memory");
		goto out;
	}
	kb_run_info info = {opt->label, opt->replace, opt->source, opt->overrides, effective, KB_VERSION, total, g.n};
	kb_run_writer *w;
	int wrc = kb_run_begin(db, &info, &w, res->label, sizeof res->label, err);
	free(effective);
	if (wrc)
		goto out;
	res->run_id = kb_run_id(w);
	if (kb_run_op_times(w, g.n, op_row, &g, g.progress, err) || store_spans(w, &g, &s.md.cost, db, err) ||
	    store_usage(w, &s, err) || store_load(w, &s, err)) {
		kb_run_abort(w);
		goto out;
	}
	if (kb_run_commit(w, err))
		goto out;
	res->total_ps = total;
	res->n_ops = g.n;
	res->n_edges = g.n_edges;
	/* scheduling holds the ops, the successor lists, the event heap, flows */
	size_t sched_bytes = (size_t)g.n * sizeof(top) + (size_t)g.n_edges * sizeof(edge) +
			     ((size_t)g.n + 2) * sizeof(int32_t) + s.q.cap * sizeof(heap_item) +
			     s.md.fab.cap_flows * sizeof(flow);
	res->peak_bytes = (int64_t)(peak > sched_bytes ? peak : sched_bytes);
	res->read_s = t1 - t0;
	res->schedule_s = t2 - t1;
	res->write_s = kb_now_s() - t2;
	rc = 0;
out:
	kb_progress_end(g.progress);
	free(s.q.v);
	units_release(&s.u);
	timing_model_release(&s.md);
	graph_release(&g);
	return rc;
}

int kb_time_check_structure(const kb_topo_cfg *was, const kb_topo_cfg *now, kb_error *err)
{
	return kb_topo_same_structure(was, now, err); /* the keys KB_TOPOLOGY_KEYS marks TRACE */
}
