"""kde_ratio, kmm, ulsif and kliep pad eager samples to shape buckets: one compilation per
bucket, the same result as the unpadded path (#17 item 7). References: float64 NumPy/SciPy
from the formulas (KDE ratio, uLSIF fit), the unpadded path in float64 (to 1e-10), and the
KMM constraints checked on the padded program itself."""

import jax
import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from jtransfer import weighting
from jtransfer._core import sizes
from jtransfer.weighting import _kliep, _kmm, _simple, _ulsif

MODULES = {"kde_ratio": _simple, "kmm": _kmm, "ulsif": _ulsif, "kliep": _kliep}


def _data(n, m, d=2, seed=0):
    rng = np.random.default_rng(seed)
    # offset far from 0: a zero padding row in a sum, a median or a centre set would show
    return rng.normal(size=(n, d)) + 3.0, rng.normal(size=(m, d)) * 0.8 + 3.4


def _unpadded(monkeypatch, name):
    """Forces the old per-size path of ``weighting.<name>`` (no shape buckets)."""
    monkeypatch.setattr(MODULES[name].sizes, "all_concrete", lambda *a: False)


def _median(xs, xt):
    return np.median(pdist(np.concatenate([xs, xt])))


def test_kde_ratio_matches_scipy():
    xs, xt = _data(37, 50)
    s = _median(xs, xt)
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * s * s))  # noqa: E731
    want = k(xs, xt).mean(1) / k(xs, xs).mean(1)
    got = weighting.kde_ratio(xs.astype(np.float32), xt.astype(np.float32))
    assert got.weights.shape == (37,)
    np.testing.assert_allclose(np.asarray(got.weights), want, rtol=2e-5)
    np.testing.assert_allclose(float(got.bandwidth[0]), s, rtol=1e-6)
    with jax.enable_x64(True):
        got64 = weighting.kde_ratio(xs, xt)
        np.testing.assert_allclose(np.asarray(got64.weights), want, rtol=1e-12)


def test_ulsif_fit_matches_numpy_with_the_same_centres(monkeypatch):
    """n_s > n_t: the LOO's held-out columns past min(n_s, n_t) are real source rows and must be
    masked (n_s < n_t is the simpler case, run by the compile test)."""
    n, m = 61, 45
    xs, xt = _data(n, m, seed=1)
    with jax.enable_x64(True):
        got = weighting.ulsif(xs, xt, num_centers=20, lam=0.05)
        s = _median(xs, xt)
        c = np.asarray(got.centers)
        phi = lambda a: np.exp(-cdist(a, c, "sqeuclidean") / (2 * s * s))  # noqa: E731
        alpha = np.linalg.solve(phi(xs).T @ phi(xs) / n + 0.05 * np.eye(20), phi(xt).mean(0))
        alpha = np.maximum(alpha, 0)
        np.testing.assert_allclose(np.asarray(got.weights), phi(xs) @ alpha, rtol=1e-9)
        grid = dict(bandwidth_grid=[0.5, 2.0], lam_grid=[0.01, 1.0])
        got_cv = weighting.ulsif(xs, xt, num_centers=20, **grid)
        _unpadded(monkeypatch, "ulsif")
        old = weighting.ulsif(xs, xt, num_centers=20, lam=0.05)
        old_cv = weighting.ulsif(xs, xt, num_centers=20, **grid)
    np.testing.assert_array_equal(np.asarray(got.centers), np.asarray(old.centers))  # same draw
    np.testing.assert_allclose(np.asarray(got.weights), np.asarray(old.weights), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(got_cv.cv_scores), np.asarray(old_cv.cv_scores), 1e-10)
    np.testing.assert_allclose(np.asarray(got_cv.weights), np.asarray(old_cv.weights), 1e-10)


@pytest.mark.parametrize("grid", [None, [0.5, 1.0, 2.0]])
def test_kliep_matches_the_unpadded_path(grid, monkeypatch):
    xs, xt = _data(37, 50, seed=2)
    kw = dict(num_centers=20, num_iters=200, bandwidth_grid=grid, num_folds=3)
    with jax.enable_x64(True):
        got = weighting.kliep(xs, xt, **kw)
        _unpadded(monkeypatch, "kliep")
        old = weighting.kliep(xs, xt, **kw)
    np.testing.assert_array_equal(np.asarray(got.centers), np.asarray(old.centers))
    np.testing.assert_allclose(np.asarray(got.bandwidth), np.asarray(old.bandwidth), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got.weights), np.asarray(old.weights), rtol=1e-10)
    if grid is not None:
        np.testing.assert_allclose(np.asarray(got.cv_scores), np.asarray(old.cv_scores), 1e-10)
    # the normalisation: mean weight 1 over the real source rows
    np.testing.assert_allclose(np.mean(np.asarray(got.weights)), 1.0, rtol=1e-10)


