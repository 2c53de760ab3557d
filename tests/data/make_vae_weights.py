#!/usr/bin/python3
"""Writes tests/data/vae_weights/: the autoencoder weight layouts that tests/unit/test_weights.c
reads through src/ckpt/weights.h, each holding the same small subset of the golden VAE
(../shared/golden/vae_tiny.pth and vae_tiny_diffusers/, README "VAE golden"): every tensor of at
most 4096 elements except the encoder's four attention matrices (157 - 4 tensors: every bias and
norm, the 1x1 convolutions, the decoder's attention matrices), so that every naming rule is
covered while the files stay small (about 130 KB each).

  legacy.pth                 torch.save(..., _use_new_zipfile_serialization=False) of the ldm
                             subset; the decoder attention's q/k/v biases are views of one storage
                             (storage offsets)
  wrapped.ckpt               {"state_dict": {"first_stage_model." + ldm names, tensors of other
                             models (int64 ones too)}, "global_step", "epoch"} as ldm writes it
  ldm_prefixed.safetensors   that state_dict as a safetensors file
  diffusers_old/             config.json + diffusion_pytorch_model.safetensors with the attention
                             names of older diffusers (query/key/value/proj_attn), linear [C, C]
  diffusers_fp16.safetensors the current diffusers names, float16
  diffusers_bf16.safetensors the current diffusers names, bfloat16
  spot_values.txt            "<file> <ldm name> <flat index> <value>": values read back from each
                             written file by an independent reader (numpy through safetensors,
                             torch.load), upcast to float32, printed with 9 significant digits

Run from the project root (needs torch, safetensors, numpy; not needed by the tests):
  python3 tests/data/make_vae_weights.py
"""
import json
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import load_file as np_load
from safetensors.torch import load_file as torch_load_st
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, '..', '..', '..', 'shared', 'golden')
OUT = os.path.join(HERE, 'vae_weights')
OLD_NAMES = {'to_q': 'query', 'to_k': 'key', 'to_v': 'value', 'to_out.0': 'proj_attn'}


def keep(name, numel):
    encoder_attention_matrix = name.startswith('encoder.mid') and 'attn' in name and name.endswith('weight') \
        and 'norm' not in name
    return numel <= 4096 and not encoder_attention_matrix


