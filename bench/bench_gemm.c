/*
 * bench_gemm.c — `make bench`: replay GEMM throughput beside OpenBLAS
 * sgemm on the same shapes, in one run.
 *
 * For each n it traces the gemm bench with M = 4n in n x n tiles (four
 * n x n x n GEMM ops, as a real trace has many), replays it in dataflow
 * order, and reports the replay's GEMM op rate (reading f16 inputs from the
 * memory model, converting, the f32 product, rounding the f16 result) next
 * to cblas_sgemm and the hand-written kernel on f32 data of the same shape.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kb.h"
#include "replay.h"
#include "timing.h"

/* Best of reps runs of one sgemm implementation, in GFLOP/s. */
static double rate(int which, int64_t n, const float *a, const float *b, float *c, int reps)
{
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = kb_now_s();
		if (which == 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b,
				    (int)n, 0.0f, c, (int)n);
		else
			kb_replay_sgemm_plain(n, n, n, a, n, b, n, c, n, false);
		double dt = kb_now_s() - t0;
		if (dt < best)
			best = dt;
	}
	return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

static int replay_rate(int64_t n, const char *path, double *gflops, kb_error *err)
{
	char m[32], k[32], nn[32], tm[32], tn[32], tk[32];
	snprintf(m, sizeof m, "M=%lld", (long long)(4 * n));
	snprintf(k, sizeof k, "K=%lld", (long long)n);
	snprintf(nn, sizeof nn, "N=%lld", (long long)n);
	snprintf(tm, sizeof tm, "TM=%lld", (long long)n);
	snprintf(tn, sizeof tn, "TN=%lld", (long long)n);
	snprintf(tk, sizeof tk, "TK=%lld", (long long)n);
	const char *params[] = {m, k, nn, tm, tn, tk};
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	if (kb_topo_load(&topo, NULL, err) || kb_ccl_load(&ccl, NULL, err) ||
	    kb_topo_set(&topo, "cube.pe_template.components.pe_tcm.attrs.size_mb", "64", err) ||
	    kb_topo_set(&topo, "cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb", "48", err))
		return -1;
	kb_trace_request req = {kb_bench_find("gemm"), &topo, &ccl, path, params, 6, NULL, NULL};
	int rc = kb_trace_bench(&req, NULL, err);
	kb_ccl_release(&ccl);
	kb_db *db;
	kb_machine mach;
	kb_replay_report rep;
	if (rc || kb_db_open(&db, path, false, err) || kb_machine_init(&mach, &topo, err)) {
		kb_topo_release(&topo);
		return -1;
	}
	kb_topo_release(&topo);
	double best = 0;
	for (int r = 0; r < 3 && !rc; r++) {
		kb_replay_options opt = {.order = KB_ORDER_DATAFLOW, .max_problems = 20};
		rc = kb_replay(db, &mach, &opt, &rep, err);
		if (!rc) {
			if (!kb_replay_passed(&rep))
				rc = kb_fail(err, "replay of the %lld^3 GEMM did not verify", (long long)n);
			double g = (double)rep.gemm_flops / rep.gemm_s / 1e9;
			if (g > best)
				best = g;
			kb_replay_report_release(&rep);
		}
	}
	kb_db_close(db);
	*gflops = best;
	return rc;
}

int main(void)
{
	const int64_t sizes[] = {256, 512, 1024};
	char path[64];
	snprintf(path, sizeof path, "/tmp/kb_bench_gemm_%d.db", (int)getpid());
	printf("replay GEMM vs OpenBLAS sgemm (square n x n x n, best of 3, GFLOP/s)\n");
	printf("%6s %14s %14s %14s %8s\n", "n", "replay op", "OpenBLAS", "hand kernel", "ratio");
	int rc = 0;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && !rc; s++) {
		int64_t n = sizes[s];
		float *a = malloc((size_t)(n * n) * sizeof *a), *b = malloc((size_t)(n * n) * sizeof *b);
		float *c = malloc((size_t)(n * n) * sizeof *c);
		if (!a || !b || !c)
			return 1;
		kb_fill_random(a, n * n, 1, 1.0f);
		kb_fill_random(b, n * n, 2, 1.0f);
		double blas = rate(0, n, a, b, c, 3), hand = rate(1, n, a, b, c, 3), rep = 0;
		kb_error err;
		if (replay_rate(n, path, &rep, &err)) {
			fprintf(stderr, "bench_gemm: %s\n", err.msg);
			rc = 1;
		}
		printf("%6lld %14.2f %14.2f %14.2f %8.2f\n", (long long)n, rep, blas, hand, rep / blas);
		free(a);
		free(b);
		free(c);
	}
	unlink(path);
	return rc;
}
