/*
 * reader.c — the one way timing, replay and the reports read a trace:
 * typed records, streamed where a table is large, every row checked at
 * this boundary (ids and enums in range, PEs inside the recorded machine,
 * shapes and sizes consistent) and every SQLite result checked. A bad row
 * is one error naming the table, the row and the column.
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static int prep(kb_db *db, const char *sql, sqlite3_stmt **st, const char *what, kb_error *err)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) {
		kb_fail(err, "'%s': cannot read %s: %s", db->path, what, sqlite3_errmsg(db->h));
		sqlite3_finalize(*st);
		*st = NULL;
		return -1;
	}
	return 0;
}

/* The end of a statement's rows: SQLITE_DONE, or a read error. */
static int done(kb_db *db, sqlite3_stmt *st, int rc, int step, const char *what, kb_error *err)
{
	sqlite3_finalize(st);
	if (rc) /* a row was refused: err says why */
		return -1;
	return step == SQLITE_DONE ? 0 : kb_fail(err, "'%s': cannot read %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

/* One integer (a count, a max id), or -1 on failure. */
static int64_t scalar(kb_db *db, const char *sql, const char *what, kb_error *err)
{
	sqlite3_stmt *st;
	if (prep(db, sql, &st, what, err))
		return -1;
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v < 0 ? kb_fail(err, "'%s': cannot read %s: %s", db->path, what, sqlite3_errmsg(db->h)) : v;
}

/* ------------------------------------------------------------------ */
/* Shapes, launches, channels, ranges                                  */
/* ------------------------------------------------------------------ */

int kb_read_shapes(kb_db *db, kb_shape_rec **out, int64_t *n, kb_error *err)
{
	*out = NULL;
	int64_t max = scalar(db, "SELECT coalesce(max(id), 0) FROM shapes", "shapes", err);
	if (max < 0)
		return -1;
	if (max != db->counts.shapes) /* kb_db_check: ids are 1..count */
		return kb_fail(err, "'%s': shapes ids are not 1..%lld: the trace is damaged", db->path,
			       (long long)db->counts.shapes);
	kb_shape_rec *s = calloc((size_t)max + 1, sizeof *s);
	sqlite3_stmt *st;
	if (!s)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld shapes", (long long)max);
	if (prep(db, "SELECT id, ndim, d0, d1, d2, d3 FROM shapes", &st, "shapes", err)) {
		free(s);
		return -1;
	}
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id < 1 || id > max)
			continue; /* cannot happen after the dense-id check */
		kb_shape_rec *r = &s[id];
		r->ndim = sqlite3_column_int(st, 1);
		r->numel = 1;
		for (int k = 0; k < 4; k++) {
			r->d[k] = sqlite3_column_int64(st, 2 + k);
			r->numel *= r->d[k]; /* kb_db_check bounds each and the product by 2^40 */
		}
		r->rows = r->ndim == 1 ? 1 : r->d[0];
	}
	if (done(db, st, 0, step, "shapes", err)) {
		free(s);
		return -1;
	}
	*out = s;
	*n = max + 1;
	return 0;
}

int kb_read_launches(kb_db *db, int64_t n_ops, int64_t **host_op, int64_t *n, kb_error *err)
{
	*host_op = NULL;
	int64_t max = scalar(db, "SELECT coalesce(max(id), 0) FROM launches", "launches", err);
	if (max < 0)
		return -1;
	if (max != db->counts.launches || max > n_ops)
		return kb_fail(err, "'%s': launches ids are not 1..%lld: the trace is damaged", db->path,
			       (long long)db->counts.launches);
	int64_t *v = calloc((size_t)max + 1, sizeof *v);
	sqlite3_stmt *st;
	if (!v)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (prep(db, "SELECT id, host_op_id FROM launches", &st, "launches", err)) {
		free(v);
		return -1;
	}
	int step, rc = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), op = sqlite3_column_int64(st, 1);
		if (id < 1 || id > max || op < 1 || op > n_ops)
			rc = kb_fail(err, "'%s': launches row %lld: host_op_id %lld names no op: the trace is damaged", db->path,
				     (long long)id, (long long)op);
		else
			v[id] = op;
	}
	if (done(db, st, rc, step, "launches", err)) {
		free(v);
		return -1;
	}
	*host_op = v;
	*n = max;
	return 0;
}

