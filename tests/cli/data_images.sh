#!/usr/bin/env bash
# maskdit-convert images: an image folder made here by tests/tools/make_images.py (Pillow: odd
# sizes, sizes around 2R and 4R, smaller than R, grayscale, 16-bit, alpha, palette, 1-bit, CMYK and
# progressive JPEG, a PNG named .JPEG) through the tiny golden VAE (factor 4) at R = 16. The stored
# moments must equal maskdit-vae encode of the crops Pillow made with ADM's center_crop_arr (read
# back with h5py; a crop off by one level in one pixel would change them far more than the
# tolerance), also for the mirrored second half of --encode-flips; 2 ranks write the same files;
# bad input is refused naming the file.
source tests/cli/lib.sh
CONVERT="$BIN/maskdit-convert"
PY=/usr/bin/python3
W=${MASKDIT_GOLDEN_DIR:-tests/golden}/vae_tiny.pth

if ! $PY -c 'import numpy, h5py, PIL' 2>/dev/null; then
    fail images_prerequisites "$PY with numpy, h5py and PIL is needed (Debian python3-numpy, python3-h5py, python3-pil)"
    exit 0
fi
if [ ! -f "$W" ]; then fail images_golden_vae "$W not found"; exit 0; fi
$PY tests/tools/make_images.py "$TMP/i" 16 || { fail images_make "tests/tools/make_images.py failed"; exit 0; }

# Pillow's crops as maskdit-vae's input, the mirrored ones after them
$PY - "$TMP/i/expected.npz" "$TMP/crops.h5" <<'PYEOF'
import sys, h5py, numpy as np
c = np.load(sys.argv[1])["crops"].astype(np.float32) / 127.5 - 1   # [N, R, R, 3]
x = np.concatenate([c, c[:, :, ::-1]]).transpose(0, 3, 1, 2)
with h5py.File(sys.argv[2], "w") as f:
    f["images"] = np.ascontiguousarray(x)
PYEOF
bin/maskdit-vae encode --vae "$W" --in "$TMP/crops.h5" --out "$TMP/ref.h5" --device cpu >/dev/null 2>&1 ||
    fail images_reference "maskdit-vae encode failed"

out=$("$CONVERT" images "$TMP/i/images" --vae "$W" --resolution 16 --out "$TMP/one" --dtype float32 --shard-size 7 \
    --encode-flips --device cpu 2>&1)
if [ $? -eq 0 ] && [[ $out == *"100.0%"*"40/40"*"took"* && $out == *"9x13.png is 9x13, smaller than --resolution 16: upscaled"* ]]
then pass images_convert; else fail images_convert "$out"; fi

out=$($PY - "$TMP/one" "$TMP/ref.h5" "$TMP/i/expected.npz" <<'PYEOF' 2>&1
import sys, h5py, numpy as np
d = sys.argv[1]
idx = h5py.File(f"{d}/index.h5", "r")
rows = idx["shard_rows"][:]
xs, ys = [], []
for s in range(len(rows)):
    with h5py.File(f"{d}/shard-{s:05d}.h5", "r") as f:
        xs.append(f["latents"][:]); ys.append(f["labels"][:])
x, y = np.concatenate(xs), np.concatenate(ys)
ref = h5py.File(sys.argv[2], "r")["moments"][:]
labels = np.load(sys.argv[3])["labels"]
assert x.shape == ref.shape, (x.shape, ref.shape)
err = np.abs(x - ref).max() / np.abs(ref).max()
assert err < 1e-5, f"moments differ from the reference by {err:g} (relative to the largest)"
assert np.array_equal(y, np.concatenate([labels, labels])), f"labels {y}"
assert idx.attrs["xflip_included"] == 1, "xflip_included not set"
print("same")
PYEOF
)
[ "$out" = same ] && pass images_moments_of_pillow_crops_and_mirrors || fail images_moments_of_pillow_crops_and_mirrors "$out"

expect_ok images_two_ranks $MPIRUN -np 2 "$CONVERT" images "$TMP/i/images" --vae "$W" --resolution 16 --out "$TMP/two" \
    --dtype float32 --shard-size 7 --encode-flips --device cpu --no-progress
same=1
for f in "$TMP"/one/*.h5; do cmp -s "$f" "$TMP/two/$(basename "$f")" || same=0; done
[ $same = 1 ] && pass images_two_ranks_identical || fail images_two_ranks_identical "$(ls "$TMP/one" "$TMP/two")"

# bad input: one class folder with one bad file each
bad() {   # NAME EXPECTED-TEXT: converts $TMP/bad (then empties it)
    expect_error "$1" "$2" "$CONVERT" images "$TMP/bad" --vae "$W" --resolution 16 --out "$TMP/out-$1" --device cpu \
        --no-progress
    rm -rf "$TMP/bad"
}
png="$TMP/i/images/a_sizes/45x33.png" jpg="$TMP/i/images/d_jpeg/rgb.jpg"
mkdir -p "$TMP/bad/c" && head -c 300 "$png" >"$TMP/bad/c/cut.png"
bad images_truncated_png "bad/c/cut.png: damaged PNG"
mkdir -p "$TMP/bad/c" && head -c 700 "$jpg" >"$TMP/bad/c/cut.jpg"
bad images_truncated_jpeg "bad/c/cut.jpg: damaged JPEG"
mkdir -p "$TMP/bad/c" && : >"$TMP/bad/c/empty.png"
bad images_zero_bytes "bad/c/empty.png: empty file (0 bytes)"
mkdir -p "$TMP/bad/c" && echo "not an image" >"$TMP/bad/c/text.JPEG"
bad images_not_an_image "bad/c/text.JPEG: not a PNG or JPEG image"
mkdir -p "$TMP/bad/c" && $PY -c "from PIL import Image; Image.new('RGB', (20, 20)).save('$TMP/bad/c/x.bmp')"
bad images_other_format "bad/c/x.bmp: not a PNG or JPEG image"
mkdir -p "$TMP/bad/c" "$TMP/bad/d" && cp "$png" "$TMP/bad/c/" && echo text >"$TMP/bad/d/notes.txt"
bad images_empty_class "bad/d: a class folder without image files"
expect_error images_resolution_not_multiple "--resolution 18: not a multiple of the VAE's factor 4" \
    "$CONVERT" images "$TMP/i/images" --vae "$W" --resolution 18 --out "$TMP/r18" --device cpu
