/*
 * test_tracegen.c — range allocators, DPPolicy placement (the seed's
 * cases), memory exhaustion messages, MMUs and op numbering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tracegen.h"

#define KB_ (UINT64_C(1) << 10)
#define MB_ (UINT64_C(1) << 20)
#define GB_ (UINT64_C(1) << 30)

static void ranges_allocate_first_fit_and_coalesce(void **state)
{
	(void)state;
	kb_ranges r;
	uint64_t a, b, c, d;
	assert_int_equal(kb_ranges_init(&r, 1000, 4096, 64), 0);
	assert_int_equal(kb_ranges_alloc(&r, 100, &a), 0); /* rounded to 128 */
	assert_int_equal(kb_ranges_alloc(&r, 1000, &b), 0);
	assert_int_equal(kb_ranges_alloc(&r, 64, &c), 0);
	assert_int_equal(a, 1000);
	assert_int_equal(b, 1128);
	assert_int_equal(c, 1128 + 1024);
	assert_int_equal(r.used, 128 + 1024 + 64);
	assert_int_equal(kb_ranges_free(&r, b, 1000), 0);
	assert_int_equal(kb_ranges_free(&r, b, 1000), -1); /* double free */
	assert_int_equal(kb_ranges_alloc(&r, 512, &d), 0);
	assert_int_equal(d, b);                            /* first fit reuses the hole */
	assert_int_equal(kb_ranges_free(&r, a, 100), 0);
	assert_int_equal(kb_ranges_free(&r, d, 512), 0);
	assert_int_equal(kb_ranges_free(&r, c, 64), 0);
	assert_int_equal(r.n_free, 1); /* everything coalesced back */
	assert_int_equal(kb_ranges_largest_free(&r), 4096);
	assert_int_equal(kb_ranges_alloc(&r, 4097, &a), -1);
	assert_int_equal(kb_ranges_free(&r, 999, 64), -1); /* outside */
	kb_ranges_release(&r);
}

static void column_wise_1024x512_f16_over_8_pes_gives_8_contiguous_128k_shards(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_shard *s;
	size_t n;
	kb_dp dp = {.cube = KB_REPLICATE, .pe = KB_COLUMN_WISE, .num_cubes = 1};
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 1024, 512, 2, &s, &n, &err), 0);
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].pe, i);
		assert_int_equal(s[i].cube, 0);
		assert_int_equal(s[i].nbytes, 128 * KB_);
		assert_int_equal(s[i].offset_bytes, i * 128 * KB_);
		assert_int_equal(s[i].rows, 1024);
		assert_int_equal(s[i].cols, 64);
		assert_int_equal(s[i].col0, (int64_t)i * 64);
	}
	free(s);
}

static void row_wise_and_replicate(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_shard *s;
	size_t n;
	kb_dp rows = {.cube = KB_REPLICATE, .pe = KB_ROW_WISE, .num_cubes = 1};
	assert_int_equal(kb_dp_resolve(&rows, &m, 0, 1024, 512, 2, &s, &n, &err), 0);
	assert_int_equal(n, 8);
	assert_int_equal(s[3].row0, 384);
	assert_int_equal(s[3].rows, 128);
	assert_int_equal(s[3].nbytes, 128 * KB_);
	assert_int_equal(s[3].offset_bytes, 3 * 128 * KB_);
	free(s);
	kb_dp rep = {.cube = KB_REPLICATE, .pe = KB_REPLICATE, .num_cubes = 2};
	assert_int_equal(kb_dp_resolve(&rep, &m, 1, 1024, 512, 2, &s, &n, &err), 0);
	assert_int_equal(n, 16);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].sip, 1);
		assert_int_equal(s[i].offset_bytes, 0);
		assert_int_equal(s[i].nbytes, MB_);
	}
	assert_int_equal(s[15].cube, 1);
	assert_int_equal(s[15].pe, 7);
	free(s);
}