def test_kmm_padded_rows_are_absent(monkeypatch):
    """float64: the padded solve equals the unpadded one to 1e-10 (same iterations); the padded
    program's own output is exactly 0 on padding, within [0, B] and the sum constraint on the
    real rows."""
    n, m = 37, 50
    xs, xt = _data(n, m, seed=3)
    eps = (n**0.5 - 1) / n**0.5
    with jax.enable_x64(True):
        got = weighting.kmm(xs, xt, B=5.0)
        n_pad, m_pad = sizes.bucket(n), sizes.bucket(m)
        raw = _kmm._kmm_padded_jit(
            sizes.pad_rows(xs, n_pad),
            sizes.pad_rows(xt, m_pad),
            sizes.row_mask(n, n_pad, np.float64),
            sizes.row_mask(m, m_pad, np.float64),
            None,
            5.0,
            eps,
            tol=None,
            max_iters=20000,
            exact_median=True,
        )
        w = np.asarray(raw.weights)
        assert np.all(w[n:] == 0) and np.all(w >= 0) and np.all(w <= 5.0)
        assert n * (1 - eps) - 1e-6 <= w.sum() <= n * (1 + eps) + 1e-6
        np.testing.assert_array_equal(w[:n], np.asarray(got.weights))
        with pytest.MonkeyPatch.context() as mp:
            _unpadded(mp, "kmm")
            old = weighting.kmm(xs, xt, B=5.0)
        np.testing.assert_allclose(np.asarray(got.weights), np.asarray(old.weights), atol=1e-10)
        assert int(got.num_iters) == int(old.num_iters)
    # float32: the QP is flat (K nearly singular), so ADMM's float32 weights differ from the
    # float64 optimum by up to 1 on this sample, padded or not; what both reach is the optimal
    # objective, to 5e-6 relative (float64 NumPy objective of each weight vector; measured
    # 1.2e-6 padded, 1.1e-6 unpadded, 1.6e-7 apart)
    s = _median(xs, xt)
    k_ss = np.exp(-cdist(xs, xs, "sqeuclidean") / (2 * s * s))
    kappa = n / m * np.exp(-cdist(xs, xt, "sqeuclidean") / (2 * s * s)).sum(1)
    obj = lambda b: 0.5 * b @ k_ss @ b - kappa @ b  # noqa: E731
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    got32 = np.asarray(weighting.kmm(f32(xs), f32(xt), B=5.0).weights, np.float64)
    _unpadded(monkeypatch, "kmm")
    old32 = np.asarray(weighting.kmm(f32(xs), f32(xt), B=5.0).weights, np.float64)
    best = obj(np.asarray(old.weights))
    assert abs(obj(got32) - best) <= 5e-6 * abs(best)
    assert abs(obj(old32) - best) <= 5e-6 * abs(best)
    assert abs(obj(got32) - obj(old32)) <= 1e-6 * abs(best)


def test_two_sizes_in_one_bucket_compile_once():
    """65/70 source rows share bucket 80, 97/100 target rows bucket 112 (no other test here
    uses them): each padded program compiles once for both sizes."""
    assert sizes.bucket(65) == sizes.bucket(70) and sizes.bucket(97) == sizes.bucket(100)
    xs, xt = (a.astype(np.float32) for a in _data(70, 100, seed=4))
    progs = [
        _simple._kde_padded_jit,
        _kmm._kmm_padded_jit,
        _ulsif._ulsif_fit_padded_jit,
        _ulsif._ulsif_loo_padded_jit,
        _ulsif._ulsif_median_jit,
        _kliep._kliep_cv_padded,
        _kliep._median_jit,
    ]
    before = [p._cache_size() for p in progs]
    fit_before = _kliep._kliep_fit_jit._cache_size()
    out = {}
    for ns, nt in ((65, 97), (70, 100)):
        a, b = xs[:ns], xt[:nt]
        out[ns] = weighting.kde_ratio(a, b).weights
        weighting.kmm(a, b, max_iters=50)
        weighting.ulsif(a, b, num_centers=10)
        weighting.ulsif(a, b, num_centers=10, lam_grid=[0.1, 1.0])
        weighting.kliep(a, b, num_centers=10, num_iters=5, bandwidth_grid=[1.0, 2.0])
        weighting.kliep(a, b, num_centers=10, num_iters=5)
    assert [p._cache_size() for p in progs] == [c + 1 for c in before]
    assert _kliep._kliep_fit_jit._cache_size() == fit_before + 1
    assert out[65].shape == (65,) and out[70].shape == (70,)
