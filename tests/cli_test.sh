#!/usr/bin/env bash
# cli_test.sh — the command-line contract of kb-trace: exit codes, one-line
# errors naming file:line and key, --set routing, and that a failed run
# never damages an existing trace.
source "$(dirname "$0")/cli_lib.sh"

expect 0 "" -- --help
grep -q "usage: kb-trace" "$dir/out"; check "--help prints usage" $?
expect 0 "" -- --version
grep -q "kb-trace 0" "$dir/out"; check "--version prints the version" $?
expect 0 "" -- list
for b in gemm va_offset_verify gpt3_qkv; do grep -q "^$b " "$dir/out"; check "list shows $b" $?; done

expect 2 "unknown bench 'nope' (benches: gemm, va_offset_verify, gpt3_qkv, synthetic, fabric_traffic, ccl_allreduce, hello_send, allreduce_sweep, ccl_collective, milestone-gqa-llama70b, tp_mlp)" -- bench nope
expect 2 "missing command" --
expect 2 "bad option '--frobnicate'" -- bench gemm --frobnicate
expect 2 "option '--set' needs a value" -- bench gemm --set
expect 2 "'bench' needs a bench name" -- bench

# a good trace, then failures that must leave it intact
expect 0 "" -- bench gemm -o "$dir/g.db"
q() { sqlite3 "$dir/g.db" "$1"; }
check "gemm M|N|K|flops" "$([ "$(q 'SELECT M, N, K, flops FROM gemm_v')" = "256|256|256|33554432" ]; echo $?)"
check "gemm dma reads" "$([ "$(q "SELECT count(*) FROM dma_v WHERE direction = 'read'")" = 2 ]; echo $?)"
check "gemm dma write va/pa" "$([ "$(q "SELECT printf('0x%x 0x%x', va, pa) FROM dma_v WHERE direction = 'write'")" = "0x100040000 0x2000040000" ]; echo $?)"
sum=$(md5sum <"$dir/g.db")

printf 'sip:\n  cube_mesh: { w: 4, h: 4\n' >"$dir/broken.yaml"
expect 2 "broken.yaml:3:1: YAML syntax error" -- bench gemm -o "$dir/g.db" --topology "$dir/broken.yaml"
printf 'sip:\n  cube_mesh:\n    w: 4\n    hh: 4\n' >"$dir/misspelt.yaml"
expect 2 "misspelt.yaml:4:5: unknown key 'sip.cube_mesh.hh' (known here: w, h)" -- bench gemm -o "$dir/g.db" --topology "$dir/misspelt.yaml"
printf 'cube:\n  components:\n    hbm: { attrs: { bandwidth_gbps: 0 } }\n' >"$dir/zero.yaml"
expect 2 "zero.yaml:3:37: cube.components.hbm.attrs.bandwidth_gbps: 0 must be > 0 GB/s" -- bench gemm -o "$dir/g.db" --topology "$dir/zero.yaml"
expect 2 "cannot open '$dir/none.yaml'" -- bench gemm -o "$dir/g.db" --topology "$dir/none.yaml"
expect 2 "--set sip.cube_mesh.q=1: unknown topology key" -- bench gemm -o "$dir/g.db" --set sip.cube_mesh.q=1
expect 2 "--set ccl.defaults.n_slots=0: defaults.n_slots: 0 is out of range" -- bench gemm -o "$dir/g.db" --set ccl.defaults.n_slots=0
expect 2 "sip.cube_mesh.w: 0 is out of range (1..32)" -- bench gemm -o "$dir/g.db" --set sip.cube_mesh.w=0
expect 2 "bench 'gemm' has no parameter 'Z'" -- bench gemm -o "$dir/g.db" --set gemm.Z=1
expect 2 "tile" -- bench gemm -o "$dir/g.db" --set gemm.TM=0
expect 2 "kernel 'gemm' on sip0.cube0.pe0: load: needs 2.00 MB of kernel scratch" -- bench gemm -o "$dir/g.db" --set gemm.M=4096 --set gemm.TM=4096
check "failed runs left the existing trace intact" "$([ "$(md5sum <"$dir/g.db")" = "$sum" ]; echo $?)"
check "no temporaries left" "$(ls "$dir" | grep -q tmp; [ $? = 1 ]; echo $?)"

# overrides reach the bench and the embedded config
expect 0 "" -- bench gemm -o "$dir/g2.db" --set gemm.M=512 --set sip.cube_mesh.w=2 --set ccl.defaults.n_slots=8
check "--set gemm.M=512" "$([ "$(sqlite3 "$dir/g2.db" 'SELECT count(*), sum(M) FROM gemm_v')" = '2|512' ]; echo $?)"
check "overrides recorded" "$(sqlite3 "$dir/g2.db" "SELECT value FROM meta WHERE key = 'topology_overrides'" | grep -qx 'sip.cube_mesh.w=2'; echo $?)"
check "yaml embedded" "$(sqlite3 "$dir/g2.db" "SELECT value FROM meta WHERE key = 'topology_yaml'" | grep -q 'cube_mesh: { w: 4, h: 4 }'; echo $?)"

# ---- kb-time ----
TOOL=$TIME
expect 0 "" -- --help
grep -q "usage: kb-time" "$dir/out"; check "kb-time --help" $?
expect 0 "" -- "$dir/g.db"
grep -q "timing run 'run1': 11 ops, total simulated time 32.658 us (32658410 ps)" "$dir/out"; check "kb-time total" $?
grep -q "^busiest links:" "$dir/out"; check "kb-time lists links" $?
grep -q "^critical path: 10 ops over 32.658 us" "$dir/out"; check "kb-time prints the critical path" $?
expect 0 "" -- "$dir/g.db" --set cube.components.hbm.attrs.bandwidth_gbps=200 --label fast --json
check "--json is valid JSON" "$([ "$(sqlite3 :memory: "SELECT json_valid(readfile('$dir/out'))")" = 1 ]; echo $?)"
check "--json total" "$([ "$(sqlite3 :memory: "SELECT json_extract(readfile('$dir/out'), '\$.total_ps')")" = 30692330 ]; echo $?)"
check "--json critical path" "$([ "$(sqlite3 :memory: "SELECT json_extract(readfile('$dir/out'), '\$.critical_path.ops')")" = 10 ]; echo $?)"
check "both runs stored" "$([ "$(sqlite3 "$dir/g.db" 'SELECT group_concat(label) FROM (SELECT label FROM timing_runs ORDER BY id)')" = "run1,fast" ]; echo $?)"
expect 0 "" -- "$dir/g.db" --quiet --label q
check "--quiet prints nothing" "$([ ! -s "$dir/out" ]; echo $?)"
sum=$(md5sum <"$dir/g.db")
expect 2 "a timing run labelled 'fast' exists (use --replace or another --label)" -- "$dir/g.db" --label fast
expect 2 "sip.cube_mesh.w is 2 but the trace was recorded with 4" -- "$dir/g.db" --set sip.cube_mesh.w=2 --label x
expect 2 "unknown topology key 'sip.nope'" -- "$dir/g.db" --set sip.nope=1
expect 2 "bandwidth_gbps: 0 must be > 0 GB/s" -- "$dir/g.db" --set cube.components.hbm.attrs.bandwidth_gbps=0
expect 2 "zero.yaml:3:37" -- "$dir/g.db" --topology "$dir/zero.yaml"
check "failed kb-time runs left the trace byte-identical" "$([ "$(md5sum <"$dir/g.db")" = "$sum" ]; echo $?)"
expect 2 "missing the trace file" --
expect 2 "cannot open '$dir/none.db': no such file" -- "$dir/none.db"
echo "not a database, just text" >"$dir/text.db"
expect 2 "not a kernbench trace" -- "$dir/text.db"
cp "$dir/g.db" "$dir/newer.db"; sqlite3 "$dir/newer.db" "PRAGMA user_version=8"
expect 2 "schema version 8 is newer than this tool (7)" -- "$dir/newer.db"
sqlite3 "$dir/other.db" "CREATE TABLE t(x)"
expect 2 "not a kernbench trace (SQLite application_id 0x0)" -- "$dir/other.db"
expect 2 "--top '-1'" -- "$dir/g.db" --top -1
unset TOOL

