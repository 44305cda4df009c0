"""Truncated backpropagation through time over unrolled optimisations."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jtransfer import parallel
from jtransfer._core.keys import default_key
from jtransfer.lopt._base import LearnedOptimizer
from jtransfer.lopt._estimator import MetaGradientEstimator, _check_mesh
from jtransfer.lopt._unroll import (
    TaskFamily,
    UnrollState,
    _check_theta,
    _check_truncation,
    _init_unrolls,
    _positive_int,
    _reset_finished,
    _run,
)


class TBPTTState(NamedTuple):
    """State of :func:`tbptt`: ``unroll`` is an :class:`UnrollState` with a task axis."""

    unroll: UnrollState


def tbptt(
    lopt: LearnedOptimizer,
    task_family: TaskFamily,
    *,
    num_steps: int,
    truncation_length: int,
    num_tasks: int = 8,
    second_order: bool = True,
    stagger: bool = False,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = "task",
) -> MetaGradientEstimator:
    r"""Truncated backpropagation through time over unrolled optimisations.

    ``num_tasks`` inner optimisations run side by side (``vmap``); each call advances them by
    :math:`K` = ``truncation_length`` steps and returns the exact gradient of the truncation's
    mean loss :math:`\frac1{TK}\sum_{\text{tasks}}\sum_{t=\tau+1}^{\tau+K} f(\theta_t)` treating
    the incoming inner state as a constant. This ignores how ``theta`` shaped the state
    before :math:`\tau` (the truncation bias). An unroll that reaches ``num_steps`` restarts on a
    new task from ``task_family(key)``.

    Args:
      lopt: the learned optimizer.
      task_family: ``task_family(key) -> Task`` (jittable; tasks are pytrees).
      num_steps: the inner horizon :math:`T` before a reset.
      truncation_length: :math:`K`, must divide ``num_steps``.
      num_tasks: inner optimisations in parallel.
      second_order: ``False`` drops the second derivatives through the inner gradients.
      stagger: start the unrolls at random truncation boundaries so their resets do not
        coincide (the first episode of each is then shorter).
      mesh: optional ``jax.sharding.Mesh``: the tasks (their inner states and keys) are split
        over its ``axis_name`` axis (task-parallel TBPTT under ``jax.jit``); the estimate is the
        same as without a mesh.
      axis_name: the mesh axis for the tasks.

    Returns:
      A :class:`MetaGradientEstimator`: ``init(theta, *, key=None)``,
      ``update(theta, state, *, key) -> (meta_loss, meta_grad, state)``.

    Example:
      >>> import functools, jax, optax
      >>> from jtransfer import lopt
      >>> lo = lopt.learned_hyperparams(horizon=4)
      >>> theta = lo.init(jax.random.key(0))
      >>> est = lopt.tbptt(lo, functools.partial(lopt.quadratic_task, dim=3), num_steps=4,
      ...                  truncation_length=2, num_tasks=2)
      >>> outer = optax.adam(1e-2)
      >>> state, outer_state = est.init(theta, key=jax.random.key(1)), outer.init(theta)
      >>> loss, g, state = jax.jit(est.update)(theta, state, key=jax.random.key(2))
      >>> updates, outer_state = outer.update(g, outer_state, theta)
      >>> theta = optax.apply_updates(theta, updates)
      >>> int(state.unroll.step[0])  # two of the four inner steps done
      2

    References:
      Andrychowicz et al., 2016, https://arxiv.org/abs/1606.04474 ;
      Wu et al., 2018 (truncation bias), https://arxiv.org/abs/1803.02021
    """
    num_steps, truncation_length = _check_truncation(num_steps, truncation_length, "tbptt")
    num_tasks = _positive_int(num_tasks, "num_tasks", "tbptt")
    _check_mesh(mesh, axis_name, num_tasks, "tbptt", what="num_tasks")

    def init(theta, *, key=None):
        _check_theta(lopt, theta)
        return TBPTTState(
            _init_unrolls(
                lopt,
                theta,
                task_family,
                default_key(key),
                num_tasks,
                num_steps,
                truncation_length,
                stagger,
            )
        )

    def update(theta, state, *, key):
        _check_theta(lopt, theta)
        kreset, krun = jax.random.split(key)
        unroll, _ = _reset_finished(lopt, theta, task_family, state.unroll, kreset, num_steps)
        unroll = jax.lax.stop_gradient(unroll)
        keys = jax.random.split(krun, num_tasks)
        unroll, keys = parallel.constrain((unroll, keys), mesh, axis_name)

        def loss_fn(th):
            opt = lopt.optimizer(th)
            new, losses = jax.vmap(lambda s, k: _run(opt, s, k, truncation_length, second_order))(
                unroll, keys
            )
            return jnp.mean(losses), new

        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(theta)
        return loss, g, TBPTTState(new)

    return MetaGradientEstimator(init, update)
