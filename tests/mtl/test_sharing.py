"""Hard/soft sharing, the hierarchical prior and its marginal likelihood, cross-stitch."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy.stats import multivariate_normal

from jtransfer import models, mtl


def _linear(p, x):
    return x @ p["w"] + p["b"][None]


def _hard_params(rng, d_in=4, d_z=3, outs=(2, 1, 2), dtype=np.float32):
    return {
        "trunk": {
            "w": jnp.asarray(rng.normal(size=(d_in, d_z)), dtype),
            "b": jnp.asarray(rng.normal(size=(d_z,)), dtype),
        },
        "heads": tuple(
            {
                "w": jnp.asarray(rng.normal(size=(d_z, o)), dtype),
                "b": jnp.asarray(rng.normal(size=(o,)), dtype),
            }
            for o in outs
        ),
    }


def test_hard_sharing_matches_manual_and_validates():
    rng = np.random.default_rng(0)
    params = _hard_params(rng)
    x = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    apply = mtl.hard_sharing(lambda p, x: jnp.tanh(_linear(p, x)), [_linear] * 3)
    npp = jax.tree.map(np.asarray, params)
    z = np.tanh(np.asarray(x) @ npp["trunk"]["w"] + npp["trunk"]["b"])
    for t in range(3):
        ref = z @ npp["heads"][t]["w"] + npp["heads"][t]["b"]
        np.testing.assert_allclose(apply(params, x, t), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(apply(params, x, np.int32(t)), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(apply(params, x, None)[t], ref, rtol=1e-5, atol=1e-5)
    assert apply.num_tasks == 3
    with pytest.raises(ValueError, match="out of range"):
        apply(params, x, 3)
    with pytest.raises(ValueError, match="out of range"):
        apply(params, x, -1)
    with pytest.raises(ValueError, match="heads"):
        apply({"trunk": params["trunk"], "heads": params["heads"][:2]}, x, 0)
    with pytest.raises(ValueError, match="at least one"):
        mtl.hard_sharing(_linear, [])


def test_hard_sharing_traced_task_index():
    rng = np.random.default_rng(1)
    params = _hard_params(rng, outs=(2, 2, 2))
    x = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    apply = mtl.hard_sharing(_linear, [_linear] * 3)
    out = jax.jit(jax.vmap(apply, in_axes=(None, None, 0)))(params, x, jnp.arange(3))
    for t in range(3):
        np.testing.assert_allclose(out[t], apply(params, x, t), rtol=1e-5, atol=1e-5)


def test_hard_sharing_stacked_heads_match_sequence():
    rng = np.random.default_rng(11)
    params = _hard_params(rng, outs=(2, 2, 2))
    x = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    seq = mtl.hard_sharing(_linear, [_linear] * 3)
    stk = mtl.hard_sharing(_linear, _linear, num_tasks=3)
    sparams = {
        "trunk": params["trunk"],
        "heads": jax.tree.map(lambda *a: jnp.stack(a), *params["heads"]),
    }
    outs = jax.jit(jax.vmap(stk, in_axes=(None, None, 0)))(sparams, x, jnp.arange(3))
    for t in range(3):
        np.testing.assert_allclose(stk(sparams, x, t), seq(params, x, t), rtol=1e-6)
        np.testing.assert_allclose(outs[t], seq(params, x, t), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stk(sparams, x)[1], seq(params, x, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        stk(sparams, x, 3)
    with pytest.raises(ValueError, match="leading axis 3"):
        stk(
            {"trunk": params["trunk"], "heads": jax.tree.map(lambda a: a[:2], sparams["heads"])},
            x,
            0,
        )
    with pytest.raises(ValueError, match="num_tasks"):
        mtl.hard_sharing(_linear, _linear)


def test_task_losses_rejects_empty_task():
    rng = np.random.default_rng(2)
    params = _hard_params(rng, outs=(1, 1))
    apply = mtl.hard_sharing(_linear, [_linear] * 2)
    mse = lambda p, y: jnp.mean((p[:, 0] - y) ** 2)
    xs = [jnp.ones((3, 4)), jnp.ones((2, 4))]
    ys = [jnp.ones((3,)), jnp.ones((2,))]
    losses = mtl.task_losses(apply, mse, params, xs, ys)
    chex.assert_shape(losses, (2,))
    with pytest.raises(ValueError, match="zero examples"):
        mtl.task_losses(apply, mse, params, [xs[0], jnp.ones((0, 4))], [ys[0], jnp.ones((0,))])
    with pytest.raises(ValueError, match="2 heads"):
        mtl.task_losses(apply, mse, params, xs + xs[:1], ys + ys[:1])


def test_hard_sharing_net_module_matches_pure_form():
    rngs = nnx.Rngs(0)
    trunk = nnx.Linear(4, 3, rngs=rngs)
    heads = [nnx.Linear(3, 2, rngs=rngs), nnx.Linear(3, 1, rngs=rngs)]
    net = models.HardSharingNet(trunk, heads)
    x = jnp.ones((2, 4))
    params = {
        "trunk": {"w": trunk.kernel[...], "b": trunk.bias[...]},
        "heads": tuple({"w": h.kernel[...], "b": h.bias[...]} for h in heads),
    }
    apply = mtl.hard_sharing(_linear, [_linear] * 2)
    for t in range(2):
        np.testing.assert_allclose(net(x, t), apply(params, x, t), rtol=1e-6)
    assert len(net(x)) == 2
    with pytest.raises(ValueError, match="out of range"):
        net(x, 2)
    state = nnx.state(net, nnx.Param)
    assert len(jax.tree.leaves(state)) == 6


def test_soft_sharing_penalty_closed_form():
    dtype = np.float32
    rng = np.random.default_rng(3)
    task = {
        "a": jnp.asarray(rng.normal(size=(3, 2, 2)), dtype),
        "b": jnp.asarray(rng.normal(size=(3, 4)), dtype),
    }
    shared = {
        "a": jnp.asarray(rng.normal(size=(2, 2)), dtype),
        "b": jnp.asarray(rng.normal(size=(4,)), dtype),
    }
    lam = np.array([0.5, 2.0, 0.0])
    sq = np.array(
        [
            np.sum((np.asarray(task["a"][t]) - shared["a"]) ** 2)
            + np.sum((np.asarray(task["b"][t]) - shared["b"]) ** 2)
            for t in range(3)
        ]
    )
    np.testing.assert_allclose(
        mtl.soft_sharing_penalty(task, shared, jnp.asarray(lam, dtype)), 0.5 * lam @ sq, rtol=1e-5
    )
    # hierarchical prior NLL == sum of independent Gaussian log densities (SciPy)
    log_sigma = np.array([-0.3, 0.2, 0.7])
    ref = 0.0
    for t in range(3):
        v = np.concatenate([np.ravel(task["a"][t]), np.ravel(task["b"][t])])
        m = np.concatenate([np.ravel(shared["a"]), np.ravel(shared["b"])])
        ref -= multivariate_normal(m, np.exp(2 * log_sigma[t]) * np.eye(8)).logpdf(v)
    np.testing.assert_allclose(
        mtl.hierarchical_prior_nll(task, shared, jnp.asarray(log_sigma, dtype)), ref, rtol=1e-5
    )
    with pytest.raises(ValueError, match="strength"):
        mtl.soft_sharing_penalty(task, shared, jnp.ones((2,)))
    with pytest.raises(ValueError, match="non-negative"):
        mtl.soft_sharing_penalty(task, shared, -1.0)
    with pytest.raises(ValueError, match="structure"):
        mtl.soft_sharing_penalty({"a": task["a"]}, shared, 1.0)


def _ragged_linear(rng, sizes, d, thetas, noise=0.3):
    n = max(sizes)
    x = np.zeros((len(sizes), n, d))
    y = np.zeros((len(sizes), n))
    mask = np.zeros((len(sizes), n))
    for t, k in enumerate(sizes):
        x[t, :k] = rng.normal(size=(k, d))
        y[t, :k] = x[t, :k] @ thetas[t] + noise * rng.normal(size=k)
        mask[t, :k] = 1
    return x, y, mask


def _solve_quadratic(obj, z0):
    """Exact minimiser of a quadratic objective of a flat vector (one Newton step)."""

    @jax.jit
    def newton(z0):
        return z0 - jnp.linalg.solve(jax.hessian(obj)(z0), jax.grad(obj)(z0))

    return newton(z0)


@pytest.mark.parametrize("strength", [1e7, 0.0])
def test_soft_sharing_limits(strength):
    """λ → ∞ gives the hard-sharing (pooled) solution; λ = 0 gives independent tasks."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(4)
        d, sizes = 3, (12, 9, 15)
        x, y, mask = _ragged_linear(rng, sizes, d, rng.normal(size=(3, d)))
        t = len(sizes)

        def obj(z):
            thetas, theta0 = z[: t * d].reshape(t, d), z[t * d :]
            r = (jnp.einsum("tnd,td->tn", x, thetas) - y) * mask
            return (
                0.5 * jnp.sum(r**2)
                + mtl.soft_sharing_penalty({"w": thetas}, {"w": theta0}, strength)
                + 1e-9 * jnp.sum(theta0**2)
            )

        z = _solve_quadratic(obj, jnp.zeros(t * d + d))
        thetas = np.asarray(z[: t * d].reshape(t, d))
        if strength > 0:
            xp = np.concatenate([x[i, :k] for i, k in enumerate(sizes)])
            yp = np.concatenate([y[i, :k] for i, k in enumerate(sizes)])
            pooled = np.linalg.lstsq(xp, yp, rcond=None)[0]
            np.testing.assert_allclose(thetas, np.broadcast_to(pooled, (t, d)), atol=1e-5)
        else:
            for i, k in enumerate(sizes):
                ref = np.linalg.lstsq(x[i, :k], y[i, :k], rcond=None)[0]
                np.testing.assert_allclose(thetas[i], ref, atol=1e-8)


