"""LoRA in the encoder body: the runner of ``configs/gpu.py`` (NOT RUN ON A GPU yet).

The CPU experiment (``train.py``) adapts cached pooled features; this runner puts the adapters
where the issue asks for them, inside the frozen MiniLM body. For domain :math:`t` with LoRA
factors :math:`L_t` on the kernels selected by ``config.lora.targets``
(``jtransfer.adapters.lora_init``; :math:`W' = W + \\frac{\\alpha}{r} a b`, ``b`` zero at the
start, so every method starts from the pretrained body):

.. math::
   f_t(x) = \\mathrm{meanpool}_{\\text{mask}}\\big(h^{(\\ell)}(x;\\ \\theta + L_t)\\big), \\qquad
   \\mathrm{logit}_t(x) = w_t^\\top f_t(x) + c_t ,

with :math:`\\ell` = ``config.lora.layer`` (hidden-state index, -1: the last block). The body
:math:`\\theta` is an argument of every jitted function, never differentiated, and enters the
domain ``vmap`` with ``in_axes=None``: it is not copied per domain; only the merged adapted
kernels are (``adapters.lora_apply``).

Methods (the subset of ``train.METHODS`` this runner implements, ``METHODS``):

* ``single_task``: 16 LoRA adapters stacked on a leading axis (``num_adapters`` = T, one
  draw broadcast so all start equal) + a head per domain; the sum of the domain losses, whose
  gradient in each domain's factors is that domain's alone.
* ``hard``: one LoRA adapter shared by every domain, one head per domain.
* ``soft_val`` / ``soft_learned``: the stacked adapters tied to a learned centre
  (``mtl.soft_sharing_penalty`` with :math:`\\lambda` from ``config.soft_grid`` chosen on
  validation, or ``mtl.laplace_marginal_nll`` with :math:`\\lambda_t = 1/\\sigma_t^2` learned
  and the diagonal empirical Fisher of the first ``fisher_batch`` rows as curvature), the
  objectives of ``train.py``.
* ``uncertainty``, ``pcgrad``, ``cagrad``, ``mgda``, ``imtl_g``: ``hard`` with
  ``mtl.uncertainty_weighted_loss`` or with the per-domain gradients of the shared adapter
  aggregated by the ``mtl`` transform (times T).

The shared-private methods of ``train.py`` are not implemented here. Data: the token ids of
every train / validation / test line of each domain (the train lines of
``_fdu_features.train_order``, up to ``config.max_train_per_domain``), tokenized once at
``config.max_length``; minibatches are drawn on the device as in ``train.py``; the reported
point is chosen on validation by ``train.select``.

Run: ``python -m experiments.lm_multitask.main --workdir DIR
--config experiments/lm_multitask/configs/gpu.py`` (``main`` dispatches here on
``config.adapter == "lora_body"``). Tested end to end on a tiny random encoder
(``configs/gpu_test.py``, ``tests/experiments/test_lm_multitask_lora.py``); never run on a
GPU (README "Not done").
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import _fdu_adapter as model
from experiments import _fdu_features
from experiments._lm_encoder import encoder_fns
from experiments._mtl import aggregator, apply_step, train_state
from experiments.lm_multitask import train as cpu
from jtransfer import adapters, mtl, train

METHODS = (
    "single_task",
    "hard",
    "soft_val",
    "soft_learned",
    "uncertainty",
) + cpu.AGGREGATORS


# ----------------------------------------------------------------------------- data


def _tokens(tok, texts, max_length):
    t = tok(list(texts), max_length=max_length)
    return np.asarray(t["input_ids"], np.int32), np.asarray(t["attention_mask"], np.int32)


def token_arrays(config, tok) -> dict[str, np.ndarray]:
    """Stacked token ids and masks ``(T, n, L)`` and labels ``(T, n)`` of every split.

    Train splits (the first ``max_train_per_domain`` lines of ``train_order``, 0: all) are
    padded with empty rows to the largest (``ntr`` holds the sizes); validation and test
    splits must have one size across domains and are padded to a multiple of
    ``config.eval_batch`` (``nva`` / ``nte`` hold the true sizes).
    """
    cap = config.max_train_per_domain or None
    per = {"tr": [], "va": [], "te": []}
    for d in config.domains:
        txt = _fdu_features.domain_texts(d, max_per_split=config.get("max_per_split", 0))
        rows = {
            "tr": _fdu_features.train_order(txt)[:cap],
            "va": np.flatnonzero(txt["split"] == "validation"),
            "te": np.flatnonzero(txt["split"] == "test"),
        }
        for k, idx in rows.items():
            ids, mask = _tokens(tok, txt["text"][idx], config.max_length)
            per[k].append((ids, mask, np.asarray(txt["y"][idx], np.int32)))
    out = {}
    eb = config.eval_batch
    for k, parts in per.items():
        sizes = [len(p[2]) for p in parts]
        if k == "tr":
            m = max(sizes)
            out["ntr"] = np.asarray(sizes, np.int32)
        else:
            if len(set(sizes)) != 1:
                raise ValueError(f"{k} splits differ in size across domains: {sorted(set(sizes))}")
            out["n" + k] = sizes[0]
            m = -(-sizes[0] // eb) * eb
        pad = lambda a, m=m: np.pad(a, [(0, m - len(a))] + [(0, 0)] * (a.ndim - 1))
        out[k + "_ids"] = np.stack([pad(p[0]) for p in parts])
        out[k + "_mask"] = np.stack([pad(p[1]) for p in parts])
        out["y" + k] = np.stack([pad(p[2]) for p in parts])
    return out


# ----------------------------------------------------------------------------- model


def pooled_fn(apply_fn, layer: int):
    """``f(body, lora, ids, mask) -> (B, H)``: the mask-weighted mean of hidden state
    ``layer`` of the body with ``lora`` merged into its kernels."""

    def f(body, lora, ids, mask):
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": jnp.zeros_like(ids)}
        h = adapters.lora_apply(apply_fn)(body, lora, batch).hidden_states[layer]
        w = mask.astype(h.dtype)[..., None]
        return (h * w).sum(-2) / jnp.maximum(w.sum(-2), 1.0)

    return f


def features(pooled, body, lora, ids, mask):
    """``(T, B, H)`` pooled features of ``ids`` ``(T, B, L)``: a stacked ``lora`` gives each
    domain its own adapter, a single one is shared; the body is never batched."""
    ax = 0 if lora.num_adapters is not None else None
    return jax.vmap(pooled, in_axes=(None, ax, 0, 0))(body, lora, ids, mask)


def _stacked(method: str) -> bool:
    return method == "single_task" or method.startswith("soft")


def init_params(method: str, key, body, num_tasks: int, dim: int, config) -> dict:
    """Initial params: LoRA factors (one draw; broadcast to T when stacked), zero heads."""
    lc = config.lora
    one = adapters.lora_init(body, rank=lc.rank, alpha=lc.alpha, targets=tuple(lc.targets), key=key)
    bcast = lambda l: jax.tree.map(lambda a: jnp.broadcast_to(a, (num_tasks, *a.shape)), l)
    p = {"ad": bcast(one) if _stacked(method) else one, "head": model.head_init(dim, num_tasks)}
    if method.startswith("soft"):
        p["centre"] = one
    if method == "soft_learned":
        p["log_sigma"] = jnp.full((num_tasks,), config.soft_init_log_sigma)
    if method == "uncertainty":
        p["log_sigma"] = jnp.zeros((num_tasks,))
    return p


def _fisher_diag(pooled, body, params, ids, mask, y, n):
    """Diagonal empirical Fisher ``n_t * mean_i g_i**2`` of each domain's stacked LoRA."""

    def one(lora, head, i, m, yi):
        f = pooled(body, lora, i[None], m[None])[0]
        return model.bce(model.logit(head, f), yi)

    g = jax.vmap(jax.vmap(jax.grad(one), in_axes=(None, None, 0, 0, 0)))(
        params["ad"], params["head"], ids, mask, y
    )
    return jax.tree.map(
        lambda a: jax.lax.stop_gradient(n.reshape((-1,) + (1,) * (a.ndim - 2)) * jnp.mean(a**2, 1)),
        g,
    )


