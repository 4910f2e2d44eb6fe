/*
 * timing_int.h — private to timing/: the scheduler's op, edge, link and
 * unit records, the hazard map and the route model.
 */
#ifndef KB_TIMING_INT_H
#define KB_TIMING_INT_H

#include "timing.h"

/* ---- links, routes and bandwidth sharing (model.c, fabric.c) ---- */

typedef enum link_kind { L_HBM, L_TCM, L_SRAM, L_NOC_OUT, L_NOC_IN, L_CUBE, L_SIP, L_PCIE, L_KIND_COUNT } link_kind;

/* An active flow on a link, with its rate beside it (the filling's
 * component walk reads rates link by link, not flow by flow). */
typedef struct act_ent {
	double rate;
	int32_t id;               /* fabric id */
} act_ent;

/* One one-way link or memory port. Its active flows share its bandwidth;
 * the statistics are per link, so per direction. */
typedef struct link {
	double gbps;
	int64_t latency_ps;
	act_ent *act;             /* active flows */
	int32_t n_act;
	size_t cap_act;
	uint8_t kind;             /* link_kind */
	int64_t busy_ps, active_since, bytes, transfers;
	double stall_ps;          /* time flows lost to sharing while this link held them */
} link;

/* The longest route: a DMA crosses its memory, the source NoC port, at
 * most KB_MAX_SIPS - 1 SIP links (a ring's shorter way or a mesh's X then
 * Y: fewer), at most KB_MAX_CUBES - 1 cube links (XY on a w x h mesh:
 * w - 1 + h - 1 <= w * h - 1), the destination NoC port and the TCM. A host
 * write adds PCIe and skips the SIP links. The machine's limits bound it,
 * so no route is ever truncated (add() asserts it). */
#define MAX_ROUTE (4 + (KB_MAX_SIPS - 1) + (KB_MAX_CUBES - 1))

typedef struct route {
	int32_t links[MAX_ROUTE];
	int n;
	int64_t latency_ps; /* sum over the path (memory, hops, switches) */
	double min_gbps;
} route;

/* A transfer in flight. */
typedef struct flow {
	int32_t op, n;
	double remaining;         /* bytes not yet moved at t_last */
	double rate, bound, r0;   /* GB/s now, its own cap (0 none), uncontended */
	int64_t t_last, latency_ps;
	int64_t t_begin, bytes0;  /* when it started and what it moves (the load series) */
	int32_t bottleneck;       /* index into links of the link holding it, -1 none */
	uint32_t version;
	int32_t next_free;
	int32_t entry;            /* while filling: its bound's entry in comp_share, -1 none */
	double ebound;            /* while filling: its bound and its single-flow links' bandwidth, the least */
	uint8_t fixed;
	int32_t links[MAX_ROUTE];
	int32_t pos[MAX_ROUTE];   /* its index in each link's act list */
	double stall_on[MAX_ROUTE];
} flow;

typedef struct fabric {
	flow *flows;
	size_t n_flows, cap_flows;
	int32_t free_head;
	int32_t *comp_links, *comp_flows, *dirty, *changed;
	/* progressive filling, per comp_links entry (dense: the hot loop
	 * touches nothing else): bandwidth not yet given out, flows not yet
	 * frozen, left / unfixed (INFINITY once no flow is left to fix) */
	double *comp_left, *comp_share;
	int32_t *comp_unfixed;
	int32_t *comp_pos;        /* per link: its index in comp_links while resolving */
	uint32_t *link_mark, *flow_mark; /* component walk epoch, per link and per flow slot */
	size_t flow_mark_cap;
	/* since the last resolve: the flows started (their rates' lower
	 * bounds are known at the resolve) and the smallest rate of a flow
	 * that ended; flows slower than both keep their rates */
	int32_t *added;
	size_t n_added, added_cap;
	double theta;
	double *blk_min;          /* per block of SHARE_BLOCK entries: the smallest share */
	int32_t *blk_arg;         /* ... and the first entry holding it */
	int32_t *entry_flow;      /* entries past the links: the flow whose bound each is */
	size_t comp_flows_cap, n_dirty, dirty_cap, n_changed, changed_cap, share_cap, entry_cap, blk_cap;
	uint32_t epoch;
	bool oom;
} fabric;

