import numpy as np
import pytest

from experiments.office_caltech import data as ocd
from experiments.office_caltech import train
from experiments.office_caltech.configs import test as test_config
from tests.conftest import manual_dir_or_skip


def test_preprocessing_is_l1_then_population_zscore():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(30, 6)).astype(float)
    x[:, 2] = 0.0  # a constant feature stays at 0
    z = ocd.preprocess(x)
    l1 = x / x.sum(1, keepdims=True)
    sd = l1.std(0, ddof=0)
    ok = sd > 0
    np.testing.assert_allclose(z[:, ok], (l1[:, ok] - l1[:, ok].mean(0)) / sd[ok], atol=1e-12)
    np.testing.assert_array_equal(z[:, ~ok], 0.0)


def test_sample_per_class_takes_at_most_k_of_each():
    y = np.repeat(np.arange(3), [5, 2, 9])
    idx = ocd.sample_per_class(y, 3, np.random.default_rng(0))
    assert np.bincount(y[idx]).tolist() == [3, 2, 3]


def test_end_to_end_tiny_config(tmp_path, monkeypatch):
    root = manual_dir_or_skip("office_caltech10_surf")
    c = test_config.get_config()
    c.manual_dir = root.rsplit("/", 1)[0]
    r = train.train_and_evaluate(c, str(tmp_path))
    # D→W / W→D are the easy shifts (published NA 52-79, CORAL 85-87 %).
    for proto in ("all", "sampled"):
        for m in ("NA", "CORAL"):
            assert 40.0 < r[f"{proto}/{m}/avg"] <= 100.0, (proto, m, r[f"{proto}/{m}/avg"])
    # CORAL beats no adaptation on these shifts in both protocols (paper: +29 / +6 points).
    assert r["all/CORAL/avg"] > r["all/NA/avg"]
    assert r["sampled/CORAL/avg"] > r["sampled/NA/avg"]
    for m in c.deep_methods:
        assert 0.0 <= r[f"all/{m}/avg"] <= 100.0
        assert r[f"all/{m}/D→W/oracle"] >= r[f"all/{m}/D→W"]


@pytest.mark.parametrize(
    "field, value",
    [("shifts", ("A→A",)), ("svm_cs", ()), ("num_trials", 0), ("protocols", ("magic",))],
)
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
