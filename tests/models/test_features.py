"""extract_features: equal to a direct computation, cached, resumed, keyed on what matters."""

import doctest
import hashlib
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer.models import extract_features, params_hash, texts_hash

V, H, L = 30, 4, 6


class EncoderOutput(NamedTuple):
    hidden_states: tuple
    pooled: jax.Array


class Counter:
    def __init__(self):
        self.n = 0


def _params(seed=0):
    rng = np.random.default_rng(seed)
    w = lambda *shape: jnp.asarray(rng.standard_normal(shape), jnp.float32)
    layer = lambda i: {"dense": {"kernel": w(H, H), "context": w(H, H)}}
    return {
        "embeddings": {"word": w(V, H)},
        "encoder": {"layer": {str(i): layer(i) for i in range(2)}},
    }


def _encoder(traces):
    """A 2-layer stand-in with the encoder contract; each layer mixes tokens via the mask."""

    def apply_fn(params, batch):
        traces.n += 1
        m = batch["attention_mask"].astype(jnp.float32)[:, :, None]
        h = params["embeddings"]["word"][batch["input_ids"]]
        hs = [h]
        for i in range(2):
            p = params["encoder"]["layer"][str(i)]["dense"]
            ctx = (h * m).sum(1, keepdims=True) / jnp.maximum(m.sum(1, keepdims=True), 1.0)
            h = jnp.tanh(h @ p["kernel"] + jnp.broadcast_to(ctx @ p["context"], h.shape))
            hs.append(h)
        pooled = (h * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
        return EncoderOutput(tuple(hs), pooled)

    return apply_fn


def _tokenizer(calls):
    def tokenizer(texts, *, max_length):
        calls.n += 1
        ids = np.zeros((len(texts), max_length), np.int32)
        for i, t in enumerate(texts):
            toks = [1 + (ord(c) % (V - 1)) for c in t][:max_length]
            ids[i, : len(toks)] = toks
        return {
            "input_ids": ids,
            "attention_mask": (ids > 0).astype(np.int32),
            "token_type_ids": np.zeros_like(ids),
        }

    return tokenizer


TEXTS = [
    "a",
    "hello world",
    "jax",
    "transfer learning",
    "lo",
    "ra",
    "x" * 20,
    "cache",
    "resume",
    "q",
]


def _reference(params, texts, layers, max_length):
    """One text at a time, no padding rows, unjitted; the mean over real tokens in NumPy."""
    apply_fn, tok = jax.jit(_encoder(Counter())), _tokenizer(Counter())
    rows = []
    for t in texts:
        batch = tok([t], max_length=max_length)
        out = apply_fn(params, batch)
        mask = batch["attention_mask"][0].astype(bool)
        rows.append([np.asarray(out.hidden_states[l][0], np.float64)[mask].mean(0) for l in layers])
    return np.asarray(rows)


def test_features_equal_direct_unbatched_computation():
    params, traces, calls = _params(), Counter(), Counter()
    got = extract_features(
        _encoder(traces),
        params,
        TEXTS,
        _tokenizer(calls),
        layers=(0, -1, 1),
        max_length=L,
        batch_size=3,
        progress=False,
    )
    assert got.shape == (len(TEXTS), 3, H) and got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(params, TEXTS, (0, -1, 1), L), rtol=1e-5, atol=1e-6)
    assert traces.n == 1  # the padded last batch has the same shape: one compilation


def test_cache_hit_does_not_call_encoder_or_tokenizer(tmp_path):
    params, traces, calls = _params(), Counter(), Counter()
    kw = dict(layers=(-1,), max_length=L, batch_size=4, cache_dir=tmp_path, progress=False)
    first = extract_features(_encoder(traces), params, TEXTS, _tokenizer(calls), **kw)
    assert traces.n == 1 and calls.n == 1
    traces.n = calls.n = 0
    again = extract_features(_encoder(traces), params, TEXTS, _tokenizer(calls), **kw)
    assert traces.n == 0 and calls.n == 0
    np.testing.assert_array_equal(again, first)


