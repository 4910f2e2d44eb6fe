/*
 * fuzz_pack.c — libFuzzer harness for the op pack decoder: the input is a
 * chunk's decompressed bytes, decoded op after op as kb-time and
 * kb-replay decode them. Every input must end in ops or an error at some
 * op, never a read past the chunk (ASan) or undefined arithmetic (UBSan);
 * a decoded op must encode again, within KB_OP_PACK_MAX bytes, to itself.
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
		kb_op o;
		memset(&o, 0, sizeof o); /* the padding too: the ops are compared whole below */
		if (kb_op_pack_get(&p, end, id, &o))
			break;
		if (p > end)
			abort();
		/* what decodes encodes again within bounds and decodes to the same op
		 * (-0.0 aside: the coding keeps none) */
		uint8_t again[KB_OP_PACK_MAX];
		size_t len = kb_op_pack_put(again, &o);
		if (len > KB_OP_PACK_MAX)
			abort();
		const uint8_t *q = again;
		kb_op back;
		memset(&back, 0, sizeof back);
		if (kb_op_pack_get(&q, again + len, id, &back) || q != again + len)
			abort();
		if (o.imm == 0)
			o.imm = 0.0;
		if (memcmp(&o, &back, sizeof o) != 0)
			abort();
	}
	free(chunk);
	return 0;
}
