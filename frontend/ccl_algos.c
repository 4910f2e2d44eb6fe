/*
 * ccl_algos.c — the collective algorithms ccl.yaml's `module:` names,
 * written in the tl DSL like any kernel. Each runs on every rank PE with
 * t = the rank's (1, n_elem) buffer of dtype and reduces it in place.
 */
#include "kb.h"

#include <math.h>
#include <stddef.h>

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
		int topo = (int)tl_arg_int(tl, "sip_topo"), side = (int)lround(sqrt((double)sips));
		int sip = tl_rank(tl), sx = sip % side, sy = sip / side;
		if (topo == 0) {
			acc = ring_pass(tl, KB_DIR_GLOBAL_E, KB_DIR_GLOBAL_W, sips - 1, acc, n, dt);
		} else if (topo == 1) {
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

static const kb_ccl_module m_hello = {"hello_send", "send the own tile E, receive W (rank r holds r-1's)", hello_send};
static const kb_ccl_module m_ring = {"ring_allreduce", "ring_1d: ws-1 rounds of send E, recv W, add", ring_allreduce};
static const kb_ccl_module m_mesh = {"mesh_allreduce", "mesh_2d: row ring then column ring", mesh_allreduce};
static const kb_ccl_module m_tree = {"tree_allreduce", "tree_binary: reduce to rank 0, broadcast down",
				     tree_allreduce};
static const kb_ccl_module m_intercube = {"intercube_allreduce",
					  "intercube_multisip: cube rows, root column, SIP exchange, broadcast back",
					  intercube_allreduce};
static const kb_ccl_module m_hier = {"hierarchical_allreduce",
				     "hierarchical_3level: PE chain, cube-leader chain, SIP ring, back down",
				     hierarchical_allreduce};

const kb_ccl_module *const *kb_ccl_modules(void)
{
	static const kb_ccl_module *const all[] = {&m_hello, &m_ring, &m_mesh, &m_tree, &m_intercube, &m_hier, NULL};
	return all;
}
