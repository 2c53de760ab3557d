#!/usr/bin/env bash
# maskdit-convert from the command line: an LMDB in the original key format (made with mdb_load),
# conversion on 1 and 2 MPI ranks (byte-identical shards), resume, progress bar, info, verify,
# bench, and the messages of bad input (also when one rank of two fails: no hang).
source tests/cli/lib.sh
CONVERT="$BIN/maskdit-convert"

# make_lmdb DIR N [SKIP_KEY]: N samples of 8x4x4 float32 moments (mean 0.5 or 1, logvar -2),
# labels i % 3, key "length"; SKIP_KEY is left out.
make_lmdb() {
    local dir=$1 n=$2 skip=${3:-} i k half='\00\00\00\3f' one='\00\00\80\3f' m2='\00\00\00\c0'
    {
        for ((i = 0; i < n; i++)); do
            local mean=$half; ((i % 2)) && mean=$one
            local v=""
            for ((k = 0; k < 64; k++)); do v+=$mean; done
            for ((k = 0; k < 64; k++)); do v+=$m2; done
            [ "z-$i" != "$skip" ] && printf 'z-%d\n%s\n' "$i" "$v"
            [ "y-$i" != "$skip" ] && printf 'y-%d\n%d\n' "$i" $((i % 3))
        done
        printf 'length\n%d\n' "$n"
    } | mdb_load -T "$dir"
}

if ! command -v mdb_load >/dev/null; then
    fail lmdb_tools "mdb_load not found (Debian package lmdb-utils)"
    exit 0
fi
mkdir -p "$TMP/lmdb" "$TMP/lmdb-missing"
make_lmdb "$TMP/lmdb" 10
make_lmdb "$TMP/lmdb-missing" 10 z-7

out=$("$CONVERT" lmdb "$TMP/lmdb" --out "$TMP/one" --shard-size 3 2>&1)
if [ $? -eq 0 ] && [[ $out == *"100.0%"*"10/10"*"/s"*"took"* ]]; then pass convert_with_progress_bar
else fail convert_with_progress_bar "$out"; fi

