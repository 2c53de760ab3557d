#!/usr/bin/env bash
# maskdit-train end to end on a tiny model and a synthetic IDX dataset: a run and its outputs,
# exact resume, 1 rank vs 2 ranks vs gradient accumulation, resume on another rank count, a
# damaged checkpoint, the loss scaler's saved count (corrupt, absent), SIGUSR1 -> checkpoint ->
# exit status 3, a non-finite loss, fine-tuning, and bad input refused by key or file (a run
# directory of another model included).
. tests/cli/lib.sh
export OMP_NUM_THREADS=1
PY=/usr/bin/python3
COMPARE="$PY tests/tools/ckpt_compare.py"

# 512 synthetic 28x28 images in 10 classes (a class-dependent stripe pattern plus noise).
$PY tests/tools/synthetic_idx.py "$TMP" 512
$BIN/maskdit-convert idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$TMP/data" --no-progress >/dev/null 2>&1 ||
    fail dataset "maskdit-convert idx failed"

tiny_train_config "$TMP/tiny.yaml" "$TMP/data"
EXP=DiT-S-4-edm-synthetic-cond-m0.5-de1-mae0.1-bs-8-lr0.001
KEYBIAS=0.012   # 2 lr per step over 6 steps: the zero-gradient key-bias slice (golden README §5)
train() { $BIN/maskdit-train --config "$TMP/tiny.yaml" "$@"; }
ckpt() { echo "$TMP/$1/$EXP/checkpoints/$(printf %07d "$2").h5"; }

# ---- a run from scratch ----
out=$(train --results_dir "$TMP/r1" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -f "$(ckpt r1 3)" ] && [ -f "$(ckpt r1 6)" ]; then pass run_from_scratch
else fail run_from_scratch "exit $rc: $(echo "$out" | tail -n 5)"; fi
grep -q '^(step=0000006) Train Loss: [0-9.]*, Train Steps/Sec: [0-9.]*, Images/Sec' "$TMP/r1/$EXP/log.txt" &&
    pass progress_lines_in_log_txt || fail progress_lines_in_log_txt "$(tail -n 3 "$TMP/r1/$EXP/log.txt")"
$PY -c "
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
steps = [r['step'] for r in recs if r['event'] == 'train']
assert steps == [1, 2, 3, 4, 5, 6], steps
assert all(r['loss'] > 0 and r['images_per_sec'] > 0 for r in recs if r['event'] == 'train')
assert [r['event'] for r in recs if r['event'] != 'train'] == ['start', 'checkpoint', 'checkpoint', 'stop']
" "$TMP/r1/$EXP/metrics.jsonl" && pass metrics_jsonl || fail metrics_jsonl "$(cat "$TMP/r1/$EXP/metrics.jsonl")"
[[ $out == *"notice: the wandb section is ignored"* ]] && pass wandb_notice || fail wandb_notice "$out"

# ---- resume: 3 steps, stop, 3 more == 6 steps, bitwise ----
cp -r "$TMP/r1" "$TMP/r2" && rm "$(ckpt r2 6)"
out=$(train --results_dir "$TMP/r2" 2>&1)
[[ $out == *"Resuming from $(ckpt r2 3): step 3"* ]] || fail resume_found_latest "$out"
$COMPARE "$(ckpt r1 6)" "$(ckpt r2 6)" >"$TMP/cmp" && pass resume_bitwise || fail resume_bitwise "$(cat "$TMP/cmp")"
out=$(train --results_dir "$TMP/r2" 2>&1)
[[ $out == *"Nothing to do: step 6"* ]] && pass requeue_after_the_end || fail requeue_after_the_end "$out"
# The original's options and keys without effect here are accepted, each with its notice.
out=$(train --results_dir "$TMP/r2" --num_workers 2 --use_wandb --set data.random_flip=true --set eval.batchsize=4 2>&1)
[[ $out == *"notice: --num_workers and --use_wandb have no effect here"* &&
    $out == *"notice: config keys accepted without effect here: data.random_flip, eval.batchsize"* &&
    $out == *"Nothing to do: step 6"* ]] && pass ignored_flags_and_keys_noticed || fail ignored_flags_and_keys_noticed "$out"

# ---- world-size independence: 2 ranks x 4, 1 rank x 4 x 2 accumulation rounds ----
$MPIRUN -np 2 $BIN/maskdit-train --config "$TMP/tiny.yaml" --set train.batchsize=4 --results_dir "$TMP/r3" >"$TMP/r3.log" 2>&1 ||
    fail two_ranks_run "$(tail -n 5 "$TMP/r3.log")"
