/*
 * tp.c — Megatron tensor parallelism over the runtime: column- and
 * row-parallel linear layers whose GEMMs spread over the PEs of each rank's
 * SIP, the row layer's partials all-reduced with the installed algorithm.
 *
 * A layer's local extent (out / tp columns, or in / tp rows) splits over
 * n_cubes x n_pes PEs: n_pes = gcd(local, PEs per cube), n_cubes the most
 * cubes that divide what is left. Column layer: x (M, in) replicated on
 * those PEs, W (in, local) split by columns, each PE computes its column
 * block. Row layer: x (M, local) split by columns the same way (what a
 * column layer leaves), W (local, out) split by rows, each PE computes a
 * partial (M, out) into its block of y; the blocks of PEs outside the
 * layer start at zero; all_reduce(SUM) over every participant.
 */
#include "frontend_int.h"

#include <stdio.h>

void kb_tp_init(kb_ctx *ctx, int tp)
{
	if (!ctx->ccl)
		kb_fatal(ctx, "tp_init(%d): call init_process_group first (TP = the world size)", tp);
	if (tp != kb_world_size(ctx))
		kb_fatal(ctx, "tp_init(%d): pure tensor parallelism needs TP = the world size (%d)", tp, kb_world_size(ctx));
	ctx->tp_size = tp;
}

int kb_tp_world_size(kb_ctx *ctx)
{
	if (!ctx->tp_size)
		kb_fatal(ctx, "tensor model parallel world size: kb_tp_init was not called");
	return ctx->tp_size;
}

