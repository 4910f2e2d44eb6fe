/*
 * import.c — a Chakra ET set traced as kernbench work (kb-trace chakra).
 *
 * Ranks: rank = SIP while the set fits the SIP count, else rank = PE in
 * (sip, cube, pe) order (chakra.rank_is_pe forces either), as the CCL maps
 * ranks. Each rank's nodes run in dependency order (file order among the
 * ready ones); a device traces its ranks side by side up to each
 * collective, which is one call for all of them.
 *
 * Mapping (README "Chakra"):
 * - COMP_NODE: a kernel on the node's PEs (rank = SIP: all PEs of the SIP,
 *   or chakra.pes_per_node; rank = PE: its PE), each reading its share of
 *   tensor_size from its HBM slice in 32 KiB DMA tiles and running its
 *   share of num_ops as GEMM work (a node with only duration_micros: that
 *   time at the PEs' GEMM peak). CPU ops (is_cpu_op) take no device time.
 * - MEM_LOAD_NODE / MEM_STORE_NODE: the same DMA tiles, reads or writes.
 * - COMM_COLL_NODE: kb_all_reduce / all_gather / reduce_scatter /
 *   all_to_all / broadcast (root 0) of comm_size bytes per rank (f16; the
 *   chunked types round up to a multiple of the world size), on every rank.
 * - COMM_SEND_NODE: comm_size bytes stored from the sender's PE into a
 *   landing buffer in the receiver device's HBM (peer-mapped, routed over
 *   the fabric); COMM_RECV_NODE: a zero-work op on the receiver's PE that
 *   waits for the matching send's last store. Matched by (src, dst, tag)
 *   in order.
 * - data_deps and ctrl_deps: explicit dependencies (op_deps) from the
 *   dependency's last op on each of its PEs to the node's launch.
 * - a range per node, labelled with its name.
 */
#include "chakra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TILE_BYTES (32 << 10)
#define WIN_BYTES (INT64_C(1) << 20)
#define RX_BYTES (INT64_C(4) << 20)
#define MAX_EXITS 256

static const kb_et_set *g_set;

void kb_chakra_bench_arg(const kb_et_set *set)
{
	g_set = set;
}

typedef struct p2p {
	int src, dst;
	int64_t tag, seq;
	int64_t op;          /* send: its last store; recv: its op */
	int rank;            /* the rank whose node it is */
	const kb_et_node *node;
} p2p;

typedef struct imp {
	kb_ctx *ctx;
	const kb_et_set *set;
	const kb_machine *m;
	bool rank_is_pe;
	int ppn;                 /* rank = SIP: PEs per node */
	int *dev;                /* rank -> device */
	int *flat;               /* rank -> flat PE index */
	size_t **order;          /* rank -> node indices in dependency order */
	size_t **depi;           /* rank -> the nodes' dependencies as node indices, flattened */
	size_t **depi_at;        /* rank -> node -> start in depi */
	int64_t **exit_at;       /* rank -> node -> start in exits */
	int **exit_n;
	int64_t *exits;
	size_t n_exits, cap_exits;
	kb_tensor **win;         /* per device: the DMA window of every PE */
	kb_tensor **rx;          /* per device: p2p landing buffer */
	bool *mapped;            /* dev x dev: rx of the second mapped on the first */
	int64_t last[KB_MAX_CUBES * KB_MAX_PES];
	p2p *sends, *recvs;
	size_t n_sends, n_recvs, cap_sends, cap_recvs;
	struct coll_buf { int dev, type; int64_t n; kb_tensor *t, *out; } *bufs;
	size_t n_bufs, cap_bufs;
} imp;

static const char *type_name(int t)
{
	static const char *const names[] = {"INVALID_NODE", "METADATA_NODE", "MEM_LOAD_NODE", "MEM_STORE_NODE",
					    "COMP_NODE", "COMM_SEND_NODE", "COMM_RECV_NODE", "COMM_COLL_NODE"};
	return t >= 0 && t <= 7 ? names[t] : "an unsupported node type";
}

static void *xalloc(imp *im, size_t n, size_t elem)
{
	void *p = calloc(n ? n : 1, elem);
	if (!p)
		kb_fatal(im->ctx, "out of memory");
	return p;
}

