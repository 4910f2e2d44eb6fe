/*
 * gqa_attention.c — bench milestone-gqa-llama70b (validation scale):
 * ring attention, with real numerics, in the seed's four panels.
 *
 * Panel single_user_prefill (kernel attention_mesh_kv): every rank holds
 * S_q queries and S_kv keys/values of one sequence; its K/V chunk travels
 * both ways along the chain, reaching rank j from rank i at step |i - j|;
 * each rank merges every chunk into its online softmax (unnormalised exp
 * weights, running max m, running sum l, output o rescaled by
 * exp(m_old - m_new), divided by l once at the end). Scores are Q·Kᵀ with
 * a real transposed operand, scaled by 1/sqrt(d_head).
 *
 * Panel single_user_decode (kernel attention_mesh_mlo): one query token,
 * the KV cache sharded over the ranks; each rank computes its partial
 * (m, l, o), the triplets merge along the chain into rank 0, and the result
 * is sent back so that every rank stores it.
 *
 * Multi-user panels run the same kernels with rank_axis 1: rank = cube id,
 * PE 0 of each of the first n_ranks_multi_user cubes of the mesh's first
 * row, wired intercube_multisip (uninstalling the PE chain between panels).
 * Expectations: f64 softmax attention over the whole sequence on the host.
 * Not here yet: GQA with h_q > h_kv and the Llama-70B headline scale.
 */
#include "benches.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct att {
	kb_tile *m, *l, *o; /* running max (S,1), sum (S,1), output (S,d), f32 */
} att;

/* Merges a K/V chunk into the online softmax state. */
static void merge_kv(kb_tl *tl, att *st, kb_tile *q, kb_tile *k, kb_tile *v, double scale)
{
	kb_tile *raw = tl_dot(tl, q, k, TL_TRANS_B); /* (S_q, S_kv) f32 */
	kb_tile *s = tl_mul_scalar(tl, raw, scale);
	tl_free(tl, raw);
	kb_tile *mb = tl_max(tl, s, 1);
	kb_tile *mn = st->m ? tl_maximum(tl, st->m, mb) : mb;
	kb_tile *d = tl_sub(tl, s, mn);
	kb_tile *p = tl_exp(tl, d);
	tl_free(tl, d);
	tl_free(tl, s);
	kb_tile *vf = tl_cast(tl, v, KB_F32);
	kb_tile *pv = tl_dot(tl, p, vf, 0);
	tl_free(tl, vf);
	kb_tile *ps = tl_sum(tl, p, 1);
	tl_free(tl, p);
	if (!st->m) {
		st->m = mn;
		st->l = ps;
		st->o = pv;
		return;
	}
	kb_tile *dm = tl_sub(tl, st->m, mn);
	kb_tile *alpha = tl_exp(tl, dm);
	tl_free(tl, dm);
	kb_tile *l1 = tl_mul(tl, st->l, alpha), *l2 = tl_add(tl, l1, ps);
	kb_tile *o1 = tl_mul(tl, st->o, alpha), *o2 = tl_add(tl, o1, pv);
	tl_free(tl, l1);
	tl_free(tl, o1);
	tl_free(tl, ps);
	tl_free(tl, pv);
	tl_free(tl, alpha);
	tl_free(tl, st->l);
	tl_free(tl, st->o);
	tl_free(tl, st->m);
	if (mb != mn)
		tl_free(tl, mb);
	st->m = mn;
	st->l = l2;
	st->o = o2;
}

static void finish(kb_tl *tl, att *st, uint64_t out)
{
	kb_tile *r = tl_div(tl, st->o, st->l);
	kb_tile *h = tl_cast(tl, r, KB_F16);
	tl_store(tl, out, h);
}

/* rank_axis 0: rank = PE in the cube (every PE of the chain runs);
 * rank_axis 1: rank = cube id, only PE 0 of each cube runs (the launch
 * places nothing on the others, so they emit no op). */
