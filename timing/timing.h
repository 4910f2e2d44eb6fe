/*
 * timing.h — the analytic timing pass (kb-time).
 *
 * Reads a trace's ops, derives their dependencies (program order, host
 * stream order, launches, and RAW/WAR/WAW hazards from the recorded
 * physical address ranges), then list-schedules them with an event queue
 * against the machine's units and links. The result is a timing run stored
 * in the same file: per-op start/end and what each op waited on, launch and
 * range spans, unit busy time and link traffic.
 *
 * Cost model (all times integer picoseconds; see kb_cost_* below):
 *   links  = every link is a one-way channel (NoC out / in per PE, E W N S
 *            mesh and SIP links per cube, PCIe per SIP) and every memory a
 *            port (HBM slice, TCM, cube SRAM). A transfer is a flow over the
 *            links of its route, from where the data is to where it goes
 *            (memory -> PE for reads, PE -> memory for writes). Active flows
 *            share each link max-min fairly (progressive filling, as in
 *            SimGrid): rates are recomputed when a flow starts or ends, for
 *            the flows sharing links with it only. A flow alone moves B bytes
 *            in ceil(B / min bandwidth); k equal flows on one link each take
 *            k times that; a flow never waits for a link it does not share.
 *   DMA    = engine busy for setup + injection (the flow); the op ends a
 *            route latency (Σ link latencies + switches) after its last byte:
 *            uncontended  t0 + setup + B / min(bw) + Σ latency.
 *            Both ends are charged: the PE's TCM port and the memory port.
 *   GEMM   = setup cycles, then the operand bytes (inputs and output) stream
 *            through the PE's TCM port at most at bytes / compute time, so
 *            alone it takes (setup + ceil(M·N·K / MACs per cycle)) cycles and
 *            slows down only when the TCM port (shared with DMAs) is short
 *   math   = likewise, compute (setup + ceil(work / lanes) · factor) cycles,
 *            factor = transcendental_factor for exp, log, sqrt; softmax
 *            (recorded as KB_SOFTMAX_PASSES passes) costs ceil(n / lanes) ·
 *            (passes - 1 + transcendental_factor) after setup
 *   launch = waits until the rank's earlier host ops have landed, then PCIe
 *            + IO_CPU + M_CPU + dispatch before the PEs start; it ends when
 *            its last PE op ends
 *   host write / fill / map message = in order per rank and pipelined: the
 *            next starts when this one's bytes are injected; bytes cross PCIe
 *            and the mesh from cube 0 to the target memory (a fill only the
 *            memory port); it lands PCIe + IO_CPU + M_CPU + route latency
 *            after its last byte.
 *   IPCQ   = a send runs on the PE's IPCQ unit (setup + injection) over the
 *            route from its scratch to the receiver's rx slot and lands a
 *            route latency later; send k of a channel feeds recv k (data
 *            edge), and needs recv k - n_slots to have freed its slot plus
 *            the credit message (reverse route latency + credit bytes at
 *            its bottleneck; credits share no links). A recv is a local
 *            DMA from the slot. A schedule that cannot finish is a deadlock
 *            (status KB_E_DEADLOCK) with a pointer dump in diagnostics.
 * Stall: an op's stall_ps is the time it waited for a unit plus the time
 * its flow lost to sharing (dt · (1 − rate / uncontended rate)), charged to
 * the link that held it (stall_link; per link in link_usage.stall_ps).
 */
#ifndef KB_TIMING_H
#define KB_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "machine.h"

/* Why an op started when it did (enum_wait in the trace). */
typedef enum kb_wait {
	KB_WAIT_NONE = 0,
	KB_WAIT_ORDER,      /* program order on its PE */
	KB_WAIT_DEPENDENCY, /* a data hazard on an address range */
	KB_WAIT_UNIT,       /* its unit (DMA engine, GEMM, MATH) was busy */
	KB_WAIT_LINK,       /* a link or memory port on its path was busy */
	KB_WAIT_HOST,       /* the rank's in-order host stream */
	KB_WAIT_LAUNCH,     /* the launch had not reached the PEs yet */
	KB_WAIT_CREDIT,     /* IPCQ: no free slot at the receiver */
	KB_WAIT_DATA,       /* IPCQ: the message had not landed */
} kb_wait;

/* Per-quantity costs in picoseconds, from the topology. */
typedef struct kb_cost {
	int64_t cycle_ps;
	int64_t dma_setup_ps, gemm_setup_cycles, gemm_macs;
	int64_t math_setup_cycles, math_lanes, math_transcendental;
	int64_t launch_ps;          /* host path before the PEs start */
	int64_t host_control_ps;    /* PCIe + IO_CPU + M_CPU latencies */
	double pcie_gbps;
} kb_cost;

void kb_cost_init(kb_cost *c, const kb_machine *m);
/* Time to move bytes at gbps (decimal GB/s), rounded up to a picosecond. */
int64_t kb_cost_transfer_ps(int64_t bytes, double gbps);
int64_t kb_cost_gemm_ps(const kb_cost *c, int64_t macs);
int64_t kb_cost_math_ps(const kb_cost *c, kb_op_kind kind, int64_t work);

/* The path of a DMA between PE (sip, cube, pe) and physical address pa:
 * memory -> PE for a read, PE -> memory for a write. */