/* ---- dependency order ---- */

/* Resolves rank r's dependencies to node indices and orders the nodes
 * (Kahn; ready nodes in file order): a missing node or a cycle aborts. */
static void dep_order(imp *im, int r)
{
	kb_ctx *ctx = im->ctx;
	const kb_et_rank *er = &im->set->ranks[r];
	size_t n = er->n, n_edges = 0;
	kb_ptrmap idx = {0};
	for (size_t i = 0; i < n; i++) {
		if (kb_ptrmap_get(&idx, er->nodes[i].id + 1))
			kb_fatal(ctx, "rank %d: node id %llu appears twice (byte offset %lld)", r,
				 (unsigned long long)er->nodes[i].id, (long long)er->nodes[i].offset);
		if (kb_ptrmap_put(&idx, er->nodes[i].id + 1, (void *)(uintptr_t)(i + 1)))
			kb_fatal(ctx, "out of memory");
		n_edges += (size_t)er->nodes[i].n_deps;
	}
	size_t *depi = xalloc(im, n_edges, sizeof *depi), *at = xalloc(im, n + 1, sizeof *at);
	int32_t *indeg = xalloc(im, n, sizeof *indeg);
	size_t *succ_at = xalloc(im, n + 2, sizeof *succ_at), *succ = xalloc(im, n_edges, sizeof *succ);
	size_t e = 0;
	for (size_t i = 0; i < n; i++) {
		at[i] = e;
		for (int k = 0; k < er->nodes[i].n_deps; k++) {
			uintptr_t d = (uintptr_t)kb_ptrmap_get(&idx, er->nodes[i].deps[k] + 1);
			if (!d)
				kb_fatal(ctx, "rank %d: node %llu (%s) depends on node %llu, which rank %d's file does not have",
					 r, (unsigned long long)er->nodes[i].id, er->nodes[i].name,
					 (unsigned long long)er->nodes[i].deps[k], r);
			depi[e++] = d - 1;
			succ_at[d]++;
			indeg[i]++;
		}
	}
	at[n] = e;
	kb_ptrmap_release(&idx);
	for (size_t i = 1; i <= n; i++)
		succ_at[i] += succ_at[i - 1];
	for (size_t i = 0; i < n; i++)
		for (size_t k = at[i]; k < at[i + 1]; k++)
			succ[succ_at[depi[k]]++] = i; /* succ_at[v] ends at v's end: shifted back below */
	for (size_t i = n; i > 0; i--)
		succ_at[i] = succ_at[i - 1];
	succ_at[0] = 0;
	size_t *order = xalloc(im, n, sizeof *order), head = 0, tail = 0;
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			order[tail++] = i;
	while (head < tail) {
		size_t v = order[head++];
		for (size_t k = succ_at[v]; k < succ_at[v + 1]; k++)
			if (--indeg[succ[k]] == 0)
				order[tail++] = succ[k];
	}
	if (tail < n) {
		size_t stuck = 0;
		while (stuck < n && !indeg[stuck])
			stuck++;
		kb_fatal(ctx, "rank %d: a dependency cycle through node %llu (%s): %zu of %zu nodes are never ready", r,
			 (unsigned long long)er->nodes[stuck].id, er->nodes[stuck].name, n - tail, n);
	}
	free(indeg);
	free(succ_at);
	free(succ);
	im->order[r] = order;
	im->depi[r] = depi;
	im->depi_at[r] = at;
}

/* ---- exits: the ops a dependent node waits for ---- */

static void exits_set(imp *im, int r, size_t node, const int64_t *ops, int n)
{
	if (kb_grow(&im->exits, &im->cap_exits, im->n_exits + (size_t)n, sizeof *im->exits, 1024))
		kb_fatal(im->ctx, "out of memory");
	im->exit_at[r][node] = (int64_t)im->n_exits;
	im->exit_n[r][node] = n;
	memcpy(im->exits + im->n_exits, ops, (size_t)n * sizeof *ops);
	im->n_exits += (size_t)n;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The exits of node's dependencies, sorted and distinct (at most MAX_EXITS:
 * the latest ids, which end last in program order). */
