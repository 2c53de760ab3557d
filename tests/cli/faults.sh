#!/usr/bin/env bash
# Faults a long run must survive without losing or mixing what was written: one writer per output
# directory (two trainings at once, a lock held by another program for maskdit-train, -generate and
# -convert, a holder killed with kill -9), an intact checkpoint that cannot be read now is not
# skipped as damaged, a damaged one is set aside and never overwritten, a restart from an older
# --ckpt_path never overwrites newer checkpoints, no output replaces an input, damaged inputs
# (.npz bit flip, .gz; a truncated LMDB in data_convert.sh) are named, a resumed conversion refuses
# a changed input, a conversion and a sampling run killed with kill -9 resume to the same files, a
# full disk (tmpfs) keeps the checkpoints, and sizes and values are checked before they are used.
# Each case checks the exit status, the message, and that the files that existed before are
# byte-identical.
. tests/cli/lib.sh
export OMP_NUM_THREADS=1
PY=/usr/bin/python3

$PY tests/tools/synthetic_idx.py "$TMP" 512
$BIN/maskdit-convert idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$TMP/data" --no-progress >/dev/null 2>&1 ||
    fail dataset "maskdit-convert idx failed"
tiny_train_config "$TMP/tiny.yaml" "$TMP/data"
EXP=DiT-S-4-edm-synthetic-cond-m0.5-de1-mae0.1-bs-8-lr0.001
train() { $BIN/maskdit-train --config "$TMP/tiny.yaml" "$@"; }
ckpt() { echo "$TMP/$1/$EXP/checkpoints/$(printf %07d "$2").h5"; }
sums() { (cd "$1" && find . -type f ! -name .maskdit.lock | sort | xargs md5sum); }
HOST=$(hostname)

train --results_dir "$TMP/r1" >"$TMP/r1.log" 2>&1 || fail reference_run "$(tail -n 5 "$TMP/r1.log")"

# ---- two trainings of one experiment: the second stops at once, naming the first ----
cp -r "$TMP/r1" "$TMP/two"
$BIN/maskdit-train --config "$TMP/tiny.yaml" --results_dir "$TMP/two" --set train.max_num_steps=100000 \
    --set log.ckpt_every=100000 >"$TMP/two.log" 2>&1 &
first=$!
for _ in $(seq 600); do grep -q '^(step=0000008)' "$TMP/two.log" 2>/dev/null && break; sleep 0.1; done
expect_error second_training_refused \
    "experiment directory $TMP/two/$EXP: $TMP/two/$EXP/.maskdit.lock is held by maskdit-train, PID $first on host $HOST, since " \
    train --results_dir "$TMP/two" --set train.max_num_steps=12
# The holder dies without a word (kill -9): its lock goes with it, and its last checkpoint resumes.
kill -9 $first
wait $first 2>/dev/null
out=$(train --results_dir "$TMP/two" --set train.max_num_steps=9 2>&1); rc=$?
[[ $rc -eq 0 && $out == *"Resuming from $(ckpt two 6): step 6"* ]] && [ -f "$(ckpt two 9)" ] &&
    pass lock_released_when_holder_killed || fail lock_released_when_holder_killed "exit $rc: $(tail -n 3 <<<"$out")"

# ---- a lock held by another program (an independent fcntl lock, as a second process takes it) ----
hold_lock() {   # DIR: holds DIR/.maskdit.lock until killed; prints when it holds it
    exec $PY -c "
import fcntl, os, sys, time
f = open(os.path.join(sys.argv[1], '.maskdit.lock'), 'a+')
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.truncate(0); f.write('other-program, PID %d on host elsewhere, since then\n' % os.getpid()); f.flush()
print('held', flush=True)
time.sleep(120)
" "$1"
}
mkdir -p "$TMP/samples" "$TMP/out-locked"
for d in "$TMP/samples" "$TMP/out-locked" "$TMP/r1/$EXP"; do
    coproc HOLD { hold_lock "$d"; }
    read -r _ <&"${HOLD[0]}"
    case $d in
    *samples) expect_error generate_refused_while_locked "--results_dir: $d/.maskdit.lock is held by other-program, PID $HOLD_PID" \
        $BIN/maskdit-generate --config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 2 \
        --device cpu --seeds 0-1 --results_dir "$d" ;;
    *out-locked) expect_error convert_refused_while_locked "--out $d: $d/.maskdit.lock is held by other-program, PID $HOLD_PID" \
        $BIN/maskdit-convert idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$d" --no-progress
        [ -z "$(ls "$d")" ] && pass convert_wrote_nothing_while_locked || fail convert_wrote_nothing_while_locked "$(ls "$d")" ;;
    *) before=$(sums "$TMP/r1")
        MASKDIT_LOCK_WAIT=1 expect_error train_waits_then_refused "is held by other-program, PID $HOLD_PID" \
            train --results_dir "$TMP/r1" --set train.max_num_steps=9
        [ "$(sums "$TMP/r1")" = "$before" ] && pass locked_experiment_untouched || fail locked_experiment_untouched ;;
    esac
    kill "$HOLD_PID"
    wait "$HOLD_PID" 2>/dev/null
