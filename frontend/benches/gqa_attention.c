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
 * GQA: h_q query heads over h_kv key/value heads (h_kv divides h_q); K/V
 * travel one kv head at a time (strided loads take a head's columns of the
 * row-major [tokens, heads x d_head] tensors) and each kv head serves its
 * h_q / h_kv query heads. Prefill streams K/V in kv_block-row messages
 * and keeps one kv head's query blocks (q_block rows) and states in scratch
 * at a time. headline=1 presets the Llama-70B sizes (64 / 8 heads, d 128,
 * 4096 tokens per rank: a 32 K context over 8 PEs) with inputs generated
 * on the device and sampled expectations (kb-replay runs only their slice;
 * the config overrides it needs: README).
 */
#include "benches.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define MAX_HEADS 64
#define MAX_QB 16 /* query blocks per rank */

/* Shapes of one launch: heads, head dim, the row-major [tokens, heads x
 * d_head] tensors, and the blocks the prefill streams (q_block query rows
 * per state, kv_block key/value rows per message). */
typedef struct dims {
	int64_t sq, skv, d, hq, hkv, qb, kb, n_qb, n_kb;
} dims;

static dims dims_of(kb_tl *tl)
{
	dims x = {tl_arg_int(tl, "s_q"), tl_arg_int(tl, "s_kv"), tl_arg_int(tl, "d_head"), tl_arg_int(tl, "h_q"),
		  tl_arg_int(tl, "h_kv"), tl_arg_int(tl, "q_block"), tl_arg_int(tl, "kv_block"), 0, 0};
	x.n_qb = (x.sq + x.qb - 1) / x.qb;
	x.n_kb = (x.skv + x.kb - 1) / x.kb;
	return x;
}

/* Rows [row0, row0 + rows) of head g's columns (rows x d) of a [*, h x d] tensor. */
static kb_tile *head_cols(kb_tl *tl, const char *arg, int64_t row0, int64_t rows, int64_t g, int64_t h, int64_t d)
{
	return tl_load_strided(tl, tl_arg_ptr(tl, arg) + (uint64_t)(row0 * h * d + g * d) * 2, KB_SHAPE(rows, d), h * d,
			       KB_F16);
}

static int64_t block_rows(int64_t total, int64_t block, int64_t i)
{
	return total - i * block < block ? total - i * block : block;
}

/* Merges a K/V block of kv head g into every state (query head of the
 * group x query block) it serves. */
static void merge_group(kb_tl *tl, const dims *x, att (*st)[MAX_QB], kb_tile *(*q)[MAX_QB], int64_t g, kb_tile *k,
			kb_tile *v)
{
	int64_t per = x->hq / x->hkv;
	for (int64_t h = g * per; h < (g + 1) * per; h++)
		for (int64_t i = 0; i < x->n_qb; i++)
			merge_kv(tl, &st[h][i], q[h][i], k, v, 1.0 / sqrt((double)x->d));
}

/* Divides the states of kv head g's query heads by their sums, stores them
 * into o and frees the group's scratch (states and query blocks). */
static void finish_group(kb_tl *tl, const dims *x, att (*st)[MAX_QB], kb_tile *(*q)[MAX_QB], int64_t g)
{
	int64_t per = x->hq / x->hkv;
	for (int64_t h = g * per; h < (g + 1) * per; h++)
		for (int64_t i = 0; i < x->n_qb; i++) {
			kb_tile *o = tl_div(tl, st[h][i].o, st[h][i].l), *o16 = tl_cast(tl, o, KB_F16);
			tl_store_strided(tl, tl_arg_ptr(tl, "o") + (uint64_t)(i * x->qb * x->hq * x->d + h * x->d) * 2, o16,
					 x->hq * x->d);
			kb_tile *done[] = {o, o16, st[h][i].m, st[h][i].l, st[h][i].o, q[h][i]};
			for (size_t t = 0; t < sizeof done / sizeof *done; t++)
				tl_free(tl, done[t]);
		}
}

/* Prefill: bidirectional open-chain K/V waves, one wave per kv head and
 * K/V block (a message of kv_block rows each for K and V); every query
 * head of the kv head's group and every query block merges it. Only one
 * group's query blocks and states are in scratch at a time. */
