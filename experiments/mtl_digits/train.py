"""Multi-digits: hard sharing with loss weighting and gradient aggregation (two tasks).

All methods share one step function: the two task losses come from
``jtransfer.mtl.hard_sharing``; loss-weighting methods differentiate a weighted sum, and
gradient-aggregation methods take the per-task Jacobian (``jax.jacrev`` of the loss vector),
aggregate the *trunk* rows with the method's aggregator (an optax transform) and give each
head its own task's gradient. Aggregators return a mean-scale direction, multiplied by T so
that ``equal`` weighting (sum of losses) and ``equal_aggregate`` coincide.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments._mtl import aggregate_shared, aggregator
from jtransfer import mtl, parallel, train

NUM_TASKS = 2
WEIGHTINGS = ("single_task", "equal", "uncertainty", "dwa", "gradnorm")
AGGREGATORS = ("pcgrad", "mgda", "cagrad", "imtl_g")
METHODS = WEIGHTINGS + AGGREGATORS


def make_data(config, seed: int) -> dict[str, np.ndarray]:
    """Pairs of sklearn digits side by side; labels (n, 2) = (left, right)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    width = 16 - config.overlap

    def pairs(idx, n):
        a, b = rng.choice(idx, n), rng.choice(idx, n)
        canvas = np.zeros((n, 8, width), np.float32)
        canvas[:, :, :8] = imgs[a]
        canvas[:, :, width - 8 :] = np.maximum(canvas[:, :, width - 8 :], imgs[b])
        return canvas.reshape(n, -1), np.stack([labels[a], labels[b]], axis=1)

    xtr, ytr = pairs(np.arange(1200), config.num_train_pairs)
    xte, yte = pairs(np.arange(1200, len(labels)), config.num_test_pairs)
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}


def _dense_init(key, n_in, n_out):
    return {
        "w": jax.random.normal(key, (n_in, n_out)) * np.sqrt(2.0 / n_in),
        "b": jnp.zeros((n_out,)),
    }


def _dense(p, x):
    return x @ p["w"] + p["b"][None]


def _trunk(p, x):
    return jax.nn.relu(_dense(p["l2"], jax.nn.relu(_dense(p["l1"], x))))


def init_params(key, n_in, hidden):
    k1, k2, *kh = jax.random.split(key, 2 + NUM_TASKS)
    return {
        "trunk": {"l1": _dense_init(k1, n_in, hidden), "l2": _dense_init(k2, hidden, hidden)},
        "heads": tuple(_dense_init(k, hidden, 10) for k in kh),
    }


APPLY = mtl.hard_sharing(_trunk, [_dense] * NUM_TASKS)


def task_losses(params, x, y):
    outs = APPLY(params, x)
    return jnp.stack(
        [
            jnp.mean(optax.softmax_cross_entropy_with_integer_labels(outs[t], y[:, t]))
            for t in range(NUM_TASKS)
        ]
    )


def accuracies(params, x, y) -> np.ndarray:
    outs = APPLY(params, x)
    return np.array([float(jnp.mean(jnp.argmax(outs[t], -1) == y[:, t])) for t in range(NUM_TASKS)])


