/*
 * machine.c — the machine model derived from a topology, the PhysAddr
 * layout and the number formats.
 *
 * Everything here is computed from kb_topo_cfg; nothing is stored twice.
 * Rules that span several keys (a cube id must fit 5 bits, the kernel
 * scratch must fit in the TCM) are checked once, in kb_machine_init, and
 * name the key and where it was set.
 */
#include "machine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kb_topo_where(const kb_topo_cfg *cfg, size_t off, char *buf, size_t cap, const char **path);

#define MB (UINT64_C(1) << 20)
#define GB (UINT64_C(1) << 30)

#define RACK_SHIFT 47
#define SIP_SHIFT 43
#define CUBE_SHIFT 38
#define HBM_WINDOW_BIT (UINT64_C(1) << 37)
#define HBM_WINDOW_BYTES (UINT64_C(1) << 37)
#define UNIT_SHIFT 34
#define PE_SHIFT 30
#define SUB_BITS 29
#define SUB_MASK ((UINT64_C(1) << SUB_BITS) - 1)

enum { UNIT_PE_TCM = 0, UNIT_MCPU = 1, UNIT_SRAM = 2 };

/* Formats a rule violation against the key at field offset off. */
#define KEY_FAIL(m_, err_, field_, ...) key_fail(&(m_)->cfg, offsetof(kb_topo_cfg, field_), err_, __VA_ARGS__)

