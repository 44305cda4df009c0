"""``recipes.load_domains``: a TFDS dataset by name -> the recipe's arrays, target unlabelled.

A tiny builder of "a researcher's own" (generated in the test, no files needed) stands for
any registered TFDS dataset; the real Office-Caltech10 test skips outside CI without the data.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jtransfer import data, recipes
from tests.conftest import manual_dir_or_skip

N = {"left": 40, "right": 30}  # rows per domain


def _rows(domain: str, flip: bool):
    """Blobs: class c at (±1, 0) in ``left``, rotated/shifted in ``right``; ``flip`` negates
    the labels of ``right`` (a dataset that differs from the other in target labels only)."""
    rng = np.random.default_rng(0 if domain == "left" else 1)
    y = np.arange(N[domain]) % 2
    x = np.stack([2.0 * y - 1.0, np.zeros_like(y, float)], 1) + 0.3 * rng.normal(size=(len(y), 2))
    if domain == "right":
        x = x @ np.array([[0.8, 0.6], [-0.6, 0.8]]) + 0.5
        y = 1 - y if flip else y
    return x.astype(np.float32), y


class _Toy(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A researcher's own TFDS builder: one split per domain, features ``x`` and ``y``."""

    VERSION = tfds.core.Version("1.0.0")
    FLIP = False

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "x": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                    "y": tfds.features.ClassLabel(num_classes=2),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {d: self._generate_examples(d) for d in N}

    def _generate_examples(self, domain):
        x, y = _rows(domain, self.FLIP)
        for i in range(len(y)):
            yield i, {"x": x[i], "y": int(y[i])}


class JtransferTestToyDomains(_Toy):  # registered as "jtransfer_test_toy_domains"
    pass


class JtransferTestToyDomainsFlipped(_Toy):  # the same with the target's labels flipped
    FLIP = True


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tfds"))
    return {
        flip: recipes.load_domains(
            "jtransfer_test_toy_domains" + ("_flipped" if flip else ""),
            "left",
            "right",
            data_dir=root,
        )
        for flip in (False, True)
    }


def test_own_tfds_dataset_by_name_gives_the_recipe_arrays(loaded):
    d = loaded[False]
    xl, yl = _rows("left", False)
    xr, yr = _rows("right", False)
    order = np.lexsort(d.x_source.T)  # TFDS shuffles rows when writing: compare as sets
    np.testing.assert_array_equal(d.x_source[order], xl[np.lexsort(xl.T)])
    np.testing.assert_array_equal(d.y_source[order], yl[np.lexsort(xl.T)])
    np.testing.assert_array_equal(np.sort(d.x_target, 0), np.sort(xr, 0))
    assert d.x_source.dtype == d.x_target.dtype == np.float32 and d.y_source.dtype == np.int32
    x_eval, y_eval = d.evals["target"]
    np.testing.assert_array_equal(x_eval, d.x_target)  # no eval split: the target's own rows
    np.testing.assert_array_equal(y_eval[np.lexsort(x_eval.T)], yr[np.lexsort(xr.T)])
    # DANN on it is two lines; the target accuracy is only monitored (evals).
    fit = recipes.fit_domain_adaptation(
        d.x_source, d.y_source, d.x_target, method="dann", evals=d.evals, num_steps=20,
        eval_every=20, save_every=20,
    )  # fmt: skip
    assert 0.0 <= fit.metrics["target_accuracy"] <= 1.0


def test_target_labels_reach_only_evals(loaded):
    """Two datasets that differ only in the target's labels give identical training arrays
    (so identical fits), and differ in ``evals`` (so the test can tell them apart)."""
    a, b = loaded[False], loaded[True]
    for field in ("x_source", "y_source", "x_target"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.evals["target"][1], b.evals["target"][1])
    assert set(recipes.Domains._fields) == {"x_source", "y_source", "x_target", "evals"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="jtransfer_test_toy_domains", source="left", target="left"), "different"),
        (dict(name="jtransfer_test_toy_domains", source="left", target="up"), "split must"),
        (dict(name="no_such_dataset_anywhere", source="a", target="b"), "registered with TFDS"),
        (dict(name="amazon_text", source="books", target="dvd"), "extract_features"),
        (dict(name="school", source="a", target="b"), "with domains"),
    ],
)
def test_bad_names_raise(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        recipes.load_domains(**kwargs, data_dir=str(tmp_path))


def test_office_caltech10_by_name(tfds_data_dir):
    manual_dir_or_skip(data.SOURCES["office_caltech10"].folder)
    kw = dict(manual_dir=manual_dir_or_skip(), data_dir=tfds_data_dir)
    d = recipes.load_domains("office_caltech10", "amazon", "webcam", **kw)
    ref = data.load("office_caltech10", domain="webcam", **kw)
    assert d.x_source.shape == (958, 800) and d.x_target.shape == (295, 800)
    np.testing.assert_array_equal(d.x_target, ref["x"])
    np.testing.assert_array_equal(d.evals["target"][1], ref["y"])
