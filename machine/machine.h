/*
 * machine.h — the simulated machine, shared by tracegen, timing and replay.
 *
 * Three things live here because every pass needs them and none of them
 * owns them: the validated configuration (topology.yaml and ccl.yaml, with
 * `--set` overrides), the machine model derived from it (counts, sizes,
 * component parameters) and the physical address layout (PhysAddr).
 * Number formats (f16) are here too: they are properties of the machine.
 *
 * Errors: functions return 0 on success and -1 on failure, filling a
 * kb_error with one line of text (`file:line:col: key: problem`).
 */
#ifndef KB_MACHINE_H
#define KB_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/*
 * Every topology key, once: type, struct field, dotted path, default,
 * range, unit. The loader, the `--set` overrides, the effective-config
 * dump and the defaults all come from this list.
 *   I = integer, F = real, E = one of a '|'-separated set, L = list of names
 * X(type, field, path, default, min, max, unit, choices)
 */
/* Every topology key: role, type, field, path, default, range, unit and
 * choices. role TIME: only the timing models read it (bandwidths,
 * latencies, clock, setup costs, engines, lanes), so kb-time may change it
 * on a recorded trace (--set, a what-if, a sweep point) and points that
 * differ only in TIME keys share one trace. role TRACE: it shapes what is
 * recorded (SIPs and their wiring, the mesh, PEs, memory and slot sizes),
 * so changing it needs a new trace; kb_topo_same_structure compares them. */
