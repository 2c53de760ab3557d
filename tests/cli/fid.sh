# maskdit-fid with the formula weights of tests/golden/make_inception.py written as a legacy
# torch.save file (MASKDIT_INCEPTION_PTH, default ../shared/golden/inception_formula.pth): stats of the two 40x56 golden images
# against the mean and covariance of pytorch-fid's features for them (tests/golden/
# inception_parity.npz, read by NumPy), the same statistics on 1 and 2 ranks, compare (FID and
# sFID 0 between equal statistics; the FID of the golden fid_cases statistics against scipy's), and
# every refusal by its message. Without the .pth (95 MB, made by make_inception.py --pth) the same
# weights come as safetensors from bin/tests/test_inception --write-formula.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-tests/golden}
export OMP_NUM_THREADS=1
FID=$BIN/maskdit-fid
W=${MASKDIT_INCEPTION_PTH:-../shared/golden/inception_formula.pth}   # 95 MB: not committed
PY=/usr/bin/python3

# the two golden 40x56 images as an ADM sample batch, plus a compressed copy, a grey one, the grey
# one as RGB, one with two channels and one without arr_0
$PY - "$TMP" <<'EOF_PY'
import sys
import numpy as np
sys.path.insert(0, "tests/golden")
from make_inception import image_bytes
imgs = np.stack([image_bytes(k, 40, 56) for k in range(2)])
np.savez(sys.argv[1] + "/two.npz", arr_0=imgs)
np.savez_compressed(sys.argv[1] + "/compressed.npz", arr_0=imgs)
np.savez(sys.argv[1] + "/grey.npz", arr_0=imgs[..., 0])
np.savez(sys.argv[1] + "/grey_rgb.npz", arr_0=np.repeat(imgs[..., :1], 3, axis=3))
np.savez(sys.argv[1] + "/two_channels.npz", arr_0=imgs[..., :2])
np.savez(sys.argv[1] + "/other.npz", images=imgs)
EOF_PY

# without the legacy .pth, the same formula weights as safetensors, written by the C test
if [ ! -r "$W" ]; then
    W=$TMP/inception_formula.safetensors
    $BIN/tests/test_inception --write-formula "$W" || fail write_formula_weights
fi

stats() {   # OUT WORLD
    $MPIRUN -np "$2" $FID stats --inception "$W" --npz "$TMP/two.npz" --out "$1" --batch 1 --device cpu \
        >"$1.log" 2>&1
}
if stats "$TMP/s1.npz" 1 && stats "$TMP/s2.npz" 2; then
    if out=$($PY - "$TMP" <<'EOF_PY' 2>&1
import sys
import numpy as np
g = np.load("tests/golden/inception_parity.npz")
s1, s2 = np.load(sys.argv[1] + "/s1.npz"), np.load(sys.argv[1] + "/s2.npz")
def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)
# limits: mu 1e-5 as the features; sigma 1e-4: the covariance of 2 images is the outer product of
# their difference, whose relative error is the features' (2e-7) times |x| / |x0 - x1|;
# 1 vs 2 ranks 1e-9 (float64 summation order)
limits = []
for mu, sigma, key in (("mu", "sigma", "pool"), ("mu_s", "sigma_s", "spatial")):
    feats = g[key][:2]
    assert s1[mu].dtype == np.float64 and s1[sigma].shape == (feats.shape[1],) * 2
    limits += [(rel(s1[mu], feats.mean(0)), 1e-5), (rel(s1[sigma], np.cov(feats, rowvar=False)), 1e-4)]
    limits += [(rel(s2[mu], s1[mu]), 1e-9), (rel(s2[sigma], s1[sigma]), 1e-9)]
assert all(e <= limit for e, limit in limits), limits
EOF_PY
    ); then pass stats_match_pytorch_fid_on_1_and_2_ranks; else fail stats_match_pytorch_fid_on_1_and_2_ranks "$out"; fi
else
    fail stats_match_pytorch_fid_on_1_and_2_ranks "$(cat "$TMP/s1.npz.log" "$TMP/s2.npz.log" 2>/dev/null)"
fi

out=$($FID compare "$TMP/s1.npz" "$TMP/s2.npz" 2>&1)
if [[ $out =~ ^FID\ (-?0\.0000[0-9]*)$'\n'sFID\ (-?0\.0000[0-9]*)$ ]]; then pass compare_equal_statistics
else fail compare_equal_statistics "$out"; fi

# the golden statistics of tests/golden/fid_cases.npz: a against itself gives 0, no sFID line
$PY -c "
import numpy as np, sys
g = np.load('tests/golden/fid_cases.npz')
np.savez(sys.argv[1] + '/a.npz', mu=g['mu_a'], sigma=g['sigma_a'])
np.savez(sys.argv[1] + '/nan.npz', mu=g['mu_a'], sigma=np.where(np.eye(48) > 0, np.nan, g['sigma_a']))
" "$TMP"
out=$($FID compare "$TMP/a.npz" "$TMP/a.npz" 2>&1)
if [[ $out =~ ^FID\ -?0\.0000[0-9]*$ ]]; then pass compare_without_sfid; else fail compare_without_sfid "$out"; fi

expect_error refuses_mismatched_sizes "48 and 2048 features" $FID compare "$TMP/a.npz" "$TMP/s1.npz"
expect_error refuses_nan "NaN" $FID compare "$TMP/a.npz" "$TMP/nan.npz"
expect_error refuses_a_file_without_mu "no array mu" $FID compare "$TMP/two.npz" "$TMP/s1.npz"
expect_error refuses_compressed_images "compressed" $FID stats --inception "$W" --npz "$TMP/compressed.npz" \
    --out "$TMP/x.npz" --device cpu
expect_error refuses_images_without_arr_0 "no array arr_0" $FID stats --inception "$W" --npz "$TMP/other.npz" \
    --out "$TMP/x.npz" --device cpu
# grayscale: the value repeated in the three channels, the same statistics bit for bit
grey() { $FID stats --inception "$W" --npz "$TMP/$1.npz" --out "$TMP/s_$1.npz" --device cpu >"$TMP/$1.log" 2>&1; }
if grey grey && grey grey_rgb && cmp -s "$TMP/s_grey.npz" "$TMP/s_grey_rgb.npz"; then pass grey_images_as_rgb
else fail grey_images_as_rgb "$(cat "$TMP/grey.log" "$TMP/grey_rgb.log")"; fi
expect_error refuses_two_channels "expected uint8 images [N, H, W, 3]" $FID stats --inception "$W" \
    --npz "$TMP/two_channels.npz" --out "$TMP/x.npz" --device cpu
expect_error refuses_num_above_count "holds only 2 images" $FID stats --inception "$W" --npz "$TMP/two.npz" \
    --out "$TMP/x.npz" --num 3 --device cpu
expect_error refuses_fewer_than_2 "--num" $FID stats --inception "$W" --npz "$TMP/two.npz" --out "$TMP/x.npz" \
    --num 1 --device cpu
expect_error refuses_other_weights "missing tensor Conv2d_1a_3x3.conv.weight" $FID stats \
    --inception "$GOLDEN_DIR/vae_tiny.pth" --npz "$TMP/two.npz" --out "$TMP/x.npz" --device cpu
