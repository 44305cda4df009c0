"""LoRA fine-tuning of an encoder with a linear head on its pooled features.

The body stays a constant argument: only the adapter (and the head) are differentiated and
hold optimizer state, the recommended freezing pattern of :mod:`jtransfer.adapters._lora`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jtransfer._core import checks as _checks
from jtransfer._core.keys import default_key
from jtransfer.adapters._lora import LoraParams, lora_merge

PyTree = Any


class LoraTrainState(NamedTuple):
    """State of :func:`lora_classifier` training.

    Attributes:
      trainable: ``{"lora": LoraParams, "head": {"kernel": (H, C), "bias": (C,)}}``.
      opt_state: the optimizer state of the differentiated part of ``trainable``.
      step: int32 scalar, number of updates applied.
    """

    trainable: dict
    opt_state: optax.OptState
    step: jax.Array


class LoraClassifier(NamedTuple):
    """Pure functions returned by :func:`lora_classifier` (see there)."""

    init: Callable[..., LoraTrainState]
    step: Callable[..., tuple[LoraTrainState, dict]]
    logits: Callable[..., jax.Array]
    loss: Callable[..., tuple[jax.Array, dict]]


def linear_head_init(
    hidden_size: int, num_classes: int, *, std: float = 0.02, key: jax.Array | None = None
) -> dict:
    """A linear head ``{"kernel": N(0, std^2) (H, C), "bias": 0 (C,)}`` (BERT's 0.02 init)."""
    for name, v in (("hidden_size", hidden_size), ("num_classes", num_classes)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    _checks.check_nonnegative(std, "std")
    kernel = std * jax.random.normal(default_key(key), (hidden_size, num_classes))
    return {"kernel": kernel, "bias": jnp.zeros((num_classes,))}


def lora_classifier(
    apply_fn: Callable[..., Any],
    optimizer: optax.GradientTransformation,
    *,
    train_head: bool = True,
    jit: bool = True,
) -> LoraClassifier:
    """Training functions for softmax cross-entropy on a linear head over LoRA-adapted features.

    .. math::
        z = \\mathrm{pooled}(f_{W + \\frac{\\alpha}{r} a b}(x))\\, K + c, \\qquad
        \\mathcal{L} = \\frac{\\sum_i w_i\\, \\mathrm{CE}(z_i, y_i)}{\\sum_i w_i}

    ``f`` is ``apply_fn(params, batch)`` whose output has ``.pooled`` ``(B, H)`` (the encoder
    contract); only ``a, b`` (and ``K, c`` when ``train_head``) receive gradients.

    Args:
      apply_fn: the encoder, ``apply_fn(params, batch) -> out`` with ``out.pooled``.
      optimizer: an optax transformation for the trainable part.
      train_head: also train the head (False: the head stays at its initial value).
      jit: return ``step`` jitted.

    Returns:
      A :class:`LoraClassifier` of pure functions:
      ``init(lora, head) -> LoraTrainState``;
      ``step(state, params, batch, labels, weights=None) -> (state, {"loss", "accuracy"})``;
      ``logits(params, trainable, batch) -> (B, C)``;
      ``loss(trainable, params, batch, labels, weights=None) -> (loss, metrics)``.
      ``params`` (the frozen body) is an argument of every call, never a closed-over
      constant, so it is not copied into the compiled program. With stacked adapters,
      ``jax.vmap(step, in_axes=(0, None, 0, 0))`` trains one adapter and head per domain.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> from typing import NamedTuple
      >>> from jtransfer.adapters import lora_init
      >>> class Out(NamedTuple):
      ...     pooled: jax.Array
      >>> params = {"query": {"kernel": jnp.eye(3)}}
      >>> apply_fn = lambda p, b: Out(jnp.tanh(b["x"] @ p["query"]["kernel"]))
      >>> clf = lora_classifier(apply_fn, optax.adam(1e-2))
      >>> state = clf.init(lora_init(params, rank=1, targets=["query/kernel"]),
      ...                  linear_head_init(3, 2))
      >>> state, metrics = clf.step(state, params, {"x": jnp.ones((4, 3))}, jnp.zeros(4, int))
      >>> int(state.step)
      1
    """

    if not callable(apply_fn):
        raise ValueError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise ValueError(
            f"optimizer must be an optax GradientTransformation (init/update), got "
            f"{type(optimizer).__name__}"
        )

    def logits(params, trainable, batch):
        out = apply_fn(lora_merge(params, trainable["lora"]), batch)
        pooled = getattr(out, "pooled", None)
        if pooled is None:
            raise ValueError(
                f"apply_fn must return an object with .pooled (B, H), got {type(out).__name__}"
            )
        head = trainable["head"]
        if pooled.ndim != 2 or pooled.shape[1] != head["kernel"].shape[0]:
            raise ValueError(
                f"pooled features have shape {pooled.shape} but the head kernel "
                f"has shape {head['kernel'].shape} (expected (H, C))"
            )
        return pooled @ head["kernel"] + head["bias"][None]

    def loss(trainable, params, batch, labels, weights=None):
        z = logits(params, trainable, batch)
        labels = jnp.asarray(labels)
        if labels.shape != z.shape[:1]:
            raise ValueError(f"labels has shape {labels.shape}, expected {z.shape[:1]}")
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(f"labels must hold integer class ids, got dtype {labels.dtype}")
        num_classes = z.shape[1]
        _checks._require(
            lambda xp, a: xp.all((a >= 0) & (a < num_classes)),
            labels,
            f"labels must be class ids in [0, {num_classes}) (the head has {num_classes} "
            f"classes), shape {tuple(labels.shape)}",
        )
        ce = optax.softmax_cross_entropy_with_integer_labels(z, labels)
        if weights is None:
            w = jnp.ones_like(ce)
        else:
            w = jnp.asarray(weights)
            if w.shape != ce.shape:
                raise ValueError(f"weights has shape {w.shape}, expected {ce.shape}")
            w = _checks.check_weights(w, "weights", ce.shape[0], "labels").astype(ce.dtype)
        value = (w * ce).sum() / w.sum()
        accuracy = (w * (z.argmax(-1) == labels)).sum() / w.sum()
        return value, {"loss": value, "accuracy": accuracy}

    def _split(trainable):
        return trainable if train_head else trainable["lora"]

    def _join(diff, trainable):
        return diff if train_head else {**trainable, "lora": diff}

    def init(lora, head):
        if not isinstance(lora, LoraParams):
            raise ValueError(f"lora must be a LoraParams, got {type(lora).__name__}")
        kernel = head.get("kernel") if isinstance(head, dict) else None
        bias = head.get("bias") if isinstance(head, dict) else None
        if np.ndim(kernel) != 2 or np.ndim(bias) != 1 or np.shape(bias)[0] != np.shape(kernel)[1]:
            shapes = (
                {k: np.shape(v) for k, v in head.items()}
                if isinstance(head, dict)
                else type(head).__name__
            )
            raise ValueError(
                "head must be {'kernel': (H, C), 'bias': (C,)} (see linear_head_init), "
                f"got {shapes}"
            )
        trainable = {"lora": lora, "head": head}
        return LoraTrainState(
            trainable, optimizer.init(_split(trainable)), jnp.zeros((), jnp.int32)
        )

    def step(state, params, batch, labels, weights=None):
        diff = _split(state.trainable)
        grad_fn = jax.grad(
            lambda d: loss(_join(d, state.trainable), params, batch, labels, weights), has_aux=True
        )
        grads, metrics = grad_fn(diff)
        updates, opt_state = optimizer.update(grads, state.opt_state, diff)
        trainable = _join(optax.apply_updates(diff, updates), state.trainable)
        return LoraTrainState(trainable, opt_state, state.step + 1), metrics

    if jit:
        step = jax.jit(step)
    return LoraClassifier(init=init, step=step, logits=logits, loss=loss)
