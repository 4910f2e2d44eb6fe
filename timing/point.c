/*
 * point.c — what-if points: a trace's graph built once, then any number of
 * schedules on machines of the same structure, each summed up (total,
 * host and device time, the busiest link of each class, unit utilisation,
 * each collective's time, algbw and busbw) instead of stored op by op.
 * The graph is only read; each schedule owns its state, so points run on
 * a pool of threads.
 */
#include "timing_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

typedef struct coll_row {
	int64_t call, bytes, world_size, launch;
	char algorithm[64];
	kb_coll_type type;
} coll_row;

struct kb_time_graph {
	graph g;
	coll_row *colls; /* the trace's collective rows, by (call, algorithm, rank) */
	size_t n_colls, cap_colls;
	kb_range_rec *ranges;
	size_t n_ranges;
};

static int add_coll(void *ctx, const kb_collective_rec *c, kb_error *err)
{
	kb_time_graph *kg = ctx;
	if (kb_grow(&kg->colls, &kg->cap_colls, kg->n_colls + 1, sizeof *kg->colls, 16))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	coll_row *r = &kg->colls[kg->n_colls++];
	*r = (coll_row){c->call, c->bytes, c->world_size, c->launch, "", c->type};
	snprintf(r->algorithm, sizeof r->algorithm, "%s", c->algorithm);
	return 0;
}

int kb_time_graph_build(kb_db *db, const kb_machine *m, kb_progress *progress, kb_time_graph **out, kb_error *err)
{
	kb_time_graph *kg = calloc(1, sizeof *kg);
	if (!kg)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	size_t peak = 0;
	kg->g.progress = progress;
	if (timing__graph_build(db, m, &kg->g, &peak, err) || kb_read_collectives(db, add_coll, kg, err) ||
	    kb_read_ranges(db, &kg->ranges, &kg->n_ranges, err)) {
		kb_time_graph_free(kg);
		return -1;
	}
	for (size_t i = 0; i < kg->n_colls; i++)
		if (kg->colls[i].launch < 1 || kg->colls[i].launch > kg->g.n_launches) {
			kb_fail(err, "collectives: launch %lld does not exist: the trace is damaged",
				(long long)kg->colls[i].launch);
			kb_time_graph_free(kg);
			return -1;
		}
	kg->g.progress = NULL; /* schedules report their own progress */
	*out = kg;
	return 0;
}

void kb_time_graph_free(kb_time_graph *g)
{
	if (!g)
		return;
	timing__graph_release(&g->g);
	free(g->colls);
	free(g->ranges);
	free(g);
}

int64_t kb_time_graph_ops(const kb_time_graph *g)
{
	return g->g.n;
}

const char *kb_link_class_name(int k)
{
#define KB_LINK_CLASS_NAME(n) #n,
	static const char *const names[] = {KB_LINK_CLASSES(KB_LINK_CLASS_NAME)};
#undef KB_LINK_CLASS_NAME
	return k >= 0 && k < KB_LINK_CLASS_COUNT ? names[k] : "?";
}

const char *kb_unit_kind_name(int k)
{
	static const char *const names[] = {"dma", "gemm", "math", "ipcq", "host"};
	return k >= 0 && k < KB_UNIT_KIND_COUNT ? names[k] : "?";
}

void kb_time_summary_release(kb_time_summary *s)
{
	free(s->collectives);
	free(s->ranges);
	free(s->diagnostics);
	memset(s, 0, sizeof *s);
}

