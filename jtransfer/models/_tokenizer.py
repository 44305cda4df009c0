"""Text -> fixed-length int32 token batches with the ``tokenizers`` package (Rust, no PyTorch).

The WordPiece / BPE logic is the checkpoint's own ``tokenizer.json``, read with
``tokenizers.Tokenizer.from_file``; nothing is re-implemented here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from jtransfer._core.extras import import_extra

__all__ = ["TextTokenizer", "load_tokenizer"]


class TextTokenizer:
    """Batched, padded, truncated tokenisation to int32 NumPy arrays.

    Calling ``tok(texts, *, max_length=128)`` returns a dict of int32 arrays ``input_ids``,
    ``attention_mask`` and ``token_type_ids``, each (len(texts), max_length): every text is
    truncated to ``max_length`` word pieces **including** the special tokens (so ``[CLS] ...
    [SEP]`` are kept) and right-padded with the pad id. This is the ``batch`` a
    :class:`~jtransfer.models.BertEncoder` takes.

    Args:
      tokenizer: a ``tokenizers.Tokenizer`` (e.g. ``Tokenizer.from_file("tokenizer.json")``).

    Example:
      >>> from jtransfer.models import load_tokenizer
      >>> tok = load_tokenizer()  # doctest: +SKIP
      >>> tok(["Hello world!"], max_length=6)["input_ids"]  # doctest: +SKIP
      array([[ 101, 7592, 2088,  999,  102,    0]], dtype=int32)
    """

    def __init__(self, tokenizer):
        self._tok = tokenizer.__class__.from_str(tokenizer.to_str())  # own copy: we mutate it
        pad = self._tok.padding or {}
        self.pad_token = pad.get("pad_token", "[PAD]")
        pid = self._tok.token_to_id(self.pad_token)
        self.pad_token_id = int(pad.get("pad_id", 0 if pid is None else pid))
        self.pad_type_id = int(pad.get("pad_type_id", 0))
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)

    def __call__(self, texts: Sequence[str], *, max_length: int = 128) -> dict[str, np.ndarray]:
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ValueError(
                "TextTokenizer: texts must be a sequence of str (a list), got "
                f"{type(texts).__name__}"
            )
        if len(texts) == 0:
            raise ValueError("TextTokenizer: texts is empty")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise ValueError(
                f"TextTokenizer: texts[{bad[0]}] is a {type(texts[bad[0]]).__name__}, not a str"
            )
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
            raise ValueError(
                f"TextTokenizer: max_length must be an int >= 2 (room for [CLS] "
                f"and [SEP]), got {max_length!r}"
            )
        self._tok.enable_truncation(max_length=max_length)
        self._tok.enable_padding(
            length=max_length,
            pad_id=self.pad_token_id,
            pad_token=self.pad_token,
            pad_type_id=self.pad_type_id,
        )
        enc = self._tok.encode_batch(list(texts))
        return {
            "input_ids": np.asarray([e.ids for e in enc], dtype=np.int32),
            "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int32),
            "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int32),
        }


def load_tokenizer(
    path: str | os.PathLike | None = None, *, name: str = "minilm_l6_v2", verify: bool = True
) -> TextTokenizer:
    """Reads ``tokenizer.json`` of a checkpoint folder into a :class:`TextTokenizer`.

    Args:
      path: the checkpoint folder; default ``<manual dir>/<name>``
        (:func:`jtransfer.data.default_manual_dir`).
      name: subfolder of the manual dir used when ``path`` is None.
      verify: when the folder has ``SHA256SUMS``, check ``tokenizer.json`` against it.

    Raises:
      FileNotFoundError: folder or ``tokenizer.json`` missing.
      ValueError: checksum mismatch.
    """
    Tokenizer = import_extra("tokenizers", "lm", "jtransfer.models.load_tokenizer").Tokenizer

    from jtransfer.models._pretrained import checkpoint_dir, verify_checkpoint_files

    folder = checkpoint_dir(path, name=name)
    file = folder / "tokenizer.json"
    if verify:
        verify_checkpoint_files(folder, ("tokenizer.json",))
    elif not file.is_file():
        raise FileNotFoundError(f"jtransfer.models: {str(file)!r} not found")
    return TextTokenizer(Tokenizer.from_file(str(file)))
