# maskdit-generate resumes: a run stopped after some batches (--stop_after_batches, or SIGUSR1)
# keeps them in DIR/.parts and exits with status 3; the same command then samples only the rest and
# writes the same files, byte for byte (latents.h5 included), as an uninterrupted run (pixel and latent models; stopped and
# resumed on 1 or 2 ranks, also stopped on 2 and resumed on 1). Also: a run with other settings is
# refused with the setting named, damaged parts are sampled again with a warning, a part of another
# run and parts without their run description are refused, --fresh starts over, a signal to one rank
# alone stops every rank, a signal in the middle of a batch stops between sampler steps (the batch
# is dropped), and the parts are removed once the outputs are complete.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}
export OMP_NUM_THREADS=1   # several ranks share the test machine's cores
GEN=$BIN/maskdit-generate
# 16 images in 6 batches of 3; 7 latents in 4 batches of 2.
PIXEL=(--config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 5 --device cpu
    --seeds 0-6,40 --class_idx 1,2 --cfg_scale 2 --max_batch_size 3 --npz)
LATENT=(--config tests/data/tiny_latent.yaml --ckpt_path "$GOLDEN_DIR/maskdit_tiny.pt" --num_steps 4 --device cpu
    --seeds 3-9 --cfg_scale 1.5 --max_batch_size 2 --npz)

gen() {   # RANKS ARGS... (output in $out, status in $rc)
    local np=$1
    shift
    # One rank without mpirun: mpirun takes seconds to end a job whose rank exits with status 3.
    if [ "$np" = 1 ]; then out=$(timeout 120 $GEN "$@" 2>&1); else out=$(timeout 120 $MPIRUN -np "$np" $GEN "$@" 2>&1); fi
    rc=$?
}
parts() { find "$1/.parts" -name '*.part' 2>/dev/null | wc -l; }
# same_outputs REF DIR: the same files, byte for byte (latents.h5 too: it records no times)
same_outputs() {
    local f
    [ -d "$2" ] || return 1
    [ "$(cd "$1" && find . -type f ! -name .maskdit.lock | sort)" = "$(cd "$2" && find . -type f ! -name .maskdit.lock | sort)" ] || return 1
    for f in $(cd "$1" && find . -type f ! -name .maskdit.lock); do cmp -s "$1/$f" "$2/$f" || return 1; done
}

gen 1 "${PIXEL[@]}" --results_dir "$TMP/px"
[ $rc -eq 0 ] || fail pixel_reference "$out"
gen 1 "${LATENT[@]}" --results_dir "$TMP/lat"
[ $rc -eq 0 ] || fail latent_reference "$out"

# stop_resume NAME REF PER-BATCH STOP-RANKS RESUME-RANKS K MODEL-ARGS...: stop after K batches per
# rank (full batches of PER-BATCH images), resume, compare with the uninterrupted run in REF.
stop_resume() {
    local name=$1 ref=$2 per=$3 np1=$4 np2=$5 k=$6 dir=$TMP/$1 n
    shift 6
    gen "$np1" "$@" --results_dir "$dir" --stop_after_batches "$k"
    n=$(parts "$dir")
    if [ $rc -ne 3 ] || [ "$n" -ne $((np1 * k)) ] || [[ $out != *"stopped by --stop_after_batches with batches left"* ]]; then
        fail "$name" "stopped run: exit $rc, $n parts: $(echo "$out" | tail -n 3)"
        return
    fi
    gen "$np2" "$@" --results_dir "$dir"
    if [ $rc -ne 0 ] || [[ $out != *"resuming: $((n * per)) of"*"images are already done in $dir/.parts"* ]]; then
        fail "$name" "resumed run: exit $rc: $(echo "$out" | tail -n 4)"
    elif [ -e "$dir/.parts" ]; then fail "$name" "$dir/.parts was not removed"
    elif same_outputs "$ref" "$dir"; then pass "$name"
    else fail "$name" "outputs differ from the uninterrupted run: $(diff -r -x .maskdit.lock "$ref" "$dir" | head -n 3)"; fi
}
stop_resume pixels_stop_1_resume_1 "$TMP/px" 3 1 1 2 "${PIXEL[@]}"
stop_resume pixels_stop_2_resume_2 "$TMP/px" 3 2 2 1 "${PIXEL[@]}"
stop_resume latents_stop_1_resume_1 "$TMP/lat" 2 1 1 1 "${LATENT[@]}"
stop_resume latents_stop_2_resume_1 "$TMP/lat" 2 2 1 1 "${LATENT[@]}"
stop_resume latents_stop_1_resume_2 "$TMP/lat" 2 1 2 2 "${LATENT[@]}"

