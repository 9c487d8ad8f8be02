#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, to try `stratum batch --slurm`
# by hand; the batch test (tests/app/batch.rs) starts and stops its own the
# same way. munged with a fresh key, a minimal slurm.conf with this host as
# the only node, slurmctld and slurmd: started as root without systemd, on
# free ports, every file in one throwaway folder.
#
#   scripts/slurm-dev.sh start [DIR]    start it; prints the line to export
#   scripts/slurm-dev.sh stop [DIR]     stop it and remove DIR
#   scripts/slurm-dev.sh status [DIR]   sinfo and squeue against it
#
# DIR: $STRATUM_SLURM_DIR, else /tmp/stratum-slurm. Needs root and Debian's
# munge, slurmctld, slurmd and slurm-client (scripts/setup.sh installs them).
# Then, in another shell:
#   export SLURM_CONF=DIR/slurm.conf
#   stratum batch STUDIES -o OUT --slurm --cpus-per-task 1
#   stratum batch --status OUT
set -euo pipefail
cmd="${1:-}"
dir="${2:-${STRATUM_SLURM_DIR:-/tmp/stratum-slurm}}"
marker="$dir/.stratum-slurm-dev"
node="$(hostname -s 2>/dev/null || hostname)"

die() {
    echo "slurm-dev: $*" >&2
    exit 1
}

# Polls `check` every 0.2 s for up to `seconds`; 0 when it succeeded.
wait_for() { # wait_for SECONDS COMMAND...
    local seconds=$1
    shift
    local end=$((SECONDS + seconds))
    while ((SECONDS < end)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    "$@" >/dev/null 2>&1
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
    [ -f "$marker" ] || {
        [ -e "$dir" ] && die "$dir was not made by slurm-dev.sh; not touching it"
        return 0
    }
    local daemon pid
    # Jobs first: a slurmstepd outlives slurmd, and would keep its task
    # running after the cluster is gone.
    if alive "$dir/run/slurmctld.pid"; then
        SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
        wait_for 15 bash -c "[ -z \"\$(SLURM_CONF='$dir/slurm.conf' timeout 5 squeue -h)\" ]" || true
    fi
    step_daemons() { # the slurmstepd processes of this cluster
        local p
        for p in $(pgrep -x slurmstepd 2>/dev/null); do
            { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null |
                grep -qx "SLURM_CONF=$dir/slurm.conf" && echo "$p"
        done
        return 0
    }
    tree() { # PID and its descendants
        local c
        echo "$1"
        for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done
    }
    local left
    left="$(for pid in $(step_daemons); do tree "$pid"; done)"
    gone() { # none of $left is alive
        local p
        for p in $left; do kill -0 "$p" 2>/dev/null && return 1; done
        return 0
    }
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        kill $left 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_for 10 gone || kill -9 $left 2>/dev/null || true
    fi
    for daemon in slurmd slurmctld munged; do
        [ -f "$dir/run/$daemon.pid" ] || continue
        pid="$(cat "$dir/run/$daemon.pid")"
        kill "$pid" 2>/dev/null || continue
        wait_for 15 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}

start() {
    [ "$(id -u)" -eq 0 ] || die "needs root (munged and slurmd run as root here)"
    local p
    for p in munged slurmctld slurmd sinfo sbatch; do
        command -v "$p" >/dev/null || die "$p is not installed: apt-get install munge slurmctld slurmd slurm-client"
    done
    if alive "$dir/run/slurmctld.pid"; then
        echo "already running; export SLURM_CONF=$dir/slurm.conf"
        return 0
    fi
    [ -e "$dir" ] && stop
    # munged insists: the key readable by its owner only, every folder
    # above the socket open to all.
    local up
    up="$(dirname "$(realpath -m "$dir")")"
    while [ "$up" != / ]; do
        [ "$(($(stat -c %a "$up") % 2))" -eq 1 ] ||
            die "munged refuses a socket under $up, which not everyone may enter (chmod o+x $up, or choose another DIR)"
        up="$(dirname "$up")"
    done
    mkdir -p "$dir"/{etc,run,log,state,spool}
    touch "$marker"
    chmod 755 "$dir" "$dir/run"
    chmod 700 "$dir/etc" "$dir/log" "$dir/state" "$dir/spool"
    head -c 1024 /dev/urandom >"$dir/etc/munge.key"
    chmod 400 "$dir/etc/munge.key"
    timeout 20 munged --socket="$dir/run/munge.sock" --key-file="$dir/etc/munge.key" \
        --log-file="$dir/log/munged.log" --pid-file="$dir/run/munged.pid" \
        --seed-file="$dir/state/munged.seed" || fail "munged did not start"
    local ports ctl_port d_port
    ports="$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')"
    read -r ctl_port d_port <<<"$ports"
    local mem_mib
    mem_mib=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512))
    cat >"$dir/slurm.conf" <<CONF
# A one-node cluster for trying stratum batch (scripts/slurm-dev.sh).
ClusterName=stratumdev
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups in containers and CI machines: track processes by parentage.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mib State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    timeout 30 slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
    timeout 30 slurmd -f "$SLURM_CONF" -N "$node" || fail "slurmd did not start"
    wait_for 60 bash -c "sinfo -h -n '$node' -o %t | grep -qx idle" ||
        fail "the node did not become idle within 60 s"
    echo "export SLURM_CONF=$SLURM_CONF"
}

fail() {
    echo "slurm-dev: $*; the logs say:" >&2
    tail -n 15 "$dir"/log/*.log >&2 2>/dev/null || true
    stop
    exit 1
}

case "$cmd" in
start) start ;;
stop) stop ;;
status)
    export SLURM_CONF="$dir/slurm.conf"
    sinfo
    squeue
    ;;
*)
    echo "usage: scripts/slurm-dev.sh start|stop|status [DIR]" >&2
    exit 2
    ;;
esac
