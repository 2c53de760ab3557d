#!/usr/bin/env bash
# Benchmarks (never tests): `make bench`. Each prints its own numbers; ratios are taken against a
# baseline measured in the same run, because these machines are shared and noisy.
#   bash tests/bench/run.sh            all benchmarks
#   bash tests/bench/run.sh step       only those whose name contains "step"
set -u
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
PATTERN=${1:-}

want() { [ -z "$PATTERN" ] || [[ $1 == *"$PATTERN"* ]]; }

if want step; then
    bash tests/bench/step_vs_pytorch.sh
fi

if want reader; then
    bash tests/bench/reader.sh
fi

if want allreduce; then
    bash tests/bench/allreduce_overlap.sh
fi

if want vae; then
    bash tests/bench/vae_vs_pytorch.sh
fi

if want ckpt; then
    # CKPT_BENCH_ARGS="--model-type DiT-XL/2 --dir /scratch" for the size of the original's runs
    mpirun -np 2 bin/bench/bench_ckpt ${CKPT_BENCH_ARGS:-}
fi