# ---- kb-replay ----
TOOL=$REPLAY
expect 0 "" -- --help
grep -q "usage: kb-replay" "$dir/out"; check "kb-replay --help" $?
expect 0 "" -- "$dir/g.db" --verify
grep -q "PASS C: 65536 values" "$dir/out"; check "replay verifies gemm" $?
grep -q "^verify: OK (1 of 1 expectations passed, 0 problems)" "$dir/out"; check "replay summary" $?
grep -q "(q)" "$dir/out"; check "replay follows the newest run" $?
expect 0 "" -- "$dir/g.db" --verify --run fast --order time
expect 0 "" -- "$dir/g.db" --verify --order dataflow
expect 2 "no timing run labelled 'nope'" -- "$dir/g.db" --verify --run nope
expect 2 "--order 'random': expected time or dataflow" -- "$dir/g.db" --verify --order random
expect 2 "not a kernbench trace" -- "$dir/text.db" --verify
"$TRACE" bench va_offset_verify -o "$dir/v.db" && expect 2 "no timing run (run kb-time first, or replay with --order dataflow)" -- "$dir/v.db" --verify
expect 0 "" -- "$dir/v.db" --verify --order dataflow
# replays that must fail verification (exit 1); the report goes to $dir/out
failing_replay() {
	"$REPLAY" "$1" --verify >"$dir/out" 2>&1
	check "kb-replay $1 --verify exits 1" "$([ $? = 1 ]; echo $?)"
}
# a timing run edited so the store of C starts before the cast wrote it
cp "$dir/g.db" "$dir/edited.db"
sqlite3 "$dir/edited.db" "UPDATE op_times SET t_start_ps = (SELECT t_start_ps FROM op_times t WHERE t.run_id = op_times.run_id AND t.op_id = 9) WHERE op_id = 11"
failing_replay "$dir/edited.db"
grep -q "op 11 (dma_write on sip0.cube0.pe0) read its input before op 10 (math:cast on sip0.cube0.pe0) wrote it" "$dir/out"; check "edited timing names the ops" $?
grep -q "^  FAIL C: 65536 values" "$dir/out"; check "edited timing fails C" $?
expect 0 "" -- "$dir/edited.db" --verify --order dataflow
# one byte of stored input data corrupted
cp "$dir/g.db" "$dir/corrupt.db"
sqlite3 "$dir/corrupt.db" "UPDATE blobs SET data = substr(data, 1, 99) || x'A5' || substr(data, 101) WHERE id = 2"
failing_replay "$dir/corrupt.db"
grep -q "op 5 (host_write on sip0.cube0.pe0): its host data is corrupt" "$dir/out"; check "corrupt blob reported as corrupt" $?
grep -q "mismatches" "$dir/out"; check "corrupt blob is not reported as a numeric mismatch" "$([ $? = 1 ]; echo $?)"
unset TOOL

# ---- damaged traces: one line and exit 2 from both passes, never a crash ----
damaged() { # sql edit, expected message
	cp "$dir/g.db" "$dir/d.db"
	sqlite3 "$dir/d.db" "$1"
	TOOL=$TIME expect 2 "$2" -- "$dir/d.db"
	TOOL=$REPLAY expect 2 "$2" -- "$dir/d.db" --verify --order dataflow
}
damaged "UPDATE ops SET a_pa = 12345678901234567 WHERE id = 7" "op 7: physical address 0x2bdc545d6b4b87: not a 51-bit value"
damaged "UPDATE ops SET a_shape = 999 WHERE id = 7" "ops row 7: a_space / a_dtype / a_shape (all set or all 0, shape an existing id): the trace is damaged"
damaged "DELETE FROM ops WHERE id = 3" "launches row 1: host_op_id / rank / n_pes / first_op_id / end_op_id"
damaged "UPDATE ops SET sip = 7 WHERE id = 7" "sip7.cube0.pe0"
damaged "DELETE FROM meta WHERE key = 'topology_yaml'" "the trace has no embedded topology"
# the op pack (ops as compressed chunks, what kb-time and kb-replay read):
# an edit of the rows deletes it and the rows are read, with the same result
check "the op pack covers every op" "$(q "SELECT (SELECT sum(n_ops) FROM op_pack) = (SELECT count(*) FROM ops)" | grep -qx 1; echo $?)"
cp "$dir/g.db" "$dir/pk.db"; cp "$dir/g.db" "$dir/rw.db"; sqlite3 "$dir/rw.db" "UPDATE ops SET seq = seq WHERE id = 1"
check "an edit of ops deletes the op pack" "$(sqlite3 "$dir/rw.db" "SELECT count(*) FROM op_pack" | grep -qx 0; echo $?)"
"$TIME" "$dir/pk.db" --quiet && "$TIME" "$dir/rw.db" --quiet
check "op pack and rows give the same op times" "$(sqlite3 "$dir/pk.db" "ATTACH '$dir/rw.db' AS r; SELECT count(*) || ' ' || sum(a.t_start_ps = b.t_start_ps AND a.t_end_ps = b.t_end_ps AND a.wait = b.wait) FROM op_times a JOIN r.op_times b USING (op_id) WHERE a.run_id = (SELECT max(id) FROM main.timing_runs) AND b.run_id = (SELECT max(id) FROM r.timing_runs)" | awk '$1 == $2 && $1 > 0 { ok = 1 } END { exit !ok }'; echo $?)"
"$REPLAY" "$dir/pk.db" --verify --quiet >"$dir/out" 2>&1; check "kb-replay --verify from the op pack" $?
# a v3 trace (no pack) is upgraded by kb-time: an empty pack and its triggers
cp "$dir/g.db" "$dir/v3.db"
sqlite3 "$dir/v3.db" "DROP TABLE op_pack; $(q "SELECT group_concat('DROP TRIGGER ' || name, ';') FROM sqlite_master WHERE type = 'trigger'"); DROP VIEW op_times_v; ALTER TABLE op_times DROP COLUMN queue_ps; PRAGMA user_version=3"
"$TIME" "$dir/v3.db" --quiet
check "the upgrade adds op_times.queue_ps" "$(sqlite3 "$dir/v3.db" "SELECT count(*) FROM pragma_table_info('op_times') WHERE name = 'queue_ps'" | grep -qx 1; echo $?)"
check "kb-time upgrades a v3 trace to v7" "$(sqlite3 "$dir/v3.db" "SELECT (SELECT user_version FROM pragma_user_version) || ' ' || (SELECT count(*) FROM sqlite_master WHERE type = 'trigger') || ' ' || (SELECT count(*) FROM op_pack)" | grep -qx "7 6 0"; echo $?)"
damaged "UPDATE op_pack SET data = substr(data, 1, 20) || x'00' || substr(data, 22)" "op_pack chunk of op 1: data does not decompress: the trace is damaged"
damaged "UPDATE op_pack SET raw_bytes = raw_bytes + 1" "op_pack chunk of op 1: data is not a zstd frame of raw_bytes: the trace is damaged"
damaged "UPDATE op_pack SET raw_bytes = 3" "op_pack chunk of op 1: raw_bytes out of range: the trace is damaged"
damaged "UPDATE op_pack SET data = x'00'" "op_pack chunk of op 1: data is not a zstd frame of raw_bytes: the trace is damaged"
# issue 8's reproducers: each one line, exit 2, from kb-time and kb-replay alike
damaged "UPDATE shards SET row0 = 2147483648" "shards (tensor id) row 1: tensor_id / row0 / col0 / rows / cols inside the tensor"
damaged "UPDATE shards SET row0 = -1" "shards (tensor id) row 1: tensor_id / row0 / col0 / rows / cols inside the tensor"
damaged "UPDATE shapes SET ndim = 1" "shapes row 1: ndim / d0..d3 (1 to 4 dimensions of 1..2^31-1, at most 2^40 elements)"
damaged "UPDATE shapes SET ndim = 99" "shapes row 1: ndim / d0..d3"
damaged "UPDATE shapes SET d0 = 2147483648" "shapes row 1: ndim / d0..d3"
damaged "UPDATE shapes SET d0 = 9223372036854775807" "shapes row 1: ndim / d0..d3"
damaged "UPDATE shapes SET id = -1 WHERE id = 1" "shapes ids run -1..-1 over 1 rows, not 1..1"
damaged "UPDATE ops SET dst_space = 0 WHERE id = 4" "ops row 4: dst_space / dst_dtype / dst_shape (all set or all 0, shape an existing id)"
damaged "UPDATE ops SET a_space = 0 WHERE id = 8" "ops row 8: a_space / a_dtype / a_shape"
damaged "UPDATE ops SET kind = 7 WHERE id = 1" "ops row 1: launch_id: host kinds run on a rank's host stream (0), device kinds inside a launch"
damaged "UPDATE ops SET kind = 6 WHERE id = 7" "ops row 7: b_space: this kind reads operand b"
damaged "UPDATE ops SET kind = 6" "launches row 1: host_op_id / rank / n_pes / first_op_id / end_op_id"
damaged "UPDATE launches SET id = -1" "launches ids run -1..-1 over 1 rows, not 1..1"
damaged "UPDATE ops SET dst_pa = -1000000 WHERE id = 5" "op 5: physical address 0xfffffffffff0bdc0: not a 51-bit value"
damaged "UPDATE ops SET dst_pa = (dst_pa & ~536870911) | 16777200 WHERE id = 7" "op 7: 131072 bytes at physical address 0xfffff0 run past the end of the 16777216-byte tcm"
damaged "UPDATE ops SET attr = 99999999999 WHERE id = 7" "ops row 7: attr: a DMA's row stride is 0..2^31-1 elements"
damaged "UPDATE ops SET bytes = -5 WHERE id = 7" "ops row 7: bytes out of range"
damaged "UPDATE blobs SET raw_bytes = 99999999999999" "blobs row 1: raw_bytes / elem_size (at most 16 GiB a blob)"
damaged "UPDATE expectations SET tensor_id = 77" "expectations row 1: tensor_id / blob_id (or a ramp: one of the two) / rtol (0..1.0) / atol (0..1.0)"
damaged "UPDATE expectations SET blob_id = 0" "expectations row 1: tensor_id / blob_id (or a ramp: one of the two)"
damaged "INSERT INTO expectation_ramps VALUES(1, 1.0, 0.0, 0.0)" "expectations row 1: tensor_id / blob_id (or a ramp: one of the two)"
damaged "UPDATE expectations SET blob_id = 0; INSERT INTO expectation_ramps VALUES(1, 1e300, 0.0, 0.0)" "expectation_ramps row 1: expectation_id / value / per_row / per_col (finite)"
# an all-reduce's expectation is a ramp (the sum everywhere): checked without a blob, and a wrong one fails
"$TRACE" bench ccl_allreduce -o "$dir/ramp.db" -q 2>/dev/null && "$TIME" "$dir/ramp.db" -q
check "all-reduce expectations are ramps, no expected blobs" "$([ "$(sqlite3 "$dir/ramp.db" "SELECT (SELECT count(*) FROM expectations_v WHERE form = 'ramp' AND value = 48.0) || ' ' || (SELECT count(*) FROM blobs WHERE kind = 'expected')")" = "2 0" ]; echo $?)"
sqlite3 "$dir/ramp.db" "UPDATE expectation_ramps SET value = 47.0 WHERE expectation_id = 2"
"$REPLAY" "$dir/ramp.db" --verify >"$dir/out" 2>&1
check "a wrong ramp fails verification (exit 1)" "$([ $? = 1 ]; echo $?)"
check "its first mismatch named" "$(grep -qF 'first at ccl_in_r1[0,0] on sip1.cube0.pe0: got 48, expected 47' "$dir/out"; echo $?)"
"$TRACE" bench gemm --set gemm.N=128 -o "$dir/n128.db" 2>/dev/null && "$TIME" "$dir/n128.db" -q
cp "$dir/n128.db" "$dir/d.db"; sqlite3 "$dir/d.db" "UPDATE ops SET attr = 2 WHERE id = 9"
TOOL=$REPLAY expect 2 "ops row 9: a_shape / b_shape / dst_shape / attr: the GEMM's dimensions do not agree" -- "$dir/d.db" --verify
cp "$dir/g.db" "$dir/d.db"; sqlite3 "$dir/d.db" "UPDATE op_times SET t_start_ps = -5 WHERE op_id = 7"
TOOL=$REPLAY expect 2 "op_times row of op 7: op id / t_start_ps -5 / t_end_ps" -- "$dir/d.db" --verify

