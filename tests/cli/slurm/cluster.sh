# A private single-node Slurm cluster for tests (sourced). Runs as root: munged, slurmctld and
# slurmd from Debian's packages, with a generated slurm.conf in a temporary directory, random
# ports and a private munge socket, so that it never touches a site's Slurm and several test runs
# can share a machine. Everything it starts is stopped by PID in slurm_cluster_stop.
#
#   slurm_cluster_missing           prints the missing programs (empty: all installed)
#   slurm_cluster_start DIR CPUS    start; on failure returns 1 with the reason in SLURM_CLUSTER_ERROR
#   slurm_cluster_stop              cancel the jobs, stop the daemons, kill what is left; idempotent
#   slurm_submit ARGS...            sbatch --parsable ARGS; prints the job id
#   slurm_job_field JOB FIELD       one field of `scontrol show job` (JobState, Restarts, ExitCode...)
#   slurm_wait_job JOB SECONDS      wait until the job has ended; prints its final JobState
#   slurm_wait_requeued JOB SECONDS wait until the job is pending again after a requeue
#   slurm_release_now JOB           make a requeued job eligible at once (Slurm holds it ~2 minutes)

case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac   # the daemons live there
SLURM_CLUSTER_DIR=
SLURM_CLUSTER_ERROR=
SLURM_CLUSTER_PIDS=()

slurm_cluster_missing() {
    local p missing=()
    for p in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel srun; do
        command -v "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    echo "${missing[*]}"
}

# A TCP port nobody listens on (bash's /dev/tcp connect fails on a free port).
_slurm_free_port() {
    local p _
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

_slurm_write_conf() {   # dir cpus ctld_port slurmd_port
    local d=$1 cpus=$2 cport=$3 dport=$4
    # FirstJobId: job ids differ between clusters sharing the machine (PMIx names its files by id).
    cat >"$d/slurm.conf" <<EOF
ClusterName=maskditci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
TmpFS=$d/tmp
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/pgid
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
FirstJobId=$((1000 + RANDOM * 16 + RANDOM % 16))
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=node1 NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=node1 Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    # Nothing here uses cgroups (proctrack/pgid; task/affinity pins tasks with sched_setaffinity), but slurmd always initialises a cgroup
    # plugin: the one of the mounted hierarchy, without systemd (containers have none).
    printf 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n' >"$d/cgroup.conf"
    printf 'PMIxCliTmpDirBase=%s\n' "$d/tmp" >"$d/mpi.conf"
}

_slurm_fail_start() {
    SLURM_CLUSTER_ERROR="$1"
    local f
    for f in "$SLURM_CLUSTER_DIR"/log/*; do
        [ -s "$f" ] || continue
        SLURM_CLUSTER_ERROR+=$'\n'"--- $(basename "$f") (last lines):"$'\n'"$(tail -n 15 "$f")"
    done
    return 1
}

slurm_cluster_start() {   # dir cpus
    local d=$1 cpus=$2 cport dport _ pid
    SLURM_CLUSTER_DIR=$d
    if ! mkdir -p "$d"/{state,spool,tmp,log,munge} || ! chmod 700 "$d/munge"; then _slurm_fail_start "cannot create $d"; return 1; fi
    if ! cport=$(_slurm_free_port) || ! dport=$(_slurm_free_port); then _slurm_fail_start "no free TCP port"; return 1; fi
    _slurm_write_conf "$d" "$cpus" "$cport" "$dport"
    # SLURM_CONF points the clients at this cluster. The daemons and every job get the marker
    # MASKDIT_TEST_CLUSTER in their environment (and pass it on), so that slurm_cluster_stop can
    # find whatever is left of them; the test shell itself is not marked.
    export SLURM_CONF=$d/slurm.conf

    head -c 1024 /dev/urandom >"$d/munge/munge.key" && chmod 400 "$d/munge/munge.key"
    MASKDIT_TEST_CLUSTER=$d munged -F -f --socket="$d/munge/socket" --key-file="$d/munge/munge.key" --pid-file="$d/munge/munged.pid" \
        --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" >>"$d/log/munged.out" 2>&1 &
    SLURM_CLUSTER_PIDS+=($!)
    for _ in $(seq 50); do [ -S "$d/munge/socket" ] && break; sleep 0.1; done
    [ -S "$d/munge/socket" ] || { _slurm_fail_start "munged did not create its socket within 5 s"; return 1; }

    MASKDIT_TEST_CLUSTER=$d slurmctld -D -f "$SLURM_CONF" >>"$d/log/slurmctld.out" 2>&1 &
    SLURM_CLUSTER_PIDS+=($!)
    MASKDIT_TEST_CLUSTER=$d slurmd -D -N node1 -f "$SLURM_CONF" >>"$d/log/slurmd.out" 2>&1 &
    SLURM_CLUSTER_PIDS+=($!)
    # Ready when the node is idle; bounded so that a broken setup fails instead of hanging.
    for _ in $(seq 60); do
        [ "$(sinfo -h -n node1 -o %t 2>/dev/null)" = idle ] && return 0
        for pid in "${SLURM_CLUSTER_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || { _slurm_fail_start "a Slurm daemon (pid $pid) exited during start-up"; return 1; }
        done
        sleep 0.5
    done
    _slurm_fail_start "node1 did not become idle within 30 s (sinfo: $(sinfo -h -o '%t %E' 2>&1 | head -n 3))"
}

# PIDs of processes started by this cluster that are still alive (jobs and steps included).
_slurm_cluster_processes() {
    local p
    for p in /proc/[0-9]*; do
        grep -qsz "^MASKDIT_TEST_CLUSTER=$SLURM_CLUSTER_DIR\$" "$p/environ" && echo "${p#/proc/}"
    done
}

_slurm_kill_wait() {   # seconds pid...
    local secs=$1 _ p alive; shift
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    for _ in $(seq $((secs * 10))); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null
    return 0
}

slurm_cluster_stop() {
    [ -n "$SLURM_CLUSTER_DIR" ] || return 0
    local jobs _
    jobs=$(squeue -h -o %i 2>/dev/null)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null
        for _ in $(seq 50); do [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    _slurm_kill_wait 10 "${SLURM_CLUSTER_PIDS[@]}"
    # shellcheck disable=SC2046
    _slurm_kill_wait 5 $(_slurm_cluster_processes)
    wait "${SLURM_CLUSTER_PIDS[@]}" 2>/dev/null
    SLURM_CLUSTER_PIDS=()
    rm -rf "$SLURM_CLUSTER_DIR"
    SLURM_CLUSTER_DIR=
}

slurm_submit() { MASKDIT_TEST_CLUSTER=$SLURM_CLUSTER_DIR sbatch --parsable "$@" | cut -d';' -f1; }

slurm_job_field() {   # job field
    scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

slurm_wait_job() {   # job seconds
    local _ st
    for _ in $(seq $(($2 * 4))); do
        st=$(slurm_job_field "$1" JobState)
        case $st in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
                echo "$st"; return 0 ;;
        esac
        sleep 0.25
    done
    echo "still ${st:-unknown} after $2 s"
    return 1
}

slurm_wait_requeued() {   # job seconds
    local _
    for _ in $(seq $(($2 * 4))); do
        [ "$(slurm_job_field "$1" JobState)" = PENDING ] && [ "$(slurm_job_field "$1" Restarts)" -gt 0 ] && return 0
        sleep 0.25
    done
    return 1
}

slurm_release_now() { scontrol update JobId="$1" StartTime=now; }
