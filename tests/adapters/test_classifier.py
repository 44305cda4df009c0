"""lora_classifier: one step equals a hand-written SGD step; training moves only adapter/head."""

import doctest
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer.adapters import LoraParams, linear_head_init, lora_classifier, lora_init

V, H, L, C = 12, 6, 5, 2


class Out(NamedTuple):
    hidden_states: tuple
    pooled: jax.Array


def _params():
    rng = np.random.default_rng(0)
    w = lambda *shape, s=1.0: jnp.asarray(s * rng.standard_normal(shape), jnp.float32)
    return {
        "embeddings": {"word": w(V, H)},
        "layer": {
            "0": {"query": {"kernel": w(H, H, s=H**-0.5)}, "value": {"kernel": w(H, H, s=H**-0.5)}}
        },
    }


def _apply(params, batch):
    m = batch["attention_mask"].astype(jnp.float32)[:, :, None]
    h0 = params["embeddings"]["word"][batch["input_ids"]]
    p = params["layer"]["0"]
    h1 = jnp.tanh(h0 @ p["query"]["kernel"]) @ p["value"]["kernel"]
    return Out((h0, h1), (h1 * m).sum(1) / jnp.maximum(m.sum(1), 1.0))


def _data(n=16):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, (n, L)).astype(np.int32)
    labels = (ids[:, 0] % 2).astype(np.int32)  # the class is in the first token
    mask = np.ones_like(ids)
    mask[:, 3:] = rng.integers(0, 2, (n, 2))
    return {"input_ids": ids, "attention_mask": mask.astype(np.int32)}, labels


def _manual_loss(lora, head, params, batch, labels):
    """An independent forward: W + (alpha/r) a b written out for the two kernels."""
    p = jax.tree.map(lambda x: x, params)
    for name in ("query", "value"):
        f = lora.factors["layer"]["0"][name]["kernel"]
        p["layer"]["0"][name]["kernel"] = p["layer"]["0"][name]["kernel"] + lora.scale * f.a @ f.b
    z = _apply(p, batch).pooled @ head["kernel"] + head["bias"][None]
    logp = jax.nn.log_softmax(z)
    return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()


def test_one_step_equals_manual_sgd_step():
    params, (batch, labels) = _params(), _data()
    lora = lora_init(params, rank=2, alpha=4.0, key=jax.random.key(1))
    lora = jax.tree.map(lambda x: x + 0.1, lora)  # non-zero b so every factor gets a gradient
    head = linear_head_init(H, C, key=jax.random.key(2))
    lr = 0.5
    clf = lora_classifier(_apply, optax.sgd(lr))
    state, metrics = clf.step(clf.init(lora, head), params, batch, labels)
    g_lora, g_head = jax.jit(jax.grad(_manual_loss, argnums=(0, 1)))(
        lora, head, params, batch, labels
    )
    want = jax.tree.map(
        lambda x, g: x - lr * g, {"lora": lora, "head": head}, {"lora": g_lora, "head": g_head}
    )
    jax.tree.map(
        lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6), state.trainable, want
    )
    np.testing.assert_allclose(
        metrics["loss"], _manual_loss(lora, head, params, batch, labels), rtol=1e-6
    )
    assert int(state.step) == 1 and isinstance(state.trainable["lora"], LoraParams)


@pytest.mark.parametrize("train_head", [True, False])
def test_training_decreases_loss_and_moves_only_adapter_and_head(train_head):
    params, (batch, labels) = _params(), _data()
    body = jax.tree.map(np.array, params)
    lora = lora_init(params, rank=2, key=jax.random.key(1))
    head = linear_head_init(H, C, std=1.0, key=jax.random.key(2))
    clf = lora_classifier(_apply, optax.adam(5e-2), train_head=train_head)
    state = clf.init(lora, head)
    first = None
    for _ in range(30):
        state, metrics = clf.step(state, params, batch, labels)
        first = metrics["loss"] if first is None else first
    assert float(metrics["loss"]) < 0.8 * float(first)
    jax.tree.map(np.testing.assert_array_equal, params, body)  # the body is an input only
    moved = jax.tree.map(
        lambda u, v: bool(jnp.any(u != v)), state.trainable, {"lora": lora, "head": head}
    )
    assert all(jax.tree.leaves(moved["lora"]))
    assert all(jax.tree.leaves(moved["head"])) == train_head


def test_weights():
    params, (batch, labels) = _params(), _data(4)
    clf = lora_classifier(_apply, optax.sgd(0.1))
    tr = {"lora": lora_init(params, rank=1), "head": linear_head_init(H, C)}
    w = jnp.array([1.0, 0.0, 0.0, 0.0])
    loss = jax.jit(clf.loss)
    l1, _ = loss(tr, params, batch, labels, w)
    single = {k: v[:1] for k, v in batch.items()}
    l2, _ = loss(tr, params, single, labels[:1])
    np.testing.assert_allclose(l1, l2, rtol=1e-6)


def test_docstring_examples_run():
    import jtransfer.adapters._classifier as mod

    assert doctest.testmod(mod).failed == 0


def test_train_state_round_trips_through_the_checkpoint_manager(tmp_path):
    from jtransfer.train import CheckpointManager, tree_equal

    params = _params()
    clf = lora_classifier(_apply, optax.adam(1e-3))
    state = clf.init(lora_init(params, rank=2, num_adapters=3), linear_head_init(H, C))
    with CheckpointManager(tmp_path, save_every=1) as mngr:
        mngr.save(1, state)
        restored = mngr.restore(1, state)
    assert isinstance(restored.trainable["lora"], LoraParams) and tree_equal(restored, state)
