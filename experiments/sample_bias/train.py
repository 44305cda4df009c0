"""1-D sample-selection-bias regression (ADAPT's "Sample bias" toy).

Source x ~ N(0, 0.5²), target x ~ U(−1.5, 1.5), y = f(x) + 0.1ε. Importance weights
w(x) ≈ q(x)/p(x) from KMM, KLIEP, uLSIF and a domain classifier re-weight the MSE of an MLP
(100, 100) regressor; the regressors of all methods are trained at once (``vmap`` over the
weight vectors, one jitted ``lax.scan``). Target MAE on the 100 target points.

The weights come from ``jtransfer.weighting`` (computed in float64); hyperparameters are chosen
without target labels: KMM's γ is the ADAPT example's, KLIEP's σ by its likelihood CV, uLSIF's
(σ, λ) by its analytic LOO. ``config.mesh_shape`` shards the regression's batch (the source
points) over a ``data`` mesh axis; parameters are replicated.
"""

from __future__ import annotations

import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jtransfer import data as jdata
from jtransfer import models, parallel, train, weighting

METHODS = ("source_only", "kmm", "kliep", "ulsif", "classifier", "true_ratio")


SIGMA_GRID = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
LAM_GRID = (1e-3, 1e-2, 1e-1, 1.0)


def validate_config(config) -> None:
    train.validate_config(
        config,
        min_ints={"n_source": 2, "n_target": 2, "num_steps": 2},
        positive=("learning_rate", "kmm_gamma"),
        subsets={"methods": METHODS},
        choices={"protocol": PROTOCOLS},
    )


# ------------------------------------------------------------ ADAPT's network and training
PROTOCOLS = ("ours", "adapt")


def adapt_init(key: jax.Array, sizes) -> list[tuple[jax.Array, jax.Array]]:
    """scikit-learn's ``MLPRegressor`` initialisation (``_init_coef``, ReLU/identity): every
    weight and bias uniform in ``±sqrt(6 / (fan_in + fan_out))``; ``sizes = (1, 100, 100, 1)``
    is ADAPT's ``MLPRegressor((100, 100))`` on 1-D inputs."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = float(np.sqrt(6.0 / (a + b)))
        kw, kb = jax.random.split(jax.random.fold_in(key, i))
        layers.append(
            (
                jax.random.uniform(kw, (a, b), jnp.float32, -bound, bound),
                jax.random.uniform(kb, (b,), jnp.float32, -bound, bound),
            )
        )
    return layers


def adapt_apply(layers, x):
    """ReLU hidden layers, identity output (``MLPRegressor``'s defaults); ``(n, 1)`` -> ``(n,)``."""
    for w, b in layers[:-1]:
        x = jax.nn.relu(x @ w + b[None])
    w, b = layers[-1]
    return (x @ w + b[None])[:, 0]


def adapt_loss(layers, x, y, alpha):
    """``MLPRegressor``'s objective: half the mean squared error plus
    ``alpha / 2 · Σ‖W‖² / n`` (weights only, n the batch size)."""
    n = x.shape[0]
    l2 = sum(jnp.sum(w**2) for w, _ in layers)
    return 0.5 * jnp.mean((adapt_apply(layers, x) - y) ** 2) + 0.5 * alpha * l2 / n


@functools.partial(jax.jit, static_argnames=("max_iter", "n_iter_no_change"))
def fit_adapt_mlp(
    layers, x, y, *, learning_rate, alpha, tol, max_iter: int = 200, n_iter_no_change: int = 10
):
    """``MLPRegressor((100, 100)).fit(x, y)`` with its defaults, for ``n <= 200`` points (one
    full batch per epoch, ``batch_size = min(200, n)``): Adam (lr, β = 0.9/0.999, ε = 1e-8)
    for at most ``max_iter`` epochs, stopping once the epoch loss has failed to fall below
    ``best - tol`` more than ``n_iter_no_change`` epochs in a row (sklearn's
    ``_update_no_improvement_count``; ``early_stopping=False``).

    Returns ``(layers, n_iter, loss_curve)``; ``loss_curve`` has ``max_iter`` entries (NaN
    after the stop).
    """
    opt = optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)

    def epoch(carry, _):
        p, s, best, count, stopped, n_iter = carry
        loss, g = jax.value_and_grad(adapt_loss)(p, x, y, alpha)
        u, s_new = opt.update(g, s, p)
        p_new = optax.apply_updates(p, u)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(stopped, b, a), new, old)  # noqa: E731
        count_new = jnp.where(loss > best - tol, count + 1, 0)
        carry = (
            keep(p_new, p),
            keep(s_new, s),
            jnp.where(stopped, best, jnp.minimum(best, loss)),
            jnp.where(stopped, count, count_new),
            stopped | (count_new > n_iter_no_change),
            n_iter + jnp.where(stopped, 0, 1),
        )
        return carry, jnp.where(stopped, jnp.nan, loss)

    init = (
        layers,
        opt.init(layers),
        jnp.float32(jnp.inf),
        jnp.int32(0),
        jnp.bool_(False),
        jnp.int32(0),
    )
    (p, _, _, _, _, n_iter), curve = jax.lax.scan(epoch, init, None, length=max_iter)
    return p, n_iter, curve


