/*
 * fabric_traffic.c — remote loads and stores that put bytes on chosen
 * links. Every tensor is split row_wise over the cubes and PEs of its SIP,
 * so block b = cube · PEs + pe lives in that PE's HBM slice at
 * base + b · block bytes; a kernel reaches any block of its SIP by VA
 * (the MMU map is broadcast to every PE), and a peer SIP's tensor once it
 * is mapped with kb_map_peer. Patterns:
 *   0 neighbour      PE p moves the block of PE p+1 of its cube (NoC)
 *   1 transpose      cube (x, y) moves the blocks of cube (y, x); on a
 *                    non-square mesh the point reflection (w-1-x, h-1-y)
 *   2 hot spot       every PE reads the block of its PE index in cube `hot`
 *   3 cross-SIP      every PE writes its block to the same PE of the next SIP
 *   4 local          every PE moves its own block (the baseline: no fabric)
 *   5 random         every PE reads a block of its SIP chosen by `seed`
 *                    and writes it to its own block of dst
 * Patterns 0 and 1 read the remote block and write it back to the same
 * place in dst (dst == src); 2 and 3 write locally / remotely as above,
 * with the expected result computed on the host.
 */
#include "benches.h"

#include <stdio.h>
#include <string.h>

enum { NEIGHBOUR, TRANSPOSE, HOT_SPOT, CROSS_SIP, LOCAL, RANDOM };

/* The block (cube, pe) that PE (c, p) reads for a pattern (random: hot
 * is the seed). */
static void source_block(int pattern, int c, int p, int w, int h, int pes, int hot, int *tc, int *tp)
{
	int x = c % w, y = c / w;
	*tc = c;
	*tp = p;
	if (pattern == RANDOM) {
		uint64_t z = (uint64_t)hot * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)(c * pes + p + 1) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 31)) * UINT64_C(0x94D049BB133111EB);
		z ^= z >> 29;
		*tc = (int)(z % (uint64_t)(w * h));
		*tp = (int)((z >> 20) % (uint64_t)pes);
	} else if (pattern == NEIGHBOUR)
		*tp = (p + 1) % pes;
	else if (pattern == TRANSPOSE)
		*tc = w == h ? x * w + y : (h - 1 - y) * w + (w - 1 - x);
	else if (pattern == HOT_SPOT)
		*tc = hot;
}

static void traffic_kernel(kb_tl *tl)
{
	int64_t rows = tl_arg_int(tl, "rows"), cols = tl_arg_int(tl, "cols"), iters = tl_arg_int(tl, "iters");
	int pattern = (int)tl_arg_int(tl, "pattern"), pes = (int)tl_arg_int(tl, "pes");
	int c = tl_program_id(tl, 1), p = tl_program_id(tl, 0), tc, tp;
	source_block(pattern, c, p, (int)tl_arg_int(tl, "w"), (int)tl_arg_int(tl, "h"), pes, (int)tl_arg_int(tl, "hot"),
		     &tc, &tp);
	uint64_t block = (uint64_t)(rows * cols) * kb_dtype_size(KB_F16);
	uint64_t mine = (uint64_t)(c * pes + p) * block, theirs = (uint64_t)(tc * pes + tp) * block;
	uint64_t src = tl_arg_base(tl, "src") + (pattern == CROSS_SIP ? mine : theirs);
	bool to_own = pattern == HOT_SPOT || pattern == RANDOM;
	uint64_t dst = pattern == CROSS_SIP ? (uint64_t)tl_arg_int(tl, "peer_dst") + mine
		     : tl_arg_base(tl, "dst") + (to_own ? mine : theirs);
	for (int64_t i = 0; i < iters; i++) {
		kb_tile *t = tl_load(tl, src, KB_SHAPE(rows, cols), KB_F16);
		tl_store(tl, dst, t);
		tl_free(tl, t);
	}
}

