"""Density-ratio estimators vs closed forms, SciPy QP/convex solvers and the analytic ratio."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from scipy.stats import multivariate_normal as mvn

from jtransfer import weighting
from tests.align.helpers import DTYPES, check_fd_grad, dtype_context


def np_gauss(a, b, sigma):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma**2))


@pytest.fixture(scope="module")
def two_gaussians():
    """P = N(0, I_2) (source), Q = N((0.5, 0), 0.8^2 I_2) (target); analytic w = q/p."""
    rng = np.random.default_rng(0)
    mu, s, n = np.array([0.5, 0.0]), 0.8, 400
    xs = rng.normal(size=(n, 2))
    xt = rng.normal(size=(n, 2)) * s + mu
    true = mvn(mu, s * s * np.eye(2)).pdf(xs) / mvn(np.zeros(2), np.eye(2)).pdf(xs)
    return xs.astype(np.float32), xt.astype(np.float32), true


def _classifier_weights(xs, xt):
    from sklearn.linear_model import LogisticRegression

    feats = lambda x: np.concatenate([x, x**2], axis=1)  # the true log-ratio is quadratic
    clf = LogisticRegression(C=100.0, max_iter=1000)
    clf.fit(feats(np.concatenate([xs, xt])), np.r_[np.zeros(len(xs)), np.ones(len(xt))])
    p = clf.predict_proba(feats(xs))[:, 1]
    return weighting.from_domain_classifier(p, n_source=len(xs), n_target=len(xt))


ESTIMATORS = {
    "kde_ratio": lambda xs, xt: weighting.kde_ratio(xs, xt, bandwidth=0.5).weights,
    "kliep": lambda xs, xt: weighting.kliep(xs, xt, bandwidth=1.0).weights,
    "ulsif_loo": lambda xs, xt: (
        weighting.ulsif(xs, xt, bandwidth_grid=[0.5, 1.0, 2.0], lam_grid=[1e-2, 1e-1, 1.0]).weights
    ),
    "classifier": _classifier_weights,
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_correlation_with_analytic_ratio(two_gaussians, name):
    xs, xt, true = two_gaussians
    w = np.asarray(ESTIMATORS[name](xs, xt))
    assert w.shape == (len(xs),) and np.all(np.isfinite(w))
    assert np.corrcoef(w, true)[0, 1] >= 0.9


@pytest.mark.parametrize("dtype_name", DTYPES)
def test_ulsif_equals_numpy_closed_form(dtype_name):
    rng = np.random.default_rng(1)
    with dtype_context(dtype_name) as dt:
        xs, xt = rng.normal(size=(60, 3)).astype(dt), (rng.normal(size=(50, 3)) + 0.3).astype(dt)
        fit = weighting.ulsif(
            xs, xt, bandwidth=1.2, lam=0.05, num_centers=20, key=jax.random.key(3)
        )
        c = np.asarray(fit.centers, np.float64)
        assert any(np.allclose(c[0], row) for row in xt)  # centres are target points
        phs, pht = np_gauss(xs.astype(float), c, 1.2), np_gauss(xt.astype(float), c, 1.2)
        alpha = np.maximum(np.linalg.solve(phs.T @ phs / 60 + 0.05 * np.eye(20), pht.mean(0)), 0)
        rt = dict(rtol=2e-3, atol=2e-4) if dt == np.float32 else dict(rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.alpha, alpha, **rt)
        np.testing.assert_allclose(fit.weights, phs @ alpha, **rt)
        np.testing.assert_allclose(fit.predict(xs), fit.weights, rtol=1e-5)


def test_ulsif_loo_equals_brute_force_leave_one_out():
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        n_s, n_t = 25, 20
        xs, xt = rng.normal(size=(n_s, 2)), rng.normal(size=(n_t, 2)) * 0.7 + 0.4
        sigmas, lams = [0.5, 1.5], [0.01, 0.3]
        fit = weighting.ulsif(xs, xt, bandwidth_grid=sigmas, lam_grid=lams, num_centers=8)
        c = np.asarray(fit.centers)
        want = np.zeros((2, 2))
        for a, s in enumerate(sigmas):
            phs, pht = np_gauss(xs, c, s), np_gauss(xt, c, s)
            for b, lam in enumerate(lams):
                tot = 0.0
                for i in range(min(n_s, n_t)):  # hold out the pair (xs_i, xt_i)
                    ks, kt = np.delete(phs, i, 0), np.delete(pht, i, 0)
                    h = ks.T @ ks / (n_s - 1)
                    al = np.maximum(np.linalg.solve(h + lam * np.eye(8), kt.mean(0)), 0)
                    tot += 0.5 * (phs[i] @ al) ** 2 - pht[i] @ al
                want[a, b] = tot / min(n_s, n_t)
        np.testing.assert_allclose(fit.cv_scores, want, rtol=1e-8)
        i, j = np.unravel_index(np.argmin(want), want.shape)
        assert float(fit.bandwidth[0]) == sigmas[i] and float(fit.lam) == lams[j]


def scipy_kmm(xs, xt, sigma, B, eps):
    n_s, n_t = len(xs), len(xt)
    K = np_gauss(xs, xs, sigma)
    kappa = n_s / n_t * np_gauss(xs, xt, sigma).sum(1)
    ones = np.ones(n_s)
    cons = [
        {"type": "ineq", "fun": lambda b: b.sum() - n_s * (1 - eps), "jac": lambda b: ones},
        {"type": "ineq", "fun": lambda b: n_s * (1 + eps) - b.sum(), "jac": lambda b: -ones},
    ]
    res = scipy.optimize.minimize(
        lambda b: 0.5 * b @ K @ b - kappa @ b,
        np.ones(n_s),
        jac=lambda b: K @ b - kappa,
        bounds=[(0, B)] * n_s,
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    assert res.success, res.message
    return res.x, res.fun, K, kappa


@pytest.mark.parametrize("B,eps", [(1000.0, None), (3.0, 0.05)])
def test_kmm_equals_scipy_slsqp(B, eps):
    with jax.enable_x64(True):
        rng = np.random.default_rng(4)
        xs, xt = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) * 0.6 + 0.8
        e = (np.sqrt(30) - 1) / np.sqrt(30) if eps is None else eps
        want, fun, K, kappa = scipy_kmm(xs, xt, 0.7, B, e)
        res = weighting.kmm(xs, xt, bandwidth=0.7, B=B, eps=eps, tol=1e-10)
        w = np.asarray(res.weights)
        assert bool(res.converged)
        np.testing.assert_allclose(0.5 * w @ K @ w - kappa @ w, fun, rtol=1e-7)
        np.testing.assert_allclose(w, want, atol=2e-4 * max(1.0, want.max()))
        assert w.min() >= 0 and w.max() <= B + 1e-9 and abs(w.sum() - 30) <= 30 * e + 1e-6


def test_kmm_float32_close_to_float64():
    rng = np.random.default_rng(5)
    xs, xt = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) * 0.6 + 0.8
    w32 = np.asarray(
        weighting.kmm(xs.astype(np.float32), xt.astype(np.float32), bandwidth=0.7).weights
    )
    with jax.enable_x64(True):
        want = scipy_kmm(xs, xt, 0.7, 1000.0, (np.sqrt(40) - 1) / np.sqrt(40))[0]
    assert w32.dtype == np.float32
    assert np.corrcoef(w32, want)[0, 1] > 0.999
    np.testing.assert_allclose(w32, want, atol=0.02 * want.max())


def test_kliep_reaches_the_scipy_optimum():
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        xs, xt = rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) * 0.7 + 0.5
        fit = weighting.kliep(xs, xt, bandwidth=0.8, num_centers=10, num_iters=3000)
        c = np.asarray(fit.centers)
        A, bvec = np_gauss(xt, c, 0.8), np_gauss(xs, c, 0.8).mean(0)
        obj = lambda a: -np.mean(np.log(A @ a))
        res = scipy.optimize.minimize(
            obj,
            np.full(10, 1.0 / bvec.sum()),
            jac=lambda a: -(A / (A @ a)[:, None]).mean(0),
            bounds=[(0, None)] * 10,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 2000},
            constraints=[{"type": "eq", "fun": lambda a: bvec @ a - 1, "jac": lambda a: bvec}],
        )
        assert res.success, res.message
        alpha = np.asarray(fit.alpha)
        assert abs(bvec @ alpha - 1) < 1e-9 and alpha.min() >= 0
        assert obj(alpha) <= res.fun + 1e-5  # EM is sublinear: 3000 steps leave ~1e-6
        np.testing.assert_allclose(fit.weights, np_gauss(xs, c, 0.8) @ res.x, rtol=0.02, atol=0.02)
        np.testing.assert_allclose(fit.predict(xs), fit.weights, rtol=1e-9)


def test_kliep_cv_picks_the_best_likelihood(two_gaussians):
    xs, xt, _ = two_gaussians
    grid = [0.02, 0.5, 1.0]
    fit = weighting.kliep(xs, xt, bandwidth_grid=grid, num_iters=300, key=jax.random.key(1))
    scores = np.asarray(fit.cv_scores)
    assert scores.shape == (3,)
    np.testing.assert_allclose(fit.bandwidth[0], grid[int(np.argmax(scores))], rtol=1e-6)
    assert scores[0] < scores[1]  # a tiny bandwidth over-fits and scores worse held out


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_kliep_cv_does_not_collapse_to_the_smallest_bandwidth(seed):
    # ADAPT's 1-D sample-bias toy: p = N(0, 0.5^2), q = U(-1.5, 1.5); the target reaches past
    # the 100 source points, where the training normalisation sees no source point. Scoring
    # held-out log w alone (the paper's CV) picks sigma = 0.05, the smallest value, on these
    # draws (fits correlating ~0.7 with q/p); the normalised held-out likelihood does not.
    from jtransfer import data as jdata

    d = jdata.sample_bias_regression(key=jax.random.key(seed), n_source=100, n_target=100)
    xs, xt = d["xs"], d["xt"]
    grid = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
    fit = weighting.kliep(xs, xt, bandwidth_grid=grid, key=jax.random.key(seed), num_iters=500)
    picked = float(fit.bandwidth[0])
    assert int(np.argmax(fit.cv_scores)) > 0 and picked > 1.5 * grid[0], fit.cv_scores
    p = np.exp(-0.5 * (xs[:, 0] / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))
    true = (np.abs(xs[:, 0]) <= 1.5) / 3.0 / p
    assert np.corrcoef(fit.weights, true)[0, 1] > 0.65


def test_kde_ratio_formula_and_predict():
    rng = np.random.default_rng(7)
    xs, xt = rng.normal(size=(20, 2)), rng.normal(size=(15, 2)) + 0.5
    fit = weighting.kde_ratio(xs, xt, bandwidth=0.6)
    want = np_gauss(xs, xt, 0.6).mean(1) / np_gauss(xs, xs, 0.6).mean(1)
    np.testing.assert_allclose(fit.weights, want, rtol=1e-5)
    xn = rng.normal(size=(4, 2))
    np.testing.assert_allclose(
        fit.predict(xn), np_gauss(xn, xt, 0.6).mean(1) / np_gauss(xn, xs, 0.6).mean(1), rtol=1e-5
    )


def test_from_domain_classifier_forms_and_clipping():
    p = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    r = np.asarray(weighting.from_domain_classifier(p, n_source=300, n_target=100))
    pc = np.clip(p, 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(r, 3.0 * pc / (1 - pc), rtol=1e-4)  # float32 1 - p near 1
    prob = weighting.from_domain_classifier(
        p[:, None], n_source=100, n_target=100, form="probability"
    )
    np.testing.assert_allclose(prob, pc, rtol=1e-5)  # Q/(P+Q) = p when n_s = n_t
    s2 = weighting.from_domain_classifier(
        p, n_source=300, n_target=100, form="probability", clip=0.1
    )
    rr = 3.0 * np.clip(p, 0.1, 0.9) / (1 - np.clip(p, 0.1, 0.9))
    np.testing.assert_allclose(s2, rr / (1 + rr), rtol=1e-5)


def test_weighted_mean_ess_and_importance_identity(two_gaussians):
    rng = np.random.default_rng(8)
    v, w = rng.normal(size=(10, 3)), rng.uniform(0, 2, size=10)
    np.testing.assert_allclose(
        weighting.weighted_mean(v, w), (w[:, None] * v).sum(0) / w.sum(), rtol=1e-5
    )
    np.testing.assert_allclose(
        weighting.effective_sample_size(w), w.sum() ** 2 / (w**2).sum(), rtol=1e-5
    )
    np.testing.assert_allclose(weighting.effective_sample_size(np.ones(7)), 7.0, rtol=1e-6)
    # E_P[w f] = E_Q[f]: the true ratio reweights source values to the target mean of x_0
    # (0.5; the unweighted source mean is ~0). Monte-Carlo error ~ 0.06 at n_eff ~ 250.
    xs, _, true = two_gaussians
    est = float(weighting.weighted_mean(xs[:, 0], true))
    assert abs(est - 0.5) < 0.15 and abs(float(xs[:, 0].mean()) - 0.5) > 0.3


def test_fd_gradients_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(9)
        xs, xt = rng.normal(size=(12, 2)), rng.normal(size=(10, 2)) + 0.3
        w, v = rng.uniform(0.5, 2, size=12), rng.normal(size=(12, 2))
        check_fd_grad(lambda w, v: jnp.sum(weighting.weighted_mean(v, w)), (w, v), 0)
        check_fd_grad(lambda w, v: jnp.sum(weighting.weighted_mean(v, w)), (w, v), 1)
        check_fd_grad(lambda w: weighting.effective_sample_size(w), (w,), 0)
        check_fd_grad(
            lambda p: jnp.sum(weighting.from_domain_classifier(p, n_source=12, n_target=10)),
            (rng.uniform(0.1, 0.9, size=12),),
            0,
        )
        proj = rng.normal(size=12)
        check_fd_grad(
            lambda a, b: weighting.kde_ratio(a, b, bandwidth=0.9).weights @ proj, (xs, xt), 0
        )
        check_fd_grad(
            lambda a, b: weighting.kde_ratio(a, b, bandwidth=0.9).weights @ proj, (xs, xt), 1
        )
        check_fd_grad(
            lambda a, b: (
                weighting.ulsif(a, b, bandwidth=0.9, lam=0.1, num_centers=5).weights @ proj
            ),
            (xs, xt),
            0,
        )


def test_kde_log_ratio_matches_numpy_and_survives_underflow():
    """kde_log_ratio is log(q/p) of the KDEs (NumPy double loop, two kernels); far-apart samples
    underflow kde_ratio to all-zero weights with a RuntimeWarning naming kde_log_ratio, while the
    log ratios stay finite and equal the closed form (#17 item 6)."""
    import warnings

    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)) + 0.5
    sig = np.array([0.7, 1.4])

    def kde(x, pts):
        d2 = ((x[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * s * s)) for s in sig).mean(1)

    ref = np.log(kde(xs, xt) / kde(xs, xs))
    np.testing.assert_allclose(
        weighting.kde_log_ratio(xs.astype(np.float32), xt.astype(np.float32), bandwidth=sig),
        ref,
        rtol=1e-5,
        atol=1e-5,
    )
    far_s, far_t = jnp.array([[0.0], [1.0]]), jnp.array([[100.0], [101.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = weighting.kde_ratio(far_s, far_t, bandwidth=0.5).weights
    assert not np.any(np.asarray(w) > 0)
    assert any("kde_log_ratio" in str(c.message) for c in caught)
    log_w = np.asarray(weighting.kde_log_ratio(far_s, far_t, bandwidth=0.5))
    # closed form: gamma = 2; log q(0) = logsumexp(-2e4, -2*101^2) - log 2, log p(0) = ...
    lq = np.logaddexp(-2 * 100.0**2, -2 * 101.0**2) - np.log(2)
    lp = np.logaddexp(0.0, -2.0) - np.log(2)
    np.testing.assert_allclose(log_w[0], lq - lp, rtol=1e-6)
