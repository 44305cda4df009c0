"""Learned LSTM optimizer vs tuned SGD/RMSprop/Adam/NAG on random 10-d quadratics."""

from __future__ import annotations

import functools
import json
import os

import jax
import ml_collections
import numpy as np

from experiments import _lopt as common
from jtransfer import lopt, train


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Meta-trains the learned optimizer on training quadratics, tunes each baseline's learning
    rate on training quadratics, and evaluates all on held-out quadratics.

    Returns metrics ``<optimizer>/final_log10_loss`` (mean over held-out functions at the last
    step), ``<optimizer>/final_log10_std``, ``<optimizer>/avg_log10_loss`` and the baselines'
    ``<name>/lr``; writes ``curves.png``, ``theta`` (orbax) and ``results.json``.
    """
    common.validate(config)
    os.makedirs(workdir, exist_ok=True)
    family = functools.partial(lopt.quadratic_task, dim=config.dim, init_scale=config.init_scale)
    lo = common.make_lopt(config)
    theta, seconds, history = common.meta_train(config, workdir, lo, family)
    common.save_theta(os.path.join(workdir, "theta"), theta)

    tune_key, eval_key = train.keys(config.seed, "tune", "eval")  # disjoint function draws
    tune_keys = jax.random.split(tune_key, config.num_tune)
    eval_keys = jax.random.split(eval_key, config.num_eval)
    lrs, curves = common.tuned_baselines(
        family,
        tune_keys,
        eval_keys,
        grid=np.asarray(config.lr_grid),
        num_steps=config.eval_steps,
        names=tuple(config.baselines),
    )
    stacked = jax.tree.map(lambda x: x[None], theta)
    curves[f"LSTM ({config.estimator})"] = common.curves(
        lo.optimizer, family, eval_keys, stacked, num_steps=config.eval_steps
    )[0]
    metrics: dict[str, float] = {
        "meta_train_seconds": seconds,
        "meta_loss_first": history[0],
        "meta_loss_last": history[-1],
    }
    for name, losses in curves.items():
        s = common.summary(losses)
        metrics[f"{name}/final_log10_loss"] = s["final_mean"]
        metrics[f"{name}/final_log10_std"] = s["final_std"]
        metrics[f"{name}/avg_log10_loss"] = s["avg_mean"]
    metrics.update({f"{name}/lr": lr for name, lr in lrs.items()})
    if config.plot:
        common.plot_log_curves(
            curves,
            os.path.join(workdir, "curves.png"),
            title=f"{config.dim}-d quadratics, {config.num_eval} held-out functions",
        )
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics
