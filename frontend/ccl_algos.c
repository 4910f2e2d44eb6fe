/*
 * ccl_algos.c — the collective algorithms ccl.yaml's `module:` names,
 * written in the tl DSL like any kernel. Each runs on every rank PE with
 * t = the rank's (1, n_elem) buffer of dtype and reduces it in place.
 */
#include "kb.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static kb_tile *load_own(kb_tl *tl, int64_t *n, kb_dtype *dt)
{
	*n = tl_arg_int(tl, "n_elem");
	*dt = (kb_dtype)tl_arg_int(tl, "dtype");
	return tl_load(tl, tl_arg_ptr(tl, "t"), KB_SHAPE(1, *n), *dt);
}

/* acc += in; frees the old acc. */
static kb_tile *accumulate(kb_tl *tl, kb_tile *acc, kb_tile *in)
{
	kb_tile *sum = tl_add(tl, acc, in);
	tl_free(tl, acc);
	return sum;
}

/* hello_send: send the own tile E, receive from W; rank r ends up holding
 * rank r-1's data. */
static void hello_send(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	kb_tile *x = load_own(tl, &n, &dt);
	tl_send(tl, KB_DIR_E, x);
	kb_tile *r = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, n), dt);
	tl_store(tl, tl_arg_ptr(tl, "t"), r);
}

/* One ring pass over (send_dir, recv_dir): rounds rounds, each sends the
 * tile received last (starting with cur), adds what arrives. */
static kb_tile *ring_pass(kb_tl *tl, kb_dir send_dir, kb_dir recv_dir, int rounds, kb_tile *acc, int64_t n,
			  kb_dtype dt)
{
	kb_tile *cur = NULL; /* the tile received last; round 0 sends acc */
	for (int i = 0; i < rounds; i++) {
		tl_send(tl, send_dir, cur ? cur : acc);
		kb_tile *in = tl_recv(tl, recv_dir, KB_SHAPE(1, n), dt);
		if (cur)
			tl_free(tl, cur);
		acc = accumulate(tl, acc, in);
		cur = in;
	}
	if (cur)
		tl_free(tl, cur);
	return acc;
}

/* ring_allreduce (ring_1d): ws-1 rounds of send E / recv W / add,
 * forwarding the received tile (not the sum). */
static void ring_allreduce(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	kb_tile *acc = load_own(tl, &n, &dt);
	acc = ring_pass(tl, KB_DIR_E, KB_DIR_W, tl_world_size(tl) - 1, acc, n, dt);
	tl_store(tl, tl_arg_ptr(tl, "t"), acc);
}

/* mesh_allreduce (mesh_2d, square world): a row ring (E/W), then a column
 * ring (send S, recv N) over the row sums. */
static void mesh_allreduce(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	int side = (int)lround(sqrt((double)tl_world_size(tl)));
	kb_tile *acc = load_own(tl, &n, &dt);
	acc = ring_pass(tl, KB_DIR_E, KB_DIR_W, side - 1, acc, n, dt);
	acc = ring_pass(tl, KB_DIR_S, KB_DIR_N, side - 1, acc, n, dt);
	tl_store(tl, tl_arg_ptr(tl, "t"), acc);
}

/* tree_allreduce (tree_binary): reduce up to rank 0, broadcast down. */
static void tree_allreduce(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	kb_tile *acc = load_own(tl, &n, &dt);
	static const kb_dir children[2] = {KB_DIR_CHILD_LEFT, KB_DIR_CHILD_RIGHT};
	for (int k = 0; k < 2; k++)
		if (tl_has_dir(tl, children[k], true))
			acc = accumulate(tl, acc, tl_recv(tl, children[k], KB_SHAPE(1, n), dt));
	if (tl_has_dir(tl, KB_DIR_PARENT, false)) {
		tl_send(tl, KB_DIR_PARENT, acc);
		tl_free(tl, acc);
		acc = tl_recv(tl, KB_DIR_PARENT, KB_SHAPE(1, n), dt);
	}
	for (int k = 0; k < 2; k++)
		if (tl_has_dir(tl, children[k], false))
			tl_send(tl, children[k], acc);
	tl_store(tl, tl_arg_ptr(tl, "t"), acc);
}

