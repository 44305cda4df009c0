"""Few-shot episode sampler: shapes, labels, disjointness, balance, determinism."""

import jax
import numpy as np
import pytest
from scipy import stats

from jtransfer import data
from jtransfer.data import _episodes


def _dataset(num_classes=12, per_class=7, unbalanced=False):
    rng = np.random.default_rng(0)
    counts = (
        rng.integers(per_class, 3 * per_class, num_classes)
        if unbalanced
        else np.full(num_classes, per_class)
    )
    y = np.repeat(np.arange(num_classes) * 3 + 5, counts)  # labels are not 0..C-1
    perm = rng.permutation(len(y))
    y = y[perm]
    x = np.arange(len(y), dtype=np.int32)  # x = example index, so gathers are traceable
    return x, y


@pytest.mark.parametrize(
    "ways, shots, queries, unbalanced", [(5, 1, 1, False), (5, 2, 3, True), (3, 1, 0, True)]
)
def test_episode_structure(ways, shots, queries, unbalanced):
    x, y = _dataset(unbalanced=unbalanced)
    xs, ys, xq, yq = data.sample_episodes(
        x,
        y,
        key=jax.random.key(0),
        num_ways=ways,
        num_shots=shots,
        num_queries=queries,
        num_episodes=50,
    )
    assert xs.shape == (50, ways * shots) and xq.shape == (50, ways * queries)
    assert ys.shape == xs.shape and yq.shape == xq.shape and ys.dtype == np.int32
    np.testing.assert_array_equal(ys[0], np.repeat(np.arange(ways), shots))
    np.testing.assert_array_equal(yq[7], np.repeat(np.arange(ways), queries))
    xs, xq = np.asarray(xs), np.asarray(xq)
    for e in range(50):
        idx = np.concatenate([xs[e], xq[e]])
        assert len(np.unique(idx)) == len(idx)  # support and query disjoint, no repeats
        lab = np.concatenate([ys[e], yq[e]])
        orig = y[idx]
        # one original class per new label, and distinct classes per episode
        new_to_orig = {int(a): set() for a in lab}
        for a, o in zip(lab, orig, strict=True):
            new_to_orig[int(a)].add(int(o))
        assert all(len(s) == 1 for s in new_to_orig.values())
        assert len({next(iter(s)) for s in new_to_orig.values()}) == ways


def test_episode_determinism_and_no_recompile():
    x, y = _dataset()
    kw = dict(num_ways=4, num_shots=2, num_queries=2, num_episodes=8)
    a = data.sample_episodes(x, y, key=jax.random.key(1), **kw)
    b = data.sample_episodes(x, y, key=jax.random.key(1), **kw)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    c = data.sample_episodes(x, y, key=jax.random.key(2), **kw)
    assert not np.array_equal(a[0], c[0])
    sampler = data.episode_sampler(x, y, num_ways=4, num_shots=2, num_queries=2)
    sampler(jax.random.key(3), 8)
    size = _episodes._sample._cache_size()
    for i in range(3):
        sampler(jax.random.key(10 + i), 8)
    assert _episodes._sample._cache_size() == size


def test_class_and_example_choice_is_uniform():
    # 10 classes x 6 examples; 5-way 1-shot 1-query over 4000 episodes.
    x, y = _dataset(num_classes=10, per_class=6)
    xs, ys, xq, yq = data.sample_episodes(
        x, y, key=jax.random.key(7), num_ways=5, num_shots=1, num_queries=1, num_episodes=4000
    )
    xs, xq = np.asarray(xs), np.asarray(xq)
    cls = y[xs]  # (E, 5) original class per way
    # each class appears in an episode with probability 1/2
    counts = np.bincount(np.searchsorted(np.unique(y), cls.ravel()), minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3
    # the class in way 0 is uniform too (random label assignment)
    counts0 = np.bincount(np.searchsorted(np.unique(y), cls[:, 0]), minlength=10)
    assert stats.chisquare(counts0).pvalue > 1e-3
    # every example is equally likely to be the support example, and the query one
    for arr in (xs, xq):
        assert stats.chisquare(np.bincount(arr.ravel(), minlength=60)).pvalue > 1e-3


def test_episode_float_dtypes_and_images():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.uint8):
        x = (rng.random((40, 4, 4, 1)) * 200).astype(dtype)
        y = np.repeat(np.arange(8), 5)
        xs, _, xq, _ = data.sample_episodes(
            x, y, key=jax.random.key(0), num_ways=2, num_shots=2, num_queries=3, num_episodes=3
        )
        assert xs.shape == (3, 4, 4, 4, 1) and xq.shape == (3, 6, 4, 4, 1)
        assert xs.dtype == jax.numpy.asarray(x).dtype


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_ways=13, num_shots=1, num_queries=1), "num_ways"),
        (dict(num_ways=2, num_shots=4, num_queries=4), "examples"),
        (dict(num_ways=2, num_shots=0, num_queries=1), "num_shots"),
    ],
)
def test_episode_validation(kwargs, match):
    x, y = _dataset()
    with pytest.raises(ValueError, match=match):
        data.sample_episodes(x, y, key=jax.random.key(0), num_episodes=2, **kwargs)
    with pytest.raises(ValueError, match="same length"):
        data.sample_episodes(
            x[:-1], y, key=jax.random.key(0), num_ways=2, num_shots=1, num_queries=1, num_episodes=2
        )


