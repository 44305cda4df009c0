"""MAML and first-order MAML: an inner loop as ``lax.scan``, ``vmap`` over tasks.

Shared conventions of :mod:`jtransfer.meta`:

* ``loss_fn(params, batch) -> scalar`` is the user's task loss; ``batch`` is any pytree of
  arrays (for example ``(x, y)``), ``params`` any pytree of float arrays.
* A task is a pair ``(support, query)`` of such batches; a *batch of tasks* is the same pair
  whose leaves carry a leading task axis ``T``.
* Batch norm: when the model's ``apply_fn`` normalises with the statistics of the batch it is
  given (``jtransfer.models.functional(module, train=True)``), every inner step and the query
  loss use the per-task support / query statistics. This is the transductive setting of the
  original MAML code; running statistics are never updated inside the inner loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core.checks import check_tasks as _check_tasks
from jtransfer._core.types import PyTree

LossFn = Callable[[PyTree, PyTree], jax.Array]
Mask = PyTree | Callable[[Any, jax.Array], bool] | None
InnerLR = float | jax.Array | PyTree  # scalar, per-step (num_steps,), or a params-shaped tree


# ----------------------------------------------------------------------------- validation


def _check_num_steps(num_steps: int) -> int:
    return _checks.check_positive_int(num_steps, "num_steps")


def _resolve_mask(mask: Mask, params: PyTree) -> list[bool]:
    """Returns one static bool per leaf of ``params`` (True = adapted in the inner loop)."""
    leaves, treedef = jax.tree.flatten(params)
    if mask is None:
        return [True] * len(leaves)
    if callable(mask):
        flags = [
            bool(mask(path, leaf)) for path, leaf in jax.tree_util.tree_leaves_with_path(params)
        ]
    else:
        m_leaves, m_def = jax.tree.flatten(mask)
        if m_def != treedef:
            raise ValueError(f"mask structure {m_def} does not match params structure {treedef}")
        flags = []
        for m in m_leaves:
            if not _checks.is_concrete(m) or np.ndim(m) != 0:
                raise ValueError(
                    f"mask leaves must be static Python bools (one per parameter array), got {m!r}"
                )
            flags.append(bool(m))
    if not any(flags):
        raise ValueError("mask selects no parameters to adapt")
    return flags


def _check_float_params(params: PyTree) -> None:
    """Parameters are differentiated: every leaf must be a floating array."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has dtype {dtype}; parameters "
                "must be float arrays (cast with .astype(jnp.float32))"
            )


def _resolve_lr(inner_lr, params: PyTree, num_steps: int):
    """Splits ``inner_lr`` into a per-step factor ``(num_steps,)`` and per-leaf rates.

    Returns:
      ``(step_lrs, leaf_lrs)``: ``step_lrs`` an array of shape ``(num_steps,)``; ``leaf_lrs``
      ``None`` or a list (one entry per leaf of ``params``) of arrays broadcastable to it.
    """
    p_leaves, p_def = jax.tree.flatten(params)
    _check_float_params(params)
    if isinstance(inner_lr, (int, float, np.ndarray, np.generic, jax.Array)) and not isinstance(
        inner_lr, bool
    ):
        lr = jnp.asarray(inner_lr)
        _checks.check_finite(inner_lr, "inner_lr")
        if lr.ndim == 0 or (lr.ndim == 1 and lr.shape[0] == num_steps):
            _checks.check_positive(inner_lr, "inner_lr")
            return jnp.broadcast_to(lr, (num_steps,)), None
        if len(p_leaves) == 1 and np.shape(p_leaves[0]) == lr.shape:
            return jnp.ones((num_steps,), lr.dtype), [lr]
        raise ValueError(
            f"inner_lr of shape {lr.shape} is neither a scalar nor per-step of shape "
            f"({num_steps},) (num_steps={num_steps}); for per-parameter rates pass a pytree "
            "matching params"
        )
    lr_leaves, lr_def = jax.tree.flatten(inner_lr)
    if lr_def != p_def:
        raise ValueError(
            f"inner_lr pytree structure {lr_def} does not match params structure {p_def}"
        )
    for i, (lr, p) in enumerate(zip(lr_leaves, p_leaves, strict=True)):
        if np.ndim(lr) != 0 and np.shape(lr) != np.shape(p):
            raise ValueError(
                f"inner_lr leaf {i} has shape {np.shape(lr)}; it must be a scalar or match the "
                f"parameter shape {np.shape(p)}"
            )
    return jnp.ones((num_steps,), jnp.result_type(*lr_leaves)), list(lr_leaves)


