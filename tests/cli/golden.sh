# Golden parity of the whole model (forward, loss, gradients, unmasked path, guidance) against
# the PyTorch original: the tiny file and the variants in tests/golden/ (unconditional,
# no decoder, patch 4 / 3 channels). maskdit-golden prints one PASS/FAIL line per quantity.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-tests/golden}

# The committed golden files are the ones their checksums name (copies of ../shared/golden/ from
# ../shared/reference/make_golden.py; tests/golden/README.md describes them).
if out=$(cd tests/golden && sha256sum -c --quiet SHA256SUMS 2>&1); then pass golden_checksums
else fail golden_checksums "$out"; fi

for f in "$GOLDEN_DIR/maskdit_tiny.h5" $(ls tests/golden/maskdit_*.h5 | grep -v /maskdit_tiny.h5); do
    out=$($BIN/maskdit-golden "$f" 2>&1); rc=$?
    echo "$out" | sed "s|^\(PASS\|FAIL\) |\1 $(basename "$f" .h5): |"
    if [ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL'; then fail "golden $(basename "$f")" "exit $rc: $out"; fi
done

# Bad input: a missing file, a file that is not a golden file, a golden file missing a dataset.
expect_error golden_missing_file "no-such.h5: cannot open" $BIN/maskdit-golden "$TMP/no-such.h5"
echo "not hdf5" >"$TMP/text.h5"
expect_error golden_not_hdf5 "not an HDF5 file" $BIN/maskdit-golden "$TMP/text.h5"
cp "$GOLDEN_DIR/maskdit_tiny.h5" "$TMP/partial.h5" && chmod u+w "$TMP/partial.h5"
/usr/bin/python3 -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); del f['forward/enc_out']" "$TMP/partial.h5"
expect_error golden_missing_dataset "dataset /forward/enc_out is missing" $BIN/maskdit-golden "$TMP/partial.h5"
expect_error golden_bad_flag "unknown option '--frobnicate' (see maskdit-golden --help)" $BIN/maskdit-golden --frobnicate
