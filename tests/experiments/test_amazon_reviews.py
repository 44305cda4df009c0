import pytest

from experiments.amazon_reviews import train
from experiments.amazon_reviews.configs import test as test_config
from tests.conftest import manual_dir_or_skip


def test_end_to_end_tiny_config(tmp_path):
    root = manual_dir_or_skip("amazon_reviews_dann")
    c = test_config.get_config()
    c.manual_dir = root.rsplit("/", 1)[0]
    r = train.train_and_evaluate(c, str(tmp_path))
    # Published range on B→K: source-only logistic regression .780 (PROVENANCE), DANN 77.9.
    for m in c.methods:
        assert 65.0 < r[f"{m}/B→K"] <= 100.0, (m, r[f"{m}/B→K"])
        assert r[f"{m}/B→K/oracle"] >= r[f"{m}/B→K"]
    assert (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    "field, value", [("shifts", ("B→B",)), ("methods", ("magic",)), ("lam_grid", ())]
)
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))


# ------------------------------------------------- leakage: pool labels unread, overlap stated
def _write_svmlight(path, x, y):
    from sklearn.datasets import dump_svmlight_file

    dump_svmlight_file(x, 2 * y - 1, str(path), zero_based=True)


def _synthetic_root(tmp_path, flip_pool_labels):
    import numpy as np

    rng = np.random.default_rng(0)
    w = rng.normal(size=5000)

    def draw(n, shift):
        x = (rng.random((n, 5000)) < 0.01 + shift).astype(np.float64)
        return x, (x @ w > np.median(x @ w)).astype(int)

    xb, yb = draw(120, 0.0)
    xk, yk = draw(80, 0.002)
    xk_test, yk_test = draw(60, 0.002)
    xk_test[:6], yk_test[:6] = xk[:6], yk[:6]  # 10 % of the test set is in the pool
    root = tmp_path / ("flipped" if flip_pool_labels else "plain")
    root.mkdir()
    _write_svmlight(root / "books_train.svmlight", xb, yb)
    _write_svmlight(root / "kitchen_train.svmlight", xk, 1 - yk if flip_pool_labels else yk)
    _write_svmlight(root / "kitchen_test.svmlight", xk_test, yk_test)
    return root


def test_overlap_mask_finds_exactly_the_shared_rows():
    import numpy as np

    pool = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    test = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 0]], np.float32)
    np.testing.assert_array_equal(train.overlap_mask(test, pool), [True, False, True, False])


def test_unlabelled_pool_labels_are_never_read(tmp_path):
    """Flipping every label of the target pool (<t>_train) must change nothing; the test set
    shares reviews with the pool (as the real data does) and the overlap is measured."""
    c = test_config.get_config()
    c.methods = ("source_only", "iw_logreg")
    c.mlp.num_steps = c.mlp.eval_every = c.mlp.save_every = 20
    c.mlp.batch_size = 16
    runs = [
        train.run_shift(c, "B→K", str(_synthetic_root(tmp_path, flip)), str(tmp_path / f"w{flip}"))
        for flip in (False, True)
    ]
    untimed = [{k: v for k, v in r.items() if not k.endswith("/seconds")} for r in runs]
    assert untimed[0] == untimed[1]
    assert abs(runs[0]["overlap_fraction"] - 0.1) < 1e-9
    for m in c.methods:
        assert 0.0 <= runs[0][f"{m}/no_overlap"] <= 100.0
