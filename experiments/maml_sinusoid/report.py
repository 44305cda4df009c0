"""Report rows of ``maml_sinusoid`` for ``python -m experiments.reproduce`` (discovered there).

Writes the results artefacts ``results/k5_mse_step{1,5,10}.json``: per seed, the K = 5 MSE
over 600 test tasks of MAML and of the pretrained baseline (``_quick`` suffix for the quick
suite). Each artefact records the command that regenerates it
(:func:`experiments.reproduce.results.reproduce_command`).
"""

from __future__ import annotations

import os

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results
from experiments.reproduce.seeds import run_seeds

SEEDS = {"quick": (0,), "full": (0, 1, 2, 3, 4)}

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
            rows.append(
                ResultRow(
                    benchmark=f"Sinusoid K=5, {name}",
                    metric=f"MSE after {n} step{'s' if n > 1 else ''} (600 tasks, ±95%)",
                    ours=f"{m[f'{label}_k5_step{n}']:.3f} ± {m[f'{label}_k5_step{n}_ci95']:.3f}",
                    published=PUBLISHED[label][n],
                    source=SOURCE,
                    plots=tuple(plots),
                    notes=(
                        f"median {m[f'{label}_k5_step{n}_median']:.3f}; "
                        f"{div}/600 diverged tasks excluded from the mean; " + notes
                    ),
                )
            )
    for shots in (10, 20):
        if f"maml_k{shots}_step1" in m:
            rows.append(
                ResultRow(
                    benchmark=f"Sinusoid K={shots}, MAML vs pretrained",
                    metric="MSE after 1 / 5 / 10 steps",
                    ours=" / ".join(f"{m[f'maml_k{shots}_step{n}']:.3f}" for n in (1, 5, 10))
                    + "  vs  "
                    + " / ".join(f"{m[f'pretrained_k{shots}_step{n}']:.3f}" for n in (1, 5, 10)),
                    published=None,
                    source="paper gives K=10, 20 as figures only",
                    notes=notes,
                )
            )
    return rows


def write_artefacts(
    metrics: dict[int, dict], walls: dict[int, float], config, suite: str, root=None
) -> None:
    """Writes ``k5_mse_step{1,5,10}`` from per-seed metrics (``root`` None: committed)."""
    seeds = sorted(metrics)
    cfg = config.to_dict()
    cfg["seed"] = seeds
    for n in (1, 5, 10):
        write_results(
            "maml_sinusoid",
            f"k5_mse_step{n}" + ("" if suite == "full" else "_quick"),
            {
                lab: [metrics[s][f"{lab}_k5_step{n}"] for s in seeds]
                for lab in ("pretrained", "maml")
            },
            seeds=seeds,
            config=cfg,
            wall_seconds=[walls[s] for s in seeds],
            metric=f"K = 5 MSE after {n} step{'s' if n > 1 else ''} (mean over 600 test tasks)",
            higher_is_better=False,
            baseline="pretrained",
            published={lab: PUBLISHED[lab][n] for lab in PUBLISHED},
            labels={"maml": "MAML", "pretrained": "pretrained"},
            source=SOURCE,
            command=reproduce_command("maml_sinusoid", suite, seeds),
            extra={
                "diverged_tasks": {
                    lab: [metrics[s][f"{lab}_k5_diverged"] for s in seeds] for lab in PUBLISHED
                },
                "median": {
                    lab: [metrics[s][f"{lab}_k5_step{n}_median"] for s in seeds]
                    for lab in PUBLISHED
                },
                "ci95_over_tasks": {
                    lab: [metrics[s][f"{lab}_k5_step{n}_ci95"] for s in seeds] for lab in PUBLISHED
                },
            },
            notes=f"Seed = initialisation, meta-training tasks and the 600 test tasks. "
            f"{config.num_iterations} meta-iterations per seed. Tasks whose MSE diverges "
            f"(NaN) are excluded from a seed's mean (counts in `extra`). The gain is the "
            f"pretrained MSE minus MAML's.",
            root=root,
        )


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    seeds = tuple(seeds or SEEDS[suite])
    from experiments.maml_sinusoid import train
    from experiments.maml_sinusoid.configs import default, quick

    get_config = (quick if suite == "quick" else default).get_config
    metrics, walls, config = run_seeds(train.train_and_evaluate, get_config, seeds, workdir)
    m = metrics[seeds[0]]  # its plots are in workdir
    rows = rows_from_metrics(
        m,
        plots=("fig2_adaptation.png",),
        notes=(
            f"{config.num_iterations} meta-iterations ({m['train_seconds']:.0f} s); "
            f"seed {seeds[0]}; all seeds in the effects table"
        ),
    )
    write_artefacts(metrics, walls, config, suite, root=os.path.dirname(workdir))
    return rows


EXPERIMENTS = [
    Experiment(
        name="maml_sinusoid",
        suites=("quick", "full"),
        run=_run,
        description="MAML sinusoid regression, 1-40-40-1 MLP, K=5/10/20 after 1/5/10 steps",
    )
]
