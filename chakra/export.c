/*
 * export.c — a kernbench trace written as Chakra ET, one file per rank
 * (rank = SIP), for ASTRA-sim (kb-report --chakra DIR).
 *
 * Each device op is a node (its id the op id): GEMM and math ops are
 * COMP_NODE (num_ops = flops, tensor_size = bytes), IPCQ sends and recvs
 * COMM_SEND_NODE / COMM_RECV_NODE (comm_src / comm_dst the SIPs of the
 * channel's ends, comm_tag its id, comm_size the bytes), DMA reads
 * MEM_LOAD_NODE and DMA writes and host writes MEM_STORE_NODE (tensor_size
 * = bytes). Host control (launches, MMU maps, IPCQ installs) is left out.
 * data_deps: the op's predecessors in kb-time's graph (program order on its
 * PE or host stream, data hazards, explicit dependencies) on the same
 * rank, through left-out ops; the channels' data and credit edges are the
 * send / recv pairs themselves, and edges between ranks have no ET form.
 * With collectives on, each collective call on a rank is one COMM_COLL_NODE
 * (its type, comm_size = its buffer bytes) in place of its ops. Device ops
 * also carry kb_pe (cube * PEs per cube + pe) and kb_kind (the op kind),
 * which ASTRA-sim skips and kernbench's import uses to put each op back.
 */
#include "chakra.h"

#include "timing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct xp {
	int64_t n_ops;
	int64_t *node;       /* op id -> its node id (0: left out) */
	int64_t *pred_at;    /* CSR by successor op id: preds[pred_at[i] .. pred_at[i + 1]) */
	int64_t *preds;
	int64_t n_edges, fill;
	int *sip;            /* op id -> its SIP (-1 until read) */
	kb_coll_type *coll;  /* collective node id -> its type */
	int64_t *coll_bytes;
	bool counting;
} xp;

static int edge_fn(void *ctx, int64_t from, int64_t to, int reason, kb_error *err)
{
	(void)err;
	xp *x = ctx;
	if (reason == KB_WAIT_DATA || reason == KB_WAIT_CREDIT)
		return 0;
	if (x->counting)
		x->pred_at[to]++;
	else
		x->preds[--x->pred_at[to]] = from;
	return 0;
}

static int coll_fn(void *ctx, const kb_collective_rec *c, kb_error *err)
{
	(void)err;
	xp *x = ctx;
	if (c->first_op < 1 || c->end_op > x->n_ops + 1 || c->end_op <= c->first_op)
		return 0;
	for (int64_t i = c->first_op; i < c->end_op; i++)
		x->node[i] = c->first_op;
	x->coll[c->first_op] = c->type;
	x->coll_bytes[c->first_op] = c->bytes;
	return 0;
}

/* The node ids op's node waits for (through left-out ops), appended to out. */
static void deps_of(const xp *x, int64_t op, int64_t self, int sip, int64_t *out, int *n, int cap, int depth)
{
	for (int64_t k = x->pred_at[op]; k < x->pred_at[op + 1] && *n < cap; k++) {
		int64_t p = x->preds[k];
		if (x->sip[p] != sip)
			continue;
		if (x->node[p] == 0) {
			if (depth < 4)
				deps_of(x, p, self, sip, out, n, cap, depth + 1);
			continue;
		}
		if (x->node[p] == self)
			continue;
		bool seen = false;
		for (int j = 0; j < *n && !seen; j++)
			seen = out[j] == x->node[p];
		if (!seen)
			out[(*n)++] = x->node[p];
	}
}

