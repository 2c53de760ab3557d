#!/usr/bin/env bash
# maskdit-convert wds throughput per rank (issue 14's targets: >= 20,000 samples/s for 8x32x32
# moments, >= 1 GB/s of tar data (or the disk's read rate) for 8x64x64): tars of random float32
# moments pickled at protocol 4 as lmdb2wds.py writes them, 1,000 samples per tar, converted to
# float16 shards from the page cache; the time includes listing the tars and reading the labels.
#   RANKS=2 N32=16384 N64=4096 bash tests/bench/wds.sh
set -u
cd "$(dirname "$0")/../.."
RANKS=${RANKS:-1}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
work=$(mktemp -d /tmp/maskdit-bench-wds.XXXXXX)
trap 'rm -rf "$work"' EXIT

for spec in "32 ${N32:-16384}" "64 ${N64:-4096}"; do
    set -- $spec
    res=$1 n=$2
    /usr/bin/python3 - "$work/t$res" "$n" "$res" <<'PYEOF' || exit 1
import io, os, pickle, sys, tarfile
import numpy as np
out, n, res = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out)
x = np.random.default_rng(0).standard_normal((8, res, res)).astype(np.float32)
latent = pickle.dumps(x, protocol=4)
for first in range(0, n, 1000):
    with tarfile.open(f"{out}/train-{first // 1000:04d}.tar", "w") as tar:
        for i in range(first, min(n, first + 1000)):
            for ext, data in (("latent", latent), ("cls", str(i % 1000).encode())):
                info = tarfile.TarInfo(f"{i:08d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
PYEOF
    cat "$work/t$res"/*.tar >/dev/null
    bytes=$(cat "$work/t$res"/*.tar | wc -c)
    t0=$(date +%s.%N)
    $MPIRUN -np "$RANKS" bin/maskdit-convert wds "$work/t$res"/*.tar --out "$work/out$res" --no-progress || exit 1
    t1=$(date +%s.%N)
    awk -v n="$n" -v b="$bytes" -v t0="$t0" -v t1="$t1" -v r="$RANKS" -v res="$res" 'BEGIN {
        s = t1 - t0
        printf "wds 8x%dx%d: %d samples on %d rank(s) in %.2f s: %.0f samples/s per rank, %.2f GB/s of tar data per rank\n",
               res, res, n, r, s, n / s / r, b / s / r / 1e9 }'
    rm -rf "$work/t$res" "$work/out$res"
done
