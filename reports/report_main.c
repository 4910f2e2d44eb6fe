/*
 * report_main.c — kb_report(): runs the sections and writes each output.
 */
#include "reports.h"
#include "reports_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TABLES 16

int kb_report_tables(kb_db *db, int64_t run, int top, rtable *t, int *n, kb_error *err);
int kb_report_html(kb_db *db, const char *path, const char *title, const rtable *t, int n, kb_error *err);

int64_t kb_report_run_id(kb_db *db, const char *label, kb_error *err)
{
	sqlite3 *h = kb_db_handle(db);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, label ? "SELECT id FROM timing_runs WHERE label = ?"
					: "SELECT id FROM timing_runs ORDER BY id DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
	if (label)
		sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (id >= 0)
		return id;
	if (!label)
		return kb_fail(err, "%s: no timing run (run kb-time first)", kb_db_path(db));
	char have[256];
	kb_read_run_labels(db, have, sizeof have);
	return kb_fail(err, "%s: no timing run labelled '%s' (runs: %s)", kb_db_path(db), label, have);
}

int kb_report_runs(FILE *out, kb_db *db, kb_error *err)
{
	static const char *const cols[] = {"label", "total_ps", "ops", "overrides", "tool"};
	rtable t;
	rtable_init(&t, "runs", "timing runs (oldest first)", 5, cols, "stiss");
	int rc = rtable_query(&t, kb_db_handle(db),
			      "SELECT label, total_ps, n_ops, replace(topology_overrides, char(10), ' '), tool_version"
			      " FROM timing_runs ORDER BY id", 0, -1, err);
	if (!rc && !t.n_rows)
		fprintf(out, "%s: no timing run (run kb-time first)\n", kb_db_path(db));
	if (!rc)
		rtable_print(out, &t, 0);
	rtable_release(&t);
	return rc;
}

/* Keeps the tables opt->sections names (in the report's order); an
 * unknown name is an error listing the known ones. */
static int pick_sections(rtable *t, int *n, const kb_report_options *opt, kb_error *err)
{
	for (int s = 0; s < opt->n_sections; s++) {
		int k = 0;
		while (k < *n && strcmp(t[k].key, opt->sections[s]) != 0)
			k++;
		if (k < *n)
			continue;
		char known[512];
		size_t o = 0;
		for (int j = 0; j < *n && o < sizeof known; j++)
			o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", j ? ", " : "", t[j].key);
		return kb_fail(err, "unknown section '%s' (sections: %s)", opt->sections[s], known);
	}
	int kept = 0;
	for (int k = 0; k < *n; k++) {
		bool want = false;
		for (int s = 0; s < opt->n_sections && !want; s++)
			want = strcmp(t[k].key, opt->sections[s]) == 0;
		if (want)
			t[kept++] = t[k];
		else
			rtable_release(&t[k]);
	}
	*n = kept;
	return 0;
}

int kb_report(FILE *out, kb_db *db, const kb_report_options *opt, kb_error *err)
{
	int64_t run = kb_report_run_id(db, opt->run, err);
	if (run < 0)
		return -1;
	sqlite3 *h = kb_db_handle(db);
	sqlite3_stmt *st;
	char label[64] = "", bench[64] = "";
	int64_t total = 0, n_ops = 0;
	if (sqlite3_prepare_v2(h, "SELECT label, total_ps, n_ops FROM timing_runs WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(label, sizeof label, "%s", sqlite3_column_text(st, 0));
		total = sqlite3_column_int64(st, 1);
		n_ops = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	char *b = kb_db_meta_get(db, "bench");
	snprintf(bench, sizeof bench, "%s", b ? b : "?");
	free(b);
	rtable t[MAX_TABLES];
	int n = 0;
	/* exports hold every row (SQL LIMIT -1); --top limits the text view,
	 * which alone needs only that many */
	bool exports = opt->json || opt->csv || opt->html;
	kb_progress_begin(opt->progress, "tables", NULL, 0);
	kb_db_progress(db, opt->progress);
	int rc = exports || !opt->quiet || opt->list_sections
			 ? kb_report_tables(db, run, opt->list_sections ? 1 : exports || opt->top <= 0 ? -1 : opt->top, t, &n, err)
			 : 0;
	if (!rc && opt->list_sections) {
		for (int k = 0; k < n; k++)
			fprintf(out, "%-20s %s\n", t[k].key, t[k].title);
		for (int k = 0; k < n; k++)
			rtable_release(&t[k]);
		return 0;
	}
	kb_db_progress(db, NULL);
	kb_progress_end(opt->progress);
	if (!rc && opt->n_sections)
		rc = pick_sections(t, &n, opt, err);
	char total_text[32], title[512];
	kb_format_ps(total, total_text, sizeof total_text);
	snprintf(title, sizeof title, "%s: bench %s, timing run '%s': %lld ops, %s simulated", kb_db_path(db), bench,
		 label, (long long)n_ops, total_text);
	if (!rc && !opt->quiet) {
		fprintf(out, "%s\n", title);
		for (int k = 0; k < n; k++)
			if (t[k].n_rows) {
				fputc('\n', out);
				rtable_print(out, &t[k], opt->top);
			}
	}
	if (!rc && opt->json) {
		kb_out o = {0};
		FILE *f = strcmp(opt->json, "-") == 0 ? out : kb_out_open(&o, opt->json, err);
		if (!f) {
			rc = -1;
		} else {
			fprintf(f, "{\"trace\": ");
			kb_json_string(f, kb_db_path(db));
			fprintf(f, ", \"bench\": ");
			kb_json_string(f, bench);
			fprintf(f, ", \"run\": ");
			kb_json_string(f, label);
			fprintf(f, ", \"ops\": %lld, \"total_ps\": %lld", (long long)n_ops, (long long)total);
			for (int k = 0; k < n; k++)
				rtable_json(f, &t[k], false);
			fprintf(f, "}\n");
			if (f != out && kb_out_close(&o, true, err))
				rc = -1;
		}
	}
	if (!rc && opt->csv) {
		if (mkdir(opt->csv, 0777) && errno != EEXIST)
			rc = kb_fail(err, "cannot create '%s': %s", opt->csv, strerror(errno));
		for (int k = 0; k < n && !rc; k++)
			rc = rtable_csv(opt->csv, &t[k], err);
	}
	if (!rc && opt->html)
		rc = kb_report_html(db, opt->html, title, t, n, err);
	if (!rc && opt->perfetto)
		rc = kb_report_perfetto(db, run, opt->perfetto, opt->perfetto_split, opt->progress, err);
	if (!rc && opt->gqa_sweep)
		rc = kb_report_gqa_sweep(db, run, opt->gqa_sweep, err);
	for (int k = 0; k < n; k++)
		rtable_release(&t[k]);
	return rc;
}