def make_train_chunk(method, config, optimizer, fixed_weights, steps_per_epoch, n_train, mesh=None):
    """Returns jit(chunk)(state, data, start, num) running ``num`` steps from ``start``."""
    agg = aggregator(method, config) if method in AGGREGATORS else None
    dwa = mtl.dwa(NUM_TASKS, temperature=config.dwa_temperature)
    gradnorm = mtl.gradnorm(
        NUM_TASKS, alpha=config.gradnorm_alpha, learning_rate=config.gradnorm_lr
    )

    def step(i, carry):
        state, data, data_key = carry
        idx = jax.random.randint(jax.random.fold_in(data_key, i), (config.batch_size,), 0, n_train)
        x, y = data["x_train"][idx], data["y_train"][idx]
        # data-parallel: the minibatch is split over the devices (no-op without a mesh)
        x, y = parallel.constrain((x, y), mesh, "data")
        params = state["params"]
        new = dict(state)
        if method == "uncertainty":

            def loss(p, s):
                return mtl.uncertainty_weighted_loss(
                    task_losses(p, x, y), s, kinds="classification"
                )

            (gp, gs) = jax.grad(loss, argnums=(0, 1))(params, state["log_sigma"])
            grads = gp
            upd_s, new["sigma_opt"] = optimizer.update(gs, state["sigma_opt"], state["log_sigma"])
            new["log_sigma"] = optax.apply_updates(state["log_sigma"], upd_s)
            losses = task_losses(params, x, y)
        elif method in ("single_task", "equal", "dwa"):
            w = fixed_weights if method != "dwa" else state["dwa"].weights
            losses, vjp = jax.vjp(lambda p: task_losses(p, x, y), params)
            (grads,) = vjp(w.astype(losses.dtype))
            if method == "dwa":
                acc = state["epoch_losses"] + losses
                boundary = (i + 1) % steps_per_epoch == 0
                _, dwa_new = dwa.update(None, state["dwa"], losses=acc / steps_per_epoch)
                new["dwa"] = jax.tree.map(
                    lambda a, b: jnp.where(boundary, a, b), dwa_new, state["dwa"]
                )
                new["epoch_losses"] = jnp.where(boundary, jnp.zeros_like(acc), acc)
        else:
            losses = task_losses(params, x, y)
            jac = jax.jacrev(task_losses)(params, x, y)  # leaves (T, ...)
            if method == "gradnorm":  # sum_t w_t g_t with the current weights, then new w
                last = jac["trunk"]["l2"]["w"].reshape(NUM_TASKS, -1)
                norms = jnp.sqrt(jnp.sum(last**2, axis=1))
                grads, new["gradnorm"] = gradnorm.update(
                    jac, state["gradnorm"], params, losses=losses, grad_norms=norms
                )
            else:
                grads, new["agg"] = aggregate_shared(
                    agg,
                    state["agg"],
                    jac,
                    params,
                    shared="trunk",
                    heads="heads",
                    num_tasks=NUM_TASKS,
                )
        updates, new["opt"] = optimizer.update(grads, state["opt"], params)
        new["params"] = optax.apply_updates(params, updates)
        new["last_losses"] = losses
        return new, data, data_key

    @jax.jit
    def chunk(state, data, data_key, start, num):
        state, _, _ = jax.lax.fori_loop(start, start + num, step, (state, data, data_key))
        return state

    def init_state(params):
        state = {
            "params": params,
            "opt": optimizer.init(params),
            "last_losses": jnp.zeros((NUM_TASKS,)),
        }
        if method == "uncertainty":
            state["log_sigma"] = jnp.zeros((NUM_TASKS,))
            state["sigma_opt"] = optimizer.init(state["log_sigma"])
        if method == "dwa":
            state["dwa"] = dwa.init(None)
            state["epoch_losses"] = jnp.zeros((NUM_TASKS,))
        if method == "gradnorm":
            state["gradnorm"] = gradnorm.init(None)
        if method in AGGREGATORS:
            state["agg"] = agg.init(params["trunk"])
        return state

    return chunk, init_state


