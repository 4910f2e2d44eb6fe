/*
 * test_db.c — the trace database: atomic writes, version and foreign-file
 * checks, op rows through the batched writer, interning, blobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

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

	sqlite3 *h;
	assert_int_equal(sqlite3_open(path("other.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("other.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "other.db': not a kernbench trace (SQLite application_id 0x0)"));

	assert_int_equal(kb_db_create(&db, path("new.db"), &err), 0);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(sqlite3_open(path("new.db"), &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(kb_db_open(&db, path("new.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "new.db': schema version 7 is newer than this tool (3)"));

	assert_int_equal(kb_db_open(&db, path("missing.db"), false, &err), -1);
	assert_non_null(strstr(err.msg, "missing.db': no such file"));
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
		kb_op_row op = {.launch = 0, .sip = 1, .cube = i % 16, .pe = i % 8, .seq = i / 128,
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
	sqlite3 *h = kb_db_handle(db);
	assert_int_equal(query_int(h, "SELECT count(*) FROM ops"), n);
	assert_int_equal(query_int(h, "SELECT sum(id = rowid) FROM ops"), n);
	assert_int_equal(query_int(h, "SELECT a_va FROM ops WHERE id = 40003"), 0x100000000 + 40002 * 64);
	assert_int_equal(query_int(h, "SELECT dst_pa FROM ops WHERE id = 20001"), 20000 * 4096);
	assert_int_equal(query_int(h, "SELECT cube * 100 + pe FROM ops WHERE id = 16385"), (16384 % 16) * 100 + 16384 % 8);
	assert_int_equal(query_int(h, "SELECT count(*) FROM ops WHERE imm = 0.5"), n - (n + 2) / 3);
	assert_int_equal(query_int(h, "SELECT count(*) FROM ops_v WHERE kind = 'gemm' AND shape = '64x32'"), (n + 1) / 2);
	assert_int_equal(query_int(h, "SELECT sum(flops) FROM ops"), (int64_t)((n + 1) / 2) * 65536);
	kb_db_close(db);
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
	kb_op_row launch = {.sip = 0, .cube = -1, .pe = -1, .kind = KB_OP_LAUNCH, .attr = 8};
	assert_int_equal(kb_db_op(db, &launch, &err), 1);
	assert_int_equal(kb_db_launch(db, 0, "beta", 1, 8, "M=i64:4", &err), 1);
	assert_int_equal(kb_db_launch_end(db, 1, 2, 2, &err), 0);
	assert_int_equal(kb_db_commit(db, &err), 0);
	assert_int_equal(kb_db_open(&db, path("s.db"), false, &err), 0);
	assert_int_equal(query_int(kb_db_handle(db), "SELECT count(*) FROM strings"), 2);
	assert_int_equal(query_int(kb_db_handle(db), "SELECT count(*) FROM launches_v WHERE kernel = 'beta' AND n_pes = 8"), 1);
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
	int64_t packed = query_int(kb_db_handle(db), "SELECT length(data) FROM blobs WHERE id = 1");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_renames_and_abort_leaves_nothing),
		cmocka_unit_test(reader_refuses_foreign_and_newer_files),
		cmocka_unit_test(ops_round_trip_through_the_batched_writer),
		cmocka_unit_test(strings_are_interned),
		cmocka_unit_test(blobs_round_trip_dedupe_and_detect_corruption),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
