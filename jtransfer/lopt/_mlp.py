"""Per-parameter MLP optimizer over normalised gradient/momentum features (Metz et al.)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jtransfer.lopt._base import (
    LearnedOptimizer,
    check_hyperparameters,
    check_update_args,
    dense_init,
    flatten_tree,
    make_learned_optimizer,
    require_params,
    second_moment_normalize,
    tree_compute_dtype,
    tree_size,
    unflatten_like,
)


class MLPOptimizerState(NamedTuple):
    """State of :func:`mlp_optimizer`.

    All coordinates of all parameters lie along one axis ``N`` (leaves in ``jax.tree.leaves``
    order), so an update is a few dense ``(features, N)`` ops.

    Attributes:
      momenta: ``(len(decays), N)``, EMAs of the gradient at each decay.
      rms: ``(N,)``, EMA of the squared gradient.
      count: int32 scalar, number of updates so far.
    """

    momenta: jax.Array
    rms: jax.Array
    count: jax.Array


_TIMESCALES = (1.0, 10.0, 100.0, 1000.0)


def _normalize_per_leaf(feats: jax.Array, sizes: list[int]) -> jax.Array:
    """:func:`second_moment_normalize` of each row of ``feats (F, N)`` over each parameter
    tensor's coordinates separately (``sizes`` are the leaves' sizes, in order)."""
    bounds = np.cumsum([0, *sizes])
    return jnp.concatenate(
        [
            second_moment_normalize(feats[:, a:b], axis=1)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ],
        axis=1,
    )


def mlp_optimizer(
    *,
    hidden: int = 32,
    num_layers: int = 2,
    decays: Sequence[float] = (0.5, 0.9, 0.99, 0.999),
    rms_decay: float = 0.999,
    step_mult: float = 0.01,
    exp_mult: float = 0.01,
) -> LearnedOptimizer:
    r"""Per-parameter MLP learned optimizer in the style of Metz et al. (2019, 2020).

    For each coordinate the features are the parameter value :math:`p`, the gradient
    :math:`g`, momenta :math:`m_\beta \leftarrow \beta m_\beta + (1-\beta) g` at several decays,
    :math:`\sqrt{v}` with :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`, and
    :math:`m_\beta / \sqrt{v + \epsilon}`; each feature is divided by its root mean square over
    the parameter tensor, and :math:`\tanh(t/\tau)` time features are appended. A small MLP maps
    the features to a direction :math:`d` and a log-magnitude :math:`s`:

    .. math::
        \Delta p = -\,\eta_d\, d \exp(\eta_s s),

    with :math:`\eta_d` = ``step_mult`` and :math:`\eta_s` = ``exp_mult``.

    Args:
      hidden: width of the hidden layers.
      num_layers: number of hidden layers.
      decays: momentum decays :math:`\beta`, each in (0, 1).
      rms_decay: decay :math:`\beta_2` of the squared-gradient EMA, in (0, 1).
      step_mult: :math:`\eta_d` (> 0).
      exp_mult: :math:`\eta_s` (> 0).

    Returns:
      A :class:`LearnedOptimizer`; its transform needs ``params`` in ``update``.

    References:
      Metz et al., 2019, https://arxiv.org/abs/1810.10180 ;
      Metz et al., 2020, https://arxiv.org/abs/2009.11243
    """
    decays = tuple(float(b) for b in decays)
    if not decays or not all(0.0 < b < 1.0 for b in (*decays, rms_decay)):
        raise ValueError(
            f"mlp_optimizer: decays {decays} and rms_decay {rms_decay} must be "
            "non-empty and in (0, 1)"
        )
    check_hyperparameters(
        "mlp_optimizer",
        integers={"hidden": hidden, "num_layers": num_layers},
        positive={"step_mult": step_mult, "exp_mult": exp_mult},
    )
    num_features = 3 + 2 * len(decays) + len(_TIMESCALES)

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, num_layers + 1)
        fan_in, layers = num_features, []
        for l in range(num_layers):
            layers.append(dense_init(keys[l], fan_in, hidden))
            fan_in = hidden
        return {"layers": layers, "out": dense_init(keys[-1], fan_in, 2, scale=0.1)}

    def build(theta: dict) -> optax.GradientTransformationExtraArgs:
        def init_fn(params):
            dt, n = tree_compute_dtype(params), tree_size(params)
            return MLPOptimizerState(
                momenta=jnp.zeros((len(decays), n), dt),
                rms=jnp.zeros((n,), dt),
                count=jnp.zeros([], jnp.int32),
            )

        def update_fn(updates, state, params=None, **extra_args):
            del extra_args
            require_params(params, "mlp_optimizer")
            check_update_args("mlp_optimizer", updates, params, state.rms.shape[0])
            dt = state.rms.dtype
            t = state.count + 1
            g, p = flatten_tree(updates, dt), flatten_tree(params, dt)
            bd = jnp.asarray(decays, dt)[:, None]
            m = bd * state.momenta + (1 - bd) * g[None]
            v = rms_decay * state.rms + (1 - rms_decay) * jnp.square(g)
            rsqrt = jax.lax.rsqrt(v + 1e-8)
            feats = jnp.concatenate([p[None], g[None], jnp.sqrt(v)[None], m, m * rsqrt[None]])
            feats = _normalize_per_leaf(feats, [int(np.size(x)) for x in jax.tree.leaves(params)])
            # The time features are the same for every coordinate: fold them into the bias.
            first, *rest = theta["layers"]
            w = first["w"].astype(dt)
            tfeat = jnp.tanh(t.astype(dt) / jnp.asarray(_TIMESCALES, dt))
            bias = first["b"].astype(dt) + tfeat @ w[feats.shape[0] :]
            x = jax.nn.relu(w[: feats.shape[0]].T @ feats + bias[:, None])
            for layer in rest:
                x = jax.nn.relu(layer["w"].astype(dt).T @ x + layer["b"].astype(dt)[:, None])
            out = theta["out"]["w"].astype(dt).T @ x + theta["out"]["b"].astype(dt)[:, None]
            step = -step_mult * out[0] * jnp.exp(exp_mult * out[1])
            return unflatten_like(step, updates), MLPOptimizerState(momenta=m, rms=v, count=t)

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    return make_learned_optimizer("mlp", init, build)