def run_method(method, config, data, seed, workdir, fixed_weights=None):
    """Trains one method; returns the final (left, right) test accuracies."""
    init_key, data_key = train.keys(seed, "init", "data")
    params = init_params(init_key, data["x_train"].shape[1], config.hidden)
    optimizer = optax.adam(config.learning_rate)
    n_train = data["x_train"].shape[0]
    steps_per_epoch = max(n_train // config.batch_size, 1)
    weights = jnp.ones((NUM_TASKS,)) if fixed_weights is None else jnp.asarray(fixed_weights)
    mesh = make_data_mesh(config)
    chunk, init_state = make_train_chunk(
        method, config, optimizer, weights, steps_per_epoch, n_train, mesh
    )
    dev = {k: jnp.asarray(v) for k, v in data.items() if k.endswith("train")}
    if mesh is not None:
        dev = parallel.replicate(dev, mesh)

    def run_chunk(state, start, stop):
        return chunk(state, dev, data_key, start, stop - start), {}

    def evaluate(state, step):
        acc = accuracies(state["params"], data["x_test"], data["y_test"])
        return {
            "test_acc_left": acc[0],
            "test_acc_right": acc[1],
            "train_loss_left": state["last_losses"][0],
            "train_loss_right": state["last_losses"][1],
        }

    with train.Run(
        workdir, config=config, exempt=("plot", "save_every"), save_every=config.save_every, keep=1
    ) as run:
        out = train.train_loop(
            run,
            init_state(params),
            num_steps=config.num_steps,
            run_chunk=run_chunk,
            eval_every=config.eval_every,
            evaluate=evaluate,
            mesh=mesh,
            desc=f"mtl_digits {method}",
        )
    return accuracies(out.state["params"], data["x_test"], data["y_test"])


def make_data_mesh(config):
    """The ``data`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for 1.

    Each minibatch is split over the devices (the two tasks share every example, so the batch,
    not the 2-long task axis, is the parallel axis); parameters and optimiser state are
    replicated, and the per-task gradients are all-reduced before aggregation.
    """
    return parallel.mesh_from_config(config, "data", divides={"batch_size": config.batch_size})


def validate_config(config) -> None:
    train.validate_config(
        config,
        subsets={"methods": METHODS},
        positive_ints=(
            "num_train_pairs",
            "num_test_pairs",
            "hidden",
            "batch_size",
            "num_steps",
            "eval_every",
            "save_every",
        ),
        intervals={"overlap": (0, 8, "[)")},
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains every method for every seed; returns ``<method>/acc_{left,right,mean}`` (mean
    over seeds), ``_std`` entries (ddof = 1; NaN for one seed), ``<method>/acc_mean_per_seed``
    (the mean of both tasks, one value per seed, in ``config.seeds`` order) and ``seconds``."""
    validate_config(config)
    make_data_mesh(config)  # fails early when the mesh does not divide the batch
    os.makedirs(workdir, exist_ok=True)
    t0 = time.perf_counter()
    accs = {m: [] for m in config.methods}
    for seed in config.seeds:
        data = make_data(config, seed)
        for method in train.progress(config.methods, desc=f"digits seed {seed}"):
            out = os.path.join(workdir, f"seed{seed}", method)
            if method == "single_task":  # one network per task, each trained on its task only
                left = run_method("single_task", config, data, seed, out + "_left", (1.0, 0.0))
                right = run_method("single_task", config, data, seed, out + "_right", (0.0, 1.0))
                accs[method].append(np.array([left[0], right[1]]))
            else:
                accs[method].append(run_method(method, config, data, seed, out))
    metrics = {}
    for m, vals in accs.items():
        v = np.stack(vals)
        for j, name in enumerate(("left", "right")):
            metrics[f"{m}/acc_{name}"] = float(v[:, j].mean())
            metrics[f"{m}/acc_{name}_std"] = (
                float(v[:, j].std(ddof=1)) if len(v) > 1 else float("nan")
            )
        metrics[f"{m}/acc_mean"] = float(v.mean())
        metrics[f"{m}/acc_mean_per_seed"] = [float(x) for x in v.mean(axis=1)]
    metrics["seconds"] = time.perf_counter() - t0
    if config.plot:
        plot_pareto(accs, os.path.join(workdir, "pareto.png"))
    return metrics


def plot_pareto(accs, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, (m, vals) in enumerate(accs.items()):
        v = np.stack(vals)
        color = plt.cm.tab10(i % 10)
        ax.scatter(v[:, 0], v[:, 1], color=color, alpha=0.35, s=15)
        ax.scatter(
            v[:, 0].mean(),
            v[:, 1].mean(),
            color=color,
            s=60,
            label=m,
            marker="o" if m in WEIGHTINGS else "^",
            edgecolor="k",
        )
    ax.set_xlabel("left-digit test accuracy")
    ax.set_ylabel("right-digit test accuracy")
    ax.set_title("Multi-digits: per-task accuracies (mean: large, seeds: small)")
    ax.legend(fontsize=8)
    return train.save_figure(fig, path)
