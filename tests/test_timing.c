/*
 * test_timing.c — the timing pass: every cost formula to the picosecond,
 * hazards, unit overlap, link sharing, what-if re-timing and concurrent
 * ranks, on tiny traces built with the frontend and on the gemm bench.
 *
 * Defaults used throughout (configs/topology.yaml): 1 GHz (1000 ps/cycle),
 * DMA setup 10 ns, HBM slice 100 GB/s + 120 ns, PCIe 32 GB/s + 1000 ns,
 * IO_CPU 200 ns, M_CPU 100 ns, dispatch 100 cycles, GEMM 1024 MAC/cycle +
 * 32 cycles, MATH 64 lanes + 8 cycles, transcendental x4.
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

#include "cli.h"
#include "helpers.h"
#include "timing.h"

#define NS 1000 /* ps */

/* t_start or t_end of op id in run label. */
static int64_t t(const char *label, int64_t op, const char *which)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT t_%s_ps FROM op_times_v WHERE run = '%s' AND op_id = %lld", which, label,
		 (long long)op);
	return th_query(sql);
}

static void cost_formulas_to_the_picosecond(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_cost c;
	kb_cost_init(&c, &m);
	assert_int_equal(c.cycle_ps, 1000);
	assert_int_equal(c.dma_setup_ps, 10 * NS);
	assert_int_equal(kb_cost_transfer_ps(131072, 100.0), 1310720);   /* 128 KiB at 100 GB/s */
	assert_int_equal(kb_cost_transfer_ps(131072, 32.0), 4096000);    /* 128 KiB at 32 GB/s */
	assert_int_equal(kb_cost_transfer_ps(1, 3.0), 334);              /* 333.3 ps rounds up */
	/* GEMM 256^3: 32 setup + 16777216 / 1024 = 16416 cycles */
	assert_int_equal(kb_cost_gemm_ps(&c, 256 * 256 * 256), 16416 * NS);
	assert_int_equal(kb_cost_gemm_ps(&c, 1), 33 * NS);               /* a partial cycle is a cycle */
	/* math: 8 setup + ceil(65536 / 64) x factor */
	assert_int_equal(kb_cost_math_ps(&c, KB_OP_MATH_ADD, 65536), (8 + 1024) * NS);
	assert_int_equal(kb_cost_math_ps(&c, KB_OP_MATH_EXP, 65536), (8 + 4096) * NS);
	assert_int_equal(kb_cost_math_ps(&c, KB_OP_MATH_ADD, 65), (8 + 2) * NS);
	/* launch: PCIe 1000 + IO_CPU 200 + M_CPU 100 ns + 100 dispatch cycles */
	assert_int_equal(c.launch_ps, 1400 * NS);
	assert_int_equal(c.host_control_ps, 1300 * NS);
}

static void gemm_total_matches_the_hand_computed_schedule(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	int64_t total = th_time("base", 0, NULL);
	/* host writes of A and B (128 KiB each), in order on rank 0's stream:
	 *   PCIe 1000 + IO_CPU 200 + M_CPU 100 + HBM 120 ns + 131072 B / 32 GB/s = 5,516,000 ps each */
	int64_t hw = (1000 + 200 + 100 + 120) * NS + 4096000;
	assert_int_equal(t("base", 1, "end"), hw);
	assert_int_equal(t("base", 2, "end"), 2 * hw);
	/* the launch crosses the host path (1,400,000 ps) before the PE starts */
	int64_t pe0 = 2 * hw + 1400 * NS;
	/* load A: setup 10 + HBM 120 ns + 1,310,720 ps on the HBM port */
	int64_t dma = 1310720;
	assert_int_equal(t("base", 4, "start"), pe0);
	assert_int_equal(t("base", 4, "end"), pe0 + 130 * NS + dma);
	/* load B starts on the second engine but queues behind A on the HBM port */
	assert_int_equal(t("base", 5, "start"), pe0);
	int64_t b_end = pe0 + 10 * NS + dma + 120 * NS + dma;
	assert_int_equal(t("base", 5, "end"), b_end);
	/* GEMM after both loads, cast after the GEMM, store after the cast */
	int64_t gemm_end = b_end + 16416 * NS;
	int64_t cast_end = gemm_end + 1032 * NS;
	assert_int_equal(t("base", 6, "end"), gemm_end);
	assert_int_equal(t("base", 7, "end"), cast_end);
	int64_t store_end = cast_end + 130 * NS + dma;
	assert_int_equal(t("base", 8, "end"), store_end);
	assert_int_equal(total, store_end);
	assert_int_equal(total, 34072160);
	assert_int_equal(th_query("SELECT t_end_ps FROM launch_times_v WHERE run = 'base'"), store_end);
	assert_int_equal(th_query("SELECT t_end_ps - t_start_ps FROM range_times_v WHERE run = 'base' AND label = 'gemm'"),
			 store_end - 2 * hw);
	assert_int_equal(th_query("SELECT count(*) FROM op_times_v WHERE run = 'base' AND waited_on = 'dependency'"), 3);
	assert_int_equal(th_query("SELECT bytes FROM link_usage_v WHERE run = 'base' AND link = 'sip0.cube0.pe0.hbm'"),
			 5 * 131072); /* 2 host writes, 2 loads, 1 store */
	assert_int_equal(th_query("SELECT busy_ps FROM link_usage WHERE link = 'sip0.pcie'"), 2 * 4096000);
	assert_int_equal(th_query("SELECT busy_ps FROM unit_busy WHERE unit = 'gemm'"), 16416 * NS);
	/* the critical path walks the waits back from the store: every op of the trace */
	assert_int_equal(th_query("SELECT count(*) FROM critical_path_v WHERE run = 'base'"), 8);
	/* step k holds op 8 - k: store, cast, GEMM, load B, load A, launch, host writes */
	assert_int_equal(th_query("SELECT count(*) FROM critical_path_v WHERE run = 'base' AND op_id = 8 - step"), 8);
	/* load B queued behind load A on the HBM port: its wait names load A */
	assert_int_equal(th_query("SELECT wait_op FROM op_times_v WHERE run = 'base' AND op_id = 5"), 4);
}

