"""Few-shot classification with MAML / first-order MAML / Reptile (Finn et al. 2017, §5.2).

One training loop for Omniglot (Conv4, the paper protocol) and for sklearn digits (an MLP, the
quick-suite stand-in that needs no files).
"""

from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments.maml_sinusoid.train import check_mesh_shape, make_task_mesh, shard_over_tasks
from jtransfer import data, meta, models, ops, parallel, train

METHODS = ("maml", "fomaml", "reptile")
OPS = ("auto", "matmul", "native")


def validate_config(config: ml_collections.ConfigDict) -> None:
    if config.method not in METHODS:
        raise ValueError(f"config.method must be one of {METHODS}, got {config.method!r}")
    if config.dataset not in ("omniglot", "digits"):
        raise ValueError(f"config.dataset must be 'omniglot' or 'digits', got {config.dataset!r}")
    for name in ("num_ways", "num_shots", "train_steps", "eval_steps", "meta_batch_size",
                 "num_iterations", "eval_every", "save_every", "eval_tasks", "eval_batch",
                 "eval_queries", "eval_tasks_during", "reptile_inner_steps"):
        v = config[name]
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"config.{name} must be a positive int, got {v!r}")
    if config.get("ops", "auto") not in OPS:
        raise ValueError(f"config.ops must be one of {OPS}, got {config.ops!r}")
    check_mesh_shape(config)
    for name in ("inner_lr", "meta_lr", "reptile_step_size"):
        if not config[name] > 0:
            raise ValueError(f"config.{name} must be > 0, got {config[name]!r}")


# ----------------------------------------------------------------------------- data

def _manual_dir(config) -> str:
    if config.manual_dir:
        return config.manual_dir
    root = os.environ.get("JTRANSFER_MANUAL_DIR", os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
    return os.path.abspath(root)


def _with_rotations(x: np.ndarray, y: np.ndarray, num_classes: int):
    """Adds 90°, 180°, 270° rotations of every class as new classes (Santoro et al. 2016)."""
    xs = [np.rot90(x, k, axes=(1, 2)) for k in range(4)]
    ys = [y + k * num_classes for k in range(4)]
    return np.concatenate(xs), np.concatenate(ys)


def load_splits(config) -> dict[str, np.ndarray]:
    """Meta-train / meta-test images ``(n, s, s, 1)`` float32 with ink = 1, int32 labels."""
    rng = np.random.default_rng(config.seed)
    if config.dataset == "digits":
        d = data.digits()
        x, y = d["x"], d["y"]
        tr, te = y < 5, y >= 5
        splits = {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te] - 5}
        n_train, n_test = 5, 5
    else:
        folder = os.path.join(_manual_dir(config), "omniglot")
        cache = os.path.join(folder, f"_resized_{config.image_size}.npz")
        imgs = []
        for name in ("images_background.npz", "images_evaluation.npz"):
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                raise FileNotFoundError(f"Omniglot file {path} not found; set "
                                        "config.manual_dir or JTRANSFER_MANUAL_DIR")
            with np.load(path) as f:
                imgs.append(f["images"])
        imgs = np.concatenate(imgs)                          # (1623, 20, 105, 105) bool
        del cache
        ink = 1.0 - imgs.reshape(-1, 105, 105, 1).astype(np.float32)   # True = background
        small = np.concatenate([
            np.asarray(jax.image.resize(jnp.asarray(ink[i:i + 2048]),
                                        (min(2048, len(ink) - i), config.image_size,
                                         config.image_size, 1), "linear", antialias=True))
            for i in range(0, len(ink), 2048)])
        small = small.reshape(imgs.shape[0], imgs.shape[1], config.image_size,
                              config.image_size)
        order = rng.permutation(imgs.shape[0])
        n_train = config.num_train_classes
        n_test = imgs.shape[0] - n_train
        tr, te = small[order[:n_train]], small[order[n_train:]]
        lab = lambda n: np.repeat(np.arange(n, dtype=np.int32), imgs.shape[1])
        splits = {"x_train": tr.reshape(-1, config.image_size, config.image_size),
                  "y_train": lab(n_train),
                  "x_test": te.reshape(-1, config.image_size, config.image_size),
                  "y_test": lab(n_test)}
    if config.rotations:
        splits["x_train"], splits["y_train"] = _with_rotations(
            splits["x_train"], splits["y_train"], n_train)
        if config.dataset == "omniglot":
            splits["x_test"], splits["y_test"] = _with_rotations(
                splits["x_test"], splits["y_test"], n_test)
    for k in ("x_train", "x_test"):
        splits[k] = np.ascontiguousarray(splits[k][..., None], dtype=np.float32)
    for k in ("y_train", "y_test"):
        splits[k] = splits[k].astype(np.int32)
    return splits


