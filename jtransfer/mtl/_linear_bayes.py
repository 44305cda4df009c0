"""Exact empirical Bayes for linear-Gaussian tasks under the hierarchical prior.

Task :math:`t` has :math:`y_t = X_t\\theta_t + \\varepsilon` with
:math:`\\theta_t \\sim \\mathcal N(\\theta_0, \\sigma_t^2 I)` (see ``_soft.py`` for the
prior and why :math:`\\theta_t` must be integrated out to learn :math:`\\sigma_t`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core.checks import is_tracer
from jtransfer.mtl._soft import _per_task

_HI = jax.lax.Precision.HIGHEST


def _check_linear(x, y, mask, shared_w):
    if jnp.ndim(x) != 3:
        raise ValueError(f"x must be (T, N, D), got shape {jnp.shape(x)}")
    t, n, d = jnp.shape(x)
    if jnp.shape(y) != (t, n):
        raise ValueError(
            f"y must be (T, N) = ({t}, {n}) to match x {jnp.shape(x)}, got {jnp.shape(y)}"
        )
    if mask is None:
        mask = jnp.ones((t, n), x.dtype)
    if jnp.shape(mask) != (t, n):
        raise ValueError(f"mask must be (T, N) = ({t}, {n}), got {jnp.shape(mask)}")
    if not is_tracer(mask):
        counts = np.asarray(mask).sum(axis=1)
        if np.any(counts <= 0):
            raise ValueError(
                f"tasks {np.nonzero(counts <= 0)[0].tolist()} have zero examples "
                "(mask rows are all zero)"
            )
    if jnp.shape(shared_w) != (d,):
        raise ValueError(f"shared_w must be (D,) = ({d},), got {jnp.shape(shared_w)}")
    mask = jnp.asarray(mask, x.dtype)
    return t, n, d, x * mask[..., None], y * mask, mask


def _linear_posterior(x, y, shared_w, log_sigma, log_noise):
    t, _, d = x.shape
    s2 = jnp.exp(2.0 * log_sigma)
    n2 = jnp.exp(2.0 * log_noise)
    r = y - jnp.einsum("tnd,d->tn", x, shared_w, precision=_HI)
    xtx = jnp.einsum("tnd,tne->tde", x, x, precision=_HI)
    prec = jnp.eye(d, dtype=x.dtype)[None] / s2[:, None, None] + xtx / n2[:, None, None]
    xtr = jnp.einsum("tnd,tn->td", x, r, precision=_HI) / n2[:, None]

    # Per task with lax.map rather than one batched call: jaxlib's CPU batched triangular
    # solve (ParallelBatchMap) was seen to deadlock its thread pool on a 2-core machine.
    def per_task(args):
        p, b = args
        c = jnp.linalg.cholesky(p)
        return c, jax.scipy.linalg.cho_solve((c, True), b[:, None])[:, 0]

    chol, delta = jax.lax.map(per_task, (prec, xtr))
    return r, xtr, chol, delta, s2, n2


def linear_marginal_nll(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array | None,
    shared_w: jax.Array,
    log_sigma: jax.Array | float,
    log_noise: jax.Array | float,
) -> jax.Array:
    """Exact negative log marginal likelihood of linear tasks under the hierarchical prior.

    Task :math:`t` has :math:`y_t = X_t\\theta_t + \\varepsilon`,
    :math:`\\varepsilon\\sim\\mathcal N(0, s_t^2 I)`, :math:`\\theta_t\\sim\\mathcal N(\\theta_0,
    \\sigma_t^2 I)`. Integrating :math:`\\theta_t` out,

    .. math::
       y_t \\sim \\mathcal N\\big(X_t\\theta_0,\\; \\sigma_t^2 X_tX_t^\\top + s_t^2 I\\big),

    evaluated in :math:`D \\times D` form (Woodbury / matrix determinant lemma) with
    :math:`A_t = \\sigma_t^{-2} I + s_t^{-2} X_t^\\top X_t`, :math:`r_t = y_t - X_t\\theta_0`:

    .. math::
       -\\log p(y_t) = \\tfrac12\\Big[\\frac{r_t^\\top r_t}{s_t^2}
       - \\frac{r_t^\\top X_t A_t^{-1} X_t^\\top r_t}{s_t^4}
       + n_t\\log s_t^2 + D\\log\\sigma_t^2 + \\log\\det A_t + n_t\\log 2\\pi\\Big].

    Minimising over :math:`(\\theta_0, \\log\\sigma_t, \\log s)` is empirical Bayes: the
    :math:`D\\log\\sigma_t^2 + \\log\\det A_t = \\log\\det(I + \\sigma_t^2 X_t^\\top X_t/s_t^2)`
    term (the normaliser plus the Occam factor) keeps :math:`\\sigma_t` finite for related
    tasks and the data term lets it grow for an unrelated task. Rows with ``mask = 0`` are
    padding (ragged tasks).

    Args:
      x: ``(T, N, D)`` padded inputs.
      y: ``(T, N)`` padded targets.
      mask: ``(T, N)`` 0/1 or None (all ones). A task with no examples is a ``ValueError``.
      shared_w: ``(D,)`` the shared mean :math:`\\theta_0`.
      log_sigma: ``(T,)`` or scalar, :math:`\\log\\sigma_t`.
      log_noise: ``(T,)`` or scalar, :math:`\\log s_t`.

    Returns:
      Scalar :math:`-\\sum_t\\log p(y_t\\mid X_t, \\theta_0, \\sigma_t, s_t)`.

    References:
      Bakker & Heskes, JMLR 2003, https://www.jmlr.org/papers/v4/bakker03a.html ; Bishop,
      "Pattern Recognition and Machine Learning", Sec. 3.5 (the evidence approximation).
    """
    t, n, d, x, y, mask = _check_linear(x, y, mask, shared_w)
    log_sigma = _per_task(log_sigma, t, "log_sigma")
    log_noise = _per_task(log_noise, t, "log_noise")
    r, xtr, chol, delta, s2, n2 = _linear_posterior(x, y, shared_w, log_sigma, log_noise)
    counts = jnp.sum(mask, axis=1)
    quad = jnp.sum(r * r, axis=1) / n2 - jnp.sum(xtr * delta, axis=1)
    logdet_a = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
    nll = 0.5 * (
        quad + counts * jnp.log(n2) + d * jnp.log(s2) + logdet_a + counts * math.log(2 * math.pi)
    )
    return jnp.sum(nll)


def linear_posterior_mean(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array | None,
    shared_w: jax.Array,
    log_sigma: jax.Array | float,
    log_noise: jax.Array | float,
) -> jax.Array:
    """Posterior mean task weights under the hierarchical prior (the soft-shared solution).

    .. math:: \\hat\\theta_t = \\theta_0 + A_t^{-1} X_t^\\top (y_t - X_t\\theta_0) / s_t^2 ,

    which is also the minimiser of :math:`\\frac{1}{2s_t^2}\\|y_t - X_t\\theta_t\\|^2 +
    \\frac{1}{2\\sigma_t^2}\\|\\theta_t - \\theta_0\\|^2` (ridge toward :math:`\\theta_0`).

    Args:
      x, y, mask, shared_w, log_sigma, log_noise: as in :func:`linear_marginal_nll`.

    Returns:
      ``(T, D)`` task weights.
    """
    t, _, _, x, y, _ = _check_linear(x, y, mask, shared_w)
    log_sigma = _per_task(log_sigma, t, "log_sigma")
    log_noise = _per_task(log_noise, t, "log_noise")
    *_, delta, _, _ = _linear_posterior(x, y, shared_w, log_sigma, log_noise)
    return shared_w[None] + delta
