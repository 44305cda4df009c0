import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import parallel
from tests.conftest import start_on_devices


def _train(n):
    """Ten data-parallel Adam steps on ``n`` devices (all the process sees)."""
    import jax
    import optax

    from jtransfer.parallel import data_parallel_step, make_mesh, replicate, shard_batch

    assert len(jax.devices()) == n
    mesh = make_mesh(n)
    params = {"w": jax.random.normal(jax.random.key(0), (5, 3)), "b": jnp.zeros(3)}
    x = jax.random.normal(jax.random.key(1), (64, 5))
    y = jax.random.normal(jax.random.key(2), (64, 3))

    def loss_fn(p, batch):
        xb, yb = batch
        return jnp.mean((jnp.tanh(xb @ p["w"] + p["b"][None, :]) - yb) ** 2)

    opt = optax.adam(1e-2)
    params = replicate(params, mesh)
    opt_state = replicate(opt.init(params), mesh)
    step = data_parallel_step(loss_fn, opt, mesh)
    batch = shard_batch((x, y), mesh)
    assert len(batch[0].addressable_shards) == n
    losses = []
    for _ in range(10):
        params, opt_state, loss = step(params, opt_state, batch)
        losses.append(float(loss))
    return {
        "losses": losses,
        "w": jax.device_get(params["w"]).tolist(),
        "b": jax.device_get(params["b"]).tolist(),
    }


_SCRIPT = """
import json
from tests.parallel.test_parallel import _train
print(json.dumps(_train(8)))
"""


def test_data_parallel_on_8_simulated_devices_equals_1_device():
    """8 simulated devices (a fresh process) equal 1 device (this process, meanwhile)."""
    with start_on_devices(_SCRIPT, 8) as pending:
        one = _train(1)
        eight = pending.result()
    np.testing.assert_allclose(eight["losses"], one["losses"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(eight["w"], one["w"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(eight["b"], one["b"], atol=1e-5, rtol=0)
    assert one["losses"][-1] < one["losses"][0]


def test_shard_batch_rejects_indivisible_batches():
    mesh = parallel.make_mesh(1)
    parallel.shard_batch(jnp.ones((3, 2)), mesh)  # any size splits over one device
    with pytest.raises(ValueError, match="leading dimension"):
        parallel.shard_batch(jnp.float32(1.0), mesh)


def test_mesh_from_config_validates_the_shape_and_is_none_for_one_device():
    import ml_collections

    from jtransfer import parallel

    c = ml_collections.ConfigDict({"mesh_shape": (1,), "batch_size": 7})
    assert parallel.mesh_from_config(c, "data", divides={"batch_size": 7}) is None
    for bad in [(2, 2), (0,), (-2,)]:
        c.mesh_shape = bad
        with pytest.raises(ValueError, match="mesh_shape"):
            parallel.mesh_from_config(c, "data")
    assert parallel.mesh_from_config(ml_collections.ConfigDict(), "data") is None
