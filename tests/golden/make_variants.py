#!/usr/bin/python3
"""Golden files for the model variants that ../shared/reference/make_golden.py cannot write by
itself: an unconditional model (num_classes 0) and a model without the decoder (use_decoder
False); plus one of unusual shapes that it can write. It runs make_golden's own generator with three small adaptations, then removes the
datasets that such a model does not have (y_emb; the decoder intermediates):
  - labels for num_classes 0 are empty (N, 0) rows (randint(0, 0) gives -1, "no label");
  - the loss capture gets placeholders for the missing intermediates (deleted afterwards);
  - guidance on an unconditional model is a plain forward (there is no label to drop).

Run from the project root (needs python3-torch, numpy, h5py; not needed by the tests):
  /usr/bin/python3 tests/golden/make_variants.py
"""
import os
import sys

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', '..', 'shared', 'reference'))
import make_golden as MG  # noqa: E402
import maskdit_ref as R  # noqa: E402

PLACEHOLDERS = ('y_emb', 'dec_layer_out', 'dec_in', 'dec_out')

_randint = torch.randint
torch.randint = lambda low, high, *a, **k: (torch.full(*a[:1], -1, dtype=torch.int64) if high == 0
                                            else _randint(low, high, *a, **k))

_edm_loss = R.edm_loss


def edm_loss_with_placeholders(*a, capture=None, **k):
    loss = _edm_loss(*a, capture=capture, **k)
    if capture is not None:
        for key in PLACEHOLDERS:
            capture.setdefault(key, torch.zeros(1, dtype=loss.dtype))
    return loss


R.edm_loss = edm_loss_with_placeholders

_precond_forward = R.EDMPrecond.forward


def precond_forward(self, x, sigma, class_labels=None, cfg_scale=None, **k):
    if self.num_classes == 0:
        cfg_scale = None
    return _precond_forward(self, x, sigma, class_labels, cfg_scale, **k)


R.EDMPrecond.forward = precond_forward

VARIANTS = {
    'maskdit_uncond.h5': dict(num_classes=0, depth=2, hidden_size=32, num_heads=2, decoder_hidden_size=16,
                              decoder_depth=1, decoder_num_heads=2, seed=21),
    'maskdit_nodec.h5': dict(use_decoder=False, depth=3, hidden_size=32, num_heads=4, mask_ratio=0.25, seed=22),
    # patch 4, 3 channels, 3 heads, mlp_ratio 2, 75% masking: shapes unlike the tiny preset's
    'maskdit_p4_c3.h5': dict(patch_size=4, input_size=16, in_channels=3, hidden_size=48, num_heads=3,
                             decoder_hidden_size=24, decoder_depth=1, decoder_num_heads=2, mlp_ratio=2.0,
                             mask_ratio=0.75, seed=11, N=2),
}


def main():
    for name, over in VARIANTS.items():
        over = dict(over)
        seed = over.pop('seed')
        batch = over.pop('N', 3)
        base = dict(MG.PRESETS['tiny']['cfg'])
        base.update(over)
        cfg = R.MaskDiTConfig(**base)
        path = os.path.join(HERE, name)
        MG.generate(cfg, batch, seed, path, MG.PRESETS['tiny']['probe'])
        with h5py.File(path, 'r+') as f:
            for key in PLACEHOLDERS:
                if f['forward'][key].shape == (1,):
                    del f['forward'][key]
        print('wrote', path, os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
