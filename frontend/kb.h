/*
 * kb.h — what bench and kernel authors write against.
 *
 * Host side (PyTorch-flavoured): a kb_ctx is the runtime of one trace.
 * Tensors are created on the current device (set_device(rank); rank = SIP)
 * with a DPPolicy, filled from host data, passed to kernels, and checked
 * by expectations that replay verifies later. Nothing is computed while
 * tracing: every device action is recorded as ops.
 *
 * Kernel side (Triton-like `tl` DSL): a kernel is `void k(kb_tl *tl)`, run
 * once per participating PE. Tiles live in the PE's kernel scratch.
 *
 * Errors (shape mismatches, scratch or memory exhaustion, unknown args)
 * abort the trace with one message naming the kernel, PE, op and sizes;
 * control does not return to the bench. The ctx owns every object.
 */
#ifndef KB_H
#define KB_H

#include <stdbool.h>
#include <stdint.h>

#include "machine.h"
#include "tracegen.h"

typedef struct kb_ctx kb_ctx;
typedef struct kb_tensor kb_tensor;
typedef struct kb_tl kb_tl;
typedef struct kb_tile kb_tile;

/* A shape of 1 to 4 dimensions: KB_SHAPE(64, 128). */
typedef struct kb_shape {
	int ndim;
	int64_t d[4];
} kb_shape;
#define KB_SHAPE(...) ((kb_shape){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}})

int64_t kb_shape_numel(kb_shape s);

/* DPPolicy; unnamed fields default to replicate, all cubes, all PEs, HBM:
 * KB_DP(.cube = KB_COLUMN_WISE, .pe = KB_COLUMN_WISE), KB_DP(.mem = KB_SPACE_TCM). */
#define KB_DP(...) ((kb_dp){__VA_ARGS__})

/* ------------------------------------------------------------------ */
/* Host API                                                            */
/* ------------------------------------------------------------------ */

/* Number of ranks: the ccl world size after init_process_group, else the
 * SIP count. */
int kb_world_size(kb_ctx *ctx);
void kb_set_device(kb_ctx *ctx, int rank);
int kb_get_rank(kb_ctx *ctx);
const kb_machine *kb_ctx_machine(kb_ctx *ctx);

/* Runs worker once per rank, with that rank as the current device. */
void kb_spawn(kb_ctx *ctx, void (*worker)(kb_ctx *ctx, int rank, void *arg), void *arg, int nprocs);

/* Bench parameters (defaults from the registration, `--set bench.K=V`). */
int64_t kb_param_int(kb_ctx *ctx, const char *name);
double kb_param_float(kb_ctx *ctx, const char *name);
/* Replaces a parameter's value (a preset a bench derives from another
 * parameter); the trace's meta bench_params records the final values. */
void kb_param_set(kb_ctx *ctx, const char *name, double value);

/* Tensors. zeros records a zero-fill of every shard; empty records nothing
 * (replay reports reads of it before a write). */
kb_tensor *kb_zeros(kb_ctx *ctx, const char *name, kb_shape shape, kb_dtype dtype, kb_dp dp);
kb_tensor *kb_empty(kb_ctx *ctx, const char *name, kb_shape shape, kb_dtype dtype, kb_dp dp);
kb_shape kb_tensor_shape(const kb_tensor *t);
uint64_t kb_tensor_va(const kb_tensor *t);

/* Maps tensor t of another device into the current device's PEs (the
 * cubes with the same indices as those holding t), as peer access does:
 * kernels then load and store its memory by VA over the SIP links. The
 * map messages are recorded as host control traffic. */
void kb_map_peer(kb_ctx *ctx, kb_tensor *t);
/* Copies row-major host values (converted to the tensor's dtype) into every
 * shard; the bytes are recorded in the trace. */