#define KB_TOPOLOGY_KEYS(X) \
	X(TRACE, I, sips_count, "system.sips.count", "2", 1, 16, "", "") \
	X(TRACE, E, sips_topology, "system.sips.topology", "ring_1d", 0, 0, "", "ring_1d|torus_2d|mesh_2d|mesh_2d_no_wrap") \
	X(TIME, F, switch_overhead_ns, "system.components.switch.attrs.overhead_ns", "5.0", 0, 1e6, "ns", "") \
	X(TIME, F, sip_link_gbps, "system.components.sip_link.attrs.bandwidth_gbps", "64", 0, 1e6, "GB/s", "") \
	X(TIME, F, sip_link_latency_ns, "system.components.sip_link.attrs.latency_ns", "300", 0, 1e9, "ns", "") \
	X(TRACE, I, cube_mesh_w, "sip.cube_mesh.w", "4", 1, 32, "", "") \
	X(TRACE, I, cube_mesh_h, "sip.cube_mesh.h", "4", 1, 32, "", "") \
	X(TIME, F, pcie_gbps, "sip.components.pcie_ep.attrs.bandwidth_gbps", "32", 0, 1e6, "GB/s", "") \
	X(TIME, F, pcie_latency_ns, "sip.components.pcie_ep.attrs.latency_ns", "1000", 0, 1e9, "ns", "") \
	X(TIME, F, io_cpu_latency_ns, "sip.components.io_cpu.attrs.latency_ns", "200", 0, 1e9, "ns", "") \
	X(TIME, F, cube_link_gbps, "sip.components.cube_link.attrs.bandwidth_gbps", "128", 0, 1e6, "GB/s", "") \
	X(TIME, F, cube_link_latency_ns, "sip.components.cube_link.attrs.latency_ns", "20", 0, 1e9, "ns", "") \
	X(TRACE, L, corners, "cube.pe_layout.corners", "NW,NE,SW,SE", 1, 8, "", "") \
	X(TRACE, I, pe_per_corner, "cube.pe_layout.pe_per_corner", "2", 1, 16, "", "") \
	X(TRACE, I, hbm_gb_per_cube, "cube.memory_map.hbm_total_gb_per_cube", "48", 1, 128, "GB", "") \
	X(TRACE, I, hbm_slices_per_cube, "cube.memory_map.hbm_slices_per_cube", "8", 1, 16, "", "") \
	X(TIME, F, hbm_gbps, "cube.components.hbm.attrs.bandwidth_gbps", "100", 0, 1e6, "GB/s", "") \
	X(TIME, F, hbm_latency_ns, "cube.components.hbm.attrs.latency_ns", "120", 0, 1e9, "ns", "") \
	X(TRACE, I, sram_mb, "cube.components.sram.attrs.size_mb", "32", 1, 512, "MB", "") \
	X(TIME, F, sram_gbps, "cube.components.sram.attrs.bandwidth_gbps", "1024", 0, 1e6, "GB/s", "") \
	X(TIME, F, sram_latency_ns, "cube.components.sram.attrs.latency_ns", "10", 0, 1e9, "ns", "") \
	X(TIME, F, m_cpu_latency_ns, "cube.components.m_cpu.attrs.latency_ns", "100", 0, 1e9, "ns", "") \
	X(TIME, F, noc_port_gbps, "cube.components.noc.attrs.port_bandwidth_gbps", "256", 0, 1e6, "GB/s", "") \
	X(TIME, F, noc_hop_latency_ns, "cube.components.noc.attrs.hop_latency_ns", "2", 0, 1e9, "ns", "") \
	X(TIME, F, clock_ghz, "cube.pe_template.clock_ghz", "1.0", 0, 1000, "GHz", "") \
	X(TIME, I, dispatch_cycles, "cube.pe_template.components.pe_cpu.attrs.dispatch_cycles", "100", 0, 1000000000, "cycles", "") \
	X(TIME, I, dma_engines, "cube.pe_template.components.pe_dma.attrs.engines", "2", 1, 64, "", "") \
	X(TIME, F, dma_setup_ns, "cube.pe_template.components.pe_dma.attrs.setup_ns", "10", 0, 1e9, "ns", "") \
	X(TIME, I, gemm_macs_per_cycle, "cube.pe_template.components.gemm.attrs.macs_per_cycle", "1024", 1, 1000000000, "MAC/cycle", "") \
	X(TIME, I, gemm_setup_cycles, "cube.pe_template.components.gemm.attrs.setup_cycles", "32", 0, 1000000000, "cycles", "") \
	X(TIME, I, math_lanes, "cube.pe_template.components.pe_math.attrs.lanes", "64", 1, 1000000, "elements/cycle", "") \
	X(TIME, I, math_setup_cycles, "cube.pe_template.components.pe_math.attrs.setup_cycles", "8", 0, 1000000000, "cycles", "") \
	X(TIME, I, math_transcendental_factor, "cube.pe_template.components.pe_math.attrs.transcendental_factor", "4", 1, 1000, "x", "") \
	X(TRACE, I, tcm_mb, "cube.pe_template.components.pe_tcm.attrs.size_mb", "16", 1, 512, "MB", "") \
	X(TRACE, I, tcm_reserved_mb, "cube.pe_template.components.pe_tcm.attrs.reserved_mb", "4", 0, 512, "MB", "") \
	X(TRACE, I, kernel_scratch_mb, "cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb", "1", 1, 512, "MB", "") \
	X(TIME, F, tcm_gbps, "cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps", "512", 0, 1e6, "GB/s", "") \
	X(TIME, F, tcm_latency_ns, "cube.pe_template.components.pe_tcm.attrs.latency_ns", "2", 0, 1e9, "ns", "") \
	X(TRACE, I, page_size, "cube.pe_template.components.pe_mmu.attrs.page_size", "4096", 256, 1073741824, "bytes", "")

/* Components that may appear as `{kind, impl, attrs}` without timing keys
 * of their own (seed-era files list them). */