def test_linear_marginal_matches_scipy(dtype):
    rng = np.random.default_rng(5)
    d, sizes = 3, (7, 4, 6)
    x, y, mask = _ragged_linear(rng, sizes, d, rng.normal(size=(3, d)))
    w0 = rng.normal(size=d)
    log_sigma, log_noise = np.array([-0.5, 0.1, 0.4]), np.array([-0.2, 0.0, 0.3])
    ref = 0.0
    for t, k in enumerate(sizes):
        xt = x[t, :k]
        cov = np.exp(2 * log_sigma[t]) * xt @ xt.T + np.exp(2 * log_noise[t]) * np.eye(k)
        ref -= multivariate_normal(xt @ w0, cov).logpdf(y[t, :k])
    c = lambda a: jnp.asarray(a, dtype)
    got = jax.jit(mtl.linear_marginal_nll)(c(x), c(y), c(mask), c(w0), c(log_sigma), c(log_noise))
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-10)
    # posterior mean == ridge toward w0
    post = jax.jit(mtl.linear_posterior_mean)(
        c(x), c(y), c(mask), c(w0), c(log_sigma), c(log_noise)
    )
    for t, k in enumerate(sizes):
        xt, s2, n2 = x[t, :k], np.exp(2 * log_sigma[t]), np.exp(2 * log_noise[t])
        a = xt.T @ xt / n2 + np.eye(d) / s2
        ref_t = w0 + np.linalg.solve(a, xt.T @ (y[t, :k] - xt @ w0) / n2)
        np.testing.assert_allclose(post[t], ref_t, rtol=1e-4, atol=1e-5)
    bad = mask.copy()
    bad[1] = 0
    with pytest.raises(ValueError, match=r"tasks \[1\] have zero examples"):
        mtl.linear_marginal_nll(c(x), c(y), c(bad), c(w0), c(log_sigma), c(log_noise))
    with pytest.raises(ValueError, match="shared_w"):
        mtl.linear_marginal_nll(c(x), c(y), c(mask), c(w0[:2]), c(log_sigma), c(log_noise))