static void doubling_hbm_bandwidth_halves_only_the_bandwidth_term(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	th_time("base", 0, NULL);
	const char *fast[] = {"cube.components.hbm.attrs.bandwidth_gbps=200"};
	th_time("fast_hbm", 1, fast);
	assert_int_equal(th_query("SELECT count(*) FROM timing_runs"), 2);
	/* load A: 130 ns fixed + 1,310,720 ps -> 130 ns + 655,360 ps */
	int64_t base = t("base", 4, "end") - t("base", 4, "start");
	int64_t fast_d = t("fast_hbm", 4, "end") - t("fast_hbm", 4, "start");
	assert_int_equal(base, 130 * NS + 1310720);
	assert_int_equal(fast_d, 130 * NS + 655360);
	/* host writes are PCIe-bound and the GEMM is compute-bound: unchanged */
	assert_int_equal(t("fast_hbm", 1, "end"), t("base", 1, "end"));
	assert_int_equal(t("fast_hbm", 6, "end") - t("fast_hbm", 6, "start"), 16416 * NS);
	assert_int_equal(th_query("SELECT instr(topology_overrides, 'hbm.attrs.bandwidth_gbps=200') > 0 FROM timing_runs"
			   " WHERE label = 'fast_hbm'"), 1);
}

/* ---- tiny kernels ---- */

static void store_then_load(kb_tl *tl)
{
	uint64_t x = tl_arg_ptr(tl, "x"), y = tl_arg_ptr(tl, "y");
	kb_tile *a = tl_load(tl, x, KB_SHAPE(64, 64), KB_F16);  /* op 4 */
	tl_store(tl, y, a);                                        /* op 5 */
	tl_load(tl, y, KB_SHAPE(64, 64), KB_F16);               /* op 6: must see op 5's data */
}

static void load_overlaps_gemm(kb_tl *tl)
{
	uint64_t x = tl_arg_ptr(tl, "x"), y = tl_arg_ptr(tl, "y");
	kb_tile *a = tl_load(tl, x, KB_SHAPE(64, 64), KB_F16);  /* op 4 */
	tl_dot(tl, a, a, 0);                                       /* op 5 */
	tl_load(tl, y, KB_SHAPE(64, 64), KB_F16);               /* op 6: independent, other engine */
}

static void two_loads_share_a_port(kb_tl *tl)
{
	tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(64, 64), KB_F16); /* op 4 */
	tl_load(tl, tl_arg_ptr(tl, "y"), KB_SHAPE(64, 64), KB_F16); /* op 5 */
}

static kb_kernel_fn kernel;

static void one_pe(kb_ctx *ctx)
{
	kb_dp dp = KB_DP(.num_cubes = 1, .num_pes = 1);
	kb_tensor *x = kb_zeros(ctx, "x", KB_SHAPE(64, 64), KB_F16, dp); /* op 1 */
	kb_tensor *y = kb_zeros(ctx, "y", KB_SHAPE(64, 64), KB_F16, dp); /* op 2 */
	KB_LAUNCH(ctx, "k", kernel, KB_TENSOR("x", x), KB_TENSOR("y", y)); /* op 3 */
}

static const kb_bench one_pe_bench = {"t", "timing test", one_pe, {{NULL, 0, NULL}}};

static void run_kernel(kb_kernel_fn k)
{
	kernel = k;
	th_trace_ok(&one_pe_bench, 0, NULL);
	th_time("r", 0, NULL);
}

