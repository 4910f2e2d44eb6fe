/*
 * test_machine.c — configs (loading, validation, overrides), the machine
 * model's derived sizes and rules, PhysAddr and f16.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "machine.h"

/* Loads text as a topology; returns the error message ("" on success). */
static const char *topo_error(const char *text)
{
	static kb_error err;
	kb_topo_cfg cfg;
	memset(&err, 0, sizeof err);
	if (kb_topo_load_text(&cfg, "t.yaml", text, &err) == 0) {
		kb_machine m;
		if (kb_machine_init(&m, &cfg, &err) == 0)
			err.msg[0] = '\0';
	}
	kb_topo_release(&cfg);
	return err.msg;
}

/* Timing keys may change on a recorded trace; trace keys may not, and the
 * comparison names the first that differs with both values. */
static void keys_are_marked_timing_or_trace(void **state)
{
	(void)state;
	static const char *const timing[] = {"system.components.sip_link.attrs.bandwidth_gbps",
					     "cube.components.hbm.attrs.latency_ns", "cube.pe_template.clock_ghz",
					     "cube.pe_template.components.pe_dma.attrs.engines",
					     "cube.pe_template.components.pe_math.attrs.lanes",
					     "cube.pe_template.components.gemm.attrs.setup_cycles"};
	static const char *const trace[] = {"system.sips.count", "system.sips.topology", "sip.cube_mesh.w",
					    "cube.pe_layout.pe_per_corner", "cube.memory_map.hbm_slices_per_cube",
					    "cube.pe_template.components.pe_tcm.attrs.kernel_scratch_mb",
					    "cube.pe_template.components.pe_mmu.attrs.page_size"};
	for (size_t i = 0; i < sizeof timing / sizeof timing[0]; i++)
		assert_true(kb_topo_key_is_timing(timing[i]));
	for (size_t i = 0; i < sizeof trace / sizeof trace[0]; i++)
		assert_false(kb_topo_key_is_timing(trace[i]));
	assert_false(kb_topo_key_is_timing("no.such.key"));
	kb_topo_cfg a, b;
	kb_error err;
	kb_topo_defaults(&a);
	kb_topo_defaults(&b);
	assert_int_equal(kb_topo_set(&b, "cube.components.hbm.attrs.bandwidth_gbps", "200", &err), 0);
	assert_int_equal(kb_topo_set(&b, "cube.pe_template.clock_ghz", "2", &err), 0);
	assert_int_equal(kb_topo_same_structure(&a, &b, &err), 0);
	assert_int_equal(kb_topo_set(&b, "system.sips.topology", "torus_2d", &err), 0);
	assert_int_equal(kb_topo_same_structure(&a, &b, &err), -1);
	assert_string_equal(err.msg, "system.sips.topology is torus_2d but the trace was recorded with ring_1d (only timing"
				     " parameters may change)");
	kb_topo_release(&b);
	kb_topo_defaults(&b);
	assert_int_equal(kb_topo_set(&b, "cube.pe_layout.corners", "NW,NE", &err), 0);
	assert_int_equal(kb_topo_same_structure(&a, &b, &err), -1);
	assert_string_equal(err.msg, "cube.pe_layout.corners is NW,NE but the trace was recorded with NW,NE,SW,SE (only"
				     " timing parameters may change)");
	kb_topo_release(&a);
	kb_topo_release(&b);
}

static void builtin_file_documents_the_schema_defaults(void **state)
{
	(void)state;
	kb_topo_cfg file, defaults;
	kb_error err;
	assert_int_equal(kb_topo_load(&file, NULL, &err), 0);
	kb_topo_defaults(&defaults);
	char *a = kb_topo_effective(&file), *b = kb_topo_effective(&defaults);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "cube.memory_map.hbm_total_gb_per_cube: 48  # GB\n"));
	free(a);
	free(b);
	kb_topo_release(&file);
}

static void default_machine_has_256_pes_and_6gb_slices(void **state)
{
	(void)state;
	kb_topo_cfg cfg;
	kb_machine m;
	kb_error err;
	assert_int_equal(kb_topo_load(&cfg, NULL, &err), 0);
	assert_int_equal(kb_machine_init(&m, &cfg, &err), 0);
	assert_int_equal(m.n_sips, 2);
	assert_int_equal(m.n_cubes, 16);
	assert_int_equal(m.pes_per_cube, 8);
	assert_int_equal(m.n_pes, 256);
	assert_int_equal(m.hbm_slice_bytes, UINT64_C(6) << 30);
	assert_int_equal(m.tcm_bytes, 16u << 20);
	assert_int_equal(m.scratch_bytes, 1u << 20);
	assert_int_equal(m.sram_bytes, 32u << 20);
	assert_true(cfg.hbm_gbps == 100.0);
	assert_string_equal(cfg.sips_topology, "ring_1d");
	kb_topo_release(&cfg);
}

static void seed_era_file_loads_with_defaults(void **state)
{
	(void)state;
	const char *seed = "system:\n  sips:\n    count: 2\n"
			   "  components:\n    switch: { kind: switch, impl: builtin.switch, attrs: { overhead_ns: 5.0 } }\n"
			   "sip:\n  cube_mesh: { w: 2, h: 2 }\n"
			   "cube:\n  pe_layout: { corners: [NW, NE, SW, SE], pe_per_corner: 2 }\n"
			   "  memory_map: { hbm_total_gb_per_cube: 48, hbm_slices_per_cube: 8 }\n"
			   "  pe_template:\n    components:\n"
			   "      pe_tcm: { kind: pe_tcm, impl: builtin.pe_tcm, attrs: { size_mb: 16 } }\n"
			   "      scheduler_v2: { kind: scheduler_v2, impl: builtin.scheduler_v2, attrs: {} }\n";
	assert_string_equal(topo_error(seed), "");
}

static void unknown_key_names_file_line_column_and_key(void **state)
{
	(void)state;
	const char *msg = topo_error("sip:\n  cube_mesh:\n    w: 2\n    hh: 2\n");
	assert_string_equal(msg, "t.yaml:4:5: unknown key 'sip.cube_mesh.hh' (known here: w, h)");
}

static void misspelt_section_is_reported_at_its_key(void **state)
{
	(void)state;
	const char *msg = topo_error("cube:\n  pe_layuot: { pe_per_corner: 2 }\n");
	assert_non_null(strstr(msg, "t.yaml:2:3: unknown key 'cube.pe_layuot'"));
	assert_non_null(strstr(msg, "pe_layout"));
}

static void syntax_error_has_a_position(void **state)
{
	(void)state;
	const char *msg = topo_error("sip:\n  cube_mesh: { w: 2, h: 2\n");
	assert_non_null(strstr(msg, "t.yaml:"));
	assert_non_null(strstr(msg, "YAML syntax error"));
}

static void one_document_per_config(void **state)
{
	(void)state;
	assert_string_equal(topo_error("sip: {cube_mesh: {w: 2}}\n---\nsip: 1\n"),
			    "t.yaml:3:1: a config holds one YAML document; this is a second one");
	assert_string_equal(topo_error("- a\n- b\n"), "t.yaml:1:1: the document must be a mapping of keys");
	assert_string_equal(topo_error(""), ""); /* empty: every key takes its default */
}

