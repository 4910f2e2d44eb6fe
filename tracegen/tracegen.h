/*
 * tracegen.h — what recording a trace needs below the user-facing API:
 * memory allocators, the VA space, per-PE MMUs, DPPolicy placement and the
 * session that numbers ops and writes them to the trace database.
 *
 * Nothing here computes numerics or time. The frontend (host API and `tl`
 * DSL) is built on this; timing and replay never include it.
 */
#ifndef KB_TRACEGEN_H
#define KB_TRACEGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "machine.h"

/* ------------------------------------------------------------------ */
/* Range allocator                                                     */
/* ------------------------------------------------------------------ */

/* Allocator over [base, base + size) with coalescing frees: first fit, or
 * next fit (the search starts where the last allocation ended, wrapping)
 * so that freed space is not reused at once — for kernel scratch, where
 * an immediate reuse would make the next tile wait for the last reader of
 * the freed one (a false WAR dependency that serialises pipelines). */
typedef struct kb_ranges {
	uint64_t base, size, align, used;
	uint64_t rover;   /* next fit: where the search starts */
	uint64_t peak;    /* the most ever in use at once */
	int next_fit;
	struct kb_free_range { uint64_t start, len; } *free;
	size_t n_free, cap_free;
} kb_ranges;

int kb_ranges_init(kb_ranges *r, uint64_t base, uint64_t size, uint64_t align);
void kb_ranges_release(kb_ranges *r);
/* Empties the allocator (all space free again). */
void kb_ranges_reset(kb_ranges *r);
/* 0 and *addr on success; -1 when no free range is large enough. */
int kb_ranges_alloc(kb_ranges *r, uint64_t n, uint64_t *addr);
/* -1 if [addr, addr + n) was not allocated (double or foreign free). */
int kb_ranges_free(kb_ranges *r, uint64_t addr, uint64_t n);
uint64_t kb_ranges_largest_free(const kb_ranges *r);

/* ------------------------------------------------------------------ */
/* Placement (DPPolicy)                                                */
/* ------------------------------------------------------------------ */

typedef enum kb_split {
	KB_REPLICATE = 0,
	KB_COLUMN_WISE,
	KB_ROW_WISE,
	KB_TILED_ROW_MAJOR,    /* pe axis only: tiles numbered along rows, dealt round-robin */
	KB_TILED_COLUMN_MAJOR, /* pe axis only: tiles numbered down columns */
} kb_split;

const char *kb_split_name(kb_split s);

/* Intra-device placement: the SIP comes from set_device(rank). Zero counts
 * mean "every cube / PE of the SIP". mem selects the memory (default HBM). */
typedef struct kb_dp {
	kb_split cube, pe;
	int num_cubes, num_pes;
	int64_t tile_m, tile_k;
	kb_space mem;
} kb_dp;

/* One shard: the logical block [row0, row0+rows) x [col0, col0+cols) of a
 * tensor's 2-D view, stored row-major at va + offset_bytes. */
typedef struct kb_shard {
	int sip, cube, pe;
	uint64_t offset_bytes, nbytes;
	int64_t row0, col0, rows, cols;
} kb_shard;

/* Resolves dp for a rows x cols tensor on SIP sip; *out is malloc'd. */
int kb_dp_resolve(const kb_dp *dp, const kb_machine *m, int sip, int64_t rows, int64_t cols, size_t itemsize,
		  kb_shard **out, size_t *n, kb_error *err);
