"""FDU-MTL multi-task sharing over adapters on cached MiniLM features (README: protocol).

Every method trains all 16 domains at once on one state: per step a minibatch of
``batch_size`` rows from each domain's train split (``(T, B, D)``), Adam, ``num_steps`` steps;
every ``eval_every`` steps the per-example correctness on every domain's validation and test
split is recorded in the state (so resuming is exact). The reported point of a run is chosen
on validation only: the evaluation with the lowest average validation error (single-task: per
domain, each domain's own validation error, as if trained alone).

Methods (``METHODS``):

* ``single_task``: one adapter + head per domain; the objective is the sum of the per-domain
  mean losses, whose gradient in each domain's parameters is that domain's alone (Adam is
  per coordinate), i.e. 16 independent trainings in one vmapped step.
* ``hard``: one shared adapter, one head per domain; sum of the domain losses.
* ``soft_val``: one adapter per domain stacked on a leading axis, tied to a learned centre by
  ``mtl.soft_sharing_penalty`` with strength :math:`\\lambda`, objective
  :math:`[\\sum_t n_t \\bar\\ell_t + \\frac\\lambda2\\sum_t\\|\\theta_t-\\theta_0\\|^2]
  / \\bar n`;
  :math:`\\lambda` from ``soft_grid`` by average validation error.
* ``soft_learned``: the same with :math:`\\lambda_t = 1/\\sigma_t^2` learned through the
  hierarchical prior by ``mtl.laplace_marginal_nll`` (type-II ML, Laplace approximation; the
  curvature is the diagonal empirical Fisher :math:`n_t\\,\\overline{g_i^2}` over the first
  ``fisher_batch`` rows of the minibatch, gradient stopped).
* ``sp`` / ``asp_adv`` / ``asp``: shared-private: a shared adapter :math:`u_s` and a private
  one :math:`u_t` per domain, head on :math:`[h + u_s(h), u_t(h)]`; ``asp_adv`` adds a domain
  classifier (one hidden layer) on :math:`u_s(h)` through ``align.gradient_reversal``
  (weight ``adv_weight``), ``asp`` also the orthogonality loss
  :math:`\\sum_t\\|U_s^\\top U_t\\|_F^2` over the minibatch (weight ``orth_weight``): Liu et al.'s
  ASP-MTL objective with the adapters as feature extractors.
* ``uncertainty``, ``pcgrad``, ``cagrad``, ``mgda``, ``imtl_g``: the hard-sharing model with
  ``mtl.uncertainty_weighted_loss`` (classification factors, :math:`\\log\\sigma` learned
  jointly) or with the per-domain gradients of the shared adapter (``jax.jacrev`` of the
  ``(T,)`` loss vector) aggregated by the ``mtl`` transform (times ``T``, so that equal
  aggregation equals ``hard``); each head gets its own domain's gradient.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import _fdu_adapter as model
from experiments import _fdu_features
from experiments._fdu_features import load_features, probe_layer
from experiments._lm_encoder import encoder_fns
from experiments._mtl import aggregator, apply_step, train_state
from experiments.lm_multitask import analysis
from jtransfer import align, mtl, parallel, train

AGGREGATORS = ("pcgrad", "cagrad", "mgda", "imtl_g")
METHODS = (
    "single_task",
    "hard",
    "soft_val",
    "soft_learned",
    "sp",
    "asp_adv",
    "asp",
    "uncertainty",
) + AGGREGATORS
ASP = ("sp", "asp_adv", "asp")


# ----------------------------------------------------------------------------- data


def arrays(feats: dict, config, layer: int) -> dict[str, np.ndarray]:
    """Stacked ``(T, n, D)`` splits of ``config.domains`` at position ``layer``, z-scored.

    The mean and standard deviation (ddof = 0) are those of all domains' train rows. Train
    splits of different sizes are padded with zeros to the largest; ``ntr`` holds the sizes.
    """
    doms = list(config.domains)
    pick = lambda d, s: feats[d]["x"][feats[d]["split"] == s, layer]
    lab = lambda d, s: feats[d]["y"][feats[d]["split"] == s]
    tr = [pick(d, "train") for d in doms]
    allx = np.concatenate(tr)
    mu, sd = allx.mean(0), allx.std(0, ddof=0) + 1e-6
    z = lambda a: ((a - mu) / sd).astype(np.float32)
    ntr = np.array([len(a) for a in tr], np.int32)
    m = int(ntr.max())
    xtr = np.zeros((len(doms), m, allx.shape[1]), np.float32)
    ytr = np.zeros((len(doms), m), np.int32)
    for i, d in enumerate(doms):
        xtr[i, : ntr[i]] = z(tr[i])
        ytr[i, : ntr[i]] = lab(d, "train")
    out = {"xtr": xtr, "ytr": ytr, "ntr": ntr}
    for s, k in (("validation", "va"), ("test", "te")):
        sizes = {len(lab(d, s)) for d in doms}
        if len(sizes) != 1:
            raise ValueError(f"{s} splits differ in size across domains: {sorted(sizes)}")
        out["x" + k] = np.stack([z(pick(d, s)) for d in doms])
        out["y" + k] = np.stack([lab(d, s) for d in doms]).astype(np.int32)
    return out


# ----------------------------------------------------------------------------- model


def _perturbed_up(p: dict, key, scale: float) -> dict:
    return {**p, "up": p["up"] + scale * jax.random.normal(key, p["up"].shape)}


def init_params(method: str, key, num_tasks: int, dim: int, config) -> dict:
    """Initial params of ``method`` (every adapter starts from the same draw)."""
    k_ad, k_disc = jax.random.split(key)
    r = config.rank
    if method in ASP:
        p = {
            "shared": model.adapter_init(k_ad, dim, r),
            # private up-projections start small and random, not zero: with a zero private
            # branch and a zero head the private gradients vanish and it never learns
            "private": _perturbed_up(
                model.adapter_init(jax.random.fold_in(k_ad, 1), dim, r, num_tasks),
                jax.random.fold_in(k_ad, 2),
                config.private_init,
            ),
            "head": model.head_init(2 * dim, num_tasks),
        }
        if method != "sp":
            k1, k2 = jax.random.split(k_disc)
            h = config.disc_hidden
            p["disc"] = {
                "w1": jax.random.normal(k1, (dim, h)) * np.sqrt(2.0 / dim),
                "b1": jnp.zeros((h,)),
                "w2": jax.random.normal(k2, (h, num_tasks)) * np.sqrt(1.0 / h),
                "b2": jnp.zeros((num_tasks,)),
            }
        return p
    stacked = method.startswith("soft") or method == "single_task"
    p = {
        "ad": model.adapter_init(k_ad, dim, r, num_tasks if stacked else None),
        "head": model.head_init(dim, num_tasks),
    }
    if method.startswith("soft"):
        p["centre"] = model.adapter_init(k_ad, dim, r)
    if method == "soft_learned":
        p["log_sigma"] = jnp.full((num_tasks,), config.soft_init_log_sigma)
    if method == "uncertainty":
        p["log_sigma"] = jnp.zeros((num_tasks,))
    return p


def forward(method: str, params: dict, x: jax.Array):
    """Logits ``(T, n)`` of ``x`` ``(T, n, D)`` and, for shared-private, the two deltas."""
    heads = jax.vmap(model.logit)
    if method in ASP:
        s = model.adapter_delta(params["shared"], x)
        p = jax.vmap(model.adapter_delta)(params["private"], x)
        return heads(params["head"], jnp.concatenate([x + s, p], -1)), (s, p)
    if params["ad"]["down"].ndim == 3:  # stacked: one adapter per domain
        f = x + jax.vmap(model.adapter_delta)(params["ad"], x)
    else:
        f = x + model.adapter_delta(params["ad"], x)
    return heads(params["head"], f), None


def task_losses(method, params, x, y):
    logits, aux = forward(method, params, x)
    return jnp.mean(model.bce(logits, y), axis=1), aux


def _asp_extra(method, params, s, p, config):
    t, b, _ = s.shape
    out = 0.0
    if method != "sp":
        d = params["disc"]
        hid = jax.nn.relu(model.add_bias(align.gradient_reversal(s) @ d["w1"], d["b1"]))
        dl = model.add_bias(hid @ d["w2"], d["b2"])  # (T, B, T) domain logits
        dom = jnp.broadcast_to(jnp.arange(t)[:, None], (t, b))
        out = out + config.adv_weight * jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(dl, dom)
        )
    if method == "asp":
        gram = jnp.einsum("tbi,tbj->tij", s, p)
        out = out + config.orth_weight * jnp.sum(gram**2)
    return out


def _fisher_diag(params, x, y, n):
    """Diagonal empirical Fisher ``n_t * mean_i g_i**2`` of each domain's adapter."""

    def one(ad, head, xi, yi):
        f = xi + model.adapter_delta(ad, xi)
        return model.bce(model.logit(head, f), yi)

    g = jax.vmap(jax.vmap(jax.grad(one), in_axes=(None, None, 0, 0)))(
        params["ad"], params["head"], x, y
    )
    return jax.tree.map(
        lambda a: jax.lax.stop_gradient(n.reshape((-1,) + (1,) * (a.ndim - 2)) * jnp.mean(a**2, 1)),
        g,
    )


