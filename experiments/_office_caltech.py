"""The Office-Caltech10 SURF preprocessing, shared by ``office_caltech`` and ``transferability``.

The GFK data README shipped with the CORAL code, and CORAL's demo: each row of counts divided
by its sum (L1 normalisation, :func:`l1_rows`), then each feature z-scored within its domain
with the population standard deviation (MATLAB ``zscore(fts, 1)``, :func:`zscore`); constant
features are left at 0 (:func:`preprocess` does both).
"""

from __future__ import annotations

import numpy as np


def l1_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows summing to 0 stay 0): ``x / max(sum, 1e-12)``."""
    return x / np.maximum(x.sum(1, keepdims=True), 1e-12)


def zscore(x: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """``(x - mean) / std`` per feature with the mean and population std (ddof 0) of ``ref``
    (default ``x``); a feature whose std is 0 is divided by 1, so a constant one is 0."""
    ref = x if ref is None else ref
    sd = ref.std(0, ddof=0)
    return (x - ref.mean(0)) / np.where(sd > 0, sd, 1.0)


def preprocess(x: np.ndarray) -> np.ndarray:
    """L1 row normalisation, then per-feature z-score (population std) within the domain
    (float64 in, float64 out)."""
    return zscore(l1_rows(x))
