/*
 * schedule.c — one timing run on a built graph: an event queue pops the
 * op with the earliest possible start; if every unit of its kind is busy
 * it parks until one frees. Transfers are flows over their routes: flows
 * share each link's bandwidth max-min fairly (fabric.c) and nothing is
 * reserved, so an idle link is never blocked. A launch ends when the last
 * of its PE ops ends; a schedule that cannot finish is a deadlock, with
 * the IPCQ pointer dump.
 */
#include "timing_int.h"

#include <math.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>


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
	KB_ASSERT(hp->n > 0, "pop from an empty event heap");
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
	KB_ASSERT(hp->n == 0 || !before(&hp->v[0], &top_item), "the heap's new top (t %lld, op %d) precedes the popped"
		  " one (t %lld, op %d)", (long long)hp->v[0].key, hp->v[0].id, (long long)top_item.key, top_item.id);
	return top_item;
}

static int push(sched *s, int64_t key, int32_t id, uint8_t type, uint32_t version)
{
	return heap_push(&s->q, (heap_item){key, id, version, type});
}

/* Applies a released constraint (to may start at `at`) to op `to`. */
static int release(sched *s, int32_t from, int32_t to, uint8_t reason, int64_t at)
{
	KB_ASSERT(to >= 0 && to < s->g->n && from >= 0 && from < s->g->n, "edge %d -> %d of %d ops", from, to, s->g->n);
	opst *so = &s->st[to];
	KB_ASSERT(so->pending > 0 && !so->scheduled, "op %d released by op %d with %d constraints pending%s", to + 1,
		  from + 1, so->pending, so->scheduled ? " after it started" : "");
	if (at > so->t_start || (at == so->t_start && so->wait == KB_WAIT_NONE && at > 0)) {
		so->t_start = at; /* the release time, until it starts */
		so->wait = reason & 0x7f;
		so->wait_op = from;
	}
	return --so->pending == 0 ? push(s, so->t_start, to, EV_READY, 0) : 0;
}

/* An op's start is known: release what waits for it to start (the next
 * op on its PE, the first PE ops of a launch). */
static int started(sched *s, int32_t i, int64_t now)
{
	const top *o = &s->g->ops[i];
	opst *so = &s->st[i];
	KB_ASSERT(!so->scheduled && so->pending == 0, "op %d starts twice or with %d constraints pending", i + 1,
		  so->pending);
	KB_ASSERT(now >= so->t_start, "op %d starts at %lld ps, before its release at %lld ps", i + 1, (long long)now,
		  (long long)so->t_start);
	so->scheduled = 1;
	so->queue = now - so->t_start; /* t_start: when it was released */
	so->stall = so->wait == KB_WAIT_UNIT ? so->queue : 0;
	so->t_start = now;
	if (o->launch != 0 && o->next >= 0 && release(s, i, o->next, KB_WAIT_ORDER, so->t_start))
		return -1;
	if (o->kind != KB_OP_LAUNCH)
		return 0; /* launch edges leave launches only */
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		if (e->reason == KB_WAIT_LAUNCH && release(s, i, e->to, e->reason, so->t_start + s->md.cost.launch_ps))
			return -1;
	}
	return 0;
}

/* An op's end is known: release what waits for it to end (the host op
 * after a launch, data hazards) and count it towards its launch's end. */
