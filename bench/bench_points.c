/*
 * bench_points.c — `make bench`: what-if points per second on one trace.
 * The graph is built once; then a grid of timing points (HBM bandwidth x
 * cube-link bandwidth) runs as schedules on a pool of threads, each summed
 * up without op rows. Prints the graph time, the points' wall and CPU
 * time, points per second, and the peak RSS.
 *
 *   bench_points TRACE.db [THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "db.h"
#include "timing.h"

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_points TRACE.db [THREADS]\n");
		return 2;
	}
	int threads = argc > 2 ? atoi(argv[2]) : 0;
	static const char *const hbm[] = {"50", "100", "200", "400"}, *const cube[] = {"64", "128", "256", "512"};
	enum { N = 16 };
	kb_db *db;
	kb_error err;
	kb_topo_cfg cfg[N];
	kb_machine m[N];
	const kb_machine *mp[N];
	if (kb_db_open(&db, argv[1], false, &err)) {
		fprintf(stderr, "bench_points: %s\n", err.msg);
		return 2;
	}
	for (int i = 0; i < N; i++) {
		if (kb_cli_trace_topology(db, &cfg[i], &err) ||
		    kb_topo_set(&cfg[i], "cube.components.hbm.attrs.bandwidth_gbps", hbm[i / 4], &err) ||
		    kb_topo_set(&cfg[i], "sip.components.cube_link.attrs.bandwidth_gbps", cube[i % 4], &err) ||
		    kb_machine_init(&m[i], &cfg[i], &err)) {
			fprintf(stderr, "bench_points: %s\n", err.msg);
			return 2;
		}
		mp[i] = &m[i];
	}
	double w0 = kb_now_s(), c0 = cpu_s();
	kb_time_graph *g;
	if (kb_time_graph_build(db, &m[0], NULL, &g, &err)) {
		fprintf(stderr, "bench_points: %s\n", err.msg);
		return 2;
	}
	double w1 = kb_now_s(), c1 = cpu_s();
	kb_time_summary sum[N];
	int rc[N];
	kb_error errs[N];
	kb_time_points(g, mp, N, threads, sum, rc, errs, NULL, NULL, NULL, 0);
	double w2 = kb_now_s(), c2 = cpu_s();
	int failed = 0;
	for (int i = 0; i < N; i++)
		failed += rc[i] != 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	int64_t n = kb_time_graph_ops(g);
	printf("what-if points: %lld ops; graph once in %.2f s (%.2f CPU-s); %d points (HBM x cube link, 4 x 4) in %.2f s"
	       " wall, %.2f CPU-s: %.2f points/s (target >= 4); %d failed; peak RSS %.0f MB (%.0f B/op)\n",
	       (long long)n, w1 - w0, c1 - c0, N, w2 - w1, c2 - c1, N / (w2 - w1), failed, ru.ru_maxrss / 1024.0,
	       ru.ru_maxrss * 1024.0 / (double)n);
	printf("  total at HBM 50 / 400 GB/s, cube link 64 GB/s: %.3f / %.3f us\n", sum[0].total_ps / 1e6,
	       sum[12].total_ps / 1e6);
	for (int i = 0; i < N; i++) {
		kb_time_summary_release(&sum[i]);
		kb_topo_release(&cfg[i]);
	}
	kb_time_graph_free(g);
	kb_db_close(db);
	return failed ? 1 : 0;
}
