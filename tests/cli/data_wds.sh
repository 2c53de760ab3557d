#!/usr/bin/env bash
# maskdit-convert wds: WebDataset tar shards of VAE moments (the original's lmdb2wds.py layout).
# Tars made here by tests/tools/make_wds.py (tarfile + pickle at protocols 2-5 with Debian's NumPy:
# numpy.core names; GNU, pax and ustar long names; Fortran-ordered arrays; samples out of key order
# across and within tars) and the committed tests/golden/wds/webdataset.tar (written by the
# webdataset package, NumPy 2: numpy._core names); each converted dataset is read back with h5py and
# compared with the arrays Python pickled. Then 2 ranks, resume, bad input by message, and what
# maskdit-train makes of train.xflip with and without stored mirrors (xflip_included).
source tests/cli/lib.sh
CONVERT="$BIN/maskdit-convert"
PY=/usr/bin/python3

if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
    fail wds_prerequisites "$PY with numpy and h5py is needed (Debian python3-numpy, python3-h5py)"
    exit 0
fi
$PY tests/tools/make_wds.py "$TMP/w" || { fail wds_make_tars "tests/tools/make_wds.py failed"; exit 0; }

# same_as_expected NAME DATASET EXPECTED.npz: every sample and label, exactly (float32 storage)
same_as_expected() {
    local out
    out=$($PY - "$2" "$3" <<'PYEOF' 2>&1
import sys, h5py, numpy as np
d, e = sys.argv[1], np.load(sys.argv[2])
rows = h5py.File(f"{d}/index.h5", "r")["shard_rows"][:]
xs, ys = [], []
for s in range(len(rows)):
    with h5py.File(f"{d}/shard-{s:05d}.h5", "r") as f:
        xs.append(f["latents"][:]); ys.append(f["labels"][:])
x, y = np.concatenate(xs), np.concatenate(ys)
assert x.dtype == np.float32 and x.shape == e["x"].shape, (x.dtype, x.shape)
assert np.array_equal(x, e["x"]), "latents differ"
assert np.array_equal(y, e["y"]), f"labels {y} != {e['y']}"
print("same")
PYEOF
)
    [ "$out" = same ] && pass "$1" || fail "$1" "$out"
}

good=("$TMP"/w/good/p2.tar "$TMP"/w/good/p3.tar "$TMP"/w/good/p4.tar "$TMP"/w/good/p5.tar)
out=$("$CONVERT" wds "${good[@]}" --out "$TMP/one" --dtype float32 --shard-size 5 2>&1)
if [ $? -eq 0 ] && [[ $out == *"100.0%"*"12/12"*"/s"*"took"* ]]; then pass wds_convert_with_progress
else fail wds_convert_with_progress "$out"; fi
same_as_expected wds_protocols_2_to_5_numpy_core "$TMP/one" "$TMP/w/good/expected.npz"

expect_ok wds_convert_two_ranks $MPIRUN -np 2 "$CONVERT" wds "${good[@]}" --out "$TMP/two" --dtype float32 \
    --shard-size 5 --no-progress