expect_ok convert_on_two_ranks $MPIRUN -np 2 "$CONVERT" lmdb "$TMP/lmdb" --out "$TMP/two" --shard-size 3 --no-progress
same=1
for f in "$TMP"/one/*.h5; do cmp -s "$f" "$TMP/two/$(basename "$f")" || same=0; done
[ "$(ls "$TMP/one" | wc -l)" = 5 ] && [ $same = 1 ] && pass two_ranks_write_identical_files \
    || fail two_ranks_write_identical_files "$(ls "$TMP/one" "$TMP/two")"

out=$("$CONVERT" info "$TMP/two" 2>&1)
[[ $out == *"moments: 8 stored channels -> 4 model channels, 4x4, float16"* && $out == *"10 in 4 shards"* &&
   $out == *"classes      3"* ]] && pass info_summary || fail info_summary "$out"
expect_ok verify_two_rank_dataset $MPIRUN -np 2 "$CONVERT" verify "$TMP/two"

# Resume: an interrupted run left no index, one missing shard and a temporary; a rerun completes it.
rm "$TMP/two/shard-00002.h5" "$TMP/two/index.h5"
echo partial >"$TMP/two/shard-00002.h5.tmp"
expect_ok resume_on_two_ranks $MPIRUN -np 2 "$CONVERT" lmdb "$TMP/lmdb" --out "$TMP/two" --shard-size 3 --no-progress
same=1
for f in "$TMP"/one/*.h5; do cmp -s "$f" "$TMP/two/$(basename "$f")" || same=0; done
[ $same = 1 ] && [ ! -e "$TMP/two/shard-00002.h5.tmp" ] && pass resume_gives_the_same_files \
    || fail resume_gives_the_same_files "$(ls -l "$TMP/two")"

expect_error lmdb_missing_key "key z-7 is missing" "$CONVERT" lmdb "$TMP/lmdb-missing" --out "$TMP/bad" --no-progress
[ ! -e "$TMP/bad/index.h5" ] && ! ls "$TMP"/bad/shard-*.h5 >/dev/null 2>&1 && pass failed_conversion_leaves_no_complete_files \
    || fail failed_conversion_leaves_no_complete_files "$(ls -l "$TMP/bad")"
# A truncated data.mdb (a copy cut short) is named before liblmdb reads past its end (SIGBUS).
mkdir -p "$TMP/lmdb-cut" && make_lmdb "$TMP/lmdb-cut" 40 && truncate -s 16384 "$TMP/lmdb-cut/data.mdb"
expect_error lmdb_truncated "LMDB $TMP/lmdb-cut: the data file is truncated: 16384 bytes, but the environment uses" \
    "$CONVERT" lmdb "$TMP/lmdb-cut" --out "$TMP/bad-cut" --no-progress
# one rank of two fails (z-7 is in rank 0's shard 2 of 3-sample shards): the job ends, no hang
expect_error lmdb_missing_key_two_ranks "key z-7 is missing" timeout 120 $MPIRUN -np 2 "$CONVERT" lmdb \
    "$TMP/lmdb-missing" --out "$TMP/bad2" --shard-size 3 --no-progress

printf '\x00\x00\x08\x01\x00\x00\x00\x01\x05' >"$TMP/labels.idx"
expect_error idx_wrong_magic "labels.idx: wrong magic number 0x00000801, expected 0x00000803" \
    "$CONVERT" idx --images "$TMP/labels.idx" --labels "$TMP/labels.idx" --out "$TMP/idx"
expect_error unknown_command "unknown command 'lmbd'" "$CONVERT" lmbd x
expect_error unknown_option "unknown option '--shards'" "$CONVERT" lmdb "$TMP/lmdb" --shards 3
out=$("$CONVERT" lmdb --help 2>&1); rc=$?
[ $rc -eq 0 ] && [[ $out == "usage: maskdit-convert lmdb LMDB --out DIR"* && $out == *"--channels N"* &&
    $out == *"--shard-size N"* ]] && pass help || fail help "exit $rc: $out"

cp -r "$TMP/one" "$TMP/damaged"
truncate -s 3000 "$TMP/damaged/shard-00001.h5"
expect_error verify_truncated_shard "shard-00001.h5: cannot open as HDF5: truncated or damaged shard" \
    "$CONVERT" verify "$TMP/damaged"
expect_error verify_not_a_dataset "index.h5: missing" "$CONVERT" verify "$TMP/lmdb"

out=$($MPIRUN -np 2 "$CONVERT" bench "$TMP/one" --batch 4 --seconds 1 2>&1)
[[ $out == *"rank 1: "*" samples/s"* && $out == *"slowest rank"* ]] && pass bench_two_ranks || fail bench_two_ranks "$out"

# NumPy's own files: numpy.save, numpy.savez (stored) and numpy.savez_compressed (deflated, other
# key names) of the same arrays give byte-identical datasets (the values are checked against the
# arrays in test_data_convert).
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 - "$TMP" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
x = rng.standard_normal((37, 8, 6, 6)).astype(np.float32)
y = rng.integers(0, 4, 37)
np.save(f"{d}/x.npy", x); np.save(f"{d}/y.npy", y)
np.savez(f"{d}/plain.npz", x, y)
np.savez_compressed(f"{d}/packed.npz", moments=x, classes=y)
PY
    common="--kind moments --shard-size 10 --source arrays --no-progress"
    expect_ok npy_from_numpy "$CONVERT" npy --data "$TMP/x.npy" --labels "$TMP/y.npy" --out "$TMP/np-npy" $common
    # a label out of range is reported against the labels file, not the data file
    expect_error npy_label_names_labels_file "$TMP/y.npy: label 3 of sample" \
        "$CONVERT" npy --data "$TMP/x.npy" --labels "$TMP/y.npy" --num-classes 3 --out "$TMP/np-bad" $common
    expect_ok npz_from_numpy_savez $MPIRUN -np 2 "$CONVERT" npz "$TMP/plain.npz" --out "$TMP/np-plain" $common
    expect_ok npz_from_numpy_savez_compressed $MPIRUN -np 2 "$CONVERT" npz "$TMP/packed.npz" --data-key moments \
        --labels-key classes --out "$TMP/np-packed" $common
    same=1
    for f in "$TMP"/np-npy/*.h5; do
        cmp -s "$f" "$TMP/np-plain/$(basename "$f")" && cmp -s "$f" "$TMP/np-packed/$(basename "$f")" || same=0
    done
    [ $same = 1 ] && [ "$(ls "$TMP/np-npy" | wc -l)" = 5 ] && [ -z "$(ls -A "$TMP/np-packed" | grep extracted)" ] \
        && pass npy_npz_identical || fail npy_npz_identical "$(ls -la "$TMP"/np-*)"
else
    # python3-numpy is in the Makefile's DEBIAN_PACKAGES: its absence is a broken setup, not a skip.
    fail npy_npz_identical "numpy for /usr/bin/python3 is missing (package python3-numpy, make deps)"
fi
