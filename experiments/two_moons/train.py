"""Training and evaluation for the two-moons domain-shift experiment (ADAPT protocol).

Methods: ``source_only``, ``dann``, ``coral`` (Deep CORAL), ``mmd`` — all on the ADAPT
network (encoder 10-10 ReLU, sigmoid task head, discriminator 10-10), trained by the shared
jitted loop of :mod:`experiments._dalib`.
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np
from sklearn.datasets import make_moons

from experiments import _dalib
from jtransfer import train

METHODS = _dalib.METHODS


def make_data(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """ADAPT's two moons: source shifted by −0.5, target = source rotated by ``angle``."""
    xs, ys = make_moons(n_samples=config.n_samples, noise=config.noise,
                        random_state=config.seed)
    xs = (xs - 0.5).astype(np.float32)
    theta = np.deg2rad(config.angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]],
                   np.float32)
    return {"xs": xs, "ys": ys.astype(np.float32), "xt": xs @ rot.T,
            "yt": ys.astype(np.float32)}


def validate_config(config: ml_collections.ConfigDict) -> None:
    for name in ("n_samples", "num_epochs"):
        v = config[name]
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"config.{name} must be a positive int, got {v!r}")
    if isinstance(config.batch_size, int) and config.batch_size > config.n_samples:
        raise ValueError(f"config.batch_size={config.batch_size} exceeds "
                         f"config.n_samples={config.n_samples}")
    c = _with_steps(config)
    _dalib.validate_config(c, METHODS)


def _with_steps(config):
    """The config with ``num_steps`` = epochs × ⌈n / batch⌉ (Keras' epoch convention)."""
    c = ml_collections.ConfigDict(config.to_dict())
    bs = config.batch_size if isinstance(config.batch_size, int) and config.batch_size > 0 else 1
    c.num_steps = config.num_epochs * -(-config.n_samples // bs)
    return c


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains ``config.method``, resuming from ``workdir``'s checkpoints; returns metrics.

    Batches are drawn by ``fold_in(key, epoch)`` permutations, so a resumed run replays
    exactly the batches of an uninterrupted run and ends with bit-identical parameters.
    Target labels are used only to report ``target_accuracy``.
    """
    validate_config(config)
    c = _with_steps(config)
    data = make_data(config)
    metrics, nets, params = _dalib.train_da(
        c, workdir, data, n_out=1,
        evals={"source": (data["xs"], data["ys"]), "target": (data["xt"], data["yt"])})
    _dalib.save_params(params, os.path.join(workdir, "final_params.npz"))
    grid = boundary_grid(nets, params, data)
    np.savez(os.path.join(workdir, "boundary.npz"), **grid)
    if config.plot:
        plot_boundaries({config.method: (grid, metrics["target_accuracy"])}, data,
                        os.path.join(workdir, "boundary.png"))
    return metrics


def boundary_grid(nets, params, data, size: int = 150) -> dict[str, np.ndarray]:
    pts = np.concatenate([data["xs"], data["xt"]])
    lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], size), np.linspace(lo[1], hi[1], size))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    prob = np.asarray(jax.nn.sigmoid(nets.logits(params, grid)[:, 0])).reshape(gx.shape)
    return {"gx": gx, "gy": gy, "prob": prob}


def plot_boundaries(panels, data, path: str) -> str:
    """One panel per method: P(y=1|x) contours, the 0.5 boundary, source (o) and target (x)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (method, (g, acc)) in zip(axes[0], panels.items()):
        ax.contourf(g["gx"], g["gy"], g["prob"], levels=20, cmap="RdBu", alpha=0.5)
        ax.contour(g["gx"], g["gy"], g["prob"], levels=[0.5], colors="k")
        ax.scatter(*data["xs"].T, c=data["ys"], cmap="bwr", marker="o", edgecolor="k", s=18,
                   label="source")
        ax.scatter(*data["xt"].T, c=data["yt"], cmap="bwr", marker="x", s=18, label="target")
        ax.set_title(f"{method}: target acc {acc:.2f}")
    axes[0][0].legend(loc="lower right")
    return train.save_figure(fig, path)
