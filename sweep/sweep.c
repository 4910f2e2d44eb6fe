/*
 * sweep.c — the local engine of kb-sweep: expand the spec into points,
 * trace each distinct combination of trace keys once, build each trace's
 * graph once, run its points as schedules on a thread pool and store each
 * point's summary in the study.
 */
#include "sweep_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "db.h"
#include "kb.h"
#include "timing.h"

/* One point: its settings (base sets, then one per axis), the axis values
 * it takes, and which group (trace) it belongs to. */
typedef struct point {
	char **sets;
	int n_sets;
	const char *values[KB_SWEEP_MAX_AXES];
	char hash[24], *settings, *trace_keys;
	int group;
	int seq;      /* its index in spec order */
} point;

static bool timing_key(const char *set)
{
	char key[256];
	size_t n = strcspn(set, "=");
	snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), set);
	return kb_topo_key_is_timing(key);
}

/* Joins the sets matching `timing` with newlines (the spec's order). */
static char *join(char *const *sets, int n, int timing)
{
	size_t len = 1;
	for (int i = 0; i < n; i++)
		len += strlen(sets[i]) + 1;
	char *out = malloc(len), *o = out;
	if (!out)
		return NULL;
	*o = '\0';
	for (int i = 0; i < n; i++)
		if (timing < 0 || timing_key(sets[i]) == (timing == 1))
			o += sprintf(o, "%s\n", sets[i]);
	return out;
}

static void point_clear(point *q)
{
	for (int k = 0; k < q->n_sets; k++)
		free(q->sets[k]);
	free(q->sets);
	free(q->settings);
	free(q->trace_keys);
	memset(q, 0, sizeof *q);
}

static void points_free(point *p, int n)
{
	for (int i = 0; p && i < n; i++)
		point_clear(&p[i]);
	free(p);
}

/* The spec's points in order (product: the last axis varies fastest). */
static int expand(const kb_sweep_spec *s, point **out, int *n_out, kb_error *err)
{
	int64_t n = s->zip ? s->n_values[0] : 1;
	for (int a = 0; !s->zip && a < s->n_axes; a++)
		if ((n *= s->n_values[a]) > KB_SWEEP_MAX_POINTS)
			return kb_fail(err, "the grid has more than %d points", KB_SWEEP_MAX_POINTS);
	point *p = calloc((size_t)n, sizeof *p);
	if (!p)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	for (int64_t i = 0; i < n; i++) {
		point *q = &p[i];
		q->seq = (int)i;
		q->sets = calloc((size_t)(s->n_sets + s->n_axes), sizeof *q->sets);
		if (!q->sets)
			goto oom;
		for (int k = 0; k < s->n_sets; k++)
			if (!(q->sets[q->n_sets++] = strdup(s->sets[k])))
				goto oom;
		int64_t rest = i;
		for (int a = s->n_axes - 1; a >= 0; a--) {
			int v = s->zip ? (int)i : (int)(rest % s->n_values[a]);
			rest /= s->zip ? 1 : s->n_values[a];
			q->values[a] = s->axis_values[a][v];
		}
		for (int a = 0; a < s->n_axes; a++) {
			size_t len = strlen(s->axis_key[a]) + strlen(q->values[a]) + 2;
			char *kv = malloc(len);
			if (!kv)
				goto oom;
			snprintf(kv, len, "%s=%s", s->axis_key[a], q->values[a]);
			q->sets[q->n_sets++] = kv;
		}
		/* a point is known by what it runs: the bench or trace and every setting */
		char *all = join(q->sets, q->n_sets, -1);
		q->trace_keys = join(q->sets, q->n_sets, 0);
		if (!all || !q->trace_keys) {
			free(all);
			goto oom;
		}
		size_t len = strlen(all) + strlen(s->bench ? s->bench : s->trace) + 16;
		if (!(q->settings = malloc(len))) {
			free(all);
			goto oom;
		}
		snprintf(q->settings, len, "%s=%s\n%s", s->bench ? "bench" : "trace", s->bench ? s->bench : s->trace, all);
		free(all);
		snprintf(q->hash, sizeof q->hash, "%016llx", (unsigned long long)kb_hash64(q->settings, strlen(q->settings)));
	}
	*out = p;
	*n_out = (int)n;
	return 0;
oom:
	points_free(p, (int)n);
	return kb_fail_status(err, KB_E_NOMEM, "out of memory");
}

/* Stores a point that failed before or during its schedule. */
static int store_failure(kb_study *st, const kb_sweep_spec *s, const point *q, int64_t trace, const char *why,
			 kb_error *err)
{
	kb_study_point_rec r = {.id = q->seq + 1, .hash = q->hash, .settings = q->settings, .error = why,
				.axis_values = q->values, .n_axes = s->n_axes, .trace_id = trace};
	return kb_study_point(st, &r, err);
}

