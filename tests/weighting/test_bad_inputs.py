"""weighting: every bad input in one table (#17 item 8); half-precision solvers (item 7)."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import weighting
from tests.bad_inputs import Case, check_case, ids

XS = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2)), jnp.float32)
XT = XS + 0.5
NAN = XS.at[0, 0].set(jnp.nan)

CASES = [
    # value checks
    Case(
        "kde_ratio: bandwidth -1",
        lambda s: weighting.kde_ratio(XS, XT, bandwidth=s).weights,
        (-1.0,),
        "bandwidth",
    ),
    Case(
        "kde_ratio: NaN source",
        lambda x: weighting.kde_ratio(x, XT, bandwidth=1.0).weights,
        (NAN,),
        "source",
    ),
    Case(
        "kde_log_ratio: NaN target",
        lambda y: weighting.kde_log_ratio(XS, y, bandwidth=1.0),
        (NAN,),
        "target",
    ),
    Case(
        "kmm: NaN source", lambda x: weighting.kmm(x, XT, bandwidth=1.0).weights, (NAN,), "source"
    ),
    Case(
        "kmm: bandwidth 0",
        lambda s: weighting.kmm(XS, XT, bandwidth=s).weights,
        (0.0,),
        "bandwidth",
    ),
    Case(
        "ulsif: NaN target",
        lambda y: weighting.ulsif(XS, y, bandwidth=1.0, lam=0.1).weights,
        (NAN,),
        "target",
    ),
    Case(
        "ulsif: lam -1",
        lambda lam: weighting.ulsif(XS, XT, bandwidth=1.0, lam=lam).weights,
        (-1.0,),
        "lam",
    ),
    Case(
        "ulsif: bandwidth NaN",
        lambda s: weighting.ulsif(XS, XT, bandwidth=s, lam=0.1).weights,
        (np.nan,),
        "bandwidth",
    ),
    Case(
        "kliep: NaN source",
        lambda x: weighting.kliep(x, XT, bandwidth=1.0, num_iters=2).weights,
        (NAN,),
        "source",
    ),
    Case(
        "weighted_mean: negative weight",
        lambda w: weighting.weighted_mean(jnp.ones(3), w),
        (jnp.array([1.0, -1.0, 1.0]),),
        "weights",
    ),
    Case(
        "weighted_mean: zero weights",
        lambda w: weighting.weighted_mean(jnp.ones(3), w),
        (jnp.zeros(3),),
        "weights",
    ),
    Case(
        "effective_sample_size: NaN weight",
        weighting.effective_sample_size,
        (jnp.array([1.0, np.nan]),),
        "weights",
    ),
    Case(
        "from_domain_classifier: probability > 1",
        lambda p: weighting.from_domain_classifier(p, n_source=2, n_target=2),
        (jnp.array([0.5, 1.5]),),
        "prob_target",
    ),
    Case(
        "from_domain_classifier: NaN probability",
        lambda p: weighting.from_domain_classifier(p, n_source=2, n_target=2),
        (jnp.array([0.5, np.nan]),),
        "prob_target",
    ),
    # shapes
    Case(
        "kmm: feature dimensions differ",
        lambda y: weighting.kmm(XS, y).weights,
        (jnp.ones((6, 3)),),
        "source and target",
        "shape",
    ),
    Case(
        "kde_ratio: rank-1 source",
        lambda x: weighting.kde_ratio(x, XT).weights,
        (jnp.ones(6),),
        "source",
        "shape",
    ),
    Case(
        "ulsif: one target sample",
        lambda y: weighting.ulsif(XS, y).weights,
        (jnp.ones((1, 2)),),
        "target",
        "shape",
    ),
    Case(
        "weighted_mean: shapes differ",
        lambda w: weighting.weighted_mean(jnp.ones(3), w),
        (jnp.ones(4),),
        "weights",
        "shape",
    ),
    Case(
        "from_domain_classifier: rank 3",
        lambda p: weighting.from_domain_classifier(p, n_source=2, n_target=2),
        (jnp.ones((2, 1, 1)) / 2,),
        "prob_target",
        "shape",
    ),
    # static arguments
    Case("kmm: max_iters 0", lambda: weighting.kmm(XS, XT, max_iters=0), (), "max_iters", "static"),
    Case(
        "kmm: max_iters 1.5",
        lambda: weighting.kmm(XS, XT, max_iters=1.5),
        (),
        "max_iters",
        "static",
    ),
    Case("kmm: tol -1", lambda: weighting.kmm(XS, XT, tol=-1.0), (), "tol", "static"),
    Case("kmm: B -1", lambda: weighting.kmm(XS, XT, B=-1.0), (), "B", "static"),
    Case("kmm: eps -1", lambda: weighting.kmm(XS, XT, eps=-1.0), (), "eps", "static"),
    Case(
        "kliep: num_iters 0",
        lambda: weighting.kliep(XS, XT, bandwidth=1.0, num_iters=0),
        (),
        "num_iters",
        "static",
    ),
    Case(
        "kliep: num_folds 1",
        lambda: weighting.kliep(XS, XT, bandwidth_grid=[1.0, 2.0], num_folds=1),
        (),
        "num_folds",
        "static",
    ),
    Case(
        "kliep: negative grid",
        lambda: weighting.kliep(XS, XT, bandwidth_grid=[1.0, -2.0]),
        (),
        "bandwidth_grid",
        "static",
    ),
    Case(
        "ulsif: bandwidth and grid",
        lambda: weighting.ulsif(XS, XT, bandwidth=1.0, bandwidth_grid=[1.0]),
        (),
        "bandwidth",
        "static",
    ),
    Case(
        "ulsif: num_centers 0",
        lambda: weighting.ulsif(XS, XT, num_centers=0),
        (),
        "num_centers",
        "static",
    ),
    Case(
        "ulsif: empty lam_grid",
        lambda: weighting.ulsif(XS, XT, bandwidth=1.0, lam_grid=[]),
        (),
        "lam_grid",
        "static",
    ),
    Case(
        "from_domain_classifier: n_source 0",
        lambda: weighting.from_domain_classifier(jnp.array([0.5]), n_source=0, n_target=1),
        (),
        "n_source",
        "static",
    ),
    Case(
        "from_domain_classifier: clip 0.7",
        lambda: weighting.from_domain_classifier(
            jnp.array([0.5]), n_source=1, n_target=1, clip=0.7
        ),
        (),
        "clip",
        "static",
    ),
    Case(
        "from_domain_classifier: unknown form",
        lambda: weighting.from_domain_classifier(
            jnp.array([0.5]), n_source=1, n_target=1, form="odds"
        ),
        (),
        "form",
        "static",
    ),
    # folded from the old list in tests/weighting/test_weighting.py
    Case(
        "kliep: one source sample",
        lambda x: weighting.kliep(x, XT),
        (XS[:1],),
        "source needs at least 2 samples",
        "shape",
    ),
    Case(
        "kliep: num_centers 0",
        lambda: weighting.kliep(XS, XT, num_centers=0),
        (),
        "num_centers must be a positive int",
        "static",
    ),
    Case(
        "kliep: more folds than target samples",
        lambda: weighting.kliep(XS, XT, bandwidth_grid=[1.0], num_folds=9),
        (),
        "num_folds must be an int",
        "static",
    ),
    Case(
        "from_domain_classifier: n_target 0",
        lambda: weighting.from_domain_classifier(jnp.array([0.5]), n_source=1, n_target=0),
        (),
        "n_target must be a positive int",
        "static",
    ),
    Case(
        "effective_sample_size: negative weights",
        weighting.effective_sample_size,
        (-jnp.ones(3),),
        "weights must be non-negative",
    ),
    Case(
        "kde_ratio.predict: x with another feature count",
        lambda x: weighting.kde_ratio(XS, XT, bandwidth=1.0).predict(x),
        (jnp.zeros((3, 4)),),
        "x must have 2 features",
        "shape",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)


def test_kde_ratio_underflow_warns_with_the_log_space_alternative():
    far_s, far_t = jnp.array([[0.0], [1.0]]), jnp.array([[100.0], [101.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weighting.kde_ratio(far_s, far_t, bandwidth=0.5)
    msgs = [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]
    assert msgs and "underflowed" in msgs[0] and "kde_log_ratio" in msgs[0]
    assert np.all(np.isfinite(weighting.kde_log_ratio(far_s, far_t, bandwidth=0.5)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_solvers_return_the_input_dtype(dtype):
    """kmm and ulsif (Cholesky / solve) on half inputs: computed in float32, weights in the
    input dtype equal to the float32 result rounded (#17 item 7)."""
    xs, xt = XS.astype(dtype), XT.astype(dtype)
    for fit in (
        lambda a, b: weighting.kmm(a, b, bandwidth=1.0),
        lambda a, b: weighting.ulsif(a, b, bandwidth=1.0, lam=0.1),
    ):
        w = fit(xs, xt).weights
        ref = fit(xs.astype(jnp.float32), xt.astype(jnp.float32)).weights.astype(dtype)
        assert w.dtype == dtype
        np.testing.assert_array_equal(np.asarray(w, np.float32), np.asarray(ref, np.float32))