# ---- the pipeline: trace -> time -> replay --verify, default and larger sizes ----
pipeline() { # name, then --set options
	local name=$1; shift
	"$TRACE" bench "$name" -o "$dir/p.db" "$@" 2>"$dir/err" && "$TIME" "$dir/p.db" --quiet 2>>"$dir/err" &&
		"$REPLAY" "$dir/p.db" --verify --quiet >"$dir/out" 2>>"$dir/err"
	check "pipeline $name $*: $(tail -1 "$dir/out") $(cat "$dir/err")" $?
}
pipeline gemm
pipeline gemm --set gemm.M=1024 --set gemm.K=768 --set gemm.N=512 --set gemm.TM=128 --set gemm.TN=256 --set gemm.TK=256
pipeline va_offset_verify
pipeline va_offset_verify --set va_offset_verify.M=256 --set va_offset_verify.cols_per_pe=32
pipeline gpt3_qkv
pipeline gpt3_qkv --set gpt3_qkv.D=2048 --set gpt3_qkv.M=64
for p in 0 1 2 3 4; do pipeline fabric_traffic --set fabric_traffic.pattern=$p; done
pipeline fabric_traffic --set fabric_traffic.pattern=1 --set sip.cube_mesh.w=3 --set sip.cube_mesh.h=2
pipeline fabric_traffic --set fabric_traffic.pattern=2 --set fabric_traffic.hot=5 --set fabric_traffic.iters=3
pipeline fabric_traffic --set fabric_traffic.pattern=3 --set system.sips.count=4 --set system.sips.topology=torus_2d

# ---- -o never destroys a user's file ----
echo "my notes" >"$dir/notes.txt"
TOOL="$BIN/kb-trace" expect 2 "'$dir/notes.txt' exists and is not a kernbench trace: refusing to replace it (choose another -o)" -- bench gemm -o "$dir/notes.txt" --force
check "notes.txt untouched" "$([ "$(cat "$dir/notes.txt")" = "my notes" ]; echo $?)"
"$BIN/kb-trace" bench gemm -o "$dir/once.db" -q 2>/dev/null
TOOL="$BIN/kb-trace" expect 2 "'$dir/once.db' exists: --force replaces it" -- bench gemm -o "$dir/once.db"
touch "$dir/once.db.tmp-999999"
"$BIN/kb-trace" bench gemm -o "$dir/once.db" --force -q 2>"$dir/err"
check "stale temporary removed and reported" "$([ ! -e "$dir/once.db.tmp-999999" ] && grep -q "removed '$dir/once.db.tmp-999999', left by a run that died" "$dir/err"; echo $?)"
mkfifo "$dir/fifo.db" "$dir/fifo.yaml"
TOOL=$REPLAY expect 2 "'$dir/fifo.db' is not a regular file (a trace is an SQLite file)" -- "$dir/fifo.db" --verify
expect 2 "'$dir/fifo.yaml' is not a regular file" -- bench gemm -o "$dir/x.db" --topology "$dir/fifo.yaml"
cp "$dir/g.db" "$dir/ro.db"; chmod 444 "$dir/ro.db"
if [ "$(id -u)" != 0 ]; then
	TOOL=$TIME expect 2 "'$dir/ro.db' is read-only: kb-time stores its timing run in the trace" -- "$dir/ro.db"
