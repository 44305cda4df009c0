"""KLIEP: Kullback-Leibler importance estimation procedure (private module)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jtransfer.align import _checks
from jtransfer.align._kernels import Bandwidth, kernel_from_sq_dists, pairwise_sq_dists
from jtransfer.weighting import _common
from jtransfer.weighting._results import DensityRatio


def kliep(xs: jax.Array, xt: jax.Array, *, bandwidth: Bandwidth | None = None,
          num_centers: int = 100, key: jax.Array | None = None,
          bandwidth_grid=None, num_folds: int = 5, num_iters: int = 2000) -> DensityRatio:
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

    **Bandwidth selection** (the paper's likelihood cross-validation): with
    ``bandwidth_grid=(σ_1, ..., σ_G)`` the target sample is split into ``num_folds`` folds;
    each σ is fitted on all but one fold and scored by the mean held-out
    :math:`\\log \\hat w(x^t)`; the best σ is refitted on all data. The scores are returned in
    ``cv_scores`` ``(G,)``.

    Args:
      xs: ``(n_s, d)`` source sample (density p).
      xt: ``(n_t, d)`` target sample (density q).
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
    xs, xt = _checks.check_pair(xs, xt, "xs", "xt")
    sigs, use_grid = _common.bandwidth_spec(bandwidth, bandwidth_grid, xs, xt)
    if not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"num_iters must be a positive int, got {num_iters!r}")
    k_centers, k_folds = jax.random.split(_common.resolve_key(key))
    centers = _common.choose_centers(k_centers, xt, num_centers)
    n_t = xt.shape[0]
    scores = None
    if use_grid:
        if not isinstance(num_folds, int) or not 2 <= num_folds <= n_t:
            raise ValueError(f"num_folds must be an int in [2, n_t={n_t}], got {num_folds!r}")
        folds = jax.random.permutation(k_folds, n_t) % num_folds
        scores = _kliep_cv(xs, xt, centers, sigs, folds, num_folds=num_folds,
                           num_iters=num_iters)
        sig = sigs[jnp.argmax(scores)]
    else:
        sig = sigs[0]
    alpha, weights = _kliep_fit_jit(xs, xt, centers, sig, jnp.ones(n_t, xs.dtype),
                                    num_iters=num_iters)
    return DensityRatio(weights, alpha, centers, sig, None, scores)


def _kliep_fit(xs, xt, centers, sig, mask, *, num_iters):
    """Fits alpha on the target points with ``mask`` weight 1 (others 0); returns (alpha, w_s)."""
    phi_s = kernel_from_sq_dists(pairwise_sq_dists(xs, centers), sig)   # (n_s, b)
    a = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig)       # (n_t, b)
    b = jnp.mean(phi_s, axis=0)
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


@functools.partial(jax.jit, static_argnames=("num_folds", "num_iters"))
def _kliep_cv(xs, xt, centers, sigs, folds, *, num_folds, num_iters):
    def score(sig, k):
        train = (folds != k).astype(xs.dtype)
        alpha, _ = _kliep_fit(xs, xt, centers, sig, train, num_iters=num_iters)
        w_t = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig) @ alpha
        held = 1.0 - train
        logw = jnp.log(jnp.maximum(w_t, jnp.finfo(xs.dtype).tiny))
        out = jnp.sum(held * logw) / jnp.sum(held)
        return jnp.where(jnp.isnan(out), -jnp.inf, out)

    per_fold = jax.vmap(lambda s: jax.vmap(lambda k: score(s, k))(jnp.arange(num_folds)))(sigs)
    return jnp.mean(per_fold, axis=1)
