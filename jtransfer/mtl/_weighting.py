"""Task loss weighting: equal, uncertainty (Kendall 2018), DWA (Liu 2019), GradNorm (Chen 2018).

The protocol
------------
The stateful weightings (``dwa``, ``gradnorm``, ``uncertainty_weighting``) are
:class:`optax.GradientTransformationExtraArgs`, like the gradient aggregators:

* ``init(params) -> state`` ignores ``params`` (it may be None); ``state.weights`` ``(T,)`` are
  the weights to use first;
* ``update(task_grads, state, params=None, *, losses, **extra_args) -> (update, state)``
  takes stacked per-task gradients (leaves ``(T, ...)``, as for the aggregators) and this
  step's (or period's) ``(T,)`` task losses as the extra argument ``losses=``. It returns
  :math:`\\sum_t w_t g_t` with the weights *in* ``state`` (the gradient of
  :math:`\\sum_t w_t L_t`, without the task axis) and a new state whose ``weights`` are the
  ones to use next. ``task_grads`` may be None: then only the state advances and the first
  output is None (for when you backpropagate ``weighted_loss(losses, state.weights)`` once
  instead of forming per-task gradients).

So ``optax.chain(mtl.dwa(T), optax.adam(1e-3))`` is an optimizer over per-task gradients,
called as ``opt.update(task_grads, state, params, losses=losses)``. DWA's and GradNorm's
weights sum to ``T``: their update is on the scale of the *sum* of the task gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer._core.checks import (
    check_finite,
    check_losses,
    check_matches_params,
    check_nonnegative_entries,
    check_positive,
)
from jtransfer.mtl._gram import combine


def _combine(task_grads: Any, weights: jax.Array, params: Any) -> Any:
    """``Σ_t w_t g_t`` for stacked gradients (None passes through)."""
    if task_grads is None:
        return None
    check_matches_params(task_grads, params)
    dtype = jnp.result_type(*jax.tree.leaves(task_grads))
    return combine(task_grads, weights.astype(dtype))


def weighted_loss(losses: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Total multi-task loss :math:`\\sum_t w_t L_t` (equal weighting when ``weights`` is None).

    Args:
      losses: ``(T,)`` per-task losses.
      weights: ``(T,)`` or None (all ones: the plain sum used by hard parameter sharing).

    Returns:
      Scalar.

    Raises:
      ValueError: ``losses`` not a non-empty vector, ``weights`` of another shape, or (a value
        check) negative or NaN/Inf weights.
    """
    t = check_losses(losses)
    if weights is None:
        return jnp.sum(losses)
    if jnp.shape(weights) != (t,):
        raise ValueError(f"weights must have shape ({t},), got {jnp.shape(weights)}")
    check_finite(weights, "weights")
    check_nonnegative_entries(weights, "weights")
    return jnp.sum(weights * losses)


def equal_weights(num_tasks: int, dtype: Any = jnp.float32) -> jax.Array:
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


def uncertainty_weighted_loss(
    losses: jax.Array, log_sigma: jax.Array, *, kinds: str | Sequence[str] = "regression"
) -> jax.Array:
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
        raise ValueError(
            f"log_sigma must have shape ({t},) like losses, got {jnp.shape(log_sigma)}"
        )
    c = _kind_factors(kinds, t, jnp.result_type(losses, log_sigma))
    return jnp.sum(c * jnp.exp(-2.0 * log_sigma) * losses + log_sigma)


class UncertaintyState(NamedTuple):
    weights: jax.Array  # (T,) c_t exp(-2 log sigma_t), the weights to use now
    log_sigma: jax.Array  # (T,) learned log standard deviations
    opt_state: Any  # state of the optimizer of log_sigma


