/*
 * kb_replay.c — `kb-replay`: execute a trace's numerics in the order of a
 * timing run and verify device memory against the bench's expectations.
 */
#include <getopt.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include "replay.h"
#include "reports.h"

static const char usage[] =
	"usage: kb-replay TRACE.db --verify [--run L] [--order time|dataflow] [--sample N] [--quiet]\n"
	"\n"
	"Executes every op's numerics against a model of device memory, in the\n"
	"order of a timing run (each op reads its inputs at its start time and\n"
	"writes at its end time), and with --verify compares the results with the\n"
	"expectations the bench registered. Reads of memory nothing has written and\n"
	"reads that overtake the write they depend on are reported by op.\n"
	"\n"
	"      --verify         check every expectation (rtol/atol per expectation)\n"
	"      --run L          the timing run to follow (default: the newest)\n"
	"      --order O        time (default) or dataflow: trace order, a topological\n"
	"                       order of every dependency, to tell a wrong algorithm\n"
	"                       from a timing that broke causality\n"
	"      --sample N       check N rows of each expectation (evenly spaced, first\n"
	"                       and last included) and execute only the ops those\n"
	"                       rows depend on (their backward slice through data,\n"
	"                       IPCQ slots and addresses); expectations a bench\n"
	"                       registered for some rows only are always checked so\n"
	"  -q, --quiet          print only failures\n"
	"  -h, --help           this text\n"
	"  -V, --version        print the version\n"
	"\n"
	"With collectives in the trace, --verify prints one line per call\n"
	"('ALGO (ws=N, B bytes per rank): M OK' or '[FAIL] ...') and the nccl-tests table with #wrong.\n"
	"\n"
	"exit status: 0 everything verified, 1 a check failed, 2 bad usage or input\n";

static void print_report(const kb_replay_report *rep, const char *trace, bool verify, bool quiet)
{
	if (!quiet)
		printf("%s: replayed %lld ops in %s (%s) in %.3f s; GEMMs %.1f MFLOP at %.2f GFLOP/s\n", trace,
		       (long long)(rep->sliced ? rep->slice_ops : rep->ops), rep->order == KB_ORDER_TIME ? "time order of run" : "dataflow order",
		       rep->run, rep->total_s, (double)rep->gemm_flops / 1e6,
		       rep->gemm_s > 0 ? (double)rep->gemm_flops / rep->gemm_s / 1e9 : 0.0);
	if (!quiet && rep->ops)
		printf("memory: %.1f MB for the ops (%.1f B/op), %.1f MB of simulated memory written\n",
		       (double)rep->op_bytes / 1e6, (double)rep->op_bytes / (double)rep->ops, (double)rep->sim_bytes / 1e6);
	if (rep->sliced && !quiet)
		printf("sampled rows: replayed the %lld of %lld ops they depend on; GEMMs %.4g of %.4g GFLOP\n",
		       (long long)rep->slice_ops, (long long)rep->ops, (double)rep->gemm_flops / 1e9,
		       (double)rep->total_gemm_flops / 1e9);
	for (int k = 0; verify && k < rep->n_expects; k++) {
		const kb_expect_result *e = &rep->expects[k];
		if (e->pass && quiet)
			continue;
		printf("  %s %s: %lld values", e->pass ? "PASS" : "FAIL", e->tensor, (long long)e->checked);
		if (e->rows_checked && e->rows_checked < e->rows)
			printf(" in %lld of %lld rows", (long long)e->rows_checked, (long long)e->rows);
		printf(" (rtol %g, atol %g): ", e->rtol, e->atol);
		if (e->problem[0])
			printf("%s\n", e->problem);
		else if (e->mismatches)
			printf("%lld mismatches, max abs err %.4g, max rel err %.4g; first at %s[%lld,%lld] on "
			       "sip%d.cube%d.pe%d: got %.6g, expected %.6g\n", (long long)e->mismatches, e->max_abs,
			       e->max_rel, e->tensor, (long long)e->row, (long long)e->col, e->sip, e->cube, e->pe, e->got,
			       e->want);
		else
			printf("max abs err %.4g, max rel err %.4g; values %.6g .. %.6g\n", e->max_abs, e->max_rel,
			       e->got_min, e->got_max);
	}
	for (int k = 0; verify && k < rep->n_collectives; k++)
		printf("  %s\n", rep->collectives[k]);
	if (rep->n_problems) {
		printf("problems: %lld\n", (long long)rep->n_problems);
		for (int k = 0; k < rep->n_kept; k++)
			printf("  %s\n", rep->problems[k]);
		if (rep->n_problems > rep->n_kept)
			printf("  ... and %lld more\n", (long long)(rep->n_problems - rep->n_kept));
	}
	if (verify && rep->n_expects == 0)
		printf("  FAIL: the trace registers no expectations, so nothing can be verified\n");
	if (verify)
		printf("verify: %s (%d of %d expectations passed, %lld problems)\n", kb_replay_passed(rep) ? "OK" : "FAILED",
		       rep->n_expects - rep->n_failed, rep->n_expects, (long long)rep->n_problems);
}