static int dep_exits(imp *im, int r, size_t node, int64_t *out)
{
	int n = 0;
	for (size_t k = im->depi_at[r][node]; k < im->depi_at[r][node + 1]; k++) {
		size_t d = im->depi[r][k];
		for (int j = 0; j < im->exit_n[r][d]; j++) {
			if (n == MAX_EXITS) { /* keep the latest */
				qsort(out, (size_t)n, sizeof *out, cmp_i64);
				memmove(out, out + MAX_EXITS / 2, (size_t)(MAX_EXITS / 2) * sizeof *out);
				n = MAX_EXITS / 2;
			}
			out[n++] = im->exits[im->exit_at[r][d] + j];
		}
	}
	qsort(out, (size_t)n, sizeof *out, cmp_i64);
	int m = 0;
	for (int i = 0; i < n; i++)
		if (!m || out[i] != out[m - 1])
			out[m++] = out[i];
	return m;
}

/* ---- kernels ---- */

/* mode 0 compute, 1 load, 2 store, 3 send (stores into dst), 4 recv. */
static void chakra_kernel(kb_tl *tl)
{
	int64_t *last = tl_arg_ptr_user(tl, "last");
	int only = (int)tl_arg_int(tl, "only"), ppc = tl_num_programs(tl, 0);
	int idx = tl_program_id(tl, 1) * KB_MAX_PES + tl_program_id(tl, 0);
	last[idx] = -1;
	if (only >= 0 && tl_program_id(tl, 1) * ppc + tl_program_id(tl, 0) != only)
		return;
	int mode = (int)tl_arg_int(tl, "mode");
	int64_t bytes = tl_arg_int(tl, "bytes"), flops = tl_arg_int(tl, "flops");
	uint64_t va = tl_arg_ptr(tl, "t"), dst = (uint64_t)tl_arg_int(tl, "dst");
	int64_t first = tl_next_op(tl);
	kb_tile *keep = NULL;
	int64_t keep_elems = 0;
	for (int64_t off = 0; off < bytes && mode != 4; off += TILE_BYTES) {
		int64_t len = bytes - off < TILE_BYTES ? bytes - off : TILE_BYTES;
		int64_t elems = (len + 1) / 2;
		uint64_t at = va + (uint64_t)(off % WIN_BYTES);
		if (mode == 2 || mode == 3) { /* a tile to store: loaded once per size */
			if (!keep || keep_elems != elems) {
				if (keep)
					tl_free(tl, keep);
				keep = tl_load(tl, va, KB_SHAPE(1, elems), KB_F16);
				keep_elems = elems;
			}
			tl_store(tl, mode == 3 ? dst + (uint64_t)(off % RX_BYTES) : at, keep);
		} else {
			tl_free(tl, tl_load(tl, at, KB_SHAPE(1, elems), KB_F16));
		}
	}
	if (keep)
		tl_free(tl, keep);
	if (mode == 0 || mode == 4 || tl_next_op(tl) == first)
		tl_work(tl, KB_OP_GEMM, mode == 0 ? flops : 0); /* a node always leaves an op */
	last[idx] = tl_next_op(tl) - 1;
}

static const char *const kernel_names[] = {"chakra_comp", "chakra_load", "chakra_store", "chakra_send", "chakra_recv"};

/* Launches the kernel for one node on t's PEs (only: the one PE that works,
 * by its index in t's placement, or -1): returns the launch op; exits gets
 * the last op of every PE that worked. */
static int64_t run(imp *im, kb_tensor *t, int mode, int64_t flops, int64_t bytes, int only, uint64_t dst,
		   int64_t *exits, int *n_exits)
{
	kb_ctx *ctx = im->ctx;
	int64_t op = kb_next_op(ctx);
	for (size_t i = 0; i < sizeof im->last / sizeof im->last[0]; i++)
		im->last[i] = -1;
	KB_LAUNCH(ctx, kernel_names[mode], chakra_kernel, KB_TENSOR("t", t), KB_INT("mode", mode), KB_INT("flops", flops),
		  KB_INT("bytes", bytes), KB_INT("only", only), KB_INT("dst", (int64_t)dst), KB_PTR("last", im->last));
	*n_exits = 0;
	for (size_t i = 0; i < sizeof im->last / sizeof im->last[0]; i++)
		if (im->last[i] >= 0)
			exits[(*n_exits)++] = im->last[i];
	return op;
}

