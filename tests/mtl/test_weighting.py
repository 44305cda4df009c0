"""Loss weighting: uncertainty (analytic optimum), DWA and GradNorm (NumPy references)."""

import jax
import jax.numpy as jnp
import numpy as np
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
    np.testing.assert_allclose(mtl.uncertainty_weighted_loss(losses, opt, kinds=kinds), ref,
                               rtol=1e-6)


def test_weighted_loss_and_validation():
    losses = jnp.asarray([1.0, 2.0, 3.0])
    assert float(mtl.weighted_loss(losses)) == 6.0
    assert float(mtl.weighted_loss(losses, jnp.asarray([1.0, 0.0, 2.0]))) == 7.0
    with pytest.raises(ValueError, match="weights"):
        mtl.weighted_loss(losses, jnp.ones(2))
    with pytest.raises(ValueError, match="log_sigma"):
        mtl.uncertainty_weighted_loss(losses, jnp.zeros(2))
    with pytest.raises(ValueError, match="kinds"):
        mtl.uncertainty_weighted_loss(losses, jnp.zeros(3), kinds=("regression",) * 2)
    with pytest.raises(ValueError, match="temperature"):
        mtl.dwa(3, temperature=0.0)
    with pytest.raises(ValueError, match="losses"):
        mtl.dwa(3).update(jnp.ones(2), mtl.dwa(3).init())


def test_dwa_matches_formula():
    t, temp = 3, 2.0
    seq = np.array([[1.0, 2.0, 3.0], [0.8, 1.9, 2.0], [0.4, 1.8, 1.9], [0.35, 1.0, 1.9]])
    w_fn = mtl.dwa(t, temperature=temp)
    state = w_fn.init()
    np.testing.assert_allclose(state.weights, 1.0)
    update = jax.jit(w_fn.update)
    for k, losses in enumerate(seq):
        w, state = update(jnp.asarray(losses, jnp.float32), state)
        if k == 0:
            np.testing.assert_allclose(w, 1.0)
        else:
            r = seq[k] / seq[k - 1]
            ref = t * np.exp(r / temp) / np.sum(np.exp(r / temp))
            np.testing.assert_allclose(w, ref, rtol=1e-5)


def test_gradnorm_step_matches_numpy():
    t, alpha, lr = 3, 1.5, 0.1
    gn = mtl.gradnorm(t, alpha=alpha, learning_rate=lr)
    state = gn.init()
    l0 = np.array([2.0, 1.0, 4.0])
    w, state = gn.update(jnp.asarray(l0), state, grad_norms=jnp.asarray([1.0, 2.0, 0.5]))
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
    w2, state = gn.update(jnp.asarray(losses), state, grad_norms=jnp.asarray(norms))
    np.testing.assert_allclose(w2, np_step(np.asarray(w), losses, l0, norms), rtol=1e-6)
    np.testing.assert_allclose(np.sum(w2), t, rtol=1e-6)
    with pytest.raises(ValueError, match="grad_norms"):
        gn.update(jnp.ones(3), state, grad_norms=jnp.ones(2))