#define KB_TOPOLOGY_COMPONENTS \
	"system.components.switch", "system.components.sip_link", \
	"sip.components.pcie_ep", "sip.components.io_cpu", "sip.components.cube_link", \
	"cube.components.hbm", "cube.components.sram", "cube.components.m_cpu", \
	"cube.components.noc", "cube.components.cube_noc", \
	"cube.pe_template.components.pe_cpu", "cube.pe_template.components.scheduler", \
	"cube.pe_template.components.scheduler_v2", "cube.pe_template.components.pe_dma", \
	"cube.pe_template.components.gemm", "cube.pe_template.components.pe_math", \
	"cube.pe_template.components.pe_tcm", "cube.pe_template.components.pe_mmu", \
	"cube.pe_template.components.pe_ipcq"

#define KB_NAME_MAX 48
#define KB_MAX_CORNERS 8

#define KB_FIELD_I(f) int64_t f;
#define KB_FIELD_F(f) double f;
#define KB_FIELD_E(f) char f[KB_NAME_MAX];
#define KB_FIELD_L(f) char f[KB_MAX_CORNERS][KB_NAME_MAX]; int n_##f;
#define KB_TOPO_FIELD(role, T, f, path, def, lo, hi, unit, choices) KB_FIELD_##T(f)
#define KB_TOPO_COUNT(role, T, f, path, def, lo, hi, unit, choices) +1

enum { KB_TOPO_NKEYS = 0 KB_TOPOLOGY_KEYS(KB_TOPO_COUNT) };

/* Where a value came from, for error messages on cross-key rules. */
typedef struct kb_origin {
	int line, col;   /* 0 = built-in default */
	bool overridden; /* set by --set */
} kb_origin;

/* A loaded topology: values plus the source text it came from. */
typedef struct kb_topo_cfg {
	KB_TOPOLOGY_KEYS(KB_TOPO_FIELD)
	char source[256];        /* file name, or "<defaults>" */
	char *yaml_text;         /* owned; NULL for built-in defaults */
	char *overrides;         /* owned; "key=value\n" lines applied with --set */
	kb_origin origin[KB_TOPO_NKEYS];
} kb_topo_cfg;

/* configs/topology.yaml and configs/ccl.yaml, compiled in (build/gen). */
extern const char kb_builtin_topology_yaml[];
extern const char kb_builtin_ccl_yaml[];

/* Schema defaults: what a key missing from a file takes (the values
 * configs/topology.yaml documents; a test keeps the two equal). */
void kb_topo_defaults(kb_topo_cfg *cfg);
/* Loads path (NULL = the built-in configs/topology.yaml); validates every key. */
int kb_topo_load(kb_topo_cfg *cfg, const char *path, kb_error *err);
/* Loads from text already in memory (a trace's embedded copy). */
int kb_topo_load_text(kb_topo_cfg *cfg, const char *name, const char *text, kb_error *err);
/* Applies `key=value` with the same validation as the file. */
int kb_topo_set(kb_topo_cfg *cfg, const char *key, const char *value, kb_error *err);
/* Whether a topology key changes only timing (role TIME in KB_TOPOLOGY_KEYS). */
bool kb_topo_key_is_timing(const char *path);
/* 0 when every TRACE-role key of now equals was's, else -1 naming the
 * first that differs with both values. */
int kb_topo_same_structure(const kb_topo_cfg *was, const kb_topo_cfg *now, kb_error *err);
/* Every key's effective value, one `path: value  # unit` line each (malloc'd). */
char *kb_topo_effective(const kb_topo_cfg *cfg);
void kb_topo_release(kb_topo_cfg *cfg);

/* ccl.yaml: `defaults` plus named `algorithms`. Unset integers are -1,
 * unset strings empty; kb_ccl_resolve merges an algorithm over defaults. */
typedef struct kb_ccl_algo {
	char name[KB_NAME_MAX];
	char module[KB_NAME_MAX];
	char algorithm[KB_NAME_MAX]; /* defaults only: the selected algorithm */
	char topology[KB_NAME_MAX];
	char buffer_kind[KB_NAME_MAX];
	char backpressure[KB_NAME_MAX];
	char mapper[KB_NAME_MAX];
	char validator[KB_NAME_MAX];
	char reduce_op[KB_NAME_MAX];
	int64_t n_slots, slot_size, vc_chunk_size, ipcq_credit_size_bytes;
	int64_t world_size, n_elem, root_cube, chunk_size;
} kb_ccl_algo;

