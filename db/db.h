/*
 * db.h — the trace database: schema, writer, reader and blob codec.
 *
 * A trace is one SQLite file (schema in db/SCHEMA.md). The writer builds it
 * in `<final>.tmp-<pid>` inside one transaction with prepared statements and
 * renames it over the final name only in kb_db_commit, so an interrupted run
 * never leaves a half-written trace and never damages an existing one.
 * The reader refuses files that are not traces or come from a newer schema.
 *
 * This module knows nothing of the machine: spaces and dtypes are small
 * integers whose names the caller registers in the enum tables.
 */
#ifndef KB_DB_H
#define KB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "base.h"

/* Any change to the text of a table, trigger or view bumps this: readers
 * refuse a trace of the current version whose project views differ from
 * this tool's (kb_db_check_schema), and kb-time upgrades older ones. */
#define KB_SCHEMA_VERSION 7
#define KB_APPLICATION_ID 0x6B627472 /* 'kbtr' */

typedef struct kb_db kb_db;

/* Op kinds: the trace's vocabulary (enum_op_kind). Names are stable. */
#define KB_OP_KINDS(X) \
	X(HOST_WRITE, "host_write") X(HOST_FILL, "host_fill") X(LAUNCH, "launch") \
	X(DMA_READ, "dma_read") X(DMA_WRITE, "dma_write") X(GEMM, "gemm") \
	X(MATH_ADD, "math:add") X(MATH_SUB, "math:sub") X(MATH_MUL, "math:mul") X(MATH_DIV, "math:div") \
	X(MATH_MAXIMUM, "math:maximum") X(MATH_MINIMUM, "math:minimum") \
	X(MATH_EXP, "math:exp") X(MATH_LOG, "math:log") X(MATH_SQRT, "math:sqrt") \
	X(MATH_ABS, "math:abs") X(MATH_NEG, "math:neg") X(MATH_FMA, "math:fma") X(MATH_CLAMP, "math:clamp") \
	X(MATH_MAX, "math:max") X(MATH_SUM, "math:sum") X(MATH_SOFTMAX, "math:softmax") \
	X(MATH_TRANS, "math:trans") X(MATH_CAST, "math:cast") X(MATH_FILL, "math:fill") \
	X(MATH_ADD_S, "math:add_scalar") X(MATH_MUL_S, "math:mul_scalar") \
	X(IPCQ_SEND, "ipcq_send") X(IPCQ_RECV, "ipcq_recv") X(MMU_MAP, "mmu_map") X(IPCQ_INIT, "ipcq_init")

#define KB_OP_ENUM(e, name) KB_OP_##e,
typedef enum kb_op_kind { KB_OP_NONE = 0, KB_OP_KINDS(KB_OP_ENUM) KB_OP_KIND_COUNT } kb_op_kind;
#undef KB_OP_ENUM

const char *kb_op_kind_name(kb_op_kind k);

/* Collective types (enum_collective), nccl-tests' names and bus factors:
 * busbw = algbw * factor(p), algbw = bytes / time with bytes the whole
 * buffer per rank (all-gather: its output; reduce-scatter and all-to-all:
 * their input). Ids are stable; Chakra's CollectiveCommType is mapped in
 * chakra/. */
#define KB_COLL_TYPES(X) \
	X(ALL_REDUCE, "all_reduce") X(ALL_GATHER, "all_gather") X(REDUCE_SCATTER, "reduce_scatter") \
	X(ALL_TO_ALL, "all_to_all") X(BROADCAST, "broadcast")
#define KB_COLL_ENUM(e, name) KB_COLL_##e,
typedef enum kb_coll_type { KB_COLL_TYPES(KB_COLL_ENUM) KB_COLL_TYPE_COUNT } kb_coll_type;
#undef KB_COLL_ENUM
#define KB_COLL_LAST 4 /* KB_COLL_TYPE_COUNT - 1, as a literal for SQL text */
const char *kb_coll_type_name(kb_coll_type t); /* "?" outside the enum */
/* nccl-tests' bus factor: all-reduce 2(p-1)/p, all-gather, reduce-scatter
 * and all-to-all (p-1)/p, broadcast 1; 1 for p < 2. */
double kb_coll_bus_factor(kb_coll_type t, int64_t p);
/* The same as an SQL expression over type column t and rank count p. */
#define KB_COLL_BUS_FACTOR_SQL(t, p) \
	"(CASE WHEN " p " < 2 OR " t " = 4 THEN 1.0 WHEN " t " = 0 THEN 2.0 * (" p " - 1) / " p \
	" ELSE (" p " - 1) * 1.0 / " p " END)"

