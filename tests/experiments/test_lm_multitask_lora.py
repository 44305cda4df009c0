"""lm_multitask's LoRA-in-the-body runner (configs/gpu.py): tiny end-to-end run on synthetic
texts, and its vmapped features against a per-domain loop and the plain encoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _fdu_features as features
from experiments._lm_encoder import encoder_fns
from experiments.lm_multitask import lora_body, main
from experiments.lm_multitask.configs import gpu_test
from jtransfer import adapters
from tests.experiments.test_lm_multitask import synthetic_texts


@pytest.fixture
def synthetic(monkeypatch):
    monkeypatch.setattr(features, "domain_texts", synthetic_texts)


def test_end_to_end_tiny_lora_config(tmp_path, synthetic):
    cfg = gpu_test.get_config()
    out = main.train_and_evaluate(cfg, str(tmp_path / "run"))  # dispatches on config.adapter
    assert set(out["per_seed"]) == set(cfg.methods)
    for m, seeds in out["per_seed"].items():
        assert len(seeds) == len(cfg.seeds), m
        for s in seeds:
            assert len(s["test_err"]) == len(cfg.domains)
            assert all(0.0 <= e <= 1.0 for e in s["test_err"])
    assert out["soft_strength"] == [10.0]
    assert out["train_lines"] == [12] * len(cfg.domains)
    assert (tmp_path / "run" / "lora_body.json").exists()


def test_vmapped_lora_features_match_a_loop_and_the_plain_encoder(synthetic):
    cfg = gpu_test.get_config()
    cfg.forward_chunk = 0
    apply_fn, body, tok, _ = encoder_fns(cfg)
    pooled = lora_body.pooled_fn(apply_fn, -1)
    dev = lora_body.token_arrays(cfg, tok)
    ids, mask = jnp.asarray(dev["va_ids"]), jnp.asarray(dev["va_mask"])
    t = ids.shape[0]
    lora = adapters.lora_init(
        body, rank=2, targets=tuple(cfg.lora.targets), num_adapters=t, key=jax.random.key(1)
    )
    feats = jax.jit(lambda body, lora: lora_body.features(pooled, body, lora, ids, mask))
    plain = jax.jit(lambda p, i, m: apply_fn(p, {"input_ids": i, "attention_mask": m}).pooled)
    # b = 0 at the start: every adapter gives the pretrained encoder's pooled output
    f0 = feats(body, lora)
    for d in range(t):
        np.testing.assert_allclose(f0[d], plain(body, ids[d], mask[d]), rtol=1e-5, atol=1e-6)
    # random b: domain d's slice of the vmapped call equals its adapter merged alone
    lora = jax.tree.map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(2), a.shape), lora)
    f = feats(body, lora)
    assert float(jnp.abs(f - f0).max()) > 1e-3
    for d, one in enumerate(adapters.lora_unstack(lora)):
        merged = adapters.lora_merge(body, one)
        np.testing.assert_allclose(f[d], plain(merged, ids[d], mask[d]), rtol=1e-5, atol=1e-6)
    # a single (shared) adapter is applied to every domain
    shared = adapters.lora_unstack(lora)[0]
    fs = feats(body, shared)
    np.testing.assert_allclose(fs[0], f[0], rtol=1e-6)


def test_lora_targets_of_the_gpu_config_exist_in_minilm_layout():
    cfg = gpu_test.get_config()
    _, body, _, _ = encoder_fns(cfg)
    found = adapters.lora_targets(body, tuple(cfg.lora.targets))
    # 2 layers x (query, key, value, attention output, intermediate, output)
    assert len(found) == 12, sorted(found)


def test_validate_config_rejects_shared_private_and_the_cpu_adapter():
    cfg = gpu_test.get_config()
    cfg.methods = ("single_task", "asp")
    with pytest.raises(ValueError, match="methods"):
        lora_body.validate_config(cfg)
    cfg = gpu_test.get_config()
    cfg.adapter = "cpu"
    with pytest.raises(ValueError, match="adapter"):
        lora_body.validate_config(cfg)
