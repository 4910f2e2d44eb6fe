/*
 * study.c — the study database kb-sweep writes (a file of its own, not a
 * trace): the spec, the traces it made or used, one row per point (its
 * axis values, status, error, wall time) and each point's summary results,
 * with a wide view sweep_v (a column per axis, named by its key). Every
 * point is committed on its own, so a killed sweep keeps what finished and
 * a rerun skips it (a point is known by the hash of its settings).
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KB_STUDY_APP_ID 0x6B627374 /* 'kbst' */

struct kb_study {
	sqlite3 *h;
	char *path;
	int n_labels; /* range labels sweep_v has a column for */
};

static const char study_schema[] =
	"CREATE TABLE IF NOT EXISTS spec(id INTEGER PRIMARY KEY CHECK (id = 1), text TEXT NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS axes(pos INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);\n"
	"CREATE TABLE IF NOT EXISTS traces(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, trace_keys TEXT NOT NULL,"
	" n_ops INTEGER NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS points(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, trace_id INTEGER,"
	" settings TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT NOT NULL,"
	" wall_s REAL NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS point_axes(point_id INTEGER NOT NULL, pos INTEGER NOT NULL, value TEXT NOT NULL,"
	" PRIMARY KEY(point_id, pos)) WITHOUT ROWID;\n"
	"CREATE TABLE IF NOT EXISTS results(point_id INTEGER PRIMARY KEY, total_ps INTEGER NOT NULL,"
	" host_ps INTEGER NOT NULL, device_ps INTEGER NOT NULL, dma_pct REAL NOT NULL, gemm_pct REAL NOT NULL,"
	" math_pct REAL NOT NULL, ipcq_pct REAL NOT NULL, host_pct REAL NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS link_results(point_id INTEGER NOT NULL, class TEXT NOT NULL, link TEXT NOT NULL,"
	" busy_pct REAL NOT NULL, bytes INTEGER NOT NULL, stall_ps INTEGER NOT NULL, PRIMARY KEY(point_id, class))"
	" WITHOUT ROWID;\n"
	"CREATE TABLE IF NOT EXISTS collective_results(point_id INTEGER NOT NULL, call INTEGER NOT NULL,"
	" algorithm TEXT NOT NULL, bytes INTEGER NOT NULL, world_size INTEGER NOT NULL, time_ps INTEGER NOT NULL,"
	" algbw_gbps REAL NOT NULL, busbw_gbps REAL NOT NULL, PRIMARY KEY(point_id, call, algorithm)) WITHOUT ROWID;\n"
	"CREATE TABLE IF NOT EXISTS range_results(point_id INTEGER NOT NULL, label TEXT NOT NULL, time_ps INTEGER NOT NULL,"
	" PRIMARY KEY(point_id, label)) WITHOUT ROWID;\n";

/* The tables holding a point's rows beside its points row. */
static const char *const children[] = {"point_axes", "results", "link_results", "collective_results", "range_results"};

static int sfail(kb_study *s, kb_error *err, const char *what)
{
	return kb_fail(err, "'%s': %s: %s", s->path, what, sqlite3_errmsg(s->h));
}

static int sexec(kb_study *s, const char *sql, kb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(s->h, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	kb_fail(err, "'%s': %s", s->path, msg ? msg : sqlite3_errmsg(s->h));
	sqlite3_free(msg);
	return -1;
}

/* An SQL identifier for any text: double-quoted, inner quotes doubled. */
static char *quoted(const char *name)
{
	size_t n = strlen(name);
	char *q = malloc(2 * n + 3), *o = q;
	if (!q)
		return NULL;
	*o++ = '"';
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			*o++ = '"';
		*o++ = *c;
	}
	*o++ = '"';
	*o = '\0';
	return q;
}

