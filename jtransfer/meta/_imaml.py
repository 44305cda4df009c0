"""Implicit MAML: meta-gradients through a proximal inner problem by conjugate gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer.meta._maml import LossFn, PyTree, _check_num_steps, _check_tasks


def _float0_zeros(tree: PyTree) -> PyTree:
    def z(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return jnp.zeros_like(x)
        return np.zeros(x.shape, dtype=jax.dtypes.float0)

    return jax.tree.map(z, tree)


def imaml_adapt(
    loss_fn: LossFn,
    params: PyTree,
    support: PyTree,
    *,
    lam: float,
    inner_lr: float,
    num_steps: int,
    cg_maxiter: int = 20,
    cg_tol: float = 1e-6,
) -> PyTree:
    r"""Solves iMAML's proximal inner problem; its VJP is the implicit meta-gradient.

    Forward (``num_steps`` of gradient descent from :math:`\theta`):

    .. math::
        \phi^\star(\theta) = \arg\min_\phi\ \mathcal{L}(\phi; \mathcal{D}^s)
            + \tfrac{\lambda}{2}\lVert \phi - \theta \rVert^2 .

    Backward: at the optimum, :math:`\nabla\mathcal{L}(\phi^\star) + \lambda(\phi^\star-\theta)=0`,
    so by the implicit function theorem
    :math:`d\phi^\star/d\theta = (I + H/\lambda)^{-1}` with
    :math:`H=\nabla^2\mathcal{L}(\phi^\star)`
    (symmetric). The VJP of a cotangent :math:`g` is therefore the solution :math:`v` of
    :math:`(I + H/\lambda)\,v = g`, found by ``jax.scipy.sparse.linalg.cg`` with Hessian-vector
    products. Memory is independent of ``num_steps``: nothing of the inner path is stored.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (the inner / support loss).
      params: :math:`\theta`.
      support: the task's support batch (no task axis).
      lam: proximal strength :math:`\lambda > 0` (static Python float).
      inner_lr: inner gradient-descent step (static Python float > 0). Needs
        ``inner_lr < 2 / (L + lam)`` for the inner problem's smoothness ``L``.
      num_steps: inner steps (Python int >= 1).
      cg_maxiter: conjugate-gradient iterations.
      cg_tol: conjugate-gradient relative tolerance.

    Returns:
      :math:`\phi^\star` (approximately), like ``params``.

    References:
      Rajeswaran, Finn, Kakade, Levine 2019, https://arxiv.org/abs/1909.04630 .
    """
    num_steps = _check_num_steps(num_steps)
    for name, v in (("lam", lam), ("inner_lr", inner_lr)):
        _checks.check_static_scalar(v, name)
        _checks.check_positive(v, name)
    if cg_maxiter < 1:
        raise ValueError(f"cg_maxiter must be >= 1, got {cg_maxiter}")
    lam, inner_lr = float(lam), float(inner_lr)

    def solve(theta, batch):
        def step(phi, _):
            g = jax.grad(loss_fn)(phi, batch)
            phi = jax.tree.map(lambda p, gi, t: p - inner_lr * (gi + lam * (p - t)), phi, g, theta)
            return phi, None

        phi, _ = jax.lax.scan(step, theta, None, length=num_steps)
        return phi

    @jax.custom_vjp
    def _adapt(theta, batch):
        return solve(theta, batch)

    def fwd(theta, batch):
        phi = solve(theta, batch)
        return phi, (phi, batch)

    def bwd(res, g):
        phi, batch = res
        grad_fn = lambda p: jax.grad(loss_fn)(p, batch)

        def matvec(v):
            hv = jax.jvp(grad_fn, (phi,), (v,))[1]
            return jax.tree.map(lambda a, b: a + b / lam, v, hv)

        v, _ = jax.scipy.sparse.linalg.cg(matvec, g, x0=g, tol=cg_tol, maxiter=cg_maxiter)
        return v, _float0_zeros(batch)

    _adapt.defvjp(fwd, bwd)
    return _adapt(params, support)


def imaml(
    loss_fn: LossFn,
    params: PyTree,
    tasks: PyTree,
    *,
    lam: float,
    inner_lr: float,
    num_steps: int,
    cg_maxiter: int = 20,
    cg_tol: float = 1e-6,
) -> jax.Array:
    r"""Implicit-MAML meta-loss: mean query loss at the proximal solutions, ``vmap`` over tasks.

    .. math::
        \mathcal{L}_{\text{meta}}(\theta) = \tfrac1T \textstyle\sum_i
            \mathcal{L}(\phi_i^\star(\theta); \mathcal{D}^q_i), \qquad
        \nabla_\theta \mathcal{L}_{\text{meta}} = \tfrac1T \textstyle\sum_i
            (I + H_i/\lambda)^{-1} \nabla\mathcal{L}(\phi_i^\star; \mathcal{D}^q_i)

    ``jax.grad`` of this function is the implicit meta-gradient (see :func:`imaml_adapt`).

    Args:
      loss_fn, params, tasks: as in :func:`jtransfer.meta.maml_loss`.
      lam, inner_lr, num_steps, cg_maxiter, cg_tol: as in :func:`imaml_adapt`.

    Returns:
      Scalar mean query loss.

    References:
      Rajeswaran, Finn, Kakade, Levine 2019, https://arxiv.org/abs/1909.04630 .
    """
    _check_tasks(tasks)
    support, query = tasks

    def one(s, q):
        phi = imaml_adapt(
            loss_fn,
            params,
            s,
            lam=lam,
            inner_lr=inner_lr,
            num_steps=num_steps,
            cg_maxiter=cg_maxiter,
            cg_tol=cg_tol,
        )
        return loss_fn(phi, q)

    return jnp.mean(jax.vmap(one)(support, query))
