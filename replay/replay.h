/*
 * replay.h — the numeric pass (kb-replay): execute every op's numerics in
 * the order of a timing run and verify device memory against the bench's
 * expectations.
 *
 * Memory is sparse (4 KB pages keyed by physical address) and starts
 * empty: host writes and zero-fills initialise it, and a read of bytes
 * nothing has written is reported with the op, PE and address. Each op
 * reads its inputs at t_start and writes its result at t_end (writes before
 * reads at equal times, op id breaks ties). A first pass in trace order
 * records which write each read should see, so a timing run that lets a
 * read overtake its producer (or a write overtake a reader) is reported by
 * name, not only as wrong numbers. KB_ORDER_DATAFLOW replays in trace
 * order, a topological order of every dependency, to separate "the
 * algorithm is wrong" from "the timing broke causality".
 *
 * Numerics: storage in the declared dtype (f16 rounds to nearest even),
 * f32 arithmetic, f32 accumulation for GEMMs and reductions.
 */
#ifndef KB_REPLAY_H
#define KB_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "machine.h"

typedef enum kb_replay_order { KB_ORDER_TIME, KB_ORDER_DATAFLOW } kb_replay_order;

typedef struct kb_replay_options {
	const char *run;          /* timing run label; NULL = the newest run */
	kb_replay_order order;
	int max_problems;         /* problem lines kept (default 20) */
	kb_progress *progress;    /* NULL: no progress line */
	uint64_t max_bytes;       /* memory budget (0: KB_REPLAY_MAX_BYTES); an operand may use a quarter of it, at most 1 GiB */
	int sample;               /* > 0: check that many rows of each expectation (evenly spaced) */
} kb_replay_options;

/* What replay may allocate for simulated memory and operand buffers: a
 * trace needing more is refused with one line, never swapped to death. */
#define KB_REPLAY_MAX_BYTES (UINT64_C(16) << 30)

/* One expectation's outcome. */
typedef struct kb_expect_result {
	char tensor[64];
	double rtol, atol;
	int64_t checked, mismatches;
	int64_t rows_checked, rows;  /* a sampled check covers some rows of the tensor */
	double max_abs, max_rel;
	double got_min, got_max;  /* the values replay computed */
	bool pass;
	/* the first mismatch */
	int64_t row, col;
	int sip, cube, pe;
	double got, want;
	char problem[700];        /* why it could not be checked, if it could not */
} kb_expect_result;

typedef struct kb_replay_report {
	char run[64];
	kb_replay_order order;
	int64_t ops;
	kb_expect_result *expects;
	int n_expects, n_failed;
	int64_t n_problems;       /* uninitialised reads, causality violations, corrupt data */
	char **problems;          /* the first max_problems of them, one line each */
	int n_kept;
	char **collectives;       /* per all_reduce call: "ALGO (ws=N): M OK" or "[FAIL] ..." */
	int64_t *coll_wrong;      /* per call: mismatched values, -1 if not all checked */
	int n_collectives;
	int64_t run_id;           /* the timing run replayed, 0 in dataflow order */
	int64_t gemm_flops;       /* executed */
	int64_t total_gemm_flops; /* of every GEMM in the trace */
	bool sliced;              /* only the ops sampled rows depend on ran */
	int64_t slice_ops;        /* how many */
	int64_t op_bytes;         /* held per op while replaying, all ops: packed op, events, bookkeeping */
	int64_t sim_bytes;        /* simulated memory written, in 4 KiB pages */
	double gemm_s;            /* time in GEMM ops: reading, converting, multiplying, rounding */
	double total_s;
} kb_replay_report;

/* Replays the trace in db on machine m. Returns 0 when the replay ran (the
 * report says whether it verified), -1 on bad input (no such run, damaged
 * trace); then the report holds nothing to release. */
int kb_replay(kb_db *db, const kb_machine *m, const kb_replay_options *opt, kb_replay_report *rep, kb_error *err);
bool kb_replay_passed(const kb_replay_report *rep);
void kb_replay_report_release(kb_replay_report *rep);

/* The GEMM kernel replay uses: C[M,N] (+)= A[M,K] · B[K,N], f32, row-major,
 * leading dimensions lda/ldb/ldc. Large products go to OpenBLAS. */
void kb_replay_sgemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
		     float *C, int64_t ldc, bool accumulate);
/* The hand-written kernel alone (for measurements). */
void kb_replay_sgemm_plain(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
			   int64_t ldb, float *C, int64_t ldc, bool accumulate);

#endif