$COMPARE "$(ckpt r1 6)" "$(ckpt r3 6)" --rel 1e-4 --key-bias-abs $KEYBIAS >"$TMP/cmp" &&
    pass two_ranks_equal_one_rank || fail two_ranks_equal_one_rank "$(cat "$TMP/cmp")"
train --set train.batchsize=4 --set train.grad_accum=2 --results_dir "$TMP/r4" >"$TMP/r4.log" 2>&1
$COMPARE "$(ckpt r1 6)" "$(ckpt r4 6)" --rel 1e-4 --key-bias-abs $KEYBIAS >"$TMP/cmp" &&
    pass grad_accum_equals_big_batch || fail grad_accum_equals_big_batch "$(cat "$TMP/cmp") $(tail -n 3 "$TMP/r4.log")"
cp -r "$TMP/r1" "$TMP/r5" && rm "$(ckpt r5 6)"
$MPIRUN -np 2 $BIN/maskdit-train --config "$TMP/tiny.yaml" --set train.batchsize=4 --results_dir "$TMP/r5" >"$TMP/r5.log" 2>&1
$COMPARE "$(ckpt r1 6)" "$(ckpt r5 6)" --rel 1e-4 --key-bias-abs $KEYBIAS >"$TMP/cmp" &&
    pass resume_on_two_ranks || fail resume_on_two_ranks "$(cat "$TMP/cmp") $(tail -n 3 "$TMP/r5.log")"

# ---- a damaged newest checkpoint is skipped with a warning ----
cp -r "$TMP/r1" "$TMP/r6" && head -c 4000 "$(ckpt r1 6)" >"$(ckpt r6 6)"
out=$(train --results_dir "$TMP/r6" 2>&1)
if [[ $out == *"skipping damaged checkpoint $(ckpt r6 6): "* && $(grep "skipping damaged" <<<"$out" | grep -o "$(ckpt r6 6)" | wc -l) -eq 1 &&
    $out == *"Resuming from $(ckpt r6 3)"* ]] &&
    $COMPARE "$(ckpt r1 6)" "$(ckpt r6 6)" >"$TMP/cmp"; then pass damaged_checkpoint_falls_back
else fail damaged_checkpoint_falls_back "$out $(cat "$TMP/cmp")"; fi

# A newest checkpoint whose layout is right but whose weights hold NaN is refused, not skipped.
cp -r "$TMP/r1" "$TMP/r13"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'r+')['model/model.blocks.0.attn.proj.bias'][0] = float('nan')" "$(ckpt r13 6)"
expect_error bad_newest_checkpoint "error: cannot resume from the experiment's newest checkpoint: $(ckpt r13 6): model: model.blocks.0.attn.proj.bias holds NaN at element 0" \
    train --set train.max_num_steps=9 --results_dir "$TMP/r13"

# ---- the loss scaler's count of finite steps (fp16 only: 0 on the CPU) is saved and checked ----
out=$($BIN/maskdit-ckpt info "$(ckpt r1 6)" 2>&1)
[[ $out == *"loss_scale: 1  loss_scale_good_steps: 0  precision: fp32"* ]] && pass scaler_count_saved ||
    fail scaler_count_saved "$(head -n 4 <<<"$out")"
cp -r "$TMP/r1" "$TMP/r10"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'r+').attrs['loss_scale_good_steps'] = [2000]" "$(ckpt r10 6)"
expect_error scaler_count_corrupt "$(ckpt r10 6): loss_scale_good_steps is 2000, expected 0 to 1999" \
    train --set train.max_num_steps=9 --results_dir "$TMP/r10"
# A checkpoint written before the count was saved resumes as 0 (exact for a run without fp16).
cp -r "$TMP/r1" "$TMP/r11" && rm "$(ckpt r11 6)"
$PY -c "import h5py, sys; del h5py.File(sys.argv[1], 'r+').attrs['loss_scale_good_steps']" "$(ckpt r11 3)"
out=$(train --results_dir "$TMP/r11" 2>&1)
if [[ $out == *"Resuming from $(ckpt r11 3): step 3"* ]] && $COMPARE "$(ckpt r1 6)" "$(ckpt r11 6)" >"$TMP/cmp"; then
    pass scaler_count_absent_resumes
else fail scaler_count_absent_resumes "$out $(cat "$TMP/cmp")"; fi

