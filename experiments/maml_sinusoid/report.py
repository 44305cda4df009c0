"""Report rows of ``maml_sinusoid`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

import os

from experiments.reproduce.registry import Experiment, ResultRow

PUBLISHED = {  # App. C Table 2, K = 5 points: MSE after 1 / 5 / 10 steps
    "maml": {1: 0.67, 5: 0.38, 10: 0.35},
    "pretrained": {1: 2.41, 5: 2.23, 10: 2.19},
}
SOURCE = "Finn et al. 2017 App. C Table 2 (RESULTS_FROM_PAPERS.md §3)"


def rows_from_metrics(m: dict, *, plots=(), notes: str = "") -> list[ResultRow]:
    rows = []
    for label, name in (("maml", "MAML"), ("pretrained", "pretrained baseline")):
        div = int(m[f"{label}_k5_diverged"])
        for n in (1, 5, 10):
            rows.append(ResultRow(
                benchmark=f"Sinusoid K=5, {name}",
                metric=f"MSE after {n} step{'s' if n > 1 else ''} (600 tasks, ±95%)",
                ours=f"{m[f'{label}_k5_step{n}']:.3f} ± {m[f'{label}_k5_step{n}_ci95']:.3f}",
                published=PUBLISHED[label][n], source=SOURCE, plots=tuple(plots),
                notes=(f"median {m[f'{label}_k5_step{n}_median']:.3f}; "
                       f"{div}/600 diverged tasks excluded from the mean; " + notes)))
    for shots in (10, 20):
        if f"maml_k{shots}_step1" in m:
            rows.append(ResultRow(
                benchmark=f"Sinusoid K={shots}, MAML vs pretrained",
                metric="MSE after 1 / 5 / 10 steps",
                ours=" / ".join(f"{m[f'maml_k{shots}_step{n}']:.3f}" for n in (1, 5, 10))
                + "  vs  "
                + " / ".join(f"{m[f'pretrained_k{shots}_step{n}']:.3f}" for n in (1, 5, 10)),
                published=None, source="paper gives K=10, 20 as figures only", notes=notes))
    return rows


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.maml_sinusoid import train
    from experiments.maml_sinusoid.configs import default, quick

    config = (quick if suite == "quick" else default).get_config()
    m = train.train_and_evaluate(config, workdir)
    plot = os.path.relpath(os.path.join(workdir, "fig2_adaptation.png"), workdir)
    return rows_from_metrics(m, plots=(plot,), notes=(
        f"{config.num_iterations} meta-iterations ({m['train_seconds']:.0f} s); "
        "seed 0"))


EXPERIMENTS = [Experiment(
    name="maml_sinusoid", suites=("quick", "full"), run=_run,
    description="MAML sinusoid regression, 1-40-40-1 MLP, K=5/10/20 after 1/5/10 steps")]