/* Ops that move bytes between memory and scratch (or another PE). */
static inline bool kb_op_is_dma(int kind)
{
	return kind == KB_OP_DMA_READ || kind == KB_OP_DMA_WRITE || kind == KB_OP_IPCQ_SEND || kind == KB_OP_IPCQ_RECV;
}

/* Host control messages: no data. A launch has cube = pe = -1, an
 * mmu_map names the cube it is broadcast to (pe = -1), an ipcq_init the
 * PE whose queues it installs. */
static inline bool kb_op_is_control(int kind)
{
	return kind == KB_OP_LAUNCH || kind == KB_OP_MMU_MAP || kind == KB_OP_IPCQ_INIT;
}

/* A DMA's memory side (the one with a row stride in attr): operand a for a
 * dma_read and an ipcq_recv (the rx slot), dst otherwise (an ipcq_send's
 * dst is the slot at the receiver). */
static inline bool kb_op_memory_is_a(int kind)
{
	return kind == KB_OP_DMA_READ || kind == KB_OP_IPCQ_RECV;
}

/* An ipcq_init message carries one entry per installed direction. */
#define KB_IPCQ_ENTRY_BYTES 32

/* math:softmax records this many passes of work per element (max, sub,
 * exp, sum, div); timing charges the transcendental factor on one. */
#define KB_SOFTMAX_PASSES 5

/* An mmu_map message carries one entry (va, pa, size) per VA range. */
#define KB_MMU_ENTRY_BYTES 24

/* attr bits for gemm */
#define KB_GEMM_TRANS_A 1
#define KB_GEMM_TRANS_B 2
#define KB_GEMM_ACCUMULATE 4
/* attr flag of a compute op (gemm, math) that is opaque work: its flops on
 * its unit, no operands (imported traces; timing-only, replay refuses it). */
#define KB_OP_OPAQUE (INT64_C(1) << 20)
static inline bool kb_op_is_opaque(int kind, int64_t attr)
{
	return (kind == KB_OP_GEMM || (kind >= KB_OP_MATH_ADD && kind <= KB_OP_MATH_MUL_S)) && (attr & KB_OP_OPAQUE);
}

/* ---- the op record ----
 * Every field of an op, once (the project's X-macro idiom, like
 * KB_TOPOLOGY_KEYS). From this list come struct kb_op, the ops table's
 * columns and their order (schema.c), the writer's binding (db.c), the row
 * reader's decoding (reader.c), the op pack's coding (oppack.c) and the
 * per-field bounds of kb_op_check (check.c).
 *
 *   F(name, C type, column, SQL type, pack coding, lowest, highest)
 *   O(name, pack bit, table)   an operand: the KB_OPERAND_FIELDS below
 *
 * pack coding: KB_PACK_HEAD (unsigned, before the presence mask),
 * KB_PACK_ALWAYS, or KB_PACK_BIT(k): written when bit k of the mask is set,
 * which it is when the field (or another of that bit) is not 0. An
 * operand's bit is set when any of its packed fields is not 0.
 * lowest / highest: the bounds every op is checked against (n: the
 * trace's kb_trace_counts); rules across fields stay in kb_op_check.
 * table: KB_OPS (columns <name>_space .. <name>_pa of ops) or
 * KB_OP_OPERANDS (a row of op_operands, slot 3, only when present).
 *
 * Adding a field: a line here, the code that sets and uses it, and a
 * schema version bump (the ops table's text changes). */