/* "cube=column_wise pe=column_wise num_cubes=16 num_pes=8 mem=hbm" */
void kb_dp_format(const kb_dp *dp, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* Session: memory, MMUs and recording                                 */
/* ------------------------------------------------------------------ */

typedef struct kb_session kb_session;

/* Opens a trace at out_path (written to a temporary until commit). The
 * topology and ccl configs are embedded; the machine is built from topo. */
int kb_session_open(kb_session **out, const kb_topo_cfg *topo, const kb_ccl_cfg *ccl, const char *out_path,
		    kb_error *err);
int kb_session_commit(kb_session *s, kb_error *err);
void kb_session_abort(kb_session *s);

const kb_machine *kb_session_machine(const kb_session *s);
/* Shows a count of recorded ops on p (NULL: none). */
void kb_session_set_progress(kb_session *s, kb_progress *p);

/* Device memory: HBM slice and general TCM per PE, SRAM per cube.
 * Returns the offset within the slice / TCM / SRAM. */
int kb_mem_alloc(kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t n, uint64_t *offset,
		 kb_error *err);
int kb_mem_free(kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t offset, uint64_t n,
		kb_error *err);
/* The PhysAddr of an offset in a space (see kb_pa_encode). */
uint64_t kb_mem_pa(const kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t offset);

/* Per-PE kernel scratch (TCM window after the reserved area). */
int kb_scratch_alloc(kb_session *s, int sip, int cube, int pe, uint64_t n, uint64_t *offset);
void kb_scratch_free(kb_session *s, int sip, int cube, int pe, uint64_t offset, uint64_t n);
void kb_scratch_reset(kb_session *s, int sip, int cube, int pe);
uint64_t kb_scratch_largest_free(const kb_session *s, int sip, int cube, int pe);

/* Virtual addresses: one range per tensor, page-aligned. */
int kb_va_alloc(kb_session *s, uint64_t n, uint64_t *va, kb_error *err);

/* One MMU entry of a PE. */
typedef struct kb_mapping {
	uint64_t va, size, pa;
	kb_space space;
	kb_dtype dtype;
	int64_t tensor;   /* trace tensor id, for messages */
} kb_mapping;

int kb_mmu_map(kb_session *s, int sip, int cube, int pe, const kb_mapping *m, kb_error *err);
/* Finds the mapping holding [va, va + n) on the PE; NULL if none does. */
const kb_mapping *kb_mmu_lookup(const kb_session *s, int sip, int cube, int pe, uint64_t va, uint64_t n);

/* Records an op. Assigns its per-PE (or per-host-stream) sequence number
 * from (sip, cube, pe); returns the op id or -1. */
int64_t kb_session_op(kb_session *s, kb_op *op, kb_error *err);
/* The id the next recorded op will get. */
int64_t kb_session_next_op(const kb_session *s);

/* What a trace records besides ops, by name: the frontend writes the
 * trace through these alone. All return -1 with err on failure. */
int64_t kb_session_shape(kb_session *s, int ndim, const int64_t *dims, kb_error *err); /* interned id */
int kb_session_meta(kb_session *s, const char *key, const char *value, kb_error *err);
int64_t kb_session_tensor(kb_session *s, const kb_tensor_row *t, kb_error *err);
int kb_session_shard(kb_session *s, const kb_shard_row *sh, kb_error *err);
/* Data stored compressed (kind "host_data", "expected", "rows"); identical data shares an id. */
int64_t kb_session_blob(kb_session *s, const char *kind, int dtype, size_t elem_size, const void *data, size_t nbytes,
			kb_error *err);
/* Tensor's expected values (blob); rows_blob > 0: only those rows. */
int kb_session_expect(kb_session *s, int64_t tensor, int64_t blob, int64_t rows_blob, double rtol, double atol,
		      kb_error *err);
/* Tensor's expected values as value + per_row * row + per_col * col. */
int kb_session_expect_ramp(kb_session *s, int64_t tensor, double value, double per_row, double per_col, double rtol,
			   double atol, kb_error *err);
/* A named range of rank's ops: from the next op on until kb_session_range_end. */
int64_t kb_session_range(kb_session *s, int rank, int64_t parent, const char *label, kb_error *err);
int kb_session_range_end(kb_session *s, int64_t range, kb_error *err);
/* A launch (its host op recorded already); its PE ops run from first_op
 * up to the next op when kb_session_launch_end is called. */
int64_t kb_session_launch(kb_session *s, int rank, const char *kernel, int64_t host_op, int n_pes, const char *args,
			  kb_error *err);
int kb_session_launch_end(kb_session *s, int64_t launch, int64_t first_op, kb_error *err);
int kb_session_channel(kb_session *s, const kb_channel_row *c, kb_error *err);
int kb_session_collective(kb_session *s, const kb_collective_row *c, kb_error *err);
/* An explicit dependency: op starts after dep ends (table op_deps). */
int kb_session_op_dep(kb_session *s, int64_t op, int64_t dep, kb_error *err);

#endif
