/*
 * sections.c — what kb-report computes: the tables of one timing run.
 */
#include "reports.h"
#include "reports_int.h"

#include <stdlib.h>
#include <string.h>

/* Per rank: host setup before the first launch, device time as the union
 * of its launches' spans; kept in temp.kb_device for the other sections. */
static int device_time(kb_db *db, int64_t run, rtable *t, kb_error *err)
{
	if (kb_db_exec(db, "DROP TABLE IF EXISTS temp.kb_device; CREATE TEMP TABLE kb_device(rank INTEGER PRIMARY KEY,"
			   " host_ps INTEGER, device_ps INTEGER, first_ps INTEGER, end_ps INTEGER)", err))
		return -1;
	kb_query *st = NULL, *ins = NULL;
	if (kb_query_open(db, "SELECT l.rank AS rank, t.t_start_ps AS t_start_ps, t.t_end_ps AS t_end_ps FROM launch_times t"
			  " JOIN launches l ON l.id = t.launch_id WHERE t.run_id = :run ORDER BY l.rank, t.t_start_ps",
			  &st, err) ||
	    kb_query_open(db, "INSERT INTO temp.kb_device VALUES(:rank, :host_ps, :device_ps, :first_ps, :end_ps)", &ins,
			  err)) {
		kb_query_close(st);
		return -1;
	}
	kb_query_bind_int(st, ":run", run);
	int c_rank = kb_query_col(st, "rank"), c_start = kb_query_col(st, "t_start_ps"),
	    c_end = kb_query_col(st, "t_end_ps");
	int64_t rank = -1, first = 0, lo = 0, hi = 0, sum = 0, end = 0;
	int rc;
	for (;;) {
		rc = kb_query_step(st, err);
		int64_t r = rc == 1 ? kb_query_int_at(st, c_rank) : -2;
		if (r != rank && rank >= 0) { /* flush the previous rank */
			sum += hi - lo;
			kb_query_bind_int(ins, ":rank", rank);
			kb_query_bind_int(ins, ":host_ps", first);
			kb_query_bind_int(ins, ":device_ps", sum);
			kb_query_bind_int(ins, ":first_ps", first);
			kb_query_bind_int(ins, ":end_ps", end);
			if (kb_query_step(ins, err) < 0) {
				rc = -1;
				break;
			}
			kb_query_reset(ins);
		}
		if (rc != 1)
			break;
		int64_t s = kb_query_int_at(st, c_start), e = kb_query_int_at(st, c_end);
		if (r != rank) {
			rank = r;
			first = lo = s;
			hi = end = e;
			sum = 0;
			continue;
		}
		if (s > hi) { /* a gap: close the current interval */
			sum += hi - lo;
			lo = s;
			hi = e;
		} else if (e > hi) {
			hi = e;
		}
		if (e > end)
			end = e;
	}
	kb_query_close(st);
	kb_query_close(ins);
	if (rc < 0)
		return -1;
	return reports__rtable_query(t, db,
				     "SELECT rank, host_ps AS host_setup_ps, device_ps, end_ps,"
				     " 100.0 * host_ps / max(end_ps, 1) AS host_pct,"
				     " 100.0 * device_ps / max(end_ps, 1) AS device_pct FROM temp.kb_device ORDER BY rank",
				     0, 0, err);
}

/* The statistics columns of stat_cols over durations d. */
#define KB_STATS_COLS \
	"count(*) AS count, sum(d) AS total_ps, avg(d) AS avg_ps, kb_median(d) AS median_ps, min(d) AS min_ps," \
	" max(d) AS max_ps, kb_stddev(d) AS stddev_ps"

static const char *const time_cols[] = {"rank", "host_setup_ps", "device_ps", "end_ps", "host_pct", "device_pct"};
static const char *const range_cols[] = {"label", "rank", "start_ps", "duration_ps"};
static const char *const stat_cols[] = {"name", "count", "total_ps", "avg_ps", "median_ps", "min_ps", "max_ps",
					"stddev_ps", "share_pct"};
static const char *const unit_cols[] = {"unit", "engines", "pes", "ops", "min_pct", "median_pct", "max_pct"};
static const char *const tp_cols[] = {"what", "amount", "unit", "wall_ps", "achieved", "peak", "rate", "of_peak_pct"};
static const char *const class_cols[] = {"kind", "links", "transfers", "bytes", "busy_pct", "achieved_gbps",
					 "configured_gbps", "stall_ps"};
