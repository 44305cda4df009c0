"""Task loss weighting: equal, uncertainty (Kendall 2018), DWA (Liu 2019), GradNorm (Chen 2018)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jtransfer.mtl._validate import check_losses, check_positive


class LossWeighting(NamedTuple):
    """Optax-style pair for stateful loss weights.

    Attributes:
      init: ``init() -> state``; ``state.weights`` are the weights to use first.
      update: ``update(losses, state, **extra) -> (weights, new_state)``; ``weights`` are the
        weights to use from now on (also stored in ``new_state.weights``).
    """

    init: Callable[[], Any]
    update: Callable[..., tuple[jax.Array, Any]]


def weighted_loss(losses: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Total multi-task loss :math:`\\sum_t w_t L_t` (equal weighting when ``weights`` is None).

    Args:
      losses: ``(T,)`` per-task losses.
      weights: ``(T,)`` or None (all ones: the plain sum used by hard parameter sharing).

    Returns:
      Scalar.
    """
    t = check_losses(losses)
    if weights is None:
        return jnp.sum(losses)
    if jnp.shape(weights) != (t,):
        raise ValueError(f"weights must have shape ({t},), got {jnp.shape(weights)}")
    return jnp.sum(weights * losses)


def equal_weights(num_tasks: int, dtype=jnp.float32) -> jax.Array:
    """All-ones weights, shape ``(num_tasks,)``."""
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    return jnp.ones((num_tasks,), dtype)


def _kind_factors(kinds: str | Sequence[str], t: int, dtype) -> jax.Array:
    if isinstance(kinds, str):
        kinds = (kinds,) * t
    if len(kinds) != t:
        raise ValueError(f"kinds has {len(kinds)} entries for {t} tasks")
    table = {"regression": 0.5, "classification": 1.0}
    bad = [k for k in kinds if k not in table]
    if bad:
        raise ValueError(f"kinds must be 'regression' or 'classification', got {bad}")
    return jnp.asarray([table[k] for k in kinds], dtype)


def uncertainty_weighted_loss(losses: jax.Array, log_sigma: jax.Array, *,
                              kinds: str | Sequence[str] = "regression") -> jax.Array:
    """Homoscedastic-uncertainty weighting with learned :math:`\\log\\sigma_t`.

    .. math::
       \\mathcal L = \\sum_t c_t\\, e^{-2 \\log\\sigma_t} L_t + \\log\\sigma_t ,\\qquad
       c_t = \\tfrac12 \\text{ (regression, Gaussian)},\\; 1 \\text{ (classification)} .

    For fixed :math:`L_t` the optimum is :math:`\\sigma_t^2 = 2 c_t L_t` (the gradient w.r.t.
    :math:`\\log\\sigma_t` is :math:`1 - 2 c_t L_t / \\sigma_t^2`), so the ``log σ`` term is the
    normaliser that keeps :math:`\\sigma_t` from growing without bound. Train ``log_sigma``
    together with the network parameters.

    Args:
      losses: ``(T,)`` per-task losses (mean squared error / mean cross-entropy).
      log_sigma: ``(T,)`` learned log standard deviations (initialise at 0).
      kinds: ``"regression"``, ``"classification"`` or one entry per task.

    Returns:
      Scalar.

    References:
      Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
      Geometry and Semantics", CVPR 2018, https://arxiv.org/abs/1705.07115
    """
    t = check_losses(losses)
    if jnp.shape(log_sigma) != (t,):
        raise ValueError(f"log_sigma must have shape ({t},) like losses, got "
                         f"{jnp.shape(log_sigma)}")
    c = _kind_factors(kinds, t, jnp.result_type(losses, log_sigma))
    return jnp.sum(c * jnp.exp(-2.0 * log_sigma) * losses + log_sigma)


class DWAState(NamedTuple):
    weights: jax.Array  # (T,) weights to use now
    history: jax.Array  # (2, T) losses of the last two periods: [k-1, k-2]
    count: jax.Array    # () int32, number of periods seen


