#!/usr/bin/env bash
# maskdit-train and maskdit-generate end to end on the GPU (part of tests/gpu/run.sh), on a tiny
# model and a synthetic dataset: what check_step and the golden files do not reach (the training
# loop with its host/device overlap, fp16 loss scaling, checkpoints written from device memory,
# resume, sampling).
#   - fp32 on the GPU against the CPU: per-step losses within 1e-3 relative;
#   - bf16 and fp16: 6 steps in one run equal 3 steps + resume + 3 steps (losses to all 9 printed
#     digits; fp16: the same loss scale and count of finite steps in the last checkpoint), and the
#     losses within 5e-2 relative of the CPU's;
#   - maskdit-generate --device cuda (fp32) against --device cpu: images within 2/255;
#   - on a one-GPU machine, two ranks are refused with the setting to change.
# One "PASS name" or "FAIL name: why" line per check.
#
#   bash tests/gpu/train_smoke.sh BIN [ENV-PREFIX...]
# BIN: the programs' folder; ENV-PREFIX: how to run them (run.sh's RUN array, e.g. env LD_...).
set -u
BIN=$1
shift
RUN=("$@")
[ ${#RUN[@]} -gt 0 ] || RUN=(env)
# To check this script's logic without a GPU: SMOKE_DEVICE=cpu SMOKE_PRECISIONS=fp32
DEVICE=${SMOKE_DEVICE:-cuda}
PRECISIONS=${SMOKE_PRECISIONS:-bf16 fp16}
PY=${PYTHON:-python3}
TMP=$(mktemp -d /tmp/maskdit-smoke.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
run() { "${RUN[@]}" "$@"; }

# 256 synthetic 28x28 images in 10 classes (a class-dependent stripe pattern plus noise)
$PY tests/tools/synthetic_idx.py "$TMP" 256
if ! run "$BIN/maskdit-convert" idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$TMP/data" \
    --no-progress >"$TMP/convert.log" 2>&1; then
    fail dataset "maskdit-convert idx: $(tail -n 1 "$TMP/convert.log")"
    exit 1
fi

# a tiny model: the kernels at the real head widths are check_step's job, this checks the loop
cat >"$TMP/tiny.yaml" <<EOF
data: {dataset: synthetic, category: hdf5, root: $TMP/data, resolution: 32, num_channels: 1}
model: {model_type: DiT-S/4, hidden_size: 64, depth: 2, num_heads: 2, decoder_hidden_size: 64,
        decoder_depth: 1, decoder_num_heads: 2, in_size: 32, in_channels: 1, num_classes: 10}
train: {batchsize: 16, lr: 0.001, max_num_steps: 6}
log: {log_every: 1, ckpt_every: 3}
wandb: {project: ignored}
EOF

# train NAME DEVICE PRECISION [flags...]: a run into $TMP/NAME; its log in $TMP/NAME.log
train() {
    local name=$1 dev=$2 prec=$3
    shift 3
    run "$BIN/maskdit-train" --config "$TMP/tiny.yaml" --set train.device="$dev" --set train.precision="$prec" \
        --results_dir "$TMP/$name" "$@" >>"$TMP/$name.log" 2>&1
}
# losses NAME: "step loss" per line from the run's metrics.jsonl
losses() {
    $PY -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "loss" in r: print(r["step"], "%.9g" % r["loss"])' "$TMP/$1"/*/metrics.jsonl 2>/dev/null
}
newest_ckpt() { ls "$TMP/$1"/*/checkpoints/*.h5 2>/dev/null | tail -n 1; }
# close A B REL: every step's loss of run A within REL (relative) of run B's
close() {
    $PY - "$3" <(losses "$1") <(losses "$2") <<'EOF'
import sys
rel, a, b = float(sys.argv[1]), dict(l.split() for l in open(sys.argv[2])), dict(l.split() for l in open(sys.argv[3]))
if not a or set(a) != set(b): sys.exit("steps differ: %s vs %s" % (sorted(a), sorted(b)))
worst = max(abs(float(a[s]) - float(b[s])) / abs(float(b[s])) for s in a)
print("worst relative difference %.2e over %d steps" % (worst, len(a)))
sys.exit(0 if worst <= rel else 1)
EOF
}

train cpu cpu fp32 || fail cpu_run "$(tail -n 2 "$TMP/cpu.log")"
if train gpu32 "$DEVICE" fp32; then
    out=$(close gpu32 cpu 1e-3 2>&1) && pass "fp32_losses_match_cpu ($out)" || fail fp32_losses_match_cpu "$out"
else fail fp32_run "$(tail -n 2 "$TMP/gpu32.log")"; fi

for prec in $PRECISIONS; do
    if ! train "$prec" "$DEVICE" "$prec"; then fail "${prec}_run" "$(tail -n 2 "$TMP/$prec.log")"; continue; fi
    out=$(close "$prec" cpu 5e-2 2>&1) && pass "${prec}_losses_near_cpu ($out)" || fail "${prec}_losses_near_cpu" "$out"
    # the same 6 steps as 3 + resume + 3
    if train "$prec-split" "$DEVICE" "$prec" --set train.max_num_steps=3 &&
        train "$prec-split" "$DEVICE" "$prec"; then
        if [ "$(losses "$prec")" = "$(losses "$prec-split")" ] && [ -n "$(losses "$prec")" ]; then
            pass "${prec}_resume_repeats_losses"
        else fail "${prec}_resume_repeats_losses" "$(diff <(losses "$prec") <(losses "$prec-split") | tr '\n' ' ')"; fi
        a=$(run "$BIN/maskdit-ckpt" info "$(newest_ckpt "$prec")" 2>&1 | grep -o 'loss_scale: .*precision: [a-z0-9]*')
        b=$(run "$BIN/maskdit-ckpt" info "$(newest_ckpt "$prec-split")" 2>&1 | grep -o 'loss_scale: .*precision: [a-z0-9]*')
        [ -n "$a" ] && [ "$a" = "$b" ] && pass "${prec}_resume_same_loss_scale ($a)" ||
            fail "${prec}_resume_same_loss_scale" "'$a' vs '$b'"
    else fail "${prec}_resume_run" "$(tail -n 2 "$TMP/$prec-split.log")"; fi
done

# two ranks on a one-GPU machine: refused before training, whether each rank looks for its own GPU
# or both are handed the same one
if [ "$DEVICE" = cuda ] && [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" = 1 ]; then
    two() { run mpirun -np 2 "$BIN/maskdit-train" --config "$TMP/tiny.yaml" --set train.device=cuda \
        --results_dir "$TMP/two" 2>&1; }
    out=$(unset CUDA_VISIBLE_DEVICES; two)
    [[ $out == *"this rank needs GPU 1 (its node-local rank) but the node has only 1 GPU"* ]] &&
        pass two_ranks_one_gpu_refused || fail two_ranks_one_gpu_refused "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
    out=$(CUDA_VISIBLE_DEVICES=0 two)
    [[ $out == *"is also the GPU of node-local rank"*"CUDA_VISIBLE_DEVICES=0 here"* ]] &&
        pass two_ranks_same_gpu_refused || fail two_ranks_same_gpu_refused "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi

# sampling from the fp32 run's checkpoint on both devices
ck=$(newest_ckpt gpu32)
gen() {
    run "$BIN/maskdit-generate" --config "$TMP/tiny.yaml" --ckpt_path "$ck" --results_dir "$TMP/gen-$1" --seeds 0-7 \
        --num_steps 8 --npz --device "$1" --precision fp32 >"$TMP/gen-$1.log" 2>&1
}
if [ -z "$ck" ]; then fail generate "no checkpoint of the fp32 run"
elif gen "$DEVICE" && gen cpu; then
    out=$($PY - "$TMP/gen-$DEVICE" "$TMP/gen-cpu" <<'EOF' 2>&1
import glob, sys, numpy as np
a, b = (np.load(glob.glob(d + '/**/*.npz', recursive=True)[0])['arr_0'].astype(int) for d in sys.argv[1:3])
d = np.abs(a - b).max()
print("%d images, largest pixel difference %d/255" % (len(a), d))
sys.exit(0 if a.shape == b.shape and d <= 2 else 1)
EOF
    ) && pass "generate_matches_cpu ($out)" || fail generate_matches_cpu "$out"
else fail generate "$(tail -n 2 "$TMP/gen-$DEVICE.log" "$TMP/gen-cpu.log" | tr '\n' ' ')"; fi