#define KB_OP_FIELDS(F, O) \
	F(launch, int64_t, launch_id, INTEGER, KB_PACK_ALWAYS, 0, n->launches) \
	F(sip, int, sip, INTEGER, KB_PACK_ALWAYS, 0, INT32_MAX) \
	F(cube, int, cube, INTEGER, KB_PACK_ALWAYS, -1, INT32_MAX) \
	F(pe, int, pe, INTEGER, KB_PACK_ALWAYS, -1, INT32_MAX) \
	F(seq, int64_t, seq, INTEGER, KB_PACK_ALWAYS, -1, INT64_MAX) \
	F(kind, int, kind, INTEGER, KB_PACK_HEAD, KB_OP_NONE + 1, KB_OP_KIND_COUNT - 1) \
	F(attr, int64_t, attr, INTEGER, KB_PACK_BIT(0), INT64_MIN, INT64_MAX) \
	F(imm, double, imm, REAL, KB_PACK_BIT(1), -INFINITY, INFINITY) \
	F(bytes, int64_t, bytes, INTEGER, KB_PACK_BIT(2), 0, INT64_MAX) \
	F(flops, int64_t, flops, INTEGER, KB_PACK_BIT(3), 0, INT64_MAX) \
	O(dst, 6, KB_OPS) \
	O(a, 7, KB_OPS) \
	O(b, 8, KB_OPS) \
	O(c, 9, KB_OP_OPERANDS) \
	F(blob, int64_t, blob_id, INTEGER, KB_PACK_BIT(4), -1, n->blobs) \
	F(chan, int64_t, chan_id, INTEGER, KB_PACK_BIT(5), 0, n->chans) \
	F(chan_seq, int64_t, chan_seq, INTEGER, KB_PACK_BIT(5), 0, n->max_op)

/* An operand's fields: X(o, name, C type, pack coding), o passed through
 * (the operand the caller expands them for). va is recorded in
 * the rows (for users' queries) but neither packed nor read back: no
 * tool needs it, so an op reads the same from the rows and the pack. */
#define KB_OPERAND_FIELDS(X, o) \
	X(o, space, int, KB_PACK_ALWAYS) \
	X(o, dtype, int, KB_PACK_ALWAYS) \
	X(o, shape, int64_t, KB_PACK_ALWAYS) \
	X(o, va, uint64_t, KB_PACK_NONE) \
	X(o, pa, uint64_t, KB_PACK_ALWAYS)

enum { KB_PACK_NONE = -3, KB_PACK_HEAD = -2, KB_PACK_ALWAYS = -1 };
#define KB_PACK_BIT(k) (k)

/* One operand: where it lives and what it holds (shape: an id from
 * kb_db_shape, 0 = none; space 0: no operand). */
#define KB_OPERAND_MEMBER(o, name, type, pack) type name;
typedef struct kb_operand {
	KB_OPERAND_FIELDS(KB_OPERAND_MEMBER, _)
} kb_operand;
#undef KB_OPERAND_MEMBER

/* One op. launch 0 = the host stream of rank `sip`; cube = pe = -1 for
 * host-stream ops with no PE; seq: per-PE (or per-host-stream) program
 * order; attr: kind-specific (gemm flags, a DMA's row stride, reduction
 * axis); imm: a scalar operand; blob: a host write's data; chan,
 * chan_seq: an IPCQ op's channel and its k-th message on it. Operands:
 * dst (written), a and b (read), c (a third input: fma, clamp). A gemm
 * with KB_GEMM_ACCUMULATE also reads dst. */
#define KB_OP_MEMBER_F(name, type, column, sql, pack, lo, hi) type name;
#define KB_OP_MEMBER_O(name, bit, table) kb_operand name;
typedef struct kb_op {
	int64_t id; /* 1.. in the trace (the writer numbers ops; it ignores this) */
	KB_OP_FIELDS(KB_OP_MEMBER_F, KB_OP_MEMBER_O)
} kb_op;
#undef KB_OP_MEMBER_F
#undef KB_OP_MEMBER_O

/* An expectation's tolerances: |got - want| <= atol + rtol * |want|.
 * Beyond these bounds a check would pass anything: the writer refuses
 * them and a reader calls them damage. */
#define KB_MAX_RTOL 1.0
#define KB_MAX_ATOL 1.0

/* ---- writer ---- */

int kb_db_create(kb_db **out, const char *final_path, kb_error *err);
/* Builds indexes, commits, closes and renames into place. Frees db. */
int kb_db_commit(kb_db *db, kb_error *err);
/* Drops the temporary file. Frees db. Safe on NULL. */
void kb_db_abort(kb_db *db);

int kb_db_meta(kb_db *db, const char *key, const char *value, kb_error *err);
int kb_db_enum(kb_db *db, const char *table, int id, const char *name, kb_error *err);
/* Interned string / shape ids (>= 1). Return -1 on error. */
int64_t kb_db_string(kb_db *db, const char *s, kb_error *err);
int64_t kb_db_shape(kb_db *db, int ndim, const int64_t *dims, kb_error *err);

/* Appends an op; returns its id (>= 1) or -1. Ids follow insertion order. */
int64_t kb_db_op(kb_db *db, const kb_op *op, kb_error *err);
int64_t kb_db_ops_count(const kb_db *db);

