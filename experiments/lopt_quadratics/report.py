"""Report rows of ``lopt_quadratics`` for ``python -m experiments.reproduce`` (discovered there).

Writes the results artefacts ``results/final_log10_loss.json`` and ``avg_log10_loss.json``:
per seed (meta-training, tuning and held-out functions), the learned LSTM optimizer against
the best of the four tuned baselines on that seed (each baseline's values in ``extra``;
``_quick`` suffix for the quick suite). Each artefact records the command that
regenerates it (:func:`experiments.reproduce.results.reproduce_command`).
"""

from __future__ import annotations

import os

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results
from experiments.reproduce.seeds import run_seeds

SEEDS = {"quick": (0,), "full": (0, 1, 2, 3, 4)}
PAPER = "Andrychowicz et al. 2016, Fig. 2 (curves only): LSTM below SGD/RMSprop/ADAM/NAG"


def write_artefacts(
    metrics: dict[int, dict],
    walls: dict[int, float],
    config,
    suite: str,
    root=None,
    provenance: str = "",
) -> None:
    """Writes ``final_log10_loss`` and ``avg_log10_loss`` from per-seed metrics
    (``provenance``: appended to the notes, e.g. when seeds ran at different commits)."""
    seeds = sorted(metrics)
    names = [k.split("/")[0] for k in metrics[seeds[0]] if k.endswith("/final_log10_loss")]
    ours = next(n for n in names if n.startswith("LSTM"))
    base = [n for n in names if n != ours]
    cfg = config.to_dict()
    cfg["seed"] = seeds
    for key, what in (
        ("final_log10_loss", f"at step {config.eval_steps}"),
        ("avg_log10_loss", f"averaged over steps 1–{config.eval_steps}"),
    ):
        per = {n: [metrics[s][f"{n}/{key}"] for s in seeds] for n in names}
        write_results(
            "lopt_quadratics",
            key + ("" if suite == "full" else "_quick"),
            {
                "best_baseline": [min(per[n][i] for n in base) for i in range(len(seeds))],
                "lstm": per[ours],
            },
            seeds=seeds,
            config=cfg,
            wall_seconds=[walls[s] for s in seeds],
            metric=f"log10 loss {what} (mean over {config.num_eval} held-out functions)",
            higher_is_better=False,
            baseline="best_baseline",
            labels={"best_baseline": f"best of {'/'.join(base)} (per seed)", "lstm": ours},
            source="",
            command=reproduce_command("lopt_quadratics", suite, seeds),
            extra={
                "baselines": {n: per[n] for n in base},
                "tuned_lr": {n: [metrics[s][f"{n}/lr"] for s in seeds] for n in base},
            },
            notes=f"{PAPER}; no published numbers. The baseline is, on each seed, the best of "
            f"the four (learning rates tuned on {config.num_tune} training functions; "
            f"the best picked on the held-out functions, which favours the baseline). "
            f"{config.meta_steps} meta-steps per seed." + (f" {provenance}" if provenance else ""),
            root=root,
        )


def metrics_from_artefacts(suite: str, root=None) -> tuple[dict[int, dict], dict[int, float]]:
    """Per-seed metrics and wall times rebuilt from the committed artefacts (the inverse of
    :func:`write_artefacts`), so a new seed can be added without rerunning the others."""
    from experiments.reproduce.results import read_results

    suffix = "" if suite == "full" else "_quick"
    final = read_results("lopt_quadratics", "final_log10_loss" + suffix, root=root)
    avg = read_results("lopt_quadratics", "avg_log10_loss" + suffix, root=root)
    ours = final["labels"]["lstm"]
    metrics: dict[int, dict] = {}
    for i, seed in enumerate(final["seeds"]):
        m = {
            f"{ours}/final_log10_loss": final["values"]["lstm"][i],
            f"{ours}/avg_log10_loss": avg["values"]["lstm"][i],
        }
        for n, v in final["extra"]["baselines"].items():
            m[f"{n}/final_log10_loss"] = v[i]
            m[f"{n}/avg_log10_loss"] = avg["extra"]["baselines"][n][i]
            m[f"{n}/lr"] = final["extra"]["tuned_lr"][n][i]
        metrics[seed] = m
    walls = dict(zip(final["seeds"], final["wall_seconds"], strict=True))
    return metrics, walls


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    seeds = tuple(seeds or SEEDS[suite])
    import jax

    from experiments.lopt_quadratics import train
    from experiments.lopt_quadratics.configs import default, quick

    get_config = (quick if suite == "quick" else default).get_config

    def run_one(config, workdir):
        # The reproduce runner runs every experiment in this process: drop the compiled
        # programs of each run (train_and_evaluate itself keeps them, so tests reuse them).
        try:
            return train.train_and_evaluate(config, workdir)
        finally:
            jax.clear_caches()

    metrics, walls, config = run_seeds(run_one, get_config, seeds, workdir)
    write_artefacts(metrics, walls, config, suite, root=os.path.dirname(workdir))
    m = metrics[seeds[0]]
    plots = ("curves.png",) if config.plot else ()
    names = [k.split("/")[0] for k in m if k.endswith("/final_log10_loss")]
    ours = next(n for n in names if n.startswith("LSTM"))
    baselines = {n: m[f"{n}/final_log10_loss"] for n in names if n != ours}
    best = min(baselines, key=baselines.get)
    beats = m[f"{ours}/final_log10_loss"] < baselines[best]
    rows = []
    for n in names:
        lr = (
            f", lr {m[f'{n}/lr']:g} tuned on {config.num_tune} training fns"
            if n != ours
            else (f", meta-trained {config.meta_steps} steps in {m['meta_train_seconds']:.0f} s")
        )
        rows.append(
            ResultRow(
                benchmark=f"{config.dim}-d quadratics, {config.num_eval} held-out fns: {n}",
                metric=f"log10 loss at step {config.eval_steps} (mean ± std over fns)",
                ours=f"{m[f'{n}/final_log10_loss']:.2f} ± {m[f'{n}/final_log10_std']:.2f}",
                published=("below all baselines" if n == ours else None),
                source=PAPER if n == ours else "",
                plots=plots if n == ours else (),
                notes=(
                    f"mean log10 loss over steps {m[f'{n}/avg_log10_loss']:.2f}{lr}"
                    + (
                        f"; {'beats' if beats else 'does NOT beat'} best baseline {best}"
                        if n == ours
                        else ""
                    )
                ),
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="lopt_quadratics",
        suites=("quick", "full"),
        run=_run,
        description="Learned LSTM optimizer vs tuned SGD/RMSprop/Adam/NAG, 10-d quadratics",
    )
]
