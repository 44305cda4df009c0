"""experiments/gpu_check.py dry-runs on the CPU (--smoke): the plan is valid, fits 8 minutes, and
the summary collects every step's JSON rows (the steps themselves are stubbed)."""

import json

from experiments import gpu_check


def test_plan_fits_and_flags_are_accepted(tmp_path):
    plan = gpu_check.steps(str(tmp_path), str(tmp_path / "out"), smoke=True)
    assert sum(s["timeout_s"] for s in plan) <= gpu_check.BUDGET_S < 480
    names = {s["name"] for s in plan}
    assert {"bench_meta", "bench_lm", "maml_omniglot_short", "bench_data"} <= names
    assert gpu_check.validate(plan) == []
    bad = [dict(plan[0], argv=[*plan[0]["argv"], "--no-such-flag"])]
    assert gpu_check.validate(bad) and "flags not accepted" in gpu_check.validate(bad)[0]
    maml = next(s for s in plan if s["name"] == "maml_omniglot_short")
    bad = [dict(maml, argv=[*maml["argv"], "--config.no_such_field=1"])]
    assert gpu_check.validate(bad) == ["maml_omniglot_short: config has no field 'no_such_field'"]


def test_smoke_run_writes_summary(tmp_path):
    out = tmp_path / "out"
    assert gpu_check.main(["--smoke", "--out", str(out), "--data_dir", str(tmp_path)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    steps = summary["steps"]
    assert [s["status"] for s in steps] == ["ok"] * len(steps) and len(steps) == 6
    assert all(len(s["rows"]) == 2 for s in steps)
    md = (out / "summary.md").read_text()
    assert "| bench_meta | smoke_bench_meta | torch_loop | 2.000 | 2.00x |" in md
