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
#include <math.h>
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
	/* softmax of 65536 values records 5 passes; max, sub, sum, div cost 1 and
	 * exp 4 (the transcendental factor once): 8 + 1024 x (4 + 4) cycles */
	assert_int_equal(kb_cost_math_ps(&c, KB_OP_MATH_SOFTMAX, KB_SOFTMAX_PASSES * 65536), (8 + 1024 * 8) * NS);
	/* launch: PCIe 1000 + IO_CPU 200 + M_CPU 100 ns + 100 dispatch cycles */
	assert_int_equal(c.launch_ps, 1400 * NS);
	assert_int_equal(c.host_control_ps, 1300 * NS);
}

static void gemm_total_matches_the_hand_computed_schedule(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	int64_t total = th_time("base", 0, NULL);
	/* ops 1-3: one MMU map message per tensor (A, B, C), 24 B at PCIe 32 GB/s
	 * = 750 ps each, in order; each lands after PCIe + IO_CPU + M_CPU 1300 ns */
	assert_int_equal(t("base", 1, "end"), 750 + 1300 * NS);
	assert_int_equal(t("base", 3, "start"), 1500);
	/* ops 4-5: host writes of A and B (128 KiB, PCIe-bound at 32 GB/s =
	 * 4,096,000 ps); the second starts when the first is injected and both
	 * land 1420 ns later (PCIe 1000 + IO_CPU 200 + M_CPU 100 + HBM 120) */
	int64_t w = 4096000, land = 1420 * NS;
	assert_int_equal(t("base", 4, "start"), 2250);
	assert_int_equal(t("base", 4, "end"), 2250 + w + land);
	assert_int_equal(t("base", 5, "start"), 2250 + w);
	int64_t host_end = 2250 + 2 * w + land;
	assert_int_equal(t("base", 5, "end"), host_end);
	/* op 6: the launch waits for the writes to land, crosses the host path
	 * (1,400,000 ps) before the PE starts */
	assert_int_equal(t("base", 6, "start"), host_end);
	int64_t pe0 = host_end + 1400 * NS;
	/* ops 7-8: both loads start on the two engines and share the HBM port:
	 * 50 GB/s each, 2 x 1,310,720 ps; then HBM 120 + TCM 2 ns latency */
	int64_t dma = 1310720, load_end = pe0 + 10 * NS + 2 * dma + 122 * NS;
	assert_int_equal(t("base", 7, "start"), pe0);
	assert_int_equal(t("base", 8, "start"), pe0);
	assert_int_equal(t("base", 7, "end"), load_end);
	assert_int_equal(t("base", 8, "end"), load_end);
	assert_int_equal(th_query("SELECT stall_ps FROM op_times_v WHERE run = 'base' AND op_id = 8"), dma);
	assert_int_equal(th_query("SELECT stall_link = 'sip0.cube0.pe0.hbm' FROM op_times_v WHERE run = 'base' AND op_id = 8"), 1);
	/* op 9: the GEMM is compute-bound: its 512 KiB of operands need 32 GB/s
	 * of the 512 GB/s TCM port; op 10 the cast (1032 cycles, 384 KiB) */
	int64_t gemm_end = load_end + 16416 * NS, cast_end = gemm_end + 1032 * NS;
	assert_int_equal(t("base", 9, "end"), gemm_end);
	assert_int_equal(t("base", 10, "end"), cast_end);
	/* op 11: the store, alone: setup 10 + 1,310,720 + HBM 120 + TCM 2 ns */
	int64_t store_end = cast_end + 132 * NS + dma;
	assert_int_equal(t("base", 11, "end"), store_end);
	assert_int_equal(total, store_end);
	assert_int_equal(total, 32658410);
	assert_int_equal(th_query("SELECT t_end_ps FROM launch_times_v WHERE run = 'base'"), store_end);
	assert_int_equal(th_query("SELECT t_end_ps - t_start_ps FROM range_times_v WHERE run = 'base' AND label = 'gemm'"),
			 store_end - host_end);
	assert_int_equal(th_query("SELECT count(*) FROM op_times_v WHERE run = 'base' AND waited_on = 'dependency'"), 3);
	assert_int_equal(th_query("SELECT bytes FROM link_usage_v WHERE run = 'base' AND link = 'sip0.cube0.pe0.hbm'"),
			 5 * 131072); /* 2 host writes, 2 loads, 1 store */
	assert_int_equal(th_query("SELECT busy_ps FROM link_usage WHERE link = 'sip0.pcie'"), 2 * w + 3 * 750);
	assert_int_equal(th_query("SELECT busy_ps FROM unit_busy WHERE unit = 'gemm'"), 16416 * NS);
	/* the critical path walks back from the store: cast, GEMM, load A (both
	 * loads end together; the GEMM names the first), the launch, the host
	 * stream back to the first map message */
	assert_int_equal(th_query("SELECT count(*) FROM critical_path_v WHERE run = 'base'"), 10);
	assert_int_equal(th_query("SELECT count(*) FROM critical_path_v WHERE run = 'base' AND op_id ="
				  " CASE WHEN step < 3 THEN 11 - step ELSE 10 - step END"), 10);
}

