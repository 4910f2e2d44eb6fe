/*
 * ccl_allreduce.c — the configured collective on one buffer per rank.
 *
 * Each PE taking part holds a buffer (1 x n_elem, f16, or f32 when the
 * sum leaves f16's range) of its rank + 1; after all_reduce every one holds
 * the sum over all of them: sum(1..ws) with a PE per rank, n_cubes *
 * sum(1..n_sips) for intercube (the seed's check). hello_send: rank r holds
 * r, its W neighbour's r - 1 + 1. One tensor per device holds the buffers of the ranks on it,
 * one row per rank PE. `fault` makes the two failures the runtime must
 * report: 1 = a recv no send ever feeds (kb-time exits 3 with a pointer
 * dump), 2 = a send on a direction the ring does not install (kb-trace
 * exits 2).
 */
#include "benches.h"

#include <stdio.h>

typedef struct cfg {
	double total;                /* the sum: rank + 1 over every PE taking part */
	int n_dev;                   /* devices with PEs taking part */
	int64_t n_elem;
	kb_dtype dtype;
	kb_space mem;
	int ws, fault;
	bool hello;
} cfg;

static void faulty_kernel(kb_tl *tl)
{
	int64_t n = tl_arg_int(tl, "n_elem");
	kb_dtype dt = (kb_dtype)tl_arg_int(tl, "dtype");
	kb_tile *x = tl_load(tl, tl_arg_ptr(tl, "t"), KB_SHAPE(1, n), dt);
	int fault = (int)tl_arg_int(tl, "fault");
	if (fault == 2)
		tl_send(tl, KB_DIR_N, x); /* a ring installs E and W only */
	if (tl_rank(tl) == 0) {
		kb_tile *y = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, n), dt); /* nobody sends it */
		tl_store(tl, tl_arg_ptr(tl, "t"), y);
	} else {
		tl_store(tl, tl_arg_ptr(tl, "t"), x);
	}
}

static void worker(kb_ctx *ctx, int dev, void *arg)
{
	const cfg *c = arg;
	int nc, np;
	int nr = kb_ccl_device_ranks(ctx, dev, NULL, 0, &nc, &np);
	if (!nr)
		return;
	int *ranks = kb_host_alloc(ctx, (size_t)(nr ? nr : 1) * sizeof *ranks);
	kb_ccl_device_ranks(ctx, dev, ranks, nr, &nc, &np);
	/* one row per PE taking part, in (cube, pe) order */
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .num_cubes = nc, .pe = KB_ROW_WISE, .num_pes = np, .mem = c->mem);
	char name[32];
	snprintf(name, sizeof name, "ccl_in_r%d", dev);
	kb_tensor *t = kb_empty(ctx, name, KB_SHAPE(nr, c->n_elem), c->dtype, dp);
	float *in = bench_alloc(ctx, nr * c->n_elem), *want = bench_alloc(ctx, nr * c->n_elem);
	for (int i = 0; i < nr; i++) {
		int r = ranks[i];
		for (int64_t j = 0; j < c->n_elem; j++) {
			in[i * c->n_elem + j] = (float)(r + 1);
			want[i * c->n_elem + j] = c->hello ? (float)((r - 1 + c->ws) % c->ws + 1) : (float)c->total;
		}
	}
	kb_copy_from_host(ctx, t, in);
	kb_expect(ctx, t, want, 0.01, 0.01);
	kb_range_push(ctx, "all_reduce");
	if (c->fault)
		KB_LAUNCH(ctx, "faulty", faulty_kernel, KB_TENSOR("t", t), KB_INT("n_elem", c->n_elem),
			  KB_INT("fault", c->fault), KB_INT("dtype", c->dtype));
	else
		kb_all_reduce(ctx, t, KB_REDUCE_SUM);
	kb_range_pop(ctx);
	kb_host_free(ctx, in);
	kb_host_free(ctx, want);
	kb_host_free(ctx, ranks);
}

static void run_with(kb_ctx *ctx, const char *algorithm)
{
	cfg c = {.fault = (int)kb_param_int(ctx, "fault"), .hello = algorithm != NULL};
	if (c.fault < 0 || c.fault > 2)
		kb_fatal(ctx, "ccl_allreduce.fault must be 0, 1 or 2 (got %d)", c.fault);
	kb_init_process_group(ctx, "ahbm", algorithm);
	c.ws = kb_world_size(ctx);
	c.n_elem = kb_param_int(ctx, "n_elem");
	if (c.n_elem <= 0)
		c.n_elem = kb_ccl_n_elem(ctx);
	int mem = (int)kb_param_int(ctx, "mem");
	if (mem < 0 || mem > 1)
		kb_fatal(ctx, "ccl_allreduce.mem must be 0 (hbm) or 1 (tcm), got %d", mem);
	c.mem = mem ? KB_SPACE_TCM : KB_SPACE_HBM;
	int dt = (int)kb_param_int(ctx, "dtype");
	if (dt < 0 || dt > 2)
		kb_fatal(ctx, "ccl_allreduce.dtype must be 0 (auto), 1 (f16) or 2 (f32), got %d", dt);
	const kb_machine *m = kb_ctx_machine(ctx);
	int *ranks = kb_host_alloc(ctx, (size_t)m->n_pes * sizeof *ranks);
	for (int d = 0; d < m->n_sips; d++) {
		int nc, np, n = kb_ccl_device_ranks(ctx, d, ranks, m->n_pes, &nc, &np);
		for (int i = 0; i < n; i++)
			c.total += ranks[i] + 1;
		if (n)
			c.n_dev = d + 1;
	}
	kb_host_free(ctx, ranks);
	/* auto: f16 while the sum stays inside its range */
	c.dtype = dt == 1 ? KB_F16 : dt == 2 ? KB_F32 : c.total <= 65504 ? KB_F16 : KB_F32;
	kb_spawn(ctx, worker, &c, c.n_dev);
}

static void run(kb_ctx *ctx)
{
	run_with(ctx, NULL);
}

static void run_hello(kb_ctx *ctx)
{
	run_with(ctx, "hello_send");
}

const kb_bench kb_bench_ccl_allreduce = {
	"ccl_allreduce", "the configured all-reduce (ccl.yaml defaults.algorithm) on one buffer per rank, rank r = r+1",
	run,
	{{"n_elem", 0, "elements per rank (0: the algorithm's n_elem)"},
	 {"fault", 0, "0 none, 1 a recv nobody sends (deadlock), 2 a send on a missing direction"},
	 {"dtype", 0, "0 auto (f16 unless the sum leaves its range), 1 f16, 2 f32"},
	 {"mem", 0, "where the buffers live: 0 HBM slice, 1 TCM"}},
};

const kb_bench kb_bench_hello_send = {
	"hello_send", "every rank sends its tile E and receives from W: rank r ends with rank r-1's data", run_hello,
	{{"n_elem", 0, "elements per rank (0: the algorithm's n_elem)"}, {"fault", 0, "as in ccl_allreduce"},
	 {"dtype", 0, "as in ccl_allreduce"}, {"mem", 0, "as in ccl_allreduce"}},
};
