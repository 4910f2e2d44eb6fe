/*
 * numerics.c — what each op computes. Inputs arrive as f32 arrays; results
 * are produced in f32 and rounded once into the destination dtype. GEMMs
 * and reductions accumulate in f32. Broadcasting follows numpy (shapes
 * right-aligned, extent-1 dimensions repeat).
 */
#include "replay_int.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void *replay__scratch_get(scratch *s, size_t bytes)
{
	if (bytes > s->cap) {
		size_t cap = bytes > 2 * s->cap ? bytes : 2 * s->cap;
		void *p = realloc(s->p, cap);
		if (!p)
			return NULL;
		s->p = p;
		s->cap = cap;
	}
	return s->p;
}

void replay__scratch_release(scratch *s)
{
	free(s->p);
	s->p = NULL;
	s->cap = 0;
}

size_t replay__dtype_bytes(int dtype)
{
	return kb_dtype_size((kb_dtype)dtype);
}

/* Every half's float value: a 256 KB table beats decoding bits per element. */
static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void fill_f16_table(void)
{
	for (uint32_t h = 0; h < 65536; h++)
		f16_table[h] = kb_f16_to_f32((uint16_t)h);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* x86 F16C converts 8 values per instruction, rounding to nearest even
 * exactly like kb_f32_to_f16; used when the CPU has it. */
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_PATH 1

__attribute__((target("avx,f16c"))) static int64_t f16_to_f32_f16c(const uint16_t *s, float *d, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
	return i;
}

__attribute__((target("avx,f16c"))) static int64_t f32_to_f16_f16c(const float *s, uint16_t *d, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
	return i;
}

static bool has_f16c(void)
{
	static int known = -1;
	if (known < 0) { /* CPUID leaf 1, ECX: bit 28 AVX, bit 29 F16C (clang 14 lacks the "f16c" builtin name) */
		unsigned a, b, c, d;
		known = __get_cpuid(1, &a, &b, &c, &d) && (c >> 28 & 1) && (c >> 29 & 1);
	}
	return known;
}
#endif

void replay__to_f32(int dtype, const void *src, float *dst, int64_t n)
{
	if (dtype == KB_F32) {
		memcpy(dst, src, (size_t)n * sizeof(float));
		return;
	}
	const uint16_t *h = src;
	int64_t i = 0;
#ifdef HAVE_F16C_PATH
	if (has_f16c())
		i = f16_to_f32_f16c(h, dst, n);
#endif
	pthread_once(&f16_once, fill_f16_table);
	for (; i < n; i++)
		dst[i] = f16_table[h[i]];
}

void replay__from_f32(int dtype, const float *src, void *dst, int64_t n)
{
	if (dtype == KB_F32) {
		memcpy(dst, src, (size_t)n * sizeof(float));
		return;
	}
	uint16_t *h = dst;
	int64_t i = 0;
#ifdef HAVE_F16C_PATH
	if (has_f16c())
		i = f32_to_f16_f16c(src, h, n);
#endif
	for (; i < n; i++)
		h[i] = kb_f32_to_f16(src[i]);
}

span_iter replay__operand_spans(const rop_operand *o, int64_t stride)
{
	size_t isz = replay__dtype_bytes(o->dtype);
	if (stride > 0 && o->shape->ndim == 2)
		return (span_iter){o->pa, (size_t)o->shape->d[1] * isz, (size_t)o->shape->d[0], (size_t)stride * isz};
	return (span_iter){o->pa, (size_t)o->shape->numel * isz, 1, 0};
}

/* ------------------------------------------------------------------ */
/* GEMM                                                                */
/* ------------------------------------------------------------------ */

/* Below this many multiply-adds the hand kernel beats a BLAS call. */
#define BLAS_MIN_MACS (64 * 64 * 64)

void kb_replay_sgemm_plain(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
			   int64_t ldb, float *C, int64_t ldc, bool accumulate)
{
	enum { KB_ = 256, NB = 512 };
	if (!accumulate)
		for (int64_t i = 0; i < M; i++)
			memset(C + i * ldc, 0, (size_t)N * sizeof *C);
	/* blocked i-k-j: the inner loop streams rows of B and C and vectorises */
	for (int64_t k0 = 0; k0 < K; k0 += KB_)
		for (int64_t j0 = 0; j0 < N; j0 += NB) {
			int64_t kn = K - k0 < KB_ ? K - k0 : KB_, jn = N - j0 < NB ? N - j0 : NB;
			for (int64_t i = 0; i < M; i++) {
				float *c = C + i * ldc + j0;
				const float *a = A + i * lda + k0;
				for (int64_t k = 0; k < kn; k++) {
					float av = a[k];
					const float *b = B + (k0 + k) * ldb + j0;
					for (int64_t j = 0; j < jn; j++)
						c[j] += av * b[j];
				}
			}
		}
}

void kb_replay_sgemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
		     float *C, int64_t ldc, bool accumulate)
{
	if (M * N * K < BLAS_MIN_MACS || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
		kb_replay_sgemm_plain(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
		    accumulate ? 1.0f : 0.0f, C, (int)ldc);
}

/* out (f32) = a (rows x cols) transposed, through a 32 x 32 block: rows of
 * a read whole, rows of out written whole (a walk by elements wrote each
 * to another cache line, and power-of-two strides thrash the cache sets:
 * a third of a GQA replay's numerics). */
static void transpose(const float *a, int64_t rows, int64_t cols, float *out)
{
	enum { B = 32 };
	float t[B][B];
	for (int64_t r0 = 0; r0 < rows; r0 += B)
		for (int64_t c0 = 0; c0 < cols; c0 += B) {
			int64_t nr = r0 + B < rows ? B : rows - r0, nc = c0 + B < cols ? B : cols - c0;
			for (int64_t r = 0; r < nr; r++)
				for (int64_t c = 0; c < nc; c++)
					t[c][r] = a[(r0 + r) * cols + c0 + c];
			for (int64_t c = 0; c < nc; c++)
				memcpy(out + (c0 + c) * rows + r0, t[c], (size_t)nr * sizeof(float));
		}
}

static int gemm(const rop *op, float *const in[4], float *out, scratch tmp[2], int64_t *flops)
{
	const shape4 *sa = op->a.shape, *sb = op->b.shape;
	bool ta = op->attr & KB_GEMM_TRANS_A, tb = op->attr & KB_GEMM_TRANS_B, acc = op->attr & KB_GEMM_ACCUMULATE;
	int64_t M = ta ? sa->d[1] : sa->d[0], K = ta ? sa->d[0] : sa->d[1];
	int64_t N = tb ? sb->d[0] : sb->d[1];
	float *a = in[0], *b = in[1];
	if (ta) {
		if (!(a = replay__scratch_get(&tmp[0], (size_t)(M * K) * sizeof(float))))
			return -1;
		transpose(in[0], sa->d[0], sa->d[1], a);
	}
	if (tb) {
		if (!(b = replay__scratch_get(&tmp[1], (size_t)(K * N) * sizeof(float))))
			return -1;
		transpose(in[1], sb->d[0], sb->d[1], b);
	}
	if (acc)
		memcpy(out, in[3], (size_t)(M * N) * sizeof(float));
	kb_replay_sgemm(M, N, K, a, K, b, N, out, N, acc);
	*flops += 2 * M * N * K;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Elementwise, reductions                                             */
/* ------------------------------------------------------------------ */

/* Strides of x (in elements) in the 4-D index space of out. */
static void bcast_strides(const shape4 *x, const shape4 *out, int64_t st[4])
{
	int64_t s = 1;
	for (int k = 3; k >= 0; k--) {
		int j = k - (4 - x->ndim); /* x's dimension under out's (padded to 4) */
		int64_t ext = j >= 0 ? x->d[j] : 1;
		st[k] = ext == 1 ? 0 : s;
		s *= ext;
	}
	(void)out;
}

static void pad4(const shape4 *s, int64_t d[4])
{
	for (int k = 0; k < 4; k++) {
		int j = k - (4 - s->ndim);
		d[k] = j >= 0 ? s->d[j] : 1;
	}
}

static float apply(kb_op_kind kind, float a, float b, float c, double imm)
{
	switch (kind) {
	case KB_OP_MATH_ADD: return a + b;
	case KB_OP_MATH_SUB: return a - b;
	case KB_OP_MATH_MUL: return a * b;
	case KB_OP_MATH_DIV: return a / b;
	case KB_OP_MATH_MAXIMUM: return a > b ? a : b;
	case KB_OP_MATH_MINIMUM: return a < b ? a : b;
	case KB_OP_MATH_FMA: return a * b + c;
	case KB_OP_MATH_CLAMP: return a < b ? b : a > c ? c : a;
	case KB_OP_MATH_EXP: return expf(a);
	case KB_OP_MATH_LOG: return logf(a);
	case KB_OP_MATH_SQRT: return sqrtf(a);
	case KB_OP_MATH_ABS: return fabsf(a);
	case KB_OP_MATH_NEG: return -a;
	case KB_OP_MATH_ADD_S: return a + (float)imm;
	case KB_OP_MATH_MUL_S: return a * (float)imm;
	case KB_OP_MATH_CAST: return a;
	default: return a;
	}
}

/* One row of a unary or binary op: a contiguous, b contiguous, or one
 * value (b_one), or absent. The same arithmetic as apply(), a loop per
 * kind (the switch per element kept them scalar). */
#define ROW_LOOP(expr) \
	do { \
		for (int64_t i = 0; i < n; i++) { \
			float x = a[i], y = !b ? 0 : b_one ? b[0] : b[i]; \
			(void)y; \
			out[i] = (expr); \
		} \
	} while (0)

static void row_run(kb_op_kind kind, const float *a, const float *b, bool b_one, float *out, int64_t n, double imm)
{
	float s = (float)imm;
	switch (kind) {
	case KB_OP_MATH_ADD: ROW_LOOP(x + y); break;
	case KB_OP_MATH_SUB: ROW_LOOP(x - y); break;
	case KB_OP_MATH_MUL: ROW_LOOP(x * y); break;
	case KB_OP_MATH_DIV: ROW_LOOP(x / y); break;
	case KB_OP_MATH_MAXIMUM: ROW_LOOP(x > y ? x : y); break;
	case KB_OP_MATH_MINIMUM: ROW_LOOP(x < y ? x : y); break;
	case KB_OP_MATH_EXP: ROW_LOOP(expf(x)); break;
	case KB_OP_MATH_ADD_S: ROW_LOOP(x + s); break;
	case KB_OP_MATH_MUL_S: ROW_LOOP(x * s); break;
	default:
		for (int64_t i = 0; i < n; i++)
			out[i] = apply(kind, a[i], b ? b[b_one ? 0 : i] : 0, 0, imm);
	}
}

static void elementwise(const rop *op, float *const in[4], float *out)
{
	int64_t d[4], sa[4] = {0}, sb[4] = {0}, sc[4] = {0};
	pad4(op->dst.shape, d);
	bcast_strides(op->a.shape, op->dst.shape, sa);
	if (op->b.space)
		bcast_strides(op->b.shape, op->dst.shape, sb);
	if (op->c.space)
		bcast_strides(op->c.shape, op->dst.shape, sc);
	const float *a = in[0], *b = op->b.space ? in[1] : NULL, *c = op->c.space ? in[2] : NULL;
	kb_op_kind kind = (kb_op_kind)op->kind;
	int64_t o = 0;
	if (!c && sa[3] == 1 && (!b || sb[3] <= 1)) { /* the last axis contiguous: a tight loop per kind */
		for (int64_t i0 = 0; i0 < d[0]; i0++)
			for (int64_t i1 = 0; i1 < d[1]; i1++)
				for (int64_t i2 = 0; i2 < d[2]; i2++, o += d[3]) {
					const float *ra = a + i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
					const float *rb = b ? b + i0 * sb[0] + i1 * sb[1] + i2 * sb[2] : NULL;
					row_run(kind, ra, rb, b && sb[3] == 0, out + o, d[3], op->imm);
				}
		return;
	}
	for (int64_t i0 = 0; i0 < d[0]; i0++)
		for (int64_t i1 = 0; i1 < d[1]; i1++)
			for (int64_t i2 = 0; i2 < d[2]; i2++)
				for (int64_t i3 = 0; i3 < d[3]; i3++, o++) {
					int64_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
					int64_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
					int64_t ic = i0 * sc[0] + i1 * sc[1] + i2 * sc[2] + i3 * sc[3];
					out[o] = apply(kind, a[ia], b ? b[ib] : 0, c ? c[ic] : 0, op->imm);
				}
}

/* max / sum / softmax along attr (the axis), keeping the axis for max/sum.
 * Along an inner axis (inner == 1) each row is walked in place; along an
 * outer one the rows of the axis are walked whole, every column's running
 * max and sum side by side (a strided walk missed the cache at every
 * element). Each column still sums in axis order: the same floats. -1:
 * out of memory. */
static int along_axis(const rop *op, const float *x, float *out)
{
	const shape4 *s = op->a.shape;
	int axis = (int)op->attr;
	int64_t outer = 1, len = s->d[axis], inner = 1;
	for (int k = 0; k < axis; k++)
		outer *= s->d[k];
	for (int k = axis + 1; k < s->ndim; k++)
		inner *= s->d[k];
	if (inner == 1) {
		for (int64_t o = 0; o < outer; o++) {
			const float *v = x + o * len;
			float m = v[0], sum = 0;
			for (int64_t k = 1; k < len; k++)
				if (v[k] > m)
					m = v[k];
			if (op->kind == KB_OP_MATH_MAX) {
				out[o] = m;
				continue;
			}
			if (op->kind == KB_OP_MATH_SUM) {
				for (int64_t k = 0; k < len; k++)
					sum += v[k];
				out[o] = sum;
				continue;
			}
			float *w = out + o * len; /* softmax: exp(x - max) / sum */
			for (int64_t k = 0; k < len; k++)
				sum += (w[k] = expf(v[k] - m));
			for (int64_t k = 0; k < len; k++)
				w[k] /= sum;
		}
		return 0;
	}
	float *m = malloc((size_t)inner * 2 * sizeof *m), *sum = m + inner;
	if (!m)
		return -1;
	for (int64_t o = 0; o < outer; o++) {
		const float *v = x + o * len * inner;
		memcpy(m, v, (size_t)inner * sizeof *m);
		for (int64_t k = 1; k < len; k++)
			for (int64_t i = 0; i < inner; i++)
				if (v[k * inner + i] > m[i])
					m[i] = v[k * inner + i];
		if (op->kind == KB_OP_MATH_MAX) {
			memcpy(out + o * inner, m, (size_t)inner * sizeof *m);
			continue;
		}
		memset(sum, 0, (size_t)inner * sizeof *sum);
		if (op->kind == KB_OP_MATH_SUM) {
			for (int64_t k = 0; k < len; k++)
				for (int64_t i = 0; i < inner; i++)
					sum[i] += v[k * inner + i];
			memcpy(out + o * inner, sum, (size_t)inner * sizeof *sum);
			continue;
		}
		float *w = out + o * len * inner; /* softmax: exp(x - max) / sum */
		for (int64_t k = 0; k < len; k++)
			for (int64_t i = 0; i < inner; i++)
				sum[i] += (w[k * inner + i] = expf(v[k * inner + i] - m[i]));
		for (int64_t k = 0; k < len; k++)
			for (int64_t i = 0; i < inner; i++)
				w[k * inner + i] /= sum[i];
	}
	free(m);
	return 0;
}

int replay__compute(const rop *op, float *const in[4], void *out, scratch tmp[3], int64_t *flops)
{
	int64_t n = op->dst.shape->numel;
	float *res = replay__scratch_get(&tmp[2], (size_t)(n ? n : 1) * sizeof *res);
	if (!res)
		return -1;
	int rc = 0;
	switch (op->kind) {
	case KB_OP_GEMM:
		rc = gemm(op, in, res, tmp, flops);
		break;
	case KB_OP_MATH_MAX: case KB_OP_MATH_SUM: case KB_OP_MATH_SOFTMAX:
		rc = along_axis(op, in[0], res);
		break;
	case KB_OP_MATH_TRANS:
		transpose(in[0], op->a.shape->d[0], op->a.shape->d[1], res);
		break;
	case KB_OP_MATH_FILL:
		for (int64_t i = 0; i < n; i++)
			res[i] = (float)op->imm;
		break;
	default:
		elementwise(op, in, res);
	}
	if (!rc)
		replay__from_f32(op->dst.dtype, res, out, n);
	return rc;
}
