"""Per-parameter MLP optimizer over normalised gradient/momentum features (Metz et al.)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.lopt._base import (
    LearnedOptimizer,
    check_hyperparameters,
    compute_dtype,
    dense,
    dense_init,
    make_learned_optimizer,
    require_params,
    second_moment_normalize,
)


class MLPOptimizerState(NamedTuple):
    """State of :func:`mlp_optimizer`.

    Attributes:
      momenta: pytree like params; leaves ``(len(decays), *param.shape)``, EMAs of the gradient.
      rms: pytree like params; leaves ``param.shape``, EMA of the squared gradient.
      count: int32 scalar, number of updates so far.
    """

    momenta: Any
    rms: Any
    count: jax.Array


_TIMESCALES = (1.0, 10.0, 100.0, 1000.0)


def mlp_optimizer(*, hidden: int = 32, num_layers: int = 2,
                  decays: Sequence[float] = (0.5, 0.9, 0.99, 0.999), rms_decay: float = 0.999,
                  step_mult: float = 0.01, exp_mult: float = 0.01) -> LearnedOptimizer:
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
        raise ValueError(f"mlp_optimizer: decays {decays} and rms_decay {rms_decay} must be "
                         "non-empty and in (0, 1)")
    check_hyperparameters("mlp_optimizer", integers={"hidden": hidden, "num_layers": num_layers},
                          positive={"step_mult": step_mult, "exp_mult": exp_mult})
    num_features = 3 + 2 * len(decays) + len(_TIMESCALES)

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, num_layers + 1)
        fan_in, layers = num_features, []
        for l in range(num_layers):
            layers.append(dense_init(keys[l], fan_in, hidden))
            fan_in = hidden
        return {"layers": layers, "out": dense_init(keys[-1], fan_in, 2, scale=0.1)}

    def build(theta: dict) -> optax.GradientTransformationExtraArgs:
        b = jnp.asarray(decays)

        def init_fn(params):
            def zeros(p, lead=()):
                return jnp.zeros((*lead, *jnp.shape(p)), compute_dtype(p))
            return MLPOptimizerState(
                momenta=jax.tree.map(lambda p: zeros(p, (len(decays),)), params),
                rms=jax.tree.map(zeros, params),
                count=jnp.zeros([], jnp.int32))

        def leaf_update(g, p, m, v, t):
            dt = v.dtype
            gf = g.astype(dt).reshape(-1)
            bd = b.astype(dt)[:, None]
            m = bd * m.reshape(len(decays), -1) + (1 - bd) * gf[None]
            v = rms_decay * v.reshape(-1) + (1 - rms_decay) * jnp.square(gf)
            rsqrt = jax.lax.rsqrt(v + 1e-8)
            feats = jnp.concatenate([
                jnp.asarray(p, dt).reshape(1, -1), gf[None], jnp.sqrt(v)[None], m, m * rsqrt[None],
            ], axis=0)
            feats = second_moment_normalize(feats, axis=1)
            tfeat = jnp.tanh(t.astype(dt) / jnp.asarray(_TIMESCALES, dt))
            x = jnp.concatenate(
                [feats.T, jnp.broadcast_to(tfeat, (gf.shape[0], len(_TIMESCALES)))], axis=1)
            for layer in theta["layers"]:
                x = jax.nn.relu(dense(layer, x))
            out = dense(theta["out"], x)
            step = -step_mult * out[:, 0] * jnp.exp(exp_mult * out[:, 1])
            shape = jnp.shape(g)
            return (step.reshape(shape).astype(jnp.result_type(g)),
                    m.reshape((len(decays), *shape)), v.reshape(shape))

        def update_fn(updates, state, params=None, **extra_args):
            del extra_args
            require_params(params, "mlp_optimizer")
            t = state.count + 1
            out = jax.tree.map(lambda g, p, m, v: leaf_update(g, p, m, v, t),
                               updates, params, state.momenta, state.rms)
            treedef = jax.tree.structure(updates)
            u, m, v = (jax.tree.unflatten(treedef, [o[i] for o in treedef.flatten_up_to(out)])
                       for i in range(3))
            return u, MLPOptimizerState(momenta=m, rms=v, count=t)

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    return make_learned_optimizer("mlp", init, build)
