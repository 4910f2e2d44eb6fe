/*
 * cli.h — what the kb-* programs share: exit codes, error printing, and
 * loading the topology / ccl configs with `--set` routing.
 *
 * `--set K=V` resolves K by its first component: a bench's name -> bench
 * parameter, `ccl.` -> ccl.yaml key, anything else -> topology.yaml key.
 */
#ifndef KB_CLI_H
#define KB_CLI_H

#include <stdio.h>

#include "machine.h"

enum {
	KB_EXIT_OK = 0,
	KB_EXIT_FAILED = 1,   /* verification or comparison failed */
	KB_EXIT_USAGE = 2,    /* bad usage or bad input (config, trace file) */
	KB_EXIT_DEADLOCK = 3, /* simulated deadlock */
};

/* The exit code of a failure of status s: KB_EXIT_DEADLOCK for a
 * simulated deadlock, KB_EXIT_USAGE for any other error. */
int kb_cli_exit_code(kb_status s);
/* Prints "prog: err's message" on stderr and returns its exit code. */
int kb_cli_fail(const char *prog, const kb_error *err);

/* Prints "prog: msg" on stderr and returns KB_EXIT_USAGE. */
int kb_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes the program exit with KB_EXIT_USAGE and one line when what it
 * printed could not be written to standard output. Call first in main. */
void kb_cli_guard_stdout(const char *prog);

#define KB_CLI_MAX_SETS 256

typedef struct kb_cli_configs {
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	const char *bench_params[KB_CLI_MAX_SETS]; /* "KEY=VALUE" after the bench prefix */
	int n_bench_params;
} kb_cli_configs;

/* Loads both configs (NULL path = built in) and applies sets in order.
 * bench may be NULL when no bench parameters are accepted. */
int kb_cli_configs_load(kb_cli_configs *c, const char *topo_path, const char *ccl_path, char *const *sets,
			int n_sets, const char *bench, kb_error *err);
void kb_cli_configs_release(kb_cli_configs *c);

struct kb_db;
/* The topology a trace was recorded with (embedded YAML + its overrides). */
int kb_cli_trace_topology(struct kb_db *db, kb_topo_cfg *cfg, kb_error *err);

/* Prints a trace's contents (ops by kind, launches, tensors, bytes). */
int kb_cli_print_trace_summary(FILE *out, const char *path, kb_error *err);

#endif