int64_t kb_db_launch(kb_db *db, int rank, const char *kernel, int64_t host_op, int n_pes,
		     const char *args, kb_error *err);
/* Finishes a launch: the op id range its PE ops occupy. */
int kb_db_launch_end(kb_db *db, int64_t launch, int64_t first_op, int64_t end_op, kb_error *err);

typedef struct kb_tensor_row {
	const char *name;
	int rank, dtype;
	int64_t shape;
	uint64_t va, nbytes;
	const char *placement;  /* "cube=column_wise pe=column_wise ..." */
} kb_tensor_row;
int64_t kb_db_tensor(kb_db *db, const kb_tensor_row *t, kb_error *err);

typedef struct kb_shard_row {
	int64_t tensor;
	int sip, cube, pe, space;
	uint64_t va, pa, offset_bytes, nbytes;
	int64_t row0, col0, rows, cols; /* the logical block it holds */
} kb_shard_row;
int kb_db_shard(kb_db *db, const kb_shard_row *s, kb_error *err);

int64_t kb_db_range(kb_db *db, int rank, int64_t parent, const char *label, int64_t first_op,
		    kb_error *err);
int kb_db_range_end(kb_db *db, int64_t range, int64_t end_op, kb_error *err);

int kb_db_expect(kb_db *db, int64_t tensor, int64_t blob, double rtol, double atol, kb_error *err);
/* A sampled expectation: blob holds only the rows listed (ascending, as
 * int64) in rows_blob, each a whole row of the tensor's 2-D view. */
int kb_db_expect_rows(kb_db *db, int64_t tensor, int64_t blob, int64_t rows_blob, double rtol, double atol,
		      kb_error *err);

/* An expectation stated as a formula, no blob: element [row, col] of the
 * tensor's 2-D view is value + per_row * row + per_col * col (a constant,
 * r + 1, an arithmetic ramp); replay computes it instead of decoding. */
int kb_db_expect_ramp(kb_db *db, int64_t tensor, double value, double per_row, double per_col, double rtol,
		      double atol, kb_error *err);

/* Stores data compressed (byte planes of elem_size, then zstd); identical
 * contents share one row. kind: "host_data", "expected". */
int64_t kb_db_blob(kb_db *db, const char *kind, int dtype, size_t elem_size, const void *data, size_t nbytes,
		   kb_error *err);

/* An IPCQ channel (table channels): sender PE and direction to receiver
 * PE and direction, its rx slots (space, first slot's PA) and credits. */
typedef struct kb_channel_row {
	int64_t id;
	int src[3], dst[3]; /* sip, cube, pe */
	int src_dir, dst_dir;
	int64_t n_slots, slot_size;
	int space;
	uint64_t rx_pa;
	int64_t credit_bytes;
	int src_rank, dst_rank;
	int64_t install_op; /* the ipcq_init op that installed it */
} kb_channel_row;
int kb_db_channel(kb_db *db, const kb_channel_row *c, kb_error *err);

/* One rank's part in a collective call (table collectives). */
typedef struct kb_collective_row {
	int64_t id, call;
	int rank;
	const char *algorithm, *redop; /* interned */
	kb_coll_type type;
	int dtype;
	int64_t count, bytes, world_size;
	int64_t tensor, launch;
	int64_t first_op, end_op;      /* the ops it recorded: [first_op, end_op) */
} kb_collective_row;
int kb_db_collective(kb_db *db, const kb_collective_row *c, kb_error *err);

/* An explicit dependency (table op_deps): op starts after dep ends, beside
 * the data hazards and program order timing derives itself (imported
 * traces state theirs: Chakra's data_deps and ctrl_deps). Either order
 * of ids (ranks are traced one after another); a cycle is a deadlock. */
int kb_db_op_dep(kb_db *db, int64_t op, int64_t dep, kb_error *err);

/* A PE's kernel scratch high-water mark (table pe_scratch). */
int kb_db_pe_scratch(kb_db *db, int sip, int cube, int pe, uint64_t peak_bytes, uint64_t capacity_bytes,
		     kb_error *err);

/* ---- reader ---- */

/* Opens an existing trace: a regular file, a trace (application id) of a
 * known schema, writable when asked (checked before any work), with an
 * interrupted write rolled back, and its tables consistent (kb_db_check). */
int kb_db_open(kb_db **out, const char *path, bool writable, kb_error *err);
/* Another read-only connection to an opened trace, for a second reading
 * thread (it shares db's checks and counts; close it with kb_db_close). */
