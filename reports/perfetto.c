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
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

enum { U_HOST, U_DMA, U_GEMM, U_MATH, U_IPCQ, U_N };
static const char *const unit_name[U_N] = {"host", "dma", "gemm", "math", "ipcq"};
#define MAX_LANES 32
#define MAX_SIPS 16 /* the PhysAddr sip field */

typedef struct lanes {
	int64_t end[MAX_LANES];
	int named[MAX_LANES]; /* the part (from 1) whose file last named the lane's track */
	int n;
} lanes;

/* One end of an IPCQ message: a send (its end) or a recv (its start). The
 * ends are sorted by (channel, message, side) after the events are out,
 * so each send meets its recv in O(n log n), not by a join. */
typedef struct flow_end {
	int64_t chan, seq, op, t_ps;
	int32_t sip, tid;
	int16_t part;
	int16_t recv;
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

static int shard_index_load(kb_db *db, shard_index *x, kb_error *err)
{
	memset(x, 0, sizeof *x);
	kb_query *st;
	if (kb_query_open(db, "SELECT s.rowid AS id, s.pa AS pa, s.nbytes AS nbytes, n.value AS name FROM shards s"
			  " JOIN tensors tt ON tt.id = s.tensor_id JOIN strings n ON n.id = tt.name", &st, err))
		return -1;
	size_t cap = 0;
	int rc = 0, step;
	while (!rc && (step = kb_query_step(st, err)) == 1) {
		int64_t pa = kb_query_int(st, "pa"), nbytes = kb_query_int(st, "nbytes");
		const char *name = kb_query_is_null(st, "name") ? NULL : kb_query_text(st, "name");
		if (pa < 0 || nbytes <= 0 || nbytes > INT64_MAX - pa || !name)
			continue; /* holds no address */
		char *copy = NULL;
		if (kb_grow(&x->v, &cap, x->n + 1, sizeof *x->v, 64) || !(copy = strdup(name))) {
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
			break;
		}
		x->v[x->n++] = (shard_iv){(uint64_t)pa, (uint64_t)(pa + nbytes), kb_query_int(st, "id"), copy};
	}
	kb_query_close(st);
	if (!rc && step < 0)
		return -1;
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

/* Names the events use, read once: shape text by id, kernel by launch,
 * wait reason by id (the ops carry ids; joining names per row in SQL was
 * a third of an export). */
typedef struct names {
	char **shape, **kernel, *wait[16];
	int64_t n_shape, n_kernel;
} names;

static void names_free(names *x)
{
	for (int64_t k = 0; k <= x->n_shape; k++)
		free(x->shape ? x->shape[k] : NULL);
	for (int64_t k = 0; k <= x->n_kernel; k++)
		free(x->kernel ? x->kernel[k] : NULL);
	for (int k = 0; k < 16; k++)
		free(x->wait[k]);
	free(x->shape);
	free(x->kernel);
}

/* Rows (id, name) of sql into *v[1..max id]. */
static int load_names(kb_db *db, const char *sql, char ***v, int64_t *n, kb_error *err)
{
	kb_query *st;
	*v = NULL;
	*n = 0;
	if (kb_query_open(db, sql, &st, err))
		return -1;
	size_t cap = 0;
	int rc = 0, step;
	while (!rc && (step = kb_query_step(st, err)) == 1) {
		int64_t id = kb_query_int(st, "id");
		const char *t = kb_query_is_null(st, "name") ? NULL : kb_query_text(st, "name");
		if (id < 0 || id > INT32_MAX || !t)
			continue;
		size_t old = cap;
		if (kb_grow(v, &cap, (size_t)id + 1, sizeof **v, 64)) {
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
			break;
		}
		memset(*v + old, 0, (cap - old) * sizeof **v);
		free((*v)[id]);
		if (!((*v)[id] = strdup(t)))
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
		if (id > *n)
			*n = id;
	}
	kb_query_close(st);
	if (!rc && step < 0)
		rc = -1;
	if (!*v && !rc && !(*v = calloc(1, sizeof **v)))
		rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	return rc;
}

static int names_load(kb_db *db, names *x, kb_error *err)
{
	memset(x, 0, sizeof *x);
	char **w = NULL;
	int64_t n_w = 0;
	int rc = load_names(db, "SELECT id, text AS name FROM shapes", &x->shape, &x->n_shape, err) ||
		 load_names(db, "SELECT l.id AS id, s.value AS name FROM launches l JOIN strings s ON s.id = l.kernel",
			    &x->kernel, &x->n_kernel, err) ||
		 load_names(db, "SELECT id, name FROM enum_wait WHERE id BETWEEN 0 AND 15", &w, &n_w, err);
	for (int64_t k = 0; w && k <= n_w; k++)
		x->wait[k] = w[k];
	free(w);
	return rc ? -1 : 0;
}

static const char *name_of(char *const *v, int64_t n, int64_t id)
{
	return id >= 0 && id <= n && v[id] ? v[id] : "";
}

/* The output: one file, or parts of at most `split` ops each in time
 * order (PATH without ".json", then ".001.json", ...). Every part is
 * written to a temporary and renamed only when all are whole. */
enum { MAX_PARTS = 256 };

typedef struct part {
	kb_out out;
	jbuf j;
	int64_t t_first; /* the start of its first op */
} part;

/* What pass 1 learns of an op, by id: its track and file. */
typedef struct placed {
	int32_t tid;
	int32_t part;   /* -1: not in the run */
} placed;

typedef struct p1row {
	int64_t t0, t1, id;
	uint64_t key; /* sip, cube, pe, unit */
} p1row;

static int by_start(const void *a, const void *b)
{
	const p1row *x = a, *y = b;
	if (x->t0 != y->t0)
		return x->t0 < y->t0 ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int parts_open(part *pt, int n, const char *path, bool split, kb_error *err)
{
	for (int k = 0; k < n; k++) {
		char name[4200];
		size_t len = strlen(path);
		if (len > 5 && strcmp(path + len - 5, ".json") == 0)
			len -= 5;
		if (split)
			snprintf(name, sizeof name, "%.*s.%03d.json", (int)len, path, k + 1);
		else
			snprintf(name, sizeof name, "%s", path);
		if (!kb_out_open(&pt[k].out, name, err))
			return -1;
		pt[k].j.f = pt[k].out.f;
		pt[k].j.n = 0;
		reports__jb_raw(&pt[k].j, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n{\"ph\":\"M\",\"name\":\"process_name\","
				 "\"pid\":1000,\"args\":{\"name\":\"links (GB/s per kind, all links of the kind)\"}}");
	}
	return 0;
}

/* Closes every part: all renamed into place when ok, else all dropped. */
static int parts_close(part *pt, int n, bool ok, kb_error *err)
{
	int rc = ok ? 0 : -1, renamed = 0;
	for (int k = 0; k < n; k++) {
		if (!pt[k].out.f)
			continue;
		reports__jb_raw(&pt[k].j, "\n]}\n");
		reports__jb_flush(&pt[k].j);
		if (kb_out_close(&pt[k].out, ok && !rc, rc ? NULL : err))
			rc = -1;
		else if (ok && !rc)
			renamed++;
	}
	for (int k = 0; rc && k < renamed; k++) /* a later part failed: the parts are a set, none stays */
		unlink(pt[k].out.path);
	return rc;
}

/* Pass 1: every op of the run in time order, as Perfetto's tracks see
 * them: its lane on its unit's track, its file, and the names each file
 * needs (a process per SIP, a thread per lane), written at once. */
static int place_ops(kb_db *db, int64_t run, int64_t max_id, int64_t split, placed *at, part **parts_out,
		     int *n_parts, const char *path, kb_progress *progress, kb_error *err)
{
	kb_query *st;
	if (kb_query_open(db, "SELECT t.op_id AS op_id, t.t_start_ps AS t_start_ps, t.t_end_ps AS t_end_ps, o.sip AS sip,"
			  " o.cube AS cube, o.pe AS pe, o.kind AS kind, o.launch_id AS launch_id"
			  " FROM op_times t JOIN ops o ON o.id = t.op_id WHERE t.run_id = :run", &st, err))
		return -1;
	kb_query_bind_int(st, ":run", run);
	const int c_id = kb_query_col(st, "op_id"), c_start = kb_query_col(st, "t_start_ps"),
		  c_end = kb_query_col(st, "t_end_ps"), c_sip = kb_query_col(st, "sip"), c_cube = kb_query_col(st, "cube"),
		  c_pe = kb_query_col(st, "pe"), c_kind = kb_query_col(st, "kind"), c_launch = kb_query_col(st, "launch_id");
	p1row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	kb_progress_begin(progress, "perfetto: place", "ops", max_id);
	int step;
	while (!rc && (step = kb_query_step(st, err)) == 1) {
		kb_progress_tick(progress, (int64_t)n);
		int64_t id = kb_query_int_at(st, c_id), launch = kb_query_int_at(st, c_launch);
		int sip = (int)kb_query_int_at(st, c_sip), cube = (int)kb_query_int_at(st, c_cube),
		    pe = (int)kb_query_int_at(st, c_pe);
		int kind = (int)kb_query_int_at(st, c_kind), unit = unit_of(kind, launch);
		if (sip < 0 || sip >= MAX_SIPS || id < 1 || id > max_id || kind <= KB_OP_NONE || kind >= KB_OP_KIND_COUNT)
			continue;
		if (unit == U_HOST)
			cube = pe = 0;
		if (kb_grow(&rows, &cap, n + 1, sizeof *rows, 4096)) {
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
			break;
		}
		rows[n++] = (p1row){kb_query_int_at(st, c_start), kb_query_int_at(st, c_end), id,
				    (uint64_t)sip << 40 | (uint64_t)(cube & 0xFFFF) << 24 | (uint64_t)(pe & 0xFFFF) << 8 |
					    (uint64_t)unit};
	}
	kb_query_close(st);
	if (!rc && step < 0)
		rc = -1;
	int np = split ? (int)((n + (size_t)split - 1) / (size_t)split) : 1;
	if (!rc && np > MAX_PARTS)
		rc = kb_fail(err, "--perfetto-split %lld makes %d files of the run's %zu ops, over %d: choose a larger split",
			     (long long)split, np, n, MAX_PARTS);
	part *pt = rc ? NULL : calloc((size_t)(np ? np : 1), sizeof *pt);
	if (!rc && !pt)
		rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (!rc && n)
		qsort(rows, n, sizeof *rows, by_start);
	if (!rc)
		rc = parts_open(pt, np ? np : 1, path, split > 0, err);
	kb_ptrmap tracks = {0}; /* key -> lanes */
	int seen_sip[MAX_SIPS] = {0}; /* the part (from 1) that named it */
	char line[256];
	for (size_t i = 0; !rc && i < n; i++) {
		const p1row *r = &rows[i];
		int k = split ? (int)(i / (size_t)split) : 0;
		jbuf *j = &pt[k].j;
		if (i == 0 || (split && i % (size_t)split == 0))
			pt[k].t_first = r->t0;
		int sip = (int)(r->key >> 40), cube = (int)(r->key >> 24 & 0xFFFF), pe = (int)(r->key >> 8 & 0xFFFF);
		int unit = (int)(r->key & 0xFF);
		if (seen_sip[sip] != k + 1) {
			seen_sip[sip] = k + 1;
			snprintf(line, sizeof line, ",\n{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"args\":{\"name\":\"sip%d\"}}",
				 sip, sip);
			reports__jb_raw(j, line);
		}
		lanes *ln = kb_ptrmap_get(&tracks, r->key + 1);
		if (!ln && (!(ln = calloc(1, sizeof *ln)) || kb_ptrmap_put(&tracks, r->key + 1, ln))) {
			free(ln);
			rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
			break;
		}
		int lane = 0;
		while (lane < ln->n && ln->end[lane] > r->t0)
			lane++;
		if (lane == MAX_LANES)
			lane = MAX_LANES - 1;
		int tid = unit == U_HOST ? 1 + lane : 100 + ((cube * 16 + pe) * U_N + unit) * MAX_LANES + lane;
		if (lane == ln->n)
			ln->n++;
		if (ln->named[lane] != k + 1) { /* each file names the tracks it uses */
			ln->named[lane] = k + 1;
			if (unit == U_HOST)
				snprintf(line, sizeof line, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
					 "\"args\":{\"name\":\"host%s%.0d\"}}", sip, tid, lane ? "#" : "", lane ? lane + 1 : 0);
			else
				snprintf(line, sizeof line, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
					 "\"args\":{\"name\":\"cube%d.pe%d %s%s%.0d\"}}", sip, tid, cube, pe, unit_name[unit],
					 lane ? "#" : "", lane ? lane + 1 : 0);
			reports__jb_raw(j, line);
		}
		ln->end[lane] = r->t1;
		at[r->id] = (placed){tid, k};
	}
	for (size_t i = 0; i < tracks.cap; i++)
		free(tracks.vals[i]);
	kb_ptrmap_release(&tracks);
	free(rows);
	if (rc && pt) {
		parts_close(pt, np ? np : 1, false, NULL);
		free(pt);
		return -1;
	}
	*parts_out = pt;
	*n_parts = np ? np : 1;
	return rc;
}

/* The part whose time window holds t (parts run in time order). */
static part *part_at(part *pt, int n, int64_t t)
{
	int k = n - 1;
	while (k > 0 && pt[k].t_first > t)
		k--;
	return &pt[k];
}

/* The trace's ranges (kb_range_push, an imported Chakra node) as slices
 * on their rank's "ranges" tracks, from their first op's start to their
 * last op's end in this run: a range that overlaps one still open (a
 * sibling running at the same time, or its parent) takes the next lane. */
static int ranges(kb_db *db, int64_t run, part *pt, int np, kb_error *err)
{
	if (!kb_db_has_table(db, "ranges"))
		return 0;
	kb_query *st;
	if (kb_query_open(db, "SELECT r.rank AS rank, s.value AS label, t0, t1 FROM (SELECT r.id, r.rank, r.label,"
			  " (SELECT min(t.t_start_ps) FROM op_times t WHERE t.run_id = :run AND t.op_id >= r.first_op_id"
			  " AND t.op_id < r.end_op_id) AS t0, (SELECT max(t.t_end_ps) FROM op_times t WHERE t.run_id = :run"
			  " AND t.op_id >= r.first_op_id AND t.op_id < r.end_op_id) AS t1 FROM ranges r) r"
			  " JOIN strings s ON s.id = r.label WHERE t0 IS NOT NULL ORDER BY t0, r.id", &st, err))
		return -1;
	kb_query_bind_int(st, ":run", run);
	static int64_t end[MAX_SIPS][MAX_LANES];
	static int named[MAX_SIPS][MAX_LANES];
	memset(end, 0, sizeof end);
	memset(named, 0, sizeof named);
	int rc;
	char line[200];
	while ((rc = kb_query_step(st, err)) == 1) {
		int64_t rank = kb_query_int(st, "rank"), t0 = kb_query_int(st, "t0"), t1 = kb_query_int(st, "t1");
		if (rank < 0 || rank >= MAX_SIPS || t1 < t0)
			continue;
		int lane = 0;
		while (lane < MAX_LANES - 1 && end[rank][lane] > t0)
			lane++;
		end[rank][lane] = t1;
		part *p = part_at(pt, np, t0);
		int k = (int)(p - pt) + 1, tid = 60 + lane;
		jbuf *j = &p->j;
		if (named[rank][lane] != k) { /* each file names the tracks it uses */
			named[rank][lane] = k;
			snprintf(line, sizeof line, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
				 "\"args\":{\"name\":\"ranges%s%.0d\"}}", (int)rank, tid, lane ? "#" : "", lane ? lane + 1 : 0);
			reports__jb_raw(j, line);
		}
		reports__jb_raw(j, ",\n{\"ph\":\"X\",\"cat\":\"range\",\"name\":");
		reports__jb_str(j, kb_query_text(st, "label"));
		snprintf(line, sizeof line, ",\"pid\":%d,\"tid\":%d,\"ts\":", (int)rank, tid);
		reports__jb_raw(j, line);
		reports__jb_ps_us(j, t0);
		reports__jb_raw(j, ",\"dur\":");
		reports__jb_ps_us(j, t1 - t0);
		reports__jb_raw(j, "}");
	}
	kb_query_close(st);
	return rc < 0 ? -1 : 0;
}

int kb_report_perfetto(kb_db *db, int64_t run, const char *path, int64_t split, kb_progress *progress,
		       kb_error *err)
{
	int64_t max_id = 0;
	if (kb_query_int_value(db, "SELECT max(id) FROM ops", 0, &max_id, err))
		return -1;
	placed *at = malloc(((size_t)max_id + 1) * sizeof *at);
	if (!at)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory for %lld ops", (long long)max_id);
	memset(at, 0xFF, ((size_t)max_id + 1) * sizeof *at); /* part -1: not placed */
	part *pt = NULL;
	int np = 0;
	if (place_ops(db, run, max_id, split > 0 ? split : 0, at, &pt, &np, path, progress, err)) {
		free(at);
		return -1;
	}
	/* pass 2: the events in id order (the viewer sorts them), each into its file */
	shard_index shards = {0};
	names nm = {0};
	int rc = 0;
	kb_query *st = NULL;
	kb_error e = {0};
	if (shard_index_load(db, &shards, &e) || names_load(db, &nm, &e) ||
	    kb_query_open(db, "SELECT t.op_id AS op_id, o.sip AS sip, o.kind AS kind, o.launch_id AS launch_id,"
			  " t.t_start_ps AS t_start_ps, t.t_end_ps AS t_end_ps, o.bytes AS bytes, o.flops AS flops,"
			  " o.dst_shape AS dst_shape, t.wait AS wait, t.stall_ps AS stall_ps, o.chan_id AS chan_id,"
			  " o.chan_seq AS chan_seq, CASE WHEN o.kind = :dma_read THEN o.a_pa ELSE o.dst_pa END AS memory_pa"
			  " FROM op_times t JOIN ops o ON o.id = t.op_id WHERE t.run_id = :run", &st, &e)) {
		rc = kb_fail_status(err, e.status, "%s: cannot read the run: %s", kb_db_path(db), e.msg);
		st = NULL;
	}
	int c_id = 0, c_sip = 0, c_kind = 0, c_launch = 0, c_start = 0, c_end = 0, c_bytes = 0, c_flops = 0, c_shape = 0,
	    c_wait = 0, c_stall = 0, c_chan = 0, c_seq = 0, c_pa = 0;
	if (st) {
		kb_query_bind_int(st, ":run", run);
		kb_query_bind_int(st, ":dma_read", KB_OP_DMA_READ);
		c_id = kb_query_col(st, "op_id"), c_sip = kb_query_col(st, "sip"), c_kind = kb_query_col(st, "kind");
		c_launch = kb_query_col(st, "launch_id"), c_start = kb_query_col(st, "t_start_ps");
		c_end = kb_query_col(st, "t_end_ps"), c_bytes = kb_query_col(st, "bytes"), c_flops = kb_query_col(st, "flops");
		c_shape = kb_query_col(st, "dst_shape"), c_wait = kb_query_col(st, "wait");
		c_stall = kb_query_col(st, "stall_ps"), c_chan = kb_query_col(st, "chan_id");
		c_seq = kb_query_col(st, "chan_seq"), c_pa = kb_query_col(st, "memory_pa");
	}
	flow_end *ends = NULL;
	size_t n_ends = 0, cap_ends = 0;
	kb_progress_begin(progress, "perfetto: write", "ops", max_id);
	int step = 0;
	while (!rc && (step = kb_query_step(st, err)) == 1) {
		int64_t id = kb_query_int_at(st, c_id), launch = kb_query_int_at(st, c_launch);
		kb_progress_tick(progress, id);
		if (id < 1 || id > max_id || at[id].part < 0)
			continue;
		int sip = (int)kb_query_int_at(st, c_sip), kind = (int)kb_query_int_at(st, c_kind), unit = unit_of(kind, launch);
		int64_t t0 = kb_query_int_at(st, c_start), t1 = kb_query_int_at(st, c_end);
		jbuf *j = &pt[at[id].part].j;
		int64_t chan = kb_query_int_at(st, c_chan), seq = kb_query_int_at(st, c_seq);
		if ((kind == KB_OP_IPCQ_SEND || kind == KB_OP_IPCQ_RECV) && chan > 0) {
			if (kb_grow(&ends, &cap_ends, n_ends + 1, sizeof *ends, 1024)) {
				rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
				break;
			}
			bool recv = kind == KB_OP_IPCQ_RECV;
			ends[n_ends++] = (flow_end){chan, seq, id, recv ? t0 : t1, sip, at[id].tid,
						    at[id].part, recv};
		}
		reports__jb_raw(j, ",\n{\"ph\":\"X\",\"name\":\"");
		reports__jb_raw(j, kb_op_kind_name(kind));
		reports__jb_raw(j, "\",\"cat\":\"");
		reports__jb_raw(j, unit_name[unit]);
		reports__jb_raw(j, "\",\"pid\":");
		reports__jb_int(j, sip);
		reports__jb_raw(j, ",\"tid\":");
		reports__jb_int(j, at[id].tid);
		reports__jb_raw(j, ",\"ts\":");
		reports__jb_ps_us(j, t0);
		reports__jb_raw(j, ",\"dur\":");
		reports__jb_ps_us(j, t1 - t0);
		reports__jb_raw(j, ",\"args\":{\"op\":");
		reports__jb_int(j, id);
		reports__jb_raw(j, ",\"bytes\":");
		reports__jb_int(j, kb_query_int_at(st, c_bytes));
		reports__jb_raw(j, ",\"flops\":");
		reports__jb_int(j, kb_query_int_at(st, c_flops));
		reports__jb_raw(j, ",\"shape\":");
		reports__jb_str(j, name_of(nm.shape, nm.n_shape, kb_query_int_at(st, c_shape)));
		reports__jb_raw(j, ",\"waited_on\":");
		int64_t wait = kb_query_int_at(st, c_wait);
		reports__jb_str(j, wait >= 0 && wait < 16 && nm.wait[wait] ? nm.wait[wait] : "");
		reports__jb_raw(j, ",\"stall_ns\":");
		reports__jb_ps_us(j, kb_query_int_at(st, c_stall) * 1000); /* ns with 3 decimals */
		const char *tensor = kind == KB_OP_DMA_READ || kind == KB_OP_DMA_WRITE || kind == KB_OP_HOST_WRITE ||
						     kind == KB_OP_HOST_FILL
					     ? shard_index_find(&shards, (uint64_t)kb_query_int_at(st, c_pa))
					     : NULL;
		if (tensor) {
			reports__jb_raw(j, ",\"tensor\":");
			reports__jb_str(j, tensor);
		}
		if (launch) {
			reports__jb_raw(j, ",\"kernel\":");
			reports__jb_str(j, name_of(nm.kernel, nm.n_kernel, launch));
			reports__jb_raw(j, ",\"launch\":");
			reports__jb_int(j, launch);
		}
		if (chan) {
			reports__jb_raw(j, ",\"channel\":");
			reports__jb_int(j, chan);
			reports__jb_raw(j, ",\"message\":");
			reports__jb_int(j, seq);
		}
		reports__jb_raw(j, "}}");
	}
	kb_query_close(st);
	if (!rc && step < 0)
		rc = -1;
	/* flows: send k -> recv k of each channel, in the send's file when the
	 * recv is in it too (an arrow between two files draws in neither) */
	if (!rc && n_ends)
		qsort(ends, n_ends, sizeof *ends, by_message);
	for (size_t k = 0; !rc && k + 1 < n_ends; k++) {
		const flow_end *a = &ends[k], *b = &ends[k + 1];
		if (a->recv || !b->recv || a->chan != b->chan || a->seq != b->seq || a->part != b->part)
			continue;
		jbuf *j = &pt[a->part].j;
		for (int side = 0; side < 2; side++) {
			const flow_end *e = side ? b : a;
			reports__jb_raw(j, side ? ",\n{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"ipcq\",\"cat\":\"ipcq\",\"id\":"
				       : ",\n{\"ph\":\"s\",\"name\":\"ipcq\",\"cat\":\"ipcq\",\"id\":");
			reports__jb_int(j, a->op);
			reports__jb_raw(j, ",\"pid\":");
			reports__jb_int(j, e->sip);
			reports__jb_raw(j, ",\"tid\":");
			reports__jb_int(j, e->tid);
			reports__jb_raw(j, ",\"ts\":");
			reports__jb_ps_us(j, e->t_ps);
			reports__jb_raw(j, "}");
		}
	}
	free(ends);
	/* counters: the load of each link kind (kb-time's link_load series), each in the file of its time */
	if (!rc && kb_db_has_table(db, "link_load") &&
	    kb_query_open(db, "SELECT kind, t_ps, gbps FROM link_load WHERE run_id = :run ORDER BY kind, t_ps", &st,
			  &e) == 0) {
		kb_query_bind_int(st, ":run", run);
		char line[96];
		while (kb_query_step(st, &e) == 1) {
			int64_t t = kb_query_int(st, "t_ps");
			jbuf *j = &part_at(pt, np, t)->j;
			reports__jb_raw(j, ",\n{\"ph\":\"C\",\"name\":");
			reports__jb_str(j, kb_query_text(st, "kind"));
			reports__jb_raw(j, ",\"pid\":1000,\"ts\":");
			reports__jb_ps_us(j, t);
			snprintf(line, sizeof line, ",\"args\":{\"GB/s\":%.3f}}", kb_query_double(st, "gbps"));
			reports__jb_raw(j, line);
		}
		kb_query_close(st);
	}
	if (!rc)
		rc = ranges(db, run, pt, np, err);
	shard_index_free(&shards);
	names_free(&nm);
	free(at);
	rc = parts_close(pt, np, !rc, err) ? -1 : 0;
	free(pt);
	return rc;
}
