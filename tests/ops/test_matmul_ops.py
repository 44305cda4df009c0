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


@pytest.mark.parametrize(
    "padding, dims",
    [(((0, 1), (2, 1)), ("NHWC", "HWIO", "NHWC")), (((1, 0), (0, 2)), ("NCHW", "OIHW", "NCHW"))],
)
def test_custom_vjp_convolution_second_derivatives_equal_native_in_float64(padding, dims):
    # The stride-1 path has a custom VJP (input gradient = convolution with the flipped kernel
    # and complementary padding; kernel gradient with its own VJP). Asymmetric padding, a
    # non-square kernel and both layouts: value, gradient and a Hessian-vector product of a
    # nonlinear function equal those of the native convolution to 1e-12 (float64).
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        xs = (2, 5, 6, 3) if dims[0] == "NHWC" else (2, 3, 5, 6)
        ks = (2, 3, 3, 4) if dims[1] == "HWIO" else (4, 3, 2, 3)
        x, k = (jnp.asarray(rng.normal(size=s)) for s in (xs, ks))
        vx, vk = (jnp.asarray(rng.normal(size=s)) for s in (xs, ks))

        def f(x, k):
            y = jax.lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=dims)
            return jnp.sum(jnp.sin(y) * y)

        fast = ops.matmul_ops(f)
        jaxpr = str(jax.make_jaxpr(fast)(x, k))
        assert "conv_general_dilated" not in jaxpr and "custom_vjp_call" in jaxpr
        plain = ops.matmul_ops(f, conv_vjp=False)  # autodiff of the patch form: forward mode too
        assert "custom_vjp_call" not in str(jax.make_jaxpr(plain)(x, k))

        def hvp_rev(fn):  # reverse over reverse (what MAML does)
            inner = lambda a, b: sum(  # noqa: E731
                jnp.vdot(g, v) for g, v in zip(jax.grad(fn, (0, 1))(a, b), (vx, vk), strict=True)
            )
            return jax.grad(inner, (0, 1))(x, k)

        def hvp_fwd(fn):  # forward over reverse (what meta.imaml does)
            return jax.jvp(jax.grad(fn, (0, 1)), (x, k), (vx, vk))[1]

        want = hvp_fwd(f)
        for fn in (fast, plain):
            np.testing.assert_allclose(fn(x, k), f(x, k), rtol=1e-12)
            for a, b in zip(jax.grad(fn, (0, 1))(x, k), jax.grad(f, (0, 1))(x, k), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
            for a, b in zip(hvp_rev(fn), want, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
        for a, b in zip(hvp_fwd(plain), want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
        with pytest.raises(TypeError, match="forward-mode"):
            hvp_fwd(fast)
        with pytest.raises(ValueError, match="conv_vjp"):
            ops.matmul_ops(f, conv_vjp="yes")
