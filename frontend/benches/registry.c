/*
 * registry.c — the bench list.
 */
#include "benches.h"

#include <string.h>

static const kb_bench *const all[] = {
	&kb_bench_gemm, &kb_bench_va_offset_verify, &kb_bench_gpt3_qkv, &kb_bench_synthetic, &kb_bench_fabric_traffic,
	&kb_bench_ccl_allreduce, &kb_bench_hello_send, &kb_bench_allreduce_sweep, &kb_bench_ccl_collective, &kb_bench_gqa, &kb_bench_tp_mlp,
	NULL,
};

const kb_bench *const *kb_benches(void)
{
	return all;
}

const kb_bench *kb_bench_find(const char *name)
{
	for (int i = 0; all[i]; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