# ----------------------------------------------------------------------------- model, losses

def make_model(config, key):
    if config.model == "conv4":
        module = models.Conv4(1, config.num_ways, hidden=config.hidden,
                              image_size=config.image_size, rngs=nnx.Rngs(params=key))
        return models.functional(module, train=True)      # transductive batch norm
    if config.model == "mlp":
        d = config.image_size ** 2
        module = models.MLP(d, (config.hidden,) * 3, config.num_ways, rngs=nnx.Rngs(params=key))
        apply_fn, params = models.functional(module)
        return (lambda p, x: apply_fn(p, x.reshape(x.shape[0], -1))), params
    raise ValueError(f"config.model must be 'conv4' or 'mlp', got {config.model!r}")


def use_matmul_ops(config) -> bool:
    """``config.ops``: "matmul" = convs/pools as matmuls (fast on CPU), "native" = XLA's ops,
    "auto" = matmul on CPU, native elsewhere."""
    ops = config.get("ops", "auto")
    return ops == "matmul" or (ops == "auto" and jax.default_backend() == "cpu")


def make_losses(apply_fn, *, matmul: bool = False):
    """Cross-entropy loss and accuracy; ``matmul`` wraps both in :func:`ops.matmul_ops`."""
    def loss_fn(params, batch):
        x, y = batch
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, x), y))

    def accuracy(params, batch):
        x, y = batch
        return jnp.mean(jnp.argmax(apply_fn(params, x), -1) == y)

    if matmul:
        return ops.matmul_ops(loss_fn), ops.matmul_ops(accuracy)
    return loss_fn, accuracy


# ----------------------------------------------------------------------------- evaluation

def make_evaluator(sampler, *, loss_fn, accuracy, config):
    """``evaluate(params, key, num_tasks) -> (mean accuracy, 95% half-width)`` after
    ``config.eval_steps`` inner steps on test tasks (one jit for all calls)."""
    @jax.jit
    def batch_acc(params, xs, ys, xq, yq):
        def one(s, q):
            phi = meta.adapt(loss_fn, params, s, inner_lr=config.inner_lr,
                             num_steps=config.eval_steps, first_order=True)
            return accuracy(phi, q)
        return jax.vmap(one)((xs, ys), (xq, yq))

    def evaluate(params, key, num_tasks):
        accs = []
        for i in range(0, num_tasks, config.eval_batch):
            # Fixed batch shape (one compilation); surplus tasks of the last batch are dropped.
            episodes = sampler(jax.random.fold_in(key, i), config.eval_batch)
            accs.append(np.asarray(batch_acc(params, *episodes))[:num_tasks - i])
        accs = np.concatenate(accs)
        return float(accs.mean()), float(1.96 * accs.std(ddof=1) / np.sqrt(len(accs)))

    return evaluate