static void depend(imp *im, int64_t op, const int64_t *deps, int n)
{
	for (int k = 0; k < n; k++)
		kb_depend(im->ctx, op, deps[k]);
}

static void push_p2p(imp *im, bool send, int src, int dst, int64_t tag, int64_t op, int rank, const kb_et_node *nd)
{
	p2p **v = send ? &im->sends : &im->recvs;
	size_t *n = send ? &im->n_sends : &im->n_recvs, *cap = send ? &im->cap_sends : &im->cap_recvs;
	if (kb_grow(v, cap, *n + 1, sizeof **v, 64))
		kb_fatal(im->ctx, "out of memory");
	(*v)[*n] = (p2p){src, dst, tag, (int64_t)*n, op, rank, nd};
	(*n)++;
}

static int peer(imp *im, int r, const kb_et_node *nd, bool has, int64_t v, const char *what)
{
	if (!has || v < 0 || v >= im->set->n_ranks)
		kb_fatal(im->ctx, "rank %d: node %llu (%s): %s %s %s%lld is not a rank of the set (0..%d)", r,
			 (unsigned long long)nd->id, nd->name, type_name(nd->type), what, has ? "" : "missing: ",
			 (long long)v, im->set->n_ranks - 1);
	return (int)v;
}

/* The index of rank r's PE in its device's window placement (rank = PE). */
static int rank_pe(const imp *im, int r)
{
	return im->flat[r] % (im->m->n_cubes * im->m->pes_per_cube);
}

static void trace_node(imp *im, int r, size_t i)
{
	kb_ctx *ctx = im->ctx;
	const kb_et_node *nd = &im->set->ranks[r].nodes[i];
	int64_t deps[MAX_EXITS], ex[KB_MAX_CUBES * KB_MAX_PES];
	int n_deps = dep_exits(im, r, i, deps), n_ex = 0;
	if (nd->type == KB_ET_METADATA || (nd->is_cpu_op && nd->type == KB_ET_COMP)) {
		exits_set(im, r, i, deps, n_deps); /* no device work: its dependents wait for its dependencies */
		return;
	}
	int d = im->dev[r], only = im->rank_is_pe ? rank_pe(im, r) : -1;
	int n_pes = im->rank_is_pe ? 1 : im->ppn;
	kb_tensor *w = im->win[d];
	int64_t op;
	kb_range_push(ctx, nd->name[0] ? nd->name : type_name(nd->type));
	switch (nd->type) {
	case KB_ET_COMP: {
		int64_t flops = nd->num_ops;
		if (!nd->has_num_ops && nd->duration_us) { /* the stated time at the PEs' GEMM peak */
			const kb_topo_cfg *t = &im->m->cfg;
			double peak = 2.0 * (double)t->gemm_macs_per_cycle * t->clock_ghz * 1e9 * n_pes;
			double f = (double)nd->duration_us * 1e-6 * peak;
			flops = f > 1e18 ? INT64_C(1000000000000000000) : (int64_t)f;
		}
		op = run(im, w, 0, (flops + n_pes - 1) / n_pes, (nd->tensor_size + n_pes - 1) / n_pes, only, 0, ex, &n_ex);
		break;
	}
	case KB_ET_MEM_LOAD:
	case KB_ET_MEM_STORE:
		op = run(im, w, nd->type == KB_ET_MEM_LOAD ? 1 : 2, 0, (nd->tensor_size + n_pes - 1) / n_pes, only, 0, ex,
			 &n_ex);
		break;
	case KB_ET_COMM_SEND: {
		int dst = peer(im, r, nd, nd->has_comm_dst, nd->comm_dst, "comm_dst");
		if (nd->has_comm_src && nd->comm_src != r)
			kb_fatal(ctx, "rank %d: node %llu (%s): a send with comm_src %lld in rank %d's file", r,
				 (unsigned long long)nd->id, nd->name, (long long)nd->comm_src, r);
		int dd = im->dev[dst];
		if (dd != d && !im->mapped[d * im->m->n_sips + dd]) {
			kb_map_peer(ctx, im->rx[dd]);
			im->mapped[d * im->m->n_sips + dd] = true;
		}
		op = run(im, w, 3, 0, nd->comm_size, im->rank_is_pe ? only : 0, kb_tensor_va(im->rx[dd]), ex, &n_ex);
		push_p2p(im, true, r, dst, nd->comm_tag, ex[n_ex - 1], r, nd);
		break;
	}
	case KB_ET_COMM_RECV: {
		int src = peer(im, r, nd, nd->has_comm_src, nd->comm_src, "comm_src");
		op = run(im, w, 4, 0, 0, im->rank_is_pe ? only : 0, 0, ex, &n_ex);
		push_p2p(im, false, src, r, nd->comm_tag, ex[n_ex - 1], r, nd);
		break;
	}
	default:
		kb_fatal(ctx, "rank %d: node %llu (%s) is %s (type %d): not supported (COMP, MEM_LOAD, MEM_STORE,"
			      " COMM_SEND, COMM_RECV, COMM_COLL and METADATA nodes are)", r, (unsigned long long)nd->id,
			 nd->name, type_name(nd->type), nd->type);
	}
	depend(im, op, deps, n_deps);
	exits_set(im, r, i, ex, n_ex);
	kb_range_pop(ctx);
}

