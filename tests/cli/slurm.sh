#!/usr/bin/env bash
# The Slurm job templates (jobs/*.slurm) on a real Slurm: a private single-node cluster
# (tests/cli/slurm/cluster.sh) runs them with a tiny CPU configuration (sbatch overrides: 1 node,
# 2 tasks, no GPUs). Cases: the cluster starts; bad input stops a job early with a message in its
# log (no config, no dataset, no checkpoint to fine-tune or sample, no conversion input, a world
# size that does not match the allocation, a requeued job whose checkpoint directory was removed);
# a conversion over 2 ranks, and one preempted midway that requeues itself and completes; training
# preempted by SIGUSR1 to the batch script -> checkpoint -> requeue -> the resumed run ends with the
# same losses and bit-identical weights as an uninterrupted run; fine-tuning and sampling from the
# trained checkpoint, and sampling preempted -> batches kept -> requeue -> the same files as an
# uninterrupted run. Needs root (the daemons) and slurm-wlm, slurm-client, munge installed; when
# Slurm is missing or cannot start that is a failure with the reason, never a silent skip.
source tests/cli/lib.sh
source tests/cli/slurm/cluster.sh
trap 'slurm_cluster_stop; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP   # the EXIT trap tears the cluster down on these too

BIN_DIR=${MASKDIT_BIN:-$PWD/bin}
LOGS=$TMP/logs
mkdir -p "$LOGS"
JOB_TIMEOUT=90
# The tiny CPU allocation every template is submitted with. --signal: the templates ask for SIGUSR1
# 10 minutes before a 24 h limit; here the limit is short, so the warning time must be too.
SB=(--nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gres=none --time=20 --signal=B:USR1@30 --chdir="$PWD")
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

case_log() { echo "    --- job log $1:"; sed 's/^/    | /' "$LOGS/$1.out" 2>/dev/null | tail -n 30; }

# submit NAME TEMPLATE [template args...]; environment from the caller (VAR=value submit ...).
submit() { slurm_submit "${SB[@]}" --job-name="$1" --output="$LOGS/$1.out" "jobs/$2" "${@:3}"; }

# expect_output NAME TEXT command...: the command succeeds and prints TEXT
expect_output() {
    local name=$1 want=$2 out
    shift 2
    if ! out=$("$@" 2>&1); then fail "$name" "$* failed: $(echo "$out" | tail -n 5)"; return; fi
    [[ $out == *"$want"* ]] && pass "$name" || fail "$name" "output of $* does not say '$want': $(echo "$out" | head -n 8)"
}

# preempt NAME JOB TEST...: once the command TEST succeeds (bounded wait while the job runs),
# signal the batch script as `--signal=B:USR1@...` does. requeued NAME JOB: wait until the job is
# pending again after a requeue.
preempt() {
    local name=$1 job=$2 i
    shift 2
    for i in $(seq $((JOB_TIMEOUT * 4))); do
        if "$@" 2>/dev/null; then scancel --signal=USR1 --batch "$job"; return 0; fi
        [ "$(slurm_job_field "$job" JobState)" = RUNNING ] || [ "$i" -lt 40 ] || break
        sleep 0.1
    done
    fail "$name" "job $job ($(slurm_job_field "$job" JobState)) never came to the point of preemption: $*"
    case_log "$name"
    return 1
}
requeued() {
    slurm_wait_requeued "$2" $JOB_TIMEOUT && return 0
    fail "$1" "job $2 was not requeued after SIGUSR1 (state $(slurm_job_field "$2" JobState))"
    case_log "$1"
    return 1
}

# expect_job NAME JOBID STATE [text in the job log]
expect_job() {
    local name=$1 job=$2 want=$3 text=${4:-} st
    if [ -z "$job" ]; then fail "$name" "sbatch did not submit the job"; return; fi
    st=$(slurm_wait_job "$job" $JOB_TIMEOUT)
    if [ "$st" != "$want" ]; then fail "$name" "job $job: $st, expected $want"; case_log "$name"; return; fi
    if [ -n "$text" ] && ! grep -qF -- "$text" "$LOGS/$name.out"; then
        fail "$name" "job log does not say: $text"; case_log "$name"; return
    fi
    pass "$name"
}