def objective(method, params, x, y, n, config, strength=0.0):
    """Scalar training objective of ``method`` on one ``(T, B)`` minibatch; also the losses."""
    losses, aux = task_losses(method, params, x, y)
    nf = n.astype(losses.dtype)
    nbar = jnp.mean(nf)
    if method in ("single_task", "hard"):
        return jnp.sum(losses), losses
    if method == "soft":
        pen = mtl.soft_sharing_penalty(params["ad"], params["centre"], strength)
        return (jnp.sum(nf * losses) + pen) / nbar, losses
    if method == "soft_learned":
        k = config.fisher_batch  # per-example gradients of the first k rows only (CPU cost)
        curv = _fisher_diag(params, x[:, :k], y[:, :k], nf)
        nll = mtl.laplace_marginal_nll(
            nf * losses, params["ad"], params["centre"], params["log_sigma"], curv
        )
        return nll / nbar, losses
    if method in ASP:
        return jnp.sum(losses) + _asp_extra(method, params, *aux, config), losses
    if method == "uncertainty":
        return (
            mtl.uncertainty_weighted_loss(losses, params["log_sigma"], kinds="classification"),
            losses,
        )
    raise ValueError(f"no plain objective for method {method!r}")


# ----------------------------------------------------------------------------- training


def make_step(method, config, optimizer, num_tasks):
    """``step(state, x, y, n, strength) -> state`` for one minibatch ``(T, B, D)``."""
    agg = aggregator(method, config) if method in AGGREGATORS else None

    def step(state, x, y, n, strength):
        return apply_step(
            state,
            optimizer,
            agg,
            grad_fn=jax.grad(lambda p: objective(method, p, x, y, n, config, strength)[0]),
            jac_fn=jax.jacrev(lambda p: task_losses("hard", p, x, y)[0]),
            num_tasks=num_tasks,
        )

    def init_state(params, num_evals, n_va, n_te):
        return train_state(optimizer, agg, params, num_evals, num_tasks, n_va, n_te)

    return step, init_state


