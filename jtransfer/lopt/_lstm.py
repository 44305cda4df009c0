"""Coordinate-wise LSTM optimizer (Andrychowicz et al., 2016)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.lopt._base import (
    LearnedOptimizer,
    check_hyperparameters,
    compute_dtype,
    dense,
    make_learned_optimizer,
)


class LSTMOptimizerState(NamedTuple):
    """State of :func:`lstm_optimizer`.

    Attributes:
      h: pytree like params; each leaf ``(num_layers, *param.shape, hidden)``, hidden states
        in the compute dtype (``promote_types(param.dtype, float32)``).
      c: pytree like params; the LSTM cell states, same shapes and dtypes as ``h``.
    """

    h: Any
    c: Any


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
    big = jnp.abs(g) >= jnp.exp(-k)
    safe = jnp.where(big, jnp.abs(g), 1.0)
    first = jnp.where(big, jnp.log(safe) / k, -1.0)
    second = jnp.where(big, jnp.sign(g), jnp.exp(k) * g)
    return jnp.stack([first, second], axis=-1).astype(g.dtype)


def _lstm_cell(layer: dict, x: jax.Array, h: jax.Array, c: jax.Array):
    """One LSTM cell on rows: ``x (n, in)``, ``h, c (n, H)`` -> ``(h, c)``."""
    z = dense(layer["x"], x) + h @ layer["h"].astype(x.dtype)
    i, f, o, u = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(u)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


def lstm_optimizer(*, hidden: int = 20, num_layers: int = 2, preprocess_k: float = 10.0,
                   output_scale: float = 0.1) -> LearnedOptimizer:
    r"""Coordinate-wise LSTM optimizer, "learning to learn by gradient descent by gradient descent".

    Every coordinate :math:`i` of every parameter runs the same small LSTM :math:`m` with its
    own hidden state:

    .. math::
        (u_t^i, h_{t+1}^i) = m(\mathrm{pre}(\nabla_t^i), h_t^i; \phi), \qquad
        \theta_{t+1}^i = \theta_t^i + \alpha\, u_t^i,

    where :math:`\mathrm{pre}` is :func:`preprocess_gradient` with cut-off :math:`k` and
    :math:`\alpha` is ``output_scale`` (0.1 in the paper). The update is returned in optax's
    convention (added to the parameters by ``optax.apply_updates``).

    Args:
      hidden: LSTM units per layer (20 in the paper).
      num_layers: stacked LSTM layers (2 in the paper).
      preprocess_k: the preprocessing cut-off :math:`k` (10 in the paper).
      output_scale: the output multiplier :math:`\alpha`.

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
    check_hyperparameters("lstm_optimizer", integers={"hidden": hidden, "num_layers": num_layers},
                          positive={"preprocess_k": preprocess_k, "output_scale": output_scale})

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, 2 * num_layers + 1)
        layers = []
        fan_in = 2
        for l in range(num_layers):
            wx = jax.random.normal(keys[2 * l], (fan_in, 4 * hidden)) / jnp.sqrt(fan_in)
            wh = jax.random.normal(keys[2 * l + 1], (hidden, 4 * hidden)) / jnp.sqrt(hidden)
            # Forget-gate bias 1 (gate order i, f, o, u): remember by default.
            b = jnp.zeros((4 * hidden,)).at[hidden:2 * hidden].set(1.0)
            layers.append({"x": {"w": wx, "b": b}, "h": wh})
            fan_in = hidden
        out_w = jax.random.normal(keys[-1], (hidden, 1)) * (0.1 / jnp.sqrt(hidden))
        return {"layers": layers, "out": {"w": out_w, "b": jnp.zeros((1,))}}

    def build(theta: dict) -> optax.GradientTransformationExtraArgs:
        def init_fn(params):
            def zeros(p):
                return jnp.zeros((num_layers, *jnp.shape(p), hidden), compute_dtype(p))
            h = jax.tree.map(zeros, params)
            return LSTMOptimizerState(h=h, c=jax.tree.map(zeros, params))

        def leaf_update(g, h, c):
            dt = h.dtype
            x = preprocess_gradient(g.reshape(-1).astype(dt), preprocess_k)
            hs, cs = [], []
            for l, layer in enumerate(theta["layers"]):
                hl, cl = _lstm_cell(layer, x, h[l].reshape(-1, hidden),
                                    c[l].reshape(-1, hidden))
                hs.append(hl.reshape(h.shape[1:]))
                cs.append(cl.reshape(h.shape[1:]))
                x = hl
            u = output_scale * dense(theta["out"], x)[:, 0]
            return u.reshape(jnp.shape(g)).astype(jnp.result_type(g)), jnp.stack(hs), jnp.stack(cs)

        def update_fn(updates, state, params=None, **extra_args):
            del params, extra_args
            out = jax.tree.map(leaf_update, updates, state.h, state.c)
            treedef = jax.tree.structure(updates)
            u, h, c = (jax.tree.unflatten(treedef, [t[i] for t in treedef.flatten_up_to(out)])
                       for i in range(3))
            return u, LSTMOptimizerState(h=h, c=c)

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    return make_learned_optimizer("lstm", init, build)
