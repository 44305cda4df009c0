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


@pytest.mark.parametrize("field, value", [("shifts", ("B→B",)), ("methods", ("magic",)),
                                          ("lam_grid", ())])
def test_bad_config_raises(tmp_path, field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.train_and_evaluate(c, str(tmp_path))
