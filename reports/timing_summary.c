/*
 * timing_summary.c — the summary kb-time prints after a run, from the
 * run's tables and views (so it can be printed again for any stored run).
 */
#include "reports.h"
#include "reports_int.h"

#include <inttypes.h>
#include <string.h>

typedef struct section {
	const char *key, *title, *sql;
	const char *const *cols;   /* column names (JSON keys) */
	const char *const *units;  /* "ps" columns are formatted, "%" gets a suffix */
	int n;
} section;

static const char *const range_cols[] = {"label", "rank", "start_ps", "end_ps", "duration_ps"};
static const char *const range_units[] = {"", "", "ps", "ps", "ps"};
static const char *const launch_cols[] = {"launch_id", "kernel", "rank", "start_ps", "pe_start_ps", "end_ps", "duration_ps"};
static const char *const launch_units[] = {"", "", "", "ps", "ps", "ps", "ps"};
static const char *const unit_cols[] = {"unit", "pe", "ops", "busy_ps", "utilization_pct"};
static const char *const unit_units[] = {"", "", "", "ps", "%"};
static const char *const link_cols[] = {"link", "kind", "transfers", "bytes", "busy_ps", "utilization_pct"};
static const char *const link_units[] = {"", "", "", "B", "ps", "%"};
static const char *const op_cols[] = {"op_id", "pe", "kind", "start_ps", "duration_ps", "waited_on"};
static const char *const op_units[] = {"", "", "", "ps", "ps", ""};

static const section sections[] = {
	{"ranges", "ranges", "SELECT s.value AS label, g.rank AS rank, t.t_start_ps AS start_ps, t.t_end_ps AS end_ps,"
	 " t.t_end_ps - t.t_start_ps AS duration_ps FROM range_times t JOIN ranges g ON g.id = t.range_id"
	 " JOIN strings s ON s.id = g.label WHERE t.run_id = :run ORDER BY t.range_id LIMIT :top",
	 range_cols, range_units, 5},
	{"launches", "launches", "SELECT l.id AS launch_id, s.value AS kernel, l.rank AS rank, t.t_start_ps AS start_ps,"
	 " t.t_pe_start_ps AS pe_start_ps, t.t_end_ps AS end_ps, t.t_end_ps - t.t_start_ps AS duration_ps"
	 " FROM launch_times t JOIN launches l ON l.id = t.launch_id"
	 " JOIN strings s ON s.id = l.kernel WHERE t.run_id = :run ORDER BY l.id LIMIT :top",
	 launch_cols, launch_units, 7},
	{"units", "busiest units (utilisation per engine over the run)", "SELECT u.unit AS unit, CASE WHEN u.cube < 0 THEN"
	 " printf('sip%d.host', u.sip) ELSE printf('sip%d.cube%d.pe%d', u.sip, u.cube, u.pe) END AS pe, u.ops AS ops,"
	 " u.busy_ps AS busy_ps, 100.0 * u.busy_ps / max(r.total_ps, 1) / CASE WHEN u.unit = 'dma' THEN :engines ELSE 1 END"
	 " AS utilization_pct FROM unit_busy u JOIN timing_runs r ON r.id = u.run_id"
	 " WHERE u.run_id = :run ORDER BY utilization_pct DESC, u.unit LIMIT :top",
	 unit_cols, unit_units, 5},
	{"links", "busiest links", "SELECT u.link AS link, u.kind AS kind, u.transfers AS transfers, u.bytes AS bytes,"
	 " u.busy_ps AS busy_ps, 100.0 * u.busy_ps / max(r.total_ps, 1) AS utilization_pct FROM link_usage u"
	 " JOIN timing_runs r ON r.id = u.run_id WHERE u.run_id = :run ORDER BY u.busy_ps DESC, u.link LIMIT :top",
	 link_cols, link_units, 6},
	{"top_ops", "longest ops", "SELECT t.op_id AS op_id, CASE WHEN o.cube < 0 THEN printf('sip%d.host', o.sip)"
	 " ELSE printf('sip%d.cube%d.pe%d', o.sip, o.cube, o.pe) END AS pe, k.name AS kind, t.t_start_ps AS start_ps,"
	 " t.t_end_ps - t.t_start_ps AS duration_ps, w.name AS waited_on FROM op_times t JOIN ops o ON o.id = t.op_id"
	 " JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait"
	 " WHERE t.run_id = :run AND k.name <> 'launch' ORDER BY t.t_end_ps - t.t_start_ps DESC, t.op_id LIMIT :top",
	 op_cols, op_units, 6},
};

