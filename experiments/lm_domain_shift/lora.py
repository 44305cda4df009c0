"""Adapted encoder (issue #18 item 3): LoRA on the top layer(s) of MiniLM, lower layers cached.

The encoder is split at block ``k = L - len(top_layers)``: the token-level hidden states of
``hidden_states[k]`` (the input of the first adapted block) and the attention masks of every
review are computed once and cached on disk (float16, keyed by checkpoint hash, ``k``,
maximum length and a hash of the texts, as :func:`jtransfer.models.extract_features` does);
training then runs only blocks ``k .. L-1`` with LoRA factors (``jtransfer.adapters``) on
their kernels, and a logistic head on the attention-mask mean of the last block's output.

Per shift and seed (the README's protocol; target labels read only to score):

* ``lora_source_only``: LoRA + head on the source train reviews (hard sharing of the
  pretrained body: one body, frozen, the adapter and head trained);
* ``lora_mmd`` / ``lora_coral`` / ``lora_dann``: the same plus ``λ`` times multi-bandwidth
  MMD² (``align.mmd2_multi``), Deep CORAL (``align.coral_loss``) or a gradient-reversal
  domain discriminator (``align.domain_adversarial_loss``) between the pooled states of a
  source batch and a batch of the unlabelled target pool.

Selection without target labels: every ``eval_every`` steps the source-validation
cross-entropy per review is scored with **DEV** (``select.dev_risk``) using the density ratio
of a logistic domain classifier fitted on the frozen pooled features (source train vs pool,
evaluated at the validation reviews: the same weights as ``train.py``); the (λ, step) with the
lowest DEV risk is the result, and only its checkpoint is scored on the target. Labelled
extras: the last step's target accuracy (``last_acc``, only with ``config.adapt.eval_last``)
and the best target accuracy over the λ grid (``oracle_lam``).

Run: ``python -m experiments.lm_domain_shift.lora --workdir DIR [--config configs/lora_cpu.py]``
(``--cache_only`` fills the token cache and exits, resumable; ``--collect WORKDIR OUT`` writes
the results JSON of a cut run from its ``lora.jsonl``).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.lm_domain_shift.tables import read_records
from jtransfer import adapters, align, models, select

_FORMAT = 1


def split_encoder(apply_fn, k: int):
    """``(bottom, top)`` of a ``models.functional`` BERT encoder split before block ``k``.

    ``bottom(params, batch) -> h`` (B, L, H): ``hidden_states[k]`` (embeddings, blocks
    ``0..k-1``). ``top(params, h, mask) -> pooled`` (B, H): blocks ``k..`` then the
    attention-mask mean, so ``top(p, bottom(p, b), b["attention_mask"])`` equals
    ``apply_fn(p, b).pooled``.
    """
    from flax import nnx  # the model boundary

    def module(params):
        return nnx.merge(apply_fn.graphdef, params, apply_fn.rest, copy=True)

    def bottom(params, batch):
        m = module(params)
        ids = batch["input_ids"]
        tt = batch.get("token_type_ids")
        tt = jnp.zeros_like(ids) if tt is None else tt
        valid = batch["attention_mask"] != 0
        x = m.embeddings(ids, tt)
        for i in range(k):
            x = m.layers[i](x, valid)
        return x

    def top(params, h, mask):
        m = module(params)
        valid = mask != 0
        x = h
        for i in range(k, len(m.layers)):
            x = m.layers[i](x, valid)
        w = mask.astype(x.dtype)[:, :, None]
        return (x * w).sum(1) / jnp.maximum(w.sum(1), 1.0)

    return bottom, top


def token_states(
    bottom,
    params,
    texts,
    tokenizer,
    *,
    max_length,
    batch_size,
    cache_dir,
    key_parts,
    chunk_size: int = 256,
    log=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token-level ``bottom`` states (N, L, H) float16 and masks (N, L) int8, cached per chunk.

    The cache folder is the SHA-256 of ``key_parts`` (checkpoint hash, split block, ...),
    ``max_length`` and the texts' hash; chunks are written atomically, so a killed run
    resumes at the first missing chunk. ``cache_dir`` empty or None: no cache.
    """
    n = len(texts)
    folder = None
    if cache_dir:
        comp = {
            "format": _FORMAT,
            "kind": "token_states_float16",
            "max_length": max_length,
            "texts": models.texts_hash(texts),
            "num_texts": n,
            "chunk_size": chunk_size,
            **key_parts,
        }
        key = hashlib.sha256(json.dumps(comp, sort_keys=True).encode()).hexdigest()[:24]
        folder = os.path.join(cache_dir, "tokens_" + key)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "components.json"), "w", encoding="utf-8") as f:
            json.dump(comp, f, indent=1)
    fn = jax.jit(bottom)
    hs, ms = [], []
    for c in range(-(-n // chunk_size)):
        lo, hi = c * chunk_size, min(n, (c + 1) * chunk_size)
        path = folder and os.path.join(folder, f"chunk_{c:05d}.npz")
        if path and os.path.exists(path):
            with np.load(path) as z:
                hs.append(z["h"])
                ms.append(z["mask"])
            continue
        t0 = time.perf_counter()
        toks = tokenizer(list(texts[lo:hi]), max_length=max_length)
        toks = {k: np.asarray(v, np.int32) for k, v in toks.items()}
        outs = []
        for s in range(0, hi - lo, batch_size):
            b = {k: v[s : s + batch_size] for k, v in toks.items()}
            pad = batch_size - len(b["input_ids"])
            if pad:
                b = {k: np.pad(v, ((0, pad), (0, 0))) for k, v in b.items()}
            outs.append(fn(params, b))
        h = np.concatenate([np.asarray(o, np.float16) for o in outs])[: hi - lo]
        mask = toks["attention_mask"].astype(np.int8)
        if path:
            tmp = f"{path}.tmp-{os.getpid()}.npz"
            np.savez(tmp, h=h, mask=mask)
            os.replace(tmp, path)
        if log:
            log(f"tokens chunk {c} ({hi - lo} texts): {time.perf_counter() - t0:.1f} s")
        hs.append(h)
        ms.append(mask)
    return np.concatenate(hs), np.concatenate(ms)


def encoder_split(config):
    """``(bottom, top, params, tokenizer, key_parts, k)`` of the configured encoder."""
    from experiments.lm_domain_shift import features as feats_mod

    cfg = config.copy_and_resolve_references()
    cfg.forward_chunk = 0
    apply_fn, params, tok, ckpt = feats_mod.encoder_fns(cfg)
    num_layers = len(params["layers"])
    k = num_layers - config.adapt.top_layers
    if not 0 <= k < num_layers:
        raise ValueError(
            f"config.adapt.top_layers={config.adapt.top_layers} must be in 1..{num_layers}"
        )
    bottom, top = split_encoder(apply_fn, k)
    key_parts = {"checkpoint": ckpt or "tiny_random", "split_block": k, "encoder": config.encoder}
    return bottom, top, params, tok, key_parts, k


class TokenStates:
    """Lazy ``states[domain][part] -> (h, mask)`` (``part``: ``labelled`` / ``pool``): each
    domain's token states are loaded from (or written to) the cache on first use."""

    def __init__(self, config, texts, *, log=None):
        self.bottom, _, self.params, self.tok, self.key_parts, _ = encoder_split(config)
        self.config, self.texts, self.log = config, texts, log
        self._data: dict = {}
        self.seconds = 0.0

    def get(self, dom: str, part: str):
        if (dom, part) not in self._data:
            t0 = time.perf_counter()
            self._data[dom, part] = token_states(
                self.bottom,
                self.params,
                list(self.texts[dom][part]["text"]),
                self.tok,
                max_length=self.config.adapt.max_length,
                batch_size=self.config.adapt.cache_batch,
                cache_dir=self.config.cache_dir,
                key_parts=self.key_parts,
                log=self.log,
            )
            self.seconds += time.perf_counter() - t0
            if self.log:
                self.log(f"tokens {dom}/{part}: {time.perf_counter() - t0:.1f} s")
        return self._data[dom, part]


def all_token_states(config, texts, *, log=None) -> TokenStates:
    """Fills the token cache of every domain in ``config.adapt.cache_domains`` (pools first)."""
    states = TokenStates(config, texts, log=log)
    for part in ("pool", "labelled"):
        for dom in config.adapt.cache_domains or config.domains:
            states.get(dom, part)
    return states


METHODS = ("lora_source_only", "lora_mmd", "lora_coral", "lora_dann")


def _mlp_init(sizes, key):
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (a, b)) * np.sqrt(2.0 / a), "b": jnp.zeros(b)}
        for k, a, b in zip(keys, sizes[:-1], sizes[1:])
    ]