# ----------------------------------------------------------------------------- inner loop


def adapt(
    loss_fn: LossFn,
    params: PyTree,
    support: PyTree,
    *,
    inner_lr: InnerLR,
    num_steps: int,
    first_order: bool = False,
    remat: bool = False,
    mask: Mask = None,
) -> PyTree:
    r"""Adapts ``params`` to one task by ``num_steps`` of gradient descent on its support set.

    .. math::
        \phi_0 = \theta, \qquad
        \phi_{k+1} = \phi_k - \alpha_k \odot \nabla_\phi \mathcal{L}(\phi_k; \mathcal{D}^{s})

    The loop is a ``jax.lax.scan``, so the program size does not grow with ``num_steps``.
    Differentiating the result w.r.t. ``params`` gives the full (second-order) MAML Jacobian
    :math:`\prod_k (I - \alpha_k \nabla^2 \mathcal{L}(\phi_k))`. With ``first_order=True`` the
    inner gradients are wrapped in ``stop_gradient`` (FOMAML) and the Jacobian is the identity.
    With ``remat=True`` each inner step is a ``jax.checkpoint``: reverse mode stores only the
    ``num_steps`` carried parameter vectors and recomputes each step's activations, so peak
    memory no longer grows with the activations of every step.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: initial parameters :math:`\theta` (pytree of float arrays).
      support: the task's support batch (pytree of arrays, no task axis).
      inner_lr: step size :math:`\alpha`. A scalar; a 1-D array of shape ``(num_steps,)``
        (one rate per step, MAML++ style); or a pytree matching ``params`` whose leaves are
        scalars or full-shape arrays (per-parameter rates, Meta-SGD). Scalar and per-step rates
        must be positive when concrete.
      num_steps: number of inner steps, a Python int >= 1.
      first_order: stop gradients through the inner gradients (first-order MAML).
      remat: rematerialise each inner step (``jax.checkpoint``) in the backward pass.
      mask: which parameter arrays to adapt (ANIL): ``None`` (all), a pytree of Python bools
        matching ``params``, or a function ``(path, leaf) -> bool``. Non-adapted arrays are
        returned unchanged and the inner gradient is taken only w.r.t. the adapted ones.

    Returns:
      The adapted parameters :math:`\phi_K`, same structure and dtypes as ``params``.

    Raises:
      ValueError: on ``num_steps < 1``, an ``inner_lr`` that does not match ``params``, a
        non-positive scalar rate, or a mask that selects nothing.

    References:
      Finn, Abbeel, Levine 2017, https://arxiv.org/abs/1703.03400 ;
      Li et al. 2017 (Meta-SGD), https://arxiv.org/abs/1707.09835 ;
      Antoniou et al. 2019 (MAML++, per-step rates), https://arxiv.org/abs/1810.09502 .
    """
    num_steps = _check_num_steps(num_steps)
    step_lrs, leaf_lrs = _resolve_lr(inner_lr, params, num_steps)
    flags = _resolve_mask(mask, params)
    leaves, treedef = jax.tree.flatten(params)
    idx = [i for i, f in enumerate(flags) if f]
    if leaf_lrs is None:
        leaf_lrs = [None] * len(leaves)
    rates = [leaf_lrs[i] for i in idx]

    def merge(adapted):
        full = list(leaves)
        for i, a in zip(idx, adapted, strict=True):
            full[i] = a
        return jax.tree.unflatten(treedef, full)

    def inner_loss(adapted):
        return loss_fn(merge(adapted), support)

    def step(adapted, lr_t):
        grads = jax.grad(inner_loss)(adapted)
        if first_order:
            grads = jax.lax.stop_gradient(grads)
        new = []
        for p, g, r in zip(adapted, grads, rates, strict=True):
            d = lr_t * g if r is None else lr_t * r * g
            new.append(p - d.astype(p.dtype))
        return new, None

    if remat:
        step = jax.checkpoint(step, prevent_cse=False)
    adapted, _ = jax.lax.scan(step, [leaves[i] for i in idx], step_lrs)
    return merge(adapted)


