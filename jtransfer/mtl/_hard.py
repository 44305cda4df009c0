"""Hard parameter sharing: one shared trunk, one head per task (pure functions).

The Flax NNX module form is :class:`jtransfer.models.HardSharingNet`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core.checks import is_tracer, num_tasks_of


def _static_task_index(task: Any, num_tasks: int) -> int | None:
    """Returns a Python int for a concrete task index (checking the range), None if traced."""
    if is_tracer(task):
        return None
    arr = np.asarray(task)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"task must be a scalar integer index, got {task!r} (shape {arr.shape})")
    idx = int(arr)
    if not 0 <= idx < num_tasks:
        raise ValueError(f"task index {idx} out of range for {num_tasks} tasks")
    return idx


def hard_sharing(
    trunk_apply: Callable,
    head_applies: Sequence[Callable] | Callable,
    *,
    num_tasks: int | None = None,
) -> Callable:
    """Hard parameter sharing: one shared trunk, one head per task.

    .. math:: f_t(x) = h_t(\\phi_t; g(\\theta; x)),\\qquad
              \\mathcal L = \\sum_t w_t L_t\\big(f_t\\big) .

    Two head layouts:

    * a sequence of ``head_apply(head_params, z)`` callables (heads may differ):
      ``params = {"trunk": ..., "heads": (p_1, ..., p_T)}``;
    * one callable shared by all heads with ``num_tasks=T``: ``params["heads"]`` is a single
      pytree whose leaves have a leading task axis ``T`` (stacked heads). This layout indexes
      the head parameters dynamically, so it is cheap for many tasks (School has 139) and
      ``vmap`` over a traced task index costs one head evaluation, not T.

    Args:
      trunk_apply: ``trunk_apply(trunk_params, x) -> z``.
      head_applies: sequence of ``head_apply(head_params, z) -> output``, or one such callable
        (with ``num_tasks``) for stacked heads.
      num_tasks: number of tasks for the stacked layout; must be None for a sequence.

    Returns:
      ``apply(params, x, task=None)``. ``task`` may be a Python/NumPy int (range-checked,
      ``ValueError`` if out of range), a traced int32 scalar (``jax.lax.switch`` for a
      sequence of heads, so their output shapes must agree; a dynamic index for stacked heads;
      either way an out-of-range traced index is clamped), or ``None`` for all heads' outputs
      on the same ``x`` (a tuple, or an array with a leading ``T`` axis for stacked heads).
      ``apply.num_tasks`` holds ``T``.

    References:
      Caruana, "Multitask Learning", Machine Learning 1997,
      https://doi.org/10.1023/A:1007379606734 ; Ruder, "An Overview of Multi-Task Learning in
      Deep Neural Networks", 2017, https://arxiv.org/abs/1706.05098
    """
    if not callable(trunk_apply):
        raise ValueError("trunk_apply must be callable")
    stacked = callable(head_applies)
    if stacked:
        if num_tasks is None or num_tasks < 1:
            raise ValueError(
                f"stacked heads (one head_apply callable) need num_tasks >= 1, got {num_tasks!r}"
            )
        head = head_applies
    else:
        heads = tuple(head_applies)
        if not heads:
            raise ValueError("head_applies must contain at least one head")
        if not all(callable(h) for h in heads):
            raise ValueError("every entry of head_applies must be callable")
        if num_tasks is not None and num_tasks != len(heads):
            raise ValueError(f"num_tasks={num_tasks} but {len(heads)} heads were given")
        num_tasks = len(heads)

    def check(params):
        if not isinstance(params, dict) or set(params) != {"trunk", "heads"}:
            raise ValueError(
                "params must be a dict with keys 'trunk' and 'heads', got "
                f"{type(params).__name__} with keys "
                f"{sorted(params) if isinstance(params, dict) else None}"
            )
        if stacked:
            num_tasks_of(params["heads"], "params['heads']")
            lead = {jnp.shape(l)[0] for l in jax.tree.leaves(params["heads"])}
            if lead != {num_tasks}:
                raise ValueError(
                    f"stacked params['heads'] must have leading axis {num_tasks}, "
                    f"got {sorted(lead)}"
                )
        elif len(params["heads"]) != num_tasks:
            raise ValueError(
                f"params['heads'] has {len(params['heads'])} entries for {num_tasks} heads"
            )

    def apply(params, x, task=None):
        check(params)
        head_params = params["heads"]
        z = trunk_apply(params["trunk"], x)
        if stacked:
            if task is None:
                return jax.vmap(head, in_axes=(0, None))(head_params, z)
            idx = _static_task_index(task, num_tasks)
            i = idx if idx is not None else jnp.clip(task, 0, num_tasks - 1)
            return head(jax.tree.map(lambda p: p[i], head_params), z)
        if task is None:
            return tuple(h(p, z) for h, p in zip(heads, head_params, strict=True))
        idx = _static_task_index(task, num_tasks)
        if idx is not None:
            return heads[idx](head_params[idx], z)
        branches = [lambda z, h=h, p=p: h(p, z) for h, p in zip(heads, head_params, strict=True)]
        return jax.lax.switch(task, branches, z)

    apply.num_tasks = num_tasks
    return apply


def task_losses(
    apply: Callable, loss_fn: Callable, params: Any, xs: Sequence, ys: Sequence
) -> jax.Array:
    """Per-task mean losses for ragged per-task data, :math:`L_t = \\ell(f_t(X_t), Y_t)`.

    Args:
      apply: ``apply(params, x, task)`` (e.g. from :func:`hard_sharing`).
      loss_fn: ``loss_fn(pred, y) -> scalar`` (a mean over the task's examples).
      params: parameters.
      xs, ys: sequences of length ``T`` of per-task inputs/targets (may differ in size).

    Returns:
      ``(T,)`` vector of losses.
    """
    if len(xs) != len(ys) or not xs:
        raise ValueError(
            f"xs and ys must be non-empty and of equal length, got {len(xs)} and {len(ys)}"
        )
    num = getattr(apply, "num_tasks", len(xs))
    if len(xs) != num:
        raise ValueError(f"got data for {len(xs)} tasks but apply has {num} heads")
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if jnp.shape(x)[0] == 0 or jnp.shape(y)[0] == 0:
            raise ValueError(
                f"task {t} has zero examples (x shape {jnp.shape(x)}, y shape {jnp.shape(y)})"
            )
        if jnp.shape(x)[0] != jnp.shape(y)[0]:
            raise ValueError(f"task {t}: x has {jnp.shape(x)[0]} rows but y has {jnp.shape(y)[0]}")
    return jnp.stack(
        [loss_fn(apply(params, x, t), y) for t, (x, y) in enumerate(zip(xs, ys, strict=True))]
    )
