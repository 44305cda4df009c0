"""``matmul_ops`` on the MAML Conv4 (flax, BatchNorm -> ReLU -> max-pool) in float64, under jit:
the adapted parameters and the second-order meta-gradient equal the native ops' to 1e-10.

Issue #21: with x64 on, the loss and gradient matched eagerly but ``jit``-compiled adaptation was
up to 0.146 off (a pool gradient taken as ``window == max(window)`` lost its mass when XLA
recomputed the window's producer in two fusions with different rounding).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jtransfer import meta, models, ops


def test_conv4_adapt_and_meta_gradient_match_native_ops_in_float64():
    with jax.enable_x64(True):
        apply_fn, params = models.functional(
            models.Conv4(1, 5, hidden=64, rngs=nnx.Rngs(0)), train=True
        )
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        r = np.random.default_rng(0)
        x = jnp.asarray(r.normal(size=(2, 5, 28, 28, 1)))  # 2 tasks; 28 -> 14 -> 7 -> 3 -> 1
        y = jnp.tile(jnp.arange(5), (2, 1))

        def loss_fn(p, batch):
            logits = apply_fn(p, batch[0])
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

        def adapted(fn):
            return jax.jit(lambda p: meta.adapt(fn, p, (x[0], y[0]), inner_lr=0.4, num_steps=1))(
                params
            )

        def outer(fn):
            f = lambda p: meta.maml_loss(fn, p, ((x, y), (x[::-1], y)), inner_lr=0.4, num_steps=1)
            return jax.jit(jax.value_and_grad(f))(params)

        fast = ops.matmul_ops(loss_fn)
        for a, b in zip(
            jax.tree.leaves(adapted(fast)), jax.tree.leaves(adapted(loss_fn)), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
        (v_fast, g_fast), (v, g) = outer(fast), outer(loss_fn)
        np.testing.assert_allclose(v_fast, v, rtol=1e-10)
        for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
