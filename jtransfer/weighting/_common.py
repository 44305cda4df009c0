"""Helpers shared by KLIEP and uLSIF: kernel centres and hyperparameter grids (private)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core.kernels import resolve_bandwidth


def choose_centers(key, xt: jax.Array, num_centers: int) -> jax.Array:
    """``min(num_centers, n_t)`` target points drawn without replacement."""
    if not isinstance(num_centers, int | np.integer) or num_centers < 1:
        raise ValueError(f"num_centers must be a positive int, got {num_centers!r}")
    b = min(int(num_centers), xt.shape[0])
    idx = jax.random.choice(key, xt.shape[0], (b,), replace=False)
    return xt[idx]


def bandwidth_spec(bandwidth, bandwidth_grid, xs, xt):
    """Returns the candidate sigmas ``(G, K)`` (G = 1 without a grid) and whether a grid is used."""
    if bandwidth_grid is None:
        sig = resolve_bandwidth("median" if bandwidth is None else bandwidth, xs, xt)
        return sig[None, :], False
    if bandwidth is not None:
        raise ValueError(
            f"pass either bandwidth or bandwidth_grid, not both (got bandwidth={bandwidth!r})"
        )
    grid = grid_values(bandwidth_grid, "bandwidth_grid", xs.dtype)
    return grid[:, None], True


def grid_values(grid, name: str, dtype) -> jax.Array:
    if isinstance(grid, str):
        raise ValueError(f"{name} must be a sequence of positive numbers, got {grid!r}")
    g = jnp.asarray(grid, dtype=dtype)
    if g.ndim != 1 or g.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(g.shape)}")
    _checks.check_positive(np.asarray(grid, dtype=float), name)
    return g