def uncertainty_weighting(
    num_tasks: int,
    optimizer: optax.GradientTransformation,
    *,
    kinds: str | Sequence[str] = "regression",
) -> optax.GradientTransformationExtraArgs:
    """Uncertainty weighting (Kendall et al.) as a transform that also learns :math:`\\log\\sigma`.

    The same objective as :func:`uncertainty_weighted_loss`,
    :math:`\\sum_t c_t e^{-2 s_t} L_t + s_t` with :math:`s_t = \\log\\sigma_t` (initialised at
    0), split into its two gradients: the network's is :math:`\\sum_t w_t g_t` with
    :math:`w_t = c_t e^{-2 s_t}` (returned), and :math:`\\partial/\\partial s_t = 1 - 2 c_t
    e^{-2 s_t} L_t` is applied to :math:`s` by ``optimizer`` inside the state. Use it when the
    per-task gradients are formed anyway; otherwise differentiate
    :func:`uncertainty_weighted_loss` jointly in ``(params, log_sigma)``.

    Args:
      num_tasks: ``T``.
      optimizer: optax transform for :math:`\\log\\sigma` (e.g. the network's optimizer).
      kinds: ``"regression"``, ``"classification"`` or one entry per task.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update(task_grads, state, params=None,
      *, losses)`` with state :class:`UncertaintyState`.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jtransfer import mtl
      >>> uw = mtl.uncertainty_weighting(2, optax.sgd(0.1))
      >>> state = uw.init(None)
      >>> g = {"w": jnp.array([[1.0], [1.0]])}
      >>> d, state = uw.update(g, state, losses=jnp.array([4.0, 1.0]))
      >>> d["w"].tolist()  # weights c_t = 1/2 at log sigma = 0
      [1.0]
      >>> [round(v, 4) for v in state.log_sigma.tolist()]  # s -= 0.1 (1 - L_t)
      [0.3, 0.0]

    References:
      Kendall, Gal & Cipolla, CVPR 2018, https://arxiv.org/abs/1705.07115
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    factors = _kind_factors(kinds, num_tasks, jnp.float32)

    def init(params):
        del params
        log_sigma = jnp.zeros((num_tasks,))
        return UncertaintyState(
            weights=factors * jnp.exp(-2.0 * log_sigma),
            log_sigma=log_sigma,
            opt_state=optimizer.init(log_sigma),
        )

    def update(task_grads, state, params=None, *, losses, **extra_args):
        del extra_args
        check_losses(losses, num_tasks=num_tasks)
        out = _combine(task_grads, state.weights, params)
        losses = jax.lax.stop_gradient(losses)
        g = jax.grad(lambda s: uncertainty_weighted_loss(losses, s, kinds=kinds))(state.log_sigma)
        upd, opt_state = optimizer.update(g, state.opt_state, state.log_sigma)
        log_sigma = optax.apply_updates(state.log_sigma, upd)
        weights = factors.astype(log_sigma.dtype) * jnp.exp(-2.0 * log_sigma)
        return out, UncertaintyState(weights=weights, log_sigma=log_sigma, opt_state=opt_state)

    return optax.GradientTransformationExtraArgs(init, update)


class DWAState(NamedTuple):
    weights: jax.Array  # (T,) weights to use now
    history: jax.Array  # (2, T) losses of the last two periods: [k-1, k-2]
    count: jax.Array  # () int32, number of periods seen


def dwa(num_tasks: int, *, temperature: float = 2.0) -> optax.GradientTransformationExtraArgs:
    """Dynamic weight average.

    .. math::
       w_t(k) = \\frac{T \\exp(r_t(k-1)/\\tau)}{\\sum_s \\exp(r_s(k-1)/\\tau)},\\qquad
       r_t(k-1) = \\frac{L_t(k-1)}{L_t(k-2)} ,

    with :math:`w_t = 1` for the first two periods. One call of ``update`` is one period: call
    it with that period's mean losses (the paper uses epoch averages; within an epoch,
    combine with ``state.weights`` yourself, e.g. ``mtl.combine`` or ``weighted_loss``, and
    call ``update(None, state, losses=epoch_mean)`` at its end).

    Args:
      num_tasks: ``T``.
      temperature: :math:`\\tau > 0` (paper: 2).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update(task_grads, state, params=None,
      *, losses)`` with state :class:`DWAState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import mtl
      >>> w = mtl.dwa(2, temperature=1.0)
      >>> state = w.init(None)
      >>> for losses in ([1.0, 1.0], [0.5, 1.0]):  # task 0 halves, task 1 stalls
      ...     _, state = w.update(None, state, losses=jnp.array(losses))
      >>> [round(v, 4) for v in state.weights.tolist()]  # 2 softmax(0.5, 1.0)
      [0.7551, 1.2449]

    References:
      Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019,
      https://arxiv.org/abs/1803.10704
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    check_positive(temperature, "temperature")

    def init(params):
        del params
        return DWAState(
            weights=jnp.ones((num_tasks,)),
            history=jnp.ones((2, num_tasks)),
            count=jnp.zeros((), jnp.int32),
        )

    def update(task_grads, state, params=None, *, losses, **extra_args):
        del extra_args
        check_losses(losses, num_tasks=num_tasks)
        out = _combine(task_grads, state.weights, params)
        history = jnp.stack([losses.astype(state.history.dtype), state.history[0]])
        count = state.count + 1
        ratio = history[0] / jnp.where(history[1] > 0, history[1], 1.0)
        w = num_tasks * jax.nn.softmax(ratio / temperature)
        w = jnp.where(count >= 2, w, jnp.ones_like(w))
        return out, DWAState(weights=w, history=history, count=count)

    return optax.GradientTransformationExtraArgs(init, update)


class GradNormState(NamedTuple):
    weights: jax.Array  # (T,) current task weights, sum T
    initial_losses: jax.Array  # (T,) L_t(0), recorded at the first update
    count: jax.Array  # () int32


def gradnorm(
    num_tasks: int, *, alpha: float = 1.5, learning_rate: float = 0.025
) -> optax.GradientTransformationExtraArgs:
    """GradNorm: adapt task weights so weighted gradient norms follow relative training rates.

    With :math:`G_t = w_t\\,\\|\\nabla_W L_t\\|` (``W``: the last shared layer),
    :math:`\\bar G = \\operatorname{mean}_t G_t`, :math:`\\tilde L_t = L_t / L_t(0)` and
    :math:`r_t = \\tilde L_t / \\operatorname{mean}_s \\tilde L_s`,

    .. math::
       L_{\\text{grad}}(w) = \\sum_t
       \\big| G_t - [\\bar G\\, r_t^{\\alpha}]_{\\text{const}} \\big| ,

    one gradient step on :math:`w` with ``learning_rate``, then :math:`w` is clipped positive
    and renormalised to :math:`\\sum_t w_t = T`.

    ``update(task_grads, state, params=None, *, losses, grad_norms)`` takes, besides the
    losses, the *unweighted* per-task gradient norms :math:`\\|\\nabla_W L_t\\|` w.r.t. the
    last shared layer as the extra argument ``grad_norms=``; the new weights are in the
    returned state.

    Args:
      num_tasks: ``T``.
      alpha: restoring-force strength :math:`\\alpha \\ge 0` (paper: 0.12–3, 1.5 common).
      learning_rate: step size for the weights.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state :class:`GradNormState`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import mtl
      >>> w = mtl.gradnorm(2, alpha=1.0, learning_rate=0.1)
      >>> _, state = w.update(None, w.init(None), losses=jnp.array([1.0, 1.0]),
      ...                     grad_norms=jnp.array([1.0, 3.0]))
      >>> [round(v, 4) for v in state.weights.tolist()]  # (1.1, 0.7), rescaled to sum 2
      [1.2222, 0.7778]

    References:
      Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for Adaptive
      Loss Balancing in Deep Multitask Networks", ICML 2018, https://arxiv.org/abs/1711.02257
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be non-negative, got {alpha!r}")
    check_positive(learning_rate, "learning_rate")

    def init(params):
        del params
        return GradNormState(
            weights=jnp.ones((num_tasks,)),
            initial_losses=jnp.ones((num_tasks,)),
            count=jnp.zeros((), jnp.int32),
        )

    def update(task_grads, state, params=None, *, losses, grad_norms, **extra_args):
        del extra_args
        check_losses(losses, num_tasks=num_tasks)
        check_losses(grad_norms, "grad_norms", num_tasks=num_tasks)
        out = _combine(task_grads, state.weights, params)
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
        return out, GradNormState(weights=w, initial_losses=l0, count=state.count + 1)

    return optax.GradientTransformationExtraArgs(init, update)
