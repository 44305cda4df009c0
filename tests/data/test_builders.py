"""TFDS builders over the real benchmark files (../shared/data or $JTRANSFER_MANUAL_DIR).

Shapes, counts and label sets are checked against each folder's PROVENANCE.md, and three
published/recorded numbers (1-NN accuracies of RESULTS_FROM_PAPERS.md section 4) check that
rows, features and labels are the right ones in the right order. Everything is built once
per session into a temporary TFDS data dir (fixtures in tests/data/conftest.py).
"""

import gzip
import io
import shutil
import zipfile

import numpy as np
import pytest

from jtransfer import data
from tests.conftest import manual_dir_or_skip


def _counts(y, n):
    return np.bincount(y, minlength=n).tolist()


def _one_nn(xs, ys, xt):
    d = (xt**2).sum(1)[:, None] - 2 * xt @ xs.T + (xs**2).sum(1)[None]
    return ys[np.argmin(d, 1)]


OFFICE = {  # PROVENANCE.md: per-class counts, labels 1..10 -> 0..9
    "amazon": [92, 82, 94, 99, 100, 100, 99, 100, 94, 98],
    "caltech": [151, 110, 100, 138, 85, 128, 133, 94, 87, 97],
    "dslr": [12, 21, 12, 13, 10, 24, 22, 12, 8, 23],
    "webcam": [29, 21, 31, 27, 27, 30, 43, 30, 27, 30],
}


def test_office_caltech10(loaded):
    d = loaded("office_caltech10")
    assert d["x"].shape == (2533, 800) and d["x"].dtype == np.float32
    for i, dom in enumerate(data.OFFICE_DOMAINS):
        sel = d["domain"] == i
        assert _counts(d["y"][sel], 10) == OFFICE[dom], dom
    one = loaded("office_caltech10", domain="dslr")
    np.testing.assert_array_equal(one["x"], d["x"][d["domain"] == 2])

    # 1-NN after L1 rows + per-domain z-score: W->D 59.2, D->W 63.4 (jindongwang benchmark.md)
    def prep(x):
        x = x / x.sum(1, keepdims=True)
        return (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)

    w, dsl = (d["domain"] == 3), (d["domain"] == 2)
    xw, xd = prep(d["x"][w].astype(np.float64)), prep(d["x"][dsl].astype(np.float64))
    acc_wd = (_one_nn(xw, d["y"][w], xd) == d["y"][dsl]).mean() * 100
    acc_dw = (_one_nn(xd, d["y"][dsl], xw) == d["y"][w]).mean() * 100
    assert round(acc_wd, 1) == 59.2 and round(acc_dw, 1) == 63.4


AMAZON = {  # PROVENANCE.md: (rows, nnz, #negative, #positive)
    "books_train": (2000, 184408, 1000, 1000),
    "books_test": (4465, 394856, 2201, 2264),
    "dvd_train": (2000, 184399, 1000, 1000),
    "dvd_test": (3586, 331695, 1779, 1807),
    "electronics_train": (2000, 142574, 1000, 1000),
    "electronics_test": (5681, 402476, 2824, 2857),
    "kitchen_train": (2000, 126363, 1000, 1000),
    "kitchen_test": (5945, 373659, 2991, 2954),
}


def test_amazon_reviews(loaded):
    d = loaded("amazon_reviews")
    assert d["x"].shape == (27677, 5000) and d["x"].dtype == np.float32
    nnz = np.count_nonzero(d["x"], axis=1)
    for i, dom in enumerate(data.AMAZON_DOMAINS):
        for j, split in enumerate(("train", "test")):
            sel = (d["domain"] == i) & (d["split"] == j)
            n, n_nonzero, neg, pos = AMAZON[f"{dom}_{split}"]
            assert sel.sum() == n and nnz[sel].sum() == n_nonzero
            assert _counts(d["y"][sel], 2) == [neg, pos]
    assert d["x"].max() == 84


def test_amazon_reviews_matches_svmlight(loaded):
    from sklearn.datasets import load_svmlight_file

    d = loaded("amazon_reviews", domain="kitchen", split="train")
    path = data.resolve_files("amazon_reviews", manual_dir_or_skip())["kitchen_train.svmlight"]
    x, y = load_svmlight_file(str(path), n_features=5000, zero_based=True)
    np.testing.assert_array_equal(d["x"], x.toarray())
    np.testing.assert_array_equal(d["y"], (y > 0).astype(int))
    assert set(np.unique(d["domain"])) == {3} and set(np.unique(d["split"])) == {0}


def test_usps(loaded):
    d = loaded("usps")
    assert d["x"].shape == (9298, 16, 16, 1) and d["x"].dtype == np.float32
    assert 0 <= d["x"].min() and d["x"].max() <= 1
    assert _counts(d["y"][d["split"] == 0], 10) == [
        1194,
        1005,
        731,
        658,
        652,
        556,
        664,
        645,
        542,
        644,
    ]
    assert _counts(d["y"][d["split"] == 1], 10) == [
        359,
        264,
        198,
        166,
        200,
        160,
        170,
        147,
        166,
        177,
    ]


