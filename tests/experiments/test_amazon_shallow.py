"""The DANN authors' shallow protocol (experiments/amazon_reviews/shallow.py): the fast NumPy
loop against autodiff of the loss and against a transcription of the reference's update, the
early-stopping rule on a hand-made risk sequence, the sign of the reversal on a shift where
DANN helps, and the artefacts' effects from known per-seed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.amazon_reviews import shallow
from experiments.reproduce import results
from tests.conftest import manual_dir_or_skip


def _tiny(seed=0, d=40, ns=12, nt=9):
    rng = np.random.default_rng(seed)
    xs = ((rng.random((ns, d)) < 0.2) * rng.integers(1, 4, (ns, d))).astype(np.float32)
    xs[:, 0], xs[0, 0] = 0.0, 2.0  # word 0 in one row (sparse padding also uses index 0)
    xt = ((rng.random((nt, d)) < 0.3) * rng.integers(1, 4, (nt, d))).astype(np.float32)
    return rng, xs, rng.integers(0, 2, ns), xt


def _params(rng, d, hidden, n_runs):
    ps = [shallow.init_params(jax.random.key(i), d, hidden) for i in range(n_runs)]
    # a domain regressor and biases away from 0, so every term of the update is exercised
    return shallow.stack_runs(
        [
            {**p, "u": rng.normal(size=hidden), "d": 0.3, "b": 0.1 * rng.normal(size=hidden)}
            for p in ps
        ]
    )


def test_numpy_epoch_equals_autodiff_of_the_loss_with_gradient_reversal():
    """run_epoch's closed-form deltas = jax.grad of CE + λ·domain loss behind
    align.gradient_reversal, step by step (three runs: λ = 0, 0.1, 0.5)."""
    rng, xs, ys, xt = _tiny()
    lams = np.array([0.0, 0.1, 0.5], np.float32)
    p0 = _params(rng, xs.shape[1], 5, 3)
    draws = rng.integers(0, len(xt), (3, len(xs)))
    lr = np.float32(0.05)
    fast = {k: v.copy() for k, v in p0.items()}
    shallow.run_epoch(fast, (*shallow.csr(xs), ys), shallow.csr(xt), draws, lams, lr)
    width = max((xs != 0).sum(1).max(), (xt != 0).sum(1).max())
    (si, sv), (ti, tv) = shallow.sparse_rows(xs, width), shallow.sparse_rows(xt, width)
    ref = {k: jnp.asarray(v) for k, v in p0.items()}
    for i in range(len(xs)):
        j = draws[:, i]
        ex = (jnp.asarray(si[i]), jnp.asarray(sv[i]), int(ys[i]), jnp.asarray(ti[j]), tv[j])
        ref = shallow.sgd_step(ref, ex, jnp.asarray(lams), lr)
    for k in p0:
        assert np.abs(fast[k] - p0[k]).max() > 1e-3, k  # the epoch moved every leaf
        np.testing.assert_allclose(fast[k], np.asarray(ref[k]), atol=2e-6, err_msg=k)


def _reference_epoch(W, V, b, c, U, d, xs, ys, xt, draws, lam, lr):
    """The reference's per-example update (DANN.py, fit), transcribed densely for one run
    in float64: W (H, D) and V (L, H) as there; the regressor g(h) = σ(U·h + d) is P(source)."""
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    for i in range(len(xs)):
        x, y = xs[i], ys[i]
        h = sig(W @ x + b)
        z = V @ h + c
        o = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        e_c = o - np.eye(len(c))[y]
        e_V = np.outer(e_c, h)
        e_b = (V.T @ e_c) * h * (1 - h)
        e_W = np.outer(e_b, x)
        if lam > 0:
            g = sig(U @ h + d)
            e_d = lam * (1 - g)
            e_U = e_d * h
            r = e_d * U * h * (1 - h)
            e_b, e_W = e_b + r, e_W + np.outer(r, x)
            x2 = xt[draws[i]]
            h2 = sig(W @ x2 + b)
            g2 = sig(U @ h2 + d)
            e_d, e_U = e_d - lam * g2, e_U - lam * g2 * h2
            r2 = -lam * g2 * U * h2 * (1 - h2)
            e_b, e_W = e_b + r2, e_W + np.outer(r2, x2)
        else:
            e_d, e_U = 0.0, 0.0
        W, b, V, c = W - lr * e_W, b - lr * e_b, V - lr * e_V, c - lr * e_c
        U, d = U + lr * e_U, d + lr * e_d
    return W, V, b, c, U, d


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_numpy_epoch_equals_a_transcription_of_the_reference_update(lam):
    rng, xs, ys, xt = _tiny(1)
    p0 = _params(rng, xs.shape[1], 6, 1)
    draws = rng.integers(0, len(xt), (1, len(xs)))
    fast = {k: v.copy() for k, v in p0.items()}
    shallow.run_epoch(
        fast, (*shallow.csr(xs), ys), shallow.csr(xt), draws, np.float32([lam]), np.float32(0.1)
    )
    f64 = {k: np.asarray(v, np.float64) for k, v in p0.items()}
    W, V, b, c, U, d = _reference_epoch(
        f64["W"][:, 0].T, f64["V"][0].T, f64["b"][0], f64["c"][0], f64["u"][0], f64["d"][0],
        xs.astype(np.float64), ys, xt.astype(np.float64), draws[0], lam, 0.1,
    )  # fmt: skip
    np.testing.assert_allclose(fast["W"][:, 0], W.T, atol=1e-5)
    np.testing.assert_allclose(fast["V"][0], V.T, atol=1e-5)
    for name, ref in (("b", b), ("c", c), ("u", U), ("d", d)):
        np.testing.assert_allclose(fast[name][0], ref, atol=1e-5, err_msg=name)


def test_early_stopping_follows_the_reference_rule():
    """Best on ties (<=), training until max(min_epochs, int(1.5 t_best)), then stop at the
    first non-improving epoch after that; each run on its own (hand-worked sequences)."""
    tail = [0.5] * 6
    risks = [
        [0.5, 0.45, 0.4, 0.38, 0.36, 0.35, 0.34] + tail,  # best 6 -> until 9 -> stop 10
        [0.5, 0.4, 0.4, 0.45, 0.45, 0.45, 0.45] + tail,  # tie at 2 is the best -> stop 4
        [0.5, 0.4, 0.45, 0.45, 0.45, 0.45, 0.45] + tail,  # best 1, until min_epochs 3 -> 4
    ]
    stop = shallow.EarlyStopping(3, min_epochs=3, factor=1.5)
    stopped_at = [None] * 3
    for t in range(len(risks[0])):
        was = stop.stopped.copy()
        stop.update(t, np.array([r[t] for r in risks]))
        for k in range(3):
            if stop.stopped[k] and not was[k]:
                stopped_at[k] = t
    assert stop.best_epoch.tolist() == [6, 2, 1]
    assert stop.best.tolist() == [0.34, 0.4, 0.4]
    assert stopped_at == [10, 4, 4]


def _shift(rng, n, target):
    """Ten shared sentiment words, and one word that tracks the label in the source but is in
    every target review: a source-only network leans on it, DANN's regressor sees it."""
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, [0.35] * 5 + [0.15] * 5, [0.15] * 5 + [0.35] * 5)
    x = (rng.random((n, 10)) < p).astype(np.float32)
    spur = np.ones(n) if target else rng.random(n) < np.where(y == 1, 0.95, 0.05)
    return np.concatenate([x, spur[:, None].astype(np.float32)], 1), y


