#!/usr/bin/env bash
# cli_newcomer.sh — what a new user trips over: Perfetto at scale (valid,
# complete, split by time), complete machine-readable exports, --top 0,
# the views' units and the tools' small gaps.
source "$(dirname "$0")/cli_lib.sh"
q() { sqlite3 "$dir/$1.db" "$2"; }
jvalid() { sqlite3 :memory: "SELECT json_valid(readfile('$1'))" | grep -qx 1; }

# the README's 256-rank ring all-reduce: the export is linear (it took > 300 s)
"$TRACE" bench ccl_allreduce --set ccl.defaults.algorithm=ring_allreduce_tcm \
	--set ccl.algorithms.ring_allreduce_tcm.world_size=256 --set ccl_allreduce.n_elem=8 -o "$dir/full.db" 2>/dev/null
"$TIME" "$dir/full.db" --quiet
n_ops=$(q full "SELECT count(*) FROM ops")
n_msgs=$(q full "SELECT count(*) FROM ops WHERE kind = (SELECT id FROM enum_op_kind WHERE name = 'ipcq_send')")
TOOL=$REPORT expect 0 "" -- "$dir/full.db" --perfetto "$dir/full.json" --quiet
check "perfetto: the 256-rank export is valid JSON" "$(jvalid "$dir/full.json"; echo $?)"
check "perfetto: an X event per op ($n_ops)" "$([ "$(grep '"ph":"X"' "$dir/full.json" | grep -vc '"cat":"range"')" = "$n_ops" ]; echo $?)"
check "perfetto: a flow per IPCQ message ($n_msgs)" "$([ "$(grep -o '"ph":"s"' "$dir/full.json" | wc -l)" = "$n_msgs" ] && [ "$(grep -o '"ph":"f"' "$dir/full.json" | wc -l)" = "$n_msgs" ]; echo $?)"
check "perfetto: no temporary left" "$(! ls "$dir" | grep -q 'full.json.tmp'; echo $?)"
# split by time: every part valid, every op in exactly one part, each part names its tracks
TOOL=$REPORT expect 0 "" -- "$dir/full.db" --perfetto "$dir/part.json" --perfetto-split 60000 --quiet
check "perfetto --perfetto-split: 4 files" "$([ "$(ls "$dir"/part.0*.json | wc -l)" = 4 ] && [ ! -e "$dir/part.json" ]; echo $?)"
ok=0; total=0
for f in "$dir"/part.0*.json; do
	jvalid "$f" || ok=1
	total=$((total + $(grep '"ph":"X"' "$f" | grep -vc '"cat":"range"')))
	used=$(grep -o '"pid":[0-9]*,"tid":[0-9]*,"ts"' "$f" | sed 's/,"ts"//' | sort -u | wc -l)
	named=$(grep -o '"thread_name","pid":[0-9]*,"tid":[0-9]*' "$f" | sed 's/"thread_name",//' | sort -u | wc -l)
	[ "$used" -le "$named" ] || ok=1
done
check "perfetto --perfetto-split: valid parts naming their tracks" $ok
check "perfetto --perfetto-split: every op once ($total of $n_ops)" "$([ "$total" = "$n_ops" ]; echo $?)"
TOOL=$REPORT expect 2 "--perfetto-split 10 makes 19690 files of the run's 196898 ops, over 256" -- "$dir/full.db" --perfetto "$dir/x.json" --perfetto-split 10 --quiet
TOOL=$REPORT expect 2 "--perfetto-split needs --perfetto FILE" -- "$dir/full.db" --perfetto-split 10
TOOL=$REPORT expect 2 "--perfetto-split 'x': expected a number of ops >= 1" -- "$dir/full.db" --perfetto "$dir/x.json" --perfetto-split x

