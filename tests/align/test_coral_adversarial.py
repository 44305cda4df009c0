"""CORAL, Deep CORAL loss, gradient reversal, DANN schedules and loss, and bad-input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import align
from tests.align.helpers import DTYPES, check_fd_grad, dtype_context


def np_cov(x):
    x = np.asarray(x, np.float64)
    xc = x - x.mean(0)
    return xc.T @ xc / (len(x) - 1)


@pytest.mark.parametrize("match_mean", [False, True])
def test_coral_recolours_to_target_covariance(match_mean):
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
        xs = rng.normal(size=(300, 4)) @ a + 3.0
        xt = rng.normal(size=(200, 4)) @ b - 1.0
        out = np.asarray(align.coral(xs, xt, eps=1e-10, match_mean=match_mean))
        np.testing.assert_allclose(np_cov(out), np_cov(xt), rtol=1e-6, atol=1e-8)
        if match_mean:
            np.testing.assert_allclose(out.mean(0), xt.mean(0), atol=1e-8)


def test_coral_matches_numpy_formula_with_ridge():
    rng = np.random.default_rng(1)
    xs, xt = rng.normal(size=(50, 3)), rng.normal(size=(40, 3)) * 2

    def mpow(c, p):
        e, v = np.linalg.eigh(c)
        return (v * e**p) @ v.T

    want = xs @ mpow(np_cov(xs) + np.eye(3), -0.5) @ mpow(np_cov(xt) + np.eye(3), 0.5)
    np.testing.assert_allclose(
        align.coral(xs.astype(np.float32), xt.astype(np.float32)), want, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("dtype_name", DTYPES)
def test_coral_loss_formula(dtype_name):
    rng = np.random.default_rng(2)
    with dtype_context(dtype_name) as dt:
        fs, ft = rng.normal(size=(30, 5)).astype(dt), (rng.normal(size=(20, 5)) * 1.5).astype(dt)
        d = 5
        want = np.sum((np.cov(fs.T) - np.cov(ft.T)) ** 2) / (4 * d * d)  # np.cov: centred, n-1
        got = align.coral_loss(fs, ft)
        assert got.dtype == dt
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == np.float32 else 1e-12)


def test_fd_gradients_coral_and_losses_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        xs, xt = rng.normal(size=(12, 3)), rng.normal(size=(10, 3)) * 1.3
        check_fd_grad(lambda a, b: align.coral_loss(a, b), (xs, xt), 0)
        check_fd_grad(lambda a, b: align.coral_loss(a, b), (xs, xt), 1)
        proj = rng.normal(size=(12, 3))
        check_fd_grad(lambda a, b: jnp.sum(align.coral(a, b) * proj), (xs, xt), 0)
        check_fd_grad(lambda a, b: jnp.sum(align.coral(a, b) * proj), (xs, xt), 1)
        zs, zt, w = rng.normal(size=7), rng.normal(size=5), rng.uniform(0.5, 2, size=7)
        f = lambda a, b, w: align.domain_adversarial_loss(a, b, weights_source=w)
        for i in range(3):
            check_fd_grad(f, (zs, zt, w), i)


@pytest.mark.parametrize("scale", [1.0, 0.3, 2.5])
def test_gradient_reversal_on_pytrees(scale):
    tree = {"a": jnp.arange(3.0), "b": (jnp.ones((2, 2)), jnp.array(2.0))}
    out = align.gradient_reversal(tree, scale)
    assert jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.all(u == v)), out, tree))
    f = lambda t: jnp.sum(jnp.sin(t["a"])) + jnp.sum(t["b"][0] ** 3) + jnp.exp(t["b"][1])
    g = jax.grad(f)(tree)
    g_rev = jax.jit(jax.grad(lambda t, s: f(align.gradient_reversal(t, s))))(tree, scale)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, -scale * v, rtol=1e-6), g_rev, g)


def test_gradient_reversal_keeps_float64_dtype_and_traced_scale():
    with jax.enable_x64(True):
        x = jnp.ones(3, jnp.float32)
        g = jax.grad(lambda x, s: jnp.sum(align.gradient_reversal(x, s) * 2.0))(x, jnp.float64(0.5))
        assert g.dtype == jnp.float32
        np.testing.assert_allclose(g, -1.0)


def test_dann_schedules():
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(align.dann_lambda(p), 2 / (1 + np.exp(-10 * p)) - 1, rtol=1e-6)
    lr = align.dann_lr_schedule(0.01, total_steps=100)
    for step in (0, 10, 50, 100, 200):
        pp = min(step / 100, 1.0)
        np.testing.assert_allclose(lr(step), 0.01 / (1 + 10 * pp) ** 0.75, rtol=1e-6)
    lam = align.dann_lambda_schedule(100, gamma=5.0, scale=0.5)
    np.testing.assert_allclose(lam(30), 0.5 * (2 / (1 + np.exp(-1.5)) - 1), rtol=1e-6)
    import optax

    opt = optax.sgd(lr)
    state = opt.init(jnp.zeros(2))
    upd, _ = opt.update(jnp.ones(2), state)
    np.testing.assert_allclose(upd, -0.01, rtol=1e-6)


def test_domain_adversarial_loss_formula():
    rng = np.random.default_rng(4)
    zs, zt, w = rng.normal(size=6), rng.normal(size=(4, 1)), rng.uniform(0.1, 2, size=6)
    sig = lambda z: 1 / (1 + np.exp(-z))
    src = -np.log(1 - sig(zs))
    tgt = -np.log(sig(zt[:, 0]))
    np.testing.assert_allclose(
        align.domain_adversarial_loss(zs, zt), 0.5 * (src.mean() + tgt.mean()), rtol=1e-5
    )
    np.testing.assert_allclose(
        align.domain_adversarial_loss(zs, zt, weights_source=w),
        0.5 * ((w * src).sum() / w.sum() + tgt.mean()),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        align.domain_adversarial_loss(np.zeros(3), np.zeros(2)), np.log(2), rtol=1e-6
    )
