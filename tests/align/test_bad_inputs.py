"""align: every bad input in one table (#17 item 8); dtypes of the linear algebra (item 7)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import align
from tests.bad_inputs import Case, check_case, ids

X = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2)), jnp.float32)
Y = X + 1.0
NAN = X.at[0, 0].set(jnp.nan)
INF = X.at[1, 1].set(jnp.inf)

CASES = [
    # value checks: eager and under jit with debug checks
    Case("mmd2: bandwidth -1", lambda s: align.mmd2(X, Y, bandwidth=s), (-1.0,), "bandwidth"),
    Case("mmd2: bandwidth 0", lambda s: align.mmd2(X, Y, bandwidth=s), (0.0,), "bandwidth"),
    Case("mmd2: bandwidth NaN", lambda s: align.mmd2(X, Y, bandwidth=s), (np.nan,), "bandwidth"),
    Case(
        "mmd2: one of several bandwidths negative",
        lambda s: align.mmd2(X, Y, bandwidth=s),
        (jnp.array([1.0, -2.0]),),
        "bandwidth",
    ),
    Case("mmd2: NaN source", lambda x: align.mmd2(x, Y, bandwidth=1.0), (NAN,), "source"),
    Case("mmd2: Inf target", lambda y: align.mmd2(X, y, bandwidth=1.0), (INF,), "target"),
    Case(
        "mmd2: zero weights",
        lambda w: align.mmd2(X, Y, bandwidth=1.0, weights_source=w),
        (jnp.zeros(4),),
        "weights_source",
    ),
    Case(
        "mmd2: negative weight",
        lambda w: align.mmd2(X, Y, bandwidth=1.0, weights_source=w),
        (jnp.array([1.0, -1.0, 1.0, 1.0]),),
        "weights_source",
    ),
    Case(
        "mmd2: NaN weight",
        lambda w: align.mmd2(X, Y, bandwidth=1.0, weights_source=w),
        (jnp.array([1.0, np.nan, 1.0, 1.0]),),
        "weights_source",
    ),
    Case(
        "mmd2: unbiased with one positive weight",
        lambda w: align.mmd2(X, Y, bandwidth=1.0, weights_source=w),
        (jnp.array([1.0, 0.0, 0.0, 0.0]),),
        "weights_source",
    ),
    Case("mmd2: NaN source, median bandwidth", lambda x: align.mmd2(x, Y), (NAN,), "source"),
    Case("coral: eps -1", lambda e: align.coral(X, Y, eps=e), (-1.0,), "eps"),
    Case("coral: eps NaN", lambda e: align.coral(X, Y, eps=e), (np.nan,), "eps"),
    Case("coral: NaN source", lambda x: align.coral(x, Y), (NAN,), "source"),
    Case("coral_loss: Inf target", lambda y: align.coral_loss(X, y), (INF,), "target"),
    Case(
        "gaussian_kernel: bandwidth 0",
        lambda s: align.gaussian_kernel(X, Y, s),
        (0.0,),
        "bandwidth",
    ),
    Case("gaussian_kernel: NaN x", lambda x: align.gaussian_kernel(x, Y, 1.0), (NAN,), "x"),
    Case(
        "resolve_bandwidth: negative", lambda s: align.resolve_bandwidth(s, X), (-0.5,), "bandwidth"
    ),
    Case(
        "mk_mmd_weights: negative bandwidth",
        lambda b: align.mk_mmd_weights(X, Y, b),
        (jnp.array([1.0, -1.0]),),
        "bandwidths",
    ),
    Case(
        "mk_mmd_weights: ridge -1 (static)",
        lambda: align.mk_mmd_weights(X, Y, [1.0, 2.0], ridge=-1.0),
        (),
        "ridge",
        "static",
    ),
    Case(
        "gradient_reversal: scale NaN", lambda s: align.gradient_reversal(X, s), (np.nan,), "scale"
    ),
    Case("dann_lambda: gamma -1", lambda g: align.dann_lambda(0.5, gamma=g), (-1.0,), "gamma"),
    # shapes: at trace time, eager and under a plain jit
    Case("mmd2: rank-1 source", lambda x: align.mmd2(x, Y), (jnp.ones(4),), "source", "shape"),
    Case("mmd2: one sample", lambda x: align.mmd2(x, Y), (jnp.ones((1, 2)),), "source", "shape"),
    Case(
        "mmd2: feature dimensions differ",
        lambda y: align.mmd2(X, y),
        (jnp.ones((4, 3)),),
        "source and target",
        "shape",
    ),
    Case("mmd2: no features", lambda x: align.mmd2(x, x), (jnp.ones((4, 0)),), "source", "shape"),
    Case(
        "mmd2: linear with n != m",
        lambda y: align.mmd2(X, y, estimator="linear"),
        (jnp.ones((5, 2)),),
        "linear",
        "shape",
    ),
    Case(
        "mmd2: weights of the wrong shape",
        lambda w: align.mmd2(X, Y, weights_source=w),
        (jnp.ones(3),),
        "weights_source",
        "shape",
    ),
    Case(
        "coral: rank-3 target",
        lambda y: align.coral(X, y),
        (jnp.ones((4, 2, 1)),),
        "target",
        "shape",
    ),
    Case(
        "coral_loss: one sample",
        lambda x: align.coral_loss(x, Y),
        (jnp.ones((1, 2)),),
        "source",
        "shape",
    ),
    Case(
        "gradient_reversal: vector scale",
        lambda s: align.gradient_reversal(X, s),
        (jnp.ones(2),),
        "scale",
        "shape",
    ),
    Case(
        "mk_mmd_weights: n != m",
        lambda y: align.mk_mmd_weights(X, y, [1.0]),
        (jnp.ones((6, 2)),),
        "same number of rows",
        "shape",
    ),
    Case(
        "median_bandwidth: rank-1 x",
        lambda x: align.median_bandwidth(x),
        (jnp.ones(3),),
        "x",
        "shape",
    ),
    Case(
        "pairwise via gaussian_kernel: d differs",
        lambda y: align.gaussian_kernel(X, y, 1.0),
        (jnp.ones((2, 5)),),
        "x and y",
        "shape",
    ),
    # static arguments
    Case(
        "mmd2: unknown estimator",
        lambda: align.mmd2(X, Y, estimator="quadratic"),
        (),
        "estimator",
        "static",
    ),
    Case(
        "mmd2: bandwidth 'mean'",
        lambda: align.mmd2(X, Y, bandwidth="mean"),
        (),
        "bandwidth",
        "static",
    ),
    Case(
        "mmd2: bandwidth None", lambda: align.mmd2(X, Y, bandwidth=None), (), "bandwidth", "static"
    ),
    Case(
        "resolve_bandwidth: empty",
        lambda: align.resolve_bandwidth([], X),
        (),
        "bandwidth",
        "static",
    ),
    Case(
        "resolve_bandwidth: rank 2",
        lambda: align.resolve_bandwidth([[1.0]], X),
        (),
        "bandwidth",
        "static",
    ),
    Case(
        "mk_mmd_weights: 'median'",
        lambda: align.mk_mmd_weights(X, Y, "median"),
        (),
        "bandwidths",
        "static",
    ),
    Case("mmd2: source a string", lambda: align.mmd2("x", Y), (), "source", "static"),
    Case(
        "gradient_reversal: scale a string",
        lambda: align.gradient_reversal(X, "lambda"),
        (),
        "scale",
        "static",
    ),
    Case(
        "gradient_reversal: scale None",
        lambda: align.gradient_reversal(X, None),
        (),
        "scale",
        "static",
    ),
    Case(
        "gradient_reversal: scale a bool",
        lambda: align.gradient_reversal(X, True),
        (),
        "scale",
        "static",
    ),
    Case(
        "gradient_reversal: scale complex",
        lambda: align.gradient_reversal(X, 1 + 2j),
        (),
        "scale",
        "static",
    ),
    # folded from the old list in tests/align/test_coral_adversarial.py and test_mmd.py
    Case(
        "coral: feature dimensions differ",
        lambda y: align.coral(X, y),
        (jnp.zeros((4, 3)),),
        "source and target must have the same feature dimension",
        "shape",
    ),
    Case("coral: eps 0", lambda e: align.coral(X, Y, eps=e), (0.0,), "eps"),
    Case(
        "mmd2_multi: feature dimensions differ",
        lambda y: align.mmd2_multi(X, y),
        (jnp.zeros((5, 3)),),
        r"source and target .*\(4, 2\) and \(5, 3\)",
        "shape",
    ),
    Case(
        "dann_lr_schedule: total_steps 0",
        lambda: align.dann_lr_schedule(0.1, total_steps=0),
        (),
        "total_steps must be a positive int",
        "static",
    ),
    Case(
        "domain_adversarial_loss: logits_target of another rank",
        lambda s, t: align.domain_adversarial_loss(s, t),
        (X[:, 0], X),
        "logits_target must have shape",
        "shape",
    ),
    Case(
        "domain_adversarial_loss: weights_source of another length",
        lambda w: align.domain_adversarial_loss(X[:, 0], X[:, 0], weights_source=w),
        (jnp.ones(3),),
        r"weights_source must have shape \(4,\)",
        "shape",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_linear_algebra_runs_in_float32_and_returns_the_input_dtype(dtype):
    """coral / mk_mmd_weights: no LAPACK NotImplementedError; the result equals the float32
    computation rounded to the input dtype (#17 item 7)."""
    xs, xt = X.astype(dtype), Y.astype(dtype) * 2.0
    out = align.coral(xs, xt)
    assert out.dtype == dtype
    ref = align.coral(xs.astype(jnp.float32), xt.astype(jnp.float32)).astype(dtype)
    np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(ref, np.float32))
    w = align.mk_mmd_weights(xs, xt, [0.5, 1.0])
    assert w.dtype == dtype and np.isclose(float(jnp.sum(w.astype(jnp.float32))), 1.0, atol=1e-2)


def test_coral_float64_with_x64_off_warns_and_with_x64_on_stays_float64():
    xs = np.asarray(X, np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = align.coral(xs, xs * 2.0)
    assert out.dtype == jnp.float32
    assert any("computed in float32" in str(c.message) and c.filename == __file__ for c in caught)
    with jax.enable_x64(True):
        out = align.coral(xs, xs * 2.0)
        assert out.dtype == jnp.float64
