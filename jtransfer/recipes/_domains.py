"""Two domains of a TFDS dataset as the recipe's arrays (private module; public names in
``jtransfer.recipes``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from jtransfer import data

# jtransfer's registered datasets with domains and numeric features: their train/eval splits
_SPLITS = {
    "office_caltech10": (None, None),  # no splits: the target's rows are also its evaluation
    "mnist_usps_jda": (None, None),
    "amazon_reviews": ("train", "test"),  # DANN protocol: unlabelled <t>_train, test <t>_test
}
_TEXT = ("amazon_text", "fdu_mtl")


class Domains(NamedTuple):
    """Labelled source and unlabelled target arrays, plus labelled target data for evaluation.

    There is no target-label field to train on: the target's labels are only in ``evals``,
    which :func:`fit_domain_adaptation` reads for monitoring (``evals=``) and nothing
    selects on.
    """

    x_source: np.ndarray  # (n_s, d) float32 inputs of the source domain
    y_source: np.ndarray  # (n_s,) int32 source labels
    x_target: np.ndarray  # (n_t, d) float32 inputs of the target domain, read without labels
    evals: Mapping[str, tuple[np.ndarray, np.ndarray]]  # {"target": (x (m, d), y (m,))}


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float32)


def load_domains(
    name: str,
    source: str,
    target: str,
    *,
    split: str | None = None,
    eval_split: str | None = None,
    manual_dir=None,
    data_dir=None,
    features: str = "x",
    labels: str = "y",
) -> Domains:
    """Loads two domains of a TFDS dataset as :func:`fit_domain_adaptation`'s arrays.

    The source is read with its labels; the target's training rows are read *without* them
    (only the ``features`` column), and its labels come back only in ``evals["target"]``,
    from the ``eval_split`` rows, for reporting. Features are flattened to ``(n, d)`` float32
    (no scaling); labels are int32.

    * One of jtransfer's benchmarks (:data:`jtransfer.data.DATASETS` with domains:
      ``office_caltech10``, ``amazon_reviews``, ``mnist_usps_jda``), read by
      :func:`jtransfer.data.load` from the manual-download folder. ``amazon_reviews`` follows
      the DANN protocol by default: ``split="train"`` (2000 labelled source reviews, 2000
      unlabelled target reviews), ``eval_split="test"``; the others have no splits and are
      evaluated on the target's own rows (the transductive Office protocol).
    * Any other dataset TFDS knows by name (a builder of your own), read by
      :func:`jtransfer.data.load_tfds`: each domain is a TFDS split named ``<domain>``, or
      ``<domain>_<split>`` when ``split`` is given; the evaluation rows are the target's
      ``<target>_<eval_split>`` split (default: its training rows).

    Args:
      name: dataset name (a jtransfer benchmark or a registered TFDS name).
      source: the labelled domain (e.g. ``"amazon"``, ``"books"``).
      target: the unlabelled domain.
      split: the split both domains train on (default: ``"train"`` for ``amazon_reviews``,
        none otherwise).
      eval_split: the target split whose labels evaluate (default: ``"test"`` for
        ``amazon_reviews``, else the target's training rows).
      manual_dir: the manual-download folder (``$JTRANSFER_MANUAL_DIR`` or ``../shared/data``
        by default; see :func:`jtransfer.train.manual_dir`).
      data_dir: TFDS data dir for the prepared dataset.
      features: the input feature's name (TFDS datasets of your own).
      labels: the label feature's name (TFDS datasets of your own).

    Returns:
      :class:`Domains` ``(x_source, y_source, x_target, evals)``.

    Raises:
      ValueError: ``source == target``, an unknown domain or split, a dataset without domains
        or a text dataset (embed its texts with :func:`jtransfer.models.extract_features`
        first).

    Example:
      >>> from jtransfer import recipes
      >>> d = recipes.load_domains("office_caltech10", "amazon", "webcam")  # doctest: +SKIP
      >>> fit = recipes.fit_domain_adaptation(d.x_source, d.y_source, d.x_target,
      ...                                     method="dann", evals=d.evals)  # doctest: +SKIP
      >>> d.x_source.shape, d.x_target.shape, sorted(fit.metrics)  # doctest: +SKIP
      ((958, 800), (295, 800), ['num_steps', 'target_accuracy', 'train_seconds'])
    """
    if source == target:
        raise ValueError(f"source and target must be different domains; got {source!r} twice")
    if name in _TEXT:
        raise ValueError(
            f"name {name!r} is a text dataset: embed its texts with "
            "jtransfer.models.extract_features and call fit_domain_adaptation on the features"
        )
    if name in data.DATASETS:
        if name not in _SPLITS:
            raise ValueError(
                f"name must be a dataset with domains ({sorted(_SPLITS)} or a TFDS dataset of "
                f"your own); {name!r} has none"
            )
        if (features, labels) != ("x", "y"):
            raise ValueError(
                f"features/labels are 'x'/'y' for {name!r}; got {features!r}/{labels!r}"
            )
        default_split, default_eval = _SPLITS[name]
        split = default_split if split is None else split
        eval_split = default_eval if eval_split is None else eval_split

        def read(domain, which, keys):
            d = data.load(
                name, domain=domain, split=which, manual_dir=manual_dir, data_dir=data_dir
            )
            return [d[k] for k in keys]
    else:

        def read(domain, which, keys):
            tfds_split = domain if which is None else f"{domain}_{which}"
            d = data.load_tfds(
                name, split=tfds_split, keys=keys, data_dir=data_dir, manual_dir=manual_dir
            )
            return [d[k] for k in keys]

    x_source, y_source = read(source, split, (features, labels))
    (x_target,) = read(target, split, (features,))  # no labels: structurally unlabelled
    x_eval, y_eval = read(target, eval_split, (features, labels))
    return Domains(
        _flat(x_source),
        np.asarray(y_source).astype(np.int32),
        _flat(x_target),
        {"target": (_flat(x_eval), np.asarray(y_eval).astype(np.int32))},
    )
