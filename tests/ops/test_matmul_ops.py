"""jtransfer.ops.matmul_ops against the native lax ops (values and gradients).

The second-order check inside MAML is ``tests/meta/test_meta.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import ops


def _net(params, x):
    h = jax.lax.conv_general_dilated(
        x, params["k"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    h = jax.lax.reduce_window(
        jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"
    )
    return jnp.sum(jnp.tanh(h) ** 2)


def test_matmul_ops_values_and_gradients_equal_native_ops():
    rng = np.random.default_rng(0)
    params = {"k": jnp.asarray(rng.normal(size=(3, 3, 2, 4)) / 3, jnp.float32)}
    x = jnp.asarray(rng.normal(size=(2, 6, 6, 2)), jnp.float32)
    fast = ops.matmul_ops(_net)
    np.testing.assert_allclose(fast(params, x), _net(params, x), rtol=1e-5)
    np.testing.assert_allclose(
        jax.grad(fast)(params, x)["k"], jax.grad(_net)(params, x)["k"], rtol=1e-4, atol=1e-5
    )
    names = {e.primitive.name for e in jax.make_jaxpr(fast)(params, x).jaxpr.eqns}
    assert not names & {"conv_general_dilated", "reduce_window_max"}
    with pytest.raises(ValueError, match="callable"):
        ops.matmul_ops(None)
