/*
 * schema.c — the SQL of trace schema v7: tables, post-load indexes, views,
 * the op pack's triggers, and the upgrades of v1 to v6 traces.
 * db/SCHEMA.md documents every column; keep the two in step.
 */
#include "db_int.h"

#define KB_SCHEMA_V3_TABLES \
	"CREATE TABLE IF NOT EXISTS enum_direction(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n" \
	"CREATE TABLE IF NOT EXISTS channels(id INTEGER PRIMARY KEY, src_sip INTEGER NOT NULL," \
	" src_cube INTEGER NOT NULL, src_pe INTEGER NOT NULL, src_dir INTEGER NOT NULL, dst_sip INTEGER NOT NULL," \
	" dst_cube INTEGER NOT NULL, dst_pe INTEGER NOT NULL, dst_dir INTEGER NOT NULL, n_slots INTEGER NOT NULL," \
	" slot_size INTEGER NOT NULL, space INTEGER NOT NULL, rx_pa INTEGER NOT NULL, credit_bytes INTEGER NOT NULL," \
	" src_rank INTEGER NOT NULL, dst_rank INTEGER NOT NULL, install_op_id INTEGER NOT NULL);\n" \
	"CREATE TABLE IF NOT EXISTS collectives(id INTEGER PRIMARY KEY, call INTEGER NOT NULL, rank INTEGER NOT NULL," \
	" algorithm INTEGER NOT NULL, redop INTEGER NOT NULL, dtype INTEGER NOT NULL, count INTEGER NOT NULL," \
	" bytes INTEGER NOT NULL, world_size INTEGER NOT NULL, tensor_id INTEGER NOT NULL, launch_id INTEGER NOT NULL," \
	" first_op_id INTEGER NOT NULL, end_op_id INTEGER NOT NULL, type INTEGER NOT NULL DEFAULT 0);\n" \
	"CREATE TABLE IF NOT EXISTS pe_scratch(sip INTEGER NOT NULL, cube INTEGER NOT NULL, pe INTEGER NOT NULL," \
	" peak_bytes INTEGER NOT NULL, capacity_bytes INTEGER NOT NULL);\n" \
	"CREATE TABLE IF NOT EXISTS expectation_rows(expectation_id INTEGER PRIMARY KEY, blob_id INTEGER NOT NULL);\n"

/* v4: the op pack (oppack.c), and the triggers that delete it when the
 * rows it copies change (then readers decode the rows). */
#define KB_SCHEMA_V4_TABLES \
	"CREATE TABLE IF NOT EXISTS op_pack(first_op_id INTEGER PRIMARY KEY, n_ops INTEGER NOT NULL," \
	" raw_bytes INTEGER NOT NULL, data BLOB NOT NULL);\n"

/* v6: an expectation stated as a formula instead of a blob of values
 * (its blob_id is 0): value + per_row * row + per_col * col over the
 * tensor's 2-D view (a constant, r + 1, an arithmetic ramp). */
#define KB_SCHEMA_V6_TABLES \
	"CREATE TABLE IF NOT EXISTS expectation_ramps(expectation_id INTEGER PRIMARY KEY, value REAL NOT NULL," \
	" per_row REAL NOT NULL, per_col REAL NOT NULL);\n"

/* v7: collective types (collectives.type) and explicit dependencies. */
#define KB_SCHEMA_V7_TABLES \
	"CREATE TABLE IF NOT EXISTS enum_collective(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n" \
	"CREATE TABLE IF NOT EXISTS op_deps(op_id INTEGER NOT NULL, dep_op_id INTEGER NOT NULL," \
	" PRIMARY KEY(op_id, dep_op_id)) WITHOUT ROWID;\n"

#define STALE(table, when) \
	"CREATE TRIGGER IF NOT EXISTS op_pack_stale_" table "_" when " AFTER " when " ON " table \
	" WHEN EXISTS (SELECT 1 FROM op_pack) BEGIN DELETE FROM op_pack; END;\n"

const char kb_schema_pack_triggers[] = STALE("ops", "INSERT") STALE("ops", "UPDATE") STALE("ops", "DELETE")
	STALE("op_operands", "INSERT") STALE("op_operands", "UPDATE") STALE("op_operands", "DELETE");

