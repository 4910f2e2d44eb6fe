/*
 * kb_trace.c — `kb-trace`: run a bench functionally and record its trace.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "chakra.h"
#include "kb.h"

static const char usage[] =
	"usage: kb-trace list\n"
	"       kb-trace bench NAME [-o FILE] [--topology FILE] [--ccl FILE] [--set KEY=VALUE]...\n"
	"                           [--force] [--summary] [--stats] [--quiet]\n"
	"       kb-trace chakra PREFIX [-o FILE] [same options]\n"
	"\n"
	"Runs bench NAME functionally and records every op into an SQLite trace\n"
	"(default FILE: NAME.db). The file is written under a temporary name and\n"
	"renamed on success, so an existing trace is never left half-written. An\n"
	"existing FILE is replaced only if it is a trace and --force is given.\n"
	"\n"
	"chakra imports the Chakra execution traces PREFIX.0.et, PREFIX.1.et, ...\n"
	"(one per rank) as a timing-only trace (default FILE: the prefix's base\n"
	"name + .db): see the README's Chakra section for the mapping. It sets\n"
	"ccl.defaults.world_size to the rank count and ccl.defaults.algorithm to\n"
	"ring_rsag_allreduce unless given; --set chakra.pes_per_node=N and\n"
	"chakra.rank_is_pe=0|1 choose where ranks and nodes run.\n"
	"\n"
	"  -o, --output FILE    trace file to write\n"
	"  -f, --force          replace FILE if it is an existing trace\n"
	"      --topology FILE  machine description (default: built-in configs/topology.yaml)\n"
	"      --ccl FILE       collectives config (default: built-in configs/ccl.yaml)\n"
	"      --set KEY=VALUE  override: NAME.param (bench), ccl.key (ccl.yaml), or a\n"
	"                       topology key such as sip.cube_mesh.w; repeatable\n"
	"      --summary        print what was recorded (ops by kind, bytes, flops)\n"
	"      --stats          print tracing throughput (ops/s) and bytes per op\n"
	"  -q, --quiet          no line on success (the default prints ops, file, size)\n"
	"  -h, --help           this text\n"
	"  -V, --version        print the version\n"
	"\n"
	"exit status: 0 ok, 2 bad usage, bad config or a bench error\n";

static int list_benches(void)
{
	const kb_bench *const *b = kb_benches();
	for (int i = 0; b[i]; i++) {
		printf("%-18s %s\n", b[i]->name, b[i]->description);
		for (int p = 0; p < KB_MAX_PARAMS && b[i]->params[p].name; p++) {
			/* a value that pastes back exactly: integers in full, others round-trip */
			double v = b[i]->params[p].value;
			char text[40];
			if (v == (double)(long long)v && v > -9e15 && v < 9e15)
				snprintf(text, sizeof text, "%lld", (long long)v);
			else
				snprintf(text, sizeof text, "%.17g", v);
			printf("%18s   --set %s.%s=%s  (%s)\n", "", b[i]->name, b[i]->params[p].name, text,
			       b[i]->params[p].help);
		}
	}
	return KB_EXIT_OK;
}

/* Edit distance (insert, delete, substitute) of a and b, both < 64 chars. */
static int distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b), d[65][65];
	if (la > 64 || lb > 64)
		return 99;
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++)
		for (int j = 1; j <= lb; j++) {
			int s = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]), x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
			d[i][j] = s < x ? (s < y ? s : y) : (x < y ? x : y);
		}
	return d[la][lb];
}

static int unknown_bench(const char *name)
{
	char names[1024];
	size_t o = 0;
	const kb_bench *const *b = kb_benches();
	const char *best = NULL;
	int best_d = 99;
	for (int i = 0; b[i]; i++) {
		o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", b[i]->name);
		int d = distance(name, b[i]->name);
		if (d < best_d)
			best = b[i]->name, best_d = d;
	}
	if (best && best_d <= 3 && best_d * 3 <= (int)strlen(best))
		return kb_cli_error("kb-trace", "unknown bench '%s': did you mean '%s'? (benches: %s)", name, best, names);
	return kb_cli_error("kb-trace", "unknown bench '%s' (benches: %s)", name, names);
}

