/*
 * gemm.c — single-PE GEMM: C[M,N] = A[M,K] · B[K,N] in f16 with f32
 * accumulation, tiled to fit the kernel scratch (one tile by default).
 */
#include "benches.h"


static void gemm_kernel(kb_tl *tl)
{
	tl_gemm_tiled(tl, tl_arg_ptr(tl, "a"), tl_arg_ptr(tl, "b"), tl_arg_ptr(tl, "c"), tl_arg_int(tl, "M"),
		      tl_arg_int(tl, "K"), tl_arg_int(tl, "N"), tl_arg_int(tl, "TM"), tl_arg_int(tl, "TN"),
		      tl_arg_int(tl, "TK"), KB_F16, KB_F16);
}

static void run(kb_ctx *ctx)
{
	int64_t M = kb_param_int(ctx, "M"), K = kb_param_int(ctx, "K"), N = kb_param_int(ctx, "N");
	benches__gemm_budget(ctx, M, K, N);
	kb_dp one_pe = KB_DP(.num_cubes = 1, .num_pes = 1);
	kb_tensor *A = kb_empty(ctx, "A", KB_SHAPE(M, K), KB_F16, one_pe);
	kb_tensor *B = kb_empty(ctx, "B", KB_SHAPE(K, N), KB_F16, one_pe);
	kb_tensor *C = kb_empty(ctx, "C", KB_SHAPE(M, N), KB_F16, one_pe);
	float *a = benches__random(ctx, M * K, (uint64_t)kb_param_int(ctx, "seed"), 1.0f);
	float *b = benches__random(ctx, K * N, (uint64_t)kb_param_int(ctx, "seed") + 1, 1.0f);
	float *c = benches__alloc(ctx, M * N);
	kb_copy_from_host(ctx, A, a);
	kb_copy_from_host(ctx, B, b);
	kb_range_push(ctx, "gemm");
	KB_LAUNCH(ctx, "gemm", gemm_kernel, KB_TENSOR("a", A), KB_TENSOR("b", B), KB_TENSOR("c", C),
		  KB_INT("M", M), KB_INT("K", K), KB_INT("N", N), KB_INT("TM", kb_param_int(ctx, "TM")),
		  KB_INT("TN", kb_param_int(ctx, "TN")), KB_INT("TK", kb_param_int(ctx, "TK")));
	kb_range_pop(ctx);
	benches__matmul_ref(ctx, a, b, c, M, K, N, KB_F16);
	kb_expect(ctx, C, c, 1e-2, 1e-2);
	kb_host_free(ctx, a);
	kb_host_free(ctx, b);
	kb_host_free(ctx, c);
}

const kb_bench kb_bench_gemm = {
	"gemm", "single-PE GEMM C = A·B (f16 in and out, f32 accumulation), tiled to fit the scratch", run,
	{{"M", 256, "rows of A and C"}, {"K", 256, "columns of A, rows of B"}, {"N", 256, "columns of B and C"},
	 {"TM", 256, "tile rows"}, {"TN", 256, "tile columns"}, {"TK", 256, "tile depth"},
	 {"seed", 1, "random input seed"}},
};
