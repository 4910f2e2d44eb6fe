/*
 * test_db.c — the trace database: atomic writes, version and foreign-file
 * checks, op rows through the batched writer, the op pack, interning,
 * blobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>

#include "db.h"
#include "db_int.h" /* the op pack codec */
#include <limits.h>
#include <math.h>

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/kb_test_db_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *path(const char *name)
{
	static char p[4][128];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

/* The first column of sql's first row, through db's query helper. */
static int64_t db_int(kb_db *db, const char *sql)
{
	int64_t v = -1;
	kb_error err;
	assert_int_equal(kb_query_int_value(db, sql, -1, &v, &err), 0);
	return v;
}

static int64_t query_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void commit_renames_and_abort_leaves_nothing(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	assert_int_equal(kb_db_create(&db, path("a.db"), &err), 0);
	assert_int_equal(access(path("a.db"), F_OK), -1); /* only the temporary exists while writing */
	assert_int_equal(kb_db_meta(db, "bench", "x", &err), 0);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(access(path("a.db"), F_OK), 0);

	/* an aborted rewrite leaves the existing trace untouched and no temporary */
	write_file(path("b.db"), "precious");
	assert_int_equal(kb_db_create(&db, path("b.db"), &err), 0);
	kb_db_abort(db);
	char *text;
	assert_int_equal(kb_read_file(path("b.db"), &text, NULL, &err), 0);
	assert_string_equal(text, "precious");
	free(text);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	assert_int_equal(n, 0);
}

static void reader_refuses_foreign_and_newer_files(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	write_file(path("text.db"), "this is not sqlite at all, just some text that is long enough");
	assert_int_equal(kb_db_open(&db, path("text.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "text.db': not a kernbench trace (file is not a database)"));
	assert_int_equal(err.status, KB_E_INPUT);

	sqlite3 *h;
	assert_int_equal(sqlite3_open(path("other.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("other.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "other.db': not a kernbench trace (SQLite application_id 0x0)"));

	assert_int_equal(kb_db_create(&db, path("new.db"), &err), 0);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(sqlite3_open(path("new.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=8", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("new.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "new.db': schema version 8 is newer than this tool (7)"));

	assert_int_equal(kb_db_open(&db, path("missing.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "missing.db': no such file"));
	assert_int_equal(err.status, KB_E_NOT_FOUND);
	assert_string_equal(kb_strerror(err.status), "not found");
	assert_string_equal(kb_strerror(KB_E_DEADLOCK), "simulated deadlock");
	assert_string_equal(kb_strerror((kb_status)99), "unknown status");
}

/* A file's schema cannot run SQL inside a tool: foreign triggers, project
 * tables turned into views, redefined project views are refused; a user's
 * own view is allowed; a dropped pack trigger makes readers use the rows. */
static void reader_refuses_schemas_that_run_sql(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	static const struct { const char *sql, *want; } bad[] = {
		{"CREATE TRIGGER t1 AFTER INSERT ON timing_runs BEGIN DELETE FROM ops; END",
		 "trigger \"t1\" is not one of kernbench's"},
		{"DROP TRIGGER op_pack_stale_ops_UPDATE; CREATE TRIGGER op_pack_stale_ops_UPDATE AFTER UPDATE ON ops"
		 " BEGIN SELECT 1; END", "trigger \"op_pack_stale_ops_UPDATE\" is not one of kernbench's"},
		{"DROP TABLE shapes; CREATE VIEW shapes AS SELECT 1 AS id", "\"shapes\" is not the plain table"},
		{"DROP VIEW critical_path_v; CREATE VIEW critical_path_v AS SELECT 1",
		 "view critical_path_v differs from kernbench's definition"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0] + 2; i++) {
		assert_int_equal(kb_db_create(&db, path("s.db"), &err), 0);
		assert_int_equal(kb_db_commit(db, &err), 0);
		sqlite3 *h;
		assert_int_equal(sqlite3_open(path("s.db"), &h), SQLITE_OK);
		const char *sql = i < sizeof bad / sizeof bad[0] ? bad[i].sql
			: i == sizeof bad / sizeof bad[0] ? "CREATE VIEW my_view AS SELECT count(*) FROM ops"
							  : "DROP TRIGGER op_pack_stale_ops_DELETE";
		assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
		int rc = kb_db_open(&db, path("s.db"), false, &err);
		if (i < sizeof bad / sizeof bad[0]) {
			assert_int_equal(rc, -1);
			if (!strstr(err.msg, bad[i].want))
				fail_msg("%s", err.msg);
			continue;
		}
		assert_int_equal(rc, 0); /* a user's own view; a missing pack trigger */
		assert_int_equal(db->pack_trusted, i == sizeof bad / sizeof bad[0]);
		kb_db_close(db);
	}
}

static void ops_round_trip_through_the_batched_writer(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	assert_int_equal(kb_db_create(&db, path("ops.db"), &err), 0);
	int64_t shape = kb_db_shape(db, 2, (int64_t[]){64, 32}, &err);
	assert_int_equal(shape, 1);
	assert_int_equal(kb_db_shape(db, 2, (int64_t[]){64, 32}, &err), 1);
	assert_int_equal(kb_db_shape(db, 1, (int64_t[]){64}, &err), 2);
	int64_t square = kb_db_shape(db, 2, (int64_t[]){32, 32}, &err);
	assert_int_equal(square, 3);
	const int n = 40003; /* more than two writer batches, and a tail */
	for (int i = 0; i < n; i++) {
		kb_op op = {.launch = 0, .sip = 1, .cube = i % 16, .pe = i % 8, .seq = i / 128,
				.kind = (i % 2) ? KB_OP_DMA_READ : KB_OP_GEMM, .imm = (i % 3) ? 0.5 : 0,
				.bytes = 4096, .flops = (i % 2) ? 0 : 2 * 64 * 32 * 16};
		op.a = (kb_operand){1, 1, shape, UINT64_C(0x100000000) + (uint64_t)i * 64, (UINT64_C(1) << 37) + (uint64_t)i};
		op.dst = (kb_operand){2, 2, shape, 0, (uint64_t)i * 4096};
		if (op.kind == KB_OP_GEMM) /* (64x32) x (32x32) */
			op.b = (kb_operand){2, 1, square, 0, 4096};
		assert_int_equal(kb_db_op(db, &op, &err), i + 1);
	}
	assert_int_equal(kb_db_ops_count(db), n);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(kb_db_open(&db, path("ops.db"), false, &err), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM ops"), n);
	assert_int_equal(db_int(db, "SELECT sum(id = rowid) FROM ops"), n);
	assert_int_equal(db_int(db, "SELECT a_va FROM ops WHERE id = 40003"), 0x100000000 + 40002 * 64);
	assert_int_equal(db_int(db, "SELECT dst_pa FROM ops WHERE id = 20001"), 20000 * 4096);
	assert_int_equal(db_int(db, "SELECT cube * 100 + pe FROM ops WHERE id = 16385"), (16384 % 16) * 100 + 16384 % 8);
	assert_int_equal(db_int(db, "SELECT count(*) FROM ops WHERE imm = 0.5"), n - (n + 2) / 3);
	assert_int_equal(db_int(db, "SELECT count(*) FROM ops_v WHERE kind = 'gemm' AND shape = '64x32'"), (n + 1) / 2);
	assert_int_equal(db_int(db, "SELECT sum(flops) FROM ops"), (int64_t)((n + 1) / 2) * 65536);
	/* the op pack: a chunk per 8192 ids, the last one the rest */
	assert_int_equal(db_int(db, "SELECT count(*) FROM op_pack"), 5);
	assert_int_equal(db_int(db, "SELECT sum(n_ops) FROM op_pack"), n);
	assert_int_equal(db_int(db, "SELECT n_ops FROM op_pack WHERE first_op_id = 32769"), n - 32768);
	kb_db_close(db);
	/* an edit of the rows (here a no-op one) deletes the pack */
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path("ops.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE ops SET imm = imm WHERE id = 2", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(query_int(h, "SELECT count(*) FROM op_pack"), 0);
	sqlite3_close(h);
}

/* Decodes buf[0..n) as op 77 and checks it against what the ops row of op
 * would hold (no -0.0 in a REAL column; no va). */
static void assert_unpacks_to(const uint8_t *buf, size_t n, const kb_op *op)
{
	const uint8_t *p = buf;
	kb_op o;
	assert_int_equal(kb_op_pack_get(&p, buf + n, 77, &o), 0);
	assert_ptr_equal(p, buf + n);
	assert_int_equal(o.id, 77);
	assert_int_equal(o.launch, op->launch);
	assert_int_equal(o.sip, op->sip);
	assert_int_equal(o.cube, op->cube);
	assert_int_equal(o.pe, op->pe);
	assert_int_equal(o.seq, op->seq);
	assert_int_equal(o.kind, (int)op->kind);
	assert_int_equal(o.attr, op->attr);
	assert_memory_equal(&o.imm, &(double){op->imm == 0 ? 0.0 : op->imm}, sizeof o.imm);
	assert_int_equal(o.bytes, op->bytes);
	assert_int_equal(o.flops, op->flops);
	assert_int_equal(o.blob, op->blob);
	assert_int_equal(o.chan, op->chan);
	assert_int_equal(o.chan_seq, op->chan_seq);
	const kb_operand *in[4] = {&op->dst, &op->a, &op->b, &op->c};
	const kb_operand *out[4] = {&o.dst, &o.a, &o.b, &o.c};
	for (int k = 0; k < 4; k++) {
		assert_int_equal(out[k]->space, in[k]->space);
		assert_int_equal(out[k]->dtype, in[k]->dtype);
		assert_int_equal(out[k]->shape, in[k]->shape);
		assert_int_equal(out[k]->pa, in[k]->pa);
		assert_int_equal(out[k]->va, 0); /* not packed: no tool reads it */
	}
}

static void op_pack_round_trip_and_bounds(void **state)
{
	(void)state;
	kb_op ops[4] = {{0}};
	ops[1] = (kb_op){.launch = 3, .sip = 1, .cube = 2, .pe = 7, .seq = 1234, .kind = KB_OP_GEMM, .attr = 4,
			     .imm = -0.0, .bytes = 4096, .flops = 131072};
	ops[1].dst = (kb_operand){2, 1, 3, 0x1000, UINT64_C(1) << 40};
	ops[1].a = (kb_operand){1, 1, 2, 0, 64};
	ops[1].c = (kb_operand){0, 2, 5, 0, 99}; /* no space, yet there: any field not 0 keeps an operand */
	ops[2] = (kb_op){.launch = INT64_MIN, .sip = INT_MIN, .cube = INT_MAX, .pe = -1, .seq = INT64_MAX,
			     .kind = (kb_op_kind)INT_MAX, .attr = -1, .imm = -1.5e308, .bytes = INT64_MAX,
			     .flops = INT64_MIN, .blob = -9, .chan = INT64_MAX, .chan_seq = INT64_MIN};
	kb_operand big = {INT_MIN, INT_MAX, INT64_MIN, 0, UINT64_MAX};
	ops[2].dst = ops[2].a = ops[2].b = ops[2].c = big;
	ops[3] = (kb_op){.kind = KB_OP_HOST_WRITE, .imm = 0.25, .chan_seq = 5, .blob = 1};
	ops[3].c = (kb_operand){3, 0, 0, 0, 0};
	uint8_t buf[KB_OP_PACK_MAX];
	size_t sizes[4];
	for (int i = 0; i < 4; i++) {
		size_t n = sizes[i] = kb_op_pack_put(buf, &ops[i]);
		assert_in_range(n, 7, KB_OP_PACK_MAX);
		assert_unpacks_to(buf, n, &ops[i]);
		for (size_t cut = 0; cut < n; cut++) { /* every shorter chunk end: an error, no read past it */
			const uint8_t *p = buf;
			kb_op o;
			assert_int_equal(kb_op_pack_get(&p, buf + cut, 77, &o), -1);
		}
	}
	assert_int_equal(sizes[0], 7); /* kind, mask and five zero fields */
	assert_true(sizes[2] > 200);   /* every field at its widest */
	/* a varint longer than 64 bits, and a mask with unknown bits */
	uint8_t bad[16];
	memset(bad, 0xff, sizeof bad);
	const uint8_t *p = bad;
	kb_op o;
	assert_int_equal(kb_op_pack_get(&p, bad + sizeof bad, 1, &o), -1);
	const uint8_t mask[] = {1, 0x80, 0x08, 0, 0, 0, 0, 0};
	p = mask;
	assert_int_equal(kb_op_pack_get(&p, mask + sizeof mask, 1, &o), -1);
}

static void strings_are_interned(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	assert_int_equal(kb_db_create(&db, path("s.db"), &err), 0);
	assert_int_equal(kb_db_string(db, "alpha", &err), 1);
	assert_int_equal(kb_db_string(db, "beta", &err), 2);
	assert_int_equal(kb_db_string(db, "alpha", &err), 1);
	kb_op launch = {.sip = 0, .cube = -1, .pe = -1, .kind = KB_OP_LAUNCH, .attr = 8};
	assert_int_equal(kb_db_op(db, &launch, &err), 1);
	assert_int_equal(kb_db_launch(db, 0, "beta", 1, 8, "M=i64:4", &err), 1);
	assert_int_equal(kb_db_launch_end(db, 1, 2, 2, &err), 0);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(kb_db_open(&db, path("s.db"), false, &err), 0);
	assert_int_equal(db_int(db, "SELECT count(*) FROM strings"), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM launches_v WHERE kernel = 'beta' AND n_pes = 8"), 1);
	kb_db_close(db);
}

/* Queries by parameter and column name, one value, and a second trace
 * attached to the first. */
static void queries_read_columns_by_name(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	for (int k = 0; k < 2; k++) {
		assert_int_equal(kb_db_create(&db, path(k ? "q2.db" : "q1.db"), &err), 0);
		for (int i = 0; i < 3 + k; i++) {
			kb_op op = {.sip = 0, .cube = -1, .pe = -1, .kind = KB_OP_HOST_FILL, .bytes = 100 * (i + 1),
				    .imm = 0.5 * i};
			assert_int_equal(kb_db_op(db, &op, &err), i + 1);
		}
		assert_int_equal(kb_db_meta(db, "bench", k ? "two" : "one", &err), 0);
		assert_int_equal(kb_db_commit(db, &err), 0);
	}
	assert_int_equal(kb_db_open(&db, path("q1.db"), false, &err), 0);
	kb_query *q;
	assert_int_equal(kb_query_open(db, "SELECT imm AS scale, id, bytes, NULL AS missing, 'f' || id AS name FROM ops"
				       " WHERE bytes >= :least ORDER BY id", &q, &err), 0);
	assert_true(kb_query_has_param(q, ":least"));
	assert_false(kb_query_has_param(q, ":most"));
	kb_query_bind_int(q, ":least", 200);
	assert_int_equal(kb_query_n_cols(q), 5);
	assert_string_equal(kb_query_col_name(q, kb_query_col(q, "bytes")), "bytes");
	assert_int_equal(kb_query_step(q, &err), 1);
	assert_int_equal(kb_query_int(q, "id"), 2);
	assert_int_equal(kb_query_int(q, "bytes"), 200);
	assert_true(kb_query_double(q, "scale") == 0.5);
	assert_string_equal(kb_query_text(q, "name"), "f2");
	assert_true(kb_query_is_null(q, "missing"));
	assert_string_equal(kb_query_text(q, "missing"), "");
	assert_int_equal(kb_query_type_at(q, kb_query_col(q, "scale")), KB_VALUE_FLOAT);
	assert_int_equal(kb_query_step(q, &err), 1);
	assert_int_equal(kb_query_int(q, "id"), 3);
	assert_int_equal(kb_query_step(q, &err), 0);
	kb_query_reset(q); /* the binding stays */
	assert_int_equal(kb_query_step(q, &err), 1);
	assert_int_equal(kb_query_int(q, "id"), 2);
	kb_query_close(q);
	int64_t v = 0;
	assert_int_equal(kb_query_int_value(db, "SELECT sum(bytes) FROM ops", -1, &v, &err), 0);
	assert_int_equal(v, 600);
	assert_int_equal(kb_query_int_value(db, "SELECT id FROM ops WHERE id > 99", -7, &v, &err), 0);
	assert_int_equal(v, -7);
	assert_int_equal(kb_query_int_value(db, "SELECT nope FROM ops", 0, &v, &err), -1);
	assert_int_equal(err.status, KB_E_DB);
	assert_non_null(strstr(err.msg, "no such column: nope"));
	/* the aggregates every connection has */
	assert_int_equal(kb_query_open(db, "SELECT kb_median(bytes) AS m, kb_stddev(bytes) AS s FROM ops", &q, &err), 0);
	assert_int_equal(kb_query_step(q, &err), 1);
	assert_true(kb_query_double(q, "m") == 200);
	assert_true(fabs(kb_query_double(q, "s") - 100) < 1e-9);
	kb_query_close(q);
	/* the other trace, attached */
	assert_int_equal(kb_db_attach(db, path("q2.db"), "b", &err), 0);
	assert_int_equal(kb_query_open(db, "SELECT (SELECT count(*) FROM main.ops) AS a, (SELECT count(*) FROM b.ops) AS b,"
				       " (SELECT value FROM b.meta WHERE key = 'bench') AS bench", &q, &err), 0);
	assert_int_equal(kb_query_step(q, &err), 1);
	assert_int_equal(kb_query_int(q, "a"), 3);
	assert_int_equal(kb_query_int(q, "b"), 4);
	assert_string_equal(kb_query_text(q, "bench"), "two");
	kb_query_close(q);
	kb_db_detach(db, "b");
	assert_int_equal(kb_query_int_value(db, "SELECT count(*) FROM b.ops", 0, &v, &err), -1);
	assert_int_equal(kb_db_attach(db, path("missing-dir/x.db"), "b", &err), -1);
	assert_int_equal(err.status, KB_E_DB);
	kb_db_close(db);
}

static void blobs_round_trip_dedupe_and_detect_corruption(void **state)
{
	(void)state;
	kb_db *db;
	kb_error err;
	uint16_t data[4096];
	for (int i = 0; i < 4096; i++)
		data[i] = (uint16_t)(0x3C00 + (i % 97));
	assert_int_equal(kb_db_create(&db, path("b.db"), &err), 0);
	int64_t a = kb_db_blob(db, "host_data", 1, 2, data, sizeof data, &err);
	int64_t b = kb_db_blob(db, "host_data", 1, 2, data, sizeof data, &err);
	assert_int_equal(a, 1);
	assert_int_equal(b, 1); /* identical contents share one row */
	assert_int_equal(kb_db_commit(db, &err), 0);

	assert_int_equal(kb_db_open(&db, path("b.db"), false, &err), 0);
	void *back;
	size_t n;
	int dtype;
	assert_int_equal(kb_db_blob_get(db, 1, &back, &n, &dtype, &err), 0);
	assert_int_equal(n, sizeof data);
	assert_int_equal(dtype, 1);
	assert_memory_equal(back, data, sizeof data);
	free(back);
	int64_t packed = db_int(db, "SELECT length(data) FROM blobs WHERE id = 1");
	assert_true(packed < (int64_t)sizeof data / 8); /* byte planes make this compress well */
	kb_db_close(db);

	/* flip one byte inside the compressed data */
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path("b.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE blobs SET data = substr(data, 1, 20) || x'5A' || substr(data, 22)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("b.db"), false, &err), 0);
	assert_int_equal(kb_db_blob_get(db, 1, &back, &n, &dtype, &err), -1);
	assert_non_null(strstr(err.msg, "blob 1 is corrupt"));
	kb_db_close(db);
}

/* The blob checksum is stored: its values are pinned, and a change of any
 * one byte or of the length changes it. Older traces' blobs (codec
 * "byteplane+zstd", FNV-1a) still read; an unknown codec is refused. */
static void blob_checksums_old_and_new(void **state)
{
	(void)state;
	assert_int_equal(kb_hash64_lanes("kernbench", 9), (int64_t)UINT64_C(0x3fe2da6d73af1e26));
	assert_int_equal(kb_hash64_lanes("", 0), (int64_t)UINT64_C(0xca6e313f06ee3d42));
	assert_int_equal(kb_hash64_lanes("0123456789abcdef0123456789abcdef0123456789", 42),
			 (int64_t)UINT64_C(0xefabf95fbba362c9));
	unsigned char buf[101] = {0};
	uint64_t h0 = kb_hash64_lanes(buf, 100);
	assert_true(kb_hash64_lanes(buf, 101) != h0); /* a trailing zero counts */
	for (int i = 0; i < 100; i++) {
		buf[i] = 1;
		assert_true(kb_hash64_lanes(buf, 100) != h0);
		buf[i] = 0;
	}
	float data[1000];
	for (int i = 0; i < 1000; i++)
		data[i] = (float)i * 0.5f;
	kb_db *db;
	kb_error err;
	assert_int_equal(kb_db_create(&db, path("c.db"), &err), 0);
	assert_int_equal(kb_db_blob(db, "host_data", 2, 4, data, sizeof data, &err), 1);
	assert_int_equal(kb_db_commit(db, &err), 0);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path("c.db"), &h), SQLITE_OK);
	assert_int_equal(query_int(h, "SELECT count(*) FROM blobs WHERE codec = 'byteplane+zstd;sum=lanes64'"), 1);
	assert_int_equal(query_int(h, "SELECT checksum FROM blobs"), (int64_t)kb_hash64_lanes(data, sizeof data));
	/* as an older trace wrote it */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, "UPDATE blobs SET codec = 'byteplane+zstd', checksum = ?", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, (int64_t)kb_hash64(data, sizeof data));
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
	void *back;
	size_t n;
	assert_int_equal(kb_db_open(&db, path("c.db"), false, &err), 0);
	assert_int_equal(kb_db_blob_get(db, 1, &back, &n, NULL, &err), 0);
	assert_memory_equal(back, data, sizeof data);
	free(back);
	kb_db_close(db);
	assert_int_equal(sqlite3_open(path("c.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE blobs SET codec = 'lz4'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("c.db"), false, &err), 0);
	assert_int_equal(kb_db_blob_get(db, 1, &back, &n, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "blob 1 has codec 'lz4', not one this tool reads"));
	kb_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_renames_and_abort_leaves_nothing),
		cmocka_unit_test(reader_refuses_foreign_and_newer_files),
		cmocka_unit_test(reader_refuses_schemas_that_run_sql),
		cmocka_unit_test(ops_round_trip_through_the_batched_writer),
		cmocka_unit_test(op_pack_round_trip_and_bounds),
		cmocka_unit_test(strings_are_interned),
		cmocka_unit_test(queries_read_columns_by_name),
		cmocka_unit_test(blobs_round_trip_dedupe_and_detect_corruption),
		cmocka_unit_test(blob_checksums_old_and_new),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
