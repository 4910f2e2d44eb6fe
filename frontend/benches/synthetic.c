/*
 * synthetic.c — a throughput workload for `make bench`: every PE of SIP 0
 * repeats load -> dot -> cast -> store on a small tile until about `ops`
 * ops are recorded. The result is checkable (out = a·a in f16).
 */
#include "benches.h"


static void loop_kernel(kb_tl *tl)
{
	int64_t T = tl_arg_int(tl, "T"), iters = tl_arg_int(tl, "iters");
	uint64_t in = tl_arg_ptr(tl, "in"), out = tl_arg_ptr(tl, "out");
	for (int64_t i = 0; i < iters; i++) {
		kb_tile *a = tl_load(tl, in, KB_SHAPE(T, T), KB_F16);
		kb_tile *p = tl_dot(tl, a, a, 0);
		kb_tile *h = tl_cast(tl, p, KB_F16);
		tl_store(tl, out, h);
		tl_free(tl, a);
		tl_free(tl, p);
		tl_free(tl, h);
	}
}

static void run(kb_ctx *ctx)
{
	const kb_machine *m = kb_ctx_machine(ctx);
	int64_t T = kb_param_int(ctx, "T"), n_pes = m->n_cubes * m->pes_per_cube;
	int64_t iters = (kb_param_int(ctx, "ops") + 4 * n_pes - 1) / (4 * n_pes);
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .pe = KB_ROW_WISE);
	kb_tensor *in = kb_empty(ctx, "in", KB_SHAPE(n_pes * T, T), KB_F16, dp);
	kb_tensor *out = kb_empty(ctx, "out", KB_SHAPE(n_pes * T, T), KB_F16, dp);
	float *h = benches__random(ctx, n_pes * T * T, (uint64_t)kb_param_int(ctx, "seed"), 1.0f);
	float *ref = benches__alloc(ctx, n_pes * T * T);
	kb_copy_from_host(ctx, in, h);
	KB_LAUNCH(ctx, "loop", loop_kernel, KB_TENSOR("in", in), KB_TENSOR("out", out), KB_INT("T", T),
		  KB_INT("iters", iters));
	for (int64_t p = 0; p < n_pes; p++)
		benches__matmul_ref(ctx, h + p * T * T, h + p * T * T, ref + p * T * T, T, T, T, KB_F16);
	kb_expect(ctx, out, ref, 1e-2, 1e-2);
	kb_host_free(ctx, h);
	kb_host_free(ctx, ref);
}

const kb_bench kb_bench_synthetic = {
	"synthetic", "throughput workload: every PE of SIP 0 loops load/dot/cast/store (make bench)", run,
	{{"ops", 100000, "approximate number of kernel ops"}, {"T", 16, "tile edge"}, {"seed", 4, "random input seed"}},
};
