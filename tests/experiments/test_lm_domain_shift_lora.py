"""The adapted-encoder runner of experiments/lm_domain_shift (issue #18 item 3)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lm_domain_shift import features, lora, tables
from experiments.lm_domain_shift.configs import lora_test
from jtransfer import adapters
from tests.conftest import manual_dir_or_skip
from tests.experiments.test_lm_domain_shift import guarded_load  # noqa: F401 (fixture)


def _tiny():
    apply_fn, params, tok, _ = features.encoder_fns(lora_test.get_config())
    batch = tok(["a good book", "bad", "not what i wanted at all"], max_length=16)
    return apply_fn, params, tok, batch


@pytest.mark.parametrize("k", [0, 1, 2])
def test_split_encoder_matches_the_full_forward(k):
    apply_fn, params, _, batch = _tiny()
    bottom, top = lora.split_encoder(apply_fn, k)
    out = apply_fn(params, batch)
    h = bottom(params, batch)
    np.testing.assert_allclose(h, out.hidden_states[k], atol=1e-6)
    np.testing.assert_allclose(top(params, h, batch["attention_mask"]), out.pooled, atol=1e-5)


@pytest.mark.parametrize("skip", [False, True])
def test_zero_initialised_lora_starts_from_the_pretrained_model(skip):
    apply_fn, params, _, batch = _tiny()
    _, top = lora.split_encoder(apply_fn, 1)
    cfg = lora_test.get_config()
    targets = lora.lora_targets(cfg, 2, 1)
    assert targets[0] == "layers/1/query/kernel" and len(targets) == 6
    lo = adapters.lora_init(params, rank=2, targets=list(targets), key=jax.random.key(3))
    dim = 32 if skip else 16
    head = {"kernel": jnp.arange(float(dim)) / dim, "bias": jnp.float32(0.5)}
    _, _, logits = lora.make_fns(top, "lora_mmd", learning_rate=1e-3, num_steps=4, skip=skip)
    h = np.asarray(lora.split_encoder(apply_fn, 1)[0](params, batch))
    z = logits(params, {"lora": lo, "head": head}, h, batch["attention_mask"])
    out = apply_fn(params, batch)
    feats = out.pooled
    if skip:  # the mean of the block's input (hidden_states[1]) over attended tokens first
        m = np.asarray(batch["attention_mask"], np.float64)[:, :, None]
        mean_in = (np.asarray(out.hidden_states[1]) * m).sum(1) / m.sum(1)
        feats = np.concatenate([mean_in, np.asarray(out.pooled)], axis=1)
    ref = feats @ np.asarray(head["kernel"]) + 0.5
    np.testing.assert_allclose(z, ref, atol=1e-5)


def test_token_cache_reloads_the_same_states_and_keys_on_the_texts(tmp_path):
    apply_fn, params, tok, _ = _tiny()
    bottom, _ = lora.split_encoder(apply_fn, 1)
    kw = dict(max_length=8, batch_size=2, cache_dir=str(tmp_path), key_parts={"c": "x"})
    texts = ["one two", "three", "four five six", "seven", "eight"]
    h1, m1 = lora.token_states(bottom, params, texts, tok, chunk_size=2, **kw)
    h2, m2 = lora.token_states(bottom, params, texts, tok, chunk_size=2, **kw)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(m1, m2)
    assert h1.dtype == np.float16 and h1.shape == (5, 8, 16) and m1.shape == (5, 8)
    ref = bottom(params, tok(texts, max_length=8))
    np.testing.assert_allclose(h1, ref, atol=2e-3, rtol=2e-3)
    lora.token_states(bottom, params, texts[:4], tok, chunk_size=2, **kw)
    assert len(list(tmp_path.iterdir())) == 2  # other texts: another folder


@pytest.mark.parametrize(
    "field, value",
    [("methods", ("lora_bogus",)), ("lam_grid", ()), ("num_steps", 0), ("top_layers", 0)],
)
def test_bad_config_raises(field, value):
    cfg = lora_test.get_config()
    cfg.adapt[field] = value
    with pytest.raises(ValueError, match=field):
        lora.validate_config(cfg)


def test_end_to_end_tiny_config(tmp_path, guarded_load):  # noqa: F811
    manual_dir_or_skip("amazon_text_blitzer")
    manual_dir_or_skip("fdu_mtl")
    cfg = lora_test.get_config()
    cfg.adapt.methods = ("lora_source_only", "lora_dann")
    metrics = lora.train_and_evaluate(cfg, str(tmp_path))
    res = json.loads((tmp_path / "lora.json").read_text())
    assert set(metrics) == {"lora_source_only/avg", "lora_dann/avg"}
    for m in cfg.adapt.methods:
        (accs,) = res["accuracy"][m].values()
        assert len(accs) == 1 and 0 <= accs[0] <= 100
        assert res["selection"][m]["B->K"]["step"][0] in (2, 4)
    # the chosen step is the lowest DEV risk of the recorded checkpoints
    # the README table renders from it, paired against the committed frozen results
    frozen = json.loads(open(tables.RESULTS, encoding="utf-8").read())
    block = tables.render_lora(res, frozen)
    assert "`lora_dann`" in block and "B->K" in block and "Best LoRA + alignment" in block
    # every run recorded its wall split: the parts add up to the run's wall time
    split = res["wall_seconds"]["split_mean"]["lora_dann"]
    parts = sum(split[k] for k in ("first_step", "steps", "dev", "target"))
    assert split["runs"] == 1 and parts <= split["wall"] + 1e-6 and parts > 0.9 * split["wall"]
    assert "recorded their split" in block
    with pytest.raises(ValueError, match="kinds"):
        lora.probe_diagnostic(cfg, ["B->K"], ("bogus",))
    probe = lora.probe_diagnostic(cfg, ["B->K"])["B->K"]
    assert set(probe) == {"layer5_mean", "skip", "source_only_linear"}
    assert all(0 <= r[f] <= 100 for r in probe.values() for f in ("target_acc", "source_val_acc"))
    hist = res["selection"]["lora_dann"]["B->K"]["history"][0][0]["history"]
    assert (
        res["selection"]["lora_dann"]["B->K"]["step"][0]
        == min(hist, key=lambda r: r["dev"])["step"]
    )


def test_negative_transfer_few_labels_and_cross_validation():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import PredefinedSplit, cross_val_predict

    from experiments.lm_domain_shift import negative

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    idx = negative.few_labelled(y, 20, jax.random.key(1))
    assert len(set(idx)) == 20 and (y[idx] == 1).sum() == 10
    np.testing.assert_array_equal(idx, negative.few_labelled(y, 20, jax.random.key(1)))
    x = rng.normal(size=(40, 3)) + 1.5 * rng.integers(0, 2, (40, 1))
    yy = (x[:, 0] + 0.5 * rng.normal(size=40) > 0.7).astype(int)
    fold = negative.stratified_folds(yy, 5, jax.random.key(2))
    for c in (0, 1):  # each class spread evenly over the folds
        counts = np.bincount(fold[yy == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    ref = cross_val_predict(
        LogisticRegression(C=1.0, max_iter=2000), x, yy, cv=PredefinedSplit(fold)
    )
    np.testing.assert_array_equal(
        negative.cv_correct(x, yy, 5, jax.random.key(2)), (ref == yy).astype(np.float32)
    )
    with pytest.raises(ValueError, match="n must be even"):
        negative.few_labelled(y, 7, jax.random.key(0))


def _block(text: str, begin: str, end: str) -> str:
    return text[text.index(begin) + len(begin) : text.index(end)].strip()


def test_readme_blocks_match_the_committed_results():
    from experiments.lm_domain_shift import negative

    readme = open(tables.README, encoding="utf-8").read()
    res = json.loads(open(negative.RESULTS, encoding="utf-8").read())
    assert _block(readme, negative.BEGIN, negative.END) == negative.render(res)
    res = json.loads(open(tables.LORA_RESULTS, encoding="utf-8").read())
    frozen = json.loads(open(tables.RESULTS, encoding="utf-8").read())
    probe = json.loads(open(tables.LORA_PROBE, encoding="utf-8").read())
    block = tables.render_lora(res, frozen, probe)
    assert _block(readme, tables.LORA_BEGIN, tables.LORA_END) == block
