"""Plots of the frozen grid: ``python -m experiments.lm_domain_shift.plots [WORKDIR]``.

* ``layer_mmd2.png``: MMD² between the source reviews and the target pool per encoder layer
  (one line per shift), from ``results/frozen.json``;
* ``accuracy_vs_lambda.png``: target accuracy of MMD / Deep CORAL / DANN per λ (mean over
  shifts and seeds; the source-only MLP at λ = 0), from ``results/frozen.json``;
* ``weights_vs_domain_prob.png``: the learned instance weights (KMM, KLIEP, uLSIF, the
  domain classifier's ratio) of each source review against the domain classifier's
  probability that it is a target review, from ``WORKDIR/weights_<shift>.json`` (the first
  shift the grid ran; default workdir ``runs/lm_domain_shift``).
"""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def plot_all(results_dir: str = RESULTS, workdir: str = "runs/lm_domain_shift") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(results_dir, "frozen.json"), encoding="utf-8") as f:
        res = json.load(f)
    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    layers = res["layer_mmd2"]["layers"]
    for shift, vals in res["layer_mmd2"]["values"].items():
        ax.plot(layers, vals, marker="o", label=shift)
    ax.set(
        xlabel="layer (0 = embeddings)",
        ylabel="MMD² (unbiased, median bandwidth)",
        title="source reviews vs target pool, mean-pooled MiniLM",
    )
    ax.legend(fontsize=6, ncol=3)
    written.append(os.path.join(results_dir, "layer_mmd2.png"))
    fig.tight_layout()
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    so = res["accuracy"].get("source_only")
    if so:
        ax.axhline(
            np.mean([np.mean(v) for v in so.values()]),
            color="k",
            ls="--",
            label="source_only (λ = 0)",
        )
    for m, per_shift in res.get("selection", {}).items():
        by_lam: dict[float, list[float]] = {}
        for v in per_shift.values():
            for seed_runs in v["per_lam"]:
                for r in seed_runs:
                    by_lam.setdefault(r["lam"], []).append(r["acc"])
        lams = sorted(by_lam)
        ax.plot(lams, [np.mean(by_lam[x]) for x in lams], marker="o", label=m)
    ax.set(
        xscale="log",
        xlabel="λ",
        ylabel="target accuracy (%), mean over shifts and seeds",
        title="accuracy vs λ (oracle view: every λ scored on target labels)",
    )
    ax.legend()
    written.append(os.path.join(results_dir, "accuracy_vs_lambda.png"))
    fig.tight_layout()
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    files = sorted(glob.glob(os.path.join(workdir, "weights_*.json")))
    if files:
        with open(files[0], encoding="utf-8") as f:
            w = json.load(f)
        p = np.asarray(w["dc_prob_target"])
        fig, axes = plt.subplots(1, 4, figsize=(14, 3.5), sharex=True)
        for ax, k in zip(axes, ("iw_dc_ratio", "iw_kmm", "iw_kliep", "iw_ulsif"), strict=True):
            ax.scatter(p, np.maximum(w[k], 1e-3), s=3, alpha=0.5)
            rho = np.corrcoef(np.argsort(np.argsort(p)), np.argsort(np.argsort(w[k])))[0, 1]
            ax.set(
                title=f"{k} (Spearman {rho:.2f})",
                xlabel="domain classifier P(target|x)",
                yscale="log",
            )
        axes[0].set_ylabel(f"weight (mean 1), shift {w['shift']}")
        written.append(os.path.join(results_dir, "weights_vs_domain_prob.png"))
        fig.tight_layout()
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


if __name__ == "__main__":
    args = sys.argv[1:]
    print(plot_all(RESULTS, *(args[:1] or ["runs/lm_domain_shift"])))
