/*
 * store.c — writes one scheduled run into the trace through db's run
 * writer (one transaction): op times, launch and range spans, unit and
 * link usage, the link-load series.
 */
#include "timing_int.h"

#include <math.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Op i's op_times columns (db's writer pulls them while it inserts). */
static void op_row(const void *ctx, int64_t i, int64_t row[KB_OP_TIME_COLS])
{
	const opst *o = &((const sched *)ctx)->st[i];
	int64_t v[KB_OP_TIME_COLS] = {o->t_start, o->t_end, o->wait, o->wait_op + 1, o->stall, o->stall_link + 1, o->queue};
	memcpy(row, v, sizeof v);
}

static int store_spans(kb_run_writer *w, const sched *s, kb_db *db, kb_error *err)
{
	const graph *g = s->g;
	const kb_cost *c = &s->md.cost;
	int rc = 0;
	for (int64_t l = 1; l <= g->n_launches && !rc; l++) {
		const opst *o = &s->st[g->launch_op[l]];
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
				if (s->st[i].t_start < t0)
					t0 = s->st[i].t_start;
				if (s->st[i].t_end > t1)
					t1 = s->st[i].t_end;
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
		timing__link_name(&s->md, l, name, sizeof name, &kind, &dir);
		kb_link_usage_rec rec = {name, kind, dir, k->gbps, k->transfers, k->bytes, k->busy_ps, l + 1,
					 llround(k->stall_ps)};
		rc = kb_run_link_usage(w, &rec, err);
	}
	return rc;
}

int timing__store(kb_run_writer *w, const sched *s, kb_db *db, kb_error *err)
{
	return kb_run_op_times(w, s->g->n, op_row, s, s->progress, err) || store_spans(w, s, db, err) ||
			       store_usage(w, s, err) || store_load(w, s, err)
		       ? -1
		       : 0;
}
