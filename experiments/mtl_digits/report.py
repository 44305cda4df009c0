"""Report rows of ``mtl_digits`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

from experiments.reproduce.registry import Experiment, ResultRow


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.mtl_digits import train
    from experiments.mtl_digits.configs import default, quick

    config = (quick if suite == "quick" else default).get_config()
    m = train.train_and_evaluate(config, workdir)
    seeds = list(config.seeds)
    rows = []
    for method in config.methods:
        ours = (f"left {m[f'{method}/acc_left']:.3f} ± {m[f'{method}/acc_left_std']:.3f}, "
                f"right {m[f'{method}/acc_right']:.3f} ± {m[f'{method}/acc_right_std']:.3f}")
        rows.append(ResultRow(
            benchmark=f"Multi-digits (sklearn, overlap {config.overlap}px): {method}",
            metric="test accuracy (left, right)", ours=ours, published=None,
            source="no published numbers for this construction (MultiMNIST-style, Sener & "
                   "Koltun 2018, https://arxiv.org/abs/1810.04650, uses MNIST)",
            plots=("pareto.png",),
            notes=f"seeds {seeds}, {config.num_steps} Adam steps; mean of both tasks "
                  f"{m[f'{method}/acc_mean']:.3f}"))
    return rows


EXPERIMENTS = [Experiment(
    name="mtl_digits", suites=("quick", "full"), run=_run,
    description="Multi-digits: single-task vs hard sharing with equal, uncertainty, DWA, "
                "GradNorm, PCGrad, MGDA, CAGrad, IMTL-G")]
