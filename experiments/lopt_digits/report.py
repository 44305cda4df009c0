"""Report rows of ``lopt_digits`` for ``python -m experiments.reproduce`` (discovered there).

Writes one results artefact per variant, ``results/<variant>_final_log10_loss.json``: per
seed (one whole run: meta-training, the baselines' learning-rate tuning and the evaluation
runs), the mean final log10 loss of the LSTM optimizer and of the tuned baseline with the
best mean on that variant, paired over seeds; every optimizer's per-run values, the tuned
learning rates and the meta-losses are in ``extra``. On a CPU the full suite runs
``configs/cpu.py`` (300 meta-steps), elsewhere ``configs/default.py``.
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


SEEDS = (0, 1, 2)


def write_artefacts(
    metrics: dict[int, dict],
    config,
    walls: dict[int, float],
    root=None,
    provenance: str = "",
) -> None:
    """Writes ``<variant>_final_log10_loss`` for every variant from per-seed metrics
    ``{seed: metrics of train.train_and_evaluate}`` (``provenance``: appended to the notes).

    A seed is one whole run (meta-training, the baselines' learning-rate tuning and the
    ``num_eval`` evaluation runs); its value is the mean final log10 loss over its evaluation
    runs, so the interval over seeds covers meta-training randomness. The baseline is the one
    tuned optimizer with the best mean over all seeds (the same on every seed); every
    optimizer's per-run values are in ``extra.per_eval``."""
    seeds = sorted(metrics)
    cfg = config.to_dict()
    cfg["seed"] = seeds
    for variant in config.variants:

        def per_seed(name, variant=variant):
            return [float(metrics[s][f"{variant}/{name}/final_log10_loss"]) for s in seeds]

        per = {n: per_seed(n) for n in config.baselines}
        best = min(per, key=lambda n: sum(per[n]))
        write_results(
            "lopt_digits",
            f"{variant}_final_log10_loss",
            {"best_baseline": per[best], "lstm": per_seed("LSTM")},
            seeds=seeds,
            config=cfg,
            wall_seconds=[walls[s] for s in seeds],
            metric=(
                f"log10 minibatch training loss at the last step, {variant} (mean over "
                f"{config.num_eval} evaluation runs per seed)"
            ),
            higher_is_better=False,
            baseline="best_baseline",
            labels={
                "best_baseline": f"{best} (best tuned baseline on the mean)",
                "lstm": f"LSTM ({config.estimator})",
            },
            source="",
            command=reproduce_command("lopt_digits", "full", seeds),
            extra={
                "baselines": per,
                "per_eval": {
                    str(s): {
                        n: metrics[s][f"{variant}/{n}/final_log10_values"]
                        for n in (*config.baselines, "LSTM")
                    }
                    for s in seeds
                },
                "tuned_lr": {n: [metrics[s][f"{n}/lr"] for s in seeds] for n in config.baselines},
                "meta_loss_first": [metrics[s]["meta_loss_first"] for s in seeds],
                "meta_loss_last": [metrics[s]["meta_loss_last"] for s in seeds],
                "meta_train_seconds": [metrics[s]["meta_train_seconds"] for s in seeds],
            },
            notes=(
                f"Paper: {PAPER[variant]}; no published numbers. Seed = one whole run: "
                f"meta-training ({config.meta_steps} meta-steps of {config.num_tasks} tasks), "
                f"the baselines' learning rates tuned on {config.num_tune} runs of the base "
                f"task, and {config.num_eval} evaluation runs (initialisation and batch "
                "order, the same for every optimizer of that seed); a seed's value is the "
                "mean over its evaluation runs, so the interval covers meta-training "
                "randomness. The baseline is the tuned optimizer with the best mean over all "
                "seeds' evaluation runs (picked on them, which favours it)."
                + (f" {provenance}" if provenance else "")
            ),
            root=root,
        )


def metrics_from_artefacts(root=None) -> tuple[dict[int, dict], dict[int, float]]:
    """Per-seed metrics and wall times rebuilt from the committed artefacts (the inverse of
    :func:`write_artefacts`), so seeds can be added without rerunning the others. Also reads
    the one-meta-training format written before (values over the evaluation runs of one
    seed, ``config.seed``)."""
    from experiments.reproduce.results import list_results, read_results

    metrics: dict[int, dict] = {}
    walls: dict[int, float] = {}
    for name in list_results("lopt_digits", root=root):
        rec = read_results("lopt_digits", name, root=root)
        variant = name.removesuffix("_final_log10_loss")
        ex = rec["extra"]
        if "per_eval" in ex:
            per_eval = {int(s): v for s, v in ex["per_eval"].items()}
            lrs, walls_ = ex["tuned_lr"], rec["wall_seconds"]
            first, last, meta_s = (
                ex["meta_loss_first"],
                ex["meta_loss_last"],
                ex["meta_train_seconds"],
            )
        else:  # one meta-training; the artefact's seeds were its evaluation runs
            seed = int(rec["config"]["seed"])
            per_eval = {seed: {**ex["baselines"], "LSTM": rec["values"]["lstm"]}}
            lrs = {n: [lr] for n, lr in ex["tuned_lr"].items()}
            walls_, first, last = (
                [rec["wall_seconds"]],
                [ex["meta_loss_first"]],
                [ex["meta_loss_last"]],
            )
            meta_s = [ex["meta_train_seconds"]]
        for i, (seed, vals) in enumerate(sorted(per_eval.items())):
            m = metrics.setdefault(seed, {})
            for n, v in vals.items():
                m[f"{variant}/{n}/final_log10_values"] = v
                m[f"{variant}/{n}/final_log10_loss"] = sum(v) / len(v)
            m.update({f"{n}/lr": lr[i] for n, lr in lrs.items()})
            m.update(meta_loss_first=first[i], meta_loss_last=last[i], meta_train_seconds=meta_s[i])
            walls[seed] = float(walls_[i])
    return metrics, walls


