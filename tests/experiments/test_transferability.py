import json
import os

import numpy as np
import pytest

from experiments.reproduce.registry import discover
from experiments.transferability import negative, train
from experiments.transferability.configs import test as test_config


def test_negative_transfer_tiny_config_end_to_end(tmp_path):
    m = train.train_and_evaluate(test_config.get_config(), str(tmp_path))
    assert m["n20/num_cases"] == len(negative.CASES)
    # the designed cases behave as designed, and the obvious ones are detected
    assert m["n20/design_agreement"] == 1.0
    assert m["n20/label_permuted/flag_rate"] == 1.0
    assert m["n20/false_alarm_rate"] == 0.0
    assert 0.0 <= m["n20/hit_rate"] <= 1.0
    rows = json.load(open(tmp_path / "negative_transfer_cases.json"))
    assert {r["case"] for r in rows} == set(negative.CASES)
    assert all(r["ci_low"] <= r["gain"] <= r["ci_high"] for r in rows)
    # the artefact (issue #22 item 1): per-seed rates agree with train's own summary
    from experiments.reproduce import results
    from experiments.transferability import report

    report.write_negative_artefact(rows, test_config.get_config(), 1.0, root=tmp_path)
    rec = results.read_results("transferability", "negative_transfer", root=tmp_path)
    assert rec["seeds"] == [0]
    assert rec["values"]["n20/hit_rate"] == [pytest.approx(m["n20/hit_rate"])]
    assert rec["values"]["n20/no_false_alarm"] == [pytest.approx(1 - m["n20/false_alarm_rate"])]


def test_negative_artefact_from_known_cases(tmp_path):
    """Experiment 3's artefact from canned case rows: per-seed rates and the pooled table."""
    from experiments.reproduce import results
    from experiments.transferability import report
    from experiments.transferability.configs import default

    def row(case, seed, truly_negative, flagged, gain):
        return {
            "case": case,
            "seed": seed,
            "n_labelled": 30,
            "designed_to_hurt": case in negative.HURT_CASES,
            "truly_negative": truly_negative,
            "flagged": flagged,
            "true_adapted_acc": 0.5 + gain,
            "true_baseline_acc": 0.5,
        }

    rows = []
    for seed in (3, 7):
        for case in negative.CASES:
            hurt = case in negative.HURT_CASES
            # seed 3 misses label_shift; seed 7 raises a false alarm on "same"
            flagged = (hurt and not (seed == 3 and case == "label_shift")) or (
                seed == 7 and case == "same"
            )
            rows.append(row(case, seed, hurt, flagged, -0.1 if hurt else 0.2))
    report.write_negative_artefact(rows, default.get_config(), [1.0, 2.0], root=tmp_path)
    rec = results.read_results("transferability", "negative_transfer", root=tmp_path)
    assert rec["seeds"] == [3, 7] and rec["baseline"] is None
    np.testing.assert_allclose(rec["values"]["n30/hit_rate"], [2 / 3, 1.0])
    np.testing.assert_allclose(rec["values"]["n30/no_false_alarm"], [1.0, 2 / 3])
    assert (
        "| 30 | 0.83 (5/6) | 0.17 (1/6) | 1.0 / 1.0 / 0.5 | 0.5 / 0.0 / 0.0 | "
        "-0.10 / -0.10 / -0.10 / +0.20 / +0.20 / +0.20 | 12/12 |" in rec["notes"]
    )


