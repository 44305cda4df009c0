"""What the multi-task experiments (``mtl_digits``, ``lm_multitask``) share: the gradient
aggregator of a method name and the step that applies it to a shared trunk with task heads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jtransfer import mtl


def aggregator(method: str, config):
    """The ``jtransfer.mtl`` gradient aggregator named ``method`` (an optax transformation over
    stacked per-task gradients): ``"pcgrad"``, ``"mgda"``, ``"cagrad"`` (with
    ``c = config.cagrad_c``) or ``"imtl_g"``."""
    return {
        "pcgrad": mtl.pcgrad,
        "mgda": mtl.mgda,
        "cagrad": lambda: mtl.cagrad(config.cagrad_c),
        "imtl_g": mtl.imtl_g,
    }[method]()


def aggregate_shared(agg, agg_state, jac: dict, params: dict, *, shared, heads, num_tasks):
    """Gradients of a shared trunk + per-task heads model from its per-task Jacobian ``jac``
    (every leaf with a leading task axis ``T = num_tasks``): the trunk's ``T`` task gradients
    combined by the aggregator ``agg`` and scaled by ``T``, each head's gradient summed over
    the task axis (a head only gets gradient from its own task).

    Returns:
      ``({shared: ..., heads: ...}, new aggregator state)``.
    """
    g_shared, agg_state = agg.update(jac[shared], agg_state, params[shared])
    grads = {
        shared: jax.tree.map(lambda g: num_tasks * g, g_shared),
        heads: jax.tree.map(lambda g: jnp.sum(g, axis=0), jac[heads]),
    }
    return grads, agg_state


def apply_step(state: dict, optimizer, agg, *, grad_fn, jac_fn, num_tasks) -> dict:
    """One optimizer step of an FDU-MTL training state (``train_state``'s layout): the
    gradient is ``grad_fn(params)`` without an aggregator, else the per-task Jacobian
    ``jac_fn(params)`` combined over the shared adapter ``"ad"`` (heads ``"head"``) by
    :func:`aggregate_shared`."""
    params = state["params"]
    new = dict(state)
    if agg is None:
        grads = grad_fn(params)
    else:
        grads, new["agg"] = aggregate_shared(
            agg,
            state["agg"],
            jac_fn(params),
            params,
            shared="ad",
            heads="head",
            num_tasks=num_tasks,
        )
    updates, new["opt"] = optimizer.update(grads, state["opt"], params)
    new["params"] = optax.apply_updates(params, updates)
    return new


def train_state(optimizer, agg, params: dict, num_evals, num_tasks, n_va, n_te) -> dict:
    """The training state of an FDU-MTL method: ``params``, the optax state, the per-eval
    validation / test correctness buffers ``(num_evals, num_tasks, n)`` and, when ``agg`` is
    an aggregator, its state over the shared adapter ``params["ad"]``."""
    state = {
        "params": params,
        "opt": optimizer.init(params),
        "va": jnp.zeros((num_evals, num_tasks, n_va), bool),
        "te": jnp.zeros((num_evals, num_tasks, n_te), bool),
    }
    if agg is not None:
        state["agg"] = agg.init(params["ad"])
    return state