static int finish(sched *s, int32_t i)
{
	const top *o = &s->g->ops[i];
	opst *so = &s->st[i];
	KB_ASSERT(so->scheduled && so->t_end > so->t_start, "op %d ends at %lld ps, started %s at %lld ps", i + 1,
		  (long long)so->t_end, so->scheduled ? "" : "never", (long long)so->t_start);
	kb_progress_tick(s->progress, ++s->done);
	KB_ASSERT(s->done <= s->g->n, "%lld ops finished of %d", (long long)s->done, s->g->n);
	if (o->kind == KB_OP_LAUNCH && o->next >= 0 && release(s, i, o->next, KB_WAIT_HOST, so->t_end))
		return -1;
	if (o->launch != 0) {
		int32_t li = (int32_t)s->g->launch_op[o->launch];
		opst *l = &s->st[li];
		KB_ASSERT(l->left > 0, "launch op %d counts more PE ops ending than it has (op %d)", li + 1, i + 1);
		if (so->t_end > l->t_end)
			l->t_end = so->t_end;
		if (--l->left == 0 && l->scheduled && finish(s, li))
			return -1;
	}
	if (o->kind == KB_OP_IPCQ_SEND)
		s->ch[o->aux].sends_done++;
	else if (o->kind == KB_OP_IPCQ_RECV)
		s->ch[o->aux].recvs_done++;
	for (int32_t k = s->g->succ_at[i]; k < s->g->succ_at[i + 1]; k++) {
		const edge *e = &s->g->succ[k];
		/* a freed slot's credit reaches the sender after the credit message */
		int64_t at = so->t_end + (e->reason == KB_WAIT_CREDIT ? s->ch[o->aux].credit_ps : 0);
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
		const tchan *ch = &s->g->chans[c];
		kb_physaddr to = {0, (unsigned)ch->src[0], (unsigned)ch->src[1], KB_SPACE_TCM, (unsigned)ch->src[2], 0};
		route r;
		timing__dma_route(&s->md, ch->dst[0], ch->dst[1], ch->dst[2], &to, false, &r);
		s->ch[c].credit_ps = r.latency_ps + timing__fabric_ps((double)ch->credit_bytes, r.min_gbps > 0 ? r.min_gbps : 1e12);
	}
}

/* After a deadlock: per PE stuck on an IPCQ op, the op and the queue
 * pointers of each of its directions (the seed's pointer dump). */
char *timing__pointer_dump(const sched *s)
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
		if (s->st[i].scheduled || o->launch == 0)
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
			int32_t out = -1, in = -1;
			for (int32_t c = 0; c < g->n_chans; c++) {
				const tchan *ch = &g->chans[c];
				if (!ch->n_send && !ch->n_recv)
					continue; /* a wiring nothing used (another install) */
				if (ch->src[0] == o->sip && ch->src[1] == o->cube && ch->src[2] == o->pe && ch->src_dir == d)
					out = c;
				if (ch->dst[0] == o->sip && ch->dst[1] == o->cube && ch->dst[2] == o->pe && ch->dst_dir == d)
					in = c;
			}
			if (out < 0 && in < 0)
				continue;
			fprintf(f, "  %s: my_head=%lld my_tail=%lld peer_head_cache=%lld peer_tail_cache=%lld"
				   " (sends traced %zu, recvs traced %zu)\n", kb_dir_name((kb_dir)d),
				(long long)(out >= 0 ? s->ch[out].sends_done : 0), (long long)(in >= 0 ? s->ch[in].recvs_done : 0),
				(long long)(in >= 0 ? s->ch[in].sends_done : 0), (long long)(out >= 0 ? s->ch[out].recvs_done : 0),
				out >= 0 ? g->chans[out].n_send : (size_t)0, in >= 0 ? g->chans[in].n_recv : (size_t)0);
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
	KB_ASSERT(*first + *n <= (pe + 1) * u->slots, "unit slots %d..%d of PE %d beyond its %d", *first, *first + *n, pe,
		  u->slots);
}