def dwa(num_tasks: int, *, temperature: float = 2.0) -> LossWeighting:
    """Dynamic weight average.

    .. math::
       w_t(k) = \\frac{T \\exp(r_t(k-1)/\\tau)}{\\sum_s \\exp(r_s(k-1)/\\tau)},\\qquad
       r_t(k-1) = \\frac{L_t(k-1)}{L_t(k-2)} ,

    with :math:`w_t = 1` for the first two periods. Call ``update`` once per period (the paper
    uses epoch-average losses) with that period's mean losses.

    Args:
      num_tasks: ``T``.
      temperature: :math:`\\tau > 0` (paper: 2).

    Returns:
      A :class:`LossWeighting`.

    References:
      Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019,
      https://arxiv.org/abs/1803.10704
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    check_positive(temperature, "temperature")

    def init():
        return DWAState(weights=jnp.ones((num_tasks,)), history=jnp.ones((2, num_tasks)),
                        count=jnp.zeros((), jnp.int32))

    def update(losses, state):
        check_losses(losses, num_tasks=num_tasks)
        history = jnp.stack([losses.astype(state.history.dtype), state.history[0]])
        count = state.count + 1
        ratio = history[0] / jnp.where(history[1] > 0, history[1], 1.0)
        w = num_tasks * jax.nn.softmax(ratio / temperature)
        w = jnp.where(count >= 2, w, jnp.ones_like(w))
        return w, DWAState(weights=w, history=history, count=count)

    return LossWeighting(init, update)


class GradNormState(NamedTuple):
    weights: jax.Array         # (T,) current task weights, sum T
    initial_losses: jax.Array  # (T,) L_t(0), recorded at the first update
    count: jax.Array           # () int32


def gradnorm(num_tasks: int, *, alpha: float = 1.5, learning_rate: float = 0.025) -> LossWeighting:
    """GradNorm: adapt task weights so weighted gradient norms follow relative training rates.

    With :math:`G_t = w_t\\,\\|\\nabla_W L_t\\|` (``W``: the last shared layer),
    :math:`\\bar G = \\operatorname{mean}_t G_t`, :math:`\\tilde L_t = L_t / L_t(0)` and
    :math:`r_t = \\tilde L_t / \\operatorname{mean}_s \\tilde L_s`,

    .. math::
       L_{\\text{grad}}(w) = \\sum_t
       \\big| G_t - [\\bar G\\, r_t^{\\alpha}]_{\\text{const}} \\big| ,

    one gradient step on :math:`w` with ``learning_rate``, then :math:`w` is clipped positive
    and renormalised to :math:`\\sum_t w_t = T`.

    ``update(losses, state, *, grad_norms)`` takes the *unweighted* per-task gradient norms
    :math:`\\|\\nabla_W L_t\\|` w.r.t. the last shared layer and returns the new weights.

    Args:
      num_tasks: ``T``.
      alpha: restoring-force strength :math:`\\alpha \\ge 0` (paper: 0.12–3, 1.5 common).
      learning_rate: step size for the weights.

    Returns:
      A :class:`LossWeighting`.

    References:
      Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for Adaptive
      Loss Balancing in Deep Multitask Networks", ICML 2018, https://arxiv.org/abs/1711.02257
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be non-negative, got {alpha!r}")
    check_positive(learning_rate, "learning_rate")

    def init():
        return GradNormState(weights=jnp.ones((num_tasks,)), initial_losses=jnp.ones((num_tasks,)),
                             count=jnp.zeros((), jnp.int32))

    def update(losses, state, *, grad_norms):
        check_losses(losses, num_tasks=num_tasks)
        check_losses(grad_norms, "grad_norms", num_tasks=num_tasks)
        losses = jax.lax.stop_gradient(losses)
        grad_norms = jax.lax.stop_gradient(grad_norms)
        l0 = jnp.where(state.count == 0, losses, state.initial_losses)
        rel = losses / jnp.where(l0 > 0, l0, 1.0)
        r = rel / jnp.mean(rel)

        def gn_loss(w):
            g = w * grad_norms
            target = jax.lax.stop_gradient(jnp.mean(g) * r**alpha)
            return jnp.sum(jnp.abs(g - target))

        w = state.weights - learning_rate * jax.grad(gn_loss)(state.weights)
        w = jnp.maximum(w, 1e-3)
        w = num_tasks * w / jnp.sum(w)
        return w, GradNormState(weights=w, initial_losses=l0, count=state.count + 1)

    return LossWeighting(init, update)
