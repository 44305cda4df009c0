"""Type aliases used in signatures across jtransfer (private)."""

from __future__ import annotations

from typing import Any, TypeAlias

import jax
import numpy as np

Array: TypeAlias = jax.Array
"""A JAX array (inputs may also be NumPy arrays; they are converted)."""

ArrayLike: TypeAlias = jax.Array | np.ndarray | float | int
"""Anything ``jnp.asarray`` accepts as numbers."""

Scalar: TypeAlias = float | int | jax.Array
"""A Python number or a 0-d array (possibly traced)."""

PyTree: TypeAlias = Any
"""A pytree of arrays (dicts, lists, tuples, NamedTuples of arrays)."""

__all__ = ["Array", "ArrayLike", "PyTree", "Scalar"]
