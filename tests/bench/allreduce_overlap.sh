#!/usr/bin/env bash
# Gradient all-reduce on the CPU backend, 2 ranks: buckets reduced with MPI_Iallreduce while the
# backward pass goes on (train.bucket_mb 25) against one reduction of everything after the
# backward pass (a bucket larger than the model: what train.bucket_mb 0 picks on the CPU). Same model and
# data (the demo's, on Fashion-MNIST), alternated twice; prints steps/s of each run and the ratio.
# Then the weak-scaling efficiency (the design's target: >= 90% across ranks): steps/s of 2 ranks
# against 1 rank with the same batch per rank and the same threads per rank, measured in the same run.
set -u
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
FMNIST=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
STEPS=${BENCH_STEPS:-40}
THREADS=${BENCH_THREADS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
tmp=$(mktemp -d /tmp/maskdit-bench-allreduce.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bin/maskdit-convert idx --images "$FMNIST/train-images-idx3-ubyte.gz" --labels "$FMNIST/train-labels-idx1-ubyte.gz" \
    --out "$tmp/data" --no-progress >/dev/null || { echo "allreduce_overlap: needs Fashion-MNIST in $FMNIST"; exit 1; }
run() {   # bucket_mb [ranks] -> steps/s over the steps after the first 10 (from metrics.jsonl)
    rm -rf "$tmp/r"
    OMP_NUM_THREADS=$THREADS mpirun -np "${2:-2}" --bind-to none bin/maskdit-train --config configs/demo/fmnist.yaml \
        --results_dir "$tmp/r" --set data.root="$tmp/data" --set train.max_num_steps="$STEPS" \
        --set train.bucket_mb="$1" --set log.log_every=10 --set log.ckpt_every=100000 >/dev/null 2>&1 || return 1
    /usr/bin/python3 -c "
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '\"train\"' in l][1:]
print('%.3f' % (sum(r['steps_per_sec'] for r in recs) / len(recs)))" "$tmp"/r/*/metrics.jsonl
}
printf 'all-reduce on 2 ranks x %d threads, demo model, %d steps per run\n' "$THREADS" "$STEPS"
for round in 1 2; do
    a=$(run 25) b=$(run 60000)
    printf 'round %d: overlapped buckets (25 MiB) %s steps/s, blocking after backward %s steps/s, ratio %s\n' \
        "$round" "$a" "$b" "$(/usr/bin/python3 -c "print('%.3f' % ($a / $b))")"
done
one=$(run 0 1) two=$(run 0 2)   # bucket_mb 0: the default choice
printf 'weak scaling, %d thread(s) per rank: 1 rank %s steps/s, 2 ranks %s steps/s, efficiency %s\n' "$THREADS" "$one" \
    "$two" "$(/usr/bin/python3 -c "print('%.0f%%' % (100 * $two / $one))")"
