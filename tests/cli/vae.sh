# maskdit-vae and maskdit-generate --pretrained_path with the golden tiny VAE
# (../shared/golden/vae_tiny.*): decode and encode against the float64 golden through the files
# the programs write (read back by h5py, NumPy and Pillow), the same outputs on 1 and 2 ranks,
# generate's decoded samples equal to maskdit-vae decode of its latents, resume, and every refusal
# by its message.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}
export OMP_NUM_THREADS=1
VAE=$BIN/maskdit-vae
GEN=$BIN/maskdit-generate
W=$GOLDEN_DIR/vae_tiny.pth
H5=$GOLDEN_DIR/vae_tiny.h5
PY=/usr/bin/python3

out=$($VAE info "$W" 2>&1)
if [[ $out == *"ch 32, ch_mult [1,2,2], num_res_blocks 2, z_channels 4 (factor 4)"* && $out == *"layout:        ldm"* ]]
then pass info; else fail info "$out"; fi
out=$($VAE info "$GOLDEN_DIR/vae_tiny_diffusers" 2>&1)
if [[ $out == *"layout:        diffusers"* && $out == *"0.18215 (config.json)"* ]]; then pass info_diffusers
else fail info_diffusers "$out"; fi

# ---- decode: golden parity, 1 and 2 ranks ----
decode() {   # DIR WORLD
    mkdir -p "$1"
    $MPIRUN -np "$2" $VAE decode --vae "$W" --in "$H5" --out "$1/images.h5" --png "$1/png" --npz "$1/images.npz" \
        --batch 2 --device cpu >"$1.log" 2>&1
}
if decode "$TMP/d1" 1 && decode "$TMP/d2" 2; then
    if $PY - "$H5" "$TMP/d1" <<'EOF'
