#!/usr/bin/env bash
# cli_adversary.sh — traces built to attack the tools (SQL in the schema,
# triggers, cycles), damage that would make a wrong answer verify, and
# the output paths (atomic files, a full stdout, journals). Each case:
# one line on stderr, exit 1/2/3, nothing lost.
source "$(dirname "$0")/cli_lib.sh"
BUILD=${BUILD:-build}
FORGE="$BUILD/tests/forge_blob"

"$TRACE" bench gemm -o "$dir/g.db" 2>/dev/null && "$TIME" "$dir/g.db" --quiet
"$TRACE" bench ccl_allreduce -o "$dir/c.db" 2>/dev/null && "$TIME" "$dir/c.db" --quiet
fresh() { cp "$dir/${2:-g}.db" "$dir/$1.db"; }
q() { sqlite3 "$dir/$1.db" "$2"; }

# ---- SQL injection through a view name (kb_db_upgrade) ----
fresh inj
q inj "CREATE VIEW \"IF EXISTS zz; COMMIT; VACUUM INTO '$dir/pwned.db'; BEGIN; SELECT 1\" AS SELECT 1; PRAGMA user_version=3"
"$TIME" "$dir/inj.db" --quiet --label up 2>"$dir/err"
check "a view name runs no SQL during the upgrade" "$([ ! -e "$dir/pwned.db" ]; echo $?)"
check "the upgrade keeps a user's view and reaches v7" "$(q inj "SELECT (SELECT user_version FROM pragma_user_version) || ' ' || count(*) FROM sqlite_master WHERE name LIKE 'IF EXISTS%'" | grep -qx "7 1"; echo $?)"

# ---- a trace's own triggers never run: refused in one line, trace intact ----
fresh trg
q trg "CREATE TRIGGER wipe AFTER INSERT ON timing_runs BEGIN DELETE FROM ops; DELETE FROM op_pack; END"
n_before=$(q trg "SELECT count(*) FROM ops")
TOOL=$TIME expect 2 "trigger \"wipe\" is not one of kernbench's" -- "$dir/trg.db" --label x
check "the refused trace keeps its ops" "$([ "$(q trg "SELECT count(*) FROM ops")" = "$n_before" ]; echo $?)"
fresh ign
q ign "CREATE TRIGGER ign BEFORE INSERT ON op_times BEGIN SELECT RAISE(IGNORE); END"
TOOL=$TIME expect 2 "trigger \"ign\" is not one of kernbench's" -- "$dir/ign.db" --label x
fresh tot
q tot "CREATE TRIGGER tot AFTER INSERT ON timing_runs BEGIN UPDATE timing_runs SET total_ps = 1; END"
TOOL=$REPORT expect 2 "trigger \"tot\" is not one of kernbench's" -- "$dir/tot.db"
# a project view redefined (an endless recursion) is refused, not run
fresh cpv
q cpv "DROP VIEW critical_path_v; CREATE VIEW critical_path_v AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x AS step FROM r"
TOOL=$REPORT expect 2 "view critical_path_v differs from kernbench's definition" -- "$dir/cpv.db"
# a project table replaced by a view
fresh tv
q tv "DROP TABLE shapes; CREATE VIEW shapes AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x AS id FROM r"
TOOL=$REPLAY expect 2 "\"shapes\" is not the plain table kernbench writes" -- "$dir/tv.db" --verify
# a user's own view is fine
fresh uv
q uv "CREATE VIEW my_gemms AS SELECT * FROM ops WHERE kind = 6"
TOOL=$REPORT expect 0 "" -- "$dir/uv.db" --quiet

# ---- a run table missing: one line, no crash (was a double free) ----
for t in unit_busy link_usage timing_runs; do
	fresh miss
	q miss "DROP TABLE $t"
	TOOL=$TIME expect 2 "no such table: $t" -- "$dir/miss.db" --label x
done

# ---- an op that waits on itself: the critical path ends, no hang ----
fresh self
q self "UPDATE op_times SET wait_op = op_id WHERE op_id = (SELECT max(op_id) FROM op_times)"
timeout 20 "$REPORT" "$dir/self.db" >"$dir/out" 2>&1
check "kb-report on a wait_op cycle ends (exit $?)" "$(grep -q 'critical path' "$dir/out"; echo $?)"
timeout 20 "$REPORT" "$dir/self.db" --json "$dir/self.json" --quiet 2>/dev/null
check "kb-report --json on a wait_op cycle ends" $?
check "critical_path_v on a cycle is bounded by the op count" "$(q self "SELECT count(*) <= (SELECT count(*) FROM ops) + 1 FROM critical_path_v" | grep -qx 1; echo $?)"

# ---- wrong answers are not OK ----
# an expected value of inf with a valid checksum
fresh inf
blob=$(q inf "SELECT blob_id FROM expectations WHERE id = 1")
"$FORGE" "$dir/inf.db" "$blob" 5 inf
TOOL=$REPLAY expect 1 "" -- "$dir/inf.db" --verify
check "an inf expected value fails verification" "$(grep -q 'expected value \[0,5\] is inf: the trace is damaged' "$dir/out"; echo $?)"
# absurd tolerances
for tol in "atol = 9e999" "rtol = 9.2e18" "atol = -1"; do
	fresh tol
	q tol "UPDATE expectations SET $tol"
	TOOL=$REPLAY expect 2 "expectations row 1: tensor_id / blob_id (or a ramp: one of the two) / rtol (0..1.0) / atol (0..1.0)" -- "$dir/tol.db" --verify
