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

static const kb_ccl_module m_hello = {"hello_send", "send the own tile E, receive W (rank r holds r-1's)", hello_send};
static const kb_ccl_module m_ring = {"ring_allreduce", "ring_1d: ws-1 rounds of send E, recv W, add", ring_allreduce};
static const kb_ccl_module m_mesh = {"mesh_allreduce", "mesh_2d: row ring then column ring", mesh_allreduce};
static const kb_ccl_module m_tree = {"tree_allreduce", "tree_binary: reduce to rank 0, broadcast down",
				     tree_allreduce};

const kb_ccl_module *const *kb_ccl_modules(void)
{
	static const kb_ccl_module *const all[] = {&m_hello, &m_ring, &m_mesh, &m_tree, NULL};
	return all;
}
