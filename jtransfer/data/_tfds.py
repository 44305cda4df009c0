"""Any TFDS dataset by name (a researcher's own builder included) as NumPy arrays."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from jtransfer._core.extras import import_extra
from jtransfer.data._load import default_data_dir
from jtransfer.data._sources import default_manual_dir

__all__ = ["load_tfds"]


def load_tfds(
    name: str,
    *,
    split: str,
    keys: Sequence[str] | None = None,
    data_dir=None,
    manual_dir=None,
) -> dict[str, np.ndarray]:
    """Reads one split of a TFDS dataset that TFDS knows by name, as NumPy arrays.

    For datasets that are not among :data:`DATASETS`: a builder of your own (any
    ``tfds.core.GeneratorBasedBuilder`` subclass is registered under its ``name`` once its
    module is imported) or one of TFDS's catalogue. The dataset is prepared once as
    ``array_record`` under ``data_dir`` (manual files from ``manual_dir``, no GCS) and read
    with ``tfds.data_source``, without TensorFlow. Rows keep the order of the prepared files.

    Args:
      name: a registered TFDS name, optionally with a config (``"my_domains/v2"``).
      split: the split to read (TFDS split syntax, e.g. ``"amazon"`` or ``"train[:80%]"``).
      keys: the features to read (default: all); each is stacked into one array, so every
        read feature must have a fixed shape.
      data_dir: TFDS data dir (argument, ``$JTRANSFER_DATA_DIR``, or TFDS's default).
      manual_dir: the manual-download folder for builders that read manual files (see
        :func:`default_manual_dir`).

    Returns:
      ``{key: (n, ...) array}`` for each read feature.

    Raises:
      ValueError: TFDS knows no dataset ``name``, ``split`` is not one of its splits, or a
        key is not one of its features.

    Example:
      >>> d = load_tfds("my_domains", split="webcam", keys=("x", "y"))  # doctest: +SKIP
      >>> d["x"].shape, d["y"].shape  # doctest: +SKIP
      ((295, 800), (295,))
    """
    tfds = import_extra("tensorflow_datasets", "data", "jtransfer.data.load_tfds")
    data_dir = default_data_dir(data_dir)
    try:
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(
            f"name must be a dataset registered with TFDS (import the module that defines its "
            f"builder first); got {name!r}"
        ) from err
    features = list(builder.info.features.keys())
    keys = features if keys is None else list(keys)
    missing = [k for k in keys if k not in features]
    if missing:
        raise ValueError(f"keys must be features of {name!r} ({features}); got {missing}")
    if not builder.is_prepared():
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                manual_dir=os.fspath(default_manual_dir(manual_dir)), try_download_gcs=False
            )
        )
    base = split.split("[")[0]
    if base not in builder.info.splits:
        raise ValueError(
            f"split must be one of {sorted(builder.info.splits)} for {name!r}; got {split!r}"
        )
    source = tfds.data_source(
        name, split=split, data_dir=os.fspath(builder.data_dir_root), download=False, try_gcs=False
    )
    if len(source) == 0:
        raise ValueError(f"split {split!r} of {name!r} is empty")
    rows = source.__getitems__(list(range(len(source))))
    return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in keys}
