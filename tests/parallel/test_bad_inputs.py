"""parallel: every bad input in one table (#17 items 6-8)."""

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from jtransfer import parallel
from tests.bad_inputs import Case, check_case, ids


def _mesh():
    return parallel.make_mesh(1)


def _cfg(shape):
    return ml_collections.ConfigDict({"mesh_shape": shape})


CASES = [
    Case("process_slice(-1)", lambda: parallel.process_slice(-1), (), "n", "static"),
    Case("process_slice(2.5)", lambda: parallel.process_slice(2.5), (), "n", "static"),
    Case("process_slice(True)", lambda: parallel.process_slice(True), (), "n", "static"),
    Case(
        "shard_batch: unknown axis",
        lambda: parallel.shard_batch(jnp.ones((2, 1)), _mesh(), axis_name="batch"),
        (),
        "axis_name 'batch'",
        "static",
    ),
    Case(
        "shard_batch: a 0-d leaf",
        lambda: parallel.shard_batch(jnp.ones(()), _mesh()),
        (),
        "batch leaf",
        "static",
    ),
    Case("make_mesh: 0 devices", lambda: parallel.make_mesh(0), (), "num_devices", "static"),
    Case(
        "make_mesh: more devices than exist",
        lambda: parallel.make_mesh(len(jax.devices()) + 1),
        (),
        "num_devices",
        "static",
    ),
    Case(
        "check_mesh_shape: (0,)",
        lambda: parallel.check_mesh_shape(_cfg((0,))),
        (),
        "mesh_shape",
        "static",
    ),
    Case(
        "check_mesh_shape: two axes",
        lambda: parallel.check_mesh_shape(_cfg((1, 1))),
        (),
        "mesh_shape",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)
