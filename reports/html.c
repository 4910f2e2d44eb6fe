/*
 * html.c — kb-report --html: one self-contained page (no network, no
 * script) with SVG charts — per-PE utilisation heat map, the busiest links'
 * load, time per range — and every report table.
 */
#include "reports.h"
#include "reports_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const rtable *find(const rtable *t, int n, const char *key)
{
	for (int k = 0; k < n; k++)
		if (strcmp(t[k].key, key) == 0)
			return &t[k];
	return NULL;
}

/* Utilisation 0..100 -> a colour from pale to deep blue. */
static void colour(double u, char *buf, size_t cap)
{
	double x = u < 0 ? 0 : u > 100 ? 1 : u / 100;
	snprintf(buf, cap, "rgb(%d,%d,%d)", (int)(235 - 200 * x), (int)(240 - 150 * x), (int)(250 - 60 * x));
}

static void heat_map(FILE *f, kb_db *db, int64_t run)
{
	kb_query *st;
	kb_error e;
	/* the busiest unit of each PE in the run reported, over its rank's device
	 * time (temp.kb_device from the sections), DMA per engine like the units table */
	double engines = kb_report_topo_value(db, "cube.pe_template.components.pe_dma.attrs.engines", 1);
	if (kb_query_open(db, "SELECT b.sip AS sip, b.cube AS cube, b.pe AS pe, max(100.0 * b.busy_ps / max(d.device_ps, 1)"
			  " / CASE WHEN b.unit = 'dma' THEN :engines ELSE 1 END) AS busy_pct FROM unit_busy b"
			  " JOIN temp.kb_device d ON d.rank = b.sip WHERE b.run_id = :run AND b.cube >= 0"
			  " GROUP BY b.sip, b.cube, b.pe ORDER BY b.sip, b.cube, b.pe", &st, &e))
		return;
	kb_query_bind_int(st, ":run", run);
	kb_query_bind_double(st, ":engines", engines >= 1 ? engines : 1);
	int max_cube = 0, max_pe = 0, max_sip = 0;
	struct cell { int sip, cube, pe; double u; } cells[4096];
	int n = 0;
	while (n < 4096 && kb_query_step(st, &e) == 1) {
		cells[n] = (struct cell){(int)kb_query_int(st, "sip"), (int)kb_query_int(st, "cube"),
					 (int)kb_query_int(st, "pe"), kb_query_double(st, "busy_pct")};
		if (cells[n].cube > max_cube)
			max_cube = cells[n].cube;
		if (cells[n].pe > max_pe)
			max_pe = cells[n].pe;
		if (cells[n].sip > max_sip)
			max_sip = cells[n].sip;
		n++;
	}
	kb_query_close(st);
	if (!n)
		return;
	int cw = 22, ch = 14, gap = 30, block_w = (max_pe + 1) * cw + gap;
	int w = (max_sip + 1) * block_w + 60, hgt = (max_cube + 1) * ch + 50;
	if (w < 360)
		w = 360;
	int legend_y = hgt;
	hgt += 34;
	fprintf(f, "<h2>PE utilisation (busiest unit, over the rank's device time; per SIP: PE across, cube down)</h2>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n", w, hgt);
	for (int s = 0; s <= max_sip; s++)
		fprintf(f, "<text x=\"%d\" y=\"14\" font-size=\"12\">sip%d</text>\n", 40 + s * block_w, s);
	for (int i = 0; i < n; i++) {
		char c[32];
		colour(cells[i].u, c, sizeof c);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"#fff\">"
			   "<title>sip%d.cube%d.pe%d: %.1f %%</title></rect>\n", 40 + cells[i].sip * block_w + cells[i].pe * cw,
			22 + cells[i].cube * ch, cw, ch, c, cells[i].sip, cells[i].cube, cells[i].pe, cells[i].u);
	}
	/* legend: the colour of 0, 10, ..., 100 % */
	fprintf(f, "<text x=\"40\" y=\"%d\" font-size=\"11\">busy %%:</text>\n", legend_y + 12);
	for (int p = 0; p <= 10; p++) {
		char c[32];
		colour(p * 10.0, c, sizeof c);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"24\" height=\"12\" fill=\"%s\" stroke=\"#999\"/>"
			   "<text x=\"%d\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\">%d</text>\n",
			90 + p * 24, legend_y + 2, c, 102 + p * 24, legend_y + 26, p * 10);
	}
	fprintf(f, "</svg>\n");
}

/* Horizontal bars of column `val` labelled by column `lab`. */
static void bars(FILE *f, const rtable *t, const char *title, int lab, int val, bool pct)
{
	if (!t || !t->n_rows)
		return;
	double max = 0;
	for (size_t i = 0; i < t->n_rows; i++)
		if (t->rows[i].num[val] > max)
			max = t->rows[i].num[val];
	if (pct && max < 100)
		max = 100;
	if (max <= 0)
		max = 1;
	int rows = (int)(t->n_rows < 20 ? t->n_rows : 20), bw = 420, lw = 260;
	fprintf(f, "<h2>");
	kb_html_text(f, title);
	fprintf(f, "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n",
		lw + bw + 120, rows * 20 + 10);
	for (int i = 0; i < rows; i++) {
		double v = t->rows[i].num[val];
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", lw - 6, 18 + i * 20);
		kb_html_text(f, t->rows[i].text[lab]);
		fprintf(f, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" fill=\"#3b6fb6\"/>"
			   "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">", lw, 6 + i * 20, fmax(1, bw * v / max),
			lw + fmax(1, bw * v / max) + 4, 18 + i * 20);
		kb_html_text(f, t->rows[i].text[val]);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</svg>\n");
}

static void table(FILE *f, const rtable *t)
{
	if (!t->n_rows)
		return;
	fprintf(f, "<h2>");
	kb_html_text(f, t->title);
	fprintf(f, "</h2>\n<table><tr>");
	for (int c = 0; c < t->n_cols; c++) {
		char h[64];
		reports__rtable_header(t->cols[c], h, sizeof h);
		fprintf(f, "<th>");
		kb_html_text(f, h);
		fprintf(f, "</th>");
	}
	fprintf(f, "</tr>\n");
	for (size_t i = 0; i < t->n_rows; i++) {
		fprintf(f, "<tr>");
		for (int c = 0; c < t->n_cols; c++) {
			fprintf(f, "<td%s>", t->fmt[c] == 's' ? "" : " class=\"n\"");
			kb_html_text(f, t->rows[i].text[c]);
			fprintf(f, "</td>");
		}
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table>\n");
}

int kb_report_html(kb_db *db, int64_t run, const char *path, const char *title, const rtable *t, int n, kb_error *err)
{
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f)
		return -1;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kernbench report</title>\n"
		   "<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
		   "table{border-collapse:collapse;margin-bottom:18px;font-size:13px}"
		   "th,td{border:1px solid #ccc;padding:3px 8px}th{background:#eef2f8}td.n{text-align:right}"
		   "h1{font-size:20px}h2{font-size:16px;margin-top:28px}</style></head><body>\n<h1>");
	kb_html_text(f, title);
	fprintf(f, "</h1>\n");
	heat_map(f, db, run);
	bars(f, find(t, n, "links"), "busiest links (busy % of the run)", 0, 5, true);
	bars(f, find(t, n, "ranges"), "time per range", 0, 3, false);
	bars(f, find(t, n, "kernels"), "time per kernel (total of its launches)", 0, 2, false);
	for (int k = 0; k < n; k++)
		table(f, &t[k]);
	fprintf(f, "</body></html>\n");
	return kb_out_close(&o, true, err);
}
