/*
 * test_replay.c — replay numerics against hand-computed values, the
 * benches end to end, causality and uninitialised-read detection, corrupt
 * data and wrong expectations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>

#include "cli.h"
#include "helpers.h"
#include "replay.h"
#include "replay_int.h" /* the sparse memory, tested directly */
#include "timing.h"

/* Replays path; returns 0 or -1 (bad input, message in err). */
static int replay(kb_replay_order order, kb_replay_report *rep, kb_error *err)
{
	kb_db *db;
	kb_topo_cfg cfg;
	kb_machine m;
	assert_int_equal(kb_db_open(&db, th_path(), false, err), 0);
	assert_int_equal(kb_cli_trace_topology(db, &cfg, err), 0);
	assert_int_equal(kb_machine_init(&m, &cfg, err), 0);
	kb_replay_options opt = {.order = order, .max_problems = 20};
	int rc = kb_replay(db, &m, &opt, rep, err);
	kb_topo_release(&cfg);
	kb_db_close(db);
	return rc;
}

static void sql(const char *stmt)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(th_path(), &h), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(h, stmt, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", stmt, msg);
	sqlite3_close(h);
}

/* ---- one op at a time, against hand-computed values ---- */

static const float X[8] = {1, 2, 3, 4, -1, -2, 0.5f, 8}; /* (2,4) */
static const float V[4] = {10, 20, 30, 40};               /* (1,4) */
static const float C[2] = {1, 2};                         /* (2,1) */

typedef struct op_case {
	const char *name;
	int64_t rows, cols;
	kb_dtype out_dtype;
	float want[16];
} op_case;

