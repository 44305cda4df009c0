"""Pairwise squared distances and sample covariances (private; public via ``jtransfer.align``).

Both are written for numerical safety: the distance expansion is computed at ``HIGHEST``
matmul precision and clipped at 0, covariances are centred before the product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST  # no TF32/bf16 passes: the expansions below cancel


def pairwise_sq_dists(x: jax.Array, y: jax.Array, *, same: bool = False) -> jax.Array:
    """Squared Euclidean distances between the rows of ``x`` and ``y``.

    .. math:: D_{ij} = \\max(0,\\ \\lVert x_i\\rVert^2 + \\lVert y_j\\rVert^2 - 2 x_i^\\top y_j)

    The matmul runs at ``HIGHEST`` precision (the expansion cancels); negative round-off is
    clipped at 0. With ``same=True`` (``y is x``) the diagonal is set to exactly 0.

    Args:
      x: ``(n, d)`` sample.
      y: ``(m, d)`` sample.
      same: whether ``y`` is ``x`` (exact zero diagonal).

    Returns:
      ``(n, m)`` matrix of squared distances, in the dtype of the inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import align
      >>> align.pairwise_sq_dists(jnp.zeros((1, 2)), jnp.array([[3.0, 4.0]])).tolist()
      [[25.0]]
    """
    xx = jnp.sum(x * x, axis=-1)
    yy = jnp.sum(y * y, axis=-1)
    d2 = xx[:, None] + yy[None, :] - 2.0 * jnp.matmul(x, y.T, precision=HIGHEST)
    d2 = jnp.maximum(d2, 0.0)
    if same:
        n = x.shape[0]
        d2 = jnp.where(jnp.eye(n, dtype=bool), jnp.zeros((), d2.dtype), d2)
    return d2


def covariance(x: jax.Array) -> jax.Array:
    """Centred sample covariance with the unbiased :math:`1/(n-1)` normalisation.

    .. math:: C = \\tfrac{1}{n-1} (X - \\bar X)^\\top (X - \\bar X)

    Args:
      x: ``(n, d)`` sample, ``n >= 2``.

    Returns:
      ``(d, d)`` covariance matrix.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import align
      >>> align.covariance(jnp.array([[0.0], [2.0]])).tolist()
      [[2.0]]
    """
    xc = x - jnp.mean(x, axis=0, keepdims=True)
    return jnp.matmul(xc.T, xc, precision=HIGHEST) / (x.shape[0] - 1)
