"""mmd2 pads eager samples to shape buckets: one compilation per bucket, the same value
(#17 item 7). References: a float64 NumPy/SciPy implementation written from the formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from jtransfer import align, select
from jtransfer._core import kernels, sizes
from jtransfer.align import _mmd


def np_mmd2(x, y, sigmas, estimator, w=None):
    """float64 reference: Gram matrices from SciPy distances, the estimators of the docstring."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    w = np.ones(n) if w is None else np.asarray(w, np.float64)

    def k(a, b):
        d2 = cdist(a, b, "sqeuclidean")
        return sum(np.exp(-d2 / (2 * s * s)) for s in sigmas)

    if estimator == "linear":
        p = n // 2
        a, b = np.arange(p) * 2, np.arange(p) * 2 + 1
        kxx = np.diag(k(x[a], x[b]))
        kyy = np.diag(k(y[a], y[b]))
        kxy, kyx = np.diag(k(x[a], y[b])), np.diag(k(x[b], y[a]))
        txx = np.sum(w[a] * w[b] * kxx) / np.sum(w[a] * w[b])
        txy = np.sum(w[a] * kxy + w[b] * kyx) / np.sum(w[a] + w[b])
        return txx + kyy.mean() - 2 * txy
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    ww = np.outer(w, w)
    sxy = np.sum(w[:, None] * kxy) / (w.sum() * m)
    if estimator == "biased":
        return np.sum(ww * kxx) / ww.sum() + kyy.mean() - 2 * sxy
    off_x, off_y = ~np.eye(n, dtype=bool), ~np.eye(m, dtype=bool)
    txx = np.sum((ww * kxx)[off_x]) / np.sum(ww[off_x])
    return txx + kyy[off_y].mean() - 2 * sxy


def _data(n, m, d=3, seed=0):
    rng = np.random.default_rng(seed)
    # an offset far from 0: a zero padding row that leaked into a sum or the median would show
    x = rng.normal(size=(n, d)) + 3.0
    y = rng.normal(size=(m, d)) * 1.3 + 3.5
    w = rng.uniform(0.2, 3.0, size=n)
    return x, y, w


# sizes that are not buckets (37 -> 40, 50 -> 56, 61 -> 64): every call pads; the linear
# estimator needs n == m, and 61 is odd (its last row is dropped, not paired with padding)
CASES = [
    (n, m, est, weighted, bw)
    for n, m, est in ((37, 50, "biased"), (37, 50, "unbiased"), (61, 61, "linear"))
    for weighted in (False, True)
    for bw in ("median", (0.5, 1.0, 2.0))
]


@pytest.mark.parametrize("n,m,estimator,weighted,bandwidth", CASES)
def test_padded_mmd2_matches_float64_reference(n, m, estimator, weighted, bandwidth):
    """float32: within 2e-6 absolute (|MMD²| ~ 0.1-0.5 here, sums of ~5000 kernel values);
    float64 (x64): within 1e-12, so the padding adds nothing but float32 rounding."""
    x, y, w = _data(n, m)
    w = w if weighted else None
    sig = [np.median(pdist(np.concatenate([x, y])))] if bandwidth == "median" else bandwidth
    want = np_mmd2(x, y, sig, estimator, w)
    f32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    got = align.mmd2(
        f32(x), f32(y), bandwidth=bandwidth, estimator=estimator, weights_source=f32(w)
    )
    assert got.dtype == np.float32
    np.testing.assert_allclose(float(got), want, rtol=0, atol=2e-6)
    with jax.enable_x64(True):
        got64 = align.mmd2(x, y, bandwidth=bandwidth, estimator=estimator, weights_source=w)
        assert got64.dtype == np.float64
        np.testing.assert_allclose(float(got64), want, rtol=1e-12, atol=1e-14)


def test_padded_mmd2_matches_the_unpadded_jit_path():
    """The eager (padded) value equals the traced (unpadded) one to float32 rounding."""
    x, y, w = (a.astype(np.float32) for a in _data(45, 70, d=5, seed=3))
    for est in ("biased", "unbiased"):
        for ww in (None, w):
            eager = float(align.mmd2(x, y, estimator=est, weights_source=ww))
            traced = float(
                jax.jit(lambda a, b, c, e=est: align.mmd2(a, b, estimator=e, weights_source=c))(
                    x, y, ww
                )
            )
            assert abs(eager - traced) <= 2e-6, (est, ww is None, eager, traced)


