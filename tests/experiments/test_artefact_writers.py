"""Results writers of maml_omniglot, mtl_school, lopt_digits and lopt_quadratics: canned
per-seed metrics in, the artefact's values, orientation, pairing and verdicts out (no
training; the numbers are checked against hand-computed ones)."""

import math
import os

import ml_collections
import pytest

from experiments.reproduce import results

T2 = 12.706  # t_{0.975, 1}


def _rows(root, exp, name):
    return {r["key"]: r for r in results.effect_rows(results.read_results(exp, name, root=root))}


def test_maml_omniglot_pairs_maml_against_first_order_in_percent(tmp_path):
    from experiments.maml_omniglot import report
    from experiments.maml_omniglot.configs import default

    def m(acc):
        return {
            "test_accuracy": acc,
            "test_accuracy_ci95": 0.01,
            "iterations_done": 100.0,
            "train_seconds": 5.0,
            "seconds_per_iteration": 0.05,
        }

    config = default.get_config("5w1s")
    runs = {"fomaml": [m(0.50), m(0.60)], "maml": [m(0.70), m(0.70)]}
    report.write_artefact(
        "5w1s_test_accuracy",
        runs,
        [0, 1],
        config,
        suite="full",
        published={"maml": 98.7},
        notes="",
        root=tmp_path,
    )
    r = _rows(tmp_path, "maml_omniglot", "5w1s_test_accuracy")["maml"]
    # gains 20 and 10 points: mean 15, s = 7.07, half-width 12.706 * 7.07 / sqrt 2 = 63.5
    assert r["effect"].mean == pytest.approx(15.0)
    assert r["effect"].low == pytest.approx(15.0 - T2 * math.sqrt(50) / math.sqrt(2), abs=1e-2)
    assert (r["paper_method"], r["published_gain"], r["verdict"]) == (98.7, None, "absent")
    rec = results.read_results("maml_omniglot", "5w1s_test_accuracy", root=tmp_path)
    assert rec["baseline"] == "fomaml" and rec["extra"]["ci95_over_tasks"]["maml"] == [1.0, 1.0]


@pytest.mark.parametrize("iterations", [100, 0])
def test_maml_omniglot_short_run_sets_the_published_effect_beside_ours(tmp_path, iterations):
    """A CPU run of 100 iterations is read only as MAML vs first-order MAML: the published
    values (after 60 000 iterations) stand beside ours for their effect, and the source says
    their levels are not comparable; a full run shows them without that caveat."""
    from experiments.maml_omniglot import report

    def m(acc):
        return {
            "test_accuracy": acc,
            "test_accuracy_ci95": 0.01,
            "iterations_done": float(iterations or 60_000),
            "train_seconds": 5.0,
            "seconds_per_iteration": 0.05,
            "wall_seconds": 7.0,
        }

    runs = {"fomaml": [m(0.50), m(0.60)], "maml": [m(0.70), m(0.70)]}
    report._write_omniglot("5w1s", runs, [0, 1], iterations, "full", str(tmp_path / "work"))
    rec = results.read_results("maml_omniglot", "5w1s_test_accuracy", root=tmp_path)
    r = _rows(tmp_path, "maml_omniglot", "5w1s_test_accuracy")["maml"]
    assert rec["extra"]["run_wall_seconds"]["maml"] == [7.0, 7.0]
    # the published effect is tabulated in both cases: MAML 98.7 vs first-order 98.3 = +0.4
    assert (r["paper_baseline"], r["paper_method"]) == (98.3, 98.7)
    assert r["published_gain"] == pytest.approx(0.4)
    if iterations:
        assert "not comparable" in rec["source"] and "+0.4" in rec["source"]
        assert rec["config"]["num_iterations"] == 100
        assert rec["command"].startswith("JTRANSFER_OMNIGLOT_ITERATIONS=100 python -m")
    else:
        assert "not comparable" not in rec["source"]
        assert rec["config"]["num_iterations"] == 60_000
        assert rec["command"].startswith("python -m")


