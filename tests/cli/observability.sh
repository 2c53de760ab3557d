#!/usr/bin/env bash
# What a training run records about itself (issue 18): the metrics of every logged step (gradient
# norm, loss scale and skipped steps, data wait and host preparation time, TFLOP/s) in
# metrics.jsonl and the progress line; the software of the run (git commit, build, library
# versions) in the start record and as a checkpoint attribute; TensorBoard event files, read back
# by a reader of the documented format (tests/tools/tfrecord_read.py) and by the tensorboard
# package's own reader (CRC-checked; skipped without it), a new file per restart; sample grids
# (log.sample_every) equal to what maskdit-generate samples from the same step's checkpoint, and
# refused for a latent-space dataset.
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

# The commit recorded is a commit of this repository (the binary may be older than HEAD).
$H5PY - "$DIR/metrics.jsonl" "$(git rev-parse --is-inside-work-tree 2>/dev/null || echo no)" <<'PY' && pass metrics_fields || fail metrics_fields
import json, math, subprocess, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
start = [r for r in recs if r["event"] == "start"]
train = [r for r in recs if r["event"] == "train"]
assert len(start) == 1 and [r["step"] for r in train] == [2, 4], recs
sw = start[0]["software"]
commit = sw["git_commit"].removesuffix("-dirty")
if sys.argv[2] == "true":
    assert subprocess.run(["git", "cat-file", "-e", commit + "^{commit}"]).returncode == 0, sw["git_commit"]
else:
    assert commit == "unknown", sw["git_commit"]
assert "CUDA=" in sw["build"] and "CFLAGS=" in sw["build"], sw["build"]
lib = sw["libraries"]
assert "MPI" in lib["mpi"] and lib["hdf5"].count(".") == 2 and lib["openblas"].startswith("OpenBLAS"), lib
assert start[0]["device"] == "cpu" and start[0]["precision"] == "fp32", start[0]
for r in train:
    assert r["grad_norm"] > 0 and math.isfinite(r["grad_norm"]), r
    assert r["loss_scale"] == 1 and r["skipped_steps"] == 0, r
    assert 0 <= r["data_wait_sec"] < 10 and 0 < r["host_prepare_sec"] < 10, r
    assert "mfu" not in r, r   # no MFU on the CPU
# FLOPs per step, from the formula documented in src/model/flops.h, for the tiny model: 8 images
# of 64 patches (16 values), 32 encoder tokens kept, width 32, one block and one decoder block
# (width 32), MLP ratio 4, 10 classes, a 256-wide timestep embedding.
lin = lambda M, K, N, grad_in=True: (2 + (4 if grad_in else 2)) * M * K * N
block = lambda N, T, W, cond: lin(N, cond, 6 * W) + lin(N * T, W, 3 * W) + 12 * N * T * T * W + lin(N * T, W, W) \
    + lin(N * T, W, 4 * W) + lin(N * T, 4 * W, W)
N, L, Te, D, P = 8, 64, 32, 32, 16
flops = lin(N * L, P, D, False) + lin(N, 256, D) + lin(N, D, D) + lin(N, 10, D) + block(N, Te, D, D) \
    + lin(N, D, 2 * D) + lin(N * Te, D, D) + block(N, L, D, D) + lin(N, D, 2 * D) + lin(N * L, D, P)
for r in train:
    per_step = r["tflops_per_device"] * 1e12 / r["steps_per_sec"]
    assert abs(per_step / flops - 1) < 1e-4, (per_step, flops)
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

# The documented format, read without the tensorboard package: CRC32C framing, the first event's
# file_version, the scalars equal to metrics.jsonl's numbers (as float32), and a flipped byte refused.
$H5PY - "$DIR/metrics.jsonl" "${events[@]}" <<'PY' && pass tensorboard_format_read || fail tensorboard_format_read
import json, struct, sys
sys.path.insert(0, "tests/tools")
import tfrecord_read
recs = {r["step"]: r for r in map(json.loads, open(sys.argv[1])) if r["event"] == "train"}
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
steps = []
for path in sys.argv[2:]:
    evs = tfrecord_read.read(path)
    assert evs[0]["file_version"] == "brain.Event:2" and not evs[0]["scalars"], evs[0]
    for ev in evs[1:]:
        r = recs[ev["step"]]
        steps.append(ev["step"])
        for name in ("loss", "grad_norm", "lr", "host_prepare_sec", "loss_scale", "skipped_steps"):
            v = ev["scalars"]["train/" + name]
            assert abs(v - f32(r[name])) <= 1e-5 * abs(v), (name, v, r[name])
        assert "train/mfu" not in ev["scalars"]   # no MFU on the CPU