static const char *const link_cols[] = {"link", "kind", "direction", "transfers", "bytes", "busy_pct",
					"achieved_gbps", "stall_ps"};
static const char *const coll_cols[] = {"algorithm", "size_bytes", "count", "type", "redop", "ranks", "time_ps",
					"algbw_gbps", "busbw_gbps"};
static const char *const cp_cols[] = {"step", "op_id", "pe", "kind", "waited_on", "segment_ps", "share_pct"};
static const char *const why_cols[] = {"waited_on", "ops", "segment_ps", "share_pct"};
static const char *const scratch_cols[] = {"pe", "peak_bytes", "capacity_bytes", "used_pct"};

int kb_report_tables(kb_db *db, int64_t run, int top, rtable *t, int *n, kb_error *err)
{
	int k = 0, rc = 0;
	char sql[2048];
	double engines = kb_report_topo_value(db, "cube.pe_template.components.pe_dma.attrs.engines", 1);
	double clock = kb_report_topo_value(db, "cube.pe_template.clock_ghz", 1);
	double macs = kb_report_topo_value(db, "cube.pe_template.components.gemm.attrs.macs_per_cycle", 1);
	double lanes = kb_report_topo_value(db, "cube.pe_template.components.pe_math.attrs.lanes", 1);
	double tcm = kb_report_topo_value(db, "cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps", 1);

	reports__rtable_init(&t[k], "time", "time per rank (device = union of its launches' spans)", 6, time_cols, "itttpp");
	rc = device_time(db, run, &t[k++], err);

	reports__rtable_init(&t[k], "ranges", "ranges", 4, range_cols, "sitt");
	rc = rc || reports__rtable_query(&t[k++], db,
				"SELECT s.value AS label, g.rank AS rank, t.t_start_ps AS start_ps, t.t_end_ps - t.t_start_ps AS duration_ps"
				" FROM range_times t"
				" JOIN ranges g ON g.id = t.range_id JOIN strings s ON s.id = g.label WHERE t.run_id = :run"
				" ORDER BY t.t_start_ps, g.id LIMIT CASE WHEN :top < 0 THEN -1 ELSE max(:top, 50) END", run, top, err);

	reports__rtable_init(&t[k], "kernels", "kernels (launch spans: host path to last PE op)", 9, stat_cols, "sittttttp");
	rc = rc || reports__rtable_query(&t[k++], db,
				"SELECT s.value AS name, " KB_STATS_COLS ", 100.0 * sum(d) / max((SELECT sum(t2.t_end_ps - t2.t_start_ps)"
				" FROM launch_times t2 WHERE t2.run_id = :run), 1) AS share_pct"
				" FROM (SELECT l.kernel AS kernel, t.t_end_ps - t.t_start_ps AS d"
				" FROM launch_times t JOIN launches l ON l.id = t.launch_id WHERE t.run_id = :run) x"
				" JOIN strings s ON s.id = x.kernel GROUP BY x.kernel ORDER BY sum(d) DESC", run, top, err);

	snprintf(sql, sizeof sql,
		 "SELECT k.name AS name, " KB_STATS_COLS ", 100.0 * sum(d) / max((SELECT sum(t_end_ps - t_start_ps) FROM op_times o2"
		 " JOIN ops p ON p.id = o2.op_id WHERE o2.run_id = :run AND p.kind <> %d), 1) AS share_pct"
		 " FROM (SELECT o.kind AS kind, t.t_end_ps - t.t_start_ps AS d FROM op_times t JOIN ops o ON o.id = t.op_id"
		 " WHERE t.run_id = :run AND o.kind <> %d) x JOIN enum_op_kind k ON k.id = x.kind"
		 " GROUP BY x.kind ORDER BY sum(d) DESC", KB_OP_LAUNCH, KB_OP_LAUNCH);
	reports__rtable_init(&t[k], "op_kinds", "ops by kind (duration of each op)", 9, stat_cols, "sittttttp");
	rc = rc || reports__rtable_query(&t[k++], db, sql, run, top, err);

	snprintf(sql, sizeof sql,
		 "SELECT unit, e AS engines, count(*) AS pes, sum(ops) AS ops, min(u) AS min_pct, kb_median(u) AS median_pct,"
		 " max(u) AS max_pct FROM (SELECT b.unit AS unit,"
		 " CASE WHEN b.unit = 'dma' THEN %g ELSE 1 END AS e, b.ops AS ops,"
		 " 100.0 * b.busy_ps / (max(d.device_ps, 1) * CASE WHEN b.unit = 'dma' THEN %g ELSE 1 END) AS u"
		 " FROM unit_busy b JOIN temp.kb_device d ON d.rank = b.sip WHERE b.run_id = :run AND b.cube >= 0)"
		 " GROUP BY unit ORDER BY max(u) DESC", engines, engines);
	reports__rtable_init(&t[k], "units",
			     "units: utilisation over the PE's device time, per engine (min / median / max over PEs)",
		    7, unit_cols, "siiippp");
	rc = rc || reports__rtable_query(&t[k++], db, sql, run, top, err);

	snprintf(sql, sizeof sql,
		 "WITH w AS (SELECT max(max(device_ps), 1) AS ps FROM temp.kb_device),"
		 " g AS (SELECT sum(o.flops) AS f, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n"
		 "  FROM ops o WHERE o.kind = %d),"
		 " m AS (SELECT sum(o.flops) AS f, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n FROM ops o"
		 "  WHERE o.kind BETWEEN %d AND %d),"
		 " d AS (SELECT sum(o.bytes) AS b, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n FROM ops o"
		 "  WHERE o.kind IN (%d, %d, %d, %d))"
		 " SELECT 'GEMM' AS what, g.f AS amount, 'FLOP' AS unit, w.ps AS wall_ps, g.f / (w.ps / 1000.0) AS achieved,"
		 "  2.0 * %g * %g * g.n AS peak, 'GFLOP/s' AS rate,"
		 "  100.0 * g.f / (w.ps / 1000.0) / max(2.0 * %g * %g * g.n, 1e-9) AS of_peak_pct FROM g, w WHERE g.f > 0"
		 " UNION ALL SELECT 'MATH', m.f, 'element ops', w.ps, m.f / (w.ps / 1000.0), %g * %g * m.n, 'G element ops/s',"
		 "  100.0 * m.f / (w.ps / 1000.0) / max(%g * %g * m.n, 1e-9) FROM m, w WHERE m.f > 0"
		 " UNION ALL SELECT 'DMA', d.b, 'bytes (peak: the TCM ports)', w.ps, d.b / (w.ps / 1000.0), %g * d.n, 'GB/s',"
		 "  100.0 * d.b / (w.ps / 1000.0) / max(%g * d.n, 1e-9) FROM d, w WHERE d.b > 0",
		 KB_OP_GEMM, KB_OP_MATH_ADD, KB_OP_MATH_MUL_S, KB_OP_DMA_READ, KB_OP_DMA_WRITE, KB_OP_IPCQ_SEND,
		 KB_OP_IPCQ_RECV, macs, clock, macs, clock, lanes, clock, lanes, clock, tcm, tcm);
	reports__rtable_init(&t[k], "throughput",
		    "throughput over the longest device time (achieved and peak in the rate column's unit; peak: PEs that did"
		    " the work)",
		    8, tp_cols, "sfstffsp");
	rc = rc || reports__rtable_query(&t[k++], db, sql, run, top, err);

	reports__rtable_init(&t[k], "link_classes", "links by class (achieved: bytes over the active window)", 8, class_cols,
		    "siibpfft");
	rc = rc || reports__rtable_query(&t[k++], db,
				"SELECT u.kind AS kind, count(*) AS links, sum(u.transfers) AS transfers, sum(u.bytes) AS bytes,"
				" 100.0 * avg(u.busy_ps) / max(r.total_ps, 1) AS busy_pct,"
				" 1000.0 * sum(u.bytes) / max(sum(u.busy_ps), 1) AS achieved_gbps,"
				" max(u.bandwidth_gbps) AS configured_gbps, sum(u.stall_ps) AS stall_ps FROM link_usage u"
				" JOIN timing_runs r ON r.id = u.run_id WHERE u.run_id = :run AND u.transfers > 0"
				" GROUP BY u.kind ORDER BY sum(u.bytes) DESC", run, top, err);

	reports__rtable_init(&t[k], "links", "busiest links", 8, link_cols, "sssibpft");
	rc = rc || reports__rtable_query(&t[k++], db,
				"SELECT u.link AS link, u.kind AS kind, u.direction AS direction, u.transfers AS transfers,"
				" u.bytes AS bytes, 100.0 * u.busy_ps / max(r.total_ps, 1) AS busy_pct,"
				" 1000.0 * u.bytes / max(u.busy_ps, 1) AS achieved_gbps, u.stall_ps AS stall_ps FROM link_usage u"
				" JOIN timing_runs r ON r.id = u.run_id WHERE u.run_id = :run AND u.transfers > 0"
				" ORDER BY u.busy_ps DESC, u.link LIMIT :top", run, top, err);

	reports__rtable_init(&t[k], "collectives", "collectives (busbw = algbw x the bus factor of the type)", 9, coll_cols, "siissitff");
	if (!rc && kb_db_has_table(db, "collectives"))
		rc = reports__rtable_query(&t[k], db,
				  "SELECT a.value AS algorithm, max(c.bytes) AS size_bytes, max(c.count) AS count, d.name AS type,"
				  " o.value AS redop, max(c.world_size) AS ranks, max(lt.t_end_ps) - min(lt.t_start_ps) AS time_ps,"
				  " max(c.bytes) / ((max(lt.t_end_ps) - min(lt.t_start_ps)) / 1000.0) AS algbw_gbps,"
				  " max(c.bytes) / ((max(lt.t_end_ps) - min(lt.t_start_ps)) / 1000.0) * "
				  KB_COLL_BUS_FACTOR_SQL("max(c.type)", "max(c.world_size)") " AS busbw_gbps FROM collectives c"
				  " JOIN strings a ON a.id = c.algorithm JOIN strings o ON o.id = c.redop JOIN enum_dtype d"
				  " ON d.id = c.dtype JOIN launch_times lt ON lt.launch_id = c.launch_id AND lt.run_id = :run"
				  " GROUP BY c.call, a.value ORDER BY c.call, a.value", run, top, err);
	k++;

	/* critical path: step 0 is the last op; an op's segment runs from its
	 * start to the start of the op after it on the path */
	static const char cp_sql[] =
		KB_CRITICAL_PATH_WALK ", p AS (SELECT cp.step, cp.op_id, CASE WHEN o.launch_id = 0 OR o.cube < 0"
		" THEN printf('sip%d.host', o.sip) ELSE printf('sip%d.cube%d.pe%d', o.sip, o.cube, o.pe) END AS pe_name,"
		" k.name AS kind, w.name AS waited_on, t.t_start_ps, t.t_end_ps,"
		" coalesce(lag(t.t_start_ps) OVER (ORDER BY cp.step), t.t_end_ps) - t.t_start_ps AS seg FROM cp"
		" JOIN op_times t ON t.run_id = :run AND t.op_id = cp.op_id JOIN ops o ON o.id = cp.op_id"
		" JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait)";
	snprintf(sql, sizeof sql,
		 "%s SELECT step, op_id, pe_name AS pe, kind, waited_on, seg AS segment_ps,"
		 " 100.0 * seg / max((SELECT sum(seg) FROM p), 1) AS share_pct"
		 " FROM p ORDER BY seg DESC, step LIMIT :top", cp_sql);
	reports__rtable_init(&t[k], "critical_path",
			     "critical path: the longest segments (op start to the next path op's start)",
		    7, cp_cols, "iissstp");
	rc = rc || reports__rtable_query(&t[k++], db, sql, run, top, err);
	snprintf(sql, sizeof sql,
		 "%s SELECT waited_on, count(*) AS ops, sum(seg) AS segment_ps,"
		 " 100.0 * sum(seg) / max((SELECT sum(seg) FROM p), 1) AS share_pct FROM p"
		 " GROUP BY waited_on ORDER BY sum(seg) DESC", cp_sql);
	reports__rtable_init(&t[k], "critical_path_waits", "critical path by what each op waited on", 4, why_cols, "sitp");
	rc = rc || reports__rtable_query(&t[k++], db, sql, run, top, err);

	reports__rtable_init(&t[k], "scratch", "kernel scratch high-water mark per PE (recorded while tracing)", 4,
			     scratch_cols,
		    "sbbp");
	if (!rc && kb_db_has_table(db, "pe_scratch"))
		rc = reports__rtable_query(&t[k], db,
				  "SELECT printf('sip%d.cube%d.pe%d', sip, cube, pe) AS pe, peak_bytes, capacity_bytes,"
				  " 100.0 * peak_bytes / max(capacity_bytes, 1) AS used_pct FROM pe_scratch ORDER BY peak_bytes DESC,"
				  " sip, cube, pe LIMIT :top", run, top, err);
	k++;
	*n = k;
	return rc ? -1 : 0;
}