static op_case cases[] = {
	{"add row broadcast", 2, 4, KB_F32, {11, 22, 33, 44, 9, 18, 30.5f, 48}},
	{"sub column broadcast", 2, 4, KB_F32, {0, 1, 2, 3, -3, -4, -1.5f, 6}},
	{"mul", 2, 4, KB_F32, {1, 4, 9, 16, 1, 4, 0.25f, 64}},
	{"div", 2, 4, KB_F32, {0.1f, 0.1f, 0.1f, 0.1f, -0.1f, -0.1f, 0.5f / 30, 0.2f}},
	{"maximum", 2, 4, KB_F32, {1, 2, 3, 4, 2, 2, 2, 8}},
	{"minimum", 2, 4, KB_F32, {1, 1, 1, 1, -1, -2, 0.5f, 2}},
	{"fma", 2, 4, KB_F32, {11, 24, 39, 56, 11, 24, 30.25f, 104}},
	{"clamp", 2, 4, KB_F32, {1, 2, 3, 4, 2, 2, 2, 8}},
	{"abs", 2, 4, KB_F32, {1, 2, 3, 4, 1, 2, 0.5f, 8}},
	{"neg", 2, 4, KB_F32, {-1, -2, -3, -4, 1, 2, -0.5f, -8}},
	{"exp", 2, 4, KB_F32, {0}},     /* filled from expf in setup */
	{"log abs", 2, 4, KB_F32, {0}},
	{"sqrt abs", 2, 4, KB_F32, {0}},
	{"max axis 1", 2, 1, KB_F32, {4, 8}},
	{"sum axis 0", 1, 4, KB_F32, {0, 0, 3.5f, 12}},
	{"softmax axis 1", 2, 4, KB_F32, {0}},
	{"trans", 4, 2, KB_F32, {1, -1, 2, -2, 3, 0.5f, 4, 8}},
	{"dot x.xT", 2, 2, KB_F32, {30, 28.5f, 28.5f, 69.25f}},
	{"dot_acc 1 + x.xT", 2, 2, KB_F32, {31, 29.5f, 29.5f, 70.25f}},
	{"dot xT.x (4x4)", 4, 4, KB_F32, {2, 4, 2.5f, -4, 4, 8, 5, -8, 2.5f, 5, 9.25f, 16, -4, -8, 16, 80}},
	{"cast to f16", 2, 4, KB_F16, {1, 2, 3, 4, -1, -2, 0.5f, 8}},
	{"add_scalar", 2, 4, KB_F32, {1.5f, 2.5f, 3.5f, 4.5f, -0.5f, -1.5f, 1, 8.5f}},
	{"mul_scalar", 2, 4, KB_F32, {-2, -4, -6, -8, 2, 4, -1, -16}},
	{"full", 2, 4, KB_F32, {7, 7, 7, 7, 7, 7, 7, 7}},
	{"view (4,2)", 4, 2, KB_F32, {1, 2, 3, 4, -1, -2, 0.5f, 8}},
	{"div f16 rounds once", 2, 4, KB_F16, {0}},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static int current_case;

static void op_kernel(kb_tl *tl)
{
	kb_tile *x = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(2, 4), KB_F32);
	kb_tile *v = tl_load(tl, tl_arg_ptr(tl, "v"), KB_SHAPE(1, 4), KB_F32);
	kb_tile *c = tl_load(tl, tl_arg_ptr(tl, "c"), KB_SHAPE(2, 1), KB_F32);
	kb_tile *r = NULL;
	switch (current_case) {
	case 0: r = tl_add(tl, x, v); break;
	case 1: r = tl_sub(tl, x, c); break;
	case 2: r = tl_mul(tl, x, x); break;
	case 3: r = tl_div(tl, x, v); break;
	case 4: r = tl_maximum(tl, x, c); break;
	case 5: r = tl_minimum(tl, x, c); break;
	case 6: r = tl_fma(tl, x, x, v); break;
	case 7: r = tl_clamp(tl, x, c, v); break;
	case 8: r = tl_abs(tl, x); break;
	case 9: r = tl_neg(tl, x); break;
	case 10: r = tl_exp(tl, x); break;
	case 11: r = tl_log(tl, tl_abs(tl, x)); break;
	case 12: r = tl_sqrt(tl, tl_abs(tl, x)); break;
	case 13: r = tl_max(tl, x, -1); break;
	case 14: r = tl_sum(tl, x, 0); break;
	case 15: r = tl_softmax(tl, x, 1); break;
	case 16: r = tl_trans(tl, x); break;
	case 17: r = tl_dot(tl, x, x, TL_TRANS_B); break;
	case 18:
		r = tl_full(tl, KB_SHAPE(2, 2), KB_F32, 1.0);
		tl_dot_acc(tl, r, x, x, TL_TRANS_B);
		break;
	case 19: r = tl_dot(tl, x, x, TL_TRANS_A); break;
	case 20: r = tl_cast(tl, x, KB_F16); break;
	case 21: r = tl_add_scalar(tl, x, 0.5); break;
	case 22: r = tl_mul_scalar(tl, x, -2.0); break;
	case 23: r = tl_full(tl, KB_SHAPE(2, 4), KB_F32, 7.0); break;
	case 24: r = tl_view(tl, x, KB_SHAPE(4, 2)); break;
	case 25: r = tl_div(tl, tl_cast(tl, x, KB_F16), tl_cast(tl, v, KB_F16)); break;
	}
	tl_store(tl, tl_arg_ptr(tl, "out"), r);
}

static void op_bench(kb_ctx *ctx)
{
	const op_case *oc = &cases[current_case];
	kb_dp one = KB_DP(.num_cubes = 1, .num_pes = 1);
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(2, 4), KB_F32, one);
	kb_tensor *v = kb_empty(ctx, "v", KB_SHAPE(1, 4), KB_F32, one);
	kb_tensor *c = kb_empty(ctx, "c", KB_SHAPE(2, 1), KB_F32, one);
	kb_tensor *out = kb_empty(ctx, "out", KB_SHAPE(oc->rows, oc->cols), oc->out_dtype, one);
	kb_copy_from_host(ctx, x, X);
	kb_copy_from_host(ctx, v, V);
	kb_copy_from_host(ctx, c, C);
	KB_LAUNCH(ctx, "op", op_kernel, KB_TENSOR("x", x), KB_TENSOR("v", v), KB_TENSOR("c", c), KB_TENSOR("out", out));
	kb_expect(ctx, out, oc->want, 0, 1e-6);
}

static const kb_bench ops_bench = {"ops", "one op", op_bench, {{NULL, 0, NULL}}};

