"""Golden outputs of the FID Inception-v3 (pytorch-fid's topology) for tests/unit/test_inception.c.

The 24M weights cannot be committed, so every value comes from a seeded formula that the C test
computes too (weight_value / image_bytes below and in test_inception.c):
  key   = FNV-1a 64 of the tensor's name
  z     = splitmix64 finaliser of key + (i + 1) * 0x9E3779B97F4A7C15   (all mod 2^64)
  u     = (z >> 40) / 2^24 in [0, 1), exact in float32 and float64
  value = float32(lo + (hi - lo) * u), the range per kind of tensor below
Convolutions are He-uniform (bound sqrt(6 / fan_in)), so that activations keep their scale through
the 94 layers, and the batch norms have non-trivial statistics. Images: byte z >> 56 of the key
"image<k>" (HWC order).

The network is the package's own: pytorch_fid.inception.InceptionV3 with its FID blocks, the
download replaced by this state_dict; it runs in float64 from the uint8 images / 255 (the package's
to_tensor). Outputs (float64): pool [3, 2048], logits = pool . fc.weight^T [3, 1008] (no bias, as
ADM), spatial [3, 2023] = Mixed_6d.branch1x1 (after its ReLU), channels 0-6, in H, W, C order.
Images: two of 40x56 (upsampled to 299) and one of 311x303 (downsampled).

With --pth FILE it also writes the weights as the real file is stored (legacy torch.save).
Needs torch, torchvision and pytorch-fid. Run: python3 tests/golden/make_inception.py
"""
import argparse
import os

import numpy as np

MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
IMAGES = [(40, 56), (40, 56), (311, 303)]   # (H, W) of each image


def fnv1a(name):
    h = 0xCBF29CE484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def hashes(name, n):
    with np.errstate(over="ignore"):
        z = fnv1a(name) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(name, n):
    return (hashes(name, n) >> np.uint64(40)).astype(np.float64) / 16777216.0


def value_range(name, shape):
    if name.endswith("conv.weight") or name == "fc.weight":
        fan_in = int(np.prod(shape[1:]))
        b = np.sqrt((6.0 if name.endswith("conv.weight") else 3.0) / fan_in)
        return -b, b
    for suffix, r in ((".bn.weight", (0.8, 1.2)), (".bn.bias", (-0.2, 0.2)), (".bn.running_mean", (-0.1, 0.1)),
                      (".bn.running_var", (0.8, 1.2)), ("fc.bias", (-0.1, 0.1))):
        if name.endswith(suffix):
            return r
    raise ValueError(name)


def weight_value(name, shape):
    lo, hi = value_range(name, shape)
    u = uniform(name, int(np.prod(shape)))
    return (lo + (hi - lo) * u).astype(np.float32).reshape(shape)


def image_bytes(k, h, w):
    return (hashes("image%d" % k, h * w * 3) >> np.uint64(56)).astype(np.uint8).reshape(h, w, 3)


def main():
    import torch   # here, so that the formula above can be imported with NumPy alone (tests/cli/fid.sh)
    import pytorch_fid.inception as fid_inception

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "inception_parity.npz"))
    ap.add_argument("--pth", help="also write the weights here, legacy torch.save format")
    args = ap.parse_args()

    state = {}
    for name, shape in _fid_module_shapes().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0, dtype=torch.int64)
        else:
            state[name] = torch.from_numpy(weight_value(name, shape))
    # the package's InceptionV3 with its FID blocks, the download replaced by this state_dict
    fid_inception.load_state_dict_from_url = lambda url, **kwargs: state
    model = fid_inception.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True)
    model = model.double().eval()
    if args.pth:
        torch.save(state, args.pth, _use_new_zipfile_serialization=False)

    spatial_out = {}
    mixed_6d = model.blocks[2][6]
    mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: spatial_out.__setitem__("x", o))
    pools, spatials = [], []
    with torch.no_grad():
        for k, (h, w) in enumerate(IMAGES):
            img = torch.from_numpy(image_bytes(k, h, w)).permute(2, 0, 1)[None].double() / 255.0
            pool = model(img)[0][:, :, 0, 0]
            pools.append(pool)
            spatials.append(spatial_out["x"][:, :7].permute(0, 2, 3, 1).reshape(1, -1))
    pool = torch.cat(pools).numpy()
    logits = pool @ state["fc.weight"].double().numpy().T
    spatial = torch.cat(spatials).numpy()
    print("pool mean %.4g std %.4g, logits std %.4g, spatial std %.4g" % (pool.mean(), pool.std(), logits.std(),
                                                                          spatial.std()))
    np.savez(args.out, pool=pool, logits=logits, spatial=spatial)


def _fid_module_shapes():
    """Names and shapes of the FID network's state_dict (fid_inception_v3 without its download)."""
    import pytorch_fid.inception as fid_inception

    net = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


if __name__ == "__main__":
    main()
