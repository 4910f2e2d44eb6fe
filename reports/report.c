/*
 * report.c — kb-report: the summary a performance architect reads first,
 * from a trace and one of its timing runs. Every section is a table that
 * prints as aligned text, as a JSON array or as a CSV file.
 *
 * Conventions: device time of a rank = the union of its launches' spans
 * (host path to last PE op); host setup = the rank's time before its first
 * launch. Utilisation of a PE unit is busy time over its rank's device
 * time, per engine (the DMA busy time is split over the engines). Achieved
 * link bandwidth is bytes over the link's active window (time with at
 * least one flow on it).
 */
#include "reports.h"
#include "reports_int.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

void reports__rtable_init(rtable *t, const char *key, const char *title, int n_cols, const char *const *cols,
		 const char *fmt)
{
	memset(t, 0, sizeof *t);
	t->key = key;
	t->title = title;
	t->n_cols = n_cols;
	t->cols = cols;
	t->fmt = fmt;
}

static char *cell_text(char f, kb_query *q, int c)
{
	char buf[64];
	if (kb_query_type_at(q, c) == KB_VALUE_NULL)
		snprintf(buf, sizeof buf, "-");
	else if (f == 's')
		return strdup(kb_query_text_at(q, c));
	else if (f == 't')
		kb_format_ps(llround(kb_query_double_at(q, c)), buf, sizeof buf);
	else if (f == 'p')
		snprintf(buf, sizeof buf, "%.1f %%", kb_query_double_at(q, c));
	else if (f == 'f')
		snprintf(buf, sizeof buf, "%.2f", kb_query_double_at(q, c));
	else if (f == 'b') {
		double b = kb_query_double_at(q, c);
		if (b < 1024)
			snprintf(buf, sizeof buf, "%.0f B", b);
		else if (b < 1048576)
			snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
		else if (b < 1073741824.0)
			snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576);
		else
			snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
	} else
		snprintf(buf, sizeof buf, "%lld", (long long)kb_query_int_at(q, c));
	return strdup(buf);
}

/* Appends the row q stands on; col[c] is where the table's column c is. */
static int add_row(rtable *t, kb_query *q, const int *col)
{
	if (kb_grow(&t->rows, &t->cap, t->n_rows + 1, sizeof *t->rows, 16))
		return -1;
	rrow *r = &t->rows[t->n_rows];
	r->text = calloc((size_t)t->n_cols, sizeof *r->text);
	r->num = calloc((size_t)t->n_cols, sizeof *r->num);
	r->is_null = calloc((size_t)t->n_cols, sizeof *r->is_null);
	if (!r->text || !r->num || !r->is_null)
		return -1;
	for (int c = 0; c < t->n_cols; c++) {
		r->text[c] = cell_text(t->fmt[c], q, col[c]);
		r->num[c] = kb_query_double_at(q, col[c]);
		r->is_null[c] = kb_query_type_at(q, col[c]) == KB_VALUE_NULL;
		if (!r->text[c])
			return -1;
	}
	t->n_rows++;
	return 0;
}

