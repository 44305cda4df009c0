"""Negative transfer, second criterion (issue #18 item 4): is the source-only model below a
target-only model trained on a few labelled target reviews?

**A labelled extra**: this criterion reads the labels of ``n`` target reviews (``n`` in
``FEW``, class-balanced, drawn with ``jax.random.key(seed)`` folded with ``n`` from the
target's 2000 reviews). On the frozen layer-5 features of the main grid (``train.shift_data``),
per shift and seed:

* source model: the ``source_only_linear`` head of ``train.py`` (same config and key, so the
  same accuracy as ``results/frozen.json``);
* target-only model: scikit-learn logistic regression (C = 1) on the ``n`` labelled target
  reviews;
* **truth**: negative transfer when the source model's accuracy on the other ``2000 - n``
  target reviews is below the target-only model's on the same reviews;
* **detector** (``select.negative_transfer_report``, paired normal interval, 95 %): on the
  ``n`` labelled reviews, the source model's correctness against the target-only model's
  ``folds``-fold cross-validated correctness (each review held out from the target-only fit
  that scores it); flagged when the verdict is "negative transfer".

Hit rate = flagged / truly negative, false-alarm rate = flagged / not negative, over the 12
shifts × seeds. Run: ``python -m experiments.lm_domain_shift.negative`` (writes
``results/negative_transfer.json`` and the README block ``<!-- negative:begin -->``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.lm_domain_shift import features as feats_mod
from experiments.lm_domain_shift import train
from experiments.lm_domain_shift.tables import splice_readme
from jtransfer import recipes, select

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "negative_transfer.json")
README = os.path.join(HERE, "README.md")
BEGIN, END = "<!-- negative:begin -->", "<!-- negative:end -->"
FEW = (20, 50, 100)


def few_labelled(y: np.ndarray, n: int, key: jax.Array) -> np.ndarray:
    """Indices of ``n`` reviews, ``n // 2`` per class, drawn with ``key`` (sorted)."""
    if n % 2 or n < 4:
        raise ValueError(f"n must be even and >= 4, got {n}")
    ks = jax.random.split(key, 2)
    out = []
    for c, k in zip((0, 1), ks):
        idx = np.flatnonzero(y == c)
        if len(idx) < n // 2:
            raise ValueError(f"class {c} has {len(idx)} reviews, fewer than n/2 = {n // 2}")
        out.append(idx[np.asarray(jax.random.permutation(k, len(idx)))[: n // 2]])
    return np.sort(np.concatenate(out))


def _logreg(x, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000).fit(x, y)


def stratified_folds(y: np.ndarray, folds: int, key: jax.Array) -> np.ndarray:
    """Fold id (0 .. folds-1) of each review: each class dealt round-robin in a random order."""
    fold = np.empty(len(y), int)
    for c, k in zip((0, 1), jax.random.split(key, 2)):
        idx = np.flatnonzero(y == c)
        perm = idx[np.asarray(jax.random.permutation(k, len(idx)))]
        fold[perm] = np.arange(len(idx)) % folds
    return fold


def cv_correct(x: np.ndarray, y: np.ndarray, folds: int, key: jax.Array) -> np.ndarray:
    """Per-review 0/1 correctness of the target-only model, each review scored by the fit of
    the ``folds - 1`` folds without it (``stratified_folds`` drawn with ``key``)."""
    fold = stratified_folds(y, folds, key)
    out = np.empty(len(y), np.float32)
    for f in range(folds):
        te = fold == f
        out[te] = _logreg(x[~te], y[~te]).predict(x[te]) == y[te]
    return out


def run(config, *, few=FEW, folds: int = 5) -> dict:
    """Per (shift, seed, n): accuracies on the unseen target reviews, truth, verdict."""
    t0 = time.perf_counter()
    texts = feats_mod.load_texts(config)
    feats, _ = feats_mod.features(config, texts)
    rows = []
    for s, t in train.shifts(config.domains):
        d = train.shift_data(config, texts, feats, s, t)
        for seed in config.seeds:
            key = jax.random.key(seed)
            f = recipes.fit_domain_adaptation(
                d["xs"], d["ys"], d["xu"], method="source_only", config=config.linear,
                key=key, n_out=1,
            )  # fmt: skip
            src_ok = (recipes.predict(f, d["xt"]) == d["yt"]).astype(np.float32)
            for n in few:
                kn = jax.random.fold_in(key, n)
                k_draw, k_cv = jax.random.split(kn)
                idx = few_labelled(d["yt"], n, k_draw)
                rest = np.setdiff1d(np.arange(len(d["yt"])), idx)
                tgt = _logreg(d["xt"][idx], d["yt"][idx])
                acc_src = 100 * float(src_ok[rest].mean())
                acc_tgt = 100 * float((tgt.predict(d["xt"][rest]) == d["yt"][rest]).mean())
                rep = select.negative_transfer_report(
                    jnp.asarray(src_ok[idx]),
                    jnp.asarray(cv_correct(d["xt"][idx], d["yt"][idx], folds, k_cv)),
                )
                rows.append(
                    {
                        "shift": train.shift_name(s, t), "seed": seed, "n": n,
                        "source_acc_all": 100 * float(src_ok.mean()),
                        "source_acc_rest": acc_src, "target_only_acc_rest": acc_tgt,
                        "negative": acc_src < acc_tgt, "verdict": rep.verdict,
                        "gain": rep.gain, "ci": [rep.ci_low, rep.ci_high],
                    }
                )  # fmt: skip
    summary = {}
    for n in few:
        r = [x for x in rows if x["n"] == n]
        flag = lambda x: x["verdict"] == "negative transfer"
        c = {
            "tp": sum(x["negative"] and flag(x) for x in r),
            "fn": sum(x["negative"] and not flag(x) for x in r),
            "fp": sum(not x["negative"] and flag(x) for x in r),
            "tn": sum(not x["negative"] and not flag(x) for x in r),
        }
        summary[str(n)] = {
            **c,
            "hit_rate": c["tp"] / max(c["tp"] + c["fn"], 1),
            "false_alarm_rate": c["fp"] / max(c["fp"] + c["tn"], 1),
            "positive_flags": sum(x["verdict"] == "positive transfer" for x in r),
            "target_only_acc": float(np.mean([x["target_only_acc_rest"] for x in r])),
            "source_acc": float(np.mean([x["source_acc_rest"] for x in r])),
            "runs": len(r),
        }
    return {
        "rows": rows,
        "summary": summary,
        "folds": folds,
        "layer": config.layer,
        "seeds": list(config.seeds),
        "git_commit": train._git_commit(),
        "load_average": list(os.getloadavg()),
        "wall_seconds": time.perf_counter() - t0,
    }


def render(res: dict) -> str:
    lines = [
        "Generated by `python -m experiments.lm_domain_shift.negative` from "
        f"`results/negative_transfer.json` ({res['wall_seconds']:.0f} s). Criterion 2: "
        "source-only linear head (layer "
        f"{res['layer']}) vs a target-only logistic regression on n labelled target reviews "
        "(**a labelled extra**), truth on the other 2000 − n reviews, detector "
        f"`select.negative_transfer_report` on the n reviews ({res['folds']}-fold CV for the "
        f"target-only side), 12 shifts × {len(res['seeds'])} seeds.",
        "",
        "| n labelled target reviews | target-only acc | source-only acc | truly negative | "
        "hit rate | false-alarm rate | flagged positive |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, s in res["summary"].items():
        neg = s["tp"] + s["fn"]
        lines.append(
            f"| {n} | {s['target_only_acc']:.1f} | {s['source_acc']:.1f} | {neg}/{s['runs']} | "
            f"{s['hit_rate']:.2f} ({s['tp']}/{neg}) | {s['false_alarm_rate']:.2f} "
            f"({s['fp']}/{s['fp'] + s['tn']}) | {s['positive_flags']}/{s['runs']} |"
        )
    return "\n".join(lines)


def update_readme(res: dict, readme: str = README) -> str:
    block = render(res)
    return splice_readme(readme, BEGIN, END, block)


if __name__ == "__main__":
    from experiments.lm_domain_shift.configs import default

    if "--tables_only" not in sys.argv:
        out = run(default.get_config())
        with open(RESULTS, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    with open(RESULTS, encoding="utf-8") as f:
        print(update_readme(json.load(f)))