def test_maml_omniglot_learning_curve_goes_to_extra_in_percent_and_plots(tmp_path):
    from experiments.maml_omniglot import report

    def m(acc, curve):
        return {
            "test_accuracy": acc,
            "test_accuracy_ci95": 0.01,
            "iterations_done": 40.0,
            "train_seconds": 5.0,
            "seconds_per_iteration": 0.05,
            "curve_steps": [20, 40],
            "curve_accuracy": curve,
        }

    runs = {
        "fomaml": [m(0.50, [0.25, 0.50]), m(0.60, [0.5, 0.6])],
        "maml": [m(0.70, [0.75, 0.70]), m(0.70, [0.5, 0.7])],
    }
    report._write_omniglot("5w1s", runs, [0, 1], 40, "full", str(tmp_path / "work"), 20)
    rec = results.read_results("maml_omniglot", "5w1s_test_accuracy", root=tmp_path)
    assert rec["extra"]["curve"]["maml"][0] == {"steps": [20, 40], "accuracy": [75.0, 70.0]}
    assert rec["extra"]["curve_tasks"] == 100 and rec["config"]["eval_every"] == 20
    assert rec["command"].startswith(
        "JTRANSFER_OMNIGLOT_ITERATIONS=40 JTRANSFER_OMNIGLOT_EVAL_EVERY=20 python -m"
    )
    path = report.plot_curve("5w1s", root=tmp_path)
    assert path.endswith("maml_omniglot/results/5w1s_curve.png") and os.path.getsize(path) > 0


def test_mtl_school_pairs_every_method_against_single_task_ridge(tmp_path):
    from experiments.mtl_school import report
    from experiments.mtl_school.configs import default

    def row(split, st, soft):
        r = {"step": split + 1, "lambda/single_task": 1.0, "soft_learned/median_sigma": 0.1}
        for k in report._LABELS:
            v = soft if k.startswith("soft") else st
            r.update({f"{k}/explained_variance": v, f"{k}/rmse": 10 - v / 10})
            r[f"{k}/rmse_task_mean"] = 10 - v / 10
        return r

    rows = [row(1, 30.0, 33.0), row(0, 32.0, 34.0), row(2, 31.0, 35.0)]  # order as read
    report.write_artefacts(rows, default.get_config(), 1.0, root=tmp_path)
    ev = _rows(tmp_path, "mtl_school", "explained_variance")
    assert ev["soft_fixed"]["effect"].mean == pytest.approx(3.0)  # gains 2, 3, 4 by split
    assert ev["pooled_ridge"]["effect"].mean == pytest.approx(0.0)
    rec = results.read_results("mtl_school", "explained_variance", root=tmp_path)
    assert rec["seeds"] == [0, 1, 2] and rec["values"]["soft_fixed"] == [34.0, 33.0, 35.0]
    rm = _rows(tmp_path, "mtl_school", "rmse_task_mean")
    assert rm["soft_fixed"]["effect"].mean == pytest.approx(0.3)  # lower RMSE is better
    # the published comparators: trace-norm MTL 11.452 was *worse* than independent Lasso
    assert rm["hard_sharing"]["published_gain"] == pytest.approx(11.216 - 11.452)


def _lopt_digits_config():
    return ml_collections.ConfigDict(
        {
            "variants": ("relu",),
            "baselines": ("SGD", "Adam"),
            "estimator": "tbptt",
            "seed": 0,
            "meta_steps": 3,
            "num_tasks": 2,
            "num_eval": 3,
            "num_tune": 2,
        }
    )