/* The ops table's columns, from KB_OP_FIELDS: "launch_id INTEGER NOT NULL", ...
 * (an operand kept in ops: its five <name>_<field> columns). */
#define OPS_COLUMN_F(name, type, column, sql, pack, lo, hi) ", " #column " " #sql " NOT NULL"
#define OPS_COLUMN_O(name, bit, table) OPS_COLUMN_O_##table(name)
#define OPS_COLUMN_O_KB_OP_OPERANDS(name)
#define OPS_COLUMN_O_KB_OPS(name) KB_OPERAND_FIELDS(OPS_OPERAND_COLUMN, name)
#define OPS_OPERAND_COLUMN(o, name, type, pack) ", " #o "_" #name " INTEGER NOT NULL"

const char kb_schema_tables[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;\n"
	"CREATE TABLE strings(id INTEGER PRIMARY KEY, value TEXT NOT NULL);\n"
	"CREATE TABLE enum_op_kind(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
	"CREATE TABLE enum_space(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
	"CREATE TABLE enum_dtype(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
	"CREATE TABLE shapes(id INTEGER PRIMARY KEY, ndim INTEGER NOT NULL, d0 INTEGER NOT NULL,"
	" d1 INTEGER NOT NULL, d2 INTEGER NOT NULL, d3 INTEGER NOT NULL, text TEXT NOT NULL);\n"
	"CREATE TABLE ops(id INTEGER PRIMARY KEY" KB_OP_FIELDS(OPS_COLUMN_F, OPS_COLUMN_O) ");\n"
	"CREATE TABLE op_operands(op_id INTEGER NOT NULL, slot INTEGER NOT NULL, space INTEGER NOT NULL,"
	" dtype INTEGER NOT NULL, shape INTEGER NOT NULL, va INTEGER NOT NULL, pa INTEGER NOT NULL,"
	" PRIMARY KEY(op_id, slot)) WITHOUT ROWID;\n"
	"CREATE TABLE launches(id INTEGER PRIMARY KEY, rank INTEGER NOT NULL, kernel INTEGER NOT NULL,"
	" host_op_id INTEGER NOT NULL, n_pes INTEGER NOT NULL, args TEXT NOT NULL,"
	" first_op_id INTEGER NOT NULL, end_op_id INTEGER NOT NULL);\n"
	"CREATE TABLE tensors(id INTEGER PRIMARY KEY, name INTEGER NOT NULL, rank INTEGER NOT NULL,"
	" dtype INTEGER NOT NULL, shape INTEGER NOT NULL, va INTEGER NOT NULL, nbytes INTEGER NOT NULL,"
	" placement TEXT NOT NULL);\n"
	"CREATE TABLE shards(tensor_id INTEGER NOT NULL, sip INTEGER NOT NULL, cube INTEGER NOT NULL,"
	" pe INTEGER NOT NULL, space INTEGER NOT NULL, va INTEGER NOT NULL, pa INTEGER NOT NULL,"
	" offset_bytes INTEGER NOT NULL, nbytes INTEGER NOT NULL, row0 INTEGER NOT NULL,"
	" col0 INTEGER NOT NULL, rows INTEGER NOT NULL, cols INTEGER NOT NULL);\n"
	"CREATE TABLE ranges(id INTEGER PRIMARY KEY, rank INTEGER NOT NULL, parent_id INTEGER NOT NULL,"
	" label INTEGER NOT NULL, first_op_id INTEGER NOT NULL, end_op_id INTEGER NOT NULL);\n"
	"CREATE TABLE blobs(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, dtype INTEGER NOT NULL,"
	" elem_size INTEGER NOT NULL, raw_bytes INTEGER NOT NULL, checksum INTEGER NOT NULL,"
	" codec TEXT NOT NULL, data BLOB NOT NULL);\n"
	"CREATE INDEX blobs_checksum ON blobs(checksum);\n"
	"CREATE TABLE expectations(id INTEGER PRIMARY KEY, tensor_id INTEGER NOT NULL,"
	" blob_id INTEGER NOT NULL, rtol REAL NOT NULL, atol REAL NOT NULL);\n"
	KB_SCHEMA_V3_TABLES
	KB_SCHEMA_V4_TABLES
	KB_SCHEMA_V6_TABLES
	KB_SCHEMA_V7_TABLES
	/* timing runs (kb-time) */
	"CREATE TABLE enum_wait(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
	"INSERT INTO enum_wait VALUES(0, 'none'), (1, 'order'), (2, 'dependency'), (3, 'unit'), (4, 'link'),"
	" (5, 'host'), (6, 'launch'), (7, 'credit'), (8, 'data');\n"
	"CREATE TABLE timing_runs(id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE, topology_source TEXT NOT NULL,"
	" topology_overrides TEXT NOT NULL, topology_effective TEXT NOT NULL, total_ps INTEGER NOT NULL,"
	" n_ops INTEGER NOT NULL, tool_version TEXT NOT NULL);\n"
	"CREATE TABLE op_times(run_id INTEGER NOT NULL, op_id INTEGER NOT NULL, t_start_ps INTEGER NOT NULL,"
	" t_end_ps INTEGER NOT NULL, wait INTEGER NOT NULL, wait_op INTEGER NOT NULL,"
	" stall_ps INTEGER NOT NULL DEFAULT 0, stall_link INTEGER NOT NULL DEFAULT 0,"
	" queue_ps INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(run_id, op_id)) WITHOUT ROWID;\n"
	"CREATE TABLE launch_times(run_id INTEGER NOT NULL, launch_id INTEGER NOT NULL, t_start_ps INTEGER NOT NULL,"
	" t_pe_start_ps INTEGER NOT NULL, t_end_ps INTEGER NOT NULL, PRIMARY KEY(run_id, launch_id)) WITHOUT ROWID;\n"
	"CREATE TABLE range_times(run_id INTEGER NOT NULL, range_id INTEGER NOT NULL, t_start_ps INTEGER NOT NULL,"
	" t_end_ps INTEGER NOT NULL, PRIMARY KEY(run_id, range_id)) WITHOUT ROWID;\n"
	"CREATE TABLE unit_busy(run_id INTEGER NOT NULL, unit TEXT NOT NULL, sip INTEGER NOT NULL,"
	" cube INTEGER NOT NULL, pe INTEGER NOT NULL, ops INTEGER NOT NULL, busy_ps INTEGER NOT NULL);\n"
	"CREATE TABLE link_usage(run_id INTEGER NOT NULL, link TEXT NOT NULL, kind TEXT NOT NULL,"
	" bandwidth_gbps REAL NOT NULL, transfers INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	" busy_ps INTEGER NOT NULL, link_id INTEGER NOT NULL DEFAULT 0, direction TEXT NOT NULL DEFAULT '',"
	" stall_ps INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE INDEX link_usage_id ON link_usage(run_id, link_id);\n";

/* Created by kb-time when it first stores a run. */
const char kb_schema_run_tables[] =
	"CREATE TABLE IF NOT EXISTS link_load(run_id INTEGER NOT NULL, kind TEXT NOT NULL,"
	" t_ps INTEGER NOT NULL, gbps REAL NOT NULL);\n";

/* The row counts a reader checks (kb_db_check): a deleted expectation or
 * shard row is damage, not a smaller check that passes. Written when a
 * trace is committed, and when kb-time upgrades an older one. */
const char kb_schema_counts[] =
	"INSERT OR REPLACE INTO meta SELECT 'count.expectations', CAST(count(*) AS TEXT) FROM expectations"
	" UNION ALL SELECT 'count.shards', CAST(count(*) AS TEXT) FROM shards;\n";

/* v3: IPCQ channels and collective calls (created empty in an upgraded trace). */
const char kb_schema_upgrade_v2[] = KB_SCHEMA_V3_TABLES;

/* v4: an empty op pack (the rows are read until a trace is recorded again). */
const char kb_schema_upgrade_v3[] = KB_SCHEMA_V4_TABLES;

/* v5: the time each op waited from ready to start (older runs: 0). */
const char kb_schema_upgrade_v4[] = "ALTER TABLE op_times ADD COLUMN queue_ps INTEGER NOT NULL DEFAULT 0;\n";

/* v6: expectations stated as formulas (none in an older trace). */
const char kb_schema_upgrade_v5[] = KB_SCHEMA_V6_TABLES;

/* v7: the collective types (an older trace's collectives are all-reduces)
 * and an empty op_deps. */
const char kb_schema_upgrade_v6[] = KB_SCHEMA_V7_TABLES;
const char kb_schema_upgrade_v6_type[] = "ALTER TABLE collectives ADD COLUMN type INTEGER NOT NULL DEFAULT 0;\n";

/* Brings a v1 trace's timing tables to v2 (the columns v2 added). */
const char kb_schema_upgrade_v1[] =
	"ALTER TABLE op_times ADD COLUMN stall_ps INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE op_times ADD COLUMN stall_link INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE link_usage ADD COLUMN link_id INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE link_usage ADD COLUMN direction TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE link_usage ADD COLUMN stall_ps INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE INDEX link_usage_id ON link_usage(run_id, link_id);\n";

/* Created after the bulk load: cheaper than maintaining them per insert. */
const char kb_schema_indexes[] =
	"CREATE INDEX shards_tensor ON shards(tensor_id);\n";

/* Host-stream ops (launch 0) are named by their stream, not by the PE they
 * target: their seq numbers count the rank's host stream, not the PE's. */
#define PE_NAME(t) \
	"CASE WHEN " t ".launch_id = 0 OR " t ".cube < 0 THEN printf('sip%d.host', " t ".sip)" \
	" ELSE printf('sip%d.cube%d.pe%d', " t ".sip, " t ".cube, " t ".pe) END"

const char kb_schema_views[] =
	"CREATE VIEW ops_v AS SELECT o.id, o.launch_id, ks.value AS kernel, " PE_NAME("o") " AS pe_name,"
	" o.sip, o.cube, o.pe, o.seq, k.name AS kind, o.attr, o.imm, o.bytes, o.flops,"
	" ds.name AS dst_space, dd.name AS dst_dtype, dsh.text AS shape, o.dst_va, o.dst_pa,"
	" sa.name AS src_space, sd.name AS src_dtype, ssh.text AS src_shape, o.a_va AS src_va, o.a_pa AS src_pa,"
	" bs.name AS b_space, bsh.text AS b_shape, o.b_va, o.b_pa,"
	" cs.name AS c_space, csh.text AS c_shape, c.va AS c_va, c.pa AS c_pa, o.blob_id, o.chan_id, o.chan_seq"
	" FROM ops o JOIN enum_op_kind k ON k.id = o.kind"
	" LEFT JOIN op_operands c ON c.op_id = o.id AND c.slot = 3"
	" LEFT JOIN enum_space cs ON cs.id = c.space LEFT JOIN shapes csh ON csh.id = c.shape"
	" LEFT JOIN launches l ON l.id = o.launch_id LEFT JOIN strings ks ON ks.id = l.kernel"
	" LEFT JOIN enum_space ds ON ds.id = o.dst_space LEFT JOIN enum_dtype dd ON dd.id = o.dst_dtype"
	" LEFT JOIN shapes dsh ON dsh.id = o.dst_shape"
	" LEFT JOIN enum_space sa ON sa.id = o.a_space LEFT JOIN enum_dtype sd ON sd.id = o.a_dtype"
	" LEFT JOIN shapes ssh ON ssh.id = o.a_shape"
	" LEFT JOIN enum_space bs ON bs.id = o.b_space LEFT JOIN shapes bsh ON bsh.id = o.b_shape;\n"
	"CREATE VIEW gemm_v AS SELECT o.id, o.launch_id, " PE_NAME("o") " AS pe_name, o.seq,"
	" CASE WHEN o.attr & 1 THEN sa.d1 ELSE sa.d0 END AS M,"
	" CASE WHEN o.attr & 2 THEN sb.d0 ELSE sb.d1 END AS N,"
	" CASE WHEN o.attr & 1 THEN sa.d0 ELSE sa.d1 END AS K,"
	" o.flops, (o.attr & 1) != 0 AS trans_a, (o.attr & 2) != 0 AS trans_b, (o.attr & 4) != 0 AS accumulate,"
	" o.a_pa, o.b_pa, o.dst_pa"
	" FROM ops o JOIN shapes sa ON sa.id = o.a_shape JOIN shapes sb ON sb.id = o.b_shape"
	" WHERE o.kind = (SELECT id FROM enum_op_kind WHERE name = 'gemm');\n"
	"CREATE VIEW dma_v AS SELECT o.id, o.launch_id, " PE_NAME("o") " AS pe_name, o.seq,"
	" CASE WHEN k.name = 'dma_read' THEN 'read' ELSE 'write' END AS direction,"
	" s.name AS mem_space, CASE WHEN k.name = 'dma_read' THEN o.a_va ELSE o.dst_va END AS va,"
	" CASE WHEN k.name = 'dma_read' THEN o.a_pa ELSE o.dst_pa END AS pa, o.bytes, sh.text AS shape"
	" FROM ops o JOIN enum_op_kind k ON k.id = o.kind"
	" JOIN enum_space s ON s.id = CASE WHEN k.name = 'dma_read' THEN o.a_space ELSE o.dst_space END"
	" JOIN shapes sh ON sh.id = CASE WHEN k.name = 'dma_read' THEN o.a_shape ELSE o.dst_shape END"
	" WHERE k.name IN ('dma_read', 'dma_write');\n"
	"CREATE VIEW launches_v AS SELECT l.id, l.rank, s.value AS kernel, l.n_pes, l.args,"
	" l.end_op_id - l.first_op_id AS n_ops, l.first_op_id, l.end_op_id"
	" FROM launches l JOIN strings s ON s.id = l.kernel;\n"
	"CREATE VIEW tensors_v AS SELECT t.id, s.value AS name, t.rank, d.name AS dtype, sh.text AS shape,"
	" t.va, t.nbytes, t.placement, (SELECT count(*) FROM shards x WHERE x.tensor_id = t.id) AS n_shards"
	" FROM tensors t JOIN strings s ON s.id = t.name JOIN enum_dtype d ON d.id = t.dtype"
	" JOIN shapes sh ON sh.id = t.shape;\n"
	"CREATE VIEW shards_v AS SELECT s.tensor_id, n.value AS tensor, printf('sip%d.cube%d.pe%d', s.sip, s.cube, s.pe)"
	" AS pe_name, s.sip, s.cube, s.pe, sp.name AS space, s.va, s.pa, s.offset_bytes, s.nbytes,"
	" s.row0, s.col0, s.rows, s.cols"
	" FROM shards s JOIN tensors t ON t.id = s.tensor_id JOIN strings n ON n.id = t.name"
	" JOIN enum_space sp ON sp.id = s.space;\n"
	"CREATE VIEW ranges_v AS SELECT r.id, r.rank, r.parent_id, s.value AS label, r.first_op_id, r.end_op_id"
	" FROM ranges r JOIN strings s ON s.id = r.label;\n"
	"CREATE VIEW expectations_v AS SELECT e.id, n.value AS tensor, e.rtol, e.atol, b.raw_bytes, d.name AS dtype,"
	" CASE WHEN r.expectation_id IS NULL THEN 'values' ELSE 'ramp' END AS form, r.value, r.per_row, r.per_col"
	" FROM expectations e JOIN tensors t ON t.id = e.tensor_id JOIN strings n ON n.id = t.name"
	" LEFT JOIN blobs b ON b.id = e.blob_id LEFT JOIN enum_dtype d ON d.id = b.dtype"
	" LEFT JOIN expectation_ramps r ON r.expectation_id = e.id;\n"
	"CREATE VIEW op_times_v AS SELECT r.label AS run, t.op_id, " PE_NAME("o") " AS pe_name, k.name AS kind,"
	" t.t_start_ps, t.t_end_ps, t.t_end_ps - t.t_start_ps AS dur_ps, t.t_start_ps / 1000.0 AS start_ns,"
	" (t.t_end_ps - t.t_start_ps) / 1000.0 AS dur_ns, w.name AS waited_on, t.wait_op,"
	" t.queue_ps / 1000.0 AS wait_ns, o.bytes, o.flops,"
	" t.stall_ps, t.stall_ps / 1000.0 AS stall_ns, lu.link AS stall_link,"
	" o.launch_id, ks.value AS kernel, o.sip, o.cube, o.pe, o.seq, dsh.text AS shape, ash.text AS src_shape,"
	" (SELECT n.value FROM shards s JOIN tensors tt ON tt.id = s.tensor_id JOIN strings n ON n.id = tt.name"
	"  WHERE s.pa <= CASE WHEN k.name IN ('dma_read', 'ipcq_recv') THEN o.a_pa ELSE o.dst_pa END"
	"  AND CASE WHEN k.name IN ('dma_read', 'ipcq_recv') THEN o.a_pa ELSE o.dst_pa END < s.pa + s.nbytes LIMIT 1)"
	" AS tensor"
	" FROM op_times t JOIN timing_runs r ON r.id = t.run_id JOIN ops o ON o.id = t.op_id"
	" JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait"
	" LEFT JOIN launches l ON l.id = o.launch_id LEFT JOIN strings ks ON ks.id = l.kernel"
	" LEFT JOIN shapes dsh ON dsh.id = o.dst_shape LEFT JOIN shapes ash ON ash.id = o.a_shape"
	" LEFT JOIN link_usage lu ON lu.run_id = t.run_id AND lu.link_id = t.stall_link AND t.stall_link > 0;\n"
	"CREATE VIEW launch_times_v AS SELECT r.label AS run, l.id AS launch_id, s.value AS kernel, l.rank,"
	" t.t_start_ps, t.t_pe_start_ps, t.t_end_ps, (t.t_end_ps - t.t_start_ps) / 1000.0 AS dur_ns"
	" FROM launch_times t JOIN timing_runs r ON r.id = t.run_id JOIN launches l ON l.id = t.launch_id"
	" JOIN strings s ON s.id = l.kernel;\n"
	"CREATE VIEW range_times_v AS SELECT r.label AS run, g.id AS range_id, s.value AS label, g.rank,"
	" t.t_start_ps, t.t_end_ps, (t.t_end_ps - t.t_start_ps) / 1000.0 AS dur_ns"
	" FROM range_times t JOIN timing_runs r ON r.id = t.run_id JOIN ranges g ON g.id = t.range_id"
	" JOIN strings s ON s.id = g.label;\n"
	"CREATE VIEW link_usage_v AS SELECT r.label AS run, u.link, u.kind, u.direction, u.bandwidth_gbps, u.transfers,"
	" u.bytes, u.busy_ps / 1000.0 AS busy_ns, 100.0 * u.busy_ps / max(r.total_ps, 1) AS utilization_pct,"
	" u.stall_ps / 1000.0 AS stall_ns, u.bytes * 1000.0 / max(u.busy_ps, 1) AS active_gbps"
	" FROM link_usage u JOIN timing_runs r ON r.id = u.run_id;\n"
	/* where sharing cost time: per link, the time flows lost while it held them */
	"CREATE VIEW link_stalls_v AS SELECT r.label AS run, u.link, u.kind, u.direction, u.stall_ps / 1000.0 AS stall_ns,"
	" coalesce(h.n, 0) AS ops_held, u.bytes, u.busy_ps / 1000.0 AS busy_ns"
	" FROM link_usage u JOIN timing_runs r ON r.id = u.run_id"
	" LEFT JOIN (SELECT run_id, stall_link, count(*) AS n FROM op_times WHERE stall_link > 0 GROUP BY 1, 2) h"
	" ON h.run_id = u.run_id AND h.stall_link = u.link_id"
	" WHERE u.stall_ps > 0 ORDER BY r.id, u.stall_ps DESC;\n"
	/* the chain of waits back from a run's last-ending op (launch ops end
	 * with their kernels, so the walk starts at the last PE or host op) */
	"CREATE VIEW critical_path_v AS WITH RECURSIVE cp(run_id, op_id, step) AS ("
	" SELECT r.id, (SELECT t.op_id FROM op_times t JOIN ops o ON o.id = t.op_id"
	" WHERE t.run_id = r.id AND o.kind <> (SELECT id FROM enum_op_kind WHERE name = 'launch')"
	" ORDER BY t.t_end_ps DESC, t.op_id LIMIT 1), 0 FROM timing_runs r"
	" UNION ALL SELECT cp.run_id, t.wait_op, cp.step + 1 FROM cp JOIN op_times t"
	" ON t.run_id = cp.run_id AND t.op_id = cp.op_id WHERE t.wait_op > 0 AND cp.step < (SELECT max(id) FROM ops))"
	" SELECT r.label AS run, cp.step, cp.op_id, " PE_NAME("o") " AS pe_name, k.name AS kind,"
	" t.t_start_ps, t.t_end_ps, w.name AS waited_on FROM cp JOIN timing_runs r ON r.id = cp.run_id"
	" JOIN op_times t ON t.run_id = cp.run_id AND t.op_id = cp.op_id JOIN ops o ON o.id = cp.op_id"
	" JOIN enum_op_kind k ON k.id = o.kind JOIN enum_wait w ON w.id = t.wait;\n"
	"CREATE VIEW unit_busy_v AS SELECT r.label AS run, u.unit, printf('sip%d.cube%d.pe%d', u.sip, u.cube, u.pe)"
	" AS pe_name, u.ops, u.busy_ps / 1000.0 AS busy_ns, 100.0 * u.busy_ps / max(r.total_ps, 1) AS utilization_pct"
	" FROM unit_busy u JOIN timing_runs r ON r.id = u.run_id;\n"
	"CREATE VIEW channels_v AS SELECT c.id, printf('sip%d.cube%d.pe%d', c.src_sip, c.src_cube, c.src_pe) AS src,"
	" sd.name AS src_dir, printf('sip%d.cube%d.pe%d', c.dst_sip, c.dst_cube, c.dst_pe) AS dst, dd.name AS dst_dir,"
	" c.src_rank, c.dst_rank, c.n_slots, c.slot_size, sp.name AS buffer, c.rx_pa, c.credit_bytes, c.install_op_id,"
	" (SELECT count(*) FROM ops o WHERE o.chan_id = c.id AND o.kind ="
	" (SELECT id FROM enum_op_kind WHERE name = 'ipcq_send')) AS sends"
	" FROM channels c LEFT JOIN enum_direction sd ON sd.id = c.src_dir LEFT JOIN enum_direction dd ON dd.id = c.dst_dir"
	" LEFT JOIN enum_space sp ON sp.id = c.space;\n"
	/* a row per collective and rank, and per timing run once timed: the
	 * rank's kernel span, algbw and busbw (nccl-tests' bus factor of its type) */
	"CREATE VIEW collectives_v AS SELECT c.id, c.call, c.rank, a.value AS algorithm, o.value AS redop,"
	" d.name AS dtype, c.count, c.bytes, c.world_size, n.value AS tensor, c.launch_id, c.first_op_id, c.end_op_id,"
	" r.label AS run, lt.t_start_ps, lt.t_end_ps, (lt.t_end_ps - lt.t_start_ps) / 1000.0 AS dur_ns,"
	" c.bytes * 1000.0 / max(lt.t_end_ps - lt.t_start_ps, 1) AS algbw_gbps,"
	" c.bytes * 1000.0 / max(lt.t_end_ps - lt.t_start_ps, 1) * " KB_COLL_BUS_FACTOR_SQL("c.type", "c.world_size")
	" AS busbw_gbps, ct.name AS type"
	" FROM collectives c JOIN strings a ON a.id = c.algorithm JOIN strings o ON o.id = c.redop"
	" LEFT JOIN enum_collective ct ON ct.id = c.type"
	" JOIN enum_dtype d ON d.id = c.dtype JOIN tensors t ON t.id = c.tensor_id JOIN strings n ON n.id = t.name"
	" LEFT JOIN launch_times lt ON lt.launch_id = c.launch_id LEFT JOIN timing_runs r ON r.id = lt.run_id;\n";