static void attention_mesh_kv(kb_tl *tl)
{
	dims x = dims_of(tl);
	int r, p;
	rank_of(tl, &r, &p);
	static kb_tile *q[MAX_HEADS][MAX_QB];
	static att st[MAX_HEADS][MAX_QB];
	memset(st, 0, sizeof st);
	int64_t per = x.hq / x.hkv;
	/* one wave at a time, in the same order on every rank: each is the
	 * deadlock-free open-chain scheme, and no rank runs more than one
	 * wave's messages ahead of its neighbours' slots */
	for (int64_t g = 0; g < x.hkv; g++) {
		for (int64_t h = g * per; h < (g + 1) * per; h++)
			for (int64_t i = 0; i < x.n_qb; i++)
				q[h][i] = head_cols(tl, "q", i * x.qb, block_rows(x.sq, x.qb, i), h, x.hq, x.d);
		for (int64_t bk = 0; bk < x.n_kb; bk++) {
			int64_t rows = block_rows(x.skv, x.kb, bk);
			kb_tile *k0 = head_cols(tl, "k", bk * x.kb, rows, g, x.hkv, x.d);
			kb_tile *v0 = head_cols(tl, "v", bk * x.kb, rows, g, x.hkv, x.d);
			if (r + 1 < p) {
				tl_send(tl, KB_DIR_E, k0);
				tl_send(tl, KB_DIR_E, v0);
			}
			if (r > 0) {
				tl_send(tl, KB_DIR_W, k0);
				tl_send(tl, KB_DIR_W, v0);
			}
			merge_group(tl, &x, st, q, g, k0, v0);
			tl_free(tl, k0);
			tl_free(tl, v0);
			for (int s = 1; s < p; s++)
				for (int side = 0; side < 2; side++) { /* from W (rank r - s), then from E (rank r + s) */
					bool arrives = side == 0 ? r - s >= 0 : r + s < p, onward = side == 0 ? r + 1 < p : r > 0;
					kb_dir from = side == 0 ? KB_DIR_W : KB_DIR_E, to = side == 0 ? KB_DIR_E : KB_DIR_W;
					if (!arrives)
						continue;
					kb_tile *k = tl_recv(tl, from, KB_SHAPE(rows, x.d), KB_F16);
					kb_tile *v = tl_recv(tl, from, KB_SHAPE(rows, x.d), KB_F16);
					if (onward) {
						tl_send(tl, to, k);
						tl_send(tl, to, v);
					}
					merge_group(tl, &x, st, q, g, k, v);
					tl_free(tl, k);
					tl_free(tl, v);
				}
		}
		finish_group(tl, &x, st, q, g);
	}
}

/* Merges the partial (m2, l2, o2) into st. */
static void merge_mlo(kb_tl *tl, att *st, kb_tile *m2, kb_tile *l2, kb_tile *o2)
{
	kb_tile *mn = tl_maximum(tl, st->m, m2);
	kb_tile *d1 = tl_sub(tl, st->m, mn), *d2 = tl_sub(tl, m2, mn);
	kb_tile *a1 = tl_exp(tl, d1), *a2 = tl_exp(tl, d2);
	kb_tile *l1 = tl_mul(tl, st->l, a1), *l22 = tl_mul(tl, l2, a2);
	kb_tile *o1 = tl_mul(tl, st->o, a1), *o22 = tl_mul(tl, o2, a2);
	st->m = mn;
	st->l = tl_add(tl, l1, l22);
	st->o = tl_add(tl, o1, o22);
}

/* Decode: per query head a local partial over the rank's KV cache, the
 * (m, l, o) triplets merged along the chain into rank 0, the result sent
 * back so that every rank stores it. */
