"""Reptile: first-order meta-learning by moving the initialisation towards adapted weights."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.meta._maml import InnerLR, LossFn, Mask, PyTree, _check_tasks, adapt


def reptile_adapted(
    loss_fn: LossFn,
    params: PyTree,
    support: PyTree,
    *,
    inner_lr: InnerLR,
    num_steps: int,
    mask: Mask = None,
) -> PyTree:
    r"""Mean adapted parameters :math:`\bar\phi = \frac1T\sum_i \phi_i` over a batch of tasks.

    Each :math:`\phi_i` is ``num_steps`` of SGD from :math:`\theta` on task ``i``'s batch (no
    gradient flows through it). Feed the result to :func:`reptile`'s ``update`` as the
    ``updates`` argument.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: current initialisation :math:`\theta`.
      support: batch pytree whose leaves carry a leading task axis ``T`` (Reptile trains on
        all of a task's data; there is no separate query set).
      inner_lr, num_steps, mask: as in :func:`jtransfer.meta.adapt`.

    Returns:
      Pytree like ``params``: the task-averaged adapted parameters.

    References:
      Nichol, Achiam, Schulman 2018, https://arxiv.org/abs/1803.02999 .
    """
    _check_tasks((support, support))
    params = jax.lax.stop_gradient(params)

    def one(s):
        return adapt(
            loss_fn, params, s, inner_lr=inner_lr, num_steps=num_steps, first_order=True, mask=mask
        )

    return jax.tree.map(lambda x: jnp.mean(x, axis=0), jax.vmap(one)(support))


class ReptileState(NamedTuple):
    """State of :func:`reptile`."""

    count: jax.Array  # int32 scalar, number of outer updates so far (for the schedule)


def reptile(step_size: float | optax.Schedule) -> optax.GradientTransformation:
    r"""Reptile's outer update as an optax gradient transformation.

    .. math::
        \theta \leftarrow \theta + \epsilon_t\, (\bar\phi - \theta)

    ``update(updates, state, params)`` takes the (task-averaged) adapted parameters
    :math:`\bar\phi` as ``updates`` and the current :math:`\theta` as ``params`` (required), and
    returns :math:`\epsilon_t(\bar\phi - \theta)` for ``optax.apply_updates``. The paper's
    linearly annealed :math:`\epsilon` is ``optax.linear_schedule(eps, 0, num_iterations)``.

    Args:
      step_size: outer step size :math:`\epsilon` (> 0) or an optax schedule of the step count.

    Returns:
      An ``optax.GradientTransformation``.

    Example:
      Two tasks whose losses pull a scalar towards 1 and 3; one SGD step of 0.25 moves each
      task halfway, so the mean adapted value is 1 and the outer step moves 0.1 of the way:

      >>> import jax.numpy as jnp, optax
      >>> loss_fn = lambda p, c: jnp.mean((p["w"] - c) ** 2)
      >>> theta = {"w": jnp.zeros(())}
      >>> batch = jnp.array([[1.0], [3.0]])  # leading task axis T = 2
      >>> phi = reptile_adapted(loss_fn, theta, batch, inner_lr=0.25, num_steps=1)
      >>> phi["w"]
      Array(1., dtype=float32)
      >>> tx = reptile(0.1)
      >>> updates, state = tx.update(phi, tx.init(theta), theta)
      >>> optax.apply_updates(theta, updates)["w"]
      Array(0.1, dtype=float32)

    References:
      Nichol, Achiam, Schulman 2018, https://arxiv.org/abs/1803.02999 .
    """
    if not callable(step_size) and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")

    def init_fn(params):
        del params
        return ReptileState(count=jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("reptile.update needs params (the current initialisation theta)")
        if jax.tree.structure(updates) != jax.tree.structure(params):
            raise ValueError(
                "reptile.update: updates (adapted params) and params differ in "
                f"structure: {jax.tree.structure(updates)} vs "
                f"{jax.tree.structure(params)}"
            )
        eps = step_size(state.count) if callable(step_size) else step_size
        new = jax.tree.map(lambda phi, th: (eps * (phi - th)).astype(th.dtype), updates, params)
        return new, ReptileState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)
