import numpy as np
import pytest

from experiments.sample_bias import train
from experiments.sample_bias import weights as W
from experiments.sample_bias.configs import test as test_config
from jtransfer import data as jdata


def test_end_to_end_tiny_config(tmp_path):
    c = test_config.get_config()
    m = train.train_and_evaluate(c, str(tmp_path))
    for k in train.METHODS:
        assert 0.0 < m[f"{k}_mae"] < 1.0, (k, m)
        assert 1.0 <= m[f"{k}_ess"] <= 100.0 + 1e-3
    assert m["source_only_ess"] == pytest.approx(100.0)
    assert (tmp_path / "fits.npz").exists() and (tmp_path / "metrics.jsonl").exists()


def test_estimated_weights_track_the_true_ratio():
    # Independent reference: the analytic q/p of the toy (uniform over Gaussian); the
    # estimators must rank the source points like it (Spearman correlation).
    import jax
    from scipy.stats import spearmanr

    d = jdata.sample_bias_regression(jax.random.key(3), n_source=100, n_target=100)
    xs, xt = d["xs"].astype(float), d["xt"].astype(float)
    truth = W.true_ratio(xs)
    for name, w in [("kliep", W.kliep(xs, xt)[0]),
                    ("ulsif", W.ulsif(xs, xt)[0]), ("classifier", W.classifier_ratio(xs, xt))]:
        rho = spearmanr(w, truth).statistic
        assert rho > 0.6, (name, rho)   # uniform weights give 0 (undefined)


def test_kmm_reduces_the_weighted_mmd():
    # KMM's objective is the squared MMD between the weighted source and the target; its
    # solution must beat uniform weights (and KMM's weights are sparse, so a rank
    # correlation with q/p is not the right check).
    import jax

    d = jdata.sample_bias_regression(jax.random.key(3), n_source=100, n_target=100)
    xs, xt = d["xs"].astype(float), d["xt"].astype(float)

    def mmd2(w):
        w = w / w.sum()
        return (w @ W.gauss(xs, xs, 0.5) @ w - 2 * w @ W.gauss(xs, xt, 0.5).mean(1)
                + W.gauss(xt, xt, 0.5).mean())

    assert mmd2(W.kmm(xs, xt, sigma=0.5)) < 0.2 * mmd2(np.ones(100))


def test_kmm_meets_its_constraints():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(40, 1)), rng.uniform(-2, 2, size=(30, 1))
    b = W.kmm(xs, xt, sigma=1.0, B=5.0)
    eps = (np.sqrt(40) - 1) / np.sqrt(40)
    assert b.min() >= 0 and b.max() <= 5.0 + 1e-6
    assert abs(b.sum() - 40) <= 40 * eps + 1e-6


@pytest.mark.parametrize("field, value", [("num_steps", 0), ("learning_rate", -1.0),
                                          ("kmm_gamma", 0.0), ("methods", ("magic",))])
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