def test_selection_artefact_from_known_results(tmp_path):
    """Experiment 2's artefact from canned per-shift results: per-seed means over the shifts,
    paired against source validation, oracle hits and regret in the notes."""
    import itertools

    from experiments.reproduce import results
    from experiments.transferability import report
    from experiments.transferability.configs import default

    shifts = [f"{a}->{b}" for a, b in itertools.permutations("ACDW", 2)]
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(3):
        x = {}
        for s in shifts:
            oracle = float(rng.uniform(0.5, 0.9))
            x[s] = {
                "oracle": oracle,
                "source_val": oracle - 0.1,
                "iwv": oracle,  # always the oracle's accuracy
                "dev": oracle - 0.2,
                "snd": oracle - float(rng.uniform(0, 0.1)),
                "entropy": oracle - 0.3,
                "ess_fraction": 0.5,
                "candidates": [{"name": "dropped"}],
            }
        runs.append(x)
    report.write_selection_artefacts(
        {"office_caltech10": runs}, [0, 1, 2], default.get_config(), [1.0] * 3, root=tmp_path
    )
    rec = results.read_results("transferability", "model_selection_office_caltech10", root=tmp_path)
    assert rec["baseline"] == "source_val" and rec["seeds"] == [0, 1, 2]
    for c in report.CRITERIA_ORDER:
        ref = [sum(x[s][c] for s in shifts) / 12 for x in runs]
        np.testing.assert_allclose(rec["values"][c], ref, atol=1e-12)
    (eff,) = [r for r in results.effect_rows(rec) if r["key"] == "iwv"]
    assert eff["effect"].mean == pytest.approx(0.1) and eff["verdict"] == "gain"
    assert "| IWV | source labels + unlabelled target |" in rec["notes"]
    assert "| 36/36 | 0.0 |" in rec["notes"] and "| 0/36 | 20.0 |" in rec["notes"]
    assert "candidates" not in rec["extra"]["per_seed_shift_results"][0]["A->C"]


def test_cases_are_deterministic_and_differ_by_seed():
    a = negative.make_case("feature_permuted", 0, 20)
    b = negative.make_case("feature_permuted", 0, 20)
    c = negative.make_case("feature_permuted", 1, 20)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (a[0] == c[0]).all()


def test_registered():
    exps = discover()
    assert exps["negative_transfer"].suites == ("quick", "full")
    assert exps["transferability_correlation"].suites == ("full",)
    assert exps["model_selection"].suites == ("full",)
    assert exps["transferability_logme"].suites == ("full",)


@pytest.mark.parametrize(
    "field, value",
    [
        ("experiment", "magic"),
        ("num_folds", 1),
        ("n_labelled", (3,)),
        ("l2", 0.0),
        ("confidence", 1.5),
    ],
)
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("shifts", [("A->A",), ("A->C", "A->C"), (), ("A→C",)])
def test_real_data_shifts_come_from_the_config(tmp_path, shifts):
    import itertools

    from experiments.transferability import realdata

    c = test_config.get_config()
    for d, letters in (("office_caltech10", "ACDW"), ("amazon_reviews", "BDEK")):
        # the default is every shift, in the order the study always ran them
        expected = tuple(f"{a}->{b}" for a, b in itertools.permutations(letters, 2))
        assert tuple(c.shifts[d]) == realdata.all_shifts(d) == expected
    c.experiment = "model_selection"
    c.shifts.office_caltech10 = shifts
    with pytest.raises(ValueError, match="config.shifts.office_caltech10"):
        train.train_and_evaluate(c, str(tmp_path))
    assert not os.listdir(tmp_path)


