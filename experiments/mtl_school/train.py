"""School multi-task regression: single-task, pooled, hard, fixed-soft and learned-soft sharing.

Every method predicts with one linear model per task, :math:`\\hat y = x^\\top \\theta_t`
(the last feature is the constant 1). Features are z-scored with the pooled training
statistics of each split and the target is standardised the same way; metrics are reported
in the original units.
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

from jtransfer import mtl, parallel, train

METHODS = (
    "single_task_ridge",
    "pooled_ridge",
    "hard_sharing",
    "soft_fixed",
    "soft_learned",
    "soft_learned_shared_sigma",
)


# ---------------------------------------------------------------------------------------------
# data


def load_tasks(config) -> list[tuple[np.ndarray, np.ndarray]]:
    """Returns a list of ``(x_t (n_t, D), y_t (n_t,))``; the last column of x is the bias."""
    if config.dataset == "synthetic":
        rng = np.random.default_rng(1000 + config.seed)
        d = config.synthetic_dim
        theta0 = rng.normal(size=d)
        tasks = []
        for _ in range(config.synthetic_tasks):
            n = int(rng.integers(20, 60))
            theta = theta0 + 0.3 * rng.normal(size=d)
            x = np.concatenate([rng.normal(size=(n, d - 1)), np.ones((n, 1))], axis=1)
            tasks.append((x, x @ theta + 0.5 * rng.normal(size=n)))
    elif config.dataset == "school":
        tasks = _load_school(str(train.manual_dir(config, must_exist=False)))
    else:
        raise ValueError(f"config.dataset must be 'school' or 'synthetic', got {config.dataset!r}")
    if config.max_tasks:
        tasks = tasks[: config.max_tasks]
    return [(np.asarray(x, np.float64), np.asarray(y, np.float64).reshape(-1)) for x, y in tasks]


def _load_school(manual_dir: str):
    from jtransfer import data as jdata

    d = jdata.load("school", manual_dir=manual_dir)
    x, y, task = np.asarray(d["x"]), np.asarray(d["y"]), np.asarray(d["task"])
    return [(x[task == t], y[task == t]) for t in np.unique(task)]


def split_tasks(tasks, rng, train_fraction):
    """Per-task random split (at least one train and one test example per task)."""
    tr, te = [], []
    for x, y in tasks:
        n = len(y)
        perm = rng.permutation(n)
        k = min(max(int(round(train_fraction * n)), 1), n - 1)
        tr.append((x[perm[:k]], y[perm[:k]]))
        te.append((x[perm[k:]], y[perm[k:]]))
    return tr, te


def standardise(train_tasks, test_tasks):
    """z-scores every non-constant column and the target with pooled training statistics."""
    xp = np.concatenate([x for x, _ in train_tasks])
    yp = np.concatenate([y for _, y in train_tasks])
    mu, sd = xp.mean(0), xp.std(0, ddof=0)  # population z-score (unchanged)
    const = sd < 1e-12
    mu[const], sd[const] = 0.0, 1.0
    ym, ys = yp.mean(), yp.std(ddof=0)

    def f(tasks):
        return [((x - mu) / sd, (y - ym) / ys) for x, y in tasks]

    return f(train_tasks), f(test_tasks), (ym, ys)


def pad(tasks):
    n = max(len(y) for _, y in tasks)
    d = tasks[0][0].shape[1]
    x = np.zeros((len(tasks), n, d))
    y = np.zeros((len(tasks), n))
    m = np.zeros((len(tasks), n))
    for t, (xt, yt) in enumerate(tasks):
        x[t, : len(yt)], y[t, : len(yt)], m[t, : len(yt)] = xt, yt, 1.0
    return x, y, m


# ---------------------------------------------------------------------------------------------
# closed-form baselines (NumPy, float64)


def _penalty(d):
    p = np.eye(d)
    p[-1, -1] = 0.0  # the intercept is not shrunk
    return p


def ridge_per_task(x, y, m, lam):
    """(T, D) per-task ridge with unpenalised intercept."""
    xm = x * m[..., None]
    a = np.einsum("tnd,tne->tde", xm, xm) + lam * _penalty(x.shape[-1])[None]
    b = np.einsum("tnd,tn->td", xm, y * m)
    return np.linalg.solve(a, b[..., None])[..., 0]


def ridge_pooled(x, y, m, lam):
    xm = x * m[..., None]
    a = np.einsum("tnd,tne->de", xm, xm) + lam * _penalty(x.shape[-1])
    w = np.linalg.solve(a, np.einsum("tnd,tn->d", xm, y * m))
    return np.broadcast_to(w, (x.shape[0], x.shape[2])).copy()


def soft_fixed(x, y, m, lam):
    """Regularised MTL (Evgeniou & Pontil 2004) in closed form.

    min Σ_t ½‖y_t − X_tθ_t‖² + λ/2 Σ_t‖θ_t − θ_0‖²: θ_t = A_t⁻¹(b_t + λθ_0) with
    A_t = X_tᵀX_t + λI, and (T I − λ Σ_t A_t⁻¹) θ_0 = Σ_t A_t⁻¹ b_t.
    """
    t, _, d = x.shape
    xm = x * m[..., None]
    a = np.einsum("tnd,tne->tde", xm, xm) + lam * np.eye(d)[None]
    b = np.einsum("tnd,tn->td", xm, y * m)
    ainv = np.linalg.inv(a)
    lhs = t * np.eye(d) - lam * ainv.sum(0) + 1e-10 * np.eye(d)
    theta0 = np.linalg.solve(lhs, np.einsum("tde,te->d", ainv, b))
    return np.einsum("tde,te->td", ainv, b + lam * theta0[None]), theta0


def _cv_select(fit, x, y, m, grid, folds, rng):
    """Picks the grid value with the lowest pooled validation MSE (folds within each task)."""
    fold_of = np.where(m > 0, rng.integers(0, folds, size=m.shape), -1)
    errs = []
    for lam in grid:
        sse = 0.0
        for k in range(folds):
            mtr = m * (fold_of != k)
            mva = m * (fold_of == k)
            w = fit(x, y, mtr, lam)
            sse += np.sum(mva * (np.einsum("tnd,td->tn", x, w) - y) ** 2)
        errs.append(sse)
    return grid[int(np.argmin(errs))]


# ---------------------------------------------------------------------------------------------
# learned soft sharing (empirical Bayes, jtransfer.mtl.linear_marginal_nll)


@functools.partial(jax.jit, static_argnums=(5, 6))
def _eb_fit(params, x, y, m, n_total, learning_rate, steps):
    # data enter as arguments (not closed-over constants, which XLA would constant-fold)
    def loss(p):
        return mtl.linear_marginal_nll(x, y, m, p["w0"], p["log_sigma"], p["log_noise"]) / n_total

    def step(carry, _):
        p, s = carry
        v, g = jax.value_and_grad(loss)(p)
        u, s = opt.update(g, s)
        return (optax.apply_updates(p, u), s), v

    opt = optax.adam(learning_rate)
    (p, _), curve = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return p, curve


def _to_device(arrays, mesh):
    """float32 device arrays, split over the ``task`` mesh axis when there is a mesh."""
    arrays = tuple(jnp.asarray(a, jnp.float32) for a in arrays)
    return arrays if mesh is None else parallel.shard_batch(arrays, mesh, axis_name="task")


def _replicated(tree, mesh):
    return tree if mesh is None else parallel.replicate(tree, mesh)


def fit_empirical_bayes(
    x, y, m, theta_init, *, steps, learning_rate, shared_sigma=False, mesh=None
):
    t = x.shape[0]
    xj, yj, mj = _to_device((x, y, m), mesh)
    n_total = float(m.sum())
    resid = (np.einsum("tnd,td->tn", x, theta_init) - y) * m
    params = {
        "w0": jnp.asarray(theta_init.mean(0), jnp.float32),
        "log_sigma": jnp.full(() if shared_sigma else (t,), np.log(0.3), jnp.float32),
        "log_noise": jnp.asarray(0.5 * np.log(np.sum(resid**2) / n_total), jnp.float32),
    }
    p, curve = _eb_fit(
        _replicated(params, mesh), xj, yj, mj, n_total, float(learning_rate), int(steps)
    )
    theta = mtl.linear_posterior_mean(xj, yj, mj, p["w0"], p["log_sigma"], p["log_noise"])
    return np.asarray(theta, np.float64), p, np.asarray(curve)


# ---------------------------------------------------------------------------------------------
# hard sharing (jtransfer.mtl.hard_sharing with stacked heads), trained with Adam


def _trunk(p, x):
    return x @ p["w"]


def _head(p, z):
    return z @ p["w"] + p["b"]


def fit_hard_sharing(x, y, m, config, key, ckpt_dir):
    """Shared linear trunk (D → hard_rank) + stacked per-task linear heads, L2, Adam."""
    t, _, d = x.shape
    k_trunk, k_heads = jax.random.split(key)
    params = {
        "trunk": {"w": jax.random.normal(k_trunk, (d, config.hard_rank)) / np.sqrt(d)},
        "heads": {
            "w": 0.1 * jax.random.normal(k_heads, (t, config.hard_rank)),
            "b": jnp.zeros((t,)),
        },
    }
    apply = mtl.hard_sharing(_trunk, _head, num_tasks=t)
    data = _to_device((x, y, m), None)
    sizes = m.sum(1)
    weights = jnp.asarray(sizes / sizes.sum(), jnp.float32)  # Σ_t (n_t/N) L_t = pooled MSE
    opt = optax.adam(config.hard_learning_rate)

    def task_loss(p, xt, yt, mt, task):
        return jnp.sum(mt * (apply(p, xt, task) - yt) ** 2) / jnp.sum(mt)

    @jax.jit
    def step(params, opt_state, data):
        def loss(p):
            losses = jax.vmap(task_loss, in_axes=(None, 0, 0, 0, 0))(p, *data, jnp.arange(t))
            l2 = jnp.sum(p["trunk"]["w"] ** 2) + jnp.sum(p["heads"]["w"] ** 2)
            return mtl.weighted_loss(losses, weights) + config.hard_l2 * l2

        v, g = jax.value_and_grad(loss)(params)
        u, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, u), opt_state, v

    def step_fn(state, i):
        del i
        params, opt_state, v = step(state["params"], state["opt_state"], data)
        return {"params": params, "opt_state": opt_state}, {"loss": v}

    with train.Run(ckpt_dir, save_every=config.save_every, keep=1, metrics=False) as run:
        out = train.train_loop(
            run,
            {"params": params, "opt_state": opt.init(params)},
            num_steps=config.hard_steps,
            step_fn=step_fn,
            reduce="last",
            desc=f"hard sharing {os.path.basename(os.path.dirname(ckpt_dir))}",
        )
    params, loss = out.state["params"], out.last_row.get("loss", jnp.nan)
    theta = np.asarray(params["heads"]["w"] @ params["trunk"]["w"].T, np.float64)
    return theta, np.asarray(params["heads"]["b"], np.float64), float(loss)


# ---------------------------------------------------------------------------------------------


METRICS = ("explained_variance", "rmse", "rmse_task_mean")


def evaluate(theta, test_tasks, y_stats, bias=None):
    """Test metrics in original units (exam score).

    ``explained_variance`` = 100 (1 − MSE / Var(y)) and ``rmse`` = √MSE on the pooled test
    students; ``rmse_task_mean`` = the mean over tasks of each task's test RMSE (how MALSAR's
    examples and the papers that use them report School).
    """
    ym, ys = y_stats
    pred, true, task_rmse = [], [], []
    for t, (x, y) in enumerate(test_tasks):
        p = (x @ theta[t] + (0.0 if bias is None else bias[t])) * ys + ym
        pred.append(p)
        true.append(y * ys + ym)
        task_rmse.append(np.sqrt(np.mean((p - true[-1]) ** 2)))
    pred, true = np.concatenate(pred), np.concatenate(true)
    mse = np.mean((pred - true) ** 2)
    return {
        "explained_variance": 100.0 * (1.0 - mse / np.var(true)),
        "rmse": float(np.sqrt(mse)),
        "rmse_task_mean": float(np.mean(task_rmse)),
    }


def validate_config(config) -> None:
    train.validate_config(
        config,
        positive_ints=(
            "num_splits",
            "cv_folds",
            "hard_rank",
            "hard_steps",
            "eb_steps",
            "save_every",
        ),
        intervals={"train_fraction": (0, 1, "()")},
    )


def make_task_mesh(config, num_tasks: int):
    """The ``task`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for 1.

    The tasks are split over the devices in learned soft sharing (the per-task marginal
    likelihood and its gradient; parameters replicated). The number of tasks must be divisible
    by the mesh size (School's 139 tasks: ``max_tasks`` = a multiple, or one device). Hard
    sharing stays on one device: its task-sharded step (stacked heads indexed by a sharded task
    index) deadlocked deterministically in an XLA:CPU all-reduce with 2 and 4 simulated devices
    inside this experiment (one device never reached the collective), while running fine alone.
    """
    return parallel.mesh_from_config(
        config, "task", divides={"max_tasks (the number of tasks)": num_tasks}
    )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs every method on ``num_splits`` random splits; returns mean/std metrics per method.

    Returns keys ``<method>/<metric>_mean`` and ``_std`` for metric in {explained_variance,
    rmse}, plus ``soft_learned/median_sigma`` etc. Per-split numbers go to ``metrics.jsonl``.
    """
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    tasks = load_tasks(config)
    mesh = make_task_mesh(config, len(tasks))
    # the per-split rows; the splits are recomputed on every run (only hard sharing's
    # sub-runs checkpoint), so a rerun starts metrics.jsonl over
    writer = train.Run(workdir, config=config, exempt=("plot", "save_every"), save_every=None)
    results = {m: [] for m in METHODS}
    sigmas, t0 = [], time.perf_counter()
    for split in train.progress(range(config.num_splits), desc="school splits", every=1):
        rng = np.random.default_rng(config.seed * 1000 + split)
        tr, te = split_tasks(tasks, rng, config.train_fraction)
        tr, te, y_stats = standardise(tr, te)
        x, y, m = pad(tr)
        lam = _cv_select(ridge_per_task, x, y, m, config.ridge_grid, config.cv_folds, rng)
        theta_st = ridge_per_task(x, y, m, lam)
        results["single_task_ridge"].append(evaluate(theta_st, te, y_stats))
        lam_p = _cv_select(ridge_pooled, x, y, m, config.ridge_grid, config.cv_folds, rng)
        theta_pool = ridge_pooled(x, y, m, lam_p)
        results["pooled_ridge"].append(evaluate(theta_pool, te, y_stats))
        lam_s = _cv_select(
            lambda *a: soft_fixed(*a)[0], x, y, m, config.soft_grid, config.cv_folds, rng
        )
        theta_soft, _ = soft_fixed(x, y, m, lam_s)
        results["soft_fixed"].append(evaluate(theta_soft, te, y_stats))
        theta_eb, p_eb, _ = fit_empirical_bayes(
            x,
            y,
            m,
            theta_pool,
            steps=config.eb_steps,
            learning_rate=config.eb_learning_rate,
            mesh=mesh,
        )
        results["soft_learned"].append(evaluate(theta_eb, te, y_stats))
        sigmas.append(np.exp(np.asarray(p_eb["log_sigma"])))
        theta_eb1, p_eb1, _ = fit_empirical_bayes(
            x,
            y,
            m,
            theta_pool,
            steps=config.eb_steps,
            learning_rate=config.eb_learning_rate,
            shared_sigma=True,
            mesh=mesh,
        )
        results["soft_learned_shared_sigma"].append(evaluate(theta_eb1, te, y_stats))
        key = train.keys(config.seed * 1000 + split, "init")
        theta_h, bias_h, _ = fit_hard_sharing(
            x, y, m, config, key, os.path.join(workdir, f"split{split}", "hard")
        )
        results["hard_sharing"].append(evaluate(theta_h, te, y_stats, bias_h))
        row = {f"{k}/{n}": v[-1][n] for k, v in results.items() for n in METRICS}
        row.update(
            {
                "lambda/single_task": lam,
                "lambda/pooled": lam_p,
                "lambda/soft": lam_s,
                "soft_learned/median_sigma": float(np.median(sigmas[-1])),
                "soft_learned_shared_sigma/sigma": float(np.exp(p_eb1["log_sigma"])),
            }
        )
        writer.write(split + 1, row)
    writer.close()
    out = {}
    for k, v in results.items():
        for n in METRICS:
            vals = np.array([r[n] for r in v])
            out[f"{k}/{n}_mean"] = float(vals.mean())
            out[f"{k}/{n}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
    all_sigma = np.concatenate(sigmas)
    out["soft_learned/median_sigma"] = float(np.median(all_sigma))
    out["soft_learned/sigma_q10"] = float(np.quantile(all_sigma, 0.1))
    out["soft_learned/sigma_q90"] = float(np.quantile(all_sigma, 0.9))
    out["num_tasks"] = float(len(tasks))
    out["seconds"] = time.perf_counter() - t0
    if config.plot:
        plot_results(results, all_sigma, os.path.join(workdir, "school.png"))
    return out


def plot_results(results, sigmas, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = list(results)
    ev = [np.mean([r["explained_variance"] for r in results[k]]) for k in names]
    sd = [
        np.std([r["explained_variance"] for r in results[k]], ddof=1)
        if len(results[k]) > 1
        else 0.0
        for k in names
    ]
    axes[0].barh(names, ev, xerr=sd, color="tab:blue")
    axes[0].set_xlabel("explained variance on test students (%)")
    axes[0].set_title("School, 75/25 splits")
    axes[1].hist(sigmas, bins=40, color="tab:green")
    axes[1].set_xlabel("learned prior std σ_t (standardised units)")
    axes[1].set_title("empirical-Bayes σ_t over tasks and splits")
    fig.tight_layout()
    return train.save_figure(fig, path)