__attribute__((format(printf, 4, 5)))
static int key_fail(const kb_topo_cfg *cfg, size_t off, kb_error *err, const char *fmt, ...)
{
	char where[300], what[400];
	const char *path;
	kb_topo_where(cfg, off, where, sizeof where, &path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return kb_fail(err, "%s: %s: %s", where, path, what);
}

static bool is_square(int n)
{
	int r = (int)lround(sqrt((double)n));
	return r * r == n;
}

int kb_machine_init(kb_machine *m, const kb_topo_cfg *cfg, kb_error *err)
{
	memset(m, 0, sizeof *m);
	m->cfg = *cfg;
	m->cfg.yaml_text = m->cfg.overrides = NULL;
	m->n_sips = (int)cfg->sips_count;
	m->cube_w = (int)cfg->cube_mesh_w;
	m->cube_h = (int)cfg->cube_mesh_h;
	m->n_cubes = m->cube_w * m->cube_h;
	m->pes_per_cube = cfg->n_corners * (int)cfg->pe_per_corner;
	m->n_pes = m->n_sips * m->n_cubes * m->pes_per_cube;
	m->hbm_cube_bytes = (uint64_t)cfg->hbm_gb_per_cube * GB;
	m->hbm_slice_bytes = m->hbm_cube_bytes / (uint64_t)cfg->hbm_slices_per_cube;
	m->tcm_bytes = (uint64_t)cfg->tcm_mb * MB;
	m->tcm_reserved_bytes = (uint64_t)cfg->tcm_reserved_mb * MB;
	m->scratch_bytes = (uint64_t)cfg->kernel_scratch_mb * MB;
	m->sram_bytes = (uint64_t)cfg->sram_mb * MB;
	m->page_size = (uint64_t)cfg->page_size;

	if (m->n_cubes > KB_MAX_CUBES)
		return KEY_FAIL(m, err, cube_mesh_h, "%d x %d = %d cubes exceeds %d (5-bit cube id)", m->cube_w,
				m->cube_h, m->n_cubes, KB_MAX_CUBES);
	if (m->pes_per_cube > KB_MAX_PES)
		return KEY_FAIL(m, err, pe_per_corner, "%d corners x %lld = %d PEs per cube exceeds %d (4-bit pe id)",
				cfg->n_corners, (long long)cfg->pe_per_corner, m->pes_per_cube, KB_MAX_PES);
	if (cfg->hbm_slices_per_cube != m->pes_per_cube)
		return KEY_FAIL(m, err, hbm_slices_per_cube, "%lld slices for %d PEs per cube (one slice per PE)",
				(long long)cfg->hbm_slices_per_cube, m->pes_per_cube);
	if (m->hbm_cube_bytes > HBM_WINDOW_BYTES)
		return KEY_FAIL(m, err, hbm_gb_per_cube, "%lld GB does not fit the 128 GB HBM window",
				(long long)cfg->hbm_gb_per_cube);
	if (m->tcm_bytes > (UINT64_C(1) << SUB_BITS) || m->sram_bytes > (UINT64_C(1) << SUB_BITS))
		return KEY_FAIL(m, err, tcm_mb, "TCM and SRAM must fit the 512 MB PE-resource sub-window");
	if (m->tcm_reserved_bytes + m->scratch_bytes > m->tcm_bytes)
		return KEY_FAIL(m, err, kernel_scratch_mb, "%lld MB scratch + %lld MB reserved exceeds the %lld MB TCM",
				(long long)cfg->kernel_scratch_mb, (long long)cfg->tcm_reserved_mb,
				(long long)cfg->tcm_mb);
	if (m->page_size & (m->page_size - 1))
		return KEY_FAIL(m, err, page_size, "%llu is not a power of two", (unsigned long long)m->page_size);
	m->sip_wiring = strcmp(cfg->sips_topology, "ring_1d") == 0	 ? KB_SIP_RING
			: strcmp(cfg->sips_topology, "mesh_2d_no_wrap") == 0 ? KB_SIP_GRID
									     : KB_SIP_GRID_WRAP;
	if (m->sip_wiring != KB_SIP_RING && !is_square(m->n_sips))
		return KEY_FAIL(m, err, sips_topology, "'%s' needs a square number of SIPs, have %d",
				cfg->sips_topology, m->n_sips);
	return 0;
}

/* ------------------------------------------------------------------ */
/* PhysAddr                                                            */
/* ------------------------------------------------------------------ */

#define KB_DIR_NAME(e, name) name,
static const char *const dir_names[KB_DIR_COUNT] = {KB_DIRECTIONS(KB_DIR_NAME)};
#undef KB_DIR_NAME

const char *kb_dir_name(kb_dir d)
{
	return d >= 0 && d < KB_DIR_COUNT ? dir_names[d] : "?";
}

int kb_dir_parse(const char *s)
{
	for (int d = 0; s && d < KB_DIR_COUNT; d++)
		if (strcmp(s, dir_names[d]) == 0)
			return d;
	return -1;
}

int kb_dir_opposite(kb_dir d)
{
	switch (d) {
	case KB_DIR_E: return KB_DIR_W;
	case KB_DIR_W: return KB_DIR_E;
	case KB_DIR_N: return KB_DIR_S;
	case KB_DIR_S: return KB_DIR_N;
	case KB_DIR_GLOBAL_E: return KB_DIR_GLOBAL_W;
	case KB_DIR_GLOBAL_W: return KB_DIR_GLOBAL_E;
	case KB_DIR_GLOBAL_N: return KB_DIR_GLOBAL_S;
	case KB_DIR_GLOBAL_S: return KB_DIR_GLOBAL_N;
	default: return -1;
	}
}

const char *kb_space_name(kb_space s)
{
	static const char *const names[] = {"none", "hbm", "tcm", "sram"};
	return (unsigned)s < KB_SPACE_COUNT ? names[s] : "?";
}

static int check_place(const kb_machine *m, const kb_physaddr *pa, kb_error *err)
{
	if (pa->rack != 0)
		return kb_fail(err, "physical address: rack %u does not exist (1 rack)", pa->rack);
	if (pa->sip >= (unsigned)m->n_sips)
		return kb_fail(err, "physical address: sip %u out of range (%d SIPs)", pa->sip, m->n_sips);
	if (pa->cube >= (unsigned)m->n_cubes)
		return kb_fail(err, "physical address: cube %u out of range (%d cubes)", pa->cube, m->n_cubes);
	if (pa->space != KB_SPACE_SRAM && pa->pe >= (unsigned)m->pes_per_cube)
		return kb_fail(err, "physical address: pe %u out of range (%d PEs per cube)", pa->pe, m->pes_per_cube);
	uint64_t size = pa->space == KB_SPACE_HBM ? m->hbm_slice_bytes
			: pa->space == KB_SPACE_TCM ? m->tcm_bytes
			: pa->space == KB_SPACE_SRAM ? m->sram_bytes : 0;
	if (!size)
		return kb_fail(err, "physical address: space '%s' is not addressable", kb_space_name(pa->space));
	if (pa->offset >= size)
		return kb_fail(err, "physical address: offset 0x%llx beyond the %llu-byte %s",
			       (unsigned long long)pa->offset, (unsigned long long)size, kb_space_name(pa->space));
	return 0;
}

int kb_pa_encode(const kb_machine *m, const kb_physaddr *pa, uint64_t *out, kb_error *err)
{
	if (check_place(m, pa, err))
		return -1;
	uint64_t v = (uint64_t)pa->rack << RACK_SHIFT | (uint64_t)pa->sip << SIP_SHIFT |
		     (uint64_t)pa->cube << CUBE_SHIFT;
	if (pa->space == KB_SPACE_HBM)
		v |= HBM_WINDOW_BIT | ((uint64_t)pa->pe * m->hbm_slice_bytes + pa->offset);
	else if (pa->space == KB_SPACE_TCM)
		v |= (uint64_t)UNIT_PE_TCM << UNIT_SHIFT | (uint64_t)pa->pe << PE_SHIFT | pa->offset;
	else
		v |= (uint64_t)UNIT_SRAM << UNIT_SHIFT | pa->offset;
	*out = v;
	return 0;
}

int kb_pa_decode(const kb_machine *m, uint64_t raw, kb_physaddr *out, kb_error *err)
{
	if (raw > KB_PA_MAX)
		return kb_fail(err, "physical address 0x%llx: not a 51-bit value", (unsigned long long)raw);
	kb_physaddr pa = {
		.rack = (unsigned)(raw >> RACK_SHIFT) & 0xF,
		.sip = (unsigned)(raw >> SIP_SHIFT) & 0xF,
		.cube = (unsigned)(raw >> CUBE_SHIFT) & 0x1F,
	};
	if (raw & HBM_WINDOW_BIT) {
		uint64_t off = raw & (HBM_WINDOW_BYTES - 1);
		if (off >= m->hbm_cube_bytes)
			return kb_fail(err, "physical address 0x%llx: HBM offset beyond the %llu-byte cube HBM",
				       (unsigned long long)raw, (unsigned long long)m->hbm_cube_bytes);
		pa.space = KB_SPACE_HBM;
		pa.pe = (unsigned)(off / m->hbm_slice_bytes);
		pa.offset = off % m->hbm_slice_bytes;
	} else {
		unsigned unit = (unsigned)(raw >> UNIT_SHIFT) & 0x7;
		if (unit == UNIT_PE_TCM) {
			pa.space = KB_SPACE_TCM;
			pa.pe = (unsigned)(raw >> PE_SHIFT) & 0xF;
		} else if (unit == UNIT_SRAM) {
			pa.space = KB_SPACE_SRAM;
		} else {
			return kb_fail(err, "physical address 0x%llx: unit type %u is not memory",
				       (unsigned long long)raw, unit);
		}
		if (raw & (UINT64_C(1) << SUB_BITS))
			return kb_fail(err, "physical address 0x%llx: extension bit set", (unsigned long long)raw);
		pa.offset = raw & SUB_MASK;
	}
	if (check_place(m, &pa, err))
		return -1;
	*out = pa;
	return 0;
}

int kb_pa_check_range(const kb_machine *m, uint64_t raw, uint64_t bytes, int space, kb_error *err)
{
	kb_physaddr pa;
	if (kb_pa_decode(m, raw, &pa, err))
		return -1;
	if ((int)pa.space != space)
		return kb_fail(err, "physical address 0x%llx is %s memory, recorded as %s", (unsigned long long)raw,
			       kb_space_name(pa.space), kb_space_name((kb_space)space));
	uint64_t size = pa.space == KB_SPACE_HBM ? m->hbm_slice_bytes : pa.space == KB_SPACE_TCM ? m->tcm_bytes : m->sram_bytes;
	if (bytes > size - pa.offset)
		return kb_fail(err, "%llu bytes at physical address 0x%llx run past the end of the %llu-byte %s",
			       (unsigned long long)bytes, (unsigned long long)raw, (unsigned long long)size,
			       kb_space_name(pa.space));
	return 0;
}

void kb_pa_format(const kb_physaddr *pa, char *buf, size_t cap)
{
	if (pa->space == KB_SPACE_SRAM)
		snprintf(buf, cap, "sip%u.cube%u.sram+0x%llx", pa->sip, pa->cube, (unsigned long long)pa->offset);
	else
		snprintf(buf, cap, "sip%u.cube%u.pe%u.%s+0x%llx", pa->sip, pa->cube, pa->pe, kb_space_name(pa->space),
			 (unsigned long long)pa->offset);
}

/* ------------------------------------------------------------------ */
/* Number formats                                                      */
/* ------------------------------------------------------------------ */

const char *kb_dtype_name(kb_dtype d)
{
	static const char *const names[] = {"none", "f16", "f32"};
	return (unsigned)d < KB_DTYPE_COUNT ? names[d] : "?";
}

size_t kb_dtype_size(kb_dtype d)
{
	return d == KB_F16 ? 2 : d == KB_F32 ? 4 : 0;
}

/* Round to nearest even without a branch per case in the common path
 * (after F. Giesen's float_to_half_fast3_rtne): subnormals by adding a magic
 * number so the FPU rounds, normals by a bias add on the bits. */
uint16_t kb_f32_to_f16(float f)
{
	const uint32_t f32_inf = 255u << 23, f16_max = (127u + 16u) << 23;
	const uint32_t denorm_magic_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
	uint32_t x, out;
	memcpy(&x, &f, sizeof x);
	uint32_t sign = x & 0x80000000u;
	x ^= sign;
	if (x >= f16_max) {
		out = x > f32_inf ? 0x7E00 : 0x7C00; /* NaN stays NaN, overflow is inf */
	} else if (x < (113u << 23)) { /* subnormal or zero in half */
		float v, magic;
		memcpy(&v, &x, sizeof v);
		memcpy(&magic, &denorm_magic_bits, sizeof magic);
		v += magic;
		memcpy(&x, &v, sizeof x);
		out = x - denorm_magic_bits;
	} else {
		uint32_t odd = (x >> 13) & 1;
		x += ((uint32_t)(15 - 127) << 23) + 0xFFF + odd;
		out = x >> 13;
	}
	return (uint16_t)(out | sign >> 16);
}

float kb_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1F;
	uint32_t mant = h & 0x3FF;
	uint32_t x;
	if (exp == 0) {
		if (!mant) {
			x = sign;
		} else {
			int e = -1;
			do {
				e++;
				mant <<= 1;
			} while (!(mant & 0x400));
			x = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3FF) << 13;
		}
	} else if (exp == 31) {
		x = sign | 0x7F800000 | mant << 13;
	} else {
		x = sign | (exp + 127 - 15) << 23 | mant << 13;
	}
	float f;
	memcpy(&f, &x, sizeof f);
	return f;
}

float kb_dtype_round(kb_dtype d, float f)
{
	return d == KB_F16 ? kb_f16_to_f32(kb_f32_to_f16(f)) : f;
}

static uint64_t splitmix64(uint64_t z)
{
	z += UINT64_C(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

uint64_t kb_rand_block_seed(uint64_t seed, int64_t row0, int64_t col0)
{
	uint64_t s = splitmix64(splitmix64(splitmix64(seed) ^ (uint64_t)row0) ^ (uint64_t)col0);
	return (s >> 1) | 1; /* positive and nonzero: it is an attr column */
}

float kb_rand_elem(uint64_t block_seed, uint64_t j, float scale)
{
	uint64_t z = splitmix64(block_seed * UINT64_C(0x9E3779B97F4A7C15) + j);
	return scale * (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