static void cube_and_pe_splits_compose(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_shard *s;
	size_t n;
	kb_dp dp = {.cube = KB_COLUMN_WISE, .pe = KB_COLUMN_WISE};
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 64, 1024, 2, &s, &n, &err), 0);
	assert_int_equal(n, 128);
	/* cube 5, pe 3 holds columns 5*64 + 3*8 .. +8, at block index 43 */
	assert_int_equal(s[43].cube, 5);
	assert_int_equal(s[43].pe, 3);
	assert_int_equal(s[43].col0, 5 * 64 + 3 * 8);
	assert_int_equal(s[43].cols, 8);
	assert_int_equal(s[43].offset_bytes, 43 * 64 * 8 * 2);
	free(s);
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 64, 1000, 2, &s, &n, &err), -1);
	assert_string_equal(err.msg, "placement: 1000 columns do not split evenly over 16 cubes (column_wise)");
	kb_dp too_many = {.num_pes = 9};
	assert_int_equal(kb_dp_resolve(&too_many, &m, 0, 8, 8, 2, &s, &n, &err), -1);
	assert_string_equal(err.msg, "placement: num_pes=9 but a cube has 8 PEs");
}

static void tiled_policies_deal_tiles_round_robin(void **state)
{
	(void)state;
	kb_machine m = th_default_machine();
	kb_error err;
	kb_shard *s;
	size_t n;
	kb_dp dp = {.pe = KB_TILED_ROW_MAJOR, .num_cubes = 1, .tile_m = 32, .tile_k = 32};
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 128, 96, 2, &s, &n, &err), 0);
	assert_int_equal(n, 12); /* 4 x 3 tiles */
	assert_int_equal(s[8].pe, 0); /* shard 8 wraps back to PE 0 */
	assert_int_equal(s[4].row0, 32);
	assert_int_equal(s[4].col0, 32);
	assert_int_equal(s[4].offset_bytes, 4 * 32 * 32 * 2);
	free(s);
	dp.pe = KB_TILED_COLUMN_MAJOR;
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 128, 96, 2, &s, &n, &err), 0);
	assert_int_equal(s[4].row0, 0); /* tiles numbered down columns */
	assert_int_equal(s[4].col0, 32);
	free(s);
	dp.tile_m = 48;
	assert_int_equal(kb_dp_resolve(&dp, &m, 0, 128, 96, 2, &s, &n, &err), -1);
	assert_string_equal(err.msg, "placement: tile 48x32 does not divide the 128x96 block");
}

static kb_session *open_session(const char *name)
{
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	kb_error err;
	kb_session *s;
	char p[128];
	snprintf(p, sizeof p, "/tmp/kb_tracegen_%d_%s.db", (int)getpid(), name);
	assert_int_equal(kb_topo_load(&topo, NULL, &err), 0);
	assert_int_equal(kb_ccl_load(&ccl, NULL, &err), 0);
	assert_int_equal(kb_session_open(&s, &topo, &ccl, p, &err), 0);
	kb_topo_release(&topo);
	kb_ccl_release(&ccl);
	return s;
}

static void hbm_slice_exhaustion_names_the_sizes(void **state)
{
	(void)state;
	kb_session *s = open_session("alloc");
	kb_error err;
	uint64_t off;
	assert_int_equal(kb_mem_alloc(s, KB_SPACE_HBM, 0, 0, 0, 7 * GB_, &off, &err), -1);
	assert_string_equal(err.msg, "allocation failed: 7 GB requested of the 6 GB HBM slice at sip0.cube0.pe0 "
				     "(largest free: 6 GB)");
	assert_int_equal(kb_mem_alloc(s, KB_SPACE_HBM, 1, 2, 3, 4 * GB_, &off, &err), 0);
	assert_int_equal(kb_mem_pa(s, KB_SPACE_HBM, 1, 2, 3, off),
			 (UINT64_C(1) << 43) | (UINT64_C(2) << 38) | (UINT64_C(1) << 37) | (3 * 6 * GB_));
	/* TCM tensors start after the reserved area and the kernel scratch */
	assert_int_equal(kb_mem_alloc(s, KB_SPACE_TCM, 0, 0, 0, 4096, &off, &err), 0);
	assert_int_equal(off, 5 * MB_);
	assert_int_equal(kb_scratch_alloc(s, 0, 0, 0, 4096, &off), 0);
	assert_int_equal(off, 4 * MB_);
	assert_int_equal(kb_mem_free(s, KB_SPACE_TCM, 0, 0, 0, 5 * MB_, 4096, &err), 0);
	assert_int_equal(kb_mem_free(s, KB_SPACE_TCM, 0, 0, 0, 5 * MB_, 4096, &err), -1);
	kb_session_abort(s);
}

