/*
 * diff.c — kb-diff: what changed between two traces (or two runs of one).
 *
 * Structural: effective config keys (topology and ccl), bench parameters,
 * op counts per kind / range / kernel, and the first divergence of each op
 * stream — ops aligned by stream (a PE, or a rank's host stream) and
 * sequence number, never by id, compared by kind, shapes, bytes, flops and
 * attributes (not addresses, which move whenever an allocation does).
 * Timing: ranges, kernels, collectives and totals (absolute and %), and
 * the links whose load or stall changed most. The op streams are merged
 * from two cursors in (stream, seq) order: neither trace is held in memory.
 */
#include "reports.h"
#include "reports_int.h"

#include <stdlib.h>
#include <string.h>

/* Items of a meta value ("key: value  # unit" lines, or "k=v" words when
 * sep is ' ') into temp.<table> as side's rows. */
static int fill_kv(kb_db *db, const char *side, char *text, const char *table, char sep, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "INSERT INTO temp.%s VALUES(:side, :key, :value)", table);
	kb_query *st;
	if (kb_query_open(db, sql, &st, err))
		return -1;
	int rc = 0;
	for (char *item = text, *next; !rc && item && *item; item = next) {
		next = strchr(item, sep == ' ' ? ' ' : '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(item, sep == ' ' ? '=' : ':');
		if (!eq)
			continue;
		*eq = '\0';
		char *v = eq + 1;
		while (*v == ' ')
			v++;
		char *hash = strstr(v, "  #");
		if (hash)
			*hash = '\0';
		kb_query_bind_text(st, ":side", side);
		kb_query_bind_text(st, ":key", item);
		kb_query_bind_text(st, ":value", v);
		rc = kb_query_step(st, err) < 0 ? -1 : 0;
		kb_query_reset(st);
	}
	kb_query_close(st);
	return rc;
}

static int meta_kv(kb_db *h, kb_db *a, kb_db *b, const char *meta, const char *table, char sep, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "CREATE TEMP TABLE IF NOT EXISTS %s(side TEXT, key TEXT, value TEXT)", table);
	if (kb_db_exec(h, sql, err))
		return -1;
	char *va = kb_db_meta_get(a, meta), *vb = kb_db_meta_get(b, meta);
	int rc = fill_kv(h, "a", va, table, sep, err) || fill_kv(h, "b", vb, table, sep, err);
	free(va);
	free(vb);
	return rc;
}

/* The two sides of a diff: the schema each trace is attached as on one
 * connection, and its run. Queries written once take the side's schema
 * as %1$s. */
typedef struct side {
	const char *schema, *name; /* "main" / "b"; "a" / "b" */
	int64_t run;
} side;

/* A run's label and effective topology (the keys kb-time ran with) into
 * temp.kv_run as the side's rows. */
static int run_kv(kb_db *h, const side *sd, char *label, size_t cap, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT label, topology_effective FROM %s.timing_runs WHERE id = :run", sd->schema);
	kb_query *st;
	if (kb_db_exec(h, "CREATE TEMP TABLE IF NOT EXISTS kv_run(side TEXT, key TEXT, value TEXT)", err) ||
	    kb_query_open(h, sql, &st, err))
		return -1;
	kb_query_bind_int(st, ":run", sd->run);
	char *text = NULL;
	int step = kb_query_step(st, err);
	if (step == 1) {
		snprintf(label, cap, "%s", kb_query_text(st, "label"));
		text = strdup(kb_query_text(st, "topology_effective"));
	}
	kb_query_close(st);
	if (step < 0)
		return -1;
	int rc = text ? fill_kv(h, sd->name, text, "kv_run", ':', err)
		      : kb_fail(err, "diff: run %lld vanished", (long long)sd->run);
	free(text);
	return rc;
}

