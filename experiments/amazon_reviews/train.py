"""Amazon reviews (Blitzer et al. 2007), 5000-d unigram/bigram features, 12 shifts.

Protocol of the DANN paper (Ganin et al., JMLR 2016, https://arxiv.org/abs/1505.07818,
§5.1): labelled source = ``<s>_train`` (2000), unlabelled target = ``<t>_train`` (2000),
test = ``<t>_test``; the last 10 % of the source set is held out for validation.

Methods: source-only MLP, DANN, MMD, Deep CORAL (shallow network, one hidden layer of 50
sigmoid units as the paper's), and importance-weighted logistic regression (weights from a
logistic domain classifier). Features are binarised (word present or not).

Selection without target labels: λ (and the IW-LR's C) by importance-weighted accuracy on
the held-out 10 % of the source (the paper itself uses reverse validation). The
target-selected ("oracle") accuracy is reported separately, never as the result.
"""

from __future__ import annotations

import json
import os
import time

import jax
import ml_collections
import numpy as np

from jtransfer import recipes, select
from jtransfer import train as jtrain

DOMAINS = {"B": "books", "D": "dvd", "E": "electronics", "K": "kitchen"}
SHIFTS = tuple(f"{s}→{t}" for s in "BDEK" for t in "BDEK" if s != t)
METHODS = ("source_only", "dann", "mmd", "coral", "iw_logreg")