absent=$(slurm_cluster_missing)
if [ -n "$absent" ]; then
    fail slurm-cluster "slurm not installed (missing: $absent); make deps installs slurm-wlm slurm-client munge"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then fail slurm-cluster "the private Slurm cluster runs its daemons as root: run this test as root"; exit 1; fi
for p in maskdit-train maskdit-convert maskdit-generate; do
    [ -x "$BIN_DIR/$p" ] || { fail slurm-programs "$BIN_DIR/$p is not built (make)"; exit 1; }
done
command -v h5diff >/dev/null || { fail slurm-programs "h5diff is not installed (Debian package hdf5-tools)"; exit 1; }
# 8 CPUs on the node whatever the machine has (SlurmdParameters=config_overrides): short jobs
# run side by side.
if ! slurm_cluster_start "$TMP/cluster" 8; then fail slurm-cluster "Slurm did not start: $SLURM_CLUSTER_ERROR"; exit 1; fi
pass slurm-cluster
export MASKDIT_BIN=$BIN_DIR

# ---- conversion: the test set for training, the training set preempted on the way ----
FMNIST=/usr/share/datasets/fashion-mnist
DATA=$TMP/data
jc=$(MASKDIT_CONVERT=idx MASKDIT_SOURCE=$FMNIST/t10k-images-idx3-ubyte.gz MASKDIT_LABELS=$FMNIST/t10k-labels-idx1-ubyte.gz \
    MASKDIT_DATA=$DATA submit convert convert.slurm --shard-size 2500 --no-progress)
jcp=$(MASKDIT_CONVERT=idx MASKDIT_SOURCE=$FMNIST/train-images-idx3-ubyte.gz MASKDIT_LABELS=$FMNIST/train-labels-idx1-ubyte.gz \
    MASKDIT_DATA=$TMP/data-preempted submit convert-preempted convert.slurm --shard-size 500 --no-progress)
preempt convert-preempted "$jcp" test -e "$TMP/data-preempted/shard-00004.h5" && cp_ok=1 || cp_ok=0
first_shard=$(stat -c %Y.%i "$TMP/data-preempted/shard-00000.h5" 2>/dev/null)

# ---- a tiny run: a small MaskDiT on the Fashion-MNIST test set, pixels, 2 ranks x batch 4 ----
# Long enough (300 steps, a few seconds) for the signal to arrive in the middle; one progress line
# per step, so that the losses of two runs can be compared line by line; a checkpoint at the end.
PROGRESS="Train Loss"
STEPS=300
CONFIG=$TMP/tiny.yaml
tiny_train_config "$CONFIG" "$DATA" data.dataset=fashion-mnist model.hidden_size=64 model.depth=2 train.amp=False \
    train.batchsize=4 train.max_num_steps=$STEPS train.ema_decay=0.9 log.ckpt_every=$STEPS log.tag=-slurmtest

# ---- bad input: each job stops before launching the ranks, with a message in its log ----
mkdir -p "$TMP/fake-data"
j1=$(MASKDIT_CONFIG=$TMP/none.yaml submit no-config train256.slurm)
j2=$(MASKDIT_CONFIG=$CONFIG MASKDIT_DATA=$TMP/no-such-data submit no-dataset train512.slurm)
j3=$(MASKDIT_CONFIG=$CONFIG MASKDIT_DATA=$TMP/fake-data submit not-a-dataset train256.slurm)
j4=$(MASKDIT_CONFIG=$CONFIG MASKDIT_DATA=$DATA submit finetune-no-ckpt finetune256.slurm)
j5=$(MASKDIT_RANKS=4 submit world-size-ranks train256.slurm)
j6=$(SLURM_GPUS_ON_NODE=4 submit world-size-gpus train512.slurm)
j7=$(MASKDIT_CONFIG=$CONFIG submit generate-no-ckpt generate.slurm)
j8=$(MASKDIT_SOURCE=$TMP/no-such.lmdb submit convert-no-source convert.slurm)
j9=$(MASKDIT_SETUP=$TMP/no-such-env.sh submit no-setup-file convert.slurm)
# A program started without a launcher in a 2-task allocation is a world of 1 (mpi/dist.c).
j10=$(slurm_submit "${SB[@]}" --job-name=world-size-program --output="$LOGS/world-size-program.out" \
    --wrap "$BIN_DIR/maskdit-train --config $CONFIG")
