"""Unrolled meta-objective and meta-gradient estimators: truncated BPTT, ES and PES."""

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


class MetaGradientEstimator(NamedTuple):
    """An optax-style pair of pure functions that estimates meta-gradients.

    Attributes:
      init: ``init(theta, key) -> state``.
      grad: ``grad(theta, state, key) -> (meta_loss, meta_grad, state)``, where
        ``meta_grad`` has the structure of ``theta``; jit it.
    """

    init: Callable[[Theta, jax.Array], Any]
    grad: Callable[[Theta, Any, jax.Array], tuple[jax.Array, Theta, Any]]


class TBPTTState(NamedTuple):
    """State of :func:`tbptt`: ``unroll`` is an :class:`UnrollState` with a task axis."""

    unroll: UnrollState


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


def _positive_int(value: Any, name: str, fn: str) -> int:
    check_hyperparameters(fn, integers={name: value})
    return int(value)


def _check_theta(lopt: LearnedOptimizer, theta: Theta) -> None:
    check_theta(theta, jax.eval_shape(lopt.init, jax.random.key(0)), lopt.name)


def inner_step(opt: optax.GradientTransformation, task: Task, params: Any, opt_state: Any,
               key: jax.Array, *, second_order: bool = True):
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
        params, opt_state, loss = inner_step(opt, state.task, params, opt_state, k,
                                             second_order=second_order)
        return (params, opt_state), loss

    # Step keys depend on the absolute step: with one key, truncations replay a full unroll.
    keys = jax.vmap(lambda i: jax.random.fold_in(key, state.step + i))(jnp.arange(length))
    (params, opt_state), losses = jax.lax.scan(body, (state.params, state.opt_state), keys)
    return state._replace(params=params, opt_state=opt_state, step=state.step + length), losses


def unroll_losses(opt: optax.GradientTransformation, task: Task, key: jax.Array, *,
                  num_steps: int, second_order: bool = True) -> jax.Array:
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


def meta_loss(lopt: LearnedOptimizer, theta: Theta, task: Task, key: jax.Array, *,
              num_steps: int, second_order: bool = True) -> jax.Array:
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
    return jnp.mean(unroll_losses(lopt.optimizer(theta), task, key, num_steps=num_steps,
                                  second_order=second_order))


def _fresh_unroll(lopt: LearnedOptimizer, theta: Theta, task_family: TaskFamily,
                  key: jax.Array, step: jax.Array) -> UnrollState:
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
        steps = truncation_length * jax.random.randint(ks, (n,), 0,
                                                       num_steps // truncation_length)
    else:
        steps = jnp.zeros((n,), jnp.int32)
    return jax.vmap(lambda k, s: _fresh_unroll(lopt, theta, task_family, k, s))(
        jax.random.split(kf, n), steps)


def _select(mask: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Per-row tree select: ``mask`` (leading axes of the leaves) picks ``on_true``."""
    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (jnp.ndim(a) - mask.ndim)), a, b)
    return jax.tree.map(pick, on_true, on_false)


def _reset_finished(lopt, theta, task_family, state: UnrollState, key, num_steps):
    """Replaces unrolls that reached ``num_steps`` by fresh ones; returns ``(state, mask)``."""
    n = state.step.shape[0]
    fresh = jax.vmap(lambda k: _fresh_unroll(lopt, theta, task_family, k, 0))(
        jax.random.split(key, n))
    done = state.step >= num_steps
    return _select(done, fresh, state), done


def _check_truncation(num_steps, truncation_length, fn):
    num_steps = _positive_int(num_steps, "num_steps", fn)
    truncation_length = _positive_int(truncation_length, "truncation_length", fn)
    if num_steps % truncation_length:
        raise ValueError(f"{fn}: truncation_length {truncation_length} must divide num_steps "
                         f"{num_steps}")
    return num_steps, truncation_length


def tbptt(lopt: LearnedOptimizer, task_family: TaskFamily, *, num_steps: int,
          truncation_length: int, num_tasks: int = 8, second_order: bool = True,
          stagger: bool = False, mesh=None, axis_name: str = "task") -> MetaGradientEstimator:
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
      A :class:`MetaGradientEstimator`.

    References:
      Andrychowicz et al., 2016, https://arxiv.org/abs/1606.04474 ;
      Wu et al., 2018 (truncation bias), https://arxiv.org/abs/1803.02021
    """
    num_steps, truncation_length = _check_truncation(num_steps, truncation_length, "tbptt")
    num_tasks = _positive_int(num_tasks, "num_tasks", "tbptt")
    _check_mesh(mesh, axis_name, num_tasks, "tbptt", what="num_tasks")

    def init(theta, key):
        _check_theta(lopt, theta)
        return TBPTTState(_init_unrolls(lopt, theta, task_family, key, num_tasks, num_steps,
                                        truncation_length, stagger))

    def grad(theta, state, key):
        _check_theta(lopt, theta)
        kreset, krun = jax.random.split(key)
        unroll, _ = _reset_finished(lopt, theta, task_family, state.unroll, kreset, num_steps)
        unroll = jax.lax.stop_gradient(unroll)
        keys = jax.random.split(krun, num_tasks)
        unroll, keys = _shard_population((unroll, keys), mesh, axis_name)

        def loss_fn(th):
            opt = lopt.optimizer(th)
            new, losses = jax.vmap(lambda s, k: _run(opt, s, k, truncation_length,
                                                     second_order))(unroll, keys)
            return jnp.mean(losses), new

        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(theta)
        return loss, g, TBPTTState(new)

    return MetaGradientEstimator(init, grad)


def _tree_normal(key: jax.Array, theta: Theta, n: int, sigma: float) -> Theta:
    leaves, treedef = jax.tree.flatten(theta)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [
        sigma * jax.random.normal(k, (n, *jnp.shape(x)), jnp.result_type(x))
        for k, x in zip(keys, leaves, strict=True)])


def _weighted_mean(weights: jax.Array, tree: Theta) -> Theta:
    """``mean_i weights[i] * tree[i]`` leafwise."""
    return jax.tree.map(lambda x: jnp.tensordot(weights.astype(x.dtype), x, axes=1)
                        / weights.shape[0], tree)


_SIGNS = jnp.array([1.0, -1.0])


def _shard_population(tree: Any, mesh, axis_name: str, axis: int = 0) -> Any:
    """Constrains ``axis`` of every leaf to be split over ``mesh``'s ``axis_name`` (no-op
    without a mesh). The population (or the tasks) is drawn exactly as on one device, then
    laid out across devices, so a sharded run computes the same estimate as an unsharded one."""
    if mesh is None:
        return tree
    from jax.sharding import NamedSharding, PartitionSpec

    def constrain(x):
        spec = [None] * jnp.ndim(x)
        spec[axis] = axis_name
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(*spec)))

    return jax.tree.map(constrain, tree)