int reports__rtable_query(rtable *t, kb_db *db, const char *sql, int64_t run, int top, kb_error *err)
{
	kb_query *q;
	kb_error e = {0};
	if (kb_query_open(db, sql, &q, &e))
		return kb_fail_status(err, e.status, "report '%s': %s", t->key, e.msg);
	if (kb_query_has_param(q, ":run"))
		kb_query_bind_int(q, ":run", run);
	if (kb_query_has_param(q, ":top"))
		kb_query_bind_int(q, ":top", top);
	int col[64], rc;
	assert(t->n_cols <= 64);
	for (int c = 0; c < t->n_cols; c++)
		col[c] = kb_query_col(q, t->cols[c]);
	while ((rc = kb_query_step(q, &e)) == 1)
		if (add_row(t, q, col)) {
			kb_query_close(q);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
	kb_query_close(q);
	return rc ? kb_fail_status(err, e.status, "report '%s': %s", t->key, e.msg) : 0;
}

void reports__rtable_release(rtable *t)
{
	for (size_t i = 0; i < t->n_rows; i++) {
		for (int c = 0; c < t->n_cols; c++)
			free(t->rows[i].text[c]);
		free(t->rows[i].text);
		free(t->rows[i].num);
		free(t->rows[i].is_null);
	}
	free(t->rows);
	t->rows = NULL;
	t->n_rows = t->cap = 0;
}

/* A column name without its unit suffix, for text and HTML headers: the
 * cells carry their unit (1.930 us, 66.0 KiB), a percent header says %. */
void reports__rtable_header(const char *col, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", col);
	char *u = strrchr(buf, '_');
	if (u && strcmp(u, "_pct") == 0 && (size_t)(u - buf) + 3 < cap)
		strcpy(u, " %");
	else if (u && (strcmp(u, "_ps") == 0 || strcmp(u, "_bytes") == 0))
		*u = '\0';
}

void reports__rtable_print(FILE *out, const rtable *t, int limit)
{
	if (!t->n_rows)
		return;
	size_t shown = limit > 0 && (size_t)limit < t->n_rows ? (size_t)limit : t->n_rows;
	int w[32] = {0};
	char h[64];
	for (int c = 0; c < t->n_cols && c < 32; c++) {
		reports__rtable_header(t->cols[c], h, sizeof h);
		w[c] = (int)strlen(h);
		for (size_t i = 0; i < shown; i++) {
			int l = (int)strlen(t->rows[i].text[c]);
			if (l > w[c])
				w[c] = l;
		}
	}
	fprintf(out, "%s:\n ", t->title);
	for (int c = 0; c < t->n_cols; c++) {
		reports__rtable_header(t->cols[c], h, sizeof h);
		fprintf(out, " %*s", t->fmt[c] == 's' ? -w[c] : w[c], h);
	}
	fputc('\n', out);
	for (size_t i = 0; i < shown; i++) {
		fputc(' ', out);
		for (int c = 0; c < t->n_cols; c++)
			fprintf(out, " %*s", t->fmt[c] == 's' ? -w[c] : w[c], t->rows[i].text[c]);
		fputc('\n', out);
	}
	if (shown < t->n_rows)
		fprintf(out, "  ... %zu more (--top 0 shows all; --json and --csv hold every row)\n", t->n_rows - shown);
}

void reports__rtable_json(FILE *out, const rtable *t, bool first)
{
	fprintf(out, "%s\"%s\": [", first ? "" : ", ", t->key);
	for (size_t i = 0; i < t->n_rows; i++) {
		fprintf(out, "%s{", i ? ", " : "");
		for (int c = 0; c < t->n_cols; c++) {
			fprintf(out, "%s\"%s\": ", c ? ", " : "", t->cols[c]);
			if (t->rows[i].is_null[c])
				fprintf(out, "null");
			else if (t->fmt[c] == 's')
				kb_json_string(out, t->rows[i].text[c]);
			else if (t->fmt[c] == 'i')
				fprintf(out, "%lld", (long long)llround(t->rows[i].num[c]));
			else
				fprintf(out, "%.17g", t->rows[i].num[c]);
		}
		fputc('}', out);
	}
	fputc(']', out);
}

int reports__rtable_csv(const char *dir, const rtable *t, kb_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.csv", dir, t->key);
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f)
		return -1;
	for (int c = 0; c < t->n_cols; c++)
		fprintf(f, "%s%s", c ? "," : "", t->cols[c]);
	fputc('\n', f);
	for (size_t i = 0; i < t->n_rows; i++) {
		for (int c = 0; c < t->n_cols; c++) {
			if (c)
				fputc(',', f);
			if (t->rows[i].is_null[c])
				continue;
			if (t->fmt[c] == 's') {
				fputc('"', f);
				for (const char *p = t->rows[i].text[c]; *p; p++)
					fprintf(f, *p == '"' ? "\"\"" : "%c", *p);
				fputc('"', f);
			} else if (t->fmt[c] == 'i') {
				fprintf(f, "%lld", (long long)llround(t->rows[i].num[c]));
			} else {
				fprintf(f, "%.17g", t->rows[i].num[c]);
			}
		}
		fputc('\n', f);
	}
	return kb_out_close(&o, true, err);
}

/* A number from the recorded topology_effective ("key: value  # unit"). */
double kb_report_topo_value(kb_db *db, const char *key, double fallback)
{
	char *eff = kb_db_meta_get(db, "topology_effective");
	double v = fallback;
	size_t kl = strlen(key);
	for (char *line = eff; line && *line;) {
		char *next = strchr(line, '\n');
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtod(line + kl + 1, NULL);
		line = next ? next + 1 : NULL;
	}
	free(eff);
	return v;
}