static int store_ok(kb_study *st, const kb_sweep_spec *s, const point *q, int64_t trace, double wall,
		    const kb_time_summary *sum, kb_error *err)
{
	kb_study_link links[KB_LINK_CLASS_COUNT];
	int n_links = 0;
	for (int k = 0; k < KB_LINK_CLASS_COUNT; k++)
		if (sum->busiest[k].link[0])
			links[n_links++] = (kb_study_link){kb_link_class_name(k), sum->busiest[k].link, sum->busiest[k].busy_pct,
							   sum->busiest[k].bytes, sum->busiest[k].stall_ps};
	kb_study_coll *colls = calloc((size_t)sum->n_collectives + 1, sizeof *colls);
	if (!colls)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	for (int k = 0; k < sum->n_collectives; k++) {
		const kb_time_collective *c = &sum->collectives[k];
		colls[k] = (kb_study_coll){c->call, c->bytes, c->world_size, c->time_ps, "", c->algbw_gbps, c->busbw_gbps};
		snprintf(colls[k].algorithm, sizeof colls[k].algorithm, "%s", c->algorithm);
	}
	kb_study_range *ranges = calloc((size_t)sum->n_ranges + 1, sizeof *ranges);
	if (!ranges) {
		free(colls);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	for (int k = 0; k < sum->n_ranges; k++)
		ranges[k] = (kb_study_range){sum->ranges[k].label, sum->ranges[k].time_ps};
	kb_study_point_rec r = {.id = q->seq + 1, .hash = q->hash, .settings = q->settings, .axis_values = q->values,
				.n_axes = s->n_axes,
				.trace_id = trace, .ok = true, .wall_s = wall, .total_ps = sum->total_ps,
				.host_ps = sum->host_ps, .device_ps = sum->device_ps, .links = links, .n_links = n_links,
				.colls = colls, .n_colls = sum->n_collectives, .ranges = ranges, .n_ranges = sum->n_ranges};
	memcpy(r.unit_pct, sum->unit_pct, sizeof r.unit_pct);
	int rc = kb_study_point(st, &r, err);
	free(colls);
	free(ranges);
	return rc;
}

/* The trace of group g: the spec's, or traced into the study's folder. */
static int group_trace(const kb_sweep_spec *s, const kb_sweep_options *opt, const point *q, char *path, size_t cap,
		       int *traced, kb_error *err)
{
	if (s->trace) {
		snprintf(path, cap, "%s", s->trace);
		return 0;
	}
	char dir[4096];
	if (opt->traces)
		snprintf(dir, sizeof dir, "%s", opt->traces);
	else
		snprintf(dir, sizeof dir, "%s.traces", opt->study);
	if (mkdir(dir, 0777) && errno != EEXIST)
		return kb_fail(err, "cannot create '%s': %s", dir, strerror(errno));
	snprintf(path, cap, "%s/%s-%016llx.db", dir, s->bench,
		 (unsigned long long)kb_hash64(q->trace_keys, strlen(q->trace_keys)));
	struct stat sb;
	if (stat(path, &sb) == 0)
		return 0; /* traced by an earlier run of this study */
	const kb_bench *b = kb_bench_find(s->bench);
	if (!b)
		return kb_fail_status(err, KB_E_NOT_FOUND, "unknown bench '%s'", s->bench);
	char *trace_sets[KB_SWEEP_MAX_SETS + KB_SWEEP_MAX_AXES];
	int n = 0;
	for (int k = 0; k < q->n_sets; k++)
		if (!timing_key(q->sets[k]))
			trace_sets[n++] = q->sets[k];
	kb_cli_configs cfg;
	if (kb_cli_configs_load(&cfg, NULL, NULL, trace_sets, n, b->name, err))
		return -1;
	kb_trace_request req = {b, &cfg.topo, &cfg.ccl, path, cfg.bench_params, cfg.n_bench_params, NULL, NULL};
	int64_t n_ops;
	int rc = kb_trace_bench(&req, &n_ops, err);
	kb_cli_configs_release(&cfg);
	*traced += !rc;
	return rc;
}

/* The machine of point q on the trace's recorded topology: its timing
 * sets applied, the structure checked. */
static int point_machine(kb_db *db, const kb_topo_cfg *recorded, const point *q, kb_topo_cfg *cfg, kb_machine *m,
			 kb_error *err)
{
	if (kb_cli_trace_topology(db, cfg, err))
		return -1;
	for (int k = 0; k < q->n_sets; k++) {
		if (!timing_key(q->sets[k]))
			continue;
		char kv[1024], *key, *value;
		snprintf(kv, sizeof kv, "%s", q->sets[k]);
		if (kb_split_assignment(kv, &key, &value) ? kb_fail(err, "bad setting '%s'", q->sets[k])
							  : kb_topo_set(cfg, key, value, err))
			return -1;
	}
	return kb_time_check_structure(recorded, cfg, err) || kb_machine_init(m, cfg, err) ? -1 : 0;
}

int kb_sweep_keeps(const char *list, int i)
{
	if (!list)
		return 0;
	if (strcmp(list, "all") == 0)
		return 1;
	int found = 0;
	for (const char *c = list;;) {
		char *end;
		long v = strtol(c, &end, 10);
		if (end == c || v < 1 || (*end && *end != ','))
			return -1;
		found |= v == i + 1;
		if (!*end)
			return found;
		c = end + 1;
	}
}

/* Stores point q's op rows in its trace as the timing run "sweep-<hash>". */
static int keep_ops(const char *path, const point *q, const kb_machine *m, kb_error *err)
{
	kb_db *db;
	if (kb_db_open(&db, path, true, err))
		return -1;
	char label[40];
	snprintf(label, sizeof label, "sweep-%s", q->hash);
	kb_time_options o = {label, true, "kb-sweep", q->settings, NULL};
	kb_time_result res;
	int rc = kb_time_trace(db, m, &o, &res, err);
	free(res.diagnostics);
	kb_db_close(db);
	return rc ? -1 : 0;
}

/* What a finished point is stored with. */
typedef struct stash {
	kb_study *st;
	const kb_sweep_spec *s;
	const point *p;
	const int *idx;
	const kb_machine *const *mp;
	const kb_time_summary *sum;
	const int *prc;
	const kb_error *errs;
	const char *path;
	int64_t trace;
	const kb_sweep_options *opt;
	kb_sweep_result *res;
	int rc;                 /* the first storing error */
	kb_error err;
} stash;

static void store_done(void *ctx, int k)
{
	stash *h = ctx;
	if (h->rc)
		return;
	const point *q = &h->p[h->idx[k]];
	if (h->prc[k]) {
		h->rc = store_failure(h->st, h->s, q, h->trace, h->errs[k].msg, &h->err);
		h->res->failed++;
		return;
	}
	h->rc = store_ok(h->st, h->s, q, h->trace, h->sum[k].wall_s, &h->sum[k], &h->err);
	h->res->done++;
	if (!h->rc && kb_sweep_keeps(h->opt->keep_ops, q->seq) == 1) {
		h->rc = keep_ops(h->path, q, h->mp[k], &h->err);
		h->res->kept += !h->rc;
	}
}

/* Runs the points of one trace that are not done. */
static int run_group(kb_study *st, const kb_sweep_spec *s, const kb_sweep_options *opt, point *p, int n_p, int g,
		     kb_sweep_result *res, kb_error *err)
{
	int first = -1, todo = 0;
	for (int i = 0; i < n_p; i++) {
		if (p[i].group != g)
			continue;
		if (kb_study_done(st, p[i].hash)) { /* finished by an earlier run */
			res->skipped++;
			continue;
		}
		first = first < 0 ? i : first;
		todo++;
	}
	if (first < 0)
		return 0;
	char path[4200];
	kb_error why = {0};
	kb_db *db = NULL;
	kb_topo_cfg recorded;
	bool have_recorded = false;
	kb_time_graph *graph = NULL;
	int64_t trace = 0, n_ops = 0;
	if (group_trace(s, opt, &p[first], path, sizeof path, &res->traced, &why) ||
	    kb_db_open(&db, path, false, &why) || kb_cli_trace_topology(db, &recorded, &why))
		goto fail_all;
	have_recorded = true;
	if (kb_read_op_count(db, &n_ops, &why))
		goto fail_all;
	if ((trace = kb_study_trace(st, path, p[first].trace_keys, n_ops, err)) < 0) { /* the study, not the point */
		kb_topo_release(&recorded);
		kb_db_close(db);
		return -1;
	}
	kb_machine m0;
	if (kb_machine_init(&m0, &recorded, &why) || kb_time_graph_build(db, &m0, NULL, &graph, &why))
		goto fail_all;
	/* the machines of the points to run; a bad value fails its point only */
	int *idx = calloc((size_t)todo, sizeof *idx), n_run = 0, rc = 0;
	kb_topo_cfg *cfg = calloc((size_t)todo, sizeof *cfg);
	kb_machine *m = calloc((size_t)todo, sizeof *m);
	const kb_machine **mp = calloc((size_t)todo, sizeof *mp);
	kb_time_summary *sum = calloc((size_t)todo, sizeof *sum);
	int *prc = calloc((size_t)todo, sizeof *prc);
	kb_error *errs = calloc((size_t)todo, sizeof *errs);
	if (!idx || !cfg || !m || !mp || !sum || !prc || !errs) {
		rc = kb_fail_status(err, KB_E_NOMEM, "out of memory");
		goto out;
	}
	for (int i = first; i < n_p && !rc; i++) {
		if (p[i].group != g || kb_study_done(st, p[i].hash))
			continue;
		kb_error e = {0};
		if (point_machine(db, &recorded, &p[i], &cfg[n_run], &m[n_run], &e)) {
			rc = store_failure(st, s, &p[i], trace, e.msg, err);
			res->failed++;
			continue;
		}
		mp[n_run] = &m[n_run];
		idx[n_run++] = i;
	}
	/* each point is stored as soon as it ends (a kill loses only the points
	 * running), from the thread that ran it, one at a time */
	stash sh = {st, s, p, idx, mp, sum, prc, errs, path, trace, opt, res, 0, {0}};
	if (!rc && n_run)
		kb_time_points(graph, mp, n_run, opt->threads, sum, prc, errs, store_done, &sh, opt->progress,
			       res->done + res->failed);
	if (!rc && sh.rc) {
		*err = sh.err;
		rc = -1;
	}
out:
	for (int k = 0; k < n_run; k++) {
		kb_time_summary_release(&sum[k]);
		kb_topo_release(&cfg[k]);
	}
	free(idx);
	free(cfg);
	free(m);
	free(mp);
	free(sum);
	free(prc);
	free(errs);
	kb_time_graph_free(graph);
	kb_topo_release(&recorded);
	kb_db_close(db);
	return rc;
fail_all: /* the trace could not be made or read: every point of it fails with why */
	rc = 0;
	for (int i = first; i < n_p && !rc; i++)
		if (p[i].group == g && !kb_study_done(st, p[i].hash)) {
			rc = store_failure(st, s, &p[i], trace, why.msg, err);
			res->failed++;
		}
	kb_time_graph_free(graph);
	if (have_recorded)
		kb_topo_release(&recorded);
	kb_db_close(db);
	return rc;
}

int kb_sweep_run(const kb_sweep_spec *s, const kb_sweep_options *opt, kb_sweep_result *res, kb_error *err)
{
	memset(res, 0, sizeof *res);
	point *p = NULL;
	int n = 0;
	if (expand(s, &p, &n, err))
		return -1;
	res->points = n;
	if (opt->slice_n > 0) { /* a Slurm task's share: every slice_n-th point */
		int kept = 0;
		for (int i = 0; i < n; i++)
			if (i % opt->slice_n == opt->slice_k) {
				point tmp = p[kept];
				p[kept++] = p[i];
				p[i] = tmp;
			}
		for (int i = kept; i < n; i++)
			point_clear(&p[i]);
		n = kept;
		res->points = n;
	}
	/* a trace spec sweeps timing keys only: anything else needs a new trace */
	for (int i = 0; s->trace && i < n; i++)
		for (int k = 0; k < p[i].n_sets; k++)
			if (!timing_key(p[i].sets[k])) {
				kb_fail(err, "'%.100s' changes the trace, not only its timing: a 'trace:' spec sweeps timing keys"
					     " (bandwidths, latencies, clock, setup costs); sweep it over a 'bench:'", p[i].sets[k]);
				points_free(p, n);
				return -1;
			}
	/* groups: points with the same trace keys share a trace */
	int n_groups = 0;
	for (int i = 0; i < n; i++) {
		p[i].group = -1;
		for (int j = 0; j < i && p[i].group < 0; j++)
			if (strcmp(p[j].trace_keys, p[i].trace_keys) == 0)
				p[i].group = p[j].group;
		if (p[i].group < 0)
			p[i].group = n_groups++;
	}
	kb_study *st;
	if (kb_study_open(&st, opt->study, s->text, (const char *const *)s->axis_key, s->n_axes, err)) {
		points_free(p, n);
		return -1;
	}
	int rc = 0, to_run = 0;
	for (int i = 0; i < n; i++)
		to_run += !kb_study_done(st, p[i].hash);
	char phase[64];
	kb_progress_begin(opt->progress, "points", "points", to_run);
	for (int g = 0; g < n_groups && !rc; g++) {
		snprintf(phase, sizeof phase, "trace %d of %d, %d failed so far:", g + 1, n_groups, res->failed);
		if (opt->progress)
			opt->progress->phase = phase;
		rc = run_group(st, s, opt, p, n, g, res, err);
		kb_progress_show(opt->progress, res->done + res->failed);
	}
	snprintf(phase, sizeof phase, "all %d traces, %d failed:", n_groups, res->failed);
	kb_progress_end(opt->progress);
	kb_study_close(st);
	points_free(p, n);
	return rc;
}

/* ---- report ---- */

static int collect(void *ctx, int n, const char *const *names, const char *const *vals)
{
	sweep_table *t = ctx;
	if (!vals) {
		t->n_cols = n;
		for (int c = 0; c < n; c++)
			if (!(t->names[c] = strdup(names[c])))
				return -1;
		return 0;
	}
	if (t->n_rows == t->cap) {
		int cap = t->cap ? 2 * t->cap : 64;
		char ***r = realloc(t->rows, (size_t)cap * sizeof *r);
		if (!r)
			return -1;
		t->rows = r;
		t->cap = cap;
	}
	char **row = calloc((size_t)n, sizeof *row);
	if (!row)
		return -1;
	t->rows[t->n_rows++] = row;
	for (int c = 0; c < n; c++)
		if (!(row[c] = strdup(vals[c] ? vals[c] : "")))
			return -1;
	return 0;
}

int sweep__sweep_table_load(const char *study, sweep_table *t, kb_error *err)
{
	memset(t, 0, sizeof *t);
	kb_study *st;
	if (kb_study_open(&st, study, NULL, NULL, 0, err))
		return -1;
	int rc = kb_study_query(st, "SELECT * FROM sweep_v", collect, t, err);
	if (!rc)
		rc = kb_study_axes(st, t->axes, &t->n_axes, err);
	kb_study_close(st);
	return rc;
}

void sweep__sweep_table_free(sweep_table *t)
{
	for (int r = 0; r < t->n_rows; r++) {
		for (int c = 0; c < t->n_cols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	for (int c = 0; c < t->n_cols; c++)
		free(t->names[c]);
	for (int a = 0; a < t->n_axes; a++)
		free(t->axes[a]);
	memset(t, 0, sizeof *t);
}

static void csv_cell(FILE *f, const char *v)
{
	if (!strpbrk(v, ",\"\n")) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++)
		fprintf(f, *v == '"' ? "\"\"" : "%c", *v);
	fputc('"', f);
}

/* A number as it is, anything else as a JSON string. */
static void json_cell(FILE *f, const char *v)
{
	char *end;
	if (*v && (strtod(v, &end), !*end))
		fputs(v, f);
	else
		kb_json_string(f, v);
}

int kb_sweep_report(const char *study, const char *format, FILE *out, kb_error *err)
{
	sweep_table t;
	int rc = sweep__sweep_table_load(study, &t, err);
	if (!rc && strcmp(format, "csv") == 0) {
		for (int c = 0; c < t.n_cols; c++) {
			fputs(c ? "," : "", out);
			csv_cell(out, t.names[c]);
		}
		fputc('\n', out);
		for (int r = 0; r < t.n_rows; r++) {
			for (int c = 0; c < t.n_cols; c++) {
				fputs(c ? "," : "", out);
				csv_cell(out, t.rows[r][c]);
			}
			fputc('\n', out);
		}
	} else if (!rc && strcmp(format, "json") == 0) {
		fputs("[", out);
		for (int r = 0; r < t.n_rows; r++) {
			fputs(r ? ",\n {" : "\n {", out);
			for (int c = 0; c < t.n_cols; c++) {
				fputs(c ? ", " : "", out);
				json_cell(out, t.names[c]);
				fputs(": ", out);
				json_cell(out, t.rows[r][c]);
			}
			fputs("}", out);
		}
		fputs("\n]\n", out);
	} else if (!rc) {
		int w[64] = {0};
		for (int c = 0; c < t.n_cols; c++) {
			w[c] = (int)strlen(t.names[c]);
			for (int r = 0; r < t.n_rows; r++)
				if ((int)strlen(t.rows[r][c]) > w[c])
					w[c] = (int)strlen(t.rows[r][c]);
		}
		for (int c = 0; c < t.n_cols; c++)
			fprintf(out, "%s%-*s", c ? "  " : "", w[c], t.names[c]);
		fputc('\n', out);
		for (int r = 0; r < t.n_rows; r++) {
			for (int c = 0; c < t.n_cols; c++)
				fprintf(out, "%s%-*s", c ? "  " : "", w[c], t.rows[r][c]);
			fputc('\n', out);
		}
	}
	sweep__sweep_table_free(&t);
	return rc;
}