static const char *const coll_names[] = {"ALL_REDUCE", "REDUCE", "ALL_GATHER", "GATHER", "SCATTER", "BROADCAST",
					 "ALL_TO_ALL", "REDUCE_SCATTER", "REDUCE_SCATTER_BLOCK", "BARRIER"};

static kb_coll_type coll_type(imp *im, int r, const kb_et_node *nd)
{
	if (!nd->has_comm_type)
		kb_fatal(im->ctx, "rank %d: node %llu (%s): COMM_COLL_NODE without comm_type", r, (unsigned long long)nd->id,
			 nd->name);
	switch (nd->comm_type) {
	case KB_ET_ALL_REDUCE: return KB_COLL_ALL_REDUCE;
	case KB_ET_ALL_GATHER: return KB_COLL_ALL_GATHER;
	case KB_ET_REDUCE_SCATTER:
	case KB_ET_REDUCE_SCATTER_BLOCK: return KB_COLL_REDUCE_SCATTER;
	case KB_ET_ALL_TO_ALL: return KB_COLL_ALL_TO_ALL;
	case KB_ET_BROADCAST: return KB_COLL_BROADCAST;
	default:
		kb_fatal(im->ctx, "rank %d: node %llu (%s): collective %s (comm_type %lld) is not supported (ALL_REDUCE,"
			      " ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL, BROADCAST are)", r, (unsigned long long)nd->id,
			 nd->name, nd->comm_type >= 0 && nd->comm_type <= 9 ? coll_names[nd->comm_type] : "?",
			 (long long)nd->comm_type);
	}
}

/* The buffer a collective of n elements per rank uses on dev. */
static struct coll_buf *coll_buf(imp *im, int dev, kb_coll_type type, int64_t n)
{
	bool a2a = type == KB_COLL_ALL_TO_ALL;
	for (size_t i = 0; i < im->n_bufs; i++)
		if (im->bufs[i].dev == dev && im->bufs[i].n == n && (im->bufs[i].out != NULL) == a2a)
			return &im->bufs[i];
	if (kb_grow(&im->bufs, &im->cap_bufs, im->n_bufs + 1, sizeof *im->bufs, 16))
		kb_fatal(im->ctx, "out of memory");
	int nc, np, nr = kb_ccl_device_ranks(im->ctx, dev, NULL, 0, &nc, &np);
	kb_dp dp = KB_DP(.cube = KB_ROW_WISE, .num_cubes = nc, .pe = KB_ROW_WISE, .num_pes = np);
	char name[64];
	snprintf(name, sizeof name, "chakra_%s_r%d_%lld", a2a ? "a2a_in" : "coll", dev, (long long)n);
	struct coll_buf *b = &im->bufs[im->n_bufs++];
	*b = (struct coll_buf){dev, type, n, kb_empty(im->ctx, name, KB_SHAPE(nr, n), KB_F16, dp), NULL};
	if (a2a) {
		snprintf(name, sizeof name, "chakra_a2a_out_r%d_%lld", dev, (long long)n);
		b->out = kb_empty(im->ctx, name, KB_SHAPE(nr, n), KB_F16, dp);
	}
	return b;
}

