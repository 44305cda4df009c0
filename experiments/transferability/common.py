"""Shared pieces of the transferability experiments: a jitted, vmappable softmax regression
and the full-batch optimisation loop it runs on."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def fit_softmax(
    x,
    y,
    sample_weight,
    *,
    num_classes: int,
    l2: float = 1e-3,
    steps: int = 300,
    learning_rate: float = 0.05,
):
    """Multinomial logistic regression: min Σ sᵢ CE(W xᵢ + b, yᵢ)/Σ s + l2/2 ‖W‖², Adam.

    ``sample_weight`` doubles as a mask (0 = not in the training set), so fits on different
    subsets share one compiled function and can be ``vmap``-ed. Returns ``(W, b)``.
    """
    s = sample_weight / jnp.sum(sample_weight)
    onehot = jax.nn.one_hot(y, num_classes, dtype=x.dtype)

    def loss(p):
        w, b = p
        logits = x @ w + b[None, :]
        return jnp.sum(s * optax.softmax_cross_entropy(logits, onehot)) + 0.5 * l2 * jnp.sum(w * w)

    p0 = (jnp.zeros((x.shape[1], num_classes), x.dtype), jnp.zeros(num_classes, x.dtype))
    return minimise(loss, p0, optax.adam(learning_rate), steps)


def minimise(loss, p0, opt: optax.GradientTransformation, steps: int):
    """``steps`` full-batch steps of ``opt`` on ``loss(p)`` from ``p0`` (a ``lax.scan``; call
    it under ``jit``). Returns the final parameters."""

    def step(carry, _):
        p, st = carry
        u, st = opt.update(jax.grad(loss)(p), st, p)
        return (optax.apply_updates(p, u), st), None

    (p, _), _ = jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)
    return p


def fit_many(x, y, weights, l2s, *, num_classes: int, steps: int, mesh=None):
    """``fit_softmax`` for F (sample-weight, L2) pairs at once: ``weights (F, n)``, ``l2s (F,)``.

    The F fits run as one ``vmap``. With a ``mesh`` (one axis, ``config.mesh_shape``), the fit
    axis is sharded over its devices (x and y replicated): the fits are independent, so this
    is embarrassingly parallel and gives the 1-device result. F is padded with copies of the
    last fit to a multiple of the mesh size and the padding is dropped from the result.
    Returns stacked ``(W (F, d, C), b (F, C))``.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    weights = jnp.asarray(weights, x.dtype)
    l2s = jnp.asarray(l2s, x.dtype)
    if weights.ndim != 2 or weights.shape[1] != x.shape[0] or l2s.shape != weights.shape[:1]:
        raise ValueError(
            f"weights must be (F, n={x.shape[0]}) and l2s (F,), got {weights.shape} and {l2s.shape}"
        )
    num = weights.shape[0]
    if mesh is not None and mesh.size > 1:
        pad = -num % mesh.size
        weights = jnp.concatenate([weights, jnp.repeat(weights[-1:], pad, 0)])
        l2s = jnp.concatenate([l2s, jnp.repeat(l2s[-1:], pad, 0)])
        spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(mesh.axis_names[0]))
        rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        weights, l2s = jax.device_put(weights, spec), jax.device_put(l2s, spec)
        x, y = jax.device_put(x, rep), jax.device_put(y, rep)
    params = _fit_many(x, y, weights, l2s, num_classes=num_classes, steps=steps)
    return jax.tree.map(lambda a: a[:num], params)


@functools.partial(jax.jit, static_argnames=("num_classes", "steps"))
def _fit_many(x, y, weights, l2s, *, num_classes, steps):
    return jax.vmap(
        lambda w, l2: fit_softmax(x, y, w, num_classes=num_classes, l2=l2, steps=steps)
    )(weights, l2s)


def make_mesh(config):
    """The ``("fit",)`` mesh of ``config.mesh_shape`` (default (1,); -1 = every device), or
    None for one device."""
    from jtransfer import parallel

    return parallel.mesh_from_config(config, "fit")


def logits(params, x):
    w, b = params
    return x @ w + b[None, :]


def predict(params, x) -> np.ndarray:
    return np.asarray(jnp.argmax(logits(params, jnp.asarray(x)), axis=1))


def spearman_rows(a, b) -> np.ndarray:
    """Spearman ρ of each row pair of ``a`` and ``b`` (shape ``(R, n)``): the Pearson
    correlation of average ranks (ties share their mean rank, as ``scipy.stats.spearmanr``).
    NaN for a constant row. Vectorised for bootstrap resamples."""
    from scipy.stats import rankdata

    ra = rankdata(np.asarray(a, np.float64), axis=1)
    rb = rankdata(np.asarray(b, np.float64), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def kendall_rows(a, b) -> np.ndarray:
    """Kendall τ_b of each row pair of ``a`` and ``b`` (shape ``(R, n)``), as
    ``scipy.stats.kendalltau`` (variant b):
    ``Σ_{i<j} sgn(a_i − a_j) sgn(b_i − b_j) / sqrt((n₀ − t_a)(n₀ − t_b))`` with ``n₀`` the
    number of pairs and ``t_a``, ``t_b`` the pairs tied in ``a``, ``b``. NaN for a constant
    row."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = a.shape[1]
    iu = np.triu_indices(n, 1)
    da = np.sign(a[:, :, None] - a[:, None, :])[:, iu[0], iu[1]]
    db = np.sign(b[:, :, None] - b[:, None, :])[:, iu[0], iu[1]]
    den = np.sqrt(np.count_nonzero(da, 1) * np.count_nonzero(db, 1).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (da * db).sum(1) / np.where(den > 0, den, 1.0), np.nan)
