"""scikit-learn digits → rotated and noisy digits (quick-suite domain shift).

Source: the 8×8 digits of one random half of the 1797 images; target: the other half,
rotated by ``rotation`` degrees with Gaussian pixel noise (``jtransfer.data.digits``), used
unlabelled in training and labelled only for the reported accuracy. An MLP on the 64 pixels
is trained with ``source_only``, ``dann``, ``coral`` or ``mmd`` by the shared loop of
:mod:`experiments._dalib`. λ is chosen from ``lam_grid`` by importance-weighted accuracy on a
held-out 20 % of the source (domain-classifier weights); the target-selected λ's accuracy is
reported separately as the oracle.
"""

from __future__ import annotations

import os
import time

import ml_collections
import numpy as np

from experiments import _dalib
from jtransfer import data as jdata
from jtransfer import train

METHODS = _dalib.METHODS


def make_data(config) -> dict[str, np.ndarray]:
    """Disjoint source / target halves, flattened to 64 features; source val split."""
    key = train.keys(config.seed, "shift")
    src = jdata.digits()
    tgt = jdata.digits(rotation=config.rotation, noise=config.noise, key=key)
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(len(src["y"]))
    s_idx, t_idx = perm[: len(perm) // 2], perm[len(perm) // 2:]
    val = np.zeros(len(s_idx), bool)
    val[rng.choice(len(s_idx), len(s_idx) // 5, replace=False)] = True
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)  # noqa: E731
    xs, ys = flat(src["x"][s_idx]), src["y"][s_idx]
    return {"xs": xs[~val], "ys": ys[~val], "xv": xs[val], "yv": ys[val],
            "xt": flat(tgt["x"][t_idx]), "yt": tgt["y"][t_idx]}


def validate_config(config) -> None:
    _dalib.validate_config(config, METHODS)
    if not config.lam_grid or min(config.lam_grid) < 0:
        raise ValueError(f"config.lam_grid must be non-empty and >= 0, got {config.lam_grid}")
    if config.noise < 0:
        raise ValueError(f"config.noise must be >= 0, got {config.noise}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Returns ``target_accuracy`` (IW-validation-selected λ), ``oracle_target_accuracy``,
    ``lam``, ``source_val_accuracy`` and ``train_seconds`` (all λ of the grid)."""
    validate_config(config)
    data = make_data(config)
    w_val = _dalib.domain_classifier_weights(
        np.concatenate([data["xs"], data["xv"]]), data["xt"], C=0.1)[len(data["xs"]):]
    grid = (0.0,) if config.method == "source_only" else tuple(config.lam_grid)
    res, t0 = [], time.perf_counter()
    for lam in grid:
        c = ml_collections.ConfigDict(config.to_dict())
        c.lam = lam
        m, nets, params = _dalib.train_da(
            c, os.path.join(workdir, f"lam{lam}"), data, n_out=10,
            evals={"source_val": (data["xv"], data["yv"]), "target": (data["xt"], data["yt"])})
        res.append((_dalib.iw_accuracy(nets, params, data["xv"], data["yv"], w_val),
                    m["target_accuracy"], lam, m["source_val_accuracy"]))
        if lam == grid[0]:
            _dalib.save_params(params, os.path.join(workdir, "final_params.npz"))
    best = max(res, key=lambda r: r[0])
    return {"target_accuracy": best[1], "oracle_target_accuracy": max(r[1] for r in res),
            "lam": best[2], "source_val_accuracy": best[3],
            "train_seconds": time.perf_counter() - t0}
