#!/usr/bin/env bash
# cli_sweep.sh — kb-sweep: a grid and a zip, traces shared by timing-only
# points, a point equal to a plain kb-time --set to the picosecond, resume,
# failed points stored with their error, bad specs in one line.
source "$(dirname "$0")/cli_lib.sh"
SWEEP="$BIN/kb-sweep"
cp "$(dirname "$0")/sweep_ar.yaml" "$dir/ar.yaml"
TOOL=$SWEEP expect 0 "" -- "$dir/ar.yaml" -o "$dir/ar.study" -j 2
check "kb-sweep: 6 points, 2 traces (one per n_elem)" "$(grep -q ': 6 points: 6 run, 0 already done, 0 failed; 2 traces made' "$dir/out" && [ "$(ls "$dir/ar.study.traces" | wc -l)" = 2 ]; echo $?)"
q() { sqlite3 "$dir/ar.study" "$1"; }
check "sweep_v: a column per axis, named by its key" "$(q "SELECT count(*) FROM pragma_table_info('sweep_v') WHERE name IN ('ccl_allreduce.n_elem', 'cube.components.hbm.attrs.bandwidth_gbps')" | grep -qx 2; echo $?)"
check "sweep_v: product order, the last axis fastest" "$(q "SELECT group_concat(\"ccl_allreduce.n_elem\" || '/' || \"cube.components.hbm.attrs.bandwidth_gbps\", ' ') FROM sweep_v" | grep -qx '1024/50 1024/100 1024/200 262144/50 262144/100 262144/200'; echo $?)"
check "a slower HBM is slower" "$(q "SELECT (SELECT total_ps FROM sweep_v WHERE point_id = 4) > (SELECT total_ps FROM sweep_v WHERE point_id = 5)" | grep -qx 1; echo $?)"
# a point equals kb-time --set of the same values, to the picosecond
trace=$(q "SELECT path FROM traces t JOIN points p ON p.trace_id = t.id WHERE p.id = 4")
"$TIME" "$trace" --quiet --label check --set cube.components.hbm.attrs.bandwidth_gbps=50
check "point 4 equals kb-time --set to the picosecond" "$([ "$(sqlite3 "$trace" "SELECT total_ps FROM timing_runs WHERE label = 'check'")" = "$(q "SELECT total_ps FROM sweep_v WHERE point_id = 4")" ]; echo $?)"
check "and so do its collective's time and busbw" "$([ "$(sqlite3 "$trace" "SELECT max(t_end_ps) - min(t_start_ps) FROM launch_times WHERE run_id = (SELECT id FROM timing_runs WHERE label = 'check')")" = "$(q "SELECT time_ps FROM collective_results WHERE point_id = 4")" ]; echo $?)"
check "busiest links per class stored" "$(q "SELECT count(*) > 0 FROM link_results WHERE point_id = 4 AND class = 'hbm' AND busy_pct > 0" | grep -qx 1; echo $?)"
# resume: the same spec skips every finished point
TOOL=$SWEEP expect 0 "" -- "$dir/ar.yaml" -o "$dir/ar.study"
check "a rerun skips the finished points" "$(grep -q ': 6 points: 0 run, 6 already done, 0 failed; 0 traces made' "$dir/out"; echo $?)"
TOOL=$SWEEP expect 0 "" -- report "$dir/ar.study" --csv
check "report --csv: a header and 6 rows" "$([ "$(wc -l <"$dir/out")" = 7 ] && head -1 "$dir/out" | grep -q '^point_id,status,error,ccl_allreduce.n_elem,'; echo $?)"
TOOL=$SWEEP expect 0 "" -- report "$dir/ar.study" --json
check "report --json is valid JSON with 6 rows" "$(sqlite3 :memory: "SELECT json_array_length(readfile('$dir/out'))" | grep -qx 6; echo $?)"
# ---- the HTML plots: a line per series value, axis labels with units, a legend; rendered in Chromium ----
TOOL=$SWEEP expect 0 "" -- report "$dir/ar.study" --html "$dir/ar.html" --metric busbw_gbps
check "html: one plot for two axes, a line per HBM bandwidth" "$([ "$(grep -c '<polyline' "$dir/ar.html")" = 3 ] && grep -q '>busbw (GB/s)</text>' "$dir/ar.html" && grep -q '>ccl_allreduce.n_elem</text>' "$dir/ar.html"; echo $?)"
check "html: the legend names the series values" "$(grep -q 'font-size="11">50</text>' "$dir/ar.html" && grep -q 'a line per cube.components.hbm.attrs.bandwidth_gbps' "$dir/ar.html"; echo $?)"
TOOL=$SWEEP expect 2 "no metric 'nope' in the study (metrics: total_ps" -- report "$dir/ar.study" --html "$dir/x.html" --metric nope
if command -v chromium >/dev/null; then
	timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,900 \
		--screenshot="$dir/ar.png" "file://$dir/ar.html" >/dev/null 2>&1
	size=$(stat -c %s "$dir/ar.png" 2>/dev/null || echo 0)
	check "the study page renders in headless Chromium (screenshot $size bytes)" "$([ "$size" -gt 20000 ]; echo $?)"
