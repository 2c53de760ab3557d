"""Writes WebDataset tar shards of VAE moments for tests/cli/data_wds.sh, in the layout of the
original MaskDiT's lmdb2wds.py (KEY.latent: a pickled float32 NumPy array, KEY.cls: the label as
decimal text), with Python's tarfile and pickle only (no webdataset package needed):

    python3 tests/tools/make_wds.py DIR

DIR/good/p2.tar .. p5.tar: 12 samples [8, 4, 4] pickled at protocols 2, 3, 4, 5; sample i goes to
tar i % 4 and each tar lists its members in reverse key order, so that only sorting by key gives
0..11. The tars use the GNU (long-name), pax, ustar (name prefix) and default formats, with keys in
a 120-character directory so that every member name is longer than ustar's 100-byte name field.
Samples 3 and 7 are stored Fortran-ordered. DIR/good/expected.npz: x [12, 8, 4, 4], y [12].
DIR/bad/*.tar: one defect each (see the names)."""
import io
import os
import pickle
import sys
import tarfile

import numpy as np

N, SHAPE = 12, (8, 4, 4)
KEYDIR = "d" * 120
FORMATS = {2: tarfile.GNU_FORMAT, 3: tarfile.PAX_FORMAT, 4: tarfile.USTAR_FORMAT, 5: tarfile.DEFAULT_FORMAT}


def add(tar, name, data):
    """data: bytes (a file), None (a directory) or str (a symbolic link to it)."""
    info = tarfile.TarInfo(name)
    info.mtime = 1700000000
    if data is None:
        info.type = tarfile.DIRTYPE
    elif isinstance(data, str):
        info.type, info.linkname = tarfile.SYMTYPE, data
    else:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if isinstance(data, bytes) else None)


def write_tar(path, members, fmt=tarfile.DEFAULT_FORMAT):
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, data in members:
            add(tar, name, data)


def main(out):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((N,) + SHAPE).astype(np.float32)
    y = (np.arange(N) * 7 % 10).astype(np.int64)
    os.makedirs(f"{out}/good", exist_ok=True)
    os.makedirs(f"{out}/bad", exist_ok=True)
    for proto, fmt in FORMATS.items():
        members = []
        for i in reversed(range(proto - 2, N, 4)):
            a = np.asfortranarray(x[i]) if i in (3, 7) else x[i]
            key = f"{KEYDIR}/s{i:03d}"
            members.append((f"{key}.cls", str(y[i]).encode()))
            members.append((f"{key}.latent", pickle.dumps(a, protocol=proto)))
        if proto == 5:   # entries that are not samples' files are passed over
            members.insert(0, (KEYDIR, None))
            members.insert(1, (f"{KEYDIR}/link.latent", "s000.latent"))
        write_tar(f"{out}/good/p{proto}.tar", members, fmt)
    np.savez(f"{out}/good/expected.npz", x=x, y=y)

    def sample(key, latent, cls=b"1"):
        return [(f"{key}.latent", latent)] + ([(f"{key}.cls", cls)] if cls is not None else [])

    good = pickle.dumps(x[0], protocol=4)
    write_tar(f"{out}/bad/notarray.tar", sample("a", good) + sample("b", pickle.dumps({"z": 1}, protocol=4)))
    write_tar(f"{out}/bad/shape.tar", sample("a", good) + sample("b", pickle.dumps(np.zeros((8, 4, 5), np.float32))))
    write_tar(f"{out}/bad/dtype.tar", sample("a", pickle.dumps(x[0].astype(np.float64), protocol=4)))
    write_tar(f"{out}/bad/outofband.tar", sample("a", pickle.dumps(x[0], protocol=5, buffer_callback=lambda b: False)))
    write_tar(f"{out}/bad/nocls.tar", sample("a", good) + sample("b", good, cls=None))
    write_tar(f"{out}/bad/badcls.tar", sample("a", good, cls=b"seven"))
    write_tar(f"{out}/bad/full.tar", sample("a", good) + sample("b", good))
    data = open(f"{out}/bad/full.tar", "rb").read()
    with tarfile.open(f"{out}/bad/full.tar") as tar:
        cut = tar.getmember("b.latent").offset_data + 100
    with open(f"{out}/bad/truncated.tar", "wb") as f:   # ends inside b.latent's data
        f.write(data[:cut])
    os.remove(f"{out}/bad/full.tar")


if __name__ == "__main__":
    main(sys.argv[1])
