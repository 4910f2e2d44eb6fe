/*
 * ccl.c — the distributed runtime: process group, IPCQ install plans,
 * send / recv in the tl DSL, and all_reduce dispatching a registered
 * algorithm (ccl_algos.c).
 *
 * Ranks: rank = SIP while world_size fits the SIP count (the rank's PE is
 * cube 0 PE 0, mapper leader_only); beyond it, rank = PE in linear order
 * (sip, cube, pe), the seed's legacy path its allreduce matrix uses.
 *
 * A channel joins (sender PE, direction) to (receiver PE, the receiver's
 * direction back to the sender). The receiver owns n_slots x slot_size
 * bytes of rx buffer per incoming direction, allocated from the real TCM /
 * HBM / SRAM allocators. The k-th send on a channel writes slot k mod
 * n_slots; the k-th recv reads it. Timing turns (channel, k) into the data
 * and credit edges; nothing here needs the other side to exist yet
 * (ranks are traced one after another).
 */
#include "frontend_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Topologies: a rank's neighbours as {direction: peer}                 */
/* ------------------------------------------------------------------ */

static int isqrt_exact(int n)
{
	int s = (int)lround(sqrt((double)n));
	return s * s == n ? s : -1;
}

/* Fills nb[dir] = peer rank (-1 none). -1 with err if the topology cannot
 * hold world_size ranks. */
static int neighbours(const char *topo, int r, int ws, int nb[KB_DIR_COUNT], kb_error *err)
{
	for (int d = 0; d < KB_DIR_COUNT; d++)
		nb[d] = -1;
	if (strcmp(topo, "ring_1d") == 0 || strcmp(topo, "ring_1d_unidir") == 0) {
		if (ws > 1) {
			nb[KB_DIR_E] = (r + 1) % ws;
			if (strcmp(topo, "ring_1d") == 0)
				nb[KB_DIR_W] = (r - 1 + ws) % ws;
		}
	} else if (strcmp(topo, "mesh_2d") == 0 || strcmp(topo, "torus_2d") == 0 ||
		   strcmp(topo, "mesh_2d_no_wrap") == 0) {
		int side = isqrt_exact(ws);
		if (side <= 0)
			return kb_fail(err, "topology %s needs a square world size, not %d", topo, ws);
		int row = r / side, col = r % side;
		if (strcmp(topo, "mesh_2d_no_wrap") == 0) {
			nb[KB_DIR_E] = col + 1 < side ? r + 1 : -1;
			nb[KB_DIR_W] = col > 0 ? r - 1 : -1;
			nb[KB_DIR_N] = row > 0 ? r - side : -1;
			nb[KB_DIR_S] = row + 1 < side ? r + side : -1;
		} else if (side > 1) {
			nb[KB_DIR_E] = row * side + (col + 1) % side;
			nb[KB_DIR_W] = row * side + (col - 1 + side) % side;
			nb[KB_DIR_N] = ((row - 1 + side) % side) * side + col;
			nb[KB_DIR_S] = ((row + 1) % side) * side + col;
		}
	} else if (strcmp(topo, "tree_binary") == 0) {
		nb[KB_DIR_PARENT] = r > 0 ? (r - 1) / 2 : -1;
		nb[KB_DIR_CHILD_LEFT] = 2 * r + 1 < ws ? 2 * r + 1 : -1;
		nb[KB_DIR_CHILD_RIGHT] = 2 * r + 2 < ws ? 2 * r + 2 : -1;
	} else if (strcmp(topo, "none") != 0) {
		return kb_fail(err, "topology %s is not available yet (ring_1d, ring_1d_unidir, mesh_2d, torus_2d,"
				    " mesh_2d_no_wrap, tree_binary, none)", topo);
	}
	for (int d = 0; d < KB_DIR_COUNT; d++)
		if (nb[d] == r)
			nb[d] = -1; /* a 1-wide ring or mesh: no self channel */
	return 0;
}

/* The receiver's direction back to the sender: the opposite of the
 * sender's direction if the receiver's table maps it back (so the 2-rank
 * ring, where E and W name the same peer, gets two channels), else the
 * first direction that does, else the opposite name (one-way topologies:
 * ring_1d_unidir receives on W). -1 if none exists. */
static int reverse_direction(const int peer_nb[KB_DIR_COUNT], int me, kb_dir d)
{
	int opp = kb_dir_opposite(d);
	if (opp >= 0 && peer_nb[opp] == me)
		return opp;
	for (int k = 0; k < KB_DIR_COUNT; k++)
		if (peer_nb[k] == me)
			return k;
	return opp;
}