/* The distinct strings of a one-column query, malloc'd each. */
static int texts(kb_study *s, const char *sql, char ***out, int *n, kb_error *err)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(s->h, sql, -1, &st, NULL) != SQLITE_OK)
		return sfail(s, err, "read the study");
	size_t cap = 0;
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW)
		if (kb_grow(out, &cap, (size_t)*n + 1, sizeof **out, 8) ||
		    !((*out)[(*n)++] = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	sqlite3_finalize(st);
	return rc;
}

static void texts_free(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* sweep_v: a row per point, a column per axis named by its key, the
 * headline results, then a column per range label (its time in us). */
static int make_view(kb_study *s, kb_error *err)
{
	char **axes, **labels;
	int n_axes, n_labels;
	if (texts(s, "SELECT key FROM axes ORDER BY pos", &axes, &n_axes, err))
		return -1;
	if (texts(s, "SELECT DISTINCT label FROM range_results ORDER BY label", &labels, &n_labels, err)) {
		texts_free(axes, n_axes);
		return -1;
	}
	size_t cap = 4096;
	for (int a = 0; a < n_axes; a++)
		cap += 2 * strlen(axes[a]) + 128;
	for (int l = 0; l < n_labels; l++)
		cap += 4 * strlen(labels[l]) + 160;
	char *sql = malloc(cap);
	if (!sql) {
		texts_free(axes, n_axes);
		texts_free(labels, n_labels);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	size_t o = (size_t)snprintf(sql, cap, "DROP VIEW IF EXISTS sweep_v; CREATE VIEW sweep_v AS SELECT p.id AS point_id,"
						" p.status, p.error");
	for (int a = 0; a < n_axes; a++) {
		char *q = quoted(axes[a]);
		if (q)
			o += (size_t)snprintf(sql + o, cap - o, ", (SELECT value FROM point_axes x WHERE x.point_id = p.id AND"
								" x.pos = %d) AS %s", a, q);
		free(q);
	}
	o += (size_t)snprintf(sql + o, cap - o,
		 ", r.total_ps, r.device_ps, r.host_ps, r.total_ps / 1e6 AS total_us,"
		 " (SELECT max(c.busbw_gbps) FROM collective_results c WHERE c.point_id = p.id) AS busbw_gbps,"
		 " (SELECT max(c.algbw_gbps) FROM collective_results c WHERE c.point_id = p.id) AS algbw_gbps,"
		 " r.dma_pct, r.gemm_pct, r.math_pct, r.ipcq_pct, r.host_pct, p.wall_s, p.trace_id"
		 "");
	for (int l = 0; l < n_labels; l++) {
		char *name = malloc(strlen(labels[l]) + 4), *lit = sqlite3_mprintf("%Q", labels[l]), *q = NULL;
		if (name) {
			sprintf(name, "%s_us", labels[l]);
			q = quoted(name);
		}
		if (q && lit)
			o += (size_t)snprintf(sql + o, cap - o, ", (SELECT g.time_ps / 1e6 FROM range_results g WHERE g.point_id ="
								" p.id AND g.label = %s) AS %s", lit, q);
		free(name);
		free(q);
		sqlite3_free(lit);
	}
	snprintf(sql + o, cap - o, " FROM points p LEFT JOIN results r ON r.point_id = p.id ORDER BY p.id");
	int rc = sexec(s, sql, err);
	s->n_labels = n_labels;
	free(sql);
	texts_free(axes, n_axes);
	texts_free(labels, n_labels);
	return rc;
}

int kb_study_open(kb_study **out, const char *path, const char *spec, const char *const *axes, int n_axes,
		  kb_error *err)
{
	kb_study *s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	if (sqlite3_open_v2(path, &s->h, spec ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		kb_fail(err, "cannot open '%s': %s", path, s->h ? sqlite3_errmsg(s->h) : "out of memory");
		kb_study_close(s);
		return -1;
	}
	kb_db_harden(s->h);
	sqlite3_busy_timeout(s->h, 5000);
	sqlite3_stmt *st = NULL;
	int app = -1, tables = -1;
	if (sqlite3_prepare_v2(s->h, "SELECT (SELECT application_id FROM pragma_application_id),"
				     " (SELECT count(*) FROM sqlite_master)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		app = sqlite3_column_int(st, 0), tables = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	if (app < 0) {
		sfail(s, err, "not an SQLite file");
		kb_study_close(s);
		return -1;
	}
	if (!spec && (tables <= 0 || app != KB_STUDY_APP_ID)) {
		kb_fail(err, "'%s' is not a kernbench study (kb-sweep SPEC -o FILE writes one)", path);
		kb_study_close(s);
		return -1;
	}
	if (!spec) {
		*out = s;
		return 0;
	}
	if (tables > 0 && app != KB_STUDY_APP_ID) {
		kb_fail(err, "'%s' exists and is not a kernbench study: refusing to write into it (choose another -o)", path);
		kb_study_close(s);
		return -1;
	}
	char pragma[64];
	snprintf(pragma, sizeof pragma, "PRAGMA application_id=%d; PRAGMA journal_mode=DELETE;", KB_STUDY_APP_ID);
	if (sexec(s, pragma, err) || sexec(s, "BEGIN IMMEDIATE", err) || sexec(s, study_schema, err))
		goto fail;
	/* the spec: stored once; a study resumes only its own spec */
	if (sqlite3_prepare_v2(s->h, "SELECT text FROM spec WHERE id = 1", -1, &st, NULL) != SQLITE_OK) {
		sfail(s, err, "read the spec");
		goto fail;
	}
	int have = sqlite3_step(st) == SQLITE_ROW;
	bool same = have && strcmp((const char *)sqlite3_column_text(st, 0), spec) == 0;
	sqlite3_finalize(st);
	if (have && !same) {
		kb_fail(err, "'%s' holds a study of another spec: resume it with that spec, or choose another -o", path);
		goto fail;
	}
	if (!have) {
		if (sqlite3_prepare_v2(s->h, "INSERT INTO spec VALUES(1, ?)", -1, &st, NULL) != SQLITE_OK) {
			sfail(s, err, "store the spec");
			goto fail;
		}
		sqlite3_bind_text(st, 1, spec, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		sqlite3_finalize(st);
		if (step != SQLITE_DONE || sqlite3_prepare_v2(s->h, "INSERT INTO axes VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK) {
			sfail(s, err, "store the spec");
			goto fail;
		}
		for (int a = 0; a < n_axes; a++) {
			sqlite3_bind_int(st, 1, a);
			sqlite3_bind_text(st, 2, axes[a], -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE) {
				sqlite3_finalize(st);
				sfail(s, err, "store the axes");
				goto fail;
			}
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
		if (make_view(s, err))
			goto fail;
	}
	if (sexec(s, "COMMIT", err))
		goto fail;
	*out = s;
	return 0;
fail:
	sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
	kb_study_close(s);
	return -1;
}

void kb_study_close(kb_study *s)
{
	if (!s)
		return;
	sqlite3_close(s->h);
	free(s->path);
	free(s);
}

int64_t kb_study_trace(kb_study *s, const char *path, const char *trace_keys, int64_t n_ops, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->h, "INSERT INTO traces(path, trace_keys, n_ops) VALUES(?1, ?2, ?3) ON CONFLICT(path)"
				     " DO UPDATE SET n_ops = ?3 RETURNING id", -1, &st, NULL) != SQLITE_OK)
		return sfail(s, err, "store a trace");
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, trace_keys, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n_ops);
	int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return id < 0 ? sfail(s, err, "store a trace") : id;
}

bool kb_study_done(kb_study *s, const char *hash)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->h, "SELECT 1 FROM points WHERE hash = ? AND status = 'ok'", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	bool done = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return done;
}

static int put_row(kb_study *s, const char *sql, const int64_t *iv, int n_i, const double *dv, int n_d,
		   const char *const *tv, int n_t, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->h, sql, -1, &st, NULL) != SQLITE_OK)
		return sfail(s, err, "store a point");
	int k = 1;
	for (int i = 0; i < n_i; i++)
		sqlite3_bind_int64(st, k++, iv[i]);
	for (int i = 0; i < n_t; i++)
		sqlite3_bind_text(st, k++, tv[i], -1, SQLITE_STATIC);
	for (int i = 0; i < n_d; i++)
		sqlite3_bind_double(st, k++, dv[i]);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : sfail(s, err, "store a point");
}

int kb_study_point(kb_study *s, const kb_study_point_rec *p, kb_error *err)
{
	if (sexec(s, "BEGIN IMMEDIATE", err))
		return -1;
	sqlite3_stmt *st;
	int64_t id = -1;
	/* a failed point run again replaces its row */
	if (sqlite3_prepare_v2(s->h, "DELETE FROM points WHERE hash = ?1 RETURNING id", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, p->hash, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	int rc = 0;
	for (size_t k = 0; id >= 0 && !rc && k < sizeof children / sizeof children[0]; k++) {
		char sql[96];
		snprintf(sql, sizeof sql, "DELETE FROM %s WHERE point_id = ?", children[k]);
		rc = put_row(s, sql, &id, 1, NULL, 0, NULL, 0, err);
	}
	if (!rc) {
		const char *t[] = {p->hash, p->settings, p->ok ? "ok" : "failed", p->error ? p->error : ""};
		int64_t iv2[] = {p->id, p->trace_id};
		rc = put_row(s, "INSERT INTO points(id, trace_id, hash, settings, status, error, wall_s) VALUES(nullif(?, 0),"
				" nullif(?, 0), ?, ?, ?, ?, ?)", iv2, 2, &p->wall_s, 1, t, 4, err);
	}
	int64_t pid = sqlite3_last_insert_rowid(s->h);
	for (int a = 0; !rc && a < p->n_axes; a++) {
		int64_t iv[] = {pid, a};
		const char *t[] = {p->axis_values[a]};
		rc = put_row(s, "INSERT INTO point_axes VALUES(?, ?, ?)", iv, 2, NULL, 0, t, 1, err);
	}
	if (!rc && p->ok) {
		int64_t iv[] = {pid, p->total_ps, p->host_ps, p->device_ps};
		rc = put_row(s, "INSERT INTO results VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", iv, 4, p->unit_pct, 5, NULL, 0, err);
	}
	for (int k = 0; !rc && p->ok && k < p->n_links; k++) {
		int64_t iv[] = {pid};
		const char *t[] = {p->links[k].class_name, p->links[k].link};
		char sql[160];
		snprintf(sql, sizeof sql, "INSERT INTO link_results VALUES(?, ?, ?, ?, %lld, %lld)", (long long)p->links[k].bytes,
			 (long long)p->links[k].stall_ps);
		rc = put_row(s, sql, iv, 1, &p->links[k].busy_pct, 1, t, 2, err);
	}
	for (int k = 0; !rc && p->ok && k < p->n_ranges; k++) {
		int64_t iv[] = {pid, p->ranges[k].time_ps};
		const char *t[] = {p->ranges[k].label};
		rc = put_row(s, "INSERT INTO range_results(point_id, time_ps, label) VALUES(?, ?, ?)", iv, 2, NULL, 0, t, 1, err);
	}
	/* a range label no point had before gets its column */
	if (!rc && p->n_ranges) {
		sqlite3_stmt *cnt;
		int labels = -1;
		if (sqlite3_prepare_v2(s->h, "SELECT count(DISTINCT label) FROM range_results", -1, &cnt, NULL) == SQLITE_OK &&
		    sqlite3_step(cnt) == SQLITE_ROW)
			labels = sqlite3_column_int(cnt, 0);
		sqlite3_finalize(cnt);
		if (labels != s->n_labels)
			rc = make_view(s, err);
	}
	for (int k = 0; !rc && p->ok && k < p->n_colls; k++) {
		const kb_study_coll *c = &p->colls[k];
		int64_t iv[] = {pid, c->call};
		const char *t[] = {c->algorithm};
		double dv[] = {c->algbw_gbps, c->busbw_gbps};
		char sql[200];
		snprintf(sql, sizeof sql, "INSERT INTO collective_results VALUES(?, ?, ?, %lld, %lld, %lld, ?, ?)",
			 (long long)c->bytes, (long long)c->world_size, (long long)c->time_ps);
		rc = put_row(s, sql, iv, 2, dv, 2, t, 1, err);
	}
	if (rc || sexec(s, "COMMIT", err)) {
		s->n_labels = -1; /* the view is rebuilt with the next point's ranges */
		sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int kb_study_query(kb_study *s, const char *sql, kb_study_row_fn fn, void *ctx, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->h, sql, -1, &st, NULL) != SQLITE_OK)
		return sfail(s, err, "query");
	int n = sqlite3_column_count(st), step = SQLITE_DONE, rc = 0;
	const char *names[64], *vals[64];
	if (n > 64)
		n = 64;
	for (int c = 0; c < n; c++)
		names[c] = sqlite3_column_name(st, c);
	if (fn && fn(ctx, n, names, NULL))
		rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int c = 0; c < n; c++)
			vals[c] = (const char *)sqlite3_column_text(st, c);
		if (fn && fn(ctx, n, names, vals))
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	if (!rc && step != SQLITE_DONE)
		rc = sfail(s, err, "query");
	sqlite3_finalize(st);
	return rc;
}

int kb_study_axes(kb_study *s, char **keys, int *n, kb_error *err)
{
	char **v;
	int m;
	*n = 0;
	if (texts(s, "SELECT key FROM axes ORDER BY pos", &v, &m, err))
		return -1;
	for (int i = 0; i < m; i++)
		if (i < 16)
			keys[(*n)++] = v[i];
		else
			free(v[i]);
	free(v);
	return 0;
}

/* The spec text and axis keys of an existing study. */
static int read_spec(kb_study *s, char **spec, char ***axes, int *n_axes, kb_error *err)
{
	char **v;
	int n;
	if (texts(s, "SELECT text FROM spec WHERE id = 1", &v, &n, err))
		return -1;
	if (n != 1) {
		texts_free(v, n);
		return kb_fail(err, "'%s': no spec: not a kb-sweep study", s->path);
	}
	*spec = v[0];
	free(v);
	if (texts(s, "SELECT key FROM axes ORDER BY pos", axes, n_axes, err)) {
		free(*spec);
		return -1;
	}
	return 0;
}

int kb_study_merge(const char *study, const char *part, kb_error *err)
{
	kb_study *p, *s;
	if (kb_study_open(&p, part, NULL, NULL, 0, err))
		return -1;
	char *spec = NULL, **axes = NULL;
	int n_axes = 0;
	int rc = read_spec(p, &spec, &axes, &n_axes, err);
	kb_study_close(p);
	if (rc)
		return -1;
	rc = kb_study_open(&s, study, spec, (const char *const *)axes, n_axes, err);
	free(spec);
	texts_free(axes, n_axes);
	if (rc)
		return -1;
	/* points by hash: a point merged again replaces its rows (idempotent) */
	char sql[1024];
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(s->h, "ATTACH DATABASE ? AS p", -1, &st, NULL) != SQLITE_OK;
	if (!rc) {
		sqlite3_bind_text(st, 1, part, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) != SQLITE_DONE;
		sqlite3_finalize(st);
	}
	if (rc) {
		sfail(s, err, "attach the part");
		kb_study_close(s);
		return -1;
	}
	rc = sexec(s, "BEGIN IMMEDIATE", err) ||
	     sexec(s, "INSERT INTO main.traces(path, trace_keys, n_ops) SELECT path, trace_keys, n_ops FROM p.traces"
		      " WHERE true ON CONFLICT(path) DO NOTHING", err);
	for (size_t k = 0; !rc && k < sizeof children / sizeof children[0]; k++) {
		snprintf(sql, sizeof sql, "DELETE FROM main.%s WHERE point_id IN (SELECT id FROM main.points WHERE hash IN"
					  " (SELECT hash FROM p.points))", children[k]);
		rc = sexec(s, sql, err);
	}
	rc = rc || sexec(s, "DELETE FROM main.points WHERE hash IN (SELECT hash FROM p.points)", err) ||
	     sexec(s, "INSERT INTO main.points(id, hash, trace_id, settings, status, error, wall_s) SELECT pp.id, pp.hash,"
		      " (SELECT m.id FROM main.traces m JOIN p.traces t ON t.path = m.path WHERE t.id = pp.trace_id),"
		      " pp.settings, pp.status, pp.error, pp.wall_s FROM p.points pp ORDER BY pp.id", err);
	for (size_t k = 0; !rc && k < sizeof children / sizeof children[0]; k++) {
		/* the child's columns after point_id, in table order */
		char cols[512] = "";
		size_t o = 0;
		snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') WHERE name <> 'point_id' ORDER BY cid",
			 children[k]);
		char **names;
		int n;
		if ((rc = texts(s, sql, &names, &n, err)))
			break;
		for (int c = 0; c < n && o < sizeof cols; c++)
			o += (size_t)snprintf(cols + o, sizeof cols - o, ", x.%s", names[c]);
		texts_free(names, n);
		snprintf(sql, sizeof sql, "INSERT INTO main.%s SELECT mp.id%s FROM p.%s x JOIN p.points pp ON pp.id = x.point_id"
					  " JOIN main.points mp ON mp.hash = pp.hash", children[k], cols, children[k]);
		rc = sexec(s, sql, err);
	}
	if (rc || sexec(s, "COMMIT", err)) {
		sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
		rc = -1;
	}
	sqlite3_exec(s->h, "DETACH DATABASE p", NULL, NULL, NULL);
	if (!rc)
		rc = make_view(s, err); /* the parts' range labels */
	kb_study_close(s);
	return rc;
}