# ----------------------------------------------------------------------------- training

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Meta-trains (resumable; optional wall-time budget) and evaluates on 600 test tasks."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    init_key, data_key, eval_key = train.keys(config.seed, "init", "data", "eval")
    splits = load_splits(config)
    nq = config.num_queries or config.num_shots
    train_sampler = data.episode_sampler(splits["x_train"], splits["y_train"],
                                         num_ways=config.num_ways, num_shots=config.num_shots,
                                         num_queries=nq)
    test_sampler = data.episode_sampler(splits["x_test"], splits["y_test"],
                                        num_ways=config.num_ways, num_shots=config.num_shots,
                                        num_queries=config.eval_queries)
    apply_fn, params = make_model(config, init_key)
    loss_fn, accuracy = make_losses(apply_fn, matmul=use_matmul_ops(config))
    mesh = make_task_mesh(config)       # task-parallel: the meta-batch is split over "task"
    shard = functools.partial(shard_over_tasks, mesh)
    evaluate = make_evaluator(test_sampler, loss_fn=loss_fn, accuracy=accuracy, config=config)

    if config.method == "reptile":
        tx = meta.reptile(optax.linear_schedule(config.reptile_step_size, 0.0,
                                                config.num_iterations))

        @jax.jit
        def step_fn(params, opt_state, xs, ys, xq, yq):
            xs, ys, xq, yq = shard((xs, ys, xq, yq))
            batch = (jnp.concatenate([xs, xq], 1), jnp.concatenate([ys, yq], 1))
            phi = meta.reptile_adapted(loss_fn, params, batch, inner_lr=config.inner_lr,
                                       num_steps=config.reptile_inner_steps)
            upd, opt_state = tx.update(phi, opt_state, params)
            loss = meta.maml_loss(loss_fn, params, ((xs, ys), (xq, yq)),
                                  inner_lr=config.inner_lr, num_steps=config.train_steps,
                                  first_order=True)
            return optax.apply_updates(params, upd), opt_state, loss
    else:
        tx = optax.adam(config.meta_lr)

        @jax.jit
        def step_fn(params, opt_state, xs, ys, xq, yq):
            xs, ys, xq, yq = shard((xs, ys, xq, yq))
            loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
                loss_fn, params, ((xs, ys), (xq, yq)), inner_lr=config.inner_lr,
                num_steps=config.train_steps, first_order=config.method == "fomaml",
                remat=config.remat, task_batch_size=config.task_batch_size or None)
            upd, opt_state = tx.update(g, opt_state, params)
            return optax.apply_updates(params, upd), opt_state, loss

    state = {"params": params, "opt_state": tx.init(params)}
    ckpt = train.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                   save_every=config.save_every, keep=2)
    state, start = ckpt.restore_or(state)
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    params, opt_state = state["params"], state["opt_state"]
    writer = train.MetricWriter(workdir)
    t0 = time.perf_counter()
    compile_s, done, losses, last_loss = None, start, [], float("nan")
    curve_steps, curve_acc = [], []
    for step in train.progress(range(start, config.num_iterations), desc="maml_omniglot",
                               total=config.num_iterations, initial=start):
        episodes = train_sampler(jax.random.fold_in(data_key, step), config.meta_batch_size)
        tc = time.perf_counter()
        params, opt_state, loss = step_fn(params, opt_state, *episodes)
        if compile_s is None:
            jax.block_until_ready(params)
            compile_s = time.perf_counter() - tc
        losses.append(loss)
        done = step + 1
        out_of_time = 0 < config.max_train_seconds < time.perf_counter() - t0
        if done % config.eval_every == 0 or done == config.num_iterations or out_of_time:
            acc, _ = evaluate(params, jax.random.fold_in(eval_key, done),
                              config.eval_tasks_during)
            last_loss = float(np.mean(losses))
            curve_steps.append(done)
            curve_acc.append(acc)
            writer.write(done, {"meta_train_query_loss": last_loss,
                                "test_accuracy_quick": acc,
                                "elapsed_seconds": time.perf_counter() - t0})
            losses = []
        ckpt.save(done, {"params": params, "opt_state": opt_state},
                  force=done == config.num_iterations or out_of_time)
        if out_of_time:
            break
    ckpt.close()
    train_s = time.perf_counter() - t0
    acc, ci = evaluate(params, eval_key, config.eval_tasks)
    metrics = {"test_accuracy": acc, "test_accuracy_ci95": ci, "iterations_done": float(done),
               "meta_train_query_loss": last_loss,
               "train_seconds": train_s, "first_step_seconds": compile_s or 0.0,
               "seconds_per_iteration": (train_s - (compile_s or 0.0)) / max(1, done - start - 1)}
    writer.write(done, {"final_test_accuracy": acc})
    writer.close()
    if curve_steps:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(curve_steps, curve_acc, "o-")
        ax.set_xlabel("meta-iteration")
        ax.set_ylabel(f"test accuracy ({config.eval_tasks_during} tasks)")
        ax.set_title(f"{config.dataset} {config.num_ways}-way {config.num_shots}-shot "
                     f"{config.method}")
        train.save_figure(fig, os.path.join(workdir, "curve.png"))
    return metrics
