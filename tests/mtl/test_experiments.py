"""End-to-end runs of the multi-task experiments with tiny configs."""

import math
import os

import pytest

from tests.conftest import manual_dir_or_skip


def test_school_tiny_synthetic(tmp_path):
    from experiments.mtl_school import train
    from experiments.mtl_school.configs import test

    config = test.get_config()
    m = train.train_and_evaluate(config, str(tmp_path))
    for method in train.METHODS:
        assert math.isfinite(m[f"{method}/explained_variance_mean"])
        assert m[f"{method}/rmse_mean"] > 0
    # synthetic tasks share a mean with spread 0.3: sharing must beat pooling everything
    assert m["soft_learned/explained_variance_mean"] > m["pooled_ridge/explained_variance_mean"]
    assert 0.05 < m["soft_learned/median_sigma"] < 2.0
    assert os.path.exists(tmp_path / "school.png")
    assert os.path.exists(tmp_path / "metrics.jsonl")
    config.num_splits = 0
    with pytest.raises(ValueError, match="num_splits"):
        train.train_and_evaluate(config, str(tmp_path))


@pytest.mark.data
def test_school_real_data_loads(tmp_path):
    from experiments.mtl_school import train
    from experiments.mtl_school.configs import default

    config = default.get_config()
    config.manual_dir = manual_dir_or_skip("school") + "/.."
    tasks = train.load_tasks(config)
    assert len(tasks) == 139 and sum(len(y) for _, y in tasks) == 15362
    assert all(x.shape[1] == 28 for x, _ in tasks)


def test_digits_tiny(tmp_path):
    from experiments.mtl_digits import train
    from experiments.mtl_digits.configs import test

    config = test.get_config()
    m = train.train_and_evaluate(config, str(tmp_path))
    for method in config.methods:
        for side in ("left", "right"):
            assert 0.0 <= m[f"{method}/acc_{side}"] <= 1.0
    assert m["mgda/acc_mean"] > 0.1  # above chance after 30 steps
    assert os.path.exists(tmp_path / "pareto.png")
    assert os.path.isdir(tmp_path / "seed0" / "mgda" / "checkpoints")
    config.methods = ("nope",)
    with pytest.raises(ValueError, match="unknown"):
        train.train_and_evaluate(config, str(tmp_path))
