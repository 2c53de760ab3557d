#!/usr/bin/python3
"""Writes tests/data/tiny_pixel.pt: a tiny pixel-space MaskDiT (1 channel, 8x8, 3 classes) in the
official checkpoint layout (torch.save of {'model', 'ema', 'args'}), with random non-zero weights
(make_golden's init_params) so that sampling exercises every layer. 'ema' is 0.5 x 'model' for
the trainable tensors, so that --weights ema and --weights model give different samples.
tests/data/tiny_pixel.yaml is the matching configuration.

Run from the project root (needs python3-torch; not needed by the tests):
  /usr/bin/python3 tests/data/make_pixel_fixture.py
"""
import argparse
import collections
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', '..', 'shared', 'reference'))
import make_golden as MG  # noqa: E402
import maskdit_ref as R  # noqa: E402

cfg = R.MaskDiTConfig(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=1, num_heads=2,
                      mlp_ratio=2.0, num_classes=3, use_decoder=True, decoder_hidden_size=16, decoder_depth=1,
                      decoder_num_heads=2, mae_loss_coef=0.1)
net = R.EDMPrecond(cfg)
params = MG.init_params(net, torch.Generator().manual_seed(5))
model = collections.OrderedDict((k, v.float().contiguous()) for k, v in params.items())
ema = collections.OrderedDict((k, v if k.endswith('pos_embed') else (0.5 * v).contiguous()) for k, v in model.items())
torch.save({'model': model, 'ema': ema, 'args': argparse.Namespace(model_type='tiny-pixel', seed=5)},
           os.path.join(HERE, 'tiny_pixel.pt'))
