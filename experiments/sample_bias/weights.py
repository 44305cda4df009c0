"""Importance-weight estimators for the 1-D sample-bias experiment, w(x) ≈ q(x)/p(x).

Experiment-local NumPy/SciPy implementations (``jtransfer.weighting`` had not landed when
this experiment was written). Kernel convention as in ``jtransfer.align``:
k(x, y) = exp(−‖x − y‖² / (2σ²)); ADAPT's ``gamma`` is 1/(2σ²).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


def _sq(a, b):
    return np.sum(a * a, 1)[:, None] + np.sum(b * b, 1)[None, :] - 2.0 * a @ b.T


def gauss(a, b, sigma):
    return np.exp(-np.maximum(_sq(a, b), 0.0) / (2.0 * sigma**2))


def kmm(xs, xt, *, sigma, B=1000.0, eps=None):
    """Kernel mean matching (Huang et al. 2006), the QP
    min_β ½βᵀKβ − κᵀβ, 0 ≤ β ≤ B, |Σβ − n_s| ≤ n_s·ε, κᵢ = (n_s/n_t) Σⱼ k(xsᵢ, xtⱼ),
    ε = (√n_s − 1)/√n_s by default; solved with SciPy's SLSQP (n_s is 100 here).
    https://papers.nips.cc/paper/3075-correcting-sample-selection-bias-by-unlabeled-data"""
    ns, nt = len(xs), len(xt)
    eps = (np.sqrt(ns) - 1) / np.sqrt(ns) if eps is None else eps
    K = gauss(xs, xs, sigma) + 1e-8 * np.eye(ns)
    kappa = ns / nt * gauss(xs, xt, sigma).sum(1)
    cons = [{"type": "ineq", "fun": lambda b: ns * (1 + eps) - b.sum(), "jac": lambda b: -np.ones(ns)},
            {"type": "ineq", "fun": lambda b: b.sum() - ns * (1 - eps), "jac": lambda b: np.ones(ns)}]
    res = optimize.minimize(lambda b: 0.5 * b @ K @ b - kappa @ b, np.ones(ns),
                            jac=lambda b: K @ b - kappa, bounds=[(0.0, B)] * ns,
                            constraints=cons, method="SLSQP", options={"maxiter": 500})
    return np.maximum(res.x, 0.0)


def _kliep_fit(xs, xt_fit, centers, sigma, iters=2000, lr=1e-4):
    a_t = gauss(xt_fit, centers, sigma)             # (n_t, b)
    b = gauss(xs, centers, sigma).mean(0)           # (b,)
    alpha = np.ones(len(centers)) / (b @ np.ones(len(centers)))
    for _ in range(iters):
        alpha = alpha + lr * a_t.T @ (1.0 / np.maximum(a_t @ alpha, 1e-12))
        alpha = alpha + (1.0 - b @ alpha) * b / (b @ b)
        alpha = np.maximum(alpha, 0.0)
        alpha = alpha / (b @ alpha)
    return alpha


def kliep(xs, xt, *, sigmas=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0), folds=5, seed=0):
    """KLIEP (Sugiyama et al. 2008): w(x) = Σ_l α_l k(x, c_l), centres = target points,
    maximise the target log-likelihood Σ_t log w(x_t) s.t. mean_s w = 1, α ≥ 0 (projected
    gradient ascent). σ by ``folds``-fold likelihood cross-validation on the target points.
    https://papers.nips.cc/paper/3248-direct-importance-estimation-with-model-selection
    Returns (weights on xs, chosen σ)."""
    rng = np.random.default_rng(seed)
    split = np.array_split(rng.permutation(len(xt)), folds)
    scores = []
    for s in sigmas:
        ll = []
        for k in range(folds):
            fit = np.concatenate([split[j] for j in range(folds) if j != k])
            alpha = _kliep_fit(xs, xt[fit], xt[fit], s, iters=300)
            ll.append(np.mean(np.log(np.maximum(gauss(xt[split[k]], xt[fit], s) @ alpha,
                                                1e-12))))
        scores.append(np.mean(ll))
    sigma = sigmas[int(np.argmax(scores))]
    alpha = _kliep_fit(xs, xt, xt, sigma)
    return gauss(xs, xt, sigma) @ alpha, sigma


def ulsif(xs, xt, *, sigmas=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
          lams=(1e-3, 1e-2, 1e-1, 1.0), folds=5, seed=0):
    """uLSIF (Kanamori et al. 2009): α = (H + λI)⁻¹h with H = Φ_sᵀΦ_s/n_s, h = mean_t Φ_t,
    centres = target points, w = max(0, Φα). (σ, λ) by ``folds``-fold CV of the squared-loss
    criterion J = ½ mean_s w² − mean_t w on held-out points.
    https://jmlr.org/papers/v10/kanamori09a.html
    Returns (weights on xs, (σ, λ))."""
    rng = np.random.default_rng(seed)
    ss = np.array_split(rng.permutation(len(xs)), folds)
    st = np.array_split(rng.permutation(len(xt)), folds)
    best, arg = np.inf, None
    for s in sigmas:
        for lam in lams:
            j = []
            for k in range(folds):
                fs = np.concatenate([ss[i] for i in range(folds) if i != k])
                ft = np.concatenate([st[i] for i in range(folds) if i != k])
                phs, pht = gauss(xs[fs], xt, s), gauss(xt[ft], xt, s)
                alpha = np.linalg.solve(phs.T @ phs / len(fs) + lam * np.eye(len(xt)),
                                        pht.mean(0))
                ws = np.maximum(gauss(xs[ss[k]], xt, s) @ alpha, 0)
                wt = np.maximum(gauss(xt[st[k]], xt, s) @ alpha, 0)
                j.append(0.5 * np.mean(ws**2) - np.mean(wt))
            if np.mean(j) < best:
                best, arg = np.mean(j), (s, lam)
    s, lam = arg
    phs = gauss(xs, xt, s)
    alpha = np.linalg.solve(phs.T @ phs / len(xs) + lam * np.eye(len(xt)),
                            gauss(xt, xt, s).mean(0))
    return np.maximum(phs @ alpha, 0.0), arg


def classifier_ratio(xs, xt, *, C=1.0, clip=50.0):
    """Domain-classifier ratio (Bickel et al. 2007): logistic regression on (x, x²) (the
    log-ratio of a Gaussian and a uniform density is quadratic), w = (n_s/n_t)·p/(1−p),
    clipped at ``clip``."""
    from sklearn.linear_model import LogisticRegression

    feats = lambda x: np.concatenate([x, x**2], 1)  # noqa: E731
    clf = LogisticRegression(C=C, max_iter=1000).fit(
        feats(np.concatenate([xs, xt])), np.r_[np.zeros(len(xs)), np.ones(len(xt))])
    p = np.clip(clf.predict_proba(feats(xs))[:, 1], 1e-6, 1 - 1e-6)
    return np.minimum(len(xs) / len(xt) * p / (1 - p), clip)


def true_ratio(x, *, source_std=0.5, target_range=(-1.5, 1.5)):
    """The analytic q(x)/p(x) of the toy: uniform density over the N(0, source_std²) density."""
    lo, hi = target_range
    q = ((x >= lo) & (x <= hi)) / (hi - lo)
    p = np.exp(-0.5 * (x / source_std) ** 2) / (source_std * np.sqrt(2 * np.pi))
    return (q / p)[:, 0]
