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
	int s0, s1;              /* the steps run: [0, p-1) reduce-scatter, [p-1, 2(p-1)) all-gather */
	int off;                 /* chunk offset: 0 all-reduce (rank r ends the reduce-scatter with chunk r + 1),
				  * -1 the standalone collectives (rank r owns chunk r) */
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
	*step = g->s0 + (int)(j / g->per);
	*k = j % g->per;
}

static void rsag_send(rsag *g, int64_t j)
{
	int s;
	int64_t k, len;
	item(g, j, &s, &k);
	int c = s < g->p - 1 ? mod(g->r - s + g->off, g->p) : mod(g->r + 1 - (s - (g->p - 1)) + g->off, g->p);
	int64_t lo = msg(g, c, k, &len);
	if (!len)
		return;
	if (s == g->s0 || g->spill) /* the rank's own data, or what the last step left in the buffer */
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
	int c = rs ? mod(g->r - s - 1 + g->off, g->p) : mod(g->r - (s - (g->p - 1)) + g->off, g->p);
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
	g->pend_free = g->spill || s == g->s1 - 1;
}

/* Runs steps [s0, s1) of the ring with chunk offset off over t. */
static void rsag_run(kb_tl *tl, int s0, int s1, int off)
{
	rsag g = {.tl = tl, .p = tl_world_size(tl), .r = tl_rank(tl), .va = tl_arg_ptr(tl, "t"), .off = off};
	g.n = tl_arg_int(tl, "n_elem");
	g.dt = (kb_dtype)tl_arg_int(tl, "dtype");
	g.q = tl_arg_int(tl, "chunk");
	g.isz = g.dt == KB_F32 ? 4 : 2;
	if (g.p < 2)
		return;
	g.s0 = s0 < 0 ? g.p - 1 : s0;
	g.s1 = s1 < 0 ? g.p - 1 : s1 == 0 ? 2 * (g.p - 1) : s1;
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
	int64_t total = (int64_t)(g.s1 - g.s0) * g.per, issued = 0;
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

/* s0 / s1: -1 stands for p - 1, s1 = 0 for 2(p - 1) (p is known inside). */
static void ring_rsag_allreduce(kb_tl *tl)
{
	rsag_run(tl, 0, 0, 0);
}

/* ring_reducescatter (ring_1d): the reduce-scatter half, in place: the
 * buffer's p chunks are summed over the ranks and rank r's chunk r holds
 * the total (the other chunks hold partial sums where a chunk was too big
 * for scratch, else the rank's input). */
static void ring_reducescatter(kb_tl *tl)
{
	rsag_run(tl, 0, -1, -1);
}

/* ring_allgather (ring_1d): the all-gather half, in place: rank r brings
 * chunk r of the buffer, and every rank ends with all p chunks. */
static void ring_allgather(kb_tl *tl)
{
	rsag_run(tl, -1, 0, -1);
}

/* The message length and element offset of message k of chunk c, for the
 * collectives whose p chunks are equal (n_elem divisible by p). */
typedef struct chunked {
	kb_tl *tl;
	int p, r;
	int64_t n, len, q, per; /* elements; per chunk; per message; messages per chunk */
	kb_dtype dt;
	size_t isz;
	uint64_t va;
} chunked;

static bool chunked_init(kb_tl *tl, chunked *c, bool split)
{
	*c = (chunked){.tl = tl, .p = tl_world_size(tl), .r = tl_rank(tl), .va = tl_arg_ptr(tl, "t")};
	c->n = tl_arg_int(tl, "n_elem");
	c->dt = (kb_dtype)tl_arg_int(tl, "dtype");
	c->isz = c->dt == KB_F32 ? 4 : 2;
	c->q = tl_arg_int(tl, "chunk");
	if (c->q < 1)
		c->q = 1;
	c->len = split ? c->n / c->p : c->n;
	c->per = (c->len + c->q - 1) / c->q;
	return c->p > 1 && c->len > 0;
}

/* Message k of chunk ch: its address and shape. */
static uint64_t chunked_msg(const chunked *c, int ch, int64_t k, int64_t *len)
{
	int64_t lo = (int64_t)ch * c->len + k * c->q;
	*len = c->len - k * c->q < c->q ? c->len - k * c->q : c->q;
	return c->va + (uint64_t)lo * c->isz;
}

/* ring_alltoall (ring_1d): chunk d of rank r's buffer t goes to chunk r of
 * rank d's buffer out (chunk r stays: a local copy), store and forward
 * around the ring. A rank sends its own p - 1 chunks farthest destination
 * first and forwards what arrives for ranks further on at once; every
 * rank runs the same schedule, so its i-th receive is its W neighbour's
 * i-th send, described as (hops so far, distance, message): the
 * descriptors of the sends not yet received are all it keeps. Sends stay
 * within n_slots / 2 + 1 messages of the receives. */
typedef struct a2a_desc {
	int hops, dist;
	int64_t k;
} a2a_desc;

static void ring_alltoall(kb_tl *tl)
{
	chunked c;
	if (!chunked_init(tl, &c, true))
		return;
	uint64_t out = tl_arg_ptr(tl, "out");
	for (int64_t k = 0; k < c.per; k++) { /* the rank's own chunk */
		int64_t len;
		uint64_t at = chunked_msg(&c, c.r, k, &len);
		kb_tile *t = tl_load(tl, at, KB_SHAPE(1, len), c.dt);
		tl_store(tl, out + (at - c.va), t);
		tl_free(tl, t);
	}
	enum { CAP = 4096 };
	int64_t gap = tl_arg_int(tl, "n_slots") / 2 + 1;
	if (gap > tl_arg_int(tl, "n_slots"))
		gap = tl_arg_int(tl, "n_slots");
	if (gap > CAP - 2)
		gap = CAP - 2;
	a2a_desc sent_d[CAP]; /* by send index mod CAP: [recvd, sent) live */
	int64_t own = (int64_t)(c.p - 1) * c.per, total = own * c.p / 2, sent = 0, recvd = 0, own_sent = 0;
	kb_tile *fwd = NULL; /* the received message to pass on */
	a2a_desc fwd_d = {0, 0, 0};
	while (sent < total || recvd < total) {
		if (sent < total && sent - recvd < gap && (fwd || own_sent < own)) {
			kb_tile *t;
			a2a_desc d;
			if (fwd) {
				t = fwd;
				d = fwd_d;
				fwd = NULL;
			} else {
				d = (a2a_desc){0, c.p - 1 - (int)(own_sent / c.per), own_sent % c.per};
				int64_t len;
				uint64_t at = chunked_msg(&c, (c.r + d.dist) % c.p, d.k, &len);
				t = tl_load(tl, at, KB_SHAPE(1, len), c.dt);
				own_sent++;
			}
			tl_send(tl, KB_DIR_E, t);
			tl_free(tl, t);
			sent_d[sent++ % CAP] = d;
			continue;
		}
		if (recvd >= sent || fwd) /* every rank sends what it receives: a schedule bug */
			tl_fatal(tl, "ring_alltoall: receive %lld with %lld sent", (long long)recvd, (long long)sent);
		a2a_desc d = sent_d[recvd++ % CAP];
		int origin = ((c.r - 1 - d.hops) % c.p + c.p) % c.p;
		int64_t len;
		uint64_t at = chunked_msg(&c, origin, d.k, &len);
		kb_tile *t = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, len), c.dt);
		if (d.hops + 1 == d.dist) {
			tl_store(tl, out + (at - c.va), t);
			tl_free(tl, t);
		} else {
			fwd = t;
			fwd_d = (a2a_desc){d.hops + 1, d.dist, d.k};
		}
	}
}