int kb_db_open_peer(kb_db *db, kb_db **out, kb_error *err);
/* The machine-independent checks of the tables (check.c): one line naming
 * the table, row and columns of the first bad row. The ops rows are left
 * to the readers, which check each as they stream it (kb_op_check): one
 * pass instead of a second scan of the largest table. */
int kb_db_check(kb_db *db, kb_error *err);

/* Row counts an op's references are checked against. */
typedef struct kb_trace_counts {
	int64_t shapes, launches, blobs, chans;
	int64_t max_op;           /* the largest op id (an IPCQ message number stays below it) */
} kb_trace_counts;
int kb_db_counts(kb_db *db, kb_trace_counts *c, kb_error *err);
const kb_trace_counts *kb_db_counts_of(const kb_db *db); /* as read at open */

/* NULL if the row is consistent, else the columns and the rule it breaks
 * (for "ops row N: <rule>: the trace is damaged"). */
const char *kb_op_check(const kb_op *o, const kb_trace_counts *n);
void kb_db_close(kb_db *db);
const char *kb_db_path(const kb_db *db);
/* Redraws p (a phase showing its elapsed time) while SQLite works on this
 * connection, every ~10^6 VM steps; NULL stops it. */
void kb_db_progress(kb_db *db, kb_progress *p);
/* Brings an older trace (opened writable) to the current schema: the
 * columns timing runs gained, the views. Call inside the writer's
 * transaction so a failed run leaves the file as it was. */
int kb_db_upgrade(kb_db *db, kb_error *err);
/* Whether the trace has a table (older schemas lack some). */
bool kb_db_has_table(kb_db *db, const char *table);
/* Whether table has the column (older schemas lack some). */
bool kb_db_has_column(kb_db *db, const char *table, const char *column);
/* Reads a meta value into a malloc'd string (NULL if absent). */
char *kb_db_meta_get(kb_db *db, const char *key);
/* ---- queries (query.c): SQL for the modules above db/, by name ----
 * Parameters are named (:run, :top); columns are read by the names the
 * query selects (the documented views' columns, db/SCHEMA.md). Asking for
 * a parameter or column the query lacks is a bug (asserted). */
typedef struct kb_query kb_query;
typedef enum kb_value_type { KB_VALUE_NULL, KB_VALUE_INT, KB_VALUE_FLOAT, KB_VALUE_TEXT, KB_VALUE_BLOB } kb_value_type;
int kb_query_open(kb_db *db, const char *sql, kb_query **q, kb_error *err);
void kb_query_close(kb_query *q);
void kb_query_bind_int(kb_query *q, const char *param, int64_t v);
void kb_query_bind_double(kb_query *q, const char *param, double v);
void kb_query_bind_text(kb_query *q, const char *param, const char *v); /* copied */
bool kb_query_has_param(const kb_query *q, const char *param);
/* 1: a row is ready, 0: no more rows, -1: err. */
int kb_query_step(kb_query *q, kb_error *err);
/* Back to before the first row, bindings kept. */
void kb_query_reset(kb_query *q);
int64_t kb_query_int(kb_query *q, const char *col);
double kb_query_double(kb_query *q, const char *col);
const char *kb_query_text(kb_query *q, const char *col); /* "" for NULL; valid until the next step */
bool kb_query_is_null(kb_query *q, const char *col);
/* For hot loops and whole rows: a column's position, looked up by name
 * once, then read by it; kb_query_n_cols / col_name walk every column. */
int kb_query_col(const kb_query *q, const char *col);
int kb_query_n_cols(const kb_query *q);
const char *kb_query_col_name(const kb_query *q, int i);
int64_t kb_query_int_at(kb_query *q, int i);
double kb_query_double_at(kb_query *q, int i);
const char *kb_query_text_at(kb_query *q, int i);
kb_value_type kb_query_type_at(kb_query *q, int i);
/* The first column of the first row as an integer (fallback when there is
 * no row or it is NULL). */
int kb_query_int_value(kb_db *db, const char *sql, int64_t fallback, int64_t *v, kb_error *err);
/* Opens the trace at path on db's connection as schema (ATTACH), for
 * queries over both; kb_db_detach ends it. */
int kb_db_attach(kb_db *db, const char *path, const char *schema, kb_error *err);
void kb_db_detach(kb_db *db, const char *schema);
/* Runs statements that return no rows. */
int kb_db_exec(kb_db *db, const char *sql, kb_error *err);

