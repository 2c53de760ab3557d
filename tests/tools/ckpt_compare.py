#!/usr/bin/env python3
"""Compare two MaskDiT-C checkpoints tensor by tensor (test helper; numpy + h5py).

    ckpt_compare.py A.h5 B.h5 [--rel R] [--key-bias-abs A] [--verbose]

Every dataset under /model, /ema and /opt must exist in both with the same shape. The metric is
the golden README's: per tensor max|a - b| / max|b|, which must be <= R (default 0: bitwise).
--key-bias-abs A: in every attn.qkv.bias the key slice [W, 2W) has a mathematically zero gradient
that AdamW turns into steps of up to lr, whatever the summation order; it is compared with the
absolute tolerance A instead. Exit status 0 when everything is within tolerance, 1 otherwise."""
import argparse
import sys

import h5py
import numpy as np


def tensors(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split('/')[0] in ('model', 'ema', 'opt'):
            out[name] = obj[()]
    f.visititems(visit)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('a')
    ap.add_argument('b')
    ap.add_argument('--rel', type=float, default=0.0)
    ap.add_argument('--key-bias-abs', type=float, default=None)
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args()
    with h5py.File(args.a, 'r') as fa, h5py.File(args.b, 'r') as fb:
        ta, tb = tensors(fa), tensors(fb)
    if set(ta) != set(tb) or not ta:
        print(f'different tensor sets: {sorted(set(ta) ^ set(tb))[:5]}')
        return 1
    worst, bad = 0.0, []
    for name in sorted(ta):
        a, b = np.asarray(ta[name], np.float64), np.asarray(tb[name], np.float64)
        if a.shape != b.shape:
            bad.append(f'{name}: shape {a.shape} vs {b.shape}')
            continue
        if args.key_bias_abs is not None and name.endswith('attn.qkv.bias'):
            w = a.size // 3
            key = np.abs(a[w:2 * w] - b[w:2 * w]).max()
            if key > args.key_bias_abs:
                bad.append(f'{name}: key slice differs by {key:.3g} > {args.key_bias_abs:.3g}')
            a = np.concatenate([a[:w], a[2 * w:]])
            b = np.concatenate([b[:w], b[2 * w:]])
        scale = np.abs(b).max()
        rel = np.abs(a - b).max() / scale if scale > 0 else np.abs(a - b).max()
        worst = max(worst, rel)
        if args.verbose:
            print(f'{rel:.3e} {name}')
        if rel > args.rel:
            bad.append(f'{name}: rel {rel:.3g} > {args.rel:.3g}')
    for line in bad[:10]:
        print(line)
    print(f'{len(ta)} tensors, worst rel {worst:.3e}, {len(bad)} beyond tolerance')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