/* One collective for the ranks R of device dev, each at a COMM_COLL node. */
static void trace_coll(imp *im, int dev, const int *R, int nR, size_t *pos)
{
	kb_ctx *ctx = im->ctx;
	const kb_et_node *n0 = &im->set->ranks[R[0]].nodes[im->order[R[0]][pos[R[0]]]];
	kb_coll_type type = coll_type(im, R[0], n0);
	int ws = kb_world_size(ctx);
	int64_t n = (n0->comm_size + 1) / 2;
	if (type != KB_COLL_ALL_REDUCE && type != KB_COLL_BROADCAST)
		n = (n + ws - 1) / ws * ws;
	if (n < 1)
		n = 1;
	struct coll_buf *b = coll_buf(im, dev, type, n);
	kb_range_push(ctx, n0->name[0] ? n0->name : "COMM_COLL_NODE");
	int64_t op = kb_next_op(ctx);
	switch (type) {
	case KB_COLL_ALL_GATHER: kb_all_gather(ctx, b->t); break;
	case KB_COLL_REDUCE_SCATTER: kb_reduce_scatter(ctx, b->t, KB_REDUCE_SUM); break;
	case KB_COLL_ALL_TO_ALL: kb_all_to_all(ctx, b->t, b->out); break;
	case KB_COLL_BROADCAST: kb_broadcast(ctx, b->t, 0); break;
	default: kb_all_reduce(ctx, b->t, KB_REDUCE_SUM); break;
	}
	int64_t end = kb_next_op(ctx) - 1;
	kb_range_pop(ctx);
	for (int k = 0; k < nR; k++) {
		int r = R[k];
		int64_t deps[MAX_EXITS];
		size_t i = im->order[r][pos[r]];
		int nd = dep_exits(im, r, i, deps);
		depend(im, op, deps, nd);
		exits_set(im, r, i, &end, 1);
		pos[r]++;
	}
}

/* Every rank's collectives, in order, must agree with rank 0's in type and
 * size, or the ranks would wait for each other forever. */
static void check_collectives(imp *im)
{
	const kb_et_set *set = im->set;
	size_t *at = xalloc(im, (size_t)set->n_ranks, sizeof *at);
	for (;;) {
		const kb_et_node *ref = NULL;
		for (int r = 0; r < set->n_ranks; r++) {
			const kb_et_rank *er = &set->ranks[r];
			while (at[r] < er->n && er->nodes[im->order[r][at[r]]].type != KB_ET_COMM_COLL)
				at[r]++;
			const kb_et_node *c = at[r] < er->n ? &er->nodes[im->order[r][at[r]]] : NULL;
			if (r == 0)
				ref = c;
			else if (!ref != !c || (c && (coll_type(im, r, c) != coll_type(im, 0, ref) ||
							c->comm_size != ref->comm_size))) {
				const kb_et_node *x = c ? c : ref;
				kb_fatal(im->ctx, "rank %d's collectives differ from rank 0's at node %llu (%s): %s", r,
					 (unsigned long long)x->id, x->name,
					 !c || !ref ? "one of the two has more" : "another comm_type or comm_size");
			}
			if (c)
				at[r]++;
		}
		if (!ref)
			break;
	}
	free(at);
}

/* The k-th send of (src, dst, tag) meets the k-th recv of it: both lists
 * are in trace order, each rank's program order. */