/* The receiving side of a chain step: acc += recv(dir) if a channel comes
 * in on dir. */
static kb_tile *gather(kb_tl *tl, kb_tile *acc, kb_dir dir, int64_t n, kb_dtype dt)
{
	return tl_has_dir(tl, dir, true) ? accumulate(tl, acc, tl_recv(tl, dir, KB_SHAPE(1, n), dt)) : acc;
}

/* acc = recv(dir): the total arriving in a broadcast. */
static kb_tile *replace(kb_tl *tl, kb_tile *acc, kb_dir dir, int64_t n, kb_dtype dt)
{
	kb_tile *in = tl_recv(tl, dir, KB_SHAPE(1, n), dt);
	tl_free(tl, acc);
	return in;
}

/* A line of k nodes at position i reduces toward position root and
 * broadcasts back: dec / inc name the directions toward lower / higher
 * positions. */
static kb_tile *line_reduce(kb_tl *tl, kb_tile *acc, int i, int k, int root, kb_dir dec, kb_dir inc, int64_t n,
			    kb_dtype dt)
{
	if (i < root) {
		if (i > 0)
			acc = accumulate(tl, acc, tl_recv(tl, dec, KB_SHAPE(1, n), dt));
		tl_send(tl, inc, acc);
	} else if (i > root) {
		if (i < k - 1)
			acc = accumulate(tl, acc, tl_recv(tl, inc, KB_SHAPE(1, n), dt));
		tl_send(tl, dec, acc);
	} else {
		if (root > 0)
			acc = accumulate(tl, acc, tl_recv(tl, dec, KB_SHAPE(1, n), dt));
		if (root < k - 1)
			acc = accumulate(tl, acc, tl_recv(tl, inc, KB_SHAPE(1, n), dt));
	}
	return acc;
}

static kb_tile *line_broadcast(kb_tl *tl, kb_tile *acc, int i, int k, int root, kb_dir dec, kb_dir inc, int64_t n,
			       kb_dtype dt)
{
	if (i < root) {
		acc = replace(tl, acc, inc, n, dt);
		if (i > 0)
			tl_send(tl, dec, acc);
	} else if (i > root) {
		acc = replace(tl, acc, dec, n, dt);
		if (i < k - 1)
			tl_send(tl, inc, acc);
	} else {
		if (root > 0)
			tl_send(tl, dec, acc);
		if (root < k - 1)
			tl_send(tl, inc, acc);
	}
	return acc;
}

/* intercube_allreduce (intercube_multisip; PE 0 of every cube, rank = SIP):
 * each row reduces toward the root cube's column, that column toward the
 * root cube; the root cubes of the SIPs exchange by SIP topology (ring:
 * n_sips-1 ring rounds; torus: a row ring then a column ring; mesh without
 * wrap: chain reduce and broadcast along rows, then columns); then the
 * column and the rows broadcast back. */
