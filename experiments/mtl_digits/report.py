"""Report rows of ``mtl_digits`` for ``python -m experiments.reproduce`` (discovered there).

Writes the results artefact ``results/test_accuracy.json``: per seed, each method's test
accuracy averaged over the two tasks, with gains paired against equal weighting (``_quick``
suffix for the quick suite). The artefact records the command that regenerates it
(:func:`experiments.reproduce.results.reproduce_command`).
"""

from __future__ import annotations

import os

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results

NAMES = {
    "single_task": "single-task (two networks)",
    "equal": "equal",
    "uncertainty": "uncertainty (Kendall 2018)",
    "dwa": "DWA (Liu 2019)",
    "gradnorm": "GradNorm (Chen 2018)",
    "pcgrad": "PCGrad (Yu 2020)",
    "mgda": "MGDA (Sener & Koltun 2018)",
    "cagrad": "CAGrad (Liu 2021)",
    "imtl_g": "IMTL-G (Liu 2021)",
}
SOURCE = (
    "no published numbers for this construction (MultiMNIST-style, Sener & Koltun 2018, "
    "https://arxiv.org/abs/1810.04650, uses MNIST)"
)


def write_artefacts(
    per_seed: dict[str, list[float]], seeds, wall_seconds, config, suite: str, root=None
) -> None:
    """Writes ``test_accuracy`` from ``{method: [mean accuracy of the two tasks per seed]}``."""
    cfg = config.to_dict()
    cfg["seeds"] = list(seeds)
    write_results(
        "mtl_digits",
        "test_accuracy" + ("" if suite == "full" else "_quick"),
        per_seed,
        seeds=seeds,
        config=cfg,
        wall_seconds=wall_seconds,
        metric="test accuracy, mean of the two tasks",
        baseline="equal",
        labels=NAMES,
        digits=4,
        command=reproduce_command("mtl_digits", suite, seeds),
        notes=f"{SOURCE}. Seed = pairs drawn, initialisation and batches; {config.num_steps} "
        f"Adam steps, {config.num_train_pairs} train / {config.num_test_pairs} test pairs. "
        "Gains are paired against equal weighting; single-task uses two networks (twice "
        "the parameters).",
        root=root,
    )


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    from experiments.mtl_digits import train
    from experiments.mtl_digits.configs import default, quick

    config = (quick if suite == "quick" else default).get_config()
    if seeds:
        config.seeds = tuple(seeds)
    m = train.train_and_evaluate(config, workdir)
    seeds = list(config.seeds)
    write_artefacts(
        {k: m[f"{k}/acc_mean_per_seed"] for k in config.methods},
        seeds,
        m["seconds"],
        config,
        suite,
        root=os.path.dirname(workdir),
    )
    rows = []
    for method in config.methods:
        ours = (
            f"left {m[f'{method}/acc_left']:.3f} ± {m[f'{method}/acc_left_std']:.3f}, "
            f"right {m[f'{method}/acc_right']:.3f} ± {m[f'{method}/acc_right_std']:.3f}"
        )
        rows.append(
            ResultRow(
                benchmark=f"Multi-digits (sklearn, overlap {config.overlap}px): {method}",
                metric="test accuracy (left, right)",
                ours=ours,
                published=None,
                source=SOURCE,
                plots=("pareto.png",),
                notes=f"seeds {seeds}, {config.num_steps} Adam steps; mean of both tasks "
                f"{m[f'{method}/acc_mean']:.3f}",
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="mtl_digits",
        suites=("quick", "full"),
        run=_run,
        description="Multi-digits: single-task vs hard sharing with equal, uncertainty, DWA, "
        "GradNorm, PCGrad, MGDA, CAGrad, IMTL-G",
    )
]