static void fill_transcendental_cases(void)
{
	for (int i = 0; i < 8; i++) {
		cases[10].want[i] = expf(X[i]);
		cases[11].want[i] = logf(fabsf(X[i]));
		cases[12].want[i] = sqrtf(fabsf(X[i]));
		cases[25].want[i] = kb_dtype_round(KB_F16, kb_dtype_round(KB_F16, X[i]) / kb_dtype_round(KB_F16, V[i % 4]));
	}
	for (int r = 0; r < 2; r++) { /* softmax by hand: exp(x - max) / sum */
		float m = -INFINITY, sum = 0;
		for (int k = 0; k < 4; k++)
			m = fmaxf(m, X[r * 4 + k]);
		for (int k = 0; k < 4; k++)
			sum += expf(X[r * 4 + k] - m);
		for (int k = 0; k < 4; k++)
			cases[15].want[r * 4 + k] = expf(X[r * 4 + k] - m) / sum;
	}
}

static void every_op_matches_hand_computed_values(void **state)
{
	(void)state;
	fill_transcendental_cases();
	for (current_case = 0; current_case < N_CASES; current_case++) {
		th_trace_ok(&ops_bench, 0, NULL);
		th_time(NULL, 0, NULL);
		for (int order = 0; order < 2; order++) {
			kb_replay_report rep;
			kb_error err;
			assert_int_equal(replay((kb_replay_order)order, &rep, &err), 0);
			if (!kb_replay_passed(&rep))
				fail_msg("%s (%s order): %s max abs %g, %lld mismatches, first [%lld,%lld] got %g want %g; %s",
					 cases[current_case].name, order ? "dataflow" : "time", rep.expects[0].problem,
					 rep.expects[0].max_abs, (long long)rep.expects[0].mismatches,
					 (long long)rep.expects[0].row, (long long)rep.expects[0].col, rep.expects[0].got,
					 rep.expects[0].want, rep.n_kept ? rep.problems[0] : "");
			assert_true(rep.expects[0].max_abs <= 1e-6);
			assert_int_equal(rep.expects[0].checked, cases[current_case].rows * cases[current_case].cols);
			kb_replay_report_release(&rep);
		}
	}
}

/* ---- benches end to end ---- */

static void benches_verify_after_timing(void **state)
{
	(void)state;
	const char *big_gemm[] = {"M=512", "K=768", "N=384", "TM=128", "TN=128", "TK=256"};
	struct { const char *name; int n; const char *const *params; int expects; } runs[] = {
		{"gemm", 0, NULL, 1}, {"gemm", 6, big_gemm, 1}, {"va_offset_verify", 0, NULL, 2}, {"gpt3_qkv", 0, NULL, 3},
	};
	for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
		th_trace_ok(kb_bench_find(runs[k].name), runs[k].n, runs[k].params);
		th_time(NULL, 0, NULL);
		kb_replay_report rep;
		kb_error err;
		assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), 0);
		if (!kb_replay_passed(&rep))
			fail_msg("%s: %d failed, %lld problems: %s", runs[k].name, rep.n_failed, (long long)rep.n_problems,
				 rep.n_kept ? rep.problems[0] : rep.expects[0].problem);
		assert_int_equal(rep.n_expects, runs[k].expects);
		assert_string_equal(rep.run, "run1");
		kb_replay_report_release(&rep);
	}
}

/* ---- causality ---- */

static void a_read_moved_before_its_write_is_named_and_dataflow_still_passes(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL); /* ops: 7, 8 loads; 9 gemm; 10 cast; 11 store */
	th_time(NULL, 0, NULL);
	/* move the store of C to start with the GEMM, before the cast wrote its input */
	sql("UPDATE op_times SET t_start_ps = (SELECT t_start_ps FROM op_times WHERE op_id = 9) WHERE op_id = 11");
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_int_equal(rep.n_problems, 1);
	assert_string_equal(rep.problems[0], "op 11 (dma_write on sip0.cube0.pe0) read its input before op 10 "
					     "(math:cast on sip0.cube0.pe0) wrote it (timing broke causality)");
	assert_false(rep.expects[0].pass); /* C holds A's tile */
	assert_true(rep.expects[0].mismatches > 0);
	kb_replay_report_release(&rep);
	assert_int_equal(replay(KB_ORDER_DATAFLOW, &rep, &err), 0);
	assert_true(kb_replay_passed(&rep));
	kb_replay_report_release(&rep);
	/* a write moved before a read of the same bytes is named too */
	th_time(NULL, 0, NULL);
	sql("UPDATE op_times SET t_start_ps = 0, t_end_ps = 1 WHERE run_id = 2 AND op_id = 10"); /* cast overwrites A's tile */
	assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_non_null(strstr(rep.problems[0], "op 10 (math:cast on sip0.cube0.pe0)"));
	kb_replay_report_release(&rep);
}