/* The named wirings: neighbours of participant p as participant indices. */
static void map_dirs(const int in[KB_DIR_COUNT], int out[KB_DIR_COUNT], int global_base, int stride, int offset)
{
	static const kb_dir to_global[4] = {KB_DIR_GLOBAL_E, KB_DIR_GLOBAL_W, KB_DIR_GLOBAL_N, KB_DIR_GLOBAL_S};
	for (int d = 0; d < 4; d++)
		if (in[d] >= 0)
			out[to_global[d]] = in[d] * stride + offset;
	(void)global_base;
}

static int wiring(const kb_machine *m, const ccl_state *c, int p, int nb[KB_DIR_COUNT], kb_error *err)
{
	const char *w = c->cfg.topology;
	for (int d = 0; d < KB_DIR_COUNT; d++)
		nb[d] = -1;
	int sips[KB_DIR_COUNT];
	if (strcmp(w, "intercube_multisip") == 0) { /* PE 0 of every cube: p = sip * n_cubes + cube */
		int sip = p / m->n_cubes, cube = p % m->n_cubes, x = cube % m->cube_w, y = cube / m->cube_w;
		nb[KB_DIR_E] = x + 1 < m->cube_w ? p + 1 : -1;
		nb[KB_DIR_W] = x > 0 ? p - 1 : -1;
		nb[KB_DIR_N] = y > 0 ? p - m->cube_w : -1;
		nb[KB_DIR_S] = y + 1 < m->cube_h ? p + m->cube_w : -1;
		if (neighbours(m->cfg.sips_topology, sip, m->n_sips, sips, err))
			return -1;
		map_dirs(sips, nb, 0, m->n_cubes, cube);
		return 0;
	}
	if (strcmp(w, "hierarchical_3level") == 0) { /* every PE: p = flat PE index */
		int sip = p / (m->n_cubes * m->pes_per_cube), cube = (p / m->pes_per_cube) % m->n_cubes;
		int pe = p % m->pes_per_cube;
		nb[KB_DIR_E] = pe + 1 < m->pes_per_cube ? p + 1 : -1; /* intra-cube chain */
		nb[KB_DIR_W] = pe > 0 ? p - 1 : -1;
		if (pe == 0) { /* cube leaders: a chain over the cubes in id order */
			nb[KB_DIR_N] = cube > 0 ? p - m->pes_per_cube : -1;
			nb[KB_DIR_S] = cube + 1 < m->n_cubes ? p + m->pes_per_cube : -1;
		}
		if (pe == 0 && cube == 0) { /* SIP leaders: a ring over the SIPs */
			if (neighbours("ring_1d", sip, m->n_sips, sips, err))
				return -1;
			map_dirs(sips, nb, 0, m->n_cubes * m->pes_per_cube, 0);
		}
		return 0;
	}
	if (strcmp(w, "intracube_pe_ring") == 0) { /* the PEs of sip0.cube0 as an E/W chain */
		nb[KB_DIR_E] = p + 1 < c->n_part ? p + 1 : -1;
		nb[KB_DIR_W] = p > 0 ? p - 1 : -1;
		return 0;
	}
	return neighbours(w, p, c->world_size, nb, err); /* one participant per rank */
}

/* ------------------------------------------------------------------ */
/* Install and uninstall                                               */
/* ------------------------------------------------------------------ */

static void flat_to_loc(const kb_machine *m, int flat, int loc[3])
{
	loc[2] = flat % m->pes_per_cube;
	loc[1] = (flat / m->pes_per_cube) % m->n_cubes;
	loc[0] = flat / (m->pes_per_cube * m->n_cubes);
}

static kb_space buffer_space(kb_ctx *ctx, const char *kind)
{
	if (strcmp(kind, "tcm") == 0)
		return KB_SPACE_TCM;
	if (strcmp(kind, "hbm") == 0)
		return KB_SPACE_HBM;
	if (strcmp(kind, "sram") == 0)
		return KB_SPACE_SRAM;
	kb_fatal(ctx, "ccl buffer_kind '%s' is not one of tcm, hbm, sram", kind);
}