/* Decompresses a blob and checks its checksum; *data is malloc'd. */
int kb_db_blob_get(kb_db *db, int64_t id, void **data, size_t *nbytes, int *dtype, kb_error *err);

/* ---- reader (reader.c): the one way timing, replay and reports read a
 * trace. Typed records, large tables streamed, every row checked here
 * (ids, enums, counts; the machine's bounds are the caller's); a bad row
 * is one error naming table, row and column. All return 0, or -1 with err. */

typedef struct kb_shape_rec {
	int ndim;
	int64_t d[4], numel, rows; /* rows: of the 2-D view (1 for a 1-D shape) */
} kb_shape_rec;
/* (*out)[id] for ids 1..*n - 1; index 0 unused. */
int kb_read_shapes(kb_db *db, kb_shape_rec **out, int64_t *n, kb_error *err);
/* (*host_op)[id]: the host op of launch id 1..*n (checked 1..n_ops). */
int kb_read_launches(kb_db *db, int64_t n_ops, int64_t **host_op, int64_t *n, kb_error *err);

typedef struct kb_channel_rec {
	int64_t n_slots, slot_size, credit_bytes;
	int src[3], dst[3];       /* sip, cube, pe */
	int src_dir, dst_dir;
} kb_channel_rec;
/* (*out)[id - 1] for channel ids 1..*n (none in an older trace). */
int kb_read_channels(kb_db *db, kb_channel_rec **out, int64_t *n, kb_error *err);

typedef struct kb_range_rec {
	int64_t id;
	int rank;
	int64_t first_op, end_op;
	char label[64];
} kb_range_rec;
int kb_read_ranges(kb_db *db, kb_range_rec **out, size_t *n, kb_error *err);

/* How many ops the trace holds (their ids must be 1..n). */
int kb_read_op_count(kb_db *db, int64_t *n_ops, kb_error *err);
typedef struct kb_op_stream kb_op_stream;
/* Ops first..last in id order (the trace's ops are 1..n, checked by
 * kb_read_op_count on some connection to it). */
int kb_op_stream_open_range(kb_db *db, int64_t first, int64_t last, kb_op_stream **s, kb_error *err);
/* Moves an open stream to ops first..last. */
int kb_op_stream_range(kb_op_stream *s, int64_t first, int64_t last, kb_error *err);
/* Ops 1..n_ops (from kb_read_op_count) decoded by reader threads (two for
 * a big trace, each on its own connection: db is theirs until stop),
 * handed out in id order in chunks. next: 1 and rows[0..*n) (valid until
 * the next call), 0 at the end, -1 with a bad row's error after the rows
 * before it. */
typedef struct kb_op_reader kb_op_reader;
int kb_op_reader_start(kb_db *db, int64_t n_ops, kb_op_reader **r, kb_error *err);
int kb_op_reader_next(kb_op_reader *r, const kb_op **rows, size_t *n, kb_error *err);
void kb_op_reader_stop(kb_op_reader *r);
/* 1: *o is the next row (checked with kb_op_check); 0: the end; -1: err. */
int kb_op_stream_next(kb_op_stream *s, kb_op *o, kb_error *err);
void kb_op_stream_close(kb_op_stream *s);

/* A timing run by label (NULL: the newest); *id 0 if there is none. */
int kb_read_run(kb_db *db, const char *label, int64_t *id, char *label_out, size_t cap, kb_error *err);
/* The labels of the trace's runs, oldest first ("none" if it has none). */
void kb_read_run_labels(kb_db *db, char *out, size_t cap);
/* Calls fn for each op of the run in id order (op 1..n_ops, 0 <= start <=
 * end, checked); every op must be timed. */
typedef int (*kb_op_time_fn)(void *ctx, int64_t op, int64_t t_start_ps, int64_t t_end_ps, kb_error *err);
int kb_read_op_times(kb_db *db, int64_t run, int64_t n_ops, kb_op_time_fn fn, void *ctx, kb_error *err);

