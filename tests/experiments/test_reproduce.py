import os

import pytest

from experiments.reproduce.registry import Experiment, ResultRow, discover
from experiments.reproduce.runner import run_suite


def _ok(workdir, suite):
    os.makedirs(workdir, exist_ok=True)
    open(os.path.join(workdir, "p.png"), "wb").close()
    return [ResultRow("bench", "accuracy", 0.91, 0.9, "paper", plots=("p.png",))]


def _boom(workdir, suite):
    raise RuntimeError("broken experiment")


def test_runner_writes_report_with_published_column(tmp_path):
    exps = {
        "ok": Experiment("ok", ("quick",), _ok),
        "full_only": Experiment("full_only", ("full",), _boom),
    }
    path, ok = run_suite("quick", str(tmp_path), experiments=exps)
    assert ok
    report = open(path).read()
    assert "| ok | bench | accuracy | 0.91 | 0.9 | paper | [p.png](ok/p.png) |" in report
    assert "full_only" not in report


def test_runner_reports_failures_and_keeps_going(tmp_path):
    exps = {"boom": Experiment("boom", ("quick",), _boom), "ok": Experiment("ok", ("quick",), _ok)}
    path, ok = run_suite("quick", str(tmp_path), experiments=exps)
    assert not ok
    report = open(path).read()
    assert "| boom |" in report and "FAILED" in report and "| ok | bench |" in report
    assert "broken experiment" in open(os.path.join(os.path.dirname(path), "boom.error.txt")).read()
    with pytest.raises(ValueError, match="unknown experiments"):
        run_suite("quick", str(tmp_path), only=["nope"], experiments=exps)


def test_discover_finds_the_registered_experiments():
    found = discover()
    assert "two_moons" in found and "quick" in found["two_moons"].suites


def test_report_rows_live_in_report_modules():
    """Each experiment's rows are in experiments/<name>/report.py (its __init__ holds none);
    reproduce only discovers them (tests/experiments/test_structure.py checks imports)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "experiments"
    for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        if pkg.name != "reproduce":
            assert "EXPERIMENTS" not in (pkg / "__init__.py").read_text(), pkg.name
    assert set(discover()) >= {"two_moons", "digits_da", "office_caltech", "amazon_reviews"}


def test_runner_report_has_the_effects_of_the_artefacts_a_run_wrote(tmp_path, monkeypatch):
    """An experiment writes its artefact under the run folder; REPORT.md gets its effect row
    (same columns as the README tables), `--seeds` reaches run(), and `save_results` copies
    the artefact into experiments/<exp>/results/ (here a temporary experiments root)."""
    from experiments.reproduce import results

    seen = {}

    def _writes(workdir, suite, seeds=(0, 1, 2)):
        seen["seeds"] = seeds
        results.write_results(
            "demo",
            "acc",
            {"base": [0.80, 0.82, 0.84], "ours": [0.85, 0.88, 0.88]},
            seeds=seeds,
            config={},
            wall_seconds=1.0,
            metric="accuracy",
            baseline="base",
            published={"base": 0.8, "ours": 0.9},
            root=os.path.dirname(workdir),
        )
        return []

    monkeypatch.setattr(results, "EXPERIMENTS_ROOT", tmp_path / "committed")
    exps = {"demo": Experiment("demo", ("quick",), _writes)}
    path, ok = run_suite(
        "quick", str(tmp_path / "runs"), experiments=exps, save_results=True, seeds=[3, 4, 5]
    )
    assert ok and seen["seeds"] == (3, 4, 5)
    report = open(path).read()
    assert (
        "| demo | acc | accuracy | ours | 0.800 | 0.900 | 0.820 ± 0.020 | 0.870 ± 0.017 | "
        "+0.100 | +0.050 [+0.025, +0.075] | 3 | smaller |"
    ) in report
    saved = results.read_results("demo", "acc", root=tmp_path / "committed")
    assert saved["seeds"] == [3, 4, 5]