def test_dann_helps_on_a_shift_made_for_it_and_the_flipped_reversal_does_not():
    rng = np.random.default_rng(0)
    (xs, ys), (xv, yv) = _shift(rng, 500, False), _shift(rng, 100, False)
    (xt, _), (x_test, y_test) = _shift(rng, 500, True), _shift(rng, 1000, True)
    acc = {}
    for reversal in (1.0, -1.0):
        p, _ = shallow.fit(
            xs, ys, xv, yv, [xt], seeds=[0, 1, 0, 1], lams=[0, 0, 1, 1], hidden=10,
            learning_rate=0.05, max_epochs=20, min_epochs=20, reversal=reversal,
        )  # fmt: skip
        acc[reversal] = shallow.accuracy(p, x_test, y_test)
    source_only, dann, flipped = acc[1.0][:2], acc[1.0][2:], acc[-1.0][2:]
    np.testing.assert_array_equal(acc[-1.0][:2], source_only)  # λ = 0 ignores the sign
    assert np.all(dann > source_only + 0.05), (dann, source_only)
    assert np.all(flipped < dann - 0.05), (flipped, dann)


def test_artefacts_carry_the_effect_of_known_per_seed_values(tmp_path):
    from experiments.amazon_reviews import report
    from experiments.amazon_reviews.configs import default

    config = default.get_config().shallow
    config.shifts = ("B→D", "D→B")
    out = {
        "seeds": [0, 1, 2],
        "B→D": {"source_only": [70.0, 71.0, 72.0], "dann": [72.0, 72.0, 75.0]},
        "D→B": {"source_only": [60.0, 60.0, 60.0], "dann": [61.0, 63.0, 62.0]},
    }
    for s in config.shifts:
        for m in ("source_only", "dann"):
            out[s][m + "/no_overlap"] = [v - 1.0 for v in out[s][m]]
    report.write_shallow_artefacts(out, config, 1.0, root=tmp_path)
    rec = results.read_results("amazon_reviews", "shallow_dann", root=tmp_path)
    assert rec["values"] == {"source_only": [65.0, 65.5, 66.0], "dann": [66.5, 67.5, 68.5]}
    (row,) = results.effect_rows(rec)
    # gains 1.5, 2.0, 2.5: mean 2, s = 0.5, half-width t_{0.975,2} 0.5 / sqrt(3) = 1.242
    assert row["effect"].mean == pytest.approx(2.0)
    assert row["effect"].low == pytest.approx(2.0 - 4.302653 * 0.5 / np.sqrt(3), abs=1e-5)
    assert row["verdict"] == "gain"  # no published NN baseline, so no published gain
    per = results.read_results("amazon_reviews", "shallow_dann_per_shift", root=tmp_path)
    assert per["values"]["D→B"] == [1.0, 3.0, 2.0]
    no = results.read_results("amazon_reviews", "shallow_dann_no_overlap", root=tmp_path)
    assert no["values"]["dann"] == [65.5, 66.5, 67.5]