#define KB_CCL_MAX_ALGOS 64

typedef struct kb_ccl_cfg {
	kb_ccl_algo defaults;
	kb_ccl_algo algos[KB_CCL_MAX_ALGOS];
	int n_algos;
	char source[256];
	char *yaml_text;
	char *overrides;
} kb_ccl_cfg;

void kb_ccl_defaults(kb_ccl_cfg *cfg);
int kb_ccl_load(kb_ccl_cfg *cfg, const char *path, kb_error *err);
int kb_ccl_load_text(kb_ccl_cfg *cfg, const char *name, const char *text, kb_error *err);
/* key is relative to ccl.yaml (`defaults.n_slots`), without the `ccl.` prefix. */
int kb_ccl_set(kb_ccl_cfg *cfg, const char *key, const char *value, kb_error *err);
/* Merged view of algorithm `name` (NULL = defaults.algorithm). */
int kb_ccl_resolve(const kb_ccl_cfg *cfg, const char *name, kb_ccl_algo *out, kb_error *err);
void kb_ccl_release(kb_ccl_cfg *cfg);

/* Parses "key=value" into its two halves (in place); -1 if there is no '='. */
int kb_split_assignment(char *kv, char **key, char **value);

/* ------------------------------------------------------------------ */
/* Machine model                                                       */
/* ------------------------------------------------------------------ */

/* The derived machine: one source of truth per quantity (the config),
 * everything else computed here. Byte sizes are exact (MB = 2^20, GB = 2^30
 * for capacities; bandwidths are decimal GB/s). */
/* How the SIPs are wired (system.sips.topology): a ring (ring_1d), a
 * square grid whose rows and columns wrap around (torus_2d, mesh_2d), or
 * one whose do not (mesh_2d_no_wrap). Collective kernels get it as their
 * sip_topo argument. */
typedef enum kb_sip_wiring { KB_SIP_RING = 0, KB_SIP_GRID_WRAP = 1, KB_SIP_GRID = 2 } kb_sip_wiring;

typedef struct kb_machine {
	kb_topo_cfg cfg;           /* private copy; yaml_text/overrides not owned */
	kb_sip_wiring sip_wiring;  /* from cfg.sips_topology */
	int n_sips, cube_w, cube_h, n_cubes, pes_per_cube;
	int n_pes;                 /* whole system */
	uint64_t hbm_cube_bytes, hbm_slice_bytes;
	uint64_t tcm_bytes, tcm_reserved_bytes, scratch_bytes;
	uint64_t sram_bytes, page_size;
} kb_machine;

/* Derives the machine and checks the rules that span keys (cube ids fit
 * 5 bits, scratch fits the TCM, ...); errors name the key and its line. */
int kb_machine_init(kb_machine *m, const kb_topo_cfg *cfg, kb_error *err);

/* Flat index of a PE, for arrays; never part of an API or the trace. */
static inline int kb_pe_index(const kb_machine *m, int sip, int cube, int pe)
{
	return (sip * m->n_cubes + cube) * m->pes_per_cube + pe;
}

/* ------------------------------------------------------------------ */
/* Physical addresses (51 bits)                                        */
/* ------------------------------------------------------------------ */

/*
 * [50:47] rack | [46:43] sip | [42:38] cube | [37:0] local.
 * local[37] = 1: HBM window (128 GB), offset = cube HBM offset; the PE's
 *   slice is offset / slice size.
 * local[37] = 0: PE-resource window: [36:34] unit | [33:30] pe | [29] ext
 *   | [28:0] sub-offset. Units: 0 PE TCM, 1 M_CPU, 2 cube SRAM.
 */
