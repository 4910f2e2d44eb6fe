/*
 * va_offset_verify.c — every PE of every SIP copies its column-wise block
 * from src to dst, addressing it as base + block index · block bytes (the
 * Triton pattern), which checks VA offsets, MMU maps and placement agree.
 */
#include "benches.h"

#include <stdio.h>

static void copy_kernel(kb_tl *tl)
{
	int64_t M = tl_arg_int(tl, "M"), cols = tl_arg_int(tl, "cols_per_pe");
	int64_t block = tl_program_id(tl, 1) * tl_num_programs(tl, 0) + tl_program_id(tl, 0);
	uint64_t offset = (uint64_t)(block * M * cols) * kb_dtype_size(KB_F16);
	kb_tile *t = tl_load(tl, tl_arg_base(tl, "src") + offset, KB_SHAPE(M, cols), KB_F16);
	tl_store(tl, tl_arg_base(tl, "dst") + offset, t);
	tl_free(tl, t);
}

static void worker(kb_ctx *ctx, int rank, void *arg)
{
	(void)arg;
	const kb_machine *m = kb_ctx_machine(ctx);
	int64_t M = kb_param_int(ctx, "M"), cols = kb_param_int(ctx, "cols_per_pe");
	int64_t K = cols * m->n_cubes * m->pes_per_cube;
	kb_dp dp = KB_DP(.cube = KB_COLUMN_WISE, .pe = KB_COLUMN_WISE);
	char src_name[32], dst_name[32];
	snprintf(src_name, sizeof src_name, "src_r%d", rank);
	snprintf(dst_name, sizeof dst_name, "dst_r%d", rank);
	kb_tensor *src = kb_empty(ctx, src_name, KB_SHAPE(M, K), KB_F16, dp);
	kb_tensor *dst = kb_empty(ctx, dst_name, KB_SHAPE(M, K), KB_F16, dp);
	float *data = benches__random(ctx, M * K, (uint64_t)(kb_param_int(ctx, "seed") + rank), 8.0f);
	kb_copy_from_host(ctx, src, data);
	kb_range_push(ctx, "copy");
	KB_LAUNCH(ctx, "copy", copy_kernel, KB_TENSOR("src", src), KB_TENSOR("dst", dst), KB_INT("M", M),
		  KB_INT("cols_per_pe", cols));
	kb_range_pop(ctx);
	kb_expect(ctx, dst, data, 0, 0);
	kb_host_free(ctx, data);
}

static void run(kb_ctx *ctx)
{
	kb_spawn(ctx, worker, NULL, kb_world_size(ctx));
}

const kb_bench kb_bench_va_offset_verify = {
	"va_offset_verify", "every PE of every SIP copies its column-wise block src -> dst (dst == src)", run,
	{{"M", 64, "rows"}, {"cols_per_pe", 8, "columns each PE owns"}, {"seed", 2, "random input seed"}},
};
