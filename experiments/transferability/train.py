"""Entry point of the transferability studies: ``train_and_evaluate(config, workdir)``."""

from __future__ import annotations

import json
import os
import time

import ml_collections
import numpy as np

from jtransfer import train

EXPERIMENTS = ("negative_transfer", "correlation", "model_selection", "logme_protocol")


def validate_config(config: ml_collections.ConfigDict) -> None:
    train.validate_config(
        config,
        choices={"experiment": EXPERIMENTS},
        min_ints={"num_folds": 2, "steps": 2},
        positive=("l2",),
        intervals={"confidence": (0, 1, "()")},
    )
    if not config.seeds:
        raise ValueError("config.seeds must be non-empty")
    if config.experiment == "logme_protocol":
        from experiments.transferability.logme_protocol import ZOO_BY_NAME

        train.validate_config(
            config,
            choices={"data": ("mnist", "sklearn")},
            min_ints={"n_train": 10, "finetune_steps": 1, "pretrain_steps": 1},
            intervals={"val_fraction": (0, 1, "()")},
        )
        unknown = [m for m in config.zoo if m not in ZOO_BY_NAME]
        if len(config.zoo) < 3 or unknown:
            raise ValueError(
                f"config.zoo must name >= 3 models of {sorted(ZOO_BY_NAME)}; got {config.zoo}"
            )
        if not config.logme_seeds or not config.finetune_lrs or not config.finetune_wds:
            raise ValueError("config.logme_seeds, finetune_lrs and finetune_wds must be non-empty")
    if config.experiment in ("correlation", "model_selection"):
        from experiments.transferability.realdata import check_shifts

        check_shifts(config)
    for n in config.n_labelled:
        if not isinstance(n, int) or n < 2 * config.num_folds:
            raise ValueError(f"config.n_labelled entries must be ints >= 2*num_folds, got {n!r}")


def _negative_transfer(config, workdir) -> dict:
    from experiments.transferability import negative
    from experiments.transferability.common import make_mesh

    mesh = make_mesh(config)
    out: dict = {}
    all_rows = []
    for n_l in config.n_labelled:
        cases = [(case, seed) for case in negative.CASES for seed in config.seeds]
        rows = [
            negative.run_case(
                case,
                seed,
                n_labelled=n_l,
                num_folds=config.num_folds,
                l2=config.l2,
                steps=config.steps,
                confidence=config.confidence,
                mesh=mesh,
            )
            for case, seed in train.progress(cases, desc=f"negative transfer n={n_l}")
        ]
        all_rows += rows
        for k, v in negative.summarise(rows).items():
            out[f"n{n_l}/{k}"] = v
        if config.plot:
            negative.plot(rows, os.path.join(workdir, f"negative_transfer_n{n_l}.png"))
    with open(os.path.join(workdir, "negative_transfer_cases.json"), "w") as f:
        json.dump(all_rows, f, indent=1, default=float)
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs ``config.experiment``; writes JSON (and PNG) results under ``workdir``, and its
    config record, ``metrics.jsonl`` (one row, step 0) and TensorBoard events under
    ``workdir/<experiment>`` (so the three studies can share a workdir)."""
    validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    # no checkpoints: a rerun recomputes the study and writes its row again
    run = train.Run(
        os.path.join(workdir, config.experiment), config=config, exempt=("plot",), save_every=None
    )
    t0 = time.perf_counter()
    if config.experiment == "negative_transfer":
        metrics = _negative_transfer(config, workdir)
    elif config.experiment == "logme_protocol":
        from experiments.transferability import logme_protocol

        metrics = logme_protocol.run(config, workdir)
    else:
        from experiments.transferability import realdata

        metrics = realdata.run(config, workdir)
    metrics["seconds"] = time.perf_counter() - t0
    with open(os.path.join(workdir, f"{config.experiment}_metrics.json"), "w") as f:
        json.dump(
            {
                k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
                for k, v in metrics.items()
            },
            f,
            indent=1,
        )
    run.write(
        0,
        {
            k: v
            for k, v in metrics.items()
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
        },
    )
    run.close()
    return metrics
