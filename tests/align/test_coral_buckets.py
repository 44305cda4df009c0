"""coral / coral_loss pad eager samples to shape buckets: one compilation per bucket, the same
value (#17 item 7). Reference: float64 NumPy (np.cov, eigh) written from the formulas."""

import jax
import numpy as np
import pytest

from jtransfer import align
from jtransfer._core import sizes
from jtransfer.align import _coral


def _data(n, m, d=3, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    # offset far from 0: a zero padding row that leaked into a mean or covariance would show
    return rng.normal(size=(n, d)) + 3.0, rng.normal(size=(m, d)) @ a + 3.5


def _np_power(c, p):
    ev, u = np.linalg.eigh(c)
    return (u * ev**p) @ u.T


def np_coral(xs, xt, eps, match_mean):
    d = xs.shape[1]
    cs, ct = np.cov(xs, rowvar=False) + eps * np.eye(d), np.cov(xt, rowvar=False) + eps * np.eye(d)
    a = _np_power(cs, -0.5) @ _np_power(ct, 0.5)
    if match_mean:
        return (xs - xs.mean(0)) @ a + xt.mean(0)
    return xs @ a


def np_coral_loss(xs, xt):
    diff = np.cov(xs, rowvar=False) - np.cov(xt, rowvar=False)
    return np.sum(diff**2) / (4 * xs.shape[1] ** 2)


@pytest.mark.parametrize("match_mean", [False, True])
def test_padded_coral_matches_numpy_and_the_unpadded_path(match_mean):
    xs, xt = _data(37, 50)
    want = np_coral(xs, xt, 0.5, match_mean)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    got = align.coral(f32(xs), f32(xt), eps=0.5, match_mean=match_mean)
    assert got.shape == (37, 3) and got.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=2e-5)
    traced = jax.jit(lambda a, b: align.coral(a, b, eps=0.5, match_mean=match_mean))(
        f32(xs), f32(xt)
    )
    np.testing.assert_allclose(np.asarray(got), np.asarray(traced), rtol=0, atol=2e-5)
    with jax.enable_x64(True):
        got64 = align.coral(xs, xt, eps=0.5, match_mean=match_mean)
        np.testing.assert_allclose(np.asarray(got64), want, rtol=1e-12, atol=1e-12)


def test_padded_coral_loss_matches_numpy():
    xs, xt = _data(37, 50, seed=1)
    want = np_coral_loss(xs, xt)
    got = align.coral_loss(xs.astype(np.float32), xt.astype(np.float32))
    np.testing.assert_allclose(float(got), want, rtol=2e-6)
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(align.coral_loss(xs, xt)), want, rtol=1e-13)


def test_two_sizes_in_one_bucket_compile_once():
    # sizes of no other test here: 65/70 rows share bucket 80, 97/100 rows bucket 112
    assert sizes.bucket(65) == sizes.bucket(70) == 80 and sizes.bucket(97) == sizes.bucket(100)
    xs, xt = (a.astype(np.float32) for a in _data(70, 100, seed=2))
    c0, l0 = _coral._coral_padded_jit._cache_size(), _coral._coral_loss_padded_jit._cache_size()
    a = align.coral(xs[:65], xt[:97], eps=0.5)
    b = align.coral(xs, xt, eps=0.5)
    align.coral_loss(xs[:65], xt[:97])
    align.coral_loss(xs, xt)
    assert _coral._coral_padded_jit._cache_size() == c0 + 1
    assert _coral._coral_loss_padded_jit._cache_size() == l0 + 1
    assert a.shape == (65, 3) and b.shape == (70, 3)
    np.testing.assert_allclose(np.asarray(b), np_coral(xs, xt, 0.5, False), atol=2e-5)
    # under a trace nothing is padded
    jax.jit(lambda u, v: align.coral_loss(u, v))(xs, xt)
    assert _coral._coral_loss_padded_jit._cache_size() == l0 + 1


@pytest.mark.parametrize("match_mean", [False, True])
def test_coral_target_reused_gives_the_same_bits_and_matches_numpy(match_mean):
    """coral(source, coral_target(target)) is coral(source, target) split in two: bit-equal,
    eagerly (padded buckets) and under jit, float32 and float64; NumPy is the reference."""
    xs, xt = _data(37, 50, seed=3)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    t = align.coral_target(f32(xt), eps=0.5)
    assert isinstance(t, align.CoralTarget) and t.root.shape == (3, 3) and t.mean.shape == (1, 3)
    np.testing.assert_allclose(np.asarray(t.mean), xt.mean(0, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(t.root), _np_power(np.cov(xt, rowvar=False) + 0.5 * np.eye(3), 0.5), atol=2e-5
    )
    for n in (37, 20):  # two source sizes against one target computation
        want = np.asarray(align.coral(f32(xs[:n]), f32(xt), eps=0.5, match_mean=match_mean))
        got = np.asarray(align.coral(f32(xs[:n]), t, eps=0.5, match_mean=match_mean))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, np_coral(xs[:n], xt, 0.5, match_mean), atol=2e-5)
    traced = jax.jit(lambda a, b: align.coral(a, align.coral_target(b, eps=0.5), eps=0.5))(
        f32(xs), f32(xt)
    )
    np.testing.assert_allclose(np.asarray(traced), np_coral(xs, xt, 0.5, False), atol=2e-5)
    with jax.enable_x64(True):
        t64 = align.coral_target(xt, eps=0.5)
        got64 = align.coral(xs, t64, eps=0.5, match_mean=match_mean)
        assert got64.dtype == np.float64
        np.testing.assert_allclose(
            np.asarray(got64), np_coral(xs, xt, 0.5, match_mean), rtol=1e-12, atol=1e-12
        )


def test_coral_target_rejects_another_eps_or_dimension():
    xs, xt = (a.astype(np.float32) for a in _data(10, 12, seed=4))
    t = align.coral_target(xt, eps=0.5)
    with pytest.raises(ValueError, match="eps=1.0 differs from the eps=0.5"):
        align.coral(xs, t, eps=1.0)
    with pytest.raises(ValueError, match=r"shapes \(10, 2\) and a CoralTarget of dimension 3"):
        align.coral(xs[:, :2], t, eps=0.5)
    with pytest.raises(ValueError, match="eps"):
        align.coral_target(xt, eps=0.0)