static void wrong_types_and_ranges_are_errors(void **state)
{
	(void)state;
	assert_string_equal(topo_error("sip:\n  cube_mesh: { w: four }\n"),
			    "t.yaml:2:19: sip.cube_mesh.w: 'four' is not a number");
	assert_string_equal(topo_error("sip:\n  cube_mesh: { w: 0 }\n"),
			    "t.yaml:2:19: sip.cube_mesh.w: 0 is out of range (1..32)");
	assert_string_equal(topo_error("sip:\n  cube_mesh: { w: 2.5 }\n"),
			    "t.yaml:2:19: sip.cube_mesh.w: '2.5' must be an integer");
	assert_string_equal(topo_error("cube:\n  components:\n    hbm: { attrs: { bandwidth_gbps: 0 } }\n"),
			    "t.yaml:3:37: cube.components.hbm.attrs.bandwidth_gbps: 0 must be > 0 GB/s");
	assert_string_equal(topo_error("cube:\n  components:\n    hbm: { attrs: { bandwidth_gbps: -5 } }\n"),
			    "t.yaml:3:37: cube.components.hbm.attrs.bandwidth_gbps: -5 must be > 0 GB/s");
	assert_string_equal(topo_error("system:\n  sips: { topology: star }\n"),
			    "t.yaml:2:21: system.sips.topology: 'star' is not one of "
			    "ring_1d|torus_2d|mesh_2d|mesh_2d_no_wrap");
	assert_string_equal(topo_error("sip:\n  cube_mesh: { w: 2, w: 3 }\n"), "t.yaml:2:22: duplicate key 'sip.cube_mesh.w'");
	assert_string_equal(topo_error("cube:\n  pe_template:\n    components:\n      gemm: { kind: math }\n"),
			    "t.yaml:4:21: cube.pe_template.components.gemm.kind: component 'gemm' must have kind "
			    "'gemm', not 'math'");
}

static void impossible_topologies_name_the_key(void **state)
{
	(void)state;
	assert_string_equal(topo_error("sip:\n  cube_mesh: { w: 8, h: 8 }\n"),
			    "t.yaml:2:25: sip.cube_mesh.h: 8 x 8 = 64 cubes exceeds 32 (5-bit cube id)");
	assert_string_equal(topo_error("cube:\n  memory_map: { hbm_slices_per_cube: 4 }\n"),
			    "t.yaml:2:38: cube.memory_map.hbm_slices_per_cube: 4 slices for 8 PEs per cube (one slice per PE)");
	assert_non_null(strstr(topo_error("system:\n  sips: { count: 3, topology: torus_2d }\n"),
			       "'torus_2d' needs a square number of SIPs, have 3"));
	assert_non_null(strstr(topo_error("cube:\n  pe_template:\n    components:\n"
					  "      pe_tcm: { attrs: { size_mb: 4, reserved_mb: 4 } }\n"),
			       "kernel_scratch_mb: 1 MB scratch + 4 MB reserved exceeds the 4 MB TCM"));
}

static void set_overrides_are_validated_like_the_file(void **state)
{
	(void)state;
	kb_topo_cfg cfg;
	kb_error err;
	kb_machine m;
	assert_int_equal(kb_topo_load(&cfg, NULL, &err), 0);
	assert_int_equal(kb_topo_set(&cfg, "sip.cube_mesh.w", "2", &err), 0);
	assert_int_equal(kb_topo_set(&cfg, "cube.components.hbm.attrs.bandwidth_gbps", "200", &err), 0);
	assert_int_equal(kb_machine_init(&m, &cfg, &err), 0);
	assert_int_equal(m.n_cubes, 8);
	assert_true(m.cfg.hbm_gbps == 200.0);
	assert_string_equal(cfg.overrides, "sip.cube_mesh.w=2\ncube.components.hbm.attrs.bandwidth_gbps=200\n");
	assert_int_equal(kb_topo_set(&cfg, "sip.cube_mesh.ww", "2", &err), -1);
	assert_string_equal(err.msg, "--set sip.cube_mesh.ww=2: unknown topology key 'sip.cube_mesh.ww' (known here: w, h)");
	assert_int_equal(kb_topo_set(&cfg, "sip.cube_mesh.h", "40", &err), -1);
	assert_string_equal(err.msg, "--set sip.cube_mesh.h=40: sip.cube_mesh.h: 40 is out of range (1..32)");
	assert_int_equal(kb_topo_set(&cfg, "sip.cube_mesh.h", "8", &err), 0);
	assert_int_equal(kb_topo_set(&cfg, "sip.cube_mesh.w", "8", &err), 0);
	assert_int_equal(kb_machine_init(&m, &cfg, &err), -1);
	assert_string_equal(err.msg, "--set sip.cube_mesh.h: sip.cube_mesh.h: 8 x 8 = 64 cubes exceeds 32 (5-bit cube id)");
	kb_topo_release(&cfg);
}