def _lopt_digits_metrics(shift):
    m = {"SGD/lr": 1.0, "Adam/lr": 0.1, "meta_loss_first": 2.0, "meta_loss_last": 1.0}
    m["meta_train_seconds"] = 1.0
    for n, v in (("SGD", [-1.0, -2.0, -3.0]), ("Adam", [-1.5, -1.4, -1.6]), ("LSTM", [0, 0, 0.3])):
        v = [x + shift for x in v] if n == "LSTM" else v
        m[f"relu/{n}/final_log10_values"] = v
        m[f"relu/{n}/final_log10_loss"] = sum(v) / 3
    return m


def test_lopt_digits_pairs_lstm_with_the_best_mean_baseline_over_seeds(tmp_path):
    from experiments.lopt_digits import report

    config = _lopt_digits_config()
    metrics = {0: _lopt_digits_metrics(0.0), 1: _lopt_digits_metrics(0.3)}
    report.write_artefacts(metrics, config, {0: 2.0, 1: 3.0}, root=tmp_path)
    rec = results.read_results("lopt_digits", "relu_final_log10_loss", root=tmp_path)
    # a seed's value is the mean over its evaluation runs; SGD has the best mean (-2 < -1.5)
    assert rec["seeds"] == [0, 1] and rec["values"]["best_baseline"] == [-2.0, -2.0]
    assert rec["values"]["lstm"] == pytest.approx([0.1, 0.4])
    assert rec["extra"]["per_eval"]["1"]["LSTM"] == pytest.approx([0.3, 0.3, 0.6])
    r = _rows(tmp_path, "lopt_digits", "relu_final_log10_loss")["lstm"]
    # gains (lower is better) -2.1 and -2.4: mean -2.25, s = 0.212, half 12.706 * 0.15 = 1.906
    assert r["effect"].mean == pytest.approx(-2.25)
    assert r["effect"].high == pytest.approx(-2.25 + T2 * 0.3 / 2, abs=1e-3)
    assert r["verdict"] == "reversed"
    # the artefacts give back the metrics they were written from (to add seeds later)
    back, walls = report.metrics_from_artefacts(root=tmp_path)
    assert walls == {0: 2.0, 1: 3.0}
    for s in (0, 1):
        for k, v in metrics[s].items():
            assert back[s][k] == pytest.approx(v), (s, k)


def test_lopt_digits_reads_the_one_meta_training_format(tmp_path):
    """The artefacts committed before seeds were added (values = the evaluation runs of one
    meta-training) become that seed's metrics."""
    import json

    from experiments.lopt_digits import report

    old = {
        "schema": results.SCHEMA,
        "seeds": [0, 1, 2],
        "values": {"best_baseline": [-1.0, -2.0, -3.0], "lstm": [0.0, 0.0, 0.3]},
        "config": {"seed": 7},
        "wall_seconds": 5.0,
        "extra": {
            "baselines": {"SGD": [-1.0, -2.0, -3.0], "Adam": [-1.5, -1.4, -1.6]},
            "tuned_lr": {"SGD": 1.0, "Adam": 0.1},
            "meta_loss_first": 2.0,
            "meta_loss_last": 1.0,
            "meta_train_seconds": 1.0,
        },
    }
    folder = tmp_path / "lopt_digits" / "results"
    folder.mkdir(parents=True)
    (folder / "relu_final_log10_loss.json").write_text(json.dumps(old))
    back, walls = report.metrics_from_artefacts(root=tmp_path)
    assert list(back) == [7] and walls == {7: 5.0}
    assert back[7]["relu/SGD/final_log10_loss"] == pytest.approx(-2.0)
    assert back[7]["relu/LSTM/final_log10_values"] == [0.0, 0.0, 0.3]
    assert back[7]["Adam/lr"] == 0.1


