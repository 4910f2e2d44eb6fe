/*
 * placement.c — DPPolicy: which (cube, pe) of a SIP holds which block.
 *
 * The cube axis splits the tensor's 2-D view first, the pe axis splits each
 * cube's block. A shard always holds a rectangular logical block stored
 * row-major and contiguous at va + offset_bytes, so a column_wise shard is
 * a contiguous (rows, cols/P) block (not strided columns); host data is
 * scattered into that layout when it is copied in.
 */
#include "tracegen.h"

#include <stdio.h>
#include <stdlib.h>

const char *kb_split_name(kb_split s)
{
	static const char *const names[] = {"replicate", "column_wise", "row_wise", "tiled_row_major",
					    "tiled_column_major"};
	return (unsigned)s <= KB_TILED_COLUMN_MAJOR ? names[s] : "?";
}

void kb_dp_format(const kb_dp *dp, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "cube=%s pe=%s num_cubes=%d num_pes=%d mem=%s", kb_split_name(dp->cube),
			 kb_split_name(dp->pe), dp->num_cubes, dp->num_pes,
			 kb_space_name(dp->mem ? dp->mem : KB_SPACE_HBM));
	if (n > 0 && (size_t)n < cap && (dp->pe == KB_TILED_ROW_MAJOR || dp->pe == KB_TILED_COLUMN_MAJOR))
		snprintf(buf + n, cap - (size_t)n, " tile=%lldx%lld", (long long)dp->tile_m, (long long)dp->tile_k);
}

typedef struct block {
	int64_t row0, col0, rows, cols;
	uint64_t offset;
} block;

/* Splits b into parts along an axis; part i of n. */
static int split(kb_split how, const block *b, int i, int n, size_t isz, const char *axis, block *out,
		 kb_error *err)
{
	*out = *b;
	if (how == KB_REPLICATE)
		return 0;
	if (how == KB_COLUMN_WISE) {
		if (b->cols % n)
			return kb_fail(err, "placement: %lld columns do not split evenly over %d %ss (column_wise)",
				       (long long)b->cols, n, axis);
		out->cols = b->cols / n;
		out->col0 = b->col0 + i * out->cols;
	} else if (how == KB_ROW_WISE) {
		if (b->rows % n)
			return kb_fail(err, "placement: %lld rows do not split evenly over %d %ss (row_wise)",
				       (long long)b->rows, n, axis);
		out->rows = b->rows / n;
		out->row0 = b->row0 + i * out->rows;
	} else {
		return kb_fail(err, "placement: %s applies to the pe axis only", kb_split_name(how));
	}
	out->offset = b->offset + (uint64_t)i * (uint64_t)(out->rows * out->cols) * isz;
	return 0;
}

static int push(kb_shard **v, size_t *n, size_t *cap, const kb_shard *s)
{
	if (kb_grow(v, cap, *n + 1, sizeof **v, 16))
		return -1;
	(*v)[(*n)++] = *s;
	return 0;
}

int kb_dp_resolve(const kb_dp *dp, const kb_machine *m, int sip, int64_t rows, int64_t cols, size_t itemsize,
		  kb_shard **out, size_t *n_out, kb_error *err)
{
	int n_cubes = dp->num_cubes ? dp->num_cubes : m->n_cubes;
	int n_pes = dp->num_pes ? dp->num_pes : m->pes_per_cube;
	if (sip < 0 || sip >= m->n_sips)
		return kb_fail(err, "placement: device %d does not exist (%d SIPs)", sip, m->n_sips);
	if (n_cubes < 1 || n_cubes > m->n_cubes)
		return kb_fail(err, "placement: num_cubes=%d but a SIP has %d cubes", n_cubes, m->n_cubes);
	if (n_pes < 1 || n_pes > m->pes_per_cube)
		return kb_fail(err, "placement: num_pes=%d but a cube has %d PEs", n_pes, m->pes_per_cube);
	if (rows < 1 || cols < 1)
		return kb_fail(err, "placement: empty tensor (%lld x %lld)", (long long)rows, (long long)cols);
	kb_shard *v = NULL;
	size_t n = 0, cap = 0;
	block whole = {0, 0, rows, cols, 0};
	for (int c = 0; c < n_cubes; c++) {
		block cb;
		if (split(dp->cube, &whole, c, n_cubes, itemsize, "cube", &cb, err))
			goto fail;
		if (dp->pe == KB_TILED_ROW_MAJOR || dp->pe == KB_TILED_COLUMN_MAJOR) {
			int64_t tm = dp->tile_m, tk = dp->tile_k;
			if (tm < 1 || tk < 1 || cb.rows % tm || cb.cols % tk) {
				kb_fail(err, "placement: tile %lldx%lld does not divide the %lldx%lld block",
					(long long)tm, (long long)tk, (long long)cb.rows, (long long)cb.cols);
				goto fail;
			}
			int64_t nm = cb.rows / tm, nk = cb.cols / tk;
			for (int64_t i = 0; i < nm * nk; i++) {
				int64_t mi = dp->pe == KB_TILED_ROW_MAJOR ? i / nk : i % nm;
				int64_t ki = dp->pe == KB_TILED_ROW_MAJOR ? i % nk : i / nm;
				kb_shard s = {sip, c, (int)(i % n_pes), cb.offset + (uint64_t)(i * tm * tk) * itemsize,
					      (uint64_t)(tm * tk) * itemsize, cb.row0 + mi * tm, cb.col0 + ki * tk, tm, tk};
				if (push(&v, &n, &cap, &s))
					goto oom;
			}
			continue;
		}
		for (int p = 0; p < n_pes; p++) {
			block pb;
			if (split(dp->pe, &cb, p, n_pes, itemsize, "PE", &pb, err))
				goto fail;
			kb_shard s = {sip, c, p, pb.offset, (uint64_t)(pb.rows * pb.cols) * itemsize,
				      pb.row0, pb.col0, pb.rows, pb.cols};
			if (push(&v, &n, &cap, &s))
				goto oom;
		}
	}
	*out = v;
	*n_out = n;
	return 0;
oom:
	kb_fail(err, "placement: out of memory");
fail:
	free(v);
	return -1;
}