def test_two_sizes_in_one_bucket_compile_once():
    """33/37 rows share bucket 40 and 50/52 rows bucket 56: one program; the unpadded core
    compiles once per size (what the buckets remove); a new bucket compiles again."""
    assert sizes.bucket(33) == sizes.bucket(37) == 40 and sizes.bucket(50) == sizes.bucket(52)
    x, y, w = (a.astype(np.float32) for a in _data(37, 52, d=4, seed=5))
    before = _mmd._mmd2_padded_jit._cache_size()
    a = align.mmd2(x[:33], y[:50], estimator="unbiased")
    assert _mmd._mmd2_padded_jit._cache_size() == before + 1
    b = align.mmd2(x, y, estimator="unbiased")
    assert _mmd._mmd2_padded_jit._cache_size() == before + 1  # same bucket: no new compile
    align.mmd2(x, y[:49], estimator="unbiased")  # 49 -> bucket 56 as well
    assert _mmd._mmd2_padded_jit._cache_size() == before + 1
    assert float(a) != float(b)
    np.testing.assert_allclose(
        float(b),
        np_mmd2(x, y, [np.median(pdist(np.concatenate([x, y]).astype(np.float64)))], "unbiased"),
        atol=2e-6,
    )
    # select.mmd_distance goes through mmd2 too (one biased program for both sizes)
    select.mmd_distance(x[:34], y[:51])
    n_biased = _mmd._mmd2_padded_jit._cache_size()
    select.mmd_distance(x[:36], y)
    assert _mmd._mmd2_padded_jit._cache_size() == n_biased
    align.mmd2(np.concatenate([x, x[:10]]), y)  # 47 rows: bucket 48, a second program
    assert _mmd._mmd2_padded_jit._cache_size() == n_biased + 1
    # the unpadded core, as before the buckets: one compilation per size
    core_before = _mmd._mmd2_jit._cache_size()
    for k in (33, 37):
        _mmd._mmd2_jit(jnp.asarray(x[:k]), jnp.asarray(y), None, None, estimator="unbiased")
    assert _mmd._mmd2_jit._cache_size() == core_before + 2


def test_nothing_is_padded_under_a_trace():
    x, y, _ = (a.astype(np.float32) for a in _data(37, 50, seed=6))
    before = _mmd._mmd2_padded_jit._cache_size()
    jax.jit(lambda a, b: align.mmd2(a, b))(x, y)
    jax.grad(lambda a: align.mmd2(a, y))(x)
    assert _mmd._mmd2_padded_jit._cache_size() == before


@pytest.mark.parametrize("n", [7, 50])
def test_padded_median_ignores_padding(n):
    """median_sigma_padded equals the median of the valid rows only, with padding rows that
    would move it (exact: SciPy pdist; sampled: bit-equal to the unpadded draw)."""
    rng = np.random.default_rng(n)
    z = rng.normal(size=(n, 3)).astype(np.float32)
    size = sizes.bucket(n + 3)
    zp = np.concatenate([z[:4], np.full((3, 3), 100.0, np.float32), z[4:]])  # padding inside
    zp = np.concatenate([zp, np.full((size - n - 3, 3), -50.0, np.float32)])
    valid = np.ones(size, bool)
    valid[4:7] = False
    valid[n + 3 :] = False
    exact = kernels.median_sigma_padded(jnp.asarray(zp), jnp.asarray(valid), exact=True)
    np.testing.assert_allclose(float(exact), np.median(pdist(z.astype(np.float64))), rtol=1e-6)
    key = jax.random.key(3)
    sampled = kernels.median_sigma_padded(jnp.asarray(zp), jnp.asarray(valid), exact=False, key=key)
    want = kernels._sampled_median_distance(jnp.asarray(z), key)
    assert float(sampled) == float(want)


def test_buckets():
    assert [sizes.bucket(n) for n in (1, 8, 9, 11, 1000, 1024, 1025, 4000)] == [
        8,
        8,
        10,
        12,
        1024,
        1024,
        1280,
        4096,
    ]
    ns = np.arange(1, 20000)
    b = np.array([sizes.bucket(n) for n in ns])
    assert np.all(b >= ns) and np.all(b % 2 == 0) and np.all(b <= np.maximum(8, 1.25 * ns))
    assert len(set(b[999:4000])) == 9  # 1000..4000 rows: 9 programs
