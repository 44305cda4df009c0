"""Report rows of ``lopt_digits`` for ``python -m experiments.reproduce`` (discovered there).

Writes one results artefact per variant, ``results/<variant>_final_log10_loss.json``: per
evaluation seed (initialisation and batch order, shared by every optimizer), the LSTM
optimizer against the tuned baseline with the best mean on that variant, paired over the
evaluation seeds; every baseline's values and tuned learning rates are in ``extra``. On a CPU
the full suite runs ``configs/cpu.py`` (300 meta-steps), elsewhere ``configs/default.py``.
"""

from __future__ import annotations

import os
import time

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results

PAPER = {
    "base": "LSTM beats tuned baselines (Fig. 4 left, MNIST)",
    "2x_horizon": "LSTM keeps beating them for 200 steps (Fig. 4)",
    "wider": "LSTM beats them with 40 hidden units (Fig. 5)",
    "relu": "LSTM fails with ReLU (Fig. 5 right)",
}


def write_artefacts(m: dict, config, wall_seconds: float, root=None) -> None:
    """Writes ``<variant>_final_log10_loss`` for every variant in the metrics ``m``."""
    for variant in config.variants:
        per = {n: m[f"{variant}/{n}/final_log10_values"] for n in config.baselines}
        best = min(per, key=lambda n: m[f"{variant}/{n}/final_log10_loss"])
        seeds = list(range(len(per[best])))
        write_results(
            "lopt_digits",
            f"{variant}_final_log10_loss",
            {"best_baseline": per[best], "lstm": m[f"{variant}/LSTM/final_log10_values"]},
            seeds=seeds,
            config=config,
            wall_seconds=wall_seconds,
            metric=f"log10 minibatch training loss at the last step, {variant}",
            higher_is_better=False,
            baseline="best_baseline",
            labels={
                "best_baseline": f"{best} (best tuned baseline on the mean)",
                "lstm": f"LSTM ({config.estimator})",
            },
            source="",
            command=reproduce_command("lopt_digits", "full"),
            extra={
                "baselines": per,
                "tuned_lr": {n: m[f"{n}/lr"] for n in config.baselines},
                "meta_loss_first": m["meta_loss_first"],
                "meta_loss_last": m["meta_loss_last"],
                "meta_train_seconds": m["meta_train_seconds"],
            },
            notes=(
                f"Paper: {PAPER[variant]}; no published numbers. One "
                f"meta-training (seed {config.seed}, {config.meta_steps} meta-steps of "
                f"{config.num_tasks} tasks); seeds = the {config.num_eval} evaluation runs "
                "(initialisation and batch order, the same for every optimizer), so the "
                "interval covers evaluation noise, not meta-training noise. Baselines' "
                f"learning rates tuned on {config.num_tune} other runs of the base task; "
                "the best baseline is picked on the evaluation runs (favours it)."
            ),
            root=root,
        )


def _run(workdir: str, suite: str) -> list[ResultRow]:
    import jax

    from experiments.lopt_digits import train
    from experiments.lopt_digits.configs import cpu, default

    del suite  # full suite only
    config = (cpu if jax.default_backend() == "cpu" else default).get_config()
    t = time.perf_counter()
    m = train.train_and_evaluate(config, workdir)
    write_artefacts(m, config, time.perf_counter() - t, root=os.path.dirname(workdir))
    # The reproduce runner runs every experiment in this process: drop this run's compiled
    # programs (train_and_evaluate itself keeps them, so tests reuse them).
    jax.clear_caches()
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
