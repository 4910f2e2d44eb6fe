/*
 * check.c — the boundary every reader crosses: a trace's tables are
 * checked before any tool builds on them, so a damaged or hand-edited file
 * gets one line naming the table, the row and the column instead of a
 * crash, a hang or a wrong answer.
 *
 * Checked here (nothing of the machine is needed): ids dense from 1 where
 * tools index arrays by them; enum values in range; operand columns
 * consistent (space, dtype and shape all set or all 0); the operands each
 * op kind needs; shapes of 1 to 4 positive dimensions with at most
 * KB_MAX_NUMEL elements; GEMM inner dimensions; launches, ranges, tensors,
 * shards, expectations, blobs and channels referring to rows that exist;
 * meta values present. What needs the machine (PE coordinates, physical
 * addresses, byte sizes) the timing and replay readers check per op.
 */
#include "db_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs sql (one row: the first bad id, or nothing) and fails with what. */
static int rule(kb_db *db, const char *sql, const char *table, const char *what, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "'%s': cannot check table %s: %s", db->path, table, sqlite3_errmsg(db->h));
	int rc = sqlite3_step(st), out = 0;
	if (rc == SQLITE_ROW)
		out = kb_fail(err, "'%s': %s row %lld: %s: the trace is damaged", db->path, table,
			      (long long)sqlite3_column_int64(st, 0), what);
	else if (rc != SQLITE_DONE)
		out = kb_fail(err, "'%s': cannot read table %s: %s", db->path, table, sqlite3_errmsg(db->h));
	sqlite3_finalize(st);
	return out;
}

/* Ids must be exactly 1..count. */
static int dense(kb_db *db, const char *table, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*), coalesce(min(id), 1), coalesce(max(id), 0) FROM %s", table);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		kb_fail(err, "'%s': cannot read table %s: %s", db->path, table, sqlite3_errmsg(db->h));
		sqlite3_finalize(st);
		return -1;
	}
	int64_t n = sqlite3_column_int64(st, 0), lo = sqlite3_column_int64(st, 1), hi = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	if (lo != 1 || hi != n || n > INT32_MAX - 1)
		return kb_fail(err, "'%s': %s ids run %lld..%lld over %lld rows, not 1..%lld: the trace is damaged", db->path,
			       table, (long long)lo, (long long)hi, (long long)n, (long long)n);
	return 0;
}

static int64_t count(kb_db *db, const char *table)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int kb_db_counts(kb_db *db, kb_trace_counts *c, kb_error *err)
{
	c->shapes = count(db, "shapes");
	c->launches = count(db, "launches");
	c->blobs = count(db, "blobs");
	c->chans = kb_db_has_table(db, "channels") ? count(db, "channels") : 0;
	c->max_op = -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, "SELECT coalesce(max(rowid), 0) FROM ops", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		c->max_op = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (c->shapes < 0 || c->launches < 0 || c->blobs < 0 || c->chans < 0 || c->max_op < 0)
		return kb_fail(err, "'%s': cannot count rows: %s", db->path, sqlite3_errmsg(db->h));
	return 0;
}

const kb_trace_counts *kb_db_counts_of(const kb_db *db)
{
	return &db->counts;
}

static bool operand_bad(const kb_operand *x, int64_t n_shapes)
{
	if (!x->space)
		return x->dtype != 0 || x->shape != 0;
	return x->space < 1 || x->space > 15 || x->dtype < 1 || x->dtype > 15 || x->shape < 1 || x->shape > n_shapes;
}

static bool out_i64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo || v > hi;
}

static bool out_f64(double v, double lo, double hi)
{
	return v < lo || v > hi; /* NaN is in range: a fill value may be one */
}

#define OUT_OF(v, lo, hi) _Generic((v), double: out_f64, default: out_i64)(v, lo, hi)

