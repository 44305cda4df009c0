"""jtransfer.meta: gradient-based meta-learning as pure functions of pytrees.

MAML (second and first order), Meta-SGD, ANIL, Reptile and implicit MAML. Inner loops are
``jax.lax.scan`` (optionally ``jax.checkpoint``-ed per step), tasks are ``jax.vmap``-ed.

Conventions: ``loss_fn(params, batch) -> scalar``; a batch of tasks is ``(support, query)``
with a leading task axis on every leaf. On CPU, wrap a CNN's loss in ``jtransfer.ops.matmul_ops``
(convolutions and max-pools as matmuls: fast second-order derivatives on XLA:CPU). Batch norm
inside ``loss_fn`` uses per-task batch statistics (transductive, as the original MAML).
"""

from jtransfer.meta._imaml import imaml, imaml_adapt
from jtransfer.meta._maml import (
    adapt,
    anil,
    maml_loss,
    metasgd,
    metasgd_init,
    query_losses,
)
from jtransfer.meta._reptile import ReptileState, reptile, reptile_adapted

__all__ = [
    "ReptileState",
    "adapt",
    "anil",
    "imaml",
    "imaml_adapt",
    "maml_loss",
    "metasgd",
    "metasgd_init",
    "query_losses",
    "reptile",
    "reptile_adapted",
]
