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
	kb_coll_type type;           /* ccl_collective: the collective */
	int root;                    /* broadcast */
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

/* The other collectives on device dev's nr ranks (ranks[i] on row block
 * i): a buffer of n_elem per rank as p rows (its chunks) of n_elem / p, so
 * chunk c of rank i is row i * p + c. Rank r's chunk c holds
 * r * p + c + 1 (all-to-all, reduce-scatter), r + 1 in chunk r and 0
 * elsewhere (all-gather), r + 1 (broadcast, one row per rank). */
static void other_call(kb_ctx *ctx, const cfg *c, kb_dp dp, const char *name, const int *ranks, int nr)
{
	int p = c->ws;
	bool rows_of_chunks = c->type != KB_COLL_BROADCAST;
	if (rows_of_chunks && c->n_elem % p)
		kb_fatal(ctx, "ccl_collective.n_elem %lld does not split into %d equal chunks", (long long)c->n_elem, p);
	int64_t rows = rows_of_chunks ? (int64_t)nr * p : nr, cols = rows_of_chunks ? c->n_elem / p : c->n_elem;
	kb_tensor *t = kb_empty(ctx, name, KB_SHAPE(rows, cols), c->dtype, dp);
	float *in = benches__alloc(ctx, rows), *want = benches__alloc(ctx, rows);
	for (int64_t row = 0; row < rows; row++) {
		int i = (int)(rows_of_chunks ? row / p : row), ch = (int)(rows_of_chunks ? row % p : 0), r = ranks[i];
		switch (c->type) {
		case KB_COLL_ALL_GATHER:
			in[row] = ch == r ? (float)(r + 1) : 0.0f;
			want[row] = (float)(ch + 1);
			break;
		case KB_COLL_REDUCE_SCATTER: /* chunk r of rank r: the sum over ranks q of q * p + r + 1 */
			in[row] = (float)(r * p + ch + 1);
			want[row] = (float)((double)p * (p - 1) / 2 * p + (double)p * (ch + 1));
			break;
		case KB_COLL_ALL_TO_ALL:
			in[row] = (float)(r * p + ch + 1);
			want[row] = (float)(ch * p + r + 1);
			break;
		default: /* broadcast */
			in[row] = (float)(r + 1);
			want[row] = (float)(c->root + 1);
			break;
		}
	}
	kb_copy_rows_from_host(ctx, t, in);
	kb_tensor *out = NULL;
	if (c->type == KB_COLL_ALL_TO_ALL) {
		char oname[80];
		snprintf(oname, sizeof oname, "%s_out", name);
		out = kb_empty(ctx, oname, KB_SHAPE(rows, cols), c->dtype, dp);
	}
	if (c->type == KB_COLL_REDUCE_SCATTER) { /* only chunk r of rank r is defined */
		int64_t *sel = kb_host_alloc(ctx, (size_t)nr * sizeof *sel);
		float *vals = benches__alloc(ctx, (int64_t)nr * cols);
		for (int i = 0; i < nr; i++) {
			sel[i] = (int64_t)i * p + ranks[i];
			for (int64_t k = 0; k < cols; k++)
				vals[(int64_t)i * cols + k] = want[sel[i]];
		}
		kb_expect_rows(ctx, t, sel, nr, vals, 0.01, 0.01);
		kb_host_free(ctx, sel);
		kb_host_free(ctx, vals);
	} else {
		kb_expect_row_values(ctx, out ? out : t, want, 0.01, 0.01);
	}
	kb_range_push(ctx, kb_coll_type_name(c->type));
	switch (c->type) {
	case KB_COLL_ALL_GATHER: kb_all_gather(ctx, t); break;
	case KB_COLL_REDUCE_SCATTER: kb_reduce_scatter(ctx, t, KB_REDUCE_SUM); break;
	case KB_COLL_ALL_TO_ALL: kb_all_to_all(ctx, t, out); break;
	default: kb_broadcast(ctx, t, c->root); break;
	}
	kb_range_pop(ctx);
	kb_host_free(ctx, in);
	kb_host_free(ctx, want);
}

