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
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

PyTree = Any


def make_mesh(
    num_devices: int | None = None, *, axis_name: str = "data", devices=None
) -> jax.sharding.Mesh:
    """A 1-D mesh over ``num_devices`` devices (default: all) with one named axis.

    ``jax.make_mesh`` now defaults to *explicit* axis types, where every op on sharded values
    must resolve its output sharding (a matmul contracting a sharded batch axis, as in any
    gradient of a batch mean, raises unless annotated). jtransfer's algorithms are written
    sharding-agnostic, so meshes here use ``AxisType.Auto``: inputs carry shardings and the
    compiler propagates them through user code, inserting the collectives.
    """
    available = jax.devices() if devices is None else list(devices)
    n = len(available) if num_devices is None else num_devices
    if not isinstance(n, int) or n < 1 or n > len(available):
        raise ValueError(f"num_devices must be in [1, {len(available)}], got {num_devices!r}")
    return jax.make_mesh(
        (n,), (axis_name,), devices=available[:n], axis_types=(jax.sharding.AxisType.Auto,)
    )


def replicate(tree: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
    """Places every leaf of ``tree`` on all devices of ``mesh`` (fully replicated)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(batch: PyTree, mesh: jax.sharding.Mesh, *, axis_name: str = "data") -> PyTree:
    """Splits each leaf's leading (batch) axis over the mesh axis ``axis_name``.

    Raises ValueError if ``axis_name`` is not an axis of ``mesh`` or a leaf's batch size is not
    divisible by the axis size.
    """
    if axis_name not in mesh.shape:
        raise ValueError(
            f"axis_name {axis_name!r} is not an axis of the mesh; its axes are "
            f"{tuple(mesh.axis_names)} (shape {dict(mesh.shape)})"
        )
    size = mesh.shape[axis_name]

    def put(x):
        if x.ndim == 0 or x.shape[0] % size:
            raise ValueError(
                f"batch leaf with shape {tuple(x.shape)} cannot be split over "
                f"{size} devices on axis {axis_name!r}: the leading dimension "
                f"must be a multiple of {size}"
            )
        spec = P(axis_name, *([None] * (x.ndim - 1)))
        return jax.device_put(x, NamedSharding(mesh, spec))

    return jax.tree.map(put, batch)


def data_parallel_step(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    optimizer: optax.GradientTransformation,
    mesh: jax.sharding.Mesh,
    *,
    axis_name: str = "data",
):
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


def mesh_from_shape(shape, axis_names, *, devices=None) -> jax.sharding.Mesh:
    """A mesh of the given ``shape`` (one entry may be -1: all remaining devices).

    This is what experiment configs pass (``config.mesh_shape = (-1,)``,
    ``config.mesh_axes = ("task",)``): the same config runs on 1 device, on 8 simulated CPU
    devices, on several processes, or on a GPU host, using every device it sees.
    """
    available = jax.devices() if devices is None else list(devices)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    axis_names = tuple(axis_names) if isinstance(axis_names, (tuple, list)) else (axis_names,)
    if len(shape) != len(axis_names):
        raise ValueError(f"mesh shape {shape} and axis names {axis_names} differ in length")
    if shape.count(-1) > 1 or any(s == 0 or s < -1 for s in shape):
        raise ValueError(f"mesh shape {shape}: entries must be positive, at most one -1")
    known = 1
    for s in shape:
        known *= s if s > 0 else 1
    if -1 in shape:
        if len(available) % known:
            raise ValueError(f"{len(available)} devices cannot fill mesh shape {shape}")
        shape = tuple(len(available) // known if s == -1 else s for s in shape)
    total = 1
    for s in shape:
        total *= s
    if total > len(available):
        raise ValueError(f"mesh shape {shape} needs {total} devices, {len(available)} available")
    return jax.make_mesh(
        shape,
        axis_names,
        devices=available[:total],
        axis_types=(jax.sharding.AxisType.Auto,) * len(shape),
    )


def check_mesh_shape(config) -> tuple[int]:
    """Checks ``config.mesh_shape`` (default ``(1,)``) and returns it as a tuple.

    It must be ``(n,)`` with an int ``n >= 1``, or ``(-1,)`` for every device. This is the one
    mesh-shape check of the experiments (``train.validate_config`` calls it); it looks at the
    config only, not at the devices (:func:`mesh_from_config` does that).

    Raises:
      ValueError: ``config.mesh_shape must be (n,) with n >= 1 or -1, got ...``.

    Example:
      >>> check_mesh_shape({"mesh_shape": (-1,)})
      (-1,)
    """
    shape = config.get("mesh_shape", (1,))
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if (
        len(shape) != 1
        or isinstance(shape[0], bool)
        or not isinstance(shape[0], int)
        or not (shape[0] == -1 or shape[0] >= 1)
    ):
        raise ValueError(f"config.mesh_shape must be (n,) with n >= 1 or -1, got {shape}")
    return shape


def constrain(
    tree: PyTree, mesh: jax.sharding.Mesh | None, axis_name: str, *, axis: int = 0
) -> PyTree:
    """Inside ``jit``: splits ``axis`` of every leaf of ``tree`` over ``mesh``'s ``axis_name``.

    ``jax.lax.with_sharding_constraint`` with the spec ``(None, ..., axis_name, ...)``; a no-op
    when ``mesh`` is ``None`` (one device). Use it on batches sliced or drawn inside a jitted
    step (the meta-batch of tasks, a minibatch indexed from replicated data), so that the
    step's work is laid out over the devices while its numbers stay those of one device.

    Args:
      tree: a pytree of arrays, each with at least ``axis + 1`` dimensions.
      mesh: the mesh (or ``None``).
      axis_name: the mesh axis to split over.
      axis: the array axis that is split (default the leading one).

    Returns:
      ``tree`` with the sharding constraint applied.

    Example:
      >>> import jax.numpy as jnp
      >>> constrain({"x": jnp.ones((4, 2))}, None, "data")["x"].shape
      (4, 2)
    """
    if mesh is None:
        return tree
    if axis_name not in mesh.axis_names:
        raise ValueError(f"axis_name {axis_name!r} is not in the mesh axes {mesh.axis_names}")

    def put(x):
        if jax.numpy.ndim(x) <= axis:
            raise ValueError(
                f"tree leaf with shape {jax.numpy.shape(x)} has no axis {axis} "
                f"to split over {axis_name!r}"
            )
        spec = [None] * jax.numpy.ndim(x)
        spec[axis] = axis_name
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(*spec)))

    return jax.tree.map(put, tree)


def mesh_from_config(config, axis_name: str, *, divides: dict[str, int] | None = None):
    """The 1-d mesh an experiment config asks for, or ``None`` when it is one device.

    ``config.mesh_shape`` (default ``(1,)``) must be ``(n,)`` with ``n >= 1`` or ``n == -1``
    (every device); the mesh's one axis is ``axis_name``. ``divides`` maps config field names
    to the lengths that are split over that axis (``{"batch_size": 64}``); each must be a
    multiple of the device count, else ``ValueError`` naming the field and ``mesh_shape``.
    """
    shape = check_mesh_shape(config)
    mesh = mesh_from_shape(shape, (axis_name,))
    if mesh.size == 1:
        return None
    for name, length in (divides or {}).items():
        if length % mesh.size:
            raise ValueError(
                f"config.{name}={length} must be divisible by the {mesh.size} "
                f"devices of config.mesh_shape {shape}"
            )
    return mesh


def sharded_jit(
    fn: Callable,
    mesh: jax.sharding.Mesh,
    *,
    sharded_argnums: tuple[int, ...] = (1,),
    axis_name: str = "data",
    out_sharding: str = "replicated",
) -> Callable:
    """``jax.jit(fn)`` with the leading axis of the ``sharded_argnums`` arguments split over
    ``axis_name`` and every other argument replicated.

    This one helper covers jtransfer's parallel patterns: a data-parallel DA step (batch over
    ``data``), task-parallel MAML (the meta-batch of tasks over ``task``), population-parallel
    ES/PES (perturbations over ``pop``) and task-parallel per-task gradients for multi-task
    learning. When ``fn`` reduces over the sharded axis (a mean over tasks or examples), XLA
    inserts the all-reduce and the result is replicated; ``out_sharding="sharded"`` keeps
    outputs split along their leading axis instead (per-task gradients).
    """
    if out_sharding not in ("replicated", "sharded"):
        raise ValueError(f"out_sharding must be 'replicated' or 'sharded', got {out_sharding!r}")
    if axis_name not in mesh.axis_names:
        raise ValueError(f"axis {axis_name!r} is not in the mesh axes {mesh.axis_names}")

    def wrapped(*args):
        args = list(args)
        for i in sharded_argnums:
            if i >= len(args):
                raise ValueError(f"sharded_argnums names argument {i}, got {len(args)} arguments")
            args[i] = shard_batch(args[i], mesh, axis_name=axis_name)
        return jitted(*args)

    out = (
        NamedSharding(mesh, P())
        if out_sharding == "replicated"
        else NamedSharding(mesh, P(axis_name))
    )
    jitted = jax.jit(fn, out_shardings=out)
    return wrapped