static void attention_mesh_mlo(kb_tl *tl)
{
	dims x = dims_of(tl);
	int r, p;
	rank_of(tl, &r, &p);
	static kb_tile *q2[MAX_HEADS][MAX_QB];
	static att st2[MAX_HEADS][MAX_QB];
	memset(st2, 0, sizeof st2);
	x.n_qb = 1; /* one query token */
	for (int64_t h = 0; h < x.hq; h++)
		q2[h][0] = head_cols(tl, "q", 0, 1, h, x.hq, x.d);
	for (int64_t g = 0; g < x.hkv; g++) {
		kb_tile *k = head_cols(tl, "k", 0, x.skv, g, x.hkv, x.d), *v = head_cols(tl, "v", 0, x.skv, g, x.hkv, x.d);
		merge_group(tl, &x, st2, q2, g, k, v);
		tl_free(tl, k);
		tl_free(tl, v);
	}
	att *st[MAX_HEADS];
	for (int64_t h = 0; h < x.hq; h++)
		st[h] = &st2[h][0];
	for (int64_t h = 0; h < x.hq; h++) {
		if (r + 1 < p) { /* the partial of ranks r+1 .. p-1 */
			kb_tile *m2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, 1), KB_F32);
			kb_tile *l2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, 1), KB_F32);
			kb_tile *o2 = tl_recv(tl, KB_DIR_E, KB_SHAPE(1, x.d), KB_F32);
			merge_mlo(tl, st[h], m2, l2, o2);
		}
		kb_tile *out;
		if (r > 0) {
			tl_send(tl, KB_DIR_W, st[h]->m);
			tl_send(tl, KB_DIR_W, st[h]->l);
			tl_send(tl, KB_DIR_W, st[h]->o);
			out = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, x.d), KB_F16); /* the result, back from rank r - 1 */
		} else {
			out = tl_cast(tl, tl_div(tl, st[h]->o, st[h]->l), KB_F16);
		}
		if (r + 1 < p)
			tl_send(tl, KB_DIR_E, out);
		tl_store_strided(tl, tl_arg_ptr(tl, "o") + (uint64_t)(h * x.d) * 2, out, x.hq * x.d);
	}
}

/* softmax(q kᵀ / sqrt(d)) v for one query row of one head, in double:
 * k and v rows are `ld` elements apart. */
static void ref_row(const float *q, const float *k, const float *v, int64_t n, int64_t d, int64_t ld, float *out)
{
	double m = -INFINITY, l = 0, o[512] = {0};
	double *s = malloc((size_t)n * sizeof *s);
	for (int64_t j = 0; j < n; j++) {
		double x = 0;
		for (int64_t c = 0; c < d; c++)
			x += (double)q[c] * k[j * ld + c];
		s[j] = x / sqrt((double)d);
		if (s[j] > m)
			m = s[j];
	}
	for (int64_t j = 0; j < n; j++) {
		double w = exp(s[j] - m);
		l += w;
		for (int64_t c = 0; c < d; c++)
			o[c] += w * v[j * ld + c];
	}
	for (int64_t c = 0; c < d; c++)
		out[c] = kb_dtype_round(KB_F16, (float)(o[c] / l));
	free(s);
}

typedef struct sizes {
	int64_t sq, skv, d, hq, hkv, qb, kvb;
	bool headline;            /* Llama-70B sizes: device-generated inputs, sampled rows */
} sizes;

/* Headline inputs and expectations: K and V (and the prefill's Q) are
 * random fills generated on the device (no host data in the trace); the
 * decode's one query token is host data, the same on every rank. Prefill
 * registers two sampled rows (the first and last of a query block of an
 * interior rank: every head, the whole context), decode every row. */
