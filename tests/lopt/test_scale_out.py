"""``config.mesh_shape`` of the learned-optimizer experiments: 4 simulated devices give the
1-device meta-training (meta-loss history and theta), with TBPTT tasks over axis ``task``
and the PES population over axis ``pop``."""

import functools

import jax
import numpy as np

from experiments import _lopt as common
from experiments.lopt_quadratics.configs import test
from jtransfer import lopt
from tests.conftest import start_on_devices


def _meta_train(workdir):
    """Meta-trains TBPTT and PES with ``mesh_shape=(-1,)`` on the devices this process sees;
    also tries a mesh that does not divide the tasks."""
    out = {"devices": jax.device_count()}
    family = functools.partial(lopt.quadratic_task, dim=3)
    for estimator in ("tbptt", "pes"):  # tasks over axis "task", the population over "pop"
        c = test.get_config()
        c.estimator, c.num_tasks, c.mesh_shape = estimator, 4, (-1,)
        theta, _, history = common.meta_train(
            c, workdir + "/" + estimator, common.make_lopt(c), family
        )
        out[estimator] = {
            "history": history,
            "theta": [np.asarray(x).ravel().tolist() for x in jax.tree.leaves(theta)],
        }
    c.num_tasks = 3
    try:
        common.make_mesh(c)
        out["bad"] = "ran"
    except ValueError as err:
        out["bad"] = str(err)
    return out


_SCRIPT = """
import json, sys
from tests.lopt.test_scale_out import _meta_train
print(json.dumps(_meta_train(sys.argv[1])))
"""


def test_experiment_config_mesh_shape_runs_meta_batch_parallel(tmp_path):
    """4 devices (a fresh process) give the 1-device run (this process, meanwhile)."""
    with start_on_devices(_SCRIPT, 4, tmp_path / "d4") as pending:
        one = _meta_train(str(tmp_path / "d1"))
        four = pending.result()
    assert (one["devices"], four["devices"]) == (1, 4)
    for estimator in ("tbptt", "pes"):
        np.testing.assert_allclose(
            four[estimator]["history"], one[estimator]["history"], rtol=1e-4, err_msg=estimator
        )
        for a, b in zip(four[estimator]["theta"], one[estimator]["theta"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=estimator)
    assert one["bad"] == "ran"  # one device: mesh_shape (-1,) is a 1-device mesh
    assert "num_tasks=3" in four["bad"] and "4 devices" in four["bad"], four["bad"]