static void doubling_hbm_bandwidth_halves_only_the_bandwidth_term(void **state)
{
	(void)state;
	th_trace_ok(kb_bench_find("gemm"), 0, NULL);
	th_time("base", 0, NULL);
	const char *fast[] = {"cube.components.hbm.attrs.bandwidth_gbps=200"};
	th_time("fast_hbm", 1, fast);
	assert_int_equal(th_query("SELECT count(*) FROM timing_runs"), 2);
	/* load A (sharing the port with load B): 132 ns fixed + 2 x 1,310,720 ps
	 * -> 132 ns + 2 x 655,360 ps */
	int64_t base = t("base", 7, "end") - t("base", 7, "start");
	int64_t fast_d = t("fast_hbm", 7, "end") - t("fast_hbm", 7, "start");
	assert_int_equal(base, 132 * NS + 2 * 1310720);
	assert_int_equal(fast_d, 132 * NS + 2 * 655360);
	/* host writes are PCIe-bound and the GEMM is compute-bound: unchanged */
	assert_int_equal(t("fast_hbm", 4, "end"), t("base", 4, "end"));
	assert_int_equal(t("fast_hbm", 9, "end") - t("fast_hbm", 9, "start"), 16416 * NS);
	assert_int_equal(th_query("SELECT instr(topology_overrides, 'hbm.attrs.bandwidth_gbps=200') > 0 FROM timing_runs"
			   " WHERE label = 'fast_hbm'"), 1);
}

/* ---- tiny kernels: x and y on sip0.cube0.pe0; ops 1-4 map and fill x
 * and y, op 5 the launch, the kernel's ops from 6 ---- */

static void store_then_load(kb_tl *tl)
{
	uint64_t x = tl_arg_ptr(tl, "x"), y = tl_arg_ptr(tl, "y");
	kb_tile *a = tl_load(tl, x, KB_SHAPE(64, 64), KB_F16);  /* op 6 */
	tl_store(tl, y, a);                                        /* op 7 */
	tl_load(tl, y, KB_SHAPE(64, 64), KB_F16);               /* op 8: must see op 7's data */
}

static void load_overlaps_gemm(kb_tl *tl)
{
	uint64_t x = tl_arg_ptr(tl, "x"), y = tl_arg_ptr(tl, "y");
	kb_tile *a = tl_load(tl, x, KB_SHAPE(64, 64), KB_F16);  /* op 6 */
	tl_dot(tl, a, a, 0);                                       /* op 7 */
	tl_load(tl, y, KB_SHAPE(64, 64), KB_F16);               /* op 8: independent, other engine */
}

static void two_loads_share_a_port(kb_tl *tl)
{
	tl_load(tl, tl_arg_ptr(tl, "x"), KB_SHAPE(64, 64), KB_F16); /* op 6 */
	tl_load(tl, tl_arg_ptr(tl, "y"), KB_SHAPE(64, 64), KB_F16); /* op 7 */
}

static kb_kernel_fn kernel;