const char *kb_op_check(const kb_op *o, const kb_trace_counts *n)
{
	/* each field within its bounds (KB_OP_FIELDS), each operand whole */
#define BOUND_F(name, type, column, sql, pack, lo, hi) \
	if (OUT_OF(o->name, lo, hi)) \
		return #column " out of range";
#define BOUND_O(name, bit, table) \
	if (operand_bad(&o->name, n->shapes)) \
		return BOUND_O_##table(name) " (all set or all 0, shape an existing id)";
#define BOUND_O_KB_OPS(name) #name "_space / " #name "_dtype / " #name "_shape"
#define BOUND_O_KB_OP_OPERANDS(name) "op_operands slot of operand " #name ": space / dtype / shape"
	KB_OP_FIELDS(BOUND_F, BOUND_O)
	/* the rules across fields */
	int k = o->kind;
	bool host = k == KB_OP_HOST_WRITE || k == KB_OP_HOST_FILL || k == KB_OP_LAUNCH || k == KB_OP_MMU_MAP ||
		    k == KB_OP_IPCQ_INIT;
	if (host != (o->launch == 0))
		return "launch_id: host kinds run on a rank's host stream (0), device kinds inside a launch";
	if (!host && (o->cube < 0 || o->pe < 0))
		return "cube / pe: an op inside a launch runs on a PE";
	bool copy = k == KB_OP_DMA_READ || k == KB_OP_DMA_WRITE || k == KB_OP_IPCQ_SEND || k == KB_OP_IPCQ_RECV;
	bool binary = k == KB_OP_GEMM || (k >= KB_OP_MATH_ADD && k <= KB_OP_MATH_MINIMUM) || k == KB_OP_MATH_FMA ||
		      k == KB_OP_MATH_CLAMP;
	bool unary = (k >= KB_OP_MATH_EXP && k <= KB_OP_MATH_NEG) || (k >= KB_OP_MATH_MAX && k <= KB_OP_MATH_CAST) ||
		     k == KB_OP_MATH_ADD_S || k == KB_OP_MATH_MUL_S;
	bool opaque = kb_op_is_opaque(k, o->attr);
	if (opaque && (o->a.space || o->b.space || o->c.space || o->dst.space))
		return "attr: opaque work (flag 2^20) has no operands";
	if ((copy || binary || unary) && !opaque && (!o->a.space || !o->dst.space))
		return "a_space / dst_space: this kind reads operand a and writes dst";
	if (binary && !opaque && !o->b.space)
		return "b_space: this kind reads operand b";
	if ((k == KB_OP_MATH_FMA || k == KB_OP_MATH_CLAMP) && !o->c.space)
		return "op_operands: this kind reads a third operand";
	if ((k == KB_OP_HOST_WRITE || k == KB_OP_HOST_FILL || k == KB_OP_MATH_FILL) && !o->dst.space)
		return "dst_space: this kind writes dst";
	if (k == KB_OP_HOST_WRITE && o->blob != -1 && (o->blob < 1 || o->blob > n->blobs))
		return "blob_id: a host write names its data";
	if ((k == KB_OP_IPCQ_SEND || k == KB_OP_IPCQ_RECV) && (o->chan < 1 || o->chan_seq >= n->max_op))
		return "chan_id / chan_seq: an IPCQ op names an existing channel and its message (below the op count)";
	if (copy && (o->attr < 0 || o->attr > INT32_MAX))
		return "attr: a DMA's row stride is 0..2^31-1 elements";
	if (k == KB_OP_GEMM && (o->attr & ~(INT64_C(7) | KB_OP_OPAQUE)))
		return "attr: GEMM flags are bits 1, 2, 4 and 2^20 (opaque)";
	return NULL;
}

