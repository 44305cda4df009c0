"""Label-free selection safeguards (issue #22 item 6): the one selection weighting
(``select.domain_classifier_weights``) and ``select.select_by_risk``, against hand-computed
values and the failure cases seen on unseen benchmarks (weights up to ~1000x the mean, an
effective sample size of 1-20 %, IWV above 1, DEV below 0, ties across a grid)."""

import warnings

import numpy as np
import pytest

from jtransfer import recipes, select


def _separated(seed=0, n=400, shift=4.0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, 2))
    xt = rng.normal(size=(n, 2)) + shift
    return xs, xt


# ------------------------------------------------------------------ the weighting
def test_weights_without_safeguards_reproduce_the_failure_then_defaults_bound_them():
    xs, xt = _separated()
    raw = select.domain_classifier_weights(xs, xt, C=100.0, clip_quantile=None, normalize=False)
    ess_raw = raw.sum() ** 2 / (raw**2).sum() / len(raw)
    assert raw.max() / raw.mean() > 50 and ess_raw < 0.2  # the failure case
    w = select.domain_classifier_weights(xs, xt, C=100.0)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)  # mean 1 on the eval set
    # the quantile cap, by hand: min(raw, Q_0.99(raw)) / mean
    cap = np.minimum(raw.astype(np.float64), np.quantile(raw.astype(np.float64), 0.99))
    np.testing.assert_allclose(w, cap / cap.mean(), rtol=1e-5)
    assert w.max() < raw.max() / raw.mean()
    assert select.DEFAULT_CLIP_QUANTILE == 0.99


def test_weights_on_x_eval_are_normalised_there_and_track_the_ratio():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(500, 1))
    xt = rng.normal(size=(500, 1)) + 1.0
    xv = rng.normal(size=(100, 1))
    w = select.domain_classifier_weights(xs, xt, x_eval=xv, clip_quantile=None)
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)
    truth = np.exp(xv[:, 0] - 0.5)  # q/p for N(1,1) vs N(0,1)
    np.testing.assert_allclose(w, truth / truth.mean(), rtol=0.25)


def test_recipes_importance_weights_is_the_library_weighting():
    xs, xt = _separated(shift=1.0, n=120)
    np.testing.assert_array_equal(
        recipes.importance_weights(xs, xt, C=0.5, max_weight=5.0),
        select.domain_classifier_weights(xs, xt, C=0.5, clip_quantile=None, max_weight=5.0),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x_eval=np.ones((3, 5))), "x_eval"),
        (dict(clip_quantile=0.0), "clip_quantile"),
        (dict(clip_quantile=1.5), "clip_quantile"),
        (dict(C=-1.0), "C"),
        (dict(max_weight=0.0), "max_weight"),
    ],
)
def test_weight_bad_input(kwargs, match):
    xs, xt = _separated(n=10)
    with pytest.raises(ValueError, match=match):
        select.domain_classifier_weights(xs, xt, **kwargs)


# ------------------------------------------------------------------ select_by_risk
def test_iwv_selection_by_hand():
    errors = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0]], np.float64)
    w = np.array([3.0, 1.0, 0.0, 0.0])
    s = select.select_by_risk(errors, w)
    np.testing.assert_allclose(s.risks, [3 / 4, 0.0, 4 / 4])
    np.testing.assert_allclose(s.source_risks, [0.25, 0.5, 0.5])
    assert s.index == 1 and s.tied == (1,)
    np.testing.assert_allclose(s.ess, 16 / 10)
    np.testing.assert_allclose(s.ess_fraction, 0.4)
    assert s.warnings == ()


def test_dev_selection_matches_the_published_formula_by_hand():
    errors = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], np.float64)
    w = np.array([2.0, 1.0, 0.5, 0.5])
    s = select.select_by_risk(errors, w, criterion="dev")
    for j, e in enumerate(errors):  # You et al. 2019, Alg. 1
        L, W = w * e, w
        eta = -np.cov(L, W, ddof=1)[0, 1] / np.var(W, ddof=1)
        np.testing.assert_allclose(s.risks[j], L.mean() + eta * W.mean() - eta, rtol=1e-5)
    assert s.index == int(np.argmin(s.risks))


def test_ties_go_to_lower_source_risk_then_lower_index():
    # the failure: one point carries all the weight, so the grid ties on IWV
    w = np.array([1.0, 0.0, 0.0, 0.0])
    errors = np.array([[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]], np.float64)
    s = select.select_by_risk(errors, w)
    assert s.ess == 1.0
    assert s.tied == (0, 1, 2) and s.index == 1  # not the first grid value
    s = select.select_by_risk(errors[[1, 2]], np.ones(4))
    assert s.tied == (0, 1) and s.index == 0  # full tie: lower index


def test_iwv_stays_in_unit_interval_with_spread_weights_where_raw_iwv_exceeds_one():
    rng = np.random.default_rng(0)
    n = 200
    w = np.exp(rng.normal(scale=2.5, size=n))  # spread ~1000x
    w = 5.0 * w / w.mean()  # a ratio of the wrong scale
    errors = (rng.random((6, n)) < 0.5).astype(np.float64)
    errors[0] = (w > np.median(w)).astype(np.float64)  # errors on the heavy points
    raw = np.array([float(select.iwv_risk(e, w)) for e in errors])
    assert raw.max() > 1.0  # the failure case
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        s = select.select_by_risk(errors, w)
    assert np.all((s.risks >= 0) & (s.risks <= 1))
    np.testing.assert_allclose(s.risks, errors @ w / w.sum(), rtol=1e-10)


def test_dev_below_zero_is_reported():
    w = np.array([4.0, 2.0, 2.0, 2.0])  # mean 2.5, far from 1
    errors = np.array([[1, 0, 0, 0], [0, 1, 1, 1]], np.float64)
    # by hand, candidate 0: L = (4,0,0,0), Cov(L,W) = 2, Var(W) = 1, eta = -2, R = 1 - 2*1.5
    with pytest.warns(RuntimeWarning, match="outside the loss range"):
        s = select.select_by_risk(errors, w, criterion="dev")
    np.testing.assert_allclose(s.risks[0], -2.0, rtol=1e-6)
    assert any("outside" in note for note in s.warnings)


def test_ess_warning_threshold():
    w = np.array([10.0] + [0.01] * 49)
    ess = w.sum() ** 2 / (w**2).sum()
    with pytest.warns(RuntimeWarning, match="effective sample size"):
        s = select.select_by_risk(np.zeros((2, 50)), w)
    np.testing.assert_allclose(s.ess, ess)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        select.select_by_risk(np.zeros((2, 50)), w, ess_warning=0.0)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.zeros((2, 3)), np.ones(4)), {}, "weights"),
        ((np.zeros(3), np.ones(3)), {}, "losses"),
        ((np.zeros((2, 3)), -np.ones(3)), {}, "non-negative"),
        ((np.zeros((2, 3)), np.ones(3)), {"criterion": "oracle"}, "criterion"),
        ((np.zeros((2, 3)), np.ones(3)), {"ess_warning": 2.0}, "ess_warning"),
    ],
)
def test_select_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        select.select_by_risk(*args, **kwargs)