def test_sampler_dtype_converts_inside_jit_same_episodes():
    # 5-way 1-shot 15-query from uint8 images (the benchmark's shape, fewer classes): float32
    # episodes are the uint8 examples converted, with the class/shot structure, and the same
    # key repeats.
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(12), 20)
    x = rng.integers(0, 256, (len(y), 28, 28, 1), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(len(y)) % 256  # pixel (0, 0) identifies the example...
    x[:, 0, 1, 0] = np.arange(len(y)) // 256  # ... with this one
    kw = dict(num_ways=5, num_shots=1, num_queries=15)
    f32 = data.episode_sampler(x, y, dtype=np.float32, **kw)
    a, b = f32(jax.random.key(3), 6), f32(jax.random.key(3), 6)
    assert a[0].dtype == a[2].dtype == np.float32 and a[0].shape == (6, 5, 28, 28, 1)
    assert a[2].shape == (6, 75, 28, 28, 1)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    xs, ys, xq, yq = (np.asarray(v) for v in a)
    idx_s = (xs[:, :, 0, 0, 0] + 256 * xs[:, :, 0, 1, 0]).astype(int)  # (6, 5)
    idx_q = (xq[:, :, 0, 0, 0] + 256 * xq[:, :, 0, 1, 0]).astype(int)  # (6, 75)
    for e in range(6):
        np.testing.assert_array_equal(xs[e], x[idx_s[e]].astype(np.float32))
        np.testing.assert_array_equal(xq[e], x[idx_q[e]].astype(np.float32))
        assert len(set(idx_s[e]) | set(idx_q[e])) == 80  # 80 distinct examples
        cls_s = y[idx_s[e]]
        assert len(set(cls_s)) == 5  # 5 distinct classes, one shot each
        np.testing.assert_array_equal(y[idx_q[e]], np.repeat(cls_s, 15))  # 15 queries per way
        np.testing.assert_array_equal(yq[e], np.repeat(np.arange(5), 15))


def test_refill_gives_the_episodes_of_a_fresh_draw_in_the_donated_buffers():
    # float32 episodes from uint8 images: refill(key, old) equals sample(key, n) bitwise,
    # reuses old's memory (donated) and rejects episodes of another shape or dtype.
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(9), 5)
    x = rng.integers(0, 256, (len(y), 6, 6, 1), dtype=np.uint8)
    sample = data.episode_sampler(x, y, num_ways=5, num_shots=1, num_queries=3, dtype=np.float32)
    fresh = sample(jax.random.key(4), 3)
    old = sample(jax.random.key(5), 3)
    ptr = old[2].unsafe_buffer_pointer()
    new = sample.refill(jax.random.key(4), old)
    jax.tree.map(np.testing.assert_array_equal, new, fresh)
    assert new[2].unsafe_buffer_pointer() == ptr and old[2].is_deleted()
    again = sample.refill(jax.random.key(4), new)
    jax.tree.map(np.testing.assert_array_equal, again, fresh)
    with pytest.raises(ValueError, match="episodes"):
        sample.refill(jax.random.key(4), fresh[:3])
    with pytest.raises(ValueError, match="shapes"):  # uint8 episodes, not float32
        sample.refill(jax.random.key(4), (np.zeros(fresh[0].shape, np.uint8), *fresh[1:]))


@pytest.mark.parametrize(
    "dtype, feat, packed",
    [
        (np.uint8, (4, 3, 1), True),  # 12-byte rows: gathered as 3 uint32 words
        (np.float16, (2, 2), True),
        (np.uint8, (3,), False),  # 3-byte rows: gathered element by element
    ],
)
def test_rows_gathered_as_words_are_the_examples_bit_for_bit(dtype, feat, packed):
    # Rows of 1- and 2-byte dtypes are gathered as uint32 words and bitcast back: the
    # episodes must equal those drawn from an int32 copy of x's bit patterns (element-wise
    # path) with the same key, bit for bit (float16 bit patterns included).
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(7), 5)
    unsigned = f"u{np.dtype(dtype).itemsize}"
    x = rng.integers(0, 2 ** (8 * np.dtype(dtype).itemsize), (len(y), *feat)).astype(unsigned)
    x = x.view(dtype)
    kw = dict(num_ways=3, num_shots=1, num_queries=2)
    s = data.episode_sampler(x, y, **kw)
    assert (s._packed is not None) == packed
    wide = data.episode_sampler(x.view(unsigned).astype(np.int32), y, **kw)
    got, ref = s(jax.random.key(4), 5), wide(jax.random.key(4), 5)
    for g, r in zip(got, ref, strict=True):
        g = np.asarray(g)
        if g.dtype == dtype:
            assert g.shape[2:] == feat
            g = g.view(unsigned).astype(np.int32)
        np.testing.assert_array_equal(g, np.asarray(r))