int kb_chakra_export(kb_db *db, const kb_machine *m, const char *dir, const char *name,
		     const kb_chakra_export_opts *o, int *n_ranks, int64_t *n_nodes, kb_error *err)
{
	xp x = {0};
	kb_time_graph *g = NULL;
	kb_channel_rec *chans = NULL;
	int64_t n_chans = 0;
	kb_et_buf *out = NULL;
	kb_op_reader *rd = NULL;
	int rc = -1, n_sips = m->n_sips;
	*n_ranks = 0;
	*n_nodes = 0;
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return kb_fail(err, "cannot create '%s': %s", dir, strerror(errno));
	if (kb_read_op_count(db, &x.n_ops, err) || kb_read_channels(db, &chans, &n_chans, err) ||
	    kb_time_graph_build(db, m, NULL, &g, err))
		goto done;
	size_t n1 = (size_t)x.n_ops + 2;
	x.node = calloc(n1, sizeof *x.node);
	x.pred_at = calloc(n1, sizeof *x.pred_at);
	x.sip = malloc(n1 * sizeof *x.sip);
	x.coll = calloc(n1, sizeof *x.coll);
	x.coll_bytes = calloc(n1, sizeof *x.coll_bytes);
	out = calloc((size_t)n_sips, sizeof *out);
	if (!x.node || !x.pred_at || !x.sip || !x.coll || !x.coll_bytes || !out) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld ops", (long long)x.n_ops);
		goto done;
	}
	/* predecessors by successor: count, running sums (each list's end), fill backwards */
	x.counting = true;
	if (kb_time_graph_edges(g, edge_fn, &x, err))
		goto done;
	for (size_t i = 1; i < n1; i++)
		x.pred_at[i] += x.pred_at[i - 1];
	x.n_edges = x.pred_at[n1 - 1];
	x.preds = malloc((size_t)(x.n_edges ? x.n_edges : 1) * sizeof *x.preds);
	if (!x.preds) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld edges", (long long)x.n_edges);
		goto done;
	}
	x.counting = false;
	if (kb_time_graph_edges(g, edge_fn, &x, err))
		goto done;
	/* pred_at[i] is now the start of op i's list, as the CSR reads it (lists end at pred_at[i + 1]) */
	kb_time_graph_free(g);
	g = NULL;
	/* nodes: every device op, or its collective's */
	if (kb_op_reader_start(db, x.n_ops, &rd, err))
		goto done;
	int64_t id = 1;
	const kb_op *rows;
	size_t nr;
	int got;
	kb_op *ops = malloc(n1 * sizeof *ops);
	if (!ops) {
		kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto done;
	}
	while ((got = kb_op_reader_next(rd, &rows, &nr, err)) == 1)
		for (size_t k = 0; k < nr && id <= x.n_ops; k++, id++) {
			ops[id] = rows[k];
			int kd = rows[k].kind;
			bool left_out = kd == KB_OP_LAUNCH || kd == KB_OP_MMU_MAP || kd == KB_OP_IPCQ_INIT;
			x.node[id] = left_out ? 0 : id;
			x.sip[id] = rows[k].sip;
		}
	kb_op_reader_stop(rd);
	rd = NULL;
	if (got < 0) {
		free(ops);
		goto done;
	}
	if (o->collectives && kb_read_collectives(db, coll_fn, &x, err)) {
		free(ops);
		goto done;
	}
	for (int s = 0; s < n_sips; s++)
		kb_et_put_metadata(&out[s], "0.0.4");
	int64_t deps[512];
	for (id = 1; id <= x.n_ops; id++) {
		const kb_op *op = &ops[id];
		int64_t nid = x.node[id];
		if (!nid || (x.coll_bytes[nid] > 0 && id != nid))
			continue; /* left out, or inside a collective (written at its first op) */
		if (op->sip < 0 || op->sip >= n_sips)
			continue;
		int n = 0;
		if (x.coll_bytes[nid]) { /* the collective's deps: its ops' deps from outside it */
			for (int64_t j = nid; j <= x.n_ops && x.node[j] == nid; j++)
				deps_of(&x, j, nid, op->sip, deps, &n, 512, 0);
		} else {
			deps_of(&x, id, nid, op->sip, deps, &n, 512, 0);
		}
		char label[48];
		kb_et_node e = {.id = (uint64_t)nid, .name = label, .deps = (uint64_t *)deps, .n_data = n, .n_deps = n,
				.kb_pe = -1};
		if (!x.coll_bytes[nid] && op->cube >= 0 && op->pe >= 0) { /* where it ran, for kernbench's import */
			e.kb_pe = op->cube * m->pes_per_cube + op->pe;
			e.kb_kind = op->kind;
		}
		int k = op->kind;
		if (x.coll_bytes[nid]) {
			static const int et_type[] = {KB_ET_ALL_REDUCE, KB_ET_ALL_GATHER, KB_ET_REDUCE_SCATTER, KB_ET_ALL_TO_ALL,
						      KB_ET_BROADCAST};
			e.type = KB_ET_COMM_COLL;
			e.has_comm_type = true;
			e.comm_type = et_type[x.coll[nid]];
			e.comm_size = x.coll_bytes[nid];
			snprintf(label, sizeof label, "%s", kb_coll_type_name(x.coll[nid]));
		} else if (k == KB_OP_GEMM || (k >= KB_OP_MATH_ADD && k <= KB_OP_MATH_MUL_S)) {
			e.type = KB_ET_COMP;
			e.has_num_ops = true;
			e.num_ops = op->flops;
			e.tensor_size = op->bytes;
			snprintf(label, sizeof label, "%s", kb_op_kind_name((kb_op_kind)k));
		} else if (k == KB_OP_IPCQ_SEND || k == KB_OP_IPCQ_RECV) {
			const kb_channel_rec *c = op->chan >= 1 && op->chan <= n_chans ? &chans[op->chan - 1] : NULL;
			e.type = k == KB_OP_IPCQ_SEND ? KB_ET_COMM_SEND : KB_ET_COMM_RECV;
			e.comm_size = op->bytes;
			e.has_comm_src = e.has_comm_dst = e.has_comm_tag = true;
			e.comm_src = c ? c->src[0] : op->sip;
			e.comm_dst = c ? c->dst[0] : op->sip;
			e.comm_tag = op->chan;
			snprintf(label, sizeof label, "%s", kb_op_kind_name((kb_op_kind)k));
		} else {
			e.type = k == KB_OP_DMA_READ ? KB_ET_MEM_LOAD : KB_ET_MEM_STORE;
			e.tensor_size = op->bytes;
			snprintf(label, sizeof label, "%s", kb_op_kind_name((kb_op_kind)k));
		}
		kb_et_put_node(&out[op->sip], &e);
		(*n_nodes)++;
	}
	free(ops);
	for (int s = 0; s < n_sips; s++) {
		if (out[s].failed) {
			kb_fail_status(err, KB_E_NOMEM, "out of memory writing rank %d", s);
			goto done;
		}
		char path[4300];
		snprintf(path, sizeof path, "%s/%s.%d.et", dir, name, s);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(out[s].p, 1, out[s].n, f) != out[s].n || fclose(f) != 0) {
			if (f)
				fclose(f);
			kb_fail(err, "cannot write '%s': %s", path, strerror(errno));
			goto done;
		}
		(*n_ranks)++;
	}
	rc = 0;
done:
	kb_op_reader_stop(rd);
	kb_time_graph_free(g);
	free(chans);
	for (int s = 0; out && s < n_sips; s++)
		free(out[s].p);
	free(out);
	free(x.node);
	free(x.pred_at);
	free(x.preds);
	free(x.sip);
	free(x.coll);
	free(x.coll_bytes);
	return rc;
}
