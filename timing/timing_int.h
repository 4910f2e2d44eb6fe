/*
 * timing_int.h — private to timing/: the scheduler's op, edge, link and
 * unit records, the hazard map and the route model.
 */
#ifndef KB_TIMING_INT_H
#define KB_TIMING_INT_H

#include "timing.h"

/* ---- links and routes (model.c) ---- */

typedef enum link_kind { L_HBM, L_TCM, L_SRAM, L_NOC_OUT, L_NOC_IN, L_CUBE, L_SIP, L_PCIE, L_KIND_COUNT } link_kind;

/* One directional link or memory port: reserved for bytes / bandwidth per
 * transfer, so concurrent transfers queue behind each other. */
typedef struct link {
	int64_t free_at, busy_ps, bytes, transfers;
	int32_t last_op;   /* the op that reserved it last (index), -1 none */
	double gbps;
	int64_t latency_ps;
} link;

#define MAX_ROUTE 80

typedef struct route {
	int32_t links[MAX_ROUTE];
	int n;
	int64_t latency_ps; /* sum over the path (memory, hops, switches) */
	double min_gbps;
} route;

typedef struct model {
	const kb_machine *m;
	kb_cost cost;
	link *links;
	int32_t n_links;
	int32_t base[L_KIND_COUNT]; /* first index of each kind */
	int sip_side;               /* torus/mesh SIP grids: side length */
} model;

int model_init(model *md, const kb_machine *m, kb_error *err);
void model_release(model *md);
/* The path from PE (sip, cube, pe) to the memory holding pa. */
int model_route(const model *md, int sip, int cube, int pe, const kb_physaddr *pa, route *r);
/* The host path to the memory holding pa: PCIe (if carry_bytes) + memory. */
void model_host_route(const model *md, const kb_physaddr *pa, bool carry_bytes, route *r);
/* Reserves the route's links from ts for bytes for op; returns when the
 * data lands. */
int64_t model_transfer(model *md, const route *r, int64_t ts, int64_t bytes, int32_t op);
/* The latest time any link of the route is free, and the op holding it. */
int64_t model_route_free(const model *md, const route *r, int32_t *holder);
void model_link_name(const model *md, int32_t idx, char *buf, size_t cap, const char **kind);

/* ---- hazards (deps.c) ---- */

typedef struct hazmap hazmap;

/* A predecessor found for the op being analysed. */
typedef struct pred {
	int32_t op;
	uint8_t reason; /* kb_wait */
} pred;

typedef struct pred_buf {
	pred *v;
	size_t n, cap;
} pred_buf;

int pred_push(pred_buf *b, int32_t op, uint8_t reason);

hazmap *hazmap_new(void);
void hazmap_free(hazmap *h);
/* Records that op reads (write = false) or writes [lo, hi); appends the ops
 * it must follow (RAW, WAR, WAW) to out. */
int hazmap_access(hazmap *h, uint64_t lo, uint64_t hi, int32_t op, bool write, pred_buf *out);
size_t hazmap_bytes(const hazmap *h);

#endif