# ---- a run with other settings is refused, naming the setting; --fresh starts over ----
D=$TMP/other
gen 1 "${PIXEL[@]}" --results_dir "$D" --stop_after_batches 2
expect_error other_settings_refused "$D holds the batches of an unfinished run with other settings: --num_steps is '5' in $D/.parts/run.txt, '6' now. Run the same command as before to finish that run, or add --fresh" \
    $GEN "${PIXEL[@]}" --num_steps 6 --results_dir "$D"
expect_error other_weights_refused "--weights is 'ema' in $D/.parts/run.txt, 'model' now" \
    $GEN "${PIXEL[@]}" --weights model --results_dir "$D"
expect_error other_seeds_refused "--seeds/--class_idx is '16 images" $GEN "${PIXEL[@]}" --seeds 0-6,41 --results_dir "$D"
expect_error other_batch_size_refused "--max_batch_size is '3' in $D/.parts/run.txt, '4' now" \
    $GEN "${PIXEL[@]}" --max_batch_size 4 --results_dir "$D"
# The checkpoint is known by its content: a copy elsewhere continues the run.
cp tests/data/tiny_pixel.pt "$TMP/copy.pt"
gen 1 "${PIXEL[@]}" --ckpt_path "$TMP/copy.pt" --results_dir "$D" --stop_after_batches 1
[ $rc -eq 3 ] && [ "$(parts "$D")" -eq 3 ] && pass copied_checkpoint_resumes || fail copied_checkpoint_resumes "exit $rc: $out"
gen 1 "${PIXEL[@]}" --num_steps 6 --results_dir "$D" --fresh
if [ $rc -eq 0 ] && [[ $out == *"--fresh: discarded 3 batch parts of an earlier run in $D/.parts"* ]] && [ ! -e "$D/.parts" ] &&
    ! cmp -s "$D/grid.png" "$TMP/px/grid.png"; then pass fresh_starts_over
else fail fresh_starts_over "exit $rc: $(echo "$out" | tail -n 3)"; fi

# ---- damaged parts are sampled again with a warning; a leftover temporary file goes ----
D=$TMP/damaged
gen 1 "${PIXEL[@]}" --results_dir "$D" --stop_after_batches 3
truncate -s 100 "$D/.parts/batch-00000000.part"
printf 'x' | dd of="$D/.parts/batch-00000001.part" bs=1 seek=120 conv=notrunc 2>/dev/null
: >"$D/.parts/batch-00000004.part.tmp"
gen 1 "${PIXEL[@]}" --results_dir "$D"
if [ $rc -eq 0 ] && [[ $out == *"$D/.parts/batch-00000000.part has 100 bytes, expected 260 (truncated?); sampling batch 0 again"* &&
    $out == *"$D/.parts/batch-00000001.part is damaged (CRC-32 mismatch); sampling batch 1 again"* &&
    $out == *"resuming: 3 of 16 images"* ]] && same_outputs "$TMP/px" "$D"; then pass damaged_parts_sampled_again
else fail damaged_parts_sampled_again "exit $rc: $(echo "$out" | tail -n 5)"; fi

# ---- parts that cannot belong to this run ----
D=$TMP/foreign
gen 1 "${PIXEL[@]}" --results_dir "$D" --stop_after_batches 1
gen 1 "${PIXEL[@]}" --num_steps 6 --results_dir "$TMP/foreign6" --stop_after_batches 2
cp "$TMP/foreign6/.parts/batch-00000001.part" "$D/.parts/"
expect_error foreign_part_refused "$D/.parts/batch-00000001.part belongs to another run (run CRC-32" $GEN "${PIXEL[@]}" --results_dir "$D"
rm "$D/.parts/run.txt"
expect_error parts_without_description "$D/.parts holds 2 batch parts but no run.txt describing their run, so they cannot be checked: add --fresh" \
    $GEN "${PIXEL[@]}" --results_dir "$D"