static void match_p2p(imp *im)
{
	size_t from = 0;
	for (size_t i = 0; i < im->n_recvs; i++) {
		p2p *rv = &im->recvs[i];
		size_t k = from;
		for (; k < im->n_sends; k++) {
			p2p *sd = &im->sends[k];
			if (sd->op >= 0 && sd->src == rv->src && sd->dst == rv->dst && sd->tag == rv->tag)
				break;
		}
		if (k == im->n_sends)
			kb_fatal(im->ctx, "rank %d: node %llu (%s): a recv from rank %d (tag %lld) that no send matches",
				 rv->rank, (unsigned long long)rv->node->id, rv->node->name, rv->src, (long long)rv->tag);
		kb_depend(im->ctx, rv->op, im->sends[k].op);
		im->sends[k].op = -1;
		while (from < im->n_sends && im->sends[from].op < 0)
			from++;
	}
	for (size_t k = 0; k < im->n_sends; k++)
		if (im->sends[k].op >= 0)
			kb_fatal(im->ctx, "rank %d: node %llu (%s): a send to rank %d (tag %lld) that no recv matches",
				 im->sends[k].rank, (unsigned long long)im->sends[k].node->id, im->sends[k].node->name,
				 im->sends[k].dst, (long long)im->sends[k].tag);
}

static void imp_free(imp *im, int nr)
{
	for (int r = 0; r < nr; r++) {
		free(im->order[r]);
		free(im->depi[r]);
		free(im->depi_at[r]);
		free(im->exit_at[r]);
		free(im->exit_n[r]);
	}
	free(im->order);
	free(im->depi);
	free(im->depi_at);
	free(im->exit_at);
	free(im->exit_n);
	free(im->exits);
	free(im->dev);
	free(im->flat);
	free(im->win);
	free(im->rx);
	free(im->mapped);
	free(im->sends);
	free(im->recvs);
	free(im->bufs);
}