def test_realdata_one_office_shift():
    from tests.conftest import manual_dir_or_skip

    root = manual_dir_or_skip("office_caltech10_surf")
    from experiments.transferability import realdata

    c = test_config.get_config()
    c.candidate_l2 = (1e-3, 1e-1)
    c.candidate_steps = (50,)
    c.max_target = 200
    c.coral_accuracy = True
    src = realdata.load_domain("office_caltech10", "dslr", os.path.dirname(root))
    tgt = realdata.load_domain("office_caltech10", "webcam", os.path.dirname(root))
    import jax

    s = realdata.shift_scores(src, tgt, num_classes=10, config=c, key=jax.random.key(0))
    assert set(realdata.SCORES) <= set(s)
    assert 0.5 < s["acc_source_only"] <= 1.0  # D->W is the easy shift
    assert -2.0 <= s["neg_pad"] <= 0.0 and s["neg_mmd"] <= 0.0
    import warnings

    with warnings.catch_warnings():  # the 0/1 errors reach select in float32 (no x64 warning)
        warnings.filterwarnings("error", message=".*float64 but jax_enable_x64 is off")
        sel = realdata.shift_selection(src, tgt, num_classes=10, config=c, key=None, use_coral=True)
    cands = sel["candidates"]
    assert len(cands) == 4
    # each criterion reports the target accuracy of the candidate it names, and that candidate
    # maximises the criterion's own score; the target accuracies differ between candidates,
    # so reporting another candidate's accuracy (or the oracle's) would fail here
    by_name = {c["name"]: c for c in cands}
    assert len({c["oracle"] for c in cands}) > 1
    for k in realdata.CRITERIA:
        chosen = by_name[sel[f"{k}/choice"]]
        assert sel[k] == chosen["oracle"], k
        assert chosen[k] == max(c[k] for c in cands), k
    assert 0.5 < sel["source_val"] <= 1.0  # D->W: the source-validated pick transfers
    # disjoint labels (issue #22 item 1): garbage test labels change only the measured
    # accuracies, never what a label-free criterion chooses
    bad = dict(tgt, y_test=(tgt["y_test"] + 1) % 10)
    sel2 = realdata.shift_selection(src, bad, num_classes=10, config=c, key=None, use_coral=True)
    for k in ("source_val", "iwv", "dev", "snd", "entropy"):
        assert sel2[f"{k}/choice"] == sel[f"{k}/choice"], k
    assert sel2["oracle"] != sel["oracle"]


def test_external_accuracies_become_correlation_targets(tmp_path):
    import itertools

    import numpy as np

    from experiments.transferability import realdata

    shifts = [f"{a}->{b}" for a, b in itertools.permutations("ACDW", 2)]
    rng = np.random.default_rng(0)
    results = {
        s: {
            "acc_source_only": float(rng.random()),
            **{k: float(rng.random()) for k in realdata.SCORES},
        }
        for s in shifts
    }
    ext = {f"all/CORAL/{s.replace('->', '→')}": float(results[s]["leep"]) for s in shifts}
    ext["partial/NA/A→C"] = 1.0  # incomplete groups are ignored
    (tmp_path / "ext.json").write_text(json.dumps(ext))
    realdata.add_external_accuracies(results, str(tmp_path / "ext.json"))
    m = realdata._correlations("office_caltech10", results, str(tmp_path), plot=False)
    assert m["office_caltech10/acc_ext:all:CORAL/leep/spearman"] == 1.0
    assert not any("partial" in k for k in m)


def _mesh_run(workdir, shape):
    c = test_config.get_config()
    c.mesh_shape = (int(shape),)
    train.train_and_evaluate(c, workdir)
    with open(workdir + "/negative_transfer_cases.json") as f:
        return json.load(f)


_MESH_RUN = """
import json, sys
from tests.experiments.test_transferability import _mesh_run
print(json.dumps(_mesh_run(*sys.argv[1:])))
"""


def test_mesh_shape_shards_the_fits_and_matches_one_device(tmp_path):
    """config.mesh_shape=(-1,) on 3 simulated devices (10 fits padded to 12; a fresh process)
    == 1 device (this process, meanwhile)."""
    import numpy as np

    from tests.conftest import start_on_devices

    with start_on_devices(_MESH_RUN, 3, tmp_path / "d3", -1) as pending:
        one = _mesh_run(str(tmp_path / "d1"), 1)
        four = pending.result()  # 3 devices: 10 fits are padded to 12
    assert [r["case"] for r in one] == [r["case"] for r in four]
    for a, b in zip(one, four):
        assert a["verdict"] == b["verdict"]
        for k in ("gain", "ci_low", "ci_high", "true_adapted_acc", "true_baseline_acc"):
            np.testing.assert_allclose(b[k], a[k], atol=1e-6, err_msg=f"{a['case']} {k}")


def test_bad_mesh_shape_raises(tmp_path):
    c = test_config.get_config()
    c.mesh_shape = (2, 2)
    with pytest.raises(ValueError, match="mesh_shape"):
        train.train_and_evaluate(c, str(tmp_path))


