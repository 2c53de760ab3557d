# maskdit-generate from the command line: identical outputs on 1, 2 and 3 ranks (pixel model:
# every PNG, the grid and the npz; latent model: the HDF5 file and the npz), the npz as NumPy reads
# it, the ablation options, and every refusal by its message. The file contents are checked in
# bin/tests/test_generate.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}
export OMP_NUM_THREADS=1   # several ranks share the test machine's cores
GEN=$BIN/maskdit-generate
PIXEL=(--config tests/data/tiny_pixel.yaml --ckpt_path tests/data/tiny_pixel.pt --num_steps 5 --device cpu)

# ---- the same images on any number of ranks ----
run_pixels() {   # DIR WORLD
    $MPIRUN -np "$2" $GEN "${PIXEL[@]}" --seeds 0-6,40 --class_idx 1,2 --cfg_scale 2 --max_batch_size 3 --npz \
        --results_dir "$1" >"$1.log" 2>&1
}
if run_pixels "$TMP/px1" 1 && run_pixels "$TMP/px2" 2 && run_pixels "$TMP/px3" 3; then
    n=$(find "$TMP/px1" -name '*.png' | wc -l)
    if [ "$n" -ne 17 ]; then fail pixels_written "expected 16 images + grid, found $n PNG files"
    elif diff -r -x .maskdit.lock "$TMP/px1" "$TMP/px2" >/dev/null && diff -r -x .maskdit.lock "$TMP/px1" "$TMP/px3" >/dev/null; then pass pixels_identical_on_1_2_3_ranks
    else fail pixels_identical_on_1_2_3_ranks "$(diff -r -x .maskdit.lock "$TMP/px1" "$TMP/px2" | head -3)"; fi
else
    fail pixels_identical_on_1_2_3_ranks "$(tail -n 5 "$TMP"/px*.log)"
fi
if grep -q "sampling \[#*\] 16/16 images" "$TMP/px1.log" && grep -q "images/s" "$TMP/px1.log"; then pass progress_bar
else fail progress_bar "$(cat "$TMP/px1.log")"; fi

# The ADM evaluator's format, as NumPy reads it.
if /usr/bin/python3 - "$TMP/px1/samples_16x8x8x1.npz" <<'EOF'
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.files == ['arr_0'], a.files
x = a['arr_0']
assert x.dtype == np.uint8 and x.shape == (16, 8, 8, 1), (x.dtype, x.shape)
assert len(np.unique(x.reshape(16, -1), axis=0)) == 16
EOF
then pass npz_reads_in_numpy; else fail npz_reads_in_numpy; fi

run_latents() {   # DIR WORLD
    $MPIRUN -np "$2" $GEN --config tests/data/tiny_latent.yaml --ckpt_path "$GOLDEN_DIR/maskdit_tiny.pt" --num_steps 4 \
        --seeds 3-9 --cfg_scale 1.5 --max_batch_size 2 --npz --device cpu --results_dir "$1" >"$1.log" 2>&1
}
if run_latents "$TMP/lat1" 1 && run_latents "$TMP/lat2" 2; then
    if cmp -s "$TMP/lat1/latents_7x4x8x8.npz" "$TMP/lat2/latents_7x4x8x8.npz" &&
        h5diff "$TMP/lat1/latents.h5" "$TMP/lat2/latents.h5" >/dev/null; then pass latents_identical_on_1_2_ranks
    else fail latents_identical_on_1_2_ranks; fi
    if grep -q "decode them with the VAE decoder" "$TMP/lat1.log" && [ ! -e "$TMP/lat1/grid.png" ]; then
        pass latent_model_writes_latents
    else fail latent_model_writes_latents "$(cat "$TMP/lat1.log")"; fi
else
    fail latents_identical_on_1_2_ranks "$(tail -n 5 "$TMP"/lat*.log)"
fi

# The ablation sampler and churn run from the command line and change the samples.
expect_ok ablation_options $GEN "${PIXEL[@]}" --seeds 0-1 --class_idx 0 --solver euler --discretization vp \
    --schedule vp --scaling vp --S_churn 5 --S_min 0.01 --S_max 10 --S_noise 1.003 --results_dir "$TMP/abl"
expect_ok default_sampler $GEN "${PIXEL[@]}" --seeds 0-1 --class_idx 0 --results_dir "$TMP/def"
if cmp -s "$TMP/abl/000000.png" "$TMP/def/000000.png"; then fail ablation_changes_samples; else pass ablation_changes_samples; fi
# The original's options without effect are accepted with a warning each and change nothing.
out=$($GEN "${PIXEL[@]}" --seeds 0-1 --class_idx 0 --pretrained_path vae.pth --global_seed 3 --subdirs \
    --results_dir "$TMP/ign" 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"--pretrained_path vae.pth has no effect: the model samples pixels"* &&
    $out == *"--global_seed has no effect here (ignored)"* && $out == *"--subdirs has no effect here"* ]] &&
    cmp -s "$TMP/ign/000001.png" "$TMP/def/000001.png"; then pass original_options_ignored
else fail original_options_ignored "exit $rc: $(echo "$out" | head -n 5)"; fi
out=$($GEN --help 2>&1); rc=$?
[ $rc -eq 0 ] && [[ $out == "usage: maskdit-generate --config FILE.yaml --ckpt_path"* && $out == *"--fresh"* &&
    $out == *"--stop_after_batches K"* && $out == *"Exit status: 0 done, 1 error, 3 stopped"* ]] && pass help ||
    fail help "exit $rc: $out"

