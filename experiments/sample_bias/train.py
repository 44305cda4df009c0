"""1-D sample-selection-bias regression (ADAPT's "Sample bias" toy).

Source x ~ N(0, 0.5²), target x ~ U(−1.5, 1.5), y = f(x) + 0.1ε. Importance weights
w(x) ≈ q(x)/p(x) from KMM, KLIEP, uLSIF and a domain classifier re-weight the MSE of an MLP
(100, 100) regressor; the regressors of all methods are trained at once (``vmap`` over the
weight vectors, one jitted ``lax.scan``). Target MAE on the 100 target points.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from experiments.sample_bias import weights as W
from jtransfer import data as jdata
from jtransfer import models, train

METHODS = ("source_only", "kmm", "kliep", "ulsif", "classifier", "true_ratio")


def validate_config(config) -> None:
    for name in ("n_source", "n_target", "num_steps"):
        v = config[name]
        if not isinstance(v, int) or v < 2:
            raise ValueError(f"config.{name} must be an int >= 2, got {v!r}")
    for name in ("learning_rate", "kmm_gamma"):
        if not config[name] > 0:
            raise ValueError(f"config.{name} must be > 0, got {config[name]!r}")
    bad = set(config.methods) - set(METHODS)
    if bad:
        raise ValueError(f"config.methods has unknown entries {sorted(bad)}; known {METHODS}")


def estimate_weights(config, data) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Weights on the source points per method (normalised to mean 1) and chosen parameters.
    No target label is used: KMM's γ is the ADAPT example's, KLIEP/uLSIF select σ (and λ) by
    their own cross-validated criteria on unlabelled points."""
    xs, xt = data["xs"].astype(np.float64), data["xt"].astype(np.float64)
    out, chosen = {}, {}
    for m in config.methods:
        if m == "source_only":
            w = np.ones(len(xs))
        elif m == "kmm":
            w = W.kmm(xs, xt, sigma=float(np.sqrt(1.0 / (2.0 * config.kmm_gamma))))
            chosen[m] = f"γ={config.kmm_gamma}"
        elif m == "kliep":
            w, s = W.kliep(xs, xt, seed=config.seed)
            chosen[m] = f"σ={s}"
        elif m == "ulsif":
            w, (s, lam) = W.ulsif(xs, xt, seed=config.seed)
            chosen[m] = f"σ={s}, λ={lam}"
        elif m == "classifier":
            w = W.classifier_ratio(xs, xt)
        else:
            w = W.true_ratio(xs)
        out[m] = (w / w.mean()).astype(np.float32)
    return out, chosen


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Returns ``<method>_mae`` (target MAE), ``<method>_ess`` (effective sample size of the
    weights) and ``train_seconds``; writes ``metrics.jsonl``, ``fits.npz`` and the figure."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    data_key, init_key = train.keys(config.seed, "data", "init")
    data = jdata.sample_bias_regression(data_key, n_source=config.n_source,
                                        n_target=config.n_target)
    t0 = time.perf_counter()
    ws, chosen = estimate_weights(config, data)
    t_weights = time.perf_counter() - t0
    methods = list(ws)
    apply_fn, params = models.functional(models.MLP(1, tuple(config.hidden), 1,
                                                    rngs=nnx.Rngs(params=init_key)))
    opt = optax.adam(config.learning_rate)
    xs, ys = jnp.asarray(data["xs"]), jnp.asarray(data["ys"])

    @jax.jit
    def fit_all(wmat):
        def fit(w):
            def step(carry, _):
                p, s = carry
                loss, g = jax.value_and_grad(
                    lambda p: jnp.mean(w * (apply_fn(p, xs)[:, 0] - ys) ** 2))(p)
                u, s = opt.update(g, s, p)
                return (optax.apply_updates(p, u), s), loss
            (p, _), losses = jax.lax.scan(step, (params, opt.init(params)), None,
                                          length=config.num_steps)
            return p, losses[-1]
        return jax.vmap(fit)(wmat)

    fitted, last_loss = fit_all(jnp.asarray(np.stack([ws[m] for m in methods])))
    jax.block_until_ready(fitted)
    secs = time.perf_counter() - t0
    grid = np.linspace(-2.0, 2.0, 200, dtype=np.float32)[:, None]
    pred_t = np.asarray(jax.vmap(lambda p: apply_fn(p, jnp.asarray(data["xt"]))[:, 0])(fitted))
    pred_g = np.asarray(jax.vmap(lambda p: apply_fn(p, jnp.asarray(grid))[:, 0])(fitted))
    metrics = {}
    for i, m in enumerate(methods):
        metrics[f"{m}_mae"] = float(np.mean(np.abs(pred_t[i] - data["yt"])))
        metrics[f"{m}_ess"] = float(ws[m].sum() ** 2 / np.sum(ws[m] ** 2))
    metrics["weights_seconds"] = t_weights
    metrics["train_seconds"] = secs
    with train.MetricWriter(workdir, tensorboard=False) as writer:
        writer.write(config.num_steps, {**metrics, **{f"{m}_final_loss": float(last_loss[i])
                                                      for i, m in enumerate(methods)}})
    np.savez(os.path.join(workdir, "fits.npz"), grid=grid, pred=pred_g,
             weights=np.stack([ws[m] for m in methods]), xs=data["xs"], ys=data["ys"],
             xt=data["xt"], yt=data["yt"], methods=np.array(methods))
    with open(os.path.join(workdir, "chosen.txt"), "w") as f:
        f.write("\n".join(f"{k}: {v}" for k, v in chosen.items()) + "\n")
    if config.plot:
        plot(os.path.join(workdir, "sample_bias.png"), data, grid, pred_g, ws, metrics)
    return metrics


def plot(path, data, grid, pred, ws, metrics) -> str:
    """Three panels: input densities, the weights per method, the fitted curves."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    g = grid[:, 0]
    ax[0].hist(data["xs"][:, 0], bins=20, density=True, alpha=0.5, label="source sample")
    ax[0].hist(data["xt"][:, 0], bins=20, density=True, alpha=0.5, label="target sample")
    ax[0].plot(g, np.exp(-0.5 * (g / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi)), "C0",
               label="p(x) = N(0, 0.5²)")
    ax[0].plot(g, ((g >= -1.5) & (g <= 1.5)) / 3.0, "C1", label="q(x) = U(−1.5, 1.5)")
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
    ax[2].scatter(data["xt"][:, 0], data["yt"], s=8, c="grey", marker="x", alpha=0.4,
                  label="target")
    ax[2].plot(g, data["f"](g), "k--", label="true f")
    for i, m in enumerate(ws):
        ax[2].plot(g, pred[i], f"C{i}", label=f"{m} (MAE {metrics[f'{m}_mae']:.3f})")
    ax[2].set_ylim(-0.5, 3.0)
    ax[2].set_title("fitted regressors")
    ax[2].legend(fontsize=7)
    return train.save_figure(fig, path)