static void rank_of(kb_tl *tl, int *r, int *p)
{
	if (tl_arg_int(tl, "rank_axis") == 1) {
		*r = tl_program_id(tl, 1);
		*p = (int)tl_arg_int(tl, "n_ranks");
	} else {
		*r = tl_rank(tl);
		*p = tl_world_size(tl);
	}
}

/* Prefill: bidirectional open-chain K/V waves. */
static void attention_mesh_kv(kb_tl *tl)
{
	int64_t sq = tl_arg_int(tl, "s_q"), skv = tl_arg_int(tl, "s_kv"), d = tl_arg_int(tl, "d_head");
	int r, p;
	rank_of(tl, &r, &p);
	double scale = 1.0 / sqrt((double)d);
	kb_tile *q = tl_load(tl, tl_arg_ptr(tl, "q"), KB_SHAPE(sq, d), KB_F16);
	kb_tile *k = tl_load(tl, tl_arg_ptr(tl, "k"), KB_SHAPE(skv, d), KB_F16);
	kb_tile *v = tl_load(tl, tl_arg_ptr(tl, "v"), KB_SHAPE(skv, d), KB_F16);
	if (r + 1 < p) {
		tl_send(tl, KB_DIR_E, k);
		tl_send(tl, KB_DIR_E, v);
	}
	if (r > 0) {
		tl_send(tl, KB_DIR_W, k);
		tl_send(tl, KB_DIR_W, v);
	}
	att st = {0};
	merge_kv(tl, &st, q, k, v, scale);
	tl_free(tl, k);
	tl_free(tl, v);
	for (int s = 1; s < p; s++) {
		if (r - s >= 0) { /* rank r - s's chunk arrives from W; pass it on E */
			kb_tile *kk = tl_recv(tl, KB_DIR_W, KB_SHAPE(skv, d), KB_F16);
			kb_tile *vv = tl_recv(tl, KB_DIR_W, KB_SHAPE(skv, d), KB_F16);
			if (r + 1 < p) {
				tl_send(tl, KB_DIR_E, kk);
				tl_send(tl, KB_DIR_E, vv);
			}
			merge_kv(tl, &st, q, kk, vv, scale);
			tl_free(tl, kk);
			tl_free(tl, vv);
		}
		if (r + s < p) { /* rank r + s's chunk arrives from E; pass it on W */
			kb_tile *kk = tl_recv(tl, KB_DIR_E, KB_SHAPE(skv, d), KB_F16);
			kb_tile *vv = tl_recv(tl, KB_DIR_E, KB_SHAPE(skv, d), KB_F16);
			if (r > 0) {
				tl_send(tl, KB_DIR_W, kk);
				tl_send(tl, KB_DIR_W, vv);
			}
			merge_kv(tl, &st, q, kk, vv, scale);
			tl_free(tl, kk);
			tl_free(tl, vv);
		}
	}
	finish(tl, &st, tl_arg_ptr(tl, "o"));
}

/* Decode: local partial attention, (m, l, o) merged along the chain into
 * rank 0, the result sent back. */
