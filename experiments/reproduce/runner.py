"""``python -m experiments.reproduce --suite quick|full``: run experiments, write REPORT.md.

``python -m experiments.reproduce tables [--check]`` regenerates the README results blocks from
the committed artefacts (``experiments/reproduce/results.py``); ``--check`` writes nothing and
exits 1 when a README differs.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import traceback

from absl import app, flags, logging

from experiments.reproduce.registry import SUITES, Experiment, ResultRow, discover

_SUITE = flags.DEFINE_enum("suite", "quick", list(SUITES), "Which suite to run.")
_OUT = flags.DEFINE_string("out", "runs", "Folder under which runs/<timestamp>/ is created.")
_ONLY = flags.DEFINE_list("only", [], "Run only these experiment names.")
_LIST = flags.DEFINE_bool("list", False, "List the registered experiments and exit.")
_SAVE = flags.DEFINE_bool(
    "save_results",
    False,
    "Copy the results artefacts the run wrote (<run>/<exp>/results/*.json)"
    " into experiments/<exp>/results/ (then run `tables`).",
)
_SEEDS = flags.DEFINE_list(
    "seeds",
    [],
    "Override the experiments' seeds (e.g. 0,1,2,3,4); passed as run(..., seeds=)"
    " to experiments that take it.",
)
_CHECK = flags.DEFINE_bool("check", False, "With `tables`: only check, exit 1 on a difference.")


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_table(rows: list[tuple[str, ResultRow]], workdir: str) -> str:
    lines = [
        "| experiment | benchmark | metric | ours | published | source of published | plots |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        plots = " ".join(f"[{os.path.basename(p)}]({p})" for p in r.plots)
        ours = _fmt(r.ours) + (f" ({r.notes})" if r.notes else "")
        lines.append(
            f"| {name} | {r.benchmark} | {r.metric} | {ours} | {_fmt(r.published)} | "
            f"{r.source or '–'} | {plots} |"
        )
    del workdir
    return "\n".join(lines)


def collect_results(workdir: str, save: bool = False) -> list[dict]:
    """The artefacts a run wrote under ``<workdir>/*/results/`` (an experiment's report writes
    them with ``write_results(..., root=os.path.dirname(its workdir))``); with ``save``, copies
    each to ``experiments/<experiment>/results/``."""
    import glob
    import shutil

    from experiments.reproduce import results

    records = []
    for path in sorted(glob.glob(os.path.join(workdir, "*", "results", "*.json"))):
        exp = os.path.basename(os.path.dirname(os.path.dirname(path)))
        record = results.read_results(
            exp, os.path.splitext(os.path.basename(path))[0], root=workdir
        )
        records.append(record)
        if save:
            dest = results.EXPERIMENTS_ROOT / record["experiment"] / "results"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / os.path.basename(path))
            print(f"[reproduce] saved {dest / os.path.basename(path)}", flush=True)
    return records


def run_suite(
    suite: str,
    out: str,
    only: list[str] | None = None,
    experiments: dict[str, Experiment] | None = None,
    save_results: bool = False,
    seeds: list[int] | None = None,
) -> tuple[str, bool]:
    """Runs the suite; returns (path of REPORT.md, whether every experiment succeeded).

    REPORT.md holds the rows each experiment returns, then the effects table (paper's baseline
    and method, ours, published gain, our paired gain [95% CI], n seeds, verdict) of every
    results artefact the run wrote; ``save_results`` copies those into the experiments.
    """
    experiments = discover() if experiments is None else experiments
    chosen = [e for e in experiments.values() if suite in e.suites]
    if only:
        unknown = set(only) - set(experiments)
        if unknown:
            raise ValueError(f"unknown experiments {sorted(unknown)}; known: {sorted(experiments)}")
        chosen = [e for e in chosen if e.name in only]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = os.path.abspath(os.path.join(out, f"{stamp}-{suite}"))
    os.makedirs(workdir, exist_ok=True)
    rows: list[tuple[str, ResultRow]] = []
    timings: list[tuple[str, float, str]] = []
    ok = True
    t_all = time.perf_counter()
    for exp in chosen:
        print(f"[reproduce] {exp.name}: {exp.description}", flush=True)
        t0 = time.perf_counter()
        status = "ok"
        try:
            exp_dir = os.path.join(workdir, exp.name)
            exp_rows = (
                exp.run(exp_dir, suite, seeds=tuple(seeds)) if seeds else exp.run(exp_dir, suite)
            )
            for r in exp_rows:
                plots = tuple(os.path.join(exp.name, p) for p in r.plots)
                rows.append((exp.name, ResultRow(**{**r.__dict__, "plots": plots})))
        except Exception:  # report and keep going: one failure must not lose the others
            ok = False
            status = "FAILED"
            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            with open(os.path.join(workdir, f"{exp.name}.error.txt"), "w") as f:
                f.write(tb)
        timings.append((exp.name, time.perf_counter() - t0, status))
    total = time.perf_counter() - t_all
    table = render_table(rows, workdir)
    from experiments.reproduce.results import render_effects

    records = collect_results(workdir, save=save_results)
    report = [
        f"# jtransfer reproduction report — suite `{suite}`",
        "",
        f"Run at {stamp}; {len(chosen)} experiments; total {total:.1f} s.",
        "",
        "Published numbers and their sources: ../shared/data/RESULTS_FROM_PAPERS.md.",
        "",
        table,
        "",
        "## Effects (paired over seeds; mean ± std with ddof = 1; verdicts as "
        "in experiments/reproduce/stats.py)",
        "",
        render_effects(records) if records else "No results artefact was written.",
        "",
        "## Timing",
        "",
        "| experiment | seconds | status |",
        "|---|---|---|",
    ]
    report += [f"| {n} | {t:.1f} | {s} |" for n, t, s in timings]
    path = os.path.join(workdir, "REPORT.md")
    with open(path, "w") as f:
        f.write("\n".join(report) + "\n")
    print(table)
    print(f"\n[reproduce] total {total:.1f} s; report: {path}")
    return path, ok


def tables(check: bool) -> int:
    """``tables`` subcommand: regenerate (or ``check``) every README results block."""
    from experiments.reproduce.results import update_tables

    changed = update_tables(check=check)
    for path in changed:
        print(f"[reproduce] {'differs from its artefacts' if check else 'rewrote'}: {path}")
    if not changed:
        print("[reproduce] every README results block matches its artefacts")
    return 1 if (check and changed) else 0


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    if argv[1:] == ["tables"]:
        return tables(_CHECK.value)
    if argv[1:]:
        raise app.UsageError(f"unknown arguments {argv[1:]}; the only subcommand is `tables`")
    if _LIST.value:
        for e in discover().values():
            print(f"{e.name:28s} {','.join(e.suites):12s} {e.description}")
        return 0
    _, ok = run_suite(
        _SUITE.value,
        _OUT.value,
        _ONLY.value,
        save_results=_SAVE.value,
        seeds=[int(s) for s in _SEEDS.value],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    app.run(main)
