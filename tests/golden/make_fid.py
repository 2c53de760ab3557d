"""Golden numbers of the Fréchet distance for tests/unit/test_fid.c: tests/golden/fid_cases.npz.

Features (float32, stored) of four sets in 48 dimensions:
  a [300, 48], b [250, 48]  two correlated Gaussians with different means and covariances:
      well-conditioned statistics; fid_ab as pytorch-fid computes it (scipy.linalg.sqrtm of
      sigma_a . sigma_b, real part of the trace);
  c [12, 48], d [20, 48]    fewer rows than dimensions: singular covariances, where scipy's sqrtm
      warns; fid_cd from float64 eigendecompositions (numpy.linalg.eigh), the formula of fid.h.
mu_a, sigma_a: numpy's mean and unbiased covariance (np.cov) of a, in float64.
logits [250, 10] (float32) and is_100 / is_1000: the Inception Score as ADM's evaluator computes it
(compute_inception_score: softmax, splits of split_size, exp of the mean KL to the split's
marginal, mean over splits) with split sizes 100 (splits of 100, 100, 50) and 1000 (one split).
pr_ref [200, 16], pr_samples [150, 16] (float32) and precision / recall: ADM's improved precision
and recall with k = 3 (manifold_radii: the 4th smallest squared distance within a set, itself
included; evaluate_pr: a point is covered when its squared distance to some point of the other set
is <= that point's radius), here in float64; no distance lies within 1e-5 of the largest radius
from a radius, so float32 distances give the same counts.
Needs numpy and scipy. Run: python3 tests/golden/make_fid.py
"""
import os

import numpy as np
import scipy.linalg

DIM = 48


def features(rng, n, shift, mix):
    base = rng.standard_normal((n, DIM)) @ mix + shift
    return base.astype(np.float32)


def stats(x):
    x = x.astype(np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def fid_scipy(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def fid_eigh(mu1, s1, mu2, s2):
    l, v = np.linalg.eigh(s1)
    r = np.sqrt(np.clip(l, 0, None))
    m = (v.T @ s2 @ v) * np.outer(r, r)
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(m), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


def inception_score(logits, split_size):
    x = logits.astype(np.float64)
    preds = np.exp(x - x.max(axis=1, keepdims=True))
    preds /= preds.sum(axis=1, keepdims=True)
    scores = []
    for i in range(0, len(preds), split_size):
        part = preds[i:i + split_size]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


def squared_distances(u, v):
    u, v = u.astype(np.float64), v.astype(np.float64)
    return np.maximum((u * u).sum(1)[:, None] - 2 * u @ v.T + (v * v).sum(1)[None, :], 0)


def precision_recall(ref, samples, k=3):
    radii_ref = np.partition(squared_distances(ref, ref), k, axis=1)[:, k]
    radii_samples = np.partition(squared_distances(samples, samples), k, axis=1)[:, k]
    d = squared_distances(ref, samples)   # [n_ref, n_samples]
    margin = min(np.abs(d - radii_ref[:, None]).min() / radii_ref.max(),
                 np.abs(d - radii_samples[None, :]).min() / radii_samples.max())
    assert margin > 1e-5, margin   # float32 distances are good to ~1e-6 of the largest
    precision = float(np.mean(np.any(d <= radii_ref[:, None], axis=0)))
    recall = float(np.mean(np.any(d <= radii_samples[None, :], axis=1)))
    return precision, recall


def main():
    rng = np.random.default_rng(15)
    a = features(rng, 300, rng.normal(0, 0.5, DIM), np.eye(DIM) + 0.2 * rng.standard_normal((DIM, DIM)))
    b = features(rng, 250, rng.normal(0.3, 0.5, DIM), 0.8 * np.eye(DIM) + 0.3 * rng.standard_normal((DIM, DIM)))
    c = features(rng, 12, 0.1, np.eye(DIM))
    d = features(rng, 20, -0.1, np.eye(DIM))
    mu_a, sigma_a = stats(a)
    fid_ab = fid_scipy(mu_a, sigma_a, *stats(b))
    assert abs(fid_ab - fid_eigh(mu_a, sigma_a, *stats(b))) < 1e-9 * fid_ab
    fid_cd = fid_eigh(*stats(c), *stats(d))
    print("fid_ab %.12g  fid_cd %.12g (scipy on c, d: %.12g)" % (fid_ab, fid_cd, fid_scipy(*stats(c), *stats(d))))
    logits = (3 * rng.standard_normal((250, 10))).astype(np.float32)
    is_100, is_1000 = inception_score(logits, 100), inception_score(logits, 1000)
    print("IS %.12g (splits of 100), %.12g (one split)" % (is_100, is_1000))
    pr_ref = rng.standard_normal((200, 16)).astype(np.float32)
    pr_samples = (0.8 * rng.standard_normal((150, 16)) + 0.5).astype(np.float32)
    precision, recall = precision_recall(pr_ref, pr_samples)
    print("precision %.6g recall %.6g" % (precision, recall))
    out = os.path.join(os.path.dirname(__file__), "fid_cases.npz")
    np.savez(out, a=a, b=b, c=c, d=d, mu_a=mu_a, sigma_a=sigma_a, fid_ab=np.array([fid_ab]), fid_cd=np.array([fid_cd]),
             logits=logits, is_100=np.array([is_100]), is_1000=np.array([is_1000]), pr_ref=pr_ref,
             pr_samples=pr_samples, precision=np.array([precision]), recall=np.array([recall]))


if __name__ == "__main__":
    main()