/* ---- uninitialised reads, corrupt data, wrong expectations ---- */

static void read_empty(kb_tl *tl)
{
	tl_store(tl, tl_arg_ptr(tl, "y"), tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F16));
}

static void uninit_bench(kb_ctx *ctx)
{
	kb_dp one = KB_DP(.num_cubes = 1, .num_pes = 1);
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(4, 8), KB_F16, one);
	kb_tensor *y = kb_empty(ctx, "y", KB_SHAPE(4, 8), KB_F16, one);
	KB_LAUNCH(ctx, "k", read_empty, KB_TENSOR("x", x), KB_TENSOR("y", y));
	float zeros[32] = {0};
	kb_expect(ctx, y, zeros, 0, 0);
}

static const kb_bench uninit = {"u", "reads an empty tensor", uninit_bench, {{NULL, 0, NULL}}};

static void reading_unwritten_memory_is_reported(void **state)
{
	(void)state;
	th_trace_ok(&uninit, 0, NULL);
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_DATAFLOW, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_string_equal(rep.problems[0], "op 4 (dma_read on sip0.cube0.pe0) reads 64 bytes nothing wrote, from "
					     "sip0.cube0.pe0.hbm+0x0");
	kb_replay_report_release(&rep);
	/* without a timing run, time order is refused with a hint */
	assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), -1);
	assert_non_null(strstr(err.msg, "no timing run (run kb-time first, or replay with --order dataflow)"));
}

static void a_corrupt_input_is_reported_as_corrupt(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	th_time(NULL, 0, NULL);
	/* one byte of A's compressed data (blob 1) */
	sql("UPDATE blobs SET data = substr(data, 1, 99) || x'A5' || substr(data, 101) WHERE id = 1");
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_int_equal(rep.n_problems, 1);
	assert_non_null(strstr(rep.problems[0], "op 4 (host_write on sip0.cube0.pe0): its host data is corrupt:"));
	assert_non_null(strstr(rep.problems[0], "blob 1 is corrupt"));
	assert_int_equal(rep.n_expects, 0); /* nothing is compared against corrupt inputs */
	kb_replay_report_release(&rep);
}

static void wrong_expect(kb_tl *tl)
{
	tl_store(tl, tl_arg_ptr(tl, "y"), tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(2, 4), KB_F32));
}

static void wrong_bench(kb_ctx *ctx)
{
	kb_dp dp = KB_DP(.num_cubes = 1, .pe = KB_COLUMN_WISE, .num_pes = 2);
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(2, 8), KB_F32, dp);
	kb_tensor *y = kb_empty(ctx, "y", KB_SHAPE(2, 8), KB_F32, dp);
	float data[16], wrong[16];
	for (int i = 0; i < 16; i++)
		data[i] = wrong[i] = (float)i;
	wrong[13] = 99; /* row 1, column 5: PE 1's block */
	kb_copy_from_host(ctx, x, data);
	KB_LAUNCH(ctx, "copy", wrong_expect, KB_TENSOR("x", x), KB_TENSOR("y", y));
	kb_expect(ctx, y, wrong, 0, 0.5);
}

static const kb_bench wrong = {"w", "a wrong expectation", wrong_bench, {{NULL, 0, NULL}}};

static void a_wrong_expectation_names_the_first_mismatch(void **state)
{
	(void)state;
	th_trace_ok(&wrong, 0, NULL);
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_DATAFLOW, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_int_equal(rep.n_problems, 0);
	const kb_expect_result *e = &rep.expects[0];
	assert_string_equal(e->tensor, "y");
	assert_int_equal(e->mismatches, 1);
	assert_int_equal(e->checked, 16);
	assert_int_equal(e->row, 1);
	assert_int_equal(e->col, 5);
	assert_int_equal(e->pe, 1);
	assert_true(e->got == 13.0 && e->want == 99.0);
	assert_true(e->max_abs == 86.0);
	kb_replay_report_release(&rep);
}