typedef struct kb_route_info {
	int hops;                /* links and memory ports on the path */
	int64_t latency_ps;      /* sum of their latencies (switches included) */
	double bottleneck_gbps;  /* the slowest of them */
	char path[512];          /* "sip0.cube0.pe0.noc_out > sip0.cube0.E > ..." */
} kb_route_info;

int kb_time_route(const kb_machine *m, int sip, int cube, int pe, uint64_t pa, bool read, kb_route_info *out,
		  kb_error *err);

typedef struct kb_time_options {
	const char *label;        /* NULL: "run<N>" */
	bool replace;             /* replace an existing run of that label */
	const char *source;       /* where the topology came from */
	const char *overrides;    /* "key=value" lines applied */
	kb_progress *progress;    /* NULL: no progress line */
} kb_time_options;

typedef struct kb_time_result {
	int64_t run_id;
	char label[64];
	int64_t total_ps;
	int64_t n_ops;
	int64_t n_edges;          /* dependency edges (data, order, launch, IPCQ) */
	int64_t peak_bytes;       /* scheduler memory high-water mark */
	double read_s, schedule_s, write_s;
	char *diagnostics;        /* malloc'd, caller frees: the IPCQ pointer dump of a deadlock */
} kb_time_result;

/* Times the trace open in db (writable) on machine m and stores a run.
 * Everything is written in one transaction: a failure changes nothing. */
int kb_time_trace(kb_db *db, const kb_machine *m, const kb_time_options *opt, kb_time_result *res, kb_error *err);

/* ---- what-if points: the graph once, any number of schedules ---- */

/* A trace's dependency graph, read-only once built: schedules on any
 * machine of the trace's structure (kb_time_check_structure) share it,
 * from any number of threads. */
typedef struct kb_time_graph kb_time_graph;
int kb_time_graph_build(kb_db *db, const kb_machine *m, kb_progress *progress, kb_time_graph **out, kb_error *err);
void kb_time_graph_free(kb_time_graph *g);
int64_t kb_time_graph_ops(const kb_time_graph *g);
/* Calls fn for every edge (op ids from -> to, its kb_wait reason), by
 * successor list. */
typedef int (*kb_time_edge_fn)(void *ctx, int64_t from, int64_t to, int reason, kb_error *err);
int kb_time_graph_edges(const kb_time_graph *g, kb_time_edge_fn fn, void *ctx, kb_error *err);

/* The link classes of the summary (a link's kind). */
#define KB_LINK_CLASSES(X) X(hbm) X(tcm) X(sram) X(noc_out) X(noc_in) X(cube_link) X(sip_link) X(pcie)
enum { KB_LINK_CLASS_COUNT = 8 };
/* Unit kinds: PE engines, then the ranks' host streams. */
enum { KB_UNIT_DMA, KB_UNIT_GEMM, KB_UNIT_MATH, KB_UNIT_IPCQ, KB_UNIT_HOST, KB_UNIT_KIND_COUNT };

typedef struct kb_time_collective {
	int64_t call;
	char algorithm[64];
	int64_t bytes, world_size;  /* per rank */
	int64_t time_ps;            /* first launch start to last launch end over its ranks */
	double algbw_gbps, busbw_gbps;
	kb_coll_type type;
} kb_time_collective;

/* One point's results, without op rows. */
typedef struct kb_time_summary {
	int64_t total_ps;           /* the run's span */
	int64_t host_ps;            /* before the first launch starts: host setup */
	int64_t device_ps;          /* first launch start to the last launch end */
	struct {
		char link[96];          /* the busiest link of the class ("" if none moved bytes) */
		double busy_pct;        /* its busy time over the run */
		int64_t bytes, stall_ps;
	} busiest[KB_LINK_CLASS_COUNT];
	double unit_pct[KB_UNIT_KIND_COUNT]; /* busy over (units that worked x the run) */
	kb_time_collective *collectives;     /* malloc'd, by call */
	int n_collectives;
	struct kb_time_range {
		char label[64];
		int64_t time_ps;        /* its first op's start to its last op's end, over every rank */
	} *ranges;                  /* malloc'd, by label in first-seen order */
	int n_ranges;
	char *diagnostics;          /* a deadlock's pointer dump (malloc'd) */
	double wall_s;              /* the point's schedule, wall time */
} kb_time_summary;
void kb_time_summary_release(kb_time_summary *s);
const char *kb_link_class_name(int k);
const char *kb_unit_kind_name(int k);

/* Schedules g on m (same structure as the trace) and sums the run up:
 * 0, or -1 with err (status KB_E_DEADLOCK: sum->diagnostics holds the
 * pointer dump). */
int kb_time_point(const kb_time_graph *g, const kb_machine *m, kb_time_summary *sum, kb_error *err);

/* Runs n points on a pool of `threads` (0: the cores), each on its own
 * machine; rc[i] and errs[i] say how each ended. done (if not NULL) is
 * called with point i as soon as it ends, from the thread that ran it, one
 * call at a time. progress (a phase the caller began) is shown at base +
 * the points done. */
typedef void (*kb_time_point_done_fn)(void *ctx, int i);
void kb_time_points(const kb_time_graph *g, const kb_machine *const *m, int n, int threads, kb_time_summary *sum,
		    int *rc, kb_error *errs, kb_time_point_done_fn done, void *ctx, kb_progress *progress,
		    int64_t base);

/* Checks that m has the structure (counts and sizes) the trace was recorded
 * on; timing parameters may differ freely. */
int kb_time_check_structure(const kb_topo_cfg *recorded, const kb_topo_cfg *now, kb_error *err);

#endif
