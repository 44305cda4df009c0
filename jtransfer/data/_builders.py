"""TFDS builders for the benchmark files of the manual-download folder.

Every builder is a ``tfds.core.GeneratorBasedBuilder`` written as ``array_record`` and read
with ``tfds.data_source`` (no TensorFlow needed). ``_split_generators`` looks the files up in
``dl_manager.manual_dir`` and verifies their SHA-256 before reading anything; nothing is ever
downloaded. TFDS shuffles examples when writing, so every example stores its row ``index`` in
the source file and :func:`jtransfer.data.load` restores the original order.

Registered TFDS names carry a ``jtransfer_`` prefix (``jtransfer_mnist``...) so that they never
clash with TFDS's own catalogue.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile

import numpy as np
import tensorflow_datasets as tfds

from jtransfer._core.extras import import_extra
from jtransfer.data import _text as T
from jtransfer.data._sources import (
    AMAZON_DOMAINS,
    AMAZON_NUM_FEATURES,
    AMAZON_TEXT_DOMAINS,
    FDU_MTL_DOMAINS,
    NUM_OMNIGLOT_BACKGROUND,
    OFFICE_CLASSES,
    OFFICE_DOMAINS,
    SOURCES,
    resolve_files,
)

__all__ = ["BUILDERS", "resize_like_maml"]

_OFFICE_FILE = {"amazon": "amazon", "caltech": "Caltech10", "dslr": "dslr", "webcam": "webcam"}
_RAW = tfds.features.Encoding.BYTES  # raw bytes: ~20x faster to write than int64/float lists


def _index():
    return tfds.features.Scalar(dtype=np.int64, doc="row of the example in its source file")


def _label(n: int):
    return tfds.features.ClassLabel(num_classes=n)


def _instructions(name: str) -> str:
    src = SOURCES[name]
    files = ", ".join(src.files)
    return (
        f"Put {files} in <manual_dir>/{src.folder}/ (manual_dir is the `manual_dir=` "
        f"argument of jtransfer.data.load or $JTRANSFER_MANUAL_DIR). Source: {src.source}. "
        f"Cite: {src.citation}. See docs/data.md."
    )


def _citation(name: str) -> str:
    return SOURCES[name].citation


class _Base(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Common pieces: manual-folder lookup with checksum verification."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Tensors stored as raw bytes; Omniglot ink masks bit-packed (`ink`).",
    }
    DATASET: str = ""  # key of SOURCES

    def _files(self, dl_manager):
        return resolve_files(self.DATASET, dl_manager.manual_dir)

    def _dataset_info(self, features: dict) -> tfds.core.DatasetInfo:
        """DatasetInfo with ``features`` plus the source-row ``index`` every builder stores."""
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({**features, "index": _index()}),
            citation=_citation(self.DATASET),
        )


class OfficeCaltech10(_Base):
    """Office-Caltech10 SURF features: 800-bin bag of words, 10 classes, 4 domains.

    Splits are the domains ``amazon`` (958), ``caltech`` (1123), ``dslr`` (157), ``webcam``
    (295). Labels 1..10 of the files are stored as 0..9 (``OFFICE_CLASSES`` order).
    """

    name = "jtransfer_office_caltech10"
    DATASET = "office_caltech10"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "x": tfds.features.Tensor(shape=(800,), dtype=np.float32, encoding=_RAW),
                "y": tfds.features.ClassLabel(names=OFFICE_CLASSES),
                "image_name": tfds.features.Text(),
            }
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        return {d: self._generate_examples(files, _OFFICE_FILE[d]) for d in OFFICE_DOMAINS}

    def _generate_examples(self, files, stem):
        import scipy.io

        m = scipy.io.loadmat(files[f"{stem}_SURF_L10.mat"])
        names = scipy.io.loadmat(files[f"{stem}_SURF_L10_imgs.mat"])["imgNames"][:, 0]
        x, y = m["fts"].astype(np.float32), m["labels"][:, 0].astype(np.int64) - 1
        for i in range(len(y)):
            yield i, {"x": x[i], "y": y[i], "image_name": str(names[i][0]), "index": i}


class AmazonReviews(_Base):
    """Amazon reviews (Blitzer et al. 2007) as 5000-d unigram/bigram counts (the DANN files).

    Splits ``<domain>_train`` (2000 each) and ``<domain>_test`` for the domains books, dvd,
    electronics, kitchen. Stored sparse (``indices``/``values``); labels -1/+1 become 0/1.
    """

    name = "jtransfer_amazon_reviews"
    DATASET = "amazon_reviews"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "indices": tfds.features.Tensor(shape=(None,), dtype=np.int32, encoding=_RAW),
                "values": tfds.features.Tensor(shape=(None,), dtype=np.float32, encoding=_RAW),
                "y": tfds.features.ClassLabel(names=("negative", "positive")),
            }
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        return {
            f"{d}_{s}": self._generate_examples(files[f"{d}_{s}.svmlight"])
            for d in AMAZON_DOMAINS
            for s in ("train", "test")
        }

    def _generate_examples(self, path):
        from sklearn.datasets import load_svmlight_file

        x, y = load_svmlight_file(str(path), n_features=AMAZON_NUM_FEATURES, zero_based=True)
        x = x.tocsr()
        for i in range(x.shape[0]):
            lo, hi = x.indptr[i], x.indptr[i + 1]
            yield (
                i,
                {
                    "indices": x.indices[lo:hi].astype(np.int32),
                    "values": x.data[lo:hi].astype(np.float32),
                    "y": int(y[i] > 0),
                    "index": i,
                },
            )


class Usps(_Base):
    """USPS digits, 16x16 grayscale in [0, 1], standard 7291 train / 2007 test split."""

    name = "jtransfer_usps"
    DATASET = "usps"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "x": tfds.features.Tensor(shape=(16, 16, 1), dtype=np.float32, encoding=_RAW),
                "y": _label(10),
            }
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        return {s: self._generate_examples(files["usps.h5"], s) for s in ("train", "test")}

    def _generate_examples(self, path, split):
        h5py = import_extra("h5py", "data", "the USPS / MNIST-USPS builders")

        with h5py.File(path, "r") as f:
            x = f[f"{split}/data"][...].reshape(-1, 16, 16, 1).astype(np.float32)
            y = f[f"{split}/target"][...].astype(np.int64)
        for i in range(len(y)):
            yield i, {"x": x[i], "y": y[i], "index": i}


def _read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


class Mnist(_Base):
    """MNIST test set (10,000 images, 28x28 uint8); the training set is not available."""

    name = "jtransfer_mnist"
    DATASET = "mnist"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "x": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8, encoding=_RAW),
                "y": _label(10),
            }
        )

    def _split_generators(self, dl_manager):
        return {"test": self._generate_examples(self._files(dl_manager))}

    def _generate_examples(self, files):
        x = _read_idx(files["t10k-images-idx3-ubyte.gz"], 16).reshape(-1, 28, 28, 1)
        y = _read_idx(files["t10k-labels-idx1-ubyte.gz"], 8).astype(np.int64)
        for i in range(len(y)):
            yield i, {"x": x[i], "y": y[i], "index": i}


class MnistM(_Base):
    """MNIST-M test set (9001 RGB images, 32x32 uint8); the training set is not available.

    Image ``i`` is built from MNIST test image ``i`` (same labels, same order).
    """

    name = "jtransfer_mnist_m"
    DATASET = "mnist_m"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "x": tfds.features.Tensor(shape=(32, 32, 3), dtype=np.uint8, encoding=_RAW),
                "y": _label(10),
            }
        )

    def _split_generators(self, dl_manager):
        return {"test": self._generate_examples(self._files(dl_manager))}

    def _generate_examples(self, files):
        with np.load(files["mnist_m_test.npz"]) as d:
            x, y, names = d["images"], d["labels"].astype(np.int64), d["filenames"]
        listed = dict(
            line.split()
            for line in files["mnist_m_test_labels.txt"].read_text().splitlines()
            if line.strip()
        )
        if len(listed) != len(y) or any(
            int(listed[str(n)]) != int(t) for n, t in zip(names, y, strict=True)
        ):
            raise ValueError(
                "mnist_m: labels of mnist_m_test.npz disagree with mnist_m_test_labels.txt"
            )
        for i in range(len(y)):
            yield i, {"x": x[i], "y": y[i], "index": i}


class MnistUspsJda(_Base):
    """The JDA digit pair: 2000 MNIST and 1800 USPS images as 256-d vectors (16x16, rows).

    Splits are the domains ``mnist`` and ``usps``; labels 1..10 become digits 0..9.
    ``x.reshape(16, 16)`` is the upright image.
    """

    name = "jtransfer_mnist_usps_jda"
    DATASET = "mnist_usps_jda"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return self._dataset_info(
            {
                "x": tfds.features.Tensor(shape=(256,), dtype=np.float32, encoding=_RAW),
                "y": _label(10),
            }
        )

    def _split_generators(self, dl_manager):
        path = self._files(dl_manager)["MNIST_vs_USPS.mat"]
        return {
            "mnist": self._generate_examples(path, "s"),
            "usps": self._generate_examples(path, "t"),
        }

    def _generate_examples(self, path, which):
        h5py = import_extra("h5py", "data", "the USPS / MNIST-USPS builders")

        with h5py.File(path, "r") as f:
            x = f[f"X{which}"][...].astype(np.float32)
            y = f[f"Y{which}"][0].astype(np.int64) - 1
        for i in range(len(y)):
            yield i, {"x": x[i], "y": y[i], "index": i}


class OmniglotConfig(tfds.core.BuilderConfig):
    """Omniglot image size: the original 105x105 or MAML's 28x28."""

    def __init__(self, *, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size


def resize_like_maml(images: np.ndarray, size: int) -> np.ndarray:
    """Downsamples boolean ``(..., 105, 105)`` images exactly as Finn et al.'s
    ``resize_images.py`` (PIL ``resize((size, size), LANCZOS)`` on the binary PNG).

    Pillow resamples "1"-mode (binary) images with nearest neighbour whatever filter is
    asked, reading source pixel ``floor((i + 0.5) * 105 / size)``; the result stays binary.
    The tests compare this with Pillow on the original PNG files.
    """
    n = images.shape[-1]
    idx = np.floor((np.arange(size) + 0.5) * n / size).astype(np.int64)
    return images[..., idx, :][..., idx]


class Omniglot(_Base):
    """Omniglot: 1623 handwritten characters x 20 drawers (Lake et al. 2015).

    One example per character: ``ink`` (20, ceil(S*S/8)) uint8, the 20 drawings' ink masks
    (``True`` = ink) flattened row-major and packed with ``np.packbits`` (S = 105, or 28 for
    the MAML variant; :func:`jtransfer.data.load` unpacks them to uint8 images with ink =
    255), ``character`` the global character number 0..1622 (background 0..963, evaluation
    964..1622, i.e. the original file number - 1), ``alphabet`` (known for the small1/small2
    splits, else empty). Splits: ``background`` (964 characters), ``evaluation`` (659),
    ``small1`` (136) and ``small2`` (156), the official minimal background subsets.
    """

    name = "jtransfer_omniglot"
    DATASET = "omniglot"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)
    BUILDER_CONFIGS = [
        OmniglotConfig(name="28x28", size=28, description="downsampled as in MAML"),
        OmniglotConfig(name="105x105", size=105, description="original resolution"),
    ]

    def _info(self):
        s = self.builder_config.size
        return self._dataset_info(
            {
                "ink": tfds.features.Tensor(
                    shape=(20, (s * s + 7) // 8), dtype=np.uint8, encoding=_RAW
                ),
                "character": tfds.features.Scalar(dtype=np.int64),
                "alphabet": tfds.features.Text(),
            }
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        arrays = {}
        for npz in ("background", "evaluation"):
            with np.load(files[f"images_{npz}.npz"]) as d:
                arrays[npz] = d["images"]  # (C, 20, 105, 105) bool, True = background
        small = {
            s: _small_split_characters(files[f"images_background_{s}.zip"])
            for s in ("small1", "small2")
        }
        all_bg = dict.fromkeys(range(len(arrays["background"])), "")
        all_ev = dict.fromkeys(range(len(arrays["evaluation"])), "")
        return {
            "background": self._generate_examples(arrays["background"], all_bg, 0),
            "evaluation": self._generate_examples(
                arrays["evaluation"], all_ev, NUM_OMNIGLOT_BACKGROUND
            ),
            "small1": self._generate_examples(arrays["background"], small["small1"], 0),
            "small2": self._generate_examples(arrays["background"], small["small2"], 0),
        }

    def _generate_examples(self, images, chars, offset):
        size = self.builder_config.size
        for i, (c, alphabet) in enumerate(sorted(chars.items())):
            ink = ~images[c]
            if size != ink.shape[-1]:
                ink = resize_like_maml(ink, size)
            yield (
                i,
                {
                    "ink": np.packbits(ink.reshape(len(ink), -1), axis=-1),
                    "character": c + offset,
                    "alphabet": alphabet,
                    "index": i,
                },
            )


def _small_split_characters(path) -> dict[int, str]:
    """Background character index -> alphabet, from the PNG names of a small split zip."""
    pattern = re.compile(r"/([^/]+)/character\d+/(\d{4})_\d{2}\.png$")
    chars = {}
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
        for member in z.namelist():
            m = pattern.search(member)
            if m:
                chars[int(m.group(2)) - 1] = m.group(1)
    return chars


class School(_Base):
    """ILEA school exam scores: 139 tasks (schools), 15362 students, 28 features (27 + bias).

    One example per task: ``x`` (n_t, 28), ``y`` (n_t,) exam scores, ``task`` 0..138.
    """

    name = "jtransfer_school"
    DATASET = "school"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "x": tfds.features.Tensor(shape=(None, 28), dtype=np.float32, encoding=_RAW),
                    "y": tfds.features.Tensor(shape=(None,), dtype=np.float32, encoding=_RAW),
                    "task": tfds.features.Scalar(dtype=np.int64),
                }
            ),
            citation=_citation(self.DATASET),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(self._files(dl_manager)["school.mat"])}

    def _generate_examples(self, path):
        import scipy.io

        m = scipy.io.loadmat(path)
        for t in range(m["X"].shape[1]):
            yield (
                t,
                {
                    "x": m["X"][0, t].astype(np.float32),
                    "y": m["Y"][0, t][:, 0].astype(np.float32),
                    "task": t,
                },
            )