/* A ramp (x = 100 + 10 r + c written row by row, copied to y) checked as a
 * formula, and its first mismatch when the formula is off. */
static double ramp_value = 100;

static void ramp_bench(kb_ctx *ctx)
{
	kb_dp dp = KB_DP(.num_cubes = 1, .pe = KB_COLUMN_WISE, .num_pes = 2);
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(2, 8), KB_F32, dp);
	kb_tensor *y = kb_empty(ctx, "y", KB_SHAPE(2, 8), KB_F32, dp);
	kb_tensor *z = kb_empty(ctx, "z", KB_SHAPE(2, 8), KB_F32, dp);
	float data[16], rows[2] = {7, 9};
	for (int i = 0; i < 16; i++)
		data[i] = 100 + 10 * (float)(i / 8) + (float)(i % 8);
	kb_copy_from_host(ctx, x, data);
	kb_copy_rows_from_host(ctx, z, rows); /* row r of z holds rows[r] */
	KB_LAUNCH(ctx, "copy", wrong_expect, KB_TENSOR("x", x), KB_TENSOR("y", y));
	kb_expect_ramp(ctx, y, ramp_value, 10, 1, 0, 0);
	kb_expect_row_values(ctx, z, rows, 0, 0); /* rows 7, 9: a ramp of step 2 */
}

static const kb_bench ramp = {"r", "ramp expectations", ramp_bench, {{NULL, 0, NULL}}};

static void ramps_are_checked_as_formulas(void **state)
{
	(void)state;
	ramp_value = 100;
	th_trace_ok(&ramp, 0, NULL);
	assert_int_equal(th_query("SELECT count(*) FROM expectation_ramps"), 2);
	assert_int_equal(th_query("SELECT count(*) FROM expectations WHERE blob_id = 0"), 2);
	assert_int_equal(th_query("SELECT per_row FROM expectation_ramps WHERE expectation_id = 2"), 2);
	assert_int_equal(th_query("SELECT count(*) FROM expectations_v WHERE form = 'ramp'"), 2);
	/* x's two column blocks differ; z's two hold the same rows 7, 9 (stored once) */
	assert_int_equal(th_query("SELECT count(*) FROM blobs WHERE kind = 'host_data'"), 3);
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_DATAFLOW, &rep, &err), 0);
	assert_true(kb_replay_passed(&rep));
	assert_int_equal(rep.expects[0].checked, 16);
	assert_true(rep.expects[0].got_min == 100 && rep.expects[0].got_max == 117);
	assert_true(rep.expects[1].got_min == 7 && rep.expects[1].got_max == 9);
	kb_replay_report_release(&rep);
	ramp_value = 101; /* every value off by one: the first, [0,0], named */
	th_trace_ok(&ramp, 0, NULL);
	assert_int_equal(replay(KB_ORDER_DATAFLOW, &rep, &err), 0);
	assert_false(kb_replay_passed(&rep));
	assert_int_equal(rep.expects[0].mismatches, 16);
	assert_int_equal(rep.expects[0].row, 0);
	assert_int_equal(rep.expects[0].col, 0);
	assert_true(rep.expects[0].got == 100 && rep.expects[0].want == 101);
	kb_replay_report_release(&rep);
}

/* ---- tensors in TCM and cube SRAM ---- */

static void sram_to_tcm(kb_tl *tl)
{
	kb_tile *t = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 16), KB_F16);
	tl_store(tl, tl_arg_ptr(tl, "y"), tl_mul_scalar(tl, t, 2.0));
}

static void memories_bench(kb_ctx *ctx)
{
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(4, 32), KB_F16,
				KB_DP(.num_cubes = 1, .pe = KB_COLUMN_WISE, .num_pes = 2, .mem = KB_SPACE_SRAM));
	kb_tensor *y = kb_empty(ctx, "y", KB_SHAPE(4, 32), KB_F16,
				KB_DP(.num_cubes = 1, .pe = KB_COLUMN_WISE, .num_pes = 2, .mem = KB_SPACE_TCM));
	float data[128], want[128];
	for (int i = 0; i < 128; i++) {
		data[i] = (float)(i % 17) - 8;
		want[i] = 2 * data[i];
	}
	kb_copy_from_host(ctx, x, data);
	KB_LAUNCH(ctx, "sram_to_tcm", sram_to_tcm, KB_TENSOR("x", x), KB_TENSOR("y", y));
	kb_expect(ctx, y, want, 0, 0);
}

