#!/usr/bin/env bash
# cli_slurm.sh — kb-sweep on a real Slurm: munged, slurmctld and slurmd on
# this host with a one-node config written here (DESIGN 8b), a 6-point
# sweep as a 3-task job array plus its afterok merge job; the merged study
# equals the local engine's value for value, and merging again changes
# nothing. Every daemon started here is stopped by its pid.
source "$(dirname "$0")/cli_lib.sh"
SWEEP="$BIN/kb-sweep"
case $SWEEP in /*) ;; *) SWEEP="$(pwd)/$SWEEP" ;; esac
for t in munged slurmctld slurmd sbatch squeue; do
	command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin
	command -v "$t" >/dev/null || { echo "FAIL: $t is not installed (make test installs slurm-wlm and munge)"; exit 1; }
done
S="$dir/slurm"
mkdir -p "$S/state" "$S/spool" "$S/log"
host=$(hostname -s)
cat >"$S/slurm.conf" <<CONF
ClusterName=kbtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=kb Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$S/slurm.conf"
started_munge=""
stop() { # every daemon started here, by its pid, waited for
	local pids=""
	for f in "$S/slurmd.pid" "$S/slurmctld.pid"; do [ -s "$f" ] && pids="$pids $(cat "$f")"; done
	pids="$pids $started_munge"
	for p in $pids; do kill "$p" 2>/dev/null; done
	for i in $(seq 1 50); do
		alive=0
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.2
	done
	rm -rf "$dir"
}
trap stop EXIT
if ! munge -n >/dev/null 2>&1; then # munged runs as its own user, as the package expects
	mkdir -p /run/munge && chown munge:munge /run/munge
	runuser -u munge -- "$(command -v munged)" 2>"$S/log/munged.err"
	sleep 1
	started_munge=$(cat /run/munge/munged.pid 2>/dev/null)
fi
check "munged is up ($(cat "$S/log/munged.err" 2>/dev/null))" "$(munge -n >/dev/null 2>&1; echo $?)"
slurmctld && slurmd
ok=1
for i in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && { ok=0; break; }; sleep 1; done
check "slurmctld and slurmd serve a one-node cluster ($(tail -n 2 "$S/log/slurmctld.log" 2>/dev/null | tr '\n' ' '))" $ok

cp "$(dirname "$0")/sweep_ar.yaml" "$dir/ar.yaml"
TOOL=$SWEEP expect 0 "" -- "$dir/ar.yaml" -o "$dir/slurm.study" --engine slurm --tasks 3 --dry-run
check "--dry-run prints both scripts and submits nothing" "$(grep -q '^#SBATCH --array=0-2$' "$dir/out" && grep -q 'merge ' "$dir/out" && [ ! -e "$dir/slurm.study.slurm" ]; echo $?)"
TOOL=$SWEEP expect 0 "" -- "$dir/ar.yaml" -o "$dir/slurm.study" --engine slurm --tasks 3
check "submitted: a 3-task array and an afterok merge" "$(grep -qE 'submitted job array [0-9]+ \(3 tasks\) and merge job [0-9]+ \(afterok\)' "$dir/out"; echo $?)"
ok=1
for i in $(seq 1 120); do [ -z "$(squeue -h 2>/dev/null)" ] && { ok=0; break; }; sleep 1; done
check "the jobs finished within 120 s" $ok
check "the merge job ran" "$(grep -q 'merged 3 parts' "$dir/slurm.study.slurm/merge.log" 2>/dev/null; echo $?)"
# the local engine on the same spec: value for value
"$SWEEP" "$dir/ar.yaml" -o "$dir/local.study" -q
cols="hash, status, error, total_ps, host_ps, device_ps, dma_pct, gemm_pct, math_pct, ipcq_pct, host_pct"
cmp_sql() { sqlite3 "$1" "SELECT $cols FROM points LEFT JOIN results ON point_id = id ORDER BY hash"; }
check "the merged study has the 6 points" "$(sqlite3 "$dir/slurm.study" "SELECT count(*) FROM sweep_v WHERE status = 'ok'" 2>/dev/null | grep -qx 6; echo $?)"
check "merged Slurm study equals the local engine's, value for value" "$([ "$(cmp_sql "$dir/slurm.study")" = "$(cmp_sql "$dir/local.study")" ] && [ -n "$(cmp_sql "$dir/local.study")" ]; echo $?)"
for t in link_results collective_results; do
	a=$(sqlite3 "$dir/slurm.study" "SELECT p.hash, x.* FROM $t x JOIN points p ON p.id = x.point_id ORDER BY 1, 3" | cut -d'|' -f1,3-)
	b=$(sqlite3 "$dir/local.study" "SELECT p.hash, x.* FROM $t x JOIN points p ON p.id = x.point_id ORDER BY 1, 3" | cut -d'|' -f1,3-)
	check "$t equal to the local engine's" "$([ "$a" = "$b" ] && [ -n "$a" ]; echo $?)"
done
before=$(cmp_sql "$dir/slurm.study")
TOOL=$SWEEP expect 0 "" -- merge "$dir/slurm.study" "$dir"/slurm.study.slurm/part-*.study
check "merging again changes nothing" "$([ "$(cmp_sql "$dir/slurm.study")" = "$before" ] && sqlite3 "$dir/slurm.study" "SELECT count(*) FROM points" | grep -qx 6; echo $?)"
echo "cli_slurm: $pass passed, $fail failed"
[ "$fail" = 0 ]
