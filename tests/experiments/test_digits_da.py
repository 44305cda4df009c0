import os

import numpy as np
import pytest

from experiments.digits_da import train
from experiments.digits_da.configs import test as test_config


def test_end_to_end_and_alignment_beats_source_only(tmp_path):
    # 300 steps, seed 0: the rotated/noisy target is ~0.45 for the source-only MLP; MMD
    # feature alignment (λ = 1) lifts it clearly (measured ≈ +0.1 at 1000 steps).
    accs = {}
    for method in ("source_only", "mmd"):
        c = test_config.get_config()
        c.method = method
        m = train.train_and_evaluate(c, str(tmp_path / method))
        assert m["source_val_accuracy"] > 0.85, m
        accs[method] = m["target_accuracy"]
        assert m["lam"] == (0.0 if method == "source_only" else c.lam_grid[0])
    assert accs["mmd"] > accs["source_only"] + 0.03, accs


def test_lambda_is_selected_by_iw_accuracy_not_by_target_accuracy(tmp_path, monkeypatch):
    """The λ grid is scored by importance-weighted source-validation accuracy (label-free);
    the target accuracy of *that* λ is reported, and the best target accuracy only as the
    oracle. Canned fits (no training): IW picks λ = 0.1 (target 0.5), the oracle is 0.7."""
    from types import SimpleNamespace

    canned = {0.1: (0.90, 0.5), 1.0: (0.80, 0.7), 10.0: (0.85, 0.6)}  # λ: (IW acc, target)

    def fake_fit(xs, ys, xt, *, config, lam, key, workdir, n_out, evals):
        del xs, ys, xt, config, key, workdir, n_out, evals
        return SimpleNamespace(
            params={},
            lam=lam,
            metrics={"target_accuracy": canned[lam][1], "source_val_accuracy": 0.95},
        )

    # recipes.select_lam (jtransfer.recipes._da) fits and predicts
    monkeypatch.setattr(train.recipes._da, "fit_domain_adaptation", fake_fit)
    monkeypatch.setattr(train.recipes._da, "predict", lambda fit, x: fit.lam)
    monkeypatch.setattr(train.recipes._da.select, "iw_accuracy", lambda lam, y, w: canned[lam][0])
    c = test_config.get_config()
    c.method, c.lam_grid = "dann", (1.0, 0.1, 10.0)
    os.makedirs(tmp_path, exist_ok=True)
    m = train.train_and_evaluate(c, str(tmp_path))
    assert (m["lam"], m["target_accuracy"], m["oracle_target_accuracy"]) == (0.1, 0.5, 0.7)


@pytest.mark.parametrize(
    "field, value",
    [
        ("method", "magic"),
        ("lam_grid", ()),
        ("noise", -1.0),
        ("num_steps", 0),
        ("source_val_fraction", 1.0),
        ("sklearn_source_fraction", 0.0),
        ("mnist_target_split", 0),
        ("mnist_m_split", -1),
    ],
)
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))


def test_benchmark_pairs_have_the_documented_splits():
    """The full-suite pairs: JDA is transductive (target = test set), the full-USPS pair
    tests on the USPS test split, and MNIST → MNIST-M uses disjoint halves."""
    from experiments.digits_da.configs import full
    from tests.conftest import manual_dir_or_skip

    root = manual_dir_or_skip("mnist_usps_jda")
    sizes = {
        "jda_mu": (2000, 1800, 1800, 256),
        "jda_um": (1800, 2000, 2000, 256),
        "usps_mu": (10000, 7291, 2007, 256),
        "mnist_m": (4500, 4501, 4501, 3072),
    }
    sizes["usps_um"] = (7291, 5000, 5000, 256)
    for shift, (n_s, n_t, n_e, d) in sizes.items():
        c = full.get_config(shift)
        c.manual_dir = os.path.dirname(root)
        data = train.make_data(c)
        assert len(data["xs"]) + len(data["xv"]) == n_s and len(data["xv"]) == n_s // 5
        assert data["xt"].shape == (n_t, d) and data["xe"].shape == (n_e, d), shift
        np.testing.assert_allclose(np.linalg.norm(data["xs"], axis=1), 1.0, rtol=1e-5)
        assert sorted(np.unique(data["ye"])) == list(range(10))
        if shift.startswith("jda"):
            np.testing.assert_array_equal(data["xt"], data["xe"])


def test_split_sizes_come_from_the_config():
    """The defaults are the old hard-coded sizes (half the digits as source, n // 5 source
    validation, computed exactly for every n), and other values change the splits."""
    for n in range(1, 4000):
        assert train._share(n, 0.2) == n // 5 and train._share(n, 0.5) == n // 2
    c = test_config.get_config()
    d = train.make_data(c)
    n_src = 1797 // 2
    assert len(d["xs"]) + len(d["xv"]) == n_src and len(d["xv"]) == n_src // 5
    assert len(d["xt"]) == 1797 - n_src
    c.sklearn_source_fraction, c.source_val_fraction = 0.25, 0.5
    d = train.make_data(c)
    assert len(d["xs"]) + len(d["xv"]) == 449 and len(d["xv"]) == 224 and len(d["xt"]) == 1348


def test_benchmark_split_sizes_follow_the_config():
    from experiments.digits_da.configs import full
    from tests.conftest import manual_dir_or_skip

    root = manual_dir_or_skip("mnist_usps_jda")
    c = full.get_config("usps_um")
    c.manual_dir, c.mnist_target_split = os.path.dirname(root), 3000
    d = train.make_data(c)
    assert (len(d["xt"]), len(d["xe"])) == (3000, 7000)
    c = full.get_config("mnist_m")
    c.manual_dir, c.mnist_m_split = os.path.dirname(root), 5000
    d = train.make_data(c)
    assert len(d["xs"]) + len(d["xv"]) == 5000 and len(d["xt"]) == len(d["xe"]) == 4001
