/*
 * perfetto.c — a timing run as Chrome / Perfetto trace-event JSON
 * (load it at ui.perfetto.dev or chrome://tracing).
 *
 * A process per SIP; per PE a track per unit (dma, gemm, math, ipcq) and
 * per rank a host track. Ops on one unit can overlap in time (two DMA
 * engines; a transfer's flight after its engine is free), so each unit
 * gets as many lanes ("dma#2") as overlap needs. Each op is an X event
 * with its arguments; each IPCQ send -> recv pair is a flow arrow.
 */
#include "reports.h"
#include "reports_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { U_HOST, U_DMA, U_GEMM, U_MATH, U_IPCQ, U_N };
static const char *const unit_name[U_N] = {"host", "dma", "gemm", "math", "ipcq"};
#define MAX_LANES 32
#define MAX_SIPS 16 /* the PhysAddr sip field */

typedef struct lanes {
	int64_t end[MAX_LANES];
	int n;
} lanes;

/* One end of an IPCQ message: a send (its end) or a recv (its start). The
 * ends are sorted by (channel, message, side) after the events are out,
 * so each send meets its recv in O(n log n), not by a join. */
typedef struct flow_end {
	int64_t chan, seq, op, t_ps;
	int32_t sip, tid;
	int32_t recv;
} flow_end;

static int by_message(const void *a, const void *b)
{
	const flow_end *x = a, *y = b;
	if (x->chan != y->chan)
		return x->chan < y->chan ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->recv - y->recv;
}

static int unit_of(int kind, int64_t launch)
{
	if (launch == 0)
		return U_HOST;
	if (kind == KB_OP_IPCQ_SEND)
		return U_IPCQ;
	if (kind == KB_OP_DMA_READ || kind == KB_OP_DMA_WRITE || kind == KB_OP_IPCQ_RECV)
		return U_DMA;
	return kind == KB_OP_GEMM ? U_GEMM : U_MATH;
}

/* The tensor a DMA or host data op touches, by address: the shards held
 * in memory sorted by address (a binary search when they are disjoint, as
 * placement makes them; else the lowest rowid holding it). */
typedef struct shard_iv {
	uint64_t lo, hi;
	int64_t rowid;
	char *name;
} shard_iv;

typedef struct shard_index {
	shard_iv *v;
	size_t n;
	bool disjoint;
} shard_index;

static int by_lo(const void *a, const void *b)
{
	const shard_iv *x = a, *y = b;
	return x->lo != y->lo ? (x->lo < y->lo ? -1 : 1) : (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

static void shard_index_free(shard_index *x)
{
	for (size_t k = 0; k < x->n; k++)
		free(x->v[k].name);
	free(x->v);
}

static int shard_index_load(sqlite3 *h, shard_index *x)
{
	memset(x, 0, sizeof *x);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "SELECT s.rowid, s.pa, s.nbytes, n.value FROM shards s JOIN tensors tt ON tt.id ="
				  " s.tensor_id JOIN strings n ON n.id = tt.name", -1, &st, NULL) != SQLITE_OK)
		return -1;
	size_t cap = 0;
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		int64_t pa = sqlite3_column_int64(st, 1), nbytes = sqlite3_column_int64(st, 2);
		const char *name = (const char *)sqlite3_column_text(st, 3);
		if (pa < 0 || nbytes <= 0 || nbytes > INT64_MAX - pa || !name)
			continue; /* holds no address */
		char *copy = NULL;
		if (kb_grow(&x->v, &cap, x->n + 1, sizeof *x->v, 64) || !(copy = strdup(name))) {
			rc = -1;
			break;
		}
		x->v[x->n++] = (shard_iv){(uint64_t)pa, (uint64_t)(pa + nbytes), sqlite3_column_int64(st, 0), copy};
	}
	sqlite3_finalize(st);
	if (x->n)
		qsort(x->v, x->n, sizeof *x->v, by_lo);
	x->disjoint = true;
	for (size_t k = 1; k < x->n; k++)
		if (x->v[k].lo < x->v[k - 1].hi)
			x->disjoint = false;
	return rc;
}

static const char *shard_index_find(const shard_index *x, uint64_t pa)
{
	if (x->disjoint) { /* the last shard starting at or before pa */
		size_t lo = 0, hi = x->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (x->v[mid].lo <= pa)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && pa < x->v[lo - 1].hi ? x->v[lo - 1].name : NULL;
	}
	const shard_iv *best = NULL;
	for (size_t k = 0; k < x->n && x->v[k].lo <= pa; k++)
		if (pa < x->v[k].hi && (!best || x->v[k].rowid < best->rowid))
			best = &x->v[k];
	return best ? best->name : NULL;
}