static void one_pe(kb_ctx *ctx)
{
	kb_dp dp = KB_DP(.num_cubes = 1, .num_pes = 1);
	kb_tensor *x = kb_zeros(ctx, "x", KB_SHAPE(64, 64), KB_F16, dp);
	kb_tensor *y = kb_zeros(ctx, "y", KB_SHAPE(64, 64), KB_F16, dp);
	KB_LAUNCH(ctx, "k", kernel, KB_TENSOR("x", x), KB_TENSOR("y", y));
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
/* a local DMA's fixed part: setup 10 + HBM 120 + TCM 2 ns */
#define LOCAL_DMA (132 * NS)

static void a_load_after_a_store_to_the_same_address_waits_for_it(void **state)
{
	(void)state;
	run_kernel(store_then_load);
	assert_int_equal(t("r", 8, "start"), t("r", 7, "end"));
	assert_int_equal(th_query("SELECT wait_op FROM op_times_v WHERE run = 'r' AND op_id = 8"), 7);
	assert_int_equal(th_query("SELECT waited_on = 'dependency' FROM op_times_v WHERE run = 'r' AND op_id = 8"), 1);
	/* the store waits for the load it stores */
	assert_int_equal(t("r", 7, "start"), t("r", 6, "end"));
	assert_int_equal(t("r", 6, "end") - t("r", 6, "start"), LOCAL_DMA + T8K);
}

static void dma_overlaps_gemm(void **state)
{
	(void)state;
	run_kernel(load_overlaps_gemm);
	int64_t gemm_start = t("r", 7, "start"), gemm_end = t("r", 7, "end");
	assert_int_equal(gemm_start, t("r", 6, "end"));
	/* 64^3 / 1024 = 256 cycles + 32 setup; its 32 KiB of operands need
	 * 128 GB/s of the TCM port, the load 100: no contention */
	assert_int_equal(gemm_end - gemm_start, (32 + 256) * NS);
	/* the second load issues with the GEMM (in order) and runs beside it */
	assert_int_equal(t("r", 8, "start"), gemm_start);
	assert_int_equal(t("r", 8, "end"), gemm_start + LOCAL_DMA + T8K);
	assert_int_equal(th_query("SELECT sum(stall_ps) FROM op_times_v WHERE run = 'r'"), 0);
}

static void a_dma_and_a_gemm_share_the_tcm_port(void **state)
{
	(void)state;
	run_kernel(load_overlaps_gemm);
	const char *slow[] = {"cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps=100"};
	th_time("slow_tcm", 1, slow);
	/* TCM 100 GB/s. From g0 (GEMM and load B issue): the load's data flows
	 * from g0 + 10 ns, alone on the port (2200 B in 22 ns); from g0 + 32 ns
	 * the GEMM's operands join and both get 50 GB/s: the load's last 5992 B
	 * take 119,840 ps; the GEMM then has 32768 - 5992 = 26776 B left at
	 * 100 GB/s (below its own 128 GB/s pace): 267,760 ps. */
	int64_t g0 = t("slow_tcm", 7, "start");
	assert_int_equal(t("slow_tcm", 8, "start"), g0);
	assert_int_equal(t("slow_tcm", 8, "end"), g0 + 32 * NS + 119840 + 122 * NS);
	assert_int_equal(t("slow_tcm", 7, "end"), g0 + 32 * NS + 119840 + 267760);
	/* alone, the GEMM would take 32 ns + 32768 B / 100 GB/s */
	assert_int_equal(th_query("SELECT stall_ps FROM op_times_v WHERE run = 'slow_tcm' AND op_id = 7"),
			 32 * NS + 119840 + 267760 - (32 * NS + 327680));
	assert_int_equal(th_query("SELECT stall_link = 'sip0.cube0.pe0.tcm' FROM op_times_v WHERE run = 'slow_tcm'"
				  " AND op_id = 7"), 1);
	assert_true(th_query("SELECT stall_ps FROM link_usage WHERE link = 'sip0.cube0.pe0.tcm'"
			     " AND run_id = (SELECT id FROM timing_runs WHERE label = 'slow_tcm')") > 0);
}

static void two_transfers_on_one_link_take_twice_as_long(void **state)
{
	(void)state;
	run_kernel(two_loads_share_a_port);
	int64_t t0 = t("r", 6, "start");
	assert_int_equal(t("r", 7, "start"), t0); /* two engines: both start */
	/* k = 2 equal flows on the HBM port: each takes 2x the bandwidth term */
	assert_int_equal(t("r", 6, "end"), t0 + LOCAL_DMA + 2 * T8K);
	assert_int_equal(t("r", 7, "end"), t0 + LOCAL_DMA + 2 * T8K);
	assert_int_equal(th_query("SELECT stall_ps FROM op_times_v WHERE run = 'r' AND op_id = 7"), T8K);
	assert_int_equal(th_query("SELECT stall_link = 'sip0.cube0.pe0.hbm' FROM op_times_v WHERE run = 'r' AND op_id = 7"), 1);
	assert_int_equal(th_query("SELECT stall_ns * 1000 FROM link_stalls_v WHERE link = 'sip0.cube0.pe0.hbm'"), 2 * T8K);
	/* the port was busy for the two fills and the two loads (together) */
	assert_int_equal(th_query("SELECT busy_ps FROM link_usage WHERE link = 'sip0.cube0.pe0.hbm'"), 2 * T8K + 2 * T8K);
	/* one engine: the second load waits for the unit instead, then runs alone */
	const char *one[] = {"cube.pe_template.components.pe_dma.attrs.engines=1"};
	th_time("one_engine", 1, one);
	int64_t inject_end = t("one_engine", 6, "start") + 10 * NS + T8K;
	assert_int_equal(t("one_engine", 7, "start"), inject_end); /* the engine frees when the data is injected */
	assert_int_equal(t("one_engine", 7, "end"), inject_end + LOCAL_DMA + T8K);
	assert_int_equal(th_query("SELECT waited_on = 'unit' FROM op_times_v WHERE run = 'one_engine' AND op_id = 7"), 1);
	assert_int_equal(th_query("SELECT wait_op FROM op_times_v WHERE run = 'one_engine' AND op_id = 7"), 6);
}

/* ---- remote traffic: x over cubes 0-1 and PEs 0-1 (row_wise), block b
 * = cube * 2 + pe of 64 x 64 f16 = 8 KiB ---- */

#define BLOCK (64 * 64 * 2)

static void remote_read_and_write(kb_tl *tl)
{
	if (tl_program_id(tl, 0) != 0 || tl_program_id(tl, 1) != 0)
		return;
	uint64_t x = tl_arg_base(tl, "x"), y = tl_arg_base(tl, "y");
	kb_tile *w = tl_load(tl, y, KB_SHAPE(64, 64), KB_F16);        /* seq 0: a local tile to write */
	if (tl_arg_int(tl, "same_direction")) {
		kb_tile *v = tl_load(tl, y, KB_SHAPE(64, 64), KB_F16); /* seq 1 */
		tl_store(tl, x + 3 * BLOCK, w);                       /* seq 2: to cube 1 PE 1 */
		tl_store(tl, x + 2 * BLOCK, v);                       /* seq 3: to cube 1 PE 0, also east */
		return;
	}
	tl_load(tl, x + 2 * BLOCK, KB_SHAPE(64, 64), KB_F16);         /* seq 1: read from cube 1 PE 0 */
	tl_store(tl, x + 3 * BLOCK, w);                               /* seq 2: write to cube 1 PE 1 */
}

static int same_direction;

static void two_cubes(kb_ctx *ctx)
{
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .pe = KB_ROW_WISE, .num_cubes = 2, .num_pes = 2);
	kb_tensor *x = kb_zeros(ctx, "x", KB_SHAPE(4 * 64, 64), KB_F16, dp);
	kb_tensor *y = kb_zeros(ctx, "y", KB_SHAPE(4 * 64, 64), KB_F16, dp);
	KB_LAUNCH(ctx, "k", remote_read_and_write, KB_TENSOR("x", x), KB_TENSOR("y", y),
		  KB_INT("same_direction", same_direction));
}

static const kb_bench two_cube_bench = {"t3", "remote traffic", two_cubes, {{NULL, 0, NULL}}};

/* The kernel's ops on sip0.cube0.pe0, in program order. */
static int64_t kop(int seq)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT id FROM ops WHERE launch_id = 1 AND cube = 0 AND pe = 0 AND seq = %d", seq);
	return th_query(sql);
}