# ---- signals: SIGUSR1 to mpirun (forwarded to every rank), or to one rank alone ----
LONG=(--config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 20 --device cpu
    --seeds 0-399 --max_batch_size 2)
signal_stop() {   # NAME DIR mpirun|rank
    local name=$1 dir=$2 pid mpirun_pid i n
    timeout 120 $MPIRUN -np 2 $GEN "${LONG[@]}" --results_dir "$dir" >"$dir.log" 2>&1 &
    pid=$!
    for i in $(seq 600); do [ "$(parts "$dir")" -gt 0 ] && break; sleep 0.05; done
    mpirun_pid=$(pgrep -P $pid)
    if [ "$3" = mpirun ]; then kill -USR1 "$mpirun_pid"
    else kill -USR1 "$(pgrep -P "$mpirun_pid" | head -n 1)"; fi   # the ranks are mpirun's children
    wait $pid
    rc=$?
    n=$(parts "$dir")
    if [ $rc -eq 3 ] && [ "$n" -gt 0 ] && [ "$n" -lt 200 ] &&
        grep -q "stopped by a signal with batches left; the finished ones are kept in $dir/.parts. Exit status 3" "$dir.log"; then
        pass "$name"
    else fail "$name" "exit $rc, $n parts: $(tail -n 4 "$dir.log")"; fi
}
signal_stop signal_stops_every_rank "$TMP/sig" mpirun
signal_stop signal_to_one_rank_stops_all "$TMP/sig1" rank
gen 1 "${LONG[@]}" --results_dir "$TMP/sig"
if [ $rc -eq 0 ] && [[ $out == *"resuming: "*" of 400 images are already done"* ]] && [ ! -e "$TMP/sig/.parts" ] &&
    [ "$(find "$TMP/sig" -name '*.png' | wc -l)" -eq 401 ]; then pass signal_then_resume
else fail signal_then_resume "exit $rc: $(echo "$out" | tail -n 3)"; fi

# ---- a stop signal takes effect between sampler steps: the batch under way is dropped at once ----
# Two batches of 4 images, 5000 steps each (a second or two per batch); SIGTERM once the first
# batch is kept. The second batch is dropped part-way (never finished, as it was before), and the
# resumed run ends with the files of an uninterrupted run.
STEPS=(--config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 5000 --device cpu
    --seeds 0-7 --max_batch_size 4)
gen 1 "${STEPS[@]}" --results_dir "$TMP/steps_ref"
[ $rc -eq 0 ] || fail steps_reference "$out"
D=$TMP/steps
$GEN "${STEPS[@]}" --results_dir "$D" >"$D.log" 2>&1 &
pid=$!
for i in $(seq 1200); do [ "$(parts "$D")" -gt 0 ] && break; sleep 0.05; done
kill -TERM $pid
for i in $(seq 1200); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done   # at most a minute
if kill -0 $pid 2>/dev/null; then
    kill -KILL $pid
    fail signal_stops_between_steps "still running a minute after SIGTERM"
else
    wait $pid
    rc=$?
    steps=$(grep -o "SIGTERM stopped batch 1 after [0-9]* of its 5000 sampler steps: the batch is dropped" "$D.log" | grep -o "after [0-9]*")
    if [ $rc -eq 3 ] && [ "$(parts "$D")" -eq 1 ] && [ -n "$steps" ] && [ "${steps#after }" -lt 5000 ] &&
        grep -q "4 of 8 images of the run are done" "$D.log" &&
        grep -q "stopped by a signal with batches left; the finished ones are kept in $D/.parts. Exit status 3" "$D.log"; then
        pass signal_stops_between_steps
    else fail signal_stops_between_steps "exit $rc, $(parts "$D") parts: $(tail -n 4 "$D.log")"; fi
    gen 1 "${STEPS[@]}" --results_dir "$D"
    if [ $rc -eq 0 ] && [[ $out == *"resuming: 4 of 8 images are already done"* ]] && same_outputs "$TMP/steps_ref" "$D"; then
        pass dropped_batch_resumed_identically
    else fail dropped_batch_resumed_identically "exit $rc: $(echo "$out" | tail -n 3)"; fi
fi
