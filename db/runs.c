/*
 * runs.c — writing a timing run into a trace: one transaction (BEGIN
 * IMMEDIATE ... COMMIT, rolled back on any failure, so a failed run never
 * commits), the run row, then its tables. op_times is filled by one
 * INSERT ... SELECT from a read-only virtual table over the caller's
 * results: SQLite pulls the values straight from memory instead of a bind
 * and step per row.
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kb_run_writer {
	kb_db *db;
	int64_t run;
	sqlite3_stmt *launch, *range, *unit, *link, *load;
};

static int run_exec(kb_db *db, const char *sql, kb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kb_fail(err, "'%s': cannot store the timing run: %s", db->path, msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int run_prep(kb_db *db, const char *sql, sqlite3_stmt **st, kb_error *err)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	*st = NULL;
	return kb_fail(err, "'%s': cannot store the timing run: %s", db->path, sqlite3_errmsg(db->h));
}

/* Binds v[0..n) after the run id, steps and resets. */
static int put(kb_run_writer *w, sqlite3_stmt *st, const int64_t *v, int n, kb_error *err)
{
	sqlite3_bind_int64(st, 1, w->run);
	for (int k = 0; k < n; k++)
		sqlite3_bind_int64(st, k + 2, v[k]);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : kb_fail(err, "'%s': cannot store the timing run: %s", w->db->path, sqlite3_errmsg(w->db->h));
}

static void release(kb_run_writer *w)
{
	sqlite3_finalize(w->launch);
	sqlite3_finalize(w->range);
	sqlite3_finalize(w->unit);
	sqlite3_finalize(w->link);
	sqlite3_finalize(w->load);
	free(w);
}

/* The run's label: the one asked for, or the first free run<N>. */
static int pick_label(kb_db *db, const kb_run_info *info, char *label, size_t cap, kb_error *err)
{
	if (info->label) {
		if (strlen(info->label) >= cap)
			return kb_fail(err, "run label '%.40s...' is longer than %zu characters", info->label, cap - 1);
		snprintf(label, cap, "%s", info->label);
		return 0;
	}
	sqlite3_stmt *st;
	if (run_prep(db, "SELECT count(*) + 1 FROM timing_runs", &st, err))
		return -1;
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	sqlite3_finalize(st);
	if (run_prep(db, "SELECT 1 FROM timing_runs WHERE label = ?", &st, err))
		return -1;
	int step;
	do {
		snprintf(label, cap, "run%lld", (long long)n++);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	} while ((step = sqlite3_step(st)) == SQLITE_ROW);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : kb_fail(err, "'%s': cannot read timing_runs: %s", db->path, sqlite3_errmsg(db->h));
}

int kb_run_begin(kb_db *db, const kb_run_info *info, kb_run_writer **out, char *label, size_t cap, kb_error *err)
{
	*out = NULL;
	kb_run_writer *w = calloc(1, sizeof *w);
	if (!w)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	w->db = db;
	if (run_exec(db, "BEGIN IMMEDIATE", err)) {
		free(w);
		return -1;
	}
	sqlite3_stmt *st = NULL;
	int64_t old = 0;
	if (kb_db_upgrade(db, err) ||
	    run_exec(db, kb_schema_run_tables, err) ||
	    pick_label(db, info, label, cap, err) ||
	    run_prep(db, "SELECT id FROM timing_runs WHERE label = ?", &st, err))
		goto fail;
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		old = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (old && !info->replace) {
		kb_fail(err, "a timing run labelled '%s' exists (use --replace or another --label)", label);
		goto fail;
	}
	if (old) {
		static const char *const tables[] = {"op_times", "launch_times", "range_times", "unit_busy", "link_usage",
						     "link_load", "timing_runs"};
		for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
			char sql[96];
			snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = %lld", tables[t],
				 t + 1 < sizeof tables / sizeof tables[0] ? "run_id" : "id", (long long)old);
			if (run_exec(db, sql, err))
				goto fail;
		}
	}
	if (run_prep(db, "INSERT INTO timing_runs VALUES(NULL, ?, ?, ?, ?, ?, ?, ?)", &st, err))
		goto fail;
	sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, info->source ? info->source : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, info->overrides ? info->overrides : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, info->effective ? info->effective : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, info->total_ps);
	sqlite3_bind_int64(st, 6, info->n_ops);
	sqlite3_bind_text(st, 7, info->tool_version ? info->tool_version : "", -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_DONE) {
		kb_fail(err, "'%s': cannot store the timing run: %s", db->path, sqlite3_errmsg(db->h));
		goto fail;
	}
	w->run = sqlite3_last_insert_rowid(db->h);
	if (run_prep(db, "INSERT INTO launch_times VALUES(?, ?, ?, ?, ?)", &w->launch, err) ||
	    run_prep(db, "INSERT INTO range_times VALUES(?, ?, ?, ?)", &w->range, err) ||
	    run_prep(db, "INSERT INTO unit_busy VALUES(?, ?, ?, ?, ?, ?, ?)", &w->unit, err) ||
	    run_prep(db, "INSERT INTO link_usage(run_id, link, kind, bandwidth_gbps, transfers, bytes, busy_ps, link_id,"
			 " direction, stall_ps) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &w->link, err) ||
	    run_prep(db, "INSERT INTO link_load VALUES(?, ?, ?, ?)", &w->load, err))
		goto fail;
	*out = w;
	return 0;
fail:
	sqlite3_finalize(st);
	kb_run_abort(w);
	return -1;
}

