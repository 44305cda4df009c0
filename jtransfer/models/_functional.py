"""The boundary between Flax NNX modules and jtransfer's pure-function algorithms.

Algorithms in jtransfer take a model as ``apply_fn(params, x)`` plus a params pytree. This
module turns an NNX module into that pair (``nnx.split``) and puts trained params back into a
module (``nnx.update``) for checkpointing or further NNX use.

Batch normalisation in the functional form
------------------------------------------
``functional(module, train=True)`` freezes the module in training mode: every call of
``apply_fn`` normalises with the statistics **of the batch it is given** (transductive batch
norm, as the original MAML implementation does per task), and the running averages held in
the module are *not* updated: each call merges a fresh copy of the non-parameter state, so
``apply_fn`` stays pure and can be differentiated, vmapped over tasks and jitted. With
``train=False`` the stored running averages are used (inference mode) and are likewise
constant. BatchNorm scale and bias are ordinary ``nnx.Param`` leaves of ``params``; the running
``mean``/``var`` are not parameters and are never differentiated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flax import nnx

Params = Any


def functional(module: nnx.Module, *, train: bool = True,
               method: str | None = None) -> tuple[Callable[..., Any], Params]:
    """Splits an NNX module into a pure ``apply_fn(params, x, ...)`` and its params.

    Args:
      module: the NNX module (not modified; a copy is put into the requested mode).
      train: True freezes training mode (batch statistics from each input batch, see the
        module docstring), False freezes inference mode (stored running statistics).
      method: name of the module method to call (default ``__call__``), e.g. ``"features"``.

    Returns:
      ``(apply_fn, params)``: ``params`` is the ``nnx.Param`` state (a pytree of arrays);
      ``apply_fn(params, x, *args, **kwargs)`` is pure. ``apply_fn.graphdef`` and
      ``apply_fn.rest`` hold the static graph and the non-parameter state.

    Example:
      >>> from flax import nnx
      >>> import jax.numpy as jnp
      >>> from jtransfer.models import MLP, functional
      >>> apply_fn, params = functional(MLP(2, (8,), 1, rngs=nnx.Rngs(0)))
      >>> apply_fn(params, jnp.zeros((3, 2))).shape
      (3, 1)
    """
    if not isinstance(module, nnx.Module):
        raise ValueError(f"functional() expects a flax.nnx.Module, got {type(module).__name__}")
    copy = nnx.clone(module)
    if train:
        copy.train()
    else:
        copy.eval()
    graphdef, params, rest = nnx.split(copy, nnx.Param, ...)
    if method is not None and not callable(getattr(copy, method, None)):
        raise ValueError(f"{type(module).__name__} has no method {method!r}")

    def apply_fn(params: Params, x, *args, **kwargs):
        m = nnx.merge(graphdef, params, rest, copy=True)
        fn = m if method is None else getattr(m, method)
        return fn(x, *args, **kwargs)

    apply_fn.graphdef = graphdef
    apply_fn.rest = rest
    return apply_fn, params


def with_params(module: nnx.Module, params: Params) -> nnx.Module:
    """Returns a copy of ``module`` whose parameters are replaced by ``params``.

    The inverse of :func:`functional`: ``with_params(m, functional(m)[1])`` equals ``m``.
    Raises ValueError when the params tree does not match the module's parameters.
    """
    import jax

    copy = nnx.clone(module)
    current = nnx.state(copy, nnx.Param)
    want = jax.tree.structure(current)
    got = jax.tree.structure(params)
    if want != got:
        raise ValueError(f"params tree does not match the module's parameters:\n"
                         f"expected {want}\ngot {got}")
    shapes_cur = jax.tree.map(lambda a: a.shape, current)
    shapes_new = jax.tree.map(lambda a: a.shape, params)
    if shapes_cur != shapes_new:
        raise ValueError(f"params shapes {shapes_new} do not match the module's {shapes_cur}")
    nnx.update(copy, params)
    return copy