int kb_report_perfetto(kb_db *db, int64_t run, const char *path, kb_error *err)
{
	sqlite3 *h = kb_db_handle(db);
	kb_out o;
	FILE *f = kb_out_open(&o, path, err);
	if (!f)
		return -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "SELECT t.op_id, o.sip, o.cube, o.pe, o.kind, o.launch_id, t.t_start_ps, t.t_end_ps,"
				  " k.name, o.bytes, o.flops, coalesce(sh.text, ''), w.name, t.stall_ps, o.chan_id, o.chan_seq,"
				  " coalesce(ks.value, ''), CASE WHEN o.kind = ?2 THEN o.a_pa ELSE o.dst_pa END"
				  " FROM op_times t JOIN ops o ON o.id = t.op_id JOIN enum_op_kind k"
				  " ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait LEFT JOIN shapes sh ON sh.id = o.dst_shape"
				  " LEFT JOIN launches l ON l.id = o.launch_id LEFT JOIN strings ks ON ks.id = l.kernel"
				  " WHERE t.run_id = ?1 ORDER BY t.t_start_ps, t.op_id", -1, &st, NULL) != SQLITE_OK) {
		kb_out_close(&o, false, NULL);
		return kb_fail(err, "%s: %s", kb_db_path(db), sqlite3_errmsg(h));
	}
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int(st, 2, KB_OP_DMA_READ);
	shard_index shards;
	if (shard_index_load(h, &shards)) {
		shard_index_free(&shards);
		sqlite3_finalize(st);
		kb_out_close(&o, false, NULL);
		return kb_fail(err, "%s: cannot read the shards: %s", kb_db_path(db), sqlite3_errmsg(h));
	}
	int64_t n_ops = 0;
	sqlite3_stmt *c;
	if (sqlite3_prepare_v2(h, "SELECT coalesce(max(id), 0) FROM ops", -1, &c, NULL) == SQLITE_OK &&
	    sqlite3_step(c) == SQLITE_ROW)
		n_ops = sqlite3_column_int64(c, 0);
	sqlite3_finalize(c);
	flow_end *ends = NULL;
	size_t n_ends = 0, cap_ends = 0;
	kb_ptrmap tracks = {0}; /* (sip, cube, pe, unit) -> lanes */
	fprintf(f, "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n");
	bool first = true;
	int seen_sip[MAX_SIPS] = {0};
	int rc = 0;
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), launch = sqlite3_column_int64(st, 5);
		int sip = sqlite3_column_int(st, 1), cube = sqlite3_column_int(st, 2), pe = sqlite3_column_int(st, 3);
		int kind = sqlite3_column_int(st, 4), unit = unit_of(kind, launch);
		int64_t t0 = sqlite3_column_int64(st, 6), t1 = sqlite3_column_int64(st, 7);
		if (sip < 0 || sip >= MAX_SIPS || id < 1 || id > n_ops)
			continue;
		if (unit == U_HOST)
			cube = pe = 0;
		if (!seen_sip[sip]) {
			seen_sip[sip] = 1;
			fprintf(f, "%s{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %d, \"args\": {\"name\": \"sip%d\"}}",
				first ? "" : ",\n", sip, sip);
			first = false;
		}
		uint64_t key = ((uint64_t)sip << 40 | (uint64_t)(cube & 0xFFFF) << 24 | (uint64_t)(pe & 0xFFFF) << 8 | (uint64_t)unit) + 1;
		lanes *ln = kb_ptrmap_get(&tracks, key);
		if (!ln) {
			if (!(ln = calloc(1, sizeof *ln)) || kb_ptrmap_put(&tracks, key, ln)) {
				free(ln);
				rc = kb_fail(err, "out of memory");
				break;
			}
		}
		int lane = 0;
		while (lane < ln->n && ln->end[lane] > t0)
			lane++;
		if (lane == MAX_LANES)
			lane = MAX_LANES - 1;
		int tid = unit == U_HOST ? 1 + lane : 100 + ((cube * 16 + pe) * U_N + unit) * MAX_LANES + lane;
		if (lane == ln->n) { /* a new lane: name its track */
			ln->n++;
			if (unit == U_HOST)
				fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": %d, \"args\":"
					   " {\"name\": \"host%s%.0d\"}}", sip, tid, lane ? "#" : "", lane ? lane + 1 : 0);
			else
				fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": %d, \"args\":"
					   " {\"name\": \"cube%d.pe%d %s%s%.0d\"}}", sip, tid, cube, pe, unit_name[unit],
					lane ? "#" : "", lane ? lane + 1 : 0);
		}
		ln->end[lane] = t1;
		int64_t chan = sqlite3_column_int64(st, 14);
		if ((kind == KB_OP_IPCQ_SEND || kind == KB_OP_IPCQ_RECV) && chan > 0) {
			if (kb_grow(&ends, &cap_ends, n_ends + 1, sizeof *ends, 1024)) {
				rc = kb_fail(err, "out of memory");
				break;
			}
			bool recv = kind == KB_OP_IPCQ_RECV;
			ends[n_ends++] = (flow_end){chan, sqlite3_column_int64(st, 15), id, recv ? t0 : t1, sip, tid, recv};
		}
		fprintf(f, ",\n{\"ph\": \"X\", \"name\": ");
		json_string(f, (const char *)sqlite3_column_text(st, 8));
		fprintf(f, ", \"cat\": \"%s\", \"pid\": %d, \"tid\": %d, \"ts\": %.6f, \"dur\": %.6f, \"args\": {\"op\": %lld,"
			   " \"bytes\": %lld, \"flops\": %lld, \"shape\": ", unit_name[unit], sip, tid, (double)t0 / 1e6,
			(double)(t1 - t0) / 1e6, (long long)id, (long long)sqlite3_column_int64(st, 9),
			(long long)sqlite3_column_int64(st, 10));
		json_string(f, (const char *)sqlite3_column_text(st, 11));
		fprintf(f, ", \"waited_on\": ");
		json_string(f, (const char *)sqlite3_column_text(st, 12));
		fprintf(f, ", \"stall_ns\": %.3f", (double)sqlite3_column_int64(st, 13) / 1e3);
		const char *tensor = kind == KB_OP_DMA_READ || kind == KB_OP_DMA_WRITE || kind == KB_OP_HOST_WRITE ||
						     kind == KB_OP_HOST_FILL
					     ? shard_index_find(&shards, (uint64_t)sqlite3_column_int64(st, 17))
					     : NULL;
		if (tensor) {
			fprintf(f, ", \"tensor\": ");
			json_string(f, tensor);
		}
		if (launch) {
			fprintf(f, ", \"kernel\": ");
			json_string(f, (const char *)sqlite3_column_text(st, 16));
			fprintf(f, ", \"launch\": %lld", (long long)launch);
		}
		if (sqlite3_column_int64(st, 14))
			fprintf(f, ", \"channel\": %lld, \"message\": %lld", (long long)sqlite3_column_int64(st, 14),
				(long long)sqlite3_column_int64(st, 15));
		fprintf(f, "}}");
	}
	sqlite3_finalize(st);
	/* flows: send k -> recv k of each channel */
	if (!rc && n_ends)
		qsort(ends, n_ends, sizeof *ends, by_message);
	for (size_t k = 0; !rc && k + 1 < n_ends; k++) {
		const flow_end *a = &ends[k], *b = &ends[k + 1];
		if (a->recv || !b->recv || a->chan != b->chan || a->seq != b->seq)
			continue;
		fprintf(f, ",\n{\"ph\": \"s\", \"name\": \"ipcq\", \"cat\": \"ipcq\", \"id\": %lld, \"pid\": %d, \"tid\": %d,"
			   " \"ts\": %.6f}", (long long)a->op, a->sip, a->tid, (double)a->t_ps / 1e6);
		fprintf(f, ",\n{\"ph\": \"f\", \"bp\": \"e\", \"name\": \"ipcq\", \"cat\": \"ipcq\", \"id\": %lld, \"pid\": %d,"
			   " \"tid\": %d, \"ts\": %.6f}", (long long)a->op, b->sip, b->tid, (double)b->t_ps / 1e6);
	}
	free(ends);
	/* counters: the load of each link kind (kb-time's link_load series) */
	if (!rc && kb_db_has_table(db, "link_load") &&
	    sqlite3_prepare_v2(h, "SELECT kind, t_ps, gbps FROM link_load WHERE run_id = ? ORDER BY kind, t_ps", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, run);
		bool named = false;
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (!named) {
				fprintf(f, ",\n{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": 1000, \"args\": {\"name\":"
					   " \"links (GB/s per kind, all links of the kind)\"}}");
				named = true;
			}
			fprintf(f, ",\n{\"ph\": \"C\", \"name\": \"%s\", \"pid\": 1000, \"ts\": %.6f, \"args\": {\"GB/s\": %.3f}}",
				sqlite3_column_text(st, 0), (double)sqlite3_column_int64(st, 1) / 1e6, sqlite3_column_double(st, 2));
		}
		sqlite3_finalize(st);
	}
	fprintf(f, "\n]}\n");
	for (size_t i = 0; i < tracks.cap; i++)
		free(tracks.vals[i]);
	kb_ptrmap_release(&tracks);
	shard_index_free(&shards);
	if (kb_out_close(&o, !rc, err))
		rc = -1;
	return rc;
}
