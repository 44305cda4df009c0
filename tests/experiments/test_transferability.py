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


@pytest.mark.parametrize("field, value", [("experiment", "magic"), ("num_folds", 1),
                                          ("n_labelled", (3,)), ("l2", 0.0),
                                          ("confidence", 1.5)])
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
    assert not os.listdir(tmp_path)