static void headline_data(kb_ctx *ctx, bool decode, bool multi, int p, const sizes *z, uint64_t seed, kb_tensor *t[4])
{
	int64_t sq = z->sq, d = z->d, hq = z->hq, hkv = z->hkv, qrows = decode ? p : p * sq, kvrows = p * z->skv;
	int64_t qw = hq * d, kw = hkv * d;
	kb_tensor *q = t[0], *k = t[1], *v = t[2], *o = t[3];
	kb_rand(ctx, k, seed + 1, 1.0f);
	kb_rand(ctx, v, seed + 2, 1.0f);
	float *kh = benches__alloc(ctx, kvrows * kw), *vh = benches__alloc(ctx, kvrows * kw);
	for (int64_t i = 0; i < kvrows; i++)
		for (int64_t c = 0; c < kw; c++) {
			kh[i * kw + c] = kb_rand_value(k, seed + 1, 1.0f, i, c);
			vh[i * kw + c] = kb_rand_value(v, seed + 2, 1.0f, i, c);
		}
	int64_t rows[2] = {0, 0};
	int n_rows = decode ? (int)qrows : 2;
	float *qh = benches__alloc(ctx, (decode ? qrows : 2) * qw), *want = benches__alloc(ctx, (decode ? qrows : 2) * qw);
	if (decode) {
		float *tok = benches__random(ctx, qw, seed, 1.0f);
		for (int64_t i = 0; i < qrows; i++)
			memcpy(qh + i * qw, tok, (size_t)qw * sizeof *qh);
		kb_host_free(ctx, tok);
		kb_copy_from_host(ctx, q, qh);
	} else {
		int r = multi ? 1 : p / 2 - 1; /* interior: K/V arrive from both sides */
		rows[0] = r * sq;
		rows[1] = r * sq + (z->qb < sq ? z->qb : sq) - 1;
		kb_rand(ctx, q, seed, 1.0f);
		for (int j = 0; j < 2; j++)
			for (int64_t c = 0; c < qw; c++)
				qh[j * qw + c] = kb_rand_value(q, seed, 1.0f, rows[j], c);
	}
	for (int i = 0; i < n_rows; i++)
		for (int64_t h = 0; h < hq; h++) {
			int64_t g = h / (hq / hkv);
			ref_row(qh + i * qw + h * d, kh + g * d, vh + g * d, kvrows, d, kw, want + i * qw + h * d);
		}
	/* outputs average over the whole context (|o| ~ 0.01 at 32 K tokens):
	 * an absolute tolerance of a few f16 ulps there, not 0.02 */
	if (decode)
		kb_expect(ctx, o, want, 2e-2, 2e-4);
	else
		kb_expect_rows(ctx, o, rows, 2, want, 2e-2, 2e-4);
	kb_host_free(ctx, kh);
	kb_host_free(ctx, vh);
	kb_host_free(ctx, qh);
	kb_host_free(ctx, want);
}

/* One panel: tensors over the ranks (PEs of cube 0, or PE 0 of cubes
 * 0..p-1), host data and reference, the launch inside a named range. */
