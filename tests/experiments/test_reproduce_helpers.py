"""The report helpers of experiments/reproduce that several report.py files share (#15)."""

import os
import types

import numpy as np

from experiments.reproduce.seeds import run_seeds
from experiments.reproduce.stats import mean_std_text


def test_run_seeds_runs_each_seed_in_its_folder_with_its_config():
    calls = []

    def train_and_evaluate(config, folder):
        calls.append((config.seed, folder))
        return {"value": 10.0 * config.seed}

    metrics, walls, config = run_seeds(
        train_and_evaluate, lambda: types.SimpleNamespace(seed=-1), (3, 1, 2), "w"
    )
    assert calls == [(3, "w"), (1, os.path.join("w", "seed1")), (2, os.path.join("w", "seed2"))]
    assert metrics == {3: {"value": 30.0}, 1: {"value": 10.0}, 2: {"value": 20.0}}
    assert sorted(walls) == [1, 2, 3] and all(w >= 0 for w in walls.values())
    assert config.seed == 2


def test_mean_std_text_is_the_mean_and_sample_std():
    v = [0.81, 0.84, 0.9, 0.77]
    assert mean_std_text(v, 3) == f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" == "0.830 ± 0.055"
    assert mean_std_text([0.5], 1) == "0.5"  # one seed: no std
