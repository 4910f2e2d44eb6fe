/*
 * helpers.c — shared test plumbing (see helpers.h).
 */
#include "helpers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli.h"
#include "timing.h"

static char path[128];

kb_machine th_default_machine(void)
{
	kb_topo_cfg cfg;
	kb_machine m;
	kb_error err;
	kb_topo_defaults(&cfg);
	if (kb_machine_init(&m, &cfg, &err))
		fail_msg("default machine: %s", err.msg);
	return m;
}

const char *th_path(void)
{
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/kb_test_%d.db", (int)getpid());
	return path;
}

int th_trace(const kb_bench *b, int n_params, const char *const *params, kb_error *err)
{
	return th_trace_ccl(b, n_params, params, 0, NULL, err);
}

int th_trace_ccl(const kb_bench *b, int n_params, const char *const *params, int n_ccl, const char *const *ccl_sets,
		 kb_error *err)
{
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	if (kb_topo_load(&topo, NULL, err) || kb_ccl_load(&ccl, NULL, err))
		fail_msg("built-in configs: %s", err->msg);
	for (int i = 0; i < n_ccl; i++) {
		char kv[256], *k, *v;
		snprintf(kv, sizeof kv, "%s", ccl_sets[i]);
		if (kb_split_assignment(kv, &k, &v) || kb_ccl_set(&ccl, k, v, err))
			fail_msg("ccl %s: %s", ccl_sets[i], err->msg);
	}
	kb_trace_request req = {b, &topo, &ccl, th_path(), params, n_params, NULL, NULL};
	int rc = kb_trace_bench(&req, NULL, err);
	kb_topo_release(&topo);
	kb_ccl_release(&ccl);
	return rc;
}

void th_trace_ok(const kb_bench *b, int n_params, const char *const *params)
{
	kb_error err;
	if (th_trace(b, n_params, params, &err))
		fail_msg("trace %s: %s", b->name, err.msg);
}

int64_t th_time(const char *label, int n_sets, const char *const *sets)
{
	kb_db *db;
	kb_error err;
	kb_topo_cfg cfg;
	kb_machine m;
	kb_time_result res;
	if (kb_db_open(&db, th_path(), true, &err) || kb_cli_trace_topology(db, &cfg, &err))
		fail_msg("open: %s", err.msg);
	for (int i = 0; i < n_sets; i++) {
		char kv[256], *k, *v;
		snprintf(kv, sizeof kv, "%s", sets[i]);
		if (kb_split_assignment(kv, &k, &v) || kb_topo_set(&cfg, k, v, &err))
			fail_msg("--set %s: %s", sets[i], err.msg);
	}
	if (kb_machine_init(&m, &cfg, &err))
		fail_msg("machine: %s", err.msg);
	kb_time_options opt = {label, false, "test", cfg.overrides, NULL};
	if (kb_time_trace(db, &m, &opt, &res, &err))
		fail_msg("kb_time_trace: %s", err.msg);
	kb_topo_release(&cfg);
	kb_db_close(db);
	return res.total_ps;
}

int64_t th_query(const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(th_path(), &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("cannot open %s", th_path());
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: no row", sql);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}