expect_job no-config "$j1" FAILED "MASKDIT_CONFIG=$TMP/none.yaml: no such file"
expect_job no-dataset "$j2" FAILED "dataset $TMP/no-such-data (MASKDIT_DATA"
expect_job not-a-dataset "$j3" FAILED "expected $TMP/fake-data/index.h5"
expect_job finetune-no-ckpt "$j4" FAILED "MASKDIT_CKPT is not set"
expect_job world-size-ranks "$j5" FAILED "world size mismatch: MASKDIT_RANKS=4 ranks requested but the allocation has SLURM_NTASKS=2"
expect_job world-size-gpus "$j6" FAILED "world size mismatch: 2 tasks for 1 node(s) x 4 GPU(s)"
expect_job generate-no-ckpt "$j7" FAILED "MASKDIT_CKPT is not set: it must name the checkpoint to sample"
expect_job convert-no-source "$j8" FAILED "MASKDIT_SOURCE=$TMP/no-such.lmdb: no such file or directory (the lmdb input"
expect_job no-setup-file "$j9" FAILED "MASKDIT_SETUP=$TMP/no-such-env.sh: no such file"
expect_job world-size-program "$j10" FAILED "the MPI world has 1 rank but Slurm started SLURM_NTASKS=2 tasks"
expect_error not-in-a-job "submit this script with sbatch" env -u SLURM_JOB_ID -u SLURM_NTASKS bash jobs/train256.slurm

# The conversions: 4 shards over 2 ranks; the preempted one stops on SIGUSR1, requeues itself
# and completes the dataset in its second run (complete shards are kept).
if [ "$cp_ok" = 1 ] && requeued convert-preempted "$jcp"; then
    slurm_release_now "$jcp"
    expect_job convert-preempted "$jcp" COMPLETED "stopping the ranks; the requeued job carries on"
    expect_ok convert-preempted-verify "$BIN_DIR/maskdit-convert" verify "$TMP/data-preempted"
    expect_output convert-preempted-count "samples      60000 in 120 shards" "$BIN_DIR/maskdit-convert" info "$TMP/data-preempted"
    if [ "$(stat -c %Y.%i "$TMP/data-preempted/shard-00000.h5")" = "$first_shard" ]; then pass convert-preempted-kept
    else fail convert-preempted-kept "shard-00000.h5 of the first run was written again"; fi
fi
expect_job convert "$jc" COMPLETED
expect_output convert-count "samples      10000 in 4 shards" "$BIN_DIR/maskdit-convert" info "$DATA"

