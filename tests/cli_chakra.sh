# cli_chakra.sh — Chakra ET in and out: files written by Python's protobuf
# (tests/chakra/gen_et.py, bad_et.py) from tests/chakra/et_def.proto,
# imported, timed and checked against the benches; exports re-imported;
# damaged sets refused with one line.
. "$(dirname "$0")/cli_lib.sh"
et="$dir/et"
mkdir -p "$et/py"
protoc --proto_path=tests/chakra --python_out="$et/py" tests/chakra/et_def.proto || { echo "FAIL: protoc"; exit 1; }
/usr/bin/python3 tests/chakra/gen_et.py "$et" "$et/py" || { echo "FAIL: gen_et.py"; exit 1; }
/usr/bin/python3 tests/chakra/bad_et.py "$et" "$et/py" || { echo "FAIL: bad_et.py"; exit 1; }
q() { sqlite3 "$1" "$2"; }
ps_of() { q "$1" "SELECT max(t_end_ps) - min(t_start_ps) FROM collectives_v WHERE run = (SELECT label FROM timing_runs ORDER BY id DESC LIMIT 1)"; }

# ASTRA-sim's all-reduce microbenchmark, 8 NPUs = 8 SIPs: the imported
# collective takes what ccl_allreduce takes for 1 MiB with the same ring
$TRACE chakra "$et/allreduce_8" -o "$dir/a8.db" --set system.sips.count=8
"$TIME" "$dir/a8.db" >/dev/null
$TRACE bench ccl_allreduce -o "$dir/b8.db" --set system.sips.count=8 --set ccl.defaults.algorithm=ring_rsag_allreduce \
	--set ccl_allreduce.n_elem=524288 --set ccl_allreduce.dtype=1
"$TIME" "$dir/b8.db" >/dev/null
check "allreduce_8: 8 ranks, 1 MiB, the bench's collective time to the ps ($(ps_of "$dir/a8.db") ps)" \
	"$([ "$(q "$dir/a8.db" "SELECT count(*) || ' ' || max(bytes) || ' ' || max(world_size) || ' ' || min(type) FROM collectives_v")" = "8 1048576 8 all_reduce" ] && [ "$(ps_of "$dir/a8.db")" = "$(ps_of "$dir/b8.db")" ] && [ "$(ps_of "$dir/a8.db")" -gt 0 ]; echo $?)"
check "a range per node, named after it" "$(q "$dir/a8.db" "SELECT count(*) FROM ranges_v WHERE label = 'ALL_REDUCE'" | grep -qx 8; echo $?)"
TOOL=$REPLAY expect 0 "" -- "$dir/a8.db" --verify
check "replay: an imported trace is timing-only" "$(grep -q 'timing-only trace' "$dir/out"; echo $?)"

# 64 NPUs: more ranks than SIPs, so rank = PE (64 PEs of SIP 0)
$TRACE chakra "$et/allreduce_64" -o "$dir/a64.db"
"$TIME" "$dir/a64.db" >"$dir/t64"
check "allreduce_64: rank = PE, 64 ranks in one call" "$(q "$dir/a64.db" "SELECT count(*) || ' ' || max(world_size) || ' ' || (SELECT value FROM meta WHERE key = 'chakra') FROM collectives" | grep -qx '1 64 64 ranks, 64 nodes, rank = PE'; echo $?)"
check "allreduce_64: timed, busbw printed" "$(grep -qE '^  ring_rsag_allreduce +all_reduce +1048576 +524288 +f16 +sum +64 ' "$dir/t64"; echo $?)"

# every collective type between two compute nodes, with their dependencies
$TRACE chakra "$et/colls_8" -o "$dir/c8.db" --set system.sips.count=8
"$TIME" "$dir/c8.db" >"$dir/tc8"
check "colls_8: the four new collectives, in order, 64 KiB each" "$(q "$dir/c8.db" "SELECT group_concat(type, ',') FROM (SELECT DISTINCT call, type FROM collectives_v WHERE rank = 0 ORDER BY call)" | grep -qx 'all_gather,reduce_scatter,all_to_all,broadcast'; echo $?)"
check "colls_8: explicit dependencies recorded and timed in order" "$([ "$(q "$dir/c8.db" "SELECT count(*) FROM op_deps")" -gt 0 ] && [ "$(q "$dir/c8.db" "SELECT (SELECT min(t_start_ps) FROM op_times t JOIN ops o ON o.id = t.op_id JOIN launches l ON l.id = o.launch_id JOIN strings s ON s.id = l.kernel WHERE s.value = 'ring_broadcast') >= (SELECT max(t_end_ps) FROM op_times t JOIN ops o ON o.id = t.op_id JOIN launches l ON l.id = o.launch_id JOIN strings s ON s.id = l.kernel WHERE s.value = 'ring_alltoall' AND o.sip = 0)")" = 1 ]; echo $?)"
check "colls_8: busbw factors per type" "$(grep -qE '^  ring_broadcast +broadcast +65536 ' "$dir/tc8" && grep -qE '^  ring_allgather +all_gather +65536 ' "$dir/tc8"; echo $?)"

