"""Training and evaluation for the two-moons domain-shift experiment."""

from __future__ import annotations

import os
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import make_moons

from jtransfer import models, train

METHODS = ("source_only",)


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
    if config.method not in METHODS:
        raise ValueError(f"config.method must be one of {METHODS}, got {config.method!r}")
    for name in ("n_samples", "batch_size", "num_epochs", "eval_every", "save_every"):
        v = config[name]
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"config.{name} must be a positive int, got {v!r}")
    if config.batch_size > config.n_samples:
        raise ValueError(f"config.batch_size={config.batch_size} exceeds "
                         f"config.n_samples={config.n_samples}")
    if not config.learning_rate > 0:
        raise ValueError(f"config.learning_rate must be > 0, got {config.learning_rate!r}")


def _bce(logits, labels):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))


def _accuracy(apply_fn, params, x, y) -> float:
    pred = (apply_fn(params, x)[:, 0] > 0).astype(jnp.float32)
    return float(jnp.mean(pred == y))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains the source classifier, resuming from ``workdir``'s checkpoints; returns metrics.

    Batches are drawn by ``fold_in(data_key, step)``, so a resumed run replays exactly the
    batches an uninterrupted run would see and ends with bit-identical parameters.
    """
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    data = make_data(config)
    init_key, data_key = train.keys(config.seed, "init", "data")
    model = models.MLP(2, tuple(config.hidden), 1,
                       rngs=nnx.Rngs(params=init_key))
    apply_fn, params = models.functional(model)
    optimizer = optax.adam(config.learning_rate, b1=config.b1)
    xs, ys = jnp.asarray(data["xs"]), jnp.asarray(data["ys"])
    n = xs.shape[0]
    steps_per_epoch = -(-n // config.batch_size)
    num_steps = config.num_epochs * steps_per_epoch

    @jax.jit
    def step_fn(params, opt_state, step):
        epoch, i = step // steps_per_epoch, step % steps_per_epoch
        perm = jax.random.permutation(jax.random.fold_in(data_key, epoch), n)
        idx = jnp.take(perm, (i * config.batch_size + jnp.arange(config.batch_size)) % n)
        loss, grads = jax.value_and_grad(
            lambda p: _bce(apply_fn(p, xs[idx])[:, 0], ys[idx]))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    state = {"params": params, "opt_state": optimizer.init(params)}
    ckpt = train.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                   save_every=config.save_every, keep=config.keep_checkpoints)
    state, start = ckpt.restore_or(state)
    writer = train.MetricWriter(workdir)
    t0 = time.perf_counter()
    params, opt_state = state["params"], state["opt_state"]
    for step in train.progress(range(start, num_steps), desc="two_moons", total=num_steps,
                               initial=start):
        params, opt_state, loss = step_fn(params, opt_state, jnp.int32(step))
        done = step + 1
        if done % config.eval_every == 0 or done == num_steps:
            writer.write(done, {"train_loss": loss,
                                "source_accuracy": _accuracy(apply_fn, params, xs, ys),
                                "target_accuracy": _accuracy(apply_fn, params, data["xt"],
                                                             data["yt"])})
        ckpt.save(done, {"params": params, "opt_state": opt_state}, force=done == num_steps)
        if done == config.debug_kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
    ckpt.close()
    writer.close()
    metrics = {
        "source_accuracy": _accuracy(apply_fn, params, xs, ys),
        "target_accuracy": _accuracy(apply_fn, params, data["xt"], data["yt"]),
        "train_seconds": time.perf_counter() - t0,
        "num_steps": float(num_steps),
    }
    np.savez(os.path.join(workdir, "final_params.npz"),
             *[np.asarray(a) for a in jax.tree.leaves(params)])
    if config.plot:
        plot_decision_boundary(apply_fn, params, data, os.path.join(workdir, "boundary.png"),
                               title=f"{config.method}: target acc "
                                     f"{metrics['target_accuracy']:.2f}")
    return metrics


def plot_decision_boundary(apply_fn, params, data, path: str, *, title: str = "") -> str:
    import matplotlib.pyplot as plt

    pts = np.concatenate([data["xs"], data["xt"]])
    lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    prob = np.asarray(jax.nn.sigmoid(apply_fn(params, grid)[:, 0])).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(gx, gy, prob, levels=20, cmap="RdBu", alpha=0.5)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k")
    ax.scatter(*data["xs"].T, c=data["ys"], cmap="bwr", marker="o", edgecolor="k", s=20,
               label="source")
    ax.scatter(*data["xt"].T, c=data["yt"], cmap="bwr", marker="x", s=20, label="target")
    ax.legend(loc="lower right")
    ax.set_title(title)
    return train.save_figure(fig, path)
