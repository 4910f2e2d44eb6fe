#!/usr/bin/env bash
# bench/whatif.sh — what-if monotonicity: on a random remote-traffic trace,
# each trial makes one resource faster (a bandwidth raised or a latency
# lowered by a random factor from 1.05 to 3) and re-times the trace. A
# faster resource should never make the kernels slower; the script counts
# the trials whose kernel span (launch start to end, all ranks) grew and
# reports the worst, as a share of the base span.
set -eu
BIN=${BIN:-bin}
BUILD=${BUILD:-build}
TRIALS=${TRIALS:-240}
db="$BUILD/bench/whatif.db"
mkdir -p "$(dirname "$db")"
rm -f "$db"
"$BIN/kb-trace" --force bench fabric_traffic --set fabric_traffic.pattern=5 --set fabric_traffic.iters=3 \
	--set fabric_traffic.rows=8 --set fabric_traffic.hot=11 -o "$db"
span() { sqlite3 "$db" "SELECT max(t_end_ps) - min(t_pe_start_ps) FROM launch_times WHERE run_id = (SELECT id FROM timing_runs WHERE label = '$1')"; }
"$BIN/kb-time" "$db" --quiet --label base
base=$(span base)
bws="system.components.sip_link.attrs.bandwidth_gbps=64 sip.components.cube_link.attrs.bandwidth_gbps=128
cube.components.hbm.attrs.bandwidth_gbps=100 cube.components.sram.attrs.bandwidth_gbps=1024
cube.components.noc.attrs.port_bandwidth_gbps=256 cube.pe_template.components.pe_tcm.attrs.bandwidth_gbps=512"
lats="system.components.switch.attrs.overhead_ns=5 system.components.sip_link.attrs.latency_ns=300
sip.components.cube_link.attrs.latency_ns=20 cube.components.hbm.attrs.latency_ns=120
cube.components.noc.attrs.hop_latency_ns=2 cube.pe_template.components.pe_dma.attrs.setup_ns=10
cube.pe_template.components.pe_tcm.attrs.latency_ns=2"
all=($bws $lats)
n_bw=$(echo $bws | wc -w)
slower=0; worst=0; worst_what=none
RANDOM=7
for ((i = 0; i < TRIALS; i++)); do
	k=$((RANDOM % ${#all[@]}))
	key=${all[$k]%%=*}; val=${all[$k]#*=}
	f=$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 1.05 + 1.95 * r / 32767 }')
	if [ "$k" -lt "$n_bw" ]; then new=$(awk -v v="$val" -v f="$f" 'BEGIN { printf "%.6g", v * f }')
	else new=$(awk -v v="$val" -v f="$f" 'BEGIN { printf "%.6g", v / f }'); fi
	"$BIN/kb-time" "$db" --quiet --label "t$i" --set "$key=$new"
	s=$(span "t$i")
	if [ "$s" -gt "$base" ]; then
		slower=$((slower + 1))
		d=$((s - base))
		if [ "$d" -gt "$worst" ]; then worst=$d; worst_what="$key=$new"; fi
	fi
done
awk -v n="$TRIALS" -v s="$slower" -v w="$worst" -v b="$base" -v what="$worst_what" 'BEGIN {
	printf "what-if: %d trials, each one resource faster; %d made the kernel span longer", n, s
	printf "; worst +%d ps = %.3f %% of the %.3f us base span (%s)\n", w, 100 * w / b, b / 1e6, what }'
