"""The PyTorch side of tests/bench/vae_vs_pytorch.sh: diffusers' AutoencoderKL in the KL-f8
architecture (the weights do not change the time: default initialisation), fp32 on the CPU, at
one thread count; decode and encode of a batch at a size, median of --repeat after a warm-up, and
the process's peak resident memory.

    python3 vae_torch.py --threads 2 --size 256 --batch 1 --repeat 3
"""
import argparse
import resource
import time

import torch
from diffusers import AutoencoderKL

ap = argparse.ArgumentParser()
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--size', type=int, default=256)
ap.add_argument('--batch', type=int, default=1)
ap.add_argument('--repeat', type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(a.threads)
vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                    down_block_types=['DownEncoderBlock2D'] * 4, up_block_types=['UpDecoderBlock2D'] * 4).eval()
z = torch.randn(a.batch, 4, a.size // 8, a.size // 8)
x = torch.randn(a.batch, 3, a.size, a.size) * 0.5


def median_seconds(fn):
    fn()
    t = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return sorted(t)[len(t) // 2]


with torch.inference_mode():
    dec = median_seconds(lambda: vae.decode(z).sample)
    enc = median_seconds(lambda: vae.encode(x).latent_dist.parameters)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print('pytorch %s threads=%d: decode %.1f ms/image, encode %.1f ms/image, peak memory %.0f MiB'
      % (torch.__version__, a.threads, dec * 1e3 / a.batch, enc * 1e3 / a.batch, peak))
