"""Gaussian kernels with one bandwidth convention for the whole library (private module).

Convention (used by MMD, KMM, KLIEP, uLSIF and the KDE ratio):

.. math::
    k_\\sigma(x, y) = \\exp\\left(-\\frac{\\lVert x - y \\rVert^2}{2\\sigma^2}\\right),

with :math:`\\sigma` the ``bandwidth``. A sequence of bandwidths gives the multi-kernel
:math:`\\sum_u k_{\\sigma_u}` (a sum, not a mean), and ``"median"`` gives the median heuristic:
:math:`\\sigma` = median of the pairwise Euclidean distances :math:`\\lVert z_i - z_j\\rVert`,
:math:`i < j`, of the pooled sample, computed under ``jax.lax.stop_gradient``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jtransfer._core import checks as _checks
from jtransfer._core.distances import pairwise_sq_dists
from jtransfer._core.kernels import Bandwidth, kernel_from_sq_dists, median_sigma, resolve_bandwidth

__all__ = ["gaussian_kernel", "median_bandwidth", "pairwise_sq_dists", "resolve_bandwidth"]


def median_bandwidth(
    x: jax.Array, y: jax.Array | None = None, *, key: jax.Array | None = None
) -> jax.Array:
    """Median heuristic: median pairwise Euclidean distance of the pooled sample.

    .. math:: \\sigma = \\operatorname{median}\\{\\lVert z_i - z_j \\rVert : i < j\\},
        \\quad z = (x; y).

    The result is wrapped in ``stop_gradient`` (the bandwidth is treated as a constant when
    differentiating a loss that uses it). If every distance is 0 it returns 1. For
    :math:`N = n + m \\le 2048` pooled points it is exact (a sort of the :math:`N^2` distance
    matrix); above, it is the median of 65536 random pairs drawn with ``key`` (relative error a
    few 1e-3, see ``jtransfer._core.kernels.median_sigma``), so the cost does not grow with
    :math:`N^2`. ``mmd2(..., bandwidth="median")`` and the weighting functions use the same
    rule with the default key.

    Args:
      x: sample ``(n, d)``.
      y: optional second sample ``(m, d)``, pooled with ``x``.
      key: ``jax.random`` key for the pair sample above 2048 points (default: the fixed
        library key, so the result is reproducible).

    Returns:
      Scalar :math:`\\sigma` in the dtype of the inputs.

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 2012 (median heuristic).
    """
    if y is None:
        z = _checks.check_samples(x, "x")
    else:
        x, y = _checks.check_pair(x, y, "x", "y")
        z = jnp.concatenate([x, y], axis=0)
    return median_sigma(z, key=key)


def gaussian_kernel(x: jax.Array, y: jax.Array, bandwidth: Bandwidth) -> jax.Array:
    """Gaussian (RBF) kernel matrix, or a sum of them for several bandwidths.

    .. math::
        K_{ij} = \\sum_{u} \\exp\\left(-\\frac{\\lVert x_i - y_j\\rVert^2}{2\\sigma_u^2}\\right)

    Args:
      x: ``(n, d)`` sample.
      y: ``(m, d)`` sample.
      bandwidth: :math:`\\sigma` — a positive number, a sequence of positive numbers
        (multi-kernel: the kernels are summed), or ``"median"`` (median pairwise distance of the
        pooled sample ``(x; y)``, without gradient). Pass ``y=x`` for a Gram matrix.

    Returns:
      ``(n, m)`` kernel matrix.

    Raises:
      ValueError: ranks other than 2, different ``d``, NaN/Inf (concrete inputs), or a
        non-positive bandwidth.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import align
      >>> float(align.gaussian_kernel(jnp.zeros((1, 2)), jnp.ones((1, 2)), 1.0)[0, 0])
      0.3678794...

    References:
      Gretton et al., "A Kernel Two-Sample Test", JMLR 2012, https://jmlr.org/papers/v13/gretton12a.html
    """
    same = x is y
    x, y = _checks.check_pair(x, y, "x", "y", min_samples=1)
    if same:
        y = x
    if isinstance(bandwidth, str):
        _checks.check_choice(bandwidth, "bandwidth", ("median",))
        return _kernel_jit(x, y, None, same=same)
    return _kernel_jit(x, y, resolve_bandwidth(bandwidth, x), same=same)


@functools.partial(jax.jit, static_argnames=("same",))
def _kernel_jit(x, y, sig, *, same):
    if sig is None:
        sig = resolve_bandwidth("median", x, None if same else y)
    return kernel_from_sq_dists(pairwise_sq_dists(x, y, same=same), sig)
