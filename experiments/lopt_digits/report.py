"""Report rows of ``lopt_digits`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

from experiments.reproduce.registry import Experiment, ResultRow

PAPER = {
    "base": "LSTM beats tuned baselines (Fig. 4 left, MNIST)",
    "2x_horizon": "LSTM keeps beating them for 200 steps (Fig. 4)",
    "wider": "LSTM beats them with 40 hidden units (Fig. 5)",
    "relu": "LSTM fails with ReLU (Fig. 5 right)",
}


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.lopt_digits import train
    from experiments.lopt_digits.configs import default

    del suite  # full suite only
    config = default.get_config()
    m = train.train_and_evaluate(config, workdir)
    rows = []
    for variant, *_ in train.VARIANTS:
        base = {n: m[f"{variant}/{n}/final_log10_loss"] for n in ("SGD", "RMSprop", "Adam", "NAG")}
        best = min(base, key=base.get)
        lstm = m[f"{variant}/LSTM/final_log10_loss"]
        rows.append(
            ResultRow(
                benchmark=f"digits MLP {variant}: LSTM vs best tuned baseline ({best})",
                metric="final log10 train loss (mean ± std over seeds)",
                ours=(
                    f"LSTM {lstm:.2f} ± {m[f'{variant}/LSTM/final_log10_std']:.2f} vs "
                    f"{best} {base[best]:.2f} ± {m[f'{variant}/{best}/final_log10_std']:.2f}"
                ),
                published=PAPER[variant],
                source="Andrychowicz et al. 2016 (MNIST)",
                plots=(f"curves_{variant}.png",),
                notes=(
                    f"LSTM {'beats' if lstm < base[best] else 'does NOT beat'} {best}; lrs "
                    + ", ".join(f"{n} {m[n + '/lr']:g}" for n in base)
                ),
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="lopt_digits",
        suites=("full",),
        run=_run,
        description="Learned LSTM optimizer on a digits MLP: 2x horizon, wider, ReLU",
    )
]