static void attention_mesh_mlo(kb_tl *tl)
{
	int64_t skv = tl_arg_int(tl, "s_kv"), d = tl_arg_int(tl, "d_head");
	int r, p;
	rank_of(tl, &r, &p);
	kb_tile *q = tl_load(tl, tl_arg_ptr(tl, "q"), KB_SHAPE(1, d), KB_F16);
	kb_tile *k = tl_load(tl, tl_arg_ptr(tl, "k"), KB_SHAPE(skv, d), KB_F16);
	kb_tile *v = tl_load(tl, tl_arg_ptr(tl, "v"), KB_SHAPE(skv, d), KB_F16);
	att st = {0};
	merge_kv(tl, &st, q, k, v, 1.0 / sqrt((double)d));
	if (r + 1 < p) { /* the partial of ranks r+1 .. p-1 */
		kb_tile *m2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, 1), KB_F32);
		kb_tile *l2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, 1), KB_F32);
		kb_tile *o2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, d), KB_F32);
		kb_tile *mn = tl_maximum(tl, st.m, m2);
		kb_tile *d1 = tl_sub(tl, st.m, mn), *d2 = tl_sub(tl, m2, mn);
		kb_tile *a1 = tl_exp(tl, d1), *a2 = tl_exp(tl, d2);
		kb_tile *l1 = tl_mul(tl, st.l, a1), *l22 = tl_mul(tl, l2, a2);
		kb_tile *o1 = tl_mul(tl, st.o, a1), *o22 = tl_mul(tl, o2, a2);
		st.m = mn;
		st.l = tl_add(tl, l1, l22);
		st.o = tl_add(tl, o1, o22);
	}
	kb_tile *out;
	if (r > 0) {
		tl_send(tl, KB_DIR_W, st.m);
		tl_send(tl, KB_DIR_W, st.l);
		tl_send(tl, KB_DIR_W, st.o);
		out = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, d), KB_F16); /* the result, back from rank r - 1 */
	} else {
		kb_tile *res = tl_div(tl, st.o, st.l);
		out = tl_cast(tl, res, KB_F16);
	}
	if (r + 1 < p)
		tl_send(tl, KB_DIR_E, out);
	tl_store(tl, tl_arg_ptr(tl, "o"), out);
}

/* softmax(q kᵀ / sqrt(d)) v for one query row, in double. */
static void ref_row(const float *q, const float *k, const float *v, int64_t n, int64_t d, float *out)
{
	double m = -INFINITY, l = 0, o[512] = {0};
	double *s = malloc((size_t)n * sizeof *s);
	for (int64_t j = 0; j < n; j++) {
		double x = 0;
		for (int64_t c = 0; c < d; c++)
			x += (double)q[c] * k[j * d + c];
		s[j] = x / sqrt((double)d);
		if (s[j] > m)
			m = s[j];
	}
	for (int64_t j = 0; j < n; j++) {
		double w = exp(s[j] - m);
		l += w;
		for (int64_t c = 0; c < d; c++)
			o[c] += w * v[j * d + c];
	}
	for (int64_t c = 0; c < d; c++)
		out[c] = kb_dtype_round(KB_F16, (float)(o[c] / l));
	free(s);
}

/* One panel: tensors over the ranks (PEs of cube 0, or PE 0 of cubes
 * 0..p-1), host data and reference, the launch inside a named range. */
static void panel(kb_ctx *ctx, const char *name, bool decode, bool multi, int p, int64_t sq, int64_t skv, int64_t d,
		  uint64_t seed)
{
	kb_dp dp = multi ? KB_DP(.cube = KB_ROW_WISE, .num_cubes = p, .num_pes = 1)
			 : KB_DP(.num_cubes = 1, .pe = KB_ROW_WISE, .num_pes = p);
	char nq[48], nk[48], nv[48], no[48];
	snprintf(nq, sizeof nq, "%s_q", name);
	snprintf(nk, sizeof nk, "%s_k", name);
	snprintf(nv, sizeof nv, "%s_v", name);
	snprintf(no, sizeof no, "%s_o", name);
	int64_t qrows = decode ? p : p * sq, kvrows = p * skv;
	kb_tensor *q = kb_empty(ctx, nq, KB_SHAPE(qrows, d), KB_F16, dp);
	kb_tensor *k = kb_empty(ctx, nk, KB_SHAPE(kvrows, d), KB_F16, dp);
	kb_tensor *v = kb_empty(ctx, nv, KB_SHAPE(kvrows, d), KB_F16, dp);
	kb_tensor *o = kb_empty(ctx, no, KB_SHAPE(qrows, d), KB_F16, dp);
	float *qh = bench_random(ctx, qrows * d, seed, 1.0f), *kh = bench_random(ctx, kvrows * d, seed + 1, 1.0f);
	float *vh = bench_random(ctx, kvrows * d, seed + 2, 1.0f), *want = bench_alloc(ctx, qrows * d);
	if (decode) /* one query token, the same on every rank */
		for (int64_t i = 1; i < p; i++)
			for (int64_t c = 0; c < d; c++)
				qh[i * d + c] = qh[c];
	for (int64_t i = 0; i < qrows; i++)
		ref_row(qh + i * d, kh, vh, kvrows, d, want + i * d);
	kb_copy_from_host(ctx, q, qh);
	kb_copy_from_host(ctx, k, kh);
	kb_copy_from_host(ctx, v, vh);
	kb_expect(ctx, o, want, 2e-2, 2e-2);
	kb_range_push(ctx, name);
	KB_LAUNCH(ctx, decode ? "attention_mesh_mlo" : "attention_mesh_kv", decode ? attention_mesh_mlo : attention_mesh_kv,
		  KB_TENSOR("q", q), KB_TENSOR("k", k), KB_TENSOR("v", v), KB_TENSOR("o", o), KB_INT("s_q", sq),
		  KB_INT("s_kv", skv), KB_INT("d_head", d), KB_INT("rank_axis", multi), KB_INT("n_ranks", p));
	kb_range_pop(ctx);
	kb_host_free(ctx, want);
}

