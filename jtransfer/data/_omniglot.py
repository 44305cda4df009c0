"""Omniglot few-shot splits as used by MAML (Finn et al. 2017) and its reproductions."""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core.keys import default_key
from jtransfer.data._load import load
from jtransfer.data._sources import (
    NUM_OMNIGLOT_BACKGROUND,
    SOURCES,
    DataFileError,
    default_manual_dir,
    sha256,
)

__all__ = ["omniglot_few_shot", "omniglot_arrays", "add_rotations"]

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


_RESIZE_CHUNK = 2048  # images per jax.image.resize call (part of the arrays' definition)


def add_rotations(x: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Adds the 90, 180 and 270 degree rotations of every class as new classes.

    Rotation by ``90 k`` degrees (counter-clockwise, ``np.rot90`` over axes 1 and 2) of an
    image of class ``c`` gets class ``c + k * num_classes``; the output stacks the four
    rotations (``k = 0, 1, 2, 3``) in that order (Santoro et al. 2016; the layout of
    :func:`omniglot_arrays`; :func:`omniglot_few_shot` numbers them ``4 c + k`` instead).

    Args:
      x: images, shape ``(n, h, w)`` or ``(n, h, w, channels)`` with ``h == w``.
      y: integer class ids in ``[0, num_classes)``, shape ``(n,)``.
      num_classes: the number of classes before rotation.

    Returns:
      ``(x_rot, y_rot)`` of lengths ``4 n``.

    Example:
      >>> x = np.arange(8).reshape(2, 2, 2)
      >>> xr, yr = add_rotations(x, np.array([0, 1]), 2)
      >>> xr.shape, yr.tolist()
      ((8, 2, 2), [0, 1, 2, 3, 4, 5, 6, 7])
      >>> bool((xr[2] == np.rot90(x[0])).all())
      True

    References:
      Santoro et al., "Meta-Learning with Memory-Augmented Neural Networks", ICML 2016.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim not in (3, 4) or x.shape[1] != x.shape[2]:
        raise ValueError(f"x must have shape (n, s, s) or (n, s, s, c); got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x {x.shape}; got {y.shape}")
    if not (isinstance(num_classes, (int, np.integer)) and num_classes >= 1):
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"y must lie in [0, num_classes={num_classes}); got [{y.min()}, {y.max()}]"
        )
    xs = [np.rot90(x, k, axes=(1, 2)) for k in range(4)]
    ys = [y + k * num_classes for k in range(4)]
    return np.concatenate(xs), np.concatenate(ys)


def _omniglot_npz(manual_dir, verify: bool) -> list[str]:
    root = default_manual_dir(manual_dir)
    folder = root / "omniglot" if (root / "omniglot").is_dir() else root
    paths = []
    for name in ("images_background.npz", "images_evaluation.npz"):
        path = folder / name
        if not path.is_file():
            raise DataFileError(
                f"jtransfer.data: Omniglot file {name!r} is missing at {path}; pass "
                "manual_dir= or set JTRANSFER_MANUAL_DIR (see docs/data.md)"
            )
        if verify and sha256(path) != SOURCES["omniglot"].files[name]:
            raise DataFileError(
                f"jtransfer.data: Omniglot file {path} has another SHA-256 than "
                f"{SOURCES['omniglot'].files[name]} (altered or another version); "
                "verify=False skips the check"
            )
        paths.append(str(path))
    return paths


@functools.lru_cache(maxsize=2)
def _resized(paths: tuple[str, ...], image_size: int) -> np.ndarray:
    """``(characters, drawings, s, s)`` ink images, resized; cached (read-only) per process,
    so several seeds in one process resize once."""
    imgs = []
    for path in paths:
        with np.load(path) as f:
            imgs.append(f["images"])
    imgs = np.concatenate(imgs)  # (characters, drawings, h, w) bool, True = background
    if imgs.ndim != 4:
        raise DataFileError(f"Omniglot npz images must be 4-D; got shape {imgs.shape}")
    n_chars, n_draw, h, w = imgs.shape
    flat = imgs.reshape(-1, h, w, 1)
    chunks = []
    for i in range(0, len(flat), _RESIZE_CHUNK):
        ink = 1.0 - flat[i : i + _RESIZE_CHUNK].astype(np.float32)
        chunks.append(
            np.asarray(
                jax.image.resize(
                    jnp.asarray(ink),
                    (len(ink), image_size, image_size, 1),
                    "linear",
                    antialias=True,
                )
            )
        )
    small = np.concatenate(chunks).reshape(n_chars, n_draw, image_size, image_size)
    small.flags.writeable = False
    return small


