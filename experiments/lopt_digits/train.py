"""Learned LSTM optimizer on a small MLP on scikit-learn digits: generalisation tests."""

from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np

from experiments import _lopt as common
from jtransfer import lopt, train

# (name, hidden widths, activation, steps as a multiple of the horizon)
VARIANTS = (
    ("base", None, None, 1),
    ("2x_horizon", None, None, 2),
    ("wider", "wide", None, 1),
    ("relu", None, "relu", 1),
)


def _task(config, hidden=None, activation=None):
    return lopt.digits_mlp_task(
        hidden=tuple(hidden or config.hidden),
        activation=activation or config.activation,
        batch_size=config.batch_size,
        split="train",
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Meta-trains the LSTM optimizer on the base MLP task (``config.hidden``,
    ``config.activation``, ``config.horizon`` steps), tunes the baselines' learning rates on
    the base task, then evaluates every optimizer on the variants: the base task, twice the
    horizon, a wider network (``config.wide_hidden``) and ReLU activations.

    Returns ``<variant>/<optimizer>/final_log10_loss`` (mean over ``num_eval`` seeds of the
    final training loss), ``.../final_log10_std``, ``.../final_log10_values`` (the list over
    evaluation seeds) and the baselines' ``<name>/lr``; writes one
    ``curves_<variant>.png`` per variant, ``theta`` (orbax) and ``results.json``.
    """
    common.validate(config)
    os.makedirs(workdir, exist_ok=True)
    base = _task(config)
    lo = common.make_lopt(config)
    theta, seconds, history = common.meta_train(config, workdir, lo, lambda k: base)
    common.save_theta(os.path.join(workdir, "theta"), theta)

    tune_key, eval_key = train.keys(config.seed, "tune", "eval")
    tune_keys = jax.random.split(tune_key, config.num_tune)
    eval_keys = jax.random.split(eval_key, config.num_eval)
    grid = np.asarray(config.lr_grid)
    lrs, _ = common.tuned_baselines(
        lambda k: base,
        tune_keys,
        eval_keys[:1],
        grid=grid,
        num_steps=config.eval_steps,
        names=tuple(config.baselines),
    )
    metrics: dict[str, float] = {
        "meta_train_seconds": seconds,
        "meta_loss_first": history[0],
        "meta_loss_last": history[-1],
    }
    metrics.update({f"{name}/lr": lr for name, lr in lrs.items()})
    stacked = jax.tree.map(lambda x: x[None], theta)
    known = {v[0]: v for v in VARIANTS}
    if set(config.variants) - set(known):
        raise ValueError(f"config.variants must be among {list(known)}, got {config.variants}")
    for variant, hidden, activation, mult in (known[v] for v in config.variants):
        task = _task(config, config.wide_hidden if hidden == "wide" else None, activation)
        steps = mult * config.eval_steps
        curves = {
            name: common.curves(
                common.BASELINES[name],
                lambda k, t=task: t,
                eval_keys,
                np.asarray([lrs[name]], np.float32),
                num_steps=steps,
            )[0]
            for name in config.baselines
        }
        curves["LSTM"] = common.curves(
            lo.optimizer, lambda k, t=task: t, eval_keys, stacked, num_steps=steps
        )[0]
        for name, losses in curves.items():
            s = common.summary(losses)
            metrics[f"{variant}/{name}/final_log10_loss"] = s["final_mean"]
            metrics[f"{variant}/{name}/final_log10_std"] = s["final_std"]
            # per evaluation seed (same initialisation and batches for every optimizer)
            metrics[f"{variant}/{name}/final_log10_values"] = np.log10(
                np.maximum(losses[:, -1], 1e-30)
            ).tolist()
        if config.plot:
            common.plot_log_curves(
                curves,
                os.path.join(workdir, f"curves_{variant}.png"),
                title=f"digits MLP, {variant} ({config.num_eval} seeds)",
            )
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics
