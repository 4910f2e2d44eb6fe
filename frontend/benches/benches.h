/*
 * benches.h — helpers shared by the benches (host-side references and
 * buffers). Private to frontend/benches.
 */
#ifndef KB_BENCHES_H
#define KB_BENCHES_H

#include "kb.h"

/* Host references run before any device work is traced; a GEMM bench
 * checks its sizes against this budget first. */
#define BENCH_REF_MACS (INT64_C(1) << 34)
void benches__gemm_budget(kb_ctx *ctx, int64_t M, int64_t K, int64_t N);

/* malloc'd n floats (aborts the trace on failure). */
float *benches__alloc(kb_ctx *ctx, int64_t n);
/* malloc'd n random floats in [-scale, scale), rounded to f16. */
float *benches__random(kb_ctx *ctx, int64_t n, uint64_t seed, float scale);
/* c[M,N] = a[M,K]·b[K,N] in double, rounded to out_dtype; b's row stride is
 * ldb (elements), c's is ldc. */
void benches__matmul_ref_strided(kb_ctx *ctx, const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N,
			      int64_t ldb, int64_t ldc, kb_dtype out_dtype);
void benches__matmul_ref(kb_ctx *ctx, const float *a, const float *b, float *c, int64_t M, int64_t K, int64_t N,
			 kb_dtype out_dtype);

extern const kb_bench kb_bench_gemm, kb_bench_va_offset_verify, kb_bench_gpt3_qkv, kb_bench_synthetic,
	kb_bench_fabric_traffic, kb_bench_ccl_allreduce, kb_bench_hello_send,
	kb_bench_allreduce_sweep, kb_bench_gqa, kb_bench_tp_mlp, kb_bench_ccl_collective;

#endif
