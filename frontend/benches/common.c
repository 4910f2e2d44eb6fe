/*
 * common.c — the host-side helpers benches share: host buffers, random
 * inputs, the GEMM scratch budget and the reference matmul.
 */
#include "benches.h"

#include <string.h>

float *benches__alloc(kb_ctx *ctx, int64_t n)
{
	return kb_host_alloc(ctx, (size_t)n * sizeof(float));
}

float *benches__random(kb_ctx *ctx, int64_t n, uint64_t seed, float scale)
{
	float *p = benches__alloc(ctx, n);
	kb_fill_random(p, n, seed, scale);
	for (int64_t i = 0; i < n; i++)
		p[i] = kb_dtype_round(KB_F16, p[i]);
	return p;
}

void benches__gemm_budget(kb_ctx *ctx, int64_t M, int64_t K, int64_t N)
{
	if (M < 1 || K < 1 || N < 1)
		kb_fatal(ctx, "GEMM sizes must be >= 1 (M=%lld K=%lld N=%lld)", (long long)M, (long long)K, (long long)N);
	double macs = (double)M * (double)K * (double)N;
	if (macs > BENCH_REF_MACS)
		kb_fatal(ctx, "the host reference of a %lldx%lldx%lld GEMM is %.3g multiply-adds, over the %.3g budget"
			      " (about 10 s): lower M, K or N", (long long)M, (long long)K, (long long)N, macs,
			 (double)BENCH_REF_MACS);
}

void benches__matmul_ref_strided(kb_ctx *ctx, const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N,
			      int64_t ldb, int64_t ldc, kb_dtype out_dtype)
{
	double *row = kb_host_alloc(ctx, (size_t)N * sizeof *row);
	for (int64_t i = 0; i < M; i++) {
		for (int64_t j = 0; j < N; j++)
			row[j] = 0;
		for (int64_t k = 0; k < K; k++) {
			double av = a[i * K + k];
			const float *brow = b + k * ldb;
			for (int64_t j = 0; j < N; j++)
				row[j] += av * brow[j];
		}
		for (int64_t j = 0; j < N; j++)
			c[i * ldc + j] = kb_dtype_round(out_dtype, (float)row[j]);
	}
	kb_host_free(ctx, row);
}

void benches__matmul_ref(kb_ctx *ctx, const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N,
			 kb_dtype out_dtype)
{
	benches__matmul_ref_strided(ctx, a, b, c, M, K, N, N, N, out_dtype);
}
