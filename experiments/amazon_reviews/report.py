"""Report rows of ``amazon_reviews`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

import os

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow

SEEDS = (0, 1, 2)


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.amazon_reviews import train
    from experiments.amazon_reviews.configs import default

    del suite
    runs = []
    for seed in SEEDS:
        config = default.get_config()
        config.seed = seed
        runs.append(train.train_and_evaluate(config, os.path.join(workdir, f"seed{seed}")))
    rows = []
    for m in config.methods:
        avgs = [r[f"{m}/avg"] for r in runs]
        per = {s: np.mean([r[f"{m}/{s}"] for r in runs]) for s in config.shifts}
        secs = np.mean([r[f"{m}/{s}/seconds"] for r in runs for s in config.shifts])
        rows.append(
            ResultRow(
                benchmark=f"Amazon reviews 5000-d, 12 shifts: {m}",
                metric="mean target-test accuracy (%)",
                ours=f"{np.mean(avgs):.1f} ± {np.std(avgs, ddof=1):.1f}",
                published=76.3 if m == "dann" else None,
                source="DANN, JMLR 2016, Table 1 (raw features; RESULTS_FROM_PAPERS.md §2)"
                if m == "dann"
                else "",
                notes=f"seeds {list(SEEDS)}; selection by IW source validation; oracle "
                f"{np.mean([r[f'{m}/oracle_avg'] for r in runs]):.1f}; {secs:.0f} s per "
                "shift and seed; " + ", ".join(f"{s} {v:.1f}" for s, v in per.items()),
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="amazon_reviews",
        suites=("full",),
        run=_run,
        description="Amazon reviews: DANN (JMLR protocol), source-only, MMD, Deep CORAL, IW-LR",
    )
]
