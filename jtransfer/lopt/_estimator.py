"""The meta-gradient estimator protocol and the helpers its implementations share.

An estimator is a :class:`MetaGradientEstimator` ``(init, update)`` pair of pure functions, in
the optax shape with a key:

* ``init(theta, *, key=None) -> state`` (``key`` draws the first tasks and inner
  initialisations; None is ``jax.random.key(0)``);
* ``update(theta, state, *, key) -> (meta_loss, meta_grad, state)``; ``meta_grad`` has the
  structure of ``theta``. Jit it; feed ``meta_grad`` to any optax optimizer of ``theta``.

Where it departs from ``optax.GradientTransformation``: an estimator does not transform
incoming updates, it *produces* the gradient from ``theta`` and fresh randomness, and it
returns the meta-loss next to it (needed for logging and for the tests' finite differences).
Forcing it into ``update(updates, state, params)`` would need a dummy ``updates`` argument and
would hide the loss, so ``theta`` comes first and ``key`` is a required keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jtransfer.lopt._base import Theta
from jtransfer.lopt._unroll import _positive_int


class MetaGradientEstimator(NamedTuple):
    """An optax-style pair of pure functions that estimates meta-gradients.

    Attributes:
      init: ``init(theta, *, key=None) -> state``.
      update: ``update(theta, state, *, key) -> (meta_loss, meta_grad, state)``, where
        ``meta_grad`` has the structure of ``theta``; jit it.
    """

    init: Callable[..., Any]
    update: Callable[..., tuple[jax.Array, Theta, Any]]


def _tree_normal(key: jax.Array, theta: Theta, n: int, sigma: float) -> Theta:
    leaves, treedef = jax.tree.flatten(theta)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef,
        [
            sigma * jax.random.normal(k, (n, *jnp.shape(x)), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ],
    )


def _weighted_mean(weights: jax.Array, tree: Theta) -> Theta:
    """``mean_i weights[i] * tree[i]`` leafwise."""
    return jax.tree.map(
        lambda x: jnp.tensordot(weights.astype(x.dtype), x, axes=1) / weights.shape[0], tree
    )


_SIGNS = jnp.array([1.0, -1.0])


def _check_mesh(mesh, axis_name, population, fn, what="population"):
    if mesh is None:
        return
    if axis_name not in mesh.axis_names:
        raise ValueError(f"{fn}: axis {axis_name!r} is not in the mesh axes {mesh.axis_names}")
    if population % mesh.shape[axis_name]:
        raise ValueError(
            f"{fn}: {what} {population} is not divisible by the "
            f"{mesh.shape[axis_name]} devices of mesh axis {axis_name!r}"
        )


def _check_es(sigma, population, fn):
    if not sigma > 0:
        raise ValueError(f"{fn}: sigma must be positive, got {sigma}")
    return _positive_int(population, "population", fn)