# point to point, memory nodes, a CPU op and a duration-only node
$TRACE chakra "$et/p2p_2" -o "$dir/p2.db"
"$TIME" "$dir/p2.db" >/dev/null
check "p2p_2: a pair channel carries the 1 MiB in 16 messages of 64 KiB" "$(q "$dir/p2.db" "SELECT count(*) || ' ' || max(sends) || ' ' || max(slot_size) || ' ' || min(src_dir) FROM channels_v" | grep -qx '1 16 65536 peer'; echo $?)"
check "p2p_2: each recv starts after its send" "$(q "$dir/p2.db" "SELECT count(*) FROM ops s JOIN ops r ON r.chan_id = s.chan_id AND r.chan_seq = s.chan_seq JOIN op_times ts ON ts.op_id = s.id JOIN op_times tr ON tr.op_id = r.id AND tr.run_id = ts.run_id WHERE s.kind = (SELECT id FROM enum_op_kind WHERE name = 'ipcq_send') AND r.kind = (SELECT id FROM enum_op_kind WHERE name = 'ipcq_recv') AND tr.t_end_ps > ts.t_start_ps" | grep -qx 16; echo $?)"
"$REPORT" "$dir/p2.db" --perfetto "$dir/p2.json" -q
check "p2p_2: Perfetto shows the nodes as range slices" "$([ "$(grep -c '"ph":"X","cat":"range"' "$dir/p2.json")" = 7 ] && grep -q '"cat":"range","name":"stage1","pid":1,' "$dir/p2.json"; echo $?)"
check "p2p_2: a range per node with device work" "$(q "$dir/p2.db" "SELECT group_concat(label, ',') FROM (SELECT DISTINCT label FROM ranges_v ORDER BY label)" | grep -qx 'load,recv,send,stage0,stage1,store,timed'; echo $?)"

# export, then import: the collectives (as COMM_COLL nodes) time the same
for b in "ccl_allreduce --set ccl.defaults.algorithm=ring_rsag_allreduce" "ccl_collective --set ccl.defaults.algorithm=ring_rsag_allreduce"; do
	# shellcheck disable=SC2086
	$TRACE bench $b -o "$dir/x.db"
	"$TIME" "$dir/x.db" >/dev/null
	TOOL=$REPORT expect 0 "" -- "$dir/x.db" --chakra "$dir/xet" --chakra-collectives
	$TRACE chakra "$dir/xet/x" -o "$dir/xx.db"
	"$TIME" "$dir/xx.db" >/dev/null
	check "round trip of ${b%% *}: same collective, same time ($(ps_of "$dir/x.db") ps)" "$([ "$(ps_of "$dir/x.db")" = "$(ps_of "$dir/xx.db")" ] && [ "$(q "$dir/x.db" "SELECT group_concat(type) FROM collectives_v")" = "$(q "$dir/xx.db" "SELECT group_concat(type) FROM collectives_v")" ]; echo $?)"
done
# export by op, then import: every bench's device ops come back, kind by
# kind, on their PEs, with kb-time's edges; the op time summed over them
# within 1 % (GQA and the sweep within 5 %: their IPCQ channels come back
# with 4 slots of the message size); host setup is not re-imported
kinds() { q "$1" "SELECT group_concat(n || ':' || c) FROM (SELECT k.name AS n, count(*) AS c FROM ops o JOIN enum_op_kind k ON k.id = o.kind WHERE o.launch_id > 0 GROUP BY 1)"; }
busy() { q "$1" "SELECT sum(t_end_ps - t_start_ps) FROM op_times t JOIN ops o ON o.id = t.op_id WHERE o.launch_id > 0 AND t.run_id = (SELECT max(id) FROM timing_runs)"; }
for b in gemm va_offset_verify gpt3_qkv synthetic fabric_traffic ccl_allreduce hello_send allreduce_sweep ccl_collective milestone-gqa-llama70b tp_mlp; do
	rm -f "$dir/rt.db"
	ring=; [ "$b" = ccl_collective ] && ring="--set ccl.defaults.algorithm=ring_rsag_allreduce"
	# shellcheck disable=SC2086
	$TRACE bench "$b" -o "$dir/rt.db" $ring 2>/dev/null
	"$TIME" "$dir/rt.db" >/dev/null
	rm -rf "$dir/rtx"
	"$REPORT" "$dir/rt.db" --chakra "$dir/rtx" -q
	$TRACE chakra "$dir/rtx/rt" -o "$dir/rt_back.db"
	"$TIME" "$dir/rt_back.db" >/dev/null
	a=$(busy "$dir/rt.db") b2=$(busy "$dir/rt_back.db")
	tol=1; case $b in milestone-gqa-llama70b | allreduce_sweep) tol=5 ;; esac
	check "round trip by op of $b: device ops by kind, op time $a vs $b2 ps (within $tol %)" \
		"$([ "$(kinds "$dir/rt.db")" = "$(kinds "$dir/rt_back.db")" ] && [ -n "$a" ] && awk -v a="$a" -v b="$b2" -v t="$tol" 'BEGIN { d = (b - a) / a; exit !(d < t / 100 && d > -t / 100) }'; echo $?)"
