"""LoRA as pure pytree functions, checked against NumPy, finite differences and loops."""

import doctest
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jtransfer import adapters
from jtransfer.adapters import (
    LoraFactors,
    LoraParams,
    lora_apply,
    lora_init,
    lora_merge,
    lora_num_params,
    lora_optimizer,
    lora_stack,
    lora_unstack,
)

D_IN, D_HID, D_OUT = 5, 7, 3


def _params(key=0, dtype=np.float32):
    """A 2-layer MLP with HF-like paths; 'query' and 'value' are the two dense layers."""
    rng = np.random.default_rng(key)
    w = lambda *shape: jnp.asarray(rng.standard_normal(shape).astype(dtype))
    return {
        "encoder": {
            "layer": {
                "0": {
                    "query": {"kernel": w(D_IN, D_HID), "bias": w(D_HID)},
                    "value": {"kernel": w(D_HID, D_OUT), "bias": w(D_OUT)},
                }
            }
        }
    }


def _apply(params, x):
    p = params["encoder"]["layer"]["0"]
    h = jnp.tanh(x @ p["query"]["kernel"] + p["query"]["bias"][None])
    return h @ p["value"]["kernel"] + p["value"]["bias"][None]


def _randomise_b(lora, key):
    """LoRA starts with b = 0; give b random values so the update is not trivially zero."""
    rng = np.random.default_rng(key)
    return jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape).astype(x.dtype)), lora)


def test_zero_initialised_adapter_leaves_outputs_unchanged():
    params = _params()
    lora = lora_init(params, rank=2, key=jax.random.key(1))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((4, D_IN)), jnp.float32)
    np.testing.assert_array_equal(_apply(lora_merge(params, lora), x), _apply(params, x))
    flat = {
        p: f
        for p, f in zip(
            lora.paths, jax.tree.leaves(lora.factors, is_leaf=lambda f: isinstance(f, LoraFactors))
        )
    }
    assert set(flat) == {"encoder/layer/0/query/kernel", "encoder/layer/0/value/kernel"}
    a = flat["encoder/layer/0/query/kernel"].a
    assert a.shape == (D_IN, 2) and float(jnp.abs(a).max()) > 0
    assert float(jnp.abs(a).max()) <= 1 / np.sqrt(D_IN)  # Kaiming-uniform bound


