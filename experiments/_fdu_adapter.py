"""The CPU adapter: a residual bottleneck adapter on cached pooled features, one logistic head.

For a domain's pooled, z-scored feature :math:`h \\in \\mathbb R^D` (layer ``config.layer`` of
the frozen encoder, cached once),

.. math::
   u(h) = W_{up}\\,\\mathrm{relu}(W_{down} h + b), \\qquad
   f(h) = h + u(h), \\qquad \\mathrm{logit} = w^\\top f(h) + c,

with :math:`W_{down} \\in \\mathbb R^{D\\times r}`, :math:`W_{up} \\in \\mathbb R^{r\\times D}`
zero at initialisation (so the adapter starts as the identity). This is a Houlsby-style adapter
applied after the (frozen) body rather than LoRA inside it: the CPU cannot afford to run the
body per step; ``configs/gpu.py`` describes the LoRA-on-the-body version.

Parameters are plain dicts; stacked (per-domain) versions carry a leading axis ``T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def adapter_init(key: jax.Array, dim: int, rank: int, num: int | None = None) -> dict:
    """Adapter params ``{"down", "b", "up"}``; ``num`` stacks that many on a leading axis.

    All stacked copies start equal (one draw), so every sharing method starts from the same
    point.
    """
    p = {
        "down": jax.random.normal(key, (dim, rank)) * np.sqrt(2.0 / dim),
        "b": jnp.zeros((rank,)),
        "up": jnp.zeros((rank, dim)),
    }
    if num is not None:
        p = jax.tree.map(lambda a: jnp.broadcast_to(a, (num, *a.shape)), p)
    return p


def adapter_delta(p: dict, h: jax.Array) -> jax.Array:
    """:math:`u(h)` for ``h`` ``(..., D)``."""
    return jax.nn.relu(add_bias(h @ p["down"], p["b"])) @ p["up"]


def add_bias(z: jax.Array, b: jax.Array) -> jax.Array:
    """``z + b`` with ``b`` ``(k,)`` broadcast over the leading axes of ``z`` ``(..., k)``."""
    return z + b.reshape((1,) * (z.ndim - 1) + b.shape)


def head_init(dim: int, num: int) -> dict:
    """``num`` zero logistic heads ``{"w": (num, dim), "c": (num,)}``."""
    return {"w": jnp.zeros((num, dim)), "c": jnp.zeros((num,))}


def logit(head: dict, f: jax.Array) -> jax.Array:
    """:math:`w^\\top f + c` for one head and features ``(..., dim)``."""
    return f @ head["w"] + head["c"]


def bce(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example binary cross-entropy of 0/1 labels."""
    return optax.sigmoid_binary_cross_entropy(logits, y.astype(logits.dtype))
