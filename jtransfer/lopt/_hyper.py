"""A learned learning-rate schedule for Adam: the small baseline learned optimizer."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer._core import checks as _checks
from jtransfer.lopt._base import LearnedOptimizer, check_hyperparameters, make_learned_optimizer


class LearnedHyperparamsState(NamedTuple):
    """State of :func:`learned_hyperparams`.

    Attributes:
      adam: ``optax.ScaleByAdamState`` (count int32, mu and nu like params).
    """

    adam: Any


def learned_hyperparams(
    *,
    horizon: int,
    num_knots: int = 8,
    init_lr: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> LearnedOptimizer:
    r"""Adam with a learned learning-rate schedule.

    ``theta = {"log_lr": (num_knots,)}`` holds :math:`\log \eta` at ``num_knots`` equally
    spaced steps of ``[0, horizon]``; in between the log learning rate is interpolated
    linearly and after ``horizon`` it stays at the last knot:

    .. math::
        \Delta p_t = -\exp\big(\mathrm{interp}(t;\ \log\eta_{1..K})\big)\,
            \hat m_t / (\sqrt{\hat v_t} + \epsilon).

    Args:
      horizon: the step at which the last knot sits (> 0).
      num_knots: number of schedule knots (>= 1).
      init_lr: the initial (constant) learning rate (> 0).
      b1, b2, eps: Adam's constants.

    Returns:
      A :class:`LearnedOptimizer`.

    References:
      Kingma & Ba, 2014, https://arxiv.org/abs/1412.6980 (Adam); the learned-schedule
      baseline follows Metz et al., 2020, https://arxiv.org/abs/2009.11243
    """
    check_hyperparameters(
        "learned_hyperparams",
        integers={"horizon": horizon, "num_knots": num_knots},
        positive={"init_lr": init_lr},
    )

    def init(key: jax.Array) -> dict:
        del key  # deterministic initialisation
        return {"log_lr": jnp.full((num_knots,), jnp.log(init_lr), jnp.float32)}

    def build(theta: dict) -> optax.GradientTransformationExtraArgs:
        adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)
        knots = jnp.linspace(0.0, float(horizon), num_knots)

        def lr_at(step):
            if num_knots == 1:
                return jnp.exp(theta["log_lr"][0])
            return jnp.exp(jnp.interp(step.astype(jnp.float32), knots, theta["log_lr"]))

        def init_fn(params):
            return LearnedHyperparamsState(adam=adam.init(params))

        def update_fn(updates, state, params=None, **extra_args):
            del extra_args
            _checks.check_same_structure(
                updates,
                state.adam.mu,
                "updates",
                owner="learned_hyperparams",
                hint=" (the params given to init_fn: same keys)",
            )
            if params is not None:
                _checks.check_same_structure(params, updates, "params", owner="learned_hyperparams")
            step = state.adam.count
            u, adam_state = adam.update(updates, state.adam, params)
            lr = lr_at(step)
            u = jax.tree.map(lambda x: (-lr * x).astype(jnp.result_type(x)), u)
            return u, LearnedHyperparamsState(adam=adam_state)

        return optax.GradientTransformationExtraArgs(init_fn, update_fn)

    return make_learned_optimizer("learned_hyperparams", init, build)
