"""Pooled encoder features for a whole text dataset: batched, jitted, cached and resumable.

The encoder is any pure ``apply_fn(params, batch) -> out`` with ``out.hidden_states`` a tuple
of ``num_layers + 1`` arrays ``(B, L, H)`` (index 0: embeddings, -1: last layer) and
``batch`` a dict of int32 ``(B, L)`` arrays (``input_ids``, ``attention_mask`` and optionally
``token_type_ids``), as made by ``tokenizer(texts, max_length=L)``.

Cache layout
------------
``cache_dir/<key>/`` holds ``chunk_00000.npy, chunk_00001.npy, ...`` (float32
``(n_chunk, len(layers), H)``) and ``manifest.json`` (the key's components, the chunk size and
the completed chunks). Every file is written to a temporary name and renamed, so an
interrupted run leaves only whole chunks behind, and a rerun computes only the missing ones.
``<key>`` is the SHA-256 of the checkpoint hash, the layers, the maximum length, a hash of
the texts (content and order), the pooling and ``cache_key_extra``: a change in any of them
selects another folder and never reuses stale features. The tokenizer is not hashed: it is
normally part of the checkpoint (pass the checkpoint folder's hash as ``checkpoint_hash``)
or goes into ``cache_key_extra``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_FORMAT = 1
_MANIFEST = "manifest.json"


def params_hash(params: Any) -> str:
    """SHA-256 (hex) of a params pytree: every leaf's path, dtype, shape and bytes.

    Two pytrees with equal leaves at equal paths give the same hash on any machine. Costs
    one pass over the weights on the host (about a second for a 110M-parameter encoder);
    pass a file hash as ``checkpoint_hash`` to :func:`extract_features` to skip it.

    Example:
      >>> import jax.numpy as jnp
      >>> params_hash({"w": jnp.zeros(2)}) == params_hash({"w": jnp.zeros(2)})
      True
      >>> params_hash({"w": jnp.zeros(2)}) == params_hash({"w": jnp.ones(2)})
      False
    """
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        x = np.ascontiguousarray(jax.device_get(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{x.dtype.str}|{x.shape}|".encode())
        h.update(x.tobytes())
    return h.hexdigest()


def texts_hash(texts: Sequence[str]) -> str:
    """SHA-256 (hex) of a sequence of strings, order- and boundary-sensitive.

    .. math::

        \\operatorname{sha256}\\big(\\Vert_i\\; \\mathrm{len}_8(b_i) \\,\\Vert\\, b_i\\big),
        \\qquad b_i = \\mathrm{utf8}(t_i),

    where :math:`\\mathrm{len}_8` is the byte length as 8 little-endian bytes, so
    ``["ab", "c"]`` and ``["a", "bc"]`` differ. It is the text component of the cache keys of
    :func:`extract_features` and of the LoRA token cache of ``experiments/lm_domain_shift``;
    changing it would orphan every cache on disk (a test pins its value).

    Args:
      texts: the strings, in order.

    Returns:
      The 64-character hexadecimal digest.

    Example:
      >>> texts_hash(["ab", "c"]) == texts_hash(["a", "bc"])
      False
      >>> texts_hash([])[:12]
      'e3b0c44298fc'
    """
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _atomic_write(path: str, write: Callable[[Any], None]) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _masked_mean(h: jax.Array, mask: jax.Array) -> jax.Array:
    m = mask.astype(h.dtype)[:, :, None]
    return (h * m).sum(axis=1) / jnp.maximum(m.sum(axis=1), 1.0)


@functools.lru_cache(maxsize=16)  # one compilation per (encoder, layers) and batch shape
def _pooled_fn(apply_fn: Callable, layers: tuple[int, ...]) -> Callable:
    def pooled(params, batch):
        out = apply_fn(params, batch)
        hidden = getattr(out, "hidden_states", None)
        if hidden is None:
            raise ValueError(
                "apply_fn must return an object with .hidden_states (a tuple of "
                f"(B, L, H) arrays), got {type(out).__name__}"
            )
        n = len(hidden)
        bad = [l for l in layers if not -n <= l < n]
        if bad:
            raise ValueError(
                f"layers {bad} out of range for {n} hidden states "
                f"(0 = embeddings .. {n - 1} = last layer, negatives count back)"
            )
        mask = batch["attention_mask"]
        return jnp.stack(
            [_masked_mean(hidden[l].astype(jnp.float32), mask) for l in layers], axis=1
        )

    return jax.jit(pooled)


def _tokenize(tokenizer, texts, max_length):
    toks = tokenizer(list(texts), max_length=max_length)
    if "input_ids" not in toks or "attention_mask" not in toks:
        raise ValueError(
            "tokenizer must return a dict with 'input_ids' and 'attention_mask', "
            f"got keys {sorted(toks)}"
        )
    out = {}
    for k, v in toks.items():
        v = np.asarray(v)
        if v.shape != (len(texts), max_length):
            raise ValueError(
                f"tokenizer output {k!r} has shape {v.shape}, expected "
                f"{(len(texts), max_length)} (texts, max_length)"
            )
        out[k] = v.astype(np.int32)
    return out


def extract_features(
    apply_fn: Callable,
    params: Any,
    texts: Sequence[str],
    tokenizer: Callable,
    *,
    layers: Sequence[int] = (-1,),
    max_length: int = 128,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    checkpoint_hash: str | None = None,
    cache_key_extra: Any = None,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Mask-weighted mean features of chosen encoder layers for every text, cached on disk.

    For text ``i`` with attention mask :math:`m` and hidden states :math:`h^{(l)}` of layer
    :math:`l`:

    .. math::
        f_{i,l} = \\frac{\\sum_t m_t\\, h^{(l)}_t}{\\max(1, \\sum_t m_t)}

    Texts are tokenized one chunk at a time and encoded in batches of ``batch_size`` (the
    last batch is padded with empty rows, so the jitted encoder compiles once); the next
    chunk is tokenized while the device encodes the current one.

    Args:
      apply_fn: pure ``apply_fn(params, batch) -> out`` with ``out.hidden_states`` a tuple of
        ``(B, L, H)`` arrays (see the module docstring).
      params: the encoder's params pytree.
      texts: N strings.
      tokenizer: ``tokenizer(texts, *, max_length) -> dict`` of ``(n, max_length)`` int arrays.
      layers: hidden-state indices (0 = embeddings, -1 = last layer).
      max_length: token length L.
      batch_size: rows per encoder call.
      cache_dir: folder for the on-disk cache; None computes without caching.
      checkpoint_hash: a string identifying the weights (and tokenizer), e.g. a hash of the
        checkpoint files; default :func:`params_hash` of ``params``.
      cache_key_extra: anything JSON-serialisable (or with a stable ``repr``) that also
        changes the features, e.g. the dataset version or a tokenizer hash.
      chunk_size: texts per cache chunk (the unit of resumption); default
        ``64 * batch_size``. A resumed run keeps the chunk size it started with.
      on_chunk: called as ``on_chunk(chunk_index, num_chunks)`` after each chunk is saved.
      progress: show a progress bar (``jtransfer.train.progress``); None lets it decide.

    Returns:
      float32 array ``(N, len(layers), H)``.

    Example:
      >>> import numpy as np, jax.numpy as jnp
      >>> from typing import NamedTuple
      >>> class Out(NamedTuple):
      ...     hidden_states: tuple
      >>> emb = jnp.arange(20.0).reshape(10, 2)
      >>> apply_fn = lambda p, b: Out((p[b["input_ids"]],))
      >>> def tokenizer(texts, *, max_length):
      ...     ids = np.zeros((len(texts), max_length), np.int32)
      ...     for i, t in enumerate(texts):
      ...         ids[i, :len(t)] = [ord(c) - 96 for c in t[:max_length]]
      ...     return {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int32)}
      >>> extract_features(apply_fn, emb, ["ab", "c"], tokenizer, max_length=4,
      ...                  progress=False)[:, 0]
      array([[3., 4.],
             [6., 7.]], dtype=float32)
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a sequence of str")
    if len(texts) == 0:
        raise ValueError("texts is empty")
    layers = tuple(layers)
    if not layers or not all(isinstance(l, int) and not isinstance(l, bool) for l in layers):
        raise ValueError(f"layers must be a non-empty sequence of ints, got {layers!r}")
    for name, v in (("max_length", max_length), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if chunk_size is None:
        chunk_size = 64 * batch_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    n = len(texts)

    folder = manifest = None
    if cache_dir is not None:
        components = {
            "format": _FORMAT,
            "pooling": "attention_mask_mean",
            "checkpoint": checkpoint_hash if checkpoint_hash is not None else params_hash(params),
            "layers": list(layers),
            "max_length": max_length,
            "texts": texts_hash(texts),
            "num_texts": n,
            "extra": json.loads(json.dumps(cache_key_extra, sort_keys=True, default=repr)),
        }
        key = hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()[:24]
        folder = os.path.join(os.fspath(cache_dir), key)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, _MANIFEST)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
            if manifest.get("components") != components:  # hash collision or foreign folder
                manifest = None
        if manifest is None:
            manifest = {"components": components, "chunk_size": chunk_size, "done": []}
        chunk_size = manifest["chunk_size"]

    num_chunks = -(-n // chunk_size)
    chunk_file = lambda c: os.path.join(folder, f"chunk_{c:05d}.npy")
    done = set()
    if manifest is not None:
        done = {c for c in manifest["done"] if os.path.exists(chunk_file(c))}
    todo = [c for c in range(num_chunks) if c not in done]
    results: dict[int, np.ndarray] = {}

    if todo:
        from jtransfer.train import progress as progress_bar  # models -> train, no cycle

        fn = _pooled_fn(apply_fn, layers)
        bounds = lambda c: (c * chunk_size, min(n, (c + 1) * chunk_size))
        batches_in = lambda c: -(-(bounds(c)[1] - bounds(c)[0]) // batch_size)
        bar = progress_bar(
            sum(batches_in(c) for c in todo),
            desc="features",
            disable=None if progress is None else not progress,
        )

        def dispatch(c):
            lo, hi = bounds(c)
            toks = _tokenize(tokenizer, texts[lo:hi], max_length)
            outs = []
            for s in range(0, hi - lo, batch_size):
                batch = {k: v[s : s + batch_size] for k, v in toks.items()}
                pad = batch_size - len(batch["input_ids"])
                if pad:
                    batch = {k: np.pad(v, ((0, pad), (0, 0))) for k, v in batch.items()}
                outs.append(fn(params, batch))  # asynchronous dispatch
            return c, hi - lo, outs

        def finish(c, rows, outs):
            feats = np.concatenate([np.asarray(o) for o in outs])[:rows]
            bar.update(len(outs))
            if folder is None:
                results[c] = feats
            else:
                _atomic_write(chunk_file(c), lambda f: np.save(f, feats))
                done.add(c)
                manifest["done"] = sorted(done)
                _atomic_write(
                    os.path.join(folder, _MANIFEST),
                    lambda f: f.write(json.dumps(manifest, indent=1).encode()),
                )
            if on_chunk is not None:
                on_chunk(c, num_chunks)

        try:
            pending = None
            for c in todo:
                current = dispatch(c)
                if pending is not None:
                    finish(*pending)
                pending = current
            finish(*pending)
        finally:
            bar.close()

    if folder is not None:
        return np.concatenate([np.load(chunk_file(c)) for c in range(num_chunks)])
    return np.concatenate([results[c] for c in range(num_chunks)])
