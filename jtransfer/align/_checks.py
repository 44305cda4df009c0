"""Input validation shared by ``jtransfer.align`` and ``jtransfer.weighting`` (private).

Shape and rank checks run at trace time and always raise ``ValueError`` naming the argument and
its shape. Value checks (NaN/Inf, non-positive numbers) need concrete values: they run when the
argument is a concrete array or Python number and are skipped for tracers, so calling a function
inside ``jax.jit`` costs nothing extra (that is the opt-out for hot loops).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds values we can read now (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def as_float(x, name: str) -> jax.Array:
    """Converts to a floating JAX array (ints promote to the default float dtype)."""
    try:
        arr = jnp.asarray(x)
    except TypeError as e:
        raise ValueError(f"{name} must be an array, got {type(x).__name__}") from e
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def check_finite(x: jax.Array, name: str) -> None:
    """Raises if a concrete array holds NaN or Inf."""
    if is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"{name} contains NaN or Inf (shape {tuple(x.shape)})")


def check_samples(x, name: str, *, min_samples: int = 2) -> jax.Array:
    """Validates a sample matrix ``(n, d)`` with ``n >= min_samples``; returns it as an array."""
    arr = as_float(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"{name} needs at least {min_samples} samples, got shape {tuple(arr.shape)}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature, got shape {tuple(arr.shape)}")
    check_finite(arr, name)
    return arr


def check_pair(x, y, xname: str, yname: str, *, min_samples: int = 2):
    """Validates two samples with the same feature dimension."""
    x = check_samples(x, xname, min_samples=min_samples)
    y = check_samples(y, yname, min_samples=min_samples)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{xname} and {yname} must have the same feature dimension, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}")
    dtype = jnp.result_type(x.dtype, y.dtype)
    return x.astype(dtype), y.astype(dtype)


def check_positive(value, name: str) -> None:
    """Raises if a concrete scalar/array is not strictly positive (or not finite)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")


def check_weights(weights, name: str, n: int, other: str) -> jax.Array:
    """Validates weights of shape ``(n,)``: finite, non-negative, positive sum (when concrete)."""
    w = as_float(weights, name)
    if w.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) to match {other}, got shape {tuple(w.shape)}")
    if is_concrete(w):
        wn = np.asarray(w)
        if not np.all(np.isfinite(wn)):
            raise ValueError(f"{name} contains NaN or Inf (shape {tuple(w.shape)})")
        if np.any(wn < 0):
            raise ValueError(f"{name} must be non-negative (shape {tuple(w.shape)})")
        if not wn.sum() > 0:
            raise ValueError(
                f"{name} must have a positive sum, got {float(wn.sum())} "
                f"(shape {tuple(w.shape)})")
    return w


def check_choice(value, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