/* Op counts by kind of both sides into temp.kinds(side, name, n). */
static int kind_counts(kb_db *h, const int64_t *a, const int64_t *b, kb_error *err)
{
	kb_query *st;
	if (kb_db_exec(h, "CREATE TEMP TABLE kinds(side INTEGER, name TEXT, n INTEGER)", err) ||
	    kb_query_open(h, "INSERT INTO temp.kinds VALUES(:side, :name, :n)", &st, err))
		return -1;
	int rc = 0;
	for (int side = 0; side < 2; side++)
		for (int k = 1; !rc && k < KB_OP_KIND_COUNT; k++) {
			kb_query_bind_int(st, ":side", side);
			kb_query_bind_text(st, ":name", kb_op_kind_name((kb_op_kind)k));
			kb_query_bind_int(st, ":n", (side ? b : a)[k]);
			rc = kb_query_step(st, err) < 0 ? -1 : 0;
			kb_query_reset(st);
		}
	kb_query_close(st);
	return rc;
}

/* ---- op streams ---- */

/* Where stream_sql's columns are (the same for both sides). */
typedef struct stream_cols {
	int sip, cube, pe, seq, kind, shapes, bytes, flops, attr, id, imm, checksum;
} stream_cols;

typedef struct cursor {
	kb_query *st;
	const stream_cols *col;
	bool done;
	int64_t sip, cube, pe, seq;
} cursor;

static const char stream_sql[] =
	"SELECT o.sip AS sip, CASE WHEN o.launch_id = 0 THEN -1 ELSE o.cube END AS c,"
	" CASE WHEN o.launch_id = 0 THEN -1 ELSE o.pe END AS p, o.seq AS seq, k.name AS kind,"
	" CASE WHEN x.text IS NULL THEN coalesce(d.text, '-') ELSE coalesce(d.text, '-') || ' <- ' || x.text"
	" || coalesce(', ' || y.text, '') END AS shapes, o.bytes AS bytes, o.flops AS flops, o.attr AS attr, o.id AS id,"
	" o.imm AS imm, coalesce(bl.checksum, 0) AS checksum"
	" FROM %1$s.ops o JOIN %1$s.enum_op_kind k ON k.id = o.kind LEFT JOIN %1$s.shapes d ON d.id = o.dst_shape"
	" LEFT JOIN %1$s.shapes x ON x.id = o.a_shape LEFT JOIN %1$s.shapes y ON y.id = o.b_shape"
	" LEFT JOIN %1$s.blobs bl ON bl.id = o.blob_id ORDER BY o.sip, c, p, o.seq, o.id";

static void stream_cols_find(const kb_query *q, stream_cols *c)
{
	*c = (stream_cols){kb_query_col(q, "sip"), kb_query_col(q, "c"), kb_query_col(q, "p"), kb_query_col(q, "seq"),
			   kb_query_col(q, "kind"), kb_query_col(q, "shapes"), kb_query_col(q, "bytes"),
			   kb_query_col(q, "flops"), kb_query_col(q, "attr"), kb_query_col(q, "id"),
			   kb_query_col(q, "imm"), kb_query_col(q, "checksum")};
}

/* The next op of c; -1 with err when the read fails. */
static int advance(cursor *c, kb_error *err)
{
	int rc = kb_query_step(c->st, err);
	if (rc != 1) {
		c->done = true;
		return rc;
	}
	c->sip = kb_query_int_at(c->st, c->col->sip);
	c->cube = kb_query_int_at(c->st, c->col->cube);
	c->pe = kb_query_int_at(c->st, c->col->pe);
	c->seq = kb_query_int_at(c->st, c->col->seq);
	return 0;
}

static int cmp_stream(const cursor *a, const cursor *b)
{
	if (a->sip != b->sip)
		return a->sip < b->sip ? -1 : 1;
	if (a->cube != b->cube)
		return a->cube < b->cube ? -1 : 1;
	if (a->pe != b->pe)
		return a->pe < b->pe ? -1 : 1;
	return 0;
}

static void describe(const cursor *c, char *buf, size_t cap)
{
	if (c->done) {
		snprintf(buf, cap, "(stream ends)");
		return;
	}
	const stream_cols *k = c->col;
	int64_t sum = kb_query_int_at(c->st, k->checksum);
	char data[40] = "";
	if (sum)
		snprintf(data, sizeof data, ", data %016llx", (unsigned long long)sum);
	snprintf(buf, cap, "op %lld %s %s, %lld B, %lld flops, attr %lld, imm %.9g%s",
		 (long long)kb_query_int_at(c->st, k->id), kb_query_text_at(c->st, k->kind),
		 kb_query_text_at(c->st, k->shapes), (long long)kb_query_int_at(c->st, k->bytes),
		 (long long)kb_query_int_at(c->st, k->flops), (long long)kb_query_int_at(c->st, k->attr),
		 kb_query_double_at(c->st, k->imm), data);
}

