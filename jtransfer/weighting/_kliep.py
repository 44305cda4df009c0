"""KLIEP: Kullback-Leibler importance estimation procedure (private module)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core import sizes
from jtransfer._core.distances import pairwise_sq_dists
from jtransfer._core.kernels import (
    EXACT_MEDIAN_MAX,
    Bandwidth,
    kernel_from_sq_dists,
    padded_median_sigmas,
)
from jtransfer._core.keys import default_key
from jtransfer.weighting import _common
from jtransfer.weighting._results import DensityRatio


def kliep(
    source: jax.Array,
    target: jax.Array,
    *,
    bandwidth: Bandwidth | None = None,
    num_centers: int = 100,
    key: jax.Array | None = None,
    bandwidth_grid: Sequence[float] | None = None,
    num_folds: int = 5,
    num_iters: int = 2000,
) -> DensityRatio:
    """KLIEP density-ratio estimate :math:`\\hat w(x) = \\sum_l \\alpha_l k(x, c_l)`.

    Maximises the target log-likelihood of :math:`\\hat q = \\hat w\\, p` under the
    normalisation :math:`\\frac1{n_s}\\sum_i \\hat w(x^s_i) = 1`:

    .. math::
        \\max_{\\alpha \\ge 0}\\ \\frac1{n_t}\\sum_j \\log (A\\alpha)_j
        \\quad\\text{s.t.}\\quad b^\\top\\alpha = 1,\\qquad
        A_{jl} = k(x^t_j, c_l),\\ b_l = \\tfrac1{n_s}\\textstyle\\sum_i k(x^s_i, c_l).

    The centres :math:`c_l` are ``num_centers`` target points drawn with ``key``. Substituting
    :math:`u_l = b_l \\alpha_l` puts :math:`u` on the simplex, where the concave problem is
    solved by the monotone multiplicative (EM / Cover) update
    :math:`u_l \\leftarrow u_l \\cdot \\frac1{n_t}\\sum_j \\frac{M_{jl}}{(Mu)_j}`,
    :math:`M = A\\,\\mathrm{diag}(b)^{-1}`, run for ``num_iters`` steps. This replaces the
    paper's projected gradient ascent with a step size and needs no tuning.

    **Bandwidth selection** (the paper's likelihood cross-validation, with two corrections):
    with ``bandwidth_grid=(σ_1, ..., σ_G)`` the target and the source samples are each split
    into ``num_folds`` folds; each σ is fitted on all but one fold (centres drawn from that
    fit's training target points only, so no held-out point is a centre) and scored by the
    held-out log-likelihood of the normalised model :math:`\\hat q = \\hat w p / Z`,

    .. math::
        \\text{score}_k = \\operatorname{mean}_{x^t \\in \\text{fold } k} \\log \\hat w(x^t)
        - \\log \\operatorname{mean}_{x^s \\in \\text{fold } k} \\hat w(x^s),

    averaged over the folds; the best σ is refitted on all data. The paper scores the mean
    held-out :math:`\\log \\hat w(x^t)` only, which presumes the training normalisation
    :math:`Z = 1`: where the target reaches beyond the source sample (so the constraint sees no
    source point) a tiny σ can put unbounded mass near target points for free, and that
    score then always picks the smallest σ (seen on the 1-D sample-bias toy). The scores are
    returned in ``cv_scores`` ``(G,)``.

    Called eagerly, the samples are padded to size buckets (see ``jtransfer._core.sizes``);
    centres, folds and ranks are drawn on the real rows as before and padded rows take part
    in no fit, normalisation, fold or centre set, so the fits and the cross-validation compile
    once per bucket (the random draws are small programs per size). Under a trace nothing is
    padded.

    Args:
      source: ``(n_s, d)`` source sample (density p).
      target: ``(n_t, d)`` target sample (density q).
      bandwidth: σ (number, sequence = sum of kernels, ``"median"``); default (``None``) is
        ``"median"``. Do not combine with ``bandwidth_grid``.
      num_centers: number of kernel centres (at most ``n_t``).
      key: ``jax.random`` key for the centres and folds (``None``: a fixed default key).
      bandwidth_grid: optional candidate σ's for likelihood cross-validation.
      num_folds: folds for the cross-validation (``2 <= num_folds <= n_t``).
      num_iters: multiplicative-update iterations.

    Returns:
      :class:`DensityRatio` with ``.weights (n_s,)`` (mean 1 over the source) and
      ``.predict(x)``.

    References:
      Sugiyama, Nakajima, Kashima, von Bünau, Kawanabe, "Direct Importance Estimation with
      Model Selection and Its Application to Covariate Shift Adaptation", NeurIPS 2007 /
      AISM 2008, https://papers.nips.cc/paper/3248
    """
    xs, xt = _checks.check_pair(source, target, "source", "target")
    bucketed = sizes.all_concrete(xs, xt, bandwidth, bandwidth_grid)
    median = bandwidth_grid is None and (
        bandwidth is None or (isinstance(bandwidth, str) and bandwidth == "median")
    )
    pad = _Padded(xs, xt) if bucketed else None
    if bucketed and median:
        sigs, use_grid = None, False
    else:
        sigs, use_grid = _common.bandwidth_spec(bandwidth, bandwidth_grid, xs, xt)
    if not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"num_iters must be a positive int, got {num_iters!r}")
    if sigs is None:
        sigs = pad.median()[None, :]  # the real rows' median, in the bucket's program
    k_centers, k_folds = jax.random.split(default_key(key))
    centers = _common.choose_centers(k_centers, xt, num_centers)
    n_t = xt.shape[0]
    scores = None
    if use_grid:
        n_min = min(n_t, xs.shape[0])
        if not isinstance(num_folds, int) or not 2 <= num_folds <= n_min:
            raise ValueError(
                f"num_folds must be an int in [2, min(n_s, n_t)={n_min}], got {num_folds!r}"
            )
        k_perm, k_rank, k_srce = jax.random.split(k_folds, 3)
        folds = jax.random.permutation(k_perm, n_t) % num_folds
        # Centres of each fold's fit come from that fold's training points only (at most
        # num_centers, and no more than the smallest training part holds).
        num_cv_centers = min(centers.shape[0], n_t - -(-n_t // num_folds))
        rank = jax.random.permutation(k_rank, n_t)
        folds_s = jax.random.permutation(k_srce, xs.shape[0]) % num_folds
        cv = _kliep_cv if pad is None else pad.cv
        scores = cv(
            xs,
            xt,
            sigs,
            folds,
            folds_s,
            rank,
            num_folds=num_folds,
            num_centers=num_cv_centers,
            num_iters=num_iters,
        )
        sig = sigs[jnp.argmax(scores)]
    else:
        sig = sigs[0]
    if pad is not None:
        alpha, weights = pad.fit(centers, sig, num_iters=num_iters)
        return DensityRatio(weights, alpha, centers, sig, None, scores)
    alpha, weights = _kliep_fit_jit(
        xs, xt, centers, sig, jnp.ones(n_t, xs.dtype), num_iters=num_iters
    )
    return DensityRatio(weights, alpha, centers, sig, None, scores)


def _kliep_fit(xs, xt, centers, sig, mask, *, num_iters, mask_s=None):
    """Fits alpha on the target points with ``mask`` weight 1 (others 0), normalised on the
    source points with ``mask_s`` weight 1 (default all); returns (alpha, w_s)."""
    phi_s = kernel_from_sq_dists(pairwise_sq_dists(xs, centers), sig)  # (n_s, b)
    a = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig)  # (n_t, b)
    if mask_s is None:
        b = jnp.mean(phi_s, axis=0)
    else:
        b = (mask_s / jnp.sum(mask_s)) @ phi_s
    # A centre no source point reaches (tiny sigma) would give b_l = 0; floor it.
    b = jnp.maximum(b, jnp.finfo(xs.dtype).eps * jnp.max(b))
    m = a / b[None, :]
    mw = mask / jnp.sum(mask)
    tiny = jnp.finfo(xs.dtype).tiny

    def step(_, u):
        grad = (mw / jnp.maximum(m @ u, tiny)) @ m
        u = u * grad
        return u / jnp.sum(u)

    u0 = jnp.full((centers.shape[0],), 1.0 / centers.shape[0], xs.dtype)
    u = jax.lax.fori_loop(0, num_iters, step, u0)
    alpha = u / b
    return alpha, phi_s @ alpha


_kliep_fit_jit = jax.jit(_kliep_fit, static_argnames=("num_iters",))


def _held_out_loglik(w_t, w_s, held, held_s, dtype):
    """Held-out log-likelihood of :math:`\\hat q = \\hat w p / Z` on the target points marked by
    ``held``, with :math:`Z = E_p \\hat w` re-estimated on the held-out source points
    (``held_s``): the fit's own normalisation cannot see mass it puts where the training
    source sample has no points. ``-inf`` instead of NaN."""
    tiny = jnp.finfo(dtype).tiny
    logw = jnp.log(jnp.maximum(w_t, tiny))
    log_z = jnp.log(jnp.maximum(jnp.sum(held_s * w_s) / jnp.sum(held_s), tiny))
    out = jnp.sum(held * logw) / jnp.sum(held) - log_z
    return jnp.where(jnp.isnan(out), -jnp.inf, out)


@functools.partial(jax.jit, static_argnames=("num_folds", "num_centers", "num_iters"))
def _kliep_cv(xs, xt, sigs, folds, folds_s, rank, *, num_folds, num_centers, num_iters):
    n_t = xt.shape[0]

    def score(sig, k):
        train = folds != k
        # The num_centers training points of lowest random rank: held-out points are never
        # centres (a held-out centre would score its own kernel peak and favour a tiny sigma).
        order = jnp.argsort(jnp.where(train, rank, rank + n_t))
        centers = xt[order[:num_centers]]
        trainf = train.astype(xs.dtype)
        train_s = (folds_s != k).astype(xs.dtype)
        alpha, w_s = _kliep_fit(xs, xt, centers, sig, trainf, num_iters=num_iters, mask_s=train_s)
        w_t = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig) @ alpha
        return _held_out_loglik(w_t, w_s, 1.0 - trainf, 1.0 - train_s, xs.dtype)

    per_fold = jax.vmap(lambda s: jax.vmap(lambda k: score(s, k))(jnp.arange(num_folds)))(sigs)
    return jnp.mean(per_fold, axis=1)


class _Padded:
    """Concrete samples padded to shape buckets, so that the fits and the cross-validation of
    :func:`kliep` compile once per bucket pair, not per sample size.

    Padded rows carry mask 0: no weight in the fit's target likelihood or in the source
    normalisation, fold id -1 (never in a training or held-out part) and a rank above every
    real row (never a centre). The random draws (centres, folds, ranks) are those of the
    unpadded call: they are made on the real rows and padded afterwards."""

    def __init__(self, xs, xt):
        self.n, self.m = xs.shape[0], xt.shape[0]
        self.n_pad, self.m_pad = sizes.bucket(self.n), sizes.bucket(self.m)
        self.xs, self.xt = sizes.pad_rows(xs, self.n_pad), sizes.pad_rows(xt, self.m_pad)
        self.ms = sizes.row_mask(self.n, self.n_pad, xs.dtype)
        self.mt = sizes.row_mask(self.m, self.m_pad, xs.dtype)

    def median(self):
        exact = self.n + self.m <= EXACT_MEDIAN_MAX
        return _median_jit(self.xs, self.xt, self.ms, self.mt, exact=exact)

    def fit(self, centers, sig, *, num_iters):
        alpha, w = _kliep_fit_jit(
            self.xs, self.xt, centers, sig, self.mt, num_iters=num_iters, mask_s=self.ms
        )
        return alpha, (w if self.n == self.n_pad else w[: self.n])

    def cv(self, xs, xt, sigs, folds, folds_s, rank, *, num_folds, num_centers, num_iters):
        del xs, xt  # the padded copies are used
        fill = lambda a, size, v: np.concatenate(  # noqa: E731
            [np.asarray(a), np.full(size - a.shape[0], v, np.asarray(a).dtype)]
        )
        return _kliep_cv_padded(
            self.xs,
            self.xt,
            self.ms,
            self.mt,
            sigs,
            fill(folds, self.m_pad, -1),
            fill(folds_s, self.n_pad, -1),
            fill(rank, self.m_pad, 3 * self.m_pad),
            num_folds=num_folds,
            num_centers=num_centers,
            num_iters=num_iters,
        )


_median_jit = jax.jit(padded_median_sigmas, static_argnames=("exact",))


@functools.partial(jax.jit, static_argnames=("num_folds", "num_centers", "num_iters"))
def _kliep_cv_padded(
    xs, xt, ms, mt, sigs, folds, folds_s, rank, *, num_folds, num_centers, num_iters
):
    """:func:`_kliep_cv` on padded samples (``folds``/``folds_s`` -1 and ``rank`` above every
    real row on padding; ``ms``/``mt`` 1 on real rows)."""
    n_t = jnp.sum(mt).astype(rank.dtype)

    def score(sig, k):
        train = jnp.logical_and(folds != k, mt > 0)
        order = jnp.argsort(jnp.where(train, rank, rank + n_t))
        centers = xt[order[:num_centers]]
        trainf = train.astype(xs.dtype)
        train_s = jnp.logical_and(folds_s != k, ms > 0).astype(xs.dtype)
        alpha, w_s = _kliep_fit(xs, xt, centers, sig, trainf, num_iters=num_iters, mask_s=train_s)
        w_t = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig) @ alpha
        held, held_s = (folds == k).astype(xs.dtype), (folds_s == k).astype(xs.dtype)
        return _held_out_loglik(w_t, w_s, held, held_s, xs.dtype)

    per_fold = jax.vmap(lambda s: jax.vmap(lambda k: score(s, k))(jnp.arange(num_folds)))(sigs)
    return jnp.mean(per_fold, axis=1)
