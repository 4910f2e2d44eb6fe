/*
 * reports_int.h — private to reports/: a result table that prints as text,
 * JSON or CSV, and the SQL helpers the reports share.
 */
#ifndef KB_REPORTS_INT_H
#define KB_REPORTS_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "db.h"

typedef struct rrow {
	char **text;      /* formatted for the text table */
	double *num;      /* the value for JSON / CSV */
	bool *is_null;
} rrow;

/* fmt per column: 's' text, 'i' integer, 'f' real, 't' picoseconds, 'p' percent, 'b' bytes. */
typedef struct rtable {
	const char *key, *title;
	int n_cols;
	const char *const *cols;
	const char *fmt;
	rrow *rows;
	size_t n_rows, cap;
} rtable;

void reports__rtable_init(rtable *t, const char *key, const char *title, int n_cols, const char *const *cols,
		 const char *fmt);
/* Appends the rows of sql (parameters :run = the run id, :top), each
 * column read by its name in t->cols. */
int reports__rtable_query(rtable *t, kb_db *db, const char *sql, int64_t run, int top, kb_error *err);
void reports__rtable_header(const char *col, char *buf, size_t cap);
/* The first `limit` rows (limit <= 0: all) as a text table. */
void reports__rtable_print(FILE *out, const rtable *t, int limit);
void reports__rtable_json(FILE *out, const rtable *t, bool first);
int reports__rtable_csv(const char *dir, const rtable *t, kb_error *err);
void reports__rtable_release(rtable *t);

/* The critical path of run :run as cp(op_id, step): the chain of waits back
 * from its last-ending non-launch op. A walk is at most as long as the
 * trace has ops, so a damaged wait_op (an op waiting on itself, a cycle)
 * ends it instead of hanging the tool. Reports run this text instead of
 * the file's critical_path_v, which the file could redefine. */
#define KB_CRITICAL_PATH_WALK \
	"WITH RECURSIVE cp(op_id, step) AS (SELECT (SELECT t.op_id FROM op_times t JOIN ops o ON o.id = t.op_id" \
	" WHERE t.run_id = :run AND o.kind <> (SELECT id FROM enum_op_kind WHERE name = 'launch')" \
	" ORDER BY t.t_end_ps DESC, t.op_id LIMIT 1), 0" \
	" UNION ALL SELECT t.wait_op, cp.step + 1 FROM cp JOIN op_times t ON t.run_id = :run AND t.op_id = cp.op_id" \
	" WHERE t.wait_op > 0 AND cp.step < (SELECT max(id) FROM ops))"


/* A buffered JSON writer (format.c): raw text, an escaped string, an
 * integer, picoseconds as microseconds with 6 exact decimals. */
typedef struct jbuf {
	FILE *f;
	size_t n;
	char b[1 << 16];
} jbuf;
void reports__jb_raw(jbuf *j, const char *s);
void reports__jb_str(jbuf *j, const char *s);
void reports__jb_int(jbuf *j, int64_t v);
void reports__jb_ps_us(jbuf *j, int64_t ps);
void reports__jb_flush(jbuf *j);
/* The tables of kb-report for run (sections.c); top rows of ranked ones. */
int kb_report_tables(kb_db *db, int64_t run, int top, rtable *t, int *n, kb_error *err);
/* The report's tables as one HTML page with SVG charts and a heat map of
 * the PEs' busiest unit in run `run`. */
int kb_report_html(kb_db *db, int64_t run, const char *path, const char *title, const rtable *t, int n, kb_error *err);
/* A number of the trace's effective topology ("key: value  # unit" lines). */
double kb_report_topo_value(kb_db *db, const char *key, double fallback);

#endif