int64_t kb_run_id(const kb_run_writer *w)
{
	return w->run;
}

/* ---- op_times through a virtual table over the caller's rows ---- */

typedef struct times_src {
	int64_t run, n;
	kb_op_time_row_fn fn;
	const void *ctx;
	kb_progress *progress;
} times_src;

typedef struct times_vtab {
	sqlite3_vtab base;
	const times_src *src;
} times_vtab;

typedef struct times_cursor {
	sqlite3_vtab_cursor base;
	int64_t i;
	int64_t row[KB_OP_TIME_COLS]; /* op i's columns, fetched once */
	int64_t fetched;    /* which op row holds, -1 none */
} times_cursor;

static int src_connect(sqlite3 *h, void *aux, int argc, const char *const *argv, sqlite3_vtab **vt, char **msg)
{
	(void)argc, (void)argv, (void)msg;
	int rc = sqlite3_declare_vtab(h, "CREATE TABLE x(run_id, op_id, t_start_ps, t_end_ps, wait, wait_op, stall_ps,"
					    " stall_link, queue_ps)");
	if (rc != SQLITE_OK)
		return rc;
	times_vtab *t = sqlite3_malloc(sizeof *t);
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof *t);
	t->src = aux;
	*vt = &t->base;
	return SQLITE_OK;
}

static int src_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int src_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void)vt;
	info->estimatedCost = 1e6;
	return SQLITE_OK;
}

static int src_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **cur)
{
	(void)vt;
	times_cursor *c = sqlite3_malloc(sizeof *c);
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof *c);
	c->fetched = -1;
	*cur = &c->base;
	return SQLITE_OK;
}

static int src_close(sqlite3_vtab_cursor *cur)
{
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int src_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
	(void)idx, (void)idx_str, (void)argc, (void)argv;
	((times_cursor *)cur)->i = 0;
	return SQLITE_OK;
}

static const times_src *src_of(sqlite3_vtab_cursor *cur)
{
	return ((times_vtab *)cur->pVtab)->src;
}

static int src_next(sqlite3_vtab_cursor *cur)
{
	kb_progress_tick(src_of(cur)->progress, ++((times_cursor *)cur)->i);
	return SQLITE_OK;
}

static int src_eof(sqlite3_vtab_cursor *cur)
{
	return ((times_cursor *)cur)->i >= src_of(cur)->n;
}

static int src_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	times_cursor *c = (times_cursor *)cur;
	const times_src *src = src_of(cur);
	if (c->fetched != c->i) {
		src->fn(src->ctx, c->i, c->row);
		c->fetched = c->i;
	}
	sqlite3_result_int64(ctx, col == 0 ? src->run : col == 1 ? c->i + 1 : c->row[col - 2]);
	return SQLITE_OK;
}

static int src_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((times_cursor *)cur)->i + 1;
	return SQLITE_OK;
}