def main():
    os.makedirs(OUT, exist_ok=True)
    ldm = torch.load(os.path.join(GOLDEN, 'vae_tiny.pth'), map_location='cpu')
    ldm = {k: v for k, v in ldm.items() if keep(k, v.numel())}
    diff_dir = os.path.join(GOLDEN, 'vae_tiny_diffusers')
    diff = np_load(os.path.join(diff_dir, 'diffusion_pytorch_model.safetensors'))
    diff = {k: torch.from_numpy(v) for k, v in diff.items()
            if keep(k.replace('mid_block.attentions', 'mid.attn'), v.size)}
    assert len(ldm) == len(diff) == 153, (len(ldm), len(diff))

    # legacy .pth, with three tensors sharing one storage
    legacy = dict(ldm)
    names = ['decoder.mid.attn_1.%s.bias' % m for m in 'qkv']
    shared = torch.cat([ldm[n] for n in names])
    for i, n in enumerate(names):
        legacy[n] = shared[64 * i:64 * (i + 1)]
    torch.save(legacy, os.path.join(OUT, 'legacy.pth'), _use_new_zipfile_serialization=False)

    # ldm .ckpt / .safetensors: prefixed, with other models' tensors
    sd = {'first_stage_model.' + k: v for k, v in ldm.items()}
    sd['model.diffusion_model.out.2.bias'] = torch.linspace(-1, 1, 4)
    sd['cond_stage_model.transformer.text_model.embeddings.position_ids'] = torch.arange(77)[None]
    sd['model_ema.num_updates'] = torch.tensor(840000, dtype=torch.int32)
    sd['loss.logvar'] = torch.tensor(0.0)
    torch.save({'state_dict': sd, 'global_step': 840000, 'epoch': 3}, os.path.join(OUT, 'wrapped.ckpt'))
    save_file(sd, os.path.join(OUT, 'ldm_prefixed.safetensors'), metadata={'format': 'pt'})

    # diffusers: old attention names (folder); new names in 16-bit floats
    old = {}
    for k, v in diff.items():
        for new, was in OLD_NAMES.items():
            k = k.replace('.attentions.0.%s.' % new, '.attentions.0.%s.' % was)
        old[k] = v
    old_dir = os.path.join(OUT, 'diffusers_old')
    os.makedirs(old_dir, exist_ok=True)
    save_file(old, os.path.join(old_dir, 'diffusion_pytorch_model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(diff_dir, 'config.json')) as f:
        config = json.load(f)
    config['scaling_factor'] = 0.13025   # not the default, so that reading it is seen
    with open(os.path.join(old_dir, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    save_file({k: v.half() for k, v in diff.items()}, os.path.join(OUT, 'diffusers_fp16.safetensors'))
    save_file({k: v.bfloat16() for k, v in diff.items()}, os.path.join(OUT, 'diffusers_bf16.safetensors'))

    # spot values, read back independently
    spots = []
    picks = [('decoder.mid.attn_1.q.weight', 'decoder.mid_block.attentions.0.%s.weight', 4095),
             ('decoder.mid.attn_1.proj_out.bias', 'decoder.mid_block.attentions.0.%s.bias', 7),
             ('decoder.up.2.block.0.conv1.bias', 'decoder.up_blocks.0.resnets.0.conv1.bias', 5),
             ('decoder.up.0.block.0.nin_shortcut.weight', 'decoder.up_blocks.2.resnets.0.conv_shortcut.weight', 1000),
             ('encoder.down.1.downsample.conv.bias', 'encoder.down_blocks.1.downsamplers.0.conv.bias', 63),
             ('decoder.mid.block_2.norm2.weight', 'decoder.mid_block.resnets.1.norm2.weight', 3)]
    files = {
        'legacy.pth': lambda: {k: v.numpy() for k, v in torch.load(os.path.join(OUT, 'legacy.pth')).items()},
        'ldm_prefixed.safetensors': lambda: np_load(os.path.join(OUT, 'ldm_prefixed.safetensors')),
        'diffusers_old': lambda: np_load(os.path.join(old_dir, 'diffusion_pytorch_model.safetensors')),
        'diffusers_fp16.safetensors': lambda: np_load(os.path.join(OUT, 'diffusers_fp16.safetensors')),
        # numpy has no bfloat16: torch reads this one
        'diffusers_bf16.safetensors': lambda: {
            k: v.float().numpy() for k, v in torch_load_st(os.path.join(OUT, 'diffusers_bf16.safetensors')).items()},
    }
    for fname, read in files.items():
        tensors = read()
        for ldm_name, diff_name, index in picks:
            if fname.startswith('legacy'):
                key = ldm_name
            elif fname.startswith('ldm'):
                key = 'first_stage_model.' + ldm_name
            else:
                attn = 'q' if ldm_name.endswith('q.weight') else 'proj_out'
                name = {'q': 'to_q', 'proj_out': 'to_out.0'}[attn]
                key = diff_name % (OLD_NAMES[name] if fname == 'diffusers_old' else name) \
                    if '%s' in diff_name else diff_name
            value = np.asarray(tensors[key], dtype=np.float32).reshape(-1)[index]
            spots.append('%s %s %d %.9g' % (fname, ldm_name, index, value))
    with open(os.path.join(OUT, 'spot_values.txt'), 'w') as f:
        f.write('\n'.join(spots) + '\n')
    for name in sorted(os.listdir(OUT)):
        p = os.path.join(OUT, name)
        print(name, os.path.getsize(p) if os.path.isfile(p) else '(folder)')


if __name__ == '__main__':
    shutil.rmtree(OUT, ignore_errors=True)
    main()
