/*
 * import.c — a Chakra ET set traced as kernbench work (kb-trace chakra).
 *
 * Ranks: rank = SIP while the set fits the SIP count, else rank = PE in
 * (sip, cube, pe) order (chakra.rank_is_pe forces either), as the CCL maps
 * ranks. Each rank's nodes run in dependency order (file order among the
 * ready ones). A device traces its ranks' nodes up to their next
 * collective as one launch (an epoch: each PE runs its nodes in order),
 * then the collective, one call for all its ranks, and so on.
 *
 * Mapping (the README's Chakra section has the table):
 * - COMP_NODE: on its PEs (rank = SIP: chakra.pes_per_node of the SIP;
 *   rank = PE: its PE; a kernbench export: the op's own PE), each PE's
 *   share of tensor_size read from its HBM window in 32 KiB DMA tiles, then
 *   its share of num_ops as opaque work (duration_micros alone: that time
 *   at the PEs' GEMM peak). CPU ops take no device time.
 * - MEM_LOAD_NODE / MEM_STORE_NODE: DMA tiles, reads or writes.
 * - COMM_COLL_NODE: kb_all_reduce / all_gather / reduce_scatter /
 *   all_to_all / broadcast (root 0) of comm_size bytes per rank (f16).
 * - COMM_SEND_NODE / COMM_RECV_NODE: IPCQ messages on a pair channel per
 *   (src, dst, tag); the k-th send meets the k-th recv.
 * - data_deps and ctrl_deps: explicit dependencies (op_deps) from the
 *   dependency's exit (its last op; a join op when it ran on several PEs)
 *   to the node's first op on each of its PEs.
 * - a range per node, labelled with its name.
 * Nodes carrying kb_pe / kb_kind (a kernbench export) come back as the one
 * op they were, on their PE.
 */
#include "chakra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TILE_BYTES (32 << 10)
#define WIN_BYTES (INT64_C(1) << 20)
#define MAX_EXITS 256


/* A point-to-point stream: the sends of (src, dst, tag) meet its recvs in
 * order over one pair channel. */
typedef struct p2p {
	int src, dst;
	int64_t tag;
	int src_pe, dst_pe;      /* the PEs (index in the device) of its first send and recv */
	int64_t max_bytes;       /* its largest message */
	int n_send, n_recv;
	int handle;              /* kb_ipcq_connect's */
} p2p;

/* One node's work in an epoch: what the epoch kernel does on PEs [lo, hi). */
typedef struct item {
	int rank;
	size_t node;
	int lo, hi;              /* PE indices in the device */
	int mode;                /* 0 compute, 1 load, 2 store, 3 send, 4 recv */
	int kind;                /* compute: the op kind */
	bool exact;              /* a kernbench op put back: one op, no DMA tiles */
	int64_t flops, bytes;    /* per PE */
	int chan;                /* send / recv: pair channel handle */
	int64_t join;            /* the op its dependents wait for (set by the kernel on PE lo) */
} item;

