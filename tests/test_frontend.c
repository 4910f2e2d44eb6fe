/*
 * test_frontend.c — the host API, the tl DSL and the benches, traced for
 * real and checked through the trace's SQL views.
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

#include "helpers.h"

static sqlite3 *open_trace(void)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open_v2(th_path(), &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return h;
}

static int64_t q(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A hash of every op row, to compare two traces. */
static uint64_t ops_digest(sqlite3 *h)
{
	sqlite3_stmt *st;
	uint64_t d = 0;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT * FROM ops ORDER BY id", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			d = d * 31 + kb_hash64(t, strlen((const char *)t));
		}
	sqlite3_finalize(st);
	return d;
}

static const kb_bench *bench(const char *name)
{
	const kb_bench *b = kb_bench_find(name);
	assert_non_null(b);
	return b;
}

static void gemm_records_reads_gemm_and_write_with_va_and_pa(void **state)
{
	(void)state;
	kb_error err;
	assert_int_equal(th_trace(bench("gemm"), 0, NULL, &err), 0);
	sqlite3 *h = open_trace();
	/* 3 map messages (A, B, C on one PE), 2 host writes, the launch, 5 kernel ops */
	assert_int_equal(q(h, "SELECT count(*) FROM ops"), 11);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'mmu_map' AND pe_name = 'sip0.host' AND cube = 0 AND pe = -1"
			      " AND bytes = 24"), 3);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'host_write' AND shape IN ('256x256')"), 2);
	/* A is the first tensor (VA 0x100000000) at the start of sip0.cube0.pe0's HBM slice */
	assert_int_equal(q(h, "SELECT count(*) FROM dma_v WHERE direction = 'read' AND mem_space = 'hbm'"
			      " AND shape = '256x256' AND pe_name = 'sip0.cube0.pe0'"), 2);
	assert_int_equal(q(h, "SELECT va FROM dma_v WHERE direction = 'read' ORDER BY id LIMIT 1"), 0x100000000);
	assert_int_equal(q(h, "SELECT pa FROM dma_v WHERE direction = 'read' ORDER BY id LIMIT 1"),
			 (int64_t)UINT64_C(1) << 37);
	assert_int_equal(q(h, "SELECT va FROM dma_v WHERE direction = 'read' ORDER BY id LIMIT 1 OFFSET 1"),
			 0x100000000 + 128 * 1024);
	assert_int_equal(q(h, "SELECT M * 1000000 + N * 1000 + K FROM gemm_v"), 256256256);
	assert_int_equal(q(h, "SELECT flops FROM gemm_v"), 2 * 256 * 256 * 256);
	assert_int_equal(q(h, "SELECT va FROM dma_v WHERE direction = 'write'"), 0x100000000 + 2 * 128 * 1024);
	assert_int_equal(q(h, "SELECT pa FROM dma_v WHERE direction = 'write'"),
			 (int64_t)((UINT64_C(1) << 37) + 2 * 128 * 1024));
	/* per-PE program order */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT group_concat(kind, ',') FROM (SELECT kind FROM ops_v"
					       " WHERE launch_id = 1 ORDER BY seq)", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "dma_read,dma_read,gemm,math:cast,dma_write");
	sqlite3_finalize(st);
	assert_int_equal(q(h, "SELECT count(*) FROM expectations_v WHERE tensor = 'C' AND raw_bytes = 256 * 256 * 4"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM ranges_v WHERE label = 'gemm' AND end_op_id - first_op_id = 6"), 1);
	assert_int_equal(q(h, "PRAGMA user_version"), KB_SCHEMA_VERSION);
	sqlite3_close(h);
}

static void tracing_twice_gives_identical_op_rows(void **state)
{
	(void)state;
	kb_error err;
	const char *params[] = {"M=128", "N=64"};
	assert_int_equal(th_trace(bench("gemm"), 2, params, &err), 0);
	sqlite3 *h = open_trace();
	uint64_t first = ops_digest(h);
	sqlite3_close(h);
	assert_int_equal(th_trace(bench("gemm"), 2, params, &err), 0);
	h = open_trace();
	assert_int_equal(ops_digest(h), first);
	assert_int_equal(q(h, "SELECT M * 1000 + N FROM gemm_v"), 128064);
	sqlite3_close(h);
}

static void large_gemm_is_tiled_with_strided_loads(void **state)
{
	(void)state;
	kb_error err;
	const char *params[] = {"M=512", "K=512", "N=256", "TM=128", "TK=256"};
	assert_int_equal(th_trace(bench("gemm"), 5, params, &err), 0);
	sqlite3 *h = open_trace();
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v"), 8);
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v WHERE accumulate"), 4);
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v WHERE M = 128 AND N = 256 AND K = 256"), 8);
	assert_int_equal(q(h, "SELECT count(*) FROM dma_v WHERE direction = 'read'"), 16);
	/* A tiles are 128 x 256 windows of a 512-wide matrix: row stride 512 */
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'dma_read' AND attr = 512"), 8);
	assert_int_equal(q(h, "SELECT count(*) FROM dma_v WHERE direction = 'write'"), 4);
	assert_int_equal(q(h, "SELECT sum(flops) FROM gemm_v"), 2LL * 512 * 512 * 256);
	sqlite3_close(h);
}

static void va_offset_verify_reads_every_shard_at_its_pa(void **state)
{
	(void)state;
	kb_error err;
	assert_int_equal(th_trace(bench("va_offset_verify"), 0, NULL, &err), 0);
	sqlite3 *h = open_trace();
	assert_int_equal(q(h, "SELECT count(*) FROM launches"), 2);
	assert_int_equal(q(h, "SELECT count(*) FROM dma_v WHERE direction = 'read'"), 256);
	/* every read hits exactly the shard the PE owns: same VA, PA and coordinates */
	assert_int_equal(q(h, "SELECT count(*) FROM ops o JOIN shards s ON s.va = o.a_va AND s.pa = o.a_pa"
			      " AND s.sip = o.sip AND s.cube = o.cube AND s.pe = o.pe"
			      " WHERE o.kind = (SELECT id FROM enum_op_kind WHERE name = 'dma_read')"), 256);
	assert_int_equal(q(h, "SELECT count(*) FROM ops o JOIN shards s ON s.va = o.dst_va AND s.pa = o.dst_pa"
			      " AND s.sip = o.sip AND s.cube = o.cube AND s.pe = o.pe"
			      " WHERE o.kind = (SELECT id FROM enum_op_kind WHERE name = 'dma_write')"), 256);
	assert_int_equal(q(h, "SELECT count(DISTINCT sip) FROM ops WHERE launch_id > 0"), 2);
	assert_int_equal(q(h, "SELECT count(*) FROM expectations"), 2);
	sqlite3_close(h);
}

static void gpt3_qkv_shards_weights_over_every_pe(void **state)
{
	(void)state;
	kb_error err;
	assert_int_equal(th_trace(bench("gpt3_qkv"), 0, NULL, &err), 0);
	sqlite3 *h = open_trace();
	assert_int_equal(q(h, "SELECT count(*) FROM launches WHERE n_pes = 128"), 1);
	/* 3 projections x 4 k-steps (1024 / 256) on each of 128 PEs */
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v"), 3 * 4 * 128);
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v WHERE M = 32 AND N = 8 AND K = 256"), 3 * 4 * 128);
	assert_int_equal(q(h, "SELECT count(*) FROM shards_v WHERE tensor = 'x' AND nbytes = 32 * 1024 * 2"), 128);
	assert_int_equal(q(h, "SELECT count(*) FROM shards_v WHERE tensor = 'W_Q' AND cols = 8"), 128);
	/* the replicated x is stored once */
	assert_int_equal(q(h, "SELECT count(DISTINCT blob_id) FROM ops o JOIN shards s ON s.pa = o.dst_pa"
			      " JOIN tensors t ON t.id = s.tensor_id JOIN strings n ON n.id = t.name"
			      " WHERE n.value = 'x' AND o.kind = (SELECT id FROM enum_op_kind WHERE name = 'host_write')"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM expectations"), 3);
	sqlite3_close(h);
}

/* ---- kernels that must fail at trace time ---- */

static void bad_dot(kb_tl *tl)
{
	kb_tile *a = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F16);
	tl_dot(tl, a, a, 0);
}

static void bad_scratch(kb_tl *tl)
{
	for (int i = 0; i < 5; i++)
		tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(256, 256), KB_F16); /* 128 KB each, never freed */
	tl_full(tl, KB_SHAPE(512, 256), KB_F32, 0.0);                          /* 512 KB more */
}

static void bad_va(kb_tl *tl)
{
	tl_load(tl, tl_arg_ptr(tl, "x") + 64 * 1024 * 1024, KB_SHAPE(4, 8), KB_F16);
}

static void bad_free(kb_tl *tl)
{
	kb_tile *a = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F16);
	tl_free(tl, a);
	tl_exp(tl, a);
}