static void intercube_allreduce(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	kb_tile *acc = load_own(tl, &n, &dt);
	int w = (int)tl_arg_int(tl, "cube_w"), h = (int)tl_arg_int(tl, "cube_h"), sips = (int)tl_arg_int(tl, "n_sips");
	int root = (int)tl_arg_int(tl, "root_cube"), cube = tl_program_id(tl, 1);
	int x = cube % w, y = cube / w, rx = root % w, ry = root / w;
	acc = line_reduce(tl, acc, x, w, rx, KB_DIR_W, KB_DIR_E, n, dt);
	if (x == rx)
		acc = line_reduce(tl, acc, y, h, ry, KB_DIR_N, KB_DIR_S, n, dt);
	if (cube == root && sips > 1) {
		kb_sip_wiring wiring = (kb_sip_wiring)tl_arg_int(tl, "sip_topo");
		int side = (int)lround(sqrt((double)sips)), sip = tl_rank(tl), sx = sip % side, sy = sip / side;
		if (wiring == KB_SIP_RING) {
			acc = ring_pass(tl, KB_DIR_GLOBAL_E, KB_DIR_GLOBAL_W, sips - 1, acc, n, dt);
		} else if (wiring == KB_SIP_GRID_WRAP) {
			acc = ring_pass(tl, KB_DIR_GLOBAL_E, KB_DIR_GLOBAL_W, side - 1, acc, n, dt);
			acc = ring_pass(tl, KB_DIR_GLOBAL_S, KB_DIR_GLOBAL_N, side - 1, acc, n, dt);
		} else {
			acc = line_reduce(tl, acc, sx, side, side - 1, KB_DIR_GLOBAL_W, KB_DIR_GLOBAL_E, n, dt);
			acc = line_broadcast(tl, acc, sx, side, side - 1, KB_DIR_GLOBAL_W, KB_DIR_GLOBAL_E, n, dt);
			acc = line_reduce(tl, acc, sy, side, side - 1, KB_DIR_GLOBAL_N, KB_DIR_GLOBAL_S, n, dt);
			acc = line_broadcast(tl, acc, sy, side, side - 1, KB_DIR_GLOBAL_N, KB_DIR_GLOBAL_S, n, dt);
		}
	}
	if (x == rx)
		acc = line_broadcast(tl, acc, y, h, ry, KB_DIR_N, KB_DIR_S, n, dt);
	acc = line_broadcast(tl, acc, x, w, rx, KB_DIR_W, KB_DIR_E, n, dt);
	tl_store(tl, tl_arg_ptr(tl, "t"), acc);
}

/* hierarchical_allreduce (hierarchical_3level, mapper all_pes; every PE,
 * rank = SIP): the PEs of a cube reduce along their chain to PE 0, the cube
 * leaders along theirs to cube 0, the SIP leaders all-reduce on a ring;
 * then the totals flow back down the two chains. */
static void hierarchical_allreduce(kb_tl *tl)
{
	int64_t n;
	kb_dtype dt;
	kb_tile *acc = load_own(tl, &n, &dt);
	int pe = tl_program_id(tl, 0), cube = tl_program_id(tl, 1);
	acc = gather(tl, acc, KB_DIR_E, n, dt); /* from PE pe + 1 */
	if (pe > 0) {
		tl_send(tl, KB_DIR_W, acc);
	} else {
		acc = gather(tl, acc, KB_DIR_S, n, dt); /* from cube + 1 */
		if (cube > 0)
			tl_send(tl, KB_DIR_N, acc);
		else if (tl_has_dir(tl, KB_DIR_GLOBAL_E, false))
			acc = ring_pass(tl, KB_DIR_GLOBAL_E, KB_DIR_GLOBAL_W, (int)tl_arg_int(tl, "n_sips") - 1, acc, n,
					dt);
		if (cube > 0)
			acc = replace(tl, acc, KB_DIR_N, n, dt);
		if (tl_has_dir(tl, KB_DIR_S, false))
			tl_send(tl, KB_DIR_S, acc);
	}
	if (pe > 0)
		acc = replace(tl, acc, KB_DIR_W, n, dt);
	if (tl_has_dir(tl, KB_DIR_E, false))
		tl_send(tl, KB_DIR_E, acc);
	tl_store(tl, tl_arg_ptr(tl, "t"), acc);
}

/* ring_rsag_allreduce (ring_1d): reduce-scatter then all-gather, the
 * bandwidth-optimal ring. The buffer splits into p chunks; in step s of
 * the reduce-scatter rank r sends chunk r - s and receives chunk r - s - 1,
 * adding its own; after p - 1 steps it holds chunk r + 1 reduced, and the
 * all-gather passes the reduced chunks on for p - 1 more steps. Chunks move
 * in messages of `chunk` elements (what fits a slot), and sends run
 * L = min(n_slots / 2, messages per chunk - 1) messages ahead of the recvs,
 * so the slots can cover the link's bandwidth-delay product (the other half
 * of the slots absorbs the credits' trip back). */
