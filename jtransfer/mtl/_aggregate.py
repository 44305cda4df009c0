"""Multi-task gradient aggregators as optax transforms: PCGrad, MGDA, CAGrad, IMTL-G, mean.

The protocol
------------
Every factory (``equal_aggregate``, ``pcgrad``, ``mgda``, ``cagrad``, ``imtl_g``) returns an
:class:`optax.GradientTransformationExtraArgs` whose

* ``init(params) -> state`` ignores ``params`` (it may be None);
* ``update(task_grads, state, params=None, **extra_args) -> (direction, state)`` takes
  **stacked per-task gradients**: ``task_grads`` is ``params`` with one extra leading task
  axis ``T`` on every leaf (``mtl.per_task_grads`` or ``jax.jacrev`` of the task-loss vector),
  and returns the combined update **without** the task axis, shaped like ``params``. When
  ``params`` is given, the tree structure and leaf shapes are checked against it. Extra
  arguments (e.g. ``losses=`` meant for a loss weighting) are accepted and ignored.

The combined update is a *descent direction on the scale of the mean task gradient* (equal
weighting = mean), so one learning rate fits all aggregators, and the aggregator goes first in
a chain that turns it into a step::

    opt = optax.chain(mtl.pcgrad(), optax.adam(1e-3))
    state = opt.init(params)
    task_grads = mtl.per_task_grads(loss_fn, params, task_batches)   # leaves (T, ...)
    updates, state = opt.update(task_grads, state, params)
    params = optax.apply_updates(params, updates)

Each transform computes the ``T × T`` Gram matrix once (``task_gram``), solves for
coefficients (``_coefficients.py``) and forms ``Σ_t β_t g_t`` (``combine``); the coefficients
are computed under ``stop_gradient``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer._core.checks import check_matches_params, num_tasks_of
from jtransfer._core.keys import default_key
from jtransfer.mtl._coefficients import (
    cagrad_weights,
    imtl_g_weights,
    min_norm_weights,
    pcgrad_coefficients,
)
from jtransfer.mtl._gram import combine, task_gram

_HI = jax.lax.Precision.HIGHEST


class PCGradState(NamedTuple):
    key: jax.Array  # new-style PRNG key (shape ()), split at every update for the task orders


def _prepare(task_grads: Any, params: Any) -> int:
    t = num_tasks_of(task_grads)
    check_matches_params(task_grads, params)
    return t


def _empty_init(params: Any) -> optax.EmptyState:
    del params
    return optax.EmptyState()


def _stateless(
    weights_fn: Callable[[jax.Array], jax.Array], *, minimum: int = 1
) -> optax.GradientTransformationExtraArgs:
    def update(task_grads, state, params=None, **extra_args):
        del extra_args
        num_tasks_of(task_grads, minimum=minimum)
        _prepare(task_grads, params)
        weights = jax.lax.stop_gradient(weights_fn(task_gram(task_grads)))
        return combine(task_grads, weights), state

    return optax.GradientTransformationExtraArgs(_empty_init, update)


def equal_aggregate() -> optax.GradientTransformationExtraArgs:
    """The baseline: the mean of the task gradients, :math:`\\frac1T\\sum_t g_t`.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` over stacked per-task gradients (no Gram
      matrix is formed).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jtransfer import mtl
      >>> opt = optax.chain(mtl.equal_aggregate(), optax.sgd(1.0))
      >>> params = {"w": jnp.zeros(2)}
      >>> task_grads = {"w": jnp.array([[1.0, 0.0], [0.0, 3.0]])}  # T = 2 tasks
      >>> updates, _ = opt.update(task_grads, opt.init(params), params)
      >>> updates["w"].tolist()
      [-0.5, -1.5]
    """

    def update(task_grads, state, params=None, **extra_args):
        del extra_args
        t = _prepare(task_grads, params)
        # a tensordot with 1/T (XLA:CPU reduces a leading axis much more slowly than it
        # contracts it)
        dtype = jnp.result_type(*jax.tree.leaves(task_grads))
        return combine(task_grads, jnp.full((t,), 1.0 / t, dtype)), state

    return optax.GradientTransformationExtraArgs(_empty_init, update)


def mgda(*, max_iters: int = 250, tol: float = 1e-7) -> optax.GradientTransformationExtraArgs:
    """MGDA: the min-norm element of the convex hull of the task gradients.

    .. math:: d = \\sum_t \\alpha^\\star_t g_t,\\quad
              \\alpha^\\star = \\arg\\min_{\\alpha\\in\\Delta} \\alpha^\\top G \\alpha .

    :math:`-d` is a common descent direction for all tasks (or zero at a Pareto-stationary
    point); :math:`\\alpha^\\star` is found by :func:`min_norm_weights` (Frank–Wolfe, then an
    exact active-set polish). Aggregating w.r.t. the shared *parameters* (this transform)
    needs all T per-task gradients of the trunk. The **MGDA-UB** variant
    (:func:`mgda_ub_weights`) instead takes the gradients of the task losses w.r.t. the shared
    *representation* :math:`z = f(\\theta; x)`; since :math:`\\nabla_\\theta L_t = J^\\top
    \\nabla_z L_t` with :math:`J = \\partial z / \\partial\\theta`,
    :math:`\\|\\sum_t\\alpha_t\\nabla_\\theta L_t\\| \\le \\|J\\|\\,\\|\\sum_t\\alpha_t
    \\nabla_z L_t\\|`, so MGDA-UB minimises an upper bound: one backward pass through the trunk
    instead of T, a Gram matrix over ``batch × features`` entries instead of trunk parameters,
    and the result is Pareto-stationary only when :math:`J` has full rank (Sener & Koltun
    2018, Thm. 1). Its weights generally differ from MGDA's.

    Args:
      max_iters: Frank–Wolfe iterations.
      tol: stopping tolerance.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` over stacked per-task gradients.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jtransfer import mtl
      >>> opt = optax.chain(mtl.mgda(), optax.sgd(1.0))
      >>> params = {"w": jnp.zeros(2)}
      >>> task_grads = {"w": jnp.array([[1.0, 0.0], [0.0, 1.0]])}
      >>> updates, _ = opt.update(task_grads, opt.init(params), params)
      >>> [round(u, 4) for u in updates["w"].tolist()]
      [-0.5, -0.5]

    References:
      Sener & Koltun, NeurIPS 2018, https://arxiv.org/abs/1810.04650
    """
    return _stateless(lambda g: min_norm_weights(g, max_iters=max_iters, tol=tol))


def cagrad(
    c: float = 0.4, *, num_steps: int = 200, rescale: bool = True
) -> optax.GradientTransformationExtraArgs:
    """CAGrad aggregator (see :func:`cagrad_weights`); ``c = 0`` is the mean gradient.

    .. math:: d = g_0 + \\frac{c\\,\\|g_0\\|}{\\|g_{w^\\star}\\|}\\, g_{w^\\star}
              \\quad (\\text{divided by } 1 + c^2 \\text{ when } \\texttt{rescale}).

    Args:
      c: conflict-aversion radius (paper default 0.4 for NYUv2, 0.5 for Multi-Fashion).
      num_steps: solver steps for the dual.
      rescale: divide by :math:`1 + c^2` (the authors' default).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` over stacked per-task gradients.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import mtl
      >>> agg = mtl.cagrad(c=0.0)  # the mean gradient
      >>> d, _ = agg.update({"w": jnp.array([[2.0], [4.0]])}, agg.init(None))
      >>> d["w"].tolist()
      [3.0]

    References:
      Liu et al., NeurIPS 2021, https://arxiv.org/abs/2110.14048
    """
    if not c >= 0:
        raise ValueError(f"c must be non-negative, got {c!r}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return _stateless(lambda g: cagrad_weights(g, c, num_steps=num_steps, rescale=rescale))


def imtl_g() -> optax.GradientTransformationExtraArgs:
    """IMTL-G aggregator (see :func:`imtl_g_weights`); the weights sum to one.

    .. math:: d = \\sum_t \\alpha_t g_t \\quad\\text{with}\\quad
              d^\\top u_1 = \\dots = d^\\top u_T,\\ u_t = g_t/\\|g_t\\|,\\ \\textstyle\\sum_t
              \\alpha_t = 1 .

    Returns:
      An ``optax.GradientTransformationExtraArgs`` over stacked per-task gradients (at least
      two tasks).

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import mtl
      >>> agg = mtl.imtl_g()
      >>> d, _ = agg.update({"w": jnp.array([[2.0, 0.0], [0.0, 1.0]])}, agg.init(None))
      >>> [round(v, 4) for v in d["w"].tolist()]  # equal projections on both unit directions
      [0.6667, 0.6667]

    References:
      Liu et al., ICLR 2021, https://openreview.net/forum?id=IMPnRXEWpvr
    """
    return _stateless(imtl_g_weights, minimum=2)


def pcgrad(
    *, key: jax.Array | None = None, reduction: str = "mean"
) -> optax.GradientTransformationExtraArgs:
    """PCGrad aggregator: project away pairwise conflicts, then combine.

    .. math:: d = \\frac{1}{T} \\sum_i g_i' \\quad (\\text{or } \\sum_i g_i' \\text{ with
              ``reduction="sum"``, as in the paper}),

    where :math:`g_i'` are the projected gradients of :func:`pcgrad_coefficients`. The state
    carries a PRNG key split at every step (same key, same orders).

    Args:
      key: PRNG key for the random task orders; None is ``jax.random.key(0)``.
      reduction: ``"mean"`` (default, same scale as the other aggregators) or ``"sum"``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` over stacked per-task gradients, with state
      :class:`PCGradState`.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jtransfer import mtl
      >>> opt = optax.chain(mtl.pcgrad(), optax.sgd(1.0))
      >>> params = {"w": jnp.zeros(2)}
      >>> task_grads = {"w": jnp.array([[1.0, 1.0], [-1.0, 0.0]])}  # conflicting
      >>> updates, _ = opt.update(task_grads, opt.init(params), params)
      >>> updates["w"].tolist()  # mean of (0, 1) and (-0.5, 0.5), negated by sgd
      [0.25, -0.75]

    References:
      Yu et al., NeurIPS 2020, https://arxiv.org/abs/2001.06782
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def init(params):
        del params
        return PCGradState(key=default_key(key))

    def update(task_grads, state, params=None, **extra_args):
        del extra_args
        t = _prepare(task_grads, params)
        state_key, sub = jax.random.split(state.key)
        coefs = pcgrad_coefficients(task_gram(task_grads), key=sub)
        weights = jnp.sum(coefs, axis=0)
        if reduction == "mean":
            weights = weights / t
        return combine(task_grads, jax.lax.stop_gradient(weights)), PCGradState(key=state_key)

    return optax.GradientTransformationExtraArgs(init, update)


def pcgrad_project(task_grads: Any, *, key: jax.Array | None = None) -> Any:
    """The projected per-task gradients :math:`g_i'` of PCGrad, stacked like the input.

    .. math:: g_i' = \\sum_k C_{ik}\\, g_k ,\\qquad C = \\texttt{pcgrad\\_coefficients}(G) .

    Args:
      task_grads: pytree with leaves ``(T, ...)``.
      key: PRNG key (as in :func:`pcgrad_coefficients`); None is ``jax.random.key(0)``.

    Returns:
      Pytree with leaves ``(T, ...)``: row ``i`` is task ``i``'s projected gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import mtl
      >>> g = {"w": jnp.array([[1.0, 1.0], [-1.0, 0.0]])}
      >>> mtl.pcgrad_project(g)["w"].tolist()
      [[0.0, 1.0], [-0.5, 0.5]]

    References:
      Yu et al., NeurIPS 2020, https://arxiv.org/abs/2001.06782
    """
    t = num_tasks_of(task_grads)
    coefs = pcgrad_coefficients(task_gram(task_grads), key=key)
    return jax.tree.map(
        lambda g: jnp.tensordot(coefs.astype(g.dtype), g, axes=1, precision=_HI).reshape(
            (t,) + g.shape[1:]
        ),
        task_grads,
    )