fi
# failed points are rows with their error; the sweep goes on and exits 1
cat >"$dir/bad.yaml" <<'YAML'
bench: gemm
axes:
  cube.components.hbm.attrs.bandwidth_gbps: [100, 0]
  gemm.N: [128, 100000000]
YAML
TOOL=$SWEEP expect 1 "" -- "$dir/bad.yaml" -o "$dir/bad.study"
check "failed points: stored with their error" "$(sqlite3 "$dir/bad.study" "SELECT count(*) FROM sweep_v WHERE status = 'failed' AND error <> ''" | grep -qx 3 && sqlite3 "$dir/bad.study" "SELECT count(*) FROM sweep_v WHERE status = 'ok'" | grep -qx 1; echo $?)"
check "a failed point's error says why" "$(sqlite3 "$dir/bad.study" "SELECT error FROM points WHERE settings LIKE '%bandwidth_gbps=0%' LIMIT 1" | grep -q 'must be > 0'; echo $?)"
# zip, and a trace spec
echo "trace: $trace" >"$dir/zip.yaml"
cat >>"$dir/zip.yaml" <<'YAML'
axes:
  cube.components.hbm.attrs.bandwidth_gbps: [25, 400]
  cube.pe_template.clock_ghz: [0.5, 2]
combine: zip
YAML
TOOL=$SWEEP expect 0 "" -- "$dir/zip.yaml" -o "$dir/zip.study"
check "zip: 2 points on the given trace, none traced" "$(grep -q ': 2 points: 2 run, 0 already done, 0 failed; 0 traces made' "$dir/out"; echo $?)"
# bad input: one line, exit 2
printf 'bench: gemm\naxes:\n  gemm.N: [1, 2]\nfoo: 1\n' >"$dir/b1.yaml"
TOOL=$SWEEP expect 2 "b1.yaml:4:1: unknown key 'foo' (known: bench, trace, set, axes, combine)" -- "$dir/b1.yaml" -o "$dir/x.study"
printf 'trace: %s\naxes:\n  sip.cube_mesh.w: [2]\n' "$trace" >"$dir/b2.yaml"
TOOL=$SWEEP expect 2 "'sip.cube_mesh.w=2' changes the trace, not only its timing" -- "$dir/b2.yaml" -o "$dir/x.study"
printf 'bench: gemm\naxes:\n  a: [1, 2]\n  b: [1]\ncombine: zip\n' >"$dir/b3.yaml"
TOOL=$SWEEP expect 2 "combine: zip needs lists of one length" -- "$dir/b3.yaml" -o "$dir/x.study"
printf 'bench: gemm\naxes: [\n' >"$dir/b4.yaml"
TOOL=$SWEEP expect 2 "b4.yaml:3:1: YAML syntax error" -- "$dir/b4.yaml" -o "$dir/x.study"
TOOL=$SWEEP expect 2 "holds a study of another spec" -- "$dir/zip.yaml" -o "$dir/ar.study"
TOOL=$SWEEP expect 2 "exists and is not a kernbench study" -- "$dir/ar.yaml" -o "$trace"
TOOL=$SWEEP expect 2 "missing -o STUDY.db" -- "$dir/ar.yaml"
TOOL=$SWEEP expect 2 "is not a kernbench study" -- report "$trace"
# ---- ranges: a column per label in sweep_v (the attention panels) ----
top=$(cd "$(dirname "$0")/.." && pwd)
TOOL=$SWEEP expect 0 "" -- "$top/examples/sweeps/gqa_panels.yaml" -o "$dir/gqa.study" -q
check "sweep_v has a column per panel" "$(sqlite3 "$dir/gqa.study" "SELECT count(*) FROM pragma_table_info('sweep_v') WHERE name IN ('single_user_prefill_us', 'multi_user_prefill_us', 'single_user_decode_us', 'multi_user_decode_us')" | grep -qx 4; echo $?)"
check "the multi-user prefill gains from cube-link bandwidth" "$(sqlite3 "$dir/gqa.study" "SELECT (SELECT multi_user_prefill_us FROM sweep_v WHERE point_id = 1) > (SELECT multi_user_prefill_us FROM sweep_v WHERE point_id = 3)" | grep -qx 1; echo $?)"
"$TRACE" bench milestone-gqa-llama70b -o "$dir/gqa.db" --set milestone-gqa-llama70b.s_q_prefill=8 2>/dev/null
"$TIME" "$dir/gqa.db" -q --label c8 --set sip.components.cube_link.attrs.bandwidth_gbps=8
check "a panel's time equals kb-time's range span to the picosecond" "$([ "$(sqlite3 "$dir/gqa.db" "SELECT max(t.t_end_ps) - min(t.t_start_ps) FROM range_times_v t WHERE t.run = 'c8' AND t.label = 'multi_user_prefill'")" = "$(sqlite3 "$dir/gqa.study" "SELECT time_ps FROM range_results WHERE point_id = 1 AND label = 'multi_user_prefill'")" ]; echo $?)"

