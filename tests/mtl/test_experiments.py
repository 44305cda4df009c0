"""End-to-end runs of the multi-task experiments with tiny configs."""

import math
import os

import pytest

from tests.conftest import manual_dir_or_skip, start_on_devices


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
        # the reported mean is the mean of both tasks, and the per-seed list agrees with it
        assert m[f"{method}/acc_mean"] == pytest.approx(
            (m[f"{method}/acc_left"] + m[f"{method}/acc_right"]) / 2
        )
        assert m[f"{method}/acc_mean_per_seed"] == [pytest.approx(m[f"{method}/acc_mean"])]
        assert math.isnan(m[f"{method}/acc_left_std"])  # one seed: no ddof = 1 spread
    assert m["mgda/acc_mean"] > 0.1  # above chance after 30 steps
    assert os.path.exists(tmp_path / "pareto.png")
    assert os.path.isdir(tmp_path / "seed0" / "mgda" / "checkpoints")
    config.methods = ("nope",)
    with pytest.raises(ValueError, match="unknown"):
        train.train_and_evaluate(config, str(tmp_path))


def _scale_out(workdir):
    """digits and School with ``mesh_shape=(-1,)`` on the devices this process sees."""
    from experiments.mtl_digits import train as digits
    from experiments.mtl_digits.configs import test as digits_test
    from experiments.mtl_school import train as school
    from experiments.mtl_school.configs import test as school_test

    out = {}
    for name, mod, cfg in (("digits", digits, digits_test), ("school", school, school_test)):
        c = cfg.get_config()
        c.plot = False
        c.mesh_shape = (-1,)
        if name == "digits":  # the exact MGDA solver; one evaluation, no intermediate saves
            c.methods = ("mgda",)
            c.num_steps = c.eval_every = c.save_every = 10
        else:  # few steps: the run is compile-bound
            c.eb_steps, c.hard_steps = 20, 10
            c.save_every = c.hard_steps
        m = mod.train_and_evaluate(c, workdir + "/" + name)
        out.update({name + ":" + k: v for k, v in m.items() if k != "seconds"})
    return out


_SCALE_OUT = """
import json, sys
from tests.mtl.test_experiments import _scale_out
print(json.dumps(_scale_out(sys.argv[1])))
"""


def test_config_mesh_shape_shards_batch_and_tasks(tmp_path):
    """``config.mesh_shape=(-1,)`` on 4 simulated devices (digits: batch over ``data``; School:
    tasks over ``task`` in learned soft sharing) gives the 1-device metrics (this process, side
    by side with the 4-device one); a bad mesh shape -> ValueError."""
    import numpy as np

    from experiments.mtl_digits import train as digits
    from experiments.mtl_digits.configs import test as digits_test
    from experiments.mtl_school import train as school
    from experiments.mtl_school.configs import test as school_test

    with start_on_devices(_SCALE_OUT, 4, tmp_path / "d4") as pending:
        one = _scale_out(str(tmp_path / "d1"))
        four = pending.result()
    assert one.keys() == four.keys() and any(k.startswith("school:") for k in one)
    for k in one:
        np.testing.assert_allclose(four[k], one[k], rtol=1e-4, atol=1e-4, err_msg=k)
    for mod, cfg in ((digits, digits_test), (school, school_test)):
        c = cfg.get_config()
        c.mesh_shape = (0,)
        with pytest.raises(ValueError, match="mesh_shape"):
            mod.validate_config(c)
