"""Device meshes, batch sharding and a data-parallel training step.

One code path from a laptop to a pod: ``jax.jit`` over a ``jax.make_mesh`` mesh with
``NamedSharding``. Parameters and optimizer state are replicated; the batch is split along
its leading axis over the ``data`` mesh axis; XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

PyTree = Any


def make_mesh(num_devices: int | None = None, *, axis_name: str = "data",
              devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh over ``num_devices`` devices (default: all) with one named axis.

    Uses ``jax.make_mesh`` with explicit axis types (the current JAX default), so shardings
    are part of array types and mismatches surface at trace time.
    """
    available = jax.devices() if devices is None else list(devices)
    n = len(available) if num_devices is None else num_devices
    if not isinstance(n, int) or n < 1 or n > len(available):
        raise ValueError(f"num_devices must be in [1, {len(available)}], got {num_devices!r}")
    return jax.make_mesh((n,), (axis_name,), devices=available[:n],
                         axis_types=(jax.sharding.AxisType.Explicit,))


def replicate(tree: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
    """Places every leaf of ``tree`` on all devices of ``mesh`` (fully replicated)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(batch: PyTree, mesh: jax.sharding.Mesh, *, axis_name: str = "data") -> PyTree:
    """Splits each leaf's leading (batch) axis over the mesh axis ``axis_name``.

    Raises ValueError if a leaf's batch size is not divisible by the axis size.
    """
    size = mesh.shape[axis_name]

    def put(x):
        if x.ndim == 0 or x.shape[0] % size:
            raise ValueError(f"batch leaf with shape {tuple(x.shape)} cannot be split over "
                             f"{size} devices on axis {axis_name!r}: the leading dimension "
                             f"must be a multiple of {size}")
        spec = P(axis_name, *([None] * (x.ndim - 1)))
        return jax.device_put(x, NamedSharding(mesh, spec))

    return jax.tree.map(put, batch)


def data_parallel_step(loss_fn: Callable[[PyTree, PyTree], jax.Array],
                       optimizer: optax.GradientTransformation,
                       mesh: jax.sharding.Mesh, *, axis_name: str = "data"):
    """A jitted data-parallel step ``step(params, opt_state, batch) -> (params, opt_state, loss)``.

    ``loss_fn(params, batch)`` must be a mean over the batch's leading axis, so the sharded
    computation equals the single-device one (up to reduction order). Params and optimizer
    state are kept replicated; ``batch`` should come from :func:`shard_batch`.
    """
    del axis_name  # the batch's sharding already names the axis
    replicated = NamedSharding(mesh, P())

    def step(params, opt_state, batch):
        # With the batch sharded and params replicated, the batch mean inside ``loss_fn``
        # reduces over the sharded axis: XLA inserts the all-reduce and the gradients come
        # out replicated, so the optimizer update runs identically on every device.
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss

    return jax.jit(step, out_shardings=replicated)