/* Kind, shapes, bytes, flops, attr, the immediate (bit for bit) and the
 * host data's checksum. */
static bool same_op(const cursor *a, const cursor *b)
{
	const stream_cols *k = a->col;
	int text[] = {k->kind, k->shapes}, ints[] = {k->bytes, k->flops, k->attr, k->checksum};
	for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
		if (strcmp(kb_query_text_at(a->st, text[i]), kb_query_text_at(b->st, text[i])) != 0)
			return false;
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (kb_query_int_at(a->st, ints[i]) != kb_query_int_at(b->st, ints[i]))
			return false;
	double x = kb_query_double_at(a->st, k->imm), y = kb_query_double_at(b->st, k->imm);
	return memcmp(&x, &y, sizeof x) == 0;
}

static void stream_name(int64_t sip, int64_t cube, int64_t pe, char *buf, size_t cap)
{
	if (cube < 0)
		snprintf(buf, cap, "sip%lld.host", (long long)sip);
	else
		snprintf(buf, cap, "sip%lld.cube%lld.pe%lld", (long long)sip, (long long)cube, (long long)pe);
}

/* One row of temp.div. */
static int div_row(kb_query *ins, const char *stream, int64_t seq, const char *a, const char *b, kb_error *err)
{
	kb_query_bind_text(ins, ":stream", stream);
	kb_query_bind_int(ins, ":seq", seq);
	kb_query_bind_text(ins, ":a", a);
	kb_query_bind_text(ins, ":b", b);
	int rc = kb_query_step(ins, err);
	kb_query_reset(ins);
	return rc < 0 ? -1 : 0;
}

/* "first and N more": the streams a folded row stands for. */
static void folded_name(char *buf, size_t cap, const char *first, int64_t n)
{
	snprintf(buf, cap, n > 1 ? "%s and %lld more" : "%s", first, (long long)n - 1);
}

