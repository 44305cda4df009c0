"""Evolution-strategies meta-gradients: antithetic ES on full unrolls, and persistent ES (PES)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jtransfer import parallel
from jtransfer._core.keys import default_key
from jtransfer.lopt._base import LearnedOptimizer
from jtransfer.lopt._estimator import (
    _SIGNS,
    MetaGradientEstimator,
    _check_es,
    _check_mesh,
    _tree_normal,
    _weighted_mean,
)
from jtransfer.lopt._unroll import (
    TaskFamily,
    UnrollState,
    _check_theta,
    _check_truncation,
    _init_unrolls,
    _positive_int,
    _reset_finished,
    _run,
    _select,
    meta_loss,
)


class PESState(NamedTuple):
    """State of :func:`pes`.

    Attributes:
      unroll: :class:`UnrollState` with leading axes ``(2, population)``: the ``+`` and ``-``
        particle of each antithetic pair (same task and inner keys).
      accum: like theta with a leading ``population`` axis, the perturbations
        :math:`\\xi = \\sum_\\tau \\epsilon_\\tau` accumulated since each particle's reset.
    """

    unroll: UnrollState
    accum: Any


def es(
    lopt: LearnedOptimizer,
    task_family: TaskFamily,
    *,
    num_steps: int,
    sigma: float,
    population: int = 8,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = "pop",
) -> MetaGradientEstimator:
    r"""Antithetic evolution strategies on the full-unroll meta-loss.

    With :math:`\epsilon_i \sim \mathcal N(0, \sigma^2 I)` and one task per antithetic pair
    (both members share the task and inner randomness):

    .. math::
        \hat g = \frac{1}{2 N \sigma^2} \sum_{i=1}^{N}
            \epsilon_i \big(\mathcal L(\phi + \epsilon_i) - \mathcal L(\phi - \epsilon_i)\big),

    an unbiased estimate of :math:`\nabla_\phi\, \mathbb E_\epsilon\,\mathcal L(\phi + \epsilon)`
    (the gradient of the Gaussian-smoothed meta-loss; exact for quadratic
    :math:`\mathcal L`). Needs no backpropagation through the unroll. The state is empty.

    Args:
      lopt: the learned optimizer.
      task_family: ``task_family(key) -> Task``.
      num_steps: the unroll length :math:`T`.
      sigma: perturbation scale :math:`\sigma > 0`.
      population: number :math:`N` of antithetic pairs (each on its own task).
      mesh: optional ``jax.sharding.Mesh``: the population (perturbations, tasks, keys) is
        split over its ``axis_name`` axis (population-parallel ES under ``jax.jit``); the
        estimate is the same as without a mesh.
      axis_name: the mesh axis for the population.

    Returns:
      A :class:`MetaGradientEstimator` (empty state ``()``); ``meta_loss`` is the mean of the
      pair losses.

    Example:
      >>> import functools, jax
      >>> from jtransfer import lopt
      >>> lo = lopt.learned_hyperparams(horizon=3)
      >>> theta = lo.init(jax.random.key(0))
      >>> est = lopt.es(lo, functools.partial(lopt.quadratic_task, dim=3), num_steps=3,
      ...               sigma=0.01, population=2)
      >>> loss, g, state = est.update(theta, est.init(theta), key=jax.random.key(1))
      >>> jax.tree.structure(g) == jax.tree.structure(theta)
      True

    References:
      Salimans et al., 2017, https://arxiv.org/abs/1703.03864
    """
    num_steps = _positive_int(num_steps, "num_steps", "es")
    population = _check_es(sigma, population, "es")
    _check_mesh(mesh, axis_name, population, "es")

    def init(theta, *, key=None):
        del key
        _check_theta(lopt, theta)
        return ()

    def update(theta, state, *, key):
        _check_theta(lopt, theta)
        keps, ktask, krun = jax.random.split(key, 3)
        eps = _tree_normal(keps, theta, population, sigma)
        tasks = jax.vmap(task_family)(jax.random.split(ktask, population))
        keys = jax.random.split(krun, population)
        eps, tasks, keys = parallel.constrain((eps, tasks, keys), mesh, axis_name)

        def member(e, task, k, sign):
            th = jax.tree.map(lambda t, x: t + sign * x, theta, e)
            return meta_loss(lopt, th, task, k, num_steps=num_steps)

        losses = jax.vmap(lambda e, task, k: jax.vmap(lambda sg: member(e, task, k, sg))(_SIGNS))(
            eps, tasks, keys
        )  # (population, 2): the + and - members of each pair
        plus, minus = losses[:, 0], losses[:, 1]
        g = _weighted_mean((plus - minus) / (2 * sigma**2), eps)
        return jnp.mean(losses), g, state

    return MetaGradientEstimator(init, update)


def pes(
    lopt: LearnedOptimizer,
    task_family: TaskFamily,
    *,
    num_steps: int,
    truncation_length: int,
    sigma: float,
    population: int = 8,
    stagger: bool = False,
    mesh: jax.sharding.Mesh | None = None,
    axis_name: str = "pop",
) -> MetaGradientEstimator:
    r"""Persistent evolution strategies: unbiased meta-gradients from truncated unrolls.

    Each antithetic particle pair :math:`i` keeps its own pair of inner states and the sum
    :math:`\xi_i` of all perturbations it has used since its last reset. Per truncation
    :math:`\tau`, with fresh :math:`\epsilon_i \sim \mathcal N(0,\sigma^2 I)`:

    .. math::
        \xi_i \leftarrow \xi_i + \epsilon_i, \qquad
        \hat g = \frac{1}{2N\sigma^2}\sum_{i=1}^{N} \xi_i
            \big(L_\tau(\phi + \epsilon_i) - L_\tau(\phi - \epsilon_i)\big),

    where :math:`L_\tau(\phi \pm \epsilon_i)` is the mean loss of the truncation run from the
    particle's own state. Because :math:`\xi_i` accounts for every perturbation that shaped
    that state, :math:`\hat g` is unbiased for the gradient of the smoothed truncation loss
    including its dependence through earlier truncations (Vicol et al., 2021, theorem 1):
    no truncation bias. Its variance grows with the number of truncations since reset.

    Args:
      lopt: the learned optimizer.
      task_family: ``task_family(key) -> Task``.
      num_steps: the inner horizon :math:`T` before a reset.
      truncation_length: :math:`K`, must divide ``num_steps``.
      sigma: perturbation scale :math:`\sigma > 0`.
      population: number :math:`N` of antithetic pairs.
      stagger: start particles at random truncation boundaries.
      mesh: optional ``jax.sharding.Mesh`` over whose ``axis_name`` axis the particles (and
        their persistent inner states) are split: population-parallel PES under ``jax.jit``.
      axis_name: the mesh axis for the population.

    Returns:
      A :class:`MetaGradientEstimator` with :class:`PESState`.

    Example:
      >>> import functools, jax
      >>> from jtransfer import lopt
      >>> lo = lopt.learned_hyperparams(horizon=4)
      >>> theta = lo.init(jax.random.key(0))
      >>> est = lopt.pes(lo, functools.partial(lopt.quadratic_task, dim=3), num_steps=4,
      ...                truncation_length=2, sigma=0.01, population=2)
      >>> state = est.init(theta, key=jax.random.key(1))
      >>> loss, g, state = est.update(theta, state, key=jax.random.key(2))
      >>> state.unroll.step.shape  # (+/- particle, population)
      (2, 2)

    References:
      Vicol, Metz & Sohl-Dickstein, 2021, https://arxiv.org/abs/2112.13835
    """
    num_steps, truncation_length = _check_truncation(num_steps, truncation_length, "pes")
    population = _check_es(sigma, population, "pes")
    _check_mesh(mesh, axis_name, population, "pes")

    def init(theta, *, key=None):
        _check_theta(lopt, theta)
        unroll = _init_unrolls(
            lopt,
            theta,
            task_family,
            default_key(key),
            population,
            num_steps,
            truncation_length,
            stagger,
        )
        accum = jax.tree.map(
            lambda x: jnp.zeros((population, *jnp.shape(x)), jnp.result_type(x)), theta
        )
        both = jax.tree.map(lambda x: jnp.stack([x, x]), unroll)
        return PESState(unroll=both, accum=accum)

    def update(theta, state, *, key):
        _check_theta(lopt, theta)
        kreset, keps, krun = jax.random.split(key, 3)
        pos = jax.tree.map(lambda x: x[0], state.unroll)
        fresh, done = _reset_finished(lopt, theta, task_family, pos, kreset, num_steps)
        unroll = jax.tree.map(lambda f: jnp.stack([f, f]), fresh)
        unroll = _select(jnp.stack([done, done]), unroll, state.unroll)
        accum = _select(done, jax.tree.map(jnp.zeros_like, state.accum), state.accum)
        eps = _tree_normal(keps, theta, population, sigma)
        accum = jax.tree.map(jnp.add, accum, eps)
        keys = jax.random.split(krun, population)
        eps, accum, keys = parallel.constrain((eps, accum, keys), mesh, axis_name)
        unroll = parallel.constrain(unroll, mesh, axis_name, axis=1)

        def particle(sign, e, s, k):
            th = jax.tree.map(lambda t, x: t + sign * x, theta, e)
            s, losses = _run(lopt.optimizer(th), s, k, truncation_length)
            return s, jnp.mean(losses)

        over_pairs = jax.vmap(particle, in_axes=(None, 0, 0, 0))
        unroll, losses = jax.vmap(over_pairs, in_axes=(0, None, 0, None))(
            _SIGNS, eps, unroll, keys
        )  # losses (2, population)
        g = _weighted_mean((losses[0] - losses[1]) / (2 * sigma**2), accum)
        return jnp.mean(losses), g, PESState(unroll=unroll, accum=accum)

    return MetaGradientEstimator(init, update)