def test_laplace_marginal_is_exact_for_orthogonal_linear_tasks():
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        t, n, d = 3, 8, 3
        x = np.stack(
            [np.linalg.qr(rng.normal(size=(n, d)))[0] * rng.uniform(1, 3, d) for _ in range(t)]
        )
        y = rng.normal(size=(t, n))
        w0, log_sigma, log_noise = rng.normal(size=d), np.array([-0.4, 0.0, 0.5]), -0.1
        exact = mtl.linear_marginal_nll(x, y, None, w0, log_sigma, log_noise)
        mode = mtl.linear_posterior_mean(x, y, None, w0, log_sigma, log_noise)
        s2 = np.exp(2 * log_noise)
        nll = 0.5 * np.sum((np.einsum("tnd,td->tn", x, mode) - y) ** 2, 1) / s2 + 0.5 * n * np.log(
            2 * np.pi * s2
        )
        curv = np.stack([np.diag(x[i].T @ x[i]) / s2 for i in range(t)])
        lap = mtl.laplace_marginal_nll(
            jnp.asarray(nll), {"w": mode}, {"w": w0}, log_sigma, {"w": jnp.asarray(curv)}
        )
        np.testing.assert_allclose(lap, exact, rtol=1e-10)


def test_learned_soft_sharing_recovers_relatedness():
    """Empirical Bayes: related tasks get a small σ_t, the unrelated one a large σ_t."""
    rng = np.random.default_rng(7)
    d, t = 4, 7
    theta0 = rng.normal(size=d)
    thetas = theta0 + 0.05 * rng.normal(size=(t, d))
    thetas[-1] = 3.0 * rng.normal(size=d)  # unrelated task
    x, y, mask = _ragged_linear(rng, (30,) * t, d, thetas, noise=0.3)
    x, y, mask = (jnp.asarray(a, jnp.float32) for a in (x, y, mask))
    opt = optax.adam(0.05)
    params = {"w0": jnp.zeros(d), "log_sigma": jnp.zeros(t), "log_noise": jnp.zeros(())}

    def loss(p):
        return mtl.linear_marginal_nll(x, y, mask, p["w0"], p["log_sigma"], p["log_noise"])

    @jax.jit
    def fit(params):
        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=600)
        return p

    p = fit(params)
    sigma = np.exp(np.asarray(p["log_sigma"]))
    assert np.all(sigma[:-1] < 0.25), sigma
    assert sigma[-1] > 1.5, sigma
    np.testing.assert_allclose(p["w0"], thetas[:-1].mean(0), atol=0.15)
    assert 0.2 < float(np.exp(p["log_noise"])) < 0.4


def test_cross_stitch_matches_einsum(dtype):
    rng = np.random.default_rng(8)
    f = jnp.asarray(rng.normal(size=(3, 2, 5)), dtype)
    a = jnp.asarray(rng.normal(size=(3, 3)), dtype)
    ref = np.stack(
        [sum(np.asarray(a)[t, s] * np.asarray(f)[s] for s in range(3)) for t in range(3)]
    )
    np.testing.assert_allclose(mtl.cross_stitch(a, f), ref, rtol=1e-5, atol=1e-6)
    ac = jnp.asarray(rng.normal(size=(5, 3, 3)), dtype)
    ref = np.stack(
        [sum(np.asarray(ac)[:, t, s] * np.asarray(f)[s] for s in range(3)) for t in range(3)]
    )
    np.testing.assert_allclose(mtl.cross_stitch(ac, f), ref, rtol=1e-5, atol=1e-6)
    unit = models.CrossStitch(3, 5, self_weight=0.8)
    np.testing.assert_allclose(np.asarray(unit.alpha[...]).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(unit(f), mtl.cross_stitch(unit.alpha[...], f), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha shape"):
        mtl.cross_stitch(jnp.ones((2, 2)), f)