typedef struct entry {
	size_t item;
	int64_t op;              /* an op whose start waits (first op of an item on a PE), or a last op (join) */
} entry;

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
	p2p *pairs;
	size_t n_pairs, cap_pairs;
	kb_ptrmap pair_of;       /* (src, dst, tag) hash -> pair index + 1 */
	int64_t cursor[KB_MAX_CUBES * KB_MAX_PES]; /* per PE: where its next DMA starts in its window */
	item *items;             /* the epoch being traced */
	size_t n_items, cap_items;
	entry *entries, *lasts;  /* the epoch's op ids, recorded by the kernel */
	size_t n_entries, cap_entries, n_lasts, cap_lasts;
	int64_t *dx;             /* the epoch's items' dependency exits: item i's at dx[dx_at[i] .. dx_at[i + 1]) */
	size_t *dx_at, cap_dx, cap_dx_at;
	int nr;                  /* the ranks what this holds was sized for */
	struct coll_buf { int dev; int64_t n; kb_tensor *t, *out; } *bufs;
	size_t n_bufs, cap_bufs;
	/* working memory, kept here so that a kb_fatal (a longjmp) leaks none of
	 * it: imp_free releases it at the next import */
	kb_ptrmap idx;
	int32_t *indeg;
	size_t *succ_at, *succ, *at_coll, *pos;
	int32_t *heap;
	int *R;
	size_t (*nodes)[2];
	size_t cap_nodes;
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
	if (n > INT32_MAX)
		kb_fatal(ctx, "rank %d: %zu nodes (at most 2^31 - 1 a rank)", r, n);
	kb_ptrmap_release(&im->idx);
	for (size_t i = 0; i < n; i++) {
		if (kb_ptrmap_get(&im->idx, er->nodes[i].id + 1))
			kb_fatal(ctx, "rank %d: node id %llu appears twice (byte offset %lld)", r,
				 (unsigned long long)er->nodes[i].id, (long long)er->nodes[i].offset);
		if (kb_ptrmap_put(&im->idx, er->nodes[i].id + 1, (void *)(uintptr_t)(i + 1)))
			kb_fatal(ctx, "out of memory");
		n_edges += (size_t)er->nodes[i].n_deps;
	}
	size_t *depi = im->depi[r] = xalloc(im, n_edges, sizeof *depi), *at = im->depi_at[r] = xalloc(im, n + 1, sizeof *at);
	free(im->indeg);
	free(im->succ_at);
	free(im->succ);
	free(im->heap);
	int32_t *indeg = im->indeg = xalloc(im, n, sizeof *indeg);
	size_t *succ_at = im->succ_at = xalloc(im, n + 2, sizeof *succ_at);
	size_t *succ = im->succ = xalloc(im, n_edges, sizeof *succ);
	size_t e = 0;
	for (size_t i = 0; i < n; i++) {
		at[i] = e;
		for (int k = 0; k < er->nodes[i].n_deps; k++) {
			uintptr_t d = (uintptr_t)kb_ptrmap_get(&im->idx, er->nodes[i].deps[k] + 1);
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
	kb_ptrmap_release(&im->idx);
	for (size_t i = 1; i <= n; i++)
		succ_at[i] += succ_at[i - 1];
	for (size_t i = 0; i < n; i++)
		for (size_t k = at[i]; k < at[i + 1]; k++)
			succ[succ_at[depi[k]]++] = i; /* succ_at[v] ends at v's end: shifted back below */
	for (size_t i = n; i > 0; i--)
		succ_at[i] = succ_at[i - 1];
	succ_at[0] = 0;
	/* ready nodes by file position (a min-heap): a file already in
	 * dependency order keeps its order, as program order needs */
	size_t *order = im->order[r] = xalloc(im, n, sizeof *order), hn = 0, tail = 0;
	int32_t *heap = im->heap = xalloc(im, n, sizeof *heap);
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			heap[hn++] = (int32_t)i; /* ascending: already a heap */
	while (hn) {
		size_t v = (size_t)kb_heap32_pop(heap, &hn);
		order[tail++] = v;
		for (size_t k = succ_at[v]; k < succ_at[v + 1]; k++)
			if (--indeg[succ[k]] == 0) {
				heap[hn] = (int32_t)succ[k];
				kb_heap32_up(heap, hn++);
			}
	}
	if (tail < n) {
		size_t stuck = 0;
		while (stuck < n && !indeg[stuck])
			stuck++;
		kb_fatal(ctx, "rank %d: a dependency cycle through node %llu (%s): %zu of %zu nodes are never ready", r,
			 (unsigned long long)er->nodes[stuck].id, er->nodes[stuck].name, n - tail, n);
	}
	free(im->indeg);
	free(im->succ_at);
	free(im->succ);
	free(im->heap);
	im->indeg = NULL;
	im->succ_at = im->succ = NULL;
	im->heap = NULL;
}

/* ---- exits: the ops a dependent node waits for ---- */

static void exits_set(imp *im, int r, size_t node, const int64_t *ops, int n)
{
	if (kb_grow(&im->exits, &im->cap_exits, im->n_exits + (size_t)n, sizeof *im->exits, 1024))
		kb_fatal(im->ctx, "out of memory");
	im->exit_at[r][node] = (int64_t)im->n_exits;
	im->exit_n[r][node] = n;
	if (n)
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

/* ---- the epoch kernel: every node between two collectives, in one launch ---- */

static void note(imp *im, bool last, size_t it, int64_t op)
{
	entry **v = last ? &im->lasts : &im->entries;
	size_t *n = last ? &im->n_lasts : &im->n_entries, *cap = last ? &im->cap_lasts : &im->cap_entries;
	if (kb_grow(v, cap, *n + 1, sizeof **v, 1024))
		kb_fatal(im->ctx, "out of memory");
	(*v)[(*n)++] = (entry){it, op};
}

/* Moves bytes between the PE's HBM window and scratch in tiles (load: read,
 * store: write), or as one tile when exact. */
static void dma(kb_tl *tl, uint64_t va, int64_t *cursor, int64_t bytes, bool store, bool exact)
{
	/* each transfer starts where the last one on the PE ended (wrapping in
	 * the window): distinct nodes touch distinct bytes, as they did where
	 * they were captured, and add no hazards of their own */
	int64_t base = *cursor;
	*cursor = (base + (bytes + 63) / 64 * 64) % WIN_BYTES;
	int64_t tile = exact ? bytes : TILE_BYTES;
	kb_tile *keep = NULL;
	int64_t keep_elems = 0;
	for (int64_t off = 0; off < bytes; off += tile) {
		int64_t len = bytes - off < tile ? bytes - off : tile, elems = (len + 1) / 2;
		int64_t w = (base + off) % WIN_BYTES;
		if (w + len > WIN_BYTES)
			w = 0;
		uint64_t at = va + (uint64_t)w;
		if (!store) {
			tl_free(tl, tl_load(tl, at, KB_SHAPE(1, elems), KB_F16));
			continue;
		}
		if (!keep || keep_elems != elems) { /* what it writes: scratch, not recorded */
			if (keep)
				tl_free(tl, keep);
			keep = tl_scratch(tl, KB_SHAPE(1, elems), KB_F16);
			keep_elems = elems;
		}
		tl_store(tl, at, keep);
	}
	if (keep)
		tl_free(tl, keep);
}

static void epoch_kernel(kb_tl *tl)
{
	imp *im = tl_arg_ptr_user(tl, "imp");
	int ppc = im->m->pes_per_cube, me = tl_program_id(tl, 1) * ppc + tl_program_id(tl, 0);
	uint64_t va = tl_arg_ptr(tl, "t");
	for (size_t k = 0; k < im->n_items; k++) {
		item *it = &im->items[k];
		if (me < it->lo || me >= it->hi)
			continue;
		int64_t first = tl_next_op(tl);
		if (me == it->lo) { /* a range per node, over its ops on its first PE */
			const kb_et_node *nd = &im->set->ranks[it->rank].nodes[it->node];
			kb_range_push(im->ctx, nd->name[0] ? nd->name : type_name(nd->type));
		}
		switch (it->mode) {
		case 0:
			if (!it->exact && it->bytes)
				dma(tl, va, &im->cursor[me], it->bytes, false, false);
			tl_work(tl, (kb_op_kind)it->kind, it->flops);
			break;
		case 1:
		case 2:
			dma(tl, va, &im->cursor[me], it->bytes ? it->bytes : 2, it->mode == 2, it->exact);
			break;
		case 3:
		case 4: {
			int64_t slot = im->pairs[it->chan].max_bytes;
			for (int64_t off = 0; off < (it->bytes ? it->bytes : 2); off += slot) {
				int64_t len = it->bytes - off < slot ? it->bytes - off : slot, elems = len > 1 ? (len + 1) / 2 : 1;
				kb_tile *t;
				if (it->mode == 4) {
					t = tl_recv_on(tl, im->pairs[it->chan].handle, KB_SHAPE(1, elems), KB_F16);
				} else {
					t = it->exact ? tl_scratch(tl, KB_SHAPE(1, elems), KB_F16)
						      : tl_load(tl, va + (uint64_t)(off % WIN_BYTES), KB_SHAPE(1, elems), KB_F16);
					tl_send_on(tl, im->pairs[it->chan].handle, t);
				}
				tl_free(tl, t);
			}
			break;
		}
		}
		if (tl_next_op(tl) == first) /* nothing to move: an op still marks the node */
			tl_work(tl, KB_OP_GEMM, 0);
		note(im, false, k, first);
		if (me == it->lo && it->hi - it->lo > 1)
			tl_work(tl, KB_OP_GEMM, 0); /* the join: after the node's work on every PE */
		if (me == it->lo) {
			it->join = tl_next_op(tl) - 1;
			kb_range_pop(im->ctx);
		} else
			note(im, true, k, tl_next_op(tl) - 1);
	}
}

static void depend(imp *im, int64_t op, const int64_t *deps, int n)
{
	for (int k = 0; k < n; k++)
		kb_depend(im->ctx, op, deps[k]);
}

static int peer(imp *im, int r, const kb_et_node *nd, bool has, int64_t v, const char *what)
{
	if (!has || v < 0 || v >= im->set->n_ranks)
		kb_fatal(im->ctx, "rank %d: node %llu (%s): %s %s %s%lld is not a rank of the set (0..%d)", r,
			 (unsigned long long)nd->id, nd->name, type_name(nd->type), what, has ? "" : "missing: ",
			 (long long)v, im->set->n_ranks - 1);
	return (int)v;
}

/* The PE (index in its device) of rank r: its own (rank = PE) or the first. */
static int rank_pe(const imp *im, int r)
{
	return im->rank_is_pe ? im->flat[r] % (im->m->n_cubes * im->m->pes_per_cube) : 0;
}

/* Where node nd of rank r runs: [lo, hi) PE indices of its device. */
static void node_pes(const imp *im, int r, const kb_et_node *nd, bool spread, int *lo, int *hi)
{
	if (nd->kb_pe >= 0 && nd->kb_pe < im->m->n_cubes * im->m->pes_per_cube)
		*lo = nd->kb_pe, *hi = nd->kb_pe + 1;
	else if (im->rank_is_pe || !spread)
		*lo = rank_pe(im, r), *hi = *lo + 1;
	else
		*lo = 0, *hi = im->ppn;
}

static uint64_t pair_key(int src, int dst, int64_t tag)
{
	uint64_t h = (uint64_t)src * 0x9E3779B97F4A7C15u ^ (uint64_t)dst * 0xC2B2AE3D27D4EB4Fu ^ (uint64_t)tag * 0x165667B19E3779F9u;
	return h ? h : 1;
}

/* The stream of (src, dst, tag), found or added. */
static p2p *pair_find(imp *im, int src, int dst, int64_t tag, bool add)
{
	uint64_t key = pair_key(src, dst, tag);
	for (;; key++) { /* linear probing over the key space on a collision */
		uintptr_t k = (uintptr_t)kb_ptrmap_get(&im->pair_of, key);
		if (!k)
			break;
		p2p *p = &im->pairs[k - 1];
		if (p->src == src && p->dst == dst && p->tag == tag)
			return p;
	}
	if (!add)
		return NULL;
	if (kb_grow(&im->pairs, &im->cap_pairs, im->n_pairs + 1, sizeof *im->pairs, 16) ||
	    kb_ptrmap_put(&im->pair_of, key, (void *)(uintptr_t)(im->n_pairs + 1)))
		kb_fatal(im->ctx, "out of memory");
	p2p *p = &im->pairs[im->n_pairs++];
	*p = (p2p){src, dst, tag, -1, -1, 0, 0, 0, -1};
	return p;
}

/* Every send and recv: its stream, checked (each send meets a recv of the
 * same size), and a pair channel per stream from the sender's PE to the
 * receiver's, messages of at most 64 KiB (a kernbench export's own size). */
static void connect_pairs(imp *im)
{
	const kb_et_set *set = im->set;
	for (int pass = 0; pass < 2; pass++)
		for (int r = 0; r < set->n_ranks; r++)
			for (size_t j = 0; j < set->ranks[r].n; j++) {
				const kb_et_node *nd = &set->ranks[r].nodes[im->order[r][j]];
				bool send = nd->type == KB_ET_COMM_SEND;
				if ((pass == 0) != send || (!send && nd->type != KB_ET_COMM_RECV))
					continue;
				int other = peer(im, r, nd, send ? nd->has_comm_dst : nd->has_comm_src,
						 send ? nd->comm_dst : nd->comm_src, send ? "comm_dst" : "comm_src");
				if (send && nd->has_comm_src && nd->comm_src != r)
					kb_fatal(im->ctx, "rank %d: node %llu (%s): a send with comm_src %lld in rank %d's file", r,
						 (unsigned long long)nd->id, nd->name, (long long)nd->comm_src, r);
				p2p *p = pair_find(im, send ? r : other, send ? other : r, nd->comm_tag, send);
				if (!send && (!p || p->n_recv >= p->n_send))
					kb_fatal(im->ctx, "rank %d: node %llu (%s): a recv from rank %d (tag %lld) that no send"
						      " matches", r, (unsigned long long)nd->id, nd->name, other,
						 (long long)nd->comm_tag);
				int lo, hi;
				node_pes(im, r, nd, false, &lo, &hi);
				int64_t cap = nd->kb_kind ? (nd->comm_size > 0 ? nd->comm_size : 2) : 64 << 10;
				if (cap > p->max_bytes)
					p->max_bytes = cap;
				if (send) {
					p->src_pe = p->src_pe < 0 ? lo : p->src_pe;
					p->n_send++;
				} else {
					p->dst_pe = p->dst_pe < 0 ? lo : p->dst_pe;
					p->n_recv++;
				}
			}
	int per_dev = im->m->n_cubes * im->m->pes_per_cube, ppc = im->m->pes_per_cube;
	for (size_t i = 0; i < im->n_pairs; i++) {
		p2p *p = &im->pairs[i];
		if (p->n_recv < p->n_send) {
			/* name the first send left over */
			for (size_t j = 0; j < set->ranks[p->src].n; j++) {
				const kb_et_node *nd = &set->ranks[p->src].nodes[im->order[p->src][j]];
				if (nd->type == KB_ET_COMM_SEND && nd->comm_dst == p->dst && nd->comm_tag == p->tag)
					kb_fatal(im->ctx, "rank %d: node %llu (%s): a send to rank %d (tag %lld) that no recv"
						      " matches", p->src, (unsigned long long)nd->id, nd->name, p->dst,
						 (long long)p->tag);
			}
		}
		if (p->max_bytes % 2)
			p->max_bytes++;
		int sd = im->dev[p->src], dd = im->dev[p->dst];
		(void)per_dev;
		int src[3] = {sd, p->src_pe / ppc, p->src_pe % ppc}, dst[3] = {dd, p->dst_pe / ppc, p->dst_pe % ppc};
		kb_set_device(im->ctx, sd);
		p->handle = kb_ipcq_connect(im->ctx, src, dst, p->src, p->dst, 4, p->max_bytes, KB_SPACE_TCM);
	}
}

static void add_item(imp *im, item it)
{
	if (kb_grow(&im->items, &im->cap_items, im->n_items + 1, sizeof *im->items, 256))
		kb_fatal(im->ctx, "out of memory");
	it.join = -1;
	im->items[im->n_items++] = it;
}

/* The epoch's work for node i of rank r (none for a node without device work). */
static void plan_node(imp *im, int r, size_t i)
{
	const kb_et_node *nd = &im->set->ranks[r].nodes[i];
	if (nd->type == KB_ET_METADATA || (nd->is_cpu_op && nd->type == KB_ET_COMP) ||
	    nd->kb_kind == KB_OP_HOST_WRITE || nd->kb_kind == KB_OP_HOST_FILL)
		return; /* no device work (a kernbench export's host writes: host setup, not re-run) */
	item it = {.rank = r, .node = i, .kind = KB_OP_GEMM, .exact = nd->kb_kind > 0};
	switch (nd->type) {
	case KB_ET_COMP: {
		node_pes(im, r, nd, true, &it.lo, &it.hi);
		int n = it.hi - it.lo;
		int64_t flops = nd->num_ops;
		if (!nd->has_num_ops && nd->duration_us) { /* the stated time at the PEs' GEMM peak */
			const kb_topo_cfg *t = &im->m->cfg;
			double f = (double)nd->duration_us * 1e-6 * 2.0 * (double)t->gemm_macs_per_cycle * t->clock_ghz * 1e9 * n;
			flops = f > 1e18 ? INT64_C(1000000000000000000) : (int64_t)f;
		}
		if (it.exact && kb_op_is_opaque(nd->kb_kind, KB_OP_OPAQUE))
			it.kind = nd->kb_kind;
		it.flops = (flops + n - 1) / n;
		it.bytes = (nd->tensor_size + n - 1) / n;
		break;
	}
	case KB_ET_MEM_LOAD:
	case KB_ET_MEM_STORE:
		node_pes(im, r, nd, true, &it.lo, &it.hi);
		it.mode = nd->type == KB_ET_MEM_LOAD ? 1 : 2;
		it.bytes = (nd->tensor_size + (it.hi - it.lo) - 1) / (it.hi - it.lo);
		break;
	case KB_ET_COMM_SEND:
	case KB_ET_COMM_RECV: {
		bool send = nd->type == KB_ET_COMM_SEND;
		node_pes(im, r, nd, false, &it.lo, &it.hi);
		p2p *p = pair_find(im, send ? r : (int)nd->comm_src, send ? (int)nd->comm_dst : r, nd->comm_tag, false);
		it.mode = send ? 3 : 4;
		it.chan = (int)(p - im->pairs);
		it.bytes = nd->comm_size;
		break;
	}
	default:
		kb_fatal(im->ctx, "rank %d: node %llu (%s) is %s (type %d): not supported (COMP, MEM_LOAD, MEM_STORE,"
				  " COMM_SEND, COMM_RECV, COMM_COLL and METADATA nodes are)", r, (unsigned long long)nd->id,
			 nd->name, type_name(nd->type), nd->type);
	}
	add_item(im, it);
}

/* Traces the planned epoch of device dev as one launch, then its
 * dependencies: a node's joins wait for its PEs' last ops, its first ops
 * for its dependencies' exits. nodes: the epoch's nodes, (rank, node), in
 * each rank's order. */
static void run_epoch(imp *im, int dev, const size_t (*nodes)[2], size_t n_nodes)
{
	kb_ctx *ctx = im->ctx;
	if (im->n_items) {
		im->n_entries = im->n_lasts = 0;
		KB_LAUNCH(ctx, "chakra", epoch_kernel, KB_TENSOR("t", im->win[dev]), KB_PTR("imp", im));
		for (size_t k = 0; k < im->n_lasts; k++)
			kb_depend(ctx, im->items[im->lasts[k].item].join, im->lasts[k].op);
	}
	/* exits in order (a pass-through node takes its dependencies'), then the waits */
	size_t k = 0;
	for (size_t j = 0; j < n_nodes; j++) {
		int r = (int)nodes[j][0];
		size_t i = nodes[j][1];
		if (k < im->n_items && im->items[k].rank == r && im->items[k].node == i) {
			exits_set(im, r, i, &im->items[k].join, 1);
			k++;
		} else {
			int64_t deps[MAX_EXITS];
			int n = dep_exits(im, r, i, deps);
			exits_set(im, r, i, deps, n);
		}
	}
	/* each item's dependency exits once, then every first op of it waits for them */
	size_t n_dx = 0;
	if (kb_grow(&im->dx_at, &im->cap_dx_at, im->n_items + 1, sizeof *im->dx_at, 256))
		kb_fatal(ctx, "out of memory");
	for (size_t i = 0; i < im->n_items; i++) {
		if (kb_grow(&im->dx, &im->cap_dx, n_dx + MAX_EXITS, sizeof *im->dx, 1024))
			kb_fatal(ctx, "out of memory");
		im->dx_at[i] = n_dx;
		n_dx += (size_t)dep_exits(im, im->items[i].rank, im->items[i].node, im->dx + n_dx);
	}
	im->dx_at[im->n_items] = n_dx;
	for (size_t e = 0; e < im->n_entries; e++) {
		size_t i = im->entries[e].item;
		depend(im, im->entries[e].op, im->dx + im->dx_at[i], (int)(im->dx_at[i + 1] - im->dx_at[i]));
	}
	im->n_items = 0;
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
	*b = (struct coll_buf){dev, n, kb_empty(im->ctx, name, KB_SHAPE(nr, n), KB_F16, dp), NULL};
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
	size_t *at = im->at_coll = xalloc(im, (size_t)set->n_ranks, sizeof *at);
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
	im->at_coll = NULL;
}

static void imp_free(imp *im)
{
	for (int r = 0; r < im->nr && im->order; r++) {
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
	free(im->pairs);
	kb_ptrmap_release(&im->pair_of);
	free(im->items);
	free(im->entries);
	free(im->lasts);
	free(im->dx);
	free(im->dx_at);
	free(im->bufs);
	kb_ptrmap_release(&im->idx);
	free(im->indeg);
	free(im->succ_at);
	free(im->succ);
	free(im->heap);
	free(im->at_coll);
	free(im->pos);
	free(im->R);
	free(im->nodes);
}

static void import_run(kb_ctx *ctx)
{
	const kb_et_set *set = kb_bench_arg(ctx);
	if (!set || set->n_ranks < 1)
		kb_fatal(ctx, "chakra: no ET set to import (kb-trace chakra PREFIX)");
	const kb_machine *m = kb_ctx_machine(ctx);
	static imp im; /* kb_fatal does not return: what it holds is released at the next import */
	imp_free(&im); /* (what an import that failed left; the set it read may be gone) */
	int nr = set->n_ranks, per_dev = m->n_cubes * m->pes_per_cube;
	im = (imp){.ctx = ctx, .set = set, .m = m, .nr = nr};
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
			      " ranks to PEs, or raise system.sips.count)", nr, m->n_sips);
	if (im.rank_is_pe && nr > m->n_pes)
		kb_fatal(ctx, "chakra: %d ranks, but the machine has %d PEs (rank = PE)", nr, m->n_pes);
	im.ppn = (int)kb_param_int(ctx, "pes_per_node");
	if (im.ppn <= 0)
		im.ppn = per_dev;
	if (im.ppn > per_dev || (im.ppn > m->pes_per_cube && im.ppn % m->pes_per_cube))
		kb_fatal(ctx, "chakra.pes_per_node = %d: 1..%d PEs of one cube, or whole cubes (a multiple of %d up to %d)",
			 im.ppn, m->pes_per_cube, m->pes_per_cube, per_dev);
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
	/* every device's DMA window (1 MiB in each PE's HBM slice), then the
	 * pair channels of the sends and recvs */
	im.win = xalloc(&im, (size_t)m->n_sips, sizeof *im.win);
	for (int d = 0; d < n_dev; d++) {
		kb_set_device(ctx, d);
		char name[48];
		snprintf(name, sizeof name, "chakra_window_r%d", d);
		im.win[d] = kb_empty(ctx, name, KB_SHAPE((int64_t)per_dev, WIN_BYTES / 2), KB_F16,
				     KB_DP(.cube = KB_ROW_WISE, .num_cubes = m->n_cubes, .pe = KB_ROW_WISE,
					   .num_pes = m->pes_per_cube));
	}
	connect_pairs(&im);
	size_t *pos = im.pos = xalloc(&im, (size_t)nr, sizeof *pos), n_nodes = 0;
	int *R = im.R = xalloc(&im, (size_t)nr, sizeof *R);
	for (int d = 0; d < n_dev; d++) {
		kb_set_device(ctx, d);
		int nR = 0;
		for (int r = 0; r < nr; r++)
			if (im.dev[r] == d)
				R[nR++] = r;
		for (;;) { /* an epoch: each rank's nodes up to its next collective */
			int at_coll = 0;
			n_nodes = 0;
			for (int k = 0; k < nR; k++) {
				int r = R[k];
				const kb_et_rank *er = &set->ranks[r];
				while (pos[r] < er->n && er->nodes[im.order[r][pos[r]]].type != KB_ET_COMM_COLL) {
					size_t i = im.order[r][pos[r]++];
					if (kb_grow(&im.nodes, &im.cap_nodes, n_nodes + 1, sizeof *im.nodes, 1024))
						kb_fatal(ctx, "out of memory");
					im.nodes[n_nodes][0] = (size_t)r;
					im.nodes[n_nodes++][1] = i;
					plan_node(&im, r, i);
				}
				at_coll += pos[r] < er->n;
			}
			run_epoch(&im, d, (const size_t(*)[2])im.nodes, n_nodes);
			if (!at_coll)
				break;
			trace_coll(&im, d, R, nR, pos); /* check_collectives: every rank is at one */
		}
	}
	kb_trace_meta(ctx, "timing_only", "imported from a Chakra ET set: no values to replay");
	char what[96];
	snprintf(what, sizeof what, "%d ranks, %lld nodes, rank = %s", nr, (long long)set->n_nodes,
		 im.rank_is_pe ? "PE" : "SIP");
	kb_trace_meta(ctx, "chakra", what);
	imp_free(&im);
	im = (imp){0};
}

const kb_bench kb_bench_chakra = {
	"chakra", "a Chakra ET set (kb-trace chakra PREFIX): each rank's nodes as work on its SIP (or PE)", import_run,
	{{"pes_per_node", 0, "rank = SIP: the PEs a COMP or MEM node spreads over (0: all of the SIP)"},
	 {"rank_is_pe", -1, "-1 auto (SIP while the ranks fit the SIPs), 0 rank = SIP, 1 rank = PE"}},
};
