"""Omniglot few-shot splits (MAML protocol) and 5-way 1-shot episodes drawn from them."""

import jax
import numpy as np
import pytest

from jtransfer import data
from tests.conftest import manual_dir_or_skip


@pytest.fixture(scope="module")
def maml(data_dir):
    manual = manual_dir_or_skip("omniglot")
    return data.omniglot_few_shot(
        key=jax.random.key(0), dtype=np.uint8, manual_dir=manual, data_dir=data_dir
    )


def test_maml_split_counts_and_disjoint_classes(maml):
    tr, te = maml["train"], maml["test"]
    assert tr["x"].shape == (1200 * 4 * 20, 28, 28, 1) and tr["x"].dtype == np.uint8
    assert te["x"].shape == (423 * 4 * 20, 28, 28, 1)
    assert len(np.unique(tr["y"])) == 4800 and len(np.unique(te["y"])) == 1692
    assert np.all(np.bincount(tr["y"])[np.unique(tr["y"])] == 20)
    assert not set(np.unique(tr["y"] // 4)) & set(np.unique(te["y"] // 4))
    assert set(np.unique(tr["y"] // 4)) | set(np.unique(te["y"] // 4)) == set(range(1623))


def test_rotations_are_new_classes(maml):
    x, y = maml["train"]["x"], maml["train"]["y"]
    c = int(y[0]) // 4
    base = x[y == 4 * c]
    for r in range(1, 4):
        np.testing.assert_array_equal(x[y == 4 * c + r], np.rot90(base, r, axes=(1, 2)))


def test_split_depends_on_key_only(maml, data_dir):
    manual = manual_dir_or_skip("omniglot")
    again = data.omniglot_few_shot(
        key=jax.random.key(0), dtype=np.uint8, rotations=False, manual_dir=manual, data_dir=data_dir
    )
    np.testing.assert_array_equal(
        np.unique(again["train"]["y"]), np.unique(maml["train"]["y"] // 4)
    )
    other = data.omniglot_few_shot(
        key=jax.random.key(1), rotations=False, manual_dir=manual, data_dir=data_dir
    )
    assert not np.array_equal(np.unique(other["train"]["y"]), np.unique(again["train"]["y"]))
    x = other["train"]["x"]
    assert x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}
    bg = data.omniglot_few_shot(
        split="background", rotations=False, dtype=np.uint8, manual_dir=manual, data_dir=data_dir
    )
    assert len(np.unique(bg["train"]["y"])) == 964 and len(np.unique(bg["test"]["y"])) == 659


def test_five_way_one_shot_episodes(maml):
    tr = maml["train"]
    sampler = data.episode_sampler(tr["x"], tr["y"], num_ways=5, num_shots=1, num_queries=1)
    xs, ys, xq, yq = sampler(jax.random.key(3), 16)
    assert xs.shape == (16, 5, 28, 28, 1) and xq.shape == (16, 5, 28, 28, 1)
    np.testing.assert_array_equal(ys, np.tile(np.arange(5), (16, 1)))
    assert not np.any(np.all(np.asarray(xs) == np.asarray(xq), axis=(2, 3, 4)))


def test_validation():
    with pytest.raises(ValueError, match="split"):
        data.omniglot_few_shot(split="mini")
    with pytest.raises(ValueError, match="image_size"):
        data.omniglot_few_shot(image_size=64)