fi
printf 'sip:\n  cube_mesh:\n    w: 4\0\n' >"$dir/nul.yaml"
expect 2 "nul.yaml:3:9: a NUL byte in the text" -- bench gemm -o "$dir/x.db" --topology "$dir/nul.yaml"
printf 'sip:\n  cube_mesh:\n    w: 4 # caf\xe9\n' >"$dir/utf.yaml"
expect 2 "utf.yaml:3:15: invalid UTF-8 (byte 0xe9)" -- bench gemm -o "$dir/x.db" --topology "$dir/utf.yaml"
long=$(printf 'a%.0s' $(seq 48))
expect 2 "the name in 'algorithms.$long.n_slots' is longer than 47 characters" -- bench gemm -o "$dir/x.db" --set "ccl.algorithms.$long.n_slots=3"
expect 2 "cube.components.hbm.attrs.bandwidth_gbps: 1e-300 is below the 0.001 GB/s a machine can have" -- bench gemm -o "$dir/x.db" --set cube.components.hbm.attrs.bandwidth_gbps=1e-300
expect 2 "cube.pe_template.clock_ghz: 1e-300 is below the 0.001 GHz a machine can have" -- bench gemm -o "$dir/x.db" --set cube.pe_template.clock_ghz=1e-300
expect 2 "gemm.M=1.84467e+19 is out of range (|value| <= 2^53)" -- bench gemm -o "$dir/x.db" --set gemm.M=18446744073709551616
expect 2 "tensor 'src_r0': dimension 0 is 3000000000 (1..2147483647)" -- bench va_offset_verify -o "$dir/x.db" --set va_offset_verify.M=3e9
expect 2 "the host reference of a 256x1000000x256 GEMM is 6.55e+10 multiply-adds, over the 1.72e+10 budget" -- bench gemm -o "$dir/x.db" --set gemm.K=1e6

# ---- IPCQ collectives: the seed's allreduce matrix, each with its OK line ----
collective() { # algorithm, world size, expected OK line suffix, then --set options
	local algo=$1 ws=$2; shift 2
	"$TRACE" bench ccl_allreduce -o "$dir/c.db" --set ccl.defaults.algorithm="$algo" "$@" 2>"$dir/err" &&
		"$TIME" "$dir/c.db" --quiet 2>>"$dir/err" && "$REPLAY" "$dir/c.db" --verify >"$dir/out" 2>>"$dir/err" &&
		grep -qx "  $algo (ws=$ws): $ws OK" "$dir/out" &&
		"$REPLAY" "$dir/c.db" --verify --order dataflow --quiet >/dev/null 2>>"$dir/err"
	check "collective $algo ws=$ws $*: $(grep -E 'OK|FAIL' "$dir/out" | head -2) $(cat "$dir/err")" $?
}
collective ring_allreduce_tcm 8
collective ring_allreduce_hbm 8
collective ring_allreduce_sram 8
collective ring_allreduce_16 16
collective mesh_allreduce_4 4
collective tree_allreduce_7 7
collective ring_allreduce_tcm 2 --set ccl.algorithms.ring_allreduce_tcm.world_size=2
collective ring_allreduce_tcm 256 --set ccl.algorithms.ring_allreduce_tcm.world_size=256 --set ccl_allreduce.n_elem=8
# replay holds the ops packed: at most 100 bytes each (ops, events, bookkeeping) on this 196,898-op trace
bpo=$(sed -n 's/^memory: .* (\([0-9.]*\) B\/op).*/\1/p' "$dir/out")
check "replay memory per op ${bpo:-missing} B <= 100" "$(awk -v b="${bpo:-999}" 'BEGIN { exit !(b > 20 && b <= 100) }'; echo $?)"
collective mesh_allreduce_4 16 --set ccl.algorithms.mesh_allreduce_4.world_size=16 \
	--set ccl.algorithms.mesh_allreduce_4.n_slots=1
collective tree_allreduce_7 2 --set ccl.algorithms.tree_allreduce_7.world_size=2
# multi-level: the seed's intercube cases (n_cubes x sum(1..n_sips) = 48 and 160), hierarchical, ring_rsag
ic() { # expected OK line, then --set options (each line: "ALGO (ws=N): M OK")
	local want=$1; shift
	"$TRACE" bench ccl_allreduce -o "$dir/c.db" "$@" 2>"$dir/err" && "$TIME" "$dir/c.db" --quiet 2>>"$dir/err" &&
		"$REPLAY" "$dir/c.db" --verify >"$dir/out" 2>>"$dir/err" && grep -qx "  $want" "$dir/out" &&
		"$REPLAY" "$dir/c.db" --verify --order dataflow --quiet >/dev/null 2>>"$dir/err"
	check "collective '$want' $*: $(grep -E 'OK|FAIL' "$dir/out" | head -2) $(cat "$dir/err")" $?
}
ic "intercube_allreduce (ws=2): 32 OK"                                  # the default ccl.yaml: ring_2sip
ic "intercube_allreduce (ws=4): 64 OK" --set system.sips.count=4 --set system.sips.topology=torus_2d
ic "intercube_allreduce (ws=4): 64 OK" --set system.sips.count=4 --set system.sips.topology=mesh_2d_no_wrap
ic "intercube_allreduce (ws=2): 12 OK" --set sip.cube_mesh.w=2 --set sip.cube_mesh.h=3
ic "intercube_allreduce (ws=2): 12 OK" --set sip.cube_mesh.w=3 --set sip.cube_mesh.h=2 \
	--set ccl.algorithms.intercube_allreduce.root_cube=1
ic "intercube_allreduce (ws=2): 32 OK" --set cube.pe_layout.pe_per_corner=1 --set cube.memory_map.hbm_slices_per_cube=4
ic "hierarchical_allreduce (ws=2): 256 OK" --set ccl.defaults.algorithm=hierarchical_allreduce
ic "hierarchical_allreduce (ws=2): 96 OK" --set ccl.defaults.algorithm=hierarchical_allreduce \
	--set sip.cube_mesh.w=2 --set sip.cube_mesh.h=3
ic "hierarchical_allreduce (ws=2): 128 OK" --set ccl.defaults.algorithm=hierarchical_allreduce \
	--set cube.pe_layout.pe_per_corner=1 --set cube.memory_map.hbm_slices_per_cube=4
ic "hierarchical_allreduce (ws=4): 512 OK" --set ccl.defaults.algorithm=hierarchical_allreduce \
	--set system.sips.count=4 --set ccl_allreduce.n_elem=16
for ws in 2 4 8 16; do
	ic "ring_rsag_allreduce (ws=$ws): $ws OK" --set ccl.defaults.algorithm=ring_rsag_allreduce \
		--set ccl.algorithms.ring_rsag_allreduce.world_size=$ws --set ccl_allreduce.n_elem=8192 \
		--set ccl.algorithms.ring_rsag_allreduce.slot_size=1024
done
ic "ring_rsag_allreduce (ws=6): 6 OK" --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl.algorithms.ring_rsag_allreduce.world_size=6 --set ccl_allreduce.n_elem=1000 \
	--set sip.cube_mesh.w=2 --set sip.cube_mesh.h=3 --set ccl.algorithms.ring_rsag_allreduce.slot_size=256
ic "ring_rsag_allreduce (ws=4): 4 OK" --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl.algorithms.ring_rsag_allreduce.world_size=4 --set cube.pe_layout.pe_per_corner=1 \
	--set cube.memory_map.hbm_slices_per_cube=4 --set ccl_allreduce.n_elem=4096 --set ccl_allreduce.mem=1
# the sweep: one collective per size, the nccl-tests table with #wrong from replay
"$TRACE" bench allreduce_sweep -o "$dir/s.db" --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl.algorithms.ring_rsag_allreduce.world_size=4 --set allreduce_sweep.max_bytes=16384 2>"$dir/err" &&
	"$TIME" "$dir/s.db" >"$dir/tout" 2>>"$dir/err" && "$REPLAY" "$dir/s.db" --verify >"$dir/out" 2>>"$dir/err"