static void opposite_directions_and_idle_links_do_not_interact(void **state)
{
	(void)state;
	same_direction = 0;
	th_trace_ok(&two_cube_bench, 0, NULL);
	th_time("r", 0, NULL);
	int64_t rd = kop(1), wr = kop(2);
	/* read: HBM 120 + NoC out 2 + cube1.W (20 + switch 5) + NoC in 0 + TCM 2 ns;
	 * the write the same way back over cube0.E; 8 KiB at the HBM's 100 GB/s */
	int64_t closed = 10 * NS + 149 * NS + T8K;
	assert_int_equal(t("r", rd, "end") - t("r", rd, "start"), closed);
	assert_int_equal(t("r", wr, "end") - t("r", wr, "start"), closed);
	assert_true(t("r", wr, "start") < t("r", rd, "end")); /* they did overlap */
	assert_int_equal(th_query("SELECT sum(stall_ps) FROM op_times_v WHERE run = 'r'"), 0);
	assert_int_equal(th_query("SELECT bytes FROM link_usage WHERE link = 'sip0.cube1.W'"), BLOCK);
	assert_int_equal(th_query("SELECT direction = 'W' FROM link_usage WHERE link = 'sip0.cube1.W'"), 1);
	/* cube0.E carries the write and the map messages for cube 1 (x and y:
	 * 4 VA ranges of 24 B each); fills stay at the memory */
	assert_int_equal(th_query("SELECT bytes FROM link_usage WHERE link = 'sip0.cube0.E'"), BLOCK + 2 * 4 * 24);
}

static void same_direction_flows_share_the_link(void **state)
{
	(void)state;
	same_direction = 1;
	th_trace_ok(&two_cube_bench, 0, NULL);
	const char *narrow[] = {"sip.components.cube_link.attrs.bandwidth_gbps=50"};
	th_time("r", 1, narrow);
	/* two writes east from one PE, issued together, share cube0.E (50 GB/s):
	 * 25 GB/s each, 327,680 ps for 8 KiB instead of 163,840 alone; then
	 * TCM 2 + NoC 2 + link 25 + HBM 120 ns */
	int64_t w1 = kop(2), w2 = kop(3);
	assert_int_equal(t("r", w2, "start"), t("r", w1, "start"));
	assert_int_equal(t("r", w1, "end") - t("r", w1, "start"), 10 * NS + 327680 + 149 * NS);
	assert_int_equal(t("r", w2, "end") - t("r", w2, "start"), 10 * NS + 327680 + 149 * NS);
	char sql[200];
	for (int k = 0; k < 2; k++) {
		snprintf(sql, sizeof sql, "SELECT stall_ps = 163840 AND stall_link = 'sip0.cube0.E' FROM op_times_v"
			 " WHERE run = 'r' AND op_id = %lld", (long long)(k ? w2 : w1));
		assert_int_equal(th_query(sql), 1);
	}
	/* besides the two loads on the PE's own HBM port, only cube0.E held anyone */
	assert_int_equal(th_query("SELECT count(*) FROM link_stalls_v WHERE run = 'r' AND kind <> 'hbm'"), 1);
	assert_int_equal(th_query("SELECT link = 'sip0.cube0.E' AND ops_held = 2 FROM link_stalls_v WHERE run = 'r'"
				  " AND kind <> 'hbm'"), 1);
}

/* Bytes a timing run put on each link kind of the default machine. */
static void bytes_by_kind(const char *pattern, int64_t out[4])
{
	char set[64];
	snprintf(set, sizeof set, "pattern=%s", pattern);
	const char *params[] = {set};
	th_trace_ok(kb_bench_find("fabric_traffic"), 1, params);
	th_time("r", 0, NULL);
	static const char *const kinds[] = {"noc_out", "cube_link", "sip_link", "hbm"};
	for (int k = 0; k < 4; k++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT coalesce(sum(bytes), 0) FROM link_usage WHERE kind = '%s'", kinds[k]);
		out[k] = th_query(sql);
	}
}

