"""Shared pieces of the transferability experiments: a jitted, vmappable softmax regression."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def fit_softmax(x, y, sample_weight, *, num_classes: int, l2: float = 1e-3,
                steps: int = 300, learning_rate: float = 0.05):
    """Multinomial logistic regression: min Σ sᵢ CE(W xᵢ + b, yᵢ)/Σ s + l2/2 ‖W‖², Adam.

    ``sample_weight`` doubles as a mask (0 = not in the training set), so fits on different
    subsets share one compiled function and can be ``vmap``-ed. Returns ``(W, b)``.
    """
    s = sample_weight / jnp.sum(sample_weight)
    onehot = jax.nn.one_hot(y, num_classes, dtype=x.dtype)

    def loss(p):
        w, b = p
        logits = x @ w + b[None, :]
        return (jnp.sum(s * optax.softmax_cross_entropy(logits, onehot))
                + 0.5 * l2 * jnp.sum(w * w))

    opt = optax.adam(learning_rate)
    p0 = (jnp.zeros((x.shape[1], num_classes), x.dtype), jnp.zeros(num_classes, x.dtype))

    def step(carry, _):
        p, st = carry
        u, st = opt.update(jax.grad(loss)(p), st, p)
        return (optax.apply_updates(p, u), st), None

    (p, _), _ = jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)
    return p


def logits(params, x):
    w, b = params
    return x @ w + b[None, :]


def predict(params, x) -> np.ndarray:
    return np.asarray(jnp.argmax(logits(params, jnp.asarray(x)), axis=1))
