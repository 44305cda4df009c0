"""Two moons with a 30°-rotated target (ADAPT's toy): registered with ``reproduce``."""

from __future__ import annotations

import os

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow

SEEDS = (0, 1, 2)


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.two_moons import train
    from experiments.two_moons.configs import default, quick

    accs, secs, plots = [], [], []
    for seed in SEEDS:
        config = (quick if suite == "quick" else default).get_config()
        config.seed = seed
        config.plot = seed == SEEDS[0]
        out = os.path.join(workdir, f"source_only_seed{seed}")
        m = train.train_and_evaluate(config, out)
        accs.append(m["target_accuracy"])
        secs.append(m["train_seconds"])
        if config.plot:
            plots.append(os.path.relpath(os.path.join(out, "boundary.png"), workdir))
    return [ResultRow(
        benchmark="Two moons → 30° rotated target (MLP 10-10, source only)",
        metric="target accuracy",
        ours=f"{np.mean(accs):.3f} ± {np.std(accs):.3f}",
        published=0.84,
        source="ADAPT docs 'Two moons' example (RESULTS_FROM_PAPERS.md §5)",
        plots=tuple(plots),
        notes=f"seeds {list(SEEDS)}, {np.mean(secs):.1f} s/run",
    )]


EXPERIMENTS = [Experiment(
    name="two_moons", suites=("quick", "full"), run=_run,
    description="Two moons, 30° rotated target: source-only MLP (ADAPT protocol)")]