static void ccl_resolves_algorithm_over_defaults(void **state)
{
	(void)state;
	kb_ccl_cfg cfg;
	kb_ccl_algo a;
	kb_error err;
	assert_int_equal(kb_ccl_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.defaults.algorithm, "intercube_allreduce");
	assert_int_equal(kb_ccl_resolve(&cfg, "ring_allreduce_hbm", &a, &err), 0);
	assert_string_equal(a.module, "ring_allreduce");
	assert_string_equal(a.buffer_kind, "hbm");
	assert_int_equal(a.world_size, 8);
	assert_int_equal(a.n_slots, 4);      /* from defaults */
	assert_int_equal(a.slot_size, 4096); /* from defaults */
	assert_string_equal(a.mapper, "leader_only");
	assert_int_equal(kb_ccl_set(&cfg, "defaults.algorithm", "tree_allreduce_7", &err), 0);
	assert_int_equal(kb_ccl_resolve(&cfg, NULL, &a, &err), 0);
	assert_string_equal(a.topology, "tree_binary");
	assert_int_equal(kb_ccl_set(&cfg, "defaults.algorithm", "nope", &err), -1);
	assert_string_equal(err.msg, "configs/ccl.yaml (built in): defaults.algorithm: 'nope' is not an entry of algorithms");
	assert_int_equal(kb_ccl_set(&cfg, "algorithms.ring_allreduce_hbm.buffer_kind", "disk", &err), -1);
	assert_non_null(strstr(err.msg, "'disk' is not one of tcm|hbm|sram"));
	kb_ccl_release(&cfg);

	assert_int_equal(kb_ccl_load_text(&cfg, "c.yaml", "algorithms:\n  x:\n    topology: ring_1d\n", &err), -1);
	assert_string_equal(err.msg, "c.yaml: algorithms.x.module: missing (every algorithm names its module)");
	assert_int_equal(kb_ccl_load_text(&cfg, "c.yaml", "defaults:\n  n_slot: 4\n", &err), -1);
	assert_non_null(strstr(err.msg, "c.yaml:2:3: unknown key 'defaults.n_slot'"));
}

static void physaddr_encodes_the_51_bit_layout(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	uint64_t raw;
	kb_physaddr hbm = {0, 1, 3, KB_SPACE_HBM, 2, 0x1000};
	assert_int_equal(kb_pa_encode(&m, &hbm, &raw, &err), 0);
	/* sip 1 << 43 | cube 3 << 38 | HBM window | slice 2 * 6 GB + 0x1000 */
	assert_int_equal(raw, (UINT64_C(1) << 43) | (UINT64_C(3) << 38) | (UINT64_C(1) << 37) |
				      (UINT64_C(2) * (UINT64_C(6) << 30) + 0x1000));
	kb_physaddr back;
	assert_int_equal(kb_pa_decode(&m, raw, &back, &err), 0);
	assert_int_equal(back.sip, 1);
	assert_int_equal(back.cube, 3);
	assert_int_equal(back.space, KB_SPACE_HBM);
	assert_int_equal(back.pe, 2);
	assert_int_equal(back.offset, 0x1000);

	kb_physaddr tcm = {0, 0, 15, KB_SPACE_TCM, 7, 0x40000};
	assert_int_equal(kb_pa_encode(&m, &tcm, &raw, &err), 0);
	assert_int_equal(raw, (UINT64_C(15) << 38) | (UINT64_C(7) << 30) | 0x40000);
	assert_int_equal(kb_pa_decode(&m, raw, &back, &err), 0);
	assert_int_equal(back.space, KB_SPACE_TCM);
	assert_int_equal(back.pe, 7);
	assert_int_equal(back.offset, 0x40000);

	kb_physaddr sram = {0, 1, 0, KB_SPACE_SRAM, 0, 0x100};
	assert_int_equal(kb_pa_encode(&m, &sram, &raw, &err), 0);
	assert_int_equal(raw, (UINT64_C(1) << 43) | (UINT64_C(2) << 34) | 0x100);
	char text[64];
	assert_int_equal(kb_pa_decode(&m, raw, &back, &err), 0);
	kb_pa_format(&back, text, sizeof text);
	assert_string_equal(text, "sip1.cube0.sram+0x100");
}

