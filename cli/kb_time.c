/*
 * kb_time.c — `kb-time`: time a trace with the topology's models and store
 * the timing run in the same file.
 */
#include <getopt.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "reports.h"
#include "timing.h"

static const char usage[] =
	"usage: kb-time TRACE.db [--topology FILE] [--set KEY=VALUE]... [--label L] [--replace]\n"
	"                        [--quiet] [--json] [--top N] [--stats]\n"
	"\n"
	"Computes start and end times for every op of the trace from the topology's\n"
	"compute, memory and link models (dependencies, units, link contention) and\n"
	"stores them as a timing run in the trace. Re-time with other parameters\n"
	"without re-tracing; every run stays in the file.\n"
	"\n"
	"      --topology FILE  time with this topology instead of the one the trace\n"
	"                       was recorded with (same structure, other parameters)\n"
	"      --set KEY=VALUE  override a topology key, e.g.\n"
	"                       --set cube.components.hbm.attrs.bandwidth_gbps=200\n"
	"      --label L        name of the run (default run<N>)\n"
	"      --replace        replace an existing run with the same label\n"
	"  -q, --quiet          print nothing on success\n"
	"      --json           print the summary as JSON\n"
	"      --top N          rows per summary list, text and --json (default 5, 0 = all)\n"
	"      --stats          print timing-pass throughput and memory on stderr\n"
	"  -h, --help           this text\n"
	"  -V, --version        print the version\n"
	"\n"
	"A schedule that cannot finish (an IPCQ recv no send feeds, a credit cycle)\n"
	"exits 3 and prints, after the error line, the IPCQ pointer dump of every\n"
	"PE stuck on a send or recv (my_head my_tail peer_head_cache peer_tail_cache\n"
	"per direction). A trace with collectives also gets the nccl-tests table.\n"
	"\n"
	"exit status: 0 ok, 2 bad usage or input, 3 simulated deadlock\n";

int main(int argc, char **argv)
{
	kb_cli_guard_stdout("kb-time");
	static const struct option opts[] = {
		{"topology", required_argument, NULL, 't'}, {"set", required_argument, NULL, 's'},
		{"label", required_argument, NULL, 'l'},    {"replace", no_argument, NULL, 'r'},
		{"quiet", no_argument, NULL, 'q'},          {"json", no_argument, NULL, 'j'},
		{"top", required_argument, NULL, 'n'},      {"stats", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *topo_path = NULL, *trace = NULL;
	kb_time_options opt = {0};
	char *sets[KB_CLI_MAX_SETS];
	int n_sets = 0, top = 5, opt_c;
	bool quiet = false, json = false, stats = false;
	opterr = 0;
	while (optind < argc) {
		opt_c = getopt_long(argc, argv, "+:hVq", opts, NULL);
		if (opt_c == -1) {
			if (trace)
				return kb_cli_error("kb-time", "unexpected argument '%s' (one trace at a time)", argv[optind]);
			trace = argv[optind++];
			continue;
		}
		switch (opt_c) {
		case 't': topo_path = optarg; break;
		case 's':
			if (n_sets == KB_CLI_MAX_SETS)
				return kb_cli_error("kb-time", "too many --set options");
			sets[n_sets++] = optarg;
			break;
		case 'l': opt.label = optarg; break;
		case 'r': opt.replace = true; break;
		case 'q': quiet = true; break;
		case 'j': json = true; break;
		case 'S': stats = true; break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 100000)
				return kb_cli_error("kb-time", "--top '%s': expected 0 (all) to 100000", optarg);
			top = (int)v;
			break;
		}
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-time %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':': return kb_cli_error("kb-time", "option '%s' needs a value", argv[optind - 1]);
		default: return kb_cli_error("kb-time", "bad option '%s' (see kb-time --help)", argv[optind - 1]);
		}
	}
	if (!trace)
		return kb_cli_error("kb-time", "missing the trace file (see kb-time --help)");
	if (opt.label && (!*opt.label || strlen(opt.label) >= 64))
		return kb_cli_error("kb-time", "--label must have 1 to 63 characters");

	kb_error err = {0};
	kb_db *db = NULL;
	kb_topo_cfg recorded, cfg;
	kb_machine m;
	kb_time_result res = {0};
	int rc = KB_EXIT_USAGE;
	bool have_recorded = false, have_cfg = false;
	if (kb_db_open(&db, trace, true, &err) || kb_cli_trace_topology(db, &recorded, &err))
		goto fail;
	have_recorded = true;
	if (topo_path ? kb_topo_load(&cfg, topo_path, &err) : kb_cli_trace_topology(db, &cfg, &err))
		goto fail;
	have_cfg = true;
	for (int i = 0; i < n_sets; i++) {
		char kv[512], *key, *value;
		snprintf(kv, sizeof kv, "%s", sets[i]);
		if (kb_split_assignment(kv, &key, &value)) {
			kb_fail(&err, "--set '%s': expected KEY=VALUE", sets[i]);
			goto fail;
		}
		if (kb_topo_set(&cfg, key, value, &err))
			goto fail;
	}
	if (kb_time_check_structure(&recorded, &cfg, &err) || kb_machine_init(&m, &cfg, &err))
		goto fail;
	opt.source = topo_path ? topo_path : "recorded with the trace";
	opt.overrides = cfg.overrides;
	kb_progress progress = {.tool = "kb-time", .on = kb_progress_wanted(quiet)};
	opt.progress = &progress;
	int trc = kb_time_trace(db, &m, &opt, &res, &err);
	if (trc) {
		rc = kb_cli_exit_code(err.status);
		goto fail;
	}
	if (stats) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		double total = res.read_s + res.schedule_s + res.write_s;
		fprintf(stderr, "kb-time: %lld ops, %lld edges in %.3f s (read+graph %.3f s, schedule %.3f s, write %.3f s):"
			" %.0f ops/s; scheduler memory %.1f MB (%.0f bytes/op); peak RSS %ld MB\n", (long long)res.n_ops,
			(long long)res.n_edges, total,
			res.read_s, res.schedule_s, res.write_s, total > 0 ? (double)res.n_ops / total : 0.0,
			(double)res.peak_bytes / (1 << 20), res.n_ops ? (double)res.peak_bytes / (double)res.n_ops : 0.0,
			ru.ru_maxrss / 1024);
	}
	if (!quiet) { /* built in memory while the progress line shows, then printed */
		char *text = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&text, &len);
		kb_progress_begin(&progress, "summary", NULL, 0);
		kb_db_progress(db, &progress);
		int src = !mem ? kb_fail_status(&err, KB_E_NOMEM, "out of memory")
			       : kb_report_timing(mem, db, res.run_id, top, json, &err);
		if (mem)
			fclose(mem);
		kb_db_progress(db, NULL);
		kb_progress_end(&progress);
		if (!src)
			fwrite(text, 1, len, stdout);
		free(text);
		if (src)
			goto fail;
	}
	rc = KB_EXIT_OK;
	goto out;
fail:
	kb_cli_fail("kb-time", &err);
	if (res.diagnostics) /* the deadlock's pointer dump, whole */
		fprintf(stderr, "IPCQ pointer dump (PEs stuck on a send or recv):\n%s", res.diagnostics);
out:
	free(res.diagnostics);
	if (have_recorded)
		kb_topo_release(&recorded);
	if (have_cfg)
		kb_topo_release(&cfg);
	kb_db_close(db);
	return rc;
}
