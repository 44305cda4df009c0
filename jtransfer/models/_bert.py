"""A BERT-family transformer encoder (Flax NNX) configured from a Hugging Face ``config.json``.

The module reproduces ``transformers.BertModel`` (without its pooler head): word + absolute
position + token-type embeddings, an embedding LayerNorm, then post-LayerNorm blocks

.. math::

   a = \\mathrm{LN}(x + W_o\\,\\mathrm{Attn}(x)), \\qquad
   y = \\mathrm{LN}(a + W_2\\,\\mathrm{GELU}(W_1 a)),

with multi-head scaled dot-product attention
:math:`\\mathrm{softmax}(QK^\\top/\\sqrt{d_h} + b)V` whose padding bias :math:`b` comes from the
attention mask. Scores and softmax are computed in (at least) float32 whatever the parameter
dtype; masked keys get ``finfo.min`` by ``where`` (not by adding it), so a row whose keys are all
padding gives a uniform softmax instead of NaN. With float64 parameters (``jax_enable_x64``) the
last hidden states of all-MiniLM-L6-v2 equal a float64 NumPy forward to 1.4e-13.

The call contract used by the rest of jtransfer is
``encoder(batch) -> EncoderOutput(hidden_states, pooled)``; through
:func:`jtransfer.models.functional` it becomes ``apply_fn(params, batch)``.

References:
  J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, "BERT: Pre-training of Deep Bidirectional
  Transformers for Language Understanding", NAACL 2019, https://arxiv.org/abs/1810.04805.
  N. Reimers, I. Gurevych, "Sentence-BERT", EMNLP 2019, https://arxiv.org/abs/1908.10084
  (mean pooling).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["BertConfig", "BertEncoder", "EncoderOutput", "l2_normalize", "mean_pool"]

SUPPORTED_MODEL_TYPES = ("bert",)
# Hugging Face ``hidden_act`` names -> functions. "gelu" is the exact (erf) GELU as in
# transformers' ACT2FN; "gelu_new" / "gelu_pytorch_tanh" are the tanh approximation.
_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
}


class EncoderOutput(NamedTuple):
    """What a text encoder returns.

    Attributes:
      hidden_states: tuple of ``num_layers + 1`` arrays of shape (B, L, H): the embedding
        output first, then each block's output (as Hugging Face's ``output_hidden_states``).
      pooled: (B, H) attention-mask-weighted mean of the last hidden states (not normalised;
        apply :func:`l2_normalize` for the sentence-transformers embedding).
    """

    hidden_states: tuple[jax.Array, ...]
    pooled: jax.Array


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Architecture of a BERT-family encoder, with Hugging Face ``config.json`` field names.

    Example:
      >>> from jtransfer.models import BertConfig
      >>> cfg = BertConfig.from_dict({"model_type": "bert", "vocab_size": 100,
      ...                             "hidden_size": 32, "num_hidden_layers": 2,
      ...                             "num_attention_heads": 4, "intermediate_size": 64})
      >>> cfg.head_dim
      8
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    model_type: str = "bert"

    def __post_init__(self):
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"BertConfig: model_type {self.model_type!r} is not supported; "
                f"supported: {SUPPORTED_MODEL_TYPES}"
            )
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"BertConfig: {name} must be a positive int, got {v!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(
                f"BertConfig: hidden_act {self.hidden_act!r} is not supported; "
                f"supported: {sorted(_ACTIVATIONS)}"
            )
        if self.position_embedding_type != "absolute":
            raise ValueError(
                "BertConfig: position_embedding_type "
                f"{self.position_embedding_type!r} is not supported (only "
                "'absolute')"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"BertConfig: {name} must be in [0, 1), got {p!r}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BertConfig:
        """Builds the config from a ``config.json`` dict; unknown keys are ignored.

        Raises:
          ValueError: ``model_type`` missing or unsupported, or a field is invalid.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"BertConfig.from_dict expects a mapping, got {type(d).__name__}")
        if "model_type" not in d:
            raise ValueError(
                f"BertConfig: config has no 'model_type' (need one of {SUPPORTED_MODEL_TYPES})"
            )
        if "vocab_size" not in d:
            raise ValueError("BertConfig: config has no 'vocab_size'")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        """Reads a Hugging Face ``config.json``.

        Raises:
          FileNotFoundError: the file does not exist.
          ValueError: the file is not a valid/supported BERT config.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f"BertConfig: config file {os.fspath(path)!r} not found")
        with open(path, encoding="utf-8") as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"BertConfig: {os.fspath(path)!r} is not valid JSON: {e}") from e
        try:
            return cls.from_dict(d)
        except ValueError as e:
            raise ValueError(f"{e} (in {os.fspath(path)!r})") from e


def mean_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """Attention-mask-weighted mean over the sequence axis (sentence-transformers' mean pooling).

    .. math:: p_b = \\frac{\\sum_l m_{bl} h_{bl}}{\\max(\\sum_l m_{bl}, 10^{-9})}

    Computed in float32. A row with an all-zero mask gives zeros.

    Args:
      hidden: (B, L, H) hidden states.
      attention_mask: (B, L), 1 for real tokens and 0 for padding (any numeric dtype).

    Returns:
      (B, H) float32.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer.models import mean_pool
      >>> h = jnp.arange(6.0).reshape(1, 3, 2)
      >>> mean_pool(h, jnp.array([[1, 1, 0]]))
      Array([[1., 2.]], dtype=float32)
    """
    if hidden.ndim != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"mean_pool: hidden must be (B, L, H) and attention_mask (B, L); got "
            f"hidden {tuple(hidden.shape)}, attention_mask "
            f"{tuple(attention_mask.shape)}"
        )
    m = attention_mask.astype(jnp.float32)[..., None]
    total = jnp.sum(hidden.astype(jnp.float32) * m, axis=1)
    return total / jnp.maximum(jnp.sum(m, axis=1), 1e-9)


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """``x / max(||x||_2, eps)`` along ``axis`` (as ``torch.nn.functional.normalize``).

    Turns :attr:`EncoderOutput.pooled` into the sentence-transformers embedding.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer.models import l2_normalize
      >>> l2_normalize(jnp.array([[3.0, 4.0]]))
      Array([[0.6, 0.8]], dtype=float32)
    """
    norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x / jnp.maximum(norm, eps)


def _dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


class _Embeddings(nnx.Module):
    def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
        init = nnx.initializers.normal(0.02)
        kw = dict(embedding_init=init, dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.word_embeddings = nnx.Embed(cfg.vocab_size, cfg.hidden_size, **kw)
        self.position_embeddings = nnx.Embed(cfg.max_position_embeddings, cfg.hidden_size, **kw)
        self.token_type_embeddings = nnx.Embed(cfg.type_vocab_size, cfg.hidden_size, **kw)
        self.layer_norm = nnx.LayerNorm(
            cfg.hidden_size,
            epsilon=cfg.layer_norm_eps,
            use_fast_variance=False,
            dtype=dtype,
            param_dtype=dtype,
            rngs=rngs,
        )

    def __call__(self, input_ids, token_type_ids):
        length = input_ids.shape[1]
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings.embedding[...][None, :length]
            + self.token_type_embeddings(token_type_ids)
        )
        return self.layer_norm(x)


class _Layer(nnx.Module):
    """One post-LayerNorm transformer block (HF ``BertLayer``)."""

    def __init__(self, cfg: BertConfig, *, dtype, rngs: nnx.Rngs):
        h, i = cfg.hidden_size, cfg.intermediate_size
        lin = dict(
            kernel_init=nnx.initializers.normal(0.02), dtype=dtype, param_dtype=dtype, rngs=rngs
        )
        ln = dict(
            epsilon=cfg.layer_norm_eps,
            use_fast_variance=False,
            dtype=dtype,
            param_dtype=dtype,
            rngs=rngs,
        )
        self.num_heads = cfg.num_attention_heads
        self.act = cfg.hidden_act
        self.hidden_dropout = cfg.hidden_dropout_prob
        self.attention_dropout = cfg.attention_probs_dropout_prob
        self.query = nnx.Linear(h, h, **lin)
        self.key = nnx.Linear(h, h, **lin)
        self.value = nnx.Linear(h, h, **lin)
        self.attention_output = nnx.Linear(h, h, **lin)
        self.attention_layer_norm = nnx.LayerNorm(h, **ln)
        self.intermediate = nnx.Linear(h, i, **lin)
        self.output = nnx.Linear(i, h, **lin)
        self.output_layer_norm = nnx.LayerNorm(h, **ln)

    def _qkv(self, x):
        # One (H, 3H) matmul instead of three (H, H) ones: same maths, better GEMM shape.
        w = jnp.concatenate(
            [self.query.kernel[...], self.key.kernel[...], self.value.kernel[...]], axis=1
        )
        b = jnp.concatenate([self.query.bias[...], self.key.bias[...], self.value.bias[...]])
        qkv = jnp.einsum("blh,hk->blk", x, w.astype(x.dtype)) + b.astype(x.dtype)[None, None]
        return jnp.split(qkv, 3, axis=-1)

    def __call__(self, x, valid, key=None):
        bsz, length, hidden = x.shape
        nh = self.num_heads
        hd = hidden // nh
        keys = [None] * 3 if key is None else list(jax.random.split(key, 3))
        q, k, v = self._qkv(x)
        q, k, v = (t.reshape(bsz, length, nh, hd) for t in (q, k, v))
        ct = jnp.promote_types(q.dtype, jnp.float32)  # float32, or float64 under x64
        scores = jnp.einsum("bqnd,bknd->bnqk", q.astype(ct), k.astype(ct)) / math.sqrt(hd)
        scores = jnp.where(valid[:, None, None, :], scores, jnp.finfo(ct).min)
        probs = jax.nn.softmax(scores, axis=-1)
        probs = _dropout(probs, self.attention_dropout, keys[0])
        ctx = jnp.einsum("bnqk,bknd->bqnd", probs.astype(v.dtype), v)
        ctx = ctx.reshape(bsz, length, hidden)
        a = self.attention_output(ctx)
        a = self.attention_layer_norm(x + _dropout(a, self.hidden_dropout, keys[1]))
        f = self.output(_ACTIVATIONS[self.act](self.intermediate(a)))
        return self.output_layer_norm(a + _dropout(f, self.hidden_dropout, keys[2]))


def _check_batch(batch, cfg: BertConfig):
    if not isinstance(batch, Mapping):
        raise ValueError(
            "BertEncoder: batch must be a mapping with 'input_ids' and "
            f"'attention_mask', got {type(batch).__name__}"
        )
    for name in ("input_ids", "attention_mask"):
        if name not in batch:
            raise ValueError(f"BertEncoder: batch has no {name!r} (keys: {sorted(batch)})")
    ids = jnp.asarray(batch["input_ids"])
    mask = jnp.asarray(batch["attention_mask"])
    tt = batch.get("token_type_ids")
    tt = jnp.zeros_like(ids) if tt is None else jnp.asarray(tt)
    if ids.ndim != 2:
        raise ValueError(f"BertEncoder: input_ids must be (B, L), got {tuple(ids.shape)}")
    for name, a in (("attention_mask", mask), ("token_type_ids", tt)):
        if a.shape != ids.shape:
            raise ValueError(
                f"BertEncoder: {name} shape {tuple(a.shape)} differs from "
                f"input_ids shape {tuple(ids.shape)}"
            )
    for name, a in (("input_ids", ids), ("token_type_ids", tt)):
        if not jnp.issubdtype(a.dtype, jnp.integer):
            raise ValueError(f"BertEncoder: {name} must be integer, got {a.dtype}")
    if ids.shape[1] > cfg.max_position_embeddings:
        raise ValueError(
            f"BertEncoder: sequence length {ids.shape[1]} exceeds "
            f"max_position_embeddings {cfg.max_position_embeddings}"
        )
    return ids, mask, tt


class BertEncoder(nnx.Module):
    """BERT-family transformer encoder (``transformers.BertModel`` without the pooler head).

    Args:
      config: a :class:`BertConfig`.
      dtype: parameter and activation dtype (attention scores, softmax and pooling are float32).
      rngs: random streams for the (normal(0.02)) initialisation, as in BERT.

    Calling ``encoder(batch, *, key=None)`` with ``batch`` a mapping of int ``input_ids``
    (B, L), ``attention_mask`` (B, L) and optional ``token_type_ids`` (default zeros) returns
    :class:`EncoderOutput`. Dropout (rates from the config) is applied only when the module is
    in training mode **and** a ``key`` is given, so ``functional(encoder)`` is deterministic
    unless the caller passes ``key=``: ``apply_fn(params, batch)`` /
    ``apply_fn(params, batch, key=k)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jtransfer.models import BertConfig, BertEncoder, functional
      >>> cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
      ...                  num_attention_heads=4, intermediate_size=64)
      >>> apply_fn, params = functional(BertEncoder(cfg, rngs=nnx.Rngs(0)))
      >>> batch = {"input_ids": jnp.ones((2, 5), jnp.int32),
      ...          "attention_mask": jnp.ones((2, 5), jnp.int32)}
      >>> out = apply_fn(params, batch)
      >>> len(out.hidden_states), out.hidden_states[-1].shape, out.pooled.shape
      (3, (2, 5, 32), (2, 32))

    References:
      Devlin et al., BERT, NAACL 2019, https://arxiv.org/abs/1810.04805.
    """

    def __init__(self, config: BertConfig, *, dtype=jnp.float32, rngs: nnx.Rngs):
        if not isinstance(config, BertConfig):
            raise ValueError(
                f"BertEncoder: config must be a BertConfig, got {type(config).__name__}"
            )
        self.config = config
        self.deterministic = False  # toggled by nnx's .train() / .eval()
        self.embeddings = _Embeddings(config, dtype=dtype, rngs=rngs)
        self.layers = nnx.List(
            [_Layer(config, dtype=dtype, rngs=rngs) for _ in range(config.num_hidden_layers)]
        )

    def __call__(self, batch: Mapping[str, Any], *, key: jax.Array | None = None) -> EncoderOutput:
        ids, mask, tt = _check_batch(batch, self.config)
        if self.deterministic:
            key = None
        keys = (
            [None] * (len(self.layers) + 1)
            if key is None
            else list(jax.random.split(key, len(self.layers) + 1))
        )
        valid = mask != 0
        x = self.embeddings(ids, tt)
        x = _dropout(x, self.config.hidden_dropout_prob, keys[0])
        states = [x]
        for layer, k in zip(self.layers, keys[1:]):
            x = layer(x, valid, k)
            states.append(x)
        return EncoderOutput(tuple(states), mean_pool(x, mask))