/* Bytes per link kind over time, in buckets that double in width when the
 * run outgrows them (at most LOAD_BUCKETS): the link-load counters. */
#define LOAD_BUCKETS 4096
typedef struct load_series {
	double *bytes;            /* L_KIND_COUNT x LOAD_BUCKETS */
	int64_t width_ps;
	int32_t used;             /* buckets up to the latest end */
} load_series;

typedef struct model {
	const kb_machine *m;
	kb_cost cost;
	link *links;
	int32_t n_links;
	int32_t base[L_KIND_COUNT]; /* first index of each kind */
	int sip_side;               /* torus/mesh SIP grids: side length */
	fabric fab;
	load_series load;
} model;

/* What a finished flow reports. */
typedef struct flow_result {
	int64_t latency_ps;
	double stall_ps;
	int32_t stall_link;         /* the link that cost it most, -1 none */
} flow_result;

int timing__model_init(model *md, const kb_machine *m, kb_error *err);
void timing__model_release(model *md);
/* A DMA between PE (sip, cube, pe)'s scratch and the memory holding pa:
 * memory -> PE for a read, PE -> memory for a write; both ends' ports. */
void timing__dma_route(const model *md, int sip, int cube, int pe, const kb_physaddr *pa, bool read, route *r);
/* Host -> device: PCIe, the cube mesh from the PCIe cube (0), the memory. */
void timing__host_route(const model *md, int sip, int cube, const kb_physaddr *pa, bool over_pcie, route *r);
/* A PE's own TCM port (GEMM / MATH operands), with no latency. */
void timing__tcm_route(const model *md, int sip, int cube, int pe, route *r);
void timing__link_name(const model *md, int32_t idx, char *buf, size_t cap, const char **kind, const char **dir);
int timing__link_kind(const model *md, int32_t idx);

int64_t timing__fabric_ps(double bytes, double gbps);
int timing__fabric_init(fabric *fb, int32_t n_links);
void timing__fabric_release(fabric *fb, link *links, int32_t n_links);
/* Starts a flow of bytes over r (bound_gbps 0: no cap of its own); -1 on
 * out of memory. Flows whose rate changed are listed in fab.changed. */
int32_t timing__fabric_start(model *md, const route *r, int64_t bytes, double bound_gbps, int32_t op, int64_t now);
/* Recomputes the rates of the components touched since the last call. */
int timing__fabric_resolve(model *md, int64_t now);
/* When flow f will have moved its last byte at its current rate. */
int64_t timing__fabric_eta(const model *md, int32_t f);
/* Ends flow f at now; it leaves every link. */
void timing__fabric_finish(model *md, int32_t f, int64_t now, flow_result *out);

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

int timing__pred_push(pred_buf *b, int32_t op, uint8_t reason);

hazmap *timing__hazmap_new(void);
void timing__hazmap_free(hazmap *h);
/* Records that op reads (write = false) or writes [lo, hi); appends the ops
 * it must follow (RAW, WAR, WAW) to out. */
int timing__hazmap_access(hazmap *h, uint64_t lo, uint64_t hi, int32_t op, bool write, pred_buf *out);
size_t timing__hazmap_bytes(const hazmap *h);

/* ---- the dependency graph (graph.c), the schedule (schedule.c) and the
 * store (store.c); timing.c runs them in turn ---- */

/* Simulated times stay below this (saturated costs cannot overflow). */
#define KB_MAX_SIM_PS INT64_C(1000000000000000000)

/* One op of the graph: what it is, where it runs, what it moves. Built
 * once per trace and only read afterwards (any number of schedules, in
 * any number of threads, share it). */
typedef struct top {
	int64_t bytes;           /* moved; for GEMM / MATH the operand bytes through the TCM port */
	union {
		int64_t flops;   /* GEMM / MATH work */
		uint64_t mem_pa; /* DMA, IPCQ, host write / fill: the memory side */
	};
	int32_t launch;          /* trace launch id; 0 = host stream */
	int32_t pending;         /* start predecessors (a schedule counts its own copy down) */
	int32_t aux;             /* launch: its PE ops; IPCQ send / recv: the channel index */
	int32_t next;            /* next op on the same PE or host stream, -1 none */
	int16_t sip, cube, pe;   /* checked against the machine before they are narrowed */
	uint8_t kind;
} top; /* 40 bytes */

