"""The sentence encoder of the language-model experiments, from a config.

Shared by ``lm_domain_shift`` and the FDU-MTL experiments (``experiments/_fdu_features.py``):
``config.encoder`` is ``"minilm"`` (the pretrained checkpoint of ``models.checkpoint_dir()``,
hashed by its ``SHA256SUMS`` for the feature caches) or ``"tiny_random"`` (tests: a 2-layer
random BERT and a toy tokenizer, no files); ``config.forward_chunk`` wraps the forward in
``models.chunked``.
"""

from __future__ import annotations

import os

import numpy as np


def encoder_fns(config):
    """(apply_fn, params, tokenizer, checkpoint hash) of the configured encoder."""
    from jtransfer import models

    if config.encoder == "minilm":
        enc = models.load_pretrained()
        tok = models.load_tokenizer()
        folder = models.checkpoint_dir()
        with open(os.path.join(folder, "SHA256SUMS"), encoding="utf-8") as f:
            ckpt = "minilm_l6_v2:" + f.read()
        apply_fn, params = models.functional(enc, train=False)
    elif config.encoder == "tiny_random":  # tests: a 2-layer random BERT, toy tokenizer
        from flax import nnx

        cfg = models.BertConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
        enc = models.BertEncoder(cfg, rngs=nnx.Rngs(0))
        apply_fn, params = models.functional(enc, train=False)
        ckpt = None

        def tok(texts, *, max_length):
            ids = np.zeros((len(texts), max_length), np.int32)
            mask = np.zeros_like(ids)
            for i, t in enumerate(texts):
                w = [2 + (sum(map(ord, x)) % 62) for x in t.lower().split()][:max_length]
                ids[i, : len(w)] = w
                mask[i, : max(len(w), 1)] = 1
            return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    else:
        raise ValueError(
            f"config.encoder must be 'minilm' or 'tiny_random', got {config.encoder!r}"
        )
    if config.get("forward_chunk"):
        apply_fn = models.chunked(apply_fn, config.forward_chunk)
    return apply_fn, params, tok, ckpt