check "allreduce_sweep pipeline $(cat "$dir/err")" $?
check "sweep: 5 sizes timed, '-' before replay" "$([ "$(grep -cE '^  ring_rsag_allreduce +all_reduce +[0-9]+ .* -$' "$dir/tout")" = 5 ]; echo $?)"
check "sweep: 5 sizes, 0 wrong after replay" "$([ "$(grep -cE '^  ring_rsag_allreduce +all_reduce +[0-9]+ .* 0$' "$dir/out")" = 5 ]; echo $?)"
check "sweep: 16384 B = 4096 f32, p 4" "$(grep -qE '^  ring_rsag_allreduce +all_reduce +16384 +4096 +f32 +sum +4 ' "$dir/out"; echo $?)"
"$TIME" "$dir/s.db" --json --label j >"$dir/j.json" 2>/dev/null
check "sweep --json" "$(grep -q '"collectives": \[{"algorithm": "ring_rsag_allreduce", "collective": "all_reduce", "size_bytes": 1024, "count": 256, "type": "f32", "redop": "sum", "ranks": 4, ' "$dir/j.json" && [ "$(grep -o '"size_bytes"' "$dir/j.json" | wc -l)" = 5 ]; echo $?)"
# the same sums with each buffer kind; the channels table shows where the slots live
for k in tcm hbm sram; do
	"$TRACE" bench ccl_allreduce -o "$dir/k.db" --set ccl.defaults.algorithm=ring_allreduce_$k 2>/dev/null
	check "ring_allreduce_$k slots in $k" "$([ "$(sqlite3 "$dir/k.db" "SELECT DISTINCT buffer FROM channels_v")" = "$k" ]; echo $?)"
done
"$TRACE" bench hello_send -o "$dir/h.db" 2>"$dir/err" && "$TIME" "$dir/h.db" -q && "$REPLAY" "$dir/h.db" --verify >"$dir/out"
check "hello_send: rank r holds rank r-1's tile" "$(grep -qx '  hello_send (ws=2, 16 B): 2 OK' "$dir/out"; echo $?)"
expect 2 "ccl algorithm 'ring_allreduce_tcm': module 'nope' is not a registered algorithm (registered: hello_send, ring_allreduce, mesh_allreduce, tree_allreduce, intercube_allreduce, hierarchical_allreduce, ring_rsag_allreduce, ring_allgather, ring_reducescatter, ring_alltoall, ring_broadcast)" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.defaults.algorithm=ring_allreduce_tcm --set ccl.algorithms.ring_allreduce_tcm.module=nope
expect 2 "root_cube 16 is outside the 4x4 cube mesh (0..15; ccl.algorithms.intercube_allreduce.root_cube)" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.algorithms.intercube_allreduce.root_cube=16
expect 2 "mapper all_pes with topology ring_1d (all_pes goes with hierarchical_3level, leader_only with the others; ccl.algorithms.ring_allreduce_tcm.mapper)" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.defaults.algorithm=ring_allreduce_tcm --set ccl.algorithms.ring_allreduce_tcm.mapper=all_pes
expect 2 "kernel 'faulty' on sip0.cube0.pe0: send: no IPCQ channel on direction N on this PE (installed: E, W; wiring from ccl.algorithms.ring_allreduce_tcm.topology = ring_1d)" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.defaults.algorithm=ring_allreduce_tcm --set ccl_allreduce.fault=2
expect 2 "a tile of 64 bytes does not fit a slot of 32 bytes (ccl.algorithms.ring_allreduce_tcm.slot_size or ccl.defaults.slot_size)" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.defaults.algorithm=ring_allreduce_tcm --set ccl.algorithms.ring_allreduce_tcm.slot_size=32
expect 2 "topology mesh_2d needs a square world size, not 8" -- bench ccl_allreduce -o "$dir/x.db" --set ccl.defaults.algorithm=mesh_allreduce_4 --set ccl.algorithms.mesh_allreduce_4.world_size=8
"$TRACE" bench ccl_allreduce -o "$dir/d.db" --set ccl.defaults.algorithm=ring_allreduce_tcm --set ccl_allreduce.fault=1 2>/dev/null
"$TIME" "$dir/d.db" >"$dir/out" 2>"$dir/err"
check "a recv nobody feeds: kb-time exits 3" "$([ $? = 3 ]; echo $?)"
check "deadlock message" "$(grep -q 'deadlock: 3 of 35 ops cannot start; first: op 20 (ipcq_recv on sip0.cube0.pe0)' "$dir/err"; echo $?)"
check "pointer dump" "$(grep -qx '  W: my_head=0 my_tail=0 peer_head_cache=0 peer_tail_cache=0 (sends traced 0, recvs traced 1)' "$dir/err"; echo $?)"
check "stuck op named" "$(grep -q 'sip0.cube0.pe0: stuck on op 20 (ipcq_recv W, waiting for a message no send provides)' "$dir/err"; echo $?)"

# ---- ring attention (validation scale): prefill K/V waves and decode (m, l, o) merge, 8 and 4 ranks ----
pipeline milestone-gqa-llama70b
pipeline milestone-gqa-llama70b --set cube.pe_layout.pe_per_corner=1 --set cube.memory_map.hbm_slices_per_cube=4
pipeline milestone-gqa-llama70b --set milestone-gqa-llama70b.s_q_prefill=8 --set milestone-gqa-llama70b.s_kv_per_rank=32 \
	--set milestone-gqa-llama70b.d_head=32
pipeline milestone-gqa-llama70b --set milestone-gqa-llama70b.h_q=8 --set milestone-gqa-llama70b.h_kv=2 # GQA: 4 q heads per kv head
"$TRACE" bench milestone-gqa-llama70b -o "$dir/gqa.db" --set milestone-gqa-llama70b.h_q=8 --set milestone-gqa-llama70b.h_kv=2 \
	--set milestone-gqa-llama70b.panels=1 2>/dev/null
check "GQA prefill: 2 n^2 h_q GEMMs, K/V waves per kv head" "$([ "$(sqlite3 "$dir/gqa.db" "SELECT count(*) FROM gemm_v")" = 1024 ] && [ "$(sqlite3 "$dir/gqa.db" "SELECT count(*) FROM ops_v WHERE kind = 'ipcq_send'")" = 224 ]; echo $?)"
# Megatron TP (the seed's T1/T2/T6 cases, 2 SIPs = TP 2 unless said): trace, time, replay --verify,
# then the values replay computed against the closed form
tp_case() { # name, tensor, value, --set options...
	local name=$1 tensor=$2 want=$3; shift 3
	"$TRACE" bench tp_mlp -o "$dir/tp.db" "$@" 2>"$dir/err" && "$TIME" "$dir/tp.db" --quiet 2>>"$dir/err" &&
		"$REPLAY" "$dir/tp.db" --verify >"$dir/out" 2>>"$dir/err"
	local rc=$?
	local got
	got=$(sed -n "s/.*PASS $tensor: .*values \([-0-9.e]*\) \.\. \([-0-9.e]*\)$/\1 \2/p" "$dir/out")
	awk -v g="$got" -v w="$want" 'BEGIN { split(g, v, " "); if (g == "") exit 1;
		for (i = 1; i <= 2; i++) { d = v[i] - w; if (d < 0) d = -d; if (d > 2e-3 * (w < 0 ? -w : w) + 1e-4) exit 1 } }'
	check "tp_mlp $name: $tensor = $want (got ${got:-nothing}, exit $rc) $(head -c 300 "$dir/err")" $((rc | $?))
}
tp_case "T2.a column, W_r = 0.01 (r+1), x = 0.5" out_r0 0.16 --set tp_mlp.layer=1 --set tp_mlp.M=4 --set tp_mlp.d_in=32 \
	--set tp_mlp.d_out=64 --set tp_mlp.x=0.5 --set tp_mlp.w1=0.01 --set tp_mlp.w_by_rank=1
