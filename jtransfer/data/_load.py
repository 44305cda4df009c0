"""One loader for every benchmark: build the TFDS dataset once, read it as NumPy arrays."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import warnings
from collections.abc import Sequence

import numpy as np

from jtransfer._core.extras import import_extra
from jtransfer.data import _sources as S
from jtransfer.data import _text as T
from jtransfer.data._sources import default_manual_dir, resolve_files

__all__ = ["DATASETS", "build", "default_data_dir", "load"]

DATASETS = tuple(S.SOURCES)
# text datasets: domains, splits (their ids are positions here), splits read when split=None
_TEXT = {
    "amazon_text": (S.AMAZON_TEXT_DOMAINS, T.AMAZON_TEXT_SPLITS, ["train", "validation", "test"]),
    "fdu_mtl": (S.FDU_MTL_DOMAINS, T.FDU_MTL_SPLITS, ["train", "validation", "test", "unlabelled"]),
}


def default_data_dir(data_dir: str | os.PathLike | None = None) -> str | None:
    """``data_dir``, else ``$JTRANSFER_DATA_DIR``, else ``None`` (TFDS's own default:
    ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``)."""
    if data_dir is not None:
        return os.fspath(os.path.expanduser(data_dir))
    env = os.environ.get("JTRANSFER_DATA_DIR")
    return os.path.expanduser(env) if env else None


def _builder(name: str, config: str | None, data_dir: str | None):
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {list(DATASETS)}")
    import_extra("tensorflow_datasets", "data", "jtransfer.data.load/build")
    from jtransfer.data._builders import BUILDERS  # imports TFDS: only when needed

    cls = BUILDERS[name]
    if config is not None and not cls.BUILDER_CONFIGS:
        raise ValueError(f"dataset {name!r} has no configs; got config={config!r}")
    if config is not None and config not in cls.builder_configs:
        raise ValueError(
            f"config must be one of {list(cls.builder_configs)} for {name!r}; got {config!r}"
        )
    return cls(config=config, data_dir=data_dir, file_format="array_record")


def build(name: str, *, config: str | None = None, data_dir=None, manual_dir=None):
    """Builds (once) the TFDS dataset ``name`` from the manual-download folder.

    Verifies the SHA-256 of every source file first (only when the dataset still has to be
    built), then runs ``download_and_prepare`` with no download and no GCS access. A dataset
    already prepared under ``data_dir`` is reused as is.

    Args:
      name: one of :data:`DATASETS`.
      config: builder config (``omniglot``: ``"28x28"`` (default) or ``"105x105"``).
      data_dir: TFDS data dir (see :func:`default_data_dir`).
      manual_dir: the manual-download folder (see :func:`default_manual_dir`).

    Returns:
      the prepared ``tfds.core.DatasetBuilder``.

    Raises:
      DataFileError: a source file is missing or altered (the message names the file, the
        expected checksum, the original source and the citation).
    """
    tfds = import_extra("tensorflow_datasets", "data", "jtransfer.data.build/load")

    data_dir = default_data_dir(data_dir)
    builder = _builder(name, config, data_dir)
    if builder.is_prepared():
        return builder
    root = default_manual_dir(manual_dir)
    resolve_files(name, root)  # fail early, with our message, before TFDS writes anything
    with _build_lock(builder):  # another process may be building the same dataset
        builder = _builder(name, config, data_dir)
        if not builder.is_prepared():
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(
                    manual_dir=os.fspath(root),
                    try_download_gcs=False,
                    download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS,
                )
            )
    return builder


@contextlib.contextmanager
def _build_lock(builder):
    """An exclusive file lock per dataset under the data dir (POSIX; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    root = pathlib.Path(os.fspath(builder.data_dir_root))
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{builder.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class CorruptBuildError(RuntimeError):
    """A prepared TFDS dataset whose files cannot be read (truncated or corrupted on disk)."""


def _read(builder, split: str) -> list[dict]:
    tfds = import_extra("tensorflow_datasets", "data", "jtransfer.data.load")

    full = (
        builder.name
        if builder.builder_config is None
        else f"{builder.name}/{builder.builder_config.name}"
    )
    try:
        source = tfds.data_source(
            full,
            split=split,
            data_dir=os.fspath(builder.data_dir_root),
            download=False,
            try_gcs=False,
        )
        items = source.__getitems__(list(range(len(source))))
    except Exception as err:  # Riegeli/array_record/TFDS raise many types, none with a path
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise CorruptBuildError(
            f"the built dataset {full} (split {split!r}) in {builder.data_dir} cannot be read "
            f"({type(err).__name__}: {reason}); delete that folder and load again to rebuild "
            "it"
        ) from err
    key = "task" if "task" in items[0] else "index"
    return sorted(items, key=lambda e: int(e[key]))


def _pick(value, allowed: Sequence[str], what: str, name: str) -> list[str]:
    if value is None:
        return list(allowed)
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ValueError(
            f"{what} must name at least one of {list(allowed)} (or be None for "
            f"all) for {name!r}; got an empty list"
        )
    for v in values:
        if v not in allowed:
            raise ValueError(
                f"{what} must be one of {list(allowed)} (or None for all) for {name!r}; got {v!r}"
            )
    return values


def _no(value, what: str, name: str):
    if value is not None:
        raise ValueError(f"dataset {name!r} takes no {what}; got {what}={value!r}")


def _stack(rows: list[dict], key: str, dtype=None) -> np.ndarray:
    return np.stack([np.asarray(r[key], dtype) for r in rows])


def load(
    name: str,
    *,
    domain: str | Sequence[str] | None = None,
    split: str | Sequence[str] | None = None,
    manual_dir=None,
    data_dir=None,
    config: str | None = None,
) -> dict[str, np.ndarray]:
    """Loads a benchmark as NumPy arrays, building its TFDS dataset on first use.

    Rows keep the order of the source files. ``domain``/``split`` may be one name, a list,
    or ``None`` for all; arrays of several domains/splits are concatenated in the listed
    order with integer ids (position in the list of all domains/splits).

    ==================  ===================================  ==============================
    name                domain / split                       arrays
    ==================  ===================================  ==============================
    office_caltech10    domain: amazon caltech dslr webcam   x (n, 800) float32 SURF counts,
                                                             y 0..9, domain
    amazon_reviews      domain: books dvd electronics        x (n, 5000) float32 counts,
                        kitchen; split: train test           y 0/1, domain, split
    usps                split: train test                    x (n, 16, 16, 1) float32 [0,1],
                                                             y, split
    mnist               split: test                          x (n, 28, 28, 1) uint8, y
    mnist_m             split: test                          x (n, 32, 32, 3) uint8, y
    mnist_usps_jda      domain: mnist usps                   x (n, 256) float32, y 0..9,
                                                             domain
    omniglot            split: background evaluation         x (n, S, S, 1) uint8 ink=255,
                        small1 small2 (None: background +    y global character 0..1622;
                        evaluation); config 28x28 / 105x105  20 rows per character
    school              -                                    x (15362, 28) float32, y, task
    amazon_text         domain: books dvd electronics        text, title, id: object arrays
                        kitchen; split: train validation     of str; y 0/1, domain, split
                        test all (None: train + validation
                        + test)
    fdu_mtl             domain: FDU_MTL_DOMAINS; split:      text, id: object arrays of str;
                        train validation test unlabelled     y 0/1 (-1 unlabelled), domain,
                        train_full (None: all but            split
                        train_full)
    ==================  ===================================  ==============================

    Text datasets keep the rows of each split in id order (see docs/data.md); ``text`` is a
    NumPy ``object`` array of Python ``str`` (a fixed-width ``<U`` array would take
    4 bytes x the longest review per row), so ``d["text"].tolist()`` is a list of ``str``.

    Args:
      name: dataset name (see :data:`DATASETS`).
      domain: domain name(s) where the dataset has domains.
      split: split name(s) where the dataset has splits.
      manual_dir: manual-download folder (argument, ``$JTRANSFER_MANUAL_DIR``, or
        ``../shared/data`` beside the repository).
      data_dir: TFDS data dir for the built dataset (argument, ``$JTRANSFER_DATA_DIR``, or
        TFDS's default ``~/tensorflow_datasets``).
      config: builder config (omniglot only).

    Returns:
      dict of NumPy arrays.

    Example:
      >>> d = load("amazon_text", domain="books", split="train")  # doctest: +SKIP
      >>> d["text"][0][:22], d["y"][0], d["id"][0]  # doctest: +SKIP
      ('THis book was horrible', 0, 'books/negative/0000')
    """
    parts = _plan(name, domain, split)
    _builder(name, config, None)  # validates name and config before anything is built
    builder = build(name, config=config, data_dir=data_dir, manual_dir=manual_dir)
    try:
        return _arrays(name, builder, parts)
    except CorruptBuildError as err:  # rebuild once from the manual files, then read again
        warnings.warn(f"{err}; rebuilding it now", RuntimeWarning, stacklevel=2)
        shutil.rmtree(builder.data_dir, ignore_errors=True)
        builder = build(name, config=config, data_dir=data_dir, manual_dir=manual_dir)
        return _arrays(name, builder, parts)


def _arrays(name: str, builder, parts) -> dict[str, np.ndarray]:
    if name == "omniglot":
        xs, ys = [], []
        for s, _ in parts:
            rows = _read(builder, s)
            size = builder.builder_config.size
            bits = _stack(rows, "ink")  # (C, 20, ceil(S*S/8)) packed ink masks
            ink = np.unpackbits(bits, axis=-1, count=size * size)
            images = ink.reshape(bits.shape[:2] + (size, size, 1)) * np.uint8(255)
            xs.append(images.reshape((-1,) + images.shape[2:]))
            ys.append(np.repeat(_stack(rows, "character", np.int64), images.shape[1]))
        return {"x": np.concatenate(xs), "y": np.concatenate(ys)}
    if name == "school":
        rows = _read(builder, "train")
        return {
            "x": np.concatenate([r["x"] for r in rows]).astype(np.float32),
            "y": np.concatenate([r["y"] for r in rows]).astype(np.float32),
            "task": np.concatenate([np.full(len(r["y"]), r["task"], np.int64) for r in rows]),
        }
    if name in _TEXT:
        return _concat_text(builder, parts)
    return _concat(builder, parts, dense=name != "amazon_reviews")


def _plan(name, domain, split) -> list[tuple[str, dict[str, int]]]:
    """Validates ``domain``/``split`` and lists the TFDS splits to read with their ids."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {list(DATASETS)}")
    if name in ("office_caltech10", "mnist_usps_jda"):
        _no(split, "split", name)
        doms = S.OFFICE_DOMAINS if name == "office_caltech10" else S.JDA_DOMAINS
        return [(d, {"domain": doms.index(d)}) for d in _pick(domain, doms, "domain", name)]
    if name == "amazon_reviews":
        doms = _pick(domain, S.AMAZON_DOMAINS, "domain", name)
        splits = _pick(split, ("train", "test"), "split", name)
        return [
            (f"{d}_{s}", {"domain": S.AMAZON_DOMAINS.index(d), "split": ("train", "test").index(s)})
            for d in doms
            for s in splits
        ]
    if name in _TEXT:
        doms, splits, default = _TEXT[name]
        chosen = _pick(default if split is None else split, splits, "split", name)
        return [
            (f"{d}_{s}", {"domain": doms.index(d), "split": splits.index(s)})
            for d in _pick(domain, doms, "domain", name)
            for s in chosen
        ]
    _no(domain, "domain", name)
    if name == "usps":
        return [
            (s, {"split": ("train", "test").index(s)})
            for s in _pick(split, ("train", "test"), "split", name)
        ]
    if name in ("mnist", "mnist_m"):
        return [(s, {}) for s in _pick(split, ("test",), "split", name)]
    if name == "omniglot":
        default = ["background", "evaluation"] if split is None else split
        return [(s, {}) for s in _pick(default, S.OMNIGLOT_SPLITS, "split", name)]
    _no(split, "split", name)  # school
    return [("train", {})]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _concat_text(builder, parts) -> dict[str, np.ndarray]:
    """Text splits as NumPy arrays: ``text`` (and ``title``, ``id``) object arrays of
    ``str``, ``y`` int64, and the ``domain``/``split`` ids."""
    out: dict[str, list[np.ndarray]] = {}
    for split, ids in parts:
        if split.endswith("_train_full"):  # fdu_mtl: the whole train file, in line order
            dom = split[: -len("_train_full")]
            rows = sorted(
                _read(builder, f"{dom}_train") + _read(builder, f"{dom}_validation"),
                key=lambda r: int(r["index"]),
            )
        else:
            rows = _read(builder, split)
        for key in ("text", "title", "id"):
            if key in rows[0]:
                col = np.empty(len(rows), object)
                col[:] = [_text(r[key]) for r in rows]
                out.setdefault(key, []).append(col)
        out.setdefault("y", []).append(np.array([int(r["label"]) for r in rows], np.int64))
        for k, v in ids.items():
            out.setdefault(k, []).append(np.full(len(rows), v, np.int64))
    return {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in out.items()}


def _concat(builder, parts, *, dense: bool) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    for split, ids in parts:
        rows = _read(builder, split)
        if dense:
            x = _stack(rows, "x")
        else:  # sparse indices/values -> dense float32
            x = np.zeros((len(rows), S.AMAZON_NUM_FEATURES), np.float32)
            lengths = [len(r["indices"]) for r in rows]
            x[
                np.repeat(np.arange(len(rows)), lengths),
                np.concatenate([r["indices"] for r in rows]),
            ] = np.concatenate([r["values"] for r in rows])
        out.setdefault("x", []).append(x)
        out.setdefault("y", []).append(_stack(rows, "y", np.int64))
        for k, v in ids.items():
            out.setdefault(k, []).append(np.full(len(rows), v, np.int64))
    return {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in out.items()}