static void mmu_maps_and_translates_per_pe(void **state)
{
	(void)state;
	kb_session *s = open_session("mmu");
	kb_error err;
	uint64_t va, va2;
	assert_int_equal(kb_va_alloc(s, 10000, &va, &err), 0);
	assert_int_equal(kb_va_alloc(s, 1, &va2, &err), 0);
	assert_int_equal(va, 0x100000000);
	assert_int_equal(va2, 0x100000000 + 3 * 4096); /* page-aligned */
	kb_mapping m1 = {va, 8192, 0x2000000000, KB_SPACE_HBM, KB_F16, 1};
	assert_int_equal(kb_mmu_map(s, 0, 1, 2, &m1, &err), 0);
	kb_mapping overlap = {va + 4096, 8192, 0x2000100000, KB_SPACE_HBM, KB_F16, 2};
	assert_int_equal(kb_mmu_map(s, 0, 1, 2, &overlap, &err), -1);
	assert_non_null(strstr(err.msg, "overlaps an existing mapping"));
	assert_int_equal(kb_mmu_map(s, 0, 1, 3, &overlap, &err), 0); /* another PE's MMU */
	const kb_mapping *hit = kb_mmu_lookup(s, 0, 1, 2, va + 100, 8092);
	assert_non_null(hit);
	assert_int_equal(hit->pa, 0x2000000000);
	assert_null(kb_mmu_lookup(s, 0, 1, 2, va + 100, 8093)); /* runs past the end */
	assert_null(kb_mmu_lookup(s, 0, 1, 1, va, 4));          /* not mapped on pe1 */
	kb_session_abort(s);
}

static void ops_get_per_pe_and_per_stream_sequence_numbers(void **state)
{
	(void)state;
	kb_session *s = open_session("seq");
	kb_error err;
	kb_op host = {.launch = 0, .sip = 1, .cube = 0, .pe = 0, .kind = KB_OP_HOST_WRITE};
	kb_op pe = {.launch = 1, .sip = 1, .cube = 0, .pe = 0, .kind = KB_OP_DMA_READ};
	kb_op other = {.launch = 1, .sip = 1, .cube = 0, .pe = 1, .kind = KB_OP_DMA_READ};
	assert_int_equal(kb_session_op(s, &host, &err), 1);
	assert_int_equal(host.seq, 0);
	assert_int_equal(kb_session_op(s, &pe, &err), 2);
	assert_int_equal(kb_session_op(s, &pe, &err), 3);
	assert_int_equal(pe.seq, 1);
	assert_int_equal(kb_session_op(s, &other, &err), 4);
	assert_int_equal(other.seq, 0);
	assert_int_equal(kb_session_op(s, &host, &err), 5);
	assert_int_equal(host.seq, 1);
	assert_int_equal(kb_session_next_op(s), 6);
	kb_session_abort(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ranges_allocate_first_fit_and_coalesce),
		cmocka_unit_test(column_wise_1024x512_f16_over_8_pes_gives_8_contiguous_128k_shards),
		cmocka_unit_test(row_wise_and_replicate),
		cmocka_unit_test(cube_and_pe_splits_compose),
		cmocka_unit_test(tiled_policies_deal_tiles_round_robin),
		cmocka_unit_test(hbm_slice_exhaustion_names_the_sizes),
		cmocka_unit_test(mmu_maps_and_translates_per_pe),
		cmocka_unit_test(ops_get_per_pe_and_per_stream_sequence_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