done
# shards deleted (the counts move with them): the values they held are missing, not skipped
fresh sh c
tensor=$(q sh "SELECT tensor_id FROM expectations WHERE id = 1")
q sh "DELETE FROM shards WHERE tensor_id = $tensor AND rowid <> (SELECT min(rowid) FROM shards WHERE tensor_id = $tensor); UPDATE meta SET value = (SELECT count(*) FROM shards) WHERE key = 'count.shards'"
TOOL=$REPLAY expect 1 "" -- "$dir/sh.db" --verify
check "deleted shards fail verification" "$(grep -q 'of 128 expected values lie in no shard' "$dir/out"; echo $?)"
# shards deleted, counts left: damage
fresh sh2 c
q sh2 "DELETE FROM shards WHERE rowid = 2"
TOOL=$REPLAY expect 2 "table shards has" -- "$dir/sh2.db" --verify
# an expectation deleted: damage, not "N-1 of N-1 passed"
fresh ex c
q ex "DELETE FROM expectations WHERE id = 2; DELETE FROM expectation_ramps WHERE expectation_id = 2"
TOOL=$REPLAY expect 2 "table expectations has 1 rows, the trace recorded 2 (meta 'count.expectations')" -- "$dir/ex.db" --verify

# ---- an edit the op pack would hide: without its trigger the rows are read ----
fresh pk
q pk "DROP TRIGGER op_pack_stale_ops_UPDATE; UPDATE ops SET bytes = bytes * 2, dst_pa = dst_pa + 4096 WHERE kind = (SELECT id FROM enum_op_kind WHERE name = 'dma_write')"
check "the pack is still there" "$(q pk "SELECT count(*) > 0 FROM op_pack" | grep -qx 1; echo $?)"
TOOL=$REPLAY expect 1 "" -- "$dir/pk.db" --verify --order dataflow
check "replay verifies the edited rows, not the stale pack" "$(grep -q '^verify: FAILED' "$dir/out"; echo $?)"

# ---- kb-diff sees immediates and data, and refuses damage ----
fresh imm
q imm "UPDATE ops SET imm = 2.5 WHERE id = 1"
TOOL=$DIFF expect 1 "" -- "$dir/g.db" "$dir/imm.db"
check "kb-diff names the immediate" "$(grep -q 'imm 2.5' "$dir/out"; echo $?)"
fresh data
hw=$(q data "SELECT blob_id FROM ops WHERE blob_id > 0 LIMIT 1")
"$FORGE" "$dir/data.db" "$hw" 0 7.5
TOOL=$DIFF expect 1 "" -- "$dir/g.db" "$dir/data.db"
check "kb-diff sees changed input data" "$(grep -q 'data [0-9a-f]\{16\}' "$dir/out"; echo $?)"
fresh dmg
q dmg "UPDATE ops SET kind = 99 WHERE id = 7"
TOOL=$DIFF expect 2 "ops row 7: kind out of range" -- "$dir/g.db" "$dir/dmg.db"
# runs: named, and config-only differences differ
"$TIME" "$dir/g.db" --quiet --label hbm2 --set cube.components.hbm.attrs.bandwidth_gbps=200
TOOL=$DIFF expect 1 "" -- "$dir/g.db" "$dir/g.db" --run-a run1 --run-b hbm2
check "kb-diff names both runs" "$(grep -q "runs compared: a 'run1', b 'hbm2'" "$dir/out"; echo $?)"
check "kb-diff lists the differing key" "$(grep -q 'cube.components.hbm.attrs.bandwidth_gbps 100 *200' "$dir/out"; echo $?)"
TOOL=$DIFF expect 1 "" -- "$dir/g.db" "$dir/g.db" --run-a run1 --run-b hbm2 --json
check "kb-diff --json carries run_config and the runs" "$(grep -q '"run_a": "run1", "run_b": "hbm2"' "$dir/out" && grep -q '"run_config": \[{' "$dir/out"; echo $?)"
TOOL=$DIFF expect 2 "no timing run labelled 'nope' (runs: run1, hbm2)" -- "$dir/g.db" "$dir/g.db" --run-b nope

