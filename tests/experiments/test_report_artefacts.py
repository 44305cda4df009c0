"""The experiments' results writers: known per-seed metrics in, the effect columns out.

No training: each report's ``write_artefact(s)`` gets canned per-seed metrics and the rows of
the artefact it writes are checked against hand-computed gains, orientations and verdicts.
"""

import math

import ml_collections
import pytest

from experiments.reproduce import results


def _rows(root, exp, name):
    return {r["key"]: r for r in results.effect_rows(results.read_results(exp, name, root=root))}


def test_maml_sinusoid_gain_is_pretrained_minus_maml_mse(tmp_path):
    from experiments.maml_sinusoid import report

    def metrics(maml, pre):
        m = {}
        for lab, v in (("maml", maml), ("pretrained", pre)):
            m[f"{lab}_k5_diverged"] = 0.0
            for n in (1, 5, 10):
                m.update(
                    {
                        f"{lab}_k5_step{n}": v,
                        f"{lab}_k5_step{n}_median": v,
                        f"{lab}_k5_step{n}_ci95": 0.1,
                    }
                )
        return m

    config = ml_collections.ConfigDict({"num_iterations": 10, "seed": 0})
    report.write_artefacts(
        {0: metrics(0.7, 2.5), 1: metrics(0.6, 2.6), 2: metrics(0.8, 2.4)},
        {0: 1.0, 1: 1.0, 2: 1.0},
        config,
        "full",
        root=tmp_path,
    )
    r = _rows(tmp_path, "maml_sinusoid", "k5_mse_step1")["maml"]
    # lower MSE is better: gains 1.8, 2.0, 1.6 -> mean 1.8, s = 0.2, half = 4.303 * 0.2 / sqrt 3
    assert r["published_gain"] == pytest.approx(2.41 - 0.67)
    assert r["effect"].mean == pytest.approx(1.8)
    assert r["effect"].high == pytest.approx(1.8 + 4.303 * 0.2 / math.sqrt(3), abs=1e-3)
    assert r["verdict"] == "reproduced"  # 1.74 is within [1.30, 2.30]
    assert _rows(tmp_path, "maml_sinusoid", "k5_mse_step10")["maml"]["published_gain"] == (
        pytest.approx(2.19 - 0.35)
    )


def test_lopt_quadratics_baseline_is_the_best_tuned_optimizer_per_seed(tmp_path):
    from experiments.lopt_quadratics import report

    def metrics(sgd, adam, lstm):
        m = {}
        for n, v in (("SGD", sgd), ("Adam", adam), ("LSTM (tbptt)", lstm)):
            m.update(
                {
                    f"{n}/final_log10_loss": v,
                    f"{n}/avg_log10_loss": v + 1,
                    f"{n}/final_log10_std": 0.1,
                }
            )
            if not n.startswith("LSTM"):
                m[f"{n}/lr"] = 0.1
        return m

    config = ml_collections.ConfigDict(
        {"eval_steps": 100, "num_eval": 8, "num_tune": 4, "meta_steps": 10, "seed": 0}
    )
    report.write_artefacts(
        {0: metrics(-1.0, -2.0, -2.5), 1: metrics(-3.0, -1.0, -2.0)},
        {0: 1.0, 1: 1.0},
        config,
        "quick",
        root=tmp_path,
    )
    rec = results.read_results("lopt_quadratics", "final_log10_loss_quick", root=tmp_path)
    assert rec["values"]["best_baseline"] == [-2.0, -3.0]  # Adam on seed 0, SGD on seed 1
    r = _rows(tmp_path, "lopt_quadratics", "final_log10_loss_quick")["lstm"]
    assert r["effect"].mean == pytest.approx((0.5 - 1.0) / 2) and r["n"] == 2
    assert r["published_gain"] is None and rec["extra"]["baselines"]["SGD"] == [-1.0, -3.0]


def test_mtl_digits_and_two_moons_and_digits_da_pair_against_their_baselines(tmp_path):
    from experiments.digits_da import report as dd
    from experiments.mtl_digits import report as mtl
    from experiments.two_moons import report as moons

    config = ml_collections.ConfigDict(
        {"num_steps": 1, "num_train_pairs": 1, "num_test_pairs": 1, "seeds": (0, 1)}
    )
    mtl.write_artefacts(
        {"equal": [0.90, 0.91], "mgda": [0.91, 0.93]}, [0, 1], 2.0, config, "full", root=tmp_path
    )
    r = _rows(tmp_path, "mtl_digits", "test_accuracy")["mgda"]
    assert r["effect"].mean == pytest.approx(0.015) and r["verdict"] in ("gain", "absent")

    accs = {
        "source_only": [0.8, 0.8, 0.8],
        "dann": [0.9, 0.95, 0.92],
        "coral": [0.8, 0.81, 0.8],
        "mmd": [0.7, 0.7, 0.72],
    }
    moons.write_artefacts(
        accs, accs, {k: [1.0] * 3 for k in accs}, [0, 1, 2], "full", root=tmp_path
    )
    rows = _rows(tmp_path, "two_moons", "target_accuracy")
    assert rows["dann"]["published_gain"] == pytest.approx(0.10)
    assert rows["dann"]["verdict"] == "reproduced"  # +0.123 [+0.060, +0.186] contains 0.10
    assert rows["coral"]["verdict"] == "absent" and rows["mmd"]["verdict"] == "reversed"

    run = {"target_accuracy": 0.5, "oracle_target_accuracy": 0.6, "lam": 1.0, "train_seconds": 1.0}
    dd.write_artefact(
        "sklearn",
        {"source_only": [run, run], "dann": [{**run, "target_accuracy": 0.6}] * 2},
        [0, 1],
        ml_collections.ConfigDict({"seed": 0, "method": "dann"}),
        "quick",
        root=tmp_path,
    )
    r = _rows(tmp_path, "digits_da", "sklearn_target_accuracy_quick")["dann"]
    assert r["effect"].mean == pytest.approx(0.1) and r["ours_baseline"][0] == 0.5