static const kb_bench memories = {"mem", "SRAM and TCM tensors", memories_bench, {{NULL, 0, NULL}}};

static void tensors_in_sram_and_tcm_trace_time_and_verify(void **state)
{
	(void)state;
	th_trace_ok(&memories, 0, NULL);
	/* both PEs' SRAM shards live in cube 0's SRAM; TCM shards after reserved + scratch (5 MB) */
	assert_int_equal(th_query("SELECT count(*) FROM shards_v WHERE tensor = 'x' AND space = 'sram'"), 2);
	assert_int_equal(th_query("SELECT pa FROM shards_v WHERE tensor = 'x' AND pe = 1"),
			 (2LL << 34) | 128); /* SRAM unit, after PE 0's 128-byte shard */
	assert_int_equal(th_query("SELECT pa FROM shards_v WHERE tensor = 'y' AND pe = 1"), (1LL << 30) | (5LL << 20));
	th_time("r", 0, NULL);
	/* a load from the cube's SRAM pays setup 10 + SRAM 10 + TCM 2 ns; both PEs
	 * load at once and share the 1024 GB/s SRAM port, so each gets 512 GB/s,
	 * which its TCM port also allows: 128 B in 250 ps */
	assert_int_equal(th_query("SELECT t_end_ps - t_start_ps FROM op_times_v WHERE run = 'r' AND kind = 'dma_read'"
				  " AND pe_name = 'sip0.cube0.pe0'"), 22000 + 250);
	kb_replay_report rep;
	kb_error err;
	assert_int_equal(replay(KB_ORDER_TIME, &rep, &err), 0);
	assert_true(kb_replay_passed(&rep));
	assert_int_equal(rep.expects[0].checked, 128);
	kb_replay_report_release(&rep);
}

