"""The unrolled inner optimisation and its meta-objective, shared by the estimators.

``inner_step`` / ``unroll_losses`` run any optax transform on a :class:`Task`; ``meta_loss`` is
the mean loss along an unroll by a learned optimizer. The private helpers keep a batch of
unrolls in flight (fresh starts, staggered starts, resets when an unroll reaches its horizon)
for the truncated estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.lopt._base import LearnedOptimizer, Theta, check_hyperparameters, check_theta
from jtransfer.lopt._tasks import Task, sample_batch

TaskFamily = Callable[[jax.Array], Task]


class UnrollState(NamedTuple):
    """One inner optimisation in progress (fields get a leading axis when batched).

    Attributes:
      task: the task (a pytree).
      params: the inner parameters.
      opt_state: the learned optimizer's state.
      step: int32, inner steps taken since the task started.
    """

    task: Any
    params: Any
    opt_state: Any
    step: jax.Array


def _positive_int(value: Any, name: str, fn: str) -> int:
    check_hyperparameters(fn, integers={name: value})
    return int(value)


def _check_theta(lopt: LearnedOptimizer, theta: Theta) -> None:
    check_theta(theta, jax.eval_shape(lopt.init, jax.random.key(0)), lopt.name)


def inner_step(
    opt: optax.GradientTransformation,
    task: Task,
    params: Any,
    opt_state: Any,
    key: jax.Array,
    *,
    second_order: bool = True,
) -> tuple[Any, Any, jax.Array]:
    """One step of ``opt`` on ``task``; returns ``(params, opt_state, loss_after)``.

    The gradient is taken on a batch drawn with ``key``; the recorded loss
    :math:`f(\\theta_{t+1})` is evaluated at the new parameters on a fresh batch. With
    ``second_order=False`` the gradient fed to the optimizer is taken at
    ``stop_gradient(params)``, so it is a constant for differentiation (Andrychowicz et al.
    drop these second derivatives).
    """
    kb, kl, kb2, kl2 = jax.random.split(key, 4)
    # First order: differentiate at stop_gradient(params), so no tangent ever enters the inner
    # gradient computation (cheaper to trace, linearise and transpose than stopping its output).
    at = params if second_order else jax.lax.stop_gradient(params)
    grads = jax.grad(task.loss)(at, kl, sample_batch(task, kb))
    updates, opt_state = opt.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, task.loss(params, kl2, sample_batch(task, kb2))


def _run(opt, state: UnrollState, key: jax.Array, length: int, second_order: bool = True):
    """``length`` inner steps from ``state``; returns ``(state, losses (length,))``."""

    def body(carry, k):
        params, opt_state = carry
        params, opt_state, loss = inner_step(
            opt, state.task, params, opt_state, k, second_order=second_order
        )
        return (params, opt_state), loss

    # Step keys depend on the absolute step: with one key, truncations replay a full unroll.
    keys = jax.vmap(lambda i: jax.random.fold_in(key, state.step + i))(jnp.arange(length))
    (params, opt_state), losses = jax.lax.scan(body, (state.params, state.opt_state), keys)
    return state._replace(params=params, opt_state=opt_state, step=state.step + length), losses


def unroll_losses(
    opt: optax.GradientTransformation,
    task: Task,
    key: jax.Array,
    *,
    num_steps: int,
    second_order: bool = True,
) -> jax.Array:
    r"""Losses :math:`f(\theta_1), \dots, f(\theta_T)` of ``opt`` run ``num_steps`` on ``task``.

    Works with any optax transform (learned or hand-designed); :math:`\theta_0` is
    ``task.init`` of a key split from ``key``.

    Returns:
      Array ``(num_steps,)``.
    """
    num_steps = _positive_int(num_steps, "num_steps", "unroll_losses")
    kinit, krun = jax.random.split(key)
    params = task.init(kinit)
    state = UnrollState(task, params, opt.init(params), jnp.zeros([], jnp.int32))
    return _run(opt, state, krun, num_steps, second_order)[1]


def meta_loss(
    lopt: LearnedOptimizer,
    theta: Theta,
    task: Task,
    key: jax.Array,
    *,
    num_steps: int,
    second_order: bool = True,
) -> jax.Array:
    r"""The unrolled meta-objective: the mean loss along an optimisation by the learned optimizer.

    .. math::
        \mathcal{L}(\phi) = \frac1T \sum_{t=1}^{T} f(\theta_t), \qquad
        \theta_{t+1} = \theta_t + g_\phi(\nabla f(\theta_t), h_t),

    Andrychowicz et al. (2016), eq. (3) with :math:`w_t = 1/T`. Differentiable in ``theta``;
    ``vmap`` it over tasks (tasks are pytrees).

    Args:
      lopt: the learned optimizer.
      theta: its meta-parameters.
      task: a :class:`Task`.
      key: randomness for the initial parameters and the batches.
      num_steps: :math:`T` (positive).
      second_order: keep the derivative of the inner gradients with respect to ``theta``
        (``False`` applies ``stop_gradient`` to them, as the paper did).

    Returns:
      Scalar meta-loss.

    References:
      Andrychowicz et al., 2016, https://arxiv.org/abs/1606.04474
    """
    _positive_int(num_steps, "num_steps", "meta_loss")
    _check_theta(lopt, theta)
    return jnp.mean(
        unroll_losses(
            lopt.optimizer(theta), task, key, num_steps=num_steps, second_order=second_order
        )
    )


def _fresh_unroll(
    lopt: LearnedOptimizer, theta: Theta, task_family: TaskFamily, key: jax.Array, step: jax.Array
) -> UnrollState:
    ktask, kinit = jax.random.split(key)
    task = task_family(ktask)
    params = task.init(kinit)
    opt_state = lopt.optimizer(jax.lax.stop_gradient(theta)).init(params)
    return UnrollState(task, params, opt_state, jnp.asarray(step, jnp.int32))


def _init_unrolls(lopt, theta, task_family, key, n, num_steps, truncation_length, stagger):
    """``n`` fresh unrolls; with ``stagger`` their step counters start at random truncation
    boundaries (so the first episode of each is shorter and resets do not coincide)."""
    kf, ks = jax.random.split(key)
    if stagger:
        steps = truncation_length * jax.random.randint(ks, (n,), 0, num_steps // truncation_length)
    else:
        steps = jnp.zeros((n,), jnp.int32)
    return jax.vmap(lambda k, s: _fresh_unroll(lopt, theta, task_family, k, s))(
        jax.random.split(kf, n), steps
    )


def _select(mask: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Per-row tree select: ``mask`` (leading axes of the leaves) picks ``on_true``."""

    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (jnp.ndim(a) - mask.ndim)), a, b)

    return jax.tree.map(pick, on_true, on_false)


def _reset_finished(lopt, theta, task_family, state: UnrollState, key, num_steps):
    """Replaces unrolls that reached ``num_steps`` by fresh ones; returns ``(state, mask)``."""
    n = state.step.shape[0]
    fresh = jax.vmap(lambda k: _fresh_unroll(lopt, theta, task_family, k, 0))(
        jax.random.split(key, n)
    )
    done = state.step >= num_steps
    return _select(done, fresh, state), done


def _check_truncation(num_steps, truncation_length, fn):
    num_steps = _positive_int(num_steps, "num_steps", fn)
    truncation_length = _positive_int(truncation_length, "truncation_length", fn)
    if num_steps % truncation_length:
        raise ValueError(
            f"{fn}: truncation_length {truncation_length} must divide num_steps {num_steps}"
        )
    return num_steps, truncation_length