def test_scores_and_accuracy_use_disjoint_target_labels():
    """Issue #22 item 4: the labels the scores read and the labels that measure the accuracy
    they predict are disjoint (on Office-Caltech10 both came from the whole domain before)."""
    import jax
    import numpy as np

    from tests.conftest import manual_dir_or_skip

    root = manual_dir_or_skip("office_caltech10_surf")
    from experiments.transferability import realdata

    tgt = realdata.load_domain("office_caltech10", "webcam", os.path.dirname(root))
    src = realdata.load_domain("office_caltech10", "dslr", os.path.dirname(root))
    n = len(tgt["y_src"])  # the whole target domain
    lab, test = tgt["idx_unlab"], tgt["idx_test"]
    assert not set(lab) & set(test) and len(lab) + len(test) == n
    c = test_config.get_config()
    c.max_target = 200
    c.coral_accuracy = False
    runs = []
    for shuffle_test in (False, True):
        t = dict(tgt)
        if shuffle_test:  # garbage test labels: every score must stay the same
            t["y_test"] = (tgt["y_test"] + 1) % 10
        runs.append(realdata.shift_scores(src, t, num_classes=10, config=c, key=jax.random.key(0)))
    for k in realdata.SCORES:
        assert runs[0][k] == runs[1][k], k
    assert runs[0]["acc_source_only"] != runs[1]["acc_source_only"]
    np.testing.assert_array_equal(tgt["y_unlab"], tgt["y_src"][lab])


# ---------------------------------------------------------------- LogME protocol (experiment 4)


def _logme_config():
    c = test_config.get_config()
    c.experiment = "logme_protocol"
    c.logme_seeds = (0,)
    c.pretrain_steps = 20
    c.finetune_steps = 10
    c.n_train = 200
    return c


def test_logme_protocol_target_split_is_disjoint():
    from experiments.transferability import logme_protocol as lp

    tr, te = lp.target_split(50, 20, seed=3)
    assert len(tr) == 20 and len(te) == 30 and not set(tr) & set(te)
    assert sorted(np.concatenate([tr, te])) == list(range(50))
    # a fixed test split (USPS): the training images come from the other indices only
    pool = {
        "x": np.zeros((40, 4), np.float32),
        "y": np.arange(40) % 10,
        "train_pool": np.arange(0, 30),
        "test": np.arange(30, 40),
    }
    t = lp.target_data(pool, 12, seed=0)
    assert len(t["idx_train"]) == 12 and not set(t["idx_train"]) & set(t["idx_test"])
    assert set(t["idx_test"]) == set(range(30, 40))
    np.testing.assert_array_equal(t["y_train"], pool["y"][t["idx_train"]])
    with pytest.raises(ValueError, match="n_train"):
        lp.target_split(10, 10, seed=0)


def test_logme_protocol_scores_never_read_test_labels(monkeypatch):
    """Issue #22 item 4: every label array a score receives is the target's training labels,
    and garbage test labels change every accuracy of a real run but no score."""
    from experiments.transferability import logme_protocol as lp

    c = _logme_config()
    source, targets = lp.load_pools(c)
    seen = []
    for name in ("logme", "leep", "nce", "hscore", "transrate"):
        fn = getattr(lp.select, name)

        def spy(f, y, *a, _fn=fn, **k):
            seen.append(np.asarray(y))
            return _fn(f, y, *a, **k)

        monkeypatch.setattr(lp.select, name, spy)
    clean = lp.run_seed(source, targets, c, seed=0)
    pool = targets["digits_b"]
    tgt = lp.target_data(pool, c.n_train, 0)
    assert len(seen) == 5 * len(c.zoo)
    for y in seen:
        np.testing.assert_array_equal(y, tgt["y_train"])
    garbage = {"digits_b": dict(pool, y=pool["y"].copy())}
    garbage["digits_b"]["y"][tgt["idx_test"]] = (pool["y"][tgt["idx_test"]] + 1) % 10
    dirty = lp.run_seed(source, garbage, c, seed=0)
    for m in c.zoo:
        a, b = clean["digits_b"][m], dirty["digits_b"][m]
        for s in lp.SCORES:
            assert a[s] == b[s], (m, s)
        assert a["accuracy"] != b["accuracy"], m