typedef enum kb_space {
	KB_SPACE_NONE = 0,
	KB_SPACE_HBM = 1,
	KB_SPACE_TCM = 2,
	KB_SPACE_SRAM = 3,
	KB_SPACE_COUNT
} kb_space;

const char *kb_space_name(kb_space s);

/* Limits set by the PhysAddr fields: 4-bit sip, 5-bit cube, 4-bit pe. */
#define KB_MAX_SIPS 16
#define KB_MAX_CUBES 32
#define KB_MAX_PES 16

#define KB_PA_BITS 51
#define KB_PA_MAX ((UINT64_C(1) << KB_PA_BITS) - 1)

typedef struct kb_physaddr {
	unsigned rack, sip, cube;
	kb_space space;
	unsigned pe;      /* owning PE (HBM slice / TCM); 0 for SRAM */
	uint64_t offset;  /* within the slice, the TCM or the cube SRAM */
} kb_physaddr;

int kb_pa_encode(const kb_machine *m, const kb_physaddr *pa, uint64_t *out, kb_error *err);
int kb_pa_decode(const kb_machine *m, uint64_t raw, kb_physaddr *out, kb_error *err);
/* Decodes raw and checks it is memory of `space` with `bytes` from it
 * inside the slice / TCM / SRAM: what a reader checks of a recorded operand. */
int kb_pa_check_range(const kb_machine *m, uint64_t raw, uint64_t bytes, int space, kb_error *err);
/* "sip1.cube3.pe2.hbm+0x1000" */
void kb_pa_format(const kb_physaddr *pa, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* IPCQ directions                                                     */
/* ------------------------------------------------------------------ */

/* The names a kernel sends and receives on (enum_direction in a trace). */
#define KB_DIRECTIONS(X) X(E, "E") X(W, "W") X(N, "N") X(S, "S") \
	X(GLOBAL_E, "global_E") X(GLOBAL_W, "global_W") X(GLOBAL_N, "global_N") X(GLOBAL_S, "global_S") \
	X(PARENT, "parent") X(CHILD_LEFT, "child_left") X(CHILD_RIGHT, "child_right") \
	X(PEER, "peer") /* a pair channel (kb_ipcq_connect), both ends */
#define KB_DIR_ENUM(e, name) KB_DIR_##e,
typedef enum kb_dir { KB_DIRECTIONS(KB_DIR_ENUM) KB_DIR_COUNT } kb_dir;
#undef KB_DIR_ENUM

const char *kb_dir_name(kb_dir d);
/* The direction named s, or -1. */
int kb_dir_parse(const char *s);
/* E<->W, N<->S and their global_ forms; -1 for the tree directions. */
int kb_dir_opposite(kb_dir d);

/* ------------------------------------------------------------------ */
/* Number formats                                                      */
/* ------------------------------------------------------------------ */

typedef enum kb_dtype {
	KB_DTYPE_NONE = 0,
	KB_F16 = 1,
	KB_F32 = 2,
	KB_DTYPE_COUNT
} kb_dtype;

const char *kb_dtype_name(kb_dtype d);
size_t kb_dtype_size(kb_dtype d);
/* IEEE binary16 <-> binary32, round to nearest even. */
uint16_t kb_f32_to_f16(float f);
float kb_f16_to_f32(uint16_t h);
/* Rounds a value through the dtype (f16: the nearest half). */
float kb_dtype_round(kb_dtype d, float f);

/* Random fills generated where they land (a HOST_FILL op whose attr is a
 * nonzero block seed and imm the scale): element j, row-major in the
 * block, is kb_rand_elem(seed, j, scale) rounded to the dtype. A block's
 * seed depends on the fill's seed and the block's first row and column
 * only, so replicas of a block hold the same values. */
uint64_t kb_rand_block_seed(uint64_t seed, int64_t row0, int64_t col0);
float kb_rand_elem(uint64_t block_seed, uint64_t j, float scale); /* uniform in [-scale, scale) */

#endif
