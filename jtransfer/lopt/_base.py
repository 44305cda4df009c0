"""The learned-optimizer interface and shared helpers (validation, feature maths)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jtransfer._core import checks as _checks
from jtransfer._core.keys import default_key

Theta = Any  # a pytree of meta-parameters


class LearnedOptimizer(NamedTuple):
    """A learned optimizer: meta-parameters plus a factory of optax transforms.

    Attributes:
        init: ``init(key) -> theta``, fresh meta-parameters (a pytree of arrays).
        optimizer: ``optimizer(theta) -> optax.GradientTransformationExtraArgs``, the drop-in
            optax transform that these meta-parameters define. Its state is a pytree of arrays,
            it works under ``jax.jit`` and inside ``optax.chain``; ``theta`` may be traced, so the
            transform can be differentiated with respect to it (meta-training).
        name: a short name used in reports.
    """

    init: Callable[[jax.Array], Theta]
    optimizer: Callable[[Theta], optax.GradientTransformationExtraArgs]
    name: str = "learned_optimizer"


def make_learned_optimizer(
    name: str,
    init: Callable[[jax.Array], Theta],
    build: Callable[[Theta], optax.GradientTransformationExtraArgs],
) -> LearnedOptimizer:
    """Wraps ``init``/``build`` so that ``optimizer(theta)`` validates ``theta`` first."""
    reference = jax.eval_shape(init, default_key(None))

    def optimizer(theta: Theta) -> optax.GradientTransformationExtraArgs:
        check_theta(theta, reference, name)
        return build(theta)

    return LearnedOptimizer(init=init, optimizer=optimizer, name=name)


def check_theta(theta: Theta, reference: Theta, name: str) -> None:
    """Raises ``ValueError`` unless ``theta`` has the structure and leaf shapes of ``reference``."""
    _checks.check_same_structure(
        theta, reference, "theta", owner=name, hint=" (as returned by init(key))"
    )


def check_hyperparameters(
    fn: str, *, integers: dict | None = None, positive: dict | None = None
) -> None:
    """Raises ``ValueError`` naming ``fn`` unless ``integers`` are positive integers and
    ``positive`` are positive finite numbers."""
    for name, value in (integers or {}).items():
        _checks.check_positive_int(value, f"{fn}: {name}")
    for name, value in (positive or {}).items():
        _checks.check_positive(value, f"{fn}: {name}")


def tree_compute_dtype(tree: Any) -> jnp.dtype:
    """The common floating dtype of a pytree's leaves for optimizer maths (at least float32)."""
    dt = jnp.dtype(jnp.float32)
    for x in jax.tree.leaves(tree):
        dt = jnp.promote_types(dt, jnp.result_type(x))
    return dt


def tree_size(tree: Any) -> int:
    """Total number of coordinates in a pytree (static)."""
    return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def flatten_tree(tree: Any, dtype: jnp.dtype) -> jax.Array:
    """All coordinates of ``tree`` as one vector ``(N,)`` of ``dtype`` (leaves in tree order).

    Coordinate-wise learned optimizers run on this vector, so each step is a few large dense
    ops instead of one small op per leaf.
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((0,), dtype)
    return jnp.concatenate([jnp.ravel(x).astype(dtype) for x in leaves])


def unflatten_like(flat: jax.Array, tree: Any) -> Any:
    """Inverse of :func:`flatten_tree` along the last axis of ``flat``: leaves get ``tree``'s
    shapes (after any leading axes of ``flat``) and dtypes."""
    leaves, treedef = jax.tree.flatten(tree)
    lead, out, start = flat.shape[:-1], [], 0
    for x in leaves:
        size = int(np.size(x))
        out.append(
            flat[..., start : start + size].reshape(*lead, *jnp.shape(x)).astype(jnp.result_type(x))
        )
        start += size
    return jax.tree.unflatten(treedef, out)


def second_moment_normalize(
    x: jax.Array, axis: int | tuple[int, ...] = 0, eps: float = 1e-5
) -> jax.Array:
    r"""Divides by the root mean square over ``axis``: :math:`x / \sqrt{\epsilon + \bar{x^2}}`.

    The feature normalisation of Metz et al. (2020), https://arxiv.org/abs/2009.11243.
    """
    return x * jax.lax.rsqrt(eps + jnp.mean(jnp.square(x), axis=axis, keepdims=True))


def dense_init(key: jax.Array, fan_in: int, fan_out: int, *, scale: float = 1.0) -> dict:
    """LeCun-normal weight ``(fan_in, fan_out)`` and zero bias."""
    w = jax.random.normal(key, (fan_in, fan_out), jnp.float32) * (scale / jnp.sqrt(fan_in))
    return {"w": w, "b": jnp.zeros((fan_out,), jnp.float32)}


def check_update_args(name: str, updates: Any, params: Any, state_size: int) -> None:
    """Raises ``ValueError`` when ``update``'s arguments do not belong together.

    ``updates`` must have ``state_size`` coordinates (the size of the tree the state was made
    for by ``init``), and ``params``, when given, the tree structure and leaf shapes of
    ``updates`` (same dict keys): the learned optimizers work on flattened vectors, so a
    renamed or reordered key would otherwise pair a gradient with the wrong parameter.
    """
    size = tree_size(updates)
    if size != state_size:
        raise ValueError(
            f"{name}: updates have {size} coordinates but the optimizer state was "
            f"initialised for {state_size} (init_fn(params) with these params)"
        )
    if params is not None:
        _checks.check_same_structure(
            params, updates, "params", owner=name, hint=" (the structure of updates: same keys)"
        )


def require_params(params: Any, name: str) -> None:
    """optax convention: transforms that read parameter values need ``params``."""
    if params is None:
        raise ValueError(
            f"{name}: update(...) needs params (pass params=... as in optax.add_decayed_weights)"
        )
