"""lm_multitask: tiny end-to-end run on synthetic texts, and the pieces against references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lm_multitask import features, model, train
from experiments.lm_multitask.configs import test as test_config

WORDS = ["good", "great", "fine", "bad", "poor", "awful", "the", "a", "it", "was"]


def synthetic_texts(domain, *, max_per_split=0):
    """Class-dependent word lists: 12 train, 6 validation, 6 test lines per domain."""
    rng = np.random.default_rng(abs(hash(domain)) % 1000)
    text, y, split = [], [], []
    for s, n in (("train", 12), ("validation", 6), ("test", 6)):
        for i in range(n):
            c = i % 2
            w = rng.choice(WORDS[3 * c : 3 * c + 3], 3).tolist() + rng.choice(WORDS[6:], 3).tolist()
            text.append(" ".join(w))
            y.append(c)
            split.append(s)
    return {"text": np.array(text, object), "y": np.array(y), "split": np.array(split)}


@pytest.fixture
def synthetic(monkeypatch):
    monkeypatch.setattr(features, "domain_texts", synthetic_texts)


def test_end_to_end_tiny_config(tmp_path, synthetic):
    cfg = test_config.get_config()
    out = train.train_and_evaluate(cfg, str(tmp_path / "run"))
    assert set(out["per_seed"]) == set(cfg.methods)
    for m, seeds in out["per_seed"].items():
        assert len(seeds) == len(cfg.seeds), m
        for s in seeds:
            assert len(s["test_err"]) == len(cfg.domains)
            assert all(0.0 <= e <= 1.0 for e in s["test_err"])
    assert set(out["soft_strength"]) <= set(cfg.soft_grid)
