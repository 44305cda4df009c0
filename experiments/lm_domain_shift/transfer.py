"""Transferability and negative transfer on the cached features (issue #18 item 4).

``python -m experiments.lm_domain_shift.transfer [WORKDIR]`` writes ``results/transfer.json``
and the README block between ``<!-- transfer:begin -->`` and ``<!-- transfer:end -->``.

**Disjoint labels.** The target's 2000 labelled reviews are split by the data layer's fixed
partition: the scores see the labels of the target's ``train`` rows (1400) only; the accuracy
they should predict is measured on its ``validation`` + ``test`` rows (600).

* **Ranking sources** (layer ``config.layer``): for each target, a source-only logistic head
  (seed 0) is trained on each of the 3 sources. Scores on the target's score rows: LEEP of the
  head's class probabilities, NCE of its hard predictions, and LogME, H-score, TransRate of
  its logit as a 1-d feature (with a frozen encoder the features themselves do not depend on
  the source, so the source enters through its head). Predicted quantity: the head's accuracy
  on the target's 600 held-out rows.
* **Ranking layers**: per target, LogME, H-score and TransRate of the (standardised) features
  of each layer on the score rows, and LEEP / NCE of each layer's source heads (mean over the
  3 sources); predicted quantity: the mean over sources of those heads' held-out accuracy.
* Spearman's ρ between score and accuracy, per target (3 sources / 7 layers), averaged over
  the 4 targets; 95 % percentile interval from ``num_bootstrap`` resamples of the score rows
  and of the held-out rows (``numpy.random.default_rng(0)``).
* **Negative-transfer detector** (``select.negative_transfer_report``, label-free form): per
  shift, seed and adaptation method, per-review source-validation correctness of the method
  vs its baseline, weighted by the domain classifier's density ratio (from the grid's
  ``grid.jsonl``); flagged when the verdict is "negative transfer". Truth: the method's
  target accuracy is below its baseline's. Hit rate = flagged / truly negative, false-alarm
  rate = flagged / not negative.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from experiments.lm_domain_shift import features as feats_mod
from experiments.lm_domain_shift import train
from experiments.lm_domain_shift.tables import read_records, splice_readme
from jtransfer import recipes, select

HERE = os.path.dirname(os.path.abspath(__file__))
SCORES = ("logme", "leep", "nce", "hscore", "transrate")
BEGIN, END = "<!-- transfer:begin -->", "<!-- transfer:end -->"


def _scores_from_head(logit, y):
    """The five scores of a source head on target rows (logit: (n,), y: (n,))."""
    p = jax.nn.sigmoid(jnp.asarray(logit))
    probs = jnp.stack([1 - p, p], axis=1)
    f = jnp.asarray(logit)[:, None]
    yj = jnp.asarray(y)
    return {
        "logme": float(select.logme(f, yj, num_classes=2)),
        "leep": float(select.leep(probs, yj, num_classes=2)),
        "nce": float(
            select.nce((p > 0.5).astype(jnp.int32), yj, num_source_classes=2, num_classes=2)
        ),
        "hscore": float(select.hscore(f, yj, num_classes=2)),
        "transrate": float(select.transrate(f, yj, num_classes=2)),
    }


def _feature_scores(x, y):
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    return {
        "logme": float(select.logme(xj, yj, num_classes=2)),
        "hscore": float(select.hscore(xj, yj, num_classes=2)),
        "transrate": float(select.transrate(xj, yj, num_classes=2)),
    }


def _spearman_mean(score_by_target, acc_by_target):
    rhos = []
    for t in score_by_target:
        if len(set(score_by_target[t])) < 2 or len(set(acc_by_target[t])) < 2:
            rhos.append(0.0)  # a constant ranking: no information (ρ undefined)
            continue
        r = stats.spearmanr(score_by_target[t], acc_by_target[t]).statistic
        rhos.append(0.0 if np.isnan(r) else r)
    return float(np.mean(rhos))


def _source_only_logits(config, d) -> np.ndarray:
    """``(n_t,)`` logits on the labelled target rows ``d["xt"]`` of the source-only linear head
    (``config.linear``, key 0) fitted on one shift's data ``d`` (``train.shift_data``)."""
    f = recipes.fit_domain_adaptation(
        d["xs"],
        d["ys"],
        d["xu"],
        method="source_only",
        config=config.linear,
        key=jax.random.key(0),
        n_out=1,
    )
    return np.asarray(f.model.logits(f.params, jnp.asarray(d["xt"])))[:, 0]