def _run_key(method):
    return "soft" if method == "soft_val" else method


_HYPER = (
    "fisher_batch",
    "private_init",
    "rank",
    "batch_per_domain",
    "learning_rate",
    "eval_every",
    "adv_weight",
    "orth_weight",
    "disc_hidden",
    "cagrad_c",
    "soft_init_log_sigma",
)
_CHUNKS: dict = {}


def _chunk_fn(name, config, num_tasks):
    """The jitted ``chunk(state, dev, data_key, strength, start, stop)`` of a method, built
    once per method and hyper-parameters (seeds and strengths reuse the compilation)."""
    mesh = make_task_mesh(config, num_tasks)
    key = (name, num_tasks, tuple(config.mesh_shape)) + tuple(config[k] for k in _HYPER)
    if key in _CHUNKS:
        return _CHUNKS[key]
    optimizer = optax.adam(config.learning_rate)
    step, init_state = make_step(name, config, optimizer, num_tasks)
    b, every = config.batch_per_domain, config.eval_every

    @jax.jit
    def chunk(state, dev, data_key, strength, start, stop):
        def body(i, st):
            u = jax.random.uniform(jax.random.fold_in(data_key, i), (num_tasks, b))
            idx = jnp.floor(u * dev["ntr"][:, None]).astype(jnp.int32)
            x = jnp.take_along_axis(dev["xtr"], idx[..., None], axis=1)
            y = jnp.take_along_axis(dev["ytr"], idx, axis=1)
            # task-parallel: the 16 domains' minibatches are split over the devices (no-op
            # without a mesh); the vmapped adapters and heads follow the task axis
            x, y = parallel.constrain((x, y), mesh, "tasks")
            return step(st, x, y, dev["ntr"], strength)

        state = jax.lax.fori_loop(start, stop, body, state)
        e = stop // every - 1
        lv, _ = forward(name, state["params"], dev["xva"])
        lt, _ = forward(name, state["params"], dev["xte"])
        state["va"] = state["va"].at[e].set((lv > 0) == (dev["yva"] > 0))
        state["te"] = state["te"].at[e].set((lt > 0) == (dev["yte"] > 0))
        return state

    _CHUNKS[key] = (chunk, init_state)
    return _CHUNKS[key]