# ---- --keep-ops: the chosen points' op rows, as a timing run in their trace ----
TOOL=$SWEEP expect 0 "" -- "$dir/zip.yaml" -o "$dir/keep.study" --keep-ops 2
h2=$(sqlite3 "$dir/keep.study" "SELECT hash FROM points WHERE id = 2")
check "--keep-ops 2: point 2's op rows are a timing run of its trace, equal to its summary" "$([ "$(sqlite3 "$trace" "SELECT total_ps FROM timing_runs WHERE label = 'sweep-$h2'")" = "$(sqlite3 "$dir/keep.study" "SELECT total_ps FROM sweep_v WHERE point_id = 2")" ] && [ "$(sqlite3 "$trace" "SELECT count(*) FROM op_times WHERE run_id = (SELECT id FROM timing_runs WHERE label = 'sweep-$h2')")" = "$(sqlite3 "$trace" "SELECT count(*) FROM ops")" ]; echo $?)"
check "--keep-ops 2 kept no other point" "$(sqlite3 "$trace" "SELECT count(*) FROM timing_runs WHERE label LIKE 'sweep-%'" | grep -qx 1; echo $?)"
TOOL=$SWEEP expect 2 "--keep-ops '1,x': expected point numbers (1,5) or all" -- "$dir/zip.yaml" -o "$dir/keep2.study" --keep-ops 1,x

# ---- a kill leaves the finished points committed and the study consistent; a rerun resumes ----
cat >"$dir/kill.yaml" <<'YAML'
bench: synthetic
set: ["synthetic.ops=1000000"]
axes:
  cube.components.hbm.attrs.bandwidth_gbps: [25, 50, 100, 200]
  sip.components.cube_link.attrs.bandwidth_gbps: [32, 64, 128]
YAML
"$SWEEP" "$dir/kill.yaml" -o "$dir/kill.study" -j 2 -q &
pid=$!
for i in $(seq 1 300); do # until the first round is stored, then kill it
	[ "$(sqlite3 "$dir/kill.study" "SELECT count(*) FROM points" 2>/dev/null)" -ge 1 ] 2>/dev/null && break
	sleep 0.1
done
kill -TERM "$pid" 2>/dev/null # (a background job ignores SIGINT in a script)
wait "$pid" 2>/dev/null
check "after a kill: the study is consistent" "$(sqlite3 "$dir/kill.study" "PRAGMA integrity_check" | grep -qx ok; echo $?)"
done_before=$(sqlite3 "$dir/kill.study" "SELECT count(*) FROM points WHERE status = 'ok'")
TOOL=$SWEEP expect 0 "" -- "$dir/kill.yaml" -o "$dir/kill.study" -j 2
check "the kill came mid-sweep ($done_before of 12 points were done)" "$([ "$done_before" -ge 1 ] && [ "$done_before" -lt 12 ]; echo $?)"
check "a rerun after the kill runs only what was left ($done_before were done)" "$(grep -qE ": 12 points: $((12 - done_before)) run, $done_before already done, 0 failed" "$dir/out" && sqlite3 "$dir/kill.study" "SELECT count(*) FROM sweep_v WHERE status = 'ok'" | grep -qx 12; echo $?)"

# ---- progress: points done, failed so far, ETA ----
KB_PROGRESS=always "$SWEEP" "$dir/bad.yaml" -o "$dir/bad2.study" >/dev/null 2>"$dir/err"
check "kb-sweep: progress with points, failures and ETA" "$(grep -qE '^kb-sweep: all 2 traces, 3 failed: 4 of 4 points \([0-9.]+ s, ETA 0 s\)$' "$dir/err"; echo $?)"

echo "cli_sweep: $pass passed, $fail failed"
[ "$fail" = 0 ]
