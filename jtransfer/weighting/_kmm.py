"""Kernel mean matching (private module)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jtransfer._core import checks as _checks
from jtransfer._core import sizes, solvers
from jtransfer._core.distances import pairwise_sq_dists
from jtransfer._core.kernels import (
    EXACT_MEDIAN_MAX,
    Bandwidth,
    bandwidth_or_median,
    kernel_from_sq_dists,
    padded_median_sigmas,
    resolve_bandwidth,
)
from jtransfer.weighting._results import KMMResult


def kmm(
    source: jax.Array,
    target: jax.Array,
    *,
    bandwidth: Bandwidth = "median",
    B: float = 1000.0,
    eps: float | None = None,
    tol: float | None = None,
    max_iters: int = 20000,
) -> KMMResult:
    """Kernel mean matching: source weights whose weighted mean embedding matches the target.

    Solves the QP of Huang et al. (2006)

    .. math::
        \\min_{\\beta}\\ \\tfrac12 \\beta^\\top K \\beta - \\kappa^\\top \\beta
        \\quad\\text{s.t.}\\quad 0 \\le \\beta_i \\le B,\\quad
        \\Big|\\sum_i \\beta_i - n_s\\Big| \\le n_s \\epsilon,

    with :math:`K_{ij} = k(x^s_i, x^s_j)`, :math:`\\kappa_i = \\frac{n_s}{n_t}\\sum_j
    k(x^s_i, x^t_j)` (library σ convention) and default
    :math:`\\epsilon = (\\sqrt{n_s} - 1)/\\sqrt{n_s}`. This is
    :math:`\\frac{n_s^2}{2}\\lVert \\frac1{n_s}\\sum_i\\beta_i\\phi(x^s_i) - \\frac1{n_t}
    \\sum_j\\phi(x^t_j)\\rVert^2` up to a constant. Solved in JAX by the OSQP-style ADMM
    (one Cholesky of :math:`K + \\sigma I + \\rho(I + 11^\\top)`, residual stopping,
    adaptive :math:`\\rho`); no cvxopt. The solution is clipped to :math:`[0, B]`.

    KMM gives weights for the source sample only (no function for new points).

    Called eagerly (float32/float64), the samples are padded to size buckets (see
    ``jtransfer._core.sizes``): a padded source row has bounds ``[0, 0]``, a zero row and
    column of ``K``, no part in the sum constraint or the median bandwidth, and stays exactly
    0 in every ADMM iterate, so all sizes of a bucket share one compiled program and the
    solution is the unpadded one (equal to 1e-10 in float64; in float32 the QP is often flat
    and both reach the same objective to about 1e-6 relative, not the same weights).

    Args:
      source: ``(n_s, d)`` source sample.
      target: ``(n_t, d)`` target sample.
      bandwidth: σ (number, sequence = sum of kernels, or ``"median"`` of the pooled sample).
      B: upper bound :math:`B > 0` on each weight.
      eps: :math:`\\epsilon \\ge 0`, tolerance on the mean weight (default as above).
      tol: ADMM tolerance on the scaled residuals (default 1e-5 float32, 1e-9 float64).
      max_iters: ADMM iteration cap, an int >= 1.

    Returns:
      :class:`KMMResult` with ``.weights (n_s,)`` and solver diagnostics.

    References:
      Huang, Smola, Gretton, Borgwardt, Schölkopf, "Correcting Sample Selection Bias by
      Unlabeled Data", NeurIPS 2006,
      https://papers.nips.cc/paper/3075-correcting-sample-selection-bias-by-unlabeled-data
    """
    xs, xt = _checks.check_pair(source, target, "source", "target")
    _checks.check_positive(B, "B")
    max_iters = _checks.check_positive_int(max_iters, "max_iters")  # 0 iterations: weights 0
    if tol is not None:
        _checks.check_positive(tol, "tol")
    n_s = xs.shape[0]
    if eps is None:
        eps = (n_s**0.5 - 1.0) / n_s**0.5
    else:
        _checks.check_nonnegative(eps, "eps")
    bucketed = sizes.all_concrete(xs, xt, bandwidth)
    if bucketed and jnp.finfo(xs.dtype).bits >= 32:
        sig = bandwidth_or_median(bandwidth, xs, xt)  # None: the median, in the padded program
    else:  # half inputs: the median of the half-precision samples, as before
        sig = resolve_bandwidth(bandwidth, xs, xt)
    xs, xt, dtype = _checks.half_to_float32(xs, xt)  # the QP's Cholesky has no half precision
    sig = None if sig is None else sig.astype(xs.dtype)
    if bucketed:
        res = _kmm_bucketed(xs, xt, sig, float(B), float(eps), tol=tol, max_iters=int(max_iters))
    else:
        res = _kmm_jit(xs, xt, sig, float(B), float(eps), tol=tol, max_iters=int(max_iters))
    return res._replace(weights=res.weights.astype(dtype))


def kmm_qp(xs, xt, sig, B, eps):
    """The KMM QP data ``(P, q, A, l, u)`` in OSQP form (shared with tests and benchmarks)."""
    n_s, n_t = xs.shape[0], xt.shape[0]
    dt = xs.dtype
    k_ss = kernel_from_sq_dists(pairwise_sq_dists(xs, xs, same=True), sig)
    kappa = (n_s / n_t) * jnp.sum(kernel_from_sq_dists(pairwise_sq_dists(xs, xt), sig), axis=1)
    # A = [I; 1^T] as a structured operator: A x = (x, sum x), A^T y = y[:n] + y[n].
    a = solvers.LinearOp(
        lambda v: jnp.concatenate([v, jnp.sum(v, keepdims=True)]),
        lambda v: v[:n_s] + v[n_s],
        jnp.eye(n_s, dtype=dt) + jnp.ones((n_s, n_s), dt),
    )
    lo = jnp.concatenate([jnp.zeros(n_s, dt), jnp.full((1,), n_s * (1.0 - eps), dt)])
    hi = jnp.concatenate([jnp.full((n_s,), B, dt), jnp.full((1,), n_s * (1.0 + eps), dt)])
    return k_ss, -kappa, a, lo, hi


_SIGMA = 1e-6


@functools.partial(jax.jit, static_argnames=("tol", "max_iters"))
def _kmm_jit(xs, xt, sig, B, eps, *, tol, max_iters):
    P, q, A, lo, hi = kmm_qp(xs, xt, sig, B, eps)
    sol = solvers.solve_qp(P, q, A, lo, hi, tol=tol, max_iters=max_iters, sigma=_SIGMA)
    beta = jnp.clip(sol.x, 0.0, B)
    return KMMResult(beta, sol.num_iters, sol.converged, sol.primal_residual, sol.dual_residual)


def _kmm_bucketed(xs, xt, sig, B, eps, *, tol, max_iters):
    """:func:`kmm` of concrete samples padded to shape buckets (one compile per bucket pair).

    A padded source row gets bounds ``[0, 0]``, a zero row and column of ``K``, ``kappa = 0``
    and no part in the sum constraint; its coordinate of the ADMM system is then decoupled
    (the KKT matrix is block diagonal) and every iterate keeps it at exactly 0, so the real
    coordinates, the infinity-norm residuals and the rho updates are those of the unpadded
    problem (up to float rounding of the reordered sums)."""
    n, m = xs.shape[0], xt.shape[0]
    n_pad, m_pad = sizes.bucket(n), sizes.bucket(m)
    res = _kmm_padded_jit(
        sizes.pad_rows(xs, n_pad),
        sizes.pad_rows(xt, m_pad),
        sizes.row_mask(n, n_pad, xs.dtype),
        sizes.row_mask(m, m_pad, xs.dtype),
        sig,
        B,
        eps,
        tol=tol,
        max_iters=max_iters,
        exact_median=n + m <= EXACT_MEDIAN_MAX,
    )
    return res if n == n_pad else res._replace(weights=res.weights[:n])


def kmm_qp_padded(xs, xt, ms, mt, sig, B, eps):
    """:func:`kmm_qp` of padded samples (``ms``/``mt`` 1 on real rows, 0 on padding)."""
    n_s, n_t = jnp.sum(ms), jnp.sum(mt)
    dt = xs.dtype
    mm = ms[:, None] * ms[None, :]
    k_ss = kernel_from_sq_dists(pairwise_sq_dists(xs, xs, same=True), sig) * mm
    k_st = kernel_from_sq_dists(pairwise_sq_dists(xs, xt), sig) * mt[None, :]
    kappa = (n_s / n_t) * jnp.sum(k_st, axis=1) * ms
    # A = [I; ms^T]: the sum constraint counts the real rows only.
    a = solvers.LinearOp(
        lambda v: jnp.concatenate([v, jnp.sum(v * ms, keepdims=True)]),
        lambda v: v[:-1] + v[-1] * ms,
        jnp.eye(xs.shape[0], dtype=dt) + mm,
    )
    lo = jnp.concatenate([jnp.zeros(xs.shape[0], dt), (n_s * (1.0 - eps)).reshape(1)])
    hi = jnp.concatenate([B * ms, (n_s * (1.0 + eps)).reshape(1)])
    return k_ss, -kappa, a, lo, hi


@functools.partial(jax.jit, static_argnames=("tol", "max_iters", "exact_median"))
def _kmm_padded_jit(xs, xt, ms, mt, sig, B, eps, *, tol, max_iters, exact_median):
    if sig is None:
        sig = padded_median_sigmas(xs, xt, ms, mt, exact=exact_median)
    P, q, A, lo, hi = kmm_qp_padded(xs, xt, ms, mt, sig.astype(xs.dtype), B, eps)
    sol = solvers.solve_qp(P, q, A, lo, hi, tol=tol, max_iters=max_iters, sigma=_SIGMA)
    beta = jnp.clip(sol.x, 0.0, B)
    return KMMResult(beta, sol.num_iters, sol.converged, sol.primal_residual, sol.dual_residual)
