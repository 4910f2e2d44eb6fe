#!/usr/bin/env bash
# bench/identity.sh — the outputs a refactor must not change, for A/B runs:
#   BIN=/old/bin bash bench/identity.sh OUT_A
#   BIN=bin      bash bench/identity.sh OUT_B
#   diff -r OUT_A OUT_B        (nothing: every trace, op time and report is identical)
# For each bench case: the whole trace database (sqlite3 .dump, after kb-time
# and a what-if run), kb-replay --verify's output, kb-report's text, JSON and
# Perfetto JSON, and kb-diff between the two runs. Wall-clock lines are
# dropped; everything else is compared byte for byte.
set -u
BIN=${BIN:-bin}
out=${1:?usage: bench/identity.sh OUT_DIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Lines that carry wall time, throughput or a path.
scrub() { grep -v -E '(wall|elapsed|ops/s| [0-9.]+ s$|took|/tmp/)' || true; }

cases=(
	"gemm|"
	"gemm_tiled|--set gemm.M=128 --set gemm.TM=64 --set gemm.TK=64"
	"va_offset_verify|"
	"gpt3_qkv|"
	"synthetic|--set synthetic.ops=20000"
	"tp_mlp|"
	"tp_mlp_row|--set tp_mlp.layer=2 --set tp_mlp.x_by_rank=1"
	"hello_send|"
	"milestone-gqa-llama70b|"
	"allreduce_sweep|--set allreduce_sweep.max_bytes=65536 --set allreduce_sweep.factor=4"
)
for p in 0 1 2 3 4 5; do cases+=("fabric_traffic_$p|--set fabric_traffic.pattern=$p"); done
for a in intercube_allreduce ring_allreduce_tcm ring_allreduce_hbm ring_allreduce_sram ring_allreduce_16 \
	mesh_allreduce_4 tree_allreduce_7 hierarchical_allreduce ring_rsag_allreduce; do
	cases+=("ccl_$a|--set ccl.defaults.algorithm=$a")
done

for c in "${cases[@]}"; do
	name=${c%%|*}
	args=${c#*|}
	bench=$name
	case $name in
	gemm_tiled) bench=gemm ;;
	tp_mlp_row) bench=tp_mlp ;;
	fabric_traffic_*) bench=fabric_traffic ;;
	ccl_*) bench=ccl_allreduce ;;
	esac
	db=$work/$name.db
	o=$out/$name
	# shellcheck disable=SC2086
	"$BIN/kb-trace" bench "$bench" $args -o "$db" --force --summary 2>&1 | scrub > "$o.trace.txt"
	"$BIN/kb-time" "$db" --label base 2>&1 | scrub > "$o.time.txt"
	"$BIN/kb-time" "$db" --label hbm2 --quiet --set cube.components.hbm.attrs.bandwidth_gbps=200 \
		--set system.components.sip_link.attrs.bandwidth_gbps=32 2>&1 | scrub >> "$o.time.txt"
	"$BIN/kb-replay" "$db" --verify --run base 2>&1 | scrub > "$o.replay.txt"
	"$BIN/kb-report" "$db" --run base --top 0 --json "$work/r.json" --perfetto "$work/p.json" 2>&1 | scrub > "$o.report.txt"
	scrub < "$work/r.json" > "$o.report.json"
	cp "$work/p.json" "$o.perfetto.json"
	"$BIN/kb-diff" "$db" "$db" --run-a base --run-b hbm2 2>&1 | scrub > "$o.diff.txt"
	sqlite3 "$db" .dump | grep -v -E "wall_s|'tool_version'" > "$o.dump.sql"
done
echo "identity: ${#cases[@]} cases in $out"