def maml_loss(
    loss_fn: LossFn,
    params: PyTree,
    tasks: PyTree,
    *,
    inner_lr: InnerLR,
    num_steps: int,
    first_order: bool = False,
    remat: bool = False,
    mask: Mask = None,
    task_batch_size: int | None = None,
) -> jax.Array:
    r"""Mean query loss after adaptation over a batch of tasks; its gradient is MAML's.

    .. math::
        \mathcal{L}_{\text{meta}}(\theta) = \frac{1}{T} \sum_{i=1}^{T}
            \mathcal{L}\big(\text{adapt}(\theta, \mathcal{D}^{s}_i); \mathcal{D}^{q}_i\big),
        \qquad
        \nabla_\theta \mathcal{L}_{\text{meta}} = \frac{1}{T} \sum_i
            \Big[\prod_{k=K-1}^{0} (I - \alpha \nabla^2 \mathcal{L}(\phi_{i,k};\mathcal{D}^s_i))
            \Big] \nabla \mathcal{L}(\phi_{i,K}; \mathcal{D}^q_i)

    The tasks are processed with ``jax.vmap`` (no Python loop), so one ``jax.jit`` compiles a
    single program for the whole meta-batch.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, used for support and query.
      params: meta-parameters :math:`\theta`.
      tasks: ``(support, query)``; every leaf has a leading task axis of the same length ``T``.
      inner_lr, num_steps, first_order, remat, mask: as in :func:`adapt`.
      task_batch_size: ``None`` (default) vmaps all ``T`` tasks at once; an int ``b`` runs
        ``jax.lax.map(..., batch_size=b)``: ``b`` tasks vmapped at a time, sequentially, in
        the same compiled program. Use ``1`` for convolutional models on CPU, where vmapping
        per-task conv weights becomes a grouped convolution that XLA:CPU runs slowly; it also
        bounds memory by ``b`` tasks.

    Returns:
      Scalar mean query loss over the ``T`` tasks.

    Raises:
      ValueError: on malformed ``tasks`` (not a ``(support, query)`` pair whose leaves share one
        leading task axis) or bad inner-loop arguments.

    References:
      Finn, Abbeel, Levine 2017, https://arxiv.org/abs/1703.03400 .
    """
    return jnp.mean(
        query_losses(
            loss_fn,
            params,
            tasks,
            inner_lr=inner_lr,
            num_steps=num_steps,
            first_order=first_order,
            remat=remat,
            mask=mask,
            task_batch_size=task_batch_size,
        )
    )


def query_losses(
    loss_fn: LossFn,
    params: PyTree,
    tasks: PyTree,
    *,
    inner_lr: InnerLR,
    num_steps: int,
    first_order: bool = False,
    remat: bool = False,
    mask: Mask = None,
    task_batch_size: int | None = None,
) -> jax.Array:
    r"""Per-task query losses after adaptation, shape ``(T,)``; :func:`maml_loss` is their mean.

    .. math::
        \ell_i(\theta) = \mathcal{L}\big(\text{adapt}(\theta, \mathcal{D}^{s}_i);
        \mathcal{D}^{q}_i\big), \qquad i = 1, \dots, T

    (Not :func:`jtransfer.mtl.task_losses`, which evaluates one shared model on several tasks
    without adaptation.)

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, used for support and query.
      params: meta-parameters :math:`\theta`.
      tasks: ``(support, query)``; every leaf has a leading task axis of the same length ``T``.
      inner_lr, num_steps, first_order, remat, mask, task_batch_size: as in :func:`maml_loss`.

    Returns:
      ``(T,)`` query losses after each task's inner loop.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import meta
      >>> loss = lambda p, b: jnp.mean((b * p - 1.0) ** 2)
      >>> tasks = (jnp.ones((2, 3)), jnp.ones((2, 3)))
      >>> meta.query_losses(loss, jnp.array(0.0), tasks, inner_lr=0.25, num_steps=1).tolist()
      [0.25, 0.25]

    References:
      Finn, Abbeel, Levine 2017, https://arxiv.org/abs/1703.03400 .
    """
    _check_tasks(tasks)
    if task_batch_size is not None and (
        isinstance(task_batch_size, bool)
        or not isinstance(task_batch_size, int)
        or task_batch_size < 1
    ):
        raise ValueError(f"task_batch_size must be None or an int >= 1, got {task_batch_size!r}")
    num_steps = _check_num_steps(num_steps)
    # Validate inner_lr / mask once outside vmap so errors name the user's shapes.
    _resolve_lr(inner_lr, params, num_steps)
    _resolve_mask(mask, params)
    support, query = tasks

    def one(s, q):
        phi = adapt(
            loss_fn,
            params,
            s,
            inner_lr=inner_lr,
            num_steps=num_steps,
            first_order=first_order,
            remat=remat,
            mask=mask,
        )
        return loss_fn(phi, q)

    if task_batch_size is None:
        return jax.vmap(one)(support, query)
    return jax.lax.map(lambda sq: one(*sq), (support, query), batch_size=task_batch_size)