def _mlp(params, x):
    for i, p in enumerate(params):
        x = x @ p["w"] + p["b"][None]
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def features_fn(top, skip: bool):
    """``f(params, h, mask)``: the pooled output of the top blocks, with ``skip`` also the
    attention-mask mean of their input ``h`` (concatenated first: ``(B, 2H)``)."""

    def f(params, h, m):
        h = h.astype(jnp.float32)
        z = top(params, h, m)
        if not skip:
            return z
        w = m.astype(jnp.float32)[:, :, None]
        return jnp.concatenate([(h * w).sum(1) / jnp.maximum(w.sum(1), 1.0), z], axis=-1)

    return f


@functools.cache
def _features_jit(top, skip: bool):
    """One jitted :func:`features_fn` per ``(top, skip)`` for the whole process."""
    return jax.jit(features_fn(top, skip))


@functools.cache
def _logits_jit(top, skip: bool):
    """One jitted ``logits(params, trainable, h, m)`` per ``(top, skip)``, shared by every
    method, shift and seed of a process (it does not depend on the method)."""
    feat = features_fn(top, skip)

    def logits(params, trainable, h, m):
        z = feat(adapters.lora_merge(params, trainable["lora"]), h, m)
        return z @ trainable["head"]["kernel"] + trainable["head"]["bias"]

    return jax.jit(logits)