typedef struct options {
	const char *out, *topo, *ccl;
	char *sets[KB_CLI_MAX_SETS];
	int n_sets;
	bool summary, stats, force, quiet;
	char *pos[2];
	int n_pos;
} options;

/* Parses options and up to two positional words, in any order. Returns -1
 * to continue, else the exit status (help, version, or a usage error). */
static int parse(int argc, char **argv, options *o)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'}, {"topology", required_argument, NULL, 't'},
		{"ccl", required_argument, NULL, 'c'},    {"set", required_argument, NULL, 's'},
		{"summary", no_argument, NULL, 'S'},      {"stats", no_argument, NULL, 'T'},
		{"force", no_argument, NULL, 'f'},        {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	opterr = 0;
	while (optind < argc) {
		int opt = getopt_long(argc, argv, "+:o:fhVq", opts, NULL);
		if (opt == -1) {
			if (o->n_pos == 2)
				return kb_cli_error("kb-trace", "unexpected argument '%s' (see kb-trace --help)", argv[optind]);
			o->pos[o->n_pos++] = argv[optind++];
			continue;
		}
		switch (opt) {
		case 'o': o->out = optarg; break;
		case 't': o->topo = optarg; break;
		case 'c': o->ccl = optarg; break;
		case 's':
			if (o->n_sets == KB_CLI_MAX_SETS)
				return kb_cli_error("kb-trace", "too many --set options");
			o->sets[o->n_sets++] = optarg;
			break;
		case 'S': o->summary = true; break;
		case 'T': o->stats = true; break;
		case 'f': o->force = true; break;
		case 'q': o->quiet = true; break;
		case 'h': fputs(usage, stdout); return KB_EXIT_OK;
		case 'V': printf("kb-trace %s (trace schema %d)\n", KB_VERSION, KB_SCHEMA_VERSION); return KB_EXIT_OK;
		case ':':
			return kb_cli_error("kb-trace", "option '%s' needs a value", argv[optind - 1]);
		default:
			return kb_cli_error("kb-trace", "bad option '%s' (see kb-trace --help)", argv[optind - 1]);
		}
	}
	return -1;
}

/* Is path a kernbench trace? Reads the SQLite header only: the magic
 * string and the application id (big-endian at byte 68). */
