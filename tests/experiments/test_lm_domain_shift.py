import json

import numpy as np
import pytest
from scipy import stats

from experiments.lm_domain_shift import features, tables, train, transfer
from experiments.lm_domain_shift.configs import test as test_config
from jtransfer import data
from tests.conftest import manual_dir_or_skip


class _NoLabels(dict):
    """An FDU-MTL result whose labels cannot be read."""

    def __getitem__(self, k):
        if k == "y":
            raise AssertionError("a label of the unlabelled pool was read")
        return super().__getitem__(k)

    def get(self, k, default=None):
        return self[k] if k in self else default

    def values(self):
        raise AssertionError("pool arrays read in bulk (labels included)")

    def items(self):
        raise AssertionError("pool arrays read in bulk (labels included)")


@pytest.fixture
def guarded_load(monkeypatch):
    real = data.load

    def load(name, **kw):
        out = real(name, **kw)
        return _NoLabels(out) if name == "fdu_mtl" else out

    monkeypatch.setattr(features.data, "load", load)


def test_pool_disjoint_from_test_and_no_pool_label_read(guarded_load):
    manual_dir_or_skip("amazon_text_blitzer")
    manual_dir_or_skip("fdu_mtl")
    removed = {}
    for dom in features.DOMAINS:
        test_texts = data.load("amazon_text", domain=dom, split="all")["text"]
        pool = features.unlabelled_pool(dom, test_texts, pool_size=None)
        assert "y" not in pool
        assert data.text_overlap(test_texts, pool["text"]).disjoint, dom
        # also under the looser normalisation (punctuation and spaces ignored)
        assert data.text_overlap(test_texts, pool["text"], mode="alphanumeric").disjoint, dom
        removed[dom] = pool["removed"]
        assert len(pool["text"]) + pool["removed"] == pool["raw_size"]
    # the pool lines shared with the Blitzer reviews, measured in docs/data.md
    assert removed == {"books": 56, "dvd": 158, "electronics": 288, "kitchen": 72}


def test_end_to_end_tiny_config(tmp_path, guarded_load):
    manual_dir_or_skip("amazon_text_blitzer")
    manual_dir_or_skip("fdu_mtl")
    c = test_config.get_config()
    c.results_file = str(tmp_path / "results" / "frozen.json")
    m = train.train_and_evaluate(c, str(tmp_path / "run"))
    assert set(m) == {f"{k}/avg" for k in c.methods}
    assert all(0.0 <= v <= 100.0 for v in m.values())
    res = json.loads((tmp_path / "results" / "frozen.json").read_text())
    assert set(res["accuracy"]["dann"]) == {"B->K", "K->B"}
    # DEV picks a λ of the grid; the oracle is never below it
    for v in res["selection"]["dann"].values():
        assert v["lam"][0] in c.lam_grid and v["oracle"][0] >= 0
    assert res["pool"]["kitchen"]["size"] == c.pool_size
    assert len(res["layer_mmd2"]["values"]["B->K"]) == len(c.layers)
    block = tables.render(res)
    assert "`iw_kmm`" in block and "gain vs baseline" in block
    # a rerun resumes from grid.jsonl and reproduces the same numbers without training
    assert train.train_and_evaluate(c, str(tmp_path / "run")) == m
    # transferability and the detector on the same run (1 source per target: ρ = 0)
    tr = transfer.run(c, str(tmp_path / "run"), num_bootstrap=2, num_bootstrap_layers=1)
    det = tr["detector"]["all"]
    assert det["tp"] + det["fn"] + det["fp"] + det["tn"] == 9 * 2  # 9 methods x 2 shifts
    assert set(tr["sources"]["spearman"]) == set(transfer.SCORES)
    assert "hit rate" in transfer.render(tr)


def test_paired_gain_matches_scipy_paired_t():
    rng = np.random.default_rng(0)
    base = {f"s{i}": list(rng.normal(80, 3, 5)) for i in range(12)}
    meth = {s: list(np.array(v) + rng.normal(0.5, 1, 5)) for s, v in base.items()}
    g = tables.paired_gain(meth, base)
    a = [np.mean(meth[s]) for s in base]
    b = [np.mean(base[s]) for s in base]
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    np.testing.assert_allclose([g["low"], g["high"]], [ci.low, ci.high], rtol=1e-10)
    np.testing.assert_allclose(g["gain"], np.mean(a) - np.mean(b), rtol=1e-12)
    assert g["verdict"] == ("gain reproduced" if ci.low > 0 else "harm" if ci.high < 0 else "none")
    harm = tables.paired_gain(base, {s: list(np.array(v) + 5) for s, v in base.items()})
    assert harm["verdict"] == "harm" and harm["wins"] == 0


@pytest.mark.parametrize(
    "field, value",
    [("methods", ("magic",)), ("layer", 7), ("lam_grid", ()), ("domains", ("books",))],
)
def test_bad_config_raises(field, value):
    c = test_config.get_config()
    c[field] = value
    with pytest.raises(ValueError, match=field):
        train.validate_config(c)
