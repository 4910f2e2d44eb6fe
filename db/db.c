/*
 * db.c — writing and opening traces.
 *
 * The writer favours throughput: one transaction, no journal (the file is a
 * temporary that is renamed only on success), 64 KB pages, prepared
 * statements, and for ops only the columns whose value changed since the
 * previous row are re-bound (SQLite keeps bindings across resets).
 */
#include "db_int.h"

#include <assert.h>
#include <errno.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define KIND_NAME(e, name) name,
static const char *const op_kind_names[] = {"none", KB_OP_KINDS(KIND_NAME)};
#undef KIND_NAME

const char *kb_op_kind_name(kb_op_kind k)
{
	return (unsigned)k < KB_OP_KIND_COUNT ? op_kind_names[k] : "?";
}

#define COLL_NAME(e, name) name,
static const char *const coll_type_names[] = {KB_COLL_TYPES(COLL_NAME)};
#undef COLL_NAME
_Static_assert(KB_COLL_LAST == KB_COLL_TYPE_COUNT - 1, "KB_COLL_LAST names the last collective type");

const char *kb_coll_type_name(kb_coll_type t)
{
	return (unsigned)t < KB_COLL_TYPE_COUNT ? coll_type_names[t] : "?";
}

double kb_coll_bus_factor(kb_coll_type t, int64_t p)
{
	if (p < 2 || t == KB_COLL_BROADCAST)
		return 1.0;
	return t == KB_COLL_ALL_REDUCE ? 2.0 * (double)(p - 1) / (double)p : (double)(p - 1) / (double)p;
}

static int sql_fail(kb_db *db, kb_error *err, const char *what)
{
	return kb_fail_status(err, KB_E_DB, "%s: %s: %s", db->tmp ? db->tmp : db->path, what, sqlite3_errmsg(db->h));
}

static int prepare(kb_db *db, sqlite3_stmt **st, const char *sql, kb_error *err)
{
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return sql_fail(db, err, "prepare");
	return 0;
}

/* Binds v[0..n) to parameters 1..n. */
static void bind_ints(sqlite3_stmt *st, const int64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
}

/* Steps a write statement once and resets it. */
static int step_done(kb_db *db, sqlite3_stmt *st, kb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sql_fail(db, err, "insert");
	return 0;
}

/* The writer thread shares the connection: main-thread users take this. */
static void conn_lock(kb_db *db)
{
	if (db->pipe.started)
		pthread_mutex_lock(&db->pipe.lock);
}

static void conn_unlock(kb_db *db)
{
	if (db->pipe.started)
		pthread_mutex_unlock(&db->pipe.lock);
}