# ---- preemption: SIGUSR1 -> checkpoint -> requeue -> resume, same result as without ----
ckpt_dir() { echo "$TMP/$1"/*/checkpoints; }
# "(step=0000012) Train Loss: 0.8123" of every progress line (the rest of the line is timing)
loss_lines() { grep -o "(step=[0-9]*) $PROGRESS: [0-9.]*" "$LOGS/$1.out"; }

export MASKDIT_CONFIG=$CONFIG
jw=$(MASKDIT_RESULTS_DIR=$TMP/whole submit train-whole train256.slurm)
jp=$(MASKDIT_RESULTS_DIR=$TMP/preempted submit train-preempted train256.slurm)
jr=$(MASKDIT_LAUNCHER=mpirun MASKDIT_RESULTS_DIR=$TMP/removed submit requeue-ckpt-removed train512.slurm)
preempt train-preempted "$jp" grep -qF "(step=0000020)" "$LOGS/train-preempted.out" && p_ok=1 || p_ok=0
preempt requeue-ckpt-removed "$jr" grep -qF "(step=0000020)" "$LOGS/requeue-ckpt-removed.out" && r_ok=1 || r_ok=0
if [ "$p_ok" = 1 ] && requeued train-preempted "$jp"; then
    slurm_release_now "$jp"
    expect_job train-preempted "$jp" COMPLETED "resuming from"
fi
if [ "$r_ok" = 1 ] && requeued requeue-ckpt-removed "$jr"; then
    removed_dir=$(ckpt_dir removed)
    rm -rf "$removed_dir"
    slurm_release_now "$jr"
    expect_job requeue-ckpt-removed "$jr" FAILED "cannot resume: its checkpoint directory $removed_dir (where it wrote"
fi
expect_job train-whole "$jw" COMPLETED
for s in "received SIGUSR1" "checkpoint written: $TMP/preempted/" "requeueing job $jp" "(restart 1)"; do
    grep -qF -- "$s" "$LOGS/train-preempted.out" || { fail preempt-log "the preempted job's log does not say: $s"; case_log train-preempted; }
done
if [ "$(loss_lines train-whole | wc -l)" = $STEPS ] && [ "$(loss_lines train-whole)" = "$(loss_lines train-preempted)" ]; then
    pass preempt-same-losses
else
    fail preempt-same-losses "$(loss_lines train-whole | wc -l) lines; $(diff <(loss_lines train-whole) <(loss_lines train-preempted) | head -n 10)"
fi
# The final checkpoints hold the same weights, EMA and optimizer moments, bit for bit.
final=$(printf %07d $STEPS).h5
whole_ckpt=$(ckpt_dir whole)/$final
same=1
for g in /model /ema /opt/exp_avg /opt/exp_avg_sq; do
    h5diff -q "$whole_ckpt" "$(ckpt_dir preempted)/$final" "$g" "$g" >/dev/null 2>&1 || { same=0; fail preempt-same-weights "$g differs (or is missing)"; }
done
[ $same = 1 ] && pass preempt-same-weights

# ---- fine-tuning and sampling from the trained checkpoint ----
jf=$(MASKDIT_CKPT=$whole_ckpt MASKDIT_RESULTS_DIR=$TMP/finetune submit finetune finetune512.slurm \
    --set model.mask_ratio=0 --set train.max_num_steps=6 --set log.ckpt_every=3)
# Sampling, whole and preempted once its first batch is kept: the requeued job carries on (dropping
# --fresh) and writes the same files.
GEN_ARGS=(--num_steps 8 --max_batch_size 2)
jg=$(MASKDIT_CKPT=$whole_ckpt MASKDIT_OUTDIR=$TMP/samples MASKDIT_SEEDS=0-599 submit generate generate.slurm "${GEN_ARGS[@]}")
jgp=$(MASKDIT_CKPT=$whole_ckpt MASKDIT_OUTDIR=$TMP/samples-preempted MASKDIT_SEEDS=0-599 submit generate-preempted \
    generate.slurm "${GEN_ARGS[@]}" --fresh)
preempt generate-preempted "$jgp" test -e "$TMP/samples-preempted/.parts/batch-00000000.part" && gp_ok=1 || gp_ok=0
expect_job finetune "$jf" COMPLETED "Mask: 0.000"
# A fine-tune counts its steps from the pre-trained checkpoint's step, in a new experiment directory.
[ -f "$(ckpt_dir finetune)/$(printf %07d $((STEPS + 6))).h5" ] && pass finetune-checkpoint ||
    fail finetune-checkpoint "no checkpoint $(printf %07d $((STEPS + 6))).h5 in $(ckpt_dir finetune): $(ls "$TMP/finetune"/*/checkpoints 2>&1)"
expect_job generate "$jg" COMPLETED
unwritten=$(for f in 000000.png 000001.png 000002.png 000599.png grid.png; do [ -s "$TMP/samples/$f" ] || echo "$f"; done)
[ -z "$unwritten" ] && pass generate-files || fail generate-files "not written in $TMP/samples: ${unwritten//$'\n'/ }"
if [ "$gp_ok" = 1 ] && requeued generate-preempted "$jgp"; then
    slurm_release_now "$jgp"
    expect_job generate-preempted "$jgp" COMPLETED "images are already done in $TMP/samples-preempted/.parts"
    for s in "received SIGUSR1" "stopped by a signal with batches left" "requeueing job $jgp" "--fresh dropped"; do
        grep -qF -- "$s" "$LOGS/generate-preempted.out" || { fail generate-preempt-log "the job log does not say: $s"; case_log generate-preempted; }
    done
    if diff -r -x .maskdit.lock "$TMP/samples" "$TMP/samples-preempted" >/dev/null; then pass generate-preempted-same-files
    else fail generate-preempted-same-files "$(diff -r -x .maskdit.lock "$TMP/samples" "$TMP/samples-preempted" 2>&1 | head -n 3)"; fi
fi