def _fit_adapt(config, data, ws, init_key, boot_key):
    """ADAPT's protocol per method: the estimator is fitted on a bootstrap resample of the
    source drawn with probabilities ∝ the weights (``BaseAdaptEstimator.fit_estimator`` when
    the estimator's ``fit`` takes no ``sample_weight``, as ``MLPRegressor`` in 2021);
    source only is fitted on the source as is. One initialisation for all methods."""
    methods = list(ws)
    n = len(data["xs"])
    idx = []
    for i, m in enumerate(methods):
        if m == "source_only":
            idx.append(np.arange(n))
        else:
            p = ws[m].astype(np.float64) / ws[m].sum()
            idx.append(np.asarray(jax.random.choice(jax.random.fold_in(boot_key, i), n, (n,), p=p)))
    idx = np.stack(idx)
    xs, ys = np.asarray(data["xs"]), np.asarray(data["ys"])
    layers = adapt_init(init_key, (1, *config.hidden, 1))
    fit = jax.vmap(
        lambda x, y: fit_adapt_mlp(
            layers,
            x,
            y,
            learning_rate=config.learning_rate,
            alpha=config.adapt_alpha,
            tol=config.adapt_tol,
            max_iter=config.adapt_max_iter,
        )
    )
    fitted, n_iter, _ = fit(jnp.asarray(xs[idx]), jnp.asarray(ys[idx]))
    return fitted, np.asarray(n_iter), adapt_apply


def make_data_mesh(config):
    """The ``data`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for 1."""
    return parallel.mesh_from_config(config, "data", divides={"n_source": config.n_source})


def true_ratio(x, *, source_std=0.5, target_range=(-1.5, 1.5)):
    """The analytic q(x)/p(x) of the toy: uniform density over the N(0, source_std²) density."""
    lo, hi = target_range
    q = ((x >= lo) & (x <= hi)) / (hi - lo)
    p = np.exp(-0.5 * (x / source_std) ** 2) / (source_std * np.sqrt(2 * np.pi))
    return (q / p)[:, 0]


def classifier_prob(xs, xt, *, C=1.0):
    """P(target | x) of a logistic regression on (x, x²) (the log-ratio of a Gaussian and a
    uniform density is quadratic), for the source points (Bickel et al. 2007)."""
    from sklearn.linear_model import LogisticRegression

    feats = lambda x: np.concatenate([x, x**2], 1)  # noqa: E731
    clf = LogisticRegression(C=C, max_iter=1000).fit(
        feats(np.concatenate([xs, xt])), np.r_[np.zeros(len(xs)), np.ones(len(xt))]
    )
    return clf.predict_proba(feats(xs))[:, 1]


