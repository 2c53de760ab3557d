#!/usr/bin/env bash
# What a training run records about itself (issue 18): the metrics of every logged step (gradient
# norm, loss scale and skipped steps, data wait and host preparation time, TFLOP/s) in
# metrics.jsonl and the progress line; the software of the run (git commit, build, library
# versions) in the start record and as a checkpoint attribute; TensorBoard event files, read back
# by the tensorboard package's own reader (CRC-checked), a new file per restart.
. tests/cli/lib.sh
export OMP_NUM_THREADS=1
H5PY=/usr/bin/python3   # h5py from the Debian packages of the Makefile
TPY=python3             # tensorboard from pip (optional: its cases count as skipped without it)

$H5PY tests/tools/synthetic_idx.py "$TMP" 64
$BIN/maskdit-convert idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$TMP/data" --no-progress >/dev/null 2>&1 ||
    fail dataset "maskdit-convert idx failed"
tiny_train_config "$TMP/tiny.yaml" "$TMP/data" log.log_every=2 train.max_num_steps=4 log.ckpt_every=4
EXP=DiT-S-4-edm-synthetic-cond-m0.5-de1-mae0.1-bs-8-lr0.001
train() { $BIN/maskdit-train --config "$TMP/tiny.yaml" "$@"; }
DIR=$TMP/r/$EXP

out=$(train --results_dir "$TMP/r" 2>&1) || fail train_run "$(echo "$out" | tail -n 5)"
line=$(grep '^(step=0000004)' "$DIR/log.txt")
[[ $line =~ Grad\ Norm:\ [0-9.]+,\ Data\ Wait:\ [0-9.]+\ ms,\ Prep:\ [0-9.]+\ ms$ ]] &&
    pass progress_line_metrics || fail progress_line_metrics "$line"

$H5PY - "$DIR/metrics.jsonl" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" <<'PY' && pass metrics_fields || fail metrics_fields
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
start = [r for r in recs if r["event"] == "start"]
train = [r for r in recs if r["event"] == "train"]
assert len(start) == 1 and [r["step"] for r in train] == [2, 4], recs
sw = start[0]["software"]
assert sw["git_commit"].startswith(sys.argv[2]) or sys.argv[2] == "unknown", (sw["git_commit"], sys.argv[2])
assert "CUDA=" in sw["build"] and "CFLAGS=" in sw["build"], sw["build"]
lib = sw["libraries"]
assert "MPI" in lib["mpi"] and lib["hdf5"].count(".") == 2 and lib["openblas"].startswith("OpenBLAS"), lib
assert start[0]["device"] == "cpu" and start[0]["precision"] == "fp32", start[0]
for r in train:
    assert r["grad_norm"] > 0 and math.isfinite(r["grad_norm"]), r
    assert r["loss_scale"] == 1 and r["skipped_steps"] == 0, r
    assert 0 <= r["data_wait_sec"] < 10 and 0 < r["host_prepare_sec"] < 10, r
    assert r["tflops_per_device"] > 0 and "mfu" not in r, r   # no MFU on the CPU
PY

# The norm is the step's gradient norm whichever steps are logged: a run logging every step
# reports the same norms at steps 2 and 4 (the norm is computed only on logged steps).
train --results_dir "$TMP/every" --set log.log_every=1 >/dev/null 2>&1 || fail train_log_every_1 "run failed"
$H5PY - "$DIR/metrics.jsonl" "$TMP/every/$EXP/metrics.jsonl" <<'PY' && pass grad_norm_independent_of_logging || fail grad_norm_independent_of_logging
import json, sys
a = {r["step"]: r["grad_norm"] for r in map(json.loads, open(sys.argv[1])) if r["event"] == "train"}
b = {r["step"]: r["grad_norm"] for r in map(json.loads, open(sys.argv[2])) if r["event"] == "train"}
assert sorted(b) == [1, 2, 3, 4], b
assert all(a[s] == b[s] for s in a), (a, b)
PY

