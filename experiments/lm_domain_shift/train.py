"""Frozen MiniLM across the 12 Blitzer shifts: heads on cached pooled features (issue #18).

For every ordered shift ``s -> t`` and seed, on the pooled features of ``config.layer``:

* ``source_only_linear``: a logistic head (``recipes.fit_domain_adaptation``, ``hidden=()``)
  on the source ``train`` rows;
* ``coral_closed``: ``align.coral`` re-colours the source features with the covariance of the
  unlabelled target pool, then the same logistic head;
* ``iw_dc_prob`` / ``iw_dc_ratio`` / ``iw_kmm`` / ``iw_kliep`` / ``iw_ulsif``: the logistic
  head with importance weights on the source loss: the domain classifier's ``Q/(P+Q)`` and
  density ratio (``select.domain_classifier_weights``), ``weighting.kmm``,
  ``weighting.kliep``, ``weighting.ulsif`` (fitted on a ``config.weight_pca``-dimensional
  PCA of the features, fitted on source train + target pool without labels);
* ``source_only``: an MLP head (``config.mlp``) with λ = 0, the baseline of
* ``mmd`` / ``coral`` / ``dann``: the same MLP with multi-bandwidth MMD², Deep CORAL or a
  gradient-reversal discriminator on its hidden layer, for each λ of ``config.lam_grid``.

λ is chosen **without target labels** by DEV (``select.dev_risk``) of the per-example
source-validation cross-entropy with domain-classifier weights of those validation rows.
The target-selected λ is stored as ``oracle`` (an extra, never the result). Features are
standardised with the mean and std of source train + target pool (no labels).
Target labels are read only to score: accuracy on all 2000 target reviews.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.lm_domain_shift import features as feats_mod
from experiments.lm_domain_shift.tables import read_records
from jtransfer import align, recipes, select, weighting

LINEAR_METHODS = (
    "source_only_linear",
    "coral_closed",
    "iw_dc_prob",
    "iw_dc_ratio",
    "iw_kmm",
    "iw_kliep",
    "iw_ulsif",
)
MLP_METHODS = ("source_only", "mmd", "coral", "dann")
METHODS = LINEAR_METHODS + MLP_METHODS
BASELINE = {m: "source_only_linear" for m in LINEAR_METHODS} | {
    m: "source_only" for m in MLP_METHODS
}
ABBR = {"books": "B", "dvd": "D", "electronics": "E", "kitchen": "K"}


def shifts(domains) -> list[tuple[str, str]]:
    return [(s, t) for s in domains for t in domains if s != t]


def shift_name(s: str, t: str) -> str:
    return f"{ABBR.get(s, s)}->{ABBR.get(t, t)}"


def validate_config(config) -> None:
    bad = [m for m in config.methods if m not in METHODS]
    if bad:
        raise ValueError(f"config.methods: unknown {bad}; known {METHODS}")
    if config.layer not in config.layers:
        raise ValueError(
            f"config.layer={config.layer} must be one of config.layers={tuple(config.layers)}"
        )
    if not config.seeds or not config.lam_grid or min(config.lam_grid) <= 0:
        raise ValueError(
            f"config.seeds and config.lam_grid (> 0) must be non-empty, got "
            f"{config.seeds}, {config.lam_grid}"
        )
    if len(config.domains) < 2:
        raise ValueError(f"config.domains needs at least 2 domains, got {config.domains}")
    recipes.check_config(config.linear)
    recipes.check_config(config.mlp)


def _pca(x, k):
    mu = x.mean(0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    return lambda z: (z - mu) @ vt[:k].T


def shift_data(config, texts, feats, s, t, layer_index=None):
    """Arrays of one shift: standardised source train/validation, target pool and test."""
    li = config.layers.index(config.layer) if layer_index is None else layer_index
    src, tgt = texts[s]["labelled"], texts[t]["labelled"]
    xs_all = feats[s]["labelled"][:, li]
    tr, va = src["split"] == "train", src["split"] == "validation"
    pool = feats[t]["pool"][:, li]
    ref = np.concatenate([xs_all[tr], pool])
    mu, sd = ref.mean(0), ref.std(0, ddof=0) + 1e-6
    z = lambda x: ((x - mu) / sd).astype(np.float32)
    return {
        "xs": z(xs_all[tr]),
        "ys": src["y"][tr].astype(np.int32),
        "xv": z(xs_all[va]),
        "yv": src["y"][va].astype(np.int32),
        "xu": z(pool),
        "xt": z(feats[t]["labelled"][:, li]),
        "yt": tgt["y"].astype(np.int32),
    }


def instance_weights(config, d, *, key) -> dict[str, np.ndarray]:
    """Importance weights of the source train rows (each normalised to mean 1), the domain
    classifier's target probability of each row (``dc_prob_target``), its density ratio at
    the source validation rows (``validation``, for DEV) and the CORAL-aligned source
    (``coral_source``); all label-free and the same for every seed."""
    ns, nt = len(d["xs"]), len(d["xu"])
    r = np.asarray(select.domain_classifier_weights(d["xs"], d["xu"]))
    p = r * nt / ns / (1.0 + r * nt / ns)  # the classifier's P(target | x)
    proj = _pca(np.concatenate([d["xs"], d["xu"]]), config.weight_pca)
    zs, zt = (jnp.asarray(proj(x), jnp.float32) for x in (d["xs"], d["xu"]))
    kk, ku = jax.random.split(key)
    w = {
        "iw_dc_ratio": r,
        "iw_dc_prob": r / (1.0 + r),
        "iw_kmm": np.asarray(weighting.kmm(zs, zt, max_iters=config.kmm_iters).weights),
        "iw_kliep": np.asarray(
            weighting.kliep(zs, zt, key=kk, num_iters=config.kliep_iters).weights
        ),
        "iw_ulsif": np.asarray(weighting.ulsif(zs, zt, key=ku).weights),
    }
    out = {k: (v / max(float(np.mean(v)), 1e-12)).astype(np.float32) for k, v in w.items()}
    out["dc_prob_target"] = p.astype(np.float32)
    # the same classifier family, evaluated at the source validation rows (for DEV)
    out["coral_source"] = np.asarray(align.coral(d["xs"], d["xu"], eps=config.coral_eps))
    out["validation"] = np.asarray(
        select.domain_classifier_weights(d["xs"], d["xu"], x_eval=d["xv"])
    )
    return out


def _val_losses(fit, x, y):
    logits = fit.model.logits(fit.params, jnp.asarray(x))[:, 0]
    return optax.sigmoid_binary_cross_entropy(logits, jnp.asarray(y, jnp.float32))


def _correct(fit, x, y) -> list[int]:
    """Per-review correctness (0/1) on the source validation rows (for the detector)."""
    return (recipes.predict(fit, x) == np.asarray(y)).astype(int).tolist()


def run_shift_seed(config, d, w, seed: int, methods) -> dict:
    """Accuracies (%) of every method on one shift and seed, with λ choices and times."""
    key = jax.random.key(seed)
    wv = w["validation"]
    out = {}

    def fit(method, cfg, xs=None, **kw):
        return recipes.fit_domain_adaptation(
            d["xs"] if xs is None else xs,
            d["ys"],
            d["xu"],
            method=method,
            config=cfg,
            key=key,
            n_out=1,
            **kw,
        )

    acc = lambda f, x, y: 100.0 * recipes.accuracy(f, x, y)
    for m in methods:
        t0 = time.perf_counter()
        rec = {}
        if m in LINEAR_METHODS:
            if m == "coral_closed":
                f = fit("source_only", config.linear, xs=w["coral_source"])
            elif m == "source_only_linear":
                f = fit("source_only", config.linear)
            else:
                f = fit("source_only", config.linear, weights_source=w[m])
            rec["acc"] = acc(f, d["xt"], d["yt"])
            rec["val_correct"] = _correct(f, d["xv"], d["yv"])
        else:
            lams = (0.0,) if m == "source_only" else tuple(config.lam_grid)
            per, correct = [], []
            for lam in lams:
                f = fit(m, config.mlp, lam=lam)
                per.append(
                    {
                        "lam": lam,
                        "acc": acc(f, d["xt"], d["yt"]),
                        "dev": float(select.dev_risk(_val_losses(f, d["xv"], d["yv"]), wv)),
                        "source_val_acc": acc(f, d["xv"], d["yv"]),
                    }
                )
                correct.append(_correct(f, d["xv"], d["yv"]))
            i = min(range(len(per)), key=lambda k: per[k]["dev"])  # label-free choice
            rec = {
                "acc": per[i]["acc"],
                "lam": per[i]["lam"],
                "oracle": max(r["acc"] for r in per),
                "per_lam": per,
                "val_correct": correct[i],
            }
        rec["source_val_acc"] = acc(f, d["xv"], d["yv"]) if "per_lam" not in rec else None
        rec["seconds"] = time.perf_counter() - t0
        out[m] = rec
    return out


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(__file__),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def layer_mmd(config, feats, pairs, *, n: int = 500) -> dict:
    """MMD² (unbiased, median bandwidth) between the pooled features of the source reviews and
    of the target pool, per layer and shift (first ``n`` rows of each, standardised jointly).
    """
    out = {}
    for s, t in pairs:
        vals = []
        for li in range(len(config.layers)):
            a, b = feats[s]["labelled"][:n, li], feats[t]["pool"][:n, li]
            ref = np.concatenate([a, b])
            mu, sd = ref.mean(0), ref.std(0, ddof=0) + 1e-6
            vals.append(float(align.mmd2(jnp.asarray((a - mu) / sd), jnp.asarray((b - mu) / sd))))
        out[shift_name(s, t)] = vals
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs the frozen grid; returns ``<method>/avg`` (12-shift average over seeds, %) and
    writes ``workdir/frozen.json`` (and ``config.results_file`` when set).

    Resumes per (shift, seed) from ``workdir/grid.jsonl``.
    """
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    t_all = time.perf_counter()
    texts = feats_mod.load_texts(config)
    feats, feat_times = feats_mod.features(config, texts)
    pairs = shifts(config.domains)
    if config.get("only_shifts"):  # run a subset (e.g. two processes); a full run resumes
        pairs = [p for p in pairs if shift_name(*p) in config.only_shifts]
    log_path = os.path.join(workdir, "grid.jsonl")
    done = read_records(log_path, "shift", "seed")  # a truncated last line is skipped
    weights_plot = None
    for s, t in pairs:
        name = shift_name(s, t)
        if all((name, seed) in done for seed in config.seeds):
            continue
        d = shift_data(config, texts, feats, s, t)
        t0 = time.perf_counter()
        w = instance_weights(config, d, key=jax.random.key(config.seed))
        w_secs = time.perf_counter() - t0
        if weights_plot is None:
            weights_plot = {
                "shift": name,
                **{k: v.tolist() for k, v in w.items() if k != "coral_source"},
            }
            with open(os.path.join(workdir, f"weights_{name.replace('->', '_')}.json"), "w") as f:
                json.dump(weights_plot, f)
        for seed in config.seeds:
            if (name, seed) in done:
                continue
            res = run_shift_seed(config, d, w, seed, config.methods)
            r = {
                "shift": name,
                "seed": seed,
                "weights_seconds": w_secs,
                "methods": res,
                "validation_weights": w["validation"].tolist(),
            }
            done[(name, seed)] = r
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(r) + "\n")
            print(
                f"{name} seed {seed}: " + ", ".join(f"{m} {v['acc']:.1f}" for m, v in res.items()),
                flush=True,
            )
    names = [shift_name(s, t) for s, t in pairs]
    acc = {
        m: {n: [done[(n, sd)]["methods"][m]["acc"] for sd in config.seeds] for n in names}
        for m in config.methods
    }
    extra = {
        m: {
            n: {
                "lam": [done[(n, sd)]["methods"][m]["lam"] for sd in config.seeds],
                "oracle": [done[(n, sd)]["methods"][m]["oracle"] for sd in config.seeds],
                "per_lam": [done[(n, sd)]["methods"][m]["per_lam"] for sd in config.seeds],
            }
            for n in names
        }
        for m in config.methods
        if m in MLP_METHODS and m != "source_only"
    }
    secs = {
        m: float(sum(done[(n, sd)]["methods"][m]["seconds"] for n in names for sd in config.seeds))
        for m in config.methods
    }
    result = {
        "accuracy": acc,
        "selection": extra,
        "baseline": {m: BASELINE[m] for m in config.methods},
        "layer_mmd2": {"layers": list(config.layers), "values": layer_mmd(config, feats, pairs)},
        "pool": {
            d: {
                "size": len(texts[d]["pool"]["text"]),
                "removed_overlap": texts[d]["pool"]["removed"],
                "raw_size": texts[d]["pool"]["raw_size"],
            }
            for d in config.domains
        },
        "config": config.to_dict(),
        "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "jax_backend": jax.default_backend(),
            "load_average": list(os.getloadavg()),
        },
        "wall_seconds": {
            "features": feat_times,
            "methods": secs,
            "total_this_run": time.perf_counter() - t_all,
        },
    }
    for path in filter(None, (os.path.join(workdir, "frozen.json"), config.results_file)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(
                result, f, indent=1, default=lambda o: list(o) if isinstance(o, tuple) else str(o)
            )
    metrics = {
        f"{m}/avg": float(np.mean([np.mean(v) for v in acc[m].values()])) for m in config.methods
    }
    return metrics
