"""Report rows of ``transferability`` for ``python -m experiments.reproduce`` (discovered there)."""

from __future__ import annotations

from experiments.reproduce.registry import Experiment, ResultRow


def _run_negative(workdir: str, suite: str) -> list[ResultRow]:
    from experiments.transferability import train
    from experiments.transferability.configs import default, quick

    config = (quick if suite == "quick" else default).get_config()
    m = train.train_and_evaluate(config, workdir)
    rows = []
    for n_l in config.n_labelled:
        p = f"n{n_l}/"
        per_case = ", ".join(
            f"{c} {m[p + c + '/flag_rate']:.2f}"
            for c in (
                "label_permuted",
                "feature_permuted",
                "label_shift",
                "same",
                "noise",
                "contrast",
            )
        )
        common = dict(
            benchmark=f"Negative-transfer detector, sklearn digits, {n_l} labelled target examples",
            source="protocol ours (no published number)",
            plots=(f"negative_transfer_n{n_l}.png",),
        )
        rows.append(
            ResultRow(
                metric="hit rate (flagged, given truly negative)",
                ours=m[p + "hit_rate"],
                notes=f"{int(m[p + 'num_truly_negative'])}/"
                f"{int(m[p + 'num_cases'])} cases truly negative; "
                f"flag rate per case: {per_case}",
                **common,
            )
        )
        rows.append(
            ResultRow(
                metric="false-alarm rate (flagged, given truly positive)",
                ours=m[p + "false_alarm_rate"],
                notes=f"seeds {list(config.seeds)}; 95% paired normal CI",
                **common,
            )
        )
    return rows


def _run_correlation(workdir: str, suite: str) -> list[ResultRow]:
    return correlation_rows(workdir)


def _run_selection(workdir: str, suite: str) -> list[ResultRow]:
    return selection_rows(workdir)


def _run_study(workdir: str, experiment: str) -> dict:
    from experiments.transferability import train
    from experiments.transferability.configs import default

    config = default.get_config()
    config.experiment = experiment
    return train.train_and_evaluate(config, workdir)


def correlation_rows(workdir: str) -> list[ResultRow]:
    from experiments.transferability.realdata import DOMAINS, SCORES

    m = _run_study(workdir, "correlation")
    rows = []
    targets = sorted({k.split("/")[1] for k in m if k.endswith("/spearman")})
    for dataset in DOMAINS:
        for target in targets:
            keys = [f"{dataset}/{target}/{s}/spearman" for s in SCORES]
            if keys[0] not in m:
                continue
            best = max(SCORES, key=lambda s: m[f"{dataset}/{target}/{s}/spearman"])
            allv = ", ".join(
                f"{s} {m[f'{dataset}/{target}/{s}/spearman']:+.2f}/"
                f"{m[f'{dataset}/{target}/{s}/kendall']:+.2f}"
                for s in SCORES
            )
            rows.append(
                ResultRow(
                    benchmark=f"{dataset}, 12 shifts, vs {target.removeprefix('acc_')} accuracy "
                    f"(mean {m[f'{dataset}/{target}/mean']:.3f})",
                    metric=f"best Spearman ({best})",
                    ours=m[f"{dataset}/{target}/{best}/spearman"],
                    published="goal ≥ 0.6",
                    source="issue 9 goal",
                    plots=(f"correlation_{dataset}.png",),
                    notes=f"Spearman/Kendall per score: {allv}",
                )
            )
    return rows


def selection_rows(workdir: str) -> list[ResultRow]:
    from experiments.transferability.realdata import CRITERIA, DOMAINS

    m = _run_study(workdir, "model_selection")
    rows = []
    for dataset in DOMAINS:
        for crit in CRITERIA:
            k = f"{dataset}/{crit}/mean_acc"
            if k in m:
                rows.append(
                    ResultRow(
                        benchmark=f"{dataset}, 12 shifts, model selection",
                        metric=f"mean target acc of the model chosen by {crit}"
                        + (" (ORACLE, uses target labels)" if crit == "oracle" else ""),
                        ours=m[k],
                        source="protocol ours",
                        notes=f"table: model_selection_{dataset}.md",
                    )
                )
    return rows


EXPERIMENTS = [
    Experiment(
        name="negative_transfer",
        suites=("quick", "full"),
        run=_run_negative,
        description="Negative-transfer detection (digits): hit and false-alarm rates",
    ),
    Experiment(
        name="transferability_correlation",
        suites=("full",),
        run=_run_correlation,
        description="Transferability scores vs transfer accuracy, Office-Caltech10 "
        "and Amazon (12 shifts each): Spearman / Kendall",
    ),
    Experiment(
        name="model_selection",
        suites=("full",),
        run=_run_selection,
        description="Label-free model selection (DomainBed style) on Office-Caltech10 and Amazon",
    ),
]