def make_fns(method: str, config, pooled, num_tasks: int):
    """``(step, logits)``: ``step(state, body, ids, mask, y, n, strength) -> state`` for one
    ``(T, B, L)`` minibatch, ``logits(params, body, ids, mask) -> (T, B)``."""
    name = "soft" if method == "soft_val" else method
    agg = aggregator(name, config) if name in cpu.AGGREGATORS else None
    optimizer = optax.adam(config.lora.learning_rate)
    heads = jax.vmap(model.logit)

    def logits(params, body, ids, mask, ad=None):
        ad = params["ad"] if ad is None else ad
        return heads(params["head"], features(pooled, body, ad, ids, mask))

    def losses_of(params, body, ids, mask, y):
        return jnp.mean(model.bce(logits(params, body, ids, mask), y), axis=1)

    def objective(params, body, ids, mask, y, n, strength):
        losses = losses_of(params, body, ids, mask, y)
        nf = n.astype(losses.dtype)
        nbar = jnp.mean(nf)
        if name in ("single_task", "hard"):
            return jnp.sum(losses)
        if name == "soft":
            pen = mtl.soft_sharing_penalty(params["ad"], params["centre"], strength)
            return (jnp.sum(nf * losses) + pen) / nbar
        if name == "soft_learned":
            k = config.fisher_batch
            curv = _fisher_diag(pooled, body, params, ids[:, :k], mask[:, :k], y[:, :k], nf)
            nll = mtl.laplace_marginal_nll(
                nf * losses, params["ad"], params["centre"], params["log_sigma"], curv
            )
            return nll / nbar
        if name == "uncertainty":
            return mtl.uncertainty_weighted_loss(
                losses, params["log_sigma"], kinds="classification"
            )
        raise ValueError(f"no objective for method {method!r}")

    def step(state, body, ids, mask, y, n, strength):
        return apply_step(
            state,
            optimizer,
            agg,
            grad_fn=lambda p: jax.grad(objective)(p, body, ids, mask, y, n, strength),
            jac_fn=lambda p: jax.jacrev(losses_of)(p, body, ids, mask, y),
            num_tasks=num_tasks,
        )

    def init_state(params, num_evals, n_va, n_te):
        return train_state(optimizer, agg, params, num_evals, num_tasks, n_va, n_te)

    return step, logits, init_state


