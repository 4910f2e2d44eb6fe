/*
 * query.c — SQL on an opened trace for the modules above db/: statements
 * with named parameters (:run, :top), columns read by their names, and the
 * small lookups every reader needs (a table's presence, a meta value). The
 * rest of the project never sees a sqlite3 handle: a view's column is
 * found by its documented name, so a column added to a view cannot shift
 * another report's reading.
 *
 * It also registers the aggregates reports use on every connection:
 * kb_median(x) and kb_stddev(x) (sample standard deviation).
 */
#include "db_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kb_query {
	kb_db *db;
	sqlite3_stmt *st;
	int n_cols;
};

int kb_query_open(kb_db *db, const char *sql, kb_query **out, kb_error *err)
{
	kb_query *q = calloc(1, sizeof *q);
	if (!q)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (sqlite3_prepare_v2(db->h, sql, -1, &q->st, NULL) != SQLITE_OK) {
		kb_fail_status(err, KB_E_DB, "%s: %s", db->path, sqlite3_errmsg(db->h));
		free(q);
		return -1;
	}
	q->db = db;
	q->n_cols = sqlite3_column_count(q->st);
	*out = q;
	return 0;
}

void kb_query_close(kb_query *q)
{
	if (q) {
		sqlite3_finalize(q->st);
		free(q);
	}
}

static int param(const kb_query *q, const char *name)
{
	int i = sqlite3_bind_parameter_index(q->st, name);
	KB_ASSERT(i > 0, "the query binds %s, which it does not have: %.200s", name, sqlite3_sql(q->st));
	return i;
}

void kb_query_bind_int(kb_query *q, const char *name, int64_t v)
{
	sqlite3_bind_int64(q->st, param(q, name), v);
}

void kb_query_bind_double(kb_query *q, const char *name, double v)
{
	sqlite3_bind_double(q->st, param(q, name), v);
}

void kb_query_bind_text(kb_query *q, const char *name, const char *v)
{
	sqlite3_bind_text(q->st, param(q, name), v, -1, SQLITE_TRANSIENT);
}

bool kb_query_has_param(const kb_query *q, const char *name)
{
	return sqlite3_bind_parameter_index(q->st, name) > 0;
}

