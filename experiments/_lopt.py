"""Shared pieces of the learned-optimizer experiments (``lopt_quadratics``, ``lopt_digits``):
baselines with tuned learning rates, meta-training on ``jtransfer.train``'s loop, loss curves
and plots. Experiments import this module instead of each other."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jtransfer import lopt, parallel, train

BASELINES: dict[str, Callable[[jax.Array], optax.GradientTransformation]] = {
    "SGD": optax.sgd,
    "RMSprop": optax.rmsprop,
    "Adam": optax.adam,
    "NAG": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
}


def make_lopt(config: ml_collections.ConfigDict) -> lopt.LearnedOptimizer:
    if config.lopt == "lstm":
        return lopt.lstm_optimizer(hidden=config.lstm_hidden, output_scale=config.output_scale)
    if config.lopt == "mlp":
        return lopt.mlp_optimizer(hidden=config.mlp_hidden)
    if config.lopt == "learned_hyperparams":
        return lopt.learned_hyperparams(horizon=config.horizon)
    raise ValueError(f"config.lopt must be lstm, mlp or learned_hyperparams, got {config.lopt!r}")


def mesh_axis(config: ml_collections.ConfigDict) -> str:
    """The parallel axis of meta-training: the tasks of TBPTT, the population of ES/PES."""
    return "task" if config.estimator == "tbptt" else "pop"


def make_mesh(config: ml_collections.ConfigDict):
    """The 1-d mesh of ``config.mesh_shape`` (``(-1,)`` = every device) over which the
    meta-batch of tasks (TBPTT, axis ``task``) or the population (ES/PES, axis ``pop``) is
    split, or None for a single device. Raises ``ValueError`` unless its size divides
    ``config.num_tasks``."""
    return parallel.mesh_from_config(
        config, mesh_axis(config), divides={"num_tasks": config.num_tasks}
    )


def make_estimator(config, lo, family, mesh=None) -> lopt.MetaGradientEstimator:
    axis = mesh_axis(config)
    if config.estimator == "tbptt":
        return lopt.tbptt(
            lo,
            family,
            num_steps=config.horizon,
            truncation_length=config.truncation_length,
            num_tasks=config.num_tasks,
            second_order=config.second_order,
            stagger=config.stagger,
            mesh=mesh,
            axis_name=axis,
        )
    if config.estimator == "pes":
        return lopt.pes(
            lo,
            family,
            num_steps=config.horizon,
            truncation_length=config.truncation_length,
            sigma=config.sigma,
            population=config.num_tasks,
            stagger=config.stagger,
            mesh=mesh,
            axis_name=axis,
        )
    if config.estimator == "es":
        return lopt.es(
            lo,
            family,
            num_steps=config.horizon,
            sigma=config.sigma,
            population=config.num_tasks,
            mesh=mesh,
            axis_name=axis,
        )
    raise ValueError(f"config.estimator must be tbptt, pes or es, got {config.estimator!r}")


def validate(config: ml_collections.ConfigDict) -> None:
    train.validate_config(
        config,
        subsets={"baselines": tuple(BASELINES)},
        positive_ints=(
            "horizon",
            "truncation_length",
            "num_tasks",
            "meta_steps",
            "eval_steps",
            "num_eval",
            "num_tune",
            "log_every",
            "save_every",
        ),
        positive=("meta_lr",),
    )


def curves(make_opt, family, keys, args, *, num_steps: int) -> np.ndarray:
    """Losses ``(A, K, num_steps)`` of ``make_opt(args[a])`` on task ``family(keys[k])``.

    ``args`` is a pytree with leading axis ``A``; all args see the same tasks and initial
    points (common random numbers). One compilation per call.
    """

    def one(a, k):
        kt, kr = jax.random.split(k)
        return lopt.unroll_losses(make_opt(a), family(kt), kr, num_steps=num_steps)

    run = jax.jit(jax.vmap(lambda a: jax.vmap(lambda k: one(a, k))(keys)))
    return np.asarray(run(args))


def score(losses: np.ndarray) -> float:
    """Mean log10 loss over tasks and steps; diverged runs score +inf."""
    if not np.all(np.isfinite(losses)):
        return float("inf")
    return float(np.mean(np.log10(np.maximum(losses, 1e-30))))


def tuned_baselines(family, tune_keys, eval_keys, *, grid, num_steps: int, names=tuple(BASELINES)):
    """For each baseline, the learning rate in ``grid`` with the lowest :func:`score` on the
    tuning tasks, and its loss curves ``(len(eval_keys), num_steps)`` on the evaluation tasks.

    Tuning and evaluation share one compiled, vmapped run over the whole grid.
    Returns ``({name: lr}, {name: curves})``.
    """
    keys = jnp.concatenate([tune_keys, eval_keys])
    n = tune_keys.shape[0]
    lrs, out = {}, {}
    for name in names:
        losses = curves(
            BASELINES[name], family, keys, jnp.asarray(grid, jnp.float32), num_steps=num_steps
        )
        best = int(np.argmin([score(l[:n]) for l in losses]))
        lrs[name], out[name] = float(grid[best]), losses[best, n:]
    return lrs, out


def meta_train(config, workdir: str, lo: lopt.LearnedOptimizer, family):
    """Meta-trains ``lo`` on ``family`` with Adam on the estimator's meta-gradient.

    Checkpoints (theta, outer state, estimator state) every ``save_every`` steps and resumes;
    writes ``meta_loss`` to ``workdir``'s metrics. Returns ``(theta, seconds, meta_losses)``
    (the logged meta-losses of the whole run, including before a resume).
    """
    init_key, est_key, run_key = train.keys(config.seed, "theta", "estimator", "meta")
    mesh = make_mesh(config)
    estimator = make_estimator(config, lo, family, mesh)
    outer = optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(config.meta_lr))
    theta = lo.init(init_key)
    state = {"theta": theta, "outer": outer.init(theta), "est": estimator.init(theta, key=est_key)}
    treedef = jax.tree.structure(state)

    @jax.jit
    def step_fn(leaves, step):
        s = jax.tree.unflatten(treedef, leaves)
        loss, g, est = estimator.update(s["theta"], s["est"], key=jax.random.fold_in(run_key, step))
        g = jax.tree.map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), g)
        updates, outer_state = outer.update(g, s["outer"], s["theta"])
        new = {"theta": optax.apply_updates(s["theta"], updates), "outer": outer_state, "est": est}
        return jax.tree.leaves(new), loss

    def one_step(state, step):
        leaves, loss = step_fn(state["leaves"], jnp.int32(step))
        return {"leaves": leaves}, {"meta_loss": loss}

    # theta and the outer state replicated over the mesh; the estimator shards inside
    with train.Run(
        workdir, config=config, exempt=("plot", "save_every"), save_every=config.save_every, keep=2
    ) as run:
        out = train.train_loop(
            run,
            {"leaves": jax.tree.leaves(state)},
            num_steps=config.meta_steps,
            step_fn=one_step,
            eval_every=config.log_every,
            mesh=mesh,
            desc="meta-train",
        )
    leaves = out.state["leaves"]
    theta = jax.tree.unflatten(treedef, leaves)["theta"]
    history = [r["meta_loss"] for r in train.read_metrics(workdir) if "meta_loss" in r]
    return theta, out.train_seconds, history


def save_theta(directory: str, theta) -> str:
    """Saves the meta-trained ``theta`` to ``directory``, replacing an earlier copy (it is the
    final checkpoint's theta, so after ``--overwrite`` or a longer run it changes)."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    return lopt.save_theta(directory, theta)


def summary(losses: np.ndarray) -> dict[str, float]:
    """Final and mean log10 loss (mean and std, ddof = 1, over tasks)."""
    logl = np.log10(np.maximum(losses, 1e-30))
    return {
        "final_mean": float(logl[:, -1].mean()),
        "final_std": float(logl[:, -1].std(ddof=1)),
        "avg_mean": float(logl.mean()),
    }


def plot_log_curves(curves: dict[str, np.ndarray], path: str, *, title: str) -> str:
    """log10 loss vs step: mean over tasks with a ±1 std band."""
    means, bands = {}, {}
    for name, losses in curves.items():
        logl = np.log10(np.maximum(losses, 1e-30))
        m, s = logl.mean(0), logl.std(0, ddof=1)
        means[name], bands[name] = m, np.stack([m - s, m + s])
    return train.plot_curves(
        means, path, ylabel="log10 loss (mean ± std over tasks)", title=title, band=bands
    )