/* ring_broadcast (ring_1d): the root's buffer flows down the ring E in
 * slot-sized messages, each rank storing and forwarding it (the last one
 * only stores), pipelined message by message. */
static void ring_broadcast(kb_tl *tl)
{
	chunked c;
	if (!chunked_init(tl, &c, false))
		return;
	int root = (int)tl_arg_int(tl, "root");
	int dist = ((c.r - root) % c.p + c.p) % c.p;
	for (int64_t k = 0; k < c.per; k++) {
		int64_t len;
		uint64_t at = chunked_msg(&c, 0, k, &len);
		kb_tile *t;
		if (dist == 0) {
			t = tl_load(tl, at, KB_SHAPE(1, len), c.dt);
		} else {
			t = tl_recv(tl, KB_DIR_W, KB_SHAPE(1, len), c.dt);
		}
		if (dist < c.p - 1)
			tl_send(tl, KB_DIR_E, t);
		if (dist)
			tl_store(tl, at, t);
		tl_free(tl, t);
	}
}

#define AR KB_COLL_ALL_REDUCE
static const kb_ccl_module m_hello = {"hello_send", "send the own tile E, receive W (rank r holds r-1's)", hello_send,
				      false, AR};
static const kb_ccl_module m_ring = {"ring_allreduce", "ring_1d: ws-1 rounds of send E, recv W, add", ring_allreduce,
				     false, AR};
static const kb_ccl_module m_mesh = {"mesh_allreduce", "mesh_2d: row ring then column ring", mesh_allreduce, false, AR};
static const kb_ccl_module m_tree = {"tree_allreduce", "tree_binary: reduce to rank 0, broadcast down",
				     tree_allreduce, false, AR};
static const kb_ccl_module m_intercube = {"intercube_allreduce",
					  "intercube_multisip: cube rows, root column, SIP exchange, broadcast back",
					  intercube_allreduce, false, AR};
static const kb_ccl_module m_rsag = {"ring_rsag_allreduce",
				     "ring_1d: reduce-scatter + all-gather in 2(p-1) steps of n/p, slot-sized messages",
				     ring_rsag_allreduce, true, AR};
static const kb_ccl_module m_hier = {"hierarchical_allreduce",
				     "hierarchical_3level: PE chain, cube-leader chain, SIP ring, back down",
				     hierarchical_allreduce, false, AR};
#undef AR
static const kb_ccl_module m_ag = {"ring_allgather", "ring_1d: p-1 steps passing the chunks on, slot-sized messages",
				   ring_allgather, true, KB_COLL_ALL_GATHER};
static const kb_ccl_module m_rs = {"ring_reducescatter",
				   "ring_1d: p-1 steps of send, receive, add; rank r keeps chunk r, slot-sized messages",
				   ring_reducescatter, true, KB_COLL_REDUCE_SCATTER};
static const kb_ccl_module m_a2a = {"ring_alltoall",
				    "ring_1d: store and forward, p(p-1)/2 chunks per link, slot-sized messages",
				    ring_alltoall, true, KB_COLL_ALL_TO_ALL};
static const kb_ccl_module m_bcast = {"ring_broadcast", "ring_1d: a pipelined chain from the root, slot-sized messages",
				      ring_broadcast, true, KB_COLL_BROADCAST};

const kb_ccl_module *const *kb_ccl_modules(void)
{
	static const kb_ccl_module *const all[] = {&m_hello, &m_ring, &m_mesh, &m_tree, &m_intercube, &m_hier, &m_rsag,
						   &m_ag, &m_rs, &m_a2a, &m_bcast, NULL};
	return all;
}
