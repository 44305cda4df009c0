import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from experiments.two_moons import train
from experiments.two_moons.configs import test as test_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _final(workdir):
    with np.load(os.path.join(workdir, "final_params.npz")) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


def test_end_to_end_tiny_config_is_deterministic(tmp_path):
    c = test_config.get_config()
    m1 = train.train_and_evaluate(c, str(tmp_path / "a"))
    m2 = train.train_and_evaluate(c, str(tmp_path / "b"))
    assert m1["source_accuracy"] > 0.8        # 120 steps learn the source moons
    assert 0.0 <= m1["target_accuracy"] <= 1.0
    for k in ("source_accuracy", "target_accuracy"):
        assert m1[k] == m2[k]
    for a, b in zip(_final(tmp_path / "a"), _final(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)
    rows = [l for l in open(tmp_path / "a" / "metrics.jsonl")]
    assert len(rows) == 3
    c.seed = 1
    m3 = train.train_and_evaluate(c, str(tmp_path / "c"))
    assert any(not np.array_equal(a, b)
               for a, b in zip(_final(tmp_path / "a"), _final(tmp_path / "c")))
    del m3


@pytest.mark.parametrize("method", ["dann"])  # the shared loop; source_only is the same path
def test_sigkill_mid_training_then_resume_is_bit_identical(tmp_path, method):
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    base = [sys.executable, "-m", "experiments.two_moons.main",
            "--config", "experiments/two_moons/configs/test.py", f"--config.method={method}"]
    # Uninterrupted reference run.
    subprocess.run(base + ["--workdir", str(tmp_path / "ref")], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    # A run that SIGKILLs itself at step 75 (after the checkpoint at step 60).
    killed = subprocess.run(base + ["--workdir", str(tmp_path / "run"),
                                    "--config.debug_kill_at_step=75"],
                            env=env, cwd=ROOT, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "final_params.npz").exists()
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["30", "60"]
    # Resume to completion.
    subprocess.run(base + ["--workdir", str(tmp_path / "run")], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    for a, b in zip(_final(tmp_path / "ref"), _final(tmp_path / "run")):
        np.testing.assert_array_equal(a, b)


def test_adaptation_beats_source_only_on_seed_2(tmp_path):
    # Seed 2 of the ADAPT protocol (full 2400 steps): DANN aligns the rotated moons
    # (target 1.00) where the source-only boundary cuts through them (0.84).
    from experiments.two_moons.configs import quick

    accs = {}
    for method in ("source_only", "dann"):
        c = quick.get_config()
        c.method, c.seed, c.plot = method, 2, False
        accs[method] = train.train_and_evaluate(c, str(tmp_path / method))["target_accuracy"]
    assert accs["dann"] >= accs["source_only"] + 0.1, accs


@pytest.mark.parametrize("method", train.METHODS)
def test_every_method_runs_and_fits_the_source(tmp_path, method):
    c = test_config.get_config()
    c.method = method
    m = train.train_and_evaluate(c, str(tmp_path))
    assert m["source_accuracy"] > 0.7, m      # 120 steps; the alignment term slows fitting
    assert (tmp_path / "boundary.npz").exists()


@pytest.mark.parametrize("field, value", [("method", "magic"), ("batch_size", 0),
                                          ("batch_size", 1000), ("learning_rate", -1.0),
                                          ("eval_every", 0)])
def test_bad_config_raises_before_training(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()