typedef struct kb_tensor_rec {
	char name[64];
	int dtype;
	int64_t rows, cols;       /* the 2-D view */
} kb_tensor_rec;
int kb_read_tensor(kb_db *db, int64_t id, kb_tensor_rec *t, kb_error *err);
typedef struct kb_shard_rec {
	int sip, cube, pe;
	uint64_t pa;
	int64_t row0, col0, rows, cols;
} kb_shard_rec;
/* A tensor's shards in (sip, cube, pe, offset) order. */
int kb_read_shards(kb_db *db, int64_t tensor, kb_shard_rec **out, size_t *n, kb_error *err);
typedef struct kb_expect_rec {
	int64_t id, tensor, blob, rows_blob; /* rows_blob 0: every row */
	double rtol, atol;
	bool ramp;                /* a formula (blob 0): value + per_row * row + per_col * col */
	double value, per_row, per_col;
} kb_expect_rec;
/* In id order. */
int kb_read_expectations(kb_db *db, kb_expect_rec **out, int *n, kb_error *err);
typedef struct kb_collective_rec {
	int64_t call;
	char algorithm[64];
	int64_t world_size;
	char tensor[64];
	int64_t n_shards;
	int64_t bytes; /* per rank */
	int64_t launch; /* the launch that ran it on this rank */
	kb_coll_type type;
	int rank;
	int64_t first_op, end_op; /* its ops on this rank: [first_op, end_op) */
} kb_collective_rec;
/* Calls fn per collective row, by (call, algorithm, rank). */
typedef int (*kb_collective_fn)(void *ctx, const kb_collective_rec *c, kb_error *err);
int kb_read_collectives(kb_db *db, kb_collective_fn fn, void *ctx, kb_error *err);
/* Calls fn per explicit dependency, by (op, dep); none in a trace without
 * the table. */
typedef int (*kb_op_dep_fn)(void *ctx, int64_t op, int64_t dep, kb_error *err);
int kb_read_op_deps(kb_db *db, kb_op_dep_fn fn, void *ctx, kb_error *err);

/* ---- timing-run writer (runs.c): one transaction per run; any failure
 * before kb_run_commit rolls everything back. ---- */
typedef struct kb_run_writer kb_run_writer;
typedef struct kb_run_info {
	const char *label;        /* NULL: the first free run<N> */
	bool replace;             /* an existing run of that label is replaced (else an error) */
	const char *source, *overrides, *effective, *tool_version;
	int64_t total_ps, n_ops;
} kb_run_info;
/* Opens the transaction (upgrading an older trace inside it) and writes
 * the run row; label receives the label used. */
int kb_run_begin(kb_db *db, const kb_run_info *info, kb_run_writer **w, char *label, size_t cap, kb_error *err);
int64_t kb_run_id(const kb_run_writer *w);
/* op_times for ops 1..n: fn fills op index i's t_start, t_end, wait,
 * wait_op, stall_ps, stall_link. */
/* An op's op_times columns after run_id and op_id: t_start_ps, t_end_ps,
 * wait, wait_op, stall_ps, stall_link, queue_ps. */
enum { KB_OP_TIME_COLS = 7 };
typedef void (*kb_op_time_row_fn)(const void *ctx, int64_t i, int64_t row[KB_OP_TIME_COLS]);
int kb_run_op_times(kb_run_writer *w, int64_t n, kb_op_time_row_fn fn, const void *ctx, kb_progress *progress,
		    kb_error *err);
int kb_run_launch_time(kb_run_writer *w, int64_t launch, int64_t t_start, int64_t t_pe_start, int64_t t_end,
		       kb_error *err);
int kb_run_range_time(kb_run_writer *w, int64_t range, int64_t t_start, int64_t t_end, kb_error *err);
int kb_run_unit_busy(kb_run_writer *w, const char *unit, int sip, int cube, int pe, int64_t ops, int64_t busy_ps,
		     kb_error *err);
typedef struct kb_link_usage_rec {
	const char *name, *kind, *direction;
	double gbps;
	int64_t transfers, bytes, busy_ps, link_id, stall_ps;
} kb_link_usage_rec;
int kb_run_link_usage(kb_run_writer *w, const kb_link_usage_rec *l, kb_error *err);
int kb_run_link_load(kb_run_writer *w, const char *kind, int64_t t_ps, double gbps, kb_error *err);
/* Commits and frees w (on failure it rolls back and frees it too). */
int kb_run_commit(kb_run_writer *w, kb_error *err);
void kb_run_abort(kb_run_writer *w);

/* ---- the op pack's coding (oppack.c): an op as ~20-40 bytes ----
 * The fields of KB_OP_FIELDS: the head, a presence mask, the fields always
 * written, then the present ones, in the list's order, operands last;
 * signed integers zigzagged, unsigned ones as they are (LEB128), a double
 * as its 8 bytes. Traces store ops this way (op_pack); replay keeps its
 * ops in memory this way. */
