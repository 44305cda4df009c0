"""jtransfer._core: the shared checks, keys, distances and kernels (references: NumPy/SciPy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from jtransfer import align
from jtransfer._core import checks
from jtransfer._core.keys import default_key


def test_default_key_is_key0_and_passes_keys_through():
    assert np.array_equal(
        jax.random.key_data(default_key(None)), jax.random.key_data(jax.random.key(0))
    )
    k = jax.random.key(7)
    assert default_key(k) is k
    raw = jax.random.PRNGKey(3)
    assert default_key(raw) is raw


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, [1.0, 0.0]])
def test_check_positive_rejects_nonpositive_nan_and_inf(bad):
    with pytest.raises(ValueError, match="lam must be positive and finite"):
        checks.check_positive(bad, "lam")


def test_value_checks_are_skipped_for_tracers_and_shape_checks_are_not():
    seen = []

    @jax.jit
    def f(x, lam):
        seen.append(checks.is_tracer(lam))
        checks.check_positive(lam, "lam")  # skipped: traced value
        checks.check_finite(x, "x")  # skipped: traced value
        return checks.check_matrix(x, "x").sum()  # shape check still runs

    assert float(f(jnp.ones((3, 2)), -1.0)) == 6.0 and seen == [True]
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\)"):
        f(jnp.ones(3), 1.0)
    assert not checks.is_tracer(jnp.ones(2)) and checks.is_concrete(1.0)


def test_check_nonnegative_and_positive_int():
    checks.check_nonnegative(0.0, "eps")
    with pytest.raises(ValueError, match="eps must be non-negative"):
        checks.check_nonnegative(-1e-3, "eps")
    assert checks.check_positive_int(np.int64(3), "n") == 3
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="n must be a positive int"):
            checks.check_positive_int(bad, "n")


def test_check_same_structure_names_owner_and_shapes():
    ref = {"a": jnp.zeros((2, 3))}
    checks.check_same_structure({"a": np.ones((2, 3))}, ref, "theta", owner="opt")
    with pytest.raises(ValueError, match="opt: theta has tree structure"):
        checks.check_same_structure([jnp.zeros((2, 3))], ref, "theta", owner="opt")
    with pytest.raises(ValueError, match="leaf shapes"):
        checks.check_same_structure({"a": jnp.zeros((3, 2))}, ref, "theta")


def test_check_probabilities():
    checks.check_probabilities(np.array([[0.2, 0.8]]), "p", rows_sum_to_one=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        checks.check_probabilities(np.array([0.5, 1.5]), "p")
    with pytest.raises(ValueError, match="summing to 1"):
        checks.check_probabilities(np.array([[0.5, 0.6]]), "p", rows_sum_to_one=True)


def test_public_distances_and_bandwidth_match_scipy_and_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    with jax.enable_x64(True):
        np.testing.assert_allclose(
            align.pairwise_sq_dists(jnp.asarray(x), jnp.asarray(y)),
            cdist(x, y, "sqeuclidean"),
            rtol=1e-12,
            atol=1e-12,
        )
        d = align.pairwise_sq_dists(jnp.asarray(x), jnp.asarray(x), same=True)
        assert np.all(np.diag(np.asarray(d)) == 0.0)
        np.testing.assert_allclose(align.covariance(jnp.asarray(x)), np.cov(x.T), rtol=1e-12)
        z = np.concatenate([x, y])
        np.testing.assert_allclose(
            align.resolve_bandwidth("median", jnp.asarray(x), jnp.asarray(y)),
            [np.median(pdist(z))],
            rtol=1e-12,
        )
    np.testing.assert_allclose(align.resolve_bandwidth((0.5, 2.0), jnp.zeros((2, 1))), [0.5, 2.0])
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        align.resolve_bandwidth(-1.0, jnp.zeros((2, 1)))
