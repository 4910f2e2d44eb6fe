/*
 * timing_summary.c — the summary kb-time prints after a run, from the
 * run's tables and views (so it can be printed again for any stored run).
 */
#include "reports.h"
#include "reports_int.h"

#include <inttypes.h>
#include <string.h>

void kb_format_ps(int64_t ps, char *buf, size_t cap)
{
	if (ps < 0 && ps > INT64_MIN && cap > 1) { /* a delta */
		buf[0] = '-';
		kb_format_ps(-ps, buf + 1, cap - 1);
		return;
	}
	if (ps < 1000)
		snprintf(buf, cap, "%" PRId64 " ps", ps);
	else if (ps < INT64_C(1000000))
		snprintf(buf, cap, "%.3f ns", (double)ps / 1e3);
	else if (ps < INT64_C(1000000000))
		snprintf(buf, cap, "%.3f us", (double)ps / 1e6);
	else if (ps < INT64_C(1000000000000))
		snprintf(buf, cap, "%.3f ms", (double)ps / 1e9);
	else
		snprintf(buf, cap, "%.3f s", (double)ps / 1e12);
}

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
	{"ranges", "ranges", "SELECT s.value, g.rank, t.t_start_ps, t.t_end_ps, t.t_end_ps - t.t_start_ps FROM range_times t"
	 " JOIN ranges g ON g.id = t.range_id JOIN strings s ON s.id = g.label WHERE t.run_id = ?1 ORDER BY t.range_id"
	 " LIMIT ?2",
	 range_cols, range_units, 5},
	{"launches", "launches", "SELECT l.id, s.value, l.rank, t.t_start_ps, t.t_pe_start_ps, t.t_end_ps,"
	 " t.t_end_ps - t.t_start_ps FROM launch_times t JOIN launches l ON l.id = t.launch_id"
	 " JOIN strings s ON s.id = l.kernel WHERE t.run_id = ?1 ORDER BY l.id LIMIT ?2",
	 launch_cols, launch_units, 7},
	{"units", "busiest units (utilisation per engine over the run)", "SELECT u.unit, CASE WHEN u.cube < 0 THEN"
	 " printf('sip%d.host', u.sip) ELSE printf('sip%d.cube%d.pe%d', u.sip, u.cube, u.pe) END, u.ops, u.busy_ps,"
	 " 100.0 * u.busy_ps / max(r.total_ps, 1) / CASE WHEN u.unit = 'dma' THEN ?3 ELSE 1 END"
	 " FROM unit_busy u JOIN timing_runs r ON r.id = u.run_id"
	 " WHERE u.run_id = ?1 ORDER BY 5 DESC, u.unit LIMIT ?2",
	 unit_cols, unit_units, 5},
	{"links", "busiest links", "SELECT u.link, u.kind, u.transfers, u.bytes, u.busy_ps,"
	 " 100.0 * u.busy_ps / max(r.total_ps, 1) FROM link_usage u JOIN timing_runs r ON r.id = u.run_id"
	 " WHERE u.run_id = ?1 ORDER BY u.busy_ps DESC, u.link LIMIT ?2",
	 link_cols, link_units, 6},
	{"top_ops", "longest ops", "SELECT t.op_id, CASE WHEN o.cube < 0 THEN printf('sip%d.host', o.sip)"
	 " ELSE printf('sip%d.cube%d.pe%d', o.sip, o.cube, o.pe) END, k.name, t.t_start_ps,"
	 " t.t_end_ps - t.t_start_ps, w.name FROM op_times t JOIN ops o ON o.id = t.op_id"
	 " JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait"
	 " WHERE t.run_id = ?1 AND k.name <> 'launch' ORDER BY t.t_end_ps - t.t_start_ps DESC, t.op_id LIMIT ?2",
	 op_cols, op_units, 6},
};

/* Text values carry their unit, so "busy_ps" prints as "busy". */
static int text_name_len(const char *col)
{
	const char *u = strrchr(col, '_');
	return u && (strcmp(u, "_ps") == 0 || strcmp(u, "_pct") == 0) ? (int)(u - col) : (int)strlen(col);
}

