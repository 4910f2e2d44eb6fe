/*
 * reports.h — human and machine readable views of a trace: the summary of
 * a timing run (text with explicit units, or JSON). Reads only the trace
 * database.
 */
#ifndef KB_REPORTS_H
#define KB_REPORTS_H

#include <stdbool.h>
#include <stdio.h>

#include "db.h"

/* Prints the summary of timing run run_id: total simulated time, ranges,
 * launches, busiest units and links, longest ops. top = rows per list. */
int kb_report_timing(FILE *out, kb_db *db, int64_t run_id, int top, bool json, kb_error *err);

/* The nccl-tests table of the trace's collective calls in timing run
 * run_id: size(B) count type redop time(us) algbw(GB/s) busbw(GB/s) #wrong.
 * A call's time runs from its first launch's start to its last launch's
 * end over the ranks; algbw = size / time, busbw = algbw * 2(p-1)/p.
 * wrong[k] is the k-th call's mismatch count, -1 (or wrong NULL) prints
 * "-" (not replayed). Prints nothing when the trace has no collectives.
 * json: one "collectives": [...] member, with a leading comma. */
int kb_report_collectives(FILE *out, kb_db *db, int64_t run_id, const int64_t *wrong, int n_wrong, bool json,
			  kb_error *err);

/* kb-report: the summary of a timing run (time per rank, ranges, kernels
 * and op kinds with nsys-style statistics, unit utilisation distributions,
 * throughput against peak, links by class and the busiest links,
 * collectives, the critical path, scratch high-water marks). Text goes to
 * out unless quiet; json / csv (a directory) / perfetto / html name
 * outputs to write as well. */
typedef struct kb_report_options {
	const char *run;          /* run label; NULL = the newest */
	int top;                  /* rows of the ranked tables (default 10) */
	const char *json, *csv, *perfetto, *html;
	int64_t perfetto_split;    /* ops per Perfetto file (0: one file) */
	const char *gqa_sweep;    /* sweep.json v1 of the milestone-gqa-llama70b bench */
	const char *sections[32]; /* only these tables (by key), in every output; none: all */
	int n_sections;
	bool list_sections;       /* print each table's key and title instead */
	bool quiet;
	kb_progress *progress;    /* NULL: none */
} kb_report_options;
int kb_report(FILE *out, kb_db *db, const kb_report_options *opt, kb_error *err);

/* The run id of label (NULL = newest); -1 with err if there is none. */
int64_t kb_report_run_id(kb_db *db, const char *label, kb_error *err);

/* The trace's timing runs, oldest first: label, simulated time, ops,
 * overrides and the tool that ran them. */
int kb_report_runs(FILE *out, kb_db *db, kb_error *err);

/* Chrome / Perfetto trace-event JSON of a run: a process per SIP, a track
 * per PE unit (and one per host stream), an X event per op with its
 * arguments, a flow from each IPCQ send to its recv. ts / dur in us.
 * split > 0: at most that many ops per file (PATH.001.json, ...). */
int kb_report_perfetto(kb_db *db, int64_t run, const char *path, int64_t split, kb_progress *progress,
		       kb_error *err);

/* kb-diff: two traces, or two runs of one (a and b the same file). Text
 * (or JSON) to out; *differ tells whether anything differed. */
typedef struct kb_diff_options {
	const char *run_a, *run_b; /* NULL: each trace's newest run */
	bool json;
	kb_progress *progress;     /* NULL: none */
	bool structure_only;       /* no timing comparison when a trace has no run */
	int top;                   /* rows per ranked table */
	/* op counts by kind (KB_OP_KIND_COUNT each) when the caller already
	 * streamed the ops (kb-diff checks them all); NULL: counted in SQL */
	const int64_t *kinds_a, *kinds_b;
} kb_diff_options;
int kb_diff(FILE *out, kb_db *a, kb_db *b, const kb_diff_options *opt, bool *differ, kb_error *err);

/* sweep.json v1 (the seed's schema: version, validation_scale, panels,
 * config, a row per panel with n_ranks and op_log_summary) plus each
 * panel's simulated time in run. */
int kb_report_gqa_sweep(kb_db *db, int64_t run, const char *path, kb_error *err);

/* Formats picoseconds with a unit: "812 ps", "34.072 us", "1.204 s". */
void kb_format_ps(int64_t ps, char *buf, size_t cap);

#endif