/* OpenBLAS's own (exported, not in cblas.h): re-read its environment;
 * stop its worker threads (the next parallel GEMM starts them again).
 * Weak: another BLAS without them leaves the policy below out. */
extern void openblas_read_env(void) __attribute__((weak));
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS's idle workers spin (sched_yield) for 2^28 cycles after each
 * GEMM before they sleep: replay's GEMMs come between long stretches of
 * other work, so they spun through most of a run (a GQA verify: 14 of 57
 * CPU-s in the kernel). 2^20 cycles (~0.4 ms) still covers back-to-back
 * GEMMs. OpenBLAS reads the setting when it loads, before main: read it
 * again and restart the workers. A user's own setting is kept. */
static void blas_policy(void)
{
	if (getenv("OPENBLAS_THREAD_TIMEOUT") || getenv("GOTO_THREAD_TIMEOUT") || !openblas_read_env ||
	    !blas_thread_shutdown_)
		return;
	setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0);
	openblas_read_env();
	blas_thread_shutdown_();
}

int main(int argc, char **argv)
{
	blas_policy();
#ifdef __GLIBC__
	/* a process-wide policy, so the tool's and not the library's: every
	 * op's result is a buffer from its read until its write; keep the heap's
	 * top and those buffers off mmap, so freeing one does not hand pages
	 * back that the next op faults in (and the kernel zeroes) again */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
	kb_cli_guard_stdout("kb-replay");
	static const struct option opts[] = {
		{"verify", no_argument, NULL, 'v'}, {"run", required_argument, NULL, 'r'},
		{"order", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
		{"sample", required_argument, NULL, 's'}, {NULL, 0, NULL, 0},
	};
	kb_replay_options opt = {0};
	const char *trace = NULL;
	bool verify = false, quiet = false;
	opterr = 0;
	while (optind < argc) {
		int c = getopt_long(argc, argv, "+:hVq", opts, NULL);
		if (c == -1) {
			if (trace)
				return kb_cli_error("kb-replay", "unexpected argument '%s' (one trace at a time)", argv[optind]);
			trace = argv[optind++];
			continue;
		}
		switch (c) {
		case 'v': verify = true; break;
		case 'r': opt.run = optarg; break;
		case 'o':
			if (strcmp(optarg, "time") == 0)
				opt.order = KB_ORDER_TIME;
			else if (strcmp(optarg, "dataflow") == 0)
				opt.order = KB_ORDER_DATAFLOW;
			else
				return kb_cli_error("kb-replay", "--order '%s': expected time or dataflow", optarg);
			break;
		case 'q': quiet = true; break;
		case 's': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > 1000000)
				return kb_cli_error("kb-replay", "--sample '%s': expected a row count 1..1000000", optarg);
			opt.sample = (int)v;
			break;
		}
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-replay %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':': return kb_cli_error("kb-replay", "option '%s' needs a value", argv[optind - 1]);
		default: return kb_cli_error("kb-replay", "bad option '%s' (see kb-replay --help)", argv[optind - 1]);
		}
	}
	if (!trace)
		return kb_cli_error("kb-replay", "missing the trace file (see kb-replay --help)");
	kb_error err = {0};
	kb_db *db = NULL;
	kb_topo_cfg cfg;
	kb_machine m;
	kb_replay_report rep;
	if (kb_db_open(&db, trace, false, &err) || kb_cli_trace_topology(db, &cfg, &err)) {
		kb_db_close(db);
		return kb_cli_fail("kb-replay", &err);
	}
	char *timing_only = kb_db_meta_get(db, "timing_only");
	if (timing_only) { /* an imported workload: ops without values */
		printf("%s: timing-only trace (%s): nothing to replay or verify\n", trace, timing_only);
		free(timing_only);
		kb_topo_release(&cfg);
		kb_db_close(db);
		return KB_EXIT_OK;
	}
	kb_progress progress = {.tool = "kb-replay", .on = kb_progress_wanted(quiet)};
	opt.progress = &progress;
	int rc = kb_machine_init(&m, &cfg, &err) || kb_replay(db, &m, &opt, &rep, &err);
	kb_topo_release(&cfg);
	if (rc) {
		kb_db_close(db);
		return kb_cli_fail("kb-replay", &err);
	}
	print_report(&rep, trace, verify, quiet);
	if (verify && !quiet && rep.n_collectives &&
	    kb_report_collectives(stdout, db, rep.run_id, rep.coll_wrong, rep.n_collectives, false, &err))
		fprintf(stderr, "kb-replay: %s\n", err.msg);
	bool ok = verify ? kb_replay_passed(&rep) : rep.n_problems == 0;
	kb_replay_report_release(&rep);
	kb_db_close(db);
	return ok ? KB_EXIT_OK : KB_EXIT_FAILED;
}