# ---- bad input ----
sed 's/num_classes: 3/num_classes: 0/' tests/data/tiny_pixel.yaml >"$TMP/uncond.yaml"
UNCOND=(--config "$TMP/uncond.yaml" --ckpt_path tests/data/tiny_pixel.pt --results_dir "$TMP/bad")
expect_error class_out_of_range "--class_idx '3': 3 is out of range (expected 0..2) (the model has 3 classes)" \
    $GEN "${PIXEL[@]}" --class_idx 3 --results_dir "$TMP/bad"
expect_error class_list_out_of_range "--class_idx '0-5': 5 is out of range" $GEN "${PIXEL[@]}" --class_idx 0-5
expect_error guidance_on_unconditional "classifier-free guidance needs a class-conditional model" \
    $GEN "${UNCOND[@]}" --cfg_scale 1.5
expect_error class_on_unconditional "--class_idx 1: the model is unconditional" $GEN "${UNCOND[@]}" --class_idx 1
expect_error class_with_cfg_zero "guidance scale 0 samples unconditionally" $GEN "${PIXEL[@]}" --class_idx 1 --cfg_scale 0
expect_error negative_cfg "--cfg_scale must be >= 0 (got -1)" $GEN "${PIXEL[@]}" --cfg_scale -1
expect_error infinite_cfg "--cfg_scale must be finite (got inf)" $GEN "${PIXEL[@]}" --cfg_scale inf
# An overflow is an error before the batch is kept, never a black image.
expect_error nonfinite_samples "the sample of seed 0 came out as NaN/Inf: the computation overflowed (with --cfg_scale 1e+300" \
    $GEN "${PIXEL[@]}" --seeds 0-1 --cfg_scale 1e300 --results_dir "$TMP/overflow"
ls "$TMP/overflow/.parts" 2>/dev/null | grep -q '\.part$' && fail overflow_batch_not_kept "$(ls "$TMP/overflow/.parts")" ||
    pass overflow_batch_not_kept
expect_error cfg_not_a_number "--cfg_scale: expected a number, got 'strong'" $GEN "${PIXEL[@]}" --cfg_scale strong
expect_error seeds_backwards "--seeds '9-2': the range 9-2 runs backwards" $GEN "${PIXEL[@]}" --seeds 9-2
expect_error seeds_not_numbers "--seeds 'a,b': bad item 'a'" $GEN "${PIXEL[@]}" --seeds a,b
expect_error seeds_twice "--seeds '1-4,3': 3 is listed more than once" $GEN "${PIXEL[@]}" --seeds 1-4,3
expect_error seeds_too_large "4294967296 is out of range (expected 0..4294967295)" $GEN "${PIXEL[@]}" --seeds 4294967296
expect_error missing_checkpoint "--ckpt_path $TMP/none.pt: No such file or directory" \
    $GEN --config tests/data/tiny_pixel.yaml --ckpt_path "$TMP/none.pt"
expect_error no_checkpoint "--ckpt_path is required" $GEN --config tests/data/tiny_pixel.yaml
expect_error no_config "--config is required" $GEN --ckpt_path tests/data/tiny_pixel.pt
expect_error checkpoint_of_another_model "expected shape" \
    $GEN --config tests/data/tiny_pixel.yaml --ckpt_path "$GOLDEN_DIR/maskdit_tiny.pt" --results_dir "$TMP/bad"
expect_error bad_solver "--solver: unknown value 'rk4' (expected one of euler, heun)" $GEN "${PIXEL[@]}" --solver rk4
expect_error bad_discretization "--discretization: unknown value 'cos'" $GEN "${PIXEL[@]}" --discretization cos
expect_error too_few_steps "--num_steps must be from 2 to 1000000 (got 1)" $GEN "${PIXEL[@]}" --num_steps 1
expect_error bad_batch "--max_batch_size must be at least 1 (got 0)" $GEN "${PIXEL[@]}" --max_batch_size 0
expect_error bad_weights "--weights: unknown value 'best' (expected ema or model)" $GEN "${PIXEL[@]}" --weights best
expect_error bad_device "--device: expected cpu, cuda or auto, got 'tpu'" $GEN "${PIXEL[@]}" --device tpu \
    --results_dir "$TMP/bad"
expect_error bad_precision "--precision: expected fp32, bf16, fp16 or auto, got 'fp8'" $GEN "${PIXEL[@]}" \
    --precision fp8 --results_dir "$TMP/bad"
expect_error unknown_option "unknown option '--frobnicate'" $GEN "${PIXEL[@]}" --frobnicate 1
expect_error option_without_value "--seeds needs a value" $GEN "${PIXEL[@]}" --seeds
touch "$TMP/file"
expect_error unwritable_results_dir "--results_dir: '$TMP/file' exists and is not a directory" \
    $GEN "${PIXEL[@]}" --seeds 0 --results_dir "$TMP/file/out"
# On several ranks a refusal ends every rank (no hang).
expect_error bad_input_on_two_ranks "3 is out of range" timeout 60 $MPIRUN -np 2 $GEN "${PIXEL[@]}" --class_idx 3