static void import_run(kb_ctx *ctx)
{
	const kb_et_set *set = g_set;
	if (!set || set->n_ranks < 1)
		kb_fatal(ctx, "chakra: no ET set to import (kb-trace chakra PREFIX)");
	const kb_machine *m = kb_ctx_machine(ctx);
	static imp im; /* kb_fatal does not return: what it holds is released at the next import */
	imp_free(&im, im.set ? im.set->n_ranks : 0);
	im = (imp){.ctx = ctx, .set = set, .m = m};
	int nr = set->n_ranks, per_dev = m->n_cubes * m->pes_per_cube;
	im.order = xalloc(&im, (size_t)nr, sizeof *im.order);
	im.depi = xalloc(&im, (size_t)nr, sizeof *im.depi);
	im.depi_at = xalloc(&im, (size_t)nr, sizeof *im.depi_at);
	im.exit_at = xalloc(&im, (size_t)nr, sizeof *im.exit_at);
	im.exit_n = xalloc(&im, (size_t)nr, sizeof *im.exit_n);
	im.dev = xalloc(&im, (size_t)nr, sizeof *im.dev);
	im.flat = xalloc(&im, (size_t)nr, sizeof *im.flat);
	int rip = (int)kb_param_int(ctx, "rank_is_pe");
	if (rip < -1 || rip > 1)
		kb_fatal(ctx, "chakra.rank_is_pe must be -1 (auto), 0 (rank = SIP) or 1 (rank = PE), got %d", rip);
	im.rank_is_pe = rip == 1 || (rip == -1 && nr > m->n_sips);
	if (!im.rank_is_pe && nr > m->n_sips)
		kb_fatal(ctx, "chakra: %d ranks, but the machine has %d SIPs (rank = SIP; --set chakra.rank_is_pe=1 maps"
			      " ranks to PEs, or raise sips.count)", nr, m->n_sips);
	if (im.rank_is_pe && nr > m->n_pes)
		kb_fatal(ctx, "chakra: %d ranks, but the machine has %d PEs (rank = PE)", nr, m->n_pes);
	im.ppn = (int)kb_param_int(ctx, "pes_per_node");
	if (im.ppn <= 0)
		im.ppn = per_dev;
	int nc = 1, np = im.ppn;
	if (im.ppn > m->pes_per_cube) {
		nc = im.ppn / m->pes_per_cube;
		np = m->pes_per_cube;
	}
	if (im.ppn > per_dev || nc * np != im.ppn)
		kb_fatal(ctx, "chakra.pes_per_node = %d: 1..%d PEs of one cube, or whole cubes (a multiple of %d up to %d)",
			 im.ppn, m->pes_per_cube, m->pes_per_cube, per_dev);
	if (im.rank_is_pe)
		im.ppn = 1, nc = m->n_cubes, np = m->pes_per_cube;
	bool has_coll = false;
	for (int r = 0; r < nr; r++) {
		im.flat[r] = im.rank_is_pe ? r : r * per_dev;
		im.dev[r] = im.flat[r] / per_dev;
		dep_order(&im, r);
		im.exit_at[r] = xalloc(&im, set->ranks[r].n, sizeof **im.exit_at);
		im.exit_n[r] = xalloc(&im, set->ranks[r].n, sizeof **im.exit_n);
		for (size_t i = 0; i < set->ranks[r].n; i++)
			has_coll |= set->ranks[r].nodes[i].type == KB_ET_COMM_COLL;
	}
	int n_dev = im.dev[nr - 1] + 1;
	if (has_coll) {
		check_collectives(&im);
		kb_init_process_group(ctx, "ahbm", NULL);
		if (kb_world_size(ctx) != nr)
			kb_fatal(ctx, "chakra: the CCL world has %d ranks, the ET set %d (ccl.defaults.world_size; rank = %s)",
				 kb_world_size(ctx), nr, im.rank_is_pe ? "PE" : "SIP");
	}
	/* every device's DMA window and p2p landing buffer */
	im.win = xalloc(&im, (size_t)m->n_sips, sizeof *im.win);
	im.rx = xalloc(&im, (size_t)m->n_sips, sizeof *im.rx);
	im.mapped = xalloc(&im, (size_t)m->n_sips * (size_t)m->n_sips, sizeof *im.mapped);
	for (int d = 0; d < n_dev; d++) {
		kb_set_device(ctx, d);
		char name[48];
		snprintf(name, sizeof name, "chakra_window_r%d", d);
		im.win[d] = kb_empty(ctx, name, KB_SHAPE((int64_t)nc * np, WIN_BYTES / 2), KB_F16,
				     KB_DP(.cube = KB_ROW_WISE, .num_cubes = nc, .pe = KB_ROW_WISE, .num_pes = np));
		snprintf(name, sizeof name, "chakra_rx_r%d", d);
		im.rx[d] = kb_empty(ctx, name, KB_SHAPE(1, RX_BYTES / 2), KB_F16,
				    KB_DP(.cube = KB_ROW_WISE, .num_cubes = 1, .pe = KB_ROW_WISE, .num_pes = 1));
	}
	size_t *pos = xalloc(&im, (size_t)nr, sizeof *pos);
	int *R = xalloc(&im, (size_t)nr, sizeof *R);
	for (int d = 0; d < n_dev; d++) {
		kb_set_device(ctx, d);
		int nR = 0;
		for (int r = 0; r < nr; r++)
			if (im.dev[r] == d)
				R[nR++] = r;
		for (;;) {
			int at_coll = 0;
			for (int k = 0; k < nR; k++) {
				int r = R[k];
				const kb_et_rank *er = &set->ranks[r];
				while (pos[r] < er->n && er->nodes[im.order[r][pos[r]]].type != KB_ET_COMM_COLL)
					trace_node(&im, r, im.order[r][pos[r]++]);
				at_coll += pos[r] < er->n;
			}
			if (!at_coll)
				break;
			trace_coll(&im, d, R, nR, pos); /* check_collectives: every rank is at one */
		}
	}
	free(pos);
	free(R);
	match_p2p(&im);
	kb_trace_meta(ctx, "timing_only", "imported from a Chakra ET set: no values to replay");
	char what[96];
	snprintf(what, sizeof what, "%d ranks, %lld nodes, rank = %s", nr, (long long)set->n_nodes,
		 im.rank_is_pe ? "PE" : "SIP");
	kb_trace_meta(ctx, "chakra", what);
	imp_free(&im, nr);
	im = (imp){0};
}

const kb_bench kb_bench_chakra = {
	"chakra", "a Chakra ET set (kb-trace chakra PREFIX): each rank's nodes as work on its SIP (or PE)", import_run,
	{{"pes_per_node", 0, "rank = SIP: the PEs a COMP or MEM node spreads over (0: all of the SIP)"},
	 {"rank_is_pe", -1, "-1 auto (SIP while the ranks fit the SIPs), 0 rank = SIP, 1 rank = PE"}},
};