void kb_copy_from_host(kb_ctx *ctx, kb_tensor *t, const float *data);
/* The same for a tensor whose row r holds row_values[r] in every column:
 * each shard's bytes are made where they are written (no whole-tensor
 * host array; the trace's bytes are those kb_copy_from_host records). */
void kb_copy_rows_from_host(kb_ctx *ctx, kb_tensor *t, const float *row_values);

/* Registers the expected final contents (row-major, f32) of t. */
void kb_expect(kb_ctx *ctx, kb_tensor *t, const float *expected, double rtol, double atol);
/* The same as a formula, no values stored: element [row, col] of t's 2-D
 * view is value + per_row * row + per_col * col, rounded to f32 (a
 * constant, r + 1, an arithmetic ramp). Replay computes it. */
void kb_expect_ramp(kb_ctx *ctx, kb_tensor *t, double value, double per_row, double per_col, double rtol,
		    double atol);
/* Row r of t expected to hold row_values[r] in every column: a ramp when
 * the rows step evenly (exactly, in f32), else the values in full. */
void kb_expect_row_values(kb_ctx *ctx, kb_tensor *t, const float *row_values, double rtol, double atol);
/* Registers the expected contents of some rows of t's 2-D view only (rows
 * ascending; expected is n_rows x columns, f32): replay verifies them by
 * executing just the ops they depend on, so a reference that would take
 * hours for the whole tensor can be sampled. */
void kb_expect_rows(kb_ctx *ctx, kb_tensor *t, const int64_t *rows, int n_rows, const float *expected, double rtol,
		    double atol);
/* Fills t with uniform values in [-scale, scale) (rounded to its dtype)
 * generated where they land: one fill op per shard, no host data in the
 * trace. kb_rand_value is element (row, col) of such a fill, for host
 * references. */
void kb_rand(kb_ctx *ctx, kb_tensor *t, uint64_t seed, float scale);
float kb_rand_value(const kb_tensor *t, uint64_t seed, float scale, int64_t row, int64_t col);

/* Named regions that reports aggregate by (like NVTX ranges). */
void kb_range_push(kb_ctx *ctx, const char *label);
void kb_range_pop(kb_ctx *ctx);

/* Kernel arguments are explicit and named: tensors arrive as VAs,
 * scalars as typed values. */
typedef enum { KB_ARG_TENSOR, KB_ARG_INT, KB_ARG_FLOAT, KB_ARG_PTR } kb_arg_type;
typedef struct kb_arg {
	const char *name;
	kb_arg_type type;
	kb_tensor *tensor;
	int64_t i;
	double f;
	void *p;
} kb_arg;
#define KB_TENSOR(n, t) ((kb_arg){.name = (n), .type = KB_ARG_TENSOR, .tensor = (t)})
#define KB_INT(n, v) ((kb_arg){.name = (n), .type = KB_ARG_INT, .i = (v)})
#define KB_FLOAT(n, v) ((kb_arg){.name = (n), .type = KB_ARG_FLOAT, .f = (v)})
/* A host pointer for the kernel's own use (tables, configuration): not
 * recorded in the trace; the trace must not depend on anything it points
 * to that the ops do not record. */
#define KB_PTR(n, v) ((kb_arg){.name = (n), .type = KB_ARG_PTR, .p = (v)})

typedef void (*kb_kernel_fn)(kb_tl *tl);

/* Launches kernel on every PE of the current device that holds a shard of
 * a tensor argument. */
void kb_launch(kb_ctx *ctx, const char *name, kb_kernel_fn kernel, const kb_arg *args, int n_args);
#define KB_LAUNCH(ctx, name, kernel, ...) \
	kb_launch((ctx), (name), (kernel), (const kb_arg[]){__VA_ARGS__}, \
		  (int)(sizeof((kb_arg[]){__VA_ARGS__}) / sizeof(kb_arg)))

