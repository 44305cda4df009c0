"""Report rows of ``office_caltech`` for ``python -m experiments.reproduce`` (discovered there).

Writes the results artefacts (issue #22: no hand-typed result in the README):

* ``results/coral_all_source.json``: the all-source protocol (the paper's Table 3), NA and CORAL
  + linear SVM, mean over the 12 shifts. Deterministic, so one value per method (seed 0).
* ``results/coral_sampled.json``: the sampled protocol (Table 1), one value per **trial** (the
  mean over the 12 shifts of trial ``i``; trial ``i`` of every shift draws its source sample
  from ``default_rng(config.seed)``), so the paired gain of CORAL over NA has a t interval over
  the trials.
* ``results/mlp_selected.json`` / ``results/mlp_oracle.json``: the MLP methods (all-source
  protocol), per seed, with λ chosen label-free (selected) or on the target labels (oracle,
  an extra column only), paired against the source-only MLP.

Each artefact's notes hold the per-shift table (ours beside the published values) and its
``extra`` the per-shift values, so nothing in the README is typed by hand.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from experiments.reproduce.registry import Experiment, ResultRow
from experiments.reproduce.results import reproduce_command, write_results
from experiments.reproduce.stats import mean_std_text

SEEDS = (0, 1, 2, 3, 4)  # of the MLP methods (the closed form uses config.seed only)
SHIFT_ORDER = ("C→A", "C→D", "C→W", "A→C", "A→D", "A→W", "D→C", "D→A", "D→W", "W→C", "W→A", "W→D")
# Sun, Feng & Saenko, AAAI 2016, per shift (RESULTS_FROM_PAPERS.md §1): Table 1 (sampled
# protocol, 20 trials) and Table 3 (all source); NA = no adaptation, linear SVM.
PUBLISHED_SHIFTS = {
    "sampled": {
        "NA": {
            "A→C": 35.8, "A→D": 33.1, "A→W": 24.9, "C→A": 43.7, "C→D": 39.4, "C→W": 30.0,
            "D→A": 26.4, "D→C": 27.1, "D→W": 56.4, "W→A": 32.3, "W→C": 25.7, "W→D": 78.9,
        },
        "CORAL": {
            "A→C": 40.3, "A→D": 38.3, "A→W": 38.7, "C→A": 47.2, "C→D": 40.7, "C→W": 39.2,
            "D→A": 38.1, "D→C": 34.2, "D→W": 85.9, "W→A": 37.8, "W→C": 34.6, "W→D": 84.9,
        },
    },
    "all": {
        "NA": {
            "A→C": 41.7, "A→D": 44.6, "A→W": 31.9, "C→A": 53.1, "C→D": 47.8, "C→W": 41.7,
            "D→A": 26.2, "D→C": 26.4, "D→W": 52.5, "W→A": 27.6, "W→C": 21.2, "W→D": 78.3,
        },
        "CORAL": {
            "A→C": 45.1, "A→D": 39.5, "A→W": 44.4, "C→A": 52.1, "C→D": 45.9, "C→W": 46.4,
            "D→A": 37.7, "D→C": 33.8, "D→W": 84.7, "W→A": 36.0, "W→C": 33.7, "W→D": 86.6,
        },
    },
}  # fmt: skip
PUBLISHED = {  # the papers' averages over the 12 shifts (their AVG rows)
    ("sampled", "NA"): 37.8,
    ("sampled", "CORAL"): 46.7,
    ("all", "NA"): 41.1,
    ("all", "CORAL"): 48.8,
}
TABLE = {"sampled": "Table 1", "all": "Table 3"}
MLP_NAMES = {"source_only": "source only", "mmd": "MMD", "coral": "Deep CORAL", "dann": "DANN"}


def _shift_table(rows: dict[str, dict[str, float]], shifts) -> str:
    """A Markdown table, one row per label, one column per shift, then the average."""
    shifts = [s for s in SHIFT_ORDER if s in shifts]
    lines = [
        "| | " + " | ".join(shifts) + " | avg |",
        "|---" * (len(shifts) + 2) + "|",
    ]
    for label, per in rows.items():
        vals = [per[s] for s in shifts]
        lines.append(
            f"| {label} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {np.mean(vals):.1f} |"
        )
    return "\n".join(lines)


def write_closed_form_artefacts(out: dict, config, wall: float, root=None) -> None:
    """Writes ``coral_all_source`` and ``coral_sampled`` from ``train.train_and_evaluate``'s
    metrics with both protocols (``root`` None: the committed ``results/``)."""
    shifts = list(config.shifts)
    cfg = config.to_dict()
    cfg.pop("mlp", None)
    cfg["deep_methods"] = ()
    command = reproduce_command("office_caltech", "full")
    source = "Sun, Feng & Saenko, AAAI 2016, {} (RESULTS_FROM_PAPERS.md §1)"
    prep = (
        "Features: L1 row normalisation, then every feature z-scored within its own domain "
        "(the CORAL authors' code), for NA and CORAL alike; linear SVM, C by 2-fold source "
        "cross-validation over {1e-3, …, 1e4}; CORAL ε = 1. Which normalisation the paper's "
        "NA used is not stated (see `normalisation`)."
    )
    for proto, name in (("all", "coral_all_source"), ("sampled", "coral_sampled")):
        per_shift = {m: {s: out[f"{proto}/{m}/{s}"] for s in shifts} for m in ("NA", "CORAL")}
        table = _shift_table(
            {
                "NA ours": per_shift["NA"],
                "NA published": PUBLISHED_SHIFTS[proto]["NA"],
                "CORAL ours": per_shift["CORAL"],
                "CORAL published": PUBLISHED_SHIFTS[proto]["CORAL"],
            },
            shifts,
        )
        if proto == "all":
            values = {m: [float(np.mean(list(per_shift[m].values())))] for m in per_shift}
            seeds = [int(config.seed)]
            unit = (
                "Deterministic (no random choice; one value per method, so no interval): "
                "all source images of each domain."
            )
            extra = {"per_shift": per_shift}
        else:
            trials = {
                m: np.array([out[f"sampled/{m}/{s}/trials"] for s in shifts]) for m in per_shift
            }
            values = {m: t.mean(0).tolist() for m, t in trials.items()}  # per trial: mean of shifts
            seeds = list(range(int(config.num_trials)))
            unit = (
                f"Per trial, 20 source images per class (8 from D or W), all target images; "
                f"the 'seeds' are the {config.num_trials} trials (drawn with "
                f"`default_rng({config.seed})` per shift), each value the trial's mean over the "
                f"12 shifts; NA and CORAL share each trial's sample (paired)."
            )
            extra = {
                "per_shift": per_shift,
                "per_shift_trials": {m: dict(zip(shifts, t.tolist())) for m, t in trials.items()},
            }
        write_results(
            "office_caltech",
            name,
            values,
            seeds=seeds,
            config=cfg,
            wall_seconds=wall,
            metric=f"mean target accuracy over the 12 shifts (%), {TABLE[proto]} protocol",
            baseline="NA",
            published={m: PUBLISHED[(proto, m)] for m in ("NA", "CORAL")},
            labels={"NA": "NA (no adaptation)", "CORAL": "CORAL"},
            source=source.format(TABLE[proto]),
            notes=f"{unit} {prep} Per shift (%):\n\n{table}",
            command=command,
            digits=1,
            extra=extra,
            root=root,
        )


def write_mlp_artefacts(
    runs: dict[int, dict],
    config,
    walls: dict[int, float],
    root=None,
    *,
    provenance: str = "",
    command: str | None = None,
    wall_extra: dict | None = None,
):
    """Writes ``mlp_selected`` and ``mlp_oracle`` from per-seed metrics of
    ``train.train_and_evaluate`` with ``protocols = ()`` (``root`` None: committed).

    ``provenance`` (how the seeds were made, e.g. merged from an earlier artefact) goes into
    the notes, ``command`` replaces the default regenerating command, and ``wall_extra`` is
    added to ``wall_seconds`` beside ``per_seed``."""
    seeds = sorted(runs)
    shifts = list(config.shifts)
    methods = list(config.deep_methods)
    cfg = config.to_dict()
    cfg["seed"], cfg["protocols"] = seeds, ()
    command = command or reproduce_command("office_caltech", "full", seeds)
    per = {
        kind: {
            m: {s: [runs[seed][f"all/{m}/{s}{suffix}"] for seed in seeds] for s in shifts}
            for m in methods
        }
        for kind, suffix in (("selected", ""), ("oracle", "/oracle"))
    }
    lam = {
        m: {s: [runs[seed][f"all/{m}/{s}/lam"] for seed in seeds] for s in shifts} for m in methods
    }
    secs = {
        m: [[runs[seed][f"all/{m}/{s}/seconds"] for s in shifts] for seed in seeds] for m in methods
    }
    proto = (
        f"MLP (one hidden layer of {config.mlp.hidden[0]}), all-source protocol, features as "
        f"the CORAL rows (L1, per-domain z); {config.mlp.num_steps} Adam steps, batch "
        f"{config.mlp.batch_size}; λ ∈ {list(config.lam_grid)} (source only: no λ). Seed = "
        "initialisation, batches and the 20 % source validation split."
    )
    how = {
        "selected": "λ chosen per shift and seed by importance-weighted accuracy on the held-out "
        "20 % of the source (no target label). The logistic domain classifier (C = 0.01) is "
        "fitted on the per-domain z-scored features and finds nothing there (all weights 1, "
        "see 'Label-free selection' in the README), so this is in effect plain source-"
        "validation accuracy.",
        "oracle": "Extra column, NOT label-free: λ chosen per shift and seed by the target "
        "test accuracy itself (an upper bound of any λ selection).",
    }
    for kind in ("selected", "oracle"):
        values = {
            m: [float(np.mean([per[kind][m][s][i] for s in shifts])) for i in range(len(seeds))]
            for m in methods
        }
        table = _shift_table(
            {MLP_NAMES[m]: {s: float(np.mean(per[kind][m][s])) for s in shifts} for m in methods},
            shifts,
        )
        write_results(
            "office_caltech",
            f"mlp_{kind}",
            values,
            seeds=seeds,
            config=cfg,
            wall_seconds={"per_seed": [walls[seed] for seed in seeds], **(wall_extra or {})},
            metric=f"mean target accuracy over the 12 shifts (%), MLP, {kind} λ",
            baseline="source_only",
            published={},
            labels=MLP_NAMES,
            source="",
            notes=f"{proto} {how[kind]} No published MLP number exists on these SURF features "
            f"(compare with the CORAL rows). {provenance + ' ' if provenance else ''}"
            f"Per shift, mean over the seeds (%):\n\n{table}",
            command=command,
            digits=1,
            extra={"per_shift": per[kind], "lam": lam, "seconds_per_shift": secs}
            if kind == "selected"
            else {"per_shift": per[kind]},
            root=root,
        )


def mlp_runs_from_artefacts(config, root=None) -> tuple[dict[int, dict], dict[int, float], dict]:
    """``(runs, walls, git)`` rebuilt from the committed ``mlp_selected`` / ``mlp_oracle``
    artefacts (the inverse of :func:`write_mlp_artefacts`): per seed the keys
    ``all/<method>/<shift>`` (selected λ), ``.../oracle``, ``.../lam`` and ``.../seconds``."""
    from experiments.reproduce.results import read_results

    sel = read_results("office_caltech", "mlp_selected", root=root)
    orc = read_results("office_caltech", "mlp_oracle", root=root)
    if sel["seeds"] != orc["seeds"]:
        raise ValueError(f"mlp_selected seeds {sel['seeds']} != mlp_oracle seeds {orc['seeds']}")
    runs: dict[int, dict] = {}
    for i, seed in enumerate(sel["seeds"]):
        r = {}
        for m in config.deep_methods:
            for j, s in enumerate(config.shifts):
                r[f"all/{m}/{s}"] = sel["extra"]["per_shift"][m][s][i]
                r[f"all/{m}/{s}/oracle"] = orc["extra"]["per_shift"][m][s][i]
                r[f"all/{m}/{s}/lam"] = sel["extra"]["lam"][m][s][i]
                r[f"all/{m}/{s}/seconds"] = sel["extra"]["seconds_per_shift"][m][i][j]
        runs[int(seed)] = r
    walls = dict(zip(sel["seeds"], sel["wall_seconds"]["per_seed"]))
    return runs, walls, sel["git"]


def _mlp_mismatches(new: dict, old: dict, config) -> list[str]:
    """The keys (selected, oracle and λ of every method and shift) where two runs of one seed
    differ, with both values; empty when they are identical."""
    return [
        f"{k}: {old[k]!r} then, {new[k]!r} now"
        for m in config.deep_methods
        for s in config.shifts
        for k in (f"all/{m}/{s}", f"all/{m}/{s}/oracle", f"all/{m}/{s}/lam")
        if new[k] != old[k]
    ]


def extend_mlp(
    workdir: str, new_seeds, *, check_seed: int = 0, root=None, ran_at: str | None = None
) -> list[int]:
    """Adds ``new_seeds`` to the committed MLP artefacts without rerunning the closed form.

    Reruns ``check_seed`` (one of the committed seeds) first, in a fresh folder, at this
    commit. If every per-shift value (selected λ's accuracy, oracle accuracy and λ) equals the
    committed one exactly, the committed seeds are kept and ``new_seeds`` are run and merged;
    otherwise the committed seeds are discarded and every seed (committed and new) is rerun.
    The artefacts are rewritten after every seed, and their notes say how they were made.

    ``ran_at`` (a commit): run nothing; read the ``results.json`` that an earlier call wrote in
    ``workdir`` at that commit (the seeds that finished before it was stopped; wall time per
    seed = the sum of its per-shift seconds) and write the artefacts from them.

    Returns:
      The seeds in the artefacts written last.
    """
    from experiments.office_caltech import train
    from experiments.office_caltech.configs import default

    def config_for(seed):
        c = default.get_config()
        c.seed, c.protocols = seed, ()
        return c

    def run(seed, folder):
        path = os.path.join(workdir, folder)
        if ran_at is None:
            t = time.perf_counter()
            out = train.train_and_evaluate(config_for(seed), path)
            return out, time.perf_counter() - t
        if not os.path.exists(os.path.join(path, "results.json")):
            return None, None
        with open(os.path.join(path, "results.json")) as f:
            out = json.load(f)
        secs = [v for k, v in out.items() if k.endswith("/seconds")]
        return out, float(sum(secs))

    config = config_for(check_seed)
    old, old_walls, git = mlp_runs_from_artefacts(config, root)
    if check_seed not in old or set(new_seeds) & set(old):
        raise ValueError(
            f"check_seed {check_seed} must be and new_seeds {list(new_seeds)} must not be among "
            f"the committed seeds {sorted(old)}"
        )
    rerun, check_wall = run(check_seed, f"mlp_check_seed{check_seed}")
    if rerun is None:
        raise FileNotFoundError(f"no results.json of the seed-{check_seed} check in {workdir}")
    bad = _mlp_mismatches(rerun, old[check_seed], config)
    old_commit = (git or {}).get("commit") or "unknown"
    here = "this artefact's commit" if ran_at is None else f"commit {ran_at[:10]}"
    args = f"--seeds {','.join(map(str, new_seeds))} --check_seed {check_seed}"
    if not bad:
        runs, walls = dict(old), dict(old_walls)
        todo = list(new_seeds)
        how = (
            f"How these seeds were made: seeds {sorted(old)} are those of the artefact written "
            f"at commit {old_commit[:10]}; seed {check_seed} was rerun at {here} first and "
            f"reproduced every per-shift value (selected and oracle accuracy, λ) of that "
            f"artefact exactly (rerun {check_wall:.0f} s), so they were kept"
        )
        print(f"[office_caltech] seed {check_seed} reproduced exactly; merging", flush=True)
    else:
        runs, walls = {check_seed: rerun}, {check_seed: check_wall}
        todo = sorted(set(old) - {check_seed}) + list(new_seeds)
        how = (
            f"How these seeds were made: a rerun of seed {check_seed} did not reproduce the "
            f"artefact of commit {old_commit[:10]} ({len(bad)} per-shift values differ, e.g. "
            f"{bad[0]}), so every seed was rerun at {here}"
        )
        print(f"[office_caltech] seed {check_seed} differs ({len(bad)}): {bad[:3]}", flush=True)
    command = (
        f"python -m experiments.office_caltech.extend_mlp {args} && "
        "python -m experiments.reproduce tables (from scratch: "
        + reproduce_command("office_caltech", "full", sorted(set(runs) | set(todo)))
        + ")"
    )
    extra = {"check_rerun": {str(check_seed): check_wall}}
    done = []
    for seed in todo:
        out, wall = run(seed, f"mlp_seed{seed}")
        if out is None:
            break
        runs[seed], walls[seed] = out, wall
        done.append(seed)
        print(f"[office_caltech] seed {seed}: {wall:.0f} s", flush=True)
        left = [s for s in todo if s not in done]
        provenance = (
            f"{how}; seeds {done} were run at {here} (closed form not rerun)"
            + (f"; seeds {left} were not reached" if left else "")
            + (
                "; the runs' `results.json` were collected into this artefact at its commit "
                "(wall per seed: the sum of its per-shift seconds)"
                if ran_at is not None
                else ""
            )
            + "."
        )
        write_mlp_artefacts(
            runs,
            config_for(seed),
            walls,
            root,
            provenance=provenance,
            command=command,
            wall_extra=extra,
        )
    return sorted(runs)


def _run(workdir: str, suite: str, seeds=None) -> list[ResultRow]:
    from experiments.office_caltech import train
    from experiments.office_caltech.configs import default

    del suite
    seeds = tuple(seeds or SEEDS)
    root = os.path.dirname(workdir)
    config = default.get_config()
    deep_methods = config.deep_methods
    config.deep_methods = ()
    t0 = time.perf_counter()
    closed = train.train_and_evaluate(config, os.path.join(workdir, "closed_form"))
    write_closed_form_artefacts(closed, config, time.perf_counter() - t0, root=root)
    rows = [
        ResultRow(
            benchmark=f"Office-Caltech10 SURF, {proto}-source protocol: {m} + linear SVM",
            metric="mean accuracy over 12 shifts (%)",
            ours=round(closed[f"{proto}/{m}/avg"], 1),
            published=PUBLISHED[(proto, m)],
            source=f"CORAL (AAAI 2016) {TABLE[proto]}",
            notes="effects in the artefacts coral_all_source / coral_sampled",
        )
        for proto in ("sampled", "all")
        for m in ("NA", "CORAL")
    ]
    runs, walls = {}, {}
    for seed in seeds:
        config = default.get_config()
        config.seed, config.protocols = seed, ()
        config.deep_methods = deep_methods
        t = time.perf_counter()
        runs[seed] = train.train_and_evaluate(config, os.path.join(workdir, f"mlp_seed{seed}"))
        walls[seed] = time.perf_counter() - t
        # rewritten after every seed: a run cut off keeps the seeds it finished
        write_mlp_artefacts(runs, config, walls, root=root)
    for m in deep_methods:
        avgs = [r[f"all/{m}/avg"] for r in runs.values()]
        rows.append(
            ResultRow(
                benchmark=f"Office-Caltech10 SURF, all-source protocol: MLP {MLP_NAMES[m]}",
                metric="mean accuracy over 12 shifts (%)",
                ours=mean_std_text(avgs, 1),
                notes=f"seeds {list(runs)}; effects in the artefacts mlp_selected / mlp_oracle",
            )
        )
    return rows


EXPERIMENTS = [
    Experiment(
        name="office_caltech",
        suites=("full",),
        run=_run,
        description="Office-Caltech10 SURF: NA, CORAL (closed form), MLP source-only/MMD/Deep "
        "CORAL/DANN",
    )
]
