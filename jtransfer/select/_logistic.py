"""A small L2-regularised logistic regression in JAX (domain classifiers)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class Logistic(NamedTuple):
    """A fitted binary logistic model on standardised inputs."""

    w: jax.Array  # (d,) weights on standardised inputs
    b: jax.Array  # () bias
    mean: jax.Array  # (d,) input mean of the training data
    scale: jax.Array  # (d,) input standard deviation (floored)

    def logits(self, x: jax.Array) -> jax.Array:
        return ((x - self.mean[None, :]) / self.scale[None, :]) @ self.w + self.b


@functools.partial(jax.jit, static_argnames=("steps",))
def fit_logistic(
    x: jax.Array,
    t: jax.Array,
    *,
    l2: float = 1e-3,
    steps: int = 300,
    learning_rate: float = 0.1,
    sample_weight: jax.Array | None = None,
) -> Logistic:
    r"""Minimises :math:`\frac1{\sum s_i}\sum_i s_i\,\mathrm{BCE}(w^\top\tilde x_i+b, t_i)
    + \frac{l_2}{2}\|w\|^2` with full-batch Adam on standardised inputs
    :math:`\tilde x`. ``t`` holds 0/1 targets; ``sample_weight`` defaults to ones."""
    mean = x.mean(0)
    scale = jnp.maximum(x.std(0), 1e-6)
    xs = (x - mean[None, :]) / scale[None, :]
    s = jnp.ones(x.shape[0], x.dtype) if sample_weight is None else sample_weight
    s = s / s.sum()

    def loss(p):
        w, b = p
        z = xs @ w + b
        return jnp.sum(s * optax.sigmoid_binary_cross_entropy(z, t)) + 0.5 * l2 * w @ w

    opt = optax.adam(learning_rate)
    p0 = (jnp.zeros(x.shape[1], x.dtype), jnp.zeros((), x.dtype))

    def step(carry, _):
        p, st = carry
        g = jax.grad(loss)(p)
        u, st = opt.update(g, st, p)
        return (optax.apply_updates(p, u), st), None

    (p, _), _ = jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)
    return Logistic(p[0], p[1], mean, scale)
