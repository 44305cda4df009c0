"""Report rows of ``maml_omniglot`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

import os

from experiments.reproduce.registry import Experiment, ResultRow

PUBLISHED = {"5w1s": (98.7, 0.4), "5w5s": (99.9, 0.1), "20w1s": (95.8, 0.3), "20w5s": (98.9, 0.2)}
SOURCE = "Finn et al. 2017 Table 1 (RESULTS_FROM_PAPERS.md §3)"


def _row(m: dict, config, *, benchmark: str, published=None, source="", plots=()) -> ResultRow:
    return ResultRow(
        benchmark=benchmark,
        metric=f"test accuracy % ({config.eval_tasks} tasks, ±95%)",
        ours=f"{100 * m['test_accuracy']:.1f} ± {100 * m['test_accuracy_ci95']:.1f}",
        published=published,
        source=source,
        plots=tuple(plots),
        notes=(
            f"{int(m['iterations_done'])}/{config.num_iterations} meta-iterations in "
            f"{m['train_seconds']:.0f} s ({m['seconds_per_iteration']:.3f} s/it); seed "
            f"{config.seed}"
        ),
    )


def _run_digits(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.maml_omniglot import train
    from experiments.maml_omniglot.configs import digits_quick

    config = digits_quick.get_config()
    m = train.train_and_evaluate(config, workdir)
    return [
        _row(
            m,
            config,
            benchmark="Digits 5-way 1-shot (train 0-4 + rotations, test 5-9), MAML MLP",
            published=None,
            source="no published number; chance 20%",
            plots=("curve.png",),
        )
    ]


def _run_omniglot(workdir: str, suite: str) -> list[ResultRow]:
    import jax

    from experiments.maml_omniglot import train
    from experiments.maml_omniglot.configs import default

    on_cpu = jax.default_backend() == "cpu"
    default_budget = "900" if on_cpu else "0"
    budget = float(os.environ.get("JTRANSFER_OMNIGLOT_BUDGET_S", default_budget))
    runs = [
        ("5w1s", "maml"),
        ("5w1s", "fomaml"),
        ("5w1s", "reptile"),
        ("5w5s", "maml"),
        ("20w1s", "maml"),
        ("20w5s", "maml"),
    ]
    rows = []
    for variant, method in runs:
        config = default.get_config(variant)
        config.method = method
        config.max_train_seconds = budget
        out = os.path.join(workdir, f"{variant}_{method}")
        m = train.train_and_evaluate(config, out)
        pub, ci = PUBLISHED[variant]
        rows.append(
            _row(
                m,
                config,
                benchmark=f"Omniglot {variant} {method} (Conv4)",
                published=f"{pub} ± {ci}" if method == "maml" else None,
                source=SOURCE if method == "maml" else "paper reports MAML only on Omniglot",
                plots=(os.path.relpath(os.path.join(out, "curve.png"), workdir),),
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="maml_fewshot_digits",
        suites=("quick", "full"),
        run=_run_digits,
        description="MAML 5-way 1-shot on sklearn digits (quick classification check)",
    ),
    Experiment(
        name="maml_omniglot",
        suites=("full",),
        run=_run_omniglot,
        description="MAML / FOMAML / Reptile on Omniglot with Conv4 (paper protocol)",
    ),
]