assert sorted(steps) == [2, 4, 6], steps
raw = bytearray(open(sys.argv[2], "rb").read())
raw[-10] ^= 0xFF
open(sys.argv[2] + ".bad", "wb").write(raw)
try:
    tfrecord_read.read(sys.argv[2] + ".bad")
    raise SystemExit("a flipped byte was not noticed")
except ValueError as err:
    assert "bad data CRC" in str(err), err
PY
rm -f "${events[0]}.bad"
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

# ---- sample grids ----
# Unconditional: the grid of step 3 is byte for byte maskdit-generate's grid.png of the step-3
# checkpoint (EMA weights, seeds 0-15, the original's 18-step sampler): another program, another
# model instance, the weights through the checkpoint file.
tiny_train_config "$TMP/uncond.yaml" "$TMP/data" model.num_classes=0 train.max_num_steps=3 log.sample_every=3
UEXP=DiT-S-4-edm-synthetic-uncond-m0.5-de1-mae0.1-bs-8-lr0.001
$BIN/maskdit-train --config "$TMP/uncond.yaml" --results_dir "$TMP/u" >"$TMP/u.log" 2>&1 || fail train_uncond "$(tail -n 3 "$TMP/u.log")"
$BIN/maskdit-generate --config "$TMP/uncond.yaml" --ckpt_path "$TMP/u/$UEXP/checkpoints/0000003.h5" --seeds 0-15 \
    --num_steps 18 --results_dir "$TMP/ug" >"$TMP/ug.log" 2>&1 || fail generate_uncond "$(tail -n 3 "$TMP/ug.log")"
cmp -s "$TMP/ug/grid.png" "$TMP/u/$UEXP/samples/0000003.png" && pass sample_grid_equals_generate ||
    fail sample_grid_equals_generate "$(ls "$TMP/u/$UEXP/samples" 2>&1)"
# Conditional: tile k has seed k and class k % 10; tiles 3 and 13 are maskdit-generate's class-3
# images of seeds 3 and 13 (decoded by tests/tools/png_read.py).
train --results_dir "$TMP/c" --set log.sample_every=2 >"$TMP/c.log" 2>&1 || fail train_grid "$(tail -n 3 "$TMP/c.log")"
ls "$TMP/c/$EXP/samples" | tr '\n' ' ' | grep -qx '0000002.png 0000004.png ' && pass sample_grid_files ||
    fail sample_grid_files "$(ls "$TMP/c/$EXP/samples" 2>&1)"
$BIN/maskdit-generate --config "$TMP/tiny.yaml" --ckpt_path "$TMP/c/$EXP/checkpoints/0000004.h5" --seeds 3,13 \
    --class_idx 3 --num_steps 18 --results_dir "$TMP/cg" >"$TMP/cg.log" 2>&1 || fail generate_cond "$(tail -n 3 "$TMP/cg.log")"
$H5PY - "$TMP/c/$EXP/samples/0000004.png" "$TMP/cg" <<'PY' && pass sample_grid_classes_and_seeds || fail sample_grid_classes_and_seeds
import sys
sys.path.insert(0, "tests/tools")
import png_read
grid = png_read.read(sys.argv[1])
assert grid[:3] == (2 + 4 * 34, 2 + 4 * 34, 1), grid[:3]
for k in (3, 13):
    one = png_read.read(f"{sys.argv[2]}/{k:06d}.png")
    assert png_read.tile(grid, k, 4, 32) == b"".join(one[3]), k
assert png_read.tile(grid, 4, 4, 32) != png_read.tile(grid, 3, 4, 32)
PY
# The grids are in the event file too, as the PNG files' bytes.
$H5PY - "$TMP/c/$EXP/samples" "$TMP/c/$EXP"/events.out.tfevents.* <<'PY' && pass sample_grid_in_tensorboard || fail sample_grid_in_tensorboard
import sys
sys.path.insert(0, "tests/tools")
import tfrecord_read
images = [(ev["step"], ev["images"]["samples"]) for ev in tfrecord_read.read(sys.argv[2]) if ev["images"]]
assert [s for s, _ in images] == [2, 4], images
for step, (h, w, c, png) in images:
    assert (h, w, c) == (138, 138, 1), (h, w, c)
    assert png == open(f"{sys.argv[1]}/{step:07d}.png", "rb").read(), step
