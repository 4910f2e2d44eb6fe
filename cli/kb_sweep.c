/*
 * kb_sweep.c — `kb-sweep`: what-if studies (sweep/sweep.h).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "sweep.h"

static const char usage[] =
	"usage: kb-sweep SPEC.yaml -o STUDY.db [-j N] [--keep-ops LIST] [--quiet]\n"
	"       kb-sweep SPEC.yaml -o STUDY.db --engine slurm [--tasks N] [--dry-run]\n"
	"       kb-sweep merge STUDY.db PART.study...\n"
	"       kb-sweep report STUDY.db [--csv | --json | --html FILE [--metric COLUMN]]\n"
	"\n"
	"Runs a what-if study. SPEC names a bench (with base `set` values) or an\n"
	"existing trace, and axes: keys with value lists, combined as a grid\n"
	"(combine: product) or in step (combine: zip):\n"
	"\n"
	"  bench: ccl_allreduce\n"
	"  set: [\"ccl.defaults.algorithm=ring_rsag_allreduce\"]\n"
	"  axes:\n"
	"    system.components.sip_link.attrs.bandwidth_gbps: [32, 64, 128]\n"
	"    ccl_allreduce.n_elem: [1024, 262144]\n"
	"  combine: product\n"
	"\n"
	"Points that differ only in timing keys (bandwidths, latencies, clock,\n"
	"setup costs) share one trace; each other combination is traced once, into\n"
	"STUDY.db.traces/. Per trace the dependency graph is built once and the\n"
	"points run as schedules on N threads. Each point is stored on its own in\n"
	"STUDY.db (its sweep_v view has a column per axis): a rerun of the same spec\n"
	"skips finished points, and a failed point keeps its error.\n"
	"\n"
	"  -o, --output FILE    the study database (required)\n"
	"  -j, --jobs N         schedule threads (default: one per core)\n"
	"      --engine slurm   submit a Slurm job array instead (sbatch): each of --tasks N\n"
	"                       tasks (default 4) runs every N-th point into its own partial\n"
	"                       study, traces shared in STUDY.db.traces/; a job that depends on\n"
	"                       the array (afterok) merges the parts into STUDY.db\n"
	"      --dry-run        with --engine slurm: print the two scripts, submit nothing\n"
	"      --slice K/N      run only the points whose index mod N is K (a task's share)\n"
	"      --traces DIR     where traces are made (default: STUDY.db.traces)\n"
	"      --keep-ops LIST  also store these points' op_times rows (1-based, spec order:\n"
	"                       '1,5' or 'all') in their trace, as the timing run 'sweep-<hash>'\n"
	"  -q, --quiet          no summary line\n"
	"      --csv, --json    report: the table as CSV / JSON\n"
	"      --html FILE      report: SVG line plots of --metric (default total_us; or busbw_gbps,\n"
	"                       device_ps, ...) against the first axis, a line per value of the\n"
	"                       second, a plot per combination of the others; then the table\n"
	"  -h, --help           this text\n"
	"  -V, --version        print the version\n"
	"\n"
	"exit status: 0 every point ok, 1 some points failed, 2 bad usage or input\n";

/* A whole number 1..hi into *v; -1 otherwise. */
static int int_option(const char *text, long hi, int *v)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (*end || end == text || n < 1 || n > hi)
		return -1;
	*v = (int)n;
	return 0;
}

static int merge(int argc, char **argv)
{
	if (argc < 4)
		return kb_cli_error("kb-sweep", "merge needs the study and at least one part (see kb-sweep --help)");
	kb_error err = {0};
	for (int i = 3; i < argc; i++)
		if (kb_study_merge(argv[2], argv[i], &err))
			return kb_cli_fail("kb-sweep", &err);
	printf("%s: merged %d part%s\n", argv[2], argc - 3, argc > 4 ? "s" : "");
	return KB_EXIT_OK;
}

static int report(int argc, char **argv)
{
	const char *format = "text", *study = NULL, *html = NULL, *metric = "total_us";
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0)
			format = "csv";
		else if (strcmp(argv[i], "--json") == 0)
			format = "json";
		else if (strcmp(argv[i], "--html") == 0 || strcmp(argv[i], "--metric") == 0) {
			if (i + 1 == argc)
				return kb_cli_error("kb-sweep", "option '%s' needs a value", argv[i]);
			*(argv[i][2] == 'h' ? &html : &metric) = argv[i + 1];
			i++;
		} else if (argv[i][0] == '-')
			return kb_cli_error("kb-sweep", "bad option '%s' (see kb-sweep --help)", argv[i]);
		else if (study)
			return kb_cli_error("kb-sweep", "unexpected argument '%s'", argv[i]);
		else
			study = argv[i];
	}
	if (!study)
		return kb_cli_error("kb-sweep", "report needs the study file (see kb-sweep --help)");
	kb_error err = {0};
	int rc = html ? kb_sweep_html(study, html, metric, &err) : kb_sweep_report(study, format, stdout, &err);
	return rc ? kb_cli_fail("kb-sweep", &err) : KB_EXIT_OK;
}