/* Rewires the IPCQ queues for a panel (uninstalling the last wiring). */
static void wire(kb_ctx *ctx, const char *algorithm, bool *inited)
{
	if (!*inited)
		kb_init_process_group(ctx, "ahbm", algorithm);
	else {
		kb_ipcq_uninstall(ctx);
		kb_ipcq_install(ctx, algorithm);
	}
	*inited = true;
}

static void run(kb_ctx *ctx)
{
	const kb_machine *m = kb_ctx_machine(ctx);
	int64_t sq = kb_param_int(ctx, "s_q_prefill"), skv = kb_param_int(ctx, "s_kv_per_rank");
	int64_t d = kb_param_int(ctx, "d_head"), which = kb_param_int(ctx, "panels");
	int64_t multi_ranks = kb_param_int(ctx, "n_ranks_multi_user");
	if (sq < 1 || skv < 1 || d < 1 || d > 512 || which < 1 || which > 15)
		kb_fatal(ctx, "milestone-gqa-llama70b: s_q_prefill, s_kv_per_rank >= 1, d_head 1..512, panels 1..15");
	if (multi_ranks < 2 || multi_ranks > m->cube_w)
		kb_fatal(ctx, "milestone-gqa-llama70b.n_ranks_multi_user=%lld: 2..%d (a row of the %dx%d cube mesh)",
			 (long long)multi_ranks, m->cube_w, m->cube_w, m->cube_h);
	/* the seed's order; single-user panels on the PEs of cube 0, multi-user
	 * on PE 0 of the first cubes of the mesh's first row (an E/W chain) */
	static const struct { const char *name; bool decode, multi; } panels[4] = {
		{"single_user_prefill", false, false}, {"multi_user_prefill", false, true},
		{"single_user_decode", true, false}, {"multi_user_decode", true, true},
	};
	bool inited = false;
	for (int k = 0; k < 4; k++) {
		if (!(which >> k & 1))
			continue;
		wire(ctx, panels[k].multi ? "intercube_allreduce" : "intracube_pe_ring", &inited);
		panel(ctx, panels[k].name, panels[k].decode, panels[k].multi,
		      panels[k].multi ? (int)multi_ranks : m->pes_per_cube, sq, skv, d, 11 + 10 * (uint64_t)k);
	}
}

const kb_bench kb_bench_gqa = {
	"milestone-gqa-llama70b",
	"ring attention over a cube's PEs (validation scale): single-user prefill (K/V waves) and decode (m, l, o merge)",
	run,
	{{"s_q_prefill", 16, "query tokens per rank (prefill)"}, {"s_kv_per_rank", 16, "keys/values per rank"},
	 {"d_head", 64, "head dimension"}, {"n_ranks_multi_user", 4, "cubes in the multi-user chain"},
	 {"panels", 15, "bits: 1 single_user_prefill, 2 multi_user_prefill, 4 single_user_decode, 8 multi_user_decode"}},
};
