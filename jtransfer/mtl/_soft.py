"""Soft parameter sharing and the hierarchical Gaussian prior with learned strength.

Pure functions of arrays and pytrees; the exact linear-Gaussian case is in ``_linear_bayes.py``.

Hard and soft sharing as MAP under a hierarchical Gaussian prior
-----------------------------------------------------------------
Give each task its own parameters :math:`\\theta_t` and tie them with
:math:`\\theta_t \\sim \\mathcal N(\\theta_0, \\sigma_t^2 I)`. The negative log posterior is

.. math::
   \\sum_t \\Big[L_t(\\theta_t) + \\frac{\\|\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2}
   + D \\log \\sigma_t \\Big] + \\text{const}.

For fixed :math:`\\sigma_t` this is soft sharing with strength :math:`\\lambda_t = 1/\\sigma_t^2`
(:func:`soft_sharing_penalty`); :math:`\\sigma_t \\to 0` forces :math:`\\theta_t = \\theta_0`, i.e.
hard sharing; :math:`\\sigma_t \\to \\infty` gives independent tasks. Learning :math:`\\sigma_t`
needs the normaliser :math:`D\\log\\sigma_t`: without it the penalty is minimised by
:math:`\\sigma_t \\to \\infty` (no sharing). But *joint* MAP over :math:`(\\theta_t, \\sigma_t)`
is still degenerate: at :math:`\\sigma_t^2 = \\|\\Delta_t\\|^2/D` it equals
:math:`\\tfrac D2\\log\\|\\Delta_t\\|^2 \\to -\\infty` as :math:`\\Delta_t \\to 0`. The sound
estimator integrates :math:`\\theta_t` out (type-II maximum likelihood / empirical Bayes):
:func:`linear_marginal_nll` does this exactly for linear-Gaussian tasks (or linear heads on
fixed features) and :func:`laplace_marginal_nll` with a Laplace approximation for any model.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from jtransfer._core.checks import is_tracer, num_tasks_of


def _deltas_sq(task_params, shared_params, name="task_params"):
    t = num_tasks_of(task_params, name)
    if jax.tree.structure(task_params) != jax.tree.structure(shared_params):
        raise ValueError(
            f"{name} structure {jax.tree.structure(task_params)} does not match "
            f"shared_params structure {jax.tree.structure(shared_params)}"
        )
    sq = 0.0
    dim = 0
    for p, s in zip(jax.tree.leaves(task_params), jax.tree.leaves(shared_params), strict=True):
        if jnp.shape(p)[1:] != jnp.shape(s):
            raise ValueError(
                f"{name} leaf shape {jnp.shape(p)} is not (T,) + shared leaf shape {jnp.shape(s)}"
            )
        d = p - s[None]
        sq = sq + jnp.sum(jnp.reshape(d * d, (t, -1)), axis=1)
        dim += math.prod(jnp.shape(s))
    return t, sq, dim


def _per_task(value, t, name):
    value = jnp.asarray(value)
    if value.shape not in ((), (t,)):
        raise ValueError(f"{name} must be a scalar or have shape ({t},), got {value.shape}")
    return jnp.broadcast_to(value, (t,))


def soft_sharing_penalty(task_params: Any, shared_params: Any, strength: Any) -> jax.Array:
    """L2 pull of every task's parameters toward a shared centre.

    .. math:: \\Omega = \\sum_t \\frac{\\lambda_t}{2} \\|\\theta_t - \\theta_0\\|^2 ,

    the negative log of :math:`\\mathcal N(\\theta_t; \\theta_0, \\lambda_t^{-1} I)` up to
    constants. :math:`\\lambda \\to \\infty` recovers hard sharing, :math:`\\lambda = 0`
    independent tasks. Minimising over :math:`\\theta_0` too gives the regularised MTL of
    Evgeniou & Pontil (2004).

    Args:
      task_params: pytree like ``shared_params`` with a leading task axis ``T`` on every leaf.
      shared_params: the centre :math:`\\theta_0`.
      strength: :math:`\\lambda \\ge 0`, scalar or ``(T,)``.

    Returns:
      Scalar penalty.

    References:
      Evgeniou & Pontil, "Regularized multi-task learning", KDD 2004,
      https://doi.org/10.1145/1014052.1014067 ; Duong et al., "Low Resource Dependency Parsing:
      Cross-lingual Parameter Sharing", ACL 2015, https://aclanthology.org/P15-2139/
    """
    t, sq, _ = _deltas_sq(task_params, shared_params)
    lam = _per_task(strength, t, "strength")
    if not is_tracer(lam) and bool(jnp.any(lam < 0)):
        raise ValueError(f"strength must be non-negative, got {strength!r}")
    return 0.5 * jnp.sum(lam * sq)


def hierarchical_prior_nll(task_params: Any, shared_params: Any, log_sigma: Any) -> jax.Array:
    """Negative log density of the hierarchical prior, log-normaliser included.

    The prior is :math:`\\theta_t \\sim \\mathcal N(\\theta_0, \\sigma_t^2 I)`:

    .. math::
       -\\log p(\\{\\theta_t\\} \\mid \\theta_0, \\sigma) = \\sum_t
       \\frac{\\|\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2} + D\\log\\sigma_t
       + \\frac D2 \\log 2\\pi .

    The :math:`D\\log\\sigma_t` term is what stops learned :math:`\\sigma_t` from running to
    infinity. Do not minimise this jointly with :math:`\\theta_t` and :math:`\\sigma_t` by
    itself (the joint MAP is unbounded below at :math:`\\theta_t = \\theta_0,
    \\sigma_t \\to 0`); use :func:`laplace_marginal_nll` or :func:`linear_marginal_nll`.

    Args:
      task_params: stacked task parameters (leading ``T``).
      shared_params: :math:`\\theta_0`.
      log_sigma: scalar or ``(T,)``.

    Returns:
      Scalar.
    """
    t, sq, dim = _deltas_sq(task_params, shared_params)
    ls = _per_task(log_sigma, t, "log_sigma")
    return jnp.sum(0.5 * sq * jnp.exp(-2.0 * ls) + dim * ls + 0.5 * dim * math.log(2 * math.pi))


def laplace_marginal_nll(
    task_data_nll: jax.Array, task_params: Any, shared_params: Any, log_sigma: Any, curvature: Any
) -> jax.Array:
    """Laplace approximation of :math:`-\\sum_t\\log p(D_t \\mid \\theta_0, \\sigma_t)`.

    Around each task's mode :math:`\\hat\\theta_t` with data-NLL curvature
    :math:`H_t \\approx \\operatorname{diag}(h_t)`,

    .. math::
       -\\log p(D_t\\mid\\theta_0,\\sigma_t) \\approx \\ell_t(\\hat\\theta_t)
       + \\frac{\\|\\hat\\theta_t - \\theta_0\\|^2}{2\\sigma_t^2}
       + \\frac12 \\sum_i \\log\\big(1 + \\sigma_t^2 h_{t,i}\\big),

    i.e. the prior's normaliser :math:`D\\log\\sigma_t` combined with the Occam factor
    :math:`\\frac12\\log\\det(H_t + \\sigma_t^{-2} I)`. Unlike the joint MAP objective this is
    bounded below in :math:`\\sigma_t` and exact for linear-Gaussian tasks with diagonal
    :math:`X^\\top X`. Minimise over :math:`\\theta_t` (the mode), :math:`\\theta_0` and
    :math:`\\log\\sigma_t`; ``curvature`` is treated as data (e.g. a diagonal Fisher / GGN
    estimate at the current :math:`\\theta_t`, gradient stopped).

    Args:
      task_data_nll: ``(T,)`` data negative log-likelihoods :math:`\\ell_t(\\theta_t)` (summed
        over examples, not averaged).
      task_params: stacked task parameters.
      shared_params: :math:`\\theta_0`.
      log_sigma: ``(T,)`` or scalar.
      curvature: pytree like ``task_params`` of non-negative diagonal curvatures.

    Returns:
      Scalar.

    References:
      MacKay, "Bayesian Interpolation", Neural Computation 1992 ; Bakker & Heskes, "Task
      Clustering and Gating for Bayesian Multitask Learning", JMLR 2003,
      https://www.jmlr.org/papers/v4/bakker03a.html
    """
    t, sq, _ = _deltas_sq(task_params, shared_params)
    if jnp.shape(task_data_nll) != (t,):
        raise ValueError(f"task_data_nll must have shape ({t},), got {jnp.shape(task_data_nll)}")
    if jax.tree.structure(curvature) != jax.tree.structure(task_params):
        raise ValueError("curvature must have the same tree structure as task_params")
    ls = _per_task(log_sigma, t, "log_sigma")
    s2 = jnp.exp(2.0 * ls)
    occam = 0.0
    for h, p in zip(jax.tree.leaves(curvature), jax.tree.leaves(task_params), strict=True):
        if jnp.shape(h) != jnp.shape(p):
            raise ValueError(
                f"curvature leaf shape {jnp.shape(h)} != task_params leaf shape {jnp.shape(p)}"
            )
        h = jax.lax.stop_gradient(jnp.maximum(h, 0.0)).reshape((t, -1))
        occam = occam + 0.5 * jnp.sum(jnp.log1p(s2[:, None] * h), axis=1)
    return jnp.sum(task_data_nll + 0.5 * sq / s2 + occam)
