#!/usr/bin/env bash
# jobs/lib/common.sh without a Slurm cluster: a template runs with the allocation's variables set and
# stand-ins for srun, scontrol and squeue (tests/cli/jobstub). Cases: srun gets --cpus-per-task and
# --hint=nomultithread when SLURM_CPUS_PER_TASK is set (and neither without it); a rank whose
# checkpoint write hangs after SIGUSR1 does not stop the requeue: past MASKDIT_CKPT_DEADLINE the job
# names the hang, records the newest complete checkpoint and requeues. tests/cli/slurm.sh runs the
# templates on a real Slurm.
source tests/cli/lib.sh
STUB=$PWD/tests/cli/jobstub

# run_template NAME [VAR=value...]: jobs/train256.slurm on the stubs, in the background; sets JOB_PID.
run_template() {
    local name=$1
    shift
    export STUB_LOG=$TMP/$name
    mkdir -p "$STUB_LOG/results/000-tiny/checkpoints" "$STUB_LOG/data"
    : >"$STUB_LOG/data/index.h5"
    printf 'data:\n  root: %s\n' "$STUB_LOG/data" >"$STUB_LOG/config.yaml"
    : >"$STUB_LOG/results/000-tiny/checkpoints/0000100.h5"
    env -u OMP_NUM_THREADS PATH="$STUB:$PATH" SLURM_JOB_ID=77 SLURM_NTASKS=1 SLURM_JOB_NUM_NODES=1 MASKDIT_BIN="$STUB" \
        MASKDIT_CONFIG="$STUB_LOG/config.yaml" MASKDIT_RESULTS_DIR="$STUB_LOG/results" "$@" \
        bash jobs/train256.slurm >"$STUB_LOG/job.out" 2>&1 &
    JOB_PID=$!
}
wait_for() {   # seconds command...: true once the command succeeds
    local i
    for i in $(seq $(($1 * 10))); do "${@:2}" && return 0; sleep 0.1; done
    return 1
}

# ---- CPU binding ----
run_template bind SLURM_CPUS_PER_TASK=4
if wait_for 20 test -s "$TMP/bind/step.pid"; then
    args=$(tr '\n' ' ' <"$TMP/bind/srun.args")
    [[ $args == *"--cpus-per-task=4 "* && $args == *"--hint=nomultithread "* ]] && pass srun-cpu-binding ||
        fail srun-cpu-binding "srun options: $args"
    grep -q "OMP_NUM_THREADS=4" "$TMP/bind/job.out" && pass omp-threads-from-cpus || fail omp-threads-from-cpus "$(cat "$TMP/bind/job.out")"
else
    fail srun-cpu-binding "the rank never started: $(cat "$TMP/bind/job.out")"
fi
kill "$(cat "$TMP/bind/step.pid")" "$JOB_PID" 2>/dev/null
run_template nobind MASKDIT_SRUN_HINT=--threads-per-core=1
if wait_for 20 test -s "$TMP/nobind/step.pid"; then
    grep -q -- "--cpus-per-task\|--hint\|--threads-per-core" "$TMP/nobind/srun.args" &&
        fail srun-no-cpus-per-task "srun got CPU options without SLURM_CPUS_PER_TASK: $(tr '\n' ' ' <"$TMP/nobind/srun.args")" ||
        pass srun-no-cpus-per-task
else
    fail srun-no-cpus-per-task "the rank never started: $(cat "$TMP/nobind/job.out")"
fi
kill "$(cat "$TMP/nobind/step.pid")" "$JOB_PID" 2>/dev/null

# ---- a checkpoint write that hangs after SIGUSR1 ----
run_template hung MASKDIT_CKPT_DEADLINE=2
if wait_for 20 test -s "$TMP/hung/step.pid"; then
    t0=$SECONDS
    kill -USR1 "$JOB_PID"
    if wait_for 30 grep -qs "scontrol requeue 77" "$TMP/hung/scontrol.calls"; then
        pass hung-checkpoint-requeues
        [ $((SECONDS - t0)) -ge 2 ] && pass hung-checkpoint-waits-deadline ||
            fail hung-checkpoint-waits-deadline "requeued after $((SECONDS - t0)) s, before the 2 s deadline"
        grep -qF "did not checkpoint and stop within MASKDIT_CKPT_DEADLINE=2s" "$TMP/hung/job.out" &&
            pass hung-checkpoint-named || fail hung-checkpoint-named "$(cat "$TMP/hung/job.out")"
        grep -qF "Comment=maskdit-checkpoint:$TMP/hung/results/000-tiny/checkpoints/0000100.h5" "$TMP/hung/scontrol.calls" &&
            pass hung-checkpoint-records-previous || fail hung-checkpoint-records-previous "$(cat "$TMP/hung/scontrol.calls")"
    else
        fail hung-checkpoint-requeues "no requeue 30 s after SIGUSR1: $(cat "$TMP/hung/job.out")"
    fi
else
    fail hung-checkpoint-requeues "the rank never started: $(cat "$TMP/hung/job.out")"
fi
kill "$(cat "$TMP/hung/step.pid" 2>/dev/null)" "$JOB_PID" 2>/dev/null
wait 2>/dev/null
exit 0