def estimate_weights(config, data) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Weights on the source points per method (normalised to mean 1) and chosen parameters.
    No target label is used: KMM's γ is the ADAPT example's, KLIEP/uLSIF select σ (and λ) by
    their own criteria (likelihood CV, analytic LOO) on unlabelled points."""
    xs, xt = data["xs"].astype(np.float64), data["xt"].astype(np.float64)
    key = jax.random.key(config.seed)
    out, chosen = {}, {}
    with jax.enable_x64(True):
        for m in config.methods:
            if m == "source_only":
                w = np.ones(len(xs))
            elif m == "kmm":
                sigma = float(np.sqrt(1.0 / (2.0 * config.kmm_gamma)))
                # This 1-D QP is ill-conditioned: ADMM needs ~25-35k steps (n = 100: ~1 s).
                res = weighting.kmm(xs, xt, bandwidth=sigma, max_iters=200_000)
                w = np.asarray(res.weights)
                chosen[m] = f"γ={config.kmm_gamma} (σ={sigma:.3f}), converged {bool(res.converged)}"
            elif m == "kliep":
                fit = weighting.kliep(xs, xt, bandwidth_grid=SIGMA_GRID, key=key)
                w = np.asarray(fit.weights)
                chosen[m] = f"σ={float(fit.bandwidth[0]):g}"
            elif m == "ulsif":
                fit = weighting.ulsif(xs, xt, bandwidth_grid=SIGMA_GRID, lam_grid=LAM_GRID, key=key)
                w = np.maximum(np.asarray(fit.weights), 0.0)
                chosen[m] = f"σ={float(fit.bandwidth[0]):g}, λ={float(fit.lam):g}"
            elif m == "classifier":
                w = np.asarray(
                    weighting.from_domain_classifier(
                        classifier_prob(xs, xt), n_source=len(xs), n_target=len(xt)
                    )
                )
            else:
                w = true_ratio(
                    xs, source_std=config.source_std, target_range=tuple(config.target_range)
                )
            out[m] = (w / w.mean()).astype(np.float32)
    return out, chosen


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Returns ``<method>_mae`` (target MAE), ``<method>_ess`` (effective sample size of the
    weights) and ``train_seconds``; writes ``metrics.jsonl``, ``fits.npz`` and the figure."""
    validate_config(config)
    # config record and metric files (no checkpoints: a rerun recomputes everything, in seconds)
    run = train.Run(workdir, config=config, exempt=("plot",), save_every=None)
    data_key, init_key = train.keys(config.seed, "data", "init")
    data = jdata.sample_bias_regression(
        key=data_key,
        n_source=config.n_source,
        n_target=config.n_target,
        noise=config.noise,
        source_std=config.source_std,
        target_range=tuple(config.target_range),
    )
    t0 = time.perf_counter()
    ws, chosen = estimate_weights(config, data)
    t_weights = time.perf_counter() - t0
    methods = list(ws)
    print(
        f"sample_bias: weights of {len(methods)} methods estimated ({t_weights:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    n_iter = None
    if config.get("protocol", "ours") == "adapt":
        fitted, n_iter, apply_one = _fit_adapt(
            config, data, ws, init_key, train.keys(config.seed, "bootstrap")
        )
        secs = time.perf_counter() - t0
        apply_fn = lambda p, x: apply_one(p, x)[:, None]  # noqa: E731
    else:
        apply_fn, params = models.functional(
            models.MLP(1, tuple(config.hidden), 1, rngs=nnx.Rngs(params=init_key))
        )
        opt = optax.adam(config.learning_rate)
        # Batch (source points) on the data axis: xs (n, 1), ys (n,), weights (n, methods).
        batch = (
            jnp.asarray(data["xs"]),
            jnp.asarray(data["ys"]),
            jnp.asarray(np.stack([ws[m] for m in methods], axis=1)),
        )
        mesh = make_data_mesh(config)
        if mesh is not None:
            batch = parallel.shard_batch(batch, mesh, axis_name="data")
            params = parallel.replicate(params, mesh)

        @jax.jit
        def fit_all(params, xs, ys, wmat):
            def fit(w):
                def step(carry, _):
                    p, s = carry
                    loss, g = jax.value_and_grad(
                        lambda p: jnp.mean(w * (apply_fn(p, xs)[:, 0] - ys) ** 2)
                    )(p)
                    u, s = opt.update(g, s, p)
                    return (optax.apply_updates(p, u), s), loss

                (p, _), losses = jax.lax.scan(
                    step, (params, opt.init(params)), None, length=config.num_steps
                )
                return p, losses[-1]

            return jax.vmap(fit, in_axes=1)(wmat)

        fitted, last_loss = fit_all(params, *batch)
        jax.block_until_ready(fitted)
        secs = time.perf_counter() - t0
        print(
            f"sample_bias: {len(methods)} regressors fitted, {config.num_steps} steps each "
            f"({secs:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    grid = np.linspace(-2.0, 2.0, 200, dtype=np.float32)[:, None]
    pred_t = np.asarray(jax.vmap(lambda p: apply_fn(p, jnp.asarray(data["xt"]))[:, 0])(fitted))
    pred_g = np.asarray(jax.vmap(lambda p: apply_fn(p, jnp.asarray(grid))[:, 0])(fitted))
    metrics = {}
    for i, m in enumerate(methods):
        metrics[f"{m}_mae"] = float(np.mean(np.abs(pred_t[i] - data["yt"])))
        metrics[f"{m}_ess"] = float(ws[m].sum() ** 2 / np.sum(ws[m] ** 2))
        if n_iter is not None:
            metrics[f"{m}_n_iter"] = float(n_iter[i])
    metrics["weights_seconds"] = t_weights
    metrics["train_seconds"] = secs
    final = (
        {}
        if n_iter is not None
        else {f"{m}_final_loss": float(last_loss[i]) for i, m in enumerate(methods)}
    )
    run.write(config.num_steps, {**metrics, **final})
    run.close()
    np.savez(
        os.path.join(workdir, "fits.npz"),
        grid=grid,
        pred=pred_g,
        weights=np.stack([ws[m] for m in methods]),
        xs=data["xs"],
        ys=data["ys"],
        xt=data["xt"],
        yt=data["yt"],
        methods=np.array(methods),
    )
    with open(os.path.join(workdir, "chosen.txt"), "w") as f:
        f.write("\n".join(f"{k}: {v}" for k, v in chosen.items()) + "\n")
    if config.plot:
        plot(os.path.join(workdir, "sample_bias.png"), data, grid, pred_g, ws, metrics, config)
    return metrics


def plot(path, data, grid, pred, ws, metrics, config) -> str:
    """Three panels: input densities, the weights per method, the fitted curves."""
    import matplotlib.pyplot as plt

    sd, (lo, hi) = config.source_std, tuple(config.target_range)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    g = grid[:, 0]
    ax[0].hist(data["xs"][:, 0], bins=20, density=True, alpha=0.5, label="source sample")
    ax[0].hist(data["xt"][:, 0], bins=20, density=True, alpha=0.5, label="target sample")
    ax[0].plot(
        g,
        np.exp(-0.5 * (g / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
        "C0",
        label=f"p(x) = N(0, {sd:g}²)",
    )
    ax[0].plot(g, ((g >= lo) & (g <= hi)) / (hi - lo), "C1", label=f"q(x) = U({lo:g}, {hi:g})")
    ax[0].set_title("input densities")
    ax[0].legend(fontsize=7)
    order = np.argsort(data["xs"][:, 0])
    for i, (m, w) in enumerate(ws.items()):
        if m != "source_only":
            ax[1].plot(data["xs"][order, 0], w[order], f"C{i}", marker=".", label=m)
    ax[1].set_yscale("log")
    ax[1].set_title("importance weights on source points (mean 1)")
    ax[1].legend(fontsize=7)
    ax[2].scatter(data["xs"][:, 0], data["ys"], s=8, c="k", alpha=0.4, label="source")
    ax[2].scatter(
        data["xt"][:, 0], data["yt"], s=8, c="grey", marker="x", alpha=0.4, label="target"
    )
    ax[2].plot(g, data["f"](g), "k--", label="true f")
    for i, m in enumerate(ws):
        ax[2].plot(g, pred[i], f"C{i}", label=f"{m} (MAE {metrics[f'{m}_mae']:.3f})")
    ax[2].set_ylim(-0.5, 3.0)
    ax[2].set_title("fitted regressors")
    ax[2].legend(fontsize=7)
    return train.save_figure(fig, path)
