"""Loss weighting: uncertainty (analytic optimum), DWA and GradNorm (NumPy references)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer import mtl


@pytest.mark.parametrize("kinds,factor", [("regression", 0.5), ("classification", 1.0)])
def test_uncertainty_grad_zero_at_analytic_optimum(kinds, factor, dtype):
    losses = jnp.asarray([0.3, 1.7, 4.0], dtype)
    opt = 0.5 * jnp.log(2 * factor * losses)  # sigma^2 = 2 c L
    g = jax.grad(lambda s: mtl.uncertainty_weighted_loss(losses, s, kinds=kinds))(opt)
    np.testing.assert_allclose(g, 0.0, atol=1e-6 if dtype == np.float32 else 1e-14)
    # away from the optimum the gradient is not zero and its sign points back to it
    g_lo = jax.grad(lambda s: mtl.uncertainty_weighted_loss(losses, s, kinds=kinds))(opt - 0.5)
    assert np.all(np.asarray(g_lo) < 0)
    ref = np.sum(factor * np.exp(-2 * np.asarray(opt)) * np.asarray(losses) + np.asarray(opt))
    np.testing.assert_allclose(
        mtl.uncertainty_weighted_loss(losses, opt, kinds=kinds), ref, rtol=1e-6
    )


def test_weighted_loss_and_validation():
    losses = jnp.asarray([1.0, 2.0, 3.0])
    assert float(mtl.weighted_loss(losses)) == 6.0
    assert float(mtl.weighted_loss(losses, jnp.asarray([1.0, 0.0, 2.0]))) == 7.0
    with pytest.raises(ValueError, match="losses"):
        mtl.dwa(3).update(None, mtl.dwa(3).init(None), losses=jnp.ones(2))


def test_dwa_matches_formula():
    t, temp = 3, 2.0
    seq = np.array([[1.0, 2.0, 3.0], [0.8, 1.9, 2.0], [0.4, 1.8, 1.9], [0.35, 1.0, 1.9]])
    w_fn = mtl.dwa(t, temperature=temp)
    state = w_fn.init(None)
    np.testing.assert_allclose(state.weights, 1.0)
    update = jax.jit(lambda losses, state: w_fn.update(None, state, losses=losses))
    for k, losses in enumerate(seq):
        _, state = update(jnp.asarray(losses, jnp.float32), state)
        w = state.weights
        if k == 0:
            np.testing.assert_allclose(w, 1.0)
        else:
            r = seq[k] / seq[k - 1]
            ref = t * np.exp(r / temp) / np.sum(np.exp(r / temp))
            np.testing.assert_allclose(w, ref, rtol=1e-5)


def test_gradnorm_step_matches_numpy():
    t, alpha, lr = 3, 1.5, 0.1
    gn = mtl.gradnorm(t, alpha=alpha, learning_rate=lr)
    state = gn.init(None)
    l0 = np.array([2.0, 1.0, 4.0])
    _, state = gn.update(
        None, state, losses=jnp.asarray(l0), grad_norms=jnp.asarray([1.0, 2.0, 0.5])
    )
    w = state.weights

    # first step: all relative rates are 1 -> targets = mean(G); check against numpy
    def np_step(w, losses, l0, norms):
        rel = losses / l0
        r = rel / rel.mean()
        g = w * norms
        target = g.mean() * r**alpha
        w = w - lr * np.sign(g - target) * norms
        w = np.maximum(w, 1e-3)
        return t * w / w.sum()

    ref = np_step(np.ones(t), l0, l0, np.array([1.0, 2.0, 0.5]))
    np.testing.assert_allclose(w, ref, rtol=1e-6)
    losses = np.array([1.0, 0.9, 1.0])  # task 1 trains slowest (relative loss 0.9)
    norms = np.array([1.0, 1.0, 1.0])
    _, state = gn.update(None, state, losses=jnp.asarray(losses), grad_norms=jnp.asarray(norms))
    w2 = state.weights
    np.testing.assert_allclose(w2, np_step(np.asarray(w), losses, l0, norms), rtol=1e-6)
    np.testing.assert_allclose(np.sum(w2), t, rtol=1e-6)
    with pytest.raises(ValueError, match="grad_norms"):
        gn.update(None, state, losses=jnp.ones(3), grad_norms=jnp.ones(2))


def _task_grads(t=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": jnp.asarray(rng.normal(size=(t, 4, 2)), jnp.float32),
        "b": jnp.asarray(rng.normal(size=(t, 3)), jnp.float32),
    }


@pytest.mark.parametrize("name", ["dwa", "gradnorm", "uncertainty"])
def test_weightings_chain_combine_with_current_weights(name):
    """In ``optax.chain(weighting, sgd)`` the step is ``-lr sum_t w_t g_t`` with the weights
    held *before* the call, and the state advances exactly as the state-only call does."""
    t, lr = 3, 0.1
    weighting = {
        "dwa": lambda: mtl.dwa(t),
        "gradnorm": lambda: mtl.gradnorm(t),
        "uncertainty": lambda: mtl.uncertainty_weighting(t, optax.sgd(0.05)),
    }[name]()
    extra = {"grad_norms": jnp.asarray([1.0, 2.0, 0.5])} if name == "gradnorm" else {}
    g = _task_grads(t)
    params = jax.tree.map(lambda x: x[0], g)
    opt = optax.chain(weighting, optax.sgd(lr))
    step = jax.jit(lambda g, s, losses: opt.update(g, s, params, losses=losses, **extra))
    state, alone = opt.init(params), weighting.init(None)
    rng = np.random.default_rng(1)
    for _ in range(3):
        losses = jnp.asarray(rng.uniform(0.5, 2.0, size=t), jnp.float32)
        w = np.asarray(alone.weights, np.float64)
        updates, state = step(g, state, losses)
        for k in g:
            want = -lr * np.tensordot(w, np.asarray(g[k], np.float64), axes=1)
            np.testing.assert_allclose(updates[k], want, rtol=1e-5, atol=1e-6)
        _, alone = weighting.update(None, alone, losses=losses, **extra)
        chex.assert_trees_all_close(state[0], alone, rtol=1e-6)
        new = optax.apply_updates(params, updates)
        chex.assert_trees_all_equal_shapes(new, params)


def test_uncertainty_weighting_matches_joint_gradient_descent():
    """The transform's two halves equal SGD on ``uncertainty_weighted_loss`` in
    ``(params, log_sigma)`` jointly, for a linear model with three regression tasks."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 16, 4)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(3, 16)), jnp.float32)

    def losses_of(w):
        return jnp.mean((jnp.einsum("tnd,d->tn", x, w) - y) ** 2, axis=1)

    lr = 0.05
    w_joint, s_joint = jnp.zeros(4), jnp.zeros(3)
    opt = optax.chain(mtl.uncertainty_weighting(3, optax.sgd(lr)), optax.sgd(lr))
    w, state = jnp.zeros(4), opt.init(jnp.zeros(4))
    for _ in range(5):
        gw, gs = jax.grad(
            lambda w, s: mtl.uncertainty_weighted_loss(losses_of(w), s), argnums=(0, 1)
        )(w_joint, s_joint)
        w_joint, s_joint = w_joint - lr * gw, s_joint - lr * gs
        task_grads = jax.jacrev(losses_of)(w)
        updates, state = opt.update(task_grads, state, w, losses=losses_of(w))
        w = optax.apply_updates(w, updates)
    np.testing.assert_allclose(w, w_joint, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state[0].log_sigma, s_joint, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="losses"):
        opt.update(task_grads, state, w, losses=jnp.ones(2))
