"""PNG plotting helpers (matplotlib with the non-interactive Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> str:
    """Saves ``fig`` as a PNG at ``path`` (creating folders), closes it, returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_curves(
    curves: Mapping[str, Sequence[float] | np.ndarray],
    path: str | os.PathLike,
    *,
    xlabel: str = "step",
    ylabel: str = "",
    title: str = "",
    logy: bool = False,
    band: Mapping[str, np.ndarray] | None = None,
) -> str:
    """Line plot of named curves; ``band[name]`` (2, T) draws a shaded interval."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in curves.items():
        ys = np.asarray(ys)
        xs = np.arange(len(ys))
        ax.plot(xs, ys, label=name)
        if band and name in band:
            lo, hi = np.asarray(band[name])
            ax.fill_between(xs, lo, hi, alpha=0.2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