/* ---- Distributed runtime (ccl.yaml) ----
 * init_process_group resolves the configured algorithm (defaults.algorithm)
 * and installs its IPCQ wiring: rank = SIP (cube 0, PE 0) while the world
 * size fits the SIP count, else rank = PE in (sip, cube, pe) order. The
 * install messages are host control traffic on each rank's stream. */
void kb_init_process_group(kb_ctx *ctx, const char *backend, const char *algorithm); /* "ahbm", NULL = configured */
/* A new wiring later in the same bench: uninstall, then install algorithm
 * (NULL = defaults.algorithm). Installing over a wiring is an error. */
void kb_ipcq_install(kb_ctx *ctx, const char *algorithm);
void kb_ipcq_uninstall(kb_ctx *ctx);
/* A pair channel from PE src to PE dst ({sip, cube, pe}), outside any
 * process group: n_slots x slot_size bytes of rx buffer in space on dst
 * (KB_SPACE_TCM: TCM while it has room, else HBM), an install message on
 * src's host stream. Returns its handle for
 * tl_send_on / tl_recv_on (kernels on src / dst). */
int kb_ipcq_connect(kb_ctx *ctx, const int src[3], const int dst[3], int src_rank, int dst_rank, int64_t n_slots,
		    int64_t slot_size, kb_space space);
/* The ranks of the PEs taking part on device sip, in (cube, pe) order (up
 * to cap of them; returns how many): they fill cubes 0..*n_cubes-1, PEs
 * 0..*n_pes-1 of each. A rank is one PE, or (intercube_multisip) PE 0 of
 * every cube of its SIP, or (hierarchical_3level, mapper all_pes) every PE
 * of its SIP. */
int kb_ccl_device_ranks(kb_ctx *ctx, int sip, int *ranks, int cap, int *n_cubes, int *n_pes);
const char *kb_ccl_algorithm(kb_ctx *ctx);   /* the installed algorithm's name */
int64_t kb_ccl_n_elem(kb_ctx *ctx);          /* its n_elem */
/* The largest buffer per rank, in bytes, one call can carry: the slot
 * size for an algorithm that sends a buffer as one tile, 0 (no limit)
 * for one that chunks it. */
int64_t kb_ccl_max_message_bytes(kb_ctx *ctx);

typedef enum kb_redop { KB_REDUCE_SUM, KB_REDUCE_MAX, KB_REDUCE_MIN, KB_REDUCE_PROD } kb_redop;
/* All-reduces t (a tensor of the current device, one shard per rank PE:
 * validator single_shard_per_rank) in place with the installed algorithm:
 * one launch on the device, recorded in the collectives table. */
void kb_all_reduce(kb_ctx *ctx, kb_tensor *t, kb_redop op);
/* The other collectives, placed like all_reduce's buffer (one shard per
 * rank PE). Each runs the installed algorithm when it implements the
 * collective, else its ring module (ring_allgather, ring_reducescatter,
 * ring_alltoall, ring_broadcast), which needs a ring_1d wiring. The buffer
 * of n elements per rank splits into p chunks of n / p (all but
 * broadcast; n must divide by p):
 * - reduce_scatter: in place, rank r's chunk r ends as the sum over ranks;
 * - all_gather: in place, rank r brings chunk r, every rank ends with all;
 * - all_to_all: chunk d of rank r's in lands in chunk r of rank d's out;
 * - broadcast: root's buffer ends in every rank's. */
void kb_reduce_scatter(kb_ctx *ctx, kb_tensor *t, kb_redop op);
void kb_all_gather(kb_ctx *ctx, kb_tensor *t);
void kb_all_to_all(kb_ctx *ctx, kb_tensor *in, kb_tensor *out);
void kb_broadcast(kb_ctx *ctx, kb_tensor *t, int root);

