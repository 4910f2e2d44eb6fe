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


int64_t kb_report_run_id(kb_db *db, const char *label, kb_error *err)
{
	kb_query *st;
	if (kb_query_open(db, label ? "SELECT id FROM timing_runs WHERE label = :label"
				    : "SELECT id FROM timing_runs ORDER BY id DESC LIMIT 1", &st, err))
		return -1;
	if (label)
		kb_query_bind_text(st, ":label", label);
	int rc = kb_query_step(st, err);
	int64_t id = rc == 1 ? kb_query_int(st, "id") : -1;
	kb_query_close(st);
	if (rc < 0)
		return -1;
	if (id >= 0)
		return id;
	if (!label)
		return kb_fail_status(err, KB_E_NOT_FOUND, "%s: no timing run (run kb-time first)", kb_db_path(db));
	char have[256];
	kb_read_run_labels(db, have, sizeof have);
	return kb_fail_status(err, KB_E_NOT_FOUND, "%s: no timing run labelled '%s' (runs: %s)", kb_db_path(db), label, have);
}

int kb_report_runs(FILE *out, kb_db *db, kb_error *err)
{
	static const char *const cols[] = {"label", "total_ps", "ops", "overrides", "tool"};
	rtable t;
	reports__rtable_init(&t, "runs", "timing runs (oldest first)", 5, cols, "stiss");
	int rc = reports__rtable_query(&t, db,
				       "SELECT label, total_ps, n_ops AS ops, replace(topology_overrides, char(10), ' ')"
				       " AS overrides, tool_version AS tool FROM timing_runs ORDER BY id", 0, -1, err);
	if (!rc && !t.n_rows)
		fprintf(out, "%s: no timing run (run kb-time first)\n", kb_db_path(db));
	if (!rc)
		reports__rtable_print(out, &t, 0);
	reports__rtable_release(&t);
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
			reports__rtable_release(&t[k]);
	}
	*n = kept;
	return 0;
}

int kb_report(FILE *out, kb_db *db, const kb_report_options *opt, kb_error *err)
{
	int64_t run = kb_report_run_id(db, opt->run, err);
	if (run < 0)
		return -1;
	kb_query *st;
	char label[64] = "", bench[64] = "";
	int64_t total = 0, n_ops = 0;
	if (kb_query_open(db, "SELECT label, total_ps, n_ops FROM timing_runs WHERE id = :run", &st, err))
		return -1;
	kb_query_bind_int(st, ":run", run);
	int step = kb_query_step(st, err);
	if (step == 1) {
		snprintf(label, sizeof label, "%s", kb_query_text(st, "label"));
		total = kb_query_int(st, "total_ps");
		n_ops = kb_query_int(st, "n_ops");
	}
	kb_query_close(st);
	if (step < 0)
		return -1;
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
			reports__rtable_release(&t[k]);
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
				reports__rtable_print(out, &t[k], opt->top);
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
				reports__rtable_json(f, &t[k], false);
			fprintf(f, "}\n");
			if (f != out && kb_out_close(&o, true, err))
				rc = -1;
		}
	}
	if (!rc && opt->csv) {
		if (mkdir(opt->csv, 0777) && errno != EEXIST)
			rc = kb_fail(err, "cannot create '%s': %s", opt->csv, strerror(errno));
		for (int k = 0; k < n && !rc; k++)
			rc = reports__rtable_csv(opt->csv, &t[k], err);
	}
	if (!rc && opt->html)
		rc = kb_report_html(db, run, opt->html, title, t, n, err);
	if (!rc && opt->perfetto)
		rc = kb_report_perfetto(db, run, opt->perfetto, opt->perfetto_split, opt->progress, err);
	if (!rc && opt->gqa_sweep)
		rc = kb_report_gqa_sweep(db, run, opt->gqa_sweep, err);
	for (int k = 0; k < n; k++)
		reports__rtable_release(&t[k]);
	return rc;
}