int kb_tp_rank(kb_ctx *ctx)
{
	kb_tp_world_size(ctx);
	return kb_get_rank(ctx);
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static kb_tp_linear make(kb_ctx *ctx, const char *name, int64_t in, int64_t out, bool row)
{
	int tp = kb_tp_world_size(ctx);
	int64_t split = row ? in : out;
	if (in < 1 || out < 1 || split % tp)
		kb_fatal(ctx, "%s-parallel '%s' (%lld -> %lld): %s features must split over TP = %d",
			 row ? "row" : "column", name, (long long)in, (long long)out, row ? "in" : "out", tp);
	const kb_machine *m = ctx->m;
	kb_tp_linear l = {name, NULL, in, out, split / tp, row, 1, 1};
	l.n_pes = (int)gcd64(l.local, m->pes_per_cube);
	for (int c = m->n_cubes; c >= 1; c--)
		if ((l.local / l.n_pes) % c == 0) {
			l.n_cubes = c;
			break;
		}
	kb_split s = row ? KB_ROW_WISE : KB_COLUMN_WISE;
	char wname[96];
	snprintf(wname, sizeof wname, "%s_w_r%d", name, kb_get_rank(ctx));
	l.w = kb_empty(ctx, wname, row ? KB_SHAPE(l.local, out) : KB_SHAPE(in, l.local), KB_F16,
		       KB_DP(.cube = s, .num_cubes = l.n_cubes, .pe = s, .num_pes = l.n_pes));
	return l;
}

kb_tp_linear kb_tp_column_parallel(kb_ctx *ctx, const char *name, int64_t in, int64_t out)
{
	return make(ctx, name, in, out, false);
}

kb_tp_linear kb_tp_row_parallel(kb_ctx *ctx, const char *name, int64_t in, int64_t out)
{
	return make(ctx, name, in, out, true);
}

static kb_dp split_dp(const kb_tp_linear *l)
{
	return KB_DP(.cube = KB_COLUMN_WISE, .num_cubes = l->n_cubes, .pe = KB_COLUMN_WISE, .num_pes = l->n_pes);
}

kb_tensor *kb_tp_input(kb_ctx *ctx, const char *name, const kb_tp_linear *l, int64_t M)
{
	if (M < 1)
		kb_fatal(ctx, "tp input '%s': %lld rows", name, (long long)M);
	if (l->row)
		return kb_empty(ctx, name, KB_SHAPE(M, l->local), KB_F16, split_dp(l));
	return kb_empty(ctx, name, KB_SHAPE(M, l->in), KB_F16,
			KB_DP(.cube = KB_REPLICATE, .num_cubes = l->n_cubes, .pe = KB_REPLICATE, .num_pes = l->n_pes));
}

static int64_t tile(int64_t n)
{
	return n < 128 ? n : 128;
}

/* Column layer: this PE's column block of x · W. */
static void column_kernel(kb_tl *tl)
{
	int64_t M = tl_arg_int(tl, "M"), K = tl_arg_int(tl, "K"), N = tl_arg_int(tl, "cols_per_pe");
	tl_gemm_tiled(tl, tl_arg_ptr(tl, "x"), tl_arg_ptr(tl, "w"), tl_arg_ptr(tl, "y"), M, K, N, tile(M), tile(N),
		      tile(K), KB_F16, KB_F16);
}

/* Row layer: PEs of the layer's split compute x_pe · W_pe into their block
 * of y; the other PEs holding a block of y keep its zeros. */
static void row_kernel(kb_tl *tl)
{
	if (tl_program_id(tl, 0) >= tl_arg_int(tl, "n_pes") || tl_program_id(tl, 1) >= tl_arg_int(tl, "n_cubes"))
		return;
	int64_t M = tl_arg_int(tl, "M"), K = tl_arg_int(tl, "rows_per_pe"), N = tl_arg_int(tl, "N");
	tl_gemm_tiled(tl, tl_arg_ptr(tl, "x"), tl_arg_ptr(tl, "w"), tl_arg_ptr(tl, "y"), M, K, N, tile(M), tile(N),
		      tile(K), KB_F16, KB_F16);
}

kb_tensor *kb_tp_forward(kb_ctx *ctx, const kb_tp_linear *l, kb_tensor *x, const char *out_name)
{
	kb_shape xs = kb_tensor_shape(x);
	int64_t want = l->row ? l->local : l->in;
	if (xs.ndim != 2 || xs.d[1] != want)
		kb_fatal(ctx, "%s-parallel '%s': input has %lld columns, the layer takes %lld", l->row ? "row" : "column",
			 l->name, (long long)(xs.ndim == 2 ? xs.d[1] : -1), (long long)want);
	int64_t M = xs.d[0], per = l->local / (l->n_cubes * l->n_pes);
	if (!l->row) {
		kb_tensor *y = kb_empty(ctx, out_name, KB_SHAPE(M, l->local), KB_F16, split_dp(l));
		KB_LAUNCH(ctx, "col_parallel_gemm", column_kernel, KB_TENSOR("x", x), KB_TENSOR("w", l->w),
			  KB_TENSOR("y", y), KB_INT("M", M), KB_INT("K", l->in), KB_INT("cols_per_pe", per));
		return y;
	}
	/* one block of y per PE taking part in the all-reduce on this SIP */
	int nc, np;
	int n = kb_ccl_device_ranks(ctx, kb_get_rank(ctx), NULL, 0, &nc, &np);
	if (n != nc * np || nc < l->n_cubes || np < l->n_pes)
		kb_fatal(ctx, "row-parallel '%s': its GEMM spreads over %d cubes x %d PEs of sip%d, but '%s' takes %d PEs"
			      " there (%d cubes x %d): install an algorithm with mapper all_pes (hierarchical_allreduce)",
			 l->name, l->n_cubes, l->n_pes, kb_get_rank(ctx), kb_ccl_algorithm(ctx), n, nc, np);
	kb_tensor *y = kb_zeros(ctx, out_name, KB_SHAPE((int64_t)n * M, l->out), KB_F16,
				KB_DP(.cube = KB_ROW_WISE, .num_cubes = nc, .pe = KB_ROW_WISE, .num_pes = np));
	KB_LAUNCH(ctx, "row_parallel_gemm", row_kernel, KB_TENSOR("x", x), KB_TENSOR("w", l->w), KB_TENSOR("y", y),
		  KB_INT("M", M), KB_INT("rows_per_pe", per), KB_INT("N", l->out), KB_INT("n_cubes", l->n_cubes),
		  KB_INT("n_pes", l->n_pes));
	kb_all_reduce(ctx, y, KB_REDUCE_SUM);
	return y;
}