sed -n 's/.*PASS out_r1: .*values \([0-9.]*\) .*/\1/p' "$dir/out" | grep -q '^0\.320' ; check "T2.a rank 1: 0.32" $?
tp_case "T2.b row, x_r = 0.1 (r+1), W_r = 0.01 (r+1)" y_r1 0.16 --set tp_mlp.layer=2 --set tp_mlp.M=4 --set tp_mlp.d_in=64 \
	--set tp_mlp.d_out=32 --set tp_mlp.x=0.1 --set tp_mlp.w1=0.01 --set tp_mlp.x_by_rank=1 --set tp_mlp.w_by_rank=1
tp_case "T2.c row, every rank identical" y_r0 0.032 --set tp_mlp.layer=2 --set tp_mlp.M=2 --set tp_mlp.d_in=32 \
	--set tp_mlp.d_out=16 --set tp_mlp.x=0.1 --set tp_mlp.w1=0.01
grep -q "PASS y_r1: .*values 0\.032" "$dir/out"; check "T2.c rank 1 identical" $?
tp_case "T6.a zero weights" y_r0 0 --set tp_mlp.d_in=32 --set tp_mlp.d_hidden=64 --set tp_mlp.d_out=32 --set tp_mlp.w1=0 \
	--set tp_mlp.w2=0
tp_case "T6.b MLP 0.01536 ws" y_r0 0.03072
check "T6.d shapes: h (B, d_hidden / ws), y one (B, d_out) block per PE, W1 (d_in, d_hidden / ws), W2 (d_hidden / ws, d_out)" \
	"$([ "$(sqlite3 "$dir/tp.db" "SELECT group_concat(name || '=' || shape, ' ') FROM (SELECT name, shape FROM tensors_v WHERE name IN ('h_r0', 'y_r0', 'fc1_w_r0', 'fc2_w_r0') ORDER BY name)")" = "fc1_w_r0=16x16 fc2_w_r0=16x16 h_r0=1x16 y_r0=128x16" ]; echo $?)"
tp_case "T6.b on 4 SIPs: 0.01536 ws" y_r3 0.06144 --set system.sips.count=4
tp_case "every PE: d_hidden / ws = 128 columns, y = 16 * f16(0.032) * 256 * 0.03" y_r1 0.24570 --set tp_mlp.d_hidden=256
check "every PE: fc1 and fc2 GEMMs on all 128 PEs of each SIP" \
	"$([ "$(sqlite3 "$dir/tp.db" "SELECT count(DISTINCT pe_name) FROM ops_v WHERE kind = 'gemm' AND kernel = 'col_parallel_gemm'")" = 256 ] && [ "$(sqlite3 "$dir/tp.db" "SELECT count(DISTINCT pe_name) FROM ops_v WHERE kind = 'gemm' AND kernel = 'row_parallel_gemm'")" = 256 ]; echo $?)"
expect 2 "tp_init(3): pure tensor parallelism needs TP = the world size (2)" -- bench tp_mlp -o "$dir/x.db" --set tp_mlp.tp=3
expect 2 "row-parallel 'fc2' (33 -> 16): in features must split over TP = 2" -- bench tp_mlp -o "$dir/x.db" --set tp_mlp.d_hidden=33
# the seed's invariants at validation scale (8 PE ranks, 4 cube ranks), one panel per trace,
# and its 7 rank_axis cases (seed 000): who emits what, and sends by direction
gqa_panel() { "$TRACE" bench milestone-gqa-llama70b -o "$dir/gqa$1.db" --set milestone-gqa-llama70b.panels="$1" 2>/dev/null; }
gqa_q() { sqlite3 "$dir/gqa$1.db" "$2"; }
gqa_n() { # panel, kind, sip.cube.pe, [direction]: that PE's ops of the kind (sends: on the direction)
	local dirq=""
	[ -n "${4:-}" ] && dirq=" AND chan_id IN (SELECT c.id FROM channels c JOIN enum_direction d ON d.id = c.src_dir WHERE d.name = '$4')"
	gqa_q "$1" "SELECT count(*) FROM ops_v WHERE kind = '$2' AND pe_name = 'sip0.$3'$dirq"
}
for p in 1 2 4 8; do gqa_panel $p; done
check "prefill GEMMs = 2 n_ranks^2 (8 ranks: 128; 4 cube ranks: 32)" \
	"$([ "$(gqa_q 1 "SELECT count(*) FROM gemm_v")" = 128 ] && [ "$(gqa_q 2 "SELECT count(*) FROM gemm_v")" = 32 ]; echo $?)"
check "decode GEMMs = 2 n_ranks (8 ranks: 16; 4 cube ranks: 8)" \
	"$([ "$(gqa_q 4 "SELECT count(*) FROM gemm_v")" = 16 ] && [ "$(gqa_q 8 "SELECT count(*) FROM gemm_v")" = 8 ]; echo $?)"
check "rank_axis 0, mlo: interior PE 3 emits GEMMs and sends both ways" \
	"$([ "$(gqa_n 4 gemm cube0.pe3)" -ge 1 ] && [ "$(gqa_n 4 ipcq_send cube0.pe3 E)" -ge 1 ] && [ "$(gqa_n 4 ipcq_send cube0.pe3 W)" -ge 1 ]; echo $?)"
check "rank_axis 0, kv: interior PE 3 emits GEMMs and sends" \
	"$([ "$(gqa_n 1 gemm cube0.pe3)" -ge 1 ] && [ "$(gqa_n 1 ipcq_send cube0.pe3)" -ge 1 ]; echo $?)"
check "rank_axis 1, mlo: PE 2 of cube 1 emits nothing" "$(gqa_q 8 "SELECT count(*) FROM ops_v WHERE pe_name = 'sip0.cube1.pe2' AND launch_id > 0")"
check "rank_axis 1, kv: PE 2 of cube 1 emits nothing" "$(gqa_q 2 "SELECT count(*) FROM ops_v WHERE pe_name = 'sip0.cube1.pe2' AND launch_id > 0")"
check "rank_axis 1, mlo: PE 0 of cube 1 is rank 1 (sends E and W)" \
	"$([ "$(gqa_n 8 ipcq_send cube1.pe0 E)" -ge 1 ] && [ "$(gqa_n 8 ipcq_send cube1.pe0 W)" -ge 1 ]; echo $?)"
check "rank_axis 1, kv: PE 0 of cube 1 is rank 1 (sends E and W)" \
	"$([ "$(gqa_n 2 ipcq_send cube1.pe0 E)" -ge 1 ] && [ "$(gqa_n 2 ipcq_send cube1.pe0 W)" -ge 1 ]; echo $?)"
check "rank_axis 1, mlo: the west edge (cube 0) sends E, never W" \
	"$([ "$(gqa_n 8 ipcq_send cube0.pe0 E)" -ge 1 ] && [ "$(gqa_n 8 ipcq_send cube0.pe0 W)" = 0 ]; echo $?)"
pipeline milestone-gqa-llama70b --set milestone-gqa-llama70b.h_q=4 --set milestone-gqa-llama70b.h_kv=2 \
	--set milestone-gqa-llama70b.q_block=8 --set milestone-gqa-llama70b.kv_block=4 # blocked: 2 states, 4 messages per chunk
"$TRACE" bench milestone-gqa-llama70b -o "$dir/gqab.db" --set milestone-gqa-llama70b.q_block=8 \
	--set milestone-gqa-llama70b.kv_block=4 --set milestone-gqa-llama70b.panels=1 2>/dev/null
check "blocked prefill: 4 kv blocks per chunk, 7 hops per block each way -> 8*7*4*2 sends" "$([ "$(sqlite3 "$dir/gqab.db" "SELECT count(*) FROM ops_v WHERE kind = 'ipcq_send'")" = 448 ]; echo $?)"
expect 2 "32 query rows in blocks of 1 are over 16 blocks (raise q_block)" -- bench milestone-gqa-llama70b -o "$dir/x.db" \
	--set milestone-gqa-llama70b.s_q_prefill=32 --set milestone-gqa-llama70b.q_block=1
