#!/usr/bin/env bash
# The KL-f8 VAE at 256x256 on the CPU: MaskDiT-C (bin/bench/bench_vae) next to diffusers'
# AutoencoderKL in PyTorch (fp32), both at 1 and 2 threads, in the same run. PyTorch is the
# default python3's (torch and diffusers from PyPI); without them only our numbers are printed.
set -u
cd "$(dirname "$0")/../.."
SIZE=${VAE_BENCH_SIZE:-256}
for t in 1 2; do
    OMP_NUM_THREADS=$t bin/bench/bench_vae --size "$SIZE" --threads $t --repeat 3 2>&1 | sed "s/^/[maskdit-c threads=$t] /"
done
if python3 -c 'import torch, diffusers' 2>/dev/null; then
    for t in 1 2; do python3 tests/bench/vae_torch.py --threads $t --size "$SIZE" --repeat 3 2>&1 | tail -n 1; done
else
    echo "PyTorch side skipped: the default python3 cannot import torch and diffusers (pip install torch diffusers)"
fi