/* One op in one schedule: its times and why it waited. */
typedef struct opst {
	int64_t t_start;         /* until the op starts: when its last predecessor released it */
	int64_t t_end;
	int64_t stall;           /* ps lost waiting for a unit or to link sharing */
	int64_t queue;           /* ps from ready (every predecessor released it) to start */
	int32_t pending;         /* start predecessors not yet released */
	int32_t left;            /* launch: PE ops not yet finished */
	int32_t wait_op;         /* index of the op that set the release time, -1 none */
	int32_t stall_link;      /* the link that cost it most, -1 none */
	uint8_t wait : 7, scheduled : 1;
} opst; /* 56 bytes per op and schedule */

typedef struct edge {
	int32_t to;
	uint8_t reason;
} edge;

typedef struct graph {
	top *ops;
	int32_t n;
	int32_t *succ_at;       /* CSR: successors of op i are succ[succ_at[i] .. succ_at[i+1]) */
	edge *succ;
	int64_t n_edges;
	int64_t *launch_op;     /* launch id -> op index */
	int64_t n_launches;
	struct tchan *chans;    /* IPCQ channels, by table id - 1 */
	int32_t n_chans;
	kb_progress *progress;  /* NULL: none */
} graph;

/* An IPCQ channel of the graph: the op of its k-th send and k-th recv
 * (-1 none), its slots, the credit message's size, its ends. */
typedef struct tchan {
	int32_t *send, *recv;
	size_t n_send, n_recv, cap_send, cap_recv;
	int32_t n_slots;
	int64_t credit_bytes;
	int16_t src[3], dst[3];
	int8_t src_dir, dst_dir;
} tchan;

/* A channel in one schedule: the credit message's cost on this run's
 * machine, the messages sent and received so far. */
typedef struct chst {
	int64_t credit_ps, sends_done, recvs_done;
} chst;

typedef struct heap_item {
	int64_t key;
	int32_t id;       /* op index; flow id for a flow completion */
	uint32_t version; /* flow completion: the flow version it was computed for */
	uint8_t type;     /* EV_* */
} heap_item;

typedef struct heap {
	heap_item *v;
	size_t n, cap;
} heap;

/* Event kinds, in the order they run at equal times: what frees a unit
 * or a link runs before anything that could claim it. */
enum { EV_FLOW_DONE, EV_OP_DONE, EV_FLOW_START, EV_READY };

typedef struct units {
	int32_t *on;             /* per PE: slots (DMA engines, GEMM, MATH, IPCQ): the op on it, -1 free */
	int32_t *parked;         /* per PE: the op waiting for a unit, -1 none */
	int64_t *busy, *ops;     /* per PE x U_COUNT */
	int64_t *host_busy, *host_ops;
	int32_t *host_out;       /* per rank: host data ops not yet landed */
	int64_t *host_landed;    /* per rank: when the last of them lands */
	int32_t *host_parked;    /* per rank: a launch waiting for them */
	int engines, slots;
} units;

enum { U_DMA, U_GEMM, U_MATH, U_IPCQ, U_COUNT };

typedef struct sched {
	const graph *g;
	opst *st;                /* per op */
	chst *ch;                /* per channel */
	model md;
	units u;
	heap q;
	const kb_machine *m;
	int64_t done;
	kb_progress *progress;   /* NULL: none */
} sched;

/* The graph of a trace: ops, successor lists, launches and channels. */
int timing__graph_build(kb_db *db, const kb_machine *m, graph *g, size_t *peak, kb_error *err);
void timing__graph_release(graph *g);

/* The schedule of one run on a built graph. */
/* Sets up s to schedule g on m: the per-op and per-channel state, the
 * units, the timing model. timing__sched_release frees what it holds. */
int timing__sched_init(sched *s, const graph *g, const kb_machine *m, kb_error *err);
void timing__sched_release(sched *s);
/* 0, or -1 with err (status KB_E_DEADLOCK when some ops can never start). */
int timing__schedule(sched *s, kb_error *err);
char *timing__pointer_dump(const sched *s);

/* Stores the scheduled run through w: op times, launch and range spans,
 * unit and link usage, the link-load series. */
int timing__store(kb_run_writer *w, const sched *s, kb_db *db, kb_error *err);

#endif