enum { KB_OP_PACK_MAX = 256 }; /* bytes one op takes at most (~230 with every field 64-bit) */
/* Encodes op at out (KB_OP_PACK_MAX bytes free): the bytes written. */
size_t kb_op_pack_put(uint8_t *out, const kb_op *op);
/* Decodes the op at *p (before end) as op `id`, moving *p past it; -1 if
 * it runs past end. The fields are what was written, unchecked (a reader
 * checks them with kb_op_check). */
int kb_op_pack_get(const uint8_t **p, const uint8_t *end, int64_t id, kb_op *o);
/* Only the head and the fields always written (kind, launch, sip, cube,
 * pe, seq): a few nanoseconds. -1 if it runs past end. */
int kb_op_pack_head(const uint8_t *p, const uint8_t *end, kb_op *o);

/* ---- codec (exposed for tests and benchmarks) ---- */
/* A blob coder kept between blobs: its zstd context and work buffers are
 * made once (a fresh context per blob cost most of the encoding). Zeroed
 * to start; the output is valid until the next call. */
typedef struct kb_blob_coder {
	void *cctx;
	unsigned char *planes, *out;
	size_t planes_cap, out_cap;
} kb_blob_coder;
int kb_blob_encode_with(kb_blob_coder *c, const void *data, size_t n, size_t elem_size, const void **out,
			size_t *out_n, kb_error *err);
void kb_blob_coder_release(kb_blob_coder *c);
int kb_blob_encode(const void *data, size_t n, size_t elem_size, void **out, size_t *out_n, kb_error *err);
int kb_blob_decode(const void *blob, size_t n, size_t raw_n, size_t elem_size, void **out, kb_error *err);

/* ---- the study database of kb-sweep (study.c) ---- */

typedef struct kb_study kb_study;
typedef struct kb_study_coll {
	int64_t call, bytes, world_size, time_ps;
	char algorithm[64];
	double algbw_gbps, busbw_gbps;
} kb_study_coll;
typedef struct kb_study_range {
	const char *label;
	int64_t time_ps;
} kb_study_range;
typedef struct kb_study_link {
	const char *class_name, *link;
	double busy_pct;
	int64_t bytes, stall_ps;
} kb_study_link;
/* One point: its settings and hash, its axis values (in axis order), how
 * it ended and, when ok, its summary. */
typedef struct kb_study_point_rec {
	int64_t id;                 /* its number in spec order (from 1): the same in every run and part */
	const char *hash, *settings, *error;
	const char *const *axis_values;
	int n_axes;
	int64_t trace_id;           /* 0: none (it failed before a trace) */
	bool ok;
	double wall_s;
	int64_t total_ps, host_ps, device_ps;
	double unit_pct[5];         /* dma, gemm, math, ipcq, host */
	const kb_study_link *links;
	int n_links;
	const kb_study_coll *colls;
	int n_colls;
	const kb_study_range *ranges;
	int n_ranges;
} kb_study_point_rec;
/* Creates the study (or opens it to resume: the same spec text only);
 * spec NULL opens an existing study to read. */
int kb_study_open(kb_study **s, const char *path, const char *spec, const char *const *axes, int n_axes,
		  kb_error *err);
void kb_study_close(kb_study *s);
/* The trace's id in the study (added, or found by path). */
int64_t kb_study_trace(kb_study *s, const char *path, const char *trace_keys, int64_t n_ops, kb_error *err);
/* Whether a point of this hash finished ok. */
bool kb_study_done(kb_study *s, const char *hash);
/* Stores a point in a transaction of its own (a failed one run again replaces it). */
int kb_study_point(kb_study *s, const kb_study_point_rec *p, kb_error *err);
/* Runs a read-only query: fn gets the column names (vals NULL), then each row as text. */
/* A row callback: 0, or -1 when it runs out of memory (the query stops). */
typedef int (*kb_study_row_fn)(void *ctx, int n, const char *const *names, const char *const *vals);
/* Merges a partial study (a Slurm task's) into study, created from the
 * part's spec when missing: points by hash, so merging again changes
 * nothing. */
int kb_study_merge(const char *study, const char *part, kb_error *err);
/* The axis keys in spec order (at most 16, malloc'd each). */
int kb_study_axes(kb_study *s, char **keys, int *n, kb_error *err);
int kb_study_query(kb_study *s, const char *sql, kb_study_row_fn fn, void *ctx, kb_error *err);

#endif
