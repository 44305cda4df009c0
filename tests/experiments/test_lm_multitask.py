"""lm_multitask: tiny end-to-end run on synthetic texts, and the pieces against references."""

import numpy as np
import pytest

from experiments import _fdu_features as features
from experiments.lm_multitask import analysis, report, train
from experiments.lm_multitask.configs import test as test_config
from experiments.reproduce.results import read_results

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
    assert len(out["benchmark"]) == len(cfg.seeds)
    assert out["benchmark"][0]["max_abs_diff"] < 1e-5
    report.write_artefacts(out, cfg, "full", root=tmp_path)
    avg = read_results("lm_multitask", "average_error", root=tmp_path)
    assert avg["baseline"] == "single_task" and not avg["higher_is_better"]
    want = [100 * np.mean(r["test_err"]) for r in out["per_seed"]["hard"]]
    np.testing.assert_allclose(avg["values"]["hard"], want)
    for name in (
        "domain_error_single_task",
        "domain_gain",
        "negative_transfer",
        "step_time",
        "probe_train_lines",
    ):
        assert read_results("lm_multitask", name, root=tmp_path)["values"]


def test_select_chooses_on_validation_only():
    # 3 evaluations, 2 domains, 2 validation / 2 test lines; test correctness never consulted
    va = np.array(
        [[[1, 1], [0, 0]], [[0, 0], [1, 1]], [[1, 0], [1, 0]]], bool
    )  # domain 0 best at e=0, domain 1 at e=1; mean best at e=0 or e=1 (tie -> first)
    te = np.random.default_rng(0).random((3, 2, 2)) > 0.5
    verr, terr, _ = train.select("single_task", va, te)
    np.testing.assert_array_equal(verr, [0.0, 0.0])
    np.testing.assert_array_equal(terr, [1 - te[0, 0].mean(), 1 - te[1, 1].mean()])
    _, terr, _ = train.select("hard", va, te)
    np.testing.assert_array_equal(terr, 1 - te[0].mean(-1))


def test_detector_counts_against_a_hand_computed_case():
    n = 200
    good, bad = np.ones(n, bool), np.zeros(n, bool)
    base = [{"test_err": [0.1, 0.1], "val_correct": [good, good]}]
    joint = [{"test_err": [0.3, 0.05], "val_correct": [bad, good]}]  # domain 0 hurt + flagged
    rec = analysis.detector({"single_task": base, "hard": joint})["hard"]
    assert rec == {"hurt": [1], "flagged": [1], "hits": [1], "false_alarms": [0], "n": [2]}


def test_fisher_diag_matches_a_per_example_loop():
    import jax
    import jax.numpy as jnp

    from experiments import _fdu_adapter as model

    t, b, d, r = 2, 3, 5, 2
    k = jax.random.split(jax.random.key(0), 4)
    params = {
        "ad": jax.tree.map(
            lambda a: a + 0.1 * jax.random.normal(k[0], a.shape),
            model.adapter_init(k[1], d, r, t),
        ),
        "head": {"w": jax.random.normal(k[2], (t, d)), "c": jnp.zeros((t,))},
    }
    x = jax.random.normal(k[3], (t, b, d))
    y = jnp.array([[0, 1, 1], [1, 0, 0]])
    n = jnp.array([10.0, 20.0])
    got = train._fisher_diag(params, x, y, n)
    for ti in range(t):
        ad = jax.tree.map(lambda a, ti=ti: a[ti], params["ad"])
        head = jax.tree.map(lambda a, ti=ti: a[ti], params["head"])
        sq = None
        for i in range(b):

            def loss(a, i=i, head=head, ti=ti):
                f = x[ti, i] + model.adapter_delta(a, x[ti, i])
                return model.bce(model.logit(head, f), y[ti, i])

            g = jax.tree.map(np.asarray, jax.grad(loss)(ad))
            sq = jax.tree.map(lambda s, v: s + v**2, sq, g) if sq else jax.tree.map(np.square, g)
        for name in ("down", "b", "up"):
            np.testing.assert_allclose(got[name][ti], n[ti] * sq[name] / b, rtol=1e-5, atol=1e-7)


def test_private_branch_of_shared_private_gets_gradient():
    """With a zero private branch and a zero head both private gradients vanish (sp == hard);
    the private up-projections therefore start small and random."""
    import jax
    import jax.numpy as jnp

    cfg = test_config.get_config()
    t, b, d = 3, 4, 6
    params = train.init_params("sp", jax.random.key(0), t, d, cfg)
    x = jax.random.normal(jax.random.key(1), (t, b, d))
    y = jnp.array([[0, 1, 0, 1]] * t)
    g = jax.grad(lambda p: train.objective("sp", p, x, y, jnp.full((t,), b), cfg)[0])(params)
    assert float(jnp.abs(g["head"]["w"][:, d:]).max()) > 0  # the head's private half
