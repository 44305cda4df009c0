"""Experiment 3: detecting negative transfer on scikit-learn digits (embedded data).

Protocol (per case and seed):

* The 1797 digits (64 pixels / 16) are split 50/50 into a *source pool* and a *target pool*.
  From the target pool, ``n_labelled`` examples are the few labelled target examples; the
  rest is the target test set (used only for the ground truth).
* The **adapted** (transferred) model is a multinomial logistic regression (L2 ``l2``,
  full-batch Adam, ``common.fit_softmax``) trained on the source data pooled with the
  labelled target examples; the **baseline** is the same model trained on the labelled
  target examples only. All fits of one case run as one ``vmap``.
* Detector: ``select.negative_transfer_report`` on paired per-example correctness from
  ``num_folds``-fold cross-validation over the labelled target examples (each fold held out
  from both models' training), 95 % normal CI; it flags negative transfer when the whole
  interval is below 0.
* Ground truth: both models refit on all labelled target examples (+ source) and scored on
  the target test set; negative transfer holds if the adapted accuracy is lower.
* Cases designed to hurt: ``label_permuted`` (source labels mapped by a random
  derangement), ``feature_permuted`` (source pixels randomly permuted), ``label_shift``
  (source drawn 97 % from classes 0–4, target 97 % from classes 5–9). Cases designed to
  help: ``same`` (no shift), ``noise`` (target + N(0, 0.15²) pixel noise), ``contrast``
  (target intensities × 0.7 + 0.15).

Hit rate = flagged / truly negative; false-alarm rate = flagged / truly positive.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

from experiments.transferability.common import fit_many, predict
from jtransfer import select

HURT_CASES = ("label_permuted", "feature_permuted", "label_shift")
HELP_CASES = ("same", "noise", "contrast")
CASES = HURT_CASES + HELP_CASES


def _digits():
    d = load_digits()
    return (d.data / 16.0).astype(np.float64), d.target.astype(np.int64)


def _prior_sample(rng, y, classes_hi, frac_hi, n):
    """Indices of ``n`` draws (without replacement) with ``frac_hi`` from ``classes_hi``."""
    hi = np.flatnonzero(np.isin(y, classes_hi))
    lo = np.flatnonzero(~np.isin(y, classes_hi))
    n_hi = min(len(hi), int(round(frac_hi * n)))
    n_lo = min(len(lo), n - n_hi)
    return np.concatenate(
        [rng.choice(hi, n_hi, replace=False), rng.choice(lo, n_lo, replace=False)]
    )


def make_case(case: str, seed: int, n_labelled: int):
    """Returns (xs, ys, xl, yl, xtest, ytest) for one case."""
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    rng = np.random.default_rng(seed)
    x, y = _digits()
    perm = rng.permutation(len(y))
    src, tgt = perm[: len(y) // 2], perm[len(y) // 2 :]
    xs, ys, xt, yt = x[src], y[src], x[tgt], y[tgt]
    if case == "label_shift":
        s_idx = _prior_sample(rng, ys, np.arange(5), 0.97, 450)
        t_idx = _prior_sample(rng, yt, np.arange(5, 10), 0.97, 450)
        xs, ys, xt, yt = xs[s_idx], ys[s_idx], xt[t_idx], yt[t_idx]
    elif case == "label_permuted":
        while True:
            pi = rng.permutation(10)
            if np.all(pi != np.arange(10)):
                break
        ys = pi[ys]
    elif case == "feature_permuted":
        xs = xs[:, rng.permutation(x.shape[1])]
    elif case == "noise":
        xt = xt + rng.normal(0.0, 0.15, xt.shape)
    elif case == "contrast":
        xt = 0.7 * xt + 0.15
    order = rng.permutation(len(yt))
    lab, test = order[:n_labelled], order[n_labelled:]
    return xs, ys, xt[lab], yt[lab], xt[test], yt[test]


def run_case(
    case: str,
    seed: int,
    *,
    n_labelled: int,
    num_folds: int,
    l2: float,
    steps: int,
    confidence: float = 0.95,
    mesh=None,
) -> dict:
    xs, ys, xl, yl, xtest, ytest = make_case(case, seed, n_labelled)
    folds = np.array_split(np.random.default_rng(seed + 1000).permutation(n_labelled), num_folds)
    ns = len(ys)
    x = jnp.asarray(np.concatenate([xs, xl]), jnp.float32)
    y = jnp.asarray(np.concatenate([ys, yl]))
    # masks: fold k's adapted model (source + other folds), baseline (other folds only),
    # and the two final models on all labelled target examples (last two rows).
    masks = []
    for held in folds + [np.array([], int)]:
        lab = np.ones(n_labelled)
        lab[held] = 0.0
        masks.append(np.concatenate([np.ones(ns), lab]))
        masks.append(np.concatenate([np.zeros(ns), lab]))
    masks = jnp.asarray(np.stack(masks), jnp.float32)
    params = fit_many(
        x,
        y,
        masks,
        jnp.full(masks.shape[0], l2, jnp.float32),
        num_classes=10,
        steps=steps,
        mesh=mesh,
    )
    preds = jax.vmap(
        lambda p: jnp.argmax(p[0].T @ jnp.asarray(xl, jnp.float32).T + p[1][:, None], axis=0)
    )(params)
    preds = np.asarray(preds)
    adapted_ok = np.zeros(n_labelled, np.float32)  # 0/1: exact in float32 (no x64 warning)
    base_ok = np.zeros(n_labelled, np.float32)
    for k, held in enumerate(folds):
        adapted_ok[held] = preds[2 * k, held] == yl[held]
        base_ok[held] = preds[2 * k + 1, held] == yl[held]
    report = select.negative_transfer_report(adapted_ok, base_ok, confidence=confidence)
    final_a = jax.tree.map(lambda a: a[-2], params)
    final_b = jax.tree.map(lambda a: a[-1], params)
    acc_a = float(np.mean(predict(final_a, xtest.astype(np.float32)) == ytest))
    acc_b = float(np.mean(predict(final_b, xtest.astype(np.float32)) == ytest))
    return {
        "case": case,
        "seed": seed,
        "n_labelled": n_labelled,
        "designed_to_hurt": case in HURT_CASES,
        "true_adapted_acc": acc_a,
        "true_baseline_acc": acc_b,
        "truly_negative": acc_a < acc_b,
        "gain": report.gain,
        "ci_low": report.ci_low,
        "ci_high": report.ci_high,
        "verdict": report.verdict,
        "flagged": report.verdict == "negative transfer",
    }


def summarise(rows: list[dict]) -> dict[str, float]:
    neg = [r for r in rows if r["truly_negative"]]
    pos = [r for r in rows if not r["truly_negative"]]
    out = {
        "num_cases": float(len(rows)),
        "num_truly_negative": float(len(neg)),
        "hit_rate": float(np.mean([r["flagged"] for r in neg])) if neg else float("nan"),
        "false_alarm_rate": (float(np.mean([r["flagged"] for r in pos])) if pos else float("nan")),
        "positive_verdict_rate_on_helpful": (
            float(np.mean([r["verdict"] == "positive transfer" for r in pos]))
            if pos
            else float("nan")
        ),
        "design_agreement": float(
            np.mean([r["designed_to_hurt"] == r["truly_negative"] for r in rows])
        ),
    }
    for case in CASES:
        rc = [r for r in rows if r["case"] == case]
        if rc:
            out[f"{case}/flag_rate"] = float(np.mean([r["flagged"] for r in rc]))
            out[f"{case}/true_gain"] = float(
                np.mean([r["true_adapted_acc"] - r["true_baseline_acc"] for r in rc])
            )
    return out


def plot(rows: list[dict], path: str) -> str:
    import matplotlib.pyplot as plt

    from jtransfer import train as jtrain

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, case in enumerate(CASES):
        rc = [r for r in rows if r["case"] == case]
        for j, r in enumerate(rc):
            xpos = i + (j - len(rc) / 2) * 0.08
            color = (
                "tab:red"
                if r["flagged"]
                else ("tab:green" if r["verdict"] == "positive transfer" else "tab:gray")
            )
            ax.errorbar(
                xpos,
                r["gain"],
                yerr=[[r["gain"] - r["ci_low"]], [r["ci_high"] - r["gain"]]],
                fmt="o",
                color=color,
                ms=3,
            )
            ax.plot(xpos, r["true_adapted_acc"] - r["true_baseline_acc"], "kx", ms=4)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(CASES)), CASES, rotation=30, ha="right")
    ax.set_ylabel("transfer gain in accuracy")
    ax.set_xlabel("dots: CV estimate with 95% CI;  x: truth on the target test set")
    ax.set_title("Negative-transfer detector on digits (red = flagged)")
    fig.tight_layout()
    return jtrain.save_figure(fig, path)