static void bad_broadcast(kb_tl *tl)
{
	kb_tile *a = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F16);
	kb_tile *b = tl_view(tl, a, KB_SHAPE(8, 4));
	tl_add(tl, a, b);
}

static void bad_dtype(kb_tl *tl)
{
	tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F32);
}

static void broadcasting_kernel(kb_tl *tl)
{
	kb_tile *s = tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(4, 8), KB_F16);
	kb_tile *m = tl_max(tl, s, -1);
	kb_tile *d = tl_sub(tl, s, m);
	kb_tile *e = tl_exp(tl, d);
	kb_tile *l = tl_sum(tl, e, 1);
	kb_tile *p = tl_div(tl, e, l);
	kb_tile *v = tl_view(tl, p, KB_SHAPE(8, 4));
	kb_tile *kt = tl_dot(tl, s, v, TL_TRANS_A | TL_TRANS_B); /* s^T (8,4) x v^T (4,8) */
	tl_fma(tl, s, p, m);
	tl_store(tl, tl_arg_ptr(tl, "x"), tl_cast(tl, tl_softmax(tl, tl_trans(tl, tl_trans(tl, p)), 0), KB_F16));
	(void)kt;
}

static kb_kernel_fn test_kernel;

static void run_test_kernel(kb_ctx *ctx)
{
	kb_tensor *x = kb_zeros(ctx, "x", KB_SHAPE(256, 256), KB_F16, KB_DP(.num_cubes = 1, .num_pes = 1));
	KB_LAUNCH(ctx, "k", test_kernel, KB_TENSOR("x", x));
}

