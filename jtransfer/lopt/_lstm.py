"""Coordinate-wise LSTM optimizer (Andrychowicz et al., 2016)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.lopt._base import (
    LearnedOptimizer,
    check_hyperparameters,
    check_update_args,
    flatten_tree,
    make_learned_optimizer,
    tree_compute_dtype,
    tree_size,
    unflatten_like,
)


class LSTMOptimizerState(NamedTuple):
    """State of :func:`lstm_optimizer`.

    All coordinates of all parameters (``N``, leaves in ``jax.tree.leaves`` order) are laid
    out as ``B = N // chunk_size`` chunks of ``chunk_size`` coordinates (coordinate ``i < B *
    chunk_size`` is column ``i % chunk_size`` of chunk ``i // chunk_size``) and a tail of the
    last ``R = N % chunk_size``. One update is a loop over the chunks, each a few small matmuls
    and fused elementwise ops over ``(features, chunk_size)`` arrays that stay in the CPU's
    cache (the gate pre-activations of all ``N`` coordinates are never written to memory),
    then the same on the tail.

    Attributes:
      h: tuple of ``num_layers`` pairs ``(chunks (B, hidden, chunk_size), tail (hidden, R))``,
        the hidden states, in the compute dtype (the promotion of the parameters' dtypes with
        float32); an empty part (``B = 0`` or ``R = 0``) is ``None``.
      c: the LSTM cell states, same layout and dtype.
    """

    h: tuple[jax.Array, ...]
    c: tuple[jax.Array, ...]


def preprocess_gradient(g: jax.Array, k: float = 10.0) -> jax.Array:
    r"""The log/sign gradient preprocessing of Andrychowicz et al. (2016), appendix A.

    .. math::
        \nabla \mapsto \begin{cases}
          (\log|\nabla| / k,\ \operatorname{sign}(\nabla)) & |\nabla| \ge e^{-k} \\
          (-1,\ e^{k} \nabla) & \text{otherwise.}
        \end{cases}

    Args:
      g: gradient, any shape.
      k: the cut-off exponent (> 0).

    Returns:
      Array ``g.shape + (2,)`` in ``g``'s dtype.
    """
    if k <= 0:
        raise ValueError(f"preprocess_gradient: k must be positive, got {k}")
    g = jnp.asarray(g)
    return jnp.moveaxis(_preprocess_rows(g.reshape(-1), k), 0, -1).reshape(*g.shape, 2)


def _preprocess_rows(g: jax.Array, k: float) -> jax.Array:
    """:func:`preprocess_gradient` of a vector ``g (N,)`` as rows ``(2, N)``."""
    big = jnp.abs(g) >= jnp.exp(-k)
    safe = jnp.where(big, jnp.abs(g), 1.0)
    first = jnp.where(big, jnp.log(safe) / k, -1.0)
    second = jnp.where(big, jnp.sign(g), jnp.exp(k) * g)
    return jnp.stack([first, second]).astype(g.dtype)


def _lstm_cell(layer: dict, x: jax.Array, h: jax.Array, c: jax.Array):
    """One LSTM cell on columns: ``x (in, N)``, ``h, c (H, N)`` -> ``(h, c)``.

    One matmul ``[W_x; W_h]^T [x; h]`` gives the four gate pre-activations ``(4H, N)``
    (gate order i, f, o, u along rows); every elementwise op then runs along ``N``.
    """
    dt = x.dtype
    w = jnp.concatenate([layer["x"]["w"], layer["h"]], axis=0).astype(dt)  # (in + H, 4H)
    z = w.T @ jnp.concatenate([x, h], axis=0) + layer["x"]["b"].astype(dt)[:, None]
    i, f, o, u = jnp.split(z, 4, axis=0)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(u)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


def lstm_optimizer(
    *,
    hidden: int = 20,
    num_layers: int = 2,
    preprocess_k: float = 10.0,
    output_scale: float = 0.1,
    chunk_size: int = 16384,
) -> LearnedOptimizer:
    r"""Coordinate-wise LSTM optimizer, "learning to learn by gradient descent by gradient descent".

    Every coordinate :math:`i` of every parameter runs the same small LSTM :math:`m` with its
    own hidden state:

    .. math::
        (u_t^i, h_{t+1}^i) = m(\mathrm{pre}(\nabla_t^i), h_t^i; \phi), \qquad
        \theta_{t+1}^i = \theta_t^i + \alpha\, u_t^i,

    where :math:`\mathrm{pre}` is :func:`preprocess_gradient` with cut-off :math:`k` and
    :math:`\alpha` is ``output_scale`` (0.1 in the paper). The update is returned in optax's
    convention (added to the parameters by ``optax.apply_updates``).

    Implementation: all coordinates of all parameter leaves are flattened into one axis of
    length ``N`` and cut into chunks of ``chunk_size`` (and a tail); per chunk a step is one
    ``(4H, in + H) @ (in + H, chunk)`` matmul per layer followed by fused elementwise gate
    maths (no per-leaf or per-coordinate small ops), so the ``(4H, chunk)`` gate
    pre-activations stay in cache instead of making a round trip to memory (on CPU half the
    time of an update with one ``(4H, N)`` product for ~100k coordinates). The
    arithmetic is about ``2 N (4H (2 + H) + 4H (2H) + H)`` flops, roughly 10k per coordinate
    for the paper's sizes: on a ~100k-parameter MLP at batch 128 that is ~20x the flops of the
    training step itself, which bounds the wall-time ratio to ``optax.adam`` from below.

    Args:
      hidden: LSTM units per layer (20 in the paper).
      num_layers: stacked LSTM layers (2 in the paper).
      preprocess_k: the preprocessing cut-off :math:`k` (10 in the paper).
      output_scale: the output multiplier :math:`\alpha`.
      chunk_size: coordinates per chunk of the state layout (see
        :class:`LSTMOptimizerState`); a performance knob, the updates do not depend on it
        beyond float rounding. 16384 (4096 before issue 21's second pass): 1-12 % less CPU
        time per training step of the ~100k-parameter MLP than 4096 in each of 6 rounds on
        the shared 2-core CPU (8192 and 32768 in between); parameters with fewer
        coordinates than ``chunk_size`` are all in the tail, unaffected.

    Returns:
      A :class:`LearnedOptimizer` whose ``init(key)`` returns
      ``{"layers": [{"x": {"w", "b"}, "h": (H, 4H)}, ...], "out": {"w", "b"}}``.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> lopt = lstm_optimizer()
      >>> opt = lopt.optimizer(lopt.init(jax.random.key(0)))
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)

    References:
      Andrychowicz et al., 2016, https://arxiv.org/abs/1606.04474
    """
    check_hyperparameters(
        "lstm_optimizer",
        integers={"hidden": hidden, "num_layers": num_layers, "chunk_size": chunk_size},
        positive={"preprocess_k": preprocess_k, "output_scale": output_scale},
    )

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, 2 * num_layers + 1)
        layers = []
        fan_in = 2
        for l in range(num_layers):
            wx = jax.random.normal(keys[2 * l], (fan_in, 4 * hidden)) / jnp.sqrt(fan_in)
            wh = jax.random.normal(keys[2 * l + 1], (hidden, 4 * hidden)) / jnp.sqrt(hidden)
            # Forget-gate bias 1 (gate order i, f, o, u): remember by default.
            b = jnp.zeros((4 * hidden,)).at[hidden : 2 * hidden].set(1.0)
            layers.append({"x": {"w": wx, "b": b}, "h": wh})
            fan_in = hidden
        out_w = jax.random.normal(keys[-1], (hidden, 1)) * (0.1 / jnp.sqrt(hidden))
        return {"layers": layers, "out": {"w": out_w, "b": jnp.zeros((1,))}}

    def build(theta: dict) -> optax.GradientTransformationExtraArgs:
        def init_fn(params):
            n, dt = tree_size(params), tree_compute_dtype(params)
            # an empty part is None, not a zero-size array (orbax cannot save those)
            body = jnp.zeros((n // chunk_size, hidden, chunk_size), dt) if n >= chunk_size else None
            rem = n % chunk_size
            tail = jnp.zeros((hidden, rem), dt) if rem or body is None else None
            pair = (body, tail)
            return LSTMOptimizerState(h=(pair,) * num_layers, c=(pair,) * num_layers)

        def cells(x, h, c):  # x (2, m), h[l] and c[l] (H, m) -> u (m,), new h, new c
            hs, cs = [], []
            for l, layer in enumerate(theta["layers"]):
                x, cl = _lstm_cell(layer, x, h[l], c[l])
                hs.append(x)
                cs.append(cl)
            dt = x.dtype
            out = theta["out"]["w"].astype(dt).T @ x + theta["out"]["b"].astype(dt)[:, None]
            return output_scale * out[0], tuple(hs), tuple(cs)

        def update_fn(updates, state, params=None, **extra_args):
            del extra_args
            (body, tail) = state.h[0]
            nb = 0 if body is None else body.shape[0] * body.shape[2]
            size = 0 if tail is None else tail.shape[1]
            check_update_args("lstm_optimizer", updates, params, nb + size)
            dt = (tail if body is None else body).dtype
            x = _preprocess_rows(flatten_tree(updates, dt), preprocess_k)  # (2, N)
            us, hs, cs = [], [[] for _ in state.h], [[] for _ in state.h]
            if nb:
                xb = x[:, :nb].reshape(2, body.shape[0], chunk_size).transpose(1, 0, 2)
                u, hb, cb = jax.lax.map(
                    lambda a: cells(*a),
                    (xb, tuple(p[0] for p in state.h), tuple(p[0] for p in state.c)),
                )
                us.append(u.reshape(-1))
                for l in range(num_layers):
                    hs[l].append(hb[l])
                    cs[l].append(cb[l])
            else:
                for l in range(num_layers):
                    hs[l].append(state.h[l][0])
                    cs[l].append(state.c[l][0])
            if size:
                u, ht, ct = cells(
                    x[:, nb:], tuple(p[1] for p in state.h), tuple(p[1] for p in state.c)
                )
                us.append(u)
                for l in range(num_layers):
                    hs[l].append(ht[l])
                    cs[l].append(ct[l])
            else:
                for l in range(num_layers):
                    hs[l].append(state.h[l][1])
                    cs[l].append(state.c[l][1])
            if not us:  # no coordinates at all
                us.append(jnp.zeros((0,), dt))
            u = us[0] if len(us) == 1 else jnp.concatenate(us)
            new = LSTMOptimizerState(h=tuple(map(tuple, hs)), c=tuple(map(tuple, cs)))
            return unflatten_like(u, updates), new

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    return make_learned_optimizer("lstm", init, build)