static void panel(kb_ctx *ctx, const char *name, bool decode, bool multi, int p, const sizes *z, uint64_t seed)
{
	int64_t sq = z->sq, skv = z->skv, d = z->d, hq = z->hq, hkv = z->hkv;
	kb_dp dp = multi ? KB_DP(.cube = KB_ROW_WISE, .num_cubes = p, .num_pes = 1)
			 : KB_DP(.num_cubes = 1, .pe = KB_ROW_WISE, .num_pes = p);
	char nq[48], nk[48], nv[48], no[48];
	snprintf(nq, sizeof nq, "%s_q", name);
	snprintf(nk, sizeof nk, "%s_k", name);
	snprintf(nv, sizeof nv, "%s_v", name);
	snprintf(no, sizeof no, "%s_o", name);
	int64_t qrows = decode ? p : p * sq, kvrows = p * skv, qw = hq * d, kw = hkv * d;
	kb_tensor *o = kb_empty(ctx, no, KB_SHAPE(qrows, qw), KB_F16, dp);
	kb_tensor *q = kb_empty(ctx, nq, KB_SHAPE(qrows, qw), KB_F16, dp);
	kb_tensor *k = kb_empty(ctx, nk, KB_SHAPE(kvrows, kw), KB_F16, dp);
	kb_tensor *v = kb_empty(ctx, nv, KB_SHAPE(kvrows, kw), KB_F16, dp);
	if (z->headline) { /* the reference of every row would take hours: sampled rows */
		headline_data(ctx, decode, multi, p, z, seed, (kb_tensor *[]){q, k, v, o});
	} else {
		float *qh = benches__random(ctx, qrows * qw, seed, 1.0f), *kh = benches__random(ctx, kvrows * kw, seed + 1, 1.0f);
		float *vh = benches__random(ctx, kvrows * kw, seed + 2, 1.0f), *want = benches__alloc(ctx, qrows * qw);
		if (decode) /* one query token, the same on every rank */
			for (int64_t i = 1; i < p; i++)
				for (int64_t c = 0; c < qw; c++)
					qh[i * qw + c] = qh[c];
		for (int64_t i = 0; i < qrows; i++)
			for (int64_t h = 0; h < hq; h++) { /* query head h reads kv head h / (h_q / h_kv) */
				int64_t g = h / (hq / hkv);
				ref_row(qh + i * qw + h * d, kh + g * d, vh + g * d, kvrows, d, kw, want + i * qw + h * d);
			}
		kb_copy_from_host(ctx, q, qh);
		kb_copy_from_host(ctx, k, kh);
		kb_copy_from_host(ctx, v, vh);
		kb_expect(ctx, o, want, 2e-2, 2e-2);
		float *done[] = {qh, kh, vh, want};
		for (int i = 0; i < 4; i++)
			kb_host_free(ctx, done[i]);
	}
	kb_range_push(ctx, name);
	KB_LAUNCH(ctx, decode ? "attention_mesh_mlo" : "attention_mesh_kv", decode ? attention_mesh_mlo : attention_mesh_kv,
		  KB_TENSOR("q", q), KB_TENSOR("k", k), KB_TENSOR("v", v), KB_TENSOR("o", o), KB_INT("s_q", sq),
		  KB_INT("s_kv", skv), KB_INT("d_head", d), KB_INT("rank_axis", multi), KB_INT("n_ranks", p),
		  KB_INT("h_q", hq), KB_INT("h_kv", hkv), KB_INT("q_block", z->qb), KB_INT("kv_block", z->kvb));
	kb_range_pop(ctx);
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
	if (kb_param_int(ctx, "headline")) { /* Llama-70B: 64 query heads, 8 kv heads, d 128, 32 K tokens over 8 ranks */
		static const struct { const char *k; double v; } llama[] = {
			{"s_q_prefill", 4096}, {"s_kv_per_rank", 4096}, {"d_head", 128}, {"h_q", 64}, {"h_kv", 8},
			{"q_block", 512}, {"kv_block", 512}};
		for (size_t i = 0; i < sizeof llama / sizeof *llama; i++)
			kb_param_set(ctx, llama[i].k, llama[i].v);
		kb_param_set(ctx, "sampled", 1);
	}
	sizes z = {kb_param_int(ctx, "s_q_prefill"), kb_param_int(ctx, "s_kv_per_rank"), kb_param_int(ctx, "d_head"),
		   kb_param_int(ctx, "h_q"), kb_param_int(ctx, "h_kv"), kb_param_int(ctx, "q_block"),
		   kb_param_int(ctx, "kv_block"), kb_param_int(ctx, "headline") || kb_param_int(ctx, "sampled")};
	int64_t which = kb_param_int(ctx, "panels"), multi_ranks = kb_param_int(ctx, "n_ranks_multi_user");
	int64_t sq = z.sq, skv = z.skv, d = z.d, hq = z.hq, hkv = z.hkv;
	if (z.qb <= 0)
		z.qb = sq;
	if (z.kvb <= 0)
		z.kvb = skv;
	if ((sq + z.qb - 1) / z.qb > MAX_QB)
		kb_fatal(ctx, "milestone-gqa-llama70b: %lld query rows in blocks of %lld are over %d blocks (raise q_block)",
			 (long long)sq, (long long)z.qb, MAX_QB);
	if (hq < 1 || hkv < 1 || hq > MAX_HEADS || hq % hkv)
		kb_fatal(ctx, "milestone-gqa-llama70b: h_q=%lld, h_kv=%lld: h_kv must divide h_q, h_q <= %d (each kv head"
			      " serves h_q / h_kv query heads)", (long long)hq, (long long)hkv, MAX_HEADS);
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
		      panels[k].multi ? (int)multi_ranks : m->pes_per_cube, &z, 11 + 10 * (uint64_t)k);
	}
}

const kb_bench kb_bench_gqa = {
	"milestone-gqa-llama70b",
	"Llama-70B GQA ring attention: prefill (K/V waves) and decode (m, l, o merge), single- and multi-user panels",
	run,
	{{"s_q_prefill", 16, "query tokens per rank (prefill)"}, {"s_kv_per_rank", 16, "keys/values per rank"},
	 {"d_head", 64, "head dimension"}, {"h_q", 1, "query heads"}, {"h_kv", 1, "key/value heads (h_kv divides h_q: GQA)"},
	 {"n_ranks_multi_user", 4, "cubes in the multi-user chain"},
	 {"q_block", 0, "query rows per online-softmax state (0: all of a rank's)"},
	 {"kv_block", 0, "key/value rows per message (0: a rank's whole chunk; must fit a slot)"},
	 {"headline", 0, "1: Llama-70B sizes (64/8 heads, d 128, 32 K tokens), implies sampled=1"},
	 {"sampled", 0, "1: K/V/Q generated on the device, prefill checked on 2 sampled rows (kb-replay runs their slice)"},
	 {"panels", 15, "bits: 1 single_user_prefill, 2 multi_user_prefill, 4 single_user_decode, 8 multi_user_decode"}},
};