def test_logme_protocol_correlations_and_bootstrap_from_known_values():
    from experiments.transferability import logme_protocol as lp

    acc = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    runs = []
    for seed in range(2):
        rows = {}
        for i, m in enumerate("abcde"):
            rows[m] = {"accuracy": acc[i], "logme": acc[i] * 3, "leep": -acc[i]}
            rows[m].update({"nce": [2, 1, 5, 4, 3][i] + seed, "hscore": 0.0, "transrate": 1.0})
        runs.append({"t1": rows, "t2": rows})
    s = lp.summarise(runs, num_resamples=200)
    for c in lp.CORRELATIONS:  # a monotone score is +1 in every resample, its negation -1
        got = s["mean"]["logme"][c]
        assert got["per_seed"] == pytest.approx([1.0, 1.0])
        assert (got["mean"], got["low"], got["high"]) == pytest.approx((1.0, 1.0, 1.0))
        assert s["t1"]["leep"][c]["mean"] == pytest.approx(-1.0)
    # NCE [2, 1, 5, 4, 3] vs decreasing accuracy: sum d^2 = 30, Spearman 1 - 180 / 120 = -0.5;
    # 4 concordant and 6 discordant pairs: Kendall -0.2
    assert s["t2"]["nce"]["spearman"]["mean"] == pytest.approx(-0.5)
    assert s["t2"]["nce"]["kendall"]["mean"] == pytest.approx(-0.2)
    nce = s["t2"]["nce"]["weighted_tau"]
    assert nce["low"] <= nce["mean"] <= nce["high"]
    import scipy.stats

    assert nce["mean"] == pytest.approx(scipy.stats.weightedtau([2, 1, 5, 4, 3], acc)[0])
    assert np.isnan(s["t1"]["hscore"]["spearman"]["mean"])  # constant score: undefined


def test_logme_protocol_tiny_end_to_end(tmp_path):
    from experiments.transferability import logme_protocol as lp

    c = _logme_config()
    c.pretrain_steps, c.finetune_steps = 100, 50  # enough to learn (test config's values)
    m = train.train_and_evaluate(c, str(tmp_path))
    for s in lp.SCORES:
        for corr in lp.CORRELATIONS:
            v, k = m[f"mean/{s}/{corr}"], f"mean/{s}/{corr}"
            assert np.isnan(v) or -1.0 <= m[k + "/low"] <= v <= m[k + "/high"]
    raw = json.load(open(tmp_path / "logme_protocol.json"))
    assert set(raw["runs"][0]["digits_b"]) == set(c.zoo)
    # pretrained on the digits, the "mnist" recipe fine-tunes better than a random network
    assert m["digits_b/mnist/accuracy"] > m["digits_b/random/accuracy"]
    from experiments.reproduce import results
    from experiments.transferability import report

    report.write_logme_artefact(raw, c, root=tmp_path)
    rec = results.read_results("transferability", "logme_protocol", root=tmp_path)
    assert rec["seeds"] == [0] and set(rec["values"]) == set(lp.SCORES)
    assert rec["values"]["logme"] == [pytest.approx(m["mean/logme/weighted_tau"])]
    assert "| digits_b | LogME |" in rec["notes"]


