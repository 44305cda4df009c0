import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jtransfer import models


@pytest.mark.parametrize(
    "make, x_shape, out_shape",
    [
        (lambda r: models.MLP(3, (16, 8), 4, rngs=r), (5, 3), (5, 4)),
        (lambda r: models.MLP(3, (), 2, rngs=r), (5, 3), (5, 2)),
        (lambda r: models.Conv4(1, 5, rngs=r), (2, 28, 28, 1), (2, 5)),
        (lambda r: models.Conv4(3, 20, hidden=32, image_size=84, rngs=r), (2, 84, 84, 3), (2, 20)),
        (lambda r: models.LeNet(1, 10, image_size=16, rngs=r), (2, 16, 16, 1), (2, 10)),
        (lambda r: models.LeNet(3, 10, image_size=32, rngs=r), (2, 32, 32, 3), (2, 10)),
        (lambda r: models.DomainDiscriminator(7, (12,), rngs=r), (4, 7), (4,)),
    ],
)
def test_output_shapes(make, x_shape, out_shape):
    m = make(nnx.Rngs(0))
    assert m(jnp.ones(x_shape)).shape == out_shape


def test_conv4_matches_the_maml_architecture():
    m = models.Conv4(1, 5, rngs=nnx.Rngs(0))
    _, params = models.functional(m)
    shapes = sorted(tuple(a.shape) for a in jax.tree.leaves(params))
    # 4 conv kernels (3x3), 4 BN scales + biases, 4 conv biases, the head.
    assert shapes.count((3, 3, 1, 64)) == 1 and shapes.count((3, 3, 64, 64)) == 3
    assert shapes.count((64,)) == 12 and (64, 5) in shapes and (5,) in shapes
    assert m.features(jnp.ones((2, 28, 28, 1))).shape == (2, 64)


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: models.MLP(3, (4,), 2, rngs=nnx.Rngs(0)), jnp.ones((2, 5))),
        (lambda: models.Conv4(1, 5, rngs=nnx.Rngs(0)), jnp.ones((2, 28, 28, 3))),
        (lambda: models.Conv4(1, 5, rngs=nnx.Rngs(0)), jnp.ones((28, 28, 1))),
        (lambda: models.LeNet(1, 10, image_size=28, rngs=nnx.Rngs(0)), jnp.ones((2, 32, 32, 1))),
    ],
)
def test_wrong_input_shape_raises_at_first_call(make, x):
    m = make()
    with pytest.raises(ValueError, match="input x must have shape"):
        m(x)
    apply_fn, params = models.functional(m)
    with pytest.raises(ValueError, match="input x must have shape"):
        jax.jit(apply_fn)(params, x)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(in_features=0, hidden=(4,), out_features=2),
        dict(in_features=3, hidden=(-1,), out_features=2),
        dict(in_features=3, hidden=(4,), out_features=2, activation="swishy"),
    ],
)
def test_bad_constructor_args(kwargs):
    with pytest.raises(ValueError):
        models.MLP(**kwargs, rngs=nnx.Rngs(0))


def test_functional_matches_module_and_is_pure():
    m = models.MLP(3, (8,), 2, rngs=nnx.Rngs(1))
    apply_fn, params = models.functional(m)
    x = jax.random.normal(jax.random.key(0), (4, 3))
    np.testing.assert_allclose(apply_fn(params, x), m(x), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(apply_fn)(params, x), m(x), rtol=1e-6)
    zeros = jax.tree.map(jnp.zeros_like, params)
    np.testing.assert_array_equal(apply_fn(zeros, x), 0.0)
    back = models.with_params(m, zeros)
    np.testing.assert_array_equal(back(x), 0.0)
    np.testing.assert_allclose(m(x), apply_fn(params, x), rtol=1e-6)  # original untouched


def test_functional_gradients_match_finite_differences():
    with jax.enable_x64(True):
        m = models.MLP(2, (5,), 1, activation="tanh", rngs=nnx.Rngs(0))
        apply_fn, params = models.functional(m)
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x = jax.random.normal(jax.random.key(1), (3, 2), jnp.float64)
        loss = lambda p: jnp.sum(apply_fn(p, x) ** 2)
        g = jax.grad(loss)(params)
        leaves, treedef = jax.tree.flatten(params)
        direction = [
            jax.random.normal(jax.random.key(i), a.shape, a.dtype) for i, a in enumerate(leaves)
        ]
        eps = 1e-6
        shift = lambda s: jax.tree.unflatten(
            treedef, [a + s * d for a, d in zip(leaves, direction)]
        )
        fd = (loss(shift(eps)) - loss(shift(-eps))) / (2 * eps)
        analytic = sum(jnp.vdot(a, d) for a, d in zip(jax.tree.leaves(g), direction))
        np.testing.assert_allclose(fd, analytic, rtol=1e-6)


def test_batchnorm_functional_form_uses_batch_statistics_and_never_updates_them():
    m = models.Conv4(1, 5, hidden=8, rngs=nnx.Rngs(0))
    apply_train, params = models.functional(m, train=True)
    apply_eval, _ = models.functional(m, train=False)
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (6, 28, 28, 1))
    before = jax.tree.map(np.asarray, apply_train.rest)
    y1 = apply_train(params, x)
    y2 = jax.jit(apply_train)(params, x)
    after = jax.tree.map(np.asarray, apply_train.rest)
    jax.tree.map(np.testing.assert_array_equal, before, after)  # running stats untouched
    np.testing.assert_allclose(y1, y2, rtol=1e-4, atol=1e-5)
    # Transductive: each example's output depends on the rest of the batch in train mode only.
    x_other = x.at[1:].set(0.0)
    assert not np.allclose(apply_train(params, x)[0], apply_train(params, x_other)[0])
    np.testing.assert_allclose(apply_eval(params, x)[0], apply_eval(params, x_other)[0], rtol=1e-5)
    # Train-mode first block output is normalised with the batch's own mean and variance.
    block = models.functional(m.blocks[0], train=True)[0]
    conv = m.blocks[0].conv(x)
    mean, var = conv.mean((0, 1, 2), keepdims=True), conv.var((0, 1, 2), keepdims=True)
    bn = m.blocks[0].norm
    scale, bias = bn.scale[...].reshape(1, 1, 1, -1), bn.bias[...].reshape(1, 1, 1, -1)
    ref = jax.nn.relu((conv - mean) / jnp.sqrt(var + bn.epsilon) * scale + bias)
    ref = nnx.max_pool(ref, window_shape=(2, 2), strides=(2, 2), padding="VALID")
    np.testing.assert_allclose(block(nnx.state(m.blocks[0], nnx.Param), x), ref, atol=1e-4)


def test_with_params_rejects_a_mismatched_tree():
    m = models.MLP(3, (8,), 2, rngs=nnx.Rngs(1))
    _, other = models.functional(models.MLP(3, (9,), 2, rngs=nnx.Rngs(1)))
    with pytest.raises(ValueError, match="shapes"):
        models.with_params(m, other)
    with pytest.raises(ValueError):
        models.functional("not a module")