/* One all_reduce of n_elem per PE taking part on device dev. */
static void one_call(kb_ctx *ctx, const cfg *c, int dev, const char *prefix)
{
	int nc, np;
	int nr = kb_ccl_device_ranks(ctx, dev, NULL, 0, &nc, &np);
	if (!nr)
		return;
	int *ranks = kb_host_alloc(ctx, (size_t)(nr ? nr : 1) * sizeof *ranks);
	kb_ccl_device_ranks(ctx, dev, ranks, nr, &nc, &np);
	/* one row per PE taking part, in (cube, pe) order */
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .num_cubes = nc, .pe = KB_ROW_WISE, .num_pes = np, .mem = c->mem);
	char name[64];
	if (prefix)
		snprintf(name, sizeof name, "%s_r%d_%lldB", prefix, dev, (long long)(c->n_elem * (int64_t)kb_dtype_size(c->dtype)));
	else
		snprintf(name, sizeof name, "ccl_in_r%d", dev);
	if (c->type != KB_COLL_ALL_REDUCE) {
		other_call(ctx, c, dp, name, ranks, nr);
		kb_host_free(ctx, ranks);
		return;
	}
	kb_tensor *t = kb_empty(ctx, name, KB_SHAPE(nr, c->n_elem), c->dtype, dp);
	/* row i (rank r) holds r + 1; all-reduce leaves the sum everywhere, hello
	 * rank r - 1's row: per-row values, no whole-device arrays */
	float *in = benches__alloc(ctx, nr), *want = benches__alloc(ctx, nr);
	for (int i = 0; i < nr; i++) {
		in[i] = (float)(ranks[i] + 1);
		want[i] = (float)((ranks[i] - 1 + c->ws) % c->ws + 1);
	}
	kb_copy_rows_from_host(ctx, t, in);
	if (c->hello)
		kb_expect_row_values(ctx, t, want, 0.01, 0.01);
	else
		kb_expect_ramp(ctx, t, (double)(float)c->total, 0, 0, 0.01, 0.01);
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

static void worker(kb_ctx *ctx, int dev, void *arg)
{
	one_call(ctx, arg, dev, NULL);
}

/* The process group and what every call shares: world size, the sum,
 * the devices taking part, buffer dtype and memory. */
static cfg setup(kb_ctx *ctx, const char *algorithm, const char *bench)
{
	cfg c = {.hello = algorithm != NULL};
	kb_init_process_group(ctx, "ahbm", algorithm);
	c.ws = kb_world_size(ctx);
	int mem = (int)kb_param_int(ctx, "mem");
	if (mem < 0 || mem > 1)
		kb_fatal(ctx, "%s.mem must be 0 (hbm) or 1 (tcm), got %d", bench, mem);
	c.mem = mem ? KB_SPACE_TCM : KB_SPACE_HBM;
	int dt = (int)kb_param_int(ctx, "dtype");
	if (dt < 0 || dt > 2)
		kb_fatal(ctx, "%s.dtype must be 0 (auto), 1 (f16) or 2 (f32), got %d", bench, dt);
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
	c.type = KB_COLL_ALL_REDUCE;
	return c;
}

static void run_with(kb_ctx *ctx, const char *algorithm)
{
	cfg c = setup(ctx, algorithm, algorithm ? "hello_send" : "ccl_allreduce");
	c.fault = (int)kb_param_int(ctx, "fault");
	if (c.fault < 0 || c.fault > 2)
		kb_fatal(ctx, "ccl_allreduce.fault must be 0, 1 or 2 (got %d)", c.fault);
	c.n_elem = kb_param_int(ctx, "n_elem");
	if (c.n_elem <= 0)
		c.n_elem = kb_ccl_n_elem(ctx);
	kb_spawn(ctx, worker, &c, c.n_dev);
}

/* ccl_collective: one call of the chosen collective per device. */
static void run_collective(kb_ctx *ctx)
{
	cfg c = setup(ctx, NULL, "ccl_collective");
	int type = (int)kb_param_int(ctx, "collective");
	if (type < 0 || type >= KB_COLL_TYPE_COUNT)
		kb_fatal(ctx, "ccl_collective.collective must be 0 (all_reduce), 1 (all_gather), 2 (reduce_scatter),"
			      " 3 (all_to_all) or 4 (broadcast), got %d", type);
	c.type = (kb_coll_type)type;
	c.root = (int)kb_param_int(ctx, "root");
	c.n_elem = kb_param_int(ctx, "n_elem");
	if (c.n_elem <= 0)
		c.n_elem = (int64_t)c.ws * 64;
	/* the values reach p^2 (all-to-all) and p^3 / 2 (reduce-scatter's sums) */
	double p = c.ws, top = c.type == KB_COLL_REDUCE_SCATTER ? p * p * (p + 1) / 2 : p * p;
	if (kb_param_int(ctx, "dtype") == 0 && top > 65504)
		c.dtype = KB_F32;
	kb_spawn(ctx, worker, &c, c.n_dev);
}