def make_task_mesh(config, num_tasks: int):
    """The ``tasks`` mesh of ``config.mesh_shape`` (``(-1,)`` = every device), or None for 1.

    The domain (task) axis of every minibatch is split over the devices; the device count must
    divide the number of domains.
    """
    return parallel.mesh_from_config(config, "tasks", divides={"domains": num_tasks})


def run_method(method, config, dev, seed, workdir, strength=0.0):
    """Trains one method; returns ``(va, te, extra)``: correctness ``(E, T, n)`` on the
    validation and test splits at every evaluation, and the learned ``log_sigma`` if any."""
    name = _run_key(method)
    num_tasks, _, dim = dev["xtr"].shape
    init_key, data_key = train.keys(seed, "init", "data")
    params = init_params(name, init_key, num_tasks, dim, config)
    chunk, init_state = _chunk_fn(name, config, num_tasks)
    num_evals = config.num_steps // config.eval_every
    init = init_state(params, num_evals, dev["xva"].shape[1], dev["xte"].shape[1])
    lam = jnp.float32(strength)

    def run_chunk(state, start, stop):
        return chunk(state, dev, data_key, lam, jnp.int32(start), jnp.int32(stop)), {}

    with train.Run(
        workdir, config=config, exempt=("plot",), save_every=config.num_steps, keep=1
    ) as run:
        out = train.train_loop(
            run,
            init,
            num_steps=config.num_steps,
            run_chunk=run_chunk,
            eval_every=config.eval_every,
            chunk_size=config.eval_every,
            desc=f"lm_multitask {method}",
        )
    st = out.state
    extra = {}
    if "log_sigma" in st["params"]:
        extra["log_sigma"] = np.asarray(st["params"]["log_sigma"]).tolist()
    return np.asarray(st["va"]), np.asarray(st["te"]), extra


def select(method: str, va: np.ndarray, te: np.ndarray):
    """Per-domain (val error, test error, val correctness) at the validation-chosen evaluation."""
    verr = 1.0 - va.mean(-1)  # (E, T)
    terr = 1.0 - te.mean(-1)
    if method == "single_task":
        e = np.argmin(verr, axis=0)  # each domain its own stopping point
    else:
        e = np.full(verr.shape[1], int(np.argmin(verr.mean(1))))
    t = np.arange(verr.shape[1])
    return verr[e, t], terr[e, t], va[e, t]


