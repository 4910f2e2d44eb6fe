/*
 * session.c — one trace being recorded: the machine's memories, the VA
 * space, the per-PE MMUs, op numbering and the database it all goes to.
 *
 * TCM layout per PE: [0, reserved) for the PE scheduler, then the kernel
 * scratch window (reset at every launch), then general TCM for tensors
 * and IPCQ buffers.
 */
#include "tracegen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEM_ALIGN 64
#define VA_BASE UINT64_C(0x100000000)
#define VA_SIZE (UINT64_C(64) << 30)

typedef struct mmu {
	kb_mapping *e; /* sorted by va */
	size_t n, cap;
} mmu;

struct kb_session {
	kb_machine m;
	kb_db *db;
	kb_ranges *hbm, *tcm, *scratch; /* per PE */
	kb_ranges *sram;                /* per cube */
	kb_ranges va;
	mmu *mmus;                      /* per PE */
	int64_t *pe_seq, *host_seq;
	int64_t n_ops;
	kb_progress *progress;
};

void kb_session_set_progress(kb_session *s, kb_progress *p)
{
	s->progress = p;
	kb_progress_begin(p, "trace", "ops", 0);
}

const kb_machine *kb_session_machine(const kb_session *s)
{
	return &s->m;
}

static void session_free(kb_session *s)
{
	int n_pes = s->m.n_pes, n_cubes = s->m.n_sips * s->m.n_cubes;
	for (int i = 0; i < n_pes; i++) {
		if (s->hbm)
			kb_ranges_release(&s->hbm[i]);
		if (s->tcm)
			kb_ranges_release(&s->tcm[i]);
		if (s->scratch)
			kb_ranges_release(&s->scratch[i]);
		if (s->mmus)
			free(s->mmus[i].e);
	}
	for (int i = 0; s->sram && i < n_cubes; i++)
		kb_ranges_release(&s->sram[i]);
	kb_ranges_release(&s->va);
	free(s->hbm);
	free(s->tcm);
	free(s->scratch);
	free(s->sram);
	free(s->mmus);
	free(s->pe_seq);
	free(s->host_seq);
	free(s);
}

static int write_meta(kb_session *s, const kb_topo_cfg *topo, const kb_ccl_cfg *ccl, kb_error *err)
{
	char *effective = kb_topo_effective(topo);
	char version[16];
	snprintf(version, sizeof version, "%d", KB_SCHEMA_VERSION);
	if (!effective)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	int rc = kb_db_meta(s->db, "tool", "kernbench", err) ||
		 kb_db_meta(s->db, "tool_version", KB_VERSION, err) ||
		 kb_db_meta(s->db, "schema_version", version, err) ||
		 kb_db_meta(s->db, "topology_source", topo->source, err) ||
		 kb_db_meta(s->db, "topology_yaml", topo->yaml_text ? topo->yaml_text : "", err) ||
		 kb_db_meta(s->db, "topology_overrides", topo->overrides ? topo->overrides : "", err) ||
		 kb_db_meta(s->db, "topology_effective", effective, err) ||
		 kb_db_meta(s->db, "ccl_source", ccl->source, err) ||
		 kb_db_meta(s->db, "ccl_yaml", ccl->yaml_text ? ccl->yaml_text : "", err) ||
		 kb_db_meta(s->db, "ccl_overrides", ccl->overrides ? ccl->overrides : "", err);
	free(effective);
	for (int i = 1; !rc && i < KB_SPACE_COUNT; i++)
		rc = kb_db_enum(s->db, "enum_space", i, kb_space_name((kb_space)i), err);
	for (int i = 1; !rc && i < KB_DTYPE_COUNT; i++)
		rc = kb_db_enum(s->db, "enum_dtype", i, kb_dtype_name((kb_dtype)i), err);
	for (int i = 0; !rc && i < KB_DIR_COUNT; i++)
		rc = kb_db_enum(s->db, "enum_direction", i, kb_dir_name((kb_dir)i), err);
	return rc ? -1 : 0;
}

