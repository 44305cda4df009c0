"""mtl: every bad input in one table (#17 items 6-8), and IMTL-G's degenerate answer."""

import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import mtl
from tests.bad_inputs import Case, check_case, ids

GRAM = jnp.array([[2.0, 0.3], [0.3, 1.0]])

CASES = [
    # value checks
    Case(
        "weighted_loss: negative weight",
        lambda w: mtl.weighted_loss(jnp.ones(2), w),
        (jnp.array([1.0, -0.5]),),
        "weights",
    ),
    Case(
        "weighted_loss: NaN weight",
        lambda w: mtl.weighted_loss(jnp.ones(2), w),
        (jnp.array([1.0, np.nan]),),
        "weights",
    ),
    Case("min_norm_weights: NaN Gram", mtl.min_norm_weights, (GRAM.at[0, 1].set(jnp.nan),), "gram"),
    Case("min_norm_weights: negative-definite Gram", mtl.min_norm_weights, (-GRAM,), "gram"),
    Case(
        "min_norm_weights: indefinite Gram",
        mtl.min_norm_weights,
        (jnp.array([[1.0, 3.0], [3.0, 1.0]]),),
        "gram",
    ),
    Case("imtl_g_weights: Inf Gram", mtl.imtl_g_weights, (GRAM.at[1, 1].set(jnp.inf),), "gram"),
    Case(
        "dwa: temperature -1 (static)",
        lambda: mtl.dwa(2, temperature=-1.0),
        (),
        "temperature",
        "static",
    ),
    # shapes
    Case(
        "weighted_loss: weights of another length",
        lambda w: mtl.weighted_loss(jnp.ones(2), w),
        (jnp.ones(3),),
        "weights",
        "shape",
    ),
    Case(
        "weighted_loss: empty losses",
        lambda v: mtl.weighted_loss(v),
        (jnp.ones(0),),
        "losses",
        "shape",
    ),
    Case(
        "min_norm_weights: non-square Gram",
        mtl.min_norm_weights,
        (jnp.ones((2, 3)),),
        "gram",
        "shape",
    ),
    Case("imtl_g_weights: one task", mtl.imtl_g_weights, (jnp.ones((1, 1)),), "2 tasks", "shape"),
    Case(
        "uncertainty_weighted_loss: log_sigma of another length",
        lambda s: mtl.uncertainty_weighted_loss(jnp.ones(2), s),
        (jnp.ones(3),),
        "log_sigma",
        "shape",
    ),
    # static
    Case(
        "uncertainty_weighted_loss: unknown kind",
        lambda: mtl.uncertainty_weighted_loss(jnp.ones(2), jnp.zeros(2), kinds="ranking"),
        (),
        "kinds",
        "static",
    ),
    Case("equal_weights: 0 tasks", lambda: mtl.equal_weights(0), (), "num_tasks", "static"),
    # folded from tests/mtl/test_weighting.py
    Case(
        "uncertainty_weighted_loss: kinds of another length than the losses",
        lambda: mtl.uncertainty_weighted_loss(jnp.ones(3), jnp.zeros(3), kinds=("regression",) * 2),
        (),
        "kinds",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)


def test_imtl_g_with_identical_task_gradients_gives_the_minimum_norm_answer():
    """Two identical gradients made IMTL-G's system singular (NaN): now the minimum-norm
    weights satisfying its equations, (1/2, 1/2); with a third, different task the projections
    of the update on every task direction are equal (the IMTL-G condition, checked directly)."""
    g = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]], np.float32)
    w2 = np.asarray(mtl.imtl_g_weights(jnp.asarray(g[:2] @ g[:2].T)))
    np.testing.assert_allclose(w2, [0.5, 0.5], atol=1e-6)
    w3 = np.asarray(mtl.imtl_g_weights(jnp.asarray(g @ g.T)))
    assert np.all(np.isfinite(w3)) and np.isclose(w3.sum(), 1.0, atol=1e-6)
    update = w3 @ g
    proj = g @ update / np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(proj, proj[0], rtol=1e-5)
    # a regular Gram keeps the closed-form solve: equal projections as well
    w = np.asarray(mtl.imtl_g_weights(GRAM))
    assert np.isfinite(w).all()
