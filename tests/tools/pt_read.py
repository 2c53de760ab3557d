"""Reads a torch.save (.pt) zip archive without PyTorch: Python's zipfile and pickle, with
stand-ins for the only globals a weights-only checkpoint may name (torch._utils._rebuild_tensor_v2,
torch.FloatStorage, collections.OrderedDict; anything else is refused, as torch.load(weights_only=True)
would). Tensors become numpy float32 arrays.

As a module: load(path) -> the unpickled object. As a script: pt_read.py X.pt prints the top-level
keys and the tensor count of each state dict."""
import collections
import pickle
import sys
import zipfile

import numpy as np


class _FloatStorage:   # a stand-in class: only its identity is used, as the storage's dtype
    pass


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, *rest):
    numel = int(np.prod(size)) if size else 1
    flat = storage[offset:offset + numel]
    expect = tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    assert tuple(stride) == expect, f"not a contiguous tensor: size {size} stride {stride}"
    return flat.reshape(size)


ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2, ("torch", "FloatStorage"): _FloatStorage,
           ("collections", "OrderedDict"): collections.OrderedDict}


def load(path):
    z = zipfile.ZipFile(path)   # checks each entry's CRC-32 when read
    names = z.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl")]
    assert len(pkl) == 1, names
    root = pkl[0][:-len("data.pkl")]
    if root + "byteorder" in names:   # written by torch >= 1.13; older archives are little endian
        assert z.read(root + "byteorder") == b"little"

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in ALLOWED:
                raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights-only checkpoint")
            return ALLOWED[(module, name)]

        def persistent_load(self, pid):
            kind, cls, key, location, numel = pid
            assert kind == "storage" and cls is _FloatStorage and location == "cpu", pid
            data = np.frombuffer(z.read(f"{root}data/{key}"), dtype="<f4")
            assert data.size == numel, (key, data.size, numel)
            return data

    with z.open(pkl[0]) as f:
        return Unpickler(f).load()


if __name__ == "__main__":
    obj = load(sys.argv[1])
    print({k: (len(v) if isinstance(v, dict) else type(v).__name__) for k, v in obj.items()})