def test_correlation_artefact_from_known_per_shift_values(tmp_path):
    """Experiment 1's artefact: per-seed Spearman from canned per-shift values (scipy as the
    reference), Kendall and bootstrap intervals over shifts in the generated notes."""
    import itertools

    import scipy.stats

    from experiments.reproduce import results
    from experiments.transferability import realdata, report
    from experiments.transferability.configs import default

    shifts = [f"{a}->{b}" for a, b in itertools.permutations("ACDW", 2)]
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(3):
        acc = rng.random(12)
        runs.append(
            {
                s: {
                    "acc_source_only": float(acc[i]),
                    **{k: float(acc[i] + rng.normal(0, 0.3)) for k in realdata.SCORES},
                    "leep": float(acc[i]),  # a perfect score
                }
                for i, s in enumerate(shifts)
            }
        )
    report.write_correlation_artefacts(
        {"office_caltech10": runs},
        [0, 1, 2],
        default.get_config(),
        [1.0] * 3,
        root=tmp_path,
        num_resamples=200,
    )
    rec = results.read_results("transferability", "correlation_office_caltech10", root=tmp_path)
    for k in realdata.SCORES:
        ref = [
            scipy.stats.spearmanr(
                [r[s][k] for s in shifts], [r[s]["acc_source_only"] for s in shifts]
            )[0]
            for r in runs
        ]
        np.testing.assert_allclose(rec["values"][k], ref, atol=1e-12)
        summ = rec["extra"]["summary"]["acc_source_only"][k]
        ref_k = [
            scipy.stats.kendalltau(
                [r[s][k] for s in shifts], [r[s]["acc_source_only"] for s in shifts]
            )[0]
            for r in runs
        ]
        np.testing.assert_allclose(summ["kendall"], ref_k, atol=1e-12)
        assert summ["spearman_low"] <= summ["spearman_mean"] <= summ["spearman_high"]
    assert rec["values"]["leep"] == [1.0, 1.0, 1.0]
    assert "| LEEP | +1.00 [+1.00, +1.00] | +1.00 [+1.00, +1.00] |" in rec["notes"]
    assert rec["seeds"] == [0, 1, 2] and rec["baseline"] is None


def test_vectorised_rank_correlations_match_scipy_with_ties():
    """The bootstrap's row-wise Spearman and Kendall tau-b equal scipy's, ties (duplicated
    units in a resample) and constant rows (NaN) included."""
    import warnings

    import scipy.stats

    from experiments.transferability.common import kendall_rows, spearman_rows

    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (100, 9)).astype(float)
    b = rng.integers(0, 4, (100, 9)).astype(float)
    a[0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_s = [scipy.stats.spearmanr(x, y)[0] for x, y in zip(a, b)]
        ref_k = [scipy.stats.kendalltau(x, y)[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(spearman_rows(a, b), ref_s, atol=1e-12)
    np.testing.assert_allclose(kendall_rows(a, b), ref_k, atol=1e-12)
    assert np.isnan(spearman_rows(a, b)[0]) and np.isnan(kendall_rows(a, b)[0])


def test_run_seeds_runs_each_seed_in_its_folder_and_reads_its_files(tmp_path, monkeypatch):
    import json
    import os

    from experiments.transferability import report
    from experiments.transferability import train as tr

    seen = []

    def fake(config, out):
        seen.append((config.experiment, config.seed, config.plot, tuple(config.datasets), out))
        os.makedirs(out, exist_ok=True)
        for d in config.datasets:
            with open(os.path.join(out, f"{config.experiment}_{d}.json"), "w") as f:
                json.dump({"seed": config.seed, "dataset": d}, f)

    monkeypatch.setattr(tr, "train_and_evaluate", fake)
    runs, secs, config = report._run_seeds(
        str(tmp_path), "model_selection", (3, 5), ("a", "b"), plot_first=True
    )
    assert [s[:4] for s in seen] == [
        ("model_selection", 3, True, ("a", "b")),
        ("model_selection", 5, False, ("a", "b")),
    ]
    assert [s[4] for s in seen] == [str(tmp_path / "seed3"), str(tmp_path / "seed5")]
    assert runs == {
        "a": [{"seed": 3, "dataset": "a"}, {"seed": 5, "dataset": "a"}],
        "b": [{"seed": 3, "dataset": "b"}, {"seed": 5, "dataset": "b"}],
    }
    assert len(secs) == 2 and config.seed == 5
