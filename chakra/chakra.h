/*
 * chakra.h — MLCommons Chakra execution traces (ET) in and out.
 *
 * An ET set is one file per rank, PREFIX.<rank>.et: a stream of messages,
 * each a varint length then its protobuf bytes, the first a GlobalMetadata
 * and every other a Node (Chakra's et_def.proto; the field numbers used
 * here are its). The wire format is decoded here directly: unknown fields
 * are skipped, and damage is one error naming the rank and byte offset.
 *
 * Import (kb-trace chakra) runs each rank's nodes in dependency order as
 * kernbench work on the rank's SIP (chakra_import.c); export (kb-report
 * --chakra) writes one ET per rank from a trace (chakra_export.c).
 */
#ifndef KB_CHAKRA_H
#define KB_CHAKRA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "db.h"
#include "kb.h"

/* Chakra's NodeType and CollectiveCommType numbers. */
enum {
	KB_ET_INVALID = 0, KB_ET_METADATA = 1, KB_ET_MEM_LOAD = 2, KB_ET_MEM_STORE = 3, KB_ET_COMP = 4,
	KB_ET_COMM_SEND = 5, KB_ET_COMM_RECV = 6, KB_ET_COMM_COLL = 7,
};
enum {
	KB_ET_ALL_REDUCE = 0, KB_ET_REDUCE = 1, KB_ET_ALL_GATHER = 2, KB_ET_GATHER = 3, KB_ET_SCATTER = 4,
	KB_ET_BROADCAST = 5, KB_ET_ALL_TO_ALL = 6, KB_ET_REDUCE_SCATTER = 7, KB_ET_REDUCE_SCATTER_BLOCK = 8,
	KB_ET_BARRIER = 9,
};

/* Sizes beyond this (256 TiB) are refused as damage. */
#define KB_ET_MAX_SIZE (INT64_C(1) << 48)

/* One node, with the attributes kernbench reads (has_* when present). */
typedef struct kb_et_node {
	uint64_t id;
	const char *name;        /* in the rank's arena */
	int type;
	uint64_t *deps;          /* data_deps then ctrl_deps */
	int n_data, n_deps;
	uint64_t duration_us;
	int64_t num_ops, tensor_size, comm_type, comm_size, comm_src, comm_dst, comm_tag;
	bool has_num_ops, has_comm_type, has_comm_src, has_comm_dst, has_comm_tag, is_cpu_op;
	/* kernbench's own attributes (an export of a kernbench trace): the PE
	 * (cube * PEs per cube + pe) and the op kind, so that an import puts
	 * the op back where it ran; -1 / 0 when absent */
	int kb_pe, kb_kind;
	int64_t offset;          /* byte offset of the node's message in its file */
} kb_et_node;

typedef struct kb_et_rank {
	kb_et_node *nodes;
	size_t n;
	char version[32];
	char *arena;             /* names and dependency lists */
} kb_et_rank;

typedef struct kb_et_set {
	int n_ranks;
	kb_et_rank *ranks;
	int64_t n_nodes;
} kb_et_set;

/* Reads PREFIX.0.et, PREFIX.1.et, ... until the first missing rank (a
 * PREFIX.<k>.et beyond a gap is an error: a missing rank). */
int kb_et_load(const char *prefix, kb_et_set *out, kb_error *err);
/* Decodes one rank's bytes (what kb_et_load does per file). */
int kb_et_decode(const uint8_t *buf, size_t len, int rank, kb_et_rank *out, kb_error *err);
void kb_et_rank_free(kb_et_rank *r);
void kb_et_free(kb_et_set *s);

/* ---- writing: a message at a time into a growing buffer ---- */
typedef struct kb_et_buf {
	uint8_t *p;
	size_t n, cap;
	bool failed;             /* out of memory: everything after is dropped */
} kb_et_buf;
/* Appends GlobalMetadata{version} as a delimited message. */
void kb_et_put_metadata(kb_et_buf *b, const char *version);
/* Appends n as a delimited Node message. */
void kb_et_put_node(kb_et_buf *b, const kb_et_node *n);

/* ---- import ---- */
/* The bench that kb-trace chakra runs: its workload is the request's arg
 * (a kb_et_set). Parameters (--set chakra.KEY=V): pes_per_node,
 * rank_is_pe. */
extern const kb_bench kb_bench_chakra;

/* ---- export ---- */
typedef struct kb_chakra_export_opts {
	bool collectives;        /* collective calls as COMM_COLL nodes (else their sends and recvs) */
} kb_chakra_export_opts;
/* Writes DIR/<name>.<rank>.et for every rank of the trace; fills *n_ranks
 * and *n_nodes. */
int kb_chakra_export(kb_db *db, const kb_machine *m, const char *dir, const char *name,
		     const kb_chakra_export_opts *o, int *n_ranks, int64_t *n_nodes, kb_error *err);

#endif
