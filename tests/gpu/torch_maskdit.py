"""MaskDiT training step in PyTorch on a GPU, the baseline of tests/gpu/run.sh's benchmark table.

The model of the original code (DiT blocks with adaLN-Zero, the MaskDiT decoder, EDM
preconditioning, the masked denoising loss + 0.1 x MAE loss), with the original state_dict names,
trained the way the original trains it: automatic mixed precision (autocast, bf16 here: the
original's fp16 AMP needs a loss scaler that bf16 does not), fp32 master weights, fused AdamW (the
original uses apex FusedAdam, the same update), attention through
torch.nn.functional.scaled_dot_product_attention (what timm's Attention, used by the original,
calls). One step = fresh noise, sigma, labels and mask on the GPU; forward; loss; backward; AdamW.
EMA and data loading are left out, as in maskdit-bench.

  python3 tests/gpu/torch_maskdit.py --model_type DiT-XL/2 --input_size 32 --batch 32

Prints one line per run:
  RESULT torch model=DiT-XL/2 input=32 batch=32 ms=... images_s=... tflops=... mfu=... peak_gib=...
FLOPs are counted with the formula of src/model/flops.c (matrix products only: 6 MKN per Linear,
4 MKN for the patch embedding, 12 N T^2 E per attention layer), MFU against --peak_tflops.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_TYPES = {'DiT-XL/2': (28, 1152, 2, 16), 'DiT-L/2': (24, 1024, 2, 16), 'DiT-B/2': (12, 768, 2, 12),
               'DiT-S/2': (12, 384, 2, 6)}


def sincos_pos_embed(width, grid):
    """(grid*grid, width): [sin(j w), cos(j w), sin(i w), cos(i w)], w_k = 10000^(-k/(width/4))."""
    w = 1.0 / 10000 ** (torch.arange(width // 4, dtype=torch.float64) / (width / 4))
    i, j = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                          indexing='ij')
    aj, ai = j.reshape(-1, 1) * w, i.reshape(-1, 1) * w
    return torch.cat([aj.sin(), aj.cos(), ai.sin(), ai.cos()], 1).float()


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def attention_core(q, k, v):
    if hasattr(F, 'scaled_dot_product_attention'):
        return F.scaled_dot_product_attention(q, k, v)
    return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v   # torch < 2.0 (CPU smoke test)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        N, T, C = x.shape
        q, k, v = self.qkv(x).reshape(N, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(attention_core(q, k, v).transpose(1, 2).reshape(N, T, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class DiTBlock(nn.Module):
    def __init__(self, dim, cond, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond, 6 * dim))

    def forward(self, x, c):
        sa, ca, ga, sm, cm, gm = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + ga.unsqueeze(1) * self.attn(modulate(self.norm1(x), sa, ca))
        return x + gm.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sm, cm))


class ModulatedLinear(nn.Module):
    """The original's DecoderLayer / FinalLayer: LN, adaLN shift/scale, Linear."""

    def __init__(self, dim, cond, out):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class TimestepEmbedder(nn.Module):
    def __init__(self, dim, freq=256):
        super().__init__()
        self.freq = freq
        self.mlp = nn.Sequential(nn.Linear(freq, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        half = self.freq // 2
        dt = self.mlp[0].weight.dtype
        f = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=dt) / half)
        a = t.to(f.dtype)[:, None] * f[None]
        return self.mlp(torch.cat([a.cos(), a.sin()], 1))


class PatchEmbed(nn.Module):
    def __init__(self, p, cin, dim):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, p, p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class LabelEmbedder(nn.Module):
    def __init__(self, classes, dim):
        super().__init__()
        self.embedding_table = nn.Linear(classes, dim, bias=False)   # one-hot rows, zero row = null label