def test_lopt_quadratics_artefacts_round_trip():
    """The committed artefacts rebuild the per-seed metrics they were written from: written
    again, they give the same values, labels and extra (how seed 4 was added)."""
    import tempfile

    from experiments.lopt_quadratics import report

    metrics, walls = report.metrics_from_artefacts("quick")
    old = results.read_results("lopt_quadratics", "final_log10_loss_quick")
    config = ml_collections.ConfigDict({**old["config"], "seed": 0})
    with tempfile.TemporaryDirectory() as root:
        report.write_artefacts(metrics, walls, config, "quick", root=root)
        for name in ("final_log10_loss_quick", "avg_log10_loss_quick"):
            new = results.read_results("lopt_quadratics", name, root=root)
            ref = results.read_results("lopt_quadratics", name)
            for field in ("seeds", "values", "labels", "extra", "wall_seconds"):
                assert new[field] == ref[field], (name, field)


@pytest.mark.parametrize(
    "experiment", ["maml_omniglot", "mtl_school", "lopt_digits", "lopt_quadratics", "digits_da"]
)
def test_readme_has_no_hand_typed_result_table(experiment):
    """Outside the generated ``<!-- results:... -->`` blocks a README table row holds no
    digit, except under a ``## Published`` heading (cited numbers, not ours)."""
    import re

    text = (results.EXPERIMENTS_ROOT / experiment / "README.md").read_text()
    text = re.sub(r"<!-- results:([\w.-]+) -->\n.*?<!-- /results:\1 -->", "", text, flags=re.S)
    published, bad = False, []
    for line in text.splitlines():
        if line.startswith("## "):
            published = line.startswith("## Published")
        if line.startswith("|") and re.search(r"\d", line) and not published:
            bad.append(line)
    assert not bad, bad


def _selection_config():
    from experiments.transferability import report
    from experiments.transferability.configs import default

    config = default.get_config()
    config.experiment, config.datasets = "model_selection", report.SELECTION_DATASETS
    return config


def test_model_selection_artefacts_round_trip(tmp_path):
    """The committed model-selection artefacts give back the per-seed results they were
    written from: written again, the same seeds, values, extra and wall times."""
    from experiments.transferability import report

    runs, seeds, secs, git = report.selection_runs_from_artefacts()
    assert git["commit"] and len(secs) == len(seeds)
    report.write_selection_artefacts(runs, seeds, _selection_config(), secs, root=tmp_path)
    for d in report.SELECTION_DATASETS:
        new = results.read_results("transferability", f"model_selection_{d}", root=tmp_path)
        ref = results.read_results("transferability", f"model_selection_{d}")
        for field in ("seeds", "values", "extra", "wall_seconds", "baseline", "labels"):
            assert new[field] == ref[field], (d, field)


def test_extend_selection_appends_new_seeds(tmp_path, monkeypatch):
    """extend_selection keeps the committed seeds, appends the new runs and says so."""
    import shutil

    from experiments.transferability import report

    folder = tmp_path / "transferability" / "results"
    folder.mkdir(parents=True)
    for d in report.SELECTION_DATASETS:
        name = f"model_selection_{d}.json"
        shutil.copyfile(
            results.EXPERIMENTS_ROOT / "transferability" / "results" / name, folder / name
        )
    runs, seeds, _, _ = report.selection_runs_from_artefacts(root=tmp_path)

    def fake_run_seeds(workdir, experiment, new_seeds, datasets, *, plot_first):
        assert experiment == "model_selection" and new_seeds == (9,)
        return {d: [runs[d][0]] for d in datasets}, [1.5], _selection_config()

    monkeypatch.setattr(report, "_run_seeds", fake_run_seeds)
    assert report.extend_selection(str(tmp_path / "work"), [9], root=tmp_path) == seeds + [9]
    with pytest.raises(ValueError, match="overlap"):
        report.extend_selection(str(tmp_path / "work"), [0], root=tmp_path)
    for d in report.SELECTION_DATASETS:
        rec = results.read_results("transferability", f"model_selection_{d}", root=tmp_path)
        assert rec["seeds"] == seeds + [9] and rec["wall_seconds"][-1] == 1.5
        for c, v in rec["values"].items():
            assert v[-1] == v[0], (d, c)  # seed 9's runs are seed 0's here
        assert f"Seeds {seeds} from the artefacts written at commit" in rec["notes"]


