"""Office-Caltech10 SURF loading and the CORAL authors' preprocessing.

Files: ``office_caltech10_surf/<domain>_SURF_L10.mat`` (GFK data package, as shipped in the
CORAL authors' repository ``VisionLearningGroup/CORAL``), variables ``fts`` (n, 800) counts
and ``labels`` (n, 1) in 1..10.

Preprocessing (the GFK data README shipped with the CORAL code, and CORAL's demo): each row
divided by its sum (L1 normalisation), then each feature z-scored within its domain with the
population standard deviation (MATLAB ``zscore(fts, 1)``); constant features are left at 0
(``preprocess``, from ``experiments/_office_caltech.py``, which ``transferability`` shares).
"""

from __future__ import annotations

import os

import numpy as np

from experiments._office_caltech import preprocess  # noqa: F401 (ocd.preprocess)

DOMAINS = {"A": "amazon", "C": "Caltech10", "D": "dslr", "W": "webcam"}
SHIFTS = tuple(f"{s}→{t}" for s in "CADW" for t in "CADW" if s != t)


def load_domain(
    root: str, domain: str, *, pattern: str = "{domain}_SURF_L10.mat"
) -> tuple[np.ndarray, np.ndarray]:
    """Raw counts ``x`` (n, 800) float64 and labels ``y`` (n,) in 0..9 for domain A/C/D/W
    (file ``root/pattern`` with ``{domain}`` one of amazon, Caltech10, dslr, webcam)."""
    from scipy.io import loadmat

    m = loadmat(os.path.join(root, pattern.format(domain=DOMAINS[domain])))
    return m["fts"].astype(np.float64), m["labels"].ravel().astype(np.int64) - 1


def load_raw(config) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Raw counts and labels of every domain A/C/D/W, from ``config.manual_dir`` (see
    ``jtransfer.train.manual_dir``), ``config.data_subdir`` and ``config.file_pattern``."""
    from jtransfer import train as jtrain

    root = str(jtrain.manual_dir(config, config.data_subdir))
    return {d: load_domain(root, d, pattern=config.file_pattern) for d in DOMAINS}


def sample_per_class(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random points of each class (all of a class if it has fewer)."""
    idx = [
        rng.choice(np.flatnonzero(y == c), min(per_class, int(np.sum(y == c))), replace=False)
        for c in np.unique(y)
    ]
    return np.sort(np.concatenate(idx))
