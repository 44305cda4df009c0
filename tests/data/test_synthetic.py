"""Generated task families: checked against closed forms, scikit-learn and NumPy."""

import math

import jax
import numpy as np
import pytest
from sklearn.datasets import make_moons

from jtransfer import data


def test_sinusoid_shapes_and_closed_form():
    (xs, ys), (xq, yq), info = data.sample_sinusoid_tasks(
        key=jax.random.key(0), num_tasks=7, num_support=5, num_query=11
    )
    assert xs.shape == ys.shape == (7, 5, 1)
    assert xq.shape == yq.shape == (7, 11, 1)
    assert info.amplitude.shape == info.phase.shape == (7,)
    amp = np.asarray(info.amplitude)[:, None, None]
    ph = np.asarray(info.phase)[:, None, None]
    np.testing.assert_allclose(ys, amp * np.sin(np.asarray(xs) - ph), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(yq, amp * np.sin(np.asarray(xq) - ph), rtol=1e-5, atol=1e-5)


def test_sinusoid_distribution_and_determinism():
    key = jax.random.key(3)
    kwargs = dict(num_tasks=20000, num_support=2, num_query=1)
    (xs, _), _, info = data.sample_sinusoid_tasks(key=key, **kwargs)
    (xs2, _), _, info2 = data.sample_sinusoid_tasks(key=key, **kwargs)
    np.testing.assert_array_equal(xs, xs2)
    np.testing.assert_array_equal(info.amplitude, info2.amplitude)
    a, p, x = np.asarray(info.amplitude), np.asarray(info.phase), np.asarray(xs)
    assert 0.1 <= a.min() and a.max() <= 5.0 and 0 <= p.min() and p.max() <= math.pi
    assert -5 <= x.min() and x.max() <= 5
    # Uniform moments: mean (a+b)/2, std (b-a)/sqrt(12); 6 standard errors of slack.
    for v, lo, hi in ((a, 0.1, 5.0), (p, 0.0, math.pi), (x.ravel(), -5.0, 5.0)):
        sd = (hi - lo) / math.sqrt(12)
        assert abs(v.mean() - (lo + hi) / 2) < 6 * sd / math.sqrt(v.size)
        assert abs(v.std() - sd) < 0.02 * sd
    (xs3, _), _, _ = data.sample_sinusoid_tasks(key=jax.random.key(4), **kwargs)
    assert not np.array_equal(xs, xs3)


def test_sinusoid_jit_matches_eager():
    f = jax.jit(
        lambda k: data.sample_sinusoid_tasks(
            key=k, num_tasks=3, num_support=4, num_query=2, amplitude=(1.0, 2.0)
        )
    )
    k = jax.random.key(1)
    jax.tree.map(
        np.testing.assert_array_equal,
        f(k),
        data.sample_sinusoid_tasks(
            key=k, num_tasks=3, num_support=4, num_query=2, amplitude=(1.0, 2.0)
        ),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_tasks=0, num_support=1, num_query=1), "num_tasks"),
        (dict(num_tasks=2, num_support=-1, num_query=1), "num_support"),
        (dict(num_tasks=2, num_support=1, num_query=1, amplitude=(5.0, 0.1)), "amplitude"),
        (dict(num_tasks=2, num_support=1, num_query=1, x_range=(0.0,)), "x_range"),
    ],
)
def test_sinusoid_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.sample_sinusoid_tasks(key=jax.random.key(0), **kwargs)


def test_quadratics():
    w, y = data.sample_quadratics(key=jax.random.key(0), num_functions=500, dim=10)
    assert w.shape == (500, 10, 10) and y.shape == (500, 10)
    w2, _ = data.sample_quadratics(key=jax.random.key(0), num_functions=500, dim=10)
    np.testing.assert_array_equal(w, w2)
    w = np.asarray(w)
    assert abs(w.mean()) < 6 / math.sqrt(w.size) and abs(w.std() - 1) < 0.02
    with pytest.raises(ValueError, match="dim"):
        data.sample_quadratics(key=jax.random.key(0), num_functions=2, dim=0)


def test_two_moons_follows_sklearn_and_rotates():
    key = jax.random.key(5)
    d = data.two_moons(key=key, angle=30.0)
    seed = int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))
    ref_x, ref_y = make_moons(n_samples=100, noise=0.05, random_state=seed)
    np.testing.assert_allclose(d["xs"], ref_x - np.array([0.5, 0.0]), atol=1e-6)
    np.testing.assert_array_equal(d["ys"], ref_y)
    np.testing.assert_array_equal(d["yt"], d["ys"])
    # Rotation: norms kept, signed angle from xs to xt is +30 degrees for every point.
    xs, xt = d["xs"].astype(np.float64), d["xt"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(xt, axis=1), np.linalg.norm(xs, axis=1), rtol=1e-5)
    ang = np.degrees(np.arctan2(xs[:, 0] * xt[:, 1] - xs[:, 1] * xt[:, 0], (xs * xt).sum(1)))
    np.testing.assert_allclose(ang, 30.0, atol=1e-3)
    d90 = data.two_moons(key=key, angle=90.0)
    np.testing.assert_allclose(d90["xt"], np.stack([-xs[:, 1], xs[:, 0]], 1), atol=1e-6)
    assert d["xs"].shape == (100, 2) and d["xs"].dtype == np.float32


def test_bias_regression():
    f = data.bias_regression_function
    e = math.exp
    np.testing.assert_allclose(
        f(np.array([0.0, 1.0, 2.0])), [0.0, 1.0, 16 * e(-4) + 4 * (1 - e(-4))], rtol=1e-12
    )
    d = data.sample_bias_regression(key=jax.random.key(0), n_source=4000, n_target=4000)
    assert d["xs"].shape == (4000, 1) and d["ys"].shape == (4000,)
    assert d["f"] is f
    resid = d["ys"] - f(d["xs"][:, 0].astype(np.float64))
    assert abs(resid.std() - 0.1) < 0.01 and abs(resid.mean()) < 0.01
    assert abs(d["xs"].std() - 0.5) < 0.03
    assert d["xt"].min() >= -1.5 and d["xt"].max() <= 1.5
    assert abs(d["xt"].std() - 3 / math.sqrt(12)) < 0.03
    small = data.sample_bias_regression()
    assert small["xs"].shape == (100, 1) and small["xt"].shape == (100, 1)
    np.testing.assert_array_equal(small["ys"], data.sample_bias_regression()["ys"])


def test_float64_when_x64_is_enabled():
    with jax.enable_x64(True):
        (xs, ys), _, info = data.sample_sinusoid_tasks(
            key=jax.random.key(0), num_tasks=3, num_support=4, num_query=1
        )
        assert xs.dtype == ys.dtype == np.float64
        np.testing.assert_allclose(
            ys,
            np.asarray(info.amplitude)[:, None, None]
            * np.sin(np.asarray(xs) - np.asarray(info.phase)[:, None, None]),
            rtol=1e-12,
        )
        w, y = data.sample_quadratics(key=jax.random.key(0), num_functions=2)
        assert w.dtype == y.dtype == np.float64
