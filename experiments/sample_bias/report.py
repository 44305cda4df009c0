"""Report rows of ``sample_bias`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

import os

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results
from experiments.reproduce.stats import mean_std_text

SEEDS = (0, 1, 2, 3, 4)
PUBLISHED = {"source_only": 0.248, "kmm": 0.162, "kliep": 0.108}
LABELS = {
    "source_only": "source only",
    "kmm": "KMM (γ = 0.1)",
    "kliep": "KLIEP (σ by likelihood CV)",
    "ulsif": "uLSIF ((σ, λ) by analytic LOO)",
    "classifier": "domain-classifier ratio",
    "true_ratio": "IW-MLP with the true ratio q/p (oracle weights, reference)",
}


SOURCE = (
    "ADAPT docs 'Sample bias' notebook (adapt-python/adapt, src_docs/examples/"
    "sample_bias.ipynb), one run per method (RESULTS_FROM_PAPERS.md §5)"
)


def adapt_check_note(root=None) -> str:
    """The sentence on ADAPT's own draw, with its numbers from the committed
    ``experiments/sample_bias/results/adapt_check.json``
    (written by ``scripts/sample_bias_adapt_check.py``), or a pointer when it is missing."""
    from experiments.reproduce.results import read_results

    try:
        rec = read_results("sample_bias", "adapt_check", root=root)
    except FileNotFoundError:
        return "see scripts/sample_bias_adapt_check.py for the same network on that draw."
    x = rec["values"]["sklearn"]
    return (
        f"scikit-learn {rec['extra']['sklearn_version']} on that draw gives source-only "
        f"{rec['extra']['adapt_notebook_mae']:.3f}"
        + (" exactly" if round(rec["extra"]["adapt_notebook_mae"], 3) == 0.248 else "")
        + f", and {np.mean(x):.3f} ± {np.std(x, ddof=1):.3f} over {len(x)} other "
        "initialisations of the same network on the same data "
        "(scripts/sample_bias_adapt_check.py, results/adapt_check.json)."
    )


def write_artefacts(adapt_runs, our_runs, seeds, suite, adapt_config, our_config, root=None):
    """The two artefacts: ``adapt_network`` (ADAPT's MLPRegressor protocol, the headline)
    and ``our_network`` (our longer-trained network, an extra); ``_quick`` suffix for the
    quick suite."""
    from experiments.sample_bias import train

    suffix = "" if suite == "full" else "_quick"
    common = dict(
        seeds=seeds,
        higher_is_better=False,
        baseline="source_only",
        labels=LABELS,
        source=SOURCE,
        command=reproduce_command("sample_bias", suite, seeds),
        digits=3,
        root=root,
    )
    for name, runs, config, notes in (
        (
            "adapt_network",
            adapt_runs,
            adapt_config,
            "ADAPT's network and training for every method (configs/adapt.py): scikit-learn's "
            "MLPRegressor((100, 100)) defaults re-implemented in JAX (ReLU; weights and biases "
            "uniform ±√(6/(fan_in+fan_out)); Adam 1e-3, one full batch per epoch, ≤ 200 "
            "epochs, sklearn's tol 1e-4 / 10-epoch stop; L2 1e-4); weighted methods fit a "
            "bootstrap resample drawn ∝ the weights, as ADAPT did for estimators without "
            "sample_weight. Seed = data draw, initialisation and resample. The published "
            "numbers are one run on ADAPT's own draw (np.random.seed(0)); " + adapt_check_note(),
        ),
        (
            "our_network",
            our_runs,
            our_config,
            "Our stronger network (extra rows, configs/default.py): Flax MLP(100, 100), 2000 "
            "full-batch Adam steps on the importance-weighted MSE (weights in the loss, no "
            "resampling). It fits the source so well that re-weighting has little left to "
            "correct.",
        ),
    ):
        values = {m: [r[f"{m}_mae"] for r in runs] for m in train.METHODS}
        extra = {
            "ess": {m: [r[f"{m}_ess"] for r in runs] for m in train.METHODS},
            "n_iter": {m: [r.get(f"{m}_n_iter") for r in runs] for m in train.METHODS},
        }
        write_results(
            "sample_bias",
            name + suffix,
            values,
            config=config,
            wall_seconds=[r["train_seconds"] + r["weights_seconds"] for r in runs],
            metric="target MAE",
            published=PUBLISHED,
            notes=notes,
            extra=extra,
            **common,
        )


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    from experiments.sample_bias import train
    from experiments.sample_bias.configs import adapt, default, quick

    seeds = tuple(seeds or SEEDS)
    runs, adapt_runs = [], []
    for seed in seeds:
        config = (quick if suite == "quick" else default).get_config()
        config.seed, config.plot = seed, seed == seeds[0]
        runs.append(train.train_and_evaluate(config, os.path.join(workdir, f"seed{seed}")))
        a_config = adapt.get_config()
        a_config.seed, a_config.plot = seed, False
        adapt_runs.append(
            train.train_and_evaluate(a_config, os.path.join(workdir, f"adapt_seed{seed}"))
        )
    a_config.seed = config.seed = -1  # the artefact records the seeds separately
    write_artefacts(adapt_runs, runs, seeds, suite, a_config, config, os.path.dirname(workdir))
    plot = os.path.join(f"seed{seeds[0]}", "sample_bias.png")
    rows = []
    for m in train.METHODS:
        maes = [r[f"{m}_mae"] for r in runs]
        ess = np.mean([r[f"{m}_ess"] for r in runs])
        rows.append(
            ResultRow(
                benchmark=f"1-D sample bias, MLP(100,100): {LABELS[m]}",
                metric="target MAE",
                ours=mean_std_text(maes, 3),
                published=PUBLISHED.get(m),
                source="ADAPT docs 'Sample bias' (RESULTS_FROM_PAPERS.md §5)"
                if m in PUBLISHED
                else "",
                plots=(plot,) if m == "source_only" else (),
                notes=f"our network; seeds {list(seeds)}, per-seed {[round(x, 3) for x in maes]}, ESS {ess:.0f}/100,"  # noqa: E501
                f" {np.mean([r['train_seconds'] for r in runs]):.1f} s/seed (all methods)",
            )
        )
    for m in train.METHODS:
        maes = [r[f"{m}_mae"] for r in adapt_runs]
        rows.append(
            ResultRow(
                benchmark=f"1-D sample bias, ADAPT's MLPRegressor protocol: {LABELS[m]}",
                metric="target MAE",
                ours=mean_std_text(maes, 3),
                published=PUBLISHED.get(m),
                source=SOURCE if m in PUBLISHED else "",
                notes=f"seeds {list(seeds)}, per-seed {[round(x, 3) for x in maes]}",
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="sample_bias",
        suites=("quick", "full"),
        run=_run,
        description="1-D covariate-shift regression: source-only vs KMM, KLIEP, uLSIF, "
        "classifier ratio (ADAPT protocol)",
    )
]
