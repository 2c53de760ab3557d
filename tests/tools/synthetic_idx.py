"""Writes N synthetic 28x28 gray images in 10 classes as MNIST-style IDX files DIR/img.idx and
DIR/lab.idx: a class-dependent stripe pattern plus noise, the same bytes on every run.

    python3 tests/tools/synthetic_idx.py DIR N
"""
import random
import struct
import sys

out, n, h = sys.argv[1], int(sys.argv[2]), 28
rnd = random.Random(0)
labels = [i % 10 for i in range(n)]
with open(out + '/img.idx', 'wb') as f:
    f.write(struct.pack('>IIII', 0x803, n, h, h))
    for y in labels:
        f.write(bytes(min(255, (200 if (r + c * y) % 10 < 5 else 20) + rnd.randrange(30)) for r in range(h) for c in range(h)))
with open(out + '/lab.idx', 'wb') as f:
    f.write(struct.pack('>II', 0x801, n) + bytes(labels))