done

# Python's protobuf reads an export: a node per device op (host writes as
# memory stores), per kind, over the 8 ranks of ASTRA-sim's layout
"$REPORT" "$dir/b8.db" --chakra "$dir/ops" -q
kind_n() { q "$dir/b8.db" "SELECT count(*) FROM ops o JOIN enum_op_kind k ON k.id = o.kind WHERE $1"; }
want="8 COMM_RECV_NODE=$(kind_n "k.name = 'ipcq_recv'") COMM_SEND_NODE=$(kind_n "k.name = 'ipcq_send'") COMP_NODE=$(kind_n "k.name = 'gemm' OR k.name LIKE 'math:%'") MEM_LOAD_NODE=$(kind_n "k.name = 'dma_read'") MEM_STORE_NODE=$(kind_n "k.name IN ('dma_write', 'host_write', 'host_fill')")"
check "Python's protobuf reads the export: $want" "$([ "$(/usr/bin/python3 tests/chakra/read_et.py "$et/py" "$dir/ops/b8")" = "$want" ]; echo $?)"

# bad input: one line, exit 2
expect 2 "trunc.0.et: rank 0: byte offset" -- chakra "$et/trunc" -o "$dir/bad.db"
expect 2 "rank 1: '$et/gap.1.et' is missing, but rank 2's file exists" -- chakra "$et/gap" -o "$dir/bad.db"
expect 2 "rank 0: byte offset" -- chakra "$et/varint" -o "$dir/bad.db"
expect 2 "rank 0: node 2 (c2) depends on node 7, which rank 0's file does not have" -- chakra "$et/missing" -o "$dir/bad.db"
expect 2 "rank 0: a dependency cycle through node 1 (c1)" -- chakra "$et/cycle" -o "$dir/bad.db"
expect 2 "rank 0: node 1 (lonely_send): a send to rank 1 (tag 3) that no recv matches" -- chakra "$et/unmatched" -o "$dir/bad.db"
expect 2 "attribute tensor_size = 9223372036854775808 is outside 0..2^48" -- chakra "$et/huge" -o "$dir/bad.db"
expect 2 "collective GATHER (comm_type 3) is not supported" -- chakra "$et/gather" -o "$dir/bad.db"
expect 2 "no Chakra ET at '$dir/none.0.et'" -- chakra "$dir/none" -o "$dir/bad.db"
check "no trace left by a refused import" "$([ ! -e "$dir/bad.db" ]; echo $?)"

# a cross wait imports, and kb-time finds the deadlock: exit 3, the pointer dump
$TRACE chakra "$et/crossed" -o "$dir/crossed.db"
"$TIME" "$dir/crossed.db" >"$dir/out" 2>"$dir/err"
check "crossed recvs: kb-time exits 3, the deadlock named" "$([ $? = 3 ] && grep -q '^kb-time: deadlock: ' "$dir/err"; echo $?)"
check "the pointer dump: both PEs stuck on a pair channel's recv" "$([ "$(grep -c 'ipcq_recv peer, waiting for a message' "$dir/err")" = 2 ] && grep -q '^  peer: my_head=0 my_tail=0 peer_head_cache=0 peer_tail_cache=0 (sends traced 1, recvs traced 1)' "$dir/err"; echo $?)"

# the new collectives, each its own bench case, verified by replay; the
# nccl-tests table applies each type's bus factor
for c in 1 2 3 4; do
	$TRACE bench ccl_collective -o "$dir/cc$c.db" --set ccl.defaults.algorithm=ring_rsag_allreduce \
		--set ccl.algorithms.ring_rsag_allreduce.world_size=8 --set ccl.algorithms.ring_rsag_allreduce.slot_size=4096 \
		--set ccl_collective.collective=$c --set ccl_collective.n_elem=32768
	"$TIME" "$dir/cc$c.db" >/dev/null
	TOOL=$REPLAY expect 0 "" -- "$dir/cc$c.db" --verify
	want=$(case $c in 1) echo all_gather ;; 2) echo reduce_scatter ;; 3) echo all_to_all ;; 4) echo broadcast ;; esac)
	factor=$(case $c in 4) echo 1 ;; *) echo 0.875 ;; esac)
	check "ccl_collective $want: verified, 0 wrong, busbw = algbw x $factor" "$(grep -q 'verify: OK' "$dir/out" && grep -qE "^  ring_[a-z]+ +$want +65536 +32768 +f16 +[a-z]+ +8 +[0-9.]+ +[0-9.]+ +[0-9.]+ +0$" "$dir/out" && [ "$(q "$dir/cc$c.db" "SELECT count(DISTINCT round(busbw_gbps / algbw_gbps, 6)) || ' ' || (min(round(busbw_gbps / algbw_gbps, 6)) = $factor) FROM collectives_v WHERE run IS NOT NULL")" = "1 1" ]; echo $?)"
done

echo "cli_chakra: $pass passed, $fail failed"
[ "$fail" = 0 ]