def make_fns(
    top,
    method: str,
    *,
    learning_rate: float,
    num_steps: int,
    skip: bool = False,
    coral_scale: float = 1.0,
):
    """Jitted ``step`` and ``logits`` of one method (see the module docstring).

    ``trainable = {"lora": LoraParams, "head": {"kernel": (H,), "bias": ()}, "disc": MLP}``;
    ``step(state, params, hs, ms, ys, hu, mu, lam) -> (state, metrics)`` minimises the mean
    binary cross-entropy of the source batch plus ``lam`` times the alignment term on the
    pooled states of the source batch ``hs`` and the pool batch ``hu`` (Deep CORAL's term is
    also multiplied by ``coral_scale``: its 1/(4 d²) makes it ~1e-5 at d = 768; DANN: the
    discriminator's cross-entropy through a gradient reversal of scale ``lam`` times the DANN
    ramp ``2 / (1 + exp(-10 p)) - 1``, p = step / num_steps).

    The functions are built once per process for equal arguments (``functools.lru_cache``):
    every shift and seed of a method reuses the same compiled ``step`` (the shapes do not
    change; ``lam`` is an argument), and ``logits`` is one compiled function for all methods.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return _make_fns(top, method, float(learning_rate), int(num_steps), bool(skip),
                     float(coral_scale))  # fmt: skip


@functools.cache
def _make_fns(top, method, learning_rate, num_steps, skip, coral_scale):
    opt = optax.adam(learning_rate)

    feat = features_fn(top, skip)

    def pooled(params, lora, h, m):
        return feat(adapters.lora_merge(params, lora), h, m)

    def loss(trainable, params, hs, ms, ys, hu, mu, lam, p):
        zs = pooled(params, trainable["lora"], hs, ms)
        ce = optax.sigmoid_binary_cross_entropy(
            zs @ trainable["head"]["kernel"] + trainable["head"]["bias"], ys.astype(jnp.float32)
        ).mean()
        if method == "lora_source_only":
            return ce, {"ce": ce, "align": jnp.zeros(())}
        zt = pooled(params, trainable["lora"], hu, mu)
        if method == "lora_mmd":
            a = align.mmd2_multi(zs, zt)
            total = ce + lam * a
        elif method == "lora_coral":
            a = align.coral_loss(zs, zt)
            total = ce + lam * coral_scale * a
        else:
            ramp = 2.0 / (1.0 + jnp.exp(-10.0 * p)) - 1.0
            rev = lambda z: align.gradient_reversal(z, lam * ramp)
            a = align.domain_adversarial_loss(
                _mlp(trainable["disc"], rev(zs))[:, 0], _mlp(trainable["disc"], rev(zt))[:, 0]
            )
            total = ce + a
        return total, {"ce": ce, "align": a}

    def step(state, params, hs, ms, ys, hu, mu, lam):
        trainable, opt_state, i = state
        p = i.astype(jnp.float32) / num_steps
        grads, metrics = jax.grad(loss, has_aux=True)(trainable, params, hs, ms, ys, hu, mu, lam, p)
        updates, opt_state = opt.update(grads, opt_state, trainable)
        return (optax.apply_updates(trainable, updates), opt_state, i + 1), metrics

    def init(trainable):
        return (trainable, opt.init(trainable), jnp.zeros((), jnp.int32))

    return init, jax.jit(step), _logits_jit(top, skip)


def _batched_logits(logits, params, trainable, h, m, batch):
    out = []
    for s in range(0, len(h), batch):
        hb, mb = h[s : s + batch], m[s : s + batch]
        pad = batch - len(hb)
        if pad:
            hb = np.pad(hb, ((0, pad), (0, 0), (0, 0)))
            mb = np.pad(mb, ((0, pad), (0, 0)))
        out.append(np.asarray(logits(params, trainable, hb, mb))[: batch - pad])
    return np.concatenate(out)


def linear_probe(top, params, h, m, y, batch, *, skip: bool = False) -> dict:
    """Head init (linear probing, then fine-tuning): a logistic regression (scikit-learn,
    C = 1, on standardised features) on the pooled output of the un-adapted top block of
    the source train reviews, folded back to a head on the raw pooled states."""
    from sklearn.linear_model import LogisticRegression

    f = _features_jit(top, skip)
    z = np.concatenate(
        [np.asarray(f(params, h[s : s + batch], m[s : s + batch])) for s in range(0, len(h), batch)]
    )
    mu, sd = z.mean(0), z.std(0, ddof=0) + 1e-6
    lr = LogisticRegression(C=1.0, max_iter=2000).fit((z - mu) / sd, y)
    w = lr.coef_[0] / sd
    return {
        "kernel": jnp.asarray(w, jnp.float32),
        "bias": jnp.asarray(lr.intercept_[0] - (w * mu).sum(), jnp.float32),
    }


def run_one(cfg, fns, params, d, head, wv, method, lam, seed, *, log=None) -> dict:
    """Trains one (method, λ, seed); returns DEV / validation accuracy per checkpoint and the
    target accuracy of the DEV-chosen checkpoint and of the last one."""
    a = cfg.adapt
    init, step, logits = fns
    key = jax.random.key(seed)
    k_lora, k_disc, k_data = jax.random.split(key, 3)
    lora = adapters.lora_init(
        params, rank=a.lora_rank, alpha=a.lora_alpha, targets=list(a.targets), key=k_lora
    )
    h = head["kernel"].shape[0]
    trainable = {"lora": lora, "head": head, "disc": _mlp_init((h, *a.disc_hidden, 1), k_disc)}
    state = init(trainable)
    ns, nu = len(d["ys"]), len(d["hu"])
    t0, c0 = time.perf_counter(), time.process_time()
    ckpts, hist = {}, []
    first_s = dev_s = 0.0
    for i in range(1, a.num_steps + 1):
        ks, ku = jax.random.split(jax.random.fold_in(k_data, i))
        si = np.asarray(jax.random.randint(ks, (a.batch_size,), 0, ns))
        ui = np.asarray(jax.random.randint(ku, (a.batch_size,), 0, nu))
        t_step = time.perf_counter()
        state, met = step(
            state,
            params,
            d["hs"][si],
            d["ms"][si],
            d["ys"][si],
            d["hu"][ui],
            d["mu"][ui],
            jnp.float32(lam),
        )
        if i == 1:  # includes the compilation when this is the process's first run
            jax.block_until_ready(state)
            first_s = time.perf_counter() - t_step
        if i % a.eval_every == 0 or i == a.num_steps:
            jax.block_until_ready(state)  # (timing only: the steps before count as steps)
            t_dev = time.perf_counter()
            z = _batched_logits(logits, params, state[0], d["hv"], d["mv"], a.eval_batch)
            losses = optax.sigmoid_binary_cross_entropy(
                jnp.asarray(z), jnp.asarray(d["yv"], jnp.float32)
            )
            rec = {
                "step": i,
                "dev": float(select.dev_risk(losses, jnp.asarray(wv))),
                "source_val_acc": float(100 * np.mean((z > 0) == d["yv"])),
                "ce": float(met["ce"]),
                "align": float(met["align"]),
            }
            dev_s += time.perf_counter() - t_dev
            hist.append(rec)
            ckpts[i] = state[0]
            if log:
                log(f"  {method} lam {lam} seed {seed} step {i}: {rec}")
    train_s = time.perf_counter() - t0
    best = min(hist, key=lambda r: r["dev"])
    test = {}
    # target labels are read only here, at the DEV-chosen checkpoint (and the last one when
    # config.adapt.eval_last: an extra that costs one more pass over the target reviews)
    t_test = time.perf_counter()
    for s in sorted({best["step"], a.num_steps} if a.eval_last else {best["step"]}):
        z = _batched_logits(logits, params, ckpts[s], d["ht"], d["mt"], a.eval_batch)
        test[s] = float(100 * np.mean((z > 0) == d["yt"]))
    return {
        "lam": lam,
        "step": best["step"],
        "dev": best["dev"],
        "acc": test[best["step"]],
        "last_acc": test.get(a.num_steps),
        "history": hist,
        "train_seconds": train_s,
        "seconds": time.perf_counter() - t0,
        # wall split: the first step (with the compilation in a process's first run), the
        # other steps, the DEV evaluations, the target scoring; and the process CPU time
        "timing": {
            "first_step": first_s,
            "steps": train_s - first_s - dev_s,
            "dev": dev_s,
            "target": time.perf_counter() - t_test,
            "cpu": time.process_time() - c0,
        },
    }


def lora_targets(config, num_layers: int, k: int) -> tuple[str, ...]:
    """Path patterns of the adapted kernels: ``layers/<i>/<name>/kernel`` for the top blocks."""
    return tuple(
        f"layers/{i}/{n}/kernel" for i in range(k, num_layers) for n in config.adapt.lora_targets
    )


def shift_arrays(config, texts, toks, feats, s, t) -> tuple[dict, np.ndarray]:
    """Token states of one shift and the DEV weights of the source validation reviews."""
    from experiments.lm_domain_shift import train as frozen

    src = texts[s]["labelled"]
    tr, va = src["split"] == "train", src["split"] == "validation"
    (hl, ml), (hu, mu) = toks.get(s, "labelled"), toks.get(t, "pool")
    ht, mt = toks.get(t, "labelled")
    d = {
        "hs": hl[tr], "ms": ml[tr], "ys": src["y"][tr].astype(np.int32),
        "hv": hl[va], "mv": ml[va], "yv": src["y"][va].astype(np.int32),
        "hu": hu, "mu": mu,
        "ht": ht, "mt": mt, "yt": texts[t]["labelled"]["y"].astype(np.int32),
    }  # fmt: skip
    f = frozen.shift_data(config, texts, feats, s, t)  # frozen pooled features, no labels used
    wv = np.asarray(select.domain_classifier_weights(f["xs"], f["xu"], x_eval=f["xv"]))
    return d, wv


def _jsonable(o):
    return list(o) if isinstance(o, tuple) else str(o)


def validate_config(config) -> None:
    a = config.adapt
    bad = [m for m in a.methods if m not in METHODS]
    if bad:
        raise ValueError(f"config.adapt.methods: unknown {bad}; known {METHODS}")
    if not a.seeds or not a.lam_grid or min(a.lam_grid) <= 0:
        raise ValueError(
            f"config.adapt.seeds and lam_grid (> 0) must be non-empty, got {a.seeds}, {a.lam_grid}"
        )
    for name in ("num_steps", "eval_every", "batch_size", "max_length", "top_layers"):
        if int(a[name]) <= 0:
            raise ValueError(f"config.adapt.{name} must be positive, got {a[name]}")


def read_log(path: str) -> dict:
    """``{(shift, seed, method): record}`` of a ``lora.jsonl`` (a truncated last line skipped)."""
    return read_records(path, "shift", "seed", "method")


def collect(config, done: dict) -> dict:
    """The results JSON of the finished records of ``done``: a cut run keeps the (shift, seed)
    pairs that every method finished (``seeds_done``)."""
    from experiments.lm_domain_shift import train as frozen

    a = config.adapt
    # only (shift, seed) pairs that every method finished, so that all rows pair up
    seeds = lambda n, m: [sd for sd in a.seeds if all((n, sd, k) in done for k in a.methods)]
    result = {
        "seeds_done": {m: {n: seeds(n, m) for n in a.shifts} for m in a.methods},
        "accuracy": {
            m: {n: [done[(n, sd, m)]["acc"] for sd in seeds(n, m)] for n in a.shifts}
            for m in a.methods
        },
        "last_step_accuracy": {
            m: {
                n: [
                    next(p["last_acc"] for p in done[(n, sd, m)]["per_lam"]
                         if p["lam"] == done[(n, sd, m)]["lam"])
                    for sd in seeds(n, m)
                ]
                for n in a.shifts
            }
            for m in a.methods
        },
        "selection": {
            m: {
                n: {
                    "lam": [done[(n, sd, m)]["lam"] for sd in seeds(n, m)],
                    "step": [done[(n, sd, m)]["step"] for sd in seeds(n, m)],
                    "history": [done[(n, sd, m)]["per_lam"] for sd in seeds(n, m)],
                }
                for n in a.shifts
            }
            for m in a.methods
        },
        "baseline": {m: "lora_source_only" for m in a.methods},
        "config": config.to_dict(),
        "git_commit": frozen._git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax_backend": jax.default_backend(),
            "load_average": list(os.getloadavg()),
        },
        "wall_seconds": {
            "runs": {
                m: float(
                    sum(p["seconds"] for n in a.shifts for sd in seeds(n, m)
                        for p in done[(n, sd, m)]["per_lam"])
                )
                for m in a.methods
            },
            "per_run_mean": {
                m: float(
                    np.mean([p["seconds"] for n in a.shifts for sd in seeds(n, m)
                             for p in done[(n, sd, m)]["per_lam"]])
                )
                for m in a.methods
            },
            "split_mean": _split_mean(done, a, seeds),
        },
    }  # fmt: skip
    return result


def _split_mean(done: dict, a, seeds) -> dict:
    """Per method, over the runs that recorded ``timing`` (``run_one``): their number, mean
    wall seconds, and the mean seconds of each part (first step with the compilation of a
    process's first run, other steps, DEV evaluations, target scoring, process CPU time)."""
    out = {}
    for m in a.methods:
        runs = [p for n in a.shifts for sd in seeds(n, m) for p in done[(n, sd, m)]["per_lam"]
                if "timing" in p]  # fmt: skip
        if runs:
            out[m] = {
                "runs": len(runs),
                "wall": float(np.mean([p["seconds"] for p in runs])),
                **{k: float(np.mean([p["timing"][k] for p in runs])) for k in runs[0]["timing"]},
            }
    return out


PROBE_KINDS = ("layer5_mean", "skip", "source_only_linear")


def probe_diagnostic(config, shift_names, kinds=PROBE_KINDS) -> dict:
    """A labelled diagnostic (not a result): target and source-validation accuracy of heads
    before any LoRA step, at ``config.adapt.max_length`` pieces, per kind of ``kinds``:

    * ``layer5_mean``: a scikit-learn logistic probe (C = 1) on the mean of the cached block
      input alone (frozen layer 5);
    * ``skip``: the same on the ``head_skip`` features (layer 5 and the un-adapted block 5):
      the LoRA runs' starting head;
    * ``source_only_linear``: the frozen grid's own ``source_only_linear`` head
      (``train.run_shift_seed``: standardised with source train + pool, Adam, every seed of
      ``config.seeds``; accuracies are the mean over seeds, ``per_seed`` lists them) on the
      mean of the cached layer-5 states, i.e. the frozen grid's method with only the sequence
      length changed (128 -> ``max_length`` pieces; the token states are float16).

    Separates the cost of the shorter sequences from that of fine-tuning."""
    from experiments.lm_domain_shift import features as feats_mod
    from experiments.lm_domain_shift import train as frozen

    bad = [k for k in kinds if k not in PROBE_KINDS]
    if bad:
        raise ValueError(f"kinds: unknown {bad}; known {PROBE_KINDS}")
    a = config.adapt
    texts = feats_mod.load_texts(config)
    feats, _ = feats_mod.features(config, texts)
    _, top, params, _, _, _ = encoder_split(config)
    toks = TokenStates(config, texts)
    names = {frozen.shift_name(s, t): (s, t) for s, t in frozen.shifts(config.domains)}
    f_skip = _features_jit(top, True)

    def mean_in(h, m):
        w = m.astype(np.float32)[:, :, None]
        return (h.astype(np.float32) * w).sum(1) / np.maximum(w.sum(1), 1.0)

    def feats_skip(h, m):
        b = a.eval_batch
        return np.concatenate(
            [np.asarray(f_skip(params, h[i : i + b], m[i : i + b])) for i in range(0, len(h), b)]
        )

    from sklearn.linear_model import LogisticRegression

    out = {}
    for name in shift_names:
        s, t = names[name]
        d, _ = shift_arrays(config, texts, toks, feats, s, t)
        rec = {}
        for kind, fx in (("layer5_mean", mean_in), ("skip", feats_skip)):
            if kind not in kinds:
                continue
            xs, xv, xt = (fx(d[h], d[m]) for h, m in (("hs", "ms"), ("hv", "mv"), ("ht", "mt")))
            mu, sd = xs.mean(0), xs.std(0, ddof=0) + 1e-6
            lr = LogisticRegression(C=1.0, max_iter=2000).fit((xs - mu) / sd, d["ys"])
            rec[kind] = {
                "source_val_acc": 100 * float(lr.score((xv - mu) / sd, d["yv"])),
                "target_acc": 100 * float(lr.score((xt - mu) / sd, d["yt"])),
            }
        if "source_only_linear" in kinds:
            # (N, 1, H) "layer stacks" of the pooled token states: layer_index 0 below
            pooled = lambda dom, part: mean_in(*toks.get(dom, part))[:, None, :]
            f64 = {s: {"labelled": pooled(s, "labelled")},
                   t: {"labelled": pooled(t, "labelled"), "pool": pooled(t, "pool")}}  # fmt: skip
            d64 = frozen.shift_data(config, texts, f64, s, t, layer_index=0)
            runs = [
                frozen.run_shift_seed(config, d64, {"validation": None}, seed,
                                      ["source_only_linear"])["source_only_linear"]
                for seed in config.seeds
            ]  # fmt: skip
            rec["source_only_linear"] = {
                "source_val_acc": float(np.mean([r["source_val_acc"] for r in runs])),
                "target_acc": float(np.mean([r["acc"] for r in runs])),
                "per_seed": [r["acc"] for r in runs],
            }
        out[name] = rec
    return out


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
    """Runs the adapted-encoder grid; writes ``workdir/lora.json`` (and
    ``config.adapt.results_file``); resumes per (shift, seed, method) from ``lora.jsonl``."""
    from experiments.lm_domain_shift import features as feats_mod
    from experiments.lm_domain_shift import train as frozen

    validate_config(config)
    a = config.adapt
    os.makedirs(workdir, exist_ok=True)
    t_all = time.perf_counter()
    log = lambda m: print(m, flush=True)
    texts = feats_mod.load_texts(config)
    feats, _ = feats_mod.features(config, texts)
    _, top, params, _, _, k = encoder_split(config)
    toks = TokenStates(config, texts, log=log)  # filled lazily, shift by shift
    num_layers = len(params["layers"])
    with config.unlocked():
        a.targets = lora_targets(config, num_layers, k)
    names = {frozen.shift_name(s, t): (s, t) for s, t in frozen.shifts(config.domains)}
    bad = [n for n in a.shifts if n not in names]
    if bad:
        raise ValueError(f"config.adapt.shifts: unknown {bad}; known {sorted(names)}")
    log_path = os.path.join(workdir, "lora.jsonl")
    done = read_log(log_path)
    fns = {
        m: make_fns(
            top,
            m,
            learning_rate=a.learning_rate,
            num_steps=a.num_steps,
            skip=a.head_skip,
            coral_scale=a.coral_scale,
        )
        for m in a.methods
    }
    prepared = {}  # shift -> (arrays, DEV weights, probe head, seconds)
    for seed in a.seeds:  # seed-major: a cut run still covers every shift
        for name in a.shifts:
            todo = [m for m in a.methods if (name, seed, m) not in done]
            if not todo:
                continue
            if name not in prepared:
                d, wv = shift_arrays(config, texts, toks, feats, *names[name])
                t0 = time.perf_counter()
                head = linear_probe(
                    top, params, d["hs"], d["ms"], d["ys"], a.eval_batch, skip=a.head_skip
                )
                prepared[name] = (d, wv, head, time.perf_counter() - t0)
            d, wv, head, probe_s = prepared[name]
            for m in todo:
                lams = (0.0,) if m == "lora_source_only" else tuple(a.lam_grid)
                per = [run_one(config, fns[m], params, d, head, wv, m, lam, seed) for lam in lams]
                i = min(range(len(per)), key=lambda j: per[j]["dev"])  # label-free (λ, step)
                r = {
                    "shift": name, "seed": seed, "method": m,
                    "acc": per[i]["acc"], "lam": per[i]["lam"], "step": per[i]["step"],
                    "oracle_lam": max(p["acc"] for p in per), "per_lam": per,
                    "probe_seconds": probe_s,
                }  # fmt: skip
                done[(name, seed, m)] = r
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(r) + "\n")
                log(
                    f"{name} seed {seed} {m}: acc {r['acc']:.2f} (λ {r['lam']}, step "
                    f"{r['step']}; last {per[i]['last_acc']}) "
                    f"{sum(p['seconds'] for p in per):.0f} s"
                )
    result = collect(config, done)
    result["wall_seconds"]["token_cache_load_or_fill"] = toks.seconds
    result["wall_seconds"]["total_this_run"] = time.perf_counter() - t_all
    for path in filter(None, (os.path.join(workdir, "lora.json"), a.results_file)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, default=_jsonable)
    return {
        f"{m}/avg": float(np.mean([np.mean(v) for v in result["accuracy"][m].values()]))
        for m in a.methods
        if any(result["accuracy"][m].values())
    }


