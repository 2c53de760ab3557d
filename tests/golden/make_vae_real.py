#!/usr/bin/env python3
"""Golden outputs of the real KL-f8 autoencoder (ch 128, ch_mult [1,2,4,4], 2 blocks, 4 latent
channels: the architecture of the original's autoencoder_kl.pth) with weights from the formula of
src/vae/vae.h (vae_synthetic_tensor), which C computes identically: its 335 MB of weights cannot be
committed, the inputs and float64 outputs of one 256x256 encode and one 32x32-latent decode can.

An implementation of its own in float64 PyTorch, under the ldm names; before the real one it must
reproduce the tiny golden of ../shared/golden/vae_tiny.{pth,h5} (both directions, 1e-12), so the
implementation is checked against the original's code through that file.

    python3 tests/golden/make_vae_real.py [--out tests/data/vae_real_256.h5] [--golden ../shared/golden]
"""
import argparse
import math

import h5py
import numpy as np
import torch
import torch.nn.functional as F

SEED = 7


def mix32(x):
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85ebca6b)) & np.uint64(0xffffffff)
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xc2b2ae35)) & np.uint64(0xffffffff)
    return x ^ (x >> np.uint64(16))


def synthetic(name, shape, seed):
    h = 2166136261 ^ seed
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xffffffff
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    x = (np.uint64(h) + i * np.uint64(0x9e3779b9)) & np.uint64(0xffffffff)
    u = (mix32(x) >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    if len(shape) > 1:
        v = (2 * u - 1) / math.sqrt(float(np.prod(shape[1:])))
    elif 'norm' in name and name.endswith('.weight'):
        v = 1.0 + 0.1 * (2 * u - 1)
    else:
        v = 0.1 * (2 * u - 1)
    return v.astype(np.float32).reshape(shape)


class VAE:
    """The KL autoencoder's forward passes over a dict of ldm-named float64 tensors."""

    def __init__(self, sd):
        self.sd = sd
        self.ch = sd['encoder.conv_in.weight'].shape[0]
        self.levels = len({k.split('.')[2] for k in sd if k.startswith('encoder.down.')})
        self.blocks = len({k.split('.')[4] for k in sd if k.startswith('encoder.down.0.block.')})

    def conv(self, x, name, stride=1, pad=None):
        w, b = self.sd[name + '.weight'], self.sd[name + '.bias']
        if pad is None:
            pad = (w.shape[-1] - 1) // 2
        return F.conv2d(x, w, b, stride=stride, padding=pad)

    def norm(self, x, name, silu):
        y = F.group_norm(x, 32, self.sd[name + '.weight'], self.sd[name + '.bias'], eps=1e-6)
        return y * torch.sigmoid(y) if silu else y

    def block(self, x, name):
        h = self.conv(self.norm(x, name + '.norm1', True), name + '.conv1')
        h = self.conv(self.norm(h, name + '.norm2', True), name + '.conv2')
        if name + '.nin_shortcut.weight' in self.sd:
            x = self.conv(x, name + '.nin_shortcut')
        return x + h

    def attention(self, x, name):
        n, c, hh, ww = x.shape
        h = self.norm(x, name + '.norm', False)
        q, k, v = (self.conv(h, name + '.' + p).reshape(n, c, hh * ww) for p in 'qkv')
        a = torch.softmax(torch.einsum('nci,ncj->nij', q, k) * c ** -0.5, dim=2)
        o = torch.einsum('nij,ncj->nci', a, v).reshape(n, c, hh, ww)
        return x + self.conv(o, name + '.proj_out')

    def mid(self, x, coder):
        x = self.block(x, coder + '.mid.block_1')
        x = self.attention(x, coder + '.mid.attn_1')
        return self.block(x, coder + '.mid.block_2')

    def encode(self, x):
        x = self.conv(x, 'encoder.conv_in')
        for i in range(self.levels):
            for j in range(self.blocks):
                x = self.block(x, 'encoder.down.%d.block.%d' % (i, j))
            if i != self.levels - 1:
                x = self.conv(F.pad(x, (0, 1, 0, 1)), 'encoder.down.%d.downsample.conv' % i, stride=2, pad=0)
        x = self.mid(x, 'encoder')
        x = self.conv(self.norm(x, 'encoder.norm_out', True), 'encoder.conv_out')
        return self.conv(x, 'quant_conv')

    def decode(self, z):
        x = self.conv(self.conv(z, 'post_quant_conv'), 'decoder.conv_in')
        x = self.mid(x, 'decoder')
        for i in reversed(range(self.levels)):
            for j in range(self.blocks + 1):
                x = self.block(x, 'decoder.up.%d.block.%d' % (i, j))
            if i != 0:
                x = self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'), 'decoder.up.%d.upsample.conv' % i)
        return self.conv(self.norm(x, 'decoder.norm_out', True), 'decoder.conv_out')


def real_shapes(ch=128, mult=(1, 2, 4, 4), blocks=2, z=4):
    """Every tensor of the architecture, ldm names and shapes (the order does not matter)."""
    s = {}

    def conv(name, o, i, k):
        s[name + '.weight'], s[name + '.bias'] = (o, i, k, k), (o,)

    def norm(name, c):
        s[name + '.weight'], s[name + '.bias'] = (c,), (c,)

    def block(name, cin, cout):
        norm(name + '.norm1', cin), conv(name + '.conv1', cout, cin, 3)
        norm(name + '.norm2', cout), conv(name + '.conv2', cout, cout, 3)
        if cin != cout:
            conv(name + '.nin_shortcut', cout, cin, 1)

    def mid(coder, c):
        block(coder + '.mid.block_1', c, c), block(coder + '.mid.block_2', c, c)
        norm(coder + '.mid.attn_1.norm', c)
        for p in ('q', 'k', 'v', 'proj_out'):
            conv(coder + '.mid.attn_1.' + p, c, c, 1)

    conv('encoder.conv_in', ch, 3, 3)
    cin = ch
    for i, m in enumerate(mult):
        for j in range(blocks):
            block('encoder.down.%d.block.%d' % (i, j), cin, ch * m)
            cin = ch * m
        if i != len(mult) - 1:
            conv('encoder.down.%d.downsample.conv' % i, cin, cin, 3)
    mid('encoder', cin)
    norm('encoder.norm_out', cin), conv('encoder.conv_out', 2 * z, cin, 3), conv('quant_conv', 2 * z, 2 * z, 1)
    conv('post_quant_conv', z, z, 1)
    cin = ch * mult[-1]
    conv('decoder.conv_in', cin, z, 3)
    mid('decoder', cin)
    for i in reversed(range(len(mult))):
        for j in range(blocks + 1):
            block('decoder.up.%d.block.%d' % (i, j), cin, ch * mult[i])
            cin = ch * mult[i]
        if i != 0:
            conv('decoder.up.%d.upsample.conv' % i, cin, cin, 3)
    norm('decoder.norm_out', cin), conv('decoder.conv_out', 3, cin, 3)
    return s


def check_tiny(golden):
    sd = torch.load(golden + '/vae_tiny.pth', map_location='cpu')
    vae = VAE({k: v.double() for k, v in sd.items()})
    with h5py.File(golden + '/vae_tiny.h5', 'r') as f:
        images, latents = torch.from_numpy(f['images'][...]).double(), torch.from_numpy(f['latents'][...]).double()
        moments, decoded, scale = f['moments'][...], f['decoded'][...], f.attrs['scale_factor']
    with torch.no_grad():
        e1 = np.abs(vae.encode(images).numpy() - moments).max() / np.abs(moments).max()
        e2 = np.abs(vae.decode(latents / scale).numpy() - decoded).max() / np.abs(decoded).max()
    assert e1 < 1e-12 and e2 < 1e-12, (e1, e2)
    print('tiny golden reproduced: %.1e %.1e' % (e1, e2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='tests/data/vae_real_256.h5')
    ap.add_argument('--golden', default='../shared/golden')
    a = ap.parse_args()
    torch.set_num_threads(2)
    check_tiny(a.golden)
    sd = {k: torch.from_numpy(synthetic(k, v, SEED)).double() for k, v in real_shapes().items()}
    print('%d tensors, %.1fM parameters' % (len(sd), sum(t.numel() for t in sd.values()) / 1e6))
    vae = VAE(sd)
    rng = np.random.default_rng(0)
    image = np.clip(rng.standard_normal((1, 3, 256, 256)) * 0.5, -1, 1).astype(np.float32)
    latent = rng.standard_normal((1, 4, 32, 32)).astype(np.float32)
    with torch.no_grad():
        moments = vae.encode(torch.from_numpy(image).double()).numpy()
        decoded = vae.decode(torch.from_numpy(latent).double()).numpy()
    with h5py.File(a.out, 'w') as f:
        f['image'], f['latent'] = image, latent
        f['moments'], f['decoded'] = moments.astype(np.float32), decoded.astype(np.float32)
        f.attrs['seed'] = SEED
        f.attrs['note'] = ('float64 outputs rounded to float32; weights from vae_synthetic_tensor(seed); '
                           'latent is what the decoder takes (already divided by the scale factor)')
    print('wrote', a.out, 'moments max %.3g, decoded max %.3g' % (np.abs(moments).max(), np.abs(decoded).max()))


if __name__ == '__main__':
    main()
