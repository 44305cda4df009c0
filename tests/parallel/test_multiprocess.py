import json
import os
import sys

import numpy as np
import pytest

from jtransfer.parallel import launch as launch_mod

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER = os.path.join(os.path.dirname(__file__), "_mp_worker.py")


def _run(tmp_path, n, local_devices=None):
    out = tmp_path / f"out{n}.json"
    os.environ.setdefault("PYTHONPATH", ROOT)
    env_pp = os.environ["PYTHONPATH"]
    if ROOT not in env_pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = ROOT + os.pathsep + env_pp
    results = launch_mod.launch([sys.executable, WORKER, str(out)], n,
                                local_devices=local_devices, timeout=240, capture=True)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_processes_compute_the_same_gradient_as_one(tmp_path):
    one = _run(tmp_path, 1)
    two = _run(tmp_path, 2, local_devices=2)
    assert one["process_count"] == 1 and two["process_count"] == 2
    assert two["device_count"] == 4
    np.testing.assert_allclose(two["grad"], one["grad"], atol=1e-6)


def test_launcher_rejects_bad_arguments():
    with pytest.raises(ValueError):
        launch_mod.launch([sys.executable, "-c", "pass"], 0)
    with pytest.raises(ValueError):
        launch_mod.launch([], 2)
    failing = launch_mod.launch([sys.executable, "-c", "import sys; sys.exit(3)"], 2,
                                capture=True)
    assert {r.returncode for r in failing} <= {3, -9} and 3 in {r.returncode for r in failing}
