/*
 * db_int.h — private to the db module: the connection struct and the
 * schema text shared by the writer and the reader.
 */
#ifndef KB_DB_INT_H
#define KB_DB_INT_H

#include "db.h"

#include <sqlite3.h>

#include <pthread.h>
#include <stdbool.h>

extern const char kb_schema_tables[];
extern const char kb_schema_indexes[];
extern const char kb_schema_views[];
extern const char kb_schema_upgrade_v1[];
extern const char kb_schema_upgrade_v2[];
extern const char kb_schema_upgrade_v3[];
extern const char kb_schema_upgrade_v4[];
extern const char kb_schema_upgrade_v5[];
extern const char kb_schema_upgrade_v6[];
extern const char kb_schema_upgrade_v6_type[];
extern const char kb_schema_pack_triggers[];
extern const char kb_schema_run_tables[];
extern const char kb_schema_counts[];

/* Opens a connection to a file from elsewhere safely: SQLite's defensive
 * mode, an untrusted schema, no extension loading, no triggers firing. */
void kb_db_harden(sqlite3 *h);

/* Registers the aggregates kb_median(x) and kb_stddev(x) (query.c). */
int kb_db_sql_functions(sqlite3 *h);

/* Refuses a file whose schema could run SQL inside a tool: a trigger that
 * is not the project's own, a project table that is a view or a virtual
 * table, a project view redefined (current schema version). Sets
 * db->pack_trusted when every op-pack trigger is in place. */
int kb_db_check_schema(kb_db *db, kb_error *err);

/* The ops table's columns: id, then each field (an operand in KB_OPS: five). */
#define KB_OP_COUNT_F(name, type, column, sql, pack, lo, hi) +1
#define KB_OP_COUNT_O(name, bit, table) +KB_OP_COUNT_O_##table
#define KB_OP_COUNT_O_KB_OPS 5
#define KB_OP_COUNT_O_KB_OP_OPERANDS 0
enum { OP_COLUMNS = 1 KB_OP_FIELDS(KB_OP_COUNT_F, KB_OP_COUNT_O), OP_BATCH = 16384, OP_ROWS_PER_INSERT = 8 };

/* Whether an operand is there: any of its packed fields is not 0 (oppack.c). */
bool kb_operand_present(const kb_operand *x);

/* ---- the op pack: ops as compressed chunks of kb_op_pack_put's coding ---- */
enum { KB_PACK_OPS = 8192 }; /* ops per op_pack row (the last one: the rest) */

/* Ops are inserted by a writer thread in batches while recording goes on;
 * `lock` guards the connection, `cv` the hand-over of a batch. */
#define DEP_ROWS 128 /* op_deps rows per INSERT */

typedef struct op_pipe {
	pthread_t thread;
	bool started, stop;
	pthread_mutex_t lock, mu;
	pthread_cond_t cv;
	kb_op *fill, *pending; /* the batch being filled, the one handed over */
	size_t n_fill, n_pending;
	int64_t first_pending_id;
	bool failed;
	kb_error err;
} op_pipe;

struct kb_db {
	sqlite3 *h;
	char *path;  /* final name */
	char *tmp;   /* temporary name while writing; NULL for readers */
	int version; /* schema version of an opened trace */
	kb_trace_counts counts; /* an opened trace's row counts (kb_db_check) */
	sqlite3_stmt *ins_ops; /* OP_ROWS_PER_INSERT rows at once */
	sqlite3_stmt *ins_operand; /* op_operands: the rare third input */
	sqlite3_stmt *ins_op, *ins_string, *ins_shape, *ins_launch, *end_launch, *ins_tensor, *ins_shard;
	sqlite3_stmt *ins_range, *end_range, *ins_expect, *ins_blob, *find_blob, *ins_meta, *ins_enum;
	sqlite3_stmt *ins_dep, *ins_deps; /* op_deps: one row; DEP_ROWS rows */
	int64_t *dep_buf;                 /* pending op_deps rows (op, dep), flushed DEP_ROWS at a time */
	size_t n_dep;
	int64_t n_ops, n_strings, n_shapes, n_launches, n_tensors, n_ranges, n_blobs, n_expect;
	kb_strmap strings, shapes;
	struct shape_cache { int ndim; int64_t d[4], id; } recent[16]; /* most recent shapes, by dims */
	unsigned recent_next;
	/* values bound last time, per statement and row slot */
	int64_t last[OP_ROWS_PER_INSERT + 1][OP_COLUMNS]; /* an integer, or a double's bits */
	op_pipe pipe;
	/* the writer's op pack: the chunk being filled (ids pack_first..) */
	uint8_t *pack_raw;
	size_t pack_len;
	int64_t pack_first, pack_n;
	void *pack_zbuf;          /* its compressed form */
	size_t pack_zcap;
	void *pack_cctx;          /* ZSTD_CCtx */
	kb_blob_coder blob_coder; /* host data and expected values */
	sqlite3_stmt *ins_pack;
	/* a reader's view of it: 0 not looked at, 1 whole (read ops from it), -1 none */
	int pack_state;
	bool pack_trusted; /* kb_db_check_schema: the pack's triggers are all there */
	bool immutable;    /* a WAL-mode file read without write access to its folder */
};

#endif