if __name__ == "__main__":
    import sys

    from experiments.lm_domain_shift import features as feats_mod
    from experiments.lm_domain_shift.configs import lora_cpu

    if "--collect" in sys.argv:  # lora.json of a (cut) run from its lora.jsonl, no training
        cfg = lora_cpu.get_config()
        cfg.adapt.targets = lora_targets(cfg, 6, 6 - cfg.adapt.top_layers)  # MiniLM-L6
        wd = sys.argv[sys.argv.index("--collect") + 1]
        res = collect(cfg, read_log(os.path.join(wd, "lora.jsonl")))
        out = sys.argv[sys.argv.index("--collect") + 2]
        with open(out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1, default=_jsonable)
    elif "--probe" in sys.argv:  # --probe OUT SHIFTS [KINDS]: the diagnostic above -> OUT
        cfg = lora_cpu.get_config()
        i = sys.argv.index("--probe")
        kinds = sys.argv[i + 3].split(",") if len(sys.argv) > i + 3 else PROBE_KINDS
        res = probe_diagnostic(cfg, sys.argv[i + 2].split(","), kinds)
        if len(kinds) < len(PROBE_KINDS) and os.path.exists(sys.argv[i + 1]):
            with open(sys.argv[i + 1], encoding="utf-8") as f:  # keep the other kinds
                old = json.load(f)
            res = {n: {**old.get(n, {}), **r} for n, r in res.items()}
        with open(sys.argv[i + 1], "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res, indent=1))
    elif "--cache_only" in sys.argv:
        cfg = lora_cpu.get_config()
        t0 = time.perf_counter()
        txt = feats_mod.load_texts(cfg)
        all_token_states(cfg, txt, log=lambda s: print(s, flush=True))
        print(f"total {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        from jtransfer.train import experiment_main

        experiment_main("lm_domain_shift", train_and_evaluate)
