/*
 * fuzz_chakra.c — libFuzzer harness for the Chakra ET reader: the input is
 * one rank's file. Every input must decode or fail with a message naming
 * the byte offset, never read past the bytes (ASan) or overflow (UBSan);
 * what decodes must encode again and decode to the same nodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chakra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static bool same(const kb_et_node *a, const kb_et_node *b)
{
	if (a->id != b->id || a->type != b->type || strcmp(a->name, b->name) != 0 || a->n_deps != b->n_deps ||
	    a->n_data != b->n_data || a->num_ops != b->num_ops || a->tensor_size != b->tensor_size ||
	    a->comm_size != b->comm_size || a->comm_type != b->comm_type || a->is_cpu_op != b->is_cpu_op ||
	    a->duration_us != b->duration_us || a->kb_pe != b->kb_pe || a->kb_kind != b->kb_kind)
		return false;
	for (int k = 0; k < a->n_deps; k++)
		if (a->deps[k] != b->deps[k])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees a read past them */
	if (!copy)
		return 0;
	memcpy(copy, data, n);
	kb_et_rank r;
	kb_error err = {0};
	if (kb_et_decode(copy, n, 0, &r, &err)) {
		if (!strstr(err.msg, "byte offset"))
			abort();
		free(copy);
		return 0;
	}
	kb_et_buf b = {0};
	kb_et_put_metadata(&b, r.version);
	for (size_t i = 0; i < r.n; i++) {
		kb_et_put_node(&b, &r.nodes[i]);
	}
	kb_et_rank again;
	if (!b.failed) {
		if (kb_et_decode(b.p, b.n, 0, &again, &err) || again.n != r.n)
			abort();
		for (size_t i = 0; i < r.n; i++)
			if (!same(&r.nodes[i], &again.nodes[i]))
				abort();
		kb_et_rank_free(&again);
	}
	free(b.p);
	kb_et_rank_free(&r);
	free(copy);
	return 0;
}