typedef struct rsag {
	kb_tl *tl;
	int64_t n, q;            /* elements, elements per message */
	int p, r;
	kb_dtype dt;
	uint64_t va;
	size_t isz;
	int64_t per;             /* messages per chunk (the largest) */
	bool spill;              /* chunks too big to keep in scratch go back to the buffer between steps */
	/* the last recv's store, issued after the next send so that a PE's
	 * in-order issue never holds a send behind an add */
	bool pend, pend_store, pend_free;
	int64_t pend_k;
	uint64_t pend_at;
	kb_tile **cur;           /* the chunk to send next, by message */
} rsag;

static int64_t chunk_lo(const rsag *g, int c)
{
	return (int64_t)c * g->n / g->p;
}

/* Message k of chunk c: its first element and length (0 if none). */
static int64_t msg(const rsag *g, int c, int64_t k, int64_t *len)
{
	int64_t lo = chunk_lo(g, c) + k * g->q, hi = chunk_lo(g, c + 1);
	*len = lo < hi ? (hi - lo < g->q ? hi - lo : g->q) : 0;
	return lo;
}

static int mod(int a, int p)
{
	return ((a % p) + p) % p;
}

/* Item j of the flattened 2(p-1) x per sequence: step and message. */
static void item(const rsag *g, int64_t j, int *step, int64_t *k)
{
	*step = (int)(j / g->per);
	*k = j % g->per;
}

static void rsag_send(rsag *g, int64_t j)
{
	int s;
	int64_t k, len;
	item(g, j, &s, &k);
	int c = s < g->p - 1 ? mod(g->r - s, g->p) : mod(g->r + 1 - (s - (g->p - 1)), g->p);
	int64_t lo = msg(g, c, k, &len);
	if (!len)
		return;
	if (s == 0 || g->spill) /* the rank's own data, or what the last step left in the buffer */
		g->cur[k] = tl_load(g->tl, g->va + (uint64_t)lo * g->isz, KB_SHAPE(1, len), g->dt);
	tl_send(g->tl, KB_DIR_E, g->cur[k]);
	tl_free(g->tl, g->cur[k]);
	g->cur[k] = NULL;
}

static void rsag_flush(rsag *g)
{
	if (!g->pend)
		return;
	if (g->pend_store)
		tl_store(g->tl, g->pend_at, g->cur[g->pend_k]);
	if (g->pend_free) {
		tl_free(g->tl, g->cur[g->pend_k]);
		g->cur[g->pend_k] = NULL;
	}
	g->pend = false;
}

static void rsag_recv(rsag *g, int64_t j)
{
	int s;
	int64_t k, len;
	item(g, j, &s, &k);
	bool rs = s < g->p - 1;
	int c = rs ? mod(g->r - s - 1, g->p) : mod(g->r - (s - (g->p - 1)), g->p);
	int64_t lo = msg(g, c, k, &len);
	if (!len)
		return;
	uint64_t at = g->va + (uint64_t)lo * g->isz;
	if (rs) { /* add the own part of the chunk */
		kb_tile *own = tl_load(g->tl, at, KB_SHAPE(1, len), g->dt);
		kb_tile *in = tl_recv(g->tl, KB_DIR_W, KB_SHAPE(1, len), g->dt);
		g->cur[k] = tl_add(g->tl, own, in);
		tl_free(g->tl, own);
		tl_free(g->tl, in);
	} else {
		g->cur[k] = tl_recv(g->tl, KB_DIR_W, KB_SHAPE(1, len), g->dt);
	}
	/* stored when fully reduced (the rank's result), in the all-gather, or
	 * parked in the buffer; freed when parked or after the last step */
	g->pend = true;
	g->pend_k = k;
	g->pend_at = at;
	g->pend_store = !rs || s == g->p - 2 || g->spill;
	g->pend_free = g->spill || s == 2 * (g->p - 1) - 1;
}