def test_real_data_one_shift_two_epochs(tmp_path):
    from experiments.amazon_reviews import train
    from experiments.amazon_reviews.configs import default

    root = manual_dir_or_skip("amazon_reviews_dann")
    c = default.get_config().shallow
    c.manual_dir = root.rsplit("/", 1)[0]
    c.shifts, c.seeds, c.max_epochs, c.min_epochs = ("K→E",), (0,), 2, 1
    out = train.run_shallow(c, str(tmp_path), log=lambda m: None)
    r = out["K→E"]
    assert out["seeds"] == [0]
    for m in ("source_only", "dann"):  # two epochs of SGD at 1e-3: above chance on K→E
        assert 60.0 < r[m][0] < 90.0 and 60.0 < r[m + "/no_overlap"][0] < 90.0, (m, r)
    assert 0.02 < r["overlap_fraction"] < 0.06
    assert (tmp_path / "seed0-K-E.json").exists()


def test_artefacts_from_a_stopped_run_keep_only_complete_seeds(tmp_path):
    """A long run stopped part-way: seed 0 has every source cached, seed 1 only one; the
    artefacts hold seed 0 alone, and nothing is trained."""
    import json

    from experiments.amazon_reviews import report
    from experiments.amazon_reviews.configs import default

    config = default.get_config().shallow
    record = {
        k: v for k, v in config.to_dict().items() if k not in ("shifts", "manual_dir", "seeds")
    }
    record = json.loads(json.dumps(record))

    def cache(seed, source, acc):
        targets = [t for t in "BDEK" if t != source]
        res = {
            f"{source}→{t}": {
                "source_only": [acc], "dann": [acc + 1.0], "source_only/no_overlap": [acc],
                "dann/no_overlap": [acc + 1.0], "overlap_fraction": 0.04, "seconds": 10.0,
            }
            for t in targets
        }  # fmt: skip
        path = tmp_path / "w" / f"seed{seed}-{source}-{''.join(targets)}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"config": record, "result": res}, ensure_ascii=False))

    for i, src in enumerate("BDEK"):
        cache(0, src, 70.0 + i)
    cache(1, "B", 50.0)
    out = report.artefacts_from_workdir(str(tmp_path / "w"), root=tmp_path / "exp")
    assert out["seeds"] == [0]
    rec = results.read_results("amazon_reviews", "shallow_dann", root=tmp_path / "exp")
    assert rec["seeds"] == [0]
    assert rec["values"] == {"source_only": [71.5], "dann": [72.5]}
    assert rec["wall_seconds"] == {"seed 0": 40.0}
    with pytest.raises(ValueError, match="no seed"):
        report.artefacts_from_workdir(str(tmp_path / "empty"), root=tmp_path / "exp")