def _run(
    workdir: str, suite: str, seeds=None, *, keep=None, root=None, provenance: str = ""
) -> list[ResultRow]:
    """Runs ``seeds`` (one whole run each, in ``workdir/seed<k>``) and writes the artefacts
    under ``root`` (default: beside ``workdir``); ``keep``: per-seed metrics and wall times
    already run (:func:`metrics_from_artefacts`), written with the new seeds."""
    import jax

    from experiments.lopt_digits import train
    from experiments.lopt_digits.configs import cpu, default

    del suite  # full suite only
    seeds = tuple(seeds or SEEDS)
    metrics, walls = (dict(keep[0]), dict(keep[1])) if keep else ({}, {})
    for seed in seeds:
        config = (cpu if jax.default_backend() == "cpu" else default).get_config()
        config.seed = seed
        config.plot = seed == seeds[0]
        t = time.perf_counter()
        metrics[seed] = train.train_and_evaluate(config, os.path.join(workdir, f"seed{seed}"))
        walls[seed] = time.perf_counter() - t
        # The reproduce runner runs every experiment in this process: drop this run's compiled
        # programs (train_and_evaluate itself keeps them, so tests reuse them).
        jax.clear_caches()
    config.plot = True
    root = os.path.dirname(workdir) if root is None else root
    write_artefacts(metrics, config, walls, root=root, provenance=provenance)
    m = metrics[seeds[0]]
    rows = []
    for variant, *_ in train.VARIANTS:
        base = {n: m[f"{variant}/{n}/final_log10_loss"] for n in ("SGD", "RMSprop", "Adam", "NAG")}
        best = min(base, key=base.get)
        lstm = m[f"{variant}/LSTM/final_log10_loss"]
        rows.append(
            ResultRow(
                benchmark=f"digits MLP {variant}: LSTM vs best tuned baseline ({best})",
                metric=f"final log10 train loss (seed {seeds[0]}: mean ± std over evaluation runs)",
                ours=(
                    f"LSTM {lstm:.2f} ± {m[f'{variant}/LSTM/final_log10_std']:.2f} vs "
                    f"{best} {base[best]:.2f} ± {m[f'{variant}/{best}/final_log10_std']:.2f}"
                ),
                published=PAPER[variant],
                source="Andrychowicz et al. 2016 (MNIST)",
                plots=(f"seed{seeds[0]}/curves_{variant}.png",),
                notes=(
                    f"seed {seeds[0]}: LSTM {'beats' if lstm < base[best] else 'does NOT beat'} "
                    f"{best}; lrs " + ", ".join(f"{n} {m[n + '/lr']:g}" for n in base)
                ),
            )
        )
    return rows


def extend_seeds(workdir: str, new_seeds, root=None) -> list[int]:
    """Runs ``new_seeds`` (in ``workdir/seed<k>``) and rewrites the artefacts under ``root``
    (default: this repository's) with their seeds plus these; returns all seeds."""
    from experiments.reproduce.results import EXPERIMENTS_ROOT, read_results

    keep = metrics_from_artefacts(root=root)
    if set(new_seeds) & set(keep[0]):
        raise ValueError(
            f"new_seeds {list(new_seeds)} overlap the committed seeds {sorted(keep[0])}"
        )
    git = read_results("lopt_digits", "base_final_log10_loss", root=root)["git"]
    provenance = (
        f"Seeds {sorted(keep[0])} from the artefacts written at commit "
        f"{(git.get('commit') or '?')[:10]}, seeds {list(new_seeds)} run at this artefact's "
        "commit."
    )
    _run(
        workdir,
        "full",
        tuple(new_seeds),
        keep=keep,
        root=EXPERIMENTS_ROOT if root is None else root,
        provenance=provenance,
    )
    return sorted(set(keep[0]) | set(new_seeds))


EXPERIMENTS = [
    Experiment(
        name="lopt_digits",
        suites=("full",),
        run=_run,
        description="Learned LSTM optimizer on a digits MLP: 2x horizon, wider, ReLU",
    )
]
