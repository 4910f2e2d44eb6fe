/*
 * timing.c — kb-time's pipeline: build the dependency graph of a trace
 * (graph.c), schedule it on the machine's timing models (schedule.c), and
 * store the run (store.c).
 */
#include "timing_int.h"

#include <math.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

int kb_time_trace(kb_db *db, const kb_machine *m, const kb_time_options *opt, kb_time_result *res, kb_error *err)
{
	memset(res, 0, sizeof *res);
	graph g = {0};
	sched s = {0};
	size_t peak = 0;
	int rc = -1;
	double t0 = kb_now_s();
	g.progress = opt->progress;
	if (timing__graph_build(db, m, &g, &peak, err))
		goto out;
	double t1 = kb_now_s();
	if (timing__sched_init(&s, &g, m, err))
		goto out;
	int src = timing__schedule(&s, err);
	if (src) {
		rc = -1;
		if (err->status == KB_E_DEADLOCK)
			res->diagnostics = timing__pointer_dump(&s);
		goto out;
	}
	double t2 = kb_now_s();
	int64_t total = 0;
	for (int32_t i = 0; i < g.n; i++)
		if (s.st[i].t_end > total)
			total = s.st[i].t_end;
	kb_progress_begin(g.progress, "write", "ops", g.n);
	char *effective = kb_topo_effective(&m->cfg);
	if (!effective) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto out;
	}
	kb_run_info info = {opt->label, opt->replace, opt->source, opt->overrides, effective, KB_VERSION, total, g.n};
	kb_run_writer *w;
	int wrc = kb_run_begin(db, &info, &w, res->label, sizeof res->label, err);
	free(effective);
	if (wrc)
		goto out;
	res->run_id = kb_run_id(w);
	if (timing__store(w, &s, db, err)) {
		kb_run_abort(w);
		goto out;
	}
	if (kb_run_commit(w, err))
		goto out;
	res->total_ps = total;
	res->n_ops = g.n;
	res->n_edges = g.n_edges;
	/* scheduling holds the ops, the successor lists, the event heap, flows */
	size_t sched_bytes = (size_t)g.n * (sizeof(top) + sizeof(opst)) + (size_t)g.n_edges * sizeof(edge) +
			     ((size_t)g.n + 2) * sizeof(int32_t) + s.q.cap * sizeof(heap_item) +
			     s.md.fab.cap_flows * sizeof(flow);
	res->peak_bytes = (int64_t)(peak > sched_bytes ? peak : sched_bytes);
	res->read_s = t1 - t0;
	res->schedule_s = t2 - t1;
	res->write_s = kb_now_s() - t2;
	rc = 0;
out:
	kb_progress_end(g.progress);
	timing__sched_release(&s);
	timing__graph_release(&g);
	return rc;
}

int kb_time_check_structure(const kb_topo_cfg *was, const kb_topo_cfg *now, kb_error *err)
{
	return kb_topo_same_structure(was, now, err); /* the keys KB_TOPOLOGY_KEYS marks TRACE */
}
