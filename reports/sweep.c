/*
 * sweep.c — sweep.json v1 of the milestone-gqa-llama70b bench, the seed's
 * schema (ADR-0057 D7) plus each panel's simulated time from a run.
 */
#include "reports.h"
#include "reports_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const panel_names[4] = {"single_user_prefill", "multi_user_prefill", "single_user_decode",
					   "multi_user_decode"};

/* A bench parameter from meta bench_params ("k=v k=v"), or fallback. */
static double param(const char *params, const char *key, double fallback)
{
	size_t kl = strlen(key);
	for (const char *p = params; p && *p;) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return strtod(p + kl + 1, NULL);
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	return fallback;
}

/* The ops of kind k in panel range g, as column k_count. */
#define PANEL_COUNT(k) \
	" (SELECT count(*) FROM ops o WHERE o.id >= g.first_op_id AND o.id < g.end_op_id" \
	" AND o.kind = (SELECT id FROM enum_op_kind WHERE name = '" k "')) AS " k "_count"

int kb_report_gqa_sweep(kb_db *db, int64_t run, const char *path, kb_error *err)
{
	char *bench = kb_db_meta_get(db, "bench"), *params = kb_db_meta_get(db, "bench_params");
	bool ok = bench && strcmp(bench, "milestone-gqa-llama70b") == 0;
	free(bench);
	if (!ok) {
		free(params);
		return kb_fail(err, "%s: sweep.json is written for the milestone-gqa-llama70b bench", kb_db_path(db));
	}
	kb_query *st;
	if (kb_query_open(db, "SELECT g.rank AS rank, t.t_end_ps - t.t_start_ps AS time_ps,"
			  " (SELECT count(DISTINCT o.sip * 1000000 + o.cube * 1000 + o.pe) FROM ops o"
			  "  WHERE o.id >= g.first_op_id AND o.id < g.end_op_id AND o.launch_id > 0) AS n_ranks," PANEL_COUNT("gemm")
			  "," PANEL_COUNT("ipcq_send") "," PANEL_COUNT("ipcq_recv") "," PANEL_COUNT("dma_read") ","
			  PANEL_COUNT("dma_write") " FROM ranges g JOIN strings s ON s.id = g.label"
			  " LEFT JOIN range_times t ON t.range_id = g.id AND t.run_id = :run WHERE s.value = :panel",
			  &st, err)) {
		free(params);
		return -1;
	}
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f) {
		kb_query_close(st);
		free(params);
		return -1;
	}
	double sq = param(params, "s_q_prefill", 16), skv = param(params, "s_kv_per_rank", 16);
	double d = param(params, "d_head", 64), multi = param(params, "n_ranks_multi_user", 4);
	double hq = param(params, "h_q", 1), hkv = param(params, "h_kv", 1), headline = param(params, "headline", 0);
	int64_t single = 0;
	char rows[4][512];
	int n_rows = 0;
	for (int k = 0; k < 4; k++) {
		kb_query_reset(st);
		kb_query_bind_int(st, ":run", run);
		kb_query_bind_text(st, ":panel", panel_names[k]);
		int rc = kb_query_step(st, err);
		if (rc < 0) {
			kb_query_close(st);
			free(params);
			kb_out_close(&o, false, NULL);
			return -1;
		}
		if (rc == 0)
			continue;
		int64_t n_ranks = kb_query_int(st, "n_ranks"), ps = kb_query_int(st, "time_ps");
		if (k == 0 || k == 2)
			single = n_ranks;
		snprintf(rows[n_rows++], sizeof rows[0],
			 "{\"panel\": \"%s\", \"n_ranks\": %lld, \"op_log_summary\": {\"gemm_count\": %lld, \"ipcq_send_count\": %lld,"
			 " \"ipcq_recv_count\": %lld, \"dma_read_count\": %lld, \"dma_write_count\": %lld}, \"time_ps\": %lld,"
			 " \"time_us\": %.6f}", panel_names[k], (long long)n_ranks,
			 (long long)kb_query_int(st, "gemm_count"), (long long)kb_query_int(st, "ipcq_send_count"),
			 (long long)kb_query_int(st, "ipcq_recv_count"), (long long)kb_query_int(st, "dma_read_count"),
			 (long long)kb_query_int(st, "dma_write_count"), (long long)ps, (double)ps / 1e6);
	}
	kb_query_close(st);
	bool validation = !headline && sq == 16 && skv == 16 && d == 64 && hq == 1 && hkv == 1;
	fprintf(f, "{\"version\": 1, \"validation_scale\": %s, \"panels\": [", validation ? "true" : "false");
	for (int k = 0; k < 4; k++)
		fprintf(f, "%s\"%s\"", k ? ", " : "", panel_names[k]);
	fprintf(f, "], \"config\": {\"S_q_prefill\": %.0f, \"S_q_decode\": 1, \"S_kv_per_rank\": %.0f, \"h_q\": %.0f,"
		   " \"h_kv\": %.0f, \"d_head\": %.0f, \"n_ranks_single_user\": %lld, \"n_ranks_multi_user\": %.0f}, \"rows\": [",
		sq, skv, hq, hkv, d, (long long)single, multi);
	for (int k = 0; k < n_rows; k++)
		fprintf(f, "%s\n  %s", k ? "," : "", rows[k]);
	fprintf(f, "\n]}\n");
	free(params);
	return kb_out_close(&o, true, err);
}