def test_mnist_and_mnist_m(loaded):
    m = loaded("mnist")
    assert m["x"].shape == (10000, 28, 28, 1) and m["x"].dtype == np.uint8
    assert _counts(m["y"], 10) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    path = data.resolve_files("mnist", manual_dir_or_skip())["t10k-images-idx3-ubyte.gz"]
    raw = np.frombuffer(gzip.open(path).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_array_equal(m["x"][..., 0], raw)  # file order kept
    mm = loaded("mnist_m")
    assert mm["x"].shape == (9001, 32, 32, 3) and mm["x"].dtype == np.uint8
    assert _counts(mm["y"], 10) == [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919]
    # PROVENANCE: MNIST-M test image i is made from MNIST test image i
    np.testing.assert_array_equal(mm["y"], m["y"][:9001])


def test_mnist_usps_jda(loaded):
    d = loaded("mnist_usps_jda")
    src, tgt = d["domain"] == 0, d["domain"] == 1
    assert d["x"].shape == (3800, 256) and src.sum() == 2000 and tgt.sum() == 1800
    assert _counts(d["y"][src], 10) == [196, 227, 207, 202, 196, 179, 191, 206, 195, 201]
    assert _counts(d["y"][tgt], 10) == [352, 241, 165, 166, 166, 126, 139, 172, 129, 144]
    # 1-NN on L2-normalised rows, MNIST -> USPS 65.94 % (RESULTS_FROM_PAPERS.md section 4)
    x = d["x"].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    acc = (_one_nn(x[src], d["y"][src], x[tgt]) == d["y"][tgt]).mean() * 100
    assert round(acc, 2) == 65.94


def test_school(loaded):
    d = loaded("school")
    assert d["x"].shape == (15362, 28) and d["y"].shape == (15362,)
    sizes = np.bincount(d["task"])
    assert len(sizes) == 139 and sizes.min() == 22 and sizes.max() == 251
    assert np.all(d["x"][:, 27] == 1) and d["y"].min() == 1 and d["y"].max() == 70
    assert abs(d["y"].mean() - 20.6) < 0.05
    assert [len(np.unique(d["x"][:, j])) for j in (3, 4)] == [65, 37]


def _small1_pngs(n):
    """A few (character, drawer, PNG bytes) from the official small1 zip."""
    path = data.resolve_files("omniglot", manual_dir_or_skip())["images_background_small1.zip"]
    with zipfile.ZipFile(path) as z:
        names = sorted(m for m in z.namelist() if m.endswith(".png"))[::700][:n]
        for m in names:
            c, k = m.rsplit("/", 1)[1][:-4].split("_")
            yield int(c) - 1, int(k) - 1, z.read(m)


def test_omniglot_28(loaded):
    from PIL import Image

    d = loaded("omniglot")  # background + evaluation, 28x28 (MAML)
    assert d["x"].shape == (1623 * 20, 28, 28, 1) and d["x"].dtype == np.uint8
    np.testing.assert_array_equal(d["y"], np.repeat(np.arange(1623), 20))
    assert set(np.unique(d["x"])) == {0, 255}  # nearest-neighbour: stays binary
    ev = loaded("omniglot", split="evaluation")
    assert ev["x"].shape[0] == 659 * 20 and ev["y"].min() == 964
    # Finn et al.'s resize_images.py applied to the original PNG gives the same image
    for c, k, png in _small1_pngs(4):
        ref = np.asarray(Image.open(io.BytesIO(png)).resize((28, 28), Image.LANCZOS))
        np.testing.assert_array_equal(d["x"][c * 20 + k, ..., 0] == 255, ~ref.astype(bool))


def test_omniglot_small_splits_and_105(loaded):
    from PIL import Image

    s1 = loaded("omniglot", split="small1", config="105x105")
    s2 = loaded("omniglot", split="small2", config="105x105")
    assert s1["x"].shape == (2720, 105, 105, 1) and s2["x"].shape == (3120, 105, 105, 1)
    assert len(np.unique(s1["y"])) == 136 and len(np.unique(s2["y"])) == 156
    assert s1["y"].max() < 964 and s2["y"].max() < 964
    ink = (s1["x"] == 255).mean()
    assert 0.05 < ink < 0.11  # PROVENANCE: ink covers about 8 % of pixels
    chars = {int(c): i for i, c in enumerate(np.unique(s1["y"]))}
    for c, k, png in _small1_pngs(4):
        ref = ~np.asarray(Image.open(io.BytesIO(png))).astype(bool)  # PNG: 1 = white
        np.testing.assert_array_equal(s1["x"][chars[c] * 20 + k, ..., 0] == 255, ref)


def test_corrupted_copy_fails_with_message(tmp_path, data_dir):
    src = manual_dir_or_skip("school")
    bad = tmp_path / "school"
    bad.mkdir()
    shutil.copy(f"{src}/school.mat", bad / "school.mat")
    raw = bytearray((bad / "school.mat").read_bytes())
    raw[1000] ^= 0xFF
    (bad / "school.mat").write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError) as err:
        data.load("school", manual_dir=tmp_path, data_dir=str(tmp_path / "tfds"))
    msg = str(err.value)
    expected = data.SOURCES["school"].files["school.mat"]
    assert "school.mat" in msg and expected in msg
    assert "jiayuzhou/MALSAR" in msg and "Evgeniou" in msg and "docs/data.md" in msg
    assert not (tmp_path / "tfds").exists()  # the check runs before TFDS writes anything