/* Queues the completion of every flow whose rate changed. */
static int drain_changed(sched *s)
{
	fabric *fb = &s->md.fab;
	for (size_t k = 0; k < fb->n_changed; k++) {
		int32_t f = fb->changed[k];
		if (push(s, timing__fabric_eta(&s->md, f), f, EV_FLOW_DONE, fb->flows[f].version))
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
	const top *o = &s->g->ops[i];
	kb_physaddr pa;
	route r;
	bool map = o->kind == KB_OP_MMU_MAP;
	if (!map && decode(s, i, &pa, err))
		return -1;
	timing__host_route(&s->md, o->sip, map ? o->cube : (int)pa.cube, map ? NULL : &pa, o->kind != KB_OP_HOST_FILL, &r);
	if (started(s, i, now))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	s->u.host_out[o->sip]++;
	s->u.host_ops[o->sip]++;
	if (timing__fabric_start(&s->md, &r, o->bytes, 0, i, now) < 0 || drain_changed(s))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	return 0;
}

/* EV_READY: every predecessor has released op i. */
static int ready(sched *s, int32_t i, int64_t now, kb_error *err)
{
	const top *o = &s->g->ops[i];
	opst *so = &s->st[i];
	units *u = &s->u;
	if (o->kind == KB_OP_LAUNCH) { /* after every earlier host op of its rank has landed */
		if (u->host_out[o->sip] > 0) {
			u->host_parked[o->sip] = i;
			so->wait = KB_WAIT_HOST;
			return 0;
		}
		if (u->host_landed[o->sip] > now) {
			so->wait = KB_WAIT_HOST;
			return push(s, u->host_landed[o->sip], i, EV_READY, 0) ? kb_fail_status(err, KB_E_NOMEM, "out of memory")
									       : 0;
		}
		so->t_end = now + s->md.cost.launch_ps;
		if (started(s, i, now) || (so->left == 0 && finish(s, i)))
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
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
		else if (holder < 0 || s->st[u->on[k]].t_start < s->st[holder].t_start)
			holder = u->on[k];
	}
	if (slot < 0) { /* every unit of its kind busy: wait for one to free */
		u->parked[pe] = i;
		so->wait = KB_WAIT_UNIT;
		so->wait_op = holder;
		return 0;
	}
	u->on[slot] = i;
	if (started(s, i, now))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	/* the data moves after the setup; a compute op without operand bytes
	 * is pure compute */
	int64_t total = 0, setup = s->md.cost.dma_setup_ps;
	bool flows = true;
	if (!kb_op_is_dma(o->kind)) {
		compute_cost(s, o, &total, &setup);
		flows = o->bytes > 0 && total > setup;
	}
	if (push(s, now + (flows ? setup : total), i, flows ? EV_FLOW_START : EV_OP_DONE, 0))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	return 0;
}

/* EV_FLOW_START: op i's data starts to move. */
static int start_flow(sched *s, int32_t i, int64_t now, kb_error *err)
{
	const top *o = &s->g->ops[i];
	route r;
	double bound = 0;
	if (kb_op_is_dma(o->kind)) {
		kb_physaddr pa;
		if (decode(s, i, &pa, err))
			return -1;
		timing__dma_route(&s->md, o->sip, o->cube, o->pe, &pa, kb_op_memory_is_a(o->kind), &r);
	} else { /* operands stream through the TCM port at the engine's pace at most */
		int64_t total, setup;
		compute_cost(s, o, &total, &setup);
		timing__tcm_route(&s->md, o->sip, o->cube, o->pe, &r);
		bound = (double)o->bytes * 1000.0 / (double)(total - setup);
	}
	if (timing__fabric_start(&s->md, &r, o->bytes, bound, i, now) < 0 || drain_changed(s))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	return 0;
}

/* Op i has moved its last byte (or computed its last cycle) at now. */
static int complete(sched *s, int32_t i, int64_t now, int64_t latency_ps)
{
	const top *o = &s->g->ops[i];
	opst *so = &s->st[i];
	units *u = &s->u;
	if (o->launch == 0) {
		bool pcie = o->kind != KB_OP_HOST_FILL; /* its latency is in the route */
		so->t_end = now + latency_ps + s->md.cost.host_control_ps -
			   (pcie ? s->md.links[s->md.base[L_PCIE]].latency_ps : 0);
		u->host_busy[o->sip] += now - so->t_start;
		if (o->next >= 0 && release(s, i, o->next, KB_WAIT_HOST, now))
			return -1;
		if (so->t_end > u->host_landed[o->sip])
			u->host_landed[o->sip] = so->t_end;
		if (--u->host_out[o->sip] == 0 && u->host_parked[o->sip] >= 0) {
			int64_t at = u->host_landed[o->sip] > now ? u->host_landed[o->sip] : now;
			if (push(s, at, u->host_parked[o->sip], EV_READY, 0))
				return -1;
			u->host_parked[o->sip] = -1;
		}
	} else {
		int pe = kb_pe_index(s->m, o->sip, o->cube, o->pe), first, n;
		so->t_end = now + latency_ps;
		unit_slots(u, o->kind, pe, &first, &n);
		for (int k = first; k < first + n; k++)
			if (u->on[k] == i)
				u->on[k] = -1;
		int unit = unit_of(o->kind);
		u->busy[pe * U_COUNT + unit] += now - so->t_start;
		u->ops[pe * U_COUNT + unit]++;
		int32_t w = u->parked[pe];
		if (w >= 0 && unit_of(s->g->ops[w].kind) == unit) {
			u->parked[pe] = -1;
			if (push(s, now, w, EV_READY, 0))
				return -1;
		}
	}
	if (so->t_end <= so->t_start)
		so->t_end = so->t_start + 1; /* every op takes time: reads precede writes */
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
	timing__fabric_finish(&s->md, it->id, it->key, &fr);
	opst *so = &s->st[i];
	so->stall += llround(fr.stall_ps);
	so->stall_link = fr.stall_link;
	return complete(s, i, it->key, fr.latency_ps);
}

int timing__schedule(sched *s, kb_error *err)
{
	const graph *g = s->g;
	for (int32_t i = 0; i < g->n; i++)
		if (s->st[i].pending == 0 && push(s, 0, i, EV_READY, 0))
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	int64_t now = 0;
	kb_progress_begin(s->progress, "schedule", "ops", g->n);
	for (;;) {
		/* rates change only between instants: settle them before time moves */
		if (s->md.fab.n_dirty && (!s->q.n || s->q.v[0].key > now)) {
			if (timing__fabric_resolve(&s->md, now) || drain_changed(s))
				return kb_fail_status(err, KB_E_NOMEM, "out of memory");
			continue;
		}
		if (!s->q.n)
			break;
		heap_item it = heap_pop(&s->q);
		KB_ASSERT(it.key >= now, "time goes back from %lld to %lld ps (op %d)", (long long)now, (long long)it.key,
			  it.id + 1);
		now = it.key;
		if (now > KB_MAX_SIM_PS || now < 0)
			return kb_fail(err, "the simulated time passes 10^18 ps (11.6 days) at op %d: a bandwidth or clock is"
					    " too low for this trace", it.id + 1);
		int rc;
		switch (it.type) {
		case EV_FLOW_DONE: /* fall through: these fail only for memory */
		case EV_OP_DONE:
			rc = (it.type == EV_FLOW_DONE ? flow_done(s, &it) : complete(s, it.id, now, 0))
				     ? kb_fail_status(err, KB_E_NOMEM, "out of memory")
				     : 0;
			break;
		case EV_FLOW_START: rc = start_flow(s, it.id, now, err); break;
		default: rc = ready(s, it.id, now, err);
		}
		if (rc)
			return -1;
	}
	if (s->done < g->n) {
		for (int32_t i = 0; i < g->n; i++)
			if (!s->st[i].scheduled) {
				return kb_fail_status(err, KB_E_DEADLOCK, "deadlock: %lld of %d ops cannot start; first: op %d"
					" (%s on sip%d.cube%d.pe%d)"
					" waits for %d more predecessor(s)", (long long)(g->n - s->done), g->n, i + 1,
					kb_op_kind_name((kb_op_kind)g->ops[i].kind), g->ops[i].sip, g->ops[i].cube,
					g->ops[i].pe, s->st[i].pending);
			}
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


int timing__sched_init(sched *s, const graph *g, const kb_machine *m, kb_error *err)
{
	memset(s, 0, sizeof *s);
	s->g = g;
	s->m = m;
	s->progress = g->progress;
	s->st = kb_calloc_big((size_t)g->n + 1, sizeof *s->st);
	s->ch = calloc((size_t)g->n_chans + 1, sizeof *s->ch);
	if (!s->st || !s->ch)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (timing__model_init(&s->md, m, err))
		return -1;
	if (units_init(&s->u, m))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	for (int32_t i = 0; i < g->n; i++) {
		opst *so = &s->st[i];
		so->pending = g->ops[i].pending;
		so->left = g->ops[i].kind == KB_OP_LAUNCH ? g->ops[i].aux : 0;
		so->wait_op = so->stall_link = -1;
	}
	credit_costs(s);
	s->md.load.bytes = calloc((size_t)L_KIND_COUNT * LOAD_BUCKETS, sizeof *s->md.load.bytes);
	s->md.load.width_ps = 1000;
	if (!s->md.load.bytes)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	return 0;
}

void timing__sched_release(sched *s)
{
	free(s->q.v);
	units_release(&s->u);
	timing__model_release(&s->md);
	free(s->st);
	free(s->ch);
	memset(s, 0, sizeof *s);
}