static bool is_trace(const char *path)
{
	unsigned char h[100];
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t n = fread(h, 1, sizeof h, f);
	fclose(f);
	uint32_t app = (uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 | h[71];
	return n == sizeof h && memcmp(h, "SQLite format 3", 16) == 0 && app == KB_APPLICATION_ID;
}

/* Refuses to replace what is not a trace, and a trace without --force. */
static int check_output(const char *out, bool force)
{
	struct stat st;
	if (lstat(out, &st) != 0)
		return errno == ENOENT ? 0
				       : kb_cli_error("kb-trace", "cannot write '%s': %s", out, strerror(errno));
	if (!S_ISREG(st.st_mode) || !is_trace(out))
		return kb_cli_error("kb-trace", "'%s' exists and is not a kernbench trace: refusing to replace it (choose"
				    " another -o)", out);
	if (!force)
		return kb_cli_error("kb-trace", "'%s' exists: --force replaces it", out);
	return 0;
}

/* Removes <out>.tmp-<pid> files whose run died (kill -9, power loss). */
static void clean_stale(const char *out)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", out);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : out;
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	size_t bl = strlen(base);
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp-", 5) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + bl + 5, &end, 10);
		if (*end || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno != ESRCH) || kill((pid_t)pid, 0) == 0)
			continue; /* alive (or not ours to judge) */
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			fprintf(stderr, "kb-trace: removed '%s', left by a run that died\n", path);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	kb_cli_guard_stdout("kb-trace");
	options o = {0};
	int rc = parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.n_pos == 0)
		return kb_cli_error("kb-trace", "missing command: 'list' or 'bench NAME' (see kb-trace --help)");
	if (strcmp(o.pos[0], "list") == 0)
		return o.n_pos == 1 ? list_benches() : kb_cli_error("kb-trace", "'list' takes no argument");
	bool chakra = strcmp(o.pos[0], "chakra") == 0;
	if (strcmp(o.pos[0], "bench") != 0 && !chakra)
		return kb_cli_error("kb-trace", "unknown command '%s' (commands: list, bench, chakra)", o.pos[0]);
	if (o.n_pos < 2)
		return kb_cli_error("kb-trace", chakra ? "'chakra' needs a PREFIX (it reads PREFIX.0.et, PREFIX.1.et, ...)"
						       : "'bench' needs a bench name (see kb-trace list)");
	const kb_bench *bench = chakra ? &kb_bench_chakra : kb_bench_find(o.pos[1]);
	if (!bench)
		return unknown_bench(o.pos[1]);

	char default_out[4200];
	if (!o.out) {
		const char *base = strrchr(o.pos[1], '/');
		snprintf(default_out, sizeof default_out, "%s.db", chakra ? (base ? base + 1 : o.pos[1]) : bench->name);
		o.out = default_out;
	}
	kb_error err = {0};
	kb_et_set set = {0};
	char source[4300] = "";
	char ws_set[64], algo_set[] = "ccl.defaults.algorithm=ring_rsag_allreduce";
	if (chakra) {
		double t_load = kb_now_s();
		if (kb_et_load(o.pos[1], &set, &err))
			return kb_cli_fail("kb-trace", &err);
		snprintf(source, sizeof source, " (%d ranks, %lld nodes of '%s' read in %.2f s)", set.n_ranks,
			 (long long)set.n_nodes, o.pos[1], kb_now_s() - t_load);
		/* the CCL world is the set's ranks, and a ring runs every type, unless the user says otherwise */
		bool has_ws = false, has_algo = false;
		for (int i = 0; i < o.n_sets; i++) {
			has_ws |= strncmp(o.sets[i], "ccl.defaults.world_size=", 24) == 0;
			has_algo |= strncmp(o.sets[i], "ccl.defaults.algorithm=", 23) == 0;
		}
		snprintf(ws_set, sizeof ws_set, "ccl.defaults.world_size=%d", set.n_ranks);
		if (!has_ws && o.n_sets < KB_CLI_MAX_SETS)
			o.sets[o.n_sets++] = ws_set;
		if (!has_algo && o.n_sets < KB_CLI_MAX_SETS)
			o.sets[o.n_sets++] = algo_set;
	}
	kb_cli_configs cfg;
	if (kb_cli_configs_load(&cfg, o.topo, o.ccl, o.sets, o.n_sets, bench->name, &err))
		return kb_cli_fail("kb-trace", &err);
	if ((rc = check_output(o.out, o.force)) != 0) {
		kb_cli_configs_release(&cfg);
		return rc;
	}
	clean_stale(o.out);
	kb_progress progress = {.tool = "kb-trace", .on = kb_progress_wanted(o.quiet)};
	kb_trace_request req = {bench, &cfg.topo, &cfg.ccl, o.out, cfg.bench_params, cfg.n_bench_params, &progress,
				chakra ? &set : NULL};
	int64_t n_ops = 0;
	double t0 = kb_now_s();
	rc = kb_trace_bench(&req, &n_ops, &err);
	kb_progress_end(&progress);
	kb_et_free(&set);
	double dt = kb_now_s() - t0;
	kb_cli_configs_release(&cfg);
	if (rc)
		return kb_cli_fail("kb-trace", &err);
	struct stat st;
	long long size = stat(o.out, &st) == 0 ? (long long)st.st_size : 0;
	if (!o.quiet && !o.stats)
		printf("%s: %lld ops of bench %s%s, %.1f MB, traced in %.2f s\n", o.out, (long long)n_ops, bench->name,
		       source, (double)size / 1e6, dt);
	if (o.stats) {
		printf("traced %lld ops in %.3f s: %.0f ops/s; %s is %lld bytes (%.1f bytes/op)\n", (long long)n_ops,
		       dt, dt > 0 ? (double)n_ops / dt : 0.0, o.out, size, n_ops ? (double)size / (double)n_ops : 0.0);
	}
	if (o.summary && kb_cli_print_trace_summary(stdout, o.out, &err))
		return kb_cli_fail("kb-trace", &err);
	return KB_EXIT_OK;
}