PY
if $TPY -c 'import tensorboard' 2>/dev/null; then
    $TPY tests/tools/tb_read.py "$TMP/c/$EXP"/events.out.tfevents.* >"$TMP/ctb.json" 2>"$TMP/ctb.err"
    $H5PY - "$TMP/ctb.json" <<'PY' && pass sample_grid_tensorboard_package || fail sample_grid_tensorboard_package "$(cat "$TMP/ctb.err")"
import json, sys
images = json.load(open(sys.argv[1]))["files"][0]["images"]["samples"]
assert [i[0] for i in images] == [2, 4] and all(i[4] == "89504e470d0a1a0a" for i in images), images
PY
else
    skip sample_grid_tensorboard_package "python3 cannot import tensorboard"
fi
# A latent-space dataset needs the VAE that decodes its grids: refused without one, with the reason;
# with the golden tiny VAE (--pretrained_path) the grid is RGB at 4x the latent size.
$H5PY -c "
import numpy as np, sys
np.save(sys.argv[1] + '/lat.npy', np.random.default_rng(0).standard_normal((16, 4, 8, 8)).astype(np.float32))
" "$TMP"
$BIN/maskdit-convert npy --data "$TMP/lat.npy" --kind latents --out "$TMP/lat" --no-progress >/dev/null 2>&1 ||
    fail latent_dataset "maskdit-convert npy failed"
tiny_train_config "$TMP/lat.yaml" "$TMP/lat" data.resolution=8 data.num_channels=4 model.in_size=8 model.in_channels=4 \
    model.num_classes=0 log.sample_every=2
expect_error sample_grid_latent_refused "log.sample_every: this dataset holds latents (a latent-space model), whose samples need the VAE decoder: name its weights with log.vae or --pretrained_path" \
    $BIN/maskdit-train --config "$TMP/lat.yaml" --results_dir "$TMP/lr"
expect_error sample_grid_vae_unreadable "log.vae $TMP/no-vae.pth: No such file or directory" \
    $BIN/maskdit-train --config "$TMP/lat.yaml" --results_dir "$TMP/lr" --pretrained_path "$TMP/no-vae.pth"
if $BIN/maskdit-train --config "$TMP/lat.yaml" --results_dir "$TMP/lv" \
    --pretrained_path "${MASKDIT_GOLDEN_DIR:-../shared/golden}/vae_tiny.pth" >"$TMP/lv.log" 2>&1 &&
    $H5PY - "$TMP"/lv/*/samples/0000002.png <<'EOF'
import sys, struct
png = open(sys.argv[1], 'rb').read()
w, h, depth, color = struct.unpack('>IIBB', png[16:26])
assert (w, h, depth, color) == (4 * 32 + 5 * 2, 4 * 32 + 5 * 2, 8, 2), (w, h, depth, color)   # RGB, 32x32 tiles
EOF
then pass sample_grid_latent_through_vae; else fail sample_grid_latent_through_vae "$(tail -n 5 "$TMP/lv.log")"; fi
expect_ok latent_without_grid $BIN/maskdit-train --config "$TMP/lat.yaml" --results_dir "$TMP/lr" --set log.sample_every=0
expect_error sample_every_negative "log.sample_every" train --results_dir "$TMP/neg" --set log.sample_every=-1

# An experiment directory where the event file cannot be created is refused before training.
mkdir -p "$TMP/ro/$EXP" && chmod 555 "$TMP/ro/$EXP"
if [ "$(id -u)" != 0 ]; then
    expect_error tensorboard_unwritable "log.tensorboard" train --results_dir "$TMP/ro"
else
    skip tensorboard_unwritable "running as root, whom file permissions do not stop"
fi
chmod 755 "$TMP/ro/$EXP"

# The MASKDIT_* environment switches (kernel paths of A/B runs) are recorded: in --print_config and
# in the start record's software.
out=$(MASKDIT_ATTENTION=gemm MASKDIT_GELU_EPILOGUE=0 train --print_config 2>&1)
if [[ $out == *"# environment switches (MASKDIT_*): MASKDIT_ATTENTION=gemm, MASKDIT_GELU_EPILOGUE=0"* ]]
then pass environment_in_print_config; else fail environment_in_print_config "$(echo "$out" | tail -n 2)"; fi
MASKDIT_ATTENTION=gemm train --results_dir "$TMP/env" >/dev/null 2>&1
if grep -q '"environment": "[^"]*MASKDIT_ATTENTION=gemm' "$TMP"/env/*/metrics.jsonl; then pass environment_in_start_record
else fail environment_in_start_record "$(head -c 600 "$TMP"/env/*/metrics.jsonl)"; fi
