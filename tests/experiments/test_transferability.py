import json
import os

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
    sel = realdata.shift_selection(src, tgt, num_classes=10, config=c, key=None, use_coral=True)
    assert len(sel["candidates"]) == 4
    assert all(sel[k] <= sel["oracle"] for k in realdata.CRITERIA)


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


_MESH_RUN = """
import json, sys
from experiments.transferability import train
from experiments.transferability.configs import test
c = test.get_config()
c.mesh_shape = (int(sys.argv[2]),)
train.train_and_evaluate(c, sys.argv[1])
print(json.dumps(json.load(open(sys.argv[1] + "/negative_transfer_cases.json"))))
"""


def test_mesh_shape_shards_the_fits_and_matches_one_device(tmp_path):
    """config.mesh_shape=(-1,) on 3 simulated devices (10 fits padded to 12) == 1 device."""
    import numpy as np

    from tests.conftest import run_on_devices

    def run(devices, shape):
        return run_on_devices(_MESH_RUN, devices, tmp_path / f"d{devices}", shape)

    one, four = run(1, 1), run(3, -1)  # 3 devices: 10 fits are padded to 12
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