static void fabric_patterns_load_exactly_their_link_kinds(void **state)
{
	(void)state;
	/* default machine: 2 SIPs of 4 x 4 cubes x 8 PEs; blocks of 16 x 256 f16
	 * = 8 KiB; the local pattern (4) is the baseline with the same host
	 * traffic, so the differences are the kernels' own bytes */
	const int64_t B = 8192, pes = 8, sips = 2;
	int64_t base[4], got[4];
	bytes_by_kind("4", base);
	assert_int_equal(base[0], 0); /* the baseline never leaves a PE */
	/* neighbour: every block read from and written back to the next PE of the
	 * cube: 2 NoC crossings per PE, no mesh or SIP link */
	bytes_by_kind("0", got);
	assert_int_equal(got[0] - base[0], 2 * 256 * B);
	assert_int_equal(got[1] - base[1], 0);
	assert_int_equal(got[2] - base[2], 0);
	/* transpose: a block of cube (x, y) crosses |x - y| + |y - x| mesh links
	 * each way: sum over the 16 cubes of 2 x 2|x - y| = 80 block crossings per
	 * PE index and SIP */
	bytes_by_kind("1", got);
	assert_int_equal(got[1] - base[1], sips * pes * 80 * B);
	assert_int_equal(got[2] - base[2], 0);
	/* hot spot on cube 0: every read crosses x + y links (sum 48 over the mesh) */
	bytes_by_kind("2", got);
	assert_int_equal(got[1] - base[1], sips * pes * 48 * B);
	assert_int_equal(got[2] - base[2], 0);
	/* the congestion is on the hot cube's way out: XY reads leave cube 0 by
	 * its E link (every cube with x > 0) */
	assert_int_equal(th_query("SELECT link = 'sip0.cube0.E' FROM link_stalls_v WHERE run = 'r' LIMIT 1"), 1);
	/* cross-SIP: every block crosses one SIP link (2 SIPs: one hop); the mesh
	 * only carries the peer map messages (128 ranges x 24 B per cube, x + y
	 * links from the PCIe cube) */
	bytes_by_kind("3", got);
	assert_int_equal(got[2] - base[2], 256 * B);
	assert_int_equal(got[1] - base[1], sips * 48 * 128 * 24);
	assert_int_equal(th_query("SELECT kind = 'sip_link' FROM link_stalls_v WHERE run = 'r' ORDER BY stall_ns DESC"
				  " LIMIT 1"), 1);
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
	/* rank 1's map, fill and launch do not wait for rank 0: identical timelines */
	int64_t s0 = th_query("SELECT t_start_ps FROM launch_times_v WHERE rank = 0");
	int64_t s1 = th_query("SELECT t_start_ps FROM launch_times_v WHERE rank = 1");
	int64_t e0 = th_query("SELECT t_end_ps FROM launch_times_v WHERE rank = 0");
	assert_int_equal(s0, s1);
	assert_true(s1 < e0);
	assert_int_equal(th_query("SELECT t_end_ps FROM launch_times_v WHERE rank = 1"), e0);
	/* the map message is injected in 750 ps; the fill then runs at the
	 * HBM port (8 KiB at 100 GB/s) and lands after control 1300 + HBM 120 ns */
	assert_int_equal(s0, 750 + T8K + 1420 * NS);
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
	kb_time_options opt = {"a", false, "test", "", NULL};
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
	assert_int_equal(th_query("SELECT count(*) FROM op_times"), 4 * 11);
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
	assert_int_equal(kb_time_route(&m, 0, 0, 0, pa, true, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube0.pe0.hbm > sip0.cube0.pe0.tcm"); /* both ports */
	assert_int_equal(r.latency_ps, 122 * NS);
	/* write from cube 0 to cube 5 (x 1, y 1) on the 4 x 4 mesh: X first,
	 * then Y; TCM 2 + NoC 2 ns + 2 x (link 20 + switch 5 ns) + HBM 120 ns,
	 * bottleneck HBM 100 GB/s */
	kb_physaddr far = {0, 0, 5, KB_SPACE_HBM, 3, 0};
	assert_int_equal(kb_pa_encode(&m, &far, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 0, 0, pa, false, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube0.pe0.tcm > sip0.cube0.pe0.noc_out > sip0.cube0.E > sip0.cube1.S > "
				    "sip0.cube5.pe3.noc_in > sip0.cube5.pe3.hbm");
	assert_int_equal(r.latency_ps, (2 + 2 + 2 * 25 + 120) * NS);
	assert_true(r.bottleneck_gbps == 100.0);
	/* the read of the same address runs the other way on the other channels */
	assert_int_equal(kb_time_route(&m, 0, 0, 0, pa, true, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube5.pe3.hbm > sip0.cube5.pe3.noc_out > sip0.cube5.W > sip0.cube4.N > "
				    "sip0.cube0.pe0.noc_in > sip0.cube0.pe0.tcm");
	/* to the other SIP: the SIP link at the source cube (300 + 5 ns, 64 GB/s) */
	kb_physaddr other = {0, 1, 0, KB_SPACE_TCM, 0, 0x500000};
	assert_int_equal(kb_pa_encode(&m, &other, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 0, 1, pa, false, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube0.pe1.tcm > sip0.cube0.pe1.noc_out > sip0.cube0.global_E > "
				    "sip1.cube0.pe0.noc_in > sip1.cube0.pe0.tcm");
	assert_int_equal(r.latency_ps, (2 + 2 + 305 + 2) * NS);
	assert_true(r.bottleneck_gbps == 64.0);
	/* SRAM of the own cube: the shared SRAM port and the TCM port */
	kb_physaddr sram = {0, 0, 2, KB_SPACE_SRAM, 0, 64};
	assert_int_equal(kb_pa_encode(&m, &sram, &pa, &err), 0);
	assert_int_equal(kb_time_route(&m, 0, 2, 6, pa, true, &r, &err), 0);
	assert_string_equal(r.path, "sip0.cube2.sram > sip0.cube2.pe6.tcm");
	assert_int_equal(kb_time_route(&m, 0, 2, 9, pa, true, &r, &err), -1);
	assert_string_equal(err.msg, "sip0.cube2.pe9 is not a PE of this machine");
}

/* Uncontended DMA time between PE (0, 0, pe) and pa: setup, the bytes at
 * the route's bottleneck, the route latency. */
static int64_t dma_ps(const kb_machine *m, const kb_cost *c, int pe, uint64_t pa, bool read, int64_t bytes,
		      int64_t *busy)
{
	kb_route_info r;
	kb_error err;
	assert_int_equal(kb_time_route(m, 0, 0, pe, pa, read, &r, &err), 0);
	*busy = c->dma_setup_ps + kb_cost_transfer_ps(bytes, r.bottleneck_gbps); /* the unit: setup + injection */
	return *busy + r.latency_ps;
}

/* The ring kernel as written: load; p-1 rounds of send E (the tile received
 * last), recv W, add; store. A send forwards the received tile, not the
 * sum, so round k+1's send starts when recv k ends and the add overlaps it:
 * the critical chain is load, (p-1) x (send + recv), the last add, store:
 *   kernel = T_load + (p-1)(T_send + T_recv) + T_add + T_store,
 * each DMA uncontended (ring neighbours use disjoint links and ports), plus
 * the launch's host path before the PEs start. The credits (4 slots) come
 * back long before a send needs them. */
static void ring_allreduce_matches_its_closed_form(void **state)
{
	(void)state;
	const char *ccl[] = {"defaults.algorithm=ring_allreduce_hbm"};
	kb_error err;
	if (th_trace_ccl(kb_bench_find("ccl_allreduce"), 0, NULL, 1, ccl, &err))
		fail_msg("%s", err.msg);
	th_time("ring", 0, NULL);
	kb_machine m = th_default_machine();
	kb_cost c;
	kb_cost_init(&c, &m);
	const int p = 8;
	const int64_t bytes = 32 * 2; /* n_elem 32, f16 */
	/* PE 0's buffer and slot PAs as the trace recorded them */
	uint64_t own = (uint64_t)th_query("SELECT src_pa FROM ops_v WHERE kind = 'dma_read' AND pe = 0");
	uint64_t slot = (uint64_t)th_query("SELECT src_pa FROM ops_v WHERE kind = 'ipcq_recv' AND pe = 1 AND chan_seq = 0");
	assert_int_equal(th_query("SELECT buffer = 'hbm' AND dst = 'sip0.cube0.pe1' FROM channels_v WHERE id = 1"), 1);
	int64_t b_load, b_send, b_recv, b_store;
	int64_t t_load = dma_ps(&m, &c, 0, own, true, bytes, &b_load);
	int64_t t_send = dma_ps(&m, &c, 0, slot, false, bytes, &b_send); /* PE 0's scratch -> PE 1's rx slot */
	int64_t t_recv = dma_ps(&m, &c, 1, slot, true, bytes, &b_recv);  /* PE 1's rx slot -> its scratch */
	int64_t t_add = kb_cost_math_ps(&c, KB_OP_MATH_ADD, 32);
	int64_t t_store = dma_ps(&m, &c, 0, own, false, bytes, &b_store);
	int64_t kernel = t_load + (p - 1) * (t_send + t_recv) + t_add + t_store;
	/* the numbers: load/recv 10 + 0.64 + 122 ns, send 10 + 0.64 + route latency */
	assert_int_equal(t_load, 132640);
	assert_int_equal(t_recv, t_load);
	assert_int_equal(t_add, 9 * NS);
	int64_t start = th_query("SELECT t_start_ps FROM launch_times_v WHERE run = 'ring'");
	int64_t pe_start = th_query("SELECT t_pe_start_ps FROM launch_times_v WHERE run = 'ring'");
	int64_t end = th_query("SELECT t_end_ps FROM launch_times_v WHERE run = 'ring'");
	assert_int_equal(pe_start - start, c.launch_ps);
	assert_int_equal(end - pe_start, kernel);
	assert_int_equal(end - start, c.launch_ps + kernel);
	/* no send waited for a credit; the IPCQ units were busy for setup + injection of every send, the
	 * DMA engines for the loads, recvs and stores */
	assert_int_equal(th_query("SELECT count(*) FROM op_times_v WHERE run = 'ring' AND waited_on = 'credit'"), 0);
	assert_int_equal(th_query("SELECT sum(busy_ps) FROM unit_busy WHERE unit = 'ipcq'"), (int64_t)p * (p - 1) * b_send);
	assert_int_equal(th_query("SELECT sum(busy_ps) FROM unit_busy WHERE unit = 'dma'"),
			 (int64_t)p * ((p - 1) * b_recv + b_load + b_store));
	print_message("ring p=%d, %lld B: launch %lld + load %lld + %d x (send %lld + recv %lld) + add %lld + store %lld"
		      " = %lld ps\n", p, (long long)bytes, (long long)c.launch_ps, (long long)t_load, p - 1,
		      (long long)t_send, (long long)t_recv, (long long)t_add, (long long)t_store,
		      (long long)(c.launch_ps + kernel));
}

/* The graph's channel edges, as kb_time_graph_edges lists them. */
typedef struct chan_edges {
	int n_data, n_credit;
	bool credit_from_recv;   /* every credit edge leaves an ipcq_recv for an ipcq_send */
	bool data_from_send;     /* every data edge leaves an ipcq_send for an ipcq_recv */
} chan_edges;

static int count_chan_edge(void *ctx, int64_t from, int64_t to, int reason, kb_error *err)
{
	(void)err;
	chan_edges *c = ctx;
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT (SELECT kind FROM ops WHERE id = %lld) * 100 + (SELECT kind FROM ops WHERE id = %lld)",
		 (long long)from, (long long)to);
	if (reason == KB_WAIT_CREDIT) {
		c->n_credit++;
		c->credit_from_recv &= th_query(sql) == KB_OP_IPCQ_RECV * 100 + KB_OP_IPCQ_SEND;
	} else if (reason == KB_WAIT_DATA) {
		c->n_data++;
		c->data_from_send &= th_query(sql) == KB_OP_IPCQ_SEND * 100 + KB_OP_IPCQ_RECV;
	}
	return 0;
}

/* One slot: send k waits for recv k-1 to free it plus the credit message's
 * trip back (route latency + 16 B at the bottleneck). */
static void one_slot_makes_sends_wait_for_credits(void **state)
{
	(void)state;
	const char *ccl[] = {"defaults.algorithm=ring_allreduce_hbm", "algorithms.ring_allreduce_hbm.n_slots=1"};
	kb_error err;
	if (th_trace_ccl(kb_bench_find("ccl_allreduce"), 0, NULL, 2, ccl, &err))
		fail_msg("%s", err.msg);
	th_time("credit", 0, NULL);
	/* every send after the first on a channel waits for a credit */
	assert_int_equal(th_query("SELECT count(*) FROM op_times_v WHERE run = 'credit' AND waited_on = 'credit'"), 8 * 6);
	kb_machine m = th_default_machine();
	kb_cost c;
	kb_cost_init(&c, &m);
	uint64_t pe0_tcm = 0;
	kb_physaddr p = {0, 0, 0, KB_SPACE_TCM, 0, 0};
	assert_int_equal(kb_pa_encode(&m, &p, &pe0_tcm, &err), 0);
	kb_route_info r;
	assert_int_equal(kb_time_route(&m, 0, 0, 1, pe0_tcm, false, &r, &err), 0);
	int64_t credit = r.latency_ps + kb_cost_transfer_ps(16, r.bottleneck_gbps);
	/* PE 0's second send (chan 1, message 1) starts a credit after PE 1's first recv */
	int64_t recv_end = th_query("SELECT t.t_end_ps FROM op_times t JOIN ops o ON o.id = t.op_id JOIN timing_runs r"
				    " ON r.id = t.run_id WHERE r.label = 'credit' AND o.chan_id = 1 AND o.chan_seq = 0"
				    " AND o.kind = (SELECT id FROM enum_op_kind WHERE name = 'ipcq_recv')");
	int64_t send_start = th_query("SELECT t.t_start_ps FROM op_times t JOIN ops o ON o.id = t.op_id JOIN timing_runs r"
				      " ON r.id = t.run_id WHERE r.label = 'credit' AND o.chan_id = 1 AND o.chan_seq = 1"
				      " AND o.kind = (SELECT id FROM enum_op_kind WHERE name = 'ipcq_send')");
	assert_int_equal(send_start, recv_end + credit);
	/* the graph: a data edge per message, a credit edge per send after a channel's first (one slot) */
	kb_db *db;
	kb_time_graph *g;
	assert_int_equal(kb_db_open(&db, th_path(), false, &err), 0);
	assert_int_equal(kb_time_graph_build(db, &m, NULL, &g, &err), 0);
	chan_edges ce = {0, 0, true, true};
	assert_int_equal(kb_time_graph_edges(g, count_chan_edge, &ce, &err), 0);
	assert_int_equal(ce.n_data, th_query("SELECT count(*) FROM ops WHERE kind ="
					     " (SELECT id FROM enum_op_kind WHERE name = 'ipcq_recv')"));
	assert_int_equal(ce.n_credit, 8 * 6);
	assert_true(ce.credit_from_recv);
	assert_true(ce.data_from_send);
	kb_time_graph_free(g);
	kb_db_close(db);
}

/* ring_rsag on an uncontended ring, one message per chunk (n/p = S bytes
 * fits a slot), so each of the 2(p-1) steps is: send S bytes (S/B, then
 * the route latency α), the neighbour's recv, and in the reduce-scatter
 * the add. With the PE-local costs made negligible
 *   --set pe_dma.setup_ns=0, pe_tcm.bandwidth_gbps=1e6, pe_tcm.latency_ns=0,
 *         clock_ghz=1000, pe_math.setup_cycles=0, pe_math.lanes=1e6
 * the kernel takes the NCCL / ASTRA-sim form 2(p-1)·α + 2(p-1)/p · n/B
 * plus what is left of them: the first load, (p-1) x (recv + add),
 * (p-1) x recv, the last store, each a few hundred ps. α and B are the
 * send route's latency sum and bottleneck, from kb_time_route. */
/* A what-if point (the graph built once, a schedule summed up) equals a
 * stored kb-time run of the same values to the picosecond: total, the
 * busiest link of each class, each collective's time; points run on a
 * pool of threads give what they give one at a time. */
static void points_equal_stored_runs(void **state)
{
	(void)state;
	const char *ccl[] = {"defaults.algorithm=ring_rsag_allreduce", "algorithms.ring_rsag_allreduce.world_size=8"};
	const char *params[] = {"n_elem=65536", "dtype=2"};
	kb_error err;
	if (th_trace_ccl(kb_bench_find("ccl_allreduce"), 2, params, 2, ccl, &err))
		fail_msg("%s", err.msg);
	static const char *const bw[] = {"cube.components.hbm.attrs.bandwidth_gbps=100",
					 "cube.components.hbm.attrs.bandwidth_gbps=25",
					 "cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps=64",
					 "sip.components.cube_link.attrs.bandwidth_gbps=16"};
	enum { N = 4 };
	int64_t stored[N];
	for (int i = 0; i < N; i++) {
		char label[16];
		snprintf(label, sizeof label, "p%d", i);
		stored[i] = th_time(label, 1, &bw[i]);
	}
	kb_db *db;
	kb_topo_cfg cfg[N];
	kb_machine m[N];
	const kb_machine *mp[N];
	assert_int_equal(kb_db_open(&db, th_path(), false, &err), 0);
	for (int i = 0; i < N; i++) {
		char kv[128], *k, *v;
		snprintf(kv, sizeof kv, "%s", bw[i]);
		assert_int_equal(kb_cli_trace_topology(db, &cfg[i], &err), 0);
		assert_int_equal(kb_split_assignment(kv, &k, &v), 0);
		assert_int_equal(kb_topo_set(&cfg[i], k, v, &err), 0);
		assert_int_equal(kb_machine_init(&m[i], &cfg[i], &err), 0);
		mp[i] = &m[i];
	}
	kb_time_graph *g;
	assert_int_equal(kb_time_graph_build(db, &m[0], NULL, &g, &err), 0);
	assert_int_equal(kb_time_graph_ops(g), th_query("SELECT count(*) FROM ops"));
	kb_time_summary one[N], many[N];
	int rc[N];
	kb_error errs[N];
	for (int i = 0; i < N; i++) {
		assert_int_equal(kb_time_point(g, &m[i], &one[i], &err), 0);
		assert_int_equal(one[i].total_ps, stored[i]);
		char sql[512];
		snprintf(sql, sizeof sql, "SELECT max(t_end_ps) - min(t_start_ps) FROM launch_times WHERE run_id ="
			 " (SELECT id FROM timing_runs WHERE label = 'p%d')", i);
		assert_int_equal(one[i].n_collectives, 1);
		assert_int_equal(one[i].collectives[0].time_ps, th_query(sql));
		assert_int_equal(one[i].collectives[0].world_size, 8);
		assert_int_equal(one[i].collectives[0].bytes, 65536 * 4);
		for (int k = 0; k < KB_LINK_CLASS_COUNT; k++) {
			snprintf(sql, sizeof sql, "SELECT coalesce(max(busy_ps), 0) FROM link_usage WHERE run_id ="
				 " (SELECT id FROM timing_runs WHERE label = 'p%d') AND kind = '%s'", i, kb_link_class_name(k));
			assert_int_equal(llround(one[i].busiest[k].busy_pct * (double)one[i].total_ps / 100.0), th_query(sql));
		}
	}
	assert_true(one[1].total_ps > one[0].total_ps); /* a slower HBM takes longer */
	kb_time_points(g, mp, N, 2, many, rc, errs, NULL, NULL, NULL, 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(rc[i], 0);
		assert_int_equal(many[i].total_ps, one[i].total_ps);
		assert_int_equal(many[i].device_ps, one[i].device_ps);
		assert_int_equal(many[i].collectives[0].time_ps, one[i].collectives[0].time_ps);
		assert_memory_equal(many[i].unit_pct, one[i].unit_pct, sizeof one[i].unit_pct);
		kb_time_summary_release(&one[i]);
		kb_time_summary_release(&many[i]);
		kb_topo_release(&cfg[i]);
	}
	kb_time_graph_free(g);
	kb_db_close(db);
}

static void ring_rsag_matches_the_nccl_closed_form(void **state)
{
	(void)state;
	const char *faster[] = {"cube.pe_template.components.pe_dma.attrs.setup_ns=0",
				"cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps=1000000",
				"cube.pe_template.components.pe_tcm.attrs.latency_ns=0", "cube.pe_template.clock_ghz=1000",
				"cube.pe_template.components.pe_math.attrs.setup_cycles=0",
				"cube.pe_template.components.pe_math.attrs.lanes=1000000"};
	const int64_t S = 65536; /* bytes per chunk = the slot size */
	for (int p = 2; p <= 8; p *= 2) {
		char ws[96], n_elem[48];
		snprintf(ws, sizeof ws, "algorithms.ring_rsag_allreduce.world_size=%d", p);
		snprintf(n_elem, sizeof n_elem, "n_elem=%lld", (long long)(S / 4 * p));
		const char *ccl[] = {"defaults.algorithm=ring_rsag_allreduce", ws};
		const char *params[] = {n_elem, "mem=1", "dtype=2"};
		kb_error err;
		if (th_trace_ccl(kb_bench_find("ccl_allreduce"), 3, params, 2, ccl, &err))
			fail_msg("%s", err.msg);
		th_time("rsag", 6, faster);
		/* α and B: the send route from rank 0 to rank 1's rx slot, on the faster machine */
		kb_topo_cfg cfg;
		kb_topo_defaults(&cfg);
		for (int i = 0; i < 6; i++) {
			char kv[128], *k, *v;
			snprintf(kv, sizeof kv, "%s", faster[i]);
			assert_int_equal(kb_split_assignment(kv, &k, &v), 0);
			assert_int_equal(kb_topo_set(&cfg, k, v, &err), 0);
		}
		kb_machine m;
		assert_int_equal(kb_machine_init(&m, &cfg, &err), 0);
		kb_cost c;
		kb_cost_init(&c, &m);
		uint64_t slot = (uint64_t)th_query("SELECT rx_pa FROM channels WHERE src_rank = 0 AND dst_rank = 1"
						   " AND src_dir = 0");
		kb_route_info r;
		assert_int_equal(kb_time_route(&m, 0, 0, 0, slot, false, &r, &err), 0);
		int64_t alpha = r.latency_ps, n = S * p;
		double B = r.bottleneck_gbps;
		int64_t network = 2 * (p - 1) * alpha + kb_cost_transfer_ps(2 * (p - 1) * n / p, B);
		int64_t dma = kb_cost_transfer_ps(S, m.cfg.tcm_gbps), add = kb_cost_transfer_ps(3 * S, m.cfg.tcm_gbps);
		int64_t local = dma + (p - 1) * (dma + add) + (p - 1) * dma + dma;
		int64_t kernel = th_query("SELECT t_end_ps - t_pe_start_ps FROM launch_times_v WHERE run = 'rsag'");
		print_message("ring_rsag p=%d n=%lld B: alpha %lld ps, B %.0f GB/s: 2(p-1)alpha + 2(p-1)/p n/B = %lld ps;"
			      " PE-local %lld ps; kernel %lld ps\n", p, (long long)n, (long long)alpha, B, (long long)network,
			      (long long)local, (long long)kernel);
		assert_int_equal(kernel, network + local);
		assert_true(local * 1000 < kernel); /* under 0.1 % */
		kb_topo_release(&cfg);
	}
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
		cmocka_unit_test(a_dma_and_a_gemm_share_the_tcm_port),
		cmocka_unit_test(opposite_directions_and_idle_links_do_not_interact),
		cmocka_unit_test(same_direction_flows_share_the_link),
		cmocka_unit_test(fabric_patterns_load_exactly_their_link_kinds),
		cmocka_unit_test(ranks_have_their_own_host_streams),
		cmocka_unit_test(labels_are_unique_unless_replaced),
		cmocka_unit_test(routes_cross_the_cube_mesh_and_sip_links),
		cmocka_unit_test(ring_allreduce_matches_its_closed_form),
		cmocka_unit_test(one_slot_makes_sends_wait_for_credits),
		cmocka_unit_test(ring_rsag_matches_the_nccl_closed_form),
		cmocka_unit_test(points_equal_stored_runs),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(th_path());
	return rc;
}