int kb_query_step(kb_query *q, kb_error *err)
{
	int rc = sqlite3_step(q->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return kb_fail_status(err, rc == SQLITE_NOMEM ? KB_E_NOMEM : KB_E_DB, "%s: %s", q->db->path,
			      sqlite3_errmsg(q->db->h));
}

void kb_query_reset(kb_query *q)
{
	sqlite3_reset(q->st);
}

int kb_query_n_cols(const kb_query *q)
{
	return q->n_cols;
}

const char *kb_query_col_name(const kb_query *q, int i)
{
	KB_ASSERT(i >= 0 && i < q->n_cols, "column %d of %d", i, q->n_cols);
	return sqlite3_column_name(q->st, i);
}

int kb_query_col(const kb_query *q, const char *name)
{
	for (int i = 0; i < q->n_cols; i++)
		if (strcmp(sqlite3_column_name(q->st, i), name) == 0)
			return i;
	KB_ASSERT(0, "the query reads column %s, which it does not select: %.200s", name, sqlite3_sql(q->st));
	return 0;
}

int64_t kb_query_int_at(kb_query *q, int i)
{
	KB_ASSERT(i >= 0 && i < q->n_cols, "column %d of %d", i, q->n_cols);
	return sqlite3_column_int64(q->st, i);
}

double kb_query_double_at(kb_query *q, int i)
{
	KB_ASSERT(i >= 0 && i < q->n_cols, "column %d of %d", i, q->n_cols);
	return sqlite3_column_double(q->st, i);
}

const char *kb_query_text_at(kb_query *q, int i)
{
	KB_ASSERT(i >= 0 && i < q->n_cols, "column %d of %d", i, q->n_cols);
	const unsigned char *t = sqlite3_column_text(q->st, i);
	return t ? (const char *)t : "";
}

kb_value_type kb_query_type_at(kb_query *q, int i)
{
	KB_ASSERT(i >= 0 && i < q->n_cols, "column %d of %d", i, q->n_cols);
	switch (sqlite3_column_type(q->st, i)) {
	case SQLITE_INTEGER: return KB_VALUE_INT;
	case SQLITE_FLOAT: return KB_VALUE_FLOAT;
	case SQLITE_TEXT: return KB_VALUE_TEXT;
	case SQLITE_BLOB: return KB_VALUE_BLOB;
	default: return KB_VALUE_NULL;
	}
}

int64_t kb_query_int(kb_query *q, const char *name)
{
	return kb_query_int_at(q, kb_query_col(q, name));
}

double kb_query_double(kb_query *q, const char *name)
{
	return kb_query_double_at(q, kb_query_col(q, name));
}

const char *kb_query_text(kb_query *q, const char *name)
{
	return kb_query_text_at(q, kb_query_col(q, name));
}

bool kb_query_is_null(kb_query *q, const char *name)
{
	return kb_query_type_at(q, kb_query_col(q, name)) == KB_VALUE_NULL;
}

int kb_db_exec(kb_db *db, const char *sql, kb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		kb_fail_status(err, KB_E_DB, "%s: %s", db->tmp ? db->tmp : db->path, msg ? msg : "sql error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int kb_query_int_value(kb_db *db, const char *sql, int64_t fallback, int64_t *v, kb_error *err)
{
	kb_query *q;
	if (kb_query_open(db, sql, &q, err))
		return -1;
	int rc = kb_query_step(q, err);
	*v = rc == 1 && kb_query_type_at(q, 0) != KB_VALUE_NULL ? kb_query_int_at(q, 0) : fallback;
	kb_query_close(q);
	return rc < 0 ? -1 : 0;
}

int kb_db_attach(kb_db *db, const char *path, const char *schema, kb_error *err)
{
	char sql[64];
	for (const char *c = schema; *c; c++)
		KB_ASSERT((*c >= 'a' && *c <= 'z') || *c == '_', "schema name '%s'", schema);
	snprintf(sql, sizeof sql, "ATTACH DATABASE ? AS %s", schema);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE)
		return kb_fail_status(err, KB_E_DB, "diff: cannot attach '%s': %s", path, sqlite3_errmsg(db->h));
	return 0;
}

void kb_db_detach(kb_db *db, const char *schema)
{
	char sql[64];
	snprintf(sql, sizeof sql, "DETACH DATABASE %s", schema);
	sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}

bool kb_db_has_table(kb_db *db, const char *table)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	bool yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

bool kb_db_has_column(kb_db *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	bool yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

char *kb_db_meta_get(kb_db *db, const char *key)
{
	sqlite3_stmt *st;
	char *v = NULL;
	if (sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/* ---- the aggregates: median and stddev ---- */

typedef struct agg {
	double *v;
	size_t n, cap;
} agg;

static void agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	agg *a = sqlite3_aggregate_context(ctx, sizeof *a);
	if (!a || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		double *v = realloc(a->v, cap * sizeof *v);
		if (!v) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = sqlite3_value_double(argv[0]);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static void median_final(sqlite3_context *ctx)
{
	agg *a = sqlite3_aggregate_context(ctx, 0);
	if (!a || !a->n) {
		sqlite3_result_null(ctx);
		return;
	}
	qsort(a->v, a->n, sizeof *a->v, cmp_double);
	sqlite3_result_double(ctx, a->n % 2 ? a->v[a->n / 2] : (a->v[a->n / 2 - 1] + a->v[a->n / 2]) / 2);
	free(a->v);
}

static void stddev_final(sqlite3_context *ctx)
{
	agg *a = sqlite3_aggregate_context(ctx, 0);
	if (!a || a->n < 2) {
		sqlite3_result_double(ctx, 0);
		if (a)
			free(a->v);
		return;
	}
	double mean = 0, ss = 0;
	for (size_t i = 0; i < a->n; i++)
		mean += a->v[i];
	mean /= (double)a->n;
	for (size_t i = 0; i < a->n; i++)
		ss += (a->v[i] - mean) * (a->v[i] - mean);
	sqlite3_result_double(ctx, sqrt(ss / (double)(a->n - 1)));
	free(a->v);
}

int kb_db_sql_functions(sqlite3 *h)
{
	return sqlite3_create_function(h, "kb_median", 1, SQLITE_UTF8, NULL, NULL, agg_step, median_final) ||
	       sqlite3_create_function(h, "kb_stddev", 1, SQLITE_UTF8, NULL, NULL, agg_step, stddev_final);
}