# sampled verification: the backward slice of rows 0 and 127 (ranks 0 and 7) agrees with the full
# verify; a corrupted op in the slice fails it, one outside (rank 3's states) fails only the full verify
"$TRACE" bench milestone-gqa-llama70b -o "$dir/s.db" --set milestone-gqa-llama70b.panels=1 2>/dev/null && "$TIME" "$dir/s.db" -q
"$REPLAY" "$dir/s.db" --verify --sample 2 >"$dir/out" 2>&1
check "sampled verify: 2 of 128 rows from 492 of 1213 ops $(head -3 "$dir/out")" \
	"$(grep -q "replayed the 492 of 1213 ops" "$dir/out" && grep -q "PASS single_user_prefill_o: 128 values in 2 of 128 rows" "$dir/out"; echo $?)"
cp "$dir/s.db" "$dir/s3.db"
sqlite3 "$dir/s.db" "UPDATE ops SET imm = imm * -8 WHERE id = (SELECT min(id) FROM ops_v WHERE kind = 'math:mul_scalar' AND pe_name = 'sip0.cube0.pe0')"
sqlite3 "$dir/s3.db" "UPDATE ops SET imm = imm * -8 WHERE id = (SELECT min(id) FROM ops_v WHERE kind = 'math:mul_scalar' AND pe_name = 'sip0.cube0.pe3')"
"$REPLAY" "$dir/s.db" --verify --sample 2 >"$dir/out" 2>&1
check "a corrupted scale (x -8) in the slice fails the sampled verify" "$([ $? = 1 ] && grep -q "FAIL single_user_prefill_o" "$dir/out"; echo $?)"
"$REPLAY" "$dir/s3.db" --verify --sample 2 >/dev/null 2>&1
check "a corrupted scale outside the slice passes the sampled verify" $?
"$REPLAY" "$dir/s3.db" --verify >/dev/null 2>&1
check "... and fails the full one" "$([ $? = 1 ]; echo $?)"
TOOL=$REPLAY expect 2 "--sample '0': expected a row count 1..1000000" -- "$dir/s.db" --verify --sample 0
# the headline's data path at a small size: K/V/Q generated on the device, prefill sampled rows
pipeline milestone-gqa-llama70b --set milestone-gqa-llama70b.sampled=1 --set milestone-gqa-llama70b.h_q=8 \
	--set milestone-gqa-llama70b.h_kv=2 --set milestone-gqa-llama70b.q_block=8 --set milestone-gqa-llama70b.kv_block=8
"$REPLAY" "$dir/p.db" --verify | grep -q "PASS single_user_prefill_o: 1024 values in 2 of 128 rows"
check "sampled=1: 2 sampled rows checked" $?
sqlite3 "$dir/p.db" "UPDATE ops SET attr = attr + 2 WHERE id = (SELECT min(id) FROM ops_v WHERE kind = 'host_fill' AND attr <> 0)"
"$REPLAY" "$dir/p.db" --verify >"$dir/out" 2>&1
check "sampled=1: a K block generated from another seed fails the sampled row" \
	"$([ $? = 1 ] && grep -q "FAIL single_user_prefill_o" "$dir/out"; echo $?)"
# a reduced headline: Llama-70B heads (64 / 8, d_head 128), 16 tokens per rank, 8-row blocks (~330 K ops)
pipeline milestone-gqa-llama70b --set milestone-gqa-llama70b.h_q=64 --set milestone-gqa-llama70b.h_kv=8 \
	--set milestone-gqa-llama70b.d_head=128 --set milestone-gqa-llama70b.q_block=8 --set milestone-gqa-llama70b.kv_block=8
expect 2 "h_q=6, h_kv=4: h_kv must divide h_q" -- bench milestone-gqa-llama70b -o "$dir/x.db" --set milestone-gqa-llama70b.h_q=6 --set milestone-gqa-llama70b.h_kv=4
"$TRACE" bench milestone-gqa-llama70b -o "$dir/a.db" 2>/dev/null
check "attention: K/V waves (8-PE chain: 56 chunks, 4-cube chain: 12; K and V each)" "$([ "$(sqlite3 "$dir/a.db" "SELECT count(*) FROM ops_v WHERE kind = 'ipcq_send' AND kernel = 'attention_mesh_kv'")" = 136 ]; echo $?)"
check "attention: Q.K^T with a transposed operand" "$([ "$(sqlite3 "$dir/a.db" "SELECT count(*) FROM gemm_v WHERE trans_b = 1")" = 92 ]; echo $?)"
check "attention: multi-user panels run on PE 0 of cubes 0..3 only" "$([ "$(sqlite3 "$dir/a.db" "SELECT group_concat(DISTINCT cube || '.' || pe) FROM ops_v WHERE kind = 'gemm' AND launch_id IN (SELECT id FROM launches_v WHERE n_pes = 4)")" = "0.0,1.0,2.0,3.0" ]; echo $?)"
"$TIME" "$dir/a.db" -q && "$REPORT" "$dir/a.db" -q --gqa-sweep "$dir/sweep.json"
check "sweep.json v1: schema and config" "$(grep -q '^{"version": 1, "validation_scale": true, "panels": \["single_user_prefill", "multi_user_prefill", "single_user_decode", "multi_user_decode"\], "config": {"S_q_prefill": 16, "S_q_decode": 1, "S_kv_per_rank": 16, "h_q": 1, "h_kv": 1, "d_head": 64, "n_ranks_single_user": 8, "n_ranks_multi_user": 4}' "$dir/sweep.json"; echo $?)"
check "sweep.json: prefill GEMMs 2 n^2, decode 2 n" "$(grep -q '"panel": "single_user_prefill", "n_ranks": 8, "op_log_summary": {"gemm_count": 128,' "$dir/sweep.json" && grep -q '"panel": "multi_user_prefill", "n_ranks": 4, "op_log_summary": {"gemm_count": 32,' "$dir/sweep.json" && grep -q '"panel": "single_user_decode", "n_ranks": 8, "op_log_summary": {"gemm_count": 16,' "$dir/sweep.json" && grep -q '"panel": "multi_user_decode", "n_ranks": 4, "op_log_summary": {"gemm_count": 8,' "$dir/sweep.json"; echo $?)"
check "sweep.json: every panel timed" "$([ "$(grep -c '"time_ps": [1-9]' "$dir/sweep.json")" = 4 ]; echo $?)"

# ---- kb-report: text, JSON, CSV, HTML (rendered in headless Chromium), Perfetto ----
"$TRACE" bench ccl_allreduce -o "$dir/r.db" --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl.algorithms.ring_rsag_allreduce.world_size=8 2>/dev/null && "$TIME" "$dir/r.db" -q
"$REPORT" "$dir/r.db" --json "$dir/r.json" --csv "$dir/rcsv" --html "$dir/r.html" --perfetto "$dir/r.pf.json" \
	>"$dir/out" 2>"$dir/err"
