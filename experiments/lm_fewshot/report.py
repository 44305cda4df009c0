"""Report rows and results artefacts of ``lm_fewshot`` (discovered by ``experiments.reproduce``).

One artefact per K, ``results/accuracy_{K}shot.json``: the query accuracy of every test
episode per method. The artefact's ``seeds`` are the **test episode indices** (the same
episodes for every method), so the table's intervals are paired 95% t-intervals over
episodes against fine-tuning from the multi-task adapter (``ft_multitask``). The meta-learners
are meta-trained once (``config.seed``); seed-to-seed variation of meta-training is not in
these intervals (README).
"""

from __future__ import annotations

import os

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results

NAMES = {
    "maml": "MAML (second order)",
    "fomaml": "first-order MAML",
    "anil": "ANIL (head-only inner loop)",
    "reptile": "Reptile",
    "metasgd": "Meta-SGD",
    "ft_multitask": "fine-tune from the multi-task adapter",
    "ft_scratch": "fine-tune from scratch",
    "prototype": "nearest class mean (frozen features)",
}


def ci95(v) -> tuple[float, float]:
    """(mean, half-width) of the normal 95% interval of a mean (ddof = 1)."""
    v = np.asarray(v, float)
    return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(len(v)))


def write_artefacts(out: dict, config, suite: str, root=None) -> None:
    cfg = config.to_dict()
    ntrain = config.max_train_per_domain or "all"
    for k, acc in out["acc"].items():
        n = len(next(iter(acc.values())))
        cis = "; ".join(
            f"{m} {100 * ci95(v)[0]:.1f} ± {100 * ci95(v)[1]:.1f}" for m, v in acc.items()
        )
        write_results(
            "lm_fewshot",
            f"accuracy_{k}shot",
            {m: [100 * x for x in v] for m, v in acc.items()},
            seeds=list(range(n)),
            config=cfg,
            wall_seconds={m: out["seconds"][f"{m}/{k}"] for m in acc},
            metric=f"2-way {k}-shot query accuracy on unseen domains (%)",
            higher_is_better=True,
            baseline="ft_multitask" if "ft_multitask" in acc else None,
            labels=NAMES,
            digits=1,
            notes=f"'seeds' are the {n} test episodes ({n // len(config.meta_test)} from each "
            f"of {', '.join(config.meta_test)}; the same for every method): 'n seeds' counts "
            f"episodes and the paired interval is over episodes (one meta-training run, seed "
            f"{config.seed}). Mean ± 95% half-width per method: {cis}. Frozen MiniLM, hidden "
            f"state {out['layer']} (validation probes on the meta-training domains: "
            f"{out['probe_val_err']}) of the first {config.max_length} tokens; adapter rank "
            f"{config.rank}; {ntrain} train lines per meta-training domain; "
            f"{config.meta_steps} meta-steps of {config.episodes_per_domain} episodes per "
            f"meta-training domain, {config.inner_steps} inner steps (test: "
            f"{config.test_steps}), inner rate {config.inner_lr}.",
            command=reproduce_command("lm_fewshot", suite),
            root=root,
        )


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    from experiments.lm_fewshot import train
    from experiments.lm_fewshot.configs import default

    config = default.get_config()
    if seeds:
        config.seed = int(seeds[0])
    out = train.train_and_evaluate(config, workdir)
    write_artefacts(out, config, suite, root=os.path.dirname(workdir))
    rows = []
    for k, acc in out["acc"].items():
        for m, v in acc.items():
            mean, half = ci95(v)
            rows.append(
                ResultRow(
                    benchmark=f"FDU-MTL unseen domains, 2-way {k}-shot: {NAMES.get(m, m)}",
                    metric="query accuracy (%) ± 95% half-width over episodes",
                    ours=f"{100 * mean:.1f} ± {100 * half:.1f}",
                )
            )
    return rows


EXPERIMENTS = [
    Experiment(
        name="lm_fewshot",
        suites=("full",),
        run=_run,
        description="FDU-MTL few-shot on 4 unseen domains: MAML, FOMAML, ANIL, Reptile, "
        "Meta-SGD over adapters vs fine-tuning and nearest class mean",
    )
]
