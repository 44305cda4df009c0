"""The Gaussian-kernel bandwidth convention of the whole library (private).

.. math::
    k_\\sigma(x, y) = \\exp\\left(-\\frac{\\lVert x - y \\rVert^2}{2\\sigma^2}\\right),

with :math:`\\sigma` the ``bandwidth`` (used by MMD, KMM, KLIEP, uLSIF and the KDE ratio). A
sequence of bandwidths gives the multi-kernel :math:`\\sum_u k_{\\sigma_u}` (a sum, not a mean),
and ``"median"`` the median heuristic: :math:`\\sigma` = median of the pairwise Euclidean
distances :math:`\\lVert z_i - z_j\\rVert`, :math:`i < j`, of the pooled sample, computed under
``jax.lax.stop_gradient``. Public names: ``jtransfer.align.resolve_bandwidth``,
``align.median_bandwidth``, ``align.gaussian_kernel``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks
from jtransfer._core.distances import pairwise_sq_dists

Bandwidth = float | Sequence[float] | jax.Array | str


def median_sigma(z: jax.Array) -> jax.Array:
    """Median pairwise Euclidean distance of the rows of ``z`` (1 if all are 0), no gradient."""
    z = jax.lax.stop_gradient(z)
    n = z.shape[0]
    iu, ju = np.triu_indices(n, k=1)
    d = jnp.sqrt(pairwise_sq_dists(z, z, same=True)[iu, ju])
    med = jnp.median(d)
    return jax.lax.stop_gradient(jnp.where(med > 0, med, jnp.ones((), med.dtype)))


def resolve_bandwidth(bandwidth: Bandwidth, x: jax.Array, y: jax.Array | None = None,
                      *, name: str = "bandwidth") -> jax.Array:
    """Turns a bandwidth spec into a 1-D array of sigmas.

    Args:
      bandwidth: a positive number, a sequence of positive numbers, or ``"median"`` (the median
        pairwise distance of the pooled sample ``(x; y)``, without gradient).
      x: ``(n, d)`` sample (its dtype is the result's).
      y: optional ``(m, d)`` sample pooled with ``x`` for the median heuristic.
      name: the argument name used in error messages.

    Returns:
      ``(K,)`` array of :math:`\\sigma_u` in ``x.dtype`` (``K = 1`` for a number or ``"median"``).

    Raises:
      ValueError: an unknown string, ``None``, a rank > 1 or empty spec, or (concrete values) a
        non-positive or non-finite bandwidth.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import align
      >>> align.resolve_bandwidth([0.5, 2.0], jnp.zeros((3, 2))).tolist()
      [0.5, 2.0]
    """
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(f"{name} must be a positive number, a sequence of positive "
                             f"numbers or 'median', got {bandwidth!r}")
        z = x if y is None else jnp.concatenate([x, y], axis=0)
        return median_sigma(z).reshape(1).astype(x.dtype)
    if bandwidth is None:
        raise ValueError(f"{name} must be a positive number, a sequence or 'median', got None")
    try:
        sig = jnp.asarray(bandwidth, dtype=x.dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a positive number, a sequence of positive numbers "
                         f"or 'median', got {bandwidth!r}") from e
    if sig.ndim > 1 or sig.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D sequence, got shape "
                         f"{tuple(sig.shape)}")
    checks.check_positive(bandwidth if checks.is_concrete(bandwidth) else sig, name)
    return sig.reshape(-1)


def kernel_from_sq_dists(d2: jax.Array, sigmas: jax.Array) -> jax.Array:
    """``sum_u exp(-d2 / (2 sigma_u^2))`` for a 1-D array of sigmas (static length)."""
    gammas = 1.0 / (2.0 * sigmas * sigmas)
    out = jnp.exp(-d2 * gammas[0])
    for u in range(1, sigmas.shape[0]):
        out = out + jnp.exp(-d2 * gammas[u])
    return out