/* Text values carry their unit, so "busy_ps" prints as "busy". */
static int text_name_len(const char *col)
{
	const char *u = strrchr(col, '_');
	return u && (strcmp(u, "_ps") == 0 || strcmp(u, "_pct") == 0) ? (int)(u - col) : (int)strlen(col);
}

static void print_cell(FILE *out, kb_query *q, int c, const char *unit, bool json)
{
	if (kb_query_type_at(q, c) == KB_VALUE_TEXT) {
		if (json)
			kb_json_string(out, kb_query_text_at(q, c));
		else
			fprintf(out, "%s", kb_query_text_at(q, c));
	} else if (strcmp(unit, "%") == 0) {
		fprintf(out, json ? "%.2f" : "%.1f %%", kb_query_double_at(q, c));
	} else if (strcmp(unit, "ps") == 0 && !json) {
		char t[32];
		kb_format_ps(kb_query_int_at(q, c), t, sizeof t);
		fprintf(out, "%s", t);
	} else {
		fprintf(out, "%lld%s", (long long)kb_query_int_at(q, c), !json && *unit ? " B" : "");
	}
}

/* The critical path: the wait chain back from the last op. Each op's share
 * is the time from its start to the next path op's start (the last op: to
 * its end), so the shares add up to the path's span. */
static int critical_path(FILE *out, kb_db *db, int64_t run_id, bool json, kb_error *err)
{
	kb_query *st;
	static const char sql[] = KB_CRITICAL_PATH_WALK
		" SELECT k.name AS kind, t.t_start_ps AS t_start_ps, t.t_end_ps AS t_end_ps FROM cp"
		" JOIN op_times t ON t.run_id = :run AND t.op_id = cp.op_id"
		" JOIN ops o ON o.id = cp.op_id JOIN enum_op_kind k ON k.id = o.kind ORDER BY cp.step DESC";
	if (kb_query_open(db, sql, &st, err))
		return -1;
	kb_query_bind_int(st, ":run", run_id);
	struct { char kind[32]; int64_t ps, ops; } by[KB_OP_KIND_COUNT];
	int n_kinds = 0;
	int64_t n = 0, first = 0, prev_start = 0, last_end = 0;
	char prev_kind[32] = "";
	int rc;
	for (; (rc = kb_query_step(st, err)) == 1; n++) {
		const char *kind = kb_query_text(st, "kind");
		int64_t start = kb_query_int(st, "t_start_ps");
		last_end = kb_query_int(st, "t_end_ps");
		if (n == 0)
			first = start;
		for (int pass = 0; pass < 2; pass++) { /* charge the previous op, then count this one */
			const char *k = pass ? kind : prev_kind;
			if (!*k)
				continue;
			int i = 0;
			while (i < n_kinds && strcmp(by[i].kind, k) != 0)
				i++;
			if (i == n_kinds && n_kinds < KB_OP_KIND_COUNT) {
				snprintf(by[i].kind, sizeof by[i].kind, "%s", k);
				by[i].ps = by[i].ops = 0;
				n_kinds++;
			}
			if (i < n_kinds) {
				if (pass)
					by[i].ops++;
				else
					by[i].ps += start - prev_start;
			}
		}
		snprintf(prev_kind, sizeof prev_kind, "%s", kind);
		prev_start = start;
	}
	kb_query_close(st);
	if (rc < 0)
		return -1;
	for (int i = 0; n && i < n_kinds; i++)
		if (strcmp(by[i].kind, prev_kind) == 0)
			by[i].ps += last_end - prev_start;
	char span[32];
	kb_format_ps(last_end - first, span, sizeof span);
	if (json)
		fprintf(out, ", \"critical_path\": {\"ops\": %lld, \"span_ps\": %lld, \"by_kind\": [", (long long)n,
			(long long)(last_end - first));
	else
		fprintf(out, "critical path: %lld ops over %s\n", (long long)n, span);
	for (int i = 0; i < n_kinds; i++) {
		char t[32];
		kb_format_ps(by[i].ps, t, sizeof t);
		double pct = last_end > first ? 100.0 * (double)by[i].ps / (double)(last_end - first) : 0;
		if (json)
			fprintf(out, "%s{\"kind\": \"%s\", \"ops\": %lld, \"ps\": %lld}", i ? ", " : "", by[i].kind,
				(long long)by[i].ops, (long long)by[i].ps);
		else
			fprintf(out, "  %s  ops=%lld  time=%s  share=%.1f %%\n", by[i].kind, (long long)by[i].ops, t, pct);
	}
	if (json)
		fprintf(out, "]}");
	return 0;
}

