"""Report rows of ``lopt_quadratics`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

from experiments.reproduce.registry import Experiment, ResultRow

PAPER = "Andrychowicz et al. 2016, Fig. 2 (curves only): LSTM below SGD/RMSprop/ADAM/NAG"


def _run(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.lopt_quadratics import train
    from experiments.lopt_quadratics.configs import default, quick

    config = (quick if suite == "quick" else default).get_config()
    m = train.train_and_evaluate(config, workdir)
    plots = ("curves.png",) if config.plot else ()
    names = [k.split("/")[0] for k in m if k.endswith("/final_log10_loss")]
    ours = next(n for n in names if n.startswith("LSTM"))
    baselines = {n: m[f"{n}/final_log10_loss"] for n in names if n != ours}
    best = min(baselines, key=baselines.get)
    beats = m[f"{ours}/final_log10_loss"] < baselines[best]
    rows = []
    for n in names:
        lr = f", lr {m[f'{n}/lr']:g} tuned on {config.num_tune} training fns" if n != ours else (
            f", meta-trained {config.meta_steps} steps in {m['meta_train_seconds']:.0f} s")
        rows.append(ResultRow(
            benchmark=f"{config.dim}-d quadratics, {config.num_eval} held-out fns: {n}",
            metric=f"log10 loss at step {config.eval_steps} (mean ± std over fns)",
            ours=f"{m[f'{n}/final_log10_loss']:.2f} ± {m[f'{n}/final_log10_std']:.2f}",
            published=("below all baselines" if n == ours else None),
            source=PAPER if n == ours else "",
            plots=plots if n == ours else (),
            notes=(f"mean log10 loss over steps {m[f'{n}/avg_log10_loss']:.2f}{lr}"
                   + (f"; {'beats' if beats else 'does NOT beat'} best baseline {best}"
                      if n == ours else ""))))
    return rows


EXPERIMENTS = [Experiment(
    name="lopt_quadratics", suites=("quick", "full"), run=_run,
    description="Learned LSTM optimizer vs tuned SGD/RMSprop/Adam/NAG, 10-d quadratics")]