def _check_mesh(mesh, axis_name, population, fn, what="population"):
    if mesh is None:
        return
    if axis_name not in mesh.axis_names:
        raise ValueError(f"{fn}: axis {axis_name!r} is not in the mesh axes {mesh.axis_names}")
    if population % mesh.shape[axis_name]:
        raise ValueError(f"{fn}: {what} {population} is not divisible by the "
                         f"{mesh.shape[axis_name]} devices of mesh axis {axis_name!r}")


def _check_es(sigma, population, fn):
    if not sigma > 0:
        raise ValueError(f"{fn}: sigma must be positive, got {sigma}")
    return _positive_int(population, "population", fn)


def es(lopt: LearnedOptimizer, task_family: TaskFamily, *, num_steps: int, sigma: float,
       population: int = 8, mesh=None, axis_name: str = "pop") -> MetaGradientEstimator:
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
      A :class:`MetaGradientEstimator`; ``meta_loss`` is the mean of the pair losses.

    References:
      Salimans et al., 2017, https://arxiv.org/abs/1703.03864
    """
    num_steps = _positive_int(num_steps, "num_steps", "es")
    population = _check_es(sigma, population, "es")
    _check_mesh(mesh, axis_name, population, "es")

    def init(theta, key):
        del key
        _check_theta(lopt, theta)
        return ()

    def grad(theta, state, key):
        _check_theta(lopt, theta)
        keps, ktask, krun = jax.random.split(key, 3)
        eps = _tree_normal(keps, theta, population, sigma)
        tasks = jax.vmap(task_family)(jax.random.split(ktask, population))
        keys = jax.random.split(krun, population)
        eps, tasks, keys = _shard_population((eps, tasks, keys), mesh, axis_name)

        def member(e, task, k, sign):
            th = jax.tree.map(lambda t, x: t + sign * x, theta, e)
            return meta_loss(lopt, th, task, k, num_steps=num_steps)

        losses = jax.vmap(lambda e, task, k: jax.vmap(lambda sg: member(e, task, k, sg))(
            _SIGNS))(eps, tasks, keys)  # (population, 2): the + and - members of each pair
        plus, minus = losses[:, 0], losses[:, 1]
        g = _weighted_mean((plus - minus) / (2 * sigma**2), eps)
        return jnp.mean(losses), g, state

    return MetaGradientEstimator(init, grad)


def pes(lopt: LearnedOptimizer, task_family: TaskFamily, *, num_steps: int,
        truncation_length: int, sigma: float, population: int = 8,
        stagger: bool = False, mesh=None, axis_name: str = "pop") -> MetaGradientEstimator:
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

    References:
      Vicol, Metz & Sohl-Dickstein, 2021, https://arxiv.org/abs/2112.13835
    """
    num_steps, truncation_length = _check_truncation(num_steps, truncation_length, "pes")
    population = _check_es(sigma, population, "pes")
    _check_mesh(mesh, axis_name, population, "pes")

    def init(theta, key):
        _check_theta(lopt, theta)
        unroll = _init_unrolls(lopt, theta, task_family, key, population, num_steps,
                               truncation_length, stagger)
        accum = jax.tree.map(lambda x: jnp.zeros((population, *jnp.shape(x)),
                                                 jnp.result_type(x)), theta)
        both = jax.tree.map(lambda x: jnp.stack([x, x]), unroll)
        return PESState(unroll=both, accum=accum)

    def grad(theta, state, key):
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
        eps, accum, keys = _shard_population((eps, accum, keys), mesh, axis_name)
        unroll = _shard_population(unroll, mesh, axis_name, axis=1)

        def particle(sign, e, s, k):
            th = jax.tree.map(lambda t, x: t + sign * x, theta, e)
            s, losses = _run(lopt.optimizer(th), s, k, truncation_length)
            return s, jnp.mean(losses)

        over_pairs = jax.vmap(particle, in_axes=(None, 0, 0, 0))
        unroll, losses = jax.vmap(over_pairs, in_axes=(0, None, 0, None))(
            _SIGNS, eps, unroll, keys)  # losses (2, population)
        g = _weighted_mean((losses[0] - losses[1]) / (2 * sigma**2), accum)
        return jnp.mean(losses), g, PESState(unroll=unroll, accum=accum)

    return MetaGradientEstimator(init, grad)
