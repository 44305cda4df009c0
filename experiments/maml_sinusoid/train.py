"""MAML sinusoid regression (Finn et al. 2017, §5.1): meta-training, evaluation, Fig. 2 plot."""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jtransfer import data, meta, models, parallel, train

# config fields that may change when a run resumes (they do not change its numbers)
EXEMPT = ("plot", "save_every")


def validate_config(config: ml_collections.ConfigDict) -> None:
    train.validate_config(
        config,
        positive_ints=(
            "num_shots",
            "meta_batch_size",
            "num_iterations",
            "chunk",
            "save_every",
            "eval_tasks",
            "eval_query",
            "num_inner_steps",
        ),
        positive=("inner_lr", "meta_lr"),
    )
    if config.num_iterations % config.chunk or config.save_every % config.chunk:
        raise ValueError(
            f"config.chunk={config.chunk} must divide num_iterations="
            f"{config.num_iterations} and save_every={config.save_every}"
        )
    if list(config.eval_steps) != sorted(set(config.eval_steps)) or min(config.eval_steps) < 1:
        raise ValueError(f"config.eval_steps must be increasing and >= 1: {config.eval_steps}")


def paper_init(params, key, std):
    """The MAML reference code's initialisation: kernels ~ truncated N(0, std²), biases 0."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    new = [
        std * jax.random.truncated_normal(k, -2.0, 2.0, jnp.shape(p), jnp.result_type(p))
        if jnp.ndim(p) == 2
        else jnp.zeros_like(p)
        for k, p in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, new)


def mse(apply_fn):
    def loss_fn(params, batch):
        x, y = batch
        return jnp.mean((apply_fn(params, x) - y) ** 2)

    return loss_fn


def adapt_curve(loss_fn, params, support, query, *, inner_lr, steps):
    """Query losses after each number of inner steps in ``steps`` (increasing), one task."""
    out, done, phi = [loss_fn(params, query)], 0, params
    for n in steps:
        phi = meta.adapt(
            loss_fn, phi, support, inner_lr=inner_lr, num_steps=n - done, first_order=True
        )
        done = n
        out.append(loss_fn(phi, query))
    return jnp.stack(out)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _curves(loss_fn, params, support, query, inner_lr, steps):
    """(tasks, 1 + len(steps)) query losses; one compilation per loss_fn, shapes and steps."""
    return jax.vmap(
        lambda s, q: adapt_curve(loss_fn, params, s, q, inner_lr=inner_lr, steps=steps)
    )(support, query)


DIVERGED = 1e3  # a task whose query MSE exceeds this (or is not finite) at any step diverged


def evaluate(loss_fn, params, key, *, num_tasks, num_shots, num_query, inner_lr, steps):
    """MSE after 0 and ``steps`` inner steps on ``num_tasks`` new tasks.

    Returns:
      ``(mean, ci95, median, num_diverged)``: mean and 95 % half-width over the tasks whose
      adaptation stayed bounded (see ``DIVERGED``), median over all tasks, and the number of
      diverged tasks (with α = 0.01 and K = 5 a rare task with clustered inputs blows up).
    """
    s, q, _ = data.sample_sinusoid_tasks(
        key=key, num_tasks=num_tasks, num_support=num_shots, num_query=num_query
    )
    losses = np.asarray(_curves(loss_fn, params, s, q, inner_lr, steps), np.float64)
    bad = ~np.all(np.isfinite(losses) & (losses < DIVERGED), axis=1)
    ok = losses[~bad]
    ci = 1.96 * ok.std(0, ddof=1) / np.sqrt(len(ok))
    return (
        ok.mean(0),
        ci,
        np.median(np.where(np.isnan(losses), np.inf, losses), 0),
        int(bad.sum()),
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Meta-trains MAML and the pretrained baseline (resumable) and evaluates both."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    init_key, data_key, eval_key, plot_key = train.keys(config.seed, "init", "data", "eval", "plot")
    apply_fn, params = models.functional(
        models.MLP(1, tuple(config.hidden), 1, activation="relu", rngs=nnx.Rngs(params=init_key))
    )
    if config.init_std > 0:
        params = paper_init(params, init_key, config.init_std)
    loss_fn = mse(apply_fn)
    opt = optax.adam(config.meta_lr)
    k, mb = config.num_shots, config.meta_batch_size
    mesh = parallel.mesh_from_config(
        config, "task", divides={"meta_batch_size": config.meta_batch_size}
    )

    def one_iteration(state, step):
        key = jax.random.fold_in(data_key, step)
        support, query, _ = data.sample_sinusoid_tasks(
            key=key, num_tasks=mb, num_support=k, num_query=k
        )
        support, query = parallel.constrain((support, query), mesh, "task")
        m_loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
            loss_fn,
            state["maml"],
            (support, query),
            inner_lr=config.inner_lr,
            num_steps=config.num_inner_steps,
            first_order=config.first_order,
        )
        upd, m_opt = opt.update(g, state["maml_opt"], state["maml"])
        new = {"maml": optax.apply_updates(state["maml"], upd), "maml_opt": m_opt}
        # Pretrained baseline: plain regression on the same tasks' points, all pooled.
        pooled = jax.tree.map(
            lambda a, b: jnp.concatenate([a, b], 1).reshape(-1, 1), support, query
        )
        p_loss, g = jax.value_and_grad(loss_fn)(state["pre"], pooled)
        upd, p_opt = opt.update(g, state["pre_opt"], state["pre"])
        new.update(pre=optax.apply_updates(state["pre"], upd), pre_opt=p_opt)
        return new, (m_loss, p_loss)

    @jax.jit
    def scan_chunk(state, start):
        state, (m, p) = jax.lax.scan(
            one_iteration, state, start + jnp.arange(config.chunk, dtype=jnp.int32)
        )
        return state, jnp.mean(m), jnp.mean(p)

    def run_chunk(state, start, stop):
        del stop  # chunks are config.chunk long (validated to divide every event)
        state, m_loss, p_loss = scan_chunk(state, jnp.int32(start))
        return state, {"meta_train_query_mse": m_loss, "pretrain_mse": p_loss}

    state = {
        "maml": params,
        "maml_opt": opt.init(params),
        "pre": params,
        "pre_opt": opt.init(params),
    }
    run = train.Run(workdir, config=config, exempt=EXEMPT, save_every=config.save_every, keep=2)
    out = train.train_loop(
        run,
        state,
        num_steps=config.num_iterations,
        run_chunk=run_chunk,
        eval_every=config.chunk,
        chunk_size=config.chunk,
        mesh=mesh,
        desc="maml_sinusoid",
    )
    state, train_s = out.state, out.train_seconds
    compile_s = out.first_chunk_seconds

    metrics: dict[str, float] = {
        "train_seconds": train_s,
        "first_chunk_seconds": compile_s,
        "num_iterations": float(config.num_iterations),
    }
    steps = tuple(config.eval_steps)
    for shots in config.eval_shots:
        key = jax.random.fold_in(eval_key, shots)  # same tasks for MAML and the baseline
        for name in ("maml", "pre"):
            mean, ci, median, diverged = evaluate(
                loss_fn,
                state[name],
                key,
                num_tasks=config.eval_tasks,
                num_shots=shots,
                num_query=config.eval_query,
                inner_lr=config.inner_lr,
                steps=steps,
            )
            label = "maml" if name == "maml" else "pretrained"
            metrics[f"{label}_k{shots}_diverged"] = float(diverged)
            for n, m, c, md in zip((0, *steps), mean, ci, median, strict=True):
                metrics[f"{label}_k{shots}_step{n}"] = float(m)
                metrics[f"{label}_k{shots}_step{n}_ci95"] = float(c)
                metrics[f"{label}_k{shots}_step{n}_median"] = float(md)
    run.write(config.num_iterations, {k: v for k, v in metrics.items() if "_k" in k})
    run.close()
    if config.plot:
        plot_adaptation(
            loss_fn, apply_fn, state, plot_key, config, os.path.join(workdir, "fig2_adaptation.png")
        )
    return metrics


def plot_adaptation(loss_fn, apply_fn, state, key, config, path: str) -> str:
    """Paper Fig. 2 style: one task, K = 5 points, before / after 1 and 10 steps."""
    import matplotlib.pyplot as plt

    s, _, info = data.sample_sinusoid_tasks(key=key, num_tasks=1, num_support=5, num_query=1)
    s = jax.tree.map(lambda a: a[0], s)
    xg = jnp.linspace(-5.0, 5.0, 200)[:, None]
    truth = float(info.amplitude[0]) * np.sin(np.asarray(xg[:, 0]) - float(info.phase[0]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, name, title in zip(axes, ("maml", "pre"), ("MAML", "pretrained"), strict=True):
        ax.plot(xg[:, 0], truth, "r", label="ground truth")
        phi = state[name]
        ax.plot(xg[:, 0], apply_fn(phi, xg)[:, 0], ":g", label="pre-update")
        done = 0
        for n, style in ((1, "--b"), (10, "-b")):
            phi = meta.adapt(
                loss_fn, phi, s, inner_lr=config.inner_lr, num_steps=n - done, first_order=True
            )
            done = n
            ax.plot(
                xg[:, 0],
                apply_fn(phi, xg)[:, 0],
                style,
                alpha=0.6 if n == 1 else 1,
                label=f"{n} grad step{'s' if n > 1 else ''}",
            )
        ax.plot(s[0][:, 0], s[1][:, 0], "^k", label="K = 5 points")
        ax.set_title(f"{title}, K=5, α={config.inner_lr}")
        ax.set_xlabel("x")
    axes[0].legend(loc="lower left", fontsize=8)
    return train.save_figure(fig, path)