def test_lopt_digits_extend_seeds_keeps_the_committed_seeds(tmp_path, monkeypatch):
    """extend_seeds reads the committed artefacts' seeds back (one value per whole run), runs
    only the new seeds (stubbed here: they return the first seed's metrics) and writes all of
    them, the committed seeds' values unchanged."""
    import shutil

    from experiments.lopt_digits import report, train

    folder = tmp_path / "lopt_digits" / "results"
    shutil.copytree(results.EXPERIMENTS_ROOT / "lopt_digits" / "results", folder)
    before = results.read_results("lopt_digits", "relu_final_log10_loss", root=tmp_path)
    committed, _ = report.metrics_from_artefacts(root=tmp_path)
    seeds = sorted(committed)
    assert seeds == before["seeds"]
    kept = committed[seeds[0]]
    fake = {**kept, **{k.replace("_loss", "_std"): 0.1 for k in kept if k.endswith("_loss")}}
    calls = []

    def fake_train(config, workdir):
        calls.append(config.seed)
        return fake

    monkeypatch.setattr(train, "train_and_evaluate", fake_train)
    assert report.extend_seeds(str(tmp_path / "work"), [99], root=tmp_path) == [*seeds, 99]
    assert calls == [99]
    rec = results.read_results("lopt_digits", "relu_final_log10_loss", root=tmp_path)
    assert rec["seeds"] == [*seeds, 99]
    # a freshly run seed's value is train's float32 mean; read back it is the float64 mean of
    # its evaluation runs (the same to ~1e-7)
    assert rec["values"]["lstm"][:-1] == pytest.approx(before["values"]["lstm"], rel=1e-6)
    assert rec["values"]["lstm"][-1] == rec["values"]["lstm"][0]
    assert "from the artefacts written at commit" in rec["notes"]
    with pytest.raises(ValueError, match="overlap"):
        report.extend_seeds(str(tmp_path / "work"), [99], root=tmp_path)


def test_digits_da_shifts_from_the_environment(tmp_path, monkeypatch):
    """JTRANSFER_DIGITS_SHIFTS runs only the named shifts and says so in the artefact's
    command; an unknown name is refused before anything runs."""
    from experiments.digits_da import report, train

    datasets = []

    def fake_train(config, workdir):
        datasets.append(config.dataset)
        m = {"target_accuracy": 0.5, "oracle_target_accuracy": 0.6, "lam": 0.1}
        return {**m, "train_seconds": 1.0}

    monkeypatch.setattr(train, "train_and_evaluate", fake_train)
    monkeypatch.setenv("JTRANSFER_DIGITS_SHIFTS", "usps_nope")
    with pytest.raises(ValueError, match="usps_nope"):
        report._run(str(tmp_path / "digits_da"), "full", seeds=(0, 1))
    assert not datasets
    monkeypatch.setenv("JTRANSFER_DIGITS_SHIFTS", "mnist_m")
    report._run(str(tmp_path / "digits_da"), "full", seeds=(0, 1))
    assert set(datasets) == {"mnist_m"} and len(datasets) == 2 * len(train.METHODS)
    assert results.list_results("digits_da", root=tmp_path) == ["mnist_m_target_accuracy"]
    rec = results.read_results("digits_da", "mnist_m_target_accuracy", root=tmp_path)
    assert rec["command"].startswith("JTRANSFER_DIGITS_SHIFTS=mnist_m python -m")
    # MNIST → MNIST-M carries the DANN paper's source-only and DANN accuracies, so its
    # verdict is against the published gain (0.7666 - 0.5225), not only against 0
    assert rec["published"] == {"source_only": 0.5225, "dann": 0.7666}
    assert "Ganin" in rec["source"]