$H5PY - "$DIR/checkpoints/0000004.h5" "$DIR/metrics.jsonl" <<'PY' && pass checkpoint_software_attribute || fail checkpoint_software_attribute
import h5py, json, sys
sw = json.loads(h5py.File(sys.argv[1], "r").attrs["software"])
start = [json.loads(l) for l in open(sys.argv[2]) if '"start"' in l][0]
assert sw == start["software"], (sw, start["software"])
PY
out=$($BIN/maskdit-ckpt info "$DIR/checkpoints/0000004.h5" 2>&1)
[[ $out == *'software: {"git_commit": '* ]] && pass ckpt_info_software || fail ckpt_info_software "$out"

# ---- TensorBoard ----
events=("$DIR"/events.out.tfevents.*)
[ ${#events[@]} -eq 1 ] && [ -f "${events[0]}" ] && pass tensorboard_file || fail tensorboard_file "${events[*]}"
train --results_dir "$TMP/r" --set train.max_num_steps=6 >/dev/null 2>&1 || fail train_restart "resume failed"
events=("$DIR"/events.out.tfevents.*)
[ ${#events[@]} -eq 2 ] && pass tensorboard_new_file_per_restart || fail tensorboard_new_file_per_restart "${events[*]}"
train --results_dir "$TMP/off" --set log.tensorboard=false >/dev/null 2>&1
ls "$TMP/off/$EXP"/events.* >/dev/null 2>&1 && fail tensorboard_off "event file written with log.tensorboard=false" ||
    pass tensorboard_off

if reason=$($TPY -c 'import tensorboard' 2>&1); then
    $TPY tests/tools/tb_read.py "${events[@]}" >"$TMP/tb.json" 2>"$TMP/tb.err" || fail tensorboard_read "$(cat "$TMP/tb.err")"
    $H5PY - "$TMP/tb.json" "$DIR/metrics.jsonl" <<'PY' && pass tensorboard_scalars_match_metrics || fail tensorboard_scalars_match_metrics
import json, struct, sys
tb = json.load(open(sys.argv[1]))["files"]
recs = [json.loads(l) for l in open(sys.argv[2]) if '"train"' in l]
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
assert [f["file_version"] for f in tb] == ["brain.Event:2"] * 2, tb
steps = []
for f in tb:
    for tag in ["train/loss", "train/grad_norm", "train/lr", "train/host_prepare_sec", "train/loss_scale"]:
        assert tag in f["scalars"], (tag, f["scalars"].keys())
    steps += [s for s, _ in f["scalars"]["train/loss"]]
    for name in ["loss", "grad_norm", "lr", "steps_per_sec"]:
        for step, v in f["scalars"]["train/" + name]:
            r = [r for r in recs if r["step"] == step][0]
            assert abs(v - f32(r[name])) <= 1e-5 * abs(v), (name, step, v, r[name])   # JSON: 6 digits
assert sorted(steps) == [2, 4, 6], steps   # the first run wrote 2 and 4, the restart 6
PY
    # The reader checks each record's CRC32C: with a flipped byte in the data of the last record it
    # stops before that record (it drops a damaged tail, as for a file still being written).
    cp "${events[0]}" "$TMP/bad.tfevents"
    size=$(stat -c %s "$TMP/bad.tfevents")
    printf '\x55' | dd of="$TMP/bad.tfevents" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null
    $TPY tests/tools/tb_read.py "${events[0]}" "$TMP/bad.tfevents" >"$TMP/bad.json" 2>"$TMP/bad.err"
    $H5PY -c "
import json, sys
good, bad = json.load(open(sys.argv[1]))['files']
assert good['events'] == 3 and bad['events'] == 2, (good['events'], bad['events'])
" "$TMP/bad.json" && pass tensorboard_crc_checked || fail tensorboard_crc_checked "$(cat "$TMP/bad.err")"
else
    skip tensorboard_scalars_match_metrics "python3 cannot import tensorboard: ${reason##*$'\n'}"
    skip tensorboard_crc_checked "python3 cannot import tensorboard"
fi

# An experiment directory where the event file cannot be created is refused before training.
mkdir -p "$TMP/ro/$EXP" && chmod 555 "$TMP/ro/$EXP"
if [ "$(id -u)" != 0 ]; then
    expect_error tensorboard_unwritable "log.tensorboard" train --results_dir "$TMP/ro"
fi
chmod 755 "$TMP/ro/$EXP"
