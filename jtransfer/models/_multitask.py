"""Flax NNX module forms of hard parameter sharing and cross-stitch units.

The algorithms stay pure functions in :mod:`jtransfer.mtl` (``hard_sharing``,
``cross_stitch``); these modules hold the parameters and call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flax import nnx

from jtransfer.mtl import cross_stitch, cross_stitch_init, hard_sharing


def _call_module(module: nnx.Module, x: Any) -> Any:
    return module(x)


class HardSharingNet(nnx.Module):
    """Shared trunk + one head per task, as an NNX module.

    ``net(x, task)`` returns head ``task``'s output (``task`` a Python int, range-checked, or a
    traced scalar dispatched with ``jax.lax.switch``); ``net(x)`` returns all heads' outputs.
    It runs :func:`jtransfer.mtl.hard_sharing` with the submodules in place of parameters.

    Args:
      trunk: shared module, ``trunk(x) -> z``.
      heads: sequence of task modules, ``head(z) -> output``.

    Example:
      >>> from flax import nnx
      >>> import jax.numpy as jnp
      >>> from jtransfer import models
      >>> rngs = nnx.Rngs(0)
      >>> net = models.HardSharingNet(nnx.Linear(3, 4, rngs=rngs),
      ...                             [nnx.Linear(4, 1, rngs=rngs), nnx.Linear(4, 2, rngs=rngs)])
      >>> net(jnp.ones((5, 3)), 1).shape
      (5, 2)
    """

    def __init__(self, trunk: nnx.Module, heads: Sequence[nnx.Module]):
        heads = list(heads)
        if not heads:
            raise ValueError("heads must contain at least one module")
        self.trunk = trunk
        self.heads = nnx.List(heads)
        self.num_tasks = len(heads)

    def __call__(self, x: Any, task: Any = None) -> Any:
        apply = hard_sharing(_call_module, [_call_module] * self.num_tasks)
        return apply({"trunk": self.trunk, "heads": tuple(self.heads)}, x, task)


class CrossStitch(nnx.Module):
    """Learned cross-stitch unit (Misra et al. 2016, https://arxiv.org/abs/1604.03539).

    Holds ``alpha`` (``(T, T)``, or ``(C, T, T)`` with ``num_channels``) initialised by
    :func:`jtransfer.mtl.cross_stitch_init`; ``unit(features)`` applies
    :func:`jtransfer.mtl.cross_stitch` to ``(T, ...)`` stacked task activations.

    Args:
      num_tasks: ``T``.
      num_channels: per-channel units when given.
      self_weight: initial diagonal weight.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import models
      >>> unit = models.CrossStitch(2, self_weight=0.75)
      >>> unit(jnp.array([[1.0], [0.0]])).tolist()
      [[0.75], [0.25]]
    """

    def __init__(
        self, num_tasks: int, num_channels: int | None = None, *, self_weight: float = 0.9
    ):
        self.alpha = nnx.Param(cross_stitch_init(num_tasks, num_channels, self_weight=self_weight))

    def __call__(self, features: Any) -> Any:
        return cross_stitch(self.alpha[...], features)