def validate_config(config) -> None:
    train.validate_config(
        config,
        subsets={"methods": METHODS},
        positive_ints=("rank", "batch_per_domain", "num_steps", "eval_every", "disc_hidden"),
    )
    if config.num_steps % config.eval_every:
        raise ValueError(
            f"config.num_steps ({config.num_steps}) must be a multiple of config.eval_every "
            f"({config.eval_every})"
        )
    if config.methods and config.methods[0] != "single_task":
        raise ValueError(f"config.methods must start with 'single_task', got {config.methods}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs every method for every seed.

    Returns a dict with ``per_seed[method]`` = list over seeds of ``{"val_err", "test_err"}``
    (per-domain lists), ``val_correct`` (per-domain validation correctness at the chosen
    point), ``soft_strength`` (the chosen :math:`\\lambda` per seed), ``log_sigma`` (learned),
    ``feature_seconds``, ``seconds`` (per method) and ``domains``.
    """
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    t0 = time.perf_counter()
    feats, ftimes = load_features(config, log=True)
    layer, probe = config.layer, {}
    if layer < 0:  # chosen by per-domain logistic probes on validation (no test line)
        layer, probe = probe_layer(feats, config.domains, config.layers)
        print(f"layer position {layer} (hidden state {config.layers[layer]}): {probe}")
    dev = {k: jnp.asarray(v) for k, v in arrays(feats, config, layer).items()}
    # gap analysis (README): what the train lines past the first probe_small_train buy a
    # frozen-feature probe, and how much of each line the max_length truncation drops
    probe_lines = analysis.probe_train_lines(feats, config.domains, layer, config.probe_small_train)
    small = config.get("max_per_split", 0)
    texts = [_fdu_features.domain_texts(d, max_per_split=small)["text"] for d in config.domains]
    trunc = analysis.truncation(np.concatenate(texts), encoder_fns(config)[2], config.max_length)
    print(f"probe small/all train lines: {probe_lines}; truncation: {trunc}", flush=True)
    per_seed = {m: [] for m in config.methods}
    seconds = {m: 0.0 for m in config.methods}
    chosen, sigmas = [], {}
    for seed in config.seeds:
        for method in config.methods:
            t1 = time.perf_counter()
            base = os.path.join(workdir, f"seed{seed}", method)
            if method == "soft_val":
                best = None
                for lam in config.soft_grid:
                    va, te, _ = run_method(method, config, dev, seed, f"{base}_{lam:g}", lam)
                    sel = select(method, va, te)
                    if best is None or sel[0].mean() < best[1][0].mean():
                        best = (lam, sel)
                chosen.append(best[0])
                sel = best[1]
            else:
                va, te, extra = run_method(method, config, dev, seed, base)
                sel = select(method, va, te)
                if "log_sigma" in extra:
                    sigmas.setdefault(method, []).append(extra["log_sigma"])
            per_seed[method].append(
                {"val_err": sel[0].tolist(), "test_err": sel[1].tolist(), "val_correct": sel[2]}
            )
            seconds[method] += time.perf_counter() - t1
            print(
                f"seed {seed} {method}: val {100 * sel[0].mean():.2f} "
                f"test {100 * sel[1].mean():.2f} ({time.perf_counter() - t1:.0f} s)",
                flush=True,
            )
    bench = []
    for seed in config.seeds:  # item 4: one vmapped 16-adapter step vs 16 sequential steps
        num_tasks, _, dim = dev["xtr"].shape
        bench.append(
            analysis.step_benchmark(
                num_tasks,
                dim,
                config.rank,
                config.batch_per_domain,
                repeats=config.speed_repeats,
                key=train.keys(seed, "bench"),
            )
        )
    return {
        "per_seed": per_seed,
        "detector": analysis.detector(
            {m: per_seed[m] for m in per_seed}, confidence=config.detector_confidence
        ),
        "benchmark": bench,
        "soft_strength": chosen,
        "log_sigma": sigmas,
        "feature_seconds": float(sum(ftimes.values())),
        "seconds": seconds,
        "total_seconds": time.perf_counter() - t0,
        "domains": list(config.domains),
        "layer": int(config.layers[layer]),
        "probe_val_err": {int(config.layers[k]): v for k, v in probe.items()},
        "probe_train_lines": probe_lines,
        "truncation": trunc,
    }