int kb_report_timing(FILE *out, kb_db *db, int64_t run_id, int top, bool json, kb_error *err)
{
	kb_query *st;
	if (kb_query_open(db, "SELECT label, total_ps, n_ops, topology_overrides FROM timing_runs WHERE id = :run", &st,
			  err))
		return -1;
	kb_query_bind_int(st, ":run", run_id);
	int rc = kb_query_step(st, err);
	if (rc != 1) {
		kb_query_close(st);
		return rc < 0 ? -1 : kb_fail_status(err, KB_E_NOT_FOUND, "%s: no timing run %lld", kb_db_path(db),
						   (long long)run_id);
	}
	int64_t total = kb_query_int(st, "total_ps"), n_ops = kb_query_int(st, "n_ops");
	char total_text[32];
	kb_format_ps(total, total_text, sizeof total_text);
	if (json) {
		fprintf(out, "{\"trace\": ");
		kb_json_string(out, kb_db_path(db));
		fprintf(out, ", \"run\": ");
		kb_json_string(out, kb_query_text(st, "label"));
		fprintf(out, ", \"total_ps\": %lld, \"ops\": %lld, \"overrides\": ", (long long)total, (long long)n_ops);
		kb_json_string(out, kb_query_text(st, "topology_overrides"));
	} else {
		fprintf(out, "%s: timing run '%s': %lld ops, total simulated time %s (%lld ps)\n", kb_db_path(db),
			kb_query_text(st, "label"), (long long)n_ops, total_text, (long long)total);
	}
	kb_query_close(st);
	rc = 0;
	double engines = kb_report_topo_value(db, "cube.pe_template.components.pe_dma.attrs.engines", 1);
	if (engines < 1)
		engines = 1;
	for (size_t s = 0; s < sizeof sections / sizeof sections[0] && !rc; s++) {
		const section *sec = &sections[s];
		if (kb_query_open(db, sec->sql, &st, err)) {
			rc = -1;
			break;
		}
		kb_query_bind_int(st, ":run", run_id);
		kb_query_bind_int(st, ":top", top > 0 ? top : -1); /* --top 0: every row */
		if (kb_query_has_param(st, ":engines"))
			kb_query_bind_double(st, ":engines", engines);
		int col[8];
		for (int c = 0; c < sec->n; c++)
			col[c] = kb_query_col(st, sec->cols[c]);
		if (json)
			fprintf(out, ", \"%s\": [", sec->key);
		else
			fprintf(out, "%s:\n", sec->title);
		int row = 0;
		for (; (rc = kb_query_step(st, err)) == 1; row++) {
			fprintf(out, json ? "%s{" : "  ", json && row ? ", " : "");
			for (int c = 0; c < sec->n; c++) {
				if (json)
					fprintf(out, "%s\"%s\": ", c ? ", " : "", sec->cols[c]);
				else if (c)
					fprintf(out, "  %.*s=", text_name_len(sec->cols[c]), sec->cols[c]);
				print_cell(out, st, col[c], sec->units[c], json);
			}
			fprintf(out, json ? "}" : "\n");
		}
		fprintf(out, json ? "]" : "");
		kb_query_close(st);
	}
	if (!rc)
		rc = critical_path(out, db, run_id, json, err);
	if (!rc)
		rc = kb_report_collectives(out, db, run_id, NULL, 0, json, err);
	if (json)
		fprintf(out, "}\n");
	return rc;
}

