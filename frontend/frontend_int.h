/*
 * frontend_int.h — private to the frontend: the structs behind kb_ctx,
 * kb_tensor, kb_tl and kb_tile, shared by host.c and tl.c.
 */
#ifndef KB_FRONTEND_INT_H
#define KB_FRONTEND_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

#include "kb.h"

#define MAX_RANGE_DEPTH 64

/* An installed IPCQ channel (ccl.c installs, tl_ipcq.c sends and receives). */
typedef struct chan {
	int64_t id;                  /* channels table id */
	int src_rank, dst_rank;
	int src[3], dst[3];          /* sip, cube, pe */
	kb_dir src_dir, dst_dir;
	kb_space space;
	uint64_t rx_off, rx_pa;
	int64_t sent, received;
	int64_t n_slots, slot_size;
} chan;

/* The process group (ccl.c). */
typedef struct ccl_state {
	kb_ccl_algo cfg;             /* the resolved algorithm entry */
	const kb_ccl_module *mod;
	int world_size;
	int n_part;                  /* participating PEs (one per rank, or more: intercube, all_pes) */
	int *part_loc;               /* participant -> flat PE index */
	int *part_rank;              /* participant -> its rank */
	int *pe_part;                /* flat PE index -> participant, -1 none */
	chan *chans;
	int n_chans;
	int32_t *out, *in;           /* flat PE index x KB_DIR_COUNT -> channel, -1 none */
	bool installed;
	int64_t *calls;              /* per device: all_reduce calls so far */
	int64_t n_rows;              /* collectives rows written */
	int root_cube;               /* intercube: the cube the reduction meets in */
} ccl_state;

#define TILE_QUARANTINE 4096 /* freed tiles kept to catch a use after free */

struct kb_tensor {
	char name[64];
	kb_shape shape;
	kb_dtype dtype;
	kb_dp dp;
	int rank;
	int64_t rows, cols;   /* the 2-D view placement splits */
	int64_t id;           /* trace tensor id */
	int64_t shape_id;
	uint64_t va, va_bytes;
	kb_shard *shards;
	uint64_t *shard_pa;
	size_t n_shards;
	kb_tensor *next;
};

/* A host buffer handed out by kb_host_alloc. */
typedef struct host_block {
	struct host_block *prev, *next;
	max_align_t data[];
} host_block;

struct kb_ctx {
	kb_session *s;
	const kb_machine *m;
	const kb_bench *bench;
	const void *bench_arg;
	double params[KB_MAX_PARAMS];
	int rank;
	kb_tensor *tensors;
	host_block *host_blocks;
	kb_tile *tiles;     /* every tile struct of the kernel being traced */
	kb_tile *spare;     /* structs out of quarantine, ready for reuse */
	kb_tile *quarantine[TILE_QUARANTINE];
	size_t q_next, q_count;
	int64_t range_stack[KB_MAX_SIPS][MAX_RANGE_DEPTH];
	int range_depth[KB_MAX_SIPS];
	const kb_ccl_cfg *ccl_cfg;
	ccl_state *ccl;     /* NULL until init_process_group */
	chan *pairs;        /* pair channels (kb_ipcq_connect), by handle */
	int n_pairs, cap_pairs;
	int64_t next_chan_id; /* the last channels table id given out */
	int tp_size;        /* 0 until kb_tp_init */
	jmp_buf unwind;
	kb_error err;
};

struct kb_tile {
	kb_shape shape;
	kb_dtype dtype;
	int64_t shape_id;
	uint64_t offset, nbytes; /* in the PE's scratch */
	uint64_t pa;
	kb_tile *owner;          /* a view's storage; NULL if it owns its own */
	bool freed;
	kb_tile *next;           /* every tile of the launch, for release */
	kb_tile *next_spare;
};

struct kb_tl {
	kb_ctx *ctx;
	int sip, cube, pe;
	int64_t launch;
	const char *kernel;
	const kb_arg *args;
	int n_args;
	int n_programs[2];
};

/* Records the message and unwinds to kb_trace_bench. */
_Noreturn void kb_throw(kb_ctx *ctx);

/* Formats "on sip0.cube1.pe2" style context into the ctx error and throws. */
_Noreturn void frontend__fail(kb_tl *tl, const char *op, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Frees every tile of the kernel being traced (after it ends or fails). */
void frontend__tile_release(kb_ctx *ctx);

int64_t frontend__shape_id_or_throw(kb_ctx *ctx, kb_shape s);

/* tl.c helpers the IPCQ calls (ccl.c) share. */
kb_tile *frontend__new_tile(kb_tl *tl, const char *op, kb_shape shape, kb_dtype dtype);
void frontend__use(kb_tl *tl, const char *op, const kb_tile *t);
kb_operand frontend__tile_operand(const kb_tile *t);
int64_t frontend__record(kb_tl *tl, kb_op *op);
kb_operand frontend__memory_operand(kb_tl *tl, const char *op, uint64_t va, kb_shape shape, int64_t stride,
				    kb_dtype dtype);

/* Launches kernel on the PEs holding the tensor arguments; returns the
 * launch id. */
int64_t kb_launch_id(kb_ctx *ctx, const char *name, kb_kernel_fn kernel, const kb_arg *args, int n_args);

/* ccl.c: releases the process group's state with the ctx. */
void frontend__ccl_release(kb_ctx *ctx);

#endif