static void physaddr_rejects_out_of_range(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_physaddr pa;
	uint64_t raw;
	assert_int_equal(kb_pa_decode(&m, UINT64_C(1) << 51, &pa, &err), -1);
	assert_string_equal(err.msg, "physical address 0x8000000000000: not a 51-bit value");
	assert_int_equal(kb_pa_decode(&m, UINT64_C(2) << 43, &pa, &err), -1);
	assert_string_equal(err.msg, "physical address: sip 2 out of range (2 SIPs)");
	assert_int_equal(kb_pa_decode(&m, (UINT64_C(1) << 37) | (UINT64_C(48) << 30), &pa, &err), -1);
	assert_non_null(strstr(err.msg, "HBM offset beyond the 51539607552-byte cube HBM"));
	assert_int_equal(kb_pa_decode(&m, UINT64_C(1) << 34, &pa, &err), -1);
	assert_non_null(strstr(err.msg, "unit type 1 is not memory"));
	kb_physaddr big = {0, 0, 0, KB_SPACE_TCM, 0, 16u << 20};
	assert_int_equal(kb_pa_encode(&m, &big, &raw, &err), -1);
	assert_string_equal(err.msg, "physical address: offset 0x1000000 beyond the 16777216-byte tcm");
}

static void f16_rounds_to_nearest_even(void **state)
{
	(void)state;
	assert_int_equal(kb_f32_to_f16(1.0f), 0x3C00);
	assert_int_equal(kb_f32_to_f16(-2.0f), 0xC000);
	assert_int_equal(kb_f32_to_f16(65504.0f), 0x7BFF);
	assert_int_equal(kb_f32_to_f16(1e6f), 0x7C00);            /* overflow -> inf */
	assert_int_equal(kb_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00); /* tie -> even */
	assert_int_equal(kb_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02); /* tie -> even (up) */
	assert_int_equal(kb_f32_to_f16(5.9604645e-8f), 0x0001);   /* smallest subnormal */
	assert_true(kb_f16_to_f32(0x0001) == 5.9604645e-8f);
	assert_true(kb_f16_to_f32(0x3555) == 0.333251953125f);
	for (uint32_t h = 0; h < 0x7C00; h++) /* every finite positive half round-trips */
		assert_int_equal(kb_f32_to_f16(kb_f16_to_f32((uint16_t)h)), h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_file_documents_the_schema_defaults),
		cmocka_unit_test(keys_are_marked_timing_or_trace),
		cmocka_unit_test(default_machine_has_256_pes_and_6gb_slices),
		cmocka_unit_test(seed_era_file_loads_with_defaults),
		cmocka_unit_test(unknown_key_names_file_line_column_and_key),
		cmocka_unit_test(misspelt_section_is_reported_at_its_key),
		cmocka_unit_test(syntax_error_has_a_position),
		cmocka_unit_test(one_document_per_config),
		cmocka_unit_test(wrong_types_and_ranges_are_errors),
		cmocka_unit_test(impossible_topologies_name_the_key),
		cmocka_unit_test(set_overrides_are_validated_like_the_file),
		cmocka_unit_test(ccl_resolves_algorithm_over_defaults),
		cmocka_unit_test(physaddr_encodes_the_51_bit_layout),
		cmocka_unit_test(physaddr_rejects_out_of_range),
		cmocka_unit_test(f16_rounds_to_nearest_even),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