static void finalize_all(kb_db *db)
{
	sqlite3_stmt **all[] = {&db->ins_ops, &db->ins_operand, &db->ins_op, &db->ins_string, &db->ins_shape, &db->ins_launch, &db->end_launch,
				&db->ins_tensor, &db->ins_shard, &db->ins_range, &db->end_range, &db->ins_expect,
				&db->ins_blob, &db->find_blob, &db->ins_meta, &db->ins_enum, &db->ins_pack, &db->ins_dep,
				&db->ins_deps};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Stops the writer thread after it has drained. */
static void stop_writer(kb_db *db)
{
	op_pipe *p = &db->pipe;
	if (!p->started)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->started = false;
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

static void db_free(kb_db *db)
{
	stop_writer(db);
	free(db->pipe.fill);
	free(db->pipe.pending);
	free(db->pack_raw);
	free(db->pack_zbuf);
	free(db->dep_buf);
	ZSTD_freeCCtx(db->pack_cctx);
	kb_blob_coder_release(&db->blob_coder);
	finalize_all(db);
	if (db->h)
		sqlite3_close(db->h);
	kb_strmap_release(&db->strings);
	kb_strmap_release(&db->shapes);
	free(db->path);
	free(db->tmp);
	free(db);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

static int coll_enum(kb_db *db, kb_error *err);
static int flush_deps(kb_db *db, bool final, kb_error *err);
static int enum_locked(kb_db *db, const char *table, int id, const char *name, kb_error *err);
static void *writer_main(void *arg);
static int flush_ops(kb_db *db, bool wait, kb_error *err);
static int flush_pack(kb_db *db, kb_error *err);

int kb_db_create(kb_db **out, const char *final_path, kb_error *err)
{
	char deps_sql[64 + DEP_ROWS * 6];
	size_t dq = (size_t)snprintf(deps_sql, sizeof deps_sql, "INSERT OR IGNORE INTO op_deps VALUES(?,?)");
	for (int r = 1; r < DEP_ROWS; r++)
		dq += (size_t)snprintf(deps_sql + dq, sizeof deps_sql - dq, ",(?,?)");
	KB_ASSERT(dq < sizeof deps_sql, "op_deps insert text of %zu bytes", dq);
	kb_db *db = calloc(1, sizeof *db);
	if (!db)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	kb_strmap_init(&db->strings);
	kb_strmap_init(&db->shapes);
	size_t n = strlen(final_path) + 32;
	db->path = strdup(final_path);
	db->tmp = malloc(n);
	if (!db->path || !db->tmp) {
		db_free(db);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	snprintf(db->tmp, n, "%s.tmp-%ld", final_path, (long)getpid());
	unlink(db->tmp);
	/* A connection is used by one thread: skip SQLite's mutexes and the
	 * global memory statistics (both show in profiles of bulk inserts). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(db->tmp, &db->h, flags, NULL) != SQLITE_OK) {
		kb_fail_status(err, KB_E_IO, "cannot create '%s': %s", db->tmp, db->h ? sqlite3_errmsg(db->h) : "out of memory");
		db_free(db);
		return -1;
	}
	char pragmas[512];
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
		 "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
		 "PRAGMA application_id=%d; PRAGMA user_version=%d; BEGIN;",
		 KB_APPLICATION_ID, KB_SCHEMA_VERSION);
	if (kb_db_exec(db, pragmas, err) || kb_db_exec(db, kb_schema_tables, err) || kb_db_exec(db, kb_schema_views, err))
		goto fail;
	char ops_sql[OP_ROWS_PER_INSERT * (OP_COLUMNS * 2 + 4) + 32] = "INSERT INTO ops VALUES";
	size_t o = strlen(ops_sql);
	for (int r = 0; r < OP_ROWS_PER_INSERT; r++) {
		o += (size_t)snprintf(ops_sql + o, sizeof ops_sql - o, "%s(?", r ? "," : "");
		for (int c = 1; c < OP_COLUMNS; c++)
			o += (size_t)snprintf(ops_sql + o, sizeof ops_sql - o, ",?");
		o += (size_t)snprintf(ops_sql + o, sizeof ops_sql - o, ")");
		if (r == 0 && prepare(db, &db->ins_op, ops_sql, err))
			goto fail;
	}
	if (prepare(db, &db->ins_ops, ops_sql, err) ||
	    prepare(db, &db->ins_operand, "INSERT INTO op_operands VALUES(?,?,?,?,?,?,?)", err) ||
	    prepare(db, &db->ins_string, "INSERT INTO strings VALUES(?,?)", err) ||
	    prepare(db, &db->ins_shape, "INSERT INTO shapes VALUES(?,?,?,?,?,?,?)", err) ||
	    prepare(db, &db->ins_launch, "INSERT INTO launches VALUES(?,?,?,?,?,?,0,0)", err) ||
	    prepare(db, &db->end_launch, "UPDATE launches SET first_op_id=?, end_op_id=? WHERE id=?", err) ||
	    prepare(db, &db->ins_tensor, "INSERT INTO tensors VALUES(?,?,?,?,?,?,?,?)", err) ||
	    prepare(db, &db->ins_shard, "INSERT INTO shards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", err) ||
	    prepare(db, &db->ins_range, "INSERT INTO ranges VALUES(?,?,?,?,?,?)", err) ||
	    prepare(db, &db->end_range, "UPDATE ranges SET end_op_id=? WHERE id=?", err) ||
	    prepare(db, &db->ins_expect, "INSERT INTO expectations VALUES(?,?,?,?,?)", err) ||
	    prepare(db, &db->ins_blob, "INSERT INTO blobs VALUES(?,?,?,?,?,?,?,?)", err) ||
	    prepare(db, &db->find_blob,
		    "SELECT id FROM blobs WHERE checksum=? AND raw_bytes=? AND elem_size=? AND kind=? AND dtype=?", err) ||
	    prepare(db, &db->ins_meta, "INSERT OR REPLACE INTO meta VALUES(?,?)", err) ||
	    prepare(db, &db->ins_dep, "INSERT OR IGNORE INTO op_deps VALUES(?,?)", err) ||
	    prepare(db, &db->ins_deps, deps_sql, err) ||
	    prepare(db, &db->ins_pack, "INSERT INTO op_pack VALUES(?,?,?,?)", err))
		goto fail;
	db->pack_raw = malloc((size_t)KB_PACK_OPS * KB_OP_PACK_MAX);
	db->pack_zcap = ZSTD_compressBound((size_t)KB_PACK_OPS * KB_OP_PACK_MAX);
	db->pack_zbuf = malloc(db->pack_zcap);
	db->pack_cctx = ZSTD_createCCtx();
	if (db->pack_cctx) { /* fast, and a checksum: a damaged chunk is found, not decoded */
		ZSTD_CCtx_setParameter(db->pack_cctx, ZSTD_c_compressionLevel, 1);
		ZSTD_CCtx_setParameter(db->pack_cctx, ZSTD_c_checksumFlag, 1);
	}
	if (!db->pack_raw || !db->pack_zbuf || !db->pack_cctx) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto fail;
	}
	for (int k = 1; k < KB_OP_KIND_COUNT; k++)
		if (enum_locked(db, "enum_op_kind", k, op_kind_names[k], err))
			goto fail;
	if (coll_enum(db, err))
		goto fail;
	/* Every column starts bound to 0 (NULL would violate NOT NULL), but the
	 * id: NULL lets SQLite number the rows itself, appending without a
	 * uniqueness seek (ops come in id order from 1, so the ids agree). */
	for (int i = 1; i <= OP_COLUMNS * OP_ROWS_PER_INSERT; i++) {
		if (i <= OP_COLUMNS)
			sqlite3_bind_int64(db->ins_op, i, 0);
		sqlite3_bind_int64(db->ins_ops, i, 0);
	}
	for (int r = 0; r < OP_ROWS_PER_INSERT; r++) {
		sqlite3_bind_null(db->ins_ops, r * OP_COLUMNS + 1);
		if (r == 0)
			sqlite3_bind_null(db->ins_op, 1);
	}
	op_pipe *p = &db->pipe;
	p->fill = malloc(OP_BATCH * sizeof *p->fill);
	p->pending = malloc(OP_BATCH * sizeof *p->pending);
	if (!p->fill || !p->pending) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->started = pthread_create(&p->thread, NULL, writer_main, db) == 0;
	*out = db;
	return 0;
fail:
	kb_db_abort(db);
	return -1;
}

int kb_db_commit(kb_db *db, kb_error *err)
{
	int rc = -1;
	if (flush_ops(db, true, err) || flush_deps(db, true, err))
		goto out;
	stop_writer(db);
	if (flush_ops(db, true, err) || flush_pack(db, err) || kb_db_exec(db, kb_schema_indexes, err) ||
	    kb_db_exec(db, kb_schema_pack_triggers, err) || kb_db_exec(db, kb_schema_counts, err) ||
	    kb_db_exec(db, "COMMIT", err))
		goto out;
	finalize_all(db);
	if (sqlite3_close(db->h) != SQLITE_OK) {
		kb_fail_status(err, KB_E_IO, "%s: cannot close: %s", db->tmp, sqlite3_errmsg(db->h));
		goto out;
	}
	db->h = NULL;
	if (rename(db->tmp, db->path) != 0) {
		kb_fail_status(err, KB_E_IO, "cannot rename '%s' to '%s'", db->tmp, db->path);
		goto out;
	}
	free(db->tmp);
	db->tmp = NULL;
	rc = 0;
out:
	if (db->tmp)
		unlink(db->tmp);
	db_free(db);
	return rc;
}

void kb_db_abort(kb_db *db)
{
	if (!db)
		return;
	stop_writer(db);
	finalize_all(db);
	if (db->h)
		sqlite3_close(db->h);
	db->h = NULL;
	if (db->tmp)
		unlink(db->tmp);
	db_free(db);
}

static int meta_locked(kb_db *db, const char *key, const char *value, kb_error *err)
{
	sqlite3_bind_text(db->ins_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->ins_meta, 2, value ? value : "", -1, SQLITE_STATIC);
	return step_done(db, db->ins_meta, err);
}

static int enum_locked(kb_db *db, const char *table, int id, const char *name, kb_error *err)
{
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s VALUES(?,?)", table);
	sqlite3_stmt *st;
	if (prepare(db, &st, sql, err))
		return -1;
	sqlite3_bind_int(st, 1, id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = step_done(db, st, err);
	sqlite3_finalize(st);
	return rc;
}

static int coll_enum(kb_db *db, kb_error *err)
{
	for (int k = 0; k < KB_COLL_TYPE_COUNT; k++)
		if (enum_locked(db, "enum_collective", k, coll_type_names[k], err))
			return -1;
	return 0;
}

static int64_t string_locked(kb_db *db, const char *s, kb_error *err)
{
	int64_t id;
	if (kb_strmap_get(&db->strings, s, &id))
		return id;
	id = ++db->n_strings;
	sqlite3_bind_int64(db->ins_string, 1, id);
	sqlite3_bind_text(db->ins_string, 2, s, -1, SQLITE_STATIC);
	if (step_done(db, db->ins_string, err) || kb_strmap_put(&db->strings, s, id))
		return kb_fail(err, "cannot intern string '%s'", s);
	return id;
}

/* Kernels reuse a handful of shapes: look them up by dims before
 * formatting the text key. */
static int64_t recent_shape(const kb_db *db, int ndim, const int64_t *dims)
{
	for (size_t i = 0; i < sizeof db->recent / sizeof db->recent[0]; i++) {
		const struct shape_cache *c = &db->recent[i];
		if (c->id && c->ndim == ndim && memcmp(c->d, dims, (size_t)ndim * sizeof *dims) == 0)
			return c->id;
	}
	return 0;
}

static void remember_shape(kb_db *db, int ndim, const int64_t *dims, int64_t id)
{
	struct shape_cache *c = &db->recent[db->recent_next++ % (sizeof db->recent / sizeof db->recent[0])];
	c->ndim = ndim;
	memcpy(c->d, dims, (size_t)ndim * sizeof *dims);
	c->id = id;
}

static int64_t shape_locked(kb_db *db, int ndim, const int64_t *dims, kb_error *err)
{
	char text[128];
	size_t o = 0;
	if (ndim < 1 || ndim > 4)
		return kb_fail(err, "shape with %d dimensions (1 to 4 supported)", ndim);
	int64_t id = recent_shape(db, ndim, dims);
	if (id)
		return id;
	for (int i = 0; i < ndim; i++)
		o += (size_t)snprintf(text + o, sizeof text - o, "%s%lld", i ? "x" : "", (long long)dims[i]);
	if (kb_strmap_get(&db->shapes, text, &id)) {
		remember_shape(db, ndim, dims, id);
		return id;
	}
	id = ++db->n_shapes;
	sqlite3_bind_int64(db->ins_shape, 1, id);
	sqlite3_bind_int(db->ins_shape, 2, ndim);
	for (int i = 0; i < 4; i++)
		sqlite3_bind_int64(db->ins_shape, 3 + i, i < ndim ? dims[i] : 1);
	sqlite3_bind_text(db->ins_shape, 7, text, -1, SQLITE_STATIC);
	if (step_done(db, db->ins_shape, err) || kb_strmap_put(&db->shapes, text, id))
		return -1;
	remember_shape(db, ndim, dims, id);
	return id;
}

/* A column's value as 64 bits: an integer, or a double's bits. */
static int64_t bits_i64(int64_t v)
{
	return v;
}

static int64_t bits_u64(uint64_t v)
{
	return (int64_t)v;
}

static int64_t bits_f64(double v)
{
	int64_t b;
	memcpy(&b, &v, sizeof b);
	return b;
}

#define BITS(v) _Generic((v), double: bits_f64, uint64_t: bits_u64, default: bits_i64)(v)
#define IS_REAL(v) _Generic((v), double: true, default: false)

/* Binds parameter `param` to bits unless it holds them from last time. */
static void bind_col(sqlite3_stmt *st, int param, int64_t *last, int64_t bits, bool real)
{
	if (bits == *last)
		return;
	if (real) {
		double d;
		memcpy(&d, &bits, sizeof d);
		sqlite3_bind_double(st, param, d);
	} else {
		sqlite3_bind_int64(st, param, bits);
	}
	*last = bits;
}

/* Binds row slot `slot_key` of st (parameters from first + 1), column by
 * column in the ops table's order, skipping the values bound there last
 * time. */
static void bind_row(kb_db *db, sqlite3_stmt *st, int slot_key, int first, const kb_op *op)
{
	int64_t *last = db->last[slot_key];
	int c = 1; /* the id stays NULL: the row's number is its id */
#define BIND_F(name, type, column, sql, pack, lo, hi) \
	bind_col(st, first + c + 1, &last[c], BITS(op->name), IS_REAL(op->name)); \
	c++;
#define BIND_O(name, bit, table) BIND_O_##table(name)
#define BIND_O_KB_OP_OPERANDS(name)
#define BIND_O_KB_OPS(name) KB_OPERAND_FIELDS(BIND_FIELD, &op->name)
#define BIND_FIELD(x, name, type, pack) \
	bind_col(st, first + c + 1, &last[c], BITS((x)->name), false); \
	c++;
	KB_OP_FIELDS(BIND_F, BIND_O)
	KB_ASSERT(c == OP_COLUMNS, "bound %d of %d columns", c, OP_COLUMNS);
}

/* The operands kept in op_operands (slot: bit - 6, dst 0 .. c 3), when present. */
static int insert_extra_operands(kb_db *db, const kb_op *op, int64_t id, kb_error *err)
{
	int rc = 0;
#define EXTRA_F(name, type, column, sql, pack, lo, hi)
#define EXTRA_O(name, bit, table) EXTRA_O_##table(name, bit)
#define EXTRA_O_KB_OPS(name, bit)
#define EXTRA_O_KB_OP_OPERANDS(name, bit) \
	if (!rc && kb_operand_present(&op->name)) { \
		int k = 0; \
		sqlite3_bind_int64(db->ins_operand, ++k, id); \
		sqlite3_bind_int64(db->ins_operand, ++k, (bit) - 6); \
		KB_OPERAND_FIELDS(EXTRA_FIELD, &op->name) \
		rc = step_done(db, db->ins_operand, err); \
	}
#define EXTRA_FIELD(x, name, type, pack) sqlite3_bind_int64(db->ins_operand, ++k, BITS((x)->name));
	KB_OP_FIELDS(EXTRA_F, EXTRA_O)
	return rc;
}

/* The filled part of the op pack's chunk, compressed, as an op_pack row. */
static int flush_pack(kb_db *db, kb_error *err)
{
	if (db->pack_n == 0)
		return 0;
	size_t z = ZSTD_compress2(db->pack_cctx, db->pack_zbuf, db->pack_zcap, db->pack_raw, db->pack_len);
	if (ZSTD_isError(z))
		return kb_fail(err, "%s: cannot compress ops: %s", db->tmp, ZSTD_getErrorName(z));
	sqlite3_bind_int64(db->ins_pack, 1, db->pack_first);
	sqlite3_bind_int64(db->ins_pack, 2, db->pack_n);
	sqlite3_bind_int64(db->ins_pack, 3, (int64_t)db->pack_len);
	sqlite3_bind_blob(db->ins_pack, 4, db->pack_zbuf, (int)z, SQLITE_STATIC);
	db->pack_n = 0;
	db->pack_len = 0;
	return step_done(db, db->ins_pack, err);
}

/* Adds rows first_id.. to the op pack, a chunk at every KB_PACK_OPS ops. */
static int pack_rows(kb_db *db, const kb_op *rows, size_t n, int64_t first_id, kb_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (db->pack_n == 0)
			db->pack_first = first_id + (int64_t)i;
		db->pack_len += kb_op_pack_put(db->pack_raw + db->pack_len, &rows[i]);
		if (++db->pack_n == KB_PACK_OPS && flush_pack(db, err))
			return -1;
	}
	return 0;
}

/* Inserts n rows: groups of OP_ROWS_PER_INSERT through ins_ops, the rest
 * one by one through ins_op (slot key OP_ROWS_PER_INSERT); and packs them. */
static int insert_rows(kb_db *db, const kb_op *rows, size_t n, int64_t first_id, kb_error *err)
{
	if (pack_rows(db, rows, n, first_id, err))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (insert_extra_operands(db, &rows[i], first_id + (int64_t)i, err))
			return -1;
	size_t i = 0;
	for (; i + OP_ROWS_PER_INSERT <= n; i += OP_ROWS_PER_INSERT) {
		for (int r = 0; r < OP_ROWS_PER_INSERT; r++)
			bind_row(db, db->ins_ops, r, r * OP_COLUMNS, &rows[i + (size_t)r]);
		if (step_done(db, db->ins_ops, err))
			return -1;
	}
	for (; i < n; i++) {
		bind_row(db, db->ins_op, OP_ROWS_PER_INSERT, 0, &rows[i]);
		if (step_done(db, db->ins_op, err))
			return -1;
	}
	return 0;
}

static void insert_batch(kb_db *db, const kb_op *rows, size_t n, int64_t first_id)
{
	pthread_mutex_lock(&db->pipe.lock);
	if (!db->pipe.failed && insert_rows(db, rows, n, first_id, &db->pipe.err))
		db->pipe.failed = true;
	pthread_mutex_unlock(&db->pipe.lock);
}

static void *writer_main(void *arg)
{
	kb_db *db = arg;
	op_pipe *p = &db->pipe;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->n_pending && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->n_pending && p->stop)
			break;
		pthread_mutex_unlock(&p->mu);
		insert_batch(db, p->pending, p->n_pending, p->first_pending_id);
		pthread_mutex_lock(&p->mu);
		p->n_pending = 0;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Waits until the writer has taken the handed-over batch. */
static void wait_pending(op_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->n_pending)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

/* Hands the filled batch to the writer (or inserts it here without one). */
static int flush_ops(kb_db *db, bool wait, kb_error *err)
{
	op_pipe *p = &db->pipe;
	if (p->n_fill) {
		int64_t first = db->n_ops - (int64_t)p->n_fill + 1;
		if (!p->started) {
			insert_batch(db, p->fill, p->n_fill, first);
		} else {
			wait_pending(p);
			pthread_mutex_lock(&p->mu);
			kb_op *t = p->pending;
			p->pending = p->fill;
			p->fill = t;
			p->n_pending = p->n_fill;
			p->first_pending_id = first;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
		}
		p->n_fill = 0;
	}
	if (wait && p->started)
		wait_pending(p);
	if (p->failed) {
		if (err)
			*err = p->err;
		return -1;
	}
	return 0;
}

int64_t kb_db_op(kb_db *db, const kb_op *op, kb_error *err)
{
	op_pipe *p = &db->pipe;
	if (p->n_fill == OP_BATCH && flush_ops(db, false, err))
		return -1;
	p->fill[p->n_fill++] = *op;
	return ++db->n_ops;
}

int64_t kb_db_ops_count(const kb_db *db)
{
	return db->n_ops;
}

static int64_t launch_locked(kb_db *db, int rank, const char *kernel, int64_t host_op, int n_pes, const char *args,
		     kb_error *err)
{
	int64_t k = string_locked(db, kernel, err);
	if (k < 0)
		return -1;
	int64_t id = ++db->n_launches;
	bind_ints(db->ins_launch, (int64_t[]){id, rank, k, host_op, n_pes}, 5);
	sqlite3_bind_text(db->ins_launch, 6, args, -1, SQLITE_STATIC);
	return step_done(db, db->ins_launch, err) ? -1 : id;
}

static int launch_end_locked(kb_db *db, int64_t launch, int64_t first_op, int64_t end_op, kb_error *err)
{
	bind_ints(db->end_launch, (int64_t[]){first_op, end_op, launch}, 3);
	return step_done(db, db->end_launch, err);
}

static int64_t tensor_locked(kb_db *db, const kb_tensor_row *t, kb_error *err)
{
	int64_t name = string_locked(db, t->name, err);
	if (name < 0)
		return -1;
	int64_t id = ++db->n_tensors;
	bind_ints(db->ins_tensor, (int64_t[]){id, name, t->rank, t->dtype, t->shape, (int64_t)t->va, (int64_t)t->nbytes}, 7);
	sqlite3_bind_text(db->ins_tensor, 8, t->placement, -1, SQLITE_STATIC);
	return step_done(db, db->ins_tensor, err) ? -1 : id;
}

static int shard_locked(kb_db *db, const kb_shard_row *s, kb_error *err)
{
	int64_t v[] = {s->tensor, s->sip, s->cube, s->pe, s->space, (int64_t)s->va, (int64_t)s->pa,
		       (int64_t)s->offset_bytes, (int64_t)s->nbytes, s->row0, s->col0, s->rows, s->cols};
	bind_ints(db->ins_shard, v, 13);
	return step_done(db, db->ins_shard, err);
}

static int64_t range_locked(kb_db *db, int rank, int64_t parent, const char *label, int64_t first_op, kb_error *err)
{
	int64_t l = string_locked(db, label, err);
	if (l < 0)
		return -1;
	int64_t id = ++db->n_ranges;
	bind_ints(db->ins_range, (int64_t[]){id, rank, parent, l, first_op, first_op}, 6);
	return step_done(db, db->ins_range, err) ? -1 : id;
}

static int range_end_locked(kb_db *db, int64_t range, int64_t end_op, kb_error *err)
{
	bind_ints(db->end_range, (int64_t[]){end_op, range}, 2);
	return step_done(db, db->end_range, err);
}

static int expect_locked(kb_db *db, int64_t tensor, int64_t blob, double rtol, double atol, kb_error *err)
{
	sqlite3_stmt *st = db->ins_expect;
	sqlite3_bind_int64(st, 1, ++db->n_expect);
	sqlite3_bind_int64(st, 2, tensor);
	sqlite3_bind_int64(st, 3, blob);
	sqlite3_bind_double(st, 4, rtol);
	sqlite3_bind_double(st, 5, atol);
	return step_done(db, st, err);
}

/* Blobs are written with the lanes checksum; "byteplane+zstd" (FNV-1a)
 * blobs of older traces still read. */
#define BLOB_CODEC "byteplane+zstd;sum=lanes64"

static int64_t blob_locked(kb_db *db, const char *kind, int dtype, size_t elem_size, const void *data, size_t nbytes,
		   kb_error *err)
{
	int64_t sum = (int64_t)kb_hash64_lanes(data, nbytes);
	sqlite3_stmt *f = db->find_blob;
	sqlite3_bind_int64(f, 1, sum);
	sqlite3_bind_int64(f, 2, (int64_t)nbytes);
	sqlite3_bind_int64(f, 3, (int64_t)elem_size);
	sqlite3_bind_text(f, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(f, 5, dtype);
	int64_t found = sqlite3_step(f) == SQLITE_ROW ? sqlite3_column_int64(f, 0) : 0;
	sqlite3_reset(f);
	if (found)
		return found;
	const void *packed;
	size_t packed_n;
	if (kb_blob_encode_with(&db->blob_coder, data, nbytes, elem_size, &packed, &packed_n, err))
		return -1;
	int64_t id = ++db->n_blobs;
	sqlite3_stmt *st = db->ins_blob;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, dtype);
	sqlite3_bind_int64(st, 4, (int64_t)elem_size);
	sqlite3_bind_int64(st, 5, (int64_t)nbytes);
	sqlite3_bind_int64(st, 6, sum);
	sqlite3_bind_text(st, 7, BLOB_CODEC, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 8, packed, packed_n, SQLITE_STATIC);
	int rc = step_done(db, st, err);
	return rc ? -1 : id;
}

/* Public entry points: each holds the connection for its whole call. */

int kb_db_meta(kb_db *db, const char *key, const char *value, kb_error *err)
{
	conn_lock(db);
	int rc = meta_locked(db, key, value, err);
	conn_unlock(db);
	return rc;
}

int64_t kb_db_string(kb_db *db, const char *s, kb_error *err)
{
	int64_t id; /* the maps belong to this thread: no lock for a hit */
	if (kb_strmap_get(&db->strings, s, &id))
		return id;
	conn_lock(db);
	int64_t rc = string_locked(db, s, err);
	conn_unlock(db);
	return rc;
}

int64_t kb_db_shape(kb_db *db, int ndim, const int64_t *dims, kb_error *err)
{
	int64_t id = ndim >= 1 && ndim <= 4 ? recent_shape(db, ndim, dims) : 0;
	if (id)
		return id;
	conn_lock(db);
	int64_t rc = shape_locked(db, ndim, dims, err);
	conn_unlock(db);
	return rc;
}

int64_t kb_db_launch(kb_db *db, int rank, const char *kernel, int64_t host_op, int n_pes, const char *args,
		     kb_error *err)
{
	conn_lock(db);
	int64_t rc = launch_locked(db, rank, kernel, host_op, n_pes, args, err);
	conn_unlock(db);
	return rc;
}

int kb_db_launch_end(kb_db *db, int64_t launch, int64_t first_op, int64_t end_op, kb_error *err)
{
	conn_lock(db);
	int rc = launch_end_locked(db, launch, first_op, end_op, err);
	conn_unlock(db);
	return rc;
}

int64_t kb_db_tensor(kb_db *db, const kb_tensor_row *t, kb_error *err)
{
	conn_lock(db);
	int64_t rc = tensor_locked(db, t, err);
	conn_unlock(db);
	return rc;
}

int kb_db_shard(kb_db *db, const kb_shard_row *s, kb_error *err)
{
	conn_lock(db);
	int rc = shard_locked(db, s, err);
	conn_unlock(db);
	return rc;
}

int64_t kb_db_range(kb_db *db, int rank, int64_t parent, const char *label, int64_t first_op, kb_error *err)
{
	conn_lock(db);
	int64_t rc = range_locked(db, rank, parent, label, first_op, err);
	conn_unlock(db);
	return rc;
}

int kb_db_range_end(kb_db *db, int64_t range, int64_t end_op, kb_error *err)
{
	conn_lock(db);
	int rc = range_end_locked(db, range, end_op, err);
	conn_unlock(db);
	return rc;
}

int kb_db_expect(kb_db *db, int64_t tensor, int64_t blob, double rtol, double atol, kb_error *err)
{
	conn_lock(db);
	int rc = expect_locked(db, tensor, blob, rtol, atol, err);
	conn_unlock(db);
	return rc;
}

int kb_db_expect_rows(kb_db *db, int64_t tensor, int64_t blob, int64_t rows_blob, double rtol, double atol,
		      kb_error *err)
{
	conn_lock(db);
	int rc = expect_locked(db, tensor, blob, rtol, atol, err);
	if (!rc) {
		char sql[96];
		snprintf(sql, sizeof sql, "INSERT INTO expectation_rows VALUES(%lld, %lld)", (long long)db->n_expect,
			 (long long)rows_blob);
		rc = kb_db_exec(db, sql, err);
	}
	conn_unlock(db);
	return rc;
}

int kb_db_expect_ramp(kb_db *db, int64_t tensor, double value, double per_row, double per_col, double rtol,
		      double atol, kb_error *err)
{
	conn_lock(db);
	int rc = expect_locked(db, tensor, 0, rtol, atol, err);
	if (!rc) {
		char sql[160];
		snprintf(sql, sizeof sql, "INSERT INTO expectation_ramps VALUES(%lld, %.17g, %.17g, %.17g)",
			 (long long)db->n_expect, value, per_row, per_col);
		rc = kb_db_exec(db, sql, err);
	}
	conn_unlock(db);
	return rc;
}

int64_t kb_db_blob(kb_db *db, const char *kind, int dtype, size_t elem_size, const void *data, size_t nbytes,
		   kb_error *err)
{
	conn_lock(db);
	int64_t rc = blob_locked(db, kind, dtype, elem_size, data, nbytes, err);
	conn_unlock(db);
	return rc;
}

int kb_db_enum(kb_db *db, const char *table, int id, const char *name, kb_error *err)
{
	conn_lock(db);
	int rc = enum_locked(db, table, id, name, err);
	conn_unlock(db);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

/* Connections to an existing trace: a 4 MB page cache (writes spill to
 * the file; 16 MB was no faster and counts in kb-time's memory per op); no
 * memory-mapped reads: mapped pages of a big trace count in the RSS
 * (kb-time 186 -> 140 MB on 1 M ops) and made writing a run slower. */
static const char reader_pragmas[] = "PRAGMA cache_size=-4096; PRAGMA mmap_size=0";

/* A trace is data from anywhere: its schema runs no SQL in a tool. No
 * triggers fire (the tools never edit what the op pack copies), functions
 * in the schema must be innocuous, no extension loads, and the file cannot
 * be corrupted on purpose through this connection (SQLite's defensive
 * mode). kb_db_check_schema then refuses what would still be a trap. */
void kb_db_harden(sqlite3 *h)
{
	sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(h, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
	sqlite3_db_config(h, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL);
}

/* The first byte of a file: -1 if it is missing or empty. */
static int first_byte(const char *path)
{
	FILE *f = fopen(path, "rb");
	int c = f ? fgetc(f) : EOF;
	if (f)
		fclose(f);
	return c == EOF ? -1 : c;
}

/* Whether an SQLite file is in WAL mode (header bytes 18 and 19 are 2). */
static bool wal_mode(const char *path)
{
	unsigned char h[20];
	FILE *f = fopen(path, "rb");
	bool wal = f && fread(h, 1, sizeof h, f) == sizeof h && h[18] == 2 && h[19] == 2;
	if (f)
		fclose(f);
	return wal;
}

static bool dir_writable(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		slash[slash == dir] = '\0';
	return access(dir, W_OK) == 0;
}

/* Opens a connection to db->path; an immutable one through a URI whose
 * path has %, ? and # escaped. */
static int open_conn(kb_db *db, bool writable, sqlite3 **h)
{
	int flags = (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
	if (!db->immutable)
		return sqlite3_open_v2(db->path, h, flags, NULL);
	size_t n = strlen(db->path);
	char *uri = malloc(3 * n + 32);
	if (!uri)
		return SQLITE_NOMEM;
	size_t o = (size_t)sprintf(uri, "file:");
	for (const char *c = db->path; *c; c++)
		o += (size_t)(strchr("%?#", *c) ? sprintf(uri + o, "%%%02X", (unsigned char)*c) : sprintf(uri + o, "%c", *c));
	sprintf(uri + o, "?immutable=1");
	int rc = sqlite3_open_v2(uri, h, flags | SQLITE_OPEN_URI, NULL);
	free(uri);
	return rc;
}

int kb_db_open(kb_db **out, const char *path, bool writable, kb_error *err)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return kb_fail_status(err, errno == ENOENT ? KB_E_NOT_FOUND : KB_E_IO, "cannot open '%s': %s", path,
				      errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return kb_fail(err, "'%s' is not a regular file (a trace is an SQLite file)", path);
	if (writable && access(path, W_OK) != 0)
		return kb_fail(err, "'%s' is read-only: kb-time stores its timing run in the trace", path);
	/* an interrupted write (kill -9 during a commit) left a hot journal:
	 * only a writable connection can roll it back */
	char journal[4096], wal[4096];
	snprintf(journal, sizeof journal, "%s-journal", path);
	snprintf(wal, sizeof wal, "%s-wal", path);
	bool hot = first_byte(journal) > 0; /* SQLite's rule: a zeroed header is no hot journal */
	if (hot && access(path, W_OK) != 0)
		return kb_fail(err, "'%s' has an interrupted write ('%s'); open it once with write access to roll it back",
			       path, journal);
	if (hot)
		writable = true;
	/* a WAL-mode file needs its -shm index, which a reader without write
	 * access to the folder cannot create: read it as immutable when no
	 * -wal holds writes that are not in the file yet */
	bool immutable = false;
	if (!writable && wal_mode(path) && !dir_writable(path)) {
		if (first_byte(wal) >= 0)
			return kb_fail(err, "'%s' is in WAL mode with writes still in '%s'; open it once with write access"
				       " (or run: sqlite3 '%s' 'PRAGMA journal_mode=DELETE')", path, wal, path);
		immutable = true;
	}
	kb_db *db = calloc(1, sizeof *db);
	if (!db || !(db->path = strdup(path))) {
		free(db);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	db->immutable = immutable;
	if (open_conn(db, writable, &db->h) != SQLITE_OK) {
		kb_fail_status(err, db->h ? KB_E_DB : KB_E_NOMEM, "cannot open '%s': %s", path,
			       db->h ? sqlite3_errmsg(db->h) : "out of memory");
		db_free(db);
		return -1;
	}
	kb_db_harden(db->h);
	kb_db_sql_functions(db->h);
	sqlite3_busy_timeout(db->h, 5000);
	sqlite3_exec(db->h, reader_pragmas, NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	int app = 0, version = 0;
	if (sqlite3_prepare_v2(db->h, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		kb_fail(err, "'%s': not a kernbench trace (%s)", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	app = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (app != KB_APPLICATION_ID) {
		kb_fail(err, "'%s': not a kernbench trace (SQLite application_id 0x%x)", path, (unsigned)app);
		goto fail;
	}
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		kb_fail(err, "'%s': cannot read the schema version: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	version = db->version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > KB_SCHEMA_VERSION) {
		kb_fail(err, "'%s': schema version %d is newer than this tool (%d)", path, version, KB_SCHEMA_VERSION);
		goto fail;
	}
	if (version < 1) {
		kb_fail(err, "'%s': schema version %d is not a trace schema", path, version);
		goto fail;
	}
	if (kb_db_check_schema(db, err) || kb_db_check(db, err))
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_finalize(st);
	db_free(db);
	return -1;
}

int kb_db_open_peer(kb_db *db, kb_db **out, kb_error *err)
{
	kb_db *p = calloc(1, sizeof *p);
	if (!p || !(p->path = strdup(db->path))) {
		free(p);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	p->immutable = db->immutable;
	if (open_conn(p, false, &p->h) != SQLITE_OK) {
		kb_fail_status(err, p->h ? KB_E_DB : KB_E_NOMEM, "cannot open '%s' again: %s", db->path,
			       p->h ? sqlite3_errmsg(p->h) : "out of memory");
		db_free(p);
		return -1;
	}
	kb_db_harden(p->h);
	kb_db_sql_functions(p->h);
	sqlite3_busy_timeout(p->h, 5000);
	sqlite3_exec(p->h, reader_pragmas, NULL, NULL, NULL);
	p->version = db->version;
	p->pack_trusted = db->pack_trusted;
	p->counts = db->counts;
	*out = p;
	return 0;
}

/* One row of a small table: INSERT INTO table VALUES(vals...). For rare
 * rows; ops have their own fast path. */
static int insert_row(kb_db *db, const char *table, const int64_t *vals, int n, kb_error *err)
{
	char sql[512];
	int o = snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(", table);
	for (int i = 0; i < n && o < (int)sizeof sql - 4; i++)
		o += snprintf(sql + o, sizeof sql - (size_t)o, "%s?", i ? "," : "");
	snprintf(sql + o, sizeof sql - (size_t)o, ")");
	conn_lock(db);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) == SQLITE_OK ? 0 : -1;
	for (int i = 0; !rc && i < n; i++)
		sqlite3_bind_int64(st, i + 1, vals[i]);
	if (rc || sqlite3_step(st) != SQLITE_DONE)
		rc = kb_fail_status(err, KB_E_DB, "%s: cannot add a %s row: %s", db->tmp ? db->tmp : db->path, table,
				    sqlite3_errmsg(db->h));
	sqlite3_finalize(st);
	conn_unlock(db);
	return rc;
}

int kb_db_channel(kb_db *db, const kb_channel_row *c, kb_error *err)
{
	int64_t v[] = {c->id, c->src[0], c->src[1], c->src[2], c->src_dir, c->dst[0], c->dst[1], c->dst[2], c->dst_dir,
		       c->n_slots, c->slot_size, c->space, (int64_t)c->rx_pa, c->credit_bytes, c->src_rank, c->dst_rank,
		       c->install_op};
	return insert_row(db, "channels", v, (int)(sizeof v / sizeof v[0]), err);
}

int kb_db_pe_scratch(kb_db *db, int sip, int cube, int pe, uint64_t peak_bytes, uint64_t capacity_bytes,
		     kb_error *err)
{
	int64_t v[] = {sip, cube, pe, (int64_t)peak_bytes, (int64_t)capacity_bytes};
	return insert_row(db, "pe_scratch", v, (int)(sizeof v / sizeof v[0]), err);
}

int kb_db_collective(kb_db *db, const kb_collective_row *c, kb_error *err)
{
	int64_t algo = kb_db_string(db, c->algorithm, err), redop = algo < 0 ? -1 : kb_db_string(db, c->redop, err);
	if (redop < 0)
		return -1;
	int64_t v[] = {c->id, c->call, c->rank, algo, redop, c->dtype, c->count, c->bytes, c->world_size, c->tensor,
		       c->launch, c->first_op, c->end_op, c->type};
	return insert_row(db, "collectives", v, (int)(sizeof v / sizeof v[0]), err);
}

/* Writes the pending op_deps rows: DEP_ROWS to a statement, the rest one
 * by one (all of them when final). */
static int flush_deps(kb_db *db, bool final, kb_error *err)
{
	if (!db->n_dep)
		return 0;
	int rc = 0;
	size_t i = 0;
	conn_lock(db);
	for (; !rc && i + DEP_ROWS <= db->n_dep; i += DEP_ROWS) {
		for (int k = 0; k < 2 * DEP_ROWS; k++)
			sqlite3_bind_int64(db->ins_deps, k + 1, db->dep_buf[2 * i + (size_t)k]);
		rc = step_done(db, db->ins_deps, err);
	}
	for (; !rc && final && i < db->n_dep; i++) {
		sqlite3_bind_int64(db->ins_dep, 1, db->dep_buf[2 * i]);
		sqlite3_bind_int64(db->ins_dep, 2, db->dep_buf[2 * i + 1]);
		rc = step_done(db, db->ins_dep, err);
	}
	conn_unlock(db);
	memmove(db->dep_buf, db->dep_buf + 2 * i, (db->n_dep - i) * 2 * sizeof *db->dep_buf);
	db->n_dep -= i;
	return rc;
}

int kb_db_op_dep(kb_db *db, int64_t op, int64_t dep, kb_error *err)
{
	if (dep <= 0 || op <= 0 || dep == op)
		return kb_fail_status(err, KB_E_INTERNAL, "op %lld: a dependency on op %lld", (long long)op, (long long)dep);
	if (!db->dep_buf && !(db->dep_buf = malloc(2 * DEP_ROWS * sizeof *db->dep_buf)))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	db->dep_buf[2 * db->n_dep] = op;
	db->dep_buf[2 * db->n_dep + 1] = dep;
	return ++db->n_dep == DEP_ROWS ? flush_deps(db, false, err) : 0;
}

int kb_db_upgrade(kb_db *db, kb_error *err)
{
	if (db->version >= KB_SCHEMA_VERSION)
		return 0;
	/* v1 -> v2: new timing columns; v2 -> v3: the IPCQ tables (empty);
	 * v3 -> v4: the op pack (empty) and its triggers. The project's views
	 * are dropped by their own names (never by names read from the file)
	 * and recreated from this tool's text; a user's views stay. */
	char drop[1024] = "", pragma[48];
	size_t o = 0;
	for (const char *v = kb_schema_views; (v = strstr(v, "CREATE VIEW ")) != NULL;) {
		v += 12;
		size_t len = strcspn(v, " ");
		o += (size_t)snprintf(drop + o, sizeof drop - o, "DROP VIEW IF EXISTS \"%.*s\";", (int)len, v);
	}
	assert(o < sizeof drop);
	snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", KB_SCHEMA_VERSION);
	int rc = kb_db_exec(db, drop, err) || (db->version < 2 && kb_db_exec(db, kb_schema_upgrade_v1, err)) ||
		 kb_db_exec(db, kb_schema_upgrade_v2, err) || kb_db_exec(db, kb_schema_upgrade_v3, err) ||
		 (!kb_db_has_column(db, "op_times", "queue_ps") && kb_db_exec(db, kb_schema_upgrade_v4, err)) ||
		 kb_db_exec(db, kb_schema_upgrade_v5, err) || kb_db_exec(db, kb_schema_upgrade_v6, err) ||
		 (!kb_db_has_column(db, "collectives", "type") && kb_db_exec(db, kb_schema_upgrade_v6_type, err)) ||
		 coll_enum(db, err) ||
		 kb_db_exec(db, kb_schema_pack_triggers, err) || kb_db_exec(db, kb_schema_views, err) ||
		 kb_db_exec(db, kb_schema_counts, err) ||
		 kb_db_exec(db, pragma, err) ? -1 : 0;
	if (!rc)
		db->version = KB_SCHEMA_VERSION;
	return rc;
}

void kb_db_close(kb_db *db)
{
	if (db)
		db_free(db);
}

static int progress_cb(void *p)
{
	kb_progress *pr = p;
	kb_progress_show(pr, pr->done);
	return 0;
}

void kb_db_progress(kb_db *db, kb_progress *p)
{
	if (p && p->on)
		sqlite3_progress_handler(db->h, 1000000, progress_cb, p);
	else
		sqlite3_progress_handler(db->h, 0, NULL, NULL);
}

const char *kb_db_path(const kb_db *db)
{
	return db->path;
}

int kb_db_blob_get(kb_db *db, int64_t id, void **data, size_t *nbytes, int *dtype, kb_error *err)
{
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_prepare_v2(db->h, "SELECT raw_bytes, elem_size, checksum, dtype, data, codec FROM blobs WHERE id=?", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_fail(db, err, "read blob");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		kb_fail(err, "%s: blob %lld is missing", db->path, (long long)id);
		goto out;
	}
	size_t raw = (size_t)sqlite3_column_int64(st, 0);
	size_t elem = (size_t)sqlite3_column_int64(st, 1);
	uint64_t sum = (uint64_t)sqlite3_column_int64(st, 2);
	if (dtype)
		*dtype = sqlite3_column_int(st, 3);
	const char *codec = (const char *)sqlite3_column_text(st, 5);
	bool lanes = codec && strcmp(codec, BLOB_CODEC) == 0;
	if (!lanes && (!codec || strcmp(codec, "byteplane+zstd") != 0)) {
		kb_fail(err, "%s: blob %lld has codec '%s', not one this tool reads", db->path, (long long)id,
			codec ? codec : "");
		goto out;
	}
	const void *packed = sqlite3_column_blob(st, 4);
	size_t packed_n = (size_t)sqlite3_column_bytes(st, 4);
	void *out;
	if (kb_blob_decode(packed, packed_n, raw, elem, &out, err)) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		kb_fail(err, "%s: blob %lld is corrupt (%s)", db->path, (long long)id, why);
		goto out;
	}
	if ((lanes ? kb_hash64_lanes(out, raw) : kb_hash64(out, raw)) != sum) {
		free(out);
		kb_fail(err, "%s: blob %lld is corrupt (checksum mismatch)", db->path, (long long)id);
		goto out;
	}
	*data = out;
	*nbytes = raw;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Blob codec: byte planes, then zstd                                  */
/* ------------------------------------------------------------------ */

/* Byte planes: byte p of every element, then byte p + 1, ... (floats
 * compress far better so). Specialised for the element sizes traces use:
 * a fixed size lets the compiler move whole words. */
static void to_planes(const unsigned char *in, unsigned char *out, size_t count, size_t es)
{
	switch (es) {
	case 2:
		for (size_t i = 0; i < count; i++) {
			out[i] = in[2 * i];
			out[count + i] = in[2 * i + 1];
		}
		break;
	case 4:
		for (size_t i = 0; i < count; i++) {
			uint32_t w;
			memcpy(&w, in + 4 * i, 4);
			out[i] = (unsigned char)w;
			out[count + i] = (unsigned char)(w >> 8);
			out[2 * count + i] = (unsigned char)(w >> 16);
			out[3 * count + i] = (unsigned char)(w >> 24);
		}
		break;
	default:
		for (size_t p = 0; p < es; p++)
			for (size_t i = 0; i < count; i++)
				out[p * count + i] = in[i * es + p];
	}
}

static void from_planes(const unsigned char *in, unsigned char *out, size_t count, size_t es)
{
	switch (es) {
	case 2:
		for (size_t i = 0; i < count; i++) {
			out[2 * i] = in[i];
			out[2 * i + 1] = in[count + i];
		}
		break;
	case 4:
		for (size_t i = 0; i < count; i++) {
			uint32_t w = (uint32_t)in[i] | (uint32_t)in[count + i] << 8 | (uint32_t)in[2 * count + i] << 16 |
				     (uint32_t)in[3 * count + i] << 24;
			memcpy(out + 4 * i, &w, 4);
		}
		break;
	default:
		for (size_t p = 0; p < es; p++)
			for (size_t i = 0; i < count; i++)
				out[i * es + p] = in[p * count + i];
	}
}

/* Grows *buf to at least n bytes (contents not kept). */
static int reserve_buf(unsigned char **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	unsigned char *b = malloc(n);
	if (!b)
		return -1;
	free(*buf);
	*buf = b;
	*cap = n;
	return 0;
}

void kb_blob_coder_release(kb_blob_coder *c)
{
	ZSTD_freeCCtx(c->cctx);
	free(c->planes);
	free(c->out);
	memset(c, 0, sizeof *c);
}

int kb_blob_encode_with(kb_blob_coder *c, const void *data, size_t n, size_t elem_size, const void **out,
			size_t *out_n, kb_error *err)
{
	const unsigned char *in = data;
	size_t cap = ZSTD_compressBound(n);
	if ((!c->cctx && !(c->cctx = ZSTD_createCCtx())) || reserve_buf(&c->out, &c->out_cap, cap ? cap : 1))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory compressing %zu bytes", n);
	if (elem_size > 1 && n % elem_size == 0) {
		if (reserve_buf(&c->planes, &c->planes_cap, n ? n : 1))
			return kb_fail_status(err, KB_E_NOMEM, "out of memory compressing %zu bytes", n);
		to_planes(in, c->planes, n / elem_size, elem_size);
		in = c->planes;
	}
	/* the same bytes as ZSTD_compress(level 3): a context reused, not remade */
	size_t got = ZSTD_compressCCtx(c->cctx, c->out, cap, in, n, 3);
	if (ZSTD_isError(got))
		return kb_fail(err, "zstd: %s", ZSTD_getErrorName(got));
	*out = c->out;
	*out_n = got;
	return 0;
}

int kb_blob_encode(const void *data, size_t n, size_t elem_size, void **out, size_t *out_n, kb_error *err)
{
	kb_blob_coder c = {0};
	const void *packed;
	int rc = kb_blob_encode_with(&c, data, n, elem_size, &packed, out_n, err);
	if (!rc && !(*out = malloc(*out_n ? *out_n : 1)))
		rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (!rc)
		memcpy(*out, packed, *out_n);
	kb_blob_coder_release(&c);
	return rc;
}

int kb_blob_decode(const void *blob, size_t n, size_t raw_n, size_t elem_size, void **out, kb_error *err)
{
	unsigned char *planes = malloc(raw_n ? raw_n : 1);
	if (!planes)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	size_t got = ZSTD_decompress(planes, raw_n, blob, n);
	if (ZSTD_isError(got) || got != raw_n) {
		free(planes);
		return kb_fail(err, "zstd: %s", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong decompressed size");
	}
	if (elem_size <= 1 || raw_n % elem_size != 0) {
		*out = planes;
		return 0;
	}
	unsigned char *raw = malloc(raw_n ? raw_n : 1);
	if (!raw) {
		free(planes);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	from_planes(planes, raw, raw_n / elem_size, elem_size);
	free(planes);
	*out = raw;
	return 0;
}
