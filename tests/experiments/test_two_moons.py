import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from experiments.two_moons import train
from experiments.two_moons.configs import test as test_config
from tests.conftest import start_on_devices

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _final(workdir):
    with np.load(os.path.join(workdir, "final_params.npz")) as f:
        return [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]


def test_end_to_end_tiny_config_is_deterministic(tmp_path):
    c = test_config.get_config()
    m1 = train.train_and_evaluate(c, str(tmp_path / "a"))
    m2 = train.train_and_evaluate(c, str(tmp_path / "b"))
    assert m1["source_accuracy"] > 0.8  # 120 steps learn the source moons
    assert 0.0 <= m1["target_accuracy"] <= 1.0
    for k in ("source_accuracy", "target_accuracy"):
        assert m1[k] == m2[k]
    for a, b in zip(_final(tmp_path / "a"), _final(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)
    rows = [l for l in open(tmp_path / "a" / "restart0" / "metrics.jsonl")]
    assert len(rows) == 3
    c.seed = 1
    m3 = train.train_and_evaluate(c, str(tmp_path / "c"))
    assert any(
        not np.array_equal(a, b) for a, b in zip(_final(tmp_path / "a"), _final(tmp_path / "c"))
    )
    del m3


@pytest.fixture(scope="module")
def dann_run(tmp_path_factory):
    """One uninterrupted DANN run of the tiny config: (workdir, metrics)."""
    c = test_config.get_config()
    c.method = "dann"
    workdir = tmp_path_factory.mktemp("dann_ref")
    return workdir, train.train_and_evaluate(c, str(workdir))


def test_sigkill_mid_training_then_resume_is_bit_identical(tmp_path, request):
    """The command line killed at step 75, then resumed, ends where an uninterrupted run
    ends (the reference and the resume run in this process: the same computation; the
    reference while the killed run runs)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    base = [
        sys.executable,
        "-m",
        "experiments.two_moons.main",
        "--config",
        "experiments/two_moons/configs/test.py",
        "--config.method=dann",
    ]
    # A run that SIGKILLs itself at step 75 (after the checkpoint at step 60).
    killed = subprocess.Popen(
        base + ["--workdir", str(tmp_path / "run"), "--config.debug_kill_at_step=75"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ref_dir, ref = request.getfixturevalue("dann_run")
    except BaseException:
        killed.kill()
        raise
    finally:
        killed.wait(timeout=600)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "final_params.npz").exists()
    assert sorted(os.listdir(tmp_path / "run" / "restart0" / "checkpoints")) == ["30", "60"]
    # Resume to completion.
    c = test_config.get_config()
    c.method = "dann"
    resumed = train.train_and_evaluate(c, str(tmp_path / "run"))
    accuracies = [k for k in ref if k.endswith("accuracy")]  # (NaN: no reverse validation)
    assert "target_accuracy" in accuracies
    np.testing.assert_equal([resumed[k] for k in accuracies], [ref[k] for k in accuracies])
    for a, b in zip(_final(ref_dir), _final(tmp_path / "run")):
        np.testing.assert_array_equal(a, b)


def test_adaptation_beats_source_only_on_seed_2(tmp_path):
    # Seed 2 of the ADAPT protocol (full 2400 steps, one restart): DANN aligns the rotated
    # moons (target 0.96) where the source-only boundary cuts through them (0.80).
    from experiments.two_moons.configs import quick

    accs = {}
    for method in ("source_only", "dann"):
        c = quick.get_config()
        c.method, c.seed, c.plot, c.num_restarts = method, 2, False, 1
        accs[method] = train.train_and_evaluate(c, str(tmp_path / method))["target_accuracy"]
    assert accs["dann"] >= accs["source_only"] + 0.1, accs


def test_reverse_validation_separates_a_good_from_a_constant_labelling(tmp_path):
    """A source-fitted model's target labels carry back to the source (reverse accuracy high);
    a model that labels every target point 0 gives a one-class reverse problem, whose reverse
    model can only be at chance (0.5) on the balanced source."""
    import jax

    from jtransfer import recipes

    c = train._with_steps(test_config.get_config())
    data = train.make_data(c)
    key = jax.random.key(c.seed)
    fit = recipes.fit_domain_adaptation(
        data["xs"],
        data["ys"],
        data["xt"],
        config=c,
        key=key,
        workdir=str(tmp_path / "fit"),
        n_out=1,
    )
    good_acc, good_loss = recipes.reverse_validate(
        fit, data["xs"], data["ys"], data["xt"], config=c, key=key, workdir=str(tmp_path / "good")
    )
    # Every weight 0 and the head's output bias -5: logit -5 (class 0) for every input.
    last = len(c.head_hidden)
    const = jax.tree_util.tree_map_with_path(
        lambda path, a: (
            a * 0
            - 5.0 * (jax.tree_util.keystr(path).startswith(f"['head']['layers'][{last}]['bias']"))
        ),
        fit.params,
    )
    bad_acc, bad_loss = recipes.reverse_validate(
        fit,
        data["xs"],
        data["ys"],
        data["xt"],
        config=c,
        key=key,
        workdir=str(tmp_path / "bad"),
        params=const,
    )
    assert good_acc > 0.65 and bad_acc == 0.5, (good_acc, bad_acc)  # 0.72 vs 0.5
    assert good_loss < bad_loss


@pytest.mark.parametrize("method", train.METHODS)
def test_every_method_runs_and_fits_the_source(tmp_path, method, dann_run):
    c = test_config.get_config()
    c.method = method
    workdir, m = dann_run if method == "dann" else (tmp_path, None)
    m = m or train.train_and_evaluate(c, str(tmp_path))
    assert m["source_accuracy"] > 0.7, m  # 120 steps; the alignment term slows fitting
    assert (workdir / "boundary.npz").exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("method", "magic"),
        ("batch_size", 0),
        ("batch_size", 1000),
        ("learning_rate", -1.0),
        ("eval_every", 0),
    ],
)
def test_bad_config_raises_before_training(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()


def _mesh_run(workdir):
    import jax

    from experiments.two_moons import train
    from experiments.two_moons.configs import test

    c = test.get_config()
    c.method, c.batch_size, c.num_epochs, c.eval_every, c.save_every = "dann", 20, 10, 50, 50
    c.mesh_shape = (-1,)
    m = train.train_and_evaluate(c, workdir)
    with np.load(os.path.join(workdir, "final_params.npz")) as f:
        m["params"] = [f[k].ravel().tolist() for k in sorted(f.files, key=lambda s: int(s[4:]))]
    m["devices"] = jax.device_count()
    return m


_MESH_RUN = """
import json, sys
from tests.experiments.test_two_moons import _mesh_run
print(json.dumps(_mesh_run(sys.argv[1])))
"""


def test_config_mesh_shape_runs_data_parallel(tmp_path):
    """The shared DA loop with ``config.mesh_shape=(-1,)``: the source and target batches are
    sharded over 4 simulated devices (parameters replicated) and give the 1-device run (this
    process, which sees one device)."""
    with start_on_devices(_MESH_RUN, 4, tmp_path / "d4", timeout=300) as pending:
        one = _mesh_run(str(tmp_path / "d1"))  # meanwhile
        four = pending.result()
    assert one["devices"] == 1 and four["devices"] == 4
    for k in ("source_accuracy", "target_accuracy"):
        assert four[k] == one[k], k
    for a, b in zip(one["params"], four["params"]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_mesh_shape_must_divide_the_batch(tmp_path):
    c = test_config.get_config()
    c.mesh_shape = (0,)
    with pytest.raises(ValueError, match="mesh_shape"):
        train.train_and_evaluate(c, str(tmp_path))
    c.mesh_shape = (3,)  # 34 is not a multiple of 3 (needs 3 devices: checked first)
    with pytest.raises(ValueError, match="mesh_shape|devices"):
        train.train_and_evaluate(c, str(tmp_path))