/* ---- Tensor parallelism (Megatron, pure TP: TP = world size, rank = SIP) ----
 * A layer's GEMM spreads over the PEs of the rank's SIP: its local columns
 * (column-parallel) or rows (row-parallel) split over n_cubes x n_pes PEs
 * (as many as divide them, up to every PE). The row-parallel partials are
 * all-reduced with the installed algorithm, whose participants must
 * include the layer's PEs (hierarchical_allreduce: every PE). */
void kb_tp_init(kb_ctx *ctx, int tp);    /* initialize_model_parallel: tp == kb_world_size */
int kb_tp_world_size(kb_ctx *ctx);       /* an error before kb_tp_init */
int kb_tp_rank(kb_ctx *ctx);             /* the current device */

typedef struct kb_tp_linear {
	const char *name;
	kb_tensor *w;        /* column: (in, out / tp); row: (in / tp, out) — the rank's block, f16 */
	int64_t in, out, local;
	bool row;
	int n_cubes, n_pes;  /* the PEs the layer's GEMM spreads over */
} kb_tp_linear;
/* On the current device; out (column) or in (row) must divide by tp. */
kb_tp_linear kb_tp_column_parallel(kb_ctx *ctx, const char *name, int64_t in, int64_t out);
kb_tp_linear kb_tp_row_parallel(kb_ctx *ctx, const char *name, int64_t in, int64_t out);
/* The input a layer takes, (M, in) replicated on the column layer's PEs,
 * or (M, in / tp) split by columns like the row layer's weight rows. */
kb_tensor *kb_tp_input(kb_ctx *ctx, const char *name, const kb_tp_linear *l, int64_t M);
/* column: (M, out / tp), split like the weight, no collective (what a row
 * layer of the same split takes). row: y, one (M, out) block per PE taking
 * part in the all-reduce, each = sum over ranks of x_r · W_r. */
kb_tensor *kb_tp_forward(kb_ctx *ctx, const kb_tp_linear *l, kb_tensor *x, const char *out_name);

/* ---- Explicit order (imported workloads) ----
 * kb_next_op / tl_next_op: the id the next recorded op gets. kb_depend:
 * op starts after dep ends, beside what timing derives itself (program
 * order, data hazards, channels). kb_trace_meta: a meta key of the trace. */
int64_t kb_next_op(kb_ctx *ctx);
/* The request's arg (kb_trace_request.arg): the input of a bench that
 * imports a workload. */
const void *kb_bench_arg(kb_ctx *ctx);
void kb_depend(kb_ctx *ctx, int64_t op, int64_t dep);
void kb_trace_meta(kb_ctx *ctx, const char *key, const char *value);