/* 8 KiB through a 100 GB/s HBM port */
#define T8K 81920

static void a_load_after_a_store_to_the_same_address_waits_for_it(void **state)
{
	(void)state;
	run_kernel(store_then_load);
	assert_int_equal(t("r", 6, "start"), t("r", 5, "end"));
	assert_int_equal(th_query("SELECT wait_op FROM op_times_v WHERE run = 'r' AND op_id = 6"), 5);
	assert_int_equal(th_query("SELECT waited_on = 'dependency' FROM op_times_v WHERE run = 'r' AND op_id = 6"), 1);
	/* the store waits for the load it stores */
	assert_int_equal(t("r", 5, "start"), t("r", 4, "end"));
	assert_int_equal(t("r", 4, "end") - t("r", 4, "start"), 130 * NS + T8K);
}

static void dma_overlaps_gemm(void **state)
{
	(void)state;
	run_kernel(load_overlaps_gemm);
	int64_t gemm_start = t("r", 5, "start"), gemm_end = t("r", 5, "end");
	assert_int_equal(gemm_start, t("r", 4, "end"));
	assert_int_equal(gemm_end - gemm_start, (32 + 256) * NS); /* 64^3 / 1024 = 256 cycles */
	/* the second load issues with the GEMM (in order) and runs beside it */
	assert_int_equal(t("r", 6, "start"), gemm_start);
	assert_int_equal(t("r", 6, "end"), gemm_start + 130 * NS + T8K);
	assert_true(t("r", 6, "end") < gemm_end);
}

static void two_transfers_on_one_link_take_twice_as_long(void **state)
{
	(void)state;
	run_kernel(two_loads_share_a_port);
	int64_t t0 = t("r", 4, "start");
	assert_int_equal(t("r", 5, "start"), t0); /* two engines: both start */
	assert_int_equal(t("r", 4, "end"), t0 + 130 * NS + T8K);
	assert_int_equal(t("r", 5, "end"), t0 + 130 * NS + 2 * T8K); /* queued behind on the port */
	assert_int_equal(th_query("SELECT waited_on = 'link' FROM op_times_v WHERE run = 'r' AND op_id = 5"), 1);
	assert_int_equal(th_query("SELECT busy_ps FROM link_usage WHERE link = 'sip0.cube0.pe0.hbm'"),
			 2 * T8K + 2 * T8K); /* two fills and two loads */
	/* one engine: the second load waits for the unit instead */
	const char *one[] = {"cube.pe_template.components.pe_dma.attrs.engines=1"};
	th_time("one_engine", 1, one);
	assert_int_equal(t("one_engine", 5, "start"), t("one_engine", 4, "end"));
	assert_int_equal(th_query("SELECT waited_on = 'unit' FROM op_times_v WHERE run = 'one_engine' AND op_id = 5"), 1);
	assert_int_equal(th_query("SELECT wait_op FROM op_times_v WHERE run = 'one_engine' AND op_id = 5"), 4);
}

static void per_rank(kb_ctx *ctx, int rank, void *arg)
{
	(void)arg;
	char name[8];
	snprintf(name, sizeof name, "x%d", rank);
	kb_tensor *x = kb_zeros(ctx, name, KB_SHAPE(64, 64), KB_F16, KB_DP(.num_cubes = 1, .num_pes = 1));
	KB_LAUNCH(ctx, "k", kernel, KB_TENSOR("x", x), KB_TENSOR("y", x));
}

static void two_ranks(kb_ctx *ctx)
{
	kb_spawn(ctx, per_rank, NULL, 2);
}

static const kb_bench two_rank_bench = {"t2", "two ranks", two_ranks, {{NULL, 0, NULL}}};

static void ranks_have_their_own_host_streams(void **state)
{
	(void)state;
	kernel = two_loads_share_a_port;
	th_trace_ok(&two_rank_bench, 0, NULL);
	th_time("r", 0, NULL);
	/* rank 1's fill and launch do not wait for rank 0: identical timelines */
	int64_t s0 = th_query("SELECT t_start_ps FROM launch_times_v WHERE rank = 0");
	int64_t s1 = th_query("SELECT t_start_ps FROM launch_times_v WHERE rank = 1");
	int64_t e0 = th_query("SELECT t_end_ps FROM launch_times_v WHERE rank = 0");
	assert_int_equal(s0, s1);
	assert_true(s1 < e0);
	assert_int_equal(th_query("SELECT t_end_ps FROM launch_times_v WHERE rank = 1"), e0);
	/* fill: control 1300 ns + HBM 120 ns + 8 KiB at 100 GB/s */
	assert_int_equal(s0, 1420 * NS + T8K);
}

