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


# ----------------------------------------------------------------------------- omniglot_arrays


def _reference_arrays(folder, image_size, seed, num_train):
    """The loader ``experiments/maml_omniglot/train.py::load_splits`` had before it moved into
    the library (commit 383e60f), verbatim apart from its config argument: the reference the
    published Omniglot numbers were computed with."""
    import os

    import jax.numpy as jnp

    def _with_rotations(x, y, num_classes):
        xs = [np.rot90(x, k, axes=(1, 2)) for k in range(4)]
        ys = [y + k * num_classes for k in range(4)]
        return np.concatenate(xs), np.concatenate(ys)

    rng = np.random.default_rng(seed)
    imgs = []
    for name in ("images_background.npz", "images_evaluation.npz"):
        with np.load(os.path.join(folder, name)) as f:
            imgs.append(f["images"])
    imgs = np.concatenate(imgs)
    ink = 1.0 - imgs.reshape(-1, 105, 105, 1).astype(np.float32)
    small = np.concatenate(
        [
            np.asarray(
                jax.image.resize(
                    jnp.asarray(ink[i : i + 2048]),
                    (min(2048, len(ink) - i), image_size, image_size, 1),
                    "linear",
                    antialias=True,
                )
            )
            for i in range(0, len(ink), 2048)
        ]
    )
    small = small.reshape(imgs.shape[0], imgs.shape[1], image_size, image_size)
    order = rng.permutation(imgs.shape[0])
    n_train, n_test = num_train, imgs.shape[0] - num_train
    tr, te = small[order[:n_train]], small[order[n_train:]]
    lab = lambda n: np.repeat(np.arange(n, dtype=np.int32), imgs.shape[1])  # noqa: E731
    s = {
        "x_train": tr.reshape(-1, image_size, image_size),
        "y_train": lab(n_train),
        "x_test": te.reshape(-1, image_size, image_size),
        "y_test": lab(n_test),
    }
    s["x_train"], s["y_train"] = _with_rotations(s["x_train"], s["y_train"], n_train)
    s["x_test"], s["y_test"] = _with_rotations(s["x_test"], s["y_test"], n_test)
    for k in ("x_train", "x_test"):
        s[k] = np.ascontiguousarray(s[k][..., None], dtype=np.float32)
    for k in ("y_train", "y_test"):
        s[k] = s[k].astype(np.int32)
    return s


@pytest.fixture(scope="module")
def tiny_omniglot(tmp_path_factory):
    """7 background + 4 evaluation characters x 3 drawings of random 105 x 105 strokes."""
    folder = tmp_path_factory.mktemp("manual") / "omniglot"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("images_background.npz", 7), ("images_evaluation.npz", 4)):
        np.savez(folder / name, images=rng.random((n, 3, 105, 105)) > 0.1)
    return folder


@pytest.mark.parametrize("seed, size", [(0, 28), (3, 20)])
def test_omniglot_arrays_bit_identical_to_the_old_loader(tiny_omniglot, seed, size):
    ref = _reference_arrays(tiny_omniglot, size, seed, num_train=8)
    got = data.omniglot_arrays(tiny_omniglot.parent, size, seed=seed, num_train=8, verify=False)
    assert sorted(got) == sorted(ref)
    for k in ref:
        assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape, k
        assert got[k].tobytes() == ref[k].tobytes(), k  # bit for bit
    assert got["x_train"].shape == (8 * 3 * 4, size, size, 1)
    assert np.bincount(got["y_test"]).tolist() == [3] * 12
    # grey levels from the antialiased resize, ink = 1
    assert 0.0 <= got["x_train"].min() and got["x_train"].max() <= 1.0
    assert len(np.unique(got["x_train"])) > 2


def test_omniglot_arrays_options_and_checks(tiny_omniglot):
    plain = data.omniglot_arrays(
        tiny_omniglot, 105, seed=1, num_train=5, rotations=False, verify=False
    )
    assert plain["x_train"].shape == (15, 105, 105, 1) and plain["x_test"].shape == (
        18,
        105,
        105,
        1,
    )
    with pytest.raises(data.DataFileError, match="SHA-256"):
        data.omniglot_arrays(tiny_omniglot, 28)
    with pytest.raises(data.DataFileError, match="missing"):
        data.omniglot_arrays(tiny_omniglot / "nowhere", 28, verify=False)
    with pytest.raises(ValueError, match="num_train"):
        data.omniglot_arrays(tiny_omniglot, 28, num_train=11, verify=False)
    with pytest.raises(ValueError, match="image_size"):
        data.omniglot_arrays(tiny_omniglot, 0, verify=False)


def test_add_rotations_layout_and_checks():
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    xr, yr = data.add_rotations(x, np.array([1, 0]), 2)
    assert yr.tolist() == [1, 0, 3, 2, 5, 4, 7, 6]
    for k in range(4):
        np.testing.assert_array_equal(xr[2 * k : 2 * k + 2], np.rot90(x, k, axes=(1, 2)))
    with pytest.raises(ValueError, match="x must have shape"):
        data.add_rotations(np.zeros((2, 3, 4)), np.zeros(2, int), 1)
    with pytest.raises(ValueError, match="y must have shape"):
        data.add_rotations(x, np.zeros(3, int), 2)
    with pytest.raises(ValueError, match="y must lie"):
        data.add_rotations(x, np.array([0, 2]), 2)