class MaskDiT(nn.Module):
    def __init__(self, input_size, p, cin, D, depth, heads, classes=1000, Dd=512, dec_depth=8, dec_heads=16,
                 mlp_ratio=4.0):
        super().__init__()
        self.p, self.cin, self.grid = p, cin, input_size // p
        L = self.grid ** 2
        self.register_buffer('pos_embed', sincos_pos_embed(D, self.grid)[None])
        self.register_buffer('decoder_pos_embed', sincos_pos_embed(Dd, self.grid)[None])
        self.mask_token = nn.Parameter(torch.randn(1, 1, Dd) * 0.02)
        self.x_embedder = PatchEmbed(p, cin, D)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(classes, D)
        self.blocks = nn.ModuleList([DiTBlock(D, D, heads, mlp_ratio) for _ in range(depth)])
        self.decoder_layer = ModulatedLinear(D, D, Dd)
        self.decoder_blocks = nn.ModuleList([DiTBlock(Dd, D, dec_heads, mlp_ratio) for _ in range(dec_depth)])
        self.final_layer = ModulatedLinear(Dd, D, p * p * cin)
        self.L = L

    def forward(self, x, t, y, ids_keep, ids_restore):
        h = self.x_embedder(x) + self.pos_embed
        N, L, D = h.shape
        h = torch.gather(h, 1, ids_keep[..., None].expand(-1, -1, D))
        c = self.t_embedder(t) + self.y_embedder.embedding_table(y)
        for b in self.blocks:
            h = b(h, c)
        h = self.decoder_layer(h, c)
        Dd = h.shape[2]
        h = torch.cat([h, self.mask_token.to(h.dtype).expand(N, L - h.shape[1], Dd)], 1)
        h = torch.gather(h, 1, ids_restore[..., None].expand(-1, -1, Dd)) + self.decoder_pos_embed
        for b in self.decoder_blocks:
            h = b(h, c)
        h = self.final_layer(h, c)                                     # (N, L, p*p*C), (a, b, c) order
        g, p, C = self.grid, self.p, self.cin
        return h.reshape(N, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(N, C, g * p, g * p)


class EDMPrecond(nn.Module):
    """The original's outer module: its state_dict names are model.<...>."""

    def __init__(self, **kw):
        super().__init__()
        self.model = MaskDiT(**kw)


def patchify(x, p):
    N, C, H, W = x.shape
    return x.reshape(N, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1).reshape(N, (H // p) * (W // p), -1)


def training_loss(net, images, labels, keep_len, sd=0.5, mae_coef=0.1):
    """EDM loss over the kept patches + mae_coef x MAE loss over the removed ones, per sample;
    net is the inner MaskDiT."""
    N = images.shape[0]
    sigma = (torch.randn(N, 1, 1, 1, device=images.device) * 1.2 - 1.2).exp()
    weight = (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2
    xn = images + torch.randn_like(images) * sigma
    c_skip, c_out = sd ** 2 / (sigma ** 2 + sd ** 2), sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
    c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
    ids_shuffle = torch.argsort(torch.rand(N, net.L, device=images.device), dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(N, net.L, device=images.device)
    mask[:, :keep_len] = 0
    mask = torch.gather(mask, 1, ids_restore)
    Fx = net(c_in * xn, (sigma.log() / 4).flatten(), labels, ids_shuffle[:, :keep_len], ids_restore)
    D = c_skip * xn + c_out * Fx.float()
    per_patch = F.avg_pool2d((weight * (D - images) ** 2).mean(1), net.p).flatten(1)
    keep = 1 - mask
    loss = (per_patch * keep).sum(1) / keep.sum(1)
    t = patchify(xn, net.p)
    t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6) ** 0.5
    mae = ((patchify(D, net.p) - t) ** 2).mean(-1)
    return loss + mae_coef * (mae * mask).sum(1) / mask.sum(1)


def step_flops(D, depth, Dd, dec_depth, L, Te, P, N, mlp_ratio=4.0, classes=1000, freq=256):
    """src/model/flops.c: forward 2MKN per Linear, backward 4MKN (2MKN for the patch embedding);
    attention 4 N T^2 E forward, 8 backward."""
    total = 0.0

    def lin(M, K, Nout, input_grad=True):
        nonlocal total
        total += (6 if input_grad else 4) * M * K * Nout

    def block(T, W, cond):
        nonlocal total
        lin(N, cond, 6 * W)
        lin(N * T, W, 3 * W)
        total += 12 * N * T * T * W
        lin(N * T, W, W)
        lin(N * T, W, int(W * mlp_ratio))
        lin(N * T, int(W * mlp_ratio), W)

    lin(N * L, P, D, False)
    lin(N, freq, D)
    lin(N, D, D)
    lin(N, classes, D)
    for _ in range(depth):
        block(Te, D, D)
    lin(N, D, 2 * D)
    lin(N * Te, D, Dd)
    for _ in range(dec_depth):
        block(L, Dd, D)
    lin(N, D, 2 * Dd)
    lin(N * L, Dd, P)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model_type', default='DiT-XL/2', choices=sorted(MODEL_TYPES))
    ap.add_argument('--input_size', type=int, default=32)
    ap.add_argument('--in_channels', type=int, default=4)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--mask_ratio', type=float, default=0.5)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--peak_tflops', type=float, default=989.0, help='dense bf16 peak of the GPU (H100/H200 SXM)')
    ap.add_argument('--device', default='cuda', help='cpu: a smoke test of this script without a GPU')
    a = ap.parse_args()

    depth, D, p, heads = MODEL_TYPES[a.model_type]
    dev = torch.device(a.device)
    cuda = dev.type == 'cuda'
    torch.manual_seed(0)
    precond = EDMPrecond(input_size=a.input_size, p=p, cin=a.in_channels, D=D, depth=depth, heads=heads).to(dev)
    precond.train()
    net = precond.model
    params = [q for q in precond.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                            **({'fused': True} if cuda else {}))
    N, L = a.batch, net.L
    keep = int(L * (1 - a.mask_ratio))
    images = torch.randn(N, a.in_channels, a.input_size, a.input_size, device=dev)
    labels = F.one_hot(torch.randint(0, 1000, (N,), device=dev), 1000).float()

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = training_loss(net, images, labels, keep)
        loss.mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    flops = step_flops(D, depth, 512, 8, L, keep, p * p * a.in_channels, N)
    nparam = sum(q.numel() for q in params)
    names = [k for k, _ in precond.named_parameters()]
    print(f'torch {torch.__version__}, {torch.cuda.get_device_name() if cuda else "cpu"}, params {nparam / 1e6:.1f}M '
          f'({names[0]} ... {names[-1]}), step {flops / 1e12:.2f} TFLOP', flush=True)
    print(f'RESULT torch model={a.model_type} input={a.input_size} batch={N} ms={med * 1e3:.1f} '
          f'images_s={N / med:.1f} tflops={flops / med / 1e12:.1f} mfu={100 * flops / med / 1e12 / a.peak_tflops:.1f} '
          f'peak_gib={(torch.cuda.max_memory_allocated() if cuda else 0) / 2**30:.2f}', flush=True)


if __name__ == '__main__':
    main()