def _eval_logits(logits, params, body, ids, mask, batch):
    """``logits`` of ``(T, n, L)`` ids in chunks of ``batch`` rows (``n`` a multiple)."""
    t, n, ln = ids.shape
    split = lambda a: a.reshape(t, n // batch, batch, ln).swapaxes(0, 1)
    out = jax.lax.map(lambda im: logits(params, body, im[0], im[1]), (split(ids), split(mask)))
    return out.swapaxes(0, 1).reshape(t, n)


def run_method(method, config, pooled, body, dev, seed, workdir, strength=0.0):
    """Trains one method; returns ``(va, te, extra)`` as ``train.run_method``."""
    num_tasks = dev["tr_ids"].shape[0]
    init_key, data_key = train.keys(seed, "init", "data")
    one = adapters.lora_init(body, rank=config.lora.rank, targets=tuple(config.lora.targets))
    dim = jax.eval_shape(pooled, body, one, dev["va_ids"][0, :1], dev["va_mask"][0, :1]).shape[-1]
    params = init_params(method, init_key, body, num_tasks, dim, config)
    step, logits, init_state = make_fns(method, config, pooled, num_tasks)
    b, every, eb = config.batch_per_domain, config.eval_every, config.eval_batch
    nva, nte = dev["nva"], dev["nte"]

    @jax.jit
    def chunk(state, body, dev, data_key, strength, start, stop):
        def one(i, st):
            u = jax.random.uniform(jax.random.fold_in(data_key, i), (num_tasks, b))
            idx = jnp.floor(u * dev["ntr"][:, None]).astype(jnp.int32)
            take = lambda a: jnp.take_along_axis(a, idx[..., None], axis=1)
            y = jnp.take_along_axis(dev["ytr"], idx, axis=1)
            ids, mask = take(dev["tr_ids"]), take(dev["tr_mask"])
            return step(st, body, ids, mask, y, dev["ntr"], strength)

        state = jax.lax.fori_loop(start, stop, one, state)
        e = stop // every - 1
        p = state["params"]
        lv = _eval_logits(logits, p, body, dev["va_ids"], dev["va_mask"], eb)[:, :nva]
        lt = _eval_logits(logits, p, body, dev["te_ids"], dev["te_mask"], eb)[:, :nte]
        state["va"] = state["va"].at[e].set((lv > 0) == (dev["yva"][:, :nva] > 0))
        state["te"] = state["te"].at[e].set((lt > 0) == (dev["yte"][:, :nte] > 0))
        return state

    arrays = {k: v for k, v in dev.items() if k not in ("nva", "nte")}
    init = init_state(params, config.num_steps // every, nva, nte)
    lam = jnp.float32(strength)

    def run_chunk(state, start, stop):
        return chunk(state, body, arrays, data_key, lam, jnp.int32(start), jnp.int32(stop)), {}

    with train.Run(
        workdir, config=config, exempt=("plot",), save_every=config.num_steps, keep=1
    ) as run:
        out = train.train_loop(
            run,
            init,
            num_steps=config.num_steps,
            run_chunk=run_chunk,
            eval_every=every,
            chunk_size=every,
            desc=f"lm_multitask lora_body {method}",
        )
    st = out.state
    extra = {}
    if "log_sigma" in st["params"]:
        extra["log_sigma"] = np.asarray(st["params"]["log_sigma"]).tolist()
    return np.asarray(st["va"]), np.asarray(st["te"]), extra


def validate_config(config) -> None:
    train.validate_config(
        config,
        subsets={"methods": METHODS},
        positive_ints=("batch_per_domain", "num_steps", "eval_every", "eval_batch"),
    )
    if config.get("adapter") != "lora_body":
        raise ValueError(f"config.adapter must be 'lora_body', got {config.get('adapter')!r}")
    if config.num_steps % config.eval_every:
        raise ValueError(
            f"config.num_steps ({config.num_steps}) must be a multiple of config.eval_every "
            f"({config.eval_every})"
        )
    if config.methods and config.methods[0] != "single_task":
        raise ValueError(f"config.methods must start with 'single_task', got {config.methods}")


def train_and_evaluate(config, workdir: str) -> dict:
    """Runs every method of ``config.methods`` for every seed with LoRA in the body.

    Returns ``per_seed[method]`` (lists over seeds of ``{"val_err", "test_err"}``, per
    domain), ``soft_strength``, ``log_sigma``, ``seconds`` and ``domains``, and writes them to
    ``<workdir>/lora_body.json``.
    """
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    t0 = time.perf_counter()
    cfg = config.copy_and_resolve_references()
    cfg.forward_chunk = 0
    apply_fn, body, tok, _ = encoder_fns(cfg)
    pooled = pooled_fn(apply_fn, config.lora.layer)
    host = token_arrays(config, tok)
    dev = {k: (v if k in ("nva", "nte") else jnp.asarray(v)) for k, v in host.items()}
    per_seed = {m: [] for m in config.methods}
    seconds = {m: 0.0 for m in config.methods}
    chosen, sigmas = [], {}
    for seed in config.seeds:
        for method in config.methods:
            t1 = time.perf_counter()
            base = os.path.join(workdir, f"seed{seed}", method)
            grid = config.soft_grid if method == "soft_val" else (0.0,)
            best = None
            for lam in grid:
                wd = f"{base}_{lam:g}" if method == "soft_val" else base
                va, te, extra = run_method(method, config, pooled, body, dev, seed, wd, lam)
                sel = cpu.select(method, va, te)
                if best is None or sel[0].mean() < best[1][0].mean():
                    best = (lam, sel)
            if method == "soft_val":
                chosen.append(best[0])
            if "log_sigma" in extra:
                sigmas.setdefault(method, []).append(extra["log_sigma"])
            sel = best[1]
            per_seed[method].append({"val_err": sel[0].tolist(), "test_err": sel[1].tolist()})
            seconds[method] += time.perf_counter() - t1
            print(
                f"lora_body seed {seed} {method}: val {100 * sel[0].mean():.2f} "
                f"test {100 * sel[1].mean():.2f} ({time.perf_counter() - t1:.0f} s)",
                flush=True,
            )
    out = {
        "per_seed": per_seed,
        "soft_strength": chosen,
        "log_sigma": sigmas,
        "seconds": seconds,
        "total_seconds": time.perf_counter() - t0,
        "domains": list(config.domains),
        "train_lines": host["ntr"].tolist(),
        "device": str(jax.devices()[0]),
    }
    with open(os.path.join(workdir, "lora_body.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    return out