@pytest.mark.parametrize("alpha", [None, 8.0])
def test_merge_equals_numpy_w_plus_scaled_b_a(alpha):
    params = _params()
    rank = 3
    lora = _randomise_b(lora_init(params, rank=rank, alpha=alpha, key=jax.random.key(1)), 3)
    merged = lora_merge(params, lora)
    scale = (rank if alpha is None else alpha) / rank
    for name in ("query", "value"):
        f = lora.factors["encoder"]["layer"]["0"][name]["kernel"]
        A, B = np.asarray(f.a, np.float64).T, np.asarray(f.b, np.float64).T  # paper layout
        W = np.asarray(params["encoder"]["layer"]["0"][name]["kernel"], np.float64)
        want = W + scale * (B @ A).T
        got = merged["encoder"]["layer"]["0"][name]["kernel"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(
            merged["encoder"]["layer"]["0"][name]["bias"],
            params["encoder"]["layer"]["0"][name]["bias"],
        )
    np.testing.assert_allclose(
        lora_merge(params, lora, scale=0.0)["encoder"]["layer"]["0"]["query"]["kernel"],
        params["encoder"]["layer"]["0"]["query"]["kernel"],
    )


def test_num_params_is_r_times_din_plus_dout():
    lora = lora_init(_params(), rank=2)
    assert lora_num_params(lora) == 2 * (D_IN + D_HID) + 2 * (D_HID + D_OUT)
    assert lora_num_params(lora_init(_params(), rank=2, num_adapters=4)) == 4 * lora_num_params(
        lora
    )


def test_nnx_state_paths_and_structure():
    class Block(nnx.Module):
        def __init__(self, rngs):
            self.query = nnx.Linear(4, 6, rngs=rngs)
            self.value = nnx.Linear(6, 2, rngs=rngs)

    _, state = nnx.split(Block(nnx.Rngs(0)), nnx.Param)
    lora = _randomise_b(lora_init(state, rank=2), 1)
    assert lora.paths == ("query/kernel", "value/kernel")  # nnx's trailing .value dropped
    merged = lora_merge(state, lora)
    assert jax.tree.structure(merged) == jax.tree.structure(state)
    f = lora.factors["query"]["kernel"]
    np.testing.assert_allclose(
        merged["query"]["kernel"].get_value(),
        state["query"]["kernel"].get_value() + np.asarray(f.a) @ f.b,
        rtol=1e-5,
        atol=1e-6,
    )


def test_optimizer_mask_updates_only_adapter_and_head():
    params = _params()
    lora = _randomise_b(lora_init(params, rank=2, key=jax.random.key(1)), 5)
    head = {
        "kernel": jnp.asarray(np.random.default_rng(6).standard_normal((D_OUT, 2)), jnp.float32)
    }
    tree = {"body": params, "lora": lora, "head": head}
    x = jnp.asarray(np.random.default_rng(7).standard_normal((8, D_IN)), jnp.float32)
    y = jnp.arange(8) % 2

    def loss(tree):
        logits = _apply(lora_merge(tree["body"], tree["lora"]), x) @ tree["head"]["kernel"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grads = jax.jit(jax.grad(loss))(tree)
    assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads["body"]))
    lr = 0.1
    tx = lora_optimizer(optax.sgd(lr), train=["head/*"])
    state = tx.init(tree)
    updates, _ = jax.jit(tx.update)(grads, state, tree)
    for u in jax.tree.leaves(updates["body"]):
        np.testing.assert_array_equal(u, np.zeros(u.shape))
    manual = jax.tree.map(lambda g: -lr * g, {"lora": grads["lora"], "head": grads["head"]})
    jax.tree.map(
        lambda u, m: np.testing.assert_allclose(u, m, rtol=1e-6),
        {"lora": updates["lora"], "head": updates["head"]},
        manual,
    )
    # Without `train`, the head is frozen too; adam keeps no moments for frozen leaves.
    tx = lora_optimizer(optax.adam(1e-3))
    labels = adapters.lora_labels(tree)
    assert jax.tree.leaves(labels["head"]) == ["frozen"]
    assert set(jax.tree.leaves(labels["lora"])) == {"trainable"}
    n_state = sum(x.size for x in jax.tree.leaves(jax.eval_shape(tx.init, tree)))
    assert n_state == 2 * lora_num_params(lora) + 1  # mu, nu, count


def test_training_the_adapter_alone_leaves_params_constant():
    params = _params()
    lora = lora_init(params, rank=2, key=jax.random.key(1))
    x = jnp.asarray(np.random.default_rng(7).standard_normal((8, D_IN)), jnp.float32)
    fn = lora_apply(_apply)
    g = jax.grad(lambda lora: jnp.sum(fn(params, lora, x) ** 2))(lora)
    assert isinstance(g, LoraParams) and g.alpha == lora.alpha
    # b = 0 at init: the gradient reaches b, not a (d/da of a @ 0 is 0).
    for f in jax.tree.leaves(g.factors, is_leaf=lambda f: isinstance(f, LoraFactors)):
        assert float(jnp.abs(f.b).max()) > 0
        np.testing.assert_array_equal(f.a, np.zeros(f.a.shape))


def test_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        params = _params(dtype=np.float64)
        lora = _randomise_b(lora_init(params, rank=2, alpha=4.0, key=jax.random.key(1)), 2)
        x = jnp.asarray(np.random.default_rng(3).standard_normal((6, D_IN)))
        leaves, treedef = jax.tree.flatten(lora)
        fn = lora_apply(_apply)

        @jax.jit
        def loss(leaves):
            return jnp.sum(jnp.sin(fn(params, jax.tree.unflatten(treedef, leaves), x)))

        grads = jax.jit(jax.grad(loss))(leaves)
        rng = np.random.default_rng(0)
        eps = 1e-6
        for i in range(len(leaves)):  # each a and each b along two random directions
            for _ in range(2):
                d = rng.standard_normal(leaves[i].shape)
                plus, minus = list(leaves), list(leaves)
                plus[i], minus[i] = leaves[i] + eps * d, leaves[i] - eps * d
                fd = (loss(plus) - loss(minus)) / (2 * eps)
                np.testing.assert_allclose(float(jnp.vdot(grads[i], d)), float(fd), rtol=1e-6)