def _text_features(label) -> dict:
    return {
        "text": tfds.features.Text(),
        "label": label,
        "id": tfds.features.Text(doc="stable id: <domain>/<file>/<0-based row in the file>"),
    }


class AmazonText(_Base):
    """Amazon reviews as raw text (Blitzer et al. 2007): 4 domains x 2000 labelled reviews.

    Features: ``text``, ``title`` (the review title, may be empty), ``label`` (0 negative,
    1 positive), ``id`` (``<domain>/<negative|positive>/<row in file:04d>``, unique) and
    ``index`` (the row in the domain's id order: negative.parsed rows 0..999, then
    positive.parsed rows 1000..1999). Splits ``<domain>_<split>``: ``train`` (1400),
    ``validation`` (200), ``test`` (400), a stratified partition drawn with
    ``np.random.default_rng(0)`` over the rows in id order (``jtransfer.data._text``), and
    ``all`` (the 2000 reviews: the cross-domain protocol's target test set).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    name = "jtransfer_amazon_text"
    DATASET = "amazon_text"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    **_text_features(tfds.features.ClassLabel(names=T.BLITZER_FILES)),
                    "title": tfds.features.Text(),
                    "index": tfds.features.Scalar(
                        dtype=np.int64, doc="row in the domain's id order, 0..1999"
                    ),
                }
            ),
            citation=_citation(self.DATASET),
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        out = {}
        for d in AMAZON_TEXT_DOMAINS:
            rows = []
            for label, stem in enumerate(T.BLITZER_FILES):
                reviews = T.parse_blitzer_reviews(files[f"{d}/{stem}.parsed"].read_bytes())
                rows += [
                    {
                        "title": title,
                        "text": text,
                        "label": label,
                        "id": T.amazon_text_id(d, stem, i),
                    }
                    for i, (title, text) in enumerate(reviews)
                ]
            rows.sort(key=lambda r: r["id"])
            rows = [{**r, "index": i} for i, r in enumerate(rows)]
            parts = T.amazon_text_split([r["label"] for r in rows])
            for split, idx in parts.items():
                out[f"{d}_{split}"] = self._generate_examples([rows[i] for i in idx])
            out[f"{d}_all"] = self._generate_examples(rows)
        return out

    def _generate_examples(self, rows):
        for r in rows:
            yield r["id"], r


class FduMtl(_Base):
    """FDU-MTL (Liu, Qiu, Huang 2017): 16 sentiment domains, lower-cased tokenised text.

    Features: ``text``, ``label`` (0 negative, 1 positive, -1 for the unlabelled split),
    ``id`` (``<domain>/<train|test|unlabel>/<line:04d>``, 0-based line of the file) and
    ``index`` (the line). Splits ``<domain>_<split>``: ``train`` (the train file minus
    ``validation``), ``validation`` (200 lines of the train file, stratified, drawn with
    ``np.random.default_rng(0)``: ASP-MTL's dev set), ``test`` (the 400-line test file),
    ``unlabelled`` (the unlabel file, 2000 lines; software 475). The whole train file is
    ``train`` + ``validation`` (``load(..., split="train_full")`` joins them in line order).
    The unlabelled texts of the 14 Amazon domains are raw (not lower-cased or tokenised).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    name = "jtransfer_fdu_mtl"
    DATASET = "fdu_mtl"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(DATASET)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    **_text_features(
                        tfds.features.Scalar(
                            dtype=np.int64, doc="0 negative, 1 positive, -1 unlabelled"
                        )
                    ),
                    "index": tfds.features.Scalar(dtype=np.int64, doc="0-based line in its file"),
                }
            ),
            citation=_citation(self.DATASET),
        )

    def _split_generators(self, dl_manager):
        files = self._files(dl_manager)
        out = {}
        for d in FDU_MTL_DOMAINS:
            rows = {}
            for part in ("train", "test", "unlabel"):
                labels, texts = T.parse_fdu_mtl(
                    files[T.fdu_mtl_file(d, part)].read_bytes(), labelled=part != "unlabel"
                )
                rows[part] = [
                    {"text": t, "label": y, "id": T.fdu_mtl_id(d, part, i), "index": i}
                    for i, (y, t) in enumerate(zip(labels, texts, strict=True))
                ]
            parts = T.fdu_mtl_split([r["label"] for r in rows["train"]])
            out[f"{d}_train"] = self._generate_examples([rows["train"][i] for i in parts["train"]])
            out[f"{d}_validation"] = self._generate_examples(
                [rows["train"][i] for i in parts["validation"]]
            )
            out[f"{d}_test"] = self._generate_examples(rows["test"])
            out[f"{d}_unlabelled"] = self._generate_examples(rows["unlabel"])
        return out

    def _generate_examples(self, rows):
        for r in rows:
            yield r["id"], r


BUILDERS: dict[str, type[_Base]] = {
    "office_caltech10": OfficeCaltech10,
    "amazon_reviews": AmazonReviews,
    "usps": Usps,
    "mnist": Mnist,
    "mnist_m": MnistM,
    "mnist_usps_jda": MnistUspsJda,
    "omniglot": Omniglot,
    "school": School,
    "amazon_text": AmazonText,
    "fdu_mtl": FduMtl,
}