done

# ---- an intact checkpoint that cannot be read now stops the run: it is neither skipped nor replaced ----
cp -r "$TMP/r1" "$TMP/held"
before=$(sums "$TMP/held")
flock -x "$(ckpt held 6)" sleep 60 &
holder=$!
for _ in $(seq 100); do flock -n -s "$(ckpt held 6)" true || break; sleep 0.05; done
expect_error locked_checkpoint_stops \
    "cannot resume: $(ckpt held 6): another process holds a lock on it (a program writing it, or HDF5 in another job): it cannot be read now; it may be intact, so it is not skipped" \
    train --results_dir "$TMP/held" --set train.max_num_steps=9
kill $holder
wait $holder 2>/dev/null
[ "$(sums "$TMP/held")" = "$before" ] && pass locked_checkpoint_untouched || fail locked_checkpoint_untouched
# Permission denied: only a user other than root meets it (root reads every file).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    cp -r "$TMP/r1" "$TMP/denied" && chown -R 65534:65534 "$TMP/denied" && chmod 000 "$(ckpt denied 6)"
    chmod 755 "$TMP" && chmod -R a+rX "$TMP/data"
    before=$(sums "$TMP/denied")
    expect_error unreadable_checkpoint_stops "cannot resume: $(ckpt denied 6): cannot open: Permission denied; it may be intact" \
        setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMP/denied" \
        $BIN/maskdit-train --config "$TMP/tiny.yaml" --results_dir "$TMP/denied" --set train.max_num_steps=9
    [ "$(sums "$TMP/denied")" = "$before" ] && pass unreadable_checkpoint_untouched || fail unreadable_checkpoint_untouched
else
    echo "SKIP unreadable_checkpoint_stops (needs root and setpriv to run as another user)"
fi

# ---- a damaged checkpoint is set aside under another name, never overwritten ----
cp -r "$TMP/r1" "$TMP/dmg" && head -c 4000 "$(ckpt r1 6)" >"$(ckpt dmg 6)" && cp "$(ckpt dmg 6)" "$TMP/damaged-copy"
out=$(train --results_dir "$TMP/dmg" --set train.max_num_steps=9 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"renamed damaged checkpoint $(ckpt dmg 6) to $(ckpt dmg 6).damaged"* &&
    $out == *"Resuming from $(ckpt dmg 3)"* ]] && cmp -s "$(ckpt dmg 6).damaged" "$TMP/damaged-copy" &&
    [ -f "$(ckpt dmg 9)" ]; then pass damaged_checkpoint_kept_aside
else fail damaged_checkpoint_kept_aside "exit $rc: $(tail -n 4 <<<"$out")"; fi

# ---- a restart from an older --ckpt_path in the directory never overwrites the newer ones ----
cp -r "$TMP/r1" "$TMP/old"
before=$(sums "$TMP/old")
expect_error older_ckpt_path_refused "$TMP/old/$EXP/checkpoints holds 0000006.h5, newer than step 3 where this run starts" \
    train --ckpt_path "$(ckpt old 3)" --set train.max_num_steps=9
[ "$(sums "$TMP/old")" = "$before" ] && pass newer_checkpoints_untouched || fail newer_checkpoints_untouched