static const sqlite3_module times_module = {
	.xConnect = src_connect, .xBestIndex = src_best_index, .xDisconnect = src_disconnect,
	.xOpen = src_open, .xClose = src_close, .xFilter = src_filter, .xNext = src_next,
	.xEof = src_eof, .xColumn = src_column, .xRowid = src_rowid,
};

int kb_run_op_times(kb_run_writer *w, int64_t n, kb_op_time_row_fn fn, const void *ctx, kb_progress *progress,
		    kb_error *err)
{
	times_src src = {w->run, n, fn, ctx, progress}; /* lives while the module is registered */
	if (sqlite3_create_module(w->db->h, "kb_op_times_src", &times_module, &src) != SQLITE_OK)
		return kb_fail(err, "'%s': cannot register the results table: %s", w->db->path, sqlite3_errmsg(w->db->h));
	int rc = run_exec(w->db, "INSERT INTO op_times(run_id, op_id, t_start_ps, t_end_ps, wait, wait_op, stall_ps,"
			  " stall_link, queue_ps) SELECT * FROM kb_op_times_src", err);
	sqlite3_create_module(w->db->h, "kb_op_times_src", NULL, NULL); /* drop it */
	return rc;
}

int kb_run_launch_time(kb_run_writer *w, int64_t launch, int64_t t_start, int64_t t_pe_start, int64_t t_end,
		       kb_error *err)
{
	int64_t v[] = {launch, t_start, t_pe_start, t_end};
	return put(w, w->launch, v, 4, err);
}

int kb_run_range_time(kb_run_writer *w, int64_t range, int64_t t_start, int64_t t_end, kb_error *err)
{
	int64_t v[] = {range, t_start, t_end};
	return put(w, w->range, v, 3, err);
}

int kb_run_unit_busy(kb_run_writer *w, const char *unit, int sip, int cube, int pe, int64_t ops, int64_t busy_ps,
		     kb_error *err)
{
	sqlite3_bind_text(w->unit, 2, unit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(w->unit, 1, w->run);
	int64_t v[] = {sip, cube, pe, ops, busy_ps};
	for (int k = 0; k < 5; k++)
		sqlite3_bind_int64(w->unit, k + 3, v[k]);
	int rc = sqlite3_step(w->unit);
	sqlite3_reset(w->unit);
	return rc == SQLITE_DONE ? 0
				 : kb_fail(err, "'%s': cannot store the timing run: %s", w->db->path, sqlite3_errmsg(w->db->h));
}

int kb_run_link_usage(kb_run_writer *w, const kb_link_usage_rec *l, kb_error *err)
{
	sqlite3_stmt *st = w->link;
	sqlite3_bind_int64(st, 1, w->run);
	sqlite3_bind_text(st, 2, l->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, l->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_double(st, 4, l->gbps);
	sqlite3_bind_int64(st, 5, l->transfers);
	sqlite3_bind_int64(st, 6, l->bytes);
	sqlite3_bind_int64(st, 7, l->busy_ps);
	sqlite3_bind_int64(st, 8, l->link_id);
	sqlite3_bind_text(st, 9, l->direction, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 10, l->stall_ps);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : kb_fail(err, "'%s': cannot store the timing run: %s", w->db->path, sqlite3_errmsg(w->db->h));
}

int kb_run_link_load(kb_run_writer *w, const char *kind, int64_t t_ps, double gbps, kb_error *err)
{
	sqlite3_stmt *st = w->load;
	sqlite3_bind_int64(st, 1, w->run);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, t_ps);
	sqlite3_bind_double(st, 4, gbps);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : kb_fail(err, "'%s': cannot store the timing run: %s", w->db->path, sqlite3_errmsg(w->db->h));
}

int kb_run_commit(kb_run_writer *w, kb_error *err)
{
	kb_db *db = w->db;
	sqlite3_finalize(w->launch);
	sqlite3_finalize(w->range);
	sqlite3_finalize(w->unit);
	sqlite3_finalize(w->link);
	sqlite3_finalize(w->load);
	w->launch = w->range = w->unit = w->link = w->load = NULL;
	if (run_exec(db, "COMMIT", err)) {
		kb_run_abort(w);
		return -1;
	}
	free(w);
	return 0;
}

void kb_run_abort(kb_run_writer *w)
{
	if (!w)
		return;
	sqlite3_exec(w->db->h, "ROLLBACK", NULL, NULL, NULL);
	release(w);
}
