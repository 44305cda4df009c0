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

from jtransfer import data, meta, models, ops, parallel, train

METHODS = ("maml", "fomaml", "reptile")
OPS = ("auto", "matmul", "native")


def validate_config(config: ml_collections.ConfigDict) -> None:
    train.validate_config(
        config,
        choices={"method": METHODS, "dataset": ("omniglot", "digits")},
        positive_ints=(
            "num_ways",
            "num_shots",
            "train_steps",
            "eval_steps",
            "meta_batch_size",
            "num_iterations",
            "eval_every",
            "save_every",
            "eval_tasks",
            "eval_batch",
            "eval_queries",
            "eval_tasks_during",
            "reptile_inner_steps",
        ),
        positive=("inner_lr", "meta_lr", "reptile_step_size"),
    )
    if config.get("ops", "auto") not in OPS:
        raise ValueError(f"config.ops must be one of {OPS}, got {config.ops!r}")


# ----------------------------------------------------------------------------- data


def load_splits(config) -> dict[str, np.ndarray]:
    """Meta-train / meta-test images ``(n, s, s, 1)`` float32 with ink = 1, int32 labels.

    Omniglot: :func:`jtransfer.data.omniglot_arrays` (the NumPy permutation of
    ``config.seed``, antialiased resize). Digits: classes 0–4 (plus their rotations, as new
    classes) train, 5–9 test (:func:`jtransfer.data.add_rotations`).
    """
    if config.dataset == "omniglot":
        return data.omniglot_arrays(
            train.manual_dir(config, must_exist=False),
            config.image_size,
            seed=config.seed,
            num_train=config.num_train_classes,
            rotations=config.rotations,
        )
    d = data.digits()
    tr, te = d["y"] < 5, d["y"] >= 5
    x_train, y_train = d["x"][tr], d["y"][tr]
    if config.rotations:
        x_train, y_train = data.add_rotations(x_train, y_train, 5)
    return {
        "x_train": np.ascontiguousarray(x_train[..., None], dtype=np.float32),
        "y_train": y_train.astype(np.int32),
        "x_test": np.ascontiguousarray(d["x"][te][..., None], dtype=np.float32),
        "y_test": (d["y"][te] - 5).astype(np.int32),
    }


# ----------------------------------------------------------------------------- model, losses


def make_model(config, key):
    if config.model == "conv4":
        module = models.Conv4(
            1,
            config.num_ways,
            hidden=config.hidden,
            image_size=config.image_size,
            rngs=nnx.Rngs(params=key),
        )
        return models.functional(module, train=True)  # transductive batch norm
    if config.model == "mlp":
        d = config.image_size**2
        module = models.MLP(d, (config.hidden,) * 3, config.num_ways, rngs=nnx.Rngs(params=key))
        apply_fn, params = models.functional(module)
        return (lambda p, x: apply_fn(p, x.reshape(x.shape[0], -1))), params
    raise ValueError(f"config.model must be 'conv4' or 'mlp', got {config.model!r}")


def use_matmul_ops(config) -> bool:
    """``config.ops``: "matmul" = convs/pools as matmuls (fast on CPU), "native" = XLA's ops,
    "auto" = matmul on CPU, native elsewhere."""
    ops = config.get("ops", "auto")
    return ops == "matmul" or (ops == "auto" and jax.default_backend() == "cpu")


def make_losses(apply_fn, *, matmul: bool = False, conv_vjp: bool = False):
    """Cross-entropy loss and accuracy; ``matmul`` wraps both in :func:`ops.matmul_ops`
    (``conv_vjp`` is passed on: its custom-VJP convolution is faster on CPU but rounds
    differently in the last float32 bits)."""

    def loss_fn(params, batch):
        x, y = batch
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, x), y))

    def accuracy(params, batch):
        x, y = batch
        return jnp.mean(jnp.argmax(apply_fn(params, x), -1) == y)

    if matmul:
        wrap = functools.partial(ops.matmul_ops, conv_vjp=conv_vjp)
        return wrap(loss_fn), wrap(accuracy)
    return loss_fn, accuracy


# ----------------------------------------------------------------------------- evaluation


