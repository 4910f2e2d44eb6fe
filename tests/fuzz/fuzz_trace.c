/*
 * fuzz_trace.c — libFuzzer harness for the trace readers: a small real
 * trace (a tiled GEMM, or a 4-rank ring all-reduce with IPCQ) is damaged by
 * the input — each 12 bytes set one column of one row of a table to a
 * small or a wild integer (the op pack too: a table byte >= 0xF0) — then
 * opened, timed and replayed. Every input
 * must end in a timing run, a replay report or one error line: never a
 * crash, a hang or an unbounded allocation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli.h"
#include "kb.h"
#include "replay.h"
#include "timing.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

/* The tables a damaged trace can be damaged in, and the column that picks
 * a row (rowid, or the key of a WITHOUT ROWID table). */
static const struct {
	const char *table, *key;
} tables[] = {
	{"shapes", "rowid"}, {"ops", "rowid"}, {"launches", "rowid"}, {"tensors", "rowid"}, {"shards", "rowid"},
	{"ranges", "rowid"}, {"expectations", "rowid"}, {"blobs", "rowid"}, {"channels", "rowid"},
	{"collectives", "rowid"}, {"op_times", "op_id"}, {"op_operands", "op_id"}, {"launch_times", "launch_id"},
	{"op_pack", "rowid"}, /* last: picked by a table byte >= 0xF0 (the older inputs keep their tables) */
};
#define N_TABLES (int)(sizeof tables / sizeof tables[0])
#define MAX_COLS 32

static char cols[N_TABLES][MAX_COLS][32];
static int n_cols[N_TABLES];
static unsigned char *base[2];
static size_t base_n[2];
static char work[256];

static void make_base(int which, const char *path)
{
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	kb_error err;
	if (kb_topo_load(&topo, NULL, &err) || kb_ccl_load(&ccl, NULL, &err))
		abort();
	const char *gemm[] = {"M=64", "K=128", "N=64", "TM=32", "TN=32", "TK=64"};
	const char *ring[] = {"n_elem=16"};
	if (which == 1 && (kb_ccl_set(&ccl, "defaults.algorithm", "ring_allreduce_tcm", &err) ||
			   kb_ccl_set(&ccl, "algorithms.ring_allreduce_tcm.world_size", "4", &err)))
		abort();
	kb_trace_request req = {kb_bench_find(which ? "ccl_allreduce" : "gemm"), &topo, &ccl, path,
				which ? ring : gemm, which ? 1 : 6, NULL, NULL};
	unlink(path);
	if (kb_trace_bench(&req, NULL, &err)) {
		fprintf(stderr, "fuzz_trace: base trace: %s\n", err.msg);
		abort();
	}
	kb_topo_release(&topo);
	kb_ccl_release(&ccl);
	kb_db *db;
	kb_machine m;
	kb_time_result res;
	kb_time_options opt = {"base", false, "fuzz", "", NULL};
	if (kb_db_open(&db, path, true, &err) || kb_cli_trace_topology(db, &topo, &err) ||
	    kb_machine_init(&m, &topo, &err) || kb_time_trace(db, &m, &opt, &res, &err)) {
		fprintf(stderr, "fuzz_trace: base timing: %s\n", err.msg);
		abort();
	}
	kb_topo_release(&topo);
	kb_db_close(db);
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	base_n[which] = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	base[which] = malloc(base_n[which]);
	if (fread(base[which], 1, base_n[which], f) != base_n[which])
		abort();
	fclose(f);
	if (which == 1) { /* column names, from the richer trace */
		sqlite3 *h;
		sqlite3_open(path, &h);
		for (int t = 0; t < N_TABLES; t++) {
			char sql[128];
			snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", tables[t].table);
			sqlite3_stmt *st;
			sqlite3_prepare_v2(h, sql, -1, &st, NULL);
			while (sqlite3_step(st) == SQLITE_ROW && n_cols[t] < MAX_COLS)
				snprintf(cols[t][n_cols[t]++], sizeof cols[t][0], "%s", sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
		}
		sqlite3_close(h);
	}
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(work, sizeof work, "%s/kb_fuzz_trace_%d.db", tmp, (int)getpid());
	make_base(0, work);
	make_base(1, work);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n < 1 || n > 12 * 32)
		return 0;
	int which = data[0] & 1;
	FILE *f = fopen(work, "wb");
	if (!f || fwrite(base[which], 1, base_n[which], f) != base_n[which])
		abort();
	fclose(f);
	/* the damage */
	sqlite3 *h;
	if (sqlite3_open(work, &h) != SQLITE_OK)
		abort();
	for (size_t at = 1; at + 12 <= n; at += 12) {
		const uint8_t *d = data + at;
		int t = d[0] >= 0xF0 ? N_TABLES - 1 : d[0] % (N_TABLES - 1);
		if (!n_cols[t])
			continue;
		int64_t row = t == N_TABLES - 1 ? 1 : d[1] | d[2] << 8; /* a small trace's pack: one chunk, at op 1 */
		const char *col = cols[t][d[3] % n_cols[t]];
		int64_t v;
		if (d[4] & 0x80) {
			v = (int8_t)d[5]; /* small values hit the interesting edges */
		} else {
			uint64_t u = 0;
			for (int k = 5; k < 12; k++)
				u = u << 8 | d[k];
			v = (int64_t)(u << 8) >> ((d[4] & 7) * 8); /* wide, sign-extended */
		}
		char sql[256];
		snprintf(sql, sizeof sql, "UPDATE OR IGNORE %s SET \"%s\" = %lld WHERE %s = %lld", tables[t].table, col,
			 (long long)v, tables[t].key, (long long)row);
		sqlite3_exec(h, sql, NULL, NULL, NULL);
	}
	sqlite3_close(h);
	/* the readers */
	kb_db *db;
	kb_error err;
	kb_topo_cfg topo;
	kb_machine m;
	if (kb_db_open(&db, work, true, &err) == 0) {
		if (kb_cli_trace_topology(db, &topo, &err) == 0) {
			if (kb_machine_init(&m, &topo, &err) == 0) {
				kb_replay_options ro = {.order = KB_ORDER_TIME, .max_problems = 5,
							.max_bytes = UINT64_C(1) << 30, /* 1 GiB */
							.sample = data[0] & 2 ? 2 : 0}; /* and the sliced replay */
				kb_replay_report rep;
				kb_replay(db, &m, &ro, &rep, &err);
				kb_replay_report_release(&rep);
				ro.order = KB_ORDER_DATAFLOW;
				kb_replay(db, &m, &ro, &rep, &err);
				kb_replay_report_release(&rep);
				kb_time_options opt = {"fuzz", true, "fuzz", "", NULL};
				kb_time_result res;
				kb_time_trace(db, &m, &opt, &res, &err);
				free(res.diagnostics);
			}
			kb_topo_release(&topo);
		}
		kb_db_close(db);
	}
	unlink(work);
	return 0;
}
