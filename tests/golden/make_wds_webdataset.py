"""Makes tests/golden/wds/webdataset.tar and webdataset_expected.npz (tests/cli/data_wds.sh): a
shard written by the `webdataset` package's TarWriter, as the original's lmdb2wds.py writes them
(KEY.latent = pickle.dumps(moments), KEY.cls = the label), with samples pickled at protocols 2 to 5
in turn. Made with NumPy 2 (numpy._core names in the pickles; tests/tools/make_wds.py run with
Debian's NumPy 1.x covers numpy.core). Rerun from the repository root:

    python3 tests/golden/make_wds_webdataset.py
"""
import pickle

import numpy as np
import webdataset as wds

OUT = "tests/golden/wds"
rng = np.random.default_rng(1414)
x = rng.standard_normal((8, 8, 4, 4)).astype(np.float32)
y = np.array([3, 1, 4, 1, 5, 9, 2, 6], np.int64)
with wds.TarWriter(f"{OUT}/webdataset.tar") as sink:
    for i in range(len(x)):
        sink.write({"__key__": f"{i:08d}", "latent": pickle.dumps(x[i], protocol=2 + i % 4), "cls": int(y[i])})
np.savez(f"{OUT}/webdataset_expected.npz", x=x, y=y, numpy_version=np.__version__)
