"""Omniglot few-shot splits as used by MAML (Finn et al. 2017) and its reproductions."""

from __future__ import annotations

import jax
import numpy as np

from jtransfer._core.keys import default_key
from jtransfer.data._load import load
from jtransfer.data._sources import NUM_OMNIGLOT_BACKGROUND

__all__ = ["omniglot_few_shot"]

NUM_OMNIGLOT_CHARACTERS = 1623


def omniglot_few_shot(
    *,
    split: str = "maml",
    num_train: int = 1200,
    rotations: bool = True,
    image_size: int = 28,
    dtype: np.dtype | type = np.float32,
    manual_dir: str | None = None,
    data_dir: str | None = None,
    key: jax.Array | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Omniglot meta-train / meta-test sets for N-way K-shot episodes.

    ``split="maml"``: the 1623 characters are permuted with ``key`` irrespective of
    alphabet; the first ``num_train`` (1200) are meta-training classes, the remaining 423
    meta-test classes (Finn et al. 2017, Sec. 5.2; Santoro et al. 2016).
    ``split="background"``: the 964 background characters train, the 659 evaluation
    characters test (Lake et al. 2015).

    With ``rotations`` every character also appears rotated by 90, 180 and 270 degrees
    (counter-clockwise), each rotation a new class: class id ``4 * character + r`` for a
    rotation by ``90 r`` degrees, so the MAML split has 4800 training classes.

    Feed the result to :func:`jtransfer.data.episode_sampler`, e.g.
    ``episode_sampler(d["train"]["x"], d["train"]["y"], num_ways=5, num_shots=1,
    num_queries=1)``.

    Args:
      key: ``jax.random`` key for the class permutation (``None``: ``jax.random.key(0)``);
        unused for ``split="background"``.
      split: ``"maml"`` or ``"background"``.
      num_train: training characters for ``split="maml"``.
      rotations: add the 90/180/270 degree rotations as new classes.
      image_size: 28 (MAML's downsampled images) or 105 (original).
      dtype: ``np.float32`` (ink = 1.0, background = 0.0, as MAML's ``1 - image / 255``) or
        ``np.uint8`` (ink = 255; a quarter of the memory, convert after sampling).
      manual_dir: manual-download folder (see :func:`jtransfer.data.load`).
      data_dir: TFDS data dir (see :func:`jtransfer.data.load`).

    Returns:
      ``{"train": {"x", "y"}, "test": {"x", "y"}}`` with ``x`` of shape
      ``(n, image_size, image_size, 1)`` and integer class ids ``y`` (20 drawings per class).

    References:
      Finn, Abbeel, Levine, "Model-Agnostic Meta-Learning", ICML 2017.
      https://arxiv.org/abs/1703.03400 ; Lake, Salakhutdinov, Tenenbaum, Science 2015.
    """
    if split not in ("maml", "background"):
        raise ValueError(f"split must be 'maml' or 'background'; got {split!r}")
    if image_size not in (28, 105):
        raise ValueError(f"image_size must be 28 or 105; got {image_size!r}")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise ValueError(f"dtype must be float32 or uint8; got {dtype!r}")
    if not (isinstance(num_train, int) and 0 < num_train < NUM_OMNIGLOT_CHARACTERS):
        raise ValueError(
            f"num_train must be in 1..{NUM_OMNIGLOT_CHARACTERS - 1}; got {num_train!r}"
        )
    d = load(
        "omniglot", config=f"{image_size}x{image_size}", manual_dir=manual_dir, data_dir=data_dir
    )  # background + evaluation, y = global character 0..1622
    if split == "maml":
        perm = np.asarray(jax.random.permutation(default_key(key), NUM_OMNIGLOT_CHARACTERS))
        train_chars, test_chars = perm[:num_train], perm[num_train:]
    else:
        train_chars = np.arange(NUM_OMNIGLOT_BACKGROUND)
        test_chars = np.arange(NUM_OMNIGLOT_BACKGROUND, NUM_OMNIGLOT_CHARACTERS)
    out = {}
    for part, chars in (("train", np.sort(train_chars)), ("test", np.sort(test_chars))):
        sel = np.isin(d["y"], chars)
        x, y = d["x"][sel], d["y"][sel]
        if rotations:
            x = np.concatenate([np.rot90(x, r, axes=(1, 2)) for r in range(4)])
            y = np.concatenate([4 * y + r for r in range(4)])
        if np.dtype(dtype) == np.float32:
            x = x.astype(np.float32) / np.float32(255)
        out[part] = {"x": np.ascontiguousarray(x), "y": y}
    return out