static const kb_bench test_bench = {"t", "test kernels", run_test_kernel, {{NULL, 0, NULL}}};

static const char *kernel_error(kb_kernel_fn k)
{
	static kb_error err;
	test_kernel = k;
	memset(&err, 0, sizeof err);
	if (th_trace(&test_bench, 0, NULL, &err) == 0)
		return "";
	return err.msg;
}

static void kernel_errors_name_kernel_pe_op_and_sizes(void **state)
{
	(void)state;
	kb_error err;
	assert_int_equal(th_trace(bench("gemm"), 0, NULL, &err), 0); /* an existing good trace */
	assert_string_equal(kernel_error(bad_dot),
			    "bench 't': kernel 'k' on sip0.cube0.pe0: dot: inner dimensions differ: (4,8) x (4,8)");
	assert_string_equal(kernel_error(bad_scratch),
			    "bench 't': kernel 'k' on sip0.cube0.pe0: full: needs 512.0 KB of kernel scratch, largest "
			    "free block is 384.0 KB of 1.00 MB (free tiles with tl_free, or raise "
			    "cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb)");
	assert_string_equal(kernel_error(bad_va), "bench 't': kernel 'k' on sip0.cube0.pe0: load: VA 0x104000000 "
						  "(+64 bytes) is not mapped on this PE (nearest tensor 'x' spans "
						  "0x100000000..0x100020000)");
	assert_string_equal(kernel_error(bad_free),
			    "bench 't': kernel 'k' on sip0.cube0.pe0: math:exp: uses a tile after tl_free");
	assert_string_equal(kernel_error(bad_broadcast),
			    "bench 't': kernel 'k' on sip0.cube0.pe0: math:add: shapes (4,8) and (8,4) do not broadcast");
	assert_string_equal(kernel_error(bad_dtype),
			    "bench 't': kernel 'k' on sip0.cube0.pe0: load: f32 access to a f16 tensor at VA 0x100000000");
	/* failed traces neither replaced the existing one nor left temporaries */
	sqlite3 *h = open_trace();
	/* 3 map messages (A, B, C on one PE), 2 host writes, the launch, 5 kernel ops */
	assert_int_equal(q(h, "SELECT count(*) FROM ops"), 11);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'mmu_map' AND pe_name = 'sip0.host' AND cube = 0 AND pe = -1"
			      " AND bytes = 24"), 3);
	sqlite3_close(h);
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp-%d", th_path(), (int)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
}

