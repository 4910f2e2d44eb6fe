/*
 * cli.c — shared command-line plumbing for the kb-* programs.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

int kb_cli_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return KB_EXIT_USAGE;
}

int kb_cli_exit_code(kb_status s)
{
	switch (s) {
	case KB_OK: return KB_EXIT_OK;
	case KB_E_DEADLOCK: return KB_EXIT_DEADLOCK;
	default: return KB_EXIT_USAGE;
	}
}

int kb_cli_fail(const char *prog, const kb_error *err)
{
	fprintf(stderr, "%s: %s\n", prog, err->msg[0] ? err->msg : kb_strerror(err->status));
	return kb_cli_exit_code(err->status == KB_OK ? KB_E_INTERNAL : err->status);
}

static const char *stdout_prog = "kb";

/* At exit: output that did not reach standard output (a full disk,
 * /dev/full, a closed pipe) is an error, not a success (gnulib's
 * close_stdout does the same). */
static void check_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	fprintf(stderr, "%s: cannot write standard output: %s\n", stdout_prog, strerror(errno ? errno : EIO));
	_exit(KB_EXIT_USAGE);
}

void kb_cli_guard_stdout(const char *prog)
{
	stdout_prog = prog;
	atexit(check_stdout);
}

int kb_cli_configs_load(kb_cli_configs *c, const char *topo_path, const char *ccl_path, char *const *sets,
			int n_sets, const char *bench, kb_error *err)
{
	memset(c, 0, sizeof *c);
	if (kb_topo_load(&c->topo, topo_path, err))
		return -1;
	if (kb_ccl_load(&c->ccl, ccl_path, err)) {
		kb_topo_release(&c->topo);
		return -1;
	}
	size_t bl = bench ? strlen(bench) : 0;
	for (int i = 0; i < n_sets; i++) {
		const char *kv = sets[i], *eq = strchr(kv, '=');
		char key[256];
		if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
			kb_fail(err, "--set '%s': expected KEY=VALUE", kv);
			goto fail;
		}
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = '\0';
		int rc;
		if (bench && strncmp(kv, bench, bl) == 0 && kv[bl] == '.') {
			if (c->n_bench_params == KB_CLI_MAX_SETS) {
				kb_fail(err, "too many --set options");
				goto fail;
			}
			c->bench_params[c->n_bench_params++] = kv + bl + 1;
			continue;
		} else if (strncmp(key, "ccl.", 4) == 0) {
			rc = kb_ccl_set(&c->ccl, key + 4, eq + 1, err);
		} else {
			rc = kb_topo_set(&c->topo, key, eq + 1, err);
		}
		if (rc)
			goto fail;
	}
	return 0;
fail:
	kb_cli_configs_release(c);
	return -1;
}

void kb_cli_configs_release(kb_cli_configs *c)
{
	kb_topo_release(&c->topo);
	kb_ccl_release(&c->ccl);
}

int kb_cli_print_trace_summary(FILE *out, const char *path, kb_error *err)
{
	kb_db *db;
	if (kb_db_open(&db, path, false, err))
		return -1;
	char *bench = kb_db_meta_get(db, "bench"), *params = kb_db_meta_get(db, "bench_params");
	struct stat st;
	long long size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
	fprintf(out, "trace %s: bench %s (%s)\n", path, bench ? bench : "?", params ? params : "");
	free(bench);
	free(params);
	kb_query *q;
	long long total = 0;
	static const char sql[] =
		"SELECT k.name AS kind, count(*) AS n, sum(o.bytes) AS bytes, sum(o.flops) AS flops FROM ops o"
		" JOIN enum_op_kind k ON k.id = o.kind GROUP BY o.kind ORDER BY o.kind";
	if (kb_query_open(db, sql, &q, err)) {
		kb_db_close(db);
		return -1;
	}
	fprintf(out, "  %-16s %10s %16s %16s\n", "op kind", "count", "bytes", "flops");
	int rc;
	while ((rc = kb_query_step(q, err)) == 1) {
		long long n = kb_query_int(q, "n");
		total += n;
		fprintf(out, "  %-16s %10lld %16lld %16lld\n", kb_query_text(q, "kind"), n, (long long)kb_query_int(q, "bytes"),
			(long long)kb_query_int(q, "flops"));
	}
	kb_query_close(q);
	int64_t launches = 0, tensors = 0, blobs = 0;
	if (rc < 0 || kb_query_int_value(db, "SELECT count(*) FROM launches", 0, &launches, err) ||
	    kb_query_int_value(db, "SELECT count(*) FROM tensors", 0, &tensors, err) ||
	    kb_query_int_value(db, "SELECT sum(length(data)) FROM blobs", 0, &blobs, err)) {
		kb_db_close(db);
		return -1;
	}
	fprintf(out, "  %lld ops, %lld launches, %lld tensors; file %lld bytes (%lld bytes of compressed data)\n",
		total, (long long)launches, (long long)tensors, size, (long long)blobs);
	kb_db_close(db);
	return 0;
}

int kb_cli_trace_topology(kb_db *db, kb_topo_cfg *cfg, kb_error *err)
{
	char *yaml = kb_db_meta_get(db, "topology_yaml"), *over = kb_db_meta_get(db, "topology_overrides");
	char name[300];
	snprintf(name, sizeof name, "%s (embedded topology)", kb_db_path(db));
	int rc = -1;
	if (!yaml) {
		kb_fail(err, "%s: the trace has no embedded topology", kb_db_path(db));
		goto out;
	}
	if (kb_topo_load_text(cfg, name, yaml, err))
		goto out;
	for (char *line = over, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *key, *value;
		if (kb_split_assignment(line, &key, &value) ? kb_fail(err, "%s: bad recorded override '%s'", kb_db_path(db), line)
							      : kb_topo_set(cfg, key, value, err)) {
			kb_topo_release(cfg);
			goto out;
		}
	}
	rc = 0;
out:
	free(yaml);
	free(over);
	return rc;
}