def load_split(
    root: str,
    domain: str,
    split: str,
    *,
    pattern: str = "{domain}_{split}.svmlight",
    binarise: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, 5000) float32 and labels in {0, 1} of ``root/pattern``: binarised (word
    present or not, our earlier protocol) or the raw counts (``binarise=False``, as the DANN
    authors' code loads them)."""
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(
        os.path.join(root, pattern.format(domain=DOMAINS[domain], split=split)),
        n_features=5000,
        zero_based=True,
    )
    x = x.toarray()
    x = (x > 0) if binarise else x
    return x.astype(np.float32), (y > 0).astype(np.int32)


def validate_config(config) -> None:
    jtrain.validate_config(config, subsets={"shifts": SHIFTS, "methods": METHODS})
    if not config.lam_grid or min(config.lam_grid) < 0:
        raise ValueError(f"config.lam_grid must be non-empty and >= 0, got {config.lam_grid}")
    recipes.check_config(config.mlp)


def overlap_mask(x_test: np.ndarray, x_pool: np.ndarray) -> np.ndarray:
    """``(n_test,)`` bool: test rows whose feature vector occurs exactly in ``x_pool``.

    In the released data (mSDA/DANN preprocessing of Blitzer et al.), 2.6-5.5 % of each
    domain's ``<t>_test`` reviews also occur in ``<t>_train``, the unlabelled target pool
    (books 198/4465, dvd 199/3586, electronics 168/5681, kitchen 157/5945 on the binarised
    features). Their labels are never read from the pool, but the model has seen their inputs.
    """
    pool = {row.tobytes() for row in np.ascontiguousarray(x_pool)}
    return np.array([row.tobytes() in pool for row in np.ascontiguousarray(x_test)], bool)


def _iw_logreg(xs, ys, xv, yv, wv, w_train, xt, yt, cs, keep):
    from sklearn.linear_model import LogisticRegression

    res = []
    for c in cs:
        clf = LogisticRegression(C=c, max_iter=2000).fit(xs, ys, sample_weight=w_train)
        iw = float(select.iw_accuracy(clf.predict(xv), yv, wv))
        pred = clf.predict(xt)
        res.append(
            (iw, 100 * float(np.mean(pred == yt)), c, 100 * float(np.mean(pred[keep] == yt[keep])))
        )
    return res


def run_shift(config, shift: str, root: str, workdir: str) -> dict[str, float]:
    s, t = shift.split("→")
    pattern = config.file_pattern
    xs_all, ys_all = load_split(root, s, "train", pattern=pattern)
    xt, _ = load_split(root, t, "train", pattern=pattern)  # unlabelled target sample
    x_test, y_test = load_split(root, t, "test", pattern=pattern)
    keep = ~overlap_mask(x_test, xt)  # test reviews not in the unlabelled pool
    n_val = len(xs_all) // 10  # the last 10 % of the source
    xs, ys, xv, yv = xs_all[:-n_val], ys_all[:-n_val], xs_all[-n_val:], ys_all[-n_val:]
    w_all = recipes.importance_weights(xs_all, xt, C=config.domain_c)
    wv = w_all[-n_val:]
    out = {"overlap_fraction": float(1.0 - keep.mean())}
    for method in config.methods:
        t0 = time.perf_counter()
        if method == "iw_logreg":
            res = _iw_logreg(xs, ys, xv, yv, wv, w_all[:-n_val], x_test, y_test, config.lr_cs, keep)
            _, selected, param, no_overlap = max(res, key=lambda r: r[0])
            accs = [r[1] for r in res]
        else:
            sel = recipes.select_lam(
                xs,
                ys,
                xt,
                x_val=xv,
                y_val=yv,
                weights_val=wv,
                lams=config.lam_grid,
                method=method,
                config=config.mlp,
                key=jax.random.key(config.seed),
                workdir=os.path.join(workdir, method),
                n_out=1,
                evals={"target_test": (x_test, y_test)},
            )
            accs = [100 * f.metrics["target_test_accuracy"] for f in sel.fits]
            selected, param = accs[sel.index], sel.lam
            no_overlap = 100 * recipes.accuracy(sel.fit, x_test[keep], y_test[keep])
        out[method] = selected
        out[f"{method}/oracle"] = max(accs)
        out[f"{method}/param"] = param
        out[f"{method}/no_overlap"] = no_overlap  # same pick, overlapping test reviews removed
        out[f"{method}/seconds"] = time.perf_counter() - t0
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Returns ``<method>/<shift>`` target-test accuracies (%) with ``/oracle``, ``/param``,
    ``/seconds``, and ``<method>/avg``; writes ``results.json``."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    root = str(jtrain.manual_dir(config, config.data_subdir))
    out: dict[str, float] = {}
    for shift in config.shifts:
        for k, v in run_shift(config, shift, root, os.path.join(workdir, shift)).items():
            m, *rest = k.split("/")
            out["/".join([m, shift, *rest])] = v
    for m in config.methods:
        out[f"{m}/avg"] = float(np.mean([out[f"{m}/{s}"] for s in config.shifts]))
        out[f"{m}/no_overlap_avg"] = float(
            np.mean([out[f"{m}/{s}/no_overlap"] for s in config.shifts])
        )
        out[f"{m}/oracle_avg"] = float(np.mean([out[f"{m}/{s}/oracle"] for s in config.shifts]))
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    return out


# ------------------------------------------------------- the DANN authors' shallow protocol
def validate_shallow_config(config) -> None:
    jtrain.validate_config(
        config,
        positive_ints=("hidden", "max_epochs", "min_epochs"),
        positive=("learning_rate", "patience_factor"),
        nonnegative=("lam",),
        subsets={"shifts": SHIFTS},
    )
    if not config.seeds:
        raise ValueError(f"config.seeds must be non-empty, got {config.seeds}")


def run_shallow_source(config, source: str, targets: list[str], root: str, log=None) -> dict:
    """The authors' protocol for every shift ``source→t`` (``t`` in ``targets``): the
    standard NN (λ = 0) of each seed, which sees no target data and so serves every shift
    from ``source``, and DANN (``config.lam``) of each seed and target, trained side by side
    (:func:`experiments.amazon_reviews.shallow.fit`).

    Returns ``{shift: result}`` with per-seed target-test accuracies (%) ``source_only`` and
    ``dann``, the same with the test reviews that occur in the unlabelled pool removed
    (``<method>/no_overlap``), the stopping epochs, the validation risks, the overlap and
    the wall time of the whole source."""
    from experiments.amazon_reviews import shallow

    kw = dict(pattern=config.file_pattern, binarise=config.binarise)
    xs_all, ys_all = load_split(root, source, "train", **kw)
    n_val = int(0.1 * len(ys_all))  # experiments_amazon.py: nb_valid = int(0.1 * len(ys))
    xs, ys, xv, yv = xs_all[:-n_val], ys_all[:-n_val], xs_all[-n_val:], ys_all[-n_val:]
    pools = [load_split(root, t, "train", **kw)[0] for t in targets]  # labels unread
    seeds = list(config.seeds)
    n, k = len(seeds), len(targets)
    params, info = shallow.fit(
        xs,
        ys,
        xv,
        yv,
        pools,
        seeds=seeds * (1 + k),
        lams=[0.0] * n + [config.lam] * (n * k),
        target_of=[0] * n + [i for i in range(k) for _ in seeds],
        hidden=config.hidden,
        learning_rate=config.learning_rate,
        max_epochs=config.max_epochs,
        min_epochs=config.min_epochs,
        patience_factor=config.patience_factor,
        log=None
        if log is None
        else lambda t, risk, stop: (
            t % 10 == 0
            and log(
                f"  {source}→{''.join(targets)} epoch {t}: validation risk "
                f"{np.round(risk, 3).tolist()}, stopped {int(stop.stopped.sum())}/{len(risk)}"
            )
        ),
    )
    out = {}
    for i, t in enumerate(targets):
        x_test, y_test = load_split(root, t, "test", **kw)
        keep = ~overlap_mask(x_test > 0, pools[i] > 0)
        acc = 100 * shallow.accuracy(params, x_test, y_test)
        acc_keep = 100 * shallow.accuracy(params, x_test[keep], y_test[keep])
        res = {"overlap_fraction": float(1.0 - keep.mean()), "seconds": info["seconds"]}
        for m, sl in (("source_only", slice(0, n)), ("dann", slice(n * (1 + i), n * (2 + i)))):
            res[m] = acc[sl].tolist()
            res[f"{m}/no_overlap"] = acc_keep[sl].tolist()
            for f in ("best_epoch", "epochs", "valid_risk"):
                res[f"{m}/{f}"] = info[f][sl]
        out[f"{source}→{t}"] = res
    return out


def run_shallow(config, workdir: str, log=print, complete_only: bool = False) -> dict[str, dict]:
    """:func:`run_shallow_source` for every seed and source domain of ``config``, seed by
    seed (all 12 shifts of seed 0 first, so a stopped run leaves whole seeds). Each
    (seed, source) result is kept in ``workdir/seed<s>-<source>-<targets>.json`` and reused
    when the config matches (a killed run resumes there).

    Args:
      complete_only: only read what is cached, run nothing, and keep the seeds whose every
        shift is done (for reporting while a long run is still going).

    Returns:
      ``{shift: result}`` in config order, per-seed lists in seed order, plus ``"seeds"``.
    """
    validate_shallow_config(config)
    os.makedirs(workdir, exist_ok=True)
    root = "" if complete_only else str(jtrain.manual_dir(config, config.data_subdir))
    skip = ("shifts", "manual_dir", "seeds")
    record = {k: v for k, v in config.to_dict().items() if k not in skip}
    record = json.loads(json.dumps(record))
    sources = list(dict.fromkeys(s.split("→")[0] for s in config.shifts))
    per_seed: dict[int, dict] = {}
    for seed in config.seeds:
        one = ml_collections.ConfigDict(config.to_dict())
        one.seeds = (seed,)
        per_seed[seed] = {}
        for source in sources:
            targets = [s.split("→")[1] for s in config.shifts if s.startswith(source + "→")]
            path = os.path.join(workdir, f"seed{seed}-{source}-{''.join(targets)}.json")
            if os.path.exists(path):
                with open(path) as f:
                    saved = json.load(f)
                if saved.get("config") == record:
                    per_seed[seed].update(saved["result"])
                    continue
            if complete_only:
                break
            t0 = time.perf_counter()
            res = run_shallow_source(one, source, targets, root, log=log)
            with open(path + ".tmp", "w") as f:
                json.dump({"config": record, "result": res}, f, ensure_ascii=False)
            os.replace(path + ".tmp", path)
            per_seed[seed].update(res)
            for shift, r in res.items():
                log(
                    f"amazon shallow seed {seed} {shift}: source only {r['source_only'][0]:.1f}, "
                    f"DANN {r['dann'][0]:.1f}, best epochs {r['source_only/best_epoch']} / "
                    f"{r['dann/best_epoch']} ({time.perf_counter() - t0:.0f} s for the source)"
                )
    seeds = [s for s in config.seeds if all(sh in per_seed[s] for sh in config.shifts)]
    out: dict = {"seeds": seeds}
    for shift in config.shifts:
        rs = [per_seed[s][shift] for s in seeds]
        if not rs:
            continue
        merged = {k: [v for r in rs for v in r[k]] for k in rs[0] if isinstance(rs[0][k], list)}
        merged.update(
            overlap_fraction=rs[0]["overlap_fraction"],
            seconds=[r["seconds"] for r in rs],
        )
        out[shift] = merged
    return out
