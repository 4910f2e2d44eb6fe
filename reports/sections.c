/*
 * sections.c — what kb-report computes: the tables of one timing run.
 */
#include "reports.h"
#include "reports_int.h"

#include <stdlib.h>
#include <string.h>

/* Per rank: host setup before the first launch, device time as the union
 * of its launches' spans; kept in temp.kb_device for the other sections. */
static int device_time(sqlite3 *h, int64_t run, rtable *t, kb_error *err)
{
	if (sqlite3_exec(h, "DROP TABLE IF EXISTS temp.kb_device; CREATE TEMP TABLE kb_device(rank INTEGER PRIMARY KEY,"
			    " host_ps INTEGER, device_ps INTEGER, first_ps INTEGER, end_ps INTEGER)", NULL, NULL, NULL) != SQLITE_OK)
		return kb_fail(err, "report: %s", sqlite3_errmsg(h));
	sqlite3_stmt *st, *ins;
	if (sqlite3_prepare_v2(h, "SELECT l.rank, t.t_start_ps, t.t_end_ps FROM launch_times t JOIN launches l"
				  " ON l.id = t.launch_id WHERE t.run_id = ? ORDER BY l.rank, t.t_start_ps", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(h, "INSERT INTO temp.kb_device VALUES(?, ?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK)
		return kb_fail(err, "report: %s", sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, run);
	int64_t rank = -1, first = 0, lo = 0, hi = 0, sum = 0, end = 0;
	int rc = SQLITE_ROW;
	for (;;) {
		rc = sqlite3_step(st);
		int64_t r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
		if (r != rank && rank >= 0) { /* flush the previous rank */
			sum += hi - lo;
			int64_t v[] = {rank, first, sum, first, end};
			for (int k = 0; k < 5; k++)
				sqlite3_bind_int64(ins, k + 1, v[k]);
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		if (rc != SQLITE_ROW)
			break;
		int64_t s = sqlite3_column_int64(st, 1), e = sqlite3_column_int64(st, 2);
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
	sqlite3_finalize(st);
	sqlite3_finalize(ins);
	if (rc != SQLITE_DONE)
		return kb_fail(err, "report: %s", sqlite3_errmsg(h));
	return rtable_query(t, h,
			    "SELECT rank, host_ps, device_ps, end_ps, 100.0 * host_ps / max(end_ps, 1),"
			    " 100.0 * device_ps / max(end_ps, 1) FROM temp.kb_device ORDER BY rank", 0, 0, err);
}

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
	sqlite3 *h = kb_db_handle(db);
	if (kb_report_sql_functions(h))
		return kb_fail(err, "report: %s", sqlite3_errmsg(h));
	int k = 0, rc = 0;
	char sql[2048];
	double engines = kb_report_topo_value(db, "cube.pe_template.components.pe_dma.attrs.engines", 1);
	double clock = kb_report_topo_value(db, "cube.pe_template.clock_ghz", 1);
	double macs = kb_report_topo_value(db, "cube.pe_template.components.gemm.attrs.macs_per_cycle", 1);
	double lanes = kb_report_topo_value(db, "cube.pe_template.components.pe_math.attrs.lanes", 1);
	double tcm = kb_report_topo_value(db, "cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps", 1);

	rtable_init(&t[k], "time", "time per rank (device = union of its launches' spans)", 6, time_cols, "itttpp");
	rc = device_time(h, run, &t[k++], err);

	rtable_init(&t[k], "ranges", "ranges", 4, range_cols, "sitt");
	rc = rc || rtable_query(&t[k++], h,
				"SELECT s.value, g.rank, t.t_start_ps, t.t_end_ps - t.t_start_ps FROM range_times t"
				" JOIN ranges g ON g.id = t.range_id JOIN strings s ON s.id = g.label WHERE t.run_id = ?1"
				" ORDER BY t.t_start_ps, g.id LIMIT CASE WHEN ?2 < 0 THEN -1 ELSE max(?2, 50) END", run, top, err);

	rtable_init(&t[k], "kernels", "kernels (launch spans: host path to last PE op)", 9, stat_cols, "sittttttp");
	rc = rc || rtable_query(&t[k++], h,
				"SELECT s.value, count(*), sum(d), avg(d), kb_median(d), min(d), max(d), kb_stddev(d),"
				" 100.0 * sum(d) / max((SELECT sum(t2.t_end_ps - t2.t_start_ps) FROM launch_times t2"
				" WHERE t2.run_id = ?1), 1) FROM (SELECT l.kernel AS kernel, t.t_end_ps - t.t_start_ps AS d"
				" FROM launch_times t JOIN launches l ON l.id = t.launch_id WHERE t.run_id = ?1) x"
				" JOIN strings s ON s.id = x.kernel GROUP BY x.kernel ORDER BY sum(d) DESC", run, top, err);

	snprintf(sql, sizeof sql,
		 "SELECT k.name, count(*), sum(d), avg(d), kb_median(d), min(d), max(d), kb_stddev(d),"
		 " 100.0 * sum(d) / max((SELECT sum(t_end_ps - t_start_ps) FROM op_times o2 JOIN ops p ON p.id = o2.op_id"
		 " WHERE o2.run_id = ?1 AND p.kind <> %d), 1)"
		 " FROM (SELECT o.kind AS kind, t.t_end_ps - t.t_start_ps AS d FROM op_times t JOIN ops o ON o.id = t.op_id"
		 " WHERE t.run_id = ?1 AND o.kind <> %d) x JOIN enum_op_kind k ON k.id = x.kind"
		 " GROUP BY x.kind ORDER BY sum(d) DESC", KB_OP_LAUNCH, KB_OP_LAUNCH);
	rtable_init(&t[k], "op_kinds", "ops by kind (duration of each op)", 9, stat_cols, "sittttttp");
	rc = rc || rtable_query(&t[k++], h, sql, run, top, err);

	snprintf(sql, sizeof sql,
		 "SELECT unit, e, count(*), sum(ops), min(u), kb_median(u), max(u) FROM (SELECT b.unit AS unit,"
		 " CASE WHEN b.unit = 'dma' THEN %g ELSE 1 END AS e, b.ops AS ops,"
		 " 100.0 * b.busy_ps / (max(d.device_ps, 1) * CASE WHEN b.unit = 'dma' THEN %g ELSE 1 END) AS u"
		 " FROM unit_busy b JOIN temp.kb_device d ON d.rank = b.sip WHERE b.run_id = ?1 AND b.cube >= 0)"
		 " GROUP BY unit ORDER BY max(u) DESC", engines, engines);
	rtable_init(&t[k], "units", "units: utilisation over the PE's device time, per engine (min / median / max over PEs)",
		    7, unit_cols, "siiippp");
	rc = rc || rtable_query(&t[k++], h, sql, run, top, err);

	snprintf(sql, sizeof sql,
		 "WITH w AS (SELECT max(max(device_ps), 1) AS ps FROM temp.kb_device),"
		 " g AS (SELECT sum(o.flops) AS f, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n"
		 "  FROM ops o WHERE o.kind = %d),"
		 " m AS (SELECT sum(o.flops) AS f, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n FROM ops o"
		 "  WHERE o.kind BETWEEN %d AND %d),"
		 " d AS (SELECT sum(o.bytes) AS b, count(DISTINCT o.sip * 100000 + o.cube * 100 + o.pe) AS n FROM ops o"
		 "  WHERE o.kind IN (%d, %d, %d, %d))"
		 " SELECT 'GEMM', g.f, 'FLOP', w.ps, g.f / (w.ps / 1000.0), 2.0 * %g * %g * g.n, 'GFLOP/s',"
		 "  100.0 * g.f / (w.ps / 1000.0) / max(2.0 * %g * %g * g.n, 1e-9) FROM g, w WHERE g.f > 0"
		 " UNION ALL SELECT 'MATH', m.f, 'element ops', w.ps, m.f / (w.ps / 1000.0), %g * %g * m.n, 'G element ops/s',"
		 "  100.0 * m.f / (w.ps / 1000.0) / max(%g * %g * m.n, 1e-9) FROM m, w WHERE m.f > 0"
		 " UNION ALL SELECT 'DMA', d.b, 'bytes (peak: the TCM ports)', w.ps, d.b / (w.ps / 1000.0), %g * d.n, 'GB/s',"
		 "  100.0 * d.b / (w.ps / 1000.0) / max(%g * d.n, 1e-9) FROM d, w WHERE d.b > 0",
		 KB_OP_GEMM, KB_OP_MATH_ADD, KB_OP_MATH_MUL_S, KB_OP_DMA_READ, KB_OP_DMA_WRITE, KB_OP_IPCQ_SEND,
		 KB_OP_IPCQ_RECV, macs, clock, macs, clock, lanes, clock, lanes, clock, tcm, tcm);
	rtable_init(&t[k], "throughput",
		    "throughput over the longest device time (achieved and peak in the rate column's unit; peak: PEs that did"
		    " the work)",
		    8, tp_cols, "sfstffsp");
	rc = rc || rtable_query(&t[k++], h, sql, run, top, err);

	rtable_init(&t[k], "link_classes", "links by class (achieved: bytes over the active window)", 8, class_cols,
		    "siibpfft");
	rc = rc || rtable_query(&t[k++], h,
				"SELECT u.kind, count(*), sum(u.transfers), sum(u.bytes), 100.0 * avg(u.busy_ps) /"
				" max(r.total_ps, 1), 1000.0 * sum(u.bytes) / max(sum(u.busy_ps), 1), max(u.bandwidth_gbps),"
				" sum(u.stall_ps) FROM link_usage u JOIN timing_runs r ON r.id = u.run_id WHERE u.run_id = ?1"
				" AND u.transfers > 0 GROUP BY u.kind ORDER BY sum(u.bytes) DESC", run, top, err);

	rtable_init(&t[k], "links", "busiest links", 8, link_cols, "sssibpft");
	rc = rc || rtable_query(&t[k++], h,
				"SELECT u.link, u.kind, u.direction, u.transfers, u.bytes, 100.0 * u.busy_ps / max(r.total_ps, 1),"
				" 1000.0 * u.bytes / max(u.busy_ps, 1), u.stall_ps FROM link_usage u JOIN timing_runs r"
				" ON r.id = u.run_id WHERE u.run_id = ?1 AND u.transfers > 0 ORDER BY u.busy_ps DESC, u.link"
				" LIMIT ?2", run, top, err);

	rtable_init(&t[k], "collectives", "collectives (busbw = algbw * 2(p-1)/p)", 9, coll_cols, "siissitff");
	if (!rc && kb_db_has_table(db, "collectives"))
		rc = rtable_query(&t[k], h,
				  "SELECT a.value, max(c.bytes), max(c.count), d.name, o.value, max(c.world_size),"
				  " max(lt.t_end_ps) - min(lt.t_start_ps), max(c.bytes) / ((max(lt.t_end_ps) - min(lt.t_start_ps))"
				  " / 1000.0), max(c.bytes) / ((max(lt.t_end_ps) - min(lt.t_start_ps)) / 1000.0) * 2.0 *"
				  " (max(c.world_size) - 1) / max(c.world_size) FROM collectives c"
				  " JOIN strings a ON a.id = c.algorithm JOIN strings o ON o.id = c.redop JOIN enum_dtype d"
				  " ON d.id = c.dtype JOIN launch_times lt ON lt.launch_id = c.launch_id AND lt.run_id = ?1"
				  " GROUP BY c.call, a.value ORDER BY c.call, a.value", run, top, err);
	k++;

	/* critical path: step 0 is the last op; an op's segment runs from its
	 * start to the start of the op after it on the path */
	static const char cp_sql[] =
		KB_CRITICAL_PATH_WALK ", p AS (SELECT cp.step, cp.op_id, CASE WHEN o.launch_id = 0 OR o.cube < 0"
		" THEN printf('sip%d.host', o.sip) ELSE printf('sip%d.cube%d.pe%d', o.sip, o.cube, o.pe) END AS pe_name,"
		" k.name AS kind, w.name AS waited_on, t.t_start_ps, t.t_end_ps,"
		" coalesce(lag(t.t_start_ps) OVER (ORDER BY cp.step), t.t_end_ps) - t.t_start_ps AS seg FROM cp"
		" JOIN op_times t ON t.run_id = ?1 AND t.op_id = cp.op_id JOIN ops o ON o.id = cp.op_id"
		" JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait)";
	snprintf(sql, sizeof sql,
		 "%s SELECT step, op_id, pe_name, kind, waited_on, seg, 100.0 * seg / max((SELECT sum(seg) FROM p), 1)"
		 " FROM p ORDER BY seg DESC, step LIMIT ?2", cp_sql);
	rtable_init(&t[k], "critical_path", "critical path: the longest segments (op start to the next path op's start)",
		    7, cp_cols, "iissstp");
	rc = rc || rtable_query(&t[k++], h, sql, run, top, err);
	snprintf(sql, sizeof sql,
		 "%s SELECT waited_on, count(*), sum(seg), 100.0 * sum(seg) / max((SELECT sum(seg) FROM p), 1) FROM p"
		 " GROUP BY waited_on ORDER BY sum(seg) DESC", cp_sql);
	rtable_init(&t[k], "critical_path_waits", "critical path by what each op waited on", 4, why_cols, "sitp");
	rc = rc || rtable_query(&t[k++], h, sql, run, top, err);

	rtable_init(&t[k], "scratch", "kernel scratch high-water mark per PE (recorded while tracing)", 4, scratch_cols,
		    "sbbp");
	if (!rc && kb_db_has_table(db, "pe_scratch"))
		rc = rtable_query(&t[k], h,
				  "SELECT printf('sip%d.cube%d.pe%d', sip, cube, pe), peak_bytes, capacity_bytes,"
				  " 100.0 * peak_bytes / max(capacity_bytes, 1) FROM pe_scratch ORDER BY peak_bytes DESC,"
				  " sip, cube, pe LIMIT ?2", run, top, err);
	k++;
	*n = k;
	return rc ? -1 : 0;
}
