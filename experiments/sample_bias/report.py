"""Report rows of ``sample_bias`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

import os

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow

SEEDS = (0, 1, 2)
PUBLISHED = {"source_only": 0.248, "kmm": 0.162, "kliep": 0.108}
LABELS = {
    "source_only": "source only",
    "kmm": "KMM (γ = 0.1)",
    "kliep": "KLIEP (σ by likelihood CV)",
    "ulsif": "uLSIF ((σ, λ) by analytic LOO)",
    "classifier": "domain-classifier ratio",
    "true_ratio": "IW-MLP with the true ratio q/p (oracle weights, reference)",
}


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.sample_bias import train
    from experiments.sample_bias.configs import default, quick

    runs = []
    for seed in SEEDS:
        config = (quick if suite == "quick" else default).get_config()
        config.seed, config.plot = seed, seed == SEEDS[0]
        runs.append(train.train_and_evaluate(config, os.path.join(workdir, f"seed{seed}")))
    plot = os.path.join(f"seed{SEEDS[0]}", "sample_bias.png")
    rows = []
    for m in train.METHODS:
        maes = [r[f"{m}_mae"] for r in runs]
        ess = np.mean([r[f"{m}_ess"] for r in runs])
        rows.append(
            ResultRow(
                benchmark=f"1-D sample bias, MLP(100,100): {LABELS[m]}",
                metric="target MAE",
                ours=f"{np.mean(maes):.3f} ± {np.std(maes, ddof=1):.3f}",
                published=PUBLISHED.get(m),
                source="ADAPT docs 'Sample bias' (RESULTS_FROM_PAPERS.md §5)"
                if m in PUBLISHED
                else "",
                plots=(plot,) if m == "source_only" else (),
                notes=f"seeds {list(SEEDS)}, per-seed {[round(x, 3) for x in maes]}, ESS {ess:.0f}/100,"  # noqa: E501
                f" {np.mean([r['train_seconds'] for r in runs]):.1f} s/seed (all methods)",
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="sample_bias",
        suites=("quick", "full"),
        run=_run,
        description="1-D covariate-shift regression: source-only vs KMM, KLIEP, uLSIF, "
        "classifier ratio (ADAPT protocol)",
    )
]
