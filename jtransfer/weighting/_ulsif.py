"""uLSIF: unconstrained least-squares importance fitting (private module)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

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

_HIGHEST = jax.lax.Precision.HIGHEST


def ulsif(
    source: jax.Array,
    target: jax.Array,
    *,
    bandwidth: Bandwidth | None = None,
    lam: float = 0.1,
    num_centers: int = 100,
    key: jax.Array | None = None,
    bandwidth_grid: Sequence[float] | None = None,
    lam_grid: Sequence[float] | None = None,
) -> DensityRatio:
    """uLSIF density-ratio estimate in closed form.

    Fits :math:`\\hat w(x) = \\sum_l \\alpha_l k(x, c_l)` by least squares on
    :math:`\\tfrac12\\mathbb E_P[(\\hat w - w)^2]`:

    .. math::
        \\hat H = \\tfrac1{n_s}\\Phi_s^\\top\\Phi_s,\\quad
        \\hat h = \\tfrac1{n_t}\\Phi_t^\\top 1,\\quad
        \\alpha = \\max\\big(0,\\ (\\hat H + \\lambda I)^{-1}\\hat h\\big),

    with :math:`(\\Phi_s)_{il} = k(x^s_i, c_l)`, :math:`(\\Phi_t)_{jl} = k(x^t_j, c_l)` and
    centres :math:`c_l` drawn from the target sample with ``key``. The max is taken after the
    solve (the "u" of uLSIF).

    **Selection** (the paper's analytic leave-one-out): with ``bandwidth_grid`` and/or
    ``lam_grid``, the LOO score :math:`\\frac1{n}\\sum_i [\\tfrac12 \\hat w_{-i}(x^s_i)^2 -
    \\hat w_{-i}(x^t_i)]` (holding out the pair :math:`(x^s_i, x^t_i)`,
    :math:`n = \\min(n_s, n_t)`) is computed in closed form by Sherman–Morrison for every
    pair of candidates, the minimiser is used, and the scores are returned in ``cv_scores``
    ``(G_σ, G_λ)``. A missing grid uses the single ``bandwidth``/``lam`` value.

    Called eagerly, the samples are padded to size buckets (see ``jtransfer._core.sizes``)
    with masked rows, after the centres are drawn from the real target rows (the same draw),
    so the fit and the LOO scores compile once per bucket; the centre draw itself is a small
    program per target size. Under a trace nothing is padded.

    Args:
      source: ``(n_s, d)`` source sample (density p).
      target: ``(n_t, d)`` target sample (density q).
      bandwidth: σ (number, sequence = sum of kernels, ``"median"``); default ``"median"``.
      lam: ridge :math:`\\lambda > 0`.
      num_centers: number of kernel centres (at most ``n_t``).
      key: ``jax.random`` key for the centres (``None``: a fixed default key).
      bandwidth_grid: optional candidate σ's (then leave ``bandwidth`` as ``None``).
      lam_grid: optional candidate λ's.

    Returns:
      :class:`DensityRatio` with ``.weights (n_s,)``, ``.predict(x)``, ``.lam`` and
      ``.cv_scores``.

    References:
      Kanamori, Hido, Sugiyama, "A Least-squares Approach to Direct Importance Estimation",
      JMLR 2009, https://jmlr.org/papers/v10/kanamori09a.html
    """
    xs, xt = _checks.check_pair(source, target, "source", "target")
    xs, xt, dtype = _checks.half_to_float32(xs, xt)  # no half-precision solve
    bucketed = sizes.all_concrete(xs, xt, bandwidth, bandwidth_grid, lam, lam_grid)
    median = bandwidth_grid is None and (
        bandwidth is None or (isinstance(bandwidth, str) and bandwidth == "median")
    )
    if bucketed and median:
        sigs, bw_grid = None, False  # the median of the real rows, inside the padded program
    else:
        sigs, bw_grid = _common.bandwidth_spec(bandwidth, bandwidth_grid, xs, xt)
    if lam_grid is None:
        _checks.check_positive(lam, "lam")
        lams = jnp.asarray([lam], xs.dtype)
    else:
        lams = _common.grid_values(lam_grid, "lam_grid", xs.dtype)
    centers = _common.choose_centers(default_key(key), xt, num_centers)
    if bucketed:
        return _ulsif_bucketed(xs, xt, centers, sigs, lams, bw_grid or lam_grid is not None, dtype)
    scores = None
    sig, lam_used = sigs[0], lams[0]
    if bw_grid or lam_grid is not None:
        scores = _ulsif_loo_jit(xs, xt, centers, sigs, lams)
        i, j = jnp.unravel_index(jnp.argmin(scores), scores.shape)
        sig, lam_used = sigs[i], lams[j]
    alpha, weights = _ulsif_fit_jit(xs, xt, centers, sig, lam_used)
    return DensityRatio(weights.astype(dtype), alpha, centers, sig, lam_used, scores)


def _design(xs, xt, centers, sig):
    phi_s = kernel_from_sq_dists(pairwise_sq_dists(xs, centers), sig)  # (n_s, b)
    phi_t = kernel_from_sq_dists(pairwise_sq_dists(xt, centers), sig)  # (n_t, b)
    return phi_s, phi_t


@jax.jit
def _ulsif_fit_jit(xs, xt, centers, sig, lam):
    phi_s, phi_t = _design(xs, xt, centers, sig)
    b = centers.shape[0]
    h_mat = jnp.matmul(phi_s.T, phi_s, precision=_HIGHEST) / xs.shape[0]
    h_vec = jnp.mean(phi_t, axis=0)
    alpha = jnp.linalg.solve(h_mat + lam * jnp.eye(b, dtype=xs.dtype), h_vec)
    alpha = jnp.maximum(alpha, 0.0)
    return alpha, phi_s @ alpha


def _loo_score(phi_s, phi_t, lam):
    """Kanamori et al.'s closed-form LOO score (their uLSIF.m), for one (sigma, lambda)."""
    n_s, n_t, b = phi_s.shape[0], phi_t.shape[0], phi_s.shape[1]
    n = min(n_s, n_t)
    kde, knu = phi_s.T, phi_t.T  # (b, n_s), (b, n_t)
    h_mat = jnp.matmul(kde, kde.T, precision=_HIGHEST) / n_s
    h_vec = jnp.mean(knu, axis=1)
    bm = h_mat + lam * (n_s - 1) / n_s * jnp.eye(b, dtype=phi_s.dtype)
    xde, xnu = kde[:, :n], knu[:, :n]
    # One solve with all right-hand sides (one LAPACK call, not three).
    sol = jnp.linalg.solve(bm, jnp.concatenate([xde, h_vec[:, None], xnu], axis=1))
    binv_x, binv_h, binv_nu = sol[:, :n], sol[:, n], sol[:, n + 1 :]  # (b, n), (b,), (b, n)
    denom = n_s - jnp.sum(xde * binv_x, axis=0)  # (n,)
    b0 = binv_h[:, None] + binv_x * ((h_vec @ binv_x) / denom)[None, :]
    b1 = binv_nu + binv_x * (jnp.sum(xnu * binv_x, axis=0) / denom)[None, :]
    b2 = jnp.maximum(0.0, (n_s - 1) * (n_t * b0 - b1) / (n_s * (n_t - 1)))
    r_de = jnp.sum(xde * b2, axis=0)
    r_nu = jnp.sum(xnu * b2, axis=0)
    return jnp.mean(r_de * r_de) / 2.0 - jnp.mean(r_nu)


@jax.jit
def _ulsif_loo_jit(xs, xt, centers, sigs, lams):
    # lax.map, not vmap, over the grid: a vmapped solve becomes a *batched* LAPACK call, and
    # jaxlib's CPU batched triangular solve (ParallelBatchMap on the intra-op pool) was seen to
    # deadlock on a 2-core machine. Sequential unbatched solves cost the same here.
    def per_sigma(sig):
        phi_s, phi_t = _design(xs, xt, centers, sig)
        return jax.lax.map(lambda lam: _loo_score(phi_s, phi_t, lam), lams)

    return jax.lax.map(per_sigma, sigs)


def _ulsif_bucketed(xs, xt, centers, sigs, lams, select, dtype):
    """:func:`ulsif` of concrete samples padded to shape buckets (one compile per bucket pair
    and number of centres). The centres are drawn from the real target rows before padding (the
    same draw as unpadded); padded rows have zero rows in the design matrices and no part in
    the means, and the leave-one-out columns past ``min(n_s, n_t)`` are masked."""
    n, m = xs.shape[0], xt.shape[0]
    n_pad, m_pad = sizes.bucket(n), sizes.bucket(m)
    xs_p, xt_p = sizes.pad_rows(xs, n_pad), sizes.pad_rows(xt, m_pad)
    ms, mt = sizes.row_mask(n, n_pad, xs.dtype), sizes.row_mask(m, m_pad, xs.dtype)
    if sigs is None:
        sigs = _ulsif_median_jit(xs_p, xt_p, ms, mt, exact=n + m <= EXACT_MEDIAN_MAX)[None, :]
    scores = None
    sig, lam_used = sigs[0], lams[0]
    if select:
        scores = _ulsif_loo_padded_jit(xs_p, xt_p, ms, mt, centers, sigs, lams)
        i, j = jnp.unravel_index(jnp.argmin(scores), scores.shape)
        sig, lam_used = sigs[i], lams[j]
    alpha, weights = _ulsif_fit_padded_jit(xs_p, xt_p, ms, mt, centers, sig, lam_used)
    weights = weights if n == n_pad else weights[:n]
    return DensityRatio(weights.astype(dtype), alpha, centers, sig, lam_used, scores)


_ulsif_median_jit = jax.jit(padded_median_sigmas, static_argnames=("exact",))


def _design_padded(xs, xt, ms, mt, centers, sig):
    phi_s, phi_t = _design(xs, xt, centers, sig)
    return phi_s * ms[:, None], phi_t * mt[:, None]


@jax.jit
def _ulsif_fit_padded_jit(xs, xt, ms, mt, centers, sig, lam):
    phi_s, phi_t = _design_padded(xs, xt, ms, mt, centers, sig)
    b = centers.shape[0]
    h_mat = jnp.matmul(phi_s.T, phi_s, precision=_HIGHEST) / jnp.sum(ms)
    h_vec = jnp.sum(phi_t, axis=0) / jnp.sum(mt)
    alpha = jnp.linalg.solve(h_mat + lam * jnp.eye(b, dtype=xs.dtype), h_vec)
    alpha = jnp.maximum(alpha, 0.0)
    return alpha, kernel_from_sq_dists(pairwise_sq_dists(xs, centers), sig) @ alpha


def _loo_score_padded(phi_s, phi_t, n_s, n_t, lam):
    """:func:`_loo_score` on padded design matrices (zero rows for padding): the real counts
    ``n_s``, ``n_t`` are traced and held-out columns ``>= min(n_s, n_t)`` are masked."""
    b = phi_s.shape[1]
    cols = min(phi_s.shape[0], phi_t.shape[0])
    n = jnp.minimum(n_s, n_t)
    cm = (jnp.arange(cols) < n).astype(phi_s.dtype)
    kde, knu = phi_s.T, phi_t.T
    h_mat = jnp.matmul(kde, kde.T, precision=_HIGHEST) / n_s
    h_vec = jnp.sum(knu, axis=1) / n_t
    bm = h_mat + lam * (n_s - 1) / n_s * jnp.eye(b, dtype=phi_s.dtype)
    xde, xnu = kde[:, :cols], knu[:, :cols]
    sol = jnp.linalg.solve(bm, jnp.concatenate([xde, h_vec[:, None], xnu], axis=1))
    binv_x, binv_h, binv_nu = sol[:, :cols], sol[:, cols], sol[:, cols + 1 :]
    denom = n_s - jnp.sum(xde * binv_x, axis=0)
    b0 = binv_h[:, None] + binv_x * ((h_vec @ binv_x) / denom)[None, :]
    b1 = binv_nu + binv_x * (jnp.sum(xnu * binv_x, axis=0) / denom)[None, :]
    b2 = jnp.maximum(0.0, (n_s - 1) * (n_t * b0 - b1) / (n_s * (n_t - 1)))
    r_de = jnp.sum(xde * b2, axis=0)
    r_nu = jnp.sum(xnu * b2, axis=0)
    return jnp.sum(cm * r_de * r_de) / n / 2.0 - jnp.sum(cm * r_nu) / n


@jax.jit
def _ulsif_loo_padded_jit(xs, xt, ms, mt, centers, sigs, lams):
    n_s, n_t = jnp.sum(ms), jnp.sum(mt)

    def per_sigma(sig):
        phi_s, phi_t = _design_padded(xs, xt, ms, mt, centers, sig)
        return jax.lax.map(lambda lam: _loo_score_padded(phi_s, phi_t, n_s, n_t, lam), lams)

    return jax.lax.map(per_sigma, sigs)
