#!/usr/bin/env bash
# The training reader's throughput per rank (issue 3's target: >= 20,000 samples/s for 8x32x32
# float16 moments from the page cache; a GPU consumes about 1,000/s): synthetic 8-channel moments
# at 32x32 and 64x64, stored as float16 and float32, read in random global order with fresh
# latents and prefetch, after a pass that puts the files in the page cache.
#   RANKS=2 SECONDS_EACH=3 bash tests/bench/reader.sh
set -u
cd "$(dirname "$0")/../.."
RANKS=${RANKS:-1}
SECONDS_EACH=${SECONDS_EACH:-3}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
work=$(mktemp -d /tmp/maskdit-bench-reader.XXXXXX)
trap 'rm -rf "$work"' EXIT

# make_npy FILE N C R: a .npy of random unsigned bytes [N, C, R, R] (values do not change the
# reader's cost; bytes need no Python to generate).
make_npy() {
    local file=$1 n=$2 c=$3 r=$4
    local dict="{'descr': '|u1', 'fortran_order': False, 'shape': ($n, $c, $r, $r), }"
    local total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 ))
    local len=$((total - 10)) pad
    pad=$(printf '%*s' $((total - 10 - ${#dict} - 1)) '')
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
        printf '%s%s\n' "$dict" "$pad"
        head -c $((n * c * r * r)) /dev/urandom
    } >"$file"
}

for spec in "32 16384" "64 4096"; do
    set -- $spec
    res=$1 n=$2
    make_npy "$work/m$res.npy" "$n" 8 "$res"
    for dtype in float16 float32; do
        out="$work/m$res-$dtype"
        bin/maskdit-convert npy --data "$work/m$res.npy" --kind moments --dtype "$dtype" --out "$out" --no-progress \
            || exit 1
        cat "$out"/*.h5 >/dev/null
        $MPIRUN -np "$RANKS" bin/maskdit-convert bench "$out" --seconds "$SECONDS_EACH" | sed "s|$work/||"
    done
    rm -f "$work/m$res.npy"
done