def _rank_sources(config, texts, feats, num_bootstrap, rng):
    li = config.layers.index(config.layer)
    heads = {}  # target -> list of (source, logit over all 2000 target rows)
    for s, t in train.shifts(config.domains):
        d = train.shift_data(config, texts, feats, s, t, layer_index=li)
        heads.setdefault(t, []).append((s, _source_only_logits(config, d), d["yt"]))
    split = {t: texts[t]["labelled"]["split"] for t in heads}

    def evaluate(idx_score, idx_eval):
        sc = {k: {} for k in SCORES}
        acc = {}
        for t, hs in heads.items():
            a, b = idx_score[t], idx_eval[t]
            acc[t] = [float(np.mean((lg[b] > 0) == (y[b] == 1))) for _, lg, y in hs]
            per = [_scores_from_head(lg[a], y[a]) for _, lg, y in hs]
            for k in SCORES:
                sc[k][t] = [p[k] for p in per]
        return sc, acc

    base_score = {t: np.flatnonzero(split[t] == "train") for t in heads}
    base_eval = {t: np.flatnonzero(split[t] != "train") for t in heads}
    sc, acc = evaluate(base_score, base_eval)
    point = {k: _spearman_mean(sc[k], acc) for k in SCORES}
    boots = {k: [] for k in SCORES}
    for _ in range(num_bootstrap):
        bs = {t: rng.choice(v, len(v)) for t, v in base_score.items()}
        be = {t: rng.choice(v, len(v)) for t, v in base_eval.items()}
        s2, a2 = evaluate(bs, be)
        for k in SCORES:
            boots[k].append(_spearman_mean(s2[k], a2))
    return {
        "spearman": point,
        "ci95": {
            k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for k, v in boots.items()
        },
        "accuracy": acc,
        "scores": sc,
        "sources": {t: [s for s, _, _ in hs] for t, hs in heads.items()},
    }


def _rank_layers(config, texts, feats, num_bootstrap, rng):
    nl = len(config.layers)
    out_acc, out_sc = {}, {k: {} for k in SCORES}
    per_target = {}
    for t in config.domains:
        split = texts[t]["labelled"]["split"]
        a, b = np.flatnonzero(split == "train"), np.flatnonzero(split != "train")
        layers = []
        for li in range(nl):
            logits, ys, xt = [], None, None
            for s in config.domains:
                if s == t:
                    continue
                d = train.shift_data(config, texts, feats, s, t, layer_index=li)
                logits.append(_source_only_logits(config, d))
                ys, xt = d["yt"], d["xt"]
            layers.append((logits, ys, xt))
        per_target[t] = (layers, a, b)

    def evaluate(sel):
        sc = {k: {} for k in SCORES}
        acc = {}
        for t, (layers, a0, b0) in per_target.items():
            a, b = sel(t, a0, b0)
            acc[t] = [
                float(np.mean([np.mean((lg[b] > 0) == (ys[b] == 1)) for lg in lgs]))
                for lgs, ys, _ in layers
            ]
            for k in SCORES:
                sc[k][t] = []
            for lgs, ys, xt in layers:
                fs = _feature_scores(xt[a], ys[a])
                hs = [_scores_from_head(lg[a], ys[a]) for lg in lgs]
                for k in SCORES:
                    sc[k][t].append(fs[k] if k in fs else float(np.mean([h[k] for h in hs])))
        return sc, acc

    sc, acc = evaluate(lambda t, a, b: (a, b))
    point = {k: _spearman_mean(sc[k], acc) for k in SCORES}
    boots = {k: [] for k in SCORES}
    for _ in range(num_bootstrap):
        s2, a2 = evaluate(lambda t, a, b: (rng.choice(a, len(a)), rng.choice(b, len(b))))
        for k in SCORES:
            boots[k].append(_spearman_mean(s2[k], a2))
    out_acc, out_sc = acc, sc
    return {
        "spearman": point,
        "ci95": {
            k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for k, v in boots.items()
        }
        if num_bootstrap
        else {},
        "accuracy": out_acc,
        "scores": out_sc,
        "layers": list(config.layers),
    }