def make_evaluator(sampler, *, loss_fn, accuracy, config, per_task_queries: bool = False):
    """``evaluate(params, key, num_tasks) -> (mean accuracy, 95% half-width)`` after
    ``config.eval_steps`` inner steps on test tasks (one jit for all calls).

    Each batch of ``config.eval_batch`` tasks is adapted under ``vmap`` (first order: the test
    adaptation is never differentiated). With ``per_task_queries`` the query accuracies are
    then computed task by task (``lax.map``) instead of under ``vmap``: pass it with an
    ``accuracy`` that uses XLA's native convolutions on CPU, where ``vmap`` over per-task
    weights would turn them into grouped convolutions (slow on XLA:CPU) and
    :func:`ops.matmul_ops` copies every input nine times (im2col), while one task's
    convolution runs at about the machine's GEMM rate. Same maths, same tasks; only the
    float rounding of the query logits differs (see the README's "Evaluation cost").
    """

    @jax.jit
    def batch_acc(params, xs, ys, xq, yq):
        def adapted(s):
            return meta.adapt(
                loss_fn,
                params,
                s,
                inner_lr=config.inner_lr,
                num_steps=config.eval_steps,
                first_order=True,
            )

        phis = jax.vmap(adapted)((xs, ys))
        if per_task_queries:
            return jax.lax.map(lambda a: accuracy(a[0], (a[1], a[2])), (phis, xq, yq))
        return jax.vmap(accuracy)(phis, (xq, yq))

    def task_accuracies(params, key, num_tasks):
        accs = []
        for i in range(0, num_tasks, config.eval_batch):
            # Fixed batch shape (one compilation); surplus tasks of the last batch are dropped.
            episodes = sampler(jax.random.fold_in(key, i), config.eval_batch)
            accs.append(np.asarray(batch_acc(params, *episodes))[: num_tasks - i])
        return np.concatenate(accs)

    def evaluate(params, key, num_tasks):
        accs = task_accuracies(params, key, num_tasks)
        return float(accs.mean()), float(1.96 * accs.std(ddof=1) / np.sqrt(len(accs)))

    evaluate.task_accuracies = task_accuracies  # per-task accuracies (num_tasks,)
    return evaluate


