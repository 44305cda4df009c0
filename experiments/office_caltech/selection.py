"""How often label-free criteria pick the target oracle's candidate (issue #22 item 6).

On every Office-Caltech shift, 16 candidate classifiers (linear SVM on the source, no
adaptation or CORAL, C in the CORAL authors' grid 1e-3 … 1e4) are trained on a random 80 % of
the source; the other 20 % (labelled source validation) scores them without target labels:

* ``source``: unweighted validation accuracy;
* ``iw_experiments``: ``select.iw_accuracy`` with ``recipes.importance_weights(C=0.01)`` (the
  weighting the DA experiments use: absolute cap 20, mean 1 over all of the source);
* ``iwv``: ``select.select_by_risk(criterion="iwv")`` with the library defaults of
  ``select.domain_classifier_weights`` (fitted on the training 80 %, evaluated on the
  validation 20 %; cap at the 0.99 quantile, mean 1 there), the domain classifier on the
  L1 histograms before the per-domain z-scoring (after it, both domains' feature means are
  0 and a linear domain classifier finds nothing: the experiments' weights are constant);
* ``dev``: ``select.select_by_risk(criterion="dev")`` with the same weights unnormalised
  (``normalize=False``: DEV as published, its control variate corrects the mean);
* ``iwv_raw``: the weights without safeguards (no quantile cap, not normalised), risk
  :math:`\\frac1n\\sum_i w_i\\ell_i`, first minimum wins (the failure mode of issue #22).

Per seed (the seed draws the validation split), the agreement rate is the fraction of the 12
shifts where the criterion's pick reaches the oracle's target accuracy; the regret is the
oracle's accuracy minus the pick's (points, mean over shifts). Writes
``experiments/office_caltech/results/selection_agreement.json`` and ``selection_regret.json``.

Run: ``python -m experiments.office_caltech.selection --seeds 0 1 2 3 4``
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax.numpy as jnp
import numpy as np
from sklearn.svm import SVC

from experiments._office_caltech import l1_rows
from experiments.office_caltech import data as ocd
from experiments.office_caltech.configs import default
from jtransfer import align, recipes, select

CS = tuple(default.get_config().svm_cs)  # the experiment's (the CORAL authors') C grid
CRITERIA = ("source", "iw_experiments", "iwv", "dev", "iwv_raw")
DOMAIN_C = 0.01  # the Office-Caltech experiment's domain-classifier C (train.deep)


def candidates(xs, ys, xt, yt, val):
    """(16, n_val) validation errors and (16,) target accuracies (%) of the SVM candidates."""
    aligned = np.asarray(align.coral(jnp.asarray(xs), jnp.asarray(xt), eps=1.0), np.float64)
    errs, accs = [], []
    for feats in (xs, aligned):
        k = feats[~val] @ feats[~val].T
        for c in CS:
            clf = SVC(kernel="precomputed", C=c).fit(k, ys[~val])
            errs.append(clf.predict(feats[val] @ feats[~val].T) != ys[val])
            accs.append(100 * np.mean(clf.predict(xt @ feats[~val].T) == yt))
    return np.asarray(errs, np.float64), np.asarray(accs)


def picks(errs, xs, xt, val, ds, dt):
    """The candidate index each criterion picks, and the diagnostics of the weights.

    ``xs``/``xt``: the classifiers' features (z-scored per domain); ``ds``/``dt``: the
    domain classifier's inputs for the library criteria (L1 histograms before z-scoring:
    per-domain z-scoring sets both domains' feature means to 0, and a linear domain
    classifier then finds almost nothing: the experiments' weights are constant 1)."""
    w_exp = recipes.importance_weights(xs, xt, C=DOMAIN_C)[val]
    kw = dict(x_eval=ds[val], C=DOMAIN_C)
    w_def = select.domain_classifier_weights(ds[~val], dt, **kw)
    w_dev = select.domain_classifier_weights(ds[~val], dt, normalize=False, **kw)
    w_raw = select.domain_classifier_weights(
        ds[~val], dt, clip_quantile=None, normalize=False, **kw
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s_iwv = select.select_by_risk(errs, w_def, criterion="iwv")
        s_dev = select.select_by_risk(errs, w_dev, criterion="dev")
    iw_exp = [float(select.iw_accuracy(e, np.zeros_like(e), w_exp)) for e in errs]  # 1 - err
    out = {
        "source": select.select_by_risk(errs, np.ones(errs.shape[1]), criterion="source").index,
        "iw_experiments": int(np.argmax(iw_exp)),  # as train.deep: max, first wins
        "iwv": s_iwv.index,
        "dev": s_dev.index,
        "iwv_raw": int(np.argmin(errs @ w_raw / len(w_raw))),
    }
    diag = {
        "ess_fraction_experiments": float(w_exp.sum() ** 2 / (w_exp**2).sum() / len(w_exp)),
        "ess_fraction_default": s_iwv.ess_fraction,
        "ess_fraction_dev": s_dev.ess_fraction,
        "ess_fraction_raw": float(w_raw.sum() ** 2 / (w_raw**2).sum() / len(w_raw)),
        "max_weight_raw_over_mean": float(w_raw.max() / w_raw.mean()),
        "iwv_raw_max_risk": float((errs @ w_raw / len(w_raw)).max()),
        "dev_risk_range": [float(s_dev.risks.min()), float(s_dev.risks.max())],
        "warnings": len(caught),
        "iwv_tied": len(s_iwv.tied),
    }
    return out, diag


def run(seeds, config, dump=None):
    """Agreement and regret per seed on ``config``'s files and shifts (the Office-Caltech
    experiment's config)."""
    raw = ocd.load_raw(config)
    doms = {d: (ocd.preprocess(x), y) for d, (x, y) in raw.items()}
    l1 = {d: l1_rows(x) for d, (x, _) in raw.items()}
    agree = {c: [] for c in CRITERIA}
    regret = {c: [] for c in CRITERIA}
    per_shift, walls = {}, []
    for seed in seeds:
        t0 = time.perf_counter()
        hits = {c: [] for c in CRITERIA}
        gaps = {c: [] for c in CRITERIA}
        for shift in config.shifts:
            s, t = shift.split("→")
            (xs, ys), (xt, yt) = doms[s], doms[t]
            rng = np.random.default_rng(seed)
            val = np.zeros(len(xs), bool)
            val[rng.choice(len(xs), len(xs) // 5, replace=False)] = True
            errs, accs = candidates(xs, ys, xt, yt, val)
            chosen, diag = picks(errs, xs, xt, val, l1[s], l1[t])
            for c, j in chosen.items():
                hits[c].append(float(accs[j] >= accs.max() - 1e-9))
                gaps[c].append(float(accs.max() - accs[j]))
            per_shift[f"{seed}/{shift}"] = {
                "target_accuracy": accs.tolist(),
                "picks": chosen,
                **diag,
            }
        for c in CRITERIA:
            agree[c].append(float(np.mean(hits[c])))
            regret[c].append(float(np.mean(gaps[c])))
        walls.append(time.perf_counter() - t0)
        if dump is not None:  # keep finished seeds if the run is cut
            dump(agree, regret, per_shift, walls, list(seeds[: len(walls)]))
        print(
            seed,
            {c: round(agree[c][-1], 3) for c in CRITERIA},
            {c: round(regret[c][-1], 2) for c in CRITERIA},
            round(walls[-1]),
            flush=True,
        )
    return agree, regret, per_shift, walls


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--manual_dir", default="")
    p.add_argument("--out", default="", help="also dump the raw record here (JSON)")
    p.add_argument("--from_raw", default="", help="write the artefacts from such a dump")
    a = p.parse_args(argv)
    import json

    if a.from_raw:
        with open(a.from_raw) as f:
            raw = json.load(f)
        agree, regret, per_shift, walls = (
            raw[k] for k in ("agree", "regret", "per_shift", "walls")
        )
        a.seeds = raw["seeds"]
    else:
        experiment = default.get_config()  # files and shifts of the experiment
        experiment.manual_dir = a.manual_dir

        def dump(agree, regret, per_shift, walls, seeds):
            if a.out:
                with open(a.out, "w") as f:
                    json.dump(
                        {
                            "agree": agree,
                            "regret": regret,
                            "per_shift": per_shift,
                            "walls": walls,
                            "seeds": seeds,
                        },
                        f,
                        ensure_ascii=False,
                    )

        agree, regret, per_shift, walls = run(a.seeds, experiment, dump)
    config = {
        "candidates": "SVM {NA, CORAL} x C " + str(CS),
        "val_fraction": 0.2,
        "domain_classifier_C": DOMAIN_C,
        "clip_quantile": select.DEFAULT_CLIP_QUANTILE,
        "ess_warning": select.DEFAULT_ESS_WARNING,
    }
    try:
        from experiments.reproduce import results
    except ImportError:
        return
    common = dict(
        seeds=a.seeds,
        config=config,
        wall_seconds=walls,
        baseline="source",
        command="python -m experiments.office_caltech.selection --seeds "
        + " ".join(map(str, a.seeds)),
    )
    results.write_results(
        "office_caltech",
        "selection_agreement",
        agree,
        metric="fraction of the 12 shifts where the pick is the oracle's",
        notes="16 SVM candidates per shift; see selection.py",
        **common,
        extra={"per_shift": per_shift},
    )
    results.write_results(
        "office_caltech",
        "selection_regret",
        regret,
        metric="oracle target accuracy minus the pick's (points)",
        higher_is_better=False,
        digits=2,
        **common,
    )


if __name__ == "__main__":
    main()
