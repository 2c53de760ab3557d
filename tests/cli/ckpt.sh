#!/usr/bin/env bash
# Checkpoints across MPI ranks and the maskdit-ckpt tool: the checkpoint test program under 2 and
# 3 ranks (and on a full tmpfs where one can be mounted), `maskdit-ckpt info` and `import` of the
# golden .pt (imported by 2 ranks, then every tensor read back with h5py by name and compared
# with the golden values), and the tool's error messages.
source tests/cli/lib.sh
GOLDEN=${MASKDIT_GOLDEN_DIR:-tests/golden}
PT=$GOLDEN/maskdit_tiny.pt
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

# run_mpi_tests NAME NP [ARGS...]: the MPI test program must pass every case it runs.
run_mpi_tests() {
    local name=$1 np=$2; shift 2
    local out rc
    out=$($MPIRUN -np "$np" "$BIN/tests/test_ckpt" "$@" 2>&1); rc=$?
    if [ $rc -eq 0 ] && grep -q '^PASS' <<<"$out" && ! grep -q '^FAIL' <<<"$out"; then
        pass "$name"
    else
        fail "$name" "$(grep -v '^PASS' <<<"$out" | tail -n 15)"
    fi
}

# expect_output NAME "text" command...: the command succeeds and prints text.
expect_output() {
    local name=$1 want=$2; shift 2
    local out
    if ! out=$("$@" 2>&1); then fail "$name" "$(tail -n 5 <<<"$out")"; return; fi
    if [[ $out != *"$want"* ]]; then fail "$name" "no '$want' in: $(head -n 12 <<<"$out")"; return; fi
    pass "$name"
}

run_mpi_tests ckpt_two_ranks 2
run_mpi_tests ckpt_three_ranks 3

mnt=$TMP/small-fs
mkdir -p "$mnt"
if mount -t tmpfs -o size=16m tmpfs "$mnt" 2>/dev/null; then
    run_mpi_tests ckpt_disk_full_two_ranks 2 --disk-full "$mnt"
    umount "$mnt"
else
    echo "note: no tmpfs can be mounted here (needs root); the disk-full case did not run"
fi

info=$($BIN/maskdit-ckpt info "$PT" 2>&1)
for want in "sections: model, ema, opt, args" "step: 7" "model  58 tensors, 238480 parameters (float32)" \
    "opt    56 parameters in param_groups, 56 with exp_avg/exp_avg_sq, step 7, lr 0.0001" \
    "D=64 depth=2 heads=4 p=2 in=4x8x8 classes=10 decoder=32/2/4" "num_heads 4 from args.model_config"; do
    if [[ $info == *"$want"* ]]; then pass "info_pt: $want"; else fail "info_pt: $want" "$(head -n 8 <<<"$info")"; fi
done

if grep -Eq '^  model\.decoder_blocks\.1\.adaLN_modulation\.1\.weight +\(192, 64\) +float32$' <<<"$info"; then
    pass info_pt_tensor_lines
else
    fail info_pt_tensor_lines "no line for model.decoder_blocks.1.adaLN_modulation.1.weight (192, 64) float32"
fi

expect_ok import_two_ranks $MPIRUN -np 2 $BIN/maskdit-ckpt import "$PT" "$TMP/tiny.h5"
check=$($PY - "$TMP/tiny.h5" "$GOLDEN/maskdit_tiny.h5" <<'EOF' 2>&1
import json, sys
import h5py, numpy as np
f, g = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = json.loads(g.attrs["param_names"])
trainable = set(json.loads(g.attrs["trainable_names"]))
bad = []
for n in names:
    p = g["params/" + n][...].astype(np.float32)
    if f["model/" + n].dtype != np.float32 or not np.array_equal(f["model/" + n][...], p): bad.append("model/" + n)
    ema = np.float32(0.5) * p if n in trainable else p
    if not np.array_equal(f["ema/" + n][...], ema): bad.append("ema/" + n)
    if n in trainable:
        if not np.array_equal(f["opt/exp_avg/" + n][...], np.float32(0.25) * p): bad.append("exp_avg/" + n)
        if not np.array_equal(f["opt/exp_avg_sq/" + n][...], p * p): bad.append("exp_avg_sq/" + n)
    elif "opt/exp_avg/" + n in f: bad.append("moments of the fixed " + n)
a = f.attrs
if a["format"] != b"maskdit-checkpoint-v1" or a["step"][0] != 7 or a["world_size"][0] != 2: bad.append("attributes")
if json.loads(a["model_config"])["num_heads"] != 4: bad.append("model_config")
print("ok" if not bad else "differs: " + ", ".join(bad[:5]))
EOF
)
if [ "$check" = ok ]; then pass import_read_by_h5py; else fail import_read_by_h5py "$check"; fi

expect_output info_h5 "model_config (stored): {\"input_size\": 8" $BIN/maskdit-ckpt info "$TMP/tiny.h5"
expect_output info_h5_sections "sections: model, ema, opt" $BIN/maskdit-ckpt info "$TMP/tiny.h5"
expect_output info_h5_scaler_count "loss_scale: 1  loss_scale_good_steps: not recorded" \
    $BIN/maskdit-ckpt info "$TMP/tiny.h5"

expect_error import_other_model "model: model.pos_embed: expected shape (1, 16, 384), found (1, 16, 64)" \
    $BIN/maskdit-ckpt import "$PT" "$TMP/s2.h5" --model-type DiT-S/2
expect_error import_bad_heads "hidden_size 64 must be a positive multiple of num_heads 5" \
    $BIN/maskdit-ckpt import "$PT" "$TMP/h5.h5" --num-heads 5
expect_error import_h5_input "not a PyTorch checkpoint" $BIN/maskdit-ckpt import "$TMP/tiny.h5" "$TMP/again.h5"
expect_error import_bad_flag "unknown option '--frobnicate' (see maskdit-ckpt import --help)" $BIN/maskdit-ckpt import "$PT" "$TMP/x.h5" --frobnicate
expect_error import_bad_number "--input-size: expected a whole number from 1 to 1048576, got 'big'" \
    $BIN/maskdit-ckpt import "$PT" "$TMP/x.h5" --input-size big
expect_error import_missing_args "import needs X.pt and OUT.h5" $BIN/maskdit-ckpt import "$PT"
expect_error import_flag_without_value "option --model-type needs a value" $BIN/maskdit-ckpt import "$PT" "$TMP/x.h5" --model-type
expect_error info_missing_file "$TMP/none.pt: cannot open" $BIN/maskdit-ckpt info "$TMP/none.pt"
expect_error unknown_command "unknown command 'frob'" $BIN/maskdit-ckpt frob
[ ! -e "$TMP/s2.h5" ] && [ ! -e "$TMP/s2.h5.tmp" ] && pass import_failure_writes_nothing ||
    fail import_failure_writes_nothing "an output file was left behind"