/* The scheduled run s summed up into sum. */
static int summarise(const kb_time_graph *kg, const sched *s, kb_time_summary *sum, kb_error *err)
{
	const graph *g = &kg->g;
	for (int32_t i = 0; i < g->n; i++)
		if (s->st[i].t_end > sum->total_ps)
			sum->total_ps = s->st[i].t_end;
	int64_t first = INT64_MAX, last = 0;
	for (int64_t l = 1; l <= g->n_launches; l++) {
		const opst *o = &s->st[g->launch_op[l]];
		first = o->t_start < first ? o->t_start : first;
		last = o->t_end > last ? o->t_end : last;
	}
	sum->host_ps = first == INT64_MAX ? sum->total_ps : first;
	sum->device_ps = first == INT64_MAX ? 0 : last - first;
	double span = sum->total_ps > 0 ? (double)sum->total_ps : 1;
	/* the busiest link of each class */
	int32_t best[L_KIND_COUNT];
	for (int k = 0; k < L_KIND_COUNT; k++)
		best[k] = -1;
	for (int32_t l = 0; l < s->md.n_links; l++) {
		const link *k = &s->md.links[l];
		if (k->bytes > 0 && (best[k->kind] < 0 || k->busy_ps > s->md.links[best[k->kind]].busy_ps))
			best[k->kind] = l;
	}
	for (int k = 0; k < L_KIND_COUNT && k < KB_LINK_CLASS_COUNT; k++) {
		if (best[k] < 0)
			continue;
		const link *b = &s->md.links[best[k]];
		const char *kind, *dir;
		timing__link_name(&s->md, best[k], sum->busiest[k].link, sizeof sum->busiest[k].link, &kind, &dir);
		sum->busiest[k].busy_pct = 100.0 * (double)b->busy_ps / span;
		sum->busiest[k].bytes = b->bytes;
		sum->busiest[k].stall_ps = llround(b->stall_ps);
	}
	/* units: busy over the units that worked, for the whole run */
	const units *u = &s->u;
	for (int k = 0; k < U_COUNT; k++) {
		double busy = 0;
		int64_t n = 0;
		for (int pe = 0; pe < s->m->n_pes; pe++)
			if (u->ops[pe * U_COUNT + k]) {
				busy += (double)u->busy[pe * U_COUNT + k];
				n += k == U_DMA ? u->engines : 1;
			}
		sum->unit_pct[k] = n ? 100.0 * busy / ((double)n * span) : 0;
	}
	double hbusy = 0;
	int64_t hn = 0;
	for (int r = 0; r < s->m->n_sips; r++)
		if (u->host_ops[r])
			hbusy += (double)u->host_busy[r], hn++;
	sum->unit_pct[KB_UNIT_HOST] = hn ? 100.0 * hbusy / ((double)hn * span) : 0;
	/* ranges: per label, the first start to the last end of its ops on its rank */
	int64_t *first_start = malloc((kg->n_ranges + 1) * sizeof *first_start);
	struct kb_time_range *rv = calloc(kg->n_ranges + 1, sizeof *rv);
	if (!first_start || !rv) {
		free(first_start);
		free(rv);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	sum->ranges = rv;
	for (size_t k = 0; k < kg->n_ranges; k++) {
		const kb_range_rec *r = &kg->ranges[k];
		int64_t t0 = INT64_MAX, t1 = 0;
		for (int64_t i = r->first_op - 1; i >= 0 && i < r->end_op - 1 && i < g->n; i++)
			if (g->ops[i].sip == r->rank) {
				t0 = s->st[i].t_start < t0 ? s->st[i].t_start : t0;
				t1 = s->st[i].t_end > t1 ? s->st[i].t_end : t1;
			}
		if (t0 == INT64_MAX)
			continue;
		int j = 0;
		while (j < sum->n_ranges && strcmp(rv[j].label, r->label) != 0)
			j++;
		if (j == sum->n_ranges) {
			snprintf(rv[j].label, sizeof rv[j].label, "%s", r->label);
			first_start[j] = t0;
			rv[j].time_ps = t1; /* the last end, until every range of the label is seen */
			sum->n_ranges++;
		}
		first_start[j] = t0 < first_start[j] ? t0 : first_start[j];
		rv[j].time_ps = t1 > rv[j].time_ps ? t1 : rv[j].time_ps;
	}
	for (int j = 0; j < sum->n_ranges; j++)
		rv[j].time_ps -= first_start[j];
	free(first_start);
	/* collectives: each call's first launch start to its last launch end */
	int64_t t0 = 0, t1 = 0;
	for (size_t i = 0; i <= kg->n_colls; i++) {
		const coll_row *c = i < kg->n_colls ? &kg->colls[i] : NULL;
		kb_time_collective *t = sum->n_collectives ? &sum->collectives[sum->n_collectives - 1] : NULL;
		bool same = c && t && t->call == c->call && strcmp(t->algorithm, c->algorithm) == 0;
		if (t && !same) { /* the call before is complete */
			t->time_ps = t1 - t0;
			t->algbw_gbps = t->time_ps > 0 ? (double)t->bytes * 1000.0 / (double)t->time_ps : 0;
			t->busbw_gbps = t->algbw_gbps * kb_coll_bus_factor(t->type, t->world_size);
		}
		if (!c)
			break;
		const opst *o = &s->st[g->launch_op[c->launch]];
		if (same) {
			t0 = o->t_start < t0 ? o->t_start : t0;
			t1 = o->t_end > t1 ? o->t_end : t1;
			continue;
		}
		kb_time_collective *v = realloc(sum->collectives, (size_t)(sum->n_collectives + 1) * sizeof *v);
		if (!v)
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		sum->collectives = v;
		t = &v[sum->n_collectives++];
		*t = (kb_time_collective){c->call, "", c->bytes, c->world_size, 0, 0, 0, c->type};
		snprintf(t->algorithm, sizeof t->algorithm, "%s", c->algorithm);
		t0 = o->t_start;
		t1 = o->t_end;
	}
	return 0;
}

int kb_time_point(const kb_time_graph *g, const kb_machine *m, kb_time_summary *sum, kb_error *err)
{
	memset(sum, 0, sizeof *sum);
	err->status = KB_OK;
	err->msg[0] = 0;
	double t0 = kb_now_s();
	sched s;
	int rc = timing__sched_init(&s, &g->g, m, err);
	if (!rc) {
		rc = timing__schedule(&s, err);
		if (rc && err->status == KB_E_DEADLOCK)
			sum->diagnostics = timing__pointer_dump(&s);
		else
			rc = summarise(g, &s, sum, err);
	}
	timing__sched_release(&s);
	sum->wall_s = kb_now_s() - t0;
	return rc;
}

/* ---- a pool of threads over the points ---- */

typedef struct pool {
	const kb_time_graph *g;
	const kb_machine *const *m;
	kb_time_summary *sum;
	int *rc;
	kb_error *errs;
	int n;
	atomic_int next, done;
	kb_time_point_done_fn on_done;
	void *ctx;
	pthread_mutex_t lock;    /* one on_done call at a time */
} pool;

/* Runs the next point; false when none is left. */
static bool run_next(pool *p)
{
	int i = atomic_fetch_add(&p->next, 1);
	if (i >= p->n)
		return false;
	p->rc[i] = kb_time_point(p->g, p->m[i], &p->sum[i], &p->errs[i]);
	if (p->on_done) {
		pthread_mutex_lock(&p->lock);
		p->on_done(p->ctx, i);
		pthread_mutex_unlock(&p->lock);
	}
	atomic_fetch_add(&p->done, 1);
	return true;
}

static void *worker(void *arg)
{
	while (run_next(arg))
		;
	return NULL;
}

void kb_time_points(const kb_time_graph *g, const kb_machine *const *m, int n, int threads, kb_time_summary *sum,
		    int *rc, kb_error *errs, kb_time_point_done_fn done, void *ctx, kb_progress *progress,
		    int64_t base)
{
	if (threads <= 0) {
		long cores = get_nprocs();
		threads = cores > 0 ? (int)cores : 1;
	}
	if (threads > n)
		threads = n > 0 ? n : 1;
	pool p = {g, m, sum, rc, errs, n, 0, 0, done, ctx, PTHREAD_MUTEX_INITIALIZER};
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	int started = 0;
	for (int k = 1; t && k < threads; k++) /* the calling thread is worker 0 */
		started += pthread_create(&t[started], NULL, worker, &p) == 0;
	while (run_next(&p)) /* only this thread draws */
		kb_progress_show(progress, base + atomic_load(&p.done));
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	free(t);
	kb_progress_show(progress, base + n);
}

int kb_time_graph_edges(const kb_time_graph *kg, kb_time_edge_fn fn, void *ctx, kb_error *err)
{
	const graph *g = &kg->g;
	for (int32_t i = 0; i < g->n; i++)
		for (int32_t k = g->succ_at[i]; k < g->succ_at[i + 1]; k++)
			if (fn(ctx, (int64_t)i + 1, (int64_t)g->succ[k].to + 1, g->succ[k].reason, err))
				return -1;
	return 0;
}