# ---- complete machine-readable output ----
n_links=$(q full "SELECT count(*) FROM link_usage WHERE run_id = 1")
TOOL=$REPORT expect 0 "" -- "$dir/full.db" --json "$dir/r.json" --csv "$dir/csv" --quiet
check "kb-report --json holds every link ($n_links)" "$([ "$(sqlite3 :memory: "SELECT json_array_length(readfile('$dir/r.json'), '\$.links')")" = "$n_links" ]; echo $?)"
check "kb-report --csv holds every link" "$([ "$(($(wc -l <"$dir/csv/links.csv") - 1))" = "$n_links" ]; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/full.db" --top 3 --json "$dir/r3.json"
check "kb-report --top 3: three links in the text and what is left out" "$(grep -A5 '^busiest links' "$dir/out" | grep -q "\.\.\. $((n_links - 3)) more"; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/full.db" --top 0
check "kb-report --top 0: every link" "$(! grep -q '\.\.\. [0-9]* more' "$dir/out"; echo $?)"
TOOL=$TIME expect 0 "" -- "$dir/full.db" --json --top 4 --label j4
check "kb-time --json honours --top" "$([ "$(sqlite3 :memory: "SELECT json_array_length(readfile('$dir/out'), '\$.top_ops')")" = 4 ]; echo $?)"
TOOL=$TIME expect 0 "" -- "$dir/full.db" --json --top 0 --label j0
n_timed=$(q full "SELECT count(*) FROM ops WHERE kind <> (SELECT id FROM enum_op_kind WHERE name = 'launch')")
check "kb-time --json --top 0: every op but the launches ($n_timed)" "$([ "$(sqlite3 :memory: "SELECT json_array_length(readfile('$dir/out'), '\$.top_ops')")" = "$n_timed" ]; echo $?)"

# ---- the views ----
check "link_usage_v.active_gbps is bytes over busy time" "$(q full "SELECT count(*) FROM link_usage_v WHERE bytes > 0 AND abs(active_gbps - bytes * 1000.0 / busy_ns / 1000.0) > 1e-9 OR (bytes > 0 AND active_gbps = 0)" | grep -qx 0; echo $?)"

# ---- allreduce_sweep runs at its defaults (the range stops at the slot size, with a note) ----
TOOL=$BIN/kb-trace expect 0 "" -- bench allreduce_sweep -o "$dir/sw.db" --force
check "allreduce_sweep: the clamp is explained" "$(grep -q "note: intercube_allreduce sends each buffer as one tile, so sizes stop at its slot_size 4096 B" "$dir/err"; echo $?)"
"$TIME" "$dir/sw.db" --quiet
TOOL=$REPLAY expect 0 "" -- "$dir/sw.db" --verify
check "allreduce_sweep: 3 sizes verify" "$(grep -q 'verify: OK (6 of 6 expectations passed' "$dir/out" && grep -cE '^  intercube_allreduce +all_reduce +(1024|2048|4096) ' "$dir/out" | grep -qx 3; echo $?)"
TOOL=$BIN/kb-trace expect 2 "below min_bytes 8192 (raise ccl.defaults.slot_size, or --set ccl.defaults.algorithm=ring_rsag_allreduce" -- bench allreduce_sweep -o "$dir/sw.db" --force --set allreduce_sweep.min_bytes=8192
TOOL=$BIN/kb-trace expect 0 "" -- bench allreduce_sweep -o "$dir/sw.db" --force --set allreduce_sweep.min_bytes=8192 --set ccl.defaults.algorithm=ring_rsag_allreduce --set allreduce_sweep.max_bytes=65536

# ---- small CLI gaps ----
for t in trace time replay report diff; do
	TOOL=$BIN/kb-$t expect 0 "" -- -V
	check "kb-$t -V names itself and the schema" "$(grep -q "^kb-$t [0-9.]* (trace schema 7)$" "$dir/out"; echo $?)"
