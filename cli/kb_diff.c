/*
 * kb_diff.c — the kb-diff command: what changed between two traces or two
 * runs of one trace.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "reports.h"

static const char usage[] =
	"usage: kb-diff A.db B.db [--run-a LABEL] [--run-b LABEL] [--top N] [--json]\n"
	"       kb-diff T.db T.db --run-a L1 --run-b L2     (two runs of one trace)\n"
	"\n"
	"Structure: config keys that differ (effective topology and ccl, key by\n"
	"key), bench and parameters, op counts by kind / range / kernel, the first\n"
	"divergence of each op stream (ops aligned by PE or host stream and\n"
	"sequence, compared by kind, shapes, bytes, flops and attributes). Timing\n"
	"(each trace's newest run unless named): total, ranges, kernels,\n"
	"collectives (absolute and %), and the links whose load or stall changed\n"
	"most. A trace without a timing run is compared by structure only.\n"
	"\n"
	"      --run-a, --run-b LABEL  timing runs to compare\n"
	"      --top N                 rows per ranked table (default 20, 0 = all)\n"
	"      --json                  JSON instead of text\n"
	"  -h, --help                  this text\n"
	"  -V, --version               print the version\n"
	"\n"
	"exit status: 0 identical, 1 different, 2 bad usage or input\n";

static int check_ops(kb_db *db, kb_progress *progress, int64_t kinds[KB_OP_KIND_COUNT], kb_error *err)
{
	int64_t n;
	kb_op_stream *s;
	if (kb_read_op_count(db, &n, err) || kb_op_stream_open_range(db, 1, n, &s, err))
		return -1;
	kb_progress_begin(progress, "check", "ops", n);
	kb_op o;
	int rc;
	for (int64_t i = 0; (rc = kb_op_stream_next(s, &o, err)) == 1; i++) {
		kb_progress_tick(progress, i);
		kinds[o.kind]++; /* checked: 1 .. KB_OP_KIND_COUNT - 1 */
	}
	kb_op_stream_close(s);
	return rc;
}

int main(int argc, char **argv)
{
	kb_cli_guard_stdout("kb-diff");
	static const struct option opts[] = {
		{"run-a", required_argument, NULL, 'a'}, {"run-b", required_argument, NULL, 'b'},
		{"top", required_argument, NULL, 'n'},   {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},        {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	kb_diff_options o = {.top = 20};
	const char *file[2] = {NULL, NULL};
	int n_files = 0;
	opterr = 0;
	while (optind < argc) {
		int opt = getopt_long(argc, argv, "+:hV", opts, NULL);
		if (opt == -1) {
			if (n_files == 2)
				return kb_cli_error("kb-diff", "unexpected argument '%s' (see kb-diff --help)", argv[optind]);
			file[n_files++] = argv[optind++];
			continue;
		}
		char *end;
		switch (opt) {
		case 'a': o.run_a = optarg; break;
		case 'b': o.run_b = optarg; break;
		case 'n':
			o.top = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || o.top < 0 || o.top > 100000)
				return kb_cli_error("kb-diff", "--top '%s': expected 0 (all) to 100000", optarg);
			if (o.top == 0)
				o.top = -1; /* SQL's LIMIT -1: every row */
			break;
		case 'j': o.json = true; break;
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-diff %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':': return kb_cli_error("kb-diff", "option '%s' needs a value", argv[optind - 1]);
		default: return kb_cli_error("kb-diff", "bad option '%s' (see kb-diff --help)", argv[optind - 1]);
		}
	}
	if (n_files != 2)
		return kb_cli_error("kb-diff", "needs two traces (see kb-diff --help)");
	kb_db *a = NULL, *b = NULL;
	kb_error err = {0};
	if (kb_db_open(&a, file[0], false, &err) || kb_db_open(&b, file[1], false, &err)) {
		kb_db_close(a);
		return kb_cli_fail("kb-diff", &err);
	}
	/* every op row through the readers' checks, as kb-time and kb-replay
	 * read them: a trace they refuse as damaged is not compared */
	kb_progress progress = {.tool = "kb-diff", .on = kb_progress_wanted(0)};
	o.progress = &progress;
	int64_t kinds[2][KB_OP_KIND_COUNT] = {{0}};
	o.kinds_a = kinds[0];
	o.kinds_b = kinds[1];
	if (check_ops(a, &progress, kinds[0], &err) || check_ops(b, &progress, kinds[1], &err)) {
		kb_progress_end(&progress);
		kb_db_close(a);
		kb_db_close(b);
		return kb_cli_fail("kb-diff", &err);
	}
	/* structure only when a side has no run (and none was named) */
	kb_error probe;
	o.structure_only = (!o.run_a && kb_report_run_id(a, NULL, &probe) < 0) ||
			   (!o.run_b && kb_report_run_id(b, NULL, &probe) < 0);
	bool differ = false;
	int rc = kb_diff(stdout, a, b, &o, &differ, &err);
	kb_progress_end(&progress);
	kb_db_close(a);
	kb_db_close(b);
	if (rc)
		return kb_cli_fail("kb-diff", &err);
	return differ ? KB_EXIT_FAILED : KB_EXIT_OK;
}
