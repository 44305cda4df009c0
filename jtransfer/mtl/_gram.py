"""Gram-space building blocks of the gradient aggregators: per-task gradients, Gram matrix, sums.

Every aggregator takes *stacked per-task gradients*: a pytree shaped like the parameters with
one extra leading task axis ``T`` on every leaf (what :func:`per_task_grads`, i.e.
``jax.vmap(jax.grad(loss))`` over tasks, or ``jax.jacrev`` of the vector of task losses
returns). All of them only need the ``T × T`` Gram matrix :math:`G_{st} = g_s^\\top g_t` to
choose their coefficients, so each is written as

1. ``G = task_gram(task_grads)``  (one pass over the gradients, O(T² P) flops, O(T²) memory),
2. a small solver on ``G`` giving a coefficient vector :math:`\\beta \\in \\mathbb{R}^T`
   (``_coefficients.py``),
3. ``update = Σ_t β_t g_t``  (:func:`combine`; one more pass).

No ``T × P`` copy of the gradients is ever made besides the input itself, which is why these
run at T = 139 tasks without running out of memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jtransfer._core.checks import num_tasks_of

_HI = jax.lax.Precision.HIGHEST


def task_gram(task_grads: Any) -> jax.Array:
    """Gram matrix of stacked per-task gradients.

    .. math:: G_{st} = \\sum_{\\text{leaves}} \\langle g_s, g_t \\rangle .

    Args:
      task_grads: pytree whose leaves have shape ``(T, ...)``.

    Returns:
      ``(T, T)`` symmetric positive semi-definite matrix (float32 or the leaves' dtype).
    """
    t = num_tasks_of(task_grads)
    leaves = jax.tree.leaves(task_grads)
    dtype = jnp.result_type(*leaves)
    gram = jnp.zeros((t, t), dtype)
    for leaf in leaves:
        flat = jnp.reshape(leaf, (t, -1))
        gram = gram + jnp.einsum("sp,tp->st", flat, flat, precision=_HI)
    return gram


def combine(task_grads: Any, weights: jax.Array) -> Any:
    """Weighted sum of per-task gradients, :math:`\\sum_t w_t g_t`, leaf by leaf.

    Args:
      task_grads: pytree with leaves ``(T, ...)``.
      weights: ``(T,)``.

    Returns:
      A pytree with the leading task axis removed.
    """
    t = num_tasks_of(task_grads)
    if jnp.shape(weights) != (t,):
        raise ValueError(
            f"weights must have shape ({t},) to match task_grads, got {jnp.shape(weights)}"
        )
    return jax.tree.map(
        lambda g: jnp.tensordot(weights.astype(g.dtype), g, axes=1, precision=_HI), task_grads
    )


def per_task_grads(
    loss_fn: Callable, params: Any, task_batches: Any, *, has_aux: bool = False
) -> Any:
    """Stacked per-task gradients by ``jax.vmap(jax.grad(loss_fn))`` over a leading task axis.

    .. math:: g_t = \\nabla_\\theta\\, L(\\theta; B_t), \\quad t = 1..T .

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (or ``(scalar, aux)`` with ``has_aux``);
        the batch may carry the task index so that the function picks the task's head.
      params: parameter pytree (shared by all tasks).
      task_batches: pytree whose leaves have a leading task axis ``T``.
      has_aux: whether ``loss_fn`` returns ``(loss, aux)``.

    Returns:
      A pytree like ``params`` with a leading ``T`` axis (plus stacked aux with ``has_aux``).
    """
    num_tasks_of(task_batches, "task_batches")
    return jax.vmap(jax.grad(loss_fn, has_aux=has_aux), in_axes=(None, 0))(params, task_batches)
