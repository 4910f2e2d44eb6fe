/*
 * gpt3_qkv.c — the QKV projection of a GPT-3 layer on one SIP: x (tokens x
 * d_model) replicated on every PE, W_Q, W_K, W_V column-sharded over all
 * cubes x PEs; each PE computes its column block of Q, K and V.
 * Default d_model 1024 is GPT-3 Medium (GPT-3 175B uses 12288).
 */
#include "benches.h"

#include <stdio.h>

static void qkv_kernel(kb_tl *tl)
{
	int64_t M = tl_arg_int(tl, "M"), D = tl_arg_int(tl, "D"), cols = tl_arg_int(tl, "cols_per_pe");
	int64_t tk = tl_arg_int(tl, "TK");
	static const char *const w[3] = {"wq", "wk", "wv"}, *const out[3] = {"q", "k", "v"};
	for (int i = 0; i < 3; i++)
		tl_gemm_tiled(tl, tl_arg_ptr(tl, "x"), tl_arg_ptr(tl, w[i]), tl_arg_ptr(tl, out[i]), M, D, cols, M,
			      cols, tk, KB_F16, KB_F16);
}

static void run(kb_ctx *ctx)
{
	const kb_machine *m = kb_ctx_machine(ctx);
	int64_t M = kb_param_int(ctx, "M"), D = kb_param_int(ctx, "D"), seed = kb_param_int(ctx, "seed");
	int64_t n_pes = m->n_cubes * m->pes_per_cube;
	benches__gemm_budget(ctx, M, D, 3 * D);
	if (D % n_pes)
		kb_fatal(ctx, "gpt3_qkv: D=%lld does not split over %lld PEs", (long long)D, (long long)n_pes);
	int64_t cols = D / n_pes;
	kb_dp sharded = KB_DP(.cube = KB_COLUMN_WISE, .pe = KB_COLUMN_WISE);
	kb_tensor *x = kb_empty(ctx, "x", KB_SHAPE(M, D), KB_F16, KB_DP(.cube = KB_REPLICATE, .pe = KB_REPLICATE));
	float *xh = benches__random(ctx, M * D, (uint64_t)seed, 1.0f);
	kb_copy_from_host(ctx, x, xh);
	static const char *const wn[3] = {"W_Q", "W_K", "W_V"}, *const on[3] = {"Q", "K", "V"};
	kb_tensor *w[3], *o[3];
	float *wh[3];
	for (int i = 0; i < 3; i++) {
		w[i] = kb_empty(ctx, wn[i], KB_SHAPE(D, D), KB_F16, sharded);
		o[i] = kb_empty(ctx, on[i], KB_SHAPE(M, D), KB_F16, sharded);
		wh[i] = benches__random(ctx, D * D, (uint64_t)seed + 1 + (uint64_t)i, 1.0f / 16);
		kb_copy_from_host(ctx, w[i], wh[i]);
	}
	kb_range_push(ctx, "qkv");
	KB_LAUNCH(ctx, "qkv_proj", qkv_kernel, KB_TENSOR("x", x), KB_TENSOR("wq", w[0]), KB_TENSOR("wk", w[1]),
		  KB_TENSOR("wv", w[2]), KB_TENSOR("q", o[0]), KB_TENSOR("k", o[1]), KB_TENSOR("v", o[2]),
		  KB_INT("M", M), KB_INT("D", D), KB_INT("cols_per_pe", cols), KB_INT("TK", kb_param_int(ctx, "TK")));
	kb_range_pop(ctx);
	float *ref = benches__alloc(ctx, M * D);
	for (int i = 0; i < 3; i++) {
		benches__matmul_ref(ctx, xh, wh[i], ref, M, D, D, KB_F16);
		kb_expect(ctx, o[i], ref, 1e-2, 1e-2);
		kb_host_free(ctx, wh[i]);
	}
	kb_host_free(ctx, ref);
	kb_host_free(ctx, xh);
}

const kb_bench kb_bench_gpt3_qkv = {
	"gpt3_qkv", "GPT-3 QKV projection: x replicated, W_Q/K/V column-sharded over every PE of a SIP", run,
	{{"M", 32, "tokens"}, {"D", 1024, "d_model (GPT-3 Medium; 175B uses 12288)"},
	 {"TK", 256, "GEMM tile depth"}, {"seed", 3, "random input seed"}},
};