# ---- no program writes over one of its inputs (same file by device and inode, not by name) ----
cp tests/data/tiny_pixel.pt "$TMP/X.pt"
sum=$(md5sum <"$TMP/X.pt")
expect_error import_over_its_input "./X.pt is the checkpoint to import (X.pt): writing it would replace an input" \
    bash -c "cd '$TMP' && '$PWD/$BIN/maskdit-ckpt' import X.pt ./X.pt"
[ "$(md5sum <"$TMP/X.pt")" = "$sum" ] && pass import_input_untouched || fail import_input_untouched
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}
if [ -f "$GOLDEN_DIR/maskdit_tiny.pt" ]; then
    mkdir -p "$TMP/lat" && cp "$GOLDEN_DIR/maskdit_tiny.pt" "$TMP/lat/latents.h5"   # read by content: a .pt
    sum=$(md5sum <"$TMP/lat/latents.h5")
    expect_error generate_over_its_checkpoint \
        "--results_dir: $TMP/lat/latents.h5 is the checkpoint being sampled ($TMP/lat/./latents.h5): writing it would replace an input" \
        $BIN/maskdit-generate --config tests/data/tiny_latent.yaml --ckpt_path "$TMP/lat/./latents.h5" --num_steps 2 \
        --seeds 0-1 --device cpu --results_dir "$TMP/lat"
    [ "$(md5sum <"$TMP/lat/latents.h5")" = "$sum" ] && pass generate_checkpoint_untouched || fail generate_checkpoint_untouched
else
    echo "SKIP generate_over_its_checkpoint (no $GOLDEN_DIR/maskdit_tiny.pt)"
fi

# ---- no fixed limit on user-given text: an explicit --seeds list of 2,700 characters ----
seeds=$(seq -s, 0 700)
out=$($BIN/maskdit-generate --config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 2 \
    --device cpu --seeds "$seeds" --stop_after_batches 1 --results_dir "$TMP/long-seeds" 2>&1); rc=$?
[ $rc -eq 3 ] && grep -qxF -- "# --seeds $seeds --class_idx (none)" "$TMP/long-seeds/.parts/run.txt" &&
    pass long_seed_list_recorded || fail long_seed_list_recorded "exit $rc: $(tail -n 2 <<<"$out")"

# ---- a flipped bit in a stored .npz entry is caught by its CRC, not converted ----
$PY - "$TMP" <<'PY'
import sys, zipfile, numpy as np
d = sys.argv[1]
np.savez(f"{d}/flip.npz", np.linspace(-1, 1, 4 * 8 * 8, dtype=np.float32).reshape(4, 1, 8, 8), np.arange(4))
info = zipfile.ZipFile(f"{d}/flip.npz").getinfo("arr_0.npy")
with open(f"{d}/flip.npz", "r+b") as f:
    f.seek(info.header_offset + 26)
    start = info.header_offset + 30 + int.from_bytes(f.read(2), "little") + int.from_bytes(f.read(2), "little")
    f.seek(start + 200); b = f.read(1); f.seek(start + 200); f.write(bytes([b[0] ^ 0x10]))
PY
expect_error npz_stored_bit_flip "$TMP/flip.npz: entry arr_0.npy is damaged: CRC-32" \
    $BIN/maskdit-convert npz "$TMP/flip.npz" --kind pixels --out "$TMP/flip-out" --no-progress
[ ! -e "$TMP/flip-out/index.h5" ] && pass npz_bit_flip_writes_no_dataset || fail npz_bit_flip_writes_no_dataset "$(ls "$TMP/flip-out")"

# ---- one rule for pixel values, [-1, 1]: a conversion refuses what verify and training would ----
$PY -c "import numpy as np, sys; x = np.zeros((3, 1, 4, 4), np.float32); x[2, 0, 1, 2] = 1.5; np.save(sys.argv[1], x)" \
    "$TMP/px.npy"
expect_error npy_pixels_outside_range "$TMP/px.npy: sample 2: value 6 is 1.5 (outside [-1, 1] for kind pixels)" \
    $BIN/maskdit-convert npy --data "$TMP/px.npy" --kind pixels --out "$TMP/px-out" --no-progress

# ---- a resumed conversion refuses an input replaced since the first run (no mixed dataset) ----
$PY -c "import numpy as np, sys; np.save(sys.argv[1], np.full((3, 1, 4, 4), 0.25, np.float32))" "$TMP/in.npy"
$BIN/maskdit-convert npy --data "$TMP/in.npy" --kind pixels --shard-size 1 --out "$TMP/resumed" --no-progress >/dev/null 2>&1 ||
    fail first_conversion "maskdit-convert npy failed"