# ----------------------------------------------------------------------------- training


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Meta-trains (resumable; optional wall-time budget) and evaluates on 600 test tasks."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    init_key, data_key, eval_key = train.keys(config.seed, "init", "data", "eval")
    splits = load_splits(config)
    nq = config.num_queries or config.num_shots
    train_sampler = data.episode_sampler(
        splits["x_train"],
        splits["y_train"],
        num_ways=config.num_ways,
        num_shots=config.num_shots,
        num_queries=nq,
    )
    test_sampler = data.episode_sampler(
        splits["x_test"],
        splits["y_test"],
        num_ways=config.num_ways,
        num_shots=config.num_shots,
        num_queries=config.eval_queries,
    )
    apply_fn, params = make_model(config, init_key)
    matmul = use_matmul_ops(config)
    loss_fn, accuracy = make_losses(
        apply_fn, matmul=matmul, conv_vjp=bool(config.get("conv_vjp", False))
    )
    # task-parallel: the meta-batch is split over "task"
    mesh = parallel.mesh_from_config(
        config, "task", divides={"meta_batch_size": config.meta_batch_size}
    )
    shard = functools.partial(parallel.constrain, mesh=mesh, axis_name="task")
    # test tasks: adaptation with the training loss (matmul ops on CPU: fast weight gradients);
    # Conv4 on CPU: query accuracy with native convolutions one task at a time (make_evaluator)
    per_task = matmul and config.model == "conv4"
    evaluate = make_evaluator(
        test_sampler,
        loss_fn=loss_fn,
        accuracy=make_losses(apply_fn)[1] if per_task else accuracy,
        config=config,
        per_task_queries=per_task,
    )

    if config.method == "reptile":
        tx = meta.reptile(
            optax.linear_schedule(config.reptile_step_size, 0.0, config.num_iterations)
        )

        @jax.jit
        def step_fn(params, opt_state, xs, ys, xq, yq):
            xs, ys, xq, yq = shard((xs, ys, xq, yq))
            batch = (jnp.concatenate([xs, xq], 1), jnp.concatenate([ys, yq], 1))
            phi = meta.reptile_adapted(
                loss_fn,
                params,
                batch,
                inner_lr=config.inner_lr,
                num_steps=config.reptile_inner_steps,
            )
            upd, opt_state = tx.update(phi, opt_state, params)
            loss = meta.maml_loss(
                loss_fn,
                params,
                ((xs, ys), (xq, yq)),
                inner_lr=config.inner_lr,
                num_steps=config.train_steps,
                first_order=True,
            )
            return optax.apply_updates(params, upd), opt_state, loss
    else:
        tx = optax.adam(config.meta_lr)

        @jax.jit
        def step_fn(params, opt_state, xs, ys, xq, yq):
            xs, ys, xq, yq = shard((xs, ys, xq, yq))
            loss, g = jax.value_and_grad(meta.maml_loss, argnums=1)(
                loss_fn,
                params,
                ((xs, ys), (xq, yq)),
                inner_lr=config.inner_lr,
                num_steps=config.train_steps,
                first_order=config.method == "fomaml",
                remat=config.remat,
                task_batch_size=config.task_batch_size or None,
            )
            upd, opt_state = tx.update(g, opt_state, params)
            return optax.apply_updates(params, upd), opt_state, loss

    def one_step(state, step):
        episodes = train_sampler(jax.random.fold_in(data_key, step), config.meta_batch_size)
        params, opt_state, loss = step_fn(state["params"], state["opt_state"], *episodes)
        return {"params": params, "opt_state": opt_state}, {"meta_train_query_loss": loss}

    curve_steps, curve_acc = [], []
    t0 = time.perf_counter()

    def evaluate_during(state, step):
        if step == config.num_iterations:  # the final evaluation (eval_tasks) comes below
            return {"elapsed_seconds": time.perf_counter() - t0}
        acc, _ = evaluate(
            state["params"], jax.random.fold_in(eval_key, step), config.eval_tasks_during
        )
        curve_steps.append(step)
        curve_acc.append(acc)
        return {"test_accuracy_quick": acc, "elapsed_seconds": time.perf_counter() - t0}

    # resuming with a larger max_train_seconds continues the same run; so does a larger
    # num_iterations (or another eval_every) for MAML / first-order MAML, whose steps do not
    # depend on the total (constant Adam rate; Reptile's step size is annealed over it)
    longer = () if config.method == "reptile" else ("num_iterations", "eval_every")
    run = train.Run(
        workdir,
        config=config,
        exempt=("plot", "save_every", "max_train_seconds", *longer),
        save_every=config.save_every,
        keep=2,
    )
    out = train.train_loop(
        run,
        {"params": params, "opt_state": tx.init(params)},
        num_steps=config.num_iterations,
        step_fn=one_step,
        eval_every=config.eval_every,
        evaluate=evaluate_during,
        mesh=mesh,
        max_seconds=config.max_train_seconds,
        desc="maml_omniglot",
    )
    params, done, start = out.state["params"], out.step, out.start_step
    last_loss = out.last_row.get("meta_train_query_loss", float("nan"))
    train_s, compile_s = out.train_seconds, out.first_chunk_seconds
    acc, ci = evaluate(params, eval_key, config.eval_tasks)
    if done == config.num_iterations:
        curve_steps.append(done)
        curve_acc.append(acc)
    metrics = {
        "test_accuracy": acc,
        "test_accuracy_ci95": ci,
        "iterations_done": float(done),
        "meta_train_query_loss": last_loss,
        "train_seconds": train_s,
        "first_step_seconds": compile_s,
        "seconds_per_iteration": (train_s - compile_s) / max(1, done - start - 1),
        # learning curve of this process (eval_tasks_during tasks; the last point: eval_tasks)
        "curve_steps": list(curve_steps),
        "curve_accuracy": list(curve_acc),
    }
    run.write(done, {"final_test_accuracy": acc})
    run.close()
    if curve_steps:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(curve_steps, curve_acc, "o-")
        ax.set_xlabel("meta-iteration")
        ax.set_ylabel(f"test accuracy ({config.eval_tasks_during} tasks; last {config.eval_tasks})")
        ax.set_title(
            f"{config.dataset} {config.num_ways}-way {config.num_shots}-shot {config.method}"
        )
        train.save_figure(fig, os.path.join(workdir, "curve.png"))
    return metrics