static void ring_rsag_allreduce(kb_tl *tl)
{
	rsag g = {.tl = tl, .p = tl_world_size(tl), .r = tl_rank(tl), .va = tl_arg_ptr(tl, "t")};
	g.n = tl_arg_int(tl, "n_elem");
	g.dt = (kb_dtype)tl_arg_int(tl, "dtype");
	g.q = tl_arg_int(tl, "chunk");
	g.isz = g.dt == KB_F32 ? 4 : 2;
	if (g.p < 2)
		return;
	if (g.q < 1)
		g.q = 1;
	int64_t biggest = chunk_lo(&g, 1) - chunk_lo(&g, 0) + 1;
	if ((biggest + g.q - 1) / g.q > 4096)
		g.q = (biggest + 4095) / 4096; /* never more than 4096 messages per chunk */
	for (int c = 0; c < g.p; c++) {
		int64_t len = chunk_lo(&g, c + 1) - chunk_lo(&g, c);
		int64_t m = (len + g.q - 1) / g.q;
		if (m > g.per)
			g.per = m;
	}
	if (g.per == 0)
		return;
	g.spill = (uint64_t)(g.per * g.q) * g.isz > (256u << 10); /* keep at most 256 KiB of a chunk in scratch */
	kb_tile *cur[4097];
	g.cur = cur;
	memset(cur, 0, sizeof cur);
	/* half the slots ahead: the other half absorbs the credit's trip back */
	int64_t ahead = tl_arg_int(tl, "n_slots") / 2;
	if (ahead > g.per - 1)
		ahead = g.per - 1; /* send m carries what recv m - per brought: it may not overtake it */
	if (ahead < 0)
		ahead = 0;
	int64_t total = 2 * (int64_t)(g.p - 1) * g.per, issued = 0;
	while (issued < ahead && issued < total)
		rsag_send(&g, issued++);
	for (int64_t j = 0; j < total; j++) {
		if (issued < total) { /* send j + ahead: its data came from recv j + ahead - per < j */
			if (g.pend && issued - g.per == j - 1)
				rsag_flush(&g); /* ... the last one: store it first */
			rsag_send(&g, issued++);
		}
		rsag_flush(&g);
		rsag_recv(&g, j);
	}
	rsag_flush(&g);
}

static const kb_ccl_module m_hello = {"hello_send", "send the own tile E, receive W (rank r holds r-1's)", hello_send, false};
static const kb_ccl_module m_ring = {"ring_allreduce", "ring_1d: ws-1 rounds of send E, recv W, add", ring_allreduce, false};
static const kb_ccl_module m_mesh = {"mesh_allreduce", "mesh_2d: row ring then column ring", mesh_allreduce, false};
static const kb_ccl_module m_tree = {"tree_allreduce", "tree_binary: reduce to rank 0, broadcast down",
				     tree_allreduce, false};
static const kb_ccl_module m_intercube = {"intercube_allreduce",
					  "intercube_multisip: cube rows, root column, SIP exchange, broadcast back",
					  intercube_allreduce, false};
static const kb_ccl_module m_rsag = {"ring_rsag_allreduce",
				     "ring_1d: reduce-scatter + all-gather in 2(p-1) steps of n/p, slot-sized messages",
				     ring_rsag_allreduce, true};
static const kb_ccl_module m_hier = {"hierarchical_allreduce",
				     "hierarchical_3level: PE chain, cube-leader chain, SIP ring, back down",
				     hierarchical_allreduce, false};

const kb_ccl_module *const *kb_ccl_modules(void)
{
	static const kb_ccl_module *const all[] = {&m_hello, &m_ring, &m_mesh, &m_tree, &m_intercube, &m_hier, &m_rsag, NULL};
	return all;
}