def anil(
    loss_fn: LossFn,
    params: PyTree,
    tasks: PyTree,
    *,
    inner_mask: Mask,
    inner_lr: InnerLR,
    num_steps: int,
    first_order: bool = False,
    remat: bool = False,
) -> jax.Array:
    r"""ANIL ("almost no inner loop"): MAML that adapts only the selected parameters (the head).

    .. math::
        \phi = (\theta_{\text{body}},\ \text{adapt}(\theta_{\text{head}})), \qquad
        \mathcal{L}_{\text{meta}}(\theta) = \tfrac{1}{T}\textstyle\sum_i
        \mathcal{L}(\phi_i; \mathcal{D}^q_i)

    The body still receives meta-gradients through the query loss (and, second order, through
    the head's inner updates), but is not changed in the inner loop.

    Args:
      loss_fn, params, tasks, inner_lr, num_steps, first_order, remat: as in :func:`maml_loss`.
      inner_mask: the parameters to adapt: a pytree of Python bools matching ``params``, or a
        label function ``(path, leaf) -> bool`` (e.g. ``lambda path, _: "head" in str(path)``).

    Returns:
      Scalar mean query loss.

    References:
      Raghu et al. 2020, https://arxiv.org/abs/1909.09157 .
    """
    return maml_loss(
        loss_fn,
        params,
        tasks,
        inner_lr=inner_lr,
        num_steps=num_steps,
        first_order=first_order,
        remat=remat,
        mask=inner_mask,
    )


def metasgd(
    loss_fn: LossFn,
    params: PyTree,
    inner_lrs: PyTree,
    tasks: PyTree,
    *,
    num_steps: int = 1,
    first_order: bool = False,
    remat: bool = False,
) -> jax.Array:
    r"""Meta-SGD: MAML with learned per-parameter inner learning rates.

    .. math::
        \phi_i = \theta - \boldsymbol{\alpha} \odot \nabla \mathcal{L}(\theta; \mathcal{D}^s_i),
        \qquad \min_{\theta, \boldsymbol{\alpha}}
        \tfrac{1}{T}\textstyle\sum_i \mathcal{L}(\phi_i; \mathcal{D}^q_i)

    Differentiate w.r.t. both ``params`` and ``inner_lrs``
    (``jax.grad(metasgd, argnums=(1, 2))``) and update both with the outer optimiser. The
    rates are unconstrained (they may become negative, as in the paper).

    Args:
      loss_fn, params, tasks, num_steps, first_order, remat: as in :func:`maml_loss`.
      inner_lrs: pytree matching ``params`` (scalar or full-shape leaves); see
        :func:`metasgd_init`.

    Returns:
      Scalar mean query loss.

    References:
      Li, Zhou, Chen, Li 2017, https://arxiv.org/abs/1707.09835 .
    """
    return maml_loss(
        loss_fn,
        params,
        tasks,
        inner_lr=inner_lrs,
        num_steps=num_steps,
        first_order=first_order,
        remat=remat,
    )


def metasgd_init(params: PyTree, inner_lr: float) -> PyTree:
    """Per-parameter Meta-SGD rates, every entry equal to ``inner_lr`` (dtype of each leaf)."""
    if not inner_lr > 0:
        raise ValueError(f"inner_lr must be > 0, got {inner_lr}")
    return jax.tree.map(lambda p: jnp.full(jnp.shape(p), inner_lr, jnp.result_type(p)), params)