/* allreduce_sweep: nccl-tests' -b -e -f over the configured algorithm. */
static void sweep_worker(kb_ctx *ctx, int dev, void *arg)
{
	one_call(ctx, arg, dev, "sweep");
}

static void run_sweep(kb_ctx *ctx)
{
	cfg c = setup(ctx, NULL, "allreduce_sweep");
	int64_t lo = kb_param_int(ctx, "min_bytes"), hi = kb_param_int(ctx, "max_bytes");
	int64_t f = kb_param_int(ctx, "factor");
	size_t isz = kb_dtype_size(c.dtype);
	if (lo < (int64_t)isz || hi < lo || f < 2 || hi > (INT64_C(1) << 34))
		kb_fatal(ctx, "allreduce_sweep: need %zu <= min_bytes <= max_bytes <= 16 GiB and factor >= 2 (got %lld, %lld, %lld)",
			 isz, (long long)lo, (long long)hi, (long long)f);
	/* an algorithm that sends the buffer as one tile stops at its slot
	 * size: the range is clamped, and the note says how to go further */
	int64_t cap = kb_ccl_max_message_bytes(ctx);
	if (cap > 0 && hi > cap) {
		if (lo > cap)
			kb_fatal(ctx, "allreduce_sweep: %s sends each buffer as one tile of at most its slot_size %lld B, below"
				 " min_bytes %lld (raise ccl.defaults.slot_size, or --set ccl.defaults.algorithm=ring_rsag_allreduce,"
				 " which chunks)", kb_ccl_algorithm(ctx), (long long)cap, (long long)lo);
		fprintf(stderr, "allreduce_sweep: note: %s sends each buffer as one tile, so sizes stop at its slot_size"
			" %lld B (max_bytes %lld); --set ccl.defaults.algorithm=ring_rsag_allreduce chunks any size\n",
			kb_ccl_algorithm(ctx), (long long)cap, (long long)hi);
		hi = cap;
	}
	int n = 0;
	for (int64_t b = lo; b <= hi && n < 64; b *= f, n++) {
		c.n_elem = b / (int64_t)isz;
		kb_spawn(ctx, sweep_worker, &c, c.n_dev);
	}
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

const kb_bench kb_bench_ccl_collective = {
	"ccl_collective", "one all-reduce, all-gather, reduce-scatter, all-to-all or broadcast per rank, verified",
	run_collective,
	{{"collective", 1, "0 all_reduce, 1 all_gather, 2 reduce_scatter, 3 all_to_all, 4 broadcast"},
	 {"n_elem", 0, "elements per rank (0: 64 per rank); all but broadcast split it into world-size chunks"},
	 {"root", 0, "broadcast: the root rank"},
	 {"dtype", 0, "0 auto (f16 unless the values leave its range), 1 f16, 2 f32"},
	 {"mem", 0, "where the buffers live: 0 HBM slice, 1 TCM"}},
};

const kb_bench kb_bench_allreduce_sweep = {
	"allreduce_sweep", "the configured all-reduce over message sizes min_bytes..max_bytes by factor (nccl-tests -b -e -f)",
	run_sweep,
	{{"min_bytes", 1024, "smallest buffer per rank, bytes"}, {"max_bytes", 1 << 20, "largest buffer per rank, bytes"},
	 {"factor", 2, "size multiplier between steps"}, {"dtype", 2, "0 auto, 1 f16, 2 f32 (nccl-tests' float)"},
	 {"mem", 0, "where the buffers live: 0 HBM slice, 1 TCM"}},
};

const kb_bench kb_bench_hello_send = {
	"hello_send", "every rank sends its tile E and receives from W: rank r ends with rank r-1's data", run_hello,
	{{"n_elem", 0, "elements per rank (0: the algorithm's n_elem)"}, {"fault", 0, "as in ccl_allreduce"},
	 {"dtype", 0, "as in ccl_allreduce"}, {"mem", 0, "as in ccl_allreduce"}},
};