/* Aborts the trace with a message (for bench-level checks). */
_Noreturn void kb_fatal(kb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Host memory owned by the trace: freed when the trace ends, also when a
 * bench error unwinds past its caller; kb_host_free releases it early. */
void *kb_host_alloc(kb_ctx *ctx, size_t bytes);
void kb_host_free(kb_ctx *ctx, void *p);

/* Deterministic host data: uniform in [-scale, scale), from a seed. */
void kb_fill_random(float *data, int64_t n, uint64_t seed, float scale);

/* ------------------------------------------------------------------ */
/* Kernel DSL (`tl`)                                                   */
/* ------------------------------------------------------------------ */

/* axis 0 = PE within the cube, axis 1 = cube. num_programs counts the
 * participating extent of the axis (highest index + 1). */
int tl_program_id(kb_tl *tl, int axis);
int tl_num_programs(kb_tl *tl, int axis);

/* Arguments by name. tl_arg_ptr is the VA of this PE's view of the tensor
 * (its first shard); tl_arg_base is the tensor's base VA. */
uint64_t tl_arg_ptr(kb_tl *tl, const char *name);
uint64_t tl_arg_base(kb_tl *tl, const char *name);
int64_t tl_arg_int(kb_tl *tl, const char *name);
double tl_arg_float(kb_tl *tl, const char *name);
void *tl_arg_ptr_user(kb_tl *tl, const char *name); /* a KB_PTR argument */

/* DMA between memory (by VA, through this PE's MMU) and scratch. */
kb_tile *tl_load(kb_tl *tl, uint64_t va, kb_shape shape, kb_dtype dtype);
void tl_store(kb_tl *tl, uint64_t va, kb_tile *t);
/* 2-D tiles whose rows are `stride` elements apart in memory (e.g. one
 * head's columns of a row-major [tokens, heads x d] tensor). */
kb_tile *tl_load_strided(kb_tl *tl, uint64_t va, kb_shape shape, int64_t stride, kb_dtype dtype);
void tl_store_strided(kb_tl *tl, uint64_t va, kb_tile *t, int64_t stride);

/* GEMM with f32 accumulation. flags: TL_TRANS_A, TL_TRANS_B (a real
 * transposed operand). tl_dot_acc adds a·b into acc (f32) in place. */
#define TL_TRANS_A KB_GEMM_TRANS_A
#define TL_TRANS_B KB_GEMM_TRANS_B
kb_tile *tl_dot(kb_tl *tl, kb_tile *a, kb_tile *b, int flags);
void tl_dot_acc(kb_tl *tl, kb_tile *acc, kb_tile *a, kb_tile *b, int flags);

/* Elementwise, with numpy broadcasting ((S,1) against (S,D)). */
kb_tile *tl_add(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_sub(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_mul(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_div(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_maximum(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_minimum(kb_tl *tl, kb_tile *a, kb_tile *b);
kb_tile *tl_fma(kb_tl *tl, kb_tile *a, kb_tile *b, kb_tile *c); /* a*b + c */
kb_tile *tl_clamp(kb_tl *tl, kb_tile *x, kb_tile *lo, kb_tile *hi);
kb_tile *tl_exp(kb_tl *tl, kb_tile *x);
kb_tile *tl_log(kb_tl *tl, kb_tile *x);
kb_tile *tl_sqrt(kb_tl *tl, kb_tile *x);
kb_tile *tl_abs(kb_tl *tl, kb_tile *x);
kb_tile *tl_neg(kb_tl *tl, kb_tile *x);
kb_tile *tl_add_scalar(kb_tl *tl, kb_tile *x, double v);
kb_tile *tl_mul_scalar(kb_tl *tl, kb_tile *x, double v);

/* Reductions keep the reduced axis with extent 1, so results broadcast. */
kb_tile *tl_max(kb_tl *tl, kb_tile *x, int axis);
kb_tile *tl_sum(kb_tl *tl, kb_tile *x, int axis);
kb_tile *tl_softmax(kb_tl *tl, kb_tile *x, int axis);

kb_tile *tl_trans(kb_tl *tl, kb_tile *x);                 /* 2-D transpose (a copy) */
kb_tile *tl_view(kb_tl *tl, kb_tile *x, kb_shape shape);  /* metadata only, same bytes */
kb_tile *tl_cast(kb_tl *tl, kb_tile *x, kb_dtype dtype);
kb_tile *tl_full(kb_tl *tl, kb_shape shape, kb_dtype dtype, double value);

/* Returns a tile's scratch; using it afterwards is an error. */
void tl_free(kb_tl *tl, kb_tile *t);
kb_shape tl_shape(const kb_tile *t);
kb_dtype tl_dtype(const kb_tile *t);

/* IPCQ. send copies a tile into the peer's rx slot on dir (waiting for a
 * credit); recv copies the next message from dir's rx slot into a new
 * scratch tile (recv_to: into memory at va), then returns the slot's
 * credit. A tile larger than slot_size, or a direction without a channel,
 * is an error naming the PE and the installed directions. */
void tl_send(kb_tl *tl, kb_dir dir, kb_tile *t);
kb_tile *tl_recv(kb_tl *tl, kb_dir dir, kb_shape shape, kb_dtype dtype);
void tl_recv_to(kb_tl *tl, kb_dir dir, uint64_t va, kb_shape shape, kb_dtype dtype);
/* This PE's rank and the world size; whether a channel exists on dir
 * (incoming: one this PE receives on). */
int tl_rank(kb_tl *tl);
int tl_world_size(kb_tl *tl);
bool tl_has_dir(kb_tl *tl, kb_dir dir, bool incoming);
/* Opaque work for timing-only traces: an op of kind (gemm or a math kind)
 * of flops on its unit, no operands (KB_OP_OPAQUE; replay refuses it). */
void tl_work(kb_tl *tl, kb_op_kind kind, int64_t flops);
int64_t tl_next_op(kb_tl *tl);
/* Send and receive on pair channel h (kb_ipcq_connect) from its src PE /
 * at its dst PE, like tl_send / tl_recv. */
void tl_send_on(kb_tl *tl, int h, kb_tile *t);
kb_tile *tl_recv_on(kb_tl *tl, int h, kb_shape shape, kb_dtype dtype);
/* A tile of scratch with undefined contents, nothing recorded (timing-only
 * traces: what an imported send carries). */
kb_tile *tl_scratch(kb_tl *tl, kb_shape shape, kb_dtype dtype);
/* Aborts the trace from a kernel, naming the kernel and PE. */
_Noreturn void tl_fatal(kb_tl *tl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Library routine (the seed's tl.ref/composite): C[M,N] = A[M,K]·B[K,N]
 * from memory to memory, tiled tm x tn x tk so it fits the scratch; the
 * output is written in c_dtype. Expands into loads, dots and stores. */
void tl_gemm_tiled(kb_tl *tl, uint64_t a_va, uint64_t b_va, uint64_t c_va, int64_t M, int64_t K, int64_t N,
		   int64_t tm, int64_t tn, int64_t tk, kb_dtype in_dtype, kb_dtype c_dtype);

/* ------------------------------------------------------------------ */
/* Benches                                                             */
/* ------------------------------------------------------------------ */

typedef struct kb_param_def {
	const char *name;
	double value;     /* default */
	const char *help;
} kb_param_def;

#define KB_MAX_PARAMS 16

typedef struct kb_bench {
	const char *name;
	const char *description;
	void (*run)(kb_ctx *ctx);
	kb_param_def params[KB_MAX_PARAMS]; /* ends at the first NULL name */
} kb_bench;

/* A collective algorithm, registered by the name ccl.yaml's `module:` gives.
 * Its kernel runs on every PE taking part, with the arguments t (its
 * buffer), n_elem, dtype, cube_w, cube_h, n_sips, sip_topo (the machine's
 * kb_sip_wiring: KB_SIP_RING, KB_SIP_GRID_WRAP, KB_SIP_GRID), root_cube and chunk (elements
 * per message: chunk_size, else what fits a slot). */
typedef struct kb_ccl_module {
	const char *name;
	const char *description;
	kb_kernel_fn kernel;
	bool chunked; /* splits a buffer into slot-sized messages: any size runs */
	kb_coll_type type; /* the collective it implements */
} kb_ccl_module;
const kb_ccl_module *const *kb_ccl_modules(void);

/* Every registered bench, NULL-terminated. */
const kb_bench *const *kb_benches(void);
const kb_bench *kb_bench_find(const char *name);

/* Traces bench into out_path. params: "KEY=VALUE" overrides (without the
 * bench prefix). On success fills *n_ops. */
typedef struct kb_trace_request {
	const kb_bench *bench;
	const kb_topo_cfg *topo;
	const kb_ccl_cfg *ccl;
	const char *out_path;
	const char *const *params;
	int n_params;
	kb_progress *progress;    /* NULL: no progress line */
	const void *arg;          /* what the bench reads with kb_bench_arg (an imported workload), or NULL */
} kb_trace_request;

int kb_trace_bench(const kb_trace_request *req, int64_t *n_ops, kb_error *err);

#endif