def omniglot_arrays(
    manual_dir: str | os.PathLike | None = None,
    image_size: int = 28,
    *,
    seed: int = 0,
    num_train: int = 1200,
    rotations: bool = True,
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Omniglot meta-train / meta-test arrays of ``experiments/maml_omniglot`` (MAML protocol).

    Reads ``images_background.npz`` and ``images_evaluation.npz`` (1623 characters x 20
    drawings, 105 x 105, ``True`` = background), turns them into ink images
    ``u = 1 - background`` (float32) and resizes them to ``image_size`` with
    ``jax.image.resize(..., "linear", antialias=True)`` in chunks of 2048 images, i.e. an
    area-weighted (triangle-kernel) average, so strokes keep grey levels in ``[0, 1]`` (the
    TFDS ``28x28`` config of :func:`omniglot_few_shot` stores binarised masks instead). The
    characters are permuted with ``np.random.default_rng(seed).permutation(1623)``; the first
    ``num_train`` are meta-training classes ``0 .. num_train - 1`` in permuted order, the rest
    meta-test classes. With ``rotations`` each split gains the 90/180/270 degree rotations as
    new classes (:func:`add_rotations`: id ``c + k * n_classes``). The arrays are bit-identical
    to those the experiment's published Omniglot numbers were computed with (same NumPy seed,
    same resize calls), which is why this function takes a NumPy ``seed`` rather than a key.

    Args:
      manual_dir: the manual-download folder holding ``omniglot/`` (or the npz files
        directly); ``None``: :func:`default_manual_dir`.
      image_size: side of the resized square images (28 in MAML; 105 keeps the original).
      seed: NumPy seed of the character permutation.
      num_train: meta-training characters (before rotation), in ``1 .. n_characters - 1``.
      rotations: add the rotated classes to both splits.
      verify: check the files' SHA-256 against the registered checksums.

    Returns:
      ``{"x_train", "y_train", "x_test", "y_test"}``: images ``(n, image_size, image_size, 1)``
      float32 with ink = 1, labels int32; 20 drawings per class, grouped by class.

    Raises:
      DataFileError: a file is missing or (with ``verify``) altered.
      ValueError: ``image_size`` or ``num_train`` out of range.

    Example:
      >>> d = omniglot_arrays(image_size=28, seed=0)  # doctest: +SKIP
      >>> d["x_train"].shape, d["x_test"].shape  # doctest: +SKIP
      ((96000, 28, 28, 1), (33840, 28, 28, 1))

    References:
      Finn, Abbeel, Levine, "Model-Agnostic Meta-Learning", ICML 2017, Sec. 5.2;
      Lake, Salakhutdinov, Tenenbaum, Science 2015.
    """
    if not (isinstance(image_size, (int, np.integer)) and 1 <= image_size <= 105):
        raise ValueError(f"image_size must be an int in 1..105; got {image_size!r}")
    small = _resized(tuple(_omniglot_npz(manual_dir, verify)), int(image_size))
    n_chars, n_draw = small.shape[:2]
    if not (isinstance(num_train, (int, np.integer)) and 0 < num_train < n_chars):
        raise ValueError(f"num_train must be in 1..{n_chars - 1}; got {num_train!r}")
    order = np.random.default_rng(seed).permutation(n_chars)
    n_test = n_chars - num_train
    out = {}
    for part, chars, n in (
        ("train", order[:num_train], num_train),
        ("test", order[num_train:], n_test),
    ):
        x = small[chars].reshape(-1, image_size, image_size)
        y = np.repeat(np.arange(n, dtype=np.int32), n_draw)
        if rotations:
            x, y = add_rotations(x, y, n)
        out[f"x_{part}"] = np.ascontiguousarray(x[..., None], dtype=np.float32)
        out[f"y_{part}"] = y.astype(np.int32)
    return out