done
TOOL=$BIN/kb-trace expect 2 "unknown bench 'sythetic': did you mean 'synthetic'?" -- bench sythetic
TOOL=$BIN/kb-trace expect 2 "unknown bench 'zzz' (benches: gemm" -- bench zzz
TOOL=$BIN/kb-trace expect 0 "" -- bench gemm -o "$dir/g.db" --force
check "kb-trace says what it wrote" "$(grep -qE "^$dir/g.db: 11 ops of bench gemm, [0-9.]+ MB, traced in [0-9.]+ s$" "$dir/out"; echo $?)"
TOOL=$BIN/kb-trace expect 0 "" -- bench gemm -o "$dir/g.db" --force --quiet
check "kb-trace --quiet prints nothing" "$([ ! -s "$dir/out" ]; echo $?)"
TOOL=$BIN/kb-trace expect 0 "" -- list
check "kb-trace list: defaults paste back exactly" "$(grep -q -- '--set allreduce_sweep.max_bytes=1048576 ' "$dir/out" && ! grep -q 'e+0' "$dir/out"; echo $?)"
"$TIME" "$dir/g.db" --quiet; "$TIME" "$dir/g.db" --quiet --label hbm2 --set cube.components.hbm.attrs.bandwidth_gbps=200
TOOL=$REPORT expect 0 "" -- "$dir/g.db" --runs
check "kb-report --runs lists both runs" "$(grep -qE '^  run1 +32\.658 us +11 ' "$dir/out" && grep -qE '^  hbm2 .* cube\.components\.hbm\.attrs\.bandwidth_gbps=200' "$dir/out"; echo $?)"
TOOL=$REPORT expect 2 "no timing run labelled 'x' (runs: run1, hbm2)" -- "$dir/g.db" --run x
TOOL=$REPLAY expect 2 "no timing run labelled 'x' (runs: run1, hbm2)" -- "$dir/g.db" --verify --run x