rm "$TMP/resumed/shard-00002.h5" "$TMP/resumed/index.h5"   # as if it had been interrupted
before=$(sums "$TMP/resumed")
$PY -c "import numpy as np, sys; np.save(sys.argv[1], np.full((3, 1, 4, 4), -0.5, np.float32))" "$TMP/in.npy"
expect_error changed_input_refused "--out $TMP/resumed was written from an input that has changed since: $TMP/resumed/.convert-input line 1 says 'input 1: 320 bytes, modified" \
    $BIN/maskdit-convert npy --data "$TMP/in.npy" --kind pixels --shard-size 1 --out "$TMP/resumed" --no-progress
[ "$(sums "$TMP/resumed")" = "$before" ] && [ ! -e "$TMP/resumed/shard-00002.h5" ] && pass changed_input_nothing_written ||
    fail changed_input_nothing_written "$(ls -A "$TMP/resumed")"

# ---- sizes are checked before anything is allocated: 2^31-1 steps (memory: bin/tests/test_generate) ----
expect_error num_steps_bounded "--num_steps must be from 2 to 1000000 (got 2147483647)" \
    $BIN/maskdit-generate --config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt \
    --num_steps 2147483647 --device cpu --seeds 0-3 --results_dir "$TMP/steps"

# ---- a damaged .gz is named as damaged, a cut one as truncated ----
gzip -c "$TMP/img.idx" >"$TMP/img.idx.gz"
$PY -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 2] ^= 1
open(sys.argv[2], 'wb').write(b)
open(sys.argv[3], 'wb').write(open(sys.argv[1], 'rb').read()[:len(b) // 2])
" "$TMP/img.idx.gz" "$TMP/flip.idx.gz" "$TMP/cut.idx.gz"
expect_error idx_gzip_damaged "$TMP/flip.idx.gz: " \
    $BIN/maskdit-convert idx --images "$TMP/flip.idx.gz" --labels "$TMP/lab.idx" --out "$TMP/gz1" --no-progress
out=$($BIN/maskdit-convert idx --images "$TMP/flip.idx.gz" --labels "$TMP/lab.idx" --out "$TMP/gz1" --no-progress 2>&1)
[[ $out == *"(damaged gzip data"* && $out != *": truncated:"* ]] && pass idx_gzip_damaged_not_truncated ||
    fail idx_gzip_damaged_not_truncated "$out"
expect_error idx_gzip_cut "$TMP/cut.idx.gz: truncated: image " \
    $BIN/maskdit-convert idx --images "$TMP/cut.idx.gz" --labels "$TMP/lab.idx" --out "$TMP/gz2" --no-progress

# ---- a run whose end lies before its start says so (it once said "Training from step 6 to step 2") ----
out=$(train --ckpt_path "$(ckpt r1 6)" --use_ckpt_path False --use_strict_load False --set train.batchsize=256 \
    --set train.epochs=1 --results_dir "$TMP/ends-early" 2>&1); rc=$?
[[ $rc -eq 0 && $out == *"The run ends at step 2 (train.epochs x steps per epoch), before step 6 where it starts"* &&
    $out == *"Nothing to do: step 6 is past the end of this run"* && $out != *"Training from step 6 to step 2"* ]] &&
    pass end_before_start_said || fail end_before_start_said "exit $rc: $(tail -n 4 <<<"$out")"

# ---- maskdit-ckpt info on a training checkpoint takes the heads from the stored configuration ----
out=$($BIN/maskdit-ckpt info "$(ckpt r1 6)" 2>&1)
[[ $out == *"heads=2"* && $out == *"num_heads 2 from the stored run configuration"* && $out != *"num_heads unknown"* ]] &&
    pass info_heads_from_stored_config || fail info_heads_from_stored_config "$(grep -i heads <<<"$out")"

# ---- names from the command line or a config never lead outside the results directory ----
expect_error tag_cannot_leave_results_dir "log.tag (--tag) '/../../escaped' is part of the experiment directory's name and may not hold '/'" \
    train --tag /../../escaped --results_dir "$TMP/r-tag"
[ ! -e "$TMP/escaped" ] && [ ! -e "$TMP/r-tag" ] && pass tag_wrote_nothing || fail tag_wrote_nothing "$(ls "$TMP")"

# ---- kill -9 during a conversion: the rerun completes it, equal to an uninterrupted conversion ----
$PY -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(3).uniform(-1, 1, (6000, 1, 32, 32)).astype(np.float32))" \
    "$TMP/big.npy"
NPY=(npy --data "$TMP/big.npy" --kind pixels --shard-size 200 --no-progress)
npy_convert() { $BIN/maskdit-convert "${NPY[@]}" --out "$1"; }
npy_convert "$TMP/whole" >/dev/null 2>&1 || fail uninterrupted_conversion
$BIN/maskdit-convert "${NPY[@]}" --out "$TMP/killed" >/dev/null 2>&1 &   # not through a function: $! is the program
victim=$!
for _ in $(seq 400); do [ -e "$TMP/killed/shard-00003.h5" ] && break; sleep 0.01; done
kill -9 $victim 2>/dev/null
wait $victim 2>/dev/null
[ -e "$TMP/killed/index.h5" ] && echo "    note: the conversion had finished before kill -9"
if npy_convert "$TMP/killed" >/dev/null 2>&1 && $BIN/maskdit-convert verify "$TMP/killed" >/dev/null 2>&1 &&
    [ "$(cd "$TMP/whole" && md5sum *.h5)" = "$(cd "$TMP/killed" && md5sum *.h5)" ]; then pass conversion_killed_then_resumed
else fail conversion_killed_then_resumed "$(ls -A "$TMP/killed")"; fi

# ---- kill -9 during sampling: the rerun keeps the finished batches and writes the same files ----
GEN=(--config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 4 --device cpu --seeds 0-1999 --npz)
gen() { $BIN/maskdit-generate "${GEN[@]}" --results_dir "$1"; }
gen "$TMP/gen-whole" >/dev/null 2>&1 || fail uninterrupted_sampling
$BIN/maskdit-generate "${GEN[@]}" --results_dir "$TMP/gen-killed" >/dev/null 2>&1 &
victim=$!
for _ in $(seq 400); do [ -n "$(ls "$TMP/gen-killed/.parts" 2>/dev/null | grep -m1 '\.part$')" ] && break; sleep 0.01; done
kill -9 $victim 2>/dev/null
wait $victim 2>/dev/null
out=$(gen "$TMP/gen-killed" 2>&1); rc=$?
if [ $rc -eq 0 ] && diff -r -x .maskdit.lock "$TMP/gen-whole" "$TMP/gen-killed" >/dev/null; then pass sampling_killed_then_resumed
else fail sampling_killed_then_resumed "exit $rc: $(tail -n 2 <<<"$out") $(diff -r -x .maskdit.lock "$TMP/gen-whole" "$TMP/gen-killed" | head -n 2)"; fi

# ---- a full disk (a tmpfs with room for the run but not one more checkpoint) ----
mkdir -p "$TMP/full"
if mount -t tmpfs -o size=$(($(du -sb "$TMP/r1" | cut -f1) + 40000)) tmpfs "$TMP/full" 2>/dev/null; then
    cp -r "$TMP/r1/." "$TMP/full/"
    before=$(sums "$TMP/full")
    out=$(train --results_dir "$TMP/full" --set train.max_num_steps=9 2>&1); rc=$?
    left=$(ls -A "$TMP/full/$EXP/checkpoints")
    if [ $rc -eq 1 ] && [[ $out == *"error: at step 9: checkpoint not saved: $(ckpt full 9).tmp: the tensors need "*"free"* ]] &&
        [ "$left" = "$(printf '0000003.h5\n0000006.h5')" ] &&
        [ "$(cd "$TMP/full" && find . -name '*.h5' | sort | xargs md5sum)" = "$(grep '\.h5$' <<<"$before")" ]; then
        pass disk_full_keeps_checkpoints
    else fail disk_full_keeps_checkpoints "exit $rc, checkpoints: $left: $(tail -n 2 <<<"$out")"; fi
    umount "$TMP/full"
else
    echo "SKIP disk_full_keeps_checkpoints (cannot mount a tmpfs: needs root)"
fi