# ---- a checkpoint of another precision resumes: fp32 state carries over, with a notice ----
cp -r "$TMP/r1" "$TMP/r12" && rm "$(ckpt r12 6)"
$PY -c "import h5py, sys; h5py.File(sys.argv[1], 'r+').attrs['precision'] = 'bf16'" "$(ckpt r12 3)"
out=$(train --results_dir "$TMP/r12" 2>&1)
if [[ $out == *"notice: $(ckpt r12 3) was written by a bf16 run and this run computes in fp32"* &&
    $out == *"Resuming from $(ckpt r12 3): step 3"* ]] && $COMPARE "$(ckpt r1 6)" "$(ckpt r12 6)" >"$TMP/cmp"; then
    pass other_precision_resumes
else fail other_precision_resumes "$out $(cat "$TMP/cmp")"; fi

# ---- SIGUSR1 -> every rank checkpoints at a step boundary -> exit status 3 -> resume ----
$MPIRUN -np 2 $BIN/maskdit-train --config "$TMP/tiny.yaml" --set train.batchsize=4 --set train.max_num_steps=100000 \
    --set log.ckpt_every=100000 --results_dir "$TMP/r7" >"$TMP/r7.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '^(step=0000002)' "$TMP/r7.log" 2>/dev/null && break; sleep 0.1; done
kill -USR1 $pid
wait $pid; rc=$?
saved=$(ls "$TMP/r7/$EXP/checkpoints" 2>/dev/null)
if [ $rc -eq 3 ] && [ -n "$saved" ] && grep -q "Stopped by a signal at step" "$TMP/r7.log"; then pass signal_checkpoint_exit_3
else fail signal_checkpoint_exit_3 "exit $rc, checkpoints '$saved': $(tail -n 8 "$TMP/r7.log")"; fi
out=$(train --set train.max_num_steps=100000 --set log.ckpt_every=100000 --set train.max_minutes=0.0001 \
    --results_dir "$TMP/r7" 2>&1); rc=$?
[[ $rc -eq 0 && $out == *"Resuming from $TMP/r7/$EXP/checkpoints/$saved"* && $out == *"Reached train.max_minutes"* ]] &&
    pass resume_after_signal_and_time_limit || fail resume_after_signal_and_time_limit "exit $rc: $out"

# ---- a non-finite loss stops the run and keeps the checkpoints ----
out=$(train --set train.lr=1e30 --set log.ckpt_every=1 --set train.max_num_steps=50 --results_dir "$TMP/r8" 2>&1); rc=$?
bad_ckpts=$(ls "$TMP/r8/"*/checkpoints | grep -v '^000000[0-9]\.h5$')
if [ $rc -eq 1 ] && [[ $out == *"the training loss is"*"stopping without saving"* ]] && [ -z "$bad_ckpts" ] &&
    $PY -c "import h5py, sys; h5py.File(sys.argv[1], 'r')['model']" "$(ls "$TMP/r8/"*/checkpoints/*.h5 | tail -n 1)"; then
    pass nonfinite_loss_stops
else fail nonfinite_loss_stops "exit $rc, stray files '$bad_ckpts': $(echo "$out" | tail -n 3)"; fi

# ---- fine-tuning: model and EMA only, a new experiment, a fresh optimizer ----
out=$(train --ckpt_path "$(ckpt r1 6)" --use_ckpt_path False --use_strict_load False --set model.mask_ratio=0.0 \
    --set train.max_num_steps=2 --tag -ft --results_dir "$TMP/r9" 2>&1); rc=$?
ft=$TMP/r9/DiT-S-4-edm-synthetic-cond-m0.0-de1-mae0.1-bs-8-lr0.001-ft/checkpoints/0000008.h5
if [ $rc -eq 0 ] && [[ $out == *"Loaded model and EMA weights from $(ckpt r1 6) (step 6)"* ]] && [ -f "$ft" ] &&
    h5dump -a config "$ft" | grep -q 'optimizer_step: 2'; then pass finetune_path
else fail finetune_path "exit $rc: $(echo "$out" | tail -n 4)"; fi

# ---- bad input, refused before training with the key or file named ----
printf 'train:\n  lrr: 1\n' >"$TMP/unknown.yaml"
expect_error bad_unknown_key "unknown.yaml:2: unknown key 'train.lrr' (did you mean 'train.lr'?)" \
    $BIN/maskdit-train --config "$TMP/unknown.yaml"
expect_error bad_type "train.batchsize: expected an integer, got 'eight'" train --set train.batchsize=eight
printf 'data:\n  category: lmdb\n  root: /data/in256\n' >"$TMP/lmdb.yaml"
expect_error bad_lmdb_category "maskdit-convert lmdb /data/in256/train --out /data/in256-hdf5" \
    $BIN/maskdit-train --config "$TMP/lmdb.yaml" --results_dir "$TMP/rx"