static int divergence(kb_db *h, const side sd[2], kb_progress *progress, kb_error *err)
{
	if (kb_db_exec(h, "CREATE TEMP TABLE div(stream TEXT, seq INTEGER, a TEXT, b TEXT)", err))
		return -1;
	char sql[1024];
	cursor cur[2] = {{0}, {0}};
	stream_cols cols;
	kb_query *ins = NULL;
	int rc = 0;
	for (int k = 0; k < 2 && !rc; k++) {
		snprintf(sql, sizeof sql, stream_sql, sd[k].schema);
		rc = kb_query_open(h, sql, &cur[k].st, err);
		cur[k].col = &cols;
	}
	if (!rc) {
		stream_cols_find(cur[0].st, &cols);
		rc = kb_query_open(h, "INSERT INTO temp.div VALUES(:stream, :seq, :a, :b)", &ins, err);
	}
	cursor *a = &cur[0], *b = &cur[1];
	/* streams only one side has, and streams one side ends early:
	 * counted, then one row per side for each */
	int64_t only[2] = {0, 0}, ended[2] = {0, 0}, ended_seq[2] = {0, 0};
	char only_first[2][64] = {"", ""}, ended_first[2][64] = {"", ""}, ended_op[2][400];
	rc = rc || advance(a, err) || advance(b, err);
	int64_t walked = 0;
	kb_progress_begin(progress, "compare op streams", "ops", 0);
	while (!rc && (!a->done || !b->done)) {
		int c = a->done ? 1 : b->done ? -1 : cmp_stream(a, b);
		cursor *lead = c <= 0 ? a : b;
		int64_t sip = lead->sip, cube = lead->cube, pe = lead->pe;
		bool ina0 = !a->done && a->sip == sip && a->cube == cube && a->pe == pe;
		bool inb0 = !b->done && b->sip == sip && b->cube == cube && b->pe == pe;
		bool reported = !ina0 || !inb0;
		if (reported) {
			int side = ina0 ? 0 : 1;
			if (!only[side]++)
				stream_name(sip, cube, pe, only_first[side], sizeof only_first[side]);
		}
		/* walk this stream on both sides */
		while (!rc) {
			bool ina = !a->done && a->sip == sip && a->cube == cube && a->pe == pe;
			bool inb = !b->done && b->sip == sip && b->cube == cube && b->pe == pe;
			if (!ina && !inb)
				break;
			if (!reported && (!ina || !inb)) { /* one side's stream ends early: counted, one row per side */
				int side = ina ? 1 : 0; /* the side that ended */
				if (!ended[side]++) {
					stream_name(sip, cube, pe, ended_first[side], sizeof ended_first[side]);
					ended_seq[side] = ina ? a->seq : b->seq;
					describe(ina ? a : b, ended_op[side], sizeof ended_op[side]);
				}
				reported = true;
			}
			if (!reported && !same_op(a, b)) {
				char da[400], db_[400], name[64];
				cursor ea = *a, eb = *b;
				ea.done = !ina;
				eb.done = !inb;
				describe(&ea, da, sizeof da);
				describe(&eb, db_, sizeof db_);
				stream_name(sip, cube, pe, name, sizeof name);
				rc = div_row(ins, name, ina ? a->seq : b->seq, da, db_, err);
				reported = true;
			}
			if (!rc && ina)
				rc = advance(a, err);
			if (!rc && inb)
				rc = advance(b, err);
			kb_progress_tick(progress, ++walked);
		}
	}
	char name[160], what[96];
	for (int side = 0; side < 2 && !rc; side++) {
		if (!ended[side])
			continue;
		folded_name(name, sizeof name, ended_first[side], ended[side]);
		snprintf(what, sizeof what, "(stream ends: %lld stream%s end%s before the other side's)",
			 (long long)ended[side], ended[side] > 1 ? "s" : "", ended[side] > 1 ? "" : "s");
		rc = div_row(ins, name, ended_seq[side], side ? ended_op[side] : what, side ? what : ended_op[side], err);
	}
	for (int side = 0; side < 2 && !rc; side++) {
		if (!only[side])
			continue;
		folded_name(name, sizeof name, only_first[side], only[side]);
		snprintf(what, sizeof what, "%lld stream%s only here", (long long)only[side], only[side] > 1 ? "s" : "");
		rc = div_row(ins, name, 0, side ? "(no such stream)" : what, side ? what : "(no such stream)", err);
	}
	kb_query_close(a->st);
	kb_query_close(b->st);
	kb_query_close(ins);
	return rc ? -1 : 0;
}

/* A range's row name: its label and rank, and which occurrence of that
 * label on that rank it is when the label repeats ("step #2 (rank 0)"). */
#define RANGE_NAME \
	"SELECT s.value || CASE WHEN count(*) OVER (PARTITION BY r.label, r.rank) > 1 THEN ' #' ||" \
	" row_number() OVER (PARTITION BY r.label, r.rank ORDER BY r.id) ELSE '' END || ' (rank ' || r.rank || ')' AS n"
#define RANGE_FROM " FROM %1$s.ranges r JOIN %1$s.strings s ON s.id = r.label"

static const char *const cfg_cols[] = {"key", "a", "b"};
static const char *const count_cols[] = {"name", "a", "b", "delta"};
static const char *const div_cols[] = {"stream", "seq", "a", "b"};
static const char *const dt_cols[] = {"name", "a_ps", "b_ps", "delta_ps", "delta_pct"};
static const char *const link_cols[] = {"link", "a_bytes", "b_bytes", "a_busy_ps", "b_busy_ps", "a_stall_ps",
					"b_stall_ps"};

/* Side a's and side b's query from one text (%1$s the side's schema,
 * %2$lld its run), compared by outer (%1$s = a's, %2$s = b's). */
static int compare(rtable *t, kb_db *h, const side sd[2], const char *side_sql, const char *outer, kb_error *err)
{
	char q[2][1536], sql[4096];
	for (int k = 0; k < 2; k++)
		snprintf(q[k], sizeof q[k], side_sql, sd[k].schema, (long long)sd[k].run);
	snprintf(sql, sizeof sql, outer, q[0], q[1]);
	return reports__rtable_query(t, h, sql, 0, 0, err);
}

