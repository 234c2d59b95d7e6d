#!/bin/sh
# A throw-away one-node SLURM cluster for the cluster test (tests/test_slurm.py), as root, without systemd.
#
#   tests/slurm/cluster.sh start DIR   install SLURM + munge if missing, write /etc/slurm/slurm.conf
#                                      and gres.conf, start munged, slurmctld, slurmd; wait for the node
#   tests/slurm/cluster.sh stop DIR    stop every daemon that `start DIR` started (pids in DIR/*.pid)
#
# The configuration goes to /etc/slurm/slurm.conf (+ gres.conf), because Snakemake's jobstep plugin
# drops SLURM_CONF before its srun inside a job; start refuses (exit 3) when a slurm.conf that it did not
# write is there, and stop removes the files it wrote. State, spool, logs and pid files live in DIR.
# No accounting
# (slurmdbd): Snakemake's SLURM plugin must run with --slurm-status-command squeue. The node advertises
# one GPU-labelled gres backed by /dev/null, so `--gpus=1` jobs run (with CUDA_VISIBLE_DEVICES=0) on a
# machine without a GPU. Exit code 3 = cannot run here (not root / no apt); the test skips on it.
set -eu

MARK="# greenhp test cluster"
conf=/etc/slurm/slurm.conf
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
    # Jobs first: slurmstepd and its children outlive slurmd.
    if [ -f "$dir/slurmctld.pid" ] && command -v scancel >/dev/null; then
        scancel --full --quiet --user=root 2>/dev/null || true
        i=0
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    fi
    for name in slurmd slurmctld munged; do
        pidfile="$dir/$name.pid"
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
        if [ -f "$f" ] && head -n 1 "$f" | grep -q "^$MARK"; then rm -f "$f"; fi
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root (starts slurmctld/slurmd/munged)" >&2; exit 3; }
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { echo "cluster.sh: SLURM is not installed and apt-get is unavailable" >&2; exit 3; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >"$dir.apt.log" 2>&1 \
        || { apt-get update -q >>"$dir.apt.log" 2>&1 && apt-get install -y -q --no-install-recommends \
                 slurmctld slurmd slurm-client munge >>"$dir.apt.log" 2>&1; } \
        || { echo "cluster.sh: apt-get install of SLURM failed (see $dir.apt.log)" >&2; exit 3; }
fi

if [ -f "$conf" ] && ! head -n 1 "$conf" | grep -q "^$MARK"; then
    echo "cluster.sh: $conf exists and is not ours (a real SLURM set-up?); not touching it" >&2
    exit 3
fi
mkdir -p "$dir/state" "$dir/spool" "$dir/log" /etc/slurm
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

# munge: reuse a running munged, else start one (and remember to stop it).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    i=0
    until munge -n 2>/dev/null | unmunge >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "cluster.sh: munged did not come up" >&2; exit 1; }; sleep 0.1
    done
    cp /run/munge/munged.pid "$dir/munged.pid"
fi

cat >"$conf" <<EOF
$MARK ($dir); removed by: $0 stop $dir
ClusterName=greenhp-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
MpiDefault=none
GresTypes=gpu
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
cat >/etc/slurm/gres.conf <<EOF
$MARK ($dir)
AutoDetect=off
NodeName=$host Name=gpu File=/dev/null
EOF

slurmctld -f "$conf"
slurmd -f "$conf"
i=0
until [ "$(sinfo -h -N -o %t 2>/dev/null | head -n 1)" = idle ]; do
    i=$((i + 1))
    if [ $i -ge 150 ]; then
        echo "cluster.sh: node did not become idle; sinfo: $(sinfo -h -N -o '%t %E' 2>&1)" >&2
        tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
        exit 1
    fi
    sleep 0.2
done
echo "cluster.sh: SLURM up on $host ($cpus CPUs, ${mem_mb} MB, gpu:1), $conf"