# ---- kb-diff between sweeps: repeated range labels apart, early stream ends folded, host ops named ----
"$TRACE" bench allreduce_sweep -o "$dir/sa.db" 2>/dev/null && "$TIME" "$dir/sa.db" -q
"$TRACE" bench allreduce_sweep -o "$dir/sb.db" --set allreduce_sweep.max_bytes=2048 2>/dev/null && "$TIME" "$dir/sb.db" -q
TOOL=$DIFF expect 1 "" -- "$dir/sa.db" "$dir/sb.db"
check "kb-diff: each occurrence of a repeated range label is its own row" "$(grep -qE '^  all_reduce #3 \(rank 0\) +111 +0 +-111' "$dir/out" && ! grep -qE '^  all_reduce \(rank 0\)' "$dir/out"; echo $?)"
check "kb-diff: streams that end early are one row" "$(grep -c 'stream ends' "$dir/out" | grep -qx 1 && grep -q 'sip0.host and 33 more .*(stream ends: 34 streams end before the other side' "$dir/out"; echo $?)"
check "kb-diff: host ops are named, never '<- ,'" "$(grep -q 'op 605 mmu_map -, 384 B' "$dir/out" && ! grep -q '<- ,' "$dir/out"; echo $?)"

# ---- output files: whole or not at all; a full stdout fails ----
"$REPORT" "$dir/g.db" >/dev/full 2>"$dir/err"
check "kb-report > /dev/full: exit 2, one line" "$([ $? = 2 ] && grep -q 'cannot write standard output' "$dir/err"; echo $?)"
"$REPLAY" "$dir/g.db" --verify >/dev/full 2>"$dir/err"
check "kb-replay > /dev/full: exit 2, one line" "$([ $? = 2 ] && grep -q 'cannot write standard output' "$dir/err"; echo $?)"
TOOL=$REPORT expect 2 "cannot write '$dir/nodir/r.html'" -- "$dir/g.db" --html "$dir/nodir/r.html" --quiet
# a disk that fills part-way (a file size limit: writes fail with EFBIG):
# the old file stays whole and no temporary is left
for fmt in --html --json --perfetto; do
	"$REPORT" "$dir/c.db" $fmt "$dir/x.out" --quiet
	cp "$dir/x.out" "$dir/x.good"
	(trap '' XFSZ; ulimit -f 1; "$REPORT" "$dir/c.db" $fmt "$dir/x.out" --quiet) 2>"$dir/err"
	r=$?
	check "kb-report $fmt on a full disk: exit 2 ($r: $(cat "$dir/err"))" "$([ $r = 2 ] && [ "$(wc -l <"$dir/err")" = 1 ]; echo $?)"
	check "kb-report $fmt on a full disk leaves the old file whole" "$(cmp -s "$dir/x.out" "$dir/x.good" && ! ls "$dir" | grep -q 'x.out.tmp'; echo $?)"
done
mkdir -p "$dir/csv"; echo old >"$dir/csv/links.csv"
(trap '' XFSZ; ulimit -f 1; "$REPORT" "$dir/c.db" --csv "$dir/csv" --quiet) 2>/dev/null
check "kb-report --csv on a full disk leaves no temporary" "$(! ls "$dir/csv" | grep -q tmp; echo $?)"

# ---- journals ----
fresh jr
head -c 512 /dev/zero >"$dir/jr.db-journal"
TOOL=$REPORT expect 0 "" -- "$dir/jr.db" --quiet
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$dir/rodir"; cp "$dir/g.db" "$dir/rodir/w.db"; sqlite3 "$dir/rodir/w.db" "PRAGMA journal_mode=WAL" >/dev/null
	head -c 512 /dev/zero >"$dir/rodir/z.db-journal"; cp "$dir/g.db" "$dir/rodir/z.db"
	chmod 755 "$dir" "$dir/rodir"; chmod 644 "$dir/rodir/"*
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	nobody "$REPORT" "$dir/rodir/z.db" --quiet 2>"$dir/err"
	check "a zeroed journal does not stop a read-only user ($(cat "$dir/err"))" $?
	nobody "$REPORT" "$dir/rodir/w.db" --quiet 2>"$dir/err"
	check "a WAL trace in a read-only folder reads ($(cat "$dir/err"))" $?
	echo x >"$dir/rodir/w.db-wal"; chmod 644 "$dir/rodir/w.db-wal"
	nobody "$REPORT" "$dir/rodir/w.db" --quiet 2>"$dir/err"
	check "a WAL trace with pending writes: one clear line" "$([ $? = 2 ] && grep -q 'is in WAL mode with writes still in' "$dir/err" && [ "$(wc -l <"$dir/err")" = 1 ]; echo $?)"
fi

# ---- a duplicated op: exit 2 (ASan: nothing leaked) ----
fresh dup
q dup "DROP TRIGGER op_pack_stale_ops_INSERT; INSERT INTO ops SELECT (SELECT max(id) + 1 FROM ops), launch_id, sip, cube, pe, seq, kind, attr, imm, bytes, flops, dst_space, dst_dtype, dst_shape, dst_va, dst_pa, a_space, a_dtype, a_shape, a_va, a_pa, b_space, b_dtype, b_shape, b_va, b_pa, blob_id, chan_id, chan_seq FROM ops WHERE id = 7"
"$REPLAY" "$dir/dup.db" --verify >"$dir/out" 2>"$dir/err"
r=$?
check "a duplicated op row: exit 2 in one line (got $r: $(cat "$dir/err"))" "$([ $r = 2 ] && [ "$(wc -l <"$dir/err")" = 1 ]; echo $?)"

echo "cli_adversary: $pass passed, $fail failed"
[ "$fail" = 0 ]
