/*
 * sweep.h — kb-sweep: what-if studies over a bench or a trace.
 *
 * A spec (YAML, a fixed format scripts write) names a bench with base
 * `set` values, or an existing trace, and axes (keys with value lists)
 * combined as a grid (product) or in step (zip). Points that differ only
 * in timing keys (KB_TOPOLOGY_KEYS role TIME) share one trace; each
 * distinct combination of trace keys is traced once. Within a trace the
 * graph is built once and the points run as schedules on a thread pool;
 * each point's summary goes into the study database (db/study.c), on its
 * own, so a rerun resumes and a failure is a row with its error.
 *
 *   bench: ccl_allreduce            # or  trace: path/to/trace.db
 *   set: ["ccl.defaults.algorithm=ring_rsag_allreduce"]
 *   axes:
 *     system.components.sip_link.attrs.bandwidth_gbps: [32, 64, 128]
 *     ccl_allreduce.n_elem: [1024, 262144]
 *   combine: product                # or zip
 */
#ifndef KB_SWEEP_H
#define KB_SWEEP_H

#include "base.h"

enum { KB_SWEEP_MAX_AXES = 16, KB_SWEEP_MAX_SETS = 64, KB_SWEEP_MAX_POINTS = 100000 };

typedef struct kb_sweep_spec {
	char *text;                 /* the file as read (stored in the study) */
	char *bench, *trace;        /* one of them */
	char *sets[KB_SWEEP_MAX_SETS];
	int n_sets;
	char *axis_key[KB_SWEEP_MAX_AXES];
	char **axis_values[KB_SWEEP_MAX_AXES];
	int n_values[KB_SWEEP_MAX_AXES];
	int n_axes;
	bool zip;                   /* combine: zip (else product) */
} kb_sweep_spec;

/* Reads and checks a spec; errors name the file, line and key. */
int kb_sweep_spec_load(kb_sweep_spec *spec, const char *path, kb_error *err);
void kb_sweep_spec_release(kb_sweep_spec *spec);

typedef struct kb_sweep_options {
	const char *study;          /* the study database to write */
	int threads;                /* 0: one per core */
	const char *keep_ops;       /* points (1-based, in spec order: "3,7" or "all") whose op_times rows are
				     * stored too, as a timing run "sweep-<hash>" in the point's trace */
	kb_progress *progress;
	int slice_k, slice_n;       /* run only the points whose index mod slice_n is slice_k (slice_n 0: all) */
	const char *traces;         /* the folder of the traces it makes (NULL: STUDY.traces) */
} kb_sweep_options;

typedef struct kb_sweep_result {
	int points, done, skipped, failed, traced, kept;
} kb_sweep_result;

/* Whether --keep-ops asks for point i (0-based); -1 when the list is bad. */
int kb_sweep_keeps(const char *keep_ops, int i);

/* Runs the spec's points that are not finished in the study yet. 0 when
 * the sweep ran (points may have failed: see res), -1 with err when it
 * could not (a bad spec, an unwritable study). */
int kb_sweep_run(const kb_sweep_spec *spec, const kb_sweep_options *opt, kb_sweep_result *res, kb_error *err);

/* The study as an HTML page: SVG line plots of metric (a sweep_v column,
 * e.g. total_us, busbw_gbps) against the first axis, a line per value of
 * the second, a plot per combination of the others; then the table. */
int kb_sweep_html(const char *study, const char *path, const char *metric, kb_error *err);

/* The Slurm engine: writes STUDY.slurm/array.sh (a job array of `tasks`
 * tasks, each a slice of the points into its own partial study, traces in
 * STUDY.traces) and merge.sh (kb-sweep merge, after the array), and
 * submits them with sbatch unless dry_run (then prints them). kb_sweep is
 * this program's absolute path. */
int kb_sweep_slurm(const char *spec_path, const char *study, int tasks, bool dry_run, const char *kb_sweep, FILE *out,
		   kb_error *err);

/* The study's sweep_v table on out: text (aligned), csv or json. */
int kb_sweep_report(const char *study, const char *format, FILE *out, kb_error *err);

#endif
