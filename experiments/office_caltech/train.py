"""Office-Caltech10 SURF, 12 shifts: no adaptation, CORAL (closed form) + linear SVM, and
MMD / Deep CORAL / DANN on an MLP.

Protocols (Sun, Feng & Saenko, AAAI 2016, https://arxiv.org/abs/1511.05547):

* ``sampled`` (their Table 1, from Gong et al. 2012): per trial, 20 source images per class
  (8 when the source is dslr or webcam), all target images unlabelled and for testing;
  mean over ``num_trials`` random trials.
* ``all`` (their Table 3): all source images.

Classifier: linear SVM (libsvm through sklearn, precomputed linear kernel) trained on the
(CORAL-aligned) source and applied to the target, C chosen by 2-fold cross-validation on the
source over {1e-3, …, 1e4} as in the CORAL authors' ``SVM_Accuracy`` routine. CORAL:
``jtransfer.align.coral`` with ε = 1 (``cov + eye`` on z-scored features, as the paper's
Algorithm 1).

The MLP methods use the all-source protocol; λ is chosen per shift from ``lam_grid`` by
importance-weighted accuracy on a held-out 20 % of the source (weights from a logistic
domain classifier, Sugiyama et al. 2007) — no target label. The target-selected ("oracle")
λ's accuracy is reported separately.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from sklearn.svm import SVC

from experiments.office_caltech import data as ocd
from jtransfer import align, recipes
from jtransfer import train as jtrain

PROTOCOLS = ("sampled", "all")


def validate_config(config) -> None:
    jtrain.validate_config(
        config,
        positive_ints=("num_trials",),
        subsets={"shifts": ocd.SHIFTS, "protocols": PROTOCOLS, "deep_methods": recipes.METHODS},
    )
    if not config.svm_cs or min(config.svm_cs) <= 0:
        raise ValueError(f"config.svm_cs must be non-empty and > 0, got {config.svm_cs!r}")
    recipes.check_config(config.mlp)


def _svm_acc(xs, ys, xt, yt, cs) -> float:
    """Linear SVM (precomputed linear kernel, libsvm via sklearn) trained on the source with
    C chosen by 2-fold cross-validation on the source from ``cs`` (the CORAL authors' SVM
    routine: ``libsvmtrain(..., '-t 4 -c C -v 2')`` over C = 1e-3 … 1e4); target accuracy."""
    from sklearn.model_selection import StratifiedKFold

    k = xs @ xs.T
    best, best_c = -1.0, cs[0]
    if len(cs) > 1:
        folds = list(StratifiedKFold(2, shuffle=True, random_state=0).split(xs, ys))
        for c in cs:
            acc = np.mean(
                [
                    np.mean(
                        SVC(kernel="precomputed", C=c)
                        .fit(k[np.ix_(tr, tr)], ys[tr])
                        .predict(k[np.ix_(te, tr)])
                        == ys[te]
                    )
                    for tr, te in folds
                ]
            )
            if acc > best:
                best, best_c = acc, c
    clf = SVC(kernel="precomputed", C=best_c).fit(k, ys)
    return float(np.mean(clf.predict(xt @ xs.T) == yt))


def closed_form(xs, ys, xt, yt, cs, eps, target=None) -> dict[str, float]:
    """NA and CORAL accuracies for one source/target pair (CORAL: the SVM is trained on the
    re-coloured source ``Xs (Cs + εI)^{-1/2} (Ct + εI)^{1/2}`` and applied to the target).

    ``target``: ``align.coral_target(xt, eps=eps)`` computed once for many sources (the
    sampled protocol's trials share the target); None computes it here. Same numbers."""
    if target is None:
        target = align.coral_target(jnp.asarray(xt), eps=eps)
    aligned = np.asarray(align.coral(jnp.asarray(xs), target, eps=eps), np.float64)
    return {"NA": _svm_acc(xs, ys, xt, yt, cs), "CORAL": _svm_acc(aligned, ys, xt, yt, cs)}


def load(config):
    return {d: (ocd.preprocess(x), y) for d, (x, y) in ocd.load_raw(config).items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs every shift of ``config.shifts``; returns ``<protocol>/<method>/<shift>`` accuracies
    (in %) and their ``.../avg`` (the sampled protocol also ``.../<shift>/trials``, the list of
    per-trial accuracies); also writes ``results.json``."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    doms = load(config)
    out: dict = {}
    t0 = time.perf_counter()
    for shift in config.shifts:
        s, t = shift.split("→")
        (xs, ys), (xt, yt) = doms[s], doms[t]
        if "all" in config.protocols:
            for k, v in closed_form(xs, ys, xt, yt, config.svm_cs, config.coral_eps).items():
                out[f"all/{k}/{shift}"] = 100 * v
        if "sampled" in config.protocols:
            rng = np.random.default_rng(config.seed)
            per_class = 20 if s in "AC" else 8
            # the target (all its images) is the same in every trial: its CORAL square root
            # is computed once per shift, not once per trial (identical numbers)
            target = align.coral_target(jnp.asarray(xt), eps=config.coral_eps)
            trials = [
                closed_form(xs[i], ys[i], xt, yt, config.svm_cs, config.coral_eps, target)
                for i in (
                    ocd.sample_per_class(ys, per_class, rng) for _ in range(config.num_trials)
                )
            ]
            for k in trials[0]:
                vals = [100 * tr[k] for tr in trials]
                out[f"sampled/{k}/{shift}"] = float(np.mean(vals))
                out[f"sampled/{k}/{shift}/std"] = float(np.std(vals, ddof=1))
                out[f"sampled/{k}/{shift}/trials"] = vals  # per trial, for paired gains
    out["closed_form_seconds"] = time.perf_counter() - t0
    for method in config.deep_methods:
        for shift in config.shifts:
            s, t = shift.split("→")
            r = deep(config, method, doms[s], doms[t], os.path.join(workdir, method, shift))
            out[f"all/{method}/{shift}"] = r["selected"]
            out[f"all/{method}/{shift}/oracle"] = r["oracle"]
            out[f"all/{method}/{shift}/lam"] = r["lam"]
            out[f"all/{method}/{shift}/seconds"] = r["seconds"]
    for key in {k.rsplit("/", 1)[0] for k in out if k.count("/") == 2}:
        vals = [out[f"{key}/{sh}"] for sh in config.shifts]
        out[f"{key}/avg"] = float(np.mean(vals))
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    return out


def deep(config, method, src, tgt, workdir) -> dict[str, float]:
    """One MLP method on one shift (all-source protocol): λ by importance-weighted source
    validation, accuracy (%) of the selected λ and of the target-selected (oracle) λ."""
    (xs, ys), (xt, yt) = src, tgt
    rng = np.random.default_rng(config.seed)
    val = np.zeros(len(xs), bool)
    val[rng.choice(len(xs), len(xs) // 5, replace=False)] = True
    w_val = recipes.importance_weights(xs, xt, C=0.01)[val]
    t0 = time.perf_counter()
    sel = recipes.select_lam(
        xs[~val],
        ys[~val],
        xt,
        x_val=xs[val],
        y_val=ys[val],
        weights_val=w_val,
        lams=config.lam_grid,
        method=method,
        config=config.mlp,
        key=jax.random.key(config.seed),
        workdir=workdir,
        n_out=10,
        evals={"target": (xt, yt)},
    )
    return {
        "selected": 100 * sel.fit.metrics["target_accuracy"],
        "lam": sel.lam,
        "oracle": max(100 * f.metrics["target_accuracy"] for f in sel.fits),
        "seconds": time.perf_counter() - t0,
    }
