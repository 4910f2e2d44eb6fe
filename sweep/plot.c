/*
 * plot.c — a study as one self-contained HTML page of SVG line plots: a
 * metric against one axis (x), one line per value of another (the
 * series); with more axes, one plot per combination of the others. Then
 * the whole table.
 */
#include "sweep_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int col_of(const sweep_table *t, const char *name)
{
	for (int c = 0; c < t->n_cols; c++)
		if (strcmp(t->names[c], name) == 0)
			return c;
	return -1;
}

/* The distinct values of column c, in order of first appearance; sorted
 * numerically when every one is a number. */
static int distinct(const sweep_table *t, int c, const char **out, int cap)
{
	int n = 0;
	for (int r = 0; r < t->n_rows; r++) {
		int k = 0;
		while (k < n && strcmp(out[k], t->rows[r][c]) != 0)
			k++;
		if (k == n && n < cap)
			out[n++] = t->rows[r][c];
	}
	bool numeric = true;
	for (int k = 0; k < n && numeric; k++) {
		char *end;
		strtod(out[k], &end);
		numeric = *out[k] && !*end;
	}
	for (int i = 1; numeric && i < n; i++) /* insertion sort: a handful of values */
		for (int j = i; j > 0 && atof(out[j - 1]) > atof(out[j]); j--) {
			const char *x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	return n;
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
				      "#7f7f7f"};

/* A metric's label with its unit: total_us -> "total (us)". */
static void metric_label(const char *m, char *buf, size_t cap)
{
	static const struct { const char *suffix, *unit; } u[] = {{"_us", "us"}, {"_ps", "ps"}, {"_gbps", "GB/s"},
								  {"_pct", "%"}, {"_s", "s"}};
	size_t n = strlen(m);
	for (size_t k = 0; k < sizeof u / sizeof u[0]; k++) {
		size_t l = strlen(u[k].suffix);
		if (n > l && strcmp(m + n - l, u[k].suffix) == 0) {
			snprintf(buf, cap, "%.*s (%s)", (int)(n - l), m, u[k].unit);
			return;
		}
	}
	snprintf(buf, cap, "%s", m);
}

/* One plot: rows matching `fixed` (the other axes' values), metric over x,
 * a line per series value. */
static void plot(FILE *f, const sweep_table *t, int mc, int xc, int sc, const int *fixed_c, const char *const *fixed_v,
		 int n_fixed)
{
	const char *xs[256], *ss[8];
	int nx = distinct(t, xc, xs, 256), ns = sc >= 0 ? distinct(t, sc, ss, 8) : 1;
	double ymax = 0;
	for (int r = 0; r < t->n_rows; r++)
		if (*t->rows[r][mc] && atof(t->rows[r][mc]) > ymax)
			ymax = atof(t->rows[r][mc]);
	if (ymax <= 0)
		ymax = 1;
	/* about five ticks at 1, 2 or 5 times a power of ten */
	double raw = ymax / 5, mag = pow(10, floor(log10(raw))), norm = raw / mag;
	double step = (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
	double top = ceil(ymax * 1.05 / step) * step;
	const int W = 640, H = 360, L = 80, R = 170, T = 20, B = 56;
	char ylabel[160];
	metric_label(t->names[mc], ylabel, sizeof ylabel);
	fprintf(f, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n", W, H);
	int pw = W - L - R, ph = H - T - B;
	/* axes, ticks and grid */
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>", L, T + ph, L + pw, T + ph);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", L, T, L, T + ph);
	for (double y = 0; y <= top * 1.0001; y += step) {
		double py = T + ph - y / top * ph;
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\""
			   " font-size=\"11\" text-anchor=\"end\">%g</text>\n", L, py, L + pw, py, L - 6, py + 4, y);
	}
	for (int i = 0; i < nx; i++) {
		double px = L + (nx > 1 ? (double)i / (nx - 1) : 0.5) * pw;
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", px, T + ph + 16);
		kb_html_text(f, xs[i]);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", L + pw / 2, H - 10);
	kb_html_text(f, t->names[xc]);
	fprintf(f, "</text><text x=\"16\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">",
		T + ph / 2, T + ph / 2);
	kb_html_text(f, ylabel);
	fprintf(f, "</text>\n");
	/* a line per series value */
	for (int s = 0; s < ns; s++) {
		const char *colour = palette[s % 8];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
		for (int i = 0; i < nx; i++)
			for (int r = 0; r < t->n_rows; r++) {
				const char *const *row = (const char *const *)t->rows[r];
				bool match = strcmp(row[xc], xs[i]) == 0 && (sc < 0 || strcmp(row[sc], ss[s]) == 0) && *row[mc];
				for (int k = 0; k < n_fixed && match; k++)
					match = strcmp(row[fixed_c[k]], fixed_v[k]) == 0;
				if (!match)
					continue;
				double px = L + (nx > 1 ? (double)i / (nx - 1) : 0.5) * pw, py = T + ph - atof(row[mc]) / top * ph;
				fprintf(f, "%.1f,%.1f ", px, py);
				break;
			}
		fprintf(f, "\"/>\n");
		/* legend */
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
			L + pw + 14, T + 10 + s * 18, colour, L + pw + 32, T + 15 + s * 18);
		if (sc >= 0) {
			kb_html_text(f, ss[s]);
		} else {
			kb_html_text(f, ylabel);
		}
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg><figcaption>");
	kb_html_text(f, ylabel);
	fputs(" against ", f);
	kb_html_text(f, t->names[xc]);
	if (sc >= 0) {
		fputs(", a line per ", f);
		kb_html_text(f, t->names[sc]);
		fputs(" (the legend's values)", f);
	}
	for (int k = 0; k < n_fixed; k++) {
		fputs(k ? ", " : "; at ", f);
		kb_html_text(f, t->names[fixed_c[k]]);
		fputs(" = ", f);
		kb_html_text(f, fixed_v[k]);
	}
	fprintf(f, "</figcaption></figure>\n");
}

int kb_sweep_html(const char *study, const char *path, const char *metric, kb_error *err)
{
	sweep_table t;
	if (sweep__sweep_table_load(study, &t, err))
		return -1;
	int mc = col_of(&t, metric), rc = 0;
	if (mc < 0 || mc < 3 + t.n_axes) {
		char known[512];
		size_t o = 0;
		for (int c = 3 + t.n_axes; c < t.n_cols && o < sizeof known; c++)
			o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", c > 3 + t.n_axes ? ", " : "", t.names[c]);
		rc = kb_fail(err, "no metric '%s' in the study (metrics: %s)", metric, known);
		goto out;
	}
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f) {
		rc = -1;
		goto out;
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kernbench study</title>\n"
		   "<style>body{font-family:sans-serif;margin:24px;color:#222}figure{margin:0 0 24px 0}"
		   "figcaption{font-size:13px;color:#555}table{border-collapse:collapse;font-size:12px}"
		   "th,td{border:1px solid #ccc;padding:2px 6px}</style></head><body>\n<h1>");
	kb_html_text(f, study);
	fprintf(f, "</h1>\n");
	/* x: the first axis; series: the second; one plot per value combination of the rest */
	int xc = 3, sc = t.n_axes > 1 ? 4 : -1;
	int rest[KB_SWEEP_MAX_AXES], n_rest = 0;
	for (int a = 2; a < t.n_axes; a++)
		rest[n_rest++] = 3 + a;
	const char *vals[KB_SWEEP_MAX_AXES][64];
	int nv[KB_SWEEP_MAX_AXES], idx[KB_SWEEP_MAX_AXES] = {0}, plots = 0;
	for (int k = 0; k < n_rest; k++)
		nv[k] = distinct(&t, rest[k], vals[k], 64);
	for (;;) {
		const char *fixed[KB_SWEEP_MAX_AXES];
		for (int k = 0; k < n_rest; k++)
			fixed[k] = vals[k][idx[k]];
		plot(f, &t, mc, xc, sc, rest, fixed, n_rest);
		if (++plots == 64)
			break;
		int k = n_rest - 1;
		while (k >= 0 && ++idx[k] == nv[k])
			idx[k--] = 0;
		if (k < 0)
			break;
	}
	/* the table */
	fprintf(f, "<h2>points</h2>\n<table><tr>");
	for (int c = 0; c < t.n_cols; c++) {
		fputs("<th>", f);
		kb_html_text(f, t.names[c]);
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	for (int r = 0; r < t.n_rows; r++) {
		fputs("<tr>", f);
		for (int c = 0; c < t.n_cols; c++) {
			fputs("<td>", f);
			kb_html_text(f, t.rows[r][c]);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fprintf(f, "</table>\n</body></html>\n");
	rc = kb_out_close(&o, true, err);
out:
	sweep__sweep_table_free(&t);
	return rc;
}
