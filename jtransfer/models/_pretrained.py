"""Loading pretrained BERT-family checkpoints saved in the Hugging Face folder layout.

A checkpoint folder holds ``config.json`` and ``model.safetensors`` (tensor names as in
``transformers.BertModel``, linear weights stored (out, in)), and for text input
``tokenizer.json``. The shipped copy of all-MiniLM-L6-v2 lives in
``<manual dir>/minilm_l6_v2`` (see :func:`jtransfer.data.default_manual_dir`); any other
checkpoint saved the same way loads the same way with ``path=``. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import re

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jtransfer._core.extras import import_extra
from jtransfer.models._bert import BertConfig, BertEncoder

__all__ = ["checkpoint_dir", "load_pretrained", "verify_checkpoint_files"]

# Tensors that a BertModel / BertForPreTraining checkpoint may hold but the encoder does not
# use: they are skipped silently. Any other unknown tensor raises ValueError.
_IGNORED = re.compile(r"^(pooler\.|cls\.|embeddings\.position_ids$)")
# (digest by (real path, size, mtime_ns)): hashing 88 MB costs ~0.3 s, so do it once.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def checkpoint_dir(
    path: str | os.PathLike | None = None, *, name: str = "minilm_l6_v2"
) -> pathlib.Path:
    """The checkpoint folder: ``path`` if given, else ``<manual dir>/<name>``.

    The manual dir is :func:`jtransfer.data.default_manual_dir` (``JTRANSFER_MANUAL_DIR`` or
    ``../shared/data`` next to the repository).

    Raises:
      FileNotFoundError: the folder does not exist (the message says where it looked).
    """
    from jtransfer.data import default_manual_dir

    folder = pathlib.Path(path).expanduser() if path is not None else default_manual_dir() / name
    if not folder.is_dir():
        how = (
            "path="
            if path is not None
            else f"<manual dir>/{name} (set JTRANSFER_MANUAL_DIR or pass path=)"
        )
        raise FileNotFoundError(
            f"jtransfer.models: checkpoint folder {str(folder)!r} not found (from {how})"
        )
    return folder


def _sha256(path: pathlib.Path) -> str:
    st = path.stat()
    k = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if k not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        _HASH_CACHE[k] = h.hexdigest()
    return _HASH_CACHE[k]


def verify_checkpoint_files(folder: str | os.PathLike, files: tuple[str, ...]) -> bool:
    """Checks ``files`` of ``folder`` against its ``SHA256SUMS`` (``sha256sum`` format).

    Digests are cached per (path, size, mtime), so repeated loads hash once per process.

    Returns:
      True when the folder has ``SHA256SUMS`` and every file listed there matched; False when
      there is no ``SHA256SUMS`` (nothing to verify). Files not listed are not checked.

    Raises:
      FileNotFoundError: a file in ``files`` is missing.
      ValueError: a file's SHA-256 differs from the one in ``SHA256SUMS``.
    """
    folder = pathlib.Path(folder)
    for f in files:
        if not (folder / f).is_file():
            raise FileNotFoundError(f"jtransfer.models: {str(folder / f)!r} not found")
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return False
    expected = {}
    for line in sums.read_text().splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            expected[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    for f in files:
        if f in expected:
            got = _sha256(folder / f)
            if got != expected[f]:
                raise ValueError(
                    f"jtransfer.models: checksum mismatch for {str(folder / f)!r}: "
                    f"SHA-256 {got}, SHA256SUMS says {expected[f]}"
                )
    return True


def _hf_name(path: tuple) -> tuple[str, bool]:
    """NNX param path -> (Hugging Face tensor name, whether the array is transposed)."""
    leaf = path[-1]
    if path[0] == "embeddings":
        mod = path[1]
        prefix = "embeddings." + ("LayerNorm" if mod == "layer_norm" else mod)
    else:  # ("layers", i, module, leaf)
        i, mod = path[1], path[2]
        sub = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attention_output": "attention.output.dense",
            "attention_layer_norm": "attention.output.LayerNorm",
            "intermediate": "intermediate.dense",
            "output": "output.dense",
            "output_layer_norm": "output.LayerNorm",
        }[mod]
        prefix = f"encoder.layer.{i}.{sub}"
    if leaf == "kernel":
        return prefix + ".weight", True
    if leaf in ("scale", "embedding"):
        return prefix + ".weight", False
    return prefix + ".bias", False


def _read_tensors(file: pathlib.Path) -> dict[str, np.ndarray]:
    load_file = import_extra(
        "safetensors.numpy", "lm", "jtransfer.models.load_pretrained"
    ).load_file

    tensors = load_file(str(file))
    if tensors and all(
        k.startswith("bert.") for k in tensors if not _IGNORED.match(k) and not k.startswith("cls.")
    ):
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items()}
    # Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
    return {
        re.sub(
            r"LayerNorm\.gamma$",
            "LayerNorm.weight",
            re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", k),
        ): v
        for k, v in tensors.items()
    }


@functools.lru_cache(maxsize=8)
def _abstract_encoder(config: BertConfig, dtype):
    """(graphdef, flat abstract params, rest) of an encoder; cached: tracing the NNX
    constructor costs ~1 s, which would otherwise dominate repeated loads."""
    abstract = nnx.eval_shape(lambda: BertEncoder(config, dtype=dtype, rngs=nnx.Rngs(0)))
    graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
    return graphdef, nnx.to_flat_state(params), rest


def load_pretrained(
    path: str | os.PathLike | None = None,
    *,
    name: str = "minilm_l6_v2",
    dtype=jnp.float32,
    verify: bool = True,
) -> BertEncoder:
    """Builds a :class:`BertEncoder` from a Hugging Face checkpoint folder.

    Reads ``config.json`` (:meth:`BertConfig.from_json`) and ``model.safetensors`` (with the
    ``safetensors`` package, NumPy backend, no PyTorch); the config is ``encoder.config``.
    Tensor names are ``transformers.BertModel``'s (an optional ``bert.`` prefix is accepted;
    ``LayerNorm.gamma/beta`` are read as ``weight/bias``); linear weights (out, in) are
    transposed to NNX kernels (in, out). ``pooler.*``, ``cls.*`` and
    ``embeddings.position_ids`` are ignored; any **other** unexpected tensor is an error.

    Args:
      path: the checkpoint folder; default ``<manual dir>/<name>``
        (:func:`jtransfer.data.default_manual_dir`).
      name: subfolder of the manual dir used when ``path`` is None.
      dtype: parameter dtype (float32 reproduces PyTorch to ~1e-5).
      verify: when the folder has ``SHA256SUMS`` (the shipped copy), check ``config.json`` and
        ``model.safetensors`` against it (hashed once per process, then cached).

    Returns:
      the encoder (inference-ready; wrap it with :func:`jtransfer.models.functional`).

    Raises:
      FileNotFoundError: folder, ``config.json`` or ``model.safetensors`` missing.
      ValueError: checksum mismatch, unsupported ``model_type``/activation/position type,
        missing tensor, tensor of the wrong shape, unexpected extra tensor.

    Example:
      >>> from jtransfer.models import functional, load_pretrained, load_tokenizer
      >>> encoder = load_pretrained()  # doctest: +SKIP
      >>> apply_fn, params = functional(encoder, train=False)  # doctest: +SKIP
      >>> out = apply_fn(params, load_tokenizer()(["a sentence"]))  # doctest: +SKIP
      >>> out.pooled.shape  # doctest: +SKIP
      (1, 384)
    """
    folder = checkpoint_dir(path, name=name)
    files = ("config.json", "model.safetensors")
    if verify:
        verify_checkpoint_files(folder, files)
    else:
        for f in files:
            if not (folder / f).is_file():
                raise FileNotFoundError(f"jtransfer.models: {str(folder / f)!r} not found")
    config = BertConfig.from_json(folder / "config.json")
    tensors = _read_tensors(folder / "model.safetensors")

    graphdef, flat, rest = _abstract_encoder(config, jnp.dtype(dtype))
    used = set()
    new = []
    for p, var in flat:
        hf, transpose = _hf_name(tuple(p))
        if hf not in tensors:
            raise ValueError(
                f"jtransfer.models: tensor {hf!r} missing from "
                f"{str(folder / 'model.safetensors')!r}"
            )
        a = tensors[hf]
        a = a.T if transpose else a
        want = tuple(var.shape)
        if tuple(a.shape) != want:
            got = tuple(a.shape[::-1]) if transpose else tuple(a.shape)
            exp = tuple(want[::-1]) if transpose else want
            raise ValueError(
                f"jtransfer.models: tensor {hf!r} has shape {got}, the config needs {exp}"
            )
        used.add(hf)
        new.append((p, var.replace(jnp.asarray(a, dtype=dtype))))
    extra = sorted(k for k in tensors if k not in used and not _IGNORED.match(k))
    if extra:
        raise ValueError(
            f"jtransfer.models: unexpected tensors in "
            f"{str(folder / 'model.safetensors')!r} (not part of a "
            f"{config.model_type} encoder of this config): {extra[:10]}"
            + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        )
    params = nnx.from_flat_state(new)
    encoder = nnx.merge(graphdef, params, rest)
    encoder.eval()
    return encoder
