"""Flax NNX module forms of hard sharing and cross-stitch units (the algorithms stay pure)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from jtransfer.mtl._sharing import _static_task_index, cross_stitch, cross_stitch_init


class HardSharingNet(nnx.Module):
    """Shared trunk + one head per task, as an NNX module.

    ``net(x, task)`` returns head ``task``'s output (``task`` a Python int, range-checked, or a
    traced scalar dispatched with ``jax.lax.switch``); ``net(x)`` returns all heads' outputs.
    :func:`jtransfer.mtl.hard_sharing` is the pure-function form.

    Args:
      trunk: shared module, ``trunk(x) -> z``.
      heads: sequence of task modules, ``head(z) -> output``.
    """

    def __init__(self, trunk: nnx.Module, heads: Sequence[nnx.Module]):
        heads = list(heads)
        if not heads:
            raise ValueError("heads must contain at least one module")
        self.trunk = trunk
        self.heads = nnx.List(heads)
        self.num_tasks = len(heads)

    def __call__(self, x, task=None):
        z = self.trunk(x)
        if task is None:
            return tuple(h(z) for h in self.heads)
        idx = _static_task_index(task, self.num_tasks)
        if idx is not None:
            return self.heads[idx](z)
        branches = [lambda z, h=h: h(z) for h in self.heads]
        return jax.lax.switch(task, branches, z)


class CrossStitch(nnx.Module):
    """Learned cross-stitch unit (Misra et al. 2016, https://arxiv.org/abs/1604.03539).

    Holds ``alpha`` (``(T, T)``, or ``(C, T, T)`` with ``num_channels``) initialised by
    :func:`jtransfer.mtl.cross_stitch_init`; ``unit(features)`` applies
    :func:`jtransfer.mtl.cross_stitch` to ``(T, ...)`` stacked task activations.

    Args:
      num_tasks: ``T``.
      num_channels: per-channel units when given.
      self_weight: initial diagonal weight.
    """

    def __init__(self, num_tasks: int, num_channels: int | None = None, *,
                 self_weight: float = 0.9):
        self.alpha = nnx.Param(cross_stitch_init(num_tasks, num_channels,
                                                 self_weight=self_weight))

    def __call__(self, features):
        return cross_stitch(self.alpha[...], features)