# ---- tables people expect ----
"$TRACE" bench ccl_allreduce -o "$dir/r8.db" --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl.algorithms.ring_rsag_allreduce.world_size=8 2>/dev/null && "$TIME" "$dir/r8.db" -q
TOOL=$REPORT expect 0 "" -- "$dir/r8.db" --list-sections
check "kb-report --list-sections: 12 tables" "$([ "$(wc -l <"$dir/out")" = 12 ] && grep -q '^critical_path_waits ' "$dir/out"; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/r8.db" --section links --section time
check "kb-report --section: those tables only, in report order" "$(grep -E '^[a-z].*:$' "$dir/out" | tr '\n' '|' | grep -qx "time per rank (device = union of its launches' spans):|busiest links:|"; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/r8.db" --section collectives --json "$dir/sec.json" --quiet
check "kb-report --section limits the JSON too" "$([ "$(sqlite3 :memory: "SELECT count(*) FROM json_each(readfile('$dir/sec.json')) WHERE type = 'array'")" = 1 ]; echo $?)"
TOOL=$REPORT expect 2 "unknown section 'nope' (sections: time, ranges, kernels" -- "$dir/r8.db" --section nope
TOOL=$REPLAY expect 0 "" -- "$dir/r8.db" --verify
check "kb-replay: a collective's line names its size" "$(grep -qx '  ring_rsag_allreduce (ws=8, 131072 B): 8 OK' "$dir/out"; echo $?)"
check "nccl-tests table ends with the average bus bandwidth" "$(grep -qE '^  # Avg bus bandwidth    : 37\.2[0-9]+ GB/s \(in place' "$dir/out"; echo $?)"
check "collectives_v: times, algbw and busbw per run" "$(q r8 "SELECT count(*), min(run), round(max(busbw_gbps), 1) FROM collectives_v" | grep -qx '1|run1|37.2'; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/r8.db" --section throughput
check "throughput names each rate's unit" "$(grep -qE '^  DMA .* GB/s ' "$dir/out" && ! grep -q 'G<unit>' "$dir/out"; echo $?)"
TOOL=$REPORT expect 0 "" -- "$dir/r8.db" --html "$dir/r8.html" --quiet
check "HTML headers carry no unit suffix the cells contradict" "$(grep -q '<th>host_setup</th>' "$dir/r8.html" && ! grep -q '<th>host_setup_ps</th>' "$dir/r8.html"; echo $?)"
check "HTML heat map has a legend" "$(grep -q 'busy %:</text>' "$dir/r8.html" && [ "$(grep -o 'text-anchor="middle">[0-9]*</text>' "$dir/r8.html" | wc -l)" = 11 ]; echo $?)"

# ---- host ops pipeline by design: maps overlap the writes, a launch waits for all ----
"$TRACE" bench gemm -o "$dir/demo.db" 2>/dev/null && "$TIME" "$dir/demo.db" -q
check "mmu_maps take 750 ps of the host stream each; the first host_write starts at 2250 ps" "$(q demo "SELECT group_concat(t_start_ps, ',') FROM (SELECT t.t_start_ps FROM op_times t JOIN ops o ON o.id = t.op_id WHERE o.launch_id = 0 AND o.kind <> (SELECT id FROM enum_op_kind WHERE name = 'launch') ORDER BY o.seq LIMIT 4)" | grep -qx '0,750,1500,2250'; echo $?)"
check "a launch starts when the last earlier host op (maps included) has landed" "$(q demo "SELECT (SELECT t.t_start_ps FROM op_times t JOIN ops o ON o.id = t.op_id WHERE o.kind = (SELECT id FROM enum_op_kind WHERE name = 'launch')) = (SELECT max(t.t_end_ps) FROM op_times t JOIN ops o ON o.id = t.op_id WHERE o.launch_id = 0 AND o.kind <> (SELECT id FROM enum_op_kind WHERE name = 'launch'))" | grep -qx 1; echo $?)"

# ---- op_times_v.wait_ns: ready to start, with its reason ----
check "wait_ns: the launch waited 1420 ns for the last host write to land" "$(q demo "SELECT waited_on || ' ' || wait_ns FROM op_times_v WHERE kind = 'launch'" | grep -qx 'host 1420.0'; echo $?)"
check "wait_ns: ops released when they could start waited 0" "$(q demo "SELECT count(*) FROM op_times_v WHERE kind <> 'launch' AND wait_ns <> 0" | grep -qx 0; echo $?)"

# ---- progress on every long step (KB_PROGRESS=always: without a terminal, a line per redraw) ----
export KB_PROGRESS=always
"$TIME" "$dir/r8.db" --label prog >/dev/null 2>"$dir/err"
check "kb-time: progress while it builds its summary" "$(grep -q '^kb-time: schedule ' "$dir/err" && grep -q '^kb-time: summary (' "$dir/err"; echo $?)"
"$REPLAY" "$dir/r8.db" --verify >/dev/null 2>"$dir/err"
check "kb-replay: progress while it verifies" "$(grep -q '^kb-replay: verify 0 of 1 expectations' "$dir/err"; echo $?)"
"$REPORT" "$dir/r8.db" --perfetto "$dir/p.json" --quiet 2>"$dir/err"
check "kb-report: progress for the tables and the export" "$(grep -q '^kb-report: perfetto: place ' "$dir/err" && grep -q '^kb-report: perfetto: write ' "$dir/err"; echo $?)"
"$REPORT" "$dir/r8.db" >/dev/null 2>"$dir/err"
check "kb-report: progress for the tables" "$(grep -q '^kb-report: tables (' "$dir/err"; echo $?)"
"$DIFF" "$dir/r8.db" "$dir/full.db" >/dev/null 2>"$dir/err"
check "kb-diff: progress for the checks, the streams and the tables" "$(grep -q '^kb-diff: check ' "$dir/err" && grep -q '^kb-diff: compare op streams ' "$dir/err" && grep -q '^kb-diff: tables (' "$dir/err"; echo $?)"
KB_PROGRESS=never "$REPORT" "$dir/r8.db" >/dev/null 2>"$dir/err"
check "KB_PROGRESS=never: nothing on stderr" "$([ ! -s "$dir/err" ]; echo $?)"
unset KB_PROGRESS

echo "cli_newcomer: $pass passed, $fail failed"
[ "$fail" = 0 ]
