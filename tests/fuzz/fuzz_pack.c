/*
 * fuzz_pack.c — libFuzzer harness for the op pack decoder: the input is a
 * chunk's decompressed bytes, decoded op after op as kb-time and
 * kb-replay decode them. Every input must end in ops or an error at some
 * op, never a read past the chunk (ASan) or undefined arithmetic (UBSan);
 * a decoded op must encode again to at most KB_PACK_MAX_ENCODED bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	/* a copy of exactly n bytes: ASan sees any read past it */
	uint8_t *chunk = malloc(n ? n : 1);
	if (!chunk)
		return 0;
	memcpy(chunk, data, n);
	const uint8_t *p = chunk, *end = chunk + n;
	for (int64_t id = 1; p < end; id++) {
		kb_op_rec o;
		if (kb_pack_get(&p, end, id, &o))
			break;
		if (p > end)
			abort();
		kb_op_row row = {.launch = o.launch, .sip = o.sip, .cube = o.cube, .pe = o.pe, .seq = o.seq,
				 .kind = (kb_op_kind)o.kind, .attr = o.attr, .imm = o.imm, .bytes = o.bytes,
				 .flops = o.flops, .blob = o.blob, .chan = o.chan, .chan_seq = o.chan_seq};
		const kb_operand_rec *in[4] = {&o.dst, &o.a, &o.b, &o.c};
		kb_operand *out[4] = {&row.dst, &row.a, &row.b, &row.c};
		for (int k = 0; k < 4; k++)
			*out[k] = (kb_operand){in[k]->space, in[k]->dtype, in[k]->shape, 0, in[k]->pa};
		uint8_t again[KB_PACK_MAX_ENCODED];
		if (kb_pack_put(again, &row) > KB_PACK_MAX_ENCODED)
			abort();
	}
	free(chunk);
	return 0;
}