static int meta_ok(kb_db *db, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, "SELECT coalesce(key, '(NULL)') FROM meta WHERE value IS NULL OR key IS NULL"
				      " OR typeof(value) <> 'text' LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "'%s': cannot check table meta: %s", db->path, sqlite3_errmsg(db->h));
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = kb_fail(err, "'%s': meta key '%.100s': value is not text: the trace is damaged", db->path,
			     (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

/* A v5 trace records its row count of `table` in meta 'count.<table>'. */
static int recorded(kb_db *db, const char *table, kb_error *err)
{
	char key[64];
	snprintf(key, sizeof key, "count.%s", table);
	char *v = kb_db_meta_get(db, key);
	int64_t n = count(db, table);
	char *end = NULL;
	long long want = v ? strtoll(v, &end, 10) : -1;
	int rc = 0;
	if (!v || end == v || *end || want != n)
		rc = kb_fail(err, "'%s': table %s has %lld rows, the trace recorded %.20s (meta '%s'): the trace is damaged",
			     db->path, table, (long long)n, v ? v : "no count", key);
	free(v);
	return rc;
}

int kb_db_check(kb_db *db, kb_error *err)
{
	char sql[1536];
	/* shapes: 1..4 positive dimensions, unused ones 1, bounded element count */
	if (dense(db, "shapes", err) ||
	    rule(db, "SELECT id FROM shapes WHERE ndim NOT BETWEEN 1 AND 4 OR d0 NOT BETWEEN 1 AND 2147483647"
		     " OR d1 NOT BETWEEN 1 AND 2147483647 OR d2 NOT BETWEEN 1 AND 2147483647 OR d3 NOT BETWEEN 1 AND 2147483647"
		     " OR (ndim < 2 AND d1 <> 1) OR (ndim < 3 AND d2 <> 1) OR (ndim < 4 AND d3 <> 1)"
		     " OR d0 * d1 > 1099511627776 OR d0 * d1 * d2 > 1099511627776"
		     " OR d0 * d1 * d2 * d3 > 1099511627776 LIMIT 1",
		 "shapes", "ndim / d0..d3 (1 to 4 dimensions of 1..2^31-1, at most 2^40 elements)", err))
		return -1;
	/* ops rows are checked by the readers as they stream them (kb_op_check) */
	if (kb_db_counts(db, &db->counts, err) ||
	    rule(db, "SELECT op_id FROM op_operands WHERE op_id NOT BETWEEN 1 AND (SELECT max(id) FROM ops) OR slot <> 3"
		     " OR space NOT BETWEEN 1 AND 15 OR dtype NOT BETWEEN 1 AND 15 OR shape NOT BETWEEN 1 AND"
		     " (SELECT count(*) FROM shapes) LIMIT 1",
		 "op_operands", "op_id / slot / space / dtype / shape", err))
		return -1;
	/* launches, ranges */
	snprintf(sql, sizeof sql,
		 "SELECT l.id FROM launches l LEFT JOIN ops o ON o.id = l.host_op_id WHERE o.id IS NULL OR o.kind <> %d"
		 " OR o.launch_id <> 0 OR l.rank < 0 OR l.n_pes < 0 OR l.first_op_id < 1 OR l.end_op_id < l.first_op_id"
		 " OR l.end_op_id > (SELECT count(*) FROM ops) + 1 LIMIT 1", KB_OP_LAUNCH);
	if (dense(db, "launches", err) ||
	    rule(db, sql, "launches", "host_op_id / rank / n_pes / first_op_id / end_op_id", err) ||
	    rule(db, "SELECT id FROM ranges WHERE parent_id < 0 OR parent_id >= id OR rank < 0 OR first_op_id < 1"
		     " OR end_op_id < first_op_id OR end_op_id > (SELECT count(*) FROM ops) + 1 LIMIT 1",
		 "ranges", "parent_id / rank / first_op_id / end_op_id", err))
		return -1;
	/* tensors, shards, expectations, blobs; an expectation holds a blob or
	 * (v6) a ramp, one of the two */
	bool ramps = kb_db_has_table(db, "expectation_ramps");
	char expect_sql[512];
	snprintf(expect_sql, sizeof expect_sql,
		 "SELECT e.id FROM expectations e LEFT JOIN tensors t ON t.id = e.tensor_id LEFT JOIN blobs b ON b.id ="
		 " e.blob_id%s WHERE t.id IS NULL OR (b.id IS NULL) = (%s) OR NOT e.rtol BETWEEN 0 AND " KB_STR(KB_MAX_RTOL)
		 " OR NOT e.atol BETWEEN 0 AND " KB_STR(KB_MAX_ATOL) " LIMIT 1",
		 ramps ? " LEFT JOIN expectation_ramps r ON r.expectation_id = e.id" : "",
		 ramps ? "r.expectation_id IS NULL" : "1");
	if (rule(db, "SELECT t.id FROM tensors t LEFT JOIN shapes s ON s.id = t.shape WHERE s.id IS NULL OR t.rank < 0"
		     " OR t.dtype NOT IN (SELECT id FROM enum_dtype) OR t.nbytes < 0 LIMIT 1",
		 "tensors", "shape / rank / dtype / nbytes", err) ||
	    rule(db, "SELECT s.tensor_id FROM shards s LEFT JOIN tensors t ON t.id = s.tensor_id"
		     " LEFT JOIN shapes h ON h.id = t.shape WHERE t.id IS NULL OR h.id IS NULL OR s.sip < 0 OR s.cube < 0"
		     " OR s.pe < 0 OR s.space NOT BETWEEN 1 AND 15 OR s.row0 < 0 OR s.col0 < 0 OR s.rows < 0 OR s.cols < 0"
		     " OR s.row0 + s.rows > (CASE WHEN h.ndim = 1 THEN 1 ELSE h.d0 END)"
		     " OR s.col0 + s.cols > (CASE WHEN h.ndim = 1 THEN h.d0 ELSE h.d1 * h.d2 * h.d3 END)"
		     " OR s.nbytes < 0 OR s.offset_bytes < 0 LIMIT 1",
		 "shards (tensor id)", "tensor_id / row0 / col0 / rows / cols inside the tensor", err) ||
	    rule(db, expect_sql, "expectations",
		 "tensor_id / blob_id (or a ramp: one of the two) / rtol (0.." KB_STR(KB_MAX_RTOL) ") / atol (0.."
		 KB_STR(KB_MAX_ATOL) ")", err) ||
	    (ramps &&
	     rule(db, "SELECT r.expectation_id FROM expectation_ramps r LEFT JOIN expectations e"
		      " ON e.id = r.expectation_id WHERE e.id IS NULL OR e.blob_id <> 0 OR typeof(r.value) <> 'real'"
		      " OR typeof(r.per_row) <> 'real' OR typeof(r.per_col) <> 'real'"
		      " OR abs(r.value) > 1e38 OR abs(r.per_row) > 1e38 OR abs(r.per_col) > 1e38 LIMIT 1",
		  "expectation_ramps", "expectation_id / value / per_row / per_col (finite)", err)) ||
	    (kb_db_has_table(db, "expectation_rows") &&
	     rule(db, "SELECT r.expectation_id FROM expectation_rows r LEFT JOIN expectations e ON e.id = r.expectation_id"
		      " LEFT JOIN blobs b ON b.id = r.blob_id WHERE e.id IS NULL OR b.id IS NULL OR b.elem_size <> 8 LIMIT 1",
		  "expectation_rows", "expectation_id / blob_id (int64 rows)", err)) ||
	    rule(db, "SELECT id FROM blobs WHERE raw_bytes NOT BETWEEN 0 AND 17179869184 OR elem_size NOT BETWEEN 1 AND 8"
		     " OR raw_bytes % elem_size <> 0 LIMIT 1",
		 "blobs", "raw_bytes / elem_size (at most 16 GiB a blob)", err) ||
	    meta_ok(db, err))
		return -1;
	if (db->version >= 5 && (recorded(db, "expectations", err) || recorded(db, "shards", err)))
		return -1;
	/* channels (v3) */
	if (kb_db_has_table(db, "channels") &&
	    (dense(db, "channels", err) ||
	     rule(db, "SELECT id FROM channels WHERE src_sip < 0 OR src_cube < 0 OR src_pe < 0 OR dst_sip < 0"
		      " OR dst_cube < 0 OR dst_pe < 0 OR src_dir NOT BETWEEN 0 AND 31 OR dst_dir NOT BETWEEN 0 AND 31"
		      " OR n_slots NOT BETWEEN 1 AND 1048576 OR slot_size NOT BETWEEN 1 AND 1073741824"
		      " OR credit_bytes NOT BETWEEN 0 AND 1048576 LIMIT 1",
		  "channels", "PEs / directions / n_slots / slot_size / credit_bytes", err)))
		return -1;
	/* v7: collective types, explicit dependencies (on an earlier op) */
	if ((kb_db_has_column(db, "collectives", "type") &&
	     rule(db, "SELECT id FROM collectives WHERE type NOT BETWEEN 0 AND " KB_STR(KB_COLL_LAST) " LIMIT 1",
		  "collectives", "type (0.." KB_STR(KB_COLL_LAST) ")", err)) ||
	    (kb_db_has_table(db, "op_deps") &&
	     rule(db, "SELECT op_id FROM op_deps WHERE dep_op_id < 1 OR op_id < 1 OR dep_op_id = op_id"
		      " OR op_id > (SELECT count(*) FROM ops) OR dep_op_id > (SELECT count(*) FROM ops) LIMIT 1",
		  "op_deps", "op_id / dep_op_id (two ops of the trace)", err)))
		return -1;
	return 0;
}

/* ---- the schema a file carries: nothing in it may run inside a tool ---- */

/* The project's own objects, as SQLite stores their text: read off an
 * in-memory database built from this tool's schema. */
typedef struct ref_obj {
	char type[8], name[40];
	char *sql;
} ref_obj;

static void refs_free(ref_obj *r, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_free(r[i].sql);
	free(r);
}

static int refs_load(ref_obj **out, int *n_out, kb_error *err)
{
	sqlite3 *m = NULL;
	sqlite3_stmt *st = NULL;
	ref_obj *r = NULL;
	int n = 0, rc = -1;
	size_t cap = 0;
	if (sqlite3_open_v2(":memory:", &m, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(m, kb_schema_tables, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m, kb_schema_run_tables, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m, kb_schema_indexes, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m, kb_schema_pack_triggers, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(m, kb_schema_views, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(m, "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL", -1, &st, NULL) !=
		    SQLITE_OK) {
		kb_fail(err, "cannot build the reference schema: %s", m ? sqlite3_errmsg(m) : "out of memory");
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (kb_grow(&r, &cap, (size_t)n + 1, sizeof *r, 64)) {
			kb_fail_status(err, KB_E_NOMEM, "out of memory");
			goto out;
		}
		ref_obj *o = &r[n++];
		memset(o, 0, sizeof *o);
		snprintf(o->type, sizeof o->type, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(o->name, sizeof o->name, "%s", (const char *)sqlite3_column_text(st, 1));
		o->sql = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 2));
		if (!o->sql) {
			kb_fail_status(err, KB_E_NOMEM, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(m);
	if (rc)
		refs_free(r, n);
	else
		*out = r, *n_out = n;
	return rc;
}

static const ref_obj *ref_find(const ref_obj *r, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(r[i].name, name) == 0)
			return &r[i];
	return NULL;
}

int kb_db_check_schema(kb_db *db, kb_error *err)
{
	ref_obj *ref;
	int n_ref;
	if (refs_load(&ref, &n_ref, err))
		return -1;
	sqlite3_stmt *st = NULL;
	int rc = 0, triggers = 0, n_ref_triggers = 0;
	for (int i = 0; i < n_ref; i++)
		n_ref_triggers += strcmp(ref[i].type, "trigger") == 0;
	if (sqlite3_prepare_v2(db->h, "SELECT type, name, coalesce(sql, '') FROM sqlite_master", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = kb_fail(err, "'%s': cannot read the schema: %s", db->path, sqlite3_errmsg(db->h));
		goto out;
	}
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *sql = (const char *)sqlite3_column_text(st, 2);
		if (!type || !name || !sql)
			continue;
		const ref_obj *r = ref_find(ref, n_ref, name);
		if (strcmp(type, "trigger") == 0) {
			if (!r || strcmp(r->type, "trigger") != 0 || strcmp(r->sql, sql) != 0)
				rc = kb_fail(err, "'%s': trigger \"%.60s\" is not one of kernbench's: the tools refuse a trace"
					     " that runs its own SQL (drop it: DROP TRIGGER \"%.60s\")", db->path, name, name);
			triggers++;
		} else if (r && strcmp(r->type, "table") == 0 &&
			   (strcmp(type, "table") != 0 || strncmp(sql, "CREATE TABLE ", 13) != 0)) {
			rc = kb_fail(err, "'%s': \"%.60s\" is not the plain table kernbench writes: the trace is damaged",
				     db->path, name);
		} else if (r && strcmp(r->type, "view") == 0 && db->version == KB_SCHEMA_VERSION &&
			   (strcmp(type, "view") != 0 || strcmp(r->sql, sql) != 0)) {
			rc = kb_fail(err, "'%s': view %s differs from kernbench's definition: the tools refuse a redefined"
				     " project view (give your own views other names)", db->path, name);
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = kb_fail(err, "'%s': cannot read the schema: %s", db->path, sqlite3_errmsg(db->h));
	/* the op pack is read only while every trigger that empties it on an
	 * edit of the rows is in place; otherwise the rows are the record */
	db->pack_trusted = !rc && triggers == n_ref_triggers;
out:
	sqlite3_finalize(st);
	refs_free(ref, n_ref);
	return rc;
}