int kb_read_channels(kb_db *db, kb_channel_rec **out, int64_t *n, kb_error *err)
{
	*out = NULL;
	*n = 0;
	if (!kb_db_has_table(db, "channels"))
		return 0;
	int64_t count = db->counts.chans;
	int64_t max = scalar(db, "SELECT coalesce(max(id), 0) FROM channels", "channels", err);
	if (max < 0)
		return -1;
	if (max != count || count > INT32_MAX / 2)
		return kb_fail(err, "'%s': channels ids are not 1..%lld: the trace is damaged", db->path, (long long)count);
	kb_channel_rec *c = calloc((size_t)count + 1, sizeof *c);
	sqlite3_stmt *st;
	if (!c)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (prep(db, "SELECT id, n_slots, slot_size, credit_bytes, src_sip, src_cube, src_pe, src_dir, dst_sip, dst_cube,"
		     " dst_pe, dst_dir FROM channels ORDER BY id", &st, "channels", err)) {
		free(c);
		return -1;
	}
	int step, rc = 0;
	int64_t k = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t v[12];
		for (int j = 0; j < 12; j++)
			v[j] = sqlite3_column_int64(st, j);
		bool ok = v[0] == k + 1 && v[1] >= 1 && v[1] <= 1 << 20 && v[2] >= 1 && v[2] <= INT64_C(1) << 30 &&
			  v[3] >= 0 && v[3] <= 1 << 20;
		for (int j = 4; j < 12 && ok; j++) /* the machine's bounds: the caller's check */
			ok = v[j] >= 0 && v[j] <= 1 << 20;
		if (!ok) {
			rc = kb_fail(err, "'%s': channels row %lld: n_slots / slot_size / credit_bytes / PEs / directions out of"
					  " range: the trace is damaged", db->path, (long long)v[0]);
			break;
		}
		kb_channel_rec *r = &c[k++];
		r->n_slots = v[1];
		r->slot_size = v[2];
		r->credit_bytes = v[3];
		for (int j = 0; j < 3; j++) {
			r->src[j] = (int)v[4 + j];
			r->dst[j] = (int)v[8 + j];
		}
		r->src_dir = (int)v[7];
		r->dst_dir = (int)v[11];
	}
	if (done(db, st, rc, step, "channels", err)) {
		free(c);
		return -1;
	}
	*out = c;
	*n = count;
	return 0;
}

int kb_read_ranges(kb_db *db, kb_range_rec **out, size_t *n, kb_error *err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	if (prep(db, "SELECT r.id, r.rank, r.first_op_id, r.end_op_id, s.value FROM ranges r LEFT JOIN strings s"
		     " ON s.id = r.label ORDER BY r.id", &st, "ranges", err))
		return -1;
	kb_range_rec *v = NULL;
	size_t cap = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (kb_grow(&v, &cap, *n + 1, sizeof *v, 64)) {
			sqlite3_finalize(st);
			free(v);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
		kb_range_rec *r = &v[(*n)++];
		*r = (kb_range_rec){sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), sqlite3_column_int64(st, 2),
				    sqlite3_column_int64(st, 3), ""};
		snprintf(r->label, sizeof r->label, "%s", sqlite3_column_text(st, 4) ? (const char *)sqlite3_column_text(st, 4) : "");
	}
	if (done(db, st, 0, step, "ranges", err)) {
		free(v);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

struct kb_op_stream {
	kb_db *db;
	sqlite3_stmt *ops, *extra;
	int extra_rc;
	int64_t id, last; /* the last id read, the last of the range */
	/* from the op pack (db->pack_state 1): the chunk decoded, where next */
	sqlite3_stmt *chunk;
	ZSTD_DCtx *dctx;
	uint8_t *raw;
	const uint8_t *p, *end;
	int64_t chunk_first, chunk_n;
};

int kb_read_op_count(kb_db *db, int64_t *n_ops, kb_error *err)
{
	int64_t count = scalar(db, "SELECT count(*) FROM ops", "ops", err);
	int64_t max = count < 0 ? -1 : scalar(db, "SELECT coalesce(max(id), 0) FROM ops", "ops", err);
	if (max < 0)
		return -1;
	if (max != count || count > INT32_MAX - 1)
		return kb_fail(err, "'%s': ops ids are not 1..%lld: the trace is damaged or too large", db->path,
			       (long long)count);
	*n_ops = count;
	return 0;
}

/* Whether the op pack holds every op, a chunk per KB_PACK_OPS ids from 1
 * (1), or is absent, emptied by an edit of the rows, or not that (-1:
 * the rows are read). A chunk that then does not decode is damage. */
static int pack_state(kb_db *db)
{
	if (db->pack_state)
		return db->pack_state;
	db->pack_state = -1;
	int64_t n = db->counts.max_op;
	sqlite3_stmt *st;
	if (n <= 0 || !db->pack_trusted || !kb_db_has_table(db, "op_pack") ||
	    sqlite3_prepare_v2(db->h, "SELECT count(*), min(first_op_id), max(first_op_id), total(n_ops) FROM op_pack",
			       -1, &st, NULL) != SQLITE_OK)
		return db->pack_state;
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t chunks = (n + KB_PACK_OPS - 1) / KB_PACK_OPS;
		if (sqlite3_column_int64(st, 0) == chunks && sqlite3_column_int64(st, 1) == 1 &&
		    sqlite3_column_int64(st, 2) == (chunks - 1) * KB_PACK_OPS + 1 &&
		    sqlite3_column_double(st, 3) == (double)n)
			db->pack_state = 1;
	}
	sqlite3_finalize(st);
	return db->pack_state;
}

