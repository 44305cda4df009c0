"""Input validation shared by the ``select`` functions (raise ``ValueError`` at trace time)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def as_float(x, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if is_concrete(x) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or Inf (shape {x.shape})")
    return x


def check_matrix(x, name: str, *, min_rows: int = 2) -> jax.Array:
    x = as_float(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {x.shape}")
    return x


def check_vector(x, name: str, n: int | None = None, other: str = "") -> jax.Array:
    x = as_float(x, name)
    if x.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{name} has shape {x.shape} but {other} has {n} rows")
    return x


def check_labels(labels, name: str, n: int, other: str, *,
                 num_classes: int | None = None, min_classes: int = 2) -> tuple[jax.Array, int]:
    """Integer labels of shape (n,) in 0..C-1; returns (labels, C). Needs concrete labels
    unless ``num_classes`` is given."""
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has shape {labels.shape} but {other} has {n} rows "
                         "(label count mismatch)")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        if is_concrete(labels) and not np.all(np.mod(np.asarray(labels), 1) == 0):
            raise ValueError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
        labels = labels.astype(jnp.int32)
    if is_concrete(labels):
        lab = np.asarray(labels)
        if lab.min() < 0:
            raise ValueError(f"{name} must be non-negative class ids, got min {lab.min()}")
        present = np.unique(lab).size
        if present < min_classes:
            raise ValueError(f"{name} must contain at least {min_classes} classes, got "
                             f"{present} (shape {labels.shape})")
        inferred = int(lab.max()) + 1
        if num_classes is None:
            num_classes = inferred
        elif inferred > num_classes:
            raise ValueError(f"{name} has class id {inferred - 1} >= num_classes={num_classes}")
    elif num_classes is None:
        raise ValueError(f"{name} is traced: pass num_classes explicitly")
    return labels, int(num_classes)


def check_positive(value, name: str) -> None:
    if is_concrete(value) and not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
