/*
 * tp_mlp.c — Megatron tensor-parallel MLP, rank = SIP: fc1 column-parallel
 * (d_in -> d_hidden, no collective), fc2 row-parallel (d_hidden -> d_out,
 * all-reduce of the partials), each GEMM spread over the PEs of its SIP.
 * `layer` 1 or 2 runs one layer alone (the seed's T2 cases). Inputs are
 * constants, as in the seed's tests: x (times rank + 1 with x_by_rank), W1
 * and W2 (times rank + 1 with w_by_rank); the expectations come from an f64
 * host reference of the same computation (f16 operands and fc1 output).
 * The default wiring is hierarchical_allreduce (every PE of every SIP).
 */
#include "benches.h"

#include <stdio.h>

typedef struct tp_cfg {
	int layer; /* 0 MLP, 1 column only, 2 row only */
	int64_t M, d_in, d_hidden, d_out;
	double x, w1, w2;
	bool x_by_rank, w_by_rank;
} tp_cfg;

static float *filled(kb_ctx *ctx, int64_t n, double v)
{
	float *p = benches__alloc(ctx, n);
	float r = kb_dtype_round(KB_F16, (float)v);
	for (int64_t i = 0; i < n; i++)
		p[i] = r;
	return p;
}

/* Every block of y (n_blocks x (M, n)) holds want (M, n). */
static void expect_blocks(kb_ctx *ctx, kb_tensor *y, const float *want, int64_t M, int64_t n)
{
	int64_t rows = kb_tensor_shape(y).d[0];
	float *all = benches__alloc(ctx, rows * n);
	for (int64_t b = 0; b < rows / M; b++)
		for (int64_t i = 0; i < M * n; i++)
			all[b * M * n + i] = want[i];
	kb_expect(ctx, y, all, 1e-2, 1e-2);
	kb_host_free(ctx, all);
}

/* Adds x (M, K) · w (K, N) to acc in double (fc1's output rounded to f16 first). */
static void matmul_add(const float *x, const float *w, double *acc, int64_t M, int64_t K, int64_t N)
{
	for (int64_t i = 0; i < M; i++)
		for (int64_t k = 0; k < K; k++)
			for (int64_t j = 0; j < N; j++)
				acc[i * N + j] += (double)x[i * K + k] * w[k * N + j];
}

static void worker(kb_ctx *ctx, int rank, void *arg)
{
	const tp_cfg *c = arg;
	int tp = kb_tp_world_size(ctx);
	double rx = c->x_by_rank ? rank + 1 : 1, rw = c->w_by_rank ? rank + 1 : 1;
	char name[64];
	kb_range_push(ctx, c->layer == 1 ? "column_parallel" : c->layer == 2 ? "row_parallel" : "tp_mlp");
	if (c->layer == 1) { /* out = x · W_r, this rank's columns */
		kb_tp_linear l = kb_tp_column_parallel(ctx, "fc", c->d_in, c->d_out);
		snprintf(name, sizeof name, "x_r%d", rank);
		kb_tensor *x = kb_tp_input(ctx, name, &l, c->M);
		float *xh = filled(ctx, c->M * c->d_in, c->x * rx), *wh = filled(ctx, c->d_in * l.local, c->w1 * rw);
		kb_copy_from_host(ctx, x, xh);
		kb_copy_from_host(ctx, l.w, wh);
		snprintf(name, sizeof name, "out_r%d", rank);
		kb_tensor *out = kb_tp_forward(ctx, &l, x, name);
		float *want = benches__alloc(ctx, c->M * l.local);
		benches__matmul_ref(ctx, xh, wh, want, c->M, c->d_in, l.local, KB_F16);
		kb_expect(ctx, out, want, 1e-2, 1e-2);
		kb_range_pop(ctx);
		return;
	}
	/* the reference: y = sum over ranks of h_r · W2_r, h_r = x_r (row only)
	 * or f16(x · W1_r) (MLP); every rank's inputs are constants */
	int64_t hid = c->layer == 2 ? c->d_in : c->d_hidden, local = hid / tp;
	double *acc = kb_host_alloc(ctx, (size_t)(c->M * c->d_out) * sizeof *acc);
	for (int64_t i = 0; i < c->M * c->d_out; i++)
		acc[i] = 0;
	float *h_mine = NULL, *w2_mine = NULL;
	for (int r = 0; r < tp; r++) {
		double sx = c->x_by_rank ? r + 1 : 1, sw = c->w_by_rank ? r + 1 : 1;
		float *h;
		if (c->layer == 2) {
			h = filled(ctx, c->M * local, c->x * sx);
		} else {
			float *xh = filled(ctx, c->M * c->d_in, c->x * sx), *w1 = filled(ctx, c->d_in * local, c->w1 * sw);
			h = benches__alloc(ctx, c->M * local);
			benches__matmul_ref(ctx, xh, w1, h, c->M, c->d_in, local, KB_F16);
			kb_host_free(ctx, xh);
			kb_host_free(ctx, w1);
		}
		float *w2 = filled(ctx, local * c->d_out, (c->layer == 2 ? c->w1 : c->w2) * sw);
		matmul_add(h, w2, acc, c->M, local, c->d_out);
		if (r == rank) {
			h_mine = h;
			w2_mine = w2;
		} else {
			kb_host_free(ctx, h);
			kb_host_free(ctx, w2);
		}
	}
	float *want = benches__alloc(ctx, c->M * c->d_out);
	for (int64_t i = 0; i < c->M * c->d_out; i++)
		want[i] = kb_dtype_round(KB_F16, (float)acc[i]);
	kb_host_free(ctx, acc);
	kb_tp_linear fc2 = kb_tp_row_parallel(ctx, "fc2", hid, c->d_out);
	kb_tensor *h;
	if (c->layer == 2) {
		snprintf(name, sizeof name, "x_r%d", rank);
		h = kb_tp_input(ctx, name, &fc2, c->M);
		kb_copy_from_host(ctx, h, h_mine);
	} else {
		kb_tp_linear fc1 = kb_tp_column_parallel(ctx, "fc1", c->d_in, c->d_hidden);
		snprintf(name, sizeof name, "x_r%d", rank);
		kb_tensor *x = kb_tp_input(ctx, name, &fc1, c->M);
		float *xh = filled(ctx, c->M * c->d_in, c->x * rx), *w1 = filled(ctx, c->d_in * local, c->w1 * rw);
		kb_copy_from_host(ctx, x, xh);
		kb_copy_from_host(ctx, fc1.w, w1);
		kb_host_free(ctx, xh);
		kb_host_free(ctx, w1);
		snprintf(name, sizeof name, "h_r%d", rank);
		h = kb_tp_forward(ctx, &fc1, x, name);
		kb_expect(ctx, h, h_mine, 1e-2, 1e-2);
	}
	kb_copy_from_host(ctx, fc2.w, w2_mine);
	snprintf(name, sizeof name, "y_r%d", rank);
	kb_tensor *y = kb_tp_forward(ctx, &fc2, h, name);
	expect_blocks(ctx, y, want, c->M, c->d_out);
	kb_host_free(ctx, want);
	kb_host_free(ctx, h_mine);
	kb_host_free(ctx, w2_mine);
	kb_range_pop(ctx);
}