def test_interrupted_run_resumes_with_only_the_missing_chunks(tmp_path):
    params = _params()
    kw = dict(layers=(1, 2), max_length=L, batch_size=2, chunk_size=4, progress=False)
    want = extract_features(_encoder(Counter()), params, TEXTS, _tokenizer(Counter()), **kw)

    class Killed(Exception):
        pass

    def kill_after_first(c, num_chunks):
        assert num_chunks == 3
        if c == 0:
            raise Killed

    calls = Counter()
    with pytest.raises(Killed):
        extract_features(
            _encoder(Counter()),
            params,
            TEXTS,
            _tokenizer(calls),
            cache_dir=tmp_path,
            on_chunk=kill_after_first,
            **kw,
        )
    (folder,) = os.listdir(tmp_path)
    assert sorted(os.listdir(tmp_path / folder)) == ["chunk_00000.npy", "manifest.json"]
    calls.n, seen = 0, []
    got = extract_features(
        _encoder(Counter()),
        params,
        TEXTS,
        _tokenizer(calls),
        cache_dir=tmp_path,
        on_chunk=lambda c, n: seen.append(c),
        **kw,
    )
    assert seen == [1, 2] and calls.n == 2  # chunk 0 was not recomputed
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_changed_key_never_reuses_the_cache(tmp_path):
    params = _params()
    base = dict(layers=(-1,), max_length=L, batch_size=4, cache_dir=tmp_path, progress=False)
    variants = [
        {},
        {"layers": (0,)},
        {"max_length": L - 2},
        {"checkpoint_hash": "other-checkpoint"},
        {"texts": TEXTS[::-1]},
        {"params": _params(1)},
        {"cache_key_extra": {"dataset": "amazon_text:1.0.0"}},
    ]
    outs = []
    for i, v in enumerate(variants):
        calls = Counter()
        v = dict(v)
        texts, p = v.pop("texts", TEXTS), v.pop("params", params)
        outs.append(
            extract_features(_encoder(Counter()), p, texts, _tokenizer(calls), **{**base, **v})
        )
        assert calls.n == 1, f"variant {i} reused a cache entry"
        assert len(os.listdir(tmp_path)) == i + 1
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[0], outs[5])


def test_params_hash_depends_on_values_and_paths():
    p = _params()
    assert params_hash(p) == params_hash(jax.tree.map(np.asarray, p))
    assert params_hash(p) != params_hash(_params(1))
    assert params_hash({"a": jnp.zeros(2)}) != params_hash({"b": jnp.zeros(2)})


def test_texts_hash_is_pinned_so_existing_caches_stay_valid():
    """The digest of a fixed input, computed with the private ``_texts_hash`` that
    ``extract_features`` and ``experiments/lm_domain_shift/lora.py`` each had before they
    shared this function: any change to it would orphan the feature and token caches."""
    assert texts_hash(["great book", "not worth it", "é", ""]) == (
        "1382959b01ef2ceb13ac54d3195f799f8fd44d93d89ba297669a09a5f807b705"
    )
    ref = hashlib.sha256()  # independent: the documented framing, written out
    for b in (b"ab", b"c"):
        ref.update(len(b).to_bytes(8, "little") + b)
    assert texts_hash(["ab", "c"]) == ref.hexdigest() != texts_hash(["a", "bc"])
    assert texts_hash(("x",)) == texts_hash(iter(["x"]))


def test_lora_token_cache_uses_the_shared_texts_hash():
    import inspect

    from experiments.lm_domain_shift import lora

    src = inspect.getsource(lora)
    assert "models.texts_hash(texts)" in src and "def _texts_hash" not in src


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layers=(3,)), r"layers \[3\] out of range for 3 hidden states"),
        (dict(layers=()), "layers"),
        (dict(batch_size=0), "batch_size"),
        (dict(max_length=0), "max_length"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(texts=[]), "texts is empty"),
        (dict(texts="abc"), "texts"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs, match):
    texts = kwargs.pop("texts", TEXTS)
    kw = {**dict(max_length=L, progress=False), **kwargs}
    with pytest.raises(ValueError, match=match):
        extract_features(_encoder(Counter()), _params(), texts, _tokenizer(Counter()), **kw)


def test_docstring_examples_run():
    import jtransfer.models._features as mod

    assert doctest.testmod(mod).failed == 0