/* The columns an op is read from, in KB_OP_FIELDS' order: each field's
 * column, an operand's <name>_<field> columns (va, not read back, apart). */
#define SELECT_F(name, type, column, sql, pack, lo, hi) ", " #column
#define SELECT_O(name, bit, table) SELECT_O_##table(name)
#define SELECT_O_KB_OP_OPERANDS(name)
#define SELECT_O_KB_OPS(name) KB_OPERAND_FIELDS(SELECT_OPERAND, name)
#define SELECT_OPERAND(o, name, type, pack) SELECT_OPERAND_##pack(#o "_" #name)
#define SELECT_OPERAND_KB_PACK_ALWAYS(column) ", " column
#define SELECT_OPERAND_KB_PACK_NONE(column)
#define SELECT_FIELD(o, name, type, pack) SELECT_OPERAND_##pack(#name)

int kb_op_stream_open_range(kb_db *db, int64_t first, int64_t last, kb_op_stream **out, kb_error *err)
{
	*out = NULL;
	kb_op_stream *s = calloc(1, sizeof *s);
	if (!s)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	s->db = db;
	int rc;
	if (pack_state(db) == 1) {
		s->dctx = ZSTD_createDCtx();
		s->raw = malloc((size_t)KB_PACK_OPS * KB_OP_PACK_MAX);
		rc = !s->dctx || !s->raw ? kb_fail_status(err, KB_E_NOMEM, "out of memory")
					 : prep(db, "SELECT n_ops, raw_bytes, data FROM op_pack WHERE first_op_id = ?",
						&s->chunk, "op_pack", err);
	} else {
		rc = prep(db, "SELECT id" KB_OP_FIELDS(SELECT_F, SELECT_O) " FROM ops WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
			  &s->ops, "ops", err) ||
		     prep(db, "SELECT op_id, slot" KB_OPERAND_FIELDS(SELECT_FIELD, ) " FROM op_operands"
			      " WHERE op_id BETWEEN ?1 AND ?2 ORDER BY op_id, slot", &s->extra, "op_operands", err);
	}
	if (rc || kb_op_stream_range(s, first, last, err)) {
		kb_op_stream_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

static int pack_damaged(const kb_op_stream *s, int64_t first, const char *what, kb_error *err)
{
	return kb_fail(err, "'%s': op_pack chunk of op %lld: %s: the trace is damaged", s->db->path, (long long)first,
		       what);
}

/* Decompresses the chunk that starts at op `first`. */
static int load_chunk(kb_op_stream *s, int64_t first, kb_error *err)
{
	sqlite3_stmt *st = s->chunk;
	s->p = s->end = NULL;
	s->chunk_first = first;
	s->chunk_n = 0;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, first);
	int step = sqlite3_step(st);
	if (step != SQLITE_ROW)
		return step == SQLITE_DONE ? pack_damaged(s, first, "missing", err)
					   : kb_fail(err, "'%s': cannot read op_pack: %s", s->db->path,
						     sqlite3_errmsg(s->db->h));
	int64_t want = s->db->counts.max_op - first + 1 < KB_PACK_OPS ? s->db->counts.max_op - first + 1 : KB_PACK_OPS;
	int64_t n = sqlite3_column_int64(st, 0), raw = sqlite3_column_int64(st, 1);
	const void *z = sqlite3_column_blob(st, 2);
	size_t zn = (size_t)sqlite3_column_bytes(st, 2);
	if (n != want)
		return pack_damaged(s, first, "n_ops is not the ops it covers", err);
	if (raw < n || raw > n * KB_OP_PACK_MAX || !z)
		return pack_damaged(s, first, "raw_bytes out of range", err);
	unsigned long long size = ZSTD_getFrameContentSize(z, zn);
	if (size != (unsigned long long)raw)
		return pack_damaged(s, first, "data is not a zstd frame of raw_bytes", err);
	size_t got = ZSTD_decompressDCtx(s->dctx, s->raw, (size_t)raw, z, zn);
	if (ZSTD_isError(got) || got != (size_t)raw)
		return pack_damaged(s, first, "data does not decompress", err);
	sqlite3_reset(st);
	s->p = s->raw;
	s->end = s->raw + raw;
	s->chunk_n = n;
	return 0;
}

/* The next op from the pack, as it is: 1, 0 at the end of the range, -1. */
static int pack_next(kb_op_stream *s, kb_op *o, kb_error *err)
{
	if (s->id >= s->last)
		return 0;
	int64_t id = s->id + 1;
	if (id >= s->chunk_first + s->chunk_n && load_chunk(s, id, err))
		return -1;
	if (kb_op_pack_get(&s->p, s->end, id, o))
		return pack_damaged(s, s->chunk_first, "an op runs past its end", err);
	if (id == s->chunk_first + s->chunk_n - 1 && s->p != s->end)
		return pack_damaged(s, s->chunk_first, "bytes after its last op", err);
	s->id = id;
	return 1;
}

int kb_op_stream_range(kb_op_stream *s, int64_t first, int64_t last, kb_error *err)
{
	s->id = first - 1;
	s->last = last;
	if (s->chunk) { /* from the chunk holding first: skip the ops before it */
		kb_op skip;
		s->chunk_n = 0;
		if (first > last)
			return 0;
		if (load_chunk(s, first - (first - 1) % KB_PACK_OPS, err))
			return -1;
		for (s->id = s->chunk_first - 1; s->id < first - 1;)
			if (pack_next(s, &skip, err) < 0)
				return -1;
		return 0;
	}
	sqlite3_stmt *st[2] = {s->ops, s->extra};
	for (int k = 0; k < 2; k++)
		if (sqlite3_reset(st[k]) != SQLITE_OK || sqlite3_bind_int64(st[k], 1, first) != SQLITE_OK ||
		    sqlite3_bind_int64(st[k], 2, last) != SQLITE_OK)
			return kb_fail(err, "'%s': cannot read ops: %s", s->db->path, sqlite3_errmsg(s->db->h));
	s->extra_rc = sqlite3_step(s->extra);
	return 0;
}

/* A column into a field of its type (an int the way sqlite3_column_int reads it). */
static void col_int(sqlite3_stmt *st, int k, int *v)
{
	*v = sqlite3_column_int(st, k);
}

static void col_i64(sqlite3_stmt *st, int k, int64_t *v)
{
	*v = sqlite3_column_int64(st, k);
}

static void col_u64(sqlite3_stmt *st, int k, uint64_t *v)
{
	*v = (uint64_t)sqlite3_column_int64(st, k);
}

static void col_f64(sqlite3_stmt *st, int k, double *v)
{
	*v = sqlite3_column_double(st, k);
}

#define COL(st, k, dst) \
	_Generic(&(dst), int *: col_int, uint64_t *: col_u64, double *: col_f64, default: col_i64)(st, k, &(dst))
#define READ_OPERAND(x, name, type, pack) READ_OPERAND_##pack(x, name)
#define READ_OPERAND_KB_PACK_ALWAYS(x, name) COL(st, c++, (x)->name);
#define READ_OPERAND_KB_PACK_NONE(x, name)

/* The next ops row, as it is (kb_op_stream_next checks it): 1, 0 at
 * the end, -1. */
static int row_next(kb_op_stream *s, kb_op *o, kb_error *err)
{
	sqlite3_stmt *st = s->ops;
	int step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		return s->id == s->last ? 0 : kb_fail(err, "'%s': ops end at %lld, not %lld: the trace changed while being"
						      " read", s->db->path, (long long)s->id, (long long)s->last);
	if (step != SQLITE_ROW)
		return kb_fail_status(err, KB_E_DB, "'%s': cannot read ops: %s", s->db->path, sqlite3_errmsg(s->db->h));
	int64_t id = sqlite3_column_int64(st, 0);
	if (id != ++s->id)
		return kb_fail(err, "'%s': ops row %lld follows row %lld: the trace changed while being read", s->db->path,
			       (long long)id, (long long)s->id - 1);
	memset(o, 0, sizeof *o);
	o->id = id;
	int c = 1;
#define READ_F(name, type, column, sql, pack, lo, hi) COL(st, c++, o->name);
#define READ_O(name, bit, table) READ_O_##table(name)
#define READ_O_KB_OP_OPERANDS(name)
#define READ_O_KB_OPS(name) KB_OPERAND_FIELDS(READ_OPERAND, &o->name)
	KB_OP_FIELDS(READ_F, READ_O)
	KB_ASSERT(c == sqlite3_column_count(st), "read %d of %d columns", c, sqlite3_column_count(st));
	/* the operands kept in op_operands: its rows of this op, by slot */
	while (s->extra_rc == SQLITE_ROW && sqlite3_column_int64(s->extra, 0) < id)
		s->extra_rc = sqlite3_step(s->extra);
	for (; s->extra_rc == SQLITE_ROW && sqlite3_column_int64(s->extra, 0) == id; s->extra_rc = sqlite3_step(s->extra)) {
		kb_operand *x = NULL;
		switch (sqlite3_column_int64(s->extra, 1)) {
#define SLOT_F(name, type, column, sql, pack, lo, hi)
#define SLOT_O(name, bit, table) SLOT_O_##table(name, bit)
#define SLOT_O_KB_OPS(name, bit)
#define SLOT_O_KB_OP_OPERANDS(name, bit) \
	case (bit) - 6: x = &o->name; break;
			KB_OP_FIELDS(SLOT_F, SLOT_O)
		default: break; /* a slot no operand has: check.c refuses the table */
		}
		if (x) {
			st = s->extra;
			c = 2;
			KB_OPERAND_FIELDS(READ_OPERAND, x)
		}
	}
	if (s->extra_rc != SQLITE_ROW && s->extra_rc != SQLITE_DONE)
		return kb_fail_status(err, KB_E_DB, "'%s': cannot read op_operands: %s", s->db->path,
				      sqlite3_errmsg(s->db->h));
	return 1;
}

int kb_op_stream_next(kb_op_stream *s, kb_op *o, kb_error *err)
{
	int got = s->chunk ? pack_next(s, o, err) : row_next(s, o, err);
	if (got != 1)
		return got;
	/* the op against the schema's rules and the trace's counts */
	const char *bad = kb_op_check(o, &s->db->counts);
	if (bad)
		return kb_fail(err, "%s %lld: %s: the trace is damaged", s->chunk ? "op_pack op" : "ops row", (long long)o->id,
			       bad);
	return 1;
}

void kb_op_stream_close(kb_op_stream *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->ops);
	sqlite3_finalize(s->extra);
	sqlite3_finalize(s->chunk);
	ZSTD_freeDCtx(s->dctx);
	free(s->raw);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Timing runs                                                         */
/* ------------------------------------------------------------------ */

int kb_read_run(kb_db *db, const char *label, int64_t *id, char *label_out, size_t cap, kb_error *err)
{
	sqlite3_stmt *st;
	*id = 0;
	if (prep(db, label ? "SELECT id, label FROM timing_runs WHERE label = ?"
			   : "SELECT id, label FROM timing_runs ORDER BY id DESC LIMIT 1", &st, "timing_runs", err))
		return -1;
	if (label)
		sqlite3_bind_text(st, 1, label, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		const unsigned char *l = sqlite3_column_text(st, 1);
		snprintf(label_out, cap, "%s", l ? (const char *)l : "");
		step = SQLITE_DONE;
	}
	return done(db, st, 0, step, "timing_runs", err);
}

void kb_read_run_labels(kb_db *db, char *out, size_t cap)
{
	sqlite3_stmt *st;
	snprintf(out, cap, "none");
	if (sqlite3_prepare_v2(db->h, "SELECT group_concat(label, ', ') FROM (SELECT label FROM timing_runs ORDER BY id)",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

int kb_read_op_times(kb_db *db, int64_t run, int64_t n_ops, kb_op_time_fn fn, void *ctx, kb_error *err)
{
	sqlite3_stmt *st;
	if (prep(db, "SELECT op_id, t_start_ps, t_end_ps FROM op_times WHERE run_id = ? ORDER BY op_id", &st, "op_times",
		 err))
		return -1;
	sqlite3_bind_int64(st, 1, run);
	int step, rc = 0;
	int64_t seen = 0, last = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t op = sqlite3_column_int64(st, 0), t0 = sqlite3_column_int64(st, 1), t1 = sqlite3_column_int64(st, 2);
		if (op < 1 || op > n_ops || op <= last || t0 < 0 || t1 < t0)
			rc = kb_fail(err, "'%s': op_times row of op %lld: op id / t_start_ps %lld / t_end_ps %lld: the trace is"
					  " damaged", db->path, (long long)op, (long long)t0, (long long)t1);
		else
			rc = fn(ctx, op, t0, t1, err);
		last = op;
		seen++;
	}
	if (done(db, st, rc, step, "op_times", err))
		return -1;
	return seen == n_ops ? 0 : kb_fail(err, "'%s': timing run %lld times %lld of %lld ops", db->path, (long long)run,
					   (long long)seen, (long long)n_ops);
}

/* ------------------------------------------------------------------ */
/* Tensors, shards, expectations, collectives                          */
/* ------------------------------------------------------------------ */

int kb_read_tensor(kb_db *db, int64_t id, kb_tensor_rec *t, kb_error *err)
{
	sqlite3_stmt *st;
	if (prep(db, "SELECT n.value, t.dtype, s.ndim, s.d0, s.d0 * s.d1 * s.d2 * s.d3 FROM tensors t"
		     " JOIN strings n ON n.id = t.name JOIN shapes s ON s.id = t.shape WHERE t.id = ?", &st, "tensors", err))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		sqlite3_finalize(st);
		return step == SQLITE_DONE ? kb_fail(err, "tensor %lld does not exist", (long long)id)
					   : kb_fail(err, "'%s': cannot read tensors: %s", db->path, sqlite3_errmsg(db->h));
	}
	const unsigned char *name = sqlite3_column_text(st, 0);
	snprintf(t->name, sizeof t->name, "%s", name ? (const char *)name : "");
	t->dtype = sqlite3_column_int(st, 1);
	t->rows = sqlite3_column_int(st, 2) == 1 ? 1 : sqlite3_column_int64(st, 3);
	t->cols = t->rows > 0 ? sqlite3_column_int64(st, 4) / t->rows : 0;
	sqlite3_finalize(st);
	return 0;
}

int kb_read_shards(kb_db *db, int64_t tensor, kb_shard_rec **out, size_t *n, kb_error *err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	if (prep(db, "SELECT sip, cube, pe, pa, row0, col0, rows, cols FROM shards WHERE tensor_id = ?"
		     " ORDER BY sip, cube, pe, offset_bytes", &st, "shards", err))
		return -1;
	sqlite3_bind_int64(st, 1, tensor);
	kb_shard_rec *v = NULL;
	size_t cap = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (kb_grow(&v, &cap, *n + 1, sizeof *v, 16)) {
			sqlite3_finalize(st);
			free(v);
			*n = 0;
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
		v[(*n)++] = (kb_shard_rec){sqlite3_column_int(st, 0), sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
					   (uint64_t)sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
					   sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6),
					   sqlite3_column_int64(st, 7)};
	}
	if (done(db, st, 0, step, "shards", err)) {
		free(v);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int kb_read_expectations(kb_db *db, kb_expect_rec **out, int *n, kb_error *err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	bool rows = kb_db_has_table(db, "expectation_rows"), ramps = kb_db_has_table(db, "expectation_ramps");
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT e.id, e.tensor_id, e.blob_id, %s, e.rtol, e.atol, %s FROM expectations e%s%s ORDER BY e.id",
		 rows ? "coalesce(x.blob_id, 0)" : "0",
		 ramps ? "r.expectation_id IS NOT NULL, coalesce(r.value, 0), coalesce(r.per_row, 0), coalesce(r.per_col, 0)"
		       : "0, 0, 0, 0",
		 rows ? " LEFT JOIN expectation_rows x ON x.expectation_id = e.id" : "",
		 ramps ? " LEFT JOIN expectation_ramps r ON r.expectation_id = e.id" : "");
	if (prep(db, sql, &st, "expectations", err))
		return -1;
	kb_expect_rec *v = NULL;
	size_t cap = 0, k = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (k >= INT32_MAX / 2 || kb_grow(&v, &cap, k + 1, sizeof *v, 16)) {
			sqlite3_finalize(st);
			free(v);
			return kb_fail_status(err, KB_E_NOMEM, "out of memory");
		}
		v[k++] = (kb_expect_rec){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
					 sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
					 sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
					 sqlite3_column_int(st, 6) != 0, sqlite3_column_double(st, 7),
					 sqlite3_column_double(st, 8), sqlite3_column_double(st, 9)};
	}
	if (done(db, st, 0, step, "expectations", err)) {
		free(v);
		return -1;
	}
	*out = v;
	*n = (int)k;
	return 0;
}

int kb_read_collectives(kb_db *db, kb_collective_fn fn, void *ctx, kb_error *err)
{
	if (!kb_db_has_table(db, "collectives"))
		return 0;
	sqlite3_stmt *st;
	bool typed = kb_db_has_column(db, "collectives", "type");
	if (prep(db, typed ? "SELECT c.call, a.value, c.world_size, n.value,"
		     " (SELECT count(*) FROM shards s WHERE s.tensor_id = c.tensor_id), c.bytes, c.launch_id, c.type,"
		     " c.rank, c.first_op_id, c.end_op_id"
		     " FROM collectives c JOIN strings a ON a.id = c.algorithm JOIN tensors t ON t.id = c.tensor_id"
		     " JOIN strings n ON n.id = t.name ORDER BY c.call, a.value, c.rank" :
		     "SELECT c.call, a.value, c.world_size, n.value,"
		     " (SELECT count(*) FROM shards s WHERE s.tensor_id = c.tensor_id), c.bytes, c.launch_id, 0,"
		     " c.rank, c.first_op_id, c.end_op_id"
		     " FROM collectives c JOIN strings a ON a.id = c.algorithm JOIN tensors t ON t.id = c.tensor_id"
		     " JOIN strings n ON n.id = t.name ORDER BY c.call, a.value, c.rank", &st, "collectives", err))
		return -1;
	int step, rc = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *a = sqlite3_column_text(st, 1), *t = sqlite3_column_text(st, 3);
		kb_collective_rec c = {sqlite3_column_int64(st, 0), "", sqlite3_column_int64(st, 2), "",
				       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6),
				       (kb_coll_type)sqlite3_column_int(st, 7), sqlite3_column_int(st, 8),
				       sqlite3_column_int64(st, 9), sqlite3_column_int64(st, 10)};
		if ((unsigned)c.type >= KB_COLL_TYPE_COUNT) {
			sqlite3_finalize(st);
			return kb_fail_status(err, KB_E_INPUT, "collectives: type %d is not a collective type: the trace is"
					      " damaged", (int)c.type);
		}
		snprintf(c.algorithm, sizeof c.algorithm, "%s", a ? (const char *)a : "");
		snprintf(c.tensor, sizeof c.tensor, "%s", t ? (const char *)t : "");
		rc = fn(ctx, &c, err);
	}
	if (rc) {
		sqlite3_finalize(st);
		return -1;
	}
	return done(db, st, 0, step, "collectives", err);
}

int kb_read_op_deps(kb_db *db, kb_op_dep_fn fn, void *ctx, kb_error *err)
{
	if (!kb_db_has_table(db, "op_deps"))
		return 0;
	sqlite3_stmt *st;
	if (prep(db, "SELECT op_id, dep_op_id FROM op_deps ORDER BY op_id, dep_op_id", &st, "op_deps", err))
		return -1;
	int step, rc = 0;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), err);
	if (rc) {
		sqlite3_finalize(st);
		return -1;
	}
	return done(db, st, 0, step, "op_deps", err);
}