int kb_diff(FILE *out, kb_db *a, kb_db *b, const kb_diff_options *o, bool *differ, kb_error *err)
{
	*differ = false;
	int64_t ra = kb_report_run_id(a, o->run_a, err);
	if (ra < 0 && (o->run_a || !o->structure_only))
		return -1;
	int64_t rb = kb_report_run_id(b, o->run_b, err);
	if (rb < 0 && (o->run_b || !o->structure_only))
		return -1;
	err->status = KB_OK;
	err->msg[0] = 0;
	bool timed = ra > 0 && rb > 0;
	const side sd[2] = {{"main", "a", ra}, {"b", "b", rb}};
	kb_db *h = a;
	char sql[4096];
	if (kb_db_attach(a, kb_db_path(b), "b", err))
		return -1;
	char label_a[128] = "", label_b[128] = "";
	int rc = meta_kv(h, a, b, "topology_effective", "kv_topo", ':', err) ||
		 meta_kv(h, a, b, "ccl_effective", "kv_ccl", ':', err) ||
		 meta_kv(h, a, b, "bench_params", "kv_bench", ' ', err) ||
		 (timed && (run_kv(h, &sd[0], label_a, sizeof label_a, err) || run_kv(h, &sd[1], label_b, sizeof label_b, err))) ||
		 divergence(h, sd, o->progress, err);
	kb_progress_begin(o->progress, "tables", NULL, 0);
	kb_db_progress(a, o->progress);
	enum { T_CFG, T_RUNCFG, T_BENCH, T_KINDS, T_RANGES, T_KERNELS, T_DIV, T_TOTAL, T_TRANGES, T_TKERNELS, T_TCOLL,
	       T_LINKS, T_N };
	rtable t[T_N];
	reports__rtable_init(&t[T_CFG], "config", "config keys that differ (topology, ccl)", 3, cfg_cols, "sss");
	reports__rtable_init(&t[T_RUNCFG], "run_config", "timing-run config keys that differ (kb-time --topology / --set)", 3,
		    cfg_cols, "sss");
	reports__rtable_init(&t[T_BENCH], "bench", "bench and parameters that differ", 3, cfg_cols, "sss");
	reports__rtable_init(&t[T_KINDS], "op_kinds", "op counts by kind", 4, count_cols, "siii");
	reports__rtable_init(&t[T_RANGES], "ranges", "op counts by range", 4, count_cols, "siii");
	reports__rtable_init(&t[T_KERNELS], "kernels", "op counts by kernel", 4, count_cols, "siii");
	reports__rtable_init(&t[T_DIV], "divergence", "first divergence of each op stream (by stream and sequence)", 4,
			     div_cols, "siss");
	reports__rtable_init(&t[T_TOTAL], "total", "simulated time", 5, dt_cols, "stttp");
	reports__rtable_init(&t[T_TRANGES], "range_times", "range time", 5, dt_cols, "stttp");
	reports__rtable_init(&t[T_TKERNELS], "kernel_times", "kernel time (sum of its launch spans)", 5, dt_cols, "stttp");
	reports__rtable_init(&t[T_TCOLL], "collective_times", "collective time", 5, dt_cols, "stttp");
	reports__rtable_init(&t[T_LINKS], "links", "links whose load or stall changed most", 7, link_cols, "sbbtttt");
	static const char kv_sql[] =
		"SELECT coalesce(x.key, y.key) AS key, coalesce(x.value, '-') AS a, coalesce(y.value, '-') AS b FROM"
		" (SELECT key, value FROM temp.%1$s WHERE side = 'a') x FULL OUTER JOIN"
		" (SELECT key, value FROM temp.%1$s WHERE side = 'b') y ON x.key = y.key"
		" WHERE x.value IS NOT y.value ORDER BY 1";
	if (!rc) {
		snprintf(sql, sizeof sql,
			 "SELECT * FROM (SELECT coalesce(x.key, y.key) AS key, coalesce(x.value, '-') AS a,"
			 " coalesce(y.value, '-') AS b FROM"
			 " (SELECT key, value FROM temp.kv_topo WHERE side = 'a' UNION ALL SELECT 'ccl.' || key, value FROM"
			 " temp.kv_ccl WHERE side = 'a') x FULL OUTER JOIN (SELECT key, value FROM temp.kv_topo WHERE side = 'b'"
			 " UNION ALL SELECT 'ccl.' || key, value FROM temp.kv_ccl WHERE side = 'b') y ON x.key = y.key"
			 " WHERE x.value IS NOT y.value) ORDER BY 1");
		rc = reports__rtable_query(&t[T_CFG], h, sql, 0, 0, err);
	}
	if (!rc && timed) {
		snprintf(sql, sizeof sql, kv_sql, "kv_run");
		rc = reports__rtable_query(&t[T_RUNCFG], h, sql, 0, 0, err);
	}
	if (!rc) {
		char kv[1024];
		snprintf(kv, sizeof kv, kv_sql, "kv_bench");
		snprintf(sql, sizeof sql,
			 "SELECT 'bench' AS key, a.value AS a, b.value AS b FROM main.meta a, b.meta b WHERE a.key = 'bench'"
			 " AND b.key = 'bench' AND a.value <> b.value UNION ALL SELECT * FROM (%s)", kv);
		rc = reports__rtable_query(&t[T_BENCH], h, sql, 0, 0, err);
	}
	static const char count_sql[] =
		"SELECT coalesce(x.n, y.n) AS name, coalesce(x.c, 0) AS a, coalesce(y.c, 0) AS b,"
		" coalesce(y.c, 0) - coalesce(x.c, 0) AS delta FROM (%1$s) x FULL OUTER JOIN (%2$s) y ON x.n = y.n"
		" WHERE x.c IS NOT y.c ORDER BY 1";
	if (!rc && o->kinds_a && o->kinds_b) { /* counted while the ops were checked */
		rc = kind_counts(h, o->kinds_a, o->kinds_b, err);
		rc = rc || compare(&t[T_KINDS], h, sd,
				   "SELECT name AS n, n AS c FROM temp.kinds WHERE side = ('%1$s' = 'b') AND n > 0",
				   count_sql, err);
	} else if (!rc) {
		rc = compare(&t[T_KINDS], h, sd,
			     "SELECT k.name AS n, count(*) AS c FROM %1$s.ops o JOIN %1$s.enum_op_kind k ON k.id = o.kind"
			     " GROUP BY 1", count_sql, err);
	}
	rc = rc || compare(&t[T_RANGES], h, sd, RANGE_NAME ", r.end_op_id - r.first_op_id AS c" RANGE_FROM, count_sql, err);
	rc = rc || compare(&t[T_KERNELS], h, sd,
			   "SELECT s.value AS n, sum(l.end_op_id - l.first_op_id) AS c FROM %1$s.launches l"
			   " JOIN %1$s.strings s ON s.id = l.kernel GROUP BY 1", count_sql, err);
	if (!rc) {
		snprintf(sql, sizeof sql, "SELECT stream, seq, a, b FROM temp.div ORDER BY rowid LIMIT %d", o->top);
		rc = reports__rtable_query(&t[T_DIV], h, sql, 0, 0, err);
	}
	char dt_sql[512];
	snprintf(dt_sql, sizeof dt_sql,
		 "SELECT coalesce(x.n, y.n) AS name, x.t AS a_ps, y.t AS b_ps, y.t - x.t AS delta_ps,"
		 " 100.0 * (y.t - x.t) / max(x.t, 1) AS delta_pct FROM (%%1$s) x FULL OUTER JOIN (%%2$s) y ON x.n = y.n"
		 " WHERE x.t IS NOT y.t ORDER BY abs(coalesce(y.t - x.t, 0)) DESC LIMIT %d", o->top);
	if (!rc && timed) {
		rc = compare(&t[T_TOTAL], h, sd, "SELECT 'total' AS n, total_ps AS t FROM %1$s.timing_runs WHERE id = %2$lld",
			     dt_sql, err) ||
		     compare(&t[T_TRANGES], h, sd,
			     "SELECT g.n AS n, t.t_end_ps - t.t_start_ps AS t FROM (" RANGE_NAME ", r.id" RANGE_FROM ") g"
			     " JOIN %1$s.range_times t ON t.range_id = g.id AND t.run_id = %2$lld", dt_sql, err) ||
		     compare(&t[T_TKERNELS], h, sd,
			     "SELECT s.value AS n, sum(t.t_end_ps - t.t_start_ps) AS t FROM %1$s.launch_times t"
			     " JOIN %1$s.launches l ON l.id = t.launch_id JOIN %1$s.strings s ON s.id = l.kernel"
			     " WHERE t.run_id = %2$lld GROUP BY 1", dt_sql, err);
		if (!rc && kb_db_has_table(a, "collectives") && kb_db_has_table(b, "collectives"))
			rc = compare(&t[T_TCOLL], h, sd,
				     "SELECT x.value || ' #' || c.call || ' (' || max(c.bytes) || ' B)' AS n,"
				     " max(t.t_end_ps) - min(t.t_start_ps) AS t FROM %1$s.collectives c JOIN %1$s.strings x"
				     " ON x.id = c.algorithm JOIN %1$s.launch_times t ON t.launch_id = c.launch_id"
				     " AND t.run_id = %2$lld GROUP BY c.call, x.value", dt_sql, err);
		if (!rc) {
			char links[1024];
			snprintf(links, sizeof links,
				 "SELECT coalesce(x.link, y.link) AS link, x.bytes AS a_bytes, y.bytes AS b_bytes,"
				 " x.busy_ps AS a_busy_ps, y.busy_ps AS b_busy_ps, x.stall_ps AS a_stall_ps, y.stall_ps AS b_stall_ps"
				 " FROM (%%1$s) x FULL OUTER JOIN (%%2$s) y ON x.link = y.link"
				 " WHERE x.bytes IS NOT y.bytes OR x.busy_ps IS NOT y.busy_ps OR x.stall_ps IS NOT y.stall_ps"
				 " ORDER BY abs(coalesce(y.busy_ps, 0) - coalesce(x.busy_ps, 0)) + abs(coalesce(y.stall_ps, 0) -"
				 " coalesce(x.stall_ps, 0)) DESC LIMIT %d", o->top);
			rc = compare(&t[T_LINKS], h, sd, "SELECT * FROM %1$s.link_usage WHERE run_id = %2$lld", links, err);
		}
	}
	kb_db_progress(a, NULL);
	kb_progress_end(o->progress); /* before anything is printed */
	if (!rc) {
		for (int k = 0; k < T_N; k++)
			if (t[k].n_rows)
				*differ = true;
		if (o->json) {
			fprintf(out, "{\"a\": ");
			kb_json_string(out, kb_db_path(a));
			fprintf(out, ", \"b\": ");
			kb_json_string(out, kb_db_path(b));
			fprintf(out, ", \"run_a\": ");
			kb_json_string(out, timed ? label_a : "");
			fprintf(out, ", \"run_b\": ");
			kb_json_string(out, timed ? label_b : "");
			fprintf(out, ", \"identical\": %s", *differ ? "false" : "true");
			for (int k = 0; k < T_N; k++)
				reports__rtable_json(out, &t[k], false);
			fprintf(out, "}\n");
		} else {
			fprintf(out, "kb-diff %s %s: %s\n", kb_db_path(a), kb_db_path(b),
				*differ ? "they differ" : timed ? "identical (structure and timing)" : "identical structure");
			if (timed)
				fprintf(out, "runs compared: a '%s', b '%s'\n", label_a, label_b);
			else
				fprintf(out, "runs compared: none (%s has no timing run; structure only)\n",
					ra > 0 ? "b" : "a");
			for (int k = 0; k < T_N; k++)
				if (t[k].n_rows) {
					fputc('\n', out);
					reports__rtable_print(out, &t[k], 0);
				}
		}
	}
	for (int k = 0; k < T_N; k++)
		reports__rtable_release(&t[k]);
	kb_db_detach(h, "b");
	return rc ? -1 : 0;
}
