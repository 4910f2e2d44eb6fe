/*
 * helpers.h — what several test binaries need: tracing a bench into a
 * scratch file with the built-in configs, timing it, querying it.
 */
#ifndef KB_TEST_HELPERS_H
#define KB_TEST_HELPERS_H

#include <stdint.h>

#include "kb.h"

/* The default machine (schema defaults). */
kb_machine th_default_machine(void);
/* Traces b into a per-process scratch file (returned) with "K=V" params;
 * returns 0 or -1 with err filled. */
int th_trace(const kb_bench *b, int n_params, const char *const *params, kb_error *err);
/* th_trace with ccl.yaml overrides ("defaults.algorithm=ring_allreduce_hbm"). */
int th_trace_ccl(const kb_bench *b, int n_params, const char *const *params, int n_ccl, const char *const *ccl_sets,
		 kb_error *err);
const char *th_path(void);
/* th_trace that fails the test on error. */
void th_trace_ok(const kb_bench *b, int n_params, const char *const *params);
/* Times th_path() with topology overrides; fails the test on error. */
int64_t th_time(const char *label, int n_sets, const char *const *sets);
/* The first column of the first row of sql on th_path(). */
int64_t th_query(const char *sql);

#endif