same=1
for f in "$TMP"/one/*.h5; do cmp -s "$f" "$TMP/two/$(basename "$f")" || same=0; done
[ "$(ls "$TMP"/two/*.h5 | wc -l)" = 4 ] && [ $same = 1 ] && pass wds_two_ranks_identical \
    || fail wds_two_ranks_identical "$(ls "$TMP/one" "$TMP/two")"

rm "$TMP/two/shard-00001.h5" "$TMP/two/index.h5"
expect_ok wds_resume $MPIRUN -np 2 "$CONVERT" wds "${good[@]}" --out "$TMP/two" --dtype float32 --shard-size 5 \
    --no-progress
same=1
for f in "$TMP"/one/*.h5; do cmp -s "$f" "$TMP/two/$(basename "$f")" || same=0; done
[ $same = 1 ] && pass wds_resume_same_files || fail wds_resume_same_files "$(ls -l "$TMP/two")"
rm "$TMP/two/shard-00001.h5"
# p3.tar again with other labels: still a valid input, but not the one the kept shards came from
$PY - "${good[1]}" "$TMP/p3-changed.tar" <<'PYEOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w") as dst:
    for m in src.getmembers():
        data = src.extractfile(m).read()
        if m.name.endswith(".cls"):
            data = b"9"
            m.size = 1
        dst.addfile(m, io.BytesIO(data))
PYEOF
expect_error wds_resume_refuses_changed_input "has changed since" "$CONVERT" wds "${good[0]}" "$TMP/p3-changed.tar" \
    "${good[2]}" "${good[3]}" --out "$TMP/two" --dtype float32 --shard-size 5 --no-progress
cp "${good[0]}" "$TMP/p2-copy.tar"

# the same members re-packed by GNU tar in its own and in the POSIX (pax) format, in one tar each
mkdir -p "$TMP/x" && for t in "${good[@]}"; do tar -xf "$t" -C "$TMP/x"; done
for format in gnu posix; do
    tar -cf "$TMP/$format.tar" --format=$format -C "$TMP/x" .
    expect_ok "wds_gnu_tar_$format" "$CONVERT" wds "$TMP/$format.tar" --out "$TMP/$format" --dtype float32 --no-progress
    same_as_expected "wds_gnu_tar_${format}_same" "$TMP/$format" "$TMP/w/good/expected.npz"
done

expect_ok wds_webdataset_package "$CONVERT" wds tests/golden/wds/webdataset.tar --out "$TMP/web" --dtype float32 \
    --no-progress
same_as_expected wds_webdataset_numpy2_names "$TMP/web" tests/golden/wds/webdataset_expected.npz

bad="$TMP/w/bad"
k=0
while IFS='|' read -r name file message; do
    k=$((k + 1))
    expect_error "$name" "$file: $message" "$CONVERT" wds "$bad/$file" --out "$TMP/bad$k" --no-progress
done <<'CASES'
wds_truncated_member|truncated.tar|member b.latent is truncated
wds_not_an_array|notarray.tar|b.latent: the pickle holds {'z': 1}, not a NumPy array
wds_wrong_shape|shape.tar|b.latent: array of shape [8, 4, 5], expected [8, 4, 4]
wds_wrong_dtype|dtype.tar|a.latent: array of dtype <f8, expected float32
wds_latent_without_cls|nocls.tar|sample b has a .latent but no .cls
wds_bad_label|badcls.tar|a.cls: expected a class index as decimal text
wds_out_of_band_buffer|outofband.tar|a.latent: out-of-band buffer
CASES
expect_error wds_not_a_tar "expected.npz: damaged tar header at offset 0" \
    "$CONVERT" wds "$TMP/w/good/expected.npz" --out "$TMP/b7" --no-progress
expect_error wds_same_key_twice "is in two tars" \
    "$CONVERT" wds "${good[0]}" "$TMP/p2-copy.tar" --out "$TMP/b8" --no-progress
expect_error wds_no_tars "give the tar shards" "$CONVERT" wds --out "$TMP/b9"
# the failing sample is in rank 1's shard: the job ends with the message, no hang
expect_error wds_wrong_shape_two_ranks "b.latent: array of shape [8, 4, 5]" timeout 120 $MPIRUN -np 2 \
    "$CONVERT" wds "$bad/shape.tar" --out "$TMP/b10" --shard-size 1 --no-progress

# train.xflip x xflip_included (docs/data-format.md) on the webdataset tar's 8 moments: stored
# mirrors -> all 8 with xflip, the first 4 without, no warning; no stored mirrors + xflip -> the
# warning that mirrored latents are an approximation.
expect_ok wds_with_stored_mirrors "$CONVERT" wds tests/golden/wds/webdataset.tar --out "$TMP/mirrored" --num-classes 10 \
    --xflip-included --no-progress
expect_ok wds_without_stored_mirrors "$CONVERT" wds tests/golden/wds/webdataset.tar --out "$TMP/plain" \
    --num-classes 10 --no-progress
train_says() {   # NAME DATASET XFLIP EXPECTED-TEXT [UNEXPECTED-TEXT]
    local out
    tiny_train_config "$TMP/$1.yaml" "$2" data.resolution=4 data.num_channels=4 model.in_size=4 model.in_channels=4 \
        model.model_type=DiT-S/2 train.batchsize=4 train.max_num_steps=1 train.xflip="$3"
    out=$($BIN/maskdit-train --config "$TMP/$1.yaml" --results_dir "$TMP/run-$1" 2>&1)
    if [[ $out == *"$4"* && ( -z ${5:-} || $out != *"$5"* ) ]]; then pass "$1"; else fail "$1" "$(echo "$out" | tail -n 5)"; fi
}
train_says train_xflip_uses_stored_mirrors "$TMP/mirrored" true "Dataset contains 8 images" "warning: train.xflip"
train_says train_no_xflip_first_half "$TMP/mirrored" false "Dataset contains 4 images" "warning: train.xflip"
train_says train_xflip_warns_on_latents "$TMP/plain" true "warning: train.xflip mirrors the stored latents"
train_says train_no_xflip_no_warning "$TMP/plain" false "Dataset contains 8 images" "warning: train.xflip"