int kb_report_collectives(FILE *out, kb_db *db, int64_t run_id, const int64_t *wrong, int n_wrong, bool json,
			  kb_error *err)
{
	if (!kb_db_has_table(db, "collectives"))
		return 0;
	kb_query *st;
	char sql[1024];
	snprintf(sql, sizeof sql, "SELECT c.call AS call, a.value AS algorithm, d.name AS type, o.value AS redop,"
		 " %s AS coll,"
			  " max(c.world_size) AS ranks, max(c.bytes) AS bytes, max(c.count) AS count,"
			  " min(lt.t_start_ps) AS t_start_ps, max(lt.t_end_ps) AS t_end_ps FROM collectives c"
			  " JOIN strings a ON a.id = c.algorithm JOIN strings o ON o.id = c.redop"
			  " JOIN enum_dtype d ON d.id = c.dtype"
			  " LEFT JOIN launch_times lt ON lt.launch_id = c.launch_id AND lt.run_id = :run"
			  " GROUP BY c.call, a.value ORDER BY c.call, a.value",
		 kb_db_has_column(db, "collectives", "type") ? "max(c.type)" : "0");
	if (kb_query_open(db, sql, &st, err))
		return -1;
	kb_query_bind_int(st, ":run", run_id);
	int k = 0, n_timed = 0, rc;
	double busbw_sum = 0;
	for (; (rc = kb_query_step(st, err)) == 1; k++) {
		const char *algo = kb_query_text(st, "algorithm"), *type = kb_query_text(st, "type");
		const char *redop = kb_query_text(st, "redop");
		int64_t p = kb_query_int(st, "ranks"), bytes = kb_query_int(st, "bytes"), count = kb_query_int(st, "count");
		kb_coll_type coll = (kb_coll_type)kb_query_int(st, "coll");
		bool timed = !kb_query_is_null(st, "t_start_ps");
		double ps = timed ? (double)(kb_query_int(st, "t_end_ps") - kb_query_int(st, "t_start_ps")) : 0;
		double algbw = ps > 0 ? (double)bytes / (ps / 1000.0) : 0, busbw = algbw * kb_coll_bus_factor(coll, p);
		int64_t w = wrong && k < n_wrong ? wrong[k] : -1;
		if (timed)
			n_timed++, busbw_sum += busbw;
		if (json) {
			fprintf(out, "%s{\"algorithm\": ", k ? ", " : ", \"collectives\": [");
			kb_json_string(out, algo);
			fprintf(out, ", \"collective\": ");
			kb_json_string(out, kb_coll_type_name(coll));
			fprintf(out, ", \"size_bytes\": %lld, \"count\": %lld, \"type\": ", (long long)bytes, (long long)count);
			kb_json_string(out, type);
			fprintf(out, ", \"redop\": ");
			kb_json_string(out, redop);
			fprintf(out, ", \"ranks\": %lld, \"time_us\": %.3f, \"algbw_gbps\": %.3f, \"busbw_gbps\": %.3f, \"wrong\": ",
				(long long)p, ps / 1e6, algbw, busbw);
			if (w < 0)
				fprintf(out, "null}");
			else
				fprintf(out, "%lld}", (long long)w);
			continue;
		}
		if (k == 0)
			fprintf(out, "collectives (nccl-tests columns; busbw = algbw x 2(p-1)/p all-reduce, (p-1)/p all-gather,"
				     " reduce-scatter, all-to-all, 1 broadcast):\n"
				     "  %-24s %-14s %12s %12s %6s %6s %5s %11s %11s %11s %7s\n", "algorithm", "collective",
				"size(B)", "count", "type",
				"redop", "p", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong");
		char wt[24];
		if (w < 0)
			snprintf(wt, sizeof wt, "-");
		else
			snprintf(wt, sizeof wt, "%lld", (long long)w);
		if (timed)
			fprintf(out, "  %-24s %-14s %12lld %12lld %6s %6s %5lld %11.3f %11.3f %11.3f %7s\n", algo,
				kb_coll_type_name(coll), (long long)bytes,
				(long long)count, type, redop, (long long)p, ps / 1e6, algbw, busbw, wt);
		else
			fprintf(out, "  %-24s %-14s %12lld %12lld %6s %6s %5lld %11s %11s %11s %7s\n", algo,
				kb_coll_type_name(coll), (long long)bytes,
				(long long)count, type, redop, (long long)p, "-", "-", "-", wt);
	}
	if (json && k)
		fprintf(out, "], \"avg_busbw_gbps\": %.3f", n_timed ? busbw_sum / n_timed : 0.0);
	/* nccl-tests' closing line: the mean busbw over the sizes */
	if (!json && n_timed)
		fprintf(out, "  # Avg bus bandwidth    : %.3f GB/s (in place: each rank's buffer is reduced where it lies)\n",
			busbw_sum / n_timed);
	kb_query_close(st);
	return rc < 0 ? -1 : 0;
}
