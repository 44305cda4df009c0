"""Cross-stitch units (Misra et al. 2016): learned linear mixing of task activations.

The Flax NNX module form is :class:`jtransfer.models.CrossStitch`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

_HI = jax.lax.Precision.HIGHEST


def cross_stitch_init(
    num_tasks: int,
    num_channels: int | None = None,
    *,
    self_weight: float = 0.9,
    dtype: Any = jnp.float32,
) -> jax.Array:
    """Cross-stitch matrix with ``self_weight`` on the diagonal, the rest spread evenly.

    Args:
      num_tasks: ``T``.
      num_channels: ``C`` for per-channel units (shape ``(C, T, T)``), None for ``(T, T)``.
      self_weight: diagonal value (Misra et al. use 0.9 with two tasks).
      dtype: dtype.

    Returns:
      ``(T, T)`` or ``(C, T, T)`` array whose rows sum to one.
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    off = (1.0 - self_weight) / max(num_tasks - 1, 1)
    a = jnp.full((num_tasks, num_tasks), off, dtype)
    a = a.at[jnp.diag_indices(num_tasks)].set(self_weight if num_tasks > 1 else 1.0)
    if num_channels is not None:
        a = jnp.broadcast_to(a, (num_channels, num_tasks, num_tasks))
    return a


def cross_stitch(alpha: jax.Array, features: jax.Array) -> jax.Array:
    """Cross-stitch unit: each task's activations become a learned mix of all tasks'.

    .. math:: \\tilde x_t = \\sum_s \\alpha_{ts}\\, x_s
              \\quad(\\text{per channel } c:
              \\tilde x_{t,\\cdot,c} = \\sum_s \\alpha_{c,t,s}\\, x_{s,\\cdot,c}).

    Args:
      alpha: ``(T, T)`` or ``(C, T, T)`` (per-channel) mixing weights.
      features: ``(T, ...)`` stacked task activations (channels last when ``alpha`` is 3-D).

    Returns:
      Array shaped like ``features``.

    References:
      Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task Learning",
      CVPR 2016, https://arxiv.org/abs/1604.03539
    """
    fs = jnp.shape(features)
    if jnp.ndim(features) < 1:
        raise ValueError(f"features must have a leading task axis, got shape {fs}")
    t = fs[0]
    ash = jnp.shape(alpha)
    if ash == (t, t):
        return jnp.einsum("ts,s...->t...", alpha, features, precision=_HI)
    if len(ash) == 3 and ash[1:] == (t, t) and len(fs) >= 2 and fs[-1] == ash[0]:
        return jnp.einsum("cts,s...c->t...c", alpha, features, precision=_HI)
    raise ValueError(
        f"alpha shape {ash} does not fit features shape {fs}: expected ({t}, {t}) "
        f"or (C, {t}, {t}) with C = features.shape[-1]"
    )