static void labels_are_unique_unless_replaced(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	th_time("a", 0, NULL);
	kb_db *db;
	kb_error err;
	kb_topo_cfg cfg;
	kb_machine m;
	kb_time_result res;
	assert_int_equal(kb_db_open(&db, th_path(), true, &err), 0);
	assert_int_equal(kb_cli_trace_topology(db, &cfg, &err), 0);
	assert_int_equal(kb_machine_init(&m, &cfg, &err), 0);
	kb_time_options opt = {"a", false, "test", ""};
	assert_int_equal(kb_time_trace(db, &m, &opt, &res, &err), -1);
	assert_string_equal(err.msg, "a timing run labelled 'a' exists (use --replace or another --label)");
	opt.replace = true;
	assert_int_equal(kb_time_trace(db, &m, &opt, &res, &err), 0);
	opt.label = NULL;
	assert_int_equal(kb_time_trace(db, &m, &opt, &res, &err), 0);
	assert_string_equal(res.label, "run2");
	opt.label = "run3";
	assert_int_equal(kb_time_trace(db, &m, &opt, &res, &err), 0);
	opt.label = NULL; /* run3 is taken: the next automatic label skips it */
	assert_int_equal(kb_time_trace(db, &m, &opt, &res, &err), 0);
	assert_string_equal(res.label, "run4");
	kb_topo_cfg other = cfg;
	other.cube_mesh_w = 2;
	assert_int_equal(kb_time_check_structure(&cfg, &other, &err), -1);
	assert_string_equal(err.msg, "sip.cube_mesh.w is 2 but the trace was recorded with 4 (only timing parameters may change)");
	kb_topo_release(&cfg);
	kb_db_close(db);
	assert_int_equal(th_query("SELECT count(*) FROM timing_runs"), 4);
	assert_int_equal(th_query("SELECT count(*) FROM op_times"), 4 * 8);
}

static void routes_cross_the_cube_mesh_and_sip_links(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_route_info r;
	uint64_t pa;
	/* own slice: just the HBM port */
	kb_physaddr own = {0, 0, 0, KB_SPACE_HBM, 0, 0};
	assert_int_equal(kb_pa_encode(&m, &own, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 0, 0, pa, &r, &err), 0);
	assert_int_equal(r.hops, 1);
	assert_int_equal(r.latency_ps, 120 * NS);
	/* cube 0 -> cube 5 (x 1, y 1) on the 4 x 4 mesh: X first, then Y;
	 * NoC 2 ns + 2 x (link 20 + switch 5 ns) + HBM 120 ns, bottleneck HBM 100 GB/s */
	kb_physaddr far = {0, 0, 5, KB_SPACE_HBM, 3, 0};
	assert_int_equal(kb_pa_encode(&m, &far, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 0, 0, pa, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube0.pe0.noc_out > sip0.cube0.E > sip0.cube1.S > sip0.cube5.pe3.noc_in > "
				    "sip0.cube5.pe3.hbm");
	assert_int_equal(r.latency_ps, (2 + 2 * 25 + 120) * NS);
	assert_true(r.bottleneck_gbps == 100.0);
	/* to the other SIP: the SIP link at the source cube (300 + 5 ns, 64 GB/s) */
	kb_physaddr other = {0, 1, 0, KB_SPACE_TCM, 0, 0x500000};
	assert_int_equal(kb_pa_encode(&m, &other, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 0, 1, pa, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube0.pe1.noc_out > sip0.cube0.global_E > sip1.cube0.pe0.noc_in > sip1.cube0.pe0.tcm");
	assert_int_equal(r.latency_ps, (2 + 305 + 2) * NS);
	assert_true(r.bottleneck_gbps == 64.0);
	/* SRAM of the own cube: the shared SRAM port only */
	kb_physaddr sram = {0, 0, 2, KB_SPACE_SRAM, 0, 64};
	assert_int_equal(kb_pa_encode(&m, &sram, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 2, 6, pa, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube2.sram");
	assert_int_equal(kb_time_route(&m, 0, 2, 9, pa, &r, &err), -1);
	assert_string_equal(err.msg, "sip0.cube2.pe9 is not a PE of this machine");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cost_formulas_to_the_picosecond),
		cmocka_unit_test(gemm_total_matches_the_hand_computed_schedule),
		cmocka_unit_test(doubling_hbm_bandwidth_halves_only_the_bandwidth_term),
		cmocka_unit_test(a_load_after_a_store_to_the_same_address_waits_for_it),
		cmocka_unit_test(dma_overlaps_gemm),
		cmocka_unit_test(two_transfers_on_one_link_take_twice_as_long),
		cmocka_unit_test(ranks_have_their_own_host_streams),
		cmocka_unit_test(labels_are_unique_unless_replaced),
		cmocka_unit_test(routes_cross_the_cube_mesh_and_sip_links),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(th_path());
	return rc;
}