static void sgemm_kernels_agree(void **state)
{
	(void)state;
	enum { M = 70, N = 90, K = 130 };
	float *a = malloc(M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
	float *c1 = malloc(M * N * sizeof *c1), *c2 = malloc(M * N * sizeof *c2);
	kb_fill_random(a, M * K, 1, 1.0f);
	kb_fill_random(b, K * N, 2, 1.0f);
	kb_replay_sgemm(M, N, K, a, K, b, N, c1, N, false);       /* OpenBLAS (large enough) */
	kb_replay_sgemm_plain(M, N, K, a, K, b, N, c2, N, false); /* hand kernel */
	for (int i = 0; i < M * N; i += 97) {
		double ref = 0;
		for (int k = 0; k < K; k++)
			ref += (double)a[i / N * K + k] * b[k * N + i % N];
		assert_true(fabs(c1[i] - ref) < 1e-4);
		assert_true(fabs(c2[i] - ref) < 1e-4);
	}
	kb_replay_sgemm_plain(M, N, K, a, K, b, N, c2, N, true); /* accumulate: twice */
	assert_true(fabsf(c2[5] - 2 * c1[5]) < 1e-4f);
	free(a);
	free(b);
	free(c1);
	free(c2);
}

/* Sparse memory: which op a read sees and which bytes were never written,
 * through whole-page, partial and overlapping writes. */
static void memory_tracks_writers_and_gaps(void **state)
{
	(void)state;
	mem *m = replay__mem_new(true);
	assert_non_null(m);
	uint8_t buf[PAGE_BYTES], back[PAGE_BYTES];
	for (int i = 0; i < PAGE_BYTES; i++)
		buf[i] = (uint8_t)(i * 7);
	read_info ri = {0};
	assert_int_equal(replay__mem_write(m, 0, buf, PAGE_BYTES, 1), 0);
	replay__mem_read(m, 100, back, 100, &ri);
	assert_int_equal(ri.max_writer, 1);
	assert_int_equal(ri.unwritten, 0);
	assert_memory_equal(back, buf + 100, 100);
	assert_int_equal(replay__mem_write(m, 1000, NULL, 100, 2), 0); /* zeros, op 2 */
	ri = (read_info){0};
	replay__mem_read(m, 0, back, 1000, &ri);
	assert_int_equal(ri.max_writer, 1);
	ri = (read_info){0};
	replay__mem_read(m, 0, back, PAGE_BYTES, &ri);
	assert_int_equal(ri.max_writer, 2);
	assert_int_equal(back[1000] + back[1099], 0);
	assert_int_equal(back[1100], buf[1100]);
	/* a fresh page: two islands, then one write across both */
	const uint64_t pg = 7 * PAGE_BYTES;
	assert_int_equal(replay__mem_write(m, pg + 10, buf, 10, 3), 0);
	assert_int_equal(replay__mem_write(m, pg + 40, buf, 10, 4), 0);
	ri = (read_info){0};
	replay__mem_read(m, pg, NULL, 64, &ri);
	assert_int_equal(ri.max_writer, 4);
	assert_int_equal(ri.unwritten, 44);
	assert_int_equal(ri.first_unwritten, pg);
	assert_int_equal(replay__mem_write(m, pg + 16, buf, 30, 5), 0);
	ri = (read_info){0};
	replay__mem_read(m, pg + 10, NULL, 6, &ri);
	assert_int_equal(ri.max_writer, 3);
	ri = (read_info){0};
	replay__mem_read(m, pg + 20, NULL, 20, &ri);
	assert_int_equal(ri.max_writer, 5);
	assert_int_equal(ri.unwritten, 0);
	ri = (read_info){0};
	replay__mem_read(m, pg + 46, NULL, 4, &ri);
	assert_int_equal(ri.max_writer, 4);
	ri = (read_info){0};
	replay__mem_read(m, pg, NULL, 64, &ri);
	assert_int_equal(ri.unwritten, 10 + 14);
	assert_int_equal(ri.first_unwritten, pg);
	/* many small writes then one over the whole page: uniform again */
	for (int k = 0; k < 300; k++)
		assert_int_equal(replay__mem_write(m, pg + 100 + 4 * (uint64_t)k, buf, 2, 10 + k), 0);
	ri = (read_info){0};
	replay__mem_read(m, pg + 100, NULL, 1200, &ri);
	assert_int_equal(ri.max_writer, 309);
	assert_int_equal(ri.unwritten, 600);
	assert_int_equal(replay__mem_write(m, pg, buf, PAGE_BYTES, 400), 0);
	ri = (read_info){0};
	replay__mem_read(m, pg, back, PAGE_BYTES, &ri);
	assert_int_equal(ri.max_writer, 400);
	assert_int_equal(ri.unwritten, 0);
	assert_memory_equal(back, buf, PAGE_BYTES);
	assert_int_equal(replay__mem_pages(m), 2);
	replay__mem_free(m);
}

/* ---- packed ops ---- */

static void assert_rop_equal(const rop *x, const rop *y)
{
	assert_int_equal(x->sip, y->sip);
	assert_int_equal(x->cube, y->cube);
	assert_int_equal(x->pe, y->pe);
	assert_int_equal(x->chan, y->chan);
	assert_int_equal(x->launch, y->launch);
	assert_int_equal(x->chan_seq, y->chan_seq);
	assert_int_equal(x->kind, y->kind);
	assert_int_equal(x->attr, y->attr);
	assert_memory_equal(&x->imm, &y->imm, sizeof x->imm); /* -0.0 and NaN bits too */
	assert_int_equal(x->blob, y->blob);
	const rop_operand *a[4] = {&x->dst, &x->a, &x->b, &x->c}, *b[4] = {&y->dst, &y->a, &y->b, &y->c};
	for (int k = 0; k < 4; k++) {
		assert_int_equal(a[k]->space, b[k]->space);
		assert_ptr_equal(a[k]->shape, b[k]->shape);
		if (a[k]->space) {
			assert_int_equal(a[k]->dtype, b[k]->dtype);
			assert_true(a[k]->pa == b[k]->pa);
		}
	}
}

static void packed_ops_round_trip_exactly(void **state)
{
	(void)state;
	shape4 shapes[3] = {{0}};
	shapes[1].ndim = 2, shapes[1].d[0] = shapes[1].d[1] = 64, shapes[1].numel = 4096;
	shapes[2].ndim = 1, shapes[2].d[0] = 64, shapes[2].numel = 64;
	kb_op ops[4] = {{0}};
	/* a DMA with a row stride: HBM of cube 3 to TCM */
	ops[0].sip = 1, ops[0].cube = 3, ops[0].pe = 7, ops[0].launch = 12345, ops[0].kind = KB_OP_DMA_READ;
	ops[0].attr = 4096, ops[0].seq = 99, ops[0].bytes = 8192;
	ops[0].dst = (kb_operand){KB_SPACE_TCM, KB_F16, 1, 0, UINT64_C(0x1234567800)};
	ops[0].a = (kb_operand){KB_SPACE_HBM, KB_F16, 1, 0, UINT64_C(0x9876543210)};
	/* every field at an extreme, as a damaged trace may hold them */
	ops[1].sip = INT32_MIN, ops[1].cube = -1, ops[1].pe = INT32_MAX, ops[1].kind = 255;
	ops[1].launch = INT64_MIN, ops[1].chan = INT32_MAX - 1, ops[1].chan_seq = INT64_MAX;
	ops[1].attr = -1, ops[1].imm = -0.0, ops[1].blob = INT64_MAX;
	ops[1].c = (kb_operand){-7, 99, 2, 0, UINT64_MAX};
	/* a host fill with a seed and a NaN scale, a send with a channel */
	ops[2].kind = KB_OP_HOST_FILL, ops[2].cube = -1, ops[2].attr = INT64_C(0x7fffffffdeadbeef), ops[2].imm = NAN;
	ops[2].dst = (kb_operand){KB_SPACE_HBM, KB_F32, 2, 0, 1};
	ops[3].kind = KB_OP_IPCQ_SEND, ops[3].chan = 5, ops[3].chan_seq = 0, ops[3].imm = 1e-300;
	opstore s;
	assert_int_equal(replay__opstore_init(&s, 4), 0);
	size_t before = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(replay__opstore_put(&s, &ops[i]), 0);
		if (i == 0)
			before = s.len;
	}
	/* kind 1 byte, mask (attr, dst, a: 0xc1) 2; launch 12345 (zigzag 24690) 3; sip, cube, pe 1 byte
	 * each; seq, which replay does not keep, 1 (a 0); attr 4096 2; two operands of space, dtype, shape
	 * 1 byte each and a 37-/40-bit address in 6 */
	assert_int_equal(before, 1 + 2 + 3 + 3 + 1 + 2 + 2 * (3 + 6));
	for (int i = 0; i < 4; i++) {
		rop got, want;
		replay__opstore_get(&s, i, shapes, 3, &got);
		replay__rop_of(&ops[i], shapes, 3, &want);
		if (i == 1) /* the coding keeps no -0.0 (nor does a REAL column) */
			want.imm = 0.0;
		assert_rop_equal(&got, &want);
	}
	rop one;
	replay__opstore_get(&s, 0, shapes, 3, &one);
	assert_ptr_equal(one.a.shape, &shapes[1]);
	assert_true(one.a.pa == UINT64_C(0x9876543210));
	assert_int_equal(one.chan, 0);
	replay__opstore_get(&s, 1, shapes, 3, &one);
	assert_int_equal(one.chan, INT32_MAX - 1);
	assert_int_equal(one.c.space, -7);
	int kind;
	int32_t sip;
	int64_t launch;
	replay__opstore_head(&s, 1, &kind, &sip, &launch);
	assert_int_equal(kind, 255);
	assert_int_equal(sip, INT32_MIN);
	assert_true(launch == INT64_MIN);
	assert_int_equal(replay__opstore_bytes(&s), s.len + 4 * sizeof(uint32_t));
	replay__opstore_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_op_matches_hand_computed_values),
		cmocka_unit_test(benches_verify_after_timing),
		cmocka_unit_test(a_read_moved_before_its_write_is_named_and_dataflow_still_passes),
		cmocka_unit_test(reading_unwritten_memory_is_reported),
		cmocka_unit_test(a_corrupt_input_is_reported_as_corrupt),
		cmocka_unit_test(a_wrong_expectation_names_the_first_mismatch),
		cmocka_unit_test(ramps_are_checked_as_formulas),
		cmocka_unit_test(tensors_in_sram_and_tcm_trace_time_and_verify),
		cmocka_unit_test(sgemm_kernels_agree),
		cmocka_unit_test(memory_tracks_writers_and_gaps),
		cmocka_unit_test(packed_ops_round_trip_exactly),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(th_path());
	return rc;
}
