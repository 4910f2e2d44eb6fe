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
static int fill_kv(sqlite3 *h, const char *side, char *text, const char *table, char sep, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "INSERT INTO temp.%s VALUES(?, ?, ?)", table);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	for (char *item = text, *next; item && *item; item = next) {
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
		sqlite3_bind_text(st, 1, side, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, item, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

static int meta_kv(sqlite3 *h, kb_db *a, kb_db *b, const char *meta, const char *table, char sep, kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "CREATE TEMP TABLE IF NOT EXISTS %s(side TEXT, key TEXT, value TEXT)", table);
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	char *va = kb_db_meta_get(a, meta), *vb = kb_db_meta_get(b, meta);
	int rc = fill_kv(h, "a", va, table, sep, err) || fill_kv(h, "b", vb, table, sep, err);
	free(va);
	free(vb);
	return rc;
}

/* A run's label and effective topology (the keys kb-time ran with) into
 * temp.kv_run as side's rows. */
static int run_kv(sqlite3 *h, const char *schema, const char *side, int64_t run, char *label, size_t cap,
		  kb_error *err)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT label, topology_effective FROM %s.timing_runs WHERE id = ?", schema);
	sqlite3_stmt *st;
	if (sqlite3_exec(h, "CREATE TEMP TABLE IF NOT EXISTS kv_run(side TEXT, key TEXT, value TEXT)", NULL, NULL, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run);
	char *text = NULL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(label, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		text = strdup(sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
	}
	sqlite3_finalize(st);
	int rc = text ? fill_kv(h, side, text, "kv_run", ':', err) : kb_fail(err, "diff: run %lld vanished", (long long)run);
	free(text);
	return rc;
}

/* Op counts by kind of both sides into temp.kinds(side, name, n). */
static int kind_counts(sqlite3 *h, const int64_t *a, const int64_t *b, kb_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_exec(h, "CREATE TEMP TABLE kinds(side INTEGER, name TEXT, n INTEGER)", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "INSERT INTO temp.kinds VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	for (int side = 0; side < 2; side++)
		for (int k = 1; k < KB_OP_KIND_COUNT; k++) {
			sqlite3_bind_int(st, 1, side);
			sqlite3_bind_text(st, 2, kb_op_kind_name((kb_op_kind)k), -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (side ? b : a)[k]);
			sqlite3_step(st);
			sqlite3_reset(st);
		}
	sqlite3_finalize(st);
	return 0;
}

/* ---- op streams ---- */

typedef struct cursor {
	sqlite3_stmt *st;
	bool done;
	int64_t sip, cube, pe, seq;
} cursor;

static const char stream_sql[] =
	"SELECT o.sip, CASE WHEN o.launch_id = 0 THEN -1 ELSE o.cube END AS c,"
	" CASE WHEN o.launch_id = 0 THEN -1 ELSE o.pe END AS p, o.seq, k.name,"
	" CASE WHEN x.text IS NULL THEN coalesce(d.text, '-') ELSE coalesce(d.text, '-') || ' <- ' || x.text"
	" || coalesce(', ' || y.text, '') END, o.bytes, o.flops, o.attr, o.id, o.imm, coalesce(bl.checksum, 0)"
	" FROM %1$s.ops o JOIN %1$s.enum_op_kind k ON k.id = o.kind LEFT JOIN %1$s.shapes d ON d.id = o.dst_shape"
	" LEFT JOIN %1$s.shapes x ON x.id = o.a_shape LEFT JOIN %1$s.shapes y ON y.id = o.b_shape"
	" LEFT JOIN %1$s.blobs bl ON bl.id = o.blob_id ORDER BY o.sip, c, p, o.seq, o.id";

static void advance(cursor *c)
{
	if (sqlite3_step(c->st) != SQLITE_ROW) {
		c->done = true;
		return;
	}
	c->sip = sqlite3_column_int64(c->st, 0);
	c->cube = sqlite3_column_int64(c->st, 1);
	c->pe = sqlite3_column_int64(c->st, 2);
	c->seq = sqlite3_column_int64(c->st, 3);
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
	int64_t sum = sqlite3_column_int64(c->st, 11);
	char data[40] = "";
	if (sum)
		snprintf(data, sizeof data, ", data %016llx", (unsigned long long)sum);
	snprintf(buf, cap, "op %lld %s %s, %lld B, %lld flops, attr %lld, imm %.9g%s",
		 (long long)sqlite3_column_int64(c->st, 9), sqlite3_column_text(c->st, 4), sqlite3_column_text(c->st, 5),
		 (long long)sqlite3_column_int64(c->st, 6), (long long)sqlite3_column_int64(c->st, 7),
		 (long long)sqlite3_column_int64(c->st, 8), sqlite3_column_double(c->st, 10), data);
}

/* Kind, shapes, bytes, flops, attr, the immediate (bit for bit) and the
 * host data's checksum. */
static bool same_op(const cursor *a, const cursor *b)
{
	for (int k = 4; k <= 11; k++) {
		if (k == 9) /* the op id */
			continue;
		if (k == 10) {
			double x = sqlite3_column_double(a->st, k), y = sqlite3_column_double(b->st, k);
			if (memcmp(&x, &y, sizeof x) != 0)
				return false;
			continue;
		}
		const char *x = (const char *)sqlite3_column_text(a->st, k), *y = (const char *)sqlite3_column_text(b->st, k);
		if (strcmp(x ? x : "", y ? y : "") != 0)
			return false;
	}
	return true;
}

static void stream_name(int64_t sip, int64_t cube, int64_t pe, char *buf, size_t cap)
{
	if (cube < 0)
		snprintf(buf, cap, "sip%lld.host", (long long)sip);
	else
		snprintf(buf, cap, "sip%lld.cube%lld.pe%lld", (long long)sip, (long long)cube, (long long)pe);
}

/* One row of temp.div. */
static void div_row(sqlite3_stmt *ins, const char *stream, int64_t seq, const char *a, const char *b)
{
	sqlite3_bind_text(ins, 1, stream, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ins, 2, seq);
	sqlite3_bind_text(ins, 3, a, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 4, b, -1, SQLITE_TRANSIENT);
	sqlite3_step(ins);
	sqlite3_reset(ins);
}

/* "first and N more": the streams a folded row stands for. */
static void folded_name(char *buf, size_t cap, const char *first, int64_t n)
{
	snprintf(buf, cap, n > 1 ? "%s and %lld more" : "%s", first, (long long)n - 1);
}

static int divergence(sqlite3 *h, kb_progress *progress, kb_error *err)
{
	if (sqlite3_exec(h, "CREATE TEMP TABLE div(stream TEXT, seq INTEGER, a TEXT, b TEXT)", NULL, NULL, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	char sql[1024];
	cursor a = {0}, b = {0};
	snprintf(sql, sizeof sql, stream_sql, "main");
	if (sqlite3_prepare_v2(h, sql, -1, &a.st, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	snprintf(sql, sizeof sql, stream_sql, "b");
	if (sqlite3_prepare_v2(h, sql, -1, &b.st, NULL) != SQLITE_OK) {
		sqlite3_finalize(a.st);
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	}
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(h, "INSERT INTO temp.div VALUES(?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK) {
		sqlite3_finalize(a.st);
		sqlite3_finalize(b.st);
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	}
	/* streams only one side has, and streams one side ends early:
	 * counted, then one row per side for each */
	int64_t only[2] = {0, 0}, ended[2] = {0, 0}, ended_seq[2] = {0, 0};
	char only_first[2][64] = {"", ""}, ended_first[2][64] = {"", ""}, ended_op[2][400];
	advance(&a);
	advance(&b);
	int64_t walked = 0;
	kb_progress_begin(progress, "compare op streams", "ops", 0);
	while (!a.done || !b.done) {
		int c = a.done ? 1 : b.done ? -1 : cmp_stream(&a, &b);
		cursor *lead = c <= 0 ? &a : &b;
		int64_t sip = lead->sip, cube = lead->cube, pe = lead->pe;
		bool ina0 = !a.done && a.sip == sip && a.cube == cube && a.pe == pe;
		bool inb0 = !b.done && b.sip == sip && b.cube == cube && b.pe == pe;
		bool reported = !ina0 || !inb0;
		if (reported) {
			int side = ina0 ? 0 : 1;
			if (!only[side]++)
				stream_name(sip, cube, pe, only_first[side], sizeof only_first[side]);
		}
		/* walk this stream on both sides */
		for (;;) {
			bool ina = !a.done && a.sip == sip && a.cube == cube && a.pe == pe;
			bool inb = !b.done && b.sip == sip && b.cube == cube && b.pe == pe;
			if (!ina && !inb)
				break;
			if (!reported && (!ina || !inb)) { /* one side's stream ends early: counted, one row per side */
				int side = ina ? 1 : 0; /* the side that ended */
				if (!ended[side]++) {
					stream_name(sip, cube, pe, ended_first[side], sizeof ended_first[side]);
					ended_seq[side] = ina ? a.seq : b.seq;
					describe(ina ? &a : &b, ended_op[side], sizeof ended_op[side]);
				}
				reported = true;
			}
			if (!reported && !same_op(&a, &b)) {
				char da[400], db_[400], name[64];
				cursor ea = a, eb = b;
				ea.done = !ina;
				eb.done = !inb;
				describe(&ea, da, sizeof da);
				describe(&eb, db_, sizeof db_);
				stream_name(sip, cube, pe, name, sizeof name);
				div_row(ins, name, ina ? a.seq : b.seq, da, db_);
				reported = true;
			}
			if (ina)
				advance(&a);
			if (inb)
				advance(&b);
			kb_progress_tick(progress, ++walked);
		}
	}
	char name[160], what[96];
	for (int side = 0; side < 2; side++) {
		if (!ended[side])
			continue;
		folded_name(name, sizeof name, ended_first[side], ended[side]);
		snprintf(what, sizeof what, "(stream ends: %lld stream%s end%s before the other side's)",
			 (long long)ended[side], ended[side] > 1 ? "s" : "", ended[side] > 1 ? "" : "s");
		div_row(ins, name, ended_seq[side], side ? ended_op[side] : what, side ? what : ended_op[side]);
	}
	for (int side = 0; side < 2; side++) {
		if (!only[side])
			continue;
		folded_name(name, sizeof name, only_first[side], only[side]);
		snprintf(what, sizeof what, "%lld stream%s only here", (long long)only[side], only[side] > 1 ? "s" : "");
		div_row(ins, name, 0, side ? "(no such stream)" : what, side ? what : "(no such stream)");
	}
	sqlite3_finalize(a.st);
	sqlite3_finalize(b.st);
	sqlite3_finalize(ins);
	return 0;
}

/* A range's row name: its label and rank, and which occurrence of that
 * label on that rank it is when the label repeats ("step #2 (rank 0)"). */
#define RANGE_NAME \
	"SELECT s.value || CASE WHEN count(*) OVER (PARTITION BY r.label, r.rank) > 1 THEN ' #' ||" \
	" row_number() OVER (PARTITION BY r.label, r.rank ORDER BY r.id) ELSE '' END || ' (rank ' || r.rank || ')' AS n"
#define RANGE_FROM(schema) " FROM " schema ".ranges r JOIN " schema ".strings s ON s.id = r.label"

static const char *const cfg_cols[] = {"key", "a", "b"};
static const char *const count_cols[] = {"name", "a", "b", "delta"};
static const char *const div_cols[] = {"stream", "seq", "a", "b"};
static const char *const dt_cols[] = {"name", "a_ps", "b_ps", "delta_ps", "delta_pct"};
static const char *const link_cols[] = {"link", "a_bytes", "b_bytes", "a_busy_ps", "b_busy_ps", "a_stall_ps",
					"b_stall_ps"};

int kb_diff(FILE *out, kb_db *a, kb_db *b, const kb_diff_options *o, bool *differ, kb_error *err)
{
	*differ = false;
	int64_t ra = kb_report_run_id(a, o->run_a, err);
	if (ra < 0 && (o->run_a || !o->structure_only))
		return -1;
	int64_t rb = kb_report_run_id(b, o->run_b, err);
	if (rb < 0 && (o->run_b || !o->structure_only))
		return -1;
	err->msg[0] = 0;
	bool timed = ra > 0 && rb > 0;
	sqlite3 *h = kb_db_handle(a);
	char sql[4096];
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, "ATTACH DATABASE ? AS b", -1, &st, NULL) != SQLITE_OK)
		return kb_fail(err, "diff: %s", sqlite3_errmsg(h));
	sqlite3_bind_text(st, 1, kb_db_path(b), -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return kb_fail(err, "diff: cannot attach '%s': %s", kb_db_path(b), sqlite3_errmsg(h));
	char label_a[128] = "", label_b[128] = "";
	int rc = meta_kv(h, a, b, "topology_effective", "kv_topo", ':', err) ||
		 meta_kv(h, a, b, "ccl_effective", "kv_ccl", ':', err) ||
		 meta_kv(h, a, b, "bench_params", "kv_bench", ' ', err) ||
		 (timed && (run_kv(h, "main", "a", ra, label_a, sizeof label_a, err) ||
			    run_kv(h, "b", "b", rb, label_b, sizeof label_b, err))) ||
		 divergence(h, o->progress, err);
	kb_progress_begin(o->progress, "tables", NULL, 0);
	kb_db_progress(a, o->progress);
	enum { T_CFG, T_RUNCFG, T_BENCH, T_KINDS, T_RANGES, T_KERNELS, T_DIV, T_TOTAL, T_TRANGES, T_TKERNELS, T_TCOLL,
	       T_LINKS, T_N };
	rtable t[T_N];
	rtable_init(&t[T_CFG], "config", "config keys that differ (topology, ccl)", 3, cfg_cols, "sss");
	rtable_init(&t[T_RUNCFG], "run_config", "timing-run config keys that differ (kb-time --topology / --set)", 3,
		    cfg_cols, "sss");
	rtable_init(&t[T_BENCH], "bench", "bench and parameters that differ", 3, cfg_cols, "sss");
	rtable_init(&t[T_KINDS], "op_kinds", "op counts by kind", 4, count_cols, "siii");
	rtable_init(&t[T_RANGES], "ranges", "op counts by range", 4, count_cols, "siii");
	rtable_init(&t[T_KERNELS], "kernels", "op counts by kernel", 4, count_cols, "siii");
	rtable_init(&t[T_DIV], "divergence", "first divergence of each op stream (by stream and sequence)", 4, div_cols, "siss");
	rtable_init(&t[T_TOTAL], "total", "simulated time", 5, dt_cols, "stttp");
	rtable_init(&t[T_TRANGES], "range_times", "range time", 5, dt_cols, "stttp");
	rtable_init(&t[T_TKERNELS], "kernel_times", "kernel time (sum of its launch spans)", 5, dt_cols, "stttp");
	rtable_init(&t[T_TCOLL], "collective_times", "collective time", 5, dt_cols, "stttp");
	rtable_init(&t[T_LINKS], "links", "links whose load or stall changed most", 7, link_cols, "sbbtttt");
	static const char kv_sql[] =
		"SELECT coalesce(x.key, y.key), coalesce(x.value, '-'), coalesce(y.value, '-') FROM"
		" (SELECT key, value FROM temp.%1$s WHERE side = 'a') x FULL OUTER JOIN"
		" (SELECT key, value FROM temp.%1$s WHERE side = 'b') y ON x.key = y.key"
		" WHERE x.value IS NOT y.value ORDER BY 1";
	if (!rc) {
		snprintf(sql, sizeof sql,
			 "SELECT * FROM (SELECT coalesce(x.key, y.key), coalesce(x.value, '-'), coalesce(y.value, '-') FROM"
			 " (SELECT key, value FROM temp.kv_topo WHERE side = 'a' UNION ALL SELECT 'ccl.' || key, value FROM"
			 " temp.kv_ccl WHERE side = 'a') x FULL OUTER JOIN (SELECT key, value FROM temp.kv_topo WHERE side = 'b'"
			 " UNION ALL SELECT 'ccl.' || key, value FROM temp.kv_ccl WHERE side = 'b') y ON x.key = y.key"
			 " WHERE x.value IS NOT y.value) ORDER BY 1");
		rc = rtable_query(&t[T_CFG], h, sql, 0, 0, err);
	}
	if (!rc && timed) {
		snprintf(sql, sizeof sql, kv_sql, "kv_run");
		rc = rtable_query(&t[T_RUNCFG], h, sql, 0, 0, err);
	}
	if (!rc) {
		char kv[1024];
		snprintf(kv, sizeof kv, kv_sql, "kv_bench");
		snprintf(sql, sizeof sql,
			 "SELECT 'bench', a.value, b.value FROM main.meta a, b.meta b WHERE a.key = 'bench' AND b.key = 'bench'"
			 " AND a.value <> b.value UNION ALL SELECT * FROM (%s)", kv);
		rc = rtable_query(&t[T_BENCH], h, sql, 0, 0, err);
	}
	static const char count_sql[] =
		"SELECT coalesce(x.n, y.n), coalesce(x.c, 0), coalesce(y.c, 0), coalesce(y.c, 0) - coalesce(x.c, 0) FROM"
		" (%1$s) x FULL OUTER JOIN (%2$s) y ON x.n = y.n WHERE x.c IS NOT y.c ORDER BY 1";
	char qa[1024], qb[1024];
	if (!rc && o->kinds_a && o->kinds_b) { /* counted while the ops were checked */
		rc = kind_counts(h, o->kinds_a, o->kinds_b, err);
		snprintf(qa, sizeof qa, "SELECT name AS n, n AS c FROM temp.kinds WHERE side = 0 AND n > 0");
		snprintf(qb, sizeof qb, "SELECT name AS n, n AS c FROM temp.kinds WHERE side = 1 AND n > 0");
	} else {
		snprintf(qa, sizeof qa, "SELECT k.name AS n, count(*) AS c FROM main.ops o JOIN main.enum_op_kind k ON k.id = o.kind GROUP BY 1");
		snprintf(qb, sizeof qb, "SELECT k.name AS n, count(*) AS c FROM b.ops o JOIN b.enum_op_kind k ON k.id = o.kind GROUP BY 1");
	}
	if (!rc) {
		snprintf(sql, sizeof sql, count_sql, qa, qb);
		rc = rtable_query(&t[T_KINDS], h, sql, 0, 0, err);
	}
	if (!rc) {
		snprintf(qa, sizeof qa, RANGE_NAME ", r.end_op_id - r.first_op_id AS c" RANGE_FROM("main"));
		snprintf(qb, sizeof qb, RANGE_NAME ", r.end_op_id - r.first_op_id AS c" RANGE_FROM("b"));
		snprintf(sql, sizeof sql, count_sql, qa, qb);
		rc = rtable_query(&t[T_RANGES], h, sql, 0, 0, err);
	}
	if (!rc) {
		snprintf(qa, sizeof qa, "SELECT s.value AS n, sum(l.end_op_id - l.first_op_id) AS c FROM main.launches l"
			 " JOIN main.strings s ON s.id = l.kernel GROUP BY 1");
		snprintf(qb, sizeof qb, "SELECT s.value AS n, sum(l.end_op_id - l.first_op_id) AS c FROM b.launches l"
			 " JOIN b.strings s ON s.id = l.kernel GROUP BY 1");
		snprintf(sql, sizeof sql, count_sql, qa, qb);
		rc = rtable_query(&t[T_KERNELS], h, sql, 0, 0, err);
	}
	if (!rc) {
		snprintf(sql, sizeof sql, "SELECT stream, seq, a, b FROM temp.div ORDER BY rowid LIMIT %d", o->top);
		rc = rtable_query(&t[T_DIV], h, sql, 0, 0, err);
	}
	static const char dt_sql[] =
		"SELECT coalesce(x.n, y.n), x.t, y.t, y.t - x.t, 100.0 * (y.t - x.t) / max(x.t, 1) FROM (%1$s) x"
		" FULL OUTER JOIN (%2$s) y ON x.n = y.n WHERE x.t IS NOT y.t ORDER BY abs(coalesce(y.t - x.t, 0)) DESC LIMIT %3$d";
	if (!rc && timed) {
		snprintf(qa, sizeof qa, "SELECT 'total' AS n, total_ps AS t FROM main.timing_runs WHERE id = %lld", (long long)ra);
		snprintf(qb, sizeof qb, "SELECT 'total' AS n, total_ps AS t FROM b.timing_runs WHERE id = %lld", (long long)rb);
		snprintf(sql, sizeof sql, dt_sql, qa, qb, o->top);
		rc = rtable_query(&t[T_TOTAL], h, sql, 0, 0, err);
		for (int side = 0; !rc && side < 2; side++) {
			const char *s = side ? "b" : "main";
			char name[512];
			snprintf(name, sizeof name, RANGE_NAME ", r.id" RANGE_FROM("%1$s"), s);
			snprintf(side ? qb : qa, sizeof qa,
				 "SELECT g.n AS n, t.t_end_ps - t.t_start_ps AS t FROM (%s) g JOIN %s.range_times t"
				 " ON t.range_id = g.id AND t.run_id = %lld", name, s, (long long)(side ? rb : ra));
		}
		snprintf(sql, sizeof sql, dt_sql, qa, qb, o->top);
		rc = rc || rtable_query(&t[T_TRANGES], h, sql, 0, 0, err);
		for (int side = 0; !rc && side < 2; side++) {
			const char *s = side ? "b" : "main";
			snprintf(side ? qb : qa, sizeof qa,
				 "SELECT s.value AS n, sum(t.t_end_ps - t.t_start_ps) AS t FROM %s.launch_times t JOIN %s.launches l"
				 " ON l.id = t.launch_id JOIN %s.strings s ON s.id = l.kernel WHERE t.run_id = %lld GROUP BY 1", s, s,
				 s, (long long)(side ? rb : ra));
		}
		snprintf(sql, sizeof sql, dt_sql, qa, qb, o->top);
		rc = rc || rtable_query(&t[T_TKERNELS], h, sql, 0, 0, err);
		bool ca = kb_db_has_table(a, "collectives"), cb = kb_db_has_table(b, "collectives");
		if (!rc && ca && cb) {
			for (int side = 0; side < 2; side++) {
				const char *s = side ? "b" : "main";
				snprintf(side ? qb : qa, sizeof qa,
					 "SELECT x.value || ' #' || c.call || ' (' || max(c.bytes) || ' B)' AS n,"
					 " max(t.t_end_ps) - min(t.t_start_ps) AS t FROM %s.collectives c JOIN %s.strings x ON x.id ="
					 " c.algorithm JOIN %s.launch_times t ON t.launch_id = c.launch_id AND t.run_id = %lld"
					 " GROUP BY c.call, x.value", s, s, s, (long long)(side ? rb : ra));
			}
			snprintf(sql, sizeof sql, dt_sql, qa, qb, o->top);
			rc = rtable_query(&t[T_TCOLL], h, sql, 0, 0, err);
		}
		if (!rc) {
			snprintf(sql, sizeof sql,
				 "SELECT coalesce(x.link, y.link), x.bytes, y.bytes, x.busy_ps, y.busy_ps, x.stall_ps, y.stall_ps FROM"
				 " (SELECT * FROM main.link_usage WHERE run_id = %lld) x FULL OUTER JOIN"
				 " (SELECT * FROM b.link_usage WHERE run_id = %lld) y ON x.link = y.link"
				 " WHERE x.bytes IS NOT y.bytes OR x.busy_ps IS NOT y.busy_ps OR x.stall_ps IS NOT y.stall_ps"
				 " ORDER BY abs(coalesce(y.busy_ps, 0) - coalesce(x.busy_ps, 0)) + abs(coalesce(y.stall_ps, 0) -"
				 " coalesce(x.stall_ps, 0)) DESC LIMIT %d", (long long)ra, (long long)rb, o->top);
			rc = rtable_query(&t[T_LINKS], h, sql, 0, 0, err);
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
				rtable_json(out, &t[k], false);
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
					rtable_print(out, &t[k], 0);
				}
		}
	}
	for (int k = 0; k < T_N; k++)
		rtable_release(&t[k]);
	sqlite3_exec(h, "DETACH DATABASE b", NULL, NULL, NULL);
	return rc ? -1 : 0;
}
