"""Result types of the density-ratio estimators (private module)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jtransfer._core import checks as _checks
from jtransfer._core.distances import pairwise_sq_dists
from jtransfer._core.kernels import kernel_from_sq_dists


def _new_points(x, d, name="x"):
    x = _checks.check_samples(x, name, min_samples=1)
    if x.shape[1] != d:
        raise ValueError(
            f"{name} must have {d} features like the fitted sample, got shape {tuple(x.shape)}"
        )
    return x


class DensityRatio(NamedTuple):
    """A fitted kernel model of the density ratio, :math:`\\hat w(x) = \\sum_l \\alpha_l
    k(x, c_l)` (KLIEP, uLSIF). A pytree; ``predict`` evaluates it at new points."""

    weights: jax.Array  # (n_s,) w(x) at the source points
    alpha: jax.Array  # (b,) non-negative coefficients
    centers: jax.Array  # (b, d) kernel centres (a subset of the target sample)
    bandwidth: jax.Array  # (K,) the sigmas used (after selection)
    lam: jax.Array | None = None  # () ridge used (uLSIF only)
    cv_scores: jax.Array | None = None  # grid of selection scores (when a grid was given)

    def predict(self, x: jax.Array) -> jax.Array:
        """:math:`\\hat w(x)` for new points ``x (n, d)`` -> ``(n,)``."""
        x = _new_points(x, self.centers.shape[1]).astype(self.centers.dtype)
        k = kernel_from_sq_dists(pairwise_sq_dists(x, self.centers), self.bandwidth)
        return k @ self.alpha


class KDERatio(NamedTuple):
    """Ratio of two Gaussian kernel density estimates, :math:`\\hat q(x)/\\hat p(x)`."""

    weights: jax.Array  # (n_s,) ratio at the source points
    source: jax.Array  # (n_s, d)
    target: jax.Array  # (n_t, d)
    bandwidth: jax.Array  # (K,) sigmas

    def predict(self, x: jax.Array) -> jax.Array:
        """:math:`\\hat q(x)/\\hat p(x)` for new points ``x (n, d)`` -> ``(n,)``."""
        x = _new_points(x, self.source.shape[1]).astype(self.source.dtype)
        return kde_ratio_at(x, self.source, self.target, self.bandwidth)


def kde_ratio_at(x, xs, xt, sig):
    q = jnp.mean(kernel_from_sq_dists(pairwise_sq_dists(x, xt), sig), axis=1)
    p = jnp.mean(kernel_from_sq_dists(pairwise_sq_dists(x, xs), sig), axis=1)
    return q / p


class KMMResult(NamedTuple):
    """Kernel mean matching weights and solver diagnostics (no out-of-sample function)."""

    weights: jax.Array  # (n_s,) beta, in [0, B]
    num_iters: jax.Array  # () ADMM iterations
    converged: jax.Array  # () bool
    primal_residual: jax.Array  # ()
    dual_residual: jax.Array  # ()
