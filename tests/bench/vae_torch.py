"""The PyTorch side of tests/bench/vae_vs_pytorch.sh (CPU, fp32) and of tests/gpu/run.sh (CUDA,
bf16 autocast): diffusers' AutoencoderKL in the KL-f8 architecture (the weights do not change the
time: default initialisation); decode and encode of a batch at a size, median of --repeat after a
warm-up, and the peak memory (the process's resident set on the CPU, the allocator's peak on a GPU).

    python3 vae_torch.py --threads 2 --size 256 --batch 1 --repeat 3
    python3 vae_torch.py --threads 1 --no-onednn        (oneDNN's convolutions off)
    python3 vae_torch.py --device cuda --bf16 --size 512 --batch 8 --repeat 5
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
ap.add_argument('--device', default='cpu')
ap.add_argument('--bf16', action='store_true', help='autocast to bfloat16 (GPU)')
ap.add_argument('--no-onednn', action='store_true', help="CPU: PyTorch's own im2col + SGEMM convolutions")
a = ap.parse_args()
torch.backends.mkldnn.enabled = not a.no_onednn
torch.set_num_threads(a.threads)
dev = torch.device(a.device)
vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                    down_block_types=['DownEncoderBlock2D'] * 4, up_block_types=['UpDecoderBlock2D'] * 4).eval().to(dev)
z = torch.randn(a.batch, 4, a.size // 8, a.size // 8, device=dev)
x = torch.randn(a.batch, 3, a.size, a.size, device=dev) * 0.5


def sync():
    if dev.type == 'cuda':
        torch.cuda.synchronize()


def median_seconds(fn):
    fn()
    sync()
    t = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        t.append(time.perf_counter() - t0)
    return sorted(t)[len(t) // 2]


with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
    dec = median_seconds(lambda: vae.decode(z).sample)
    enc = median_seconds(lambda: vae.encode(x).latent_dist.parameters)
if dev.type == 'cuda':
    peak = torch.cuda.max_memory_allocated() / 2 ** 20
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print('pytorch %s %s%s threads=%d size=%d batch=%d: decode %.1f ms/image (%.2f images/s), encode %.1f ms/image, '
      'peak memory %.0f MiB' % (torch.__version__, a.device, ' bf16' if a.bf16 else ' fp32', a.threads, a.size, a.batch,
                                dec * 1e3 / a.batch, a.batch / dec, enc * 1e3 / a.batch, peak))
