/*
 * kb_report.c — the kb-report command: the summary of a timing run, and
 * its JSON / CSV / HTML / Perfetto exports.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "chakra.h"
#include "reports.h"

static const char usage[] =
	"usage: kb-report TRACE.db [--run LABEL] [--top N] [--json FILE|-] [--csv DIR] [--html FILE]\n"
	"                          [--perfetto FILE [--perfetto-split N]] [--gqa-sweep FILE] [--quiet]\n"
	"\n"
	"The summary of a timing run (the newest unless --run): time per rank (host\n"
	"setup apart from device time), ranges, kernels and op kinds with count /\n"
	"total / avg / median / min / max / stddev, unit utilisation over PEs (min,\n"
	"median, max, per engine), throughput against peak, links by class and the\n"
	"busiest links (achieved GB/s over their active window, stall), collectives\n"
	"(algbw, busbw), the critical path and kernel-scratch high-water marks.\n"
	"\n"
	"      --run LABEL      timing run to report (default: the newest)\n"
	"      --top N          rows of each table in the text view (default 10, 0 = all);\n"
	"                       --json, --csv and --html hold every row\n"
	"      --json FILE      every table as JSON ('-': standard output)\n"
	"      --csv DIR        one CSV file per table in DIR\n"
	"      --html FILE      one self-contained page with SVG charts\n"
	"      --perfetto FILE  Chrome / Perfetto trace-event JSON (ui.perfetto.dev), ~260 B/op\n"
	"      --perfetto-split N  at most N ops per file, in time order: FILE.001.json,\n"
	"                       FILE.002.json, ... (the UI loads ~1 M ops a file well;\n"
	"                       an IPCQ arrow whose ends fall in two files is left out)\n"
	"      --section NAME   only this table, in every output (repeatable; nsys stats'\n"
	"                       --report): see --list-sections\n"
	"      --list-sections  each table's name and title\n"
	"      --runs           list the trace's timing runs (label, simulated time, ops,\n"
	"                       the --set overrides they ran with) and exit\n"
	"      --chakra DIR     write the trace as Chakra ET for ASTRA-sim instead: DIR/NAME.<rank>.et\n"
	"                       per SIP (NAME: the trace's base name); no timing run needed\n"
	"      --chakra-collectives  each collective call as one COMM_COLL_NODE (ASTRA-sim\n"
	"                       runs its own algorithm) instead of its sends and receives\n"
	"      --gqa-sweep FILE sweep.json v1 of a milestone-gqa-llama70b trace (per-panel\n"
	"                       op counts and simulated time)\n"
	"  -q, --quiet          no text summary\n"
	"  -h, --help           this text\n"
	"  -V, --version        print the version\n"
	"\n"
	"exit status: 0 ok, 2 bad usage or input\n";

int main(int argc, char **argv)
{
	kb_cli_guard_stdout("kb-report");
	static const struct option opts[] = {
		{"run", required_argument, NULL, 'r'},  {"top", required_argument, NULL, 'n'},
		{"json", required_argument, NULL, 'j'}, {"csv", required_argument, NULL, 'c'},
		{"html", required_argument, NULL, 'H'}, {"perfetto", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},      {"help", no_argument, NULL, 'h'},
		{"gqa-sweep", required_argument, NULL, 'g'}, {"perfetto-split", required_argument, NULL, 's'},
		{"runs", no_argument, NULL, 'R'},       {"version", no_argument, NULL, 'V'},
		{"section", required_argument, NULL, 'e'}, {"list-sections", no_argument, NULL, 'L'},
		{"chakra", required_argument, NULL, 'k'}, {"chakra-collectives", no_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	kb_report_options o = {.top = 10};
	const char *trace = NULL;
	bool runs = false;
	const char *chakra = NULL;
	kb_chakra_export_opts xo = {0};
	opterr = 0;
	while (optind < argc) {
		int opt = getopt_long(argc, argv, "+:qhV", opts, NULL);
		if (opt == -1) {
			if (trace)
				return kb_cli_error("kb-report", "unexpected argument '%s' (see kb-report --help)", argv[optind]);
			trace = argv[optind++];
			continue;
		}
		char *end;
		switch (opt) {
		case 'r': o.run = optarg; break;
		case 'n':
			o.top = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || o.top < 0 || o.top > 100000)
				return kb_cli_error("kb-report", "--top '%s': expected 0 (all) to 100000", optarg);
			break;
		case 'j': o.json = optarg; break;
		case 'c': o.csv = optarg; break;
		case 'H': o.html = optarg; break;
		case 'p': o.perfetto = optarg; break;
		case 's':
			o.perfetto_split = strtoll(optarg, &end, 10);
			if (*end || end == optarg || o.perfetto_split < 1)
				return kb_cli_error("kb-report", "--perfetto-split '%s': expected a number of ops >= 1", optarg);
			break;
		case 'g': o.gqa_sweep = optarg; break;
		case 'q': o.quiet = true; break;
		case 'R': runs = true; break;
		case 'k': chakra = optarg; break;
		case 'K': xo.collectives = true; break;
		case 'L': o.list_sections = true; break;
		case 'e':
			if (o.n_sections == (int)(sizeof o.sections / sizeof o.sections[0]))
				return kb_cli_error("kb-report", "too many --section options");
			o.sections[o.n_sections++] = optarg;
			break;
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-report %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':': return kb_cli_error("kb-report", "option '%s' needs a value", argv[optind - 1]);
		default: return kb_cli_error("kb-report", "bad option '%s' (see kb-report --help)", argv[optind - 1]);
		}
	}
	if (o.perfetto_split && !o.perfetto)
		return kb_cli_error("kb-report", "--perfetto-split needs --perfetto FILE");
	if (!trace)
		return kb_cli_error("kb-report", "missing the trace file (see kb-report --help)");
	if (o.json && strcmp(o.json, "-") == 0)
		o.quiet = true; /* standard output is the JSON */
	kb_db *db;
	kb_error err = {0};
	if (kb_db_open(&db, trace, false, &err))
		return kb_cli_fail("kb-report", &err);
	if (chakra) {
		kb_topo_cfg cfg;
		kb_machine m;
		char name[256];
		const char *base = strrchr(trace, '/');
		snprintf(name, sizeof name, "%s", base ? base + 1 : trace);
		char *dot = strrchr(name, '.');
		if (dot && dot != name)
			*dot = '\0';
		int n_ranks = 0;
		int64_t n_nodes = 0;
		double t0 = kb_now_s();
		int rc = kb_cli_trace_topology(db, &cfg, &err);
		if (!rc) {
			rc = kb_machine_init(&m, &cfg, &err) || kb_chakra_export(db, &m, chakra, name, &xo, &n_ranks, &n_nodes, &err);
			kb_topo_release(&cfg);
		}
		kb_db_close(db);
		if (rc)
			return kb_cli_fail("kb-report", &err);
		if (!o.quiet)
			printf("wrote %s/%s.{0..%d}.et: %d ranks, %lld nodes (Chakra ET, schema 0.0.4) in %.2f s\n", chakra, name,
			       n_ranks - 1, n_ranks, (long long)n_nodes, kb_now_s() - t0);
		return KB_EXIT_OK;
	}
	kb_progress progress = {.tool = "kb-report", .on = kb_progress_wanted(0)};
	o.progress = &progress;
	int rc = runs ? kb_report_runs(stdout, db, &err) : kb_report(stdout, db, &o, &err);
	kb_progress_end(&progress);
	kb_db_close(db);
	return rc ? kb_cli_fail("kb-report", &err) : KB_EXIT_OK;
}