static void reductions_keep_axes_and_broadcast(void **state)
{
	(void)state;
	assert_string_equal(kernel_error(broadcasting_kernel), "");
	sqlite3 *h = open_trace();
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'math:max' AND shape = '4x1' AND attr = 1"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'math:sub' AND shape = '4x8' AND b_shape = '4x1'"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'math:div' AND shape = '4x8'"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM gemm_v WHERE M = 8 AND N = 8 AND K = 4 AND trans_a AND trans_b"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'math:trans'"), 2);
	/* fma's third input lives in op_operands and shows in ops_v */
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'math:fma' AND shape = '4x8' AND c_shape = '4x1'"
			      " AND c_space = 'tcm' AND c_pa > 0"), 1);
	assert_int_equal(q(h, "SELECT count(*) FROM op_operands"), 1);
	assert_int_equal(q(h, "SELECT flops FROM ops_v WHERE kind = 'math:softmax'"), 5 * 32);
	assert_int_equal(q(h, "SELECT count(*) FROM ops_v WHERE kind = 'host_fill' AND shape = '256x256'"), 1);
	sqlite3_close(h);
}

static void bench_parameters_are_checked(void **state)
{
	(void)state;
	kb_error err;
	const char *bad[] = {"Q=3"};
	assert_int_equal(th_trace(bench("gemm"), 1, bad, &err), -1);
	assert_string_equal(err.msg, "--set gemm.Q=3: bench 'gemm' has no parameter 'Q' (parameters: M, K, N, TM, TN, TK, seed)");
	const char *nan[] = {"M=lots"};
	assert_int_equal(th_trace(bench("gemm"), 1, nan, &err), -1);
	assert_string_equal(err.msg, "--set gemm.M=lots: 'lots' is not a number");
	const char *frac[] = {"M=1.5"};
	assert_int_equal(th_trace(bench("gemm"), 1, frac, &err), -1);
	assert_string_equal(err.msg, "bench 'gemm': gemm.M=1.5 must be an integer");
}

/* ---- strided access and a user pointer (one head's columns) ---- */
static void head_kernel(kb_tl *tl)
{
	const int64_t *head = tl_arg_ptr_user(tl, "head"); /* which 64 of the 256 columns */
	uint64_t va = tl_arg_ptr(tl, "x") + (uint64_t)(*head * 64) * 2;
	kb_tile *t = tl_load_strided(tl, va, KB_SHAPE(16, 64), 256, KB_F16);
	tl_store_strided(tl, va + 16 * 256 * 2, t, 256); /* the same columns, 16 rows further */
}

static int64_t the_head = 2;

static void run_head_kernel(kb_ctx *ctx)
{
	kb_tensor *x = kb_zeros(ctx, "x", KB_SHAPE(256, 256), KB_F16, KB_DP(.num_cubes = 1, .num_pes = 1));
	KB_LAUNCH(ctx, "head", head_kernel, KB_TENSOR("x", x), KB_PTR("head", &the_head));
}

static const kb_bench head_bench = {"head", "strided head columns", run_head_kernel, {{NULL, 0, NULL}}};

static void strided_loads_take_one_heads_columns(void **state)
{
	(void)state;
	kb_error err;
	assert_int_equal(th_trace(&head_bench, 0, NULL, &err), 0);
	/* rows 256 elements apart, starting at column 2 * 64 */
	assert_int_equal(th_query("SELECT attr FROM ops_v WHERE kind = 'dma_read'"), 256);
	assert_int_equal(th_query("SELECT src_va - (SELECT va FROM tensors_v WHERE name = 'x') FROM ops_v"
				  " WHERE kind = 'dma_read'"), 2 * 64 * 2);
	assert_int_equal(th_query("SELECT dst_va - (SELECT va FROM tensors_v WHERE name = 'x') FROM ops_v"
				  " WHERE kind = 'dma_write'"), 2 * 64 * 2 + 16 * 256 * 2);
	assert_int_equal(th_query("SELECT count(*) FROM launches_v WHERE args = 'x=tensor:x@' ||"
				  " printf('0x%x', (SELECT va FROM tensors_v WHERE name = 'x')) || ' head=ptr'"), 1);
}

/* ---- IPCQ install plans ---- */
static int install_case;

static void rewire(kb_ctx *ctx)
{
	if (install_case == 2) { /* the PEs of sip0.cube0 as a chain */
		kb_init_process_group(ctx, "ahbm", "hello_send");
		return;
	}
	kb_init_process_group(ctx, "ahbm", "ring_allreduce_tcm");
	if (install_case == 1)
		kb_ipcq_install(ctx, "tree_allreduce_7"); /* over an installed wiring: an error */
	kb_ipcq_uninstall(ctx);
	kb_ipcq_install(ctx, "tree_allreduce_7");
}