static void free_buffers(kb_ctx *ctx, ccl_state *c)
{
	int64_t bytes = c->cfg.n_slots * c->cfg.slot_size;
	for (int i = 0; i < c->n_chans; i++) {
		chan *ch = &c->chans[i];
		kb_error e;
		kb_mem_free(ctx->s, ch->space, ch->dst[0], ch->dst[1], ch->dst[2], ch->rx_off, (uint64_t)bytes, &e);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Installs the wiring of the resolved algorithm c->cfg. */
static void install(kb_ctx *ctx, ccl_state *c)
{
	const kb_machine *m = ctx->m;
	const kb_ccl_algo *a = &c->cfg;
	int np = c->n_part;
	kb_space space = buffer_space(ctx, a->buffer_kind);
	c->chans = calloc((size_t)np * KB_DIR_COUNT, sizeof *c->chans);
	int (*nb)[KB_DIR_COUNT] = malloc((size_t)np * sizeof *nb);
	if (!c->chans || !nb) {
		free(nb);
		kb_fatal(ctx, "out of memory installing %d PEs", np);
	}
	kb_error why = {0};
	for (int r = 0; r < np; r++)
		if (wiring(m, c, r, nb[r], &why)) {
			free(nb);
			kb_fatal(ctx, "ccl algorithm '%s': %s (ccl.algorithms.%s.topology, world_size)", a->name, why.msg,
				 a->name);
		}
	c->n_chans = 0;
	int64_t rx_bytes = a->n_slots * a->slot_size;
	for (int r = 0; r < np; r++)
		for (int d = 0; d < KB_DIR_COUNT; d++) {
			int peer = nb[r][d];
			if (peer < 0)
				continue;
			int back = reverse_direction(nb[peer], r, (kb_dir)d);
			if (back < 0) {
				free(nb);
				kb_fatal(ctx, "ccl algorithm '%s': PE %d's %s neighbour %d has no direction back to it"
					      " (ccl.algorithms.%s.topology = %s)", a->name, r, kb_dir_name((kb_dir)d), peer,
					 a->name, a->topology);
			}
			int sf = c->part_loc[r], df = c->part_loc[peer];
			if (c->in[df * KB_DIR_COUNT + back] >= 0) {
				free(nb);
				kb_fatal(ctx, "ccl algorithm '%s': rank %d receives twice on %s; the topology %s is not"
					      " symmetric", a->name, c->part_rank[peer], kb_dir_name((kb_dir)back), a->topology);
			}
			chan *ch = &c->chans[c->n_chans];
			*ch = (chan){.id = ++ctx->next_chan_id, .src_rank = c->part_rank[r], .dst_rank = c->part_rank[peer],
				     .src_dir = (kb_dir)d, .dst_dir = (kb_dir)back, .space = space, .n_slots = a->n_slots,
				     .slot_size = a->slot_size};
			flat_to_loc(m, sf, ch->src);
			flat_to_loc(m, df, ch->dst);
			kb_error e = {0};
			if (kb_mem_alloc(ctx->s, space, ch->dst[0], ch->dst[1], ch->dst[2], (uint64_t)rx_bytes, &ch->rx_off,
					 &e)) {
				free(nb);
				free_buffers(ctx, c);
				kb_fatal(ctx, "ccl algorithm '%s': rx buffer of %lld slots x %lld bytes for %s: %s"
					      " (ccl.defaults.n_slots, slot_size, buffer_kind)", a->name, (long long)a->n_slots,
					 (long long)a->slot_size, kb_dir_name((kb_dir)back), e.msg);
			}
			ch->rx_pa = kb_mem_pa(ctx->s, space, ch->dst[0], ch->dst[1], ch->dst[2], ch->rx_off);
			c->out[sf * KB_DIR_COUNT + d] = c->n_chans;
			c->in[df * KB_DIR_COUNT + back] = c->n_chans;
			c->n_chans++;
		}
	free(nb);
	/* invariant: every rx range is disjoint from every other */
	uint64_t *starts = malloc((size_t)(c->n_chans + 1) * sizeof *starts);
	if (!starts)
		kb_fatal(ctx, "out of memory");
	for (int i = 0; i < c->n_chans; i++)
		starts[i] = c->chans[i].rx_pa;
	qsort(starts, (size_t)c->n_chans, sizeof *starts, cmp_u64);
	for (int i = 1; i < c->n_chans; i++)
		if (starts[i] < starts[i - 1] + (uint64_t)rx_bytes) {
			unsigned long long at = starts[i];
			free(starts);
			kb_fatal(ctx, "ccl install: rx buffers overlap at PA 0x%llx", at);
		}
	free(starts);
	/* one install message per PE on its rank's host stream, then the rows */
	for (int r = 0; r < np; r++) {
		int f = c->part_loc[r], loc[3], entries = 0;
		flat_to_loc(m, f, loc);
		for (int d = 0; d < KB_DIR_COUNT; d++)
			entries += (c->out[f * KB_DIR_COUNT + d] >= 0) + (c->in[f * KB_DIR_COUNT + d] >= 0);
		kb_op op = {.sip = loc[0], .cube = loc[1], .pe = loc[2], .kind = KB_OP_IPCQ_INIT,
				.attr = entries, .bytes = (int64_t)entries * KB_IPCQ_ENTRY_BYTES};
		int64_t id = kb_session_op(ctx->s, &op, &ctx->err);
		if (id < 0)
			kb_throw(ctx);
		for (int d = 0; d < KB_DIR_COUNT; d++) {
			int k = c->out[f * KB_DIR_COUNT + d];
			if (k < 0)
				continue;
			const chan *ch = &c->chans[k];
			kb_channel_row row = {.id = ch->id, .src = {ch->src[0], ch->src[1], ch->src[2]}, .src_dir = ch->src_dir,
					      .dst = {ch->dst[0], ch->dst[1], ch->dst[2]}, .dst_dir = ch->dst_dir,
					      .n_slots = a->n_slots, .slot_size = a->slot_size, .space = ch->space,
					      .rx_pa = ch->rx_pa, .credit_bytes = a->ipcq_credit_size_bytes,
					      .src_rank = ch->src_rank, .dst_rank = ch->dst_rank, .install_op = id};
			if (kb_session_channel(ctx->s, &row, &ctx->err))
				kb_throw(ctx);
		}
	}
	c->installed = true;
}

static void uninstall(kb_ctx *ctx, ccl_state *c)
{
	if (!c->installed)
		return;
	free_buffers(ctx, c);
	free(c->chans);
	c->chans = NULL;
	c->n_chans = 0;
	memset(c->out, 0xff, (size_t)ctx->m->n_pes * KB_DIR_COUNT * sizeof *c->out);
	memset(c->in, 0xff, (size_t)ctx->m->n_pes * KB_DIR_COUNT * sizeof *c->in);
	c->installed = false;
}

int kb_ipcq_connect(kb_ctx *ctx, const int src[3], const int dst[3], int src_rank, int dst_rank, int64_t n_slots,
		    int64_t slot_size, kb_space space)
{
	const kb_machine *m = ctx->m;
	for (int e = 0; e < 2; e++) {
		const int *p = e ? dst : src;
		if (p[0] < 0 || p[0] >= m->n_sips || p[1] < 0 || p[1] >= m->n_cubes || p[2] < 0 || p[2] >= m->pes_per_cube)
			kb_fatal(ctx, "ipcq_connect: sip%d.cube%d.pe%d is not a PE of this machine", p[0], p[1], p[2]);
	}
	if (n_slots < 1 || slot_size < 1 || n_slots > 1024 || slot_size > (INT64_C(1) << 30))
		kb_fatal(ctx, "ipcq_connect: %lld slots of %lld bytes (1..1024 slots of 1 B..1 GiB)", (long long)n_slots,
			 (long long)slot_size);
	if (ctx->n_pairs == ctx->cap_pairs) {
		int cap = ctx->cap_pairs ? 2 * ctx->cap_pairs : 16;
		chan *v = realloc(ctx->pairs, (size_t)cap * sizeof *v);
		if (!v)
			kb_fatal(ctx, "out of memory");
		ctx->pairs = v;
		ctx->cap_pairs = cap;
	}
	chan *ch = &ctx->pairs[ctx->n_pairs];
	*ch = (chan){.id = ++ctx->next_chan_id, .src_rank = src_rank, .dst_rank = dst_rank, .src_dir = KB_DIR_PEER,
		     .dst_dir = KB_DIR_PEER, .space = space, .n_slots = n_slots, .slot_size = slot_size};
	memcpy(ch->src, src, sizeof ch->src);
	memcpy(ch->dst, dst, sizeof ch->dst);
	kb_error e = {0};
	if (space == KB_SPACE_TCM && /* TCM while it has room, else the PE's HBM slice */
	    kb_mem_alloc(ctx->s, space, dst[0], dst[1], dst[2], (uint64_t)(n_slots * slot_size), &ch->rx_off, &e) == 0)
		;
	else if ((space = ch->space = space == KB_SPACE_TCM ? KB_SPACE_HBM : space, 1) &&
		 kb_mem_alloc(ctx->s, space, dst[0], dst[1], dst[2], (uint64_t)(n_slots * slot_size), &ch->rx_off, &e))
		kb_fatal(ctx, "ipcq_connect: rx buffer of %lld x %lld bytes on sip%d.cube%d.pe%d: %s", (long long)n_slots,
			 (long long)slot_size, dst[0], dst[1], dst[2], e.msg);
	ch->rx_pa = kb_mem_pa(ctx->s, space, dst[0], dst[1], dst[2], ch->rx_off);
	/* the install message on the sender's host stream: one entry each end */
	kb_op op = {.sip = src[0], .cube = src[1], .pe = src[2], .kind = KB_OP_IPCQ_INIT, .attr = 2,
		    .bytes = 2 * KB_IPCQ_ENTRY_BYTES};
	int64_t op_id = kb_session_op(ctx->s, &op, &ctx->err);
	if (op_id < 0)
		kb_throw(ctx);
	int64_t credit = ctx->ccl_cfg && ctx->ccl_cfg->defaults.ipcq_credit_size_bytes >= 0
				 ? ctx->ccl_cfg->defaults.ipcq_credit_size_bytes : 16;
	kb_channel_row row = {.id = ch->id, .src = {src[0], src[1], src[2]}, .src_dir = KB_DIR_PEER,
			      .dst = {dst[0], dst[1], dst[2]}, .dst_dir = KB_DIR_PEER, .n_slots = n_slots,
			      .slot_size = slot_size, .space = space, .rx_pa = ch->rx_pa, .credit_bytes = credit,
			      .src_rank = src_rank, .dst_rank = dst_rank, .install_op = op_id};
	if (kb_session_channel(ctx->s, &row, &ctx->err))
		kb_throw(ctx);
	return ctx->n_pairs++;
}

void frontend__ccl_release(kb_ctx *ctx)
{
	free(ctx->pairs);
	ctx->pairs = NULL;
	ctx->n_pairs = ctx->cap_pairs = 0;
	ccl_state *c = ctx->ccl;
	if (!c)
		return;
	free(c->chans);
	free(c->part_loc);
	free(c->part_rank);
	free(c->pe_part);
	free(c->out);
	free(c->in);
	free(c->calls);
	free(c);
	ctx->ccl = NULL;
}

static const kb_ccl_module *find_module(const char *name)
{
	for (const kb_ccl_module *const *p = kb_ccl_modules(); *p; p++)
		if (strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

/* Resolves algorithm name (NULL = defaults.algorithm) into c: config,
 * module, world size and the rank -> PE map. */
static void resolve(kb_ctx *ctx, ccl_state *c, const char *name)
{
	const kb_machine *m = ctx->m;
	if (kb_ccl_resolve(ctx->ccl_cfg, name, &c->cfg, &ctx->err))
		kb_throw(ctx);
	const kb_ccl_algo *a = &c->cfg;
	c->mod = find_module(a->module);
	if (!c->mod) {
		char known[512];
		size_t o = 0;
		for (const kb_ccl_module *const *p = kb_ccl_modules(); *p && o < sizeof known; p++)
			o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "", (*p)->name);
		kb_fatal(ctx, "ccl algorithm '%s': module '%s' is not a registered algorithm (registered: %s)", a->name,
			 a->module, known);
	}
	const char *w = a->topology;
	bool all_pes = strcmp(a->mapper, "all_pes") == 0, hier = strcmp(w, "hierarchical_3level") == 0;
	if (all_pes != hier)
		kb_fatal(ctx, "ccl algorithm '%s': mapper %s with topology %s (all_pes goes with hierarchical_3level,"
			      " leader_only with the others; ccl.algorithms.%s.mapper)", a->name, a->mapper, w, a->name);
	bool intercube = strcmp(w, "intercube_multisip") == 0, intracube = strcmp(w, "intracube_pe_ring") == 0;
	if (intercube || hier)
		c->world_size = m->n_sips; /* rank = SIP; its cubes' PE 0 (or all its PEs) take part */
	else if (intracube)
		c->world_size = m->pes_per_cube; /* rank = PE of sip0.cube0 */
	else
		c->world_size = a->world_size > 0 ? (int)a->world_size : m->n_sips;
	if (a->world_size > 0 && a->world_size != c->world_size)
		kb_fatal(ctx, "ccl algorithm '%s': world_size %lld, but topology %s makes %d ranks on this machine"
			      " (ccl.algorithms.%s.world_size)", a->name, (long long)a->world_size, w, c->world_size, a->name);
	if (c->world_size > m->n_pes)
		kb_fatal(ctx, "ccl algorithm '%s': world_size %d exceeds the %d PEs of the system"
			      " (ccl.algorithms.%s.world_size)", a->name, c->world_size, m->n_pes, a->name);
	c->n_part = intercube ? m->n_sips * m->n_cubes : hier ? m->n_pes : c->world_size;
	c->root_cube = a->root_cube >= 0 ? (int)a->root_cube : m->n_cubes - 1;
	if (c->root_cube >= m->n_cubes)
		kb_fatal(ctx, "ccl algorithm '%s': root_cube %d is outside the %dx%d cube mesh (0..%d;"
			      " ccl.algorithms.%s.root_cube)", a->name, c->root_cube, m->cube_w, m->cube_h, m->n_cubes - 1,
			 a->name);
	free(c->part_loc);
	free(c->part_rank);
	c->part_loc = malloc((size_t)c->n_part * sizeof *c->part_loc);
	c->part_rank = malloc((size_t)c->n_part * sizeof *c->part_rank);
	if (!c->part_loc || !c->part_rank)
		kb_fatal(ctx, "out of memory");
	memset(c->pe_part, 0xff, (size_t)m->n_pes * sizeof *c->pe_part);
	bool rank_is_pe = c->world_size > m->n_sips;
	for (int p = 0; p < c->n_part; p++) {
		if (intercube) {
			c->part_loc[p] = kb_pe_index(m, p / m->n_cubes, p % m->n_cubes, 0);
			c->part_rank[p] = p / m->n_cubes;
		} else if (hier) {
			c->part_loc[p] = p;
			c->part_rank[p] = p / (m->n_cubes * m->pes_per_cube);
		} else {
			c->part_loc[p] = intracube || rank_is_pe ? p : kb_pe_index(m, p, 0, 0);
			c->part_rank[p] = p;
		}
		c->pe_part[c->part_loc[p]] = p;
	}
}

static ccl_state *state(kb_ctx *ctx, const char *what)
{
	if (!ctx->ccl)
		kb_fatal(ctx, "%s before init_process_group", what);
	return ctx->ccl;
}

void kb_init_process_group(kb_ctx *ctx, const char *backend, const char *algorithm)
{
	if (backend && strcmp(backend, "ahbm") != 0)
		kb_fatal(ctx, "init_process_group: backend '%s' is not known (ahbm)", backend);
	if (ctx->ccl)
		kb_fatal(ctx, "init_process_group called twice");
	ccl_state *c = calloc(1, sizeof *c);
	size_t cells = (size_t)ctx->m->n_pes * KB_DIR_COUNT;
	if (!c || !(c->out = malloc(cells * sizeof *c->out)) || !(c->in = malloc(cells * sizeof *c->in)) ||
	    !(c->pe_part = malloc((size_t)ctx->m->n_pes * sizeof *c->pe_part)) ||
	    !(c->calls = calloc((size_t)ctx->m->n_sips, sizeof *c->calls))) {
		if (c) {
			free(c->out);
			free(c->in);
			free(c->pe_part);
		}
		free(c);
		kb_fatal(ctx, "out of memory");
	}
	memset(c->out, 0xff, cells * sizeof *c->out);
	memset(c->in, 0xff, cells * sizeof *c->in);
	ctx->ccl = c;
	resolve(ctx, c, algorithm);
	install(ctx, c);
	char eff[512];
	const kb_ccl_algo *a = &c->cfg;
	snprintf(eff, sizeof eff,
		 "algorithm: %s\nmodule: %s\ntopology: %s\nbuffer_kind: %s\nmapper: %s\nn_slots: %lld\nslot_size: %lld\n"
		 "ipcq_credit_size_bytes: %lld\nworld_size: %d\nn_elem: %lld\n",
		 a->name, a->module, a->topology, a->buffer_kind, a->mapper, (long long)a->n_slots, (long long)a->slot_size,
		 (long long)a->ipcq_credit_size_bytes, c->world_size, (long long)a->n_elem);
	if (kb_session_meta(ctx->s, "ccl_effective", eff, &ctx->err))
		kb_throw(ctx);
}

void kb_ipcq_install(kb_ctx *ctx, const char *algorithm)
{
	ccl_state *c = state(ctx, "ipcq_install");
	if (c->installed)
		kb_fatal(ctx, "ipcq_install('%s'): IPCQ queues are already installed (%s); uninstall first",
			 algorithm ? algorithm : c->cfg.algorithm, c->cfg.name);
	resolve(ctx, c, algorithm);
	install(ctx, c);
}

void kb_ipcq_uninstall(kb_ctx *ctx)
{
	uninstall(ctx, state(ctx, "ipcq_uninstall"));
}

int kb_world_size(kb_ctx *ctx)
{
	return ctx->ccl ? ctx->ccl->world_size : ctx->m->n_sips;
}

int kb_ccl_device_ranks(kb_ctx *ctx, int sip, int *ranks, int cap, int *n_cubes, int *n_pes)
{
	ccl_state *c = state(ctx, "ccl_device_ranks");
	const kb_machine *m = ctx->m;
	int n = 0, nc = 0, npc = 0;
	*n_cubes = *n_pes = 0;
	for (int cube = 0; cube < m->n_cubes; cube++) {
		int here = 0;
		for (int pe = 0; pe < m->pes_per_cube; pe++) {
			int p = c->pe_part[kb_pe_index(m, sip, cube, pe)];
			if (p < 0)
				continue;
			if (pe != here)
				kb_fatal(ctx, "ccl: the PEs taking part on sip%d.cube%d are not PEs 0..k", sip, cube);
			if (n < cap)
				ranks[n] = c->part_rank[p];
			n++;
			here++;
		}
		if (!here)
			continue;
		if (cube != nc || (npc && here != npc))
			kb_fatal(ctx, "ccl: the PEs taking part on sip%d do not fill cubes 0..k alike", sip);
		npc = here;
		nc++;
	}
	*n_cubes = nc;
	*n_pes = npc;
	return n;
}

const char *kb_ccl_algorithm(kb_ctx *ctx)
{
	return state(ctx, "ccl_algorithm")->cfg.name;
}

int64_t kb_ccl_n_elem(kb_ctx *ctx)
{
	return state(ctx, "ccl_n_elem")->cfg.n_elem;
}

int64_t kb_ccl_max_message_bytes(kb_ctx *ctx)
{
	ccl_state *c = state(ctx, "ccl_max_message_bytes");
	return c->mod->chunked ? 0 : c->cfg.slot_size;
}

/* The module that runs a collective of type on the installed wiring: the
 * installed algorithm's when it implements the type, else the ring module
 * of the type, which needs a ring_1d wiring (one PE per rank, E and W). */
static const kb_ccl_module *module_for(kb_ctx *ctx, ccl_state *c, kb_coll_type type, const char *what)
{
	if (c->mod->type == type)
		return c->mod;
	const kb_ccl_module *ring = NULL;
	for (const kb_ccl_module *const *p = kb_ccl_modules(); *p && !ring; p++)
		if ((*p)->type == type && (*p)->chunked && strncmp((*p)->name, "ring_", 5) == 0)
			ring = *p;
	KB_ASSERT(ring, "no ring module for collective type %d", (int)type);
	if (strcmp(c->cfg.topology, "ring_1d") != 0 || c->n_part != c->world_size)
		kb_fatal(ctx, "%s: the installed algorithm '%s' (module %s, topology %s) is an %s; %s runs as %s, which"
			      " needs a ring_1d wiring (--set ccl.defaults.algorithm=ring_rsag_allreduce, or any ring_1d"
			      " algorithm)", what, c->cfg.name, c->mod->name, c->cfg.topology, kb_coll_type_name(c->mod->type),
			 kb_coll_type_name(type), ring->name);
	return ring;
}

/* One collective call on the current device: validates t (and out) against
 * the wiring, launches the module and records the collectives row. */
static void collective(kb_ctx *ctx, kb_coll_type type, const char *what, kb_tensor *t, kb_tensor *out, int root)
{
	ccl_state *c = state(ctx, what);
	if (!t)
		kb_fatal(ctx, "%s: NULL tensor", what);
	if (!c->installed)
		kb_fatal(ctx, "%s: no IPCQ wiring is installed (uninstalled and not reinstalled)", what);
	const kb_ccl_module *mod = module_for(ctx, c, type, what);
	if (t->rank != ctx->rank)
		kb_fatal(ctx, "%s: tensor '%s' lives on device %d, the current device is %d", what, t->name, t->rank,
			 ctx->rank);
	/* validators: one shard per PE taking part on this device (single_shard_per_rank: its rank's PE;
	 * multi_pe_sip_local: every PE of the SIP), all of one size */
	uint64_t nbytes = t->n_shards ? t->shards[0].nbytes : 0;
	int here = 0;
	for (int p = 0; p < c->n_part; p++)
		here += c->part_loc[p] / (ctx->m->n_cubes * ctx->m->pes_per_cube) == t->rank;
	const char *validator = c->cfg.validator[0] ? c->cfg.validator : "single_shard_per_rank";
	if ((int)t->n_shards != here)
		kb_fatal(ctx, "%s('%s'): %zu shards, but %d PEs of sip%d take part in '%s' (validator %s)", what, t->name,
			 t->n_shards, here, t->rank, c->cfg.name, validator);
	for (size_t k = 0; k < t->n_shards; k++) {
		const kb_shard *sh = &t->shards[k];
		int f = kb_pe_index(ctx->m, t->rank, sh->cube, sh->pe);
		if (c->pe_part[f] < 0)
			kb_fatal(ctx, "%s('%s'): shard on sip%d.cube%d.pe%d, which takes no part in '%s' (validator %s)", what,
				 t->name, t->rank, sh->cube, sh->pe, c->cfg.name, validator);
		if (sh->nbytes != nbytes)
			kb_fatal(ctx, "%s('%s'): shards differ in size (%llu vs %llu bytes)", what, t->name,
				 (unsigned long long)sh->nbytes, (unsigned long long)nbytes);
	}
	int64_t count = (int64_t)(nbytes / kb_dtype_size(t->dtype));
	if (type != KB_COLL_ALL_REDUCE && type != KB_COLL_BROADCAST && count % c->world_size)
		kb_fatal(ctx, "%s('%s'): %lld elements per rank do not split into %d equal chunks", what, t->name,
			 (long long)count, c->world_size);
	if (type == KB_COLL_BROADCAST && (root < 0 || root >= c->world_size))
		kb_fatal(ctx, "%s('%s'): root %d is not a rank (0..%d)", what, t->name, root, c->world_size - 1);
	if (out && (out->rank != t->rank || out->dtype != t->dtype || out->n_shards != t->n_shards ||
		    (out->n_shards && out->shards[0].nbytes != nbytes)))
		kb_fatal(ctx, "%s: output '%s' is not placed like input '%s' (same device, dtype, shards and sizes)", what,
			 out->name, t->name);
	int64_t first = kb_session_next_op(ctx->s);
	const kb_machine *m = ctx->m;
	int64_t chunk = c->cfg.chunk_size > 0 ? c->cfg.chunk_size : c->cfg.slot_size / (int64_t)kb_dtype_size(t->dtype);
	kb_arg args[] = {KB_TENSOR("t", t), KB_INT("n_elem", count), KB_INT("dtype", t->dtype),
			 KB_INT("cube_w", m->cube_w), KB_INT("cube_h", m->cube_h), KB_INT("n_sips", m->n_sips),
			 KB_INT("sip_topo", m->sip_wiring), KB_INT("root_cube", c->root_cube), KB_INT("chunk", chunk),
			 KB_INT("n_slots", c->cfg.n_slots), {0}, {0}};
	int n_args = (int)(sizeof args / sizeof args[0]) - 2; /* the spare two: root for a broadcast, out for an all-to-all */
	if (type == KB_COLL_BROADCAST)
		args[n_args++] = KB_INT("root", root);
	if (out)
		args[n_args++] = KB_TENSOR("out", out);
	const char *name = mod == c->mod ? c->cfg.name : mod->name;
	int64_t launch = kb_launch_id(ctx, name, mod->kernel, args, n_args);
	int64_t end = kb_session_next_op(ctx->s);
	kb_collective_row row = {.id = ++c->n_rows, .call = c->calls[ctx->rank]++, .rank = ctx->rank,
				 .algorithm = name, .redop = type == KB_COLL_ALL_REDUCE || type == KB_COLL_REDUCE_SCATTER ?
				 "sum" : "none", .type = type, .dtype = t->dtype, .count = count,
				 .bytes = (int64_t)nbytes, .world_size = c->world_size, .tensor = out ? out->id : t->id, .launch = launch,
				 .first_op = first, .end_op = end};
	if (kb_session_collective(ctx->s, &row, &ctx->err))
		kb_throw(ctx);
}

void kb_all_reduce(kb_ctx *ctx, kb_tensor *t, kb_redop op)
{
	if (op != KB_REDUCE_SUM)
		kb_fatal(ctx, "all_reduce: only SUM is implemented (got reduction %d)", (int)op);
	collective(ctx, KB_COLL_ALL_REDUCE, "all_reduce", t, NULL, 0);
}

void kb_reduce_scatter(kb_ctx *ctx, kb_tensor *t, kb_redop op)
{
	if (op != KB_REDUCE_SUM)
		kb_fatal(ctx, "reduce_scatter: only SUM is implemented (got reduction %d)", (int)op);
	collective(ctx, KB_COLL_REDUCE_SCATTER, "reduce_scatter", t, NULL, 0);
}

void kb_all_gather(kb_ctx *ctx, kb_tensor *t)
{
	collective(ctx, KB_COLL_ALL_GATHER, "all_gather", t, NULL, 0);
}

void kb_all_to_all(kb_ctx *ctx, kb_tensor *in, kb_tensor *out)
{
	if (!out || out == in)
		kb_fatal(ctx, "all_to_all: needs an output tensor apart from the input");
	collective(ctx, KB_COLL_ALL_TO_ALL, "all_to_all", in, out, 0);
}

void kb_broadcast(kb_ctx *ctx, kb_tensor *t, int root)
{
	collective(ctx, KB_COLL_BROADCAST, "broadcast", t, NULL, root);
}