check "kb-report runs $(cat "$dir/err")" $?
check "report: host setup apart from device time" "$(grep -qE '^ +0 +[0-9.]+ us +6\.161 us +[0-9.]+ us +[0-9.]+ % +15\.[0-9] %' "$dir/out"; echo $?)"
check "report: kernel statistics" "$(grep -qE '^  ring_rsag_allreduce +1 +6\.161 us +6\.161 us +6\.161 us +6\.161 us +6\.161 us +0 ps +100\.0 %' "$dir/out"; echo $?)"
check "report: dma utilisation per engine over 8 PEs" "$(grep -qE '^  dma +2 +8 +240 ' "$dir/out"; echo $?)"
check "report: collective algbw / busbw" "$(grep -qE '^  ring_rsag_allreduce +131072 +65536 +f16 +sum +8 +6\.161 us +21\.27 +37\.23' "$dir/out"; echo $?)"
check "report: scratch high-water mark" "$(grep -qE '^  sip0\.cube0\.pe0 +48\.0 KiB +1\.0 MiB +4\.7 %' "$dir/out"; echo $?)"
check "report --json: every table" "$(for k in time ranges kernels op_kinds units throughput link_classes links collectives critical_path critical_path_waits scratch; do grep -q "\"$k\": \[" "$dir/r.json" || exit 1; done; echo 0)"
check "report --csv: 12 tables" "$([ "$(ls "$dir/rcsv" | wc -l)" = 12 ] && head -1 "$dir/rcsv/links.csv" | grep -q '^link,kind,direction,transfers,bytes,busy_pct,achieved_gbps,stall_ps$'; echo $?)"
check "perfetto: the range as a slice on its rank's ranges track, over its ops (6.161 us)" "$([ "$(grep -cE '"ph":"X","cat":"range","name":"all_reduce","pid":0,"tid":60,"ts":[0-9.]+,"dur":6\.161440}' "$dir/r.pf.json")" = 1 ] && grep -q '"thread_name","pid":0,"tid":60,"args":{"name":"ranges"}' "$dir/r.pf.json"; echo $?)"
check "perfetto: one X event per op, a flow per IPCQ message" "$([ "$(grep '"ph":"X"' "$dir/r.pf.json" | grep -vc '"cat":"range"')" = 426 ] && [ "$(grep -c '"ph":"s"' "$dir/r.pf.json")" = 112 ] && [ "$(grep -c '"ph":"f"' "$dir/r.pf.json")" = 112 ]; echo $?)"
check "perfetto: DMA slices name their tensor" "$(grep -q '"name":"dma_read","cat":"dma",.*"tensor":"ccl_in_r0","kernel":"ring_rsag_allreduce"' "$dir/r.pf.json"; echo $?)"
check "perfetto: link-load counter tracks" "$([ "$(grep -c '"ph":"C","name":"tcm"' "$dir/r.pf.json")" -gt 10 ]; echo $?)"
check "link_load: the hbm series carries the bytes the hbm ports moved" "$(sqlite3 "$dir/r.db" "WITH w AS (SELECT t_ps AS w FROM link_load WHERE kind = 'hbm' ORDER BY t_ps LIMIT 1 OFFSET 1) SELECT abs((SELECT sum(gbps) FROM link_load WHERE kind = 'hbm') * (SELECT w FROM w) / 1000.0 - (SELECT sum(bytes) FROM link_usage WHERE kind = 'hbm')) < 1" | grep -qx 1; echo $?)"
check "perfetto: a process per SIP, named tracks" "$(grep -q '"name":"process_name","pid":0,"args":{"name":"sip0"}' "$dir/r.pf.json" && grep -q '"args":{"name":"cube0.pe3 ipcq"}' "$dir/r.pf.json"; echo $?)"
if command -v chromium >/dev/null; then
	timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,900 \
		--screenshot="$dir/r.png" "file://$dir/r.html" >/dev/null 2>&1
	size=$(stat -c %s "$dir/r.png" 2>/dev/null || echo 0)
	check "report --html renders in headless Chromium (screenshot $size bytes, a blank page is ~5 KB)" "$([ "$size" -gt 30000 ]; echo $?)"
else
	echo "note: chromium not installed, the HTML report was not rendered"
fi
TOOL=$REPORT expect 2 "no timing run labelled 'nope'" -- "$dir/r.db" --run nope
# the heat map shows the run asked for, not the newest (a GEMM unit 16x slower in run b)
"$TRACE" bench gemm -o "$dir/hm.db" 2>/dev/null && "$TIME" "$dir/hm.db" -q --label a &&
	"$TIME" "$dir/hm.db" -q --label b --set cube.pe_template.components.gemm.attrs.macs_per_cycle=64
"$REPORT" "$dir/hm.db" --run a --html "$dir/a.html" -q && "$REPORT" "$dir/hm.db" --run b --html "$dir/b.html" -q
check "html heat map of run a" "$(grep -q '<title>sip0.cube0.pe0: 71.2 %' "$dir/a.html"; echo $?)"
check "html heat map of run b" "$(grep -q '<title>sip0.cube0.pe0: 97.5 %' "$dir/b.html"; echo $?)"

# ---- kb-diff: identical, another size, another machine, two runs of one trace ----
"$TRACE" bench gemm -o "$dir/d1.db" 2>/dev/null && "$TIME" "$dir/d1.db" -q && cp "$dir/d1.db" "$dir/d2.db"
"$DIFF" "$dir/d1.db" "$dir/d2.db" >"$dir/out"
check "kb-diff: a copy is identical (exit 0)" "$([ $? = 0 ] && grep -q 'identical (structure and timing)' "$dir/out"; echo $?)"
"$TRACE" bench gemm -o "$dir/d3.db" --set gemm.M=128 --set sip.cube_mesh.w=2 2>/dev/null && "$TIME" "$dir/d3.db" -q
"$DIFF" "$dir/d1.db" "$dir/d3.db" >"$dir/out"
check "kb-diff: different traces exit 1" "$([ $? = 1 ]; echo $?)"
check "kb-diff: the config key" "$(grep -qE '^  sip\.cube_mesh\.w +4 +2 *$' "$dir/out"; echo $?)"
check "kb-diff: the bench parameter" "$(grep -qE '^  M +256 +128 *$' "$dir/out"; echo $?)"
check "kb-diff: first divergence of the host stream and the PE stream" "$(grep -qE '^  sip0\.host +3 +op 4 host_write 256x256' "$dir/out" && grep -qE '^  sip0\.cube0\.pe0 +0 +op 7 dma_read 256x256 <- 256x256, 131072 B' "$dir/out"; echo $?)"
check "kb-diff: total time delta" "$(grep -qE '^  total +32\.658 us +20\.596 us +-12\.063 us +-36\.9 %' "$dir/out"; echo $?)"
"$TIME" "$dir/d2.db" -q --label fast --set cube.components.hbm.attrs.bandwidth_gbps=200
"$DIFF" "$dir/d2.db" "$dir/d2.db" --run-a run1 --run-b fast --json >"$dir/out"
check "kb-diff: two runs of one trace, JSON" "$([ $? = 1 ] && grep -q '"identical": false' "$dir/out" && grep -q '"config": \[\]' "$dir/out" && grep -q '"total": \[{"name": "total", "a_ps": 32658410, "b_ps": 30692330, "delta_ps": -1966080' "$dir/out"; echo $?)"
TOOL=$DIFF expect 2 "needs two traces" -- "$dir/d1.db"
TOOL=$REPORT expect 2 "missing the trace file" --

# kb-time and kb-replay read a big trace with two readers over interleaved
# chunks: a bad row in either reader's chunk is the one named, and every op
# is timed once and replays
"$TRACE" bench synthetic --set synthetic.ops=100000 -o "$dir/s.db" 2>/dev/null
"$TIME" "$dir/s.db" -q --label one
bad_share() { # sql edit of a copy, expected message from both tools
	cp "$dir/s.db" "$dir/sx.db"
	sqlite3 "$dir/sx.db" "$1"
	TOOL=$TIME expect 2 "$2" -- "$dir/sx.db" -q
	TOOL=$REPLAY expect 2 "$2" -- "$dir/sx.db" --verify --order dataflow
}
for id in 9000 20000; do
	bad_share "UPDATE ops SET kind = 99 WHERE id = $id" "ops row $id: kind out of range"
done
# the same from the op pack: a damaged chunk in either reader's share
for first in 8193 16385; do
	bad_share "UPDATE op_pack SET data = substr(data, 1, 40) || x'5A5A' || substr(data, 43) WHERE first_op_id = $first" \
		"op_pack chunk of op $first: data does not decompress"
done
sqlite3 "$dir/s.db" "SELECT (SELECT count(*) FROM ops) || ' ' || count(*) FROM op_times WHERE run_id = 1" >"$dir/out"
check "two readers: every op timed once ($(cat "$dir/out"))" "$(read -r a b <"$dir/out"; [ "$a" = "$b" ] && [ "$a" -gt 100000 ] &&
	"$REPLAY" "$dir/s.db" --verify --quiet >/dev/null; echo $?)"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