static const kb_bench rewire_bench = {"rewire", "install, uninstall, install", rewire, {{NULL, 0, NULL}}};

static void install_plans_wire_ranks_with_disjoint_rx_buffers(void **state)
{
	(void)state;
	kb_error err;
	install_case = 0;
	assert_int_equal(th_trace(&rewire_bench, 0, NULL, &err), 0);
	/* the ring: 8 ranks = PEs 0..7 of sip0.cube0, E and W each; then the tree of 7: 6 edges both ways */
	assert_int_equal(th_query("SELECT count(*) FROM channels"), 16 + 12);
	assert_int_equal(th_query("SELECT count(*) FROM channels_v WHERE src = 'sip0.cube0.pe7' AND src_dir = 'E'"
				  " AND dst = 'sip0.cube0.pe0' AND dst_dir = 'W'"), 1);
	assert_int_equal(th_query("SELECT count(*) FROM channels_v WHERE src = 'sip0.cube0.pe6' AND src_dir = 'parent'"
				  " AND dst = 'sip0.cube0.pe2' AND dst_dir = 'child_right'"), 1);
	/* rx buffers: 4 slots x 4096 B in the receiver's TCM, disjoint within a wiring */
	assert_int_equal(th_query("SELECT count(DISTINCT rx_pa) FROM channels WHERE id <= 16"), 16);
	assert_int_equal(th_query("SELECT count(*) FROM channels a JOIN channels b ON a.id < b.id AND a.id <= 16"
				  " AND b.id <= 16 AND a.rx_pa < b.rx_pa + 16384 AND b.rx_pa < a.rx_pa + 16384"), 0);
	/* the uninstalled ring's buffers were freed: the tree reuses some of them */
	assert_true(th_query("SELECT count(*) FROM channels WHERE id > 16 AND rx_pa IN (SELECT rx_pa FROM channels"
			     " WHERE id <= 16)") > 0);
	/* one install message per rank PE per wiring, host control traffic */
	assert_int_equal(th_query("SELECT count(*) FROM ops_v WHERE kind = 'ipcq_init'"), 8 + 7);
	assert_int_equal(th_query("SELECT bytes FROM ops_v WHERE kind = 'ipcq_init' AND pe = 0 ORDER BY id LIMIT 1"),
			 4 * KB_IPCQ_ENTRY_BYTES); /* E and W, out and in */
	install_case = 2;
	const char *chain[] = {"algorithms.hello_send.topology=intracube_pe_ring"};
	assert_int_equal(th_trace_ccl(&rewire_bench, 0, NULL, 1, chain, &err), 0);
	assert_int_equal(th_query("SELECT count(*) FROM channels"), 2 * 7);
	assert_int_equal(th_query("SELECT count(*) FROM channels_v WHERE src = 'sip0.cube0.pe0'"), 1); /* E only */
	assert_int_equal(th_query("SELECT count(*) FROM channels_v WHERE src = 'sip0.cube0.pe7' AND src_dir = 'W'"
				  " AND dst = 'sip0.cube0.pe6' AND dst_dir = 'E'"), 1);
	assert_int_equal(th_query("SELECT max(src_rank) FROM channels"), 7);
	install_case = 1;
	assert_int_equal(th_trace(&rewire_bench, 0, NULL, &err), -1);
	assert_string_equal(err.msg, "bench 'rewire': ipcq_install('tree_allreduce_7'): IPCQ queues are already installed"
				     " (ring_allreduce_tcm); uninstall first");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gemm_records_reads_gemm_and_write_with_va_and_pa),
		cmocka_unit_test(tracing_twice_gives_identical_op_rows),
		cmocka_unit_test(large_gemm_is_tiled_with_strided_loads),
		cmocka_unit_test(va_offset_verify_reads_every_shard_at_its_pa),
		cmocka_unit_test(gpt3_qkv_shards_weights_over_every_pe),
		cmocka_unit_test(kernel_errors_name_kernel_pe_op_and_sizes),
		cmocka_unit_test(reductions_keep_axes_and_broadcast),
		cmocka_unit_test(bench_parameters_are_checked),
		cmocka_unit_test(install_plans_wire_ranks_with_disjoint_rx_buffers),
		cmocka_unit_test(strided_loads_take_one_heads_columns),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(th_path());
	return rc;
}