static void print_cell(FILE *out, sqlite3_stmt *st, int c, const char *unit, bool json)
{
	if (sqlite3_column_type(st, c) == SQLITE_TEXT) {
		if (json)
			kb_json_string(out, (const char *)sqlite3_column_text(st, c));
		else
			fprintf(out, "%s", sqlite3_column_text(st, c));
	} else if (strcmp(unit, "%") == 0) {
		fprintf(out, json ? "%.2f" : "%.1f %%", sqlite3_column_double(st, c));
	} else if (strcmp(unit, "ps") == 0 && !json) {
		char t[32];
		kb_format_ps(sqlite3_column_int64(st, c), t, sizeof t);
		fprintf(out, "%s", t);
	} else {
		fprintf(out, "%lld%s", (long long)sqlite3_column_int64(st, c), !json && *unit ? " B" : "");
	}
}

/* The critical path: the wait chain back from the last op. Each op's share
 * is the time from its start to the next path op's start (the last op: to
 * its end), so the shares add up to the path's span. */
static int critical_path(FILE *out, sqlite3 *h, int64_t run_id, bool json, kb_error *err)
{
	sqlite3_stmt *st;
	static const char sql[] = KB_CRITICAL_PATH_WALK
		" SELECT k.name, t.t_start_ps, t.t_end_ps FROM cp JOIN op_times t ON t.run_id = ?1 AND t.op_id = cp.op_id"
		" JOIN ops o ON o.id = cp.op_id JOIN enum_op_kind k ON k.id = o.kind ORDER BY cp.step DESC";
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "critical path: %s", sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run_id);
	struct { char kind[32]; int64_t ps, ops; } by[KB_OP_KIND_COUNT];
	int n_kinds = 0;
	int64_t n = 0, first = 0, prev_start = 0, last_end = 0;
	char prev_kind[32] = "";
	for (; sqlite3_step(st) == SQLITE_ROW; n++) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		int64_t start = sqlite3_column_int64(st, 1);
		last_end = sqlite3_column_int64(st, 2);
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
	sqlite3_finalize(st);
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
	sqlite3 *h = kb_db_handle(db);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "SELECT label, total_ps, n_ops, topology_overrides FROM timing_runs WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return kb_fail(err, "%s: no timing run %lld", kb_db_path(db), (long long)run_id);
	}
	int64_t total = sqlite3_column_int64(st, 1), n_ops = sqlite3_column_int64(st, 2);
	char total_text[32];
	kb_format_ps(total, total_text, sizeof total_text);
	if (json) {
		fprintf(out, "{\"trace\": ");
		kb_json_string(out, kb_db_path(db));
		fprintf(out, ", \"run\": ");
		kb_json_string(out, (const char *)sqlite3_column_text(st, 0));
		fprintf(out, ", \"total_ps\": %lld, \"ops\": %lld, \"overrides\": ", (long long)total, (long long)n_ops);
		kb_json_string(out, (const char *)sqlite3_column_text(st, 3));
	} else {
		fprintf(out, "%s: timing run '%s': %lld ops, total simulated time %s (%lld ps)\n", kb_db_path(db),
			sqlite3_column_text(st, 0), (long long)n_ops, total_text, (long long)total);
	}
	sqlite3_finalize(st);
	int rc = 0;
	double engines = kb_report_topo_value(db, "cube.pe_template.components.pe_dma.attrs.engines", 1);
	if (engines < 1)
		engines = 1;
	for (size_t s = 0; s < sizeof sections / sizeof sections[0] && !rc; s++) {
		const section *sec = &sections[s];
		if (sqlite3_prepare_v2(h, sec->sql, -1, &st, NULL) != SQLITE_OK) {
			rc = kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
			break;
		}
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int(st, 2, top > 0 ? top : -1); /* --top 0: every row */
		if (sqlite3_bind_parameter_count(st) >= 3)
			sqlite3_bind_double(st, 3, engines);
		if (json)
			fprintf(out, ", \"%s\": [", sec->key);
		else
			fprintf(out, "%s:\n", sec->title);
		for (int row = 0; sqlite3_step(st) == SQLITE_ROW; row++) {
			fprintf(out, json ? "%s{" : "  ", json && row ? ", " : "");
			for (int c = 0; c < sec->n; c++) {
				if (json)
					fprintf(out, "%s\"%s\": ", c ? ", " : "", sec->cols[c]);
				else if (c)
					fprintf(out, "  %.*s=", text_name_len(sec->cols[c]), sec->cols[c]);
				print_cell(out, st, c, sec->units[c], json);
			}
			fprintf(out, json ? "}" : "\n");
		}
		fprintf(out, json ? "]" : "");
		sqlite3_finalize(st);
	}
	if (!rc)
		rc = critical_path(out, h, run_id, json, err);
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
	sqlite3 *h = kb_db_handle(db);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "SELECT c.call, a.value, d.name, o.value, max(c.world_size), max(c.bytes), max(c.count),"
				  " min(lt.t_start_ps), max(lt.t_end_ps) FROM collectives c"
				  " JOIN strings a ON a.id = c.algorithm JOIN strings o ON o.id = c.redop"
				  " JOIN enum_dtype d ON d.id = c.dtype"
				  " LEFT JOIN launch_times lt ON lt.launch_id = c.launch_id AND lt.run_id = ?"
				  " GROUP BY c.call, a.value ORDER BY c.call, a.value", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run_id);
	int k = 0, n_timed = 0;
	double busbw_sum = 0;
	for (; sqlite3_step(st) == SQLITE_ROW; k++) {
		const char *algo = (const char *)sqlite3_column_text(st, 1), *type = (const char *)sqlite3_column_text(st, 2);
		const char *redop = (const char *)sqlite3_column_text(st, 3);
		int64_t p = sqlite3_column_int64(st, 4), bytes = sqlite3_column_int64(st, 5), count = sqlite3_column_int64(st, 6);
		bool timed = sqlite3_column_type(st, 7) != SQLITE_NULL;
		double ps = timed ? (double)(sqlite3_column_int64(st, 8) - sqlite3_column_int64(st, 7)) : 0;
		double algbw = ps > 0 ? (double)bytes / (ps / 1000.0) : 0, busbw = p > 1 ? algbw * 2.0 * (double)(p - 1) / (double)p : algbw;
		int64_t w = wrong && k < n_wrong ? wrong[k] : -1;
		if (timed)
			n_timed++, busbw_sum += busbw;
		if (json) {
			fprintf(out, "%s{\"algorithm\": ", k ? ", " : ", \"collectives\": [");
			kb_json_string(out, algo);
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
			fprintf(out, "collectives (nccl-tests columns; busbw = algbw * 2(p-1)/p):\n"
				     "  %-24s %12s %12s %6s %6s %5s %11s %11s %11s %7s\n", "algorithm", "size(B)", "count", "type",
				"redop", "p", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong");
		char wt[24];
		if (w < 0)
			snprintf(wt, sizeof wt, "-");
		else
			snprintf(wt, sizeof wt, "%lld", (long long)w);
		if (timed)
			fprintf(out, "  %-24s %12lld %12lld %6s %6s %5lld %11.3f %11.3f %11.3f %7s\n", algo, (long long)bytes,
				(long long)count, type, redop, (long long)p, ps / 1e6, algbw, busbw, wt);
		else
			fprintf(out, "  %-24s %12lld %12lld %6s %6s %5lld %11s %11s %11s %7s\n", algo, (long long)bytes,
				(long long)count, type, redop, (long long)p, "-", "-", "-", wt);
	}
	if (json && k)
		fprintf(out, "], \"avg_busbw_gbps\": %.3f", n_timed ? busbw_sum / n_timed : 0.0);
	/* nccl-tests' closing line: the mean busbw over the sizes */
	if (!json && n_timed)
		fprintf(out, "  # Avg bus bandwidth    : %.3f GB/s (in place: each rank's buffer is reduced where it lies)\n",
			busbw_sum / n_timed);
	sqlite3_finalize(st);
	return 0;
}
