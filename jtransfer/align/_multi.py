"""MMD² with DAN's multi-bandwidth heuristic (private module; public name ``mmd2_multi``)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jtransfer.align._mmd import mmd2

DEFAULT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def mmd2_multi(
    source: jax.Array, target: jax.Array, *, scales: Sequence[float] = DEFAULT_SCALES
) -> jax.Array:
    r"""Biased MMD² with a sum of Gaussian kernels around the pooled mean distance.

    The bandwidths are :math:`\sigma_k = s_k\,\sigma_0` for the ``scales`` :math:`s_k`, with
    :math:`\sigma_0^2` the mean pairwise squared distance of the pooled batch
    :math:`Z = [X_s; X_t]`, taken without gradient:

    .. math::
        \sigma_0^2 = \frac{1}{(n+m)^2}\sum_{i,j}\lVert z_i - z_j\rVert^2 + 10^{-8},\qquad
        \mathrm{MMD}^2_b = \mathtt{mmd2}(X_s, X_t;\ \sigma = \{s_k\sigma_0\}_k,
        \ \text{biased}).

    This is the DAN family's multi-kernel heuristic (a family of bandwidths around a data
    scale); the mean distance is used instead of the median because a sort per training
    step dominated the run time of small models. Use it as a feature-alignment loss:
    ``loss = ce + lam * align.mmd2_multi(f_source, f_target)``.

    Args:
      source: ``(n, d)`` source features.
      target: ``(m, d)`` target features (same ``d``).
      scales: positive multipliers of :math:`\sigma_0` (one kernel each).

    Returns:
      Scalar biased MMD² (:math:`\ge 0` up to rounding) in the dtype of ``source``.

    Example:
      >>> import jax
      >>> from jtransfer import align
      >>> ks, kt = jax.random.split(jax.random.key(0))
      >>> xs = jax.random.normal(ks, (64, 3)); xt = jax.random.normal(kt, (64, 3)) + 1.0
      >>> bool(align.mmd2_multi(xs, xt) > align.mmd2_multi(xs, xs))
      True

    References:
      Long, Cao, Wang & Jordan 2015, "Learning Transferable Features with Deep Adaptation
      Networks", ICML, https://arxiv.org/abs/1502.02791
    """
    source, target = jnp.asarray(source), jnp.asarray(target)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(
            f"source and target must have shapes (n, d) and (m, d), got "
            f"{tuple(source.shape)} and {tuple(target.shape)}"
        )
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be non-empty and positive, got {scales}")
    z = jax.lax.stop_gradient(jnp.concatenate([source, target], axis=0))
    sq = jnp.sum(z * z, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    sigma0 = jnp.sqrt(jnp.mean(d2) + 1e-8)
    return mmd2(
        source, target, bandwidth=sigma0 * jnp.asarray(scales, source.dtype), estimator="biased"
    )