import sys, h5py, numpy as np
golden, d = h5py.File(sys.argv[1], 'r'), sys.argv[2]
x = h5py.File(d + '/images.h5', 'r')['images'][...]
ref = golden['decoded'][...]
err = np.abs(x - ref).max() / np.abs(ref).max()
assert x.dtype == np.float32 and x.shape == (3, 3, 32, 32) and err <= 1e-5, (x.shape, err)
# The original's bytes: uint8(clamp((x + 1) * 127.5, 0, 255)), truncated, computed in float32.
want = np.clip((x + np.float32(1)) * np.float32(127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
got = np.load(d + '/images.npz')['arr_0']
assert got.dtype == np.uint8 and got.shape == (3, 32, 32, 3) and (got == want).all(), got.shape
EOF
    then pass decode_matches_golden; else fail decode_matches_golden "$(tail -n 3 "$TMP/d1.log")"; fi
    if cmp -s "$TMP/d1/images.npz" "$TMP/d2/images.npz" && h5diff "$TMP/d1/images.h5" "$TMP/d2/images.h5" >/dev/null &&
        diff -r -x .maskdit.lock "$TMP/d1/png" "$TMP/d2/png" >/dev/null; then pass decode_identical_on_1_2_ranks
    else fail decode_identical_on_1_2_ranks; fi
    if ! $PY -c 'import PIL' 2>/dev/null; then skip png_reads_in_pillow "python3-pil is not installed"
    elif $PY - "$TMP/d1" <<'EOF'
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
npz = np.load(d + '/images.npz')['arr_0']
for i in range(3):
    im = Image.open('%s/png/%06d.png' % (d, i))
    assert im.mode == 'RGB' and im.size == (32, 32), (im.mode, im.size)
    assert (np.asarray(im) == npz[i]).all(), i
EOF
    then pass png_reads_in_pillow; else fail png_reads_in_pillow; fi
    if grep -q "decoding \[#*\] 3/3 images" "$TMP/d1.log"; then pass decode_progress
    else fail decode_progress "$(cat "$TMP/d1.log")"; fi
else
    fail decode_matches_golden "$(tail -n 5 "$TMP"/d*.log)"
fi

# ---- encode ----
$PY - "$H5" "$TMP/images.h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[2], 'w') as f:
    f['images'] = h5py.File(sys.argv[1], 'r')['images'][...]
    f['labels'] = [4, 5, 6]
EOF
if $MPIRUN -np 2 $VAE encode --pretrained_path "$W" --in "$TMP/images.h5" --out "$TMP/moments.h5" --batch 2 \
    --device cpu >"$TMP/enc.log" 2>&1 && $PY - "$H5" "$TMP/moments.h5" <<'EOF'
import sys, h5py, numpy as np
ref = h5py.File(sys.argv[1], 'r')['moments'][...]
f = h5py.File(sys.argv[2], 'r')
m = f['moments'][...]
err = np.abs(m - ref).max() / np.abs(ref).max()
assert m.shape == (3, 8, 8, 8) and err <= 1e-5, (m.shape, err)
assert list(f['labels'][...]) == [4, 5, 6]
EOF
then pass encode_matches_golden; else fail encode_matches_golden "$(tail -n 5 "$TMP/enc.log")"; fi

# ---- generate --pretrained_path: the decoded samples of a latent model ----
LATENT=(--config tests/data/tiny_latent.yaml --ckpt_path "$GOLDEN_DIR/maskdit_tiny.pt" --num_steps 4 --seeds 3-9
    --cfg_scale 1.5 --max_batch_size 2 --device cpu --npz)
$GEN "${LATENT[@]}" --results_dir "$TMP/lat" >"$TMP/lat.log" 2>&1
$VAE decode --vae "$W" --in "$TMP/lat/latents.h5" --npz "$TMP/lat/decoded.npz" --device cpu >"$TMP/latdec.log" 2>&1
run_decoded() {   # DIR WORLD [extra options]
    local dir=$1 world=$2; shift 2
    $MPIRUN -np "$world" $GEN "${LATENT[@]}" --pretrained_path "$W" --save_latents --results_dir "$dir" "$@" \
        >"$dir.log" 2>&1
}
if run_decoded "$TMP/g1" 1 && run_decoded "$TMP/g2" 2; then
    if $PY - "$TMP/g1/samples_7x32x32x3.npz" "$TMP/lat/decoded.npz" <<'EOF'
import sys, numpy as np
a, b = (np.load(p)['arr_0'].astype(int) for p in sys.argv[1:])
assert a.shape == (7, 32, 32, 3) and np.abs(a - b).max() <= 1, np.abs(a - b).max()
EOF
    then pass generate_decodes_like_maskdit_vae
    else fail generate_decodes_like_maskdit_vae "$(tail -n 3 "$TMP/g1.log" "$TMP/latdec.log")"; fi
    if cmp -s "$TMP/g1/samples_7x32x32x3.npz" "$TMP/g2/samples_7x32x32x3.npz" &&
        h5diff "$TMP/g1/latents.h5" "$TMP/lat/latents.h5" >/dev/null && [ -e "$TMP/g1/grid.png" ] &&
        [ "$(ls "$TMP/g1"/0000*.png | wc -l)" -eq 7 ]; then pass generate_decoded_outputs
    else fail generate_decoded_outputs "$(ls "$TMP/g1")"; fi
else
    fail generate_decodes_like_maskdit_vae "$(tail -n 5 "$TMP"/g*.log)"
fi
# Stopped after one batch, then resumed: the same files as the uninterrupted run.
run_decoded "$TMP/g3" 2 --stop_after_batches 1; rc=$?
if [ $rc -eq 3 ] && run_decoded "$TMP/g3" 2 && cmp -s "$TMP/g1/samples_7x32x32x3.npz" "$TMP/g3/samples_7x32x32x3.npz"
then pass generate_decoded_resumes; else fail generate_decoded_resumes "exit $rc: $(tail -n 3 "$TMP/g3.log")"; fi
# Parts of a run with other VAE weights are refused.
$PY - "$GOLDEN_DIR/vae_tiny_diffusers" "$TMP/vae2" <<'EOF'
import sys, shutil, json
shutil.copytree(sys.argv[1], sys.argv[2])
c = json.load(open(sys.argv[2] + '/config.json'))
c['scaling_factor'] = 0.2
json.dump(c, open(sys.argv[2] + '/config.json', 'w'))
EOF
run_decoded "$TMP/g4" 1 --stop_after_batches 1
expect_error generate_other_vae_refused "holds the batches of an unfinished run with other settings: --pretrained_path" \
    $GEN "${LATENT[@]}" --pretrained_path "$TMP/vae2" --save_latents --results_dir "$TMP/g4"

# ---- bad input ----
$PY - "$TMP" <<'EOF'
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(t + '/lat3.h5', 'w') as f:
    f['latents'] = np.zeros((2, 3, 8, 8), np.float32)
with h5py.File(t + '/nan.h5', 'w') as f:
    x = np.zeros((3, 4, 8, 8), np.float32)
    x[2, 1, 3, 3] = np.nan
    f['latents'] = x
    f['seeds'] = np.array([10, 11, 12])
with h5py.File(t + '/odd.h5', 'w') as f:
    f['images'] = np.zeros((1, 3, 30, 32), np.float32)
EOF
head -c 100000 "$W" >"$TMP/truncated.pth"
expect_error wrong_latent_channels "lat3.h5: dataset latents has 3 channels, expected [N, 4, h, w] latents of this VAE" \
    $VAE decode --vae "$W" --in "$TMP/lat3.h5" --npz "$TMP/x.npz" --device cpu
expect_error nan_latents_named "nan.h5: latents row 2 (seed 12) holds NaN or Inf" \
    $VAE decode --vae "$W" --in "$TMP/nan.h5" --npz "$TMP/x.npz" --device cpu
expect_error image_size_not_multiple \
    "odd.h5: dataset images is [1, 3, 30, 32], expected [N, 3, H, W] float32 images in [-1, 1], H and W multiples of 4" \
    $VAE encode --vae "$W" --in "$TMP/odd.h5" --out "$TMP/m.h5" --device cpu
expect_error truncated_weights "truncated.pth" $VAE decode --vae "$TMP/truncated.pth" --in "$H5" --npz "$TMP/x.npz"
cp "$H5" "$TMP/in.h5"
expect_error output_is_input "--out: $TMP/in.h5 is the input (--in)" \
    $VAE decode --vae "$W" --in "$TMP/in.h5" --out "$TMP/in.h5"
if cmp -s "$H5" "$TMP/in.h5"; then pass input_left_intact; else fail input_left_intact; fi
expect_error vae_required "--vae PATH (or --pretrained_path) is required" $VAE decode --in "$H5" --npz "$TMP/x.npz"
expect_error nothing_to_write "nothing to write: give --out, --png or --npz" $VAE decode --vae "$W" --in "$H5"
sed 's/in_channels: 4/in_channels: 3/; s/num_channels: 4/num_channels: 3/' tests/data/tiny_latent.yaml >"$TMP/lat3.yaml"
expect_error generate_vae_channels "the VAE's latents have 4 channels, the model samples 3" \
    $GEN --config "$TMP/lat3.yaml" --ckpt_path "$GOLDEN_DIR/maskdit_tiny.pt" --pretrained_path "$W" \
    --results_dir "$TMP/bad" --device cpu
expect_error save_latents_needs_vae "--save_latents keeps the latents beside the decoded images" \
    $GEN "${LATENT[@]}" --save_latents --results_dir "$TMP/bad"
