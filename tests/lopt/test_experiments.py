"""End-to-end runs of the learned-optimizer experiments with their tiny configs."""

import functools
import math
import os

import jax
import numpy as np

from experiments import _lopt as common
from experiments.lopt_digits import train as digits_train
from experiments.lopt_digits.configs import test as digits_test
from experiments.lopt_quadratics import train as quad_train
from experiments.lopt_quadratics.configs import test as quad_test
from jtransfer import lopt


def test_quadratics_end_to_end_and_resume(tmp_path):
    config = quad_test.get_config()
    m = quad_train.train_and_evaluate(config, str(tmp_path))
    for name in ("SGD", "Adam"):
        assert m[f"{name}/lr"] in config.lr_grid
        # a tuned optimizer makes progress: the last step's loss is below the curve's average
        assert m[f"{name}/final_log10_loss"] < m[f"{name}/avg_log10_loss"], name
    assert math.isfinite(m["LSTM (tbptt)/final_log10_loss"])  # few meta-steps: no claim
    lo = common.make_lopt(config)
    theta = lopt.load_theta(str(tmp_path / "theta"), lo)
    assert theta["out"]["w"].shape == (config.lstm_hidden, 1)
    assert os.path.exists(tmp_path / "results.json")
    # Meta-training again resumes from the final checkpoint: nothing left, the same theta.
    family = functools.partial(lopt.quadratic_task, dim=config.dim)
    again, _, history = common.meta_train(config, str(tmp_path), lo, family)
    assert jax.tree.all(jax.tree.map(np.array_equal, again, theta))
    assert history[0] == m["meta_loss_first"]


def test_digits_end_to_end(tmp_path):
    m = digits_train.train_and_evaluate(digits_test.get_config(), str(tmp_path))
    for variant in ("relu",):
        for name in ("Adam", "LSTM"):
            assert math.isfinite(m[f"{variant}/{name}/final_log10_loss"]), (variant, name)


def test_experiments_registered():
    from experiments.reproduce.registry import discover

    found = discover()
    assert found["lopt_quadratics"].suites == ("quick", "full")
    assert found["lopt_digits"].suites == ("full",)