static void run(kb_ctx *ctx)
{
	tp_cfg c = {(int)kb_param_int(ctx, "layer"), kb_param_int(ctx, "M"), kb_param_int(ctx, "d_in"),
		    kb_param_int(ctx, "d_hidden"), kb_param_int(ctx, "d_out"), kb_param_float(ctx, "x"),
		    kb_param_float(ctx, "w1"), kb_param_float(ctx, "w2"), kb_param_int(ctx, "x_by_rank") != 0,
		    kb_param_int(ctx, "w_by_rank") != 0};
	if (c.layer < 0 || c.layer > 2)
		kb_fatal(ctx, "tp_mlp.layer must be 0 (MLP), 1 (column-parallel) or 2 (row-parallel), got %d", c.layer);
	if (c.M < 1 || c.d_in < 1 || c.d_hidden < 1 || c.d_out < 1)
		kb_fatal(ctx, "tp_mlp: M, d_in, d_hidden, d_out must be >= 1");
	benches__gemm_budget(ctx, c.M, c.d_in, c.d_hidden);
	benches__gemm_budget(ctx, c.M, c.d_hidden, c.d_out);
	kb_init_process_group(ctx, "ahbm", "hierarchical_allreduce");
	int tp = (int)kb_param_int(ctx, "tp");
	kb_tp_init(ctx, tp ? tp : kb_world_size(ctx));
	kb_spawn(ctx, worker, &c, kb_tp_world_size(ctx));
}

const kb_bench kb_bench_tp_mlp = {
	"tp_mlp", "Megatron tensor-parallel MLP (column fc1 -> row fc2 + all-reduce), rank = SIP, GEMMs on every PE",
	run,
	{{"layer", 0, "0 MLP, 1 column-parallel alone (d_in -> d_out), 2 row-parallel alone (d_in -> d_out)"},
	 {"M", 1, "tokens (batch rows)"}, {"d_in", 16, "input features"},
	 {"d_hidden", 32, "hidden features (fc1 out, fc2 in; divides by TP)"}, {"d_out", 16, "output features"},
	 {"x", 0.1, "the input's value"}, {"w1", 0.02, "fc1's weights (the row layer's with layer 2)"},
	 {"w2", 0.03, "fc2's weights"}, {"x_by_rank", 0, "1: rank r's input is x (r + 1)"},
	 {"w_by_rank", 0, "1: rank r's weights are w (r + 1)"}, {"tp", 0, "TP size (0: the world size)"}},
};
