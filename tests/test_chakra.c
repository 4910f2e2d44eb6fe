/*
 * test_chakra.c — the Chakra ET wire format: nodes written and read back,
 * hand-made bytes in every integer form the reader accepts, unknown fields
 * skipped, and damage named by its byte offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "chakra.h"

/* A node with every field kernbench writes survives a write and a read. */
static void node_round_trip(void **state)
{
	(void)state;
	uint64_t deps[] = {7, 9, 3};
	kb_et_node n = {.id = 42, .name = "fc1", .type = KB_ET_COMP, .deps = deps, .n_data = 2, .n_deps = 3,
			.duration_us = 11, .has_num_ops = true, .num_ops = INT64_C(1) << 40, .tensor_size = 4096,
			.has_comm_src = true, .comm_src = 3, .has_comm_dst = true, .comm_dst = 5, .has_comm_tag = true,
			.comm_tag = -2, .kb_pe = 17, .kb_kind = KB_OP_GEMM};
	kb_et_buf b = {0};
	kb_et_put_metadata(&b, "0.0.4");
	kb_et_put_node(&b, &n);
	assert_false(b.failed);
	kb_et_rank r;
	kb_error err = {0};
	assert_int_equal(kb_et_decode(b.p, b.n, 0, &r, &err), 0);
	assert_string_equal(r.version, "0.0.4");
	assert_int_equal(r.n, 1);
	const kb_et_node *g = &r.nodes[0];
	assert_int_equal(g->id, 42);
	assert_string_equal(g->name, "fc1");
	assert_int_equal(g->type, KB_ET_COMP);
	assert_int_equal(g->n_data, 2);
	assert_int_equal(g->n_deps, 3);
	assert_int_equal(g->deps[0], 7);
	assert_int_equal(g->deps[1], 9);
	assert_int_equal(g->deps[2], 3); /* ctrl_deps after data_deps */
	assert_int_equal(g->duration_us, 11);
	assert_true(g->has_num_ops);
	assert_int_equal(g->num_ops, INT64_C(1) << 40);
	assert_int_equal(g->tensor_size, 4096);
	assert_int_equal(g->comm_src, 3);
	assert_int_equal(g->comm_dst, 5);
	assert_int_equal(g->comm_tag, -2);
	assert_int_equal(g->kb_pe, 17);
	assert_int_equal(g->kb_kind, KB_OP_GEMM);
	assert_false(g->is_cpu_op);
	assert_int_equal(g->offset, 8); /* after the 1 + 7 bytes of GlobalMetadata{"0.0.4"} */
	kb_et_rank_free(&r);
	free(b.p);
}

/* GlobalMetadata{version "v"}, then Node{...} from raw field bytes. */
static size_t frame(uint8_t *out, const uint8_t *node, size_t len)
{
	static const uint8_t meta[] = {3, 0x0a, 1, 'v'};
	memcpy(out, meta, sizeof meta);
	out[sizeof meta] = (uint8_t)len;
	memcpy(out + sizeof meta + 1, node, len);
	return sizeof meta + 1 + len;
}

/* Hand-made bytes: unpacked deps, sint64 (zigzag), fixed64 and uint32
 * attributes, a bool, unknown fields of every wire type skipped. */
static void integer_forms_and_unknown_fields(void **state)
{
	(void)state;
	static const uint8_t node[] = {
		0x08, 0x05,                         /* id 5 */
		0x18, 0x07,                         /* type COMM_COLL */
		0x28, 0x01, 0x28, 0x02,             /* data_deps 1, 2 (unpacked) */
		0x78, 0x2a,                         /* field 15 varint: unknown */
		0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, /* field 16 fixed64: unknown */
		0x8d, 0x01, 1, 2, 3, 4,             /* field 17 fixed32: unknown */
		/* attr comm_type sint64 -> zigzag 14 = 7 */
		0x52, 0x0e, 0x0a, 0x09, 'c', 'o', 'm', 'm', '_', 't', 'y', 'p', 'e', 0x88, 0x01, 0x0e,
		/* attr comm_size fixed64 65536 */
		0x52, 0x15, 0x0a, 0x09, 'c', 'o', 'm', 'm', '_', 's', 'i', 'z', 'e', 0xa9, 0x01, 0, 0, 1, 0, 0, 0, 0, 0,
		/* attr is_cpu_op bool true */
		0x52, 0x0e, 0x0a, 0x09, 'i', 's', '_', 'c', 'p', 'u', '_', 'o', 'p', 0xd8, 0x01, 0x01,
		/* attr comm_src uint32 4 */
		0x52, 0x0c, 0x0a, 0x08, 'c', 'o', 'm', 'm', '_', 's', 'r', 'c', 0x58, 0x04,
	};
	uint8_t buf[256];
	size_t n = frame(buf, node, sizeof node);
	kb_et_rank r;
	kb_error err = {0};
	assert_int_equal(kb_et_decode(buf, n, 3, &r, &err), 0);
	assert_int_equal(r.n, 1);
	const kb_et_node *g = &r.nodes[0];
	assert_int_equal(g->id, 5);
	assert_int_equal(g->type, KB_ET_COMM_COLL);
	assert_int_equal(g->n_deps, 2);
	assert_int_equal(g->deps[1], 2);
	assert_true(g->has_comm_type);
	assert_int_equal(g->comm_type, 7);
	assert_int_equal(g->comm_size, 65536);
	assert_true(g->is_cpu_op);
	assert_int_equal(g->comm_src, 4);
	assert_string_equal(g->name, "");
	kb_et_rank_free(&r);
}

static void damage_named_by_offset(void **state)
{
	(void)state;
	kb_et_rank r;
	kb_error err = {0};
	/* a node's length runs past the file */
	static const uint8_t cut[] = {3, 0x0a, 1, 'v', 9, 0x08, 0x01};
	assert_int_equal(kb_et_decode(cut, sizeof cut, 2, &r, &err), -1);
	assert_string_equal(err.msg, "rank 2: byte offset 4: length-delimited field runs past its message");
	/* a varint of 11 bytes inside a node */
	uint8_t buf[64];
	static const uint8_t longv[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	size_t n = frame(buf, longv, sizeof longv);
	assert_int_equal(kb_et_decode(buf, n, 0, &r, &err), -1);
	assert_string_equal(err.msg, "rank 0: byte offset 6: varint longer than 64 bits");
	/* a size of 2^63 */
	static const uint8_t huge[] = {0x52, 0x18, 0x0a, 0x0b, 't', 'e', 'n', 's', 'o', 'r', '_', 's', 'i', 'z', 'e',
				       0x68, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	n = frame(buf, huge, sizeof huge);
	assert_int_equal(kb_et_decode(buf, n, 1, &r, &err), -1);
	assert_string_equal(err.msg, "rank 1: byte offset 5: attribute tensor_size = 9223372036854775808 is outside 0..2^48");
	/* a group (wire type 3) */
	static const uint8_t group[] = {0x7b};
	n = frame(buf, group, sizeof group);
	assert_int_equal(kb_et_decode(buf, n, 0, &r, &err), -1);
	assert_string_equal(err.msg, "rank 0: byte offset 5: unsupported protobuf wire type (groups or garbage)");
	/* nothing at all */
	assert_int_equal(kb_et_decode(buf, 0, 4, &r, &err), -1);
	assert_string_equal(err.msg, "rank 4: byte offset 0: an empty file (no GlobalMetadata)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(node_round_trip),
		cmocka_unit_test(integer_forms_and_unknown_fields),
		cmocka_unit_test(damage_named_by_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