int main(int argc, char **argv)
{
	kb_cli_guard_stdout("kb-sweep");
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report(argc, argv);
	if (argc > 1 && strcmp(argv[1], "merge") == 0)
		return merge(argc, argv);
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'}, {"jobs", required_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {"keep-ops", required_argument, NULL, 'k'},
		{"engine", required_argument, NULL, 'e'}, {"tasks", required_argument, NULL, 't'},
		{"dry-run", no_argument, NULL, 'n'},      {"slice", required_argument, NULL, 's'},
		{"traces", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	const char *spec_path = NULL, *study = NULL, *keep = NULL, *traces = NULL;
	bool slurm = false, dry_run = false, quiet = false;
	int threads = 0, tasks = 4, slice_k = 0, slice_n = 0;
	opterr = 0;
	while (optind < argc) {
		int opt = getopt_long(argc, argv, "+:o:j:qhV", opts, NULL);
		if (opt == -1) {
			if (spec_path)
				return kb_cli_error("kb-sweep", "unexpected argument '%s' (see kb-sweep --help)", argv[optind]);
			spec_path = argv[optind++];
			continue;
		}
		switch (opt) {
		case 'o': study = optarg; break;
		case 'j':
			if (int_option(optarg, 1024, &threads))
				return kb_cli_error("kb-sweep", "--jobs '%s': expected 1..1024", optarg);
			break;
		case 'q': quiet = true; break;
		case 'e':
			if (strcmp(optarg, "slurm") != 0 && strcmp(optarg, "local") != 0)
				return kb_cli_error("kb-sweep", "--engine '%s': expected local or slurm", optarg);
			slurm = optarg[0] == 's';
			break;
		case 't':
			if (int_option(optarg, 100000, &tasks))
				return kb_cli_error("kb-sweep", "--tasks '%s': expected 1..100000", optarg);
			break;
		case 'n': dry_run = true; break;
		case 's':
			if (sscanf(optarg, "%d/%d", &slice_k, &slice_n) != 2 || slice_n < 1 || slice_k < 0 || slice_k >= slice_n)
				return kb_cli_error("kb-sweep", "--slice '%s': expected K/N with 0 <= K < N", optarg);
			break;
		case 'T': traces = optarg; break;
		case 'k':
			keep = optarg;
			if (kb_sweep_keeps(keep, 0) < 0)
				return kb_cli_error("kb-sweep", "--keep-ops '%s': expected point numbers (1,5) or all", optarg);
			break;
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-sweep %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':': return kb_cli_error("kb-sweep", "option '%s' needs a value", argv[optind - 1]);
		default: return kb_cli_error("kb-sweep", "bad option '%s' (see kb-sweep --help)", argv[optind - 1]);
		}
	}
	if (!spec_path)
		return kb_cli_error("kb-sweep", "missing the spec file (see kb-sweep --help)");
	if (!study)
		return kb_cli_error("kb-sweep", "missing -o STUDY.db: where the results go");
	kb_error err = {0};
	kb_sweep_spec spec;
	if (dry_run && !slurm)
		return kb_cli_error("kb-sweep", "--dry-run goes with --engine slurm");
	if (kb_sweep_spec_load(&spec, spec_path, &err)) {
		kb_sweep_spec_release(&spec);
		return kb_cli_fail("kb-sweep", &err);
	}
	if (slurm) { /* the spec is checked here; the tasks run it */
		kb_sweep_spec_release(&spec);
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			return kb_cli_error("kb-sweep", "cannot find this program's path for the job scripts");
		self[n] = '\0';
		return kb_sweep_slurm(spec_path, study, tasks, dry_run, self, stdout, &err) ? kb_cli_fail("kb-sweep", &err)
											     : KB_EXIT_OK;
	}
	kb_progress progress = {.tool = "kb-sweep", .on = kb_progress_wanted(quiet)};
	kb_sweep_options opt = {study, threads, keep, &progress, slice_k, slice_n, traces};
	kb_sweep_result res;
	double t0 = kb_now_s();
	int rc = kb_sweep_run(&spec, &opt, &res, &err);
	kb_progress_end(&progress);
	kb_sweep_spec_release(&spec);
	if (rc)
		return kb_cli_fail("kb-sweep", &err);
	if (!quiet)
		printf("%s: %d points: %d run, %d already done, %d failed; %d traces made; %.2f s%s\n", study, res.points,
		       res.done, res.skipped, res.failed, res.traced, kb_now_s() - t0,
		       res.kept ? "; op rows kept for the --keep-ops points" : "");
	return res.failed ? KB_EXIT_FAILED : KB_EXIT_OK;
}
