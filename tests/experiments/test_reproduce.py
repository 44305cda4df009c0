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
    exps = {"ok": Experiment("ok", ("quick",), _ok), "full_only": Experiment(
        "full_only", ("full",), _boom)}
    path, ok = run_suite("quick", str(tmp_path), experiments=exps)
    assert ok
    report = open(path).read()
    assert "| ok | bench | accuracy | 0.91 | 0.9 | paper | [p.png](ok/p.png) |" in report
    assert "full_only" not in report


def test_runner_reports_failures_and_keeps_going(tmp_path):
    exps = {"boom": Experiment("boom", ("quick",), _boom),
            "ok": Experiment("ok", ("quick",), _ok)}
    path, ok = run_suite("quick", str(tmp_path), experiments=exps)
    assert not ok
    report = open(path).read()
    assert "| boom |" in report and "FAILED" in report and "| ok | bench |" in report
    assert "broken experiment" in open(os.path.join(os.path.dirname(path),
                                                    "boom.error.txt")).read()
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