expect_error bad_missing_dataset "data.root: $TMP/no-such-data: dataset directory not found" \
    train --set data.root="$TMP/no-such-data" --results_dir "$TMP/rx"
expect_error bad_dataset_shape "holds 1x32x32 samples (pixels), the model takes 3x32x32" \
    train --set model.in_channels=3 --set data.num_channels=3 --results_dir "$TMP/rx"
expect_error bad_class_count "has 10 classes, the model 5 (model.num_classes)" \
    train --set model.num_classes=5 --results_dir "$TMP/rx"
expect_error bad_dataset_too_small "fewer than one global batch of 1024" train --set train.batchsize=1024 --results_dir "$TMP/rx"
# A batch too large for the memory: refused before allocating, with the batch that would fit
# (1536 wide, 16 blocks: about 9 GB of weights and optimizer state, 80 MB of activations per sample).
expect_error bad_batch_memory "would fit" train --set model.hidden_size=1536 --set model.depth=16 \
    --set model.num_heads=16 --set train.batchsize=512 --results_dir "$TMP/rx"
# A tiny model 64 wide instead of 32: the first tensor whose shape differs is named.
expect_error bad_checkpoint_shapes \
    "error: cannot resume from --ckpt_path: $(ckpt r1 6): model: model.pos_embed: expected shape (1, 64, 64), found (1, 64, 32)" \
    train --ckpt_path "$(ckpt r1 6)" --set model.hidden_size=64
# A checkpoint that cannot be read or written: what was being done, and the file once.
expect_error bad_ckpt_path_missing "error: cannot resume from --ckpt_path: $TMP/none.h5: cannot open: No such file or directory" \
    train --ckpt_path "$TMP/none.h5" --results_dir "$TMP/rx"
expect_error bad_finetune_not_a_checkpoint "error: cannot fine-tune from --ckpt_path: $TMP/tiny.yaml: neither an HDF5 checkpoint nor a PyTorch .pt file" \
    train --ckpt_path "$TMP/tiny.yaml" --use_ckpt_path false --use_strict_load false --results_dir "$TMP/rx"
mkdir -p "$TMP/rw/$EXP/checkpoints/0000003.h5.tmp"   # a directory where the checkpoint's temporary file goes
expect_error bad_checkpoint_write "error: at step 3: checkpoint not saved: $TMP/rw/$EXP/checkpoints/0000003.h5.tmp: cannot create the file" \
    train --results_dir "$TMP/rw"
expect_error bad_checkpoint_heads "is from a different model: model.num_heads is 2 there, 4 in this config" \
    train --ckpt_path "$(ckpt r1 6)" --set model.num_heads=4
# A run directory of another model is neither resumed nor overwritten by a fresh start.
sum=$(md5sum "$(ckpt r1 6)")
expect_error bad_resume_other_model "cannot resume from $(ckpt r1 6), a checkpoint of another model" \
    train --set model.depth=2 --results_dir "$TMP/r1"
[ "$(md5sum "$(ckpt r1 6)")" = "$sum" ] && pass other_model_checkpoint_kept || fail other_model_checkpoint_kept
touch "$TMP/a-file"
expect_error bad_results_dir_file "'$TMP/a-file' exists and is not a directory" train --results_dir "$TMP/a-file"
expect_error bad_results_dir_unwritable "cannot create directory '/proc/maskdit-results'" train --results_dir /proc/maskdit-results
expect_error bad_missing_config "cannot read config file '$TMP/none.yaml'" $BIN/maskdit-train --config "$TMP/none.yaml"
expect_error bad_flag "unknown option '--frobnicate'" train --frobnicate
expect_error bad_enable_eval "FID evaluation during training is not built in" train --enable_eval
expect_error bad_seed_flag "--global_seed: --set train.seed=x: train.seed: expected an integer, got 'x'" train --global_seed x

# Every flag that is a config key lands on its key.
out=$(train --print_config --set train.lr=2e-4 --tag=-x --global_seed 7 --resample --threads 3 --precision fp32 \
    --device auto 2>&1)
[[ $out == *"lr: 0.0002"* && $out == *"tag: \"-x\""* && $out == *"seed: 7  # ext"* && $out != *"run:"* &&
    $out == *"resampled: true  # ext"* && $out == *"threads: 3  # ext"* && $out == *"precision: fp32  # ext"* &&
    $out == *"device: auto  # ext"* ]] &&
    pass print_config || fail print_config "$out"