def _detector(workdir):
    path = os.path.join(workdir, "grid.jsonl")
    if not os.path.exists(path):
        return None
    rows = read_records(path, "shift", "seed")
    counts = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
    per_method = {}
    for r in rows.values():
        w = np.asarray(r["validation_weights"], np.float32)
        for m, rec in r["methods"].items():
            b = train.BASELINE[m]
            if b == m or b not in r["methods"] or "val_correct" not in rec:
                continue
            rep = select.negative_transfer_report(
                jnp.asarray(rec["val_correct"], jnp.float32),
                jnp.asarray(r["methods"][b]["val_correct"], jnp.float32),
                weights=w,
            )
            flag = rep.verdict == "negative transfer"
            truth = rec["acc"] < r["methods"][b]["acc"]
            key = ("tp" if flag else "fn") if truth else ("fp" if flag else "tn")
            counts[key] += 1
            pm = per_method.setdefault(m, {"tp": 0, "fn": 0, "fp": 0, "tn": 0})
            pm[key] += 1
    rate = lambda c: {
        "hit_rate": c["tp"] / max(c["tp"] + c["fn"], 1),
        "false_alarm_rate": c["fp"] / max(c["fp"] + c["tn"], 1),
        **c,
    }
    return {"all": rate(counts), "per_method": {m: rate(c) for m, c in per_method.items()}}


def run(
    config,
    workdir: str,
    *,
    num_bootstrap: int = 200,
    num_bootstrap_layers: int = 20,
    results_file: str | None = None,
) -> dict:
    t0 = time.perf_counter()
    texts = feats_mod.load_texts(config)
    feats, _ = feats_mod.features(config, texts)
    rng = np.random.default_rng(0)
    out = {"sources": _rank_sources(config, texts, feats, num_bootstrap, rng)}
    out["layers"] = _rank_layers(config, texts, feats, num_bootstrap_layers, rng)
    out["detector"] = _detector(workdir)
    out["num_bootstrap"] = {"sources": num_bootstrap, "layers": num_bootstrap_layers}
    out["seconds"] = time.perf_counter() - t0
    if results_file:
        with open(results_file, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return out


def render(res: dict) -> str:
    lines = [
        "Generated by `python -m experiments.lm_domain_shift.transfer` "
        f"({res['seconds']:.0f} s). Spearman ρ between score and held-out target accuracy"
        " (mean over the 4 targets) with a bootstrap 95 % interval "
        f"({res['num_bootstrap']['sources']} / {res['num_bootstrap']['layers']} "
        "resamples for sources / layers).",
        "",
        "| score | ρ ranking the 3 sources [95 % CI] | ρ ranking the layers [95 % CI] |",
        "|---|---|---|",
    ]

    def ci(r, k):
        return f" [{r['ci95'][k][0]:+.2f}, {r['ci95'][k][1]:+.2f}]" if r.get("ci95") else ""

    for k in SCORES:
        s, l_ = res["sources"], res["layers"]
        lines.append(
            f"| {k} | {s['spearman'][k]:+.2f}{ci(s, k)} | {l_['spearman'][k]:+.2f}{ci(l_, k)} |"
        )
    acc = res["layers"]["accuracy"]
    lines += [
        "",
        "Held-out target accuracy (%) of source-only logistic heads per layer (mean "
        "over the 3 sources): "
        + "; ".join(f"{t}: " + " ".join(f"{100 * a:.1f}" for a in v) for t, v in acc.items())
        + f" (layers {res['layers']['layers']}).",
    ]
    det = res.get("detector")
    if det:
        a = det["all"]
        lines += [
            "",
            f"Negative-transfer detector (label-free, IW source validation): hit rate "
            f"{a['hit_rate']:.2f} ({a['tp']}/{a['tp'] + a['fn']} truly negative runs "
            f"flagged), false-alarm rate {a['false_alarm_rate']:.2f} "
            f"({a['fp']}/{a['fp'] + a['tn']}); per method: "
            + ", ".join(
                f"{m} {c['tp']}/{c['tp'] + c['fn']} hits, {c['fp']}/{c['fp'] + c['tn']} "
                "false alarms"
                for m, c in det["per_method"].items()
            )
            + ".",
        ]
    return "\n".join(lines)


def update_readme(res: dict, readme: str = os.path.join(HERE, "README.md")) -> str:
    block = render(res)
    return splice_readme(readme, BEGIN, END, block)


if __name__ == "__main__":
    from experiments.lm_domain_shift.configs import default

    workdir = sys.argv[1] if len(sys.argv) > 1 else "runs/lm_domain_shift"
    out = os.path.join(HERE, "results", "transfer.json")
    if sys.argv[2:] == ["detector"]:  # refresh the detector from a finished grid
        with open(out, encoding="utf-8") as f:
            res = json.load(f)
        res["detector"] = _detector(workdir)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
    else:
        res = run(default.get_config(), workdir, num_bootstrap_layers=10, results_file=out)
    print(update_readme(res))
