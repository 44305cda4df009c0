"""Sharded training equals single-device training: 8 simulated devices and 2 processes."""

import json
import os
import sys

import numpy as np
import pytest

from jtransfer.parallel import launch as launch_mod
from tests.conftest import start_on_devices

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER = os.path.join(os.path.dirname(__file__), "_scale_worker.py")


def _env(**extra):  # for the 2-process launch
    pp = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": ROOT + (os.pathsep + pp if pp else ""),
        "JAX_PLATFORMS": "cpu",
        **extra,
    }


_WORKER = """
import sys
from tests.parallel._scale_worker import main
main(*sys.argv[1:])
print("{}")
"""


def _here(tmp_path):
    """The worker's quantities computed in this process, which sees one device (with JAX's
    default rank promotion, as in the worker's own processes)."""
    import jax

    from tests.parallel import _scale_worker

    out = tmp_path / "single1.json"
    with jax.numpy_rank_promotion("allow"):
        _scale_worker.main(str(out))
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 1-device reference, computed in this process (the same computation as a fresh
    1-device process)."""
    return _here(tmp_path_factory.mktemp("ref"))


def _assert_same(got, ref):
    np.testing.assert_allclose(got["dann"]["losses"], ref["dann"]["losses"], atol=1e-5)
    for a, b in zip(got["dann"]["params"], ref["dann"]["params"]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(got["maml"]["loss"], ref["maml"]["loss"], atol=1e-5, rtol=1e-6)
    for a, b in zip(got["maml"]["grad"], ref["maml"]["grad"]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    for name in ("es", "pes"):
        np.testing.assert_allclose(got["es"][name]["loss"], ref["es"][name]["loss"], rtol=1e-5)
        # ES/PES divide loss differences by 2σ²: compare at 1e-5 of the gradient's scale.
        scale = max(np.abs(b).max() for b in ref["es"][name]["grad"])
        for a, b in zip(got["es"][name]["grad"], ref["es"][name]["grad"]):
            np.testing.assert_allclose(a, b, atol=1e-5 * scale, rtol=0)
    for name in ("grads", "imtl_g", "cagrad", "mgda"):
        for a, b in zip(got["mtl"][name], ref["mtl"][name]):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_eight_simulated_devices_equal_one(tmp_path, request):
    import jax
    import jax.numpy as jnp

    from jtransfer.train import CheckpointManager

    # A 1-device checkpoint for the sharded run to restore.
    with CheckpointManager(tmp_path / "from_one", save_every=1) as mngr:
        mngr.save(3, {"w": -jnp.arange(64.0).reshape(16, 4), "b": jnp.full(3, 2.0)})
    out = tmp_path / "single8.json"
    args = out, tmp_path / "from_eight", tmp_path / "from_one"
    with start_on_devices(_WORKER, 8, *args) as pending:
        reference = request.getfixturevalue("reference")  # meanwhile, on the other core
        pending.result()
    got = json.loads(out.read_text())
    # The 8-device run restored the 1-device checkpoint, sharded over its mesh ...
    assert got["ckpt"]["step"] == 3 and "data" in got["ckpt"]["w_sharding"]
    np.testing.assert_array_equal(got["ckpt"]["w"], -np.arange(64.0).reshape(16, 4))
    np.testing.assert_array_equal(got["ckpt"]["b"], 2.0)
    # ... and its sharded checkpoint restores here, on one device.
    with CheckpointManager(tmp_path / "from_eight", save_every=1) as mngr:
        restored, step = mngr.restore_or({"w": jnp.zeros((16, 4)), "b": jnp.zeros(3)})
    assert step == 7 and len(restored["w"].devices()) == 1 and jax.device_count() == 1
    np.testing.assert_array_equal(restored["w"], np.arange(64.0).reshape(16, 4))
    assert got["device_count"] == 8 and reference["device_count"] == 1
    assert "pop" in got["es"]["pes"]["accum_spec"]
    _assert_same(got, reference)


def test_two_processes_equal_one(tmp_path, reference):
    out = tmp_path / "mp.json"
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]
    try:
        results = launch_mod.launch(
            [sys.executable, WORKER, str(out)], 2, local_devices=2, timeout=600, capture=True
        )
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["process_count"] == 2 and got["device_count"] == 4
    _assert_same(got, reference)


def _sinusoid(workdir):
    from experiments.maml_sinusoid import train
    from experiments.maml_sinusoid.configs import test

    c = test.get_config()
    c.plot = False
    c.mesh_shape = (-1,)
    return train.train_and_evaluate(c, workdir)


_SINUSOID = """
import json, sys
from tests.parallel.test_scale_out import _sinusoid
print(json.dumps(_sinusoid(sys.argv[1])))
"""


def test_experiment_config_mesh_shape_runs_task_parallel(tmp_path):
    """maml_sinusoid with ``config.mesh_shape=(-1,)``: 4 devices (a fresh process) give the
    1-device metrics (this process, meanwhile)."""
    with start_on_devices(_SINUSOID, 4, tmp_path / "d4") as pending:
        one = _sinusoid(str(tmp_path / "d1"))
        four = pending.result()
    keys = [k for k in one if k.startswith(("maml_k5", "pretrained_k5"))]
    assert keys
    for k in keys:
        np.testing.assert_allclose(four[k], one[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_mesh_shape_must_divide_the_meta_batch():
    from experiments.maml_sinusoid import train
    from experiments.maml_sinusoid.configs import test

    c = test.get_config()
    c.mesh_shape = (0,)
    with pytest.raises(ValueError, match="mesh_shape"):
        train.validate_config(c)