def test_stacked_adapter_under_vmap_equals_loop():
    params = _params()
    T = 3
    init = lora_init(params, rank=2, num_adapters=T, key=jax.random.key(1))
    a = init.factors["encoder"]["layer"]["0"]["query"]["kernel"].a
    assert init.num_adapters == T and float(jnp.abs(a[0] - a[1]).max()) > 0  # own draws
    lora = _randomise_b(init, 9)
    xs = jnp.asarray(np.random.default_rng(4).standard_normal((T, 5, D_IN)), jnp.float32)
    fn = lora_apply(_apply)
    got = jax.jit(jax.vmap(fn, in_axes=(None, 0, 0)))(params, lora, xs)
    singles = lora_unstack(lora)
    single = jax.jit(fn)
    for t in range(T):
        np.testing.assert_allclose(got[t], single(params, singles[t], xs[t]), rtol=1e-6, atol=1e-6)
    restacked = lora_stack(singles)
    for u, v in zip(jax.tree.leaves(restacked), jax.tree.leaves(lora)):
        np.testing.assert_array_equal(u, v)


def test_the_frozen_body_is_not_batched_under_vmap():
    params = _params()
    lora = lora_init(params, rank=2, num_adapters=4)
    # out_axes=None asserts an output does not depend on the mapped axis (vmap raises if it
    # does): only the adapted kernels get a leading adapter axis, the rest is not copied.
    out_axes = jax.tree_util.tree_map_with_path(
        lambda p, _: 0 if adapters.path_str(p).endswith("kernel") else None, params
    )
    merged = jax.vmap(lambda l: lora_merge(params, l), out_axes=out_axes)(lora)
    assert merged["encoder"]["layer"]["0"]["query"]["kernel"].shape == (4, D_IN, D_HID)
    assert merged["encoder"]["layer"]["0"]["query"]["bias"].shape == (D_HID,)
    with pytest.raises(ValueError):  # the kernels do depend on the adapter axis
        jax.vmap(lambda l: lora_merge(params, l), out_axes=None)(lora)


def test_regex_targets_and_key_reproducibility():
    params = _params()
    lora = lora_init(params, rank=1, targets=[re.compile(r"value/kernel$")])
    assert lora.paths == ("encoder/layer/0/value/kernel",)
    l1 = lora_init(params, rank=2, key=jax.random.key(5))
    l2 = lora_init(params, rank=2, key=jax.random.key(5))
    for u, v in zip(jax.tree.leaves(l1), jax.tree.leaves(l2)):
        np.testing.assert_array_equal(u, v)


def test_docstring_examples_run():
    import jtransfer.adapters._lora as mod

    assert doctest.testmod(mod).failed == 0


def test_vmapped_adapters_do_not_copy_unadapted_weights():
    """Compiled temp memory: T copies of the adapted kernel only, never of the frozen one."""
    params = {"big": {"kernel": jnp.ones((512, 512))}, "query": {"kernel": jnp.ones((512, 8))}}
    T = 8
    fn = lora_apply(lambda p, x: (x @ p["big"]["kernel"]) @ p["query"]["kernel"])

    def temp_bytes(targets):
        lora = lora_init(params, rank=2, targets=targets, num_adapters=T)
        compiled = (
            jax.jit(jax.vmap(fn, in_axes=(None, 0, 0)))
            .lower(params, lora, jnp.ones((T, 4, 512)))
            .compile()
        )
        stats = compiled.memory_analysis()
        if stats is None:
            pytest.skip("this backend reports no memory analysis")
        return stats.temp_size_in_bytes

    big = 512 * 512 * 4
    assert temp_bytes(["query/kernel"]) < big  # the 1 MiB body is shared by all T
    assert temp_bytes(["big/kernel"]) >= T * big  # an adapted kernel is merged T times