static void run(kb_ctx *ctx)
{
	const kb_machine *m = kb_ctx_machine(ctx);
	int pattern = (int)kb_param_int(ctx, "pattern"), hot = (int)kb_param_int(ctx, "hot");
	int64_t rows = kb_param_int(ctx, "rows"), cols = kb_param_int(ctx, "cols"), iters = kb_param_int(ctx, "iters");
	int n = kb_world_size(ctx), pes = m->pes_per_cube;
	if (pattern < NEIGHBOUR || pattern > RANDOM)
		kb_fatal(ctx, "fabric_traffic.pattern=%d: 0 neighbour, 1 transpose, 2 hot spot, 3 cross-SIP, 4 local,"
			 " 5 random", pattern);
	if (pattern == CROSS_SIP && n < 2)
		kb_fatal(ctx, "fabric_traffic.pattern=3 (cross-SIP) needs 2 or more SIPs (system.sips.count is 1)");
	if (pattern != RANDOM && (hot < 0 || hot >= m->n_cubes))
		kb_fatal(ctx, "fabric_traffic.hot=%d: a SIP has cubes 0 to %d", hot, m->n_cubes - 1);
	if (rows < 1 || cols < 1 || iters < 1)
		kb_fatal(ctx, "fabric_traffic: rows, cols and iters must be at least 1");
	int64_t blocks = (int64_t)m->n_cubes * pes, R = blocks * rows, block_elems = rows * cols;
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .pe = KB_ROW_WISE);
	kb_tensor *src[KB_MAX_SIPS], *dst[KB_MAX_SIPS];
	float *data[KB_MAX_SIPS];
	for (int r = 0; r < n; r++) {
		char name[32];
		kb_set_device(ctx, r);
		snprintf(name, sizeof name, "src_r%d", r);
		src[r] = kb_empty(ctx, name, KB_SHAPE(R, cols), KB_F16, dp);
		snprintf(name, sizeof name, "dst_r%d", r);
		dst[r] = kb_zeros(ctx, name, KB_SHAPE(R, cols), KB_F16, dp);
		data[r] = benches__random(ctx, R * cols, (uint64_t)(kb_param_int(ctx, "seed") + r), 4.0f);
		kb_copy_from_host(ctx, src[r], data[r]);
	}
	for (int r = 0; r < n; r++) {
		kb_set_device(ctx, r);
		kb_tensor *peer = dst[(r + 1) % n];
		if (pattern == CROSS_SIP)
			kb_map_peer(ctx, peer);
		kb_range_push(ctx, "traffic");
		KB_LAUNCH(ctx, "traffic", traffic_kernel, KB_TENSOR("src", src[r]), KB_TENSOR("dst", dst[r]),
			  KB_INT("peer_dst", (int64_t)kb_tensor_va(peer)), KB_INT("pattern", pattern), KB_INT("rows", rows),
			  KB_INT("cols", cols), KB_INT("iters", iters), KB_INT("pes", pes), KB_INT("w", m->cube_w),
			  KB_INT("h", m->cube_h), KB_INT("hot", hot));
		kb_range_pop(ctx);
	}
	float *want = benches__alloc(ctx, R * cols);
	for (int r = 0; r < n; r++) {
		kb_set_device(ctx, r);
		if (pattern == CROSS_SIP) { /* SIP r received the blocks of SIP r - 1 */
			kb_expect(ctx, dst[r], data[(r + n - 1) % n], 0, 0);
			continue;
		}
		for (int c = 0; c < m->n_cubes; c++)
			for (int p = 0; p < pes; p++) {
				int tc, tp;
				source_block(pattern, c, p, m->cube_w, m->cube_h, pes, hot, &tc, &tp);
				int64_t to = pattern == HOT_SPOT || pattern == RANDOM ? c * pes + p : tc * pes + tp;
				memcpy(want + to * block_elems, data[r] + (tc * pes + tp) * block_elems,
				       (size_t)block_elems * sizeof *want);
			}
		kb_expect(ctx, dst[r], want, 0, 0);
	}
	kb_host_free(ctx, want);
	for (int r = 0; r < n; r++)
		kb_host_free(ctx, data[r]);
}

const kb_bench kb_bench_fabric_traffic = {
	"fabric_traffic", "remote loads/stores by pattern: 0 neighbour, 1 mesh transpose, 2 hot spot, 3 cross-SIP, 4 local,"
	" 5 random",
	run,
	{{"pattern", 0, "0 neighbour PE, 1 mesh transpose, 2 hot spot, 3 cross-SIP, 4 local (no fabric), 5 random"},
	 {"rows", 16, "rows per PE block"},
	 {"cols", 256, "columns (f16) per block"},
	 {"iters", 1, "times each PE moves its block"},
	 {"hot", 0, "pattern 2: the cube every PE reads; pattern 5: the random seed"},
	 {"seed", 5, "random input seed"}},
};
