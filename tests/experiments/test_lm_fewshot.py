"""lm_fewshot: tiny end-to-end run on synthetic texts, and the prototype baseline by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _fdu_features as features
from experiments.lm_fewshot import report, train
from experiments.lm_fewshot.configs import test as test_config
from experiments.reproduce.results import read_results
from tests.experiments.test_lm_multitask import synthetic_texts


@pytest.fixture
def synthetic(monkeypatch):
    monkeypatch.setattr(features, "domain_texts", synthetic_texts)


def test_end_to_end_tiny_config(tmp_path, synthetic):
    cfg = test_config.get_config()
    out = train.train_and_evaluate(cfg, str(tmp_path / "run"))
    assert set(out["acc"]) == set(cfg.shots)
    for k in cfg.shots:
        assert set(out["acc"][k]) == set(cfg.methods)
        for a in out["acc"][k].values():
            assert len(a) == cfg.num_test_episodes and all(0.0 <= v <= 1.0 for v in a)
    report.write_artefacts(out, cfg, "full", root=tmp_path)
    k = cfg.shots[0]
    rec = read_results("lm_fewshot", f"accuracy_{k}shot", root=tmp_path)
    assert rec["baseline"] == "ft_multitask" and rec["seeds"] == list(range(cfg.num_test_episodes))
    np.testing.assert_allclose(rec["values"]["maml"], [100 * a for a in out["acc"][k]["maml"]])


def test_prototype_is_nearest_class_mean():
    rng = np.random.default_rng(0)
    xs, xq = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 6, 5))
    ys = np.array([[0, 0, 1, 1]] * 3)
    yq = rng.integers(0, 2, (3, 6))
    got = train.evaluate(
        "prototype", None, tuple(map(jnp.asarray, (xs, ys, xq, yq))), None, 5, None
    )
    want = []
    for e in range(3):
        mu = np.stack([xs[e, ys[e] == c].mean(0) for c in (0, 1)])
        pred = np.argmin(((xq[e, :, None] - mu[None]) ** 2).sum(-1), 1)
        want.append((pred == yq[e]).mean())
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_meta_test_domains_never_in_meta_training():
    from experiments.lm_fewshot.configs import default

    cfg = default.get_config()
    assert not set(cfg.meta_train) & set(cfg.meta_test)
    assert len(cfg.meta_train) == 12 and len(cfg.meta_test) == 4