int kb_session_open(kb_session **out, const kb_topo_cfg *topo, const kb_ccl_cfg *ccl, const char *out_path,
		    kb_error *err)
{
	kb_session *s = calloc(1, sizeof *s);
	if (!s)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	if (kb_machine_init(&s->m, topo, err)) {
		free(s);
		return -1;
	}
	const kb_machine *m = &s->m;
	int n_pes = m->n_pes, n_cubes = m->n_sips * m->n_cubes;
	s->hbm = calloc((size_t)n_pes, sizeof *s->hbm);
	s->tcm = calloc((size_t)n_pes, sizeof *s->tcm);
	s->scratch = calloc((size_t)n_pes, sizeof *s->scratch);
	s->sram = calloc((size_t)n_cubes, sizeof *s->sram);
	s->mmus = calloc((size_t)n_pes, sizeof *s->mmus);
	s->pe_seq = calloc((size_t)n_pes, sizeof *s->pe_seq);
	s->host_seq = calloc((size_t)m->n_sips, sizeof *s->host_seq);
	bool ok = s->hbm && s->tcm && s->scratch && s->sram && s->mmus && s->pe_seq && s->host_seq &&
		  kb_ranges_init(&s->va, VA_BASE, VA_SIZE, m->page_size) == 0;
	uint64_t general = m->tcm_reserved_bytes + m->scratch_bytes;
	for (int i = 0; ok && i < n_pes; i++) {
		ok = kb_ranges_init(&s->hbm[i], 0, m->hbm_slice_bytes, MEM_ALIGN) == 0 &&
		     kb_ranges_init(&s->tcm[i], general, m->tcm_bytes - general, MEM_ALIGN) == 0 &&
		     kb_ranges_init(&s->scratch[i], m->tcm_reserved_bytes, m->scratch_bytes, MEM_ALIGN) == 0;
		s->scratch[i].next_fit = 1; /* pipelines: freed tiles are not reused at once */
	}
	for (int i = 0; ok && i < n_cubes; i++)
		ok = kb_ranges_init(&s->sram[i], 0, m->sram_bytes, MEM_ALIGN) == 0;
	if (!ok) {
		session_free(s);
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	}
	if (kb_db_create(&s->db, out_path, err) || write_meta(s, topo, ccl, err)) {
		kb_db_abort(s->db);
		session_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int kb_session_commit(kb_session *s, kb_error *err)
{
	/* the kernel scratch high-water mark of every PE that used any */
	for (int i = 0; i < s->m.n_pes; i++) {
		if (!s->scratch[i].peak)
			continue;
		int pe = i % s->m.pes_per_cube, cube = (i / s->m.pes_per_cube) % s->m.n_cubes;
		int sip = i / (s->m.pes_per_cube * s->m.n_cubes);
		if (kb_db_pe_scratch(s->db, sip, cube, pe, s->scratch[i].peak, s->scratch[i].size, err)) {
			kb_session_abort(s);
			return -1;
		}
	}
	int rc = kb_db_commit(s->db, err);
	session_free(s);
	return rc;
}

void kb_session_abort(kb_session *s)
{
	if (!s)
		return;
	kb_db_abort(s->db);
	session_free(s);
}

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

static kb_ranges *space_allocator(kb_session *s, kb_space space, int sip, int cube, int pe)
{
	const kb_machine *m = &s->m;
	if (sip < 0 || sip >= m->n_sips || cube < 0 || cube >= m->n_cubes || pe < 0 || pe >= m->pes_per_cube)
		return NULL;
	if (space == KB_SPACE_HBM)
		return &s->hbm[kb_pe_index(m, sip, cube, pe)];
	if (space == KB_SPACE_TCM)
		return &s->tcm[kb_pe_index(m, sip, cube, pe)];
	if (space == KB_SPACE_SRAM)
		return &s->sram[sip * m->n_cubes + cube];
	return NULL;
}

static void format_bytes(uint64_t n, char *buf, size_t cap)
{
	if (n >= (UINT64_C(1) << 30) && n % (UINT64_C(1) << 30) == 0)
		snprintf(buf, cap, "%llu GB", (unsigned long long)(n >> 30));
	else if (n >= (UINT64_C(1) << 20))
		snprintf(buf, cap, "%.1f MB", (double)n / (1 << 20));
	else
		snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
}

int kb_mem_alloc(kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t n, uint64_t *offset,
		 kb_error *err)
{
	kb_ranges *r = space_allocator(s, space, sip, cube, pe);
	if (!r)
		return kb_fail(err, "no %s memory at sip%d.cube%d.pe%d", kb_space_name(space), sip, cube, pe);
	if (kb_ranges_alloc(r, n, offset) == 0)
		return 0;
	char want[32], size[32], largest[32];
	format_bytes(n, want, sizeof want);
	format_bytes(r->size, size, sizeof size);
	format_bytes(kb_ranges_largest_free(r), largest, sizeof largest);
	const char *what = space == KB_SPACE_HBM ? "HBM slice" : space == KB_SPACE_TCM ? "TCM (after reserved and scratch)" : "cube SRAM";
	return kb_fail(err, "allocation failed: %s requested of the %s %s at sip%d.cube%d.pe%d (largest free: %s)",
		       want, size, what, sip, cube, pe, largest);
}

int kb_mem_free(kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t offset, uint64_t n,
		kb_error *err)
{
	kb_ranges *r = space_allocator(s, space, sip, cube, pe);
	if (!r || kb_ranges_free(r, offset, n))
		return kb_fail(err, "free of %s+0x%llx (%llu bytes) at sip%d.cube%d.pe%d: not allocated",
			       kb_space_name(space), (unsigned long long)offset, (unsigned long long)n, sip, cube, pe);
	return 0;
}

uint64_t kb_mem_pa(const kb_session *s, kb_space space, int sip, int cube, int pe, uint64_t offset)
{
	kb_physaddr pa = {0, (unsigned)sip, (unsigned)cube, space, space == KB_SPACE_SRAM ? 0 : (unsigned)pe, offset};
	uint64_t raw = 0;
	int rc = kb_pa_encode(&s->m, &pa, &raw, NULL);
	(void)rc; /* offsets come from our own allocators, so they are in range */
	return raw;
}

int kb_scratch_alloc(kb_session *s, int sip, int cube, int pe, uint64_t n, uint64_t *offset)
{
	return kb_ranges_alloc(&s->scratch[kb_pe_index(&s->m, sip, cube, pe)], n, offset);
}

void kb_scratch_free(kb_session *s, int sip, int cube, int pe, uint64_t offset, uint64_t n)
{
	int rc = kb_ranges_free(&s->scratch[kb_pe_index(&s->m, sip, cube, pe)], offset, n);
	(void)rc; /* tiles free only what they allocated, once (the DSL checks) */
}

void kb_scratch_reset(kb_session *s, int sip, int cube, int pe)
{
	kb_ranges_reset(&s->scratch[kb_pe_index(&s->m, sip, cube, pe)]);
}

uint64_t kb_scratch_largest_free(const kb_session *s, int sip, int cube, int pe)
{
	return kb_ranges_largest_free(&s->scratch[kb_pe_index(&s->m, sip, cube, pe)]);
}

int kb_va_alloc(kb_session *s, uint64_t n, uint64_t *va, kb_error *err)
{
	if (kb_ranges_alloc(&s->va, n, va) == 0)
		return 0;
	return kb_fail(err, "virtual address space exhausted: %llu bytes requested, %llu free in the 64 GB VA space",
		       (unsigned long long)n, (unsigned long long)kb_ranges_largest_free(&s->va));
}

/* ------------------------------------------------------------------ */
/* MMU                                                                 */
/* ------------------------------------------------------------------ */

static int va_above(const void *entry, const void *key)
{
	return ((const kb_mapping *)entry)->va > *(const uint64_t *)key;
}

/* Index of the first entry with va > key. */
static size_t upper_bound(const mmu *u, uint64_t key)
{
	return kb_partition(u->e, u->n, sizeof *u->e, va_above, &key);
}

int kb_mmu_map(kb_session *s, int sip, int cube, int pe, const kb_mapping *map, kb_error *err)
{
	mmu *u = &s->mmus[kb_pe_index(&s->m, sip, cube, pe)];
	size_t i = upper_bound(u, map->va);
	if ((i > 0 && u->e[i - 1].va + u->e[i - 1].size > map->va) || (i < u->n && map->va + map->size > u->e[i].va))
		return kb_fail(err, "MMU of sip%d.cube%d.pe%d: VA 0x%llx (+%llu) overlaps an existing mapping", sip,
			       cube, pe, (unsigned long long)map->va, (unsigned long long)map->size);
	if (kb_grow(&u->e, &u->cap, u->n + 1, sizeof *u->e, 8))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	memmove(&u->e[i + 1], &u->e[i], (u->n - i) * sizeof *u->e);
	u->e[i] = *map;
	u->n++;
	return 0;
}

const kb_mapping *kb_mmu_lookup(const kb_session *s, int sip, int cube, int pe, uint64_t va, uint64_t n)
{
	const mmu *u = &s->mmus[kb_pe_index(&s->m, sip, cube, pe)];
	size_t i = upper_bound(u, va);
	if (i == 0)
		return NULL;
	const kb_mapping *e = &u->e[i - 1];
	return va + n <= e->va + e->size ? e : NULL;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

int64_t kb_session_op(kb_session *s, kb_op *op, kb_error *err)
{
	KB_ASSERT(op->sip >= 0 && op->sip < s->m.n_sips &&
			  (op->launch == 0 || (op->cube >= 0 && op->cube < s->m.n_cubes && op->pe >= 0 &&
					       op->pe < s->m.pes_per_cube)),
		  "an op recorded on sip%d.cube%d.pe%d (launch %lld) of a %d-SIP machine", op->sip, op->cube, op->pe,
		  (long long)op->launch, s->m.n_sips);
	KB_ASSERT(op->kind > KB_OP_NONE && op->kind < KB_OP_KIND_COUNT, "an op of kind %d", op->kind);
	if (op->launch == 0) /* the host stream of rank sip */
		op->seq = s->host_seq[op->sip]++;
	else
		op->seq = s->pe_seq[kb_pe_index(&s->m, op->sip, op->cube, op->pe)]++;
	kb_progress_tick(s->progress, ++s->n_ops);
	return kb_db_op(s->db, op, err);
}

int64_t kb_session_next_op(const kb_session *s)
{
	return kb_db_ops_count(s->db) + 1;
}

int64_t kb_session_shape(kb_session *s, int ndim, const int64_t *dims, kb_error *err)
{
	return kb_db_shape(s->db, ndim, dims, err);
}

int kb_session_meta(kb_session *s, const char *key, const char *value, kb_error *err)
{
	return kb_db_meta(s->db, key, value, err);
}

int64_t kb_session_tensor(kb_session *s, const kb_tensor_row *t, kb_error *err)
{
	return kb_db_tensor(s->db, t, err);
}

int kb_session_shard(kb_session *s, const kb_shard_row *sh, kb_error *err)
{
	return kb_db_shard(s->db, sh, err);
}

int64_t kb_session_blob(kb_session *s, const char *kind, int dtype, size_t elem_size, const void *data, size_t nbytes,
			kb_error *err)
{
	return kb_db_blob(s->db, kind, dtype, elem_size, data, nbytes, err);
}

int kb_session_expect(kb_session *s, int64_t tensor, int64_t blob, int64_t rows_blob, double rtol, double atol,
		      kb_error *err)
{
	return rows_blob > 0 ? kb_db_expect_rows(s->db, tensor, blob, rows_blob, rtol, atol, err)
			     : kb_db_expect(s->db, tensor, blob, rtol, atol, err);
}

int kb_session_expect_ramp(kb_session *s, int64_t tensor, double value, double per_row, double per_col, double rtol,
			   double atol, kb_error *err)
{
	return kb_db_expect_ramp(s->db, tensor, value, per_row, per_col, rtol, atol, err);
}

int64_t kb_session_range(kb_session *s, int rank, int64_t parent, const char *label, kb_error *err)
{
	return kb_db_range(s->db, rank, parent, label, kb_session_next_op(s), err);
}

int kb_session_range_end(kb_session *s, int64_t range, kb_error *err)
{
	return kb_db_range_end(s->db, range, kb_session_next_op(s), err);
}

int64_t kb_session_launch(kb_session *s, int rank, const char *kernel, int64_t host_op, int n_pes, const char *args,
			  kb_error *err)
{
	return kb_db_launch(s->db, rank, kernel, host_op, n_pes, args, err);
}

int kb_session_launch_end(kb_session *s, int64_t launch, int64_t first_op, kb_error *err)
{
	return kb_db_launch_end(s->db, launch, first_op, kb_session_next_op(s), err);
}

int kb_session_channel(kb_session *s, const kb_channel_row *c, kb_error *err)
{
	return kb_db_channel(s->db, c, err);
}

int kb_session_op_dep(kb_session *s, int64_t op, int64_t dep, kb_error *err)
{
	return kb_db_op_dep(s->db, op, dep, err);
}

int kb_session_collective(kb_session *s, const kb_collective_row *c, kb_error *err)
{
	return kb_db_collective(s->db, c, err);
}
