"""Text benchmarks: parsers for the raw files, the fixed seeded splits, and text overlap.

Pure Python and NumPy (no TFDS): the TFDS builders in ``_builders.py`` call these, and tests
run them on small synthetic files.

* Blitzer et al.'s ``<domain>/{negative,positive}.parsed`` (:func:`parse_blitzer_reviews`):
  not strict XML; split on ``<review>`` / ``</review>``, the first line is the title, the
  rest (possibly several lines) is the text.
* FDU-MTL's ``<domain>.task.{train,test,unlabel}`` (:func:`parse_fdu_mtl`): one example a
  line, ``label<TAB>text`` or text only.
* :func:`text_overlap`: exact matches between two collections after normalisation, to prove
  (or measure the lack of) disjointness between an unlabelled pool and a test set.
"""

from __future__ import annotations

import re
import types
import unicodedata
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jtransfer.data._sources import FDU_MTL_DOMAINS

__all__ = [
    "AMAZON_TEXT_SPLITS",
    "AMAZON_TEXT_SPLIT_SIZES",
    "FDU_MTL_SPLITS",
    "FDU_MTL_VALIDATION_SIZE",
    "TEXT_SPLIT_SEED",
    "TextOverlap",
    "amazon_text_split",
    "amazon_text_id",
    "decode_text",
    "fdu_mtl_file",
    "fdu_mtl_id",
    "fdu_mtl_split",
    "normalize_text",
    "parse_blitzer_reviews",
    "parse_fdu_mtl",
    "stratified_split",
    "text_overlap",
]

TEXT_SPLIT_SEED = 0  # the seed of np.random.default_rng for every fixed text split
AMAZON_TEXT_SPLITS = ("train", "validation", "test", "all")
# of each domain's 1000 + 1000 reviews; read-only, so that nobody changes the split by accident
AMAZON_TEXT_SPLIT_SIZES = types.MappingProxyType({"train": 1400, "validation": 200, "test": 400})
FDU_MTL_SPLITS = ("train", "validation", "test", "unlabelled", "train_full")
FDU_MTL_VALIDATION_SIZE = 200  # held out of each train file (ASP-MTL's dev set)
BLITZER_FILES = ("negative", "positive")  # label 0, label 1

_REVIEW = re.compile(rb"<review>(.*?)</review>", re.S)


def decode_text(raw: bytes) -> str:
    """Decodes one line or file of the text benchmarks: UTF-8, else Windows-1252, else latin-1.

    The files are mostly UTF-8, but some lines are Windows-1252 (FDU-MTL's MR: ``clich\\xe9``,
    ``\\x97`` for an em dash). Latin-1 decodes any byte, so this never fails; Windows-1252
    agrees with latin-1 except that 0x80-0x9f are the typographic characters those files
    mean. Line ends ``\\r\\n`` / ``\\r`` become ``\\n``.
    """
    for codec in ("utf-8", "cp1252"):
        try:
            text = raw.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_blitzer_reviews(raw: bytes) -> list[tuple[str, str]]:
    """Parses one ``positive.parsed`` / ``negative.parsed`` file into ``(title, text)`` pairs.

    Each ``<review>...</review>`` element holds a tab, the title, a newline, a tab (some
    files: a space and a tab) and the text, which may span lines. The file is not parsed as
    XML (texts may contain ``&`` and ``<``); elements are cut at the literal tags. Title and
    text lose surrounding whitespace; the text keeps its inner newlines.

    Args:
      raw: the file's bytes; each line is decoded on its own by :func:`decode_text`, so a
        latin-1 line does not spoil the UTF-8 ones.

    Returns:
      ``[(title, text), ...]`` in file order. An element with a single line gives
      ``("", line)``: the title may be empty, the text is what the line holds.
    """
    out = []
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for chunk in _REVIEW.findall(raw):
        body = "\n".join(decode_text(line) for line in chunk.split(b"\n")).strip()
        head, sep, rest = body.partition("\n")
        if sep:
            out.append((head.strip(), rest.strip()))
        else:
            out.append(("", head.strip()))
    return out


def parse_fdu_mtl(raw: bytes, *, labelled: bool) -> tuple[list[int], list[str]]:
    """Parses one FDU-MTL file: ``label<TAB>text`` lines, or text-only lines if unlabelled.

    Each line is decoded on its own by :func:`decode_text` (the files mix UTF-8 and
    Windows-1252 lines); surrounding whitespace and a final newline are dropped. An
    unlabelled line gets label ``-1``. A labelled line with no text (``0<TAB>``: one line of
    sports_outdoors.task.train) is kept with text ``""``.

    Args:
      raw: the file's bytes.
      labelled: whether lines start with ``0<TAB>`` / ``1<TAB>`` (``.train``, ``.test``).

    Returns:
      ``(labels, texts)``, in file order.

    Raises:
      ValueError: a labelled line has no tab or a label other than 0/1 (the message gives
        the line number).
    """
    labels, texts = [], []
    lines = raw.split(b"\n")
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    for i, line in enumerate(lines):
        text = decode_text(line)
        if labelled:
            label, sep, text = text.partition("\t")
            if not sep or label.strip() not in ("0", "1"):
                raise ValueError(
                    f"FDU-MTL line {i + 1}: expected 'label<TAB>text' with label "
                    f"0 or 1; got {decode_text(line)[:40]!r}"
                )
            labels.append(int(label))
        else:
            labels.append(-1)
        texts.append(text.strip())
    return labels, texts


def fdu_mtl_file(domain: str, part: str) -> str:
    """File name of an FDU-MTL domain's ``train``/``test``/``unlabel`` file."""
    if domain not in FDU_MTL_DOMAINS:
        raise ValueError(f"domain must be one of {list(FDU_MTL_DOMAINS)}; got {domain!r}")
    return f"{'MR' if domain == 'mr' else domain}.task.{part}"


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum to ``total`` (Hamilton's method; ties
    go to the lower index)."""
    quota = total * weights / weights.sum()
    out = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out


def stratified_split(
    labels: Sequence[int] | np.ndarray, sizes: Mapping[str, int], *, seed: int = TEXT_SPLIT_SEED
) -> dict[str, np.ndarray]:
    """A seeded stratified partition of ``range(len(labels))`` into named parts.

    Every part except the first takes from each class ``c`` a number of rows proportional to
    the class size, :math:`s_k n_c / n` rounded by largest remainder so that the part has
    exactly :math:`s_k` rows; the first part takes the rest of each class. Within each class
    (classes in increasing order) the rows are permuted once by
    ``np.random.default_rng(seed).permutation`` and cut into consecutive pieces in the order
    of ``sizes``. The rows must come in a canonical order (sorted ids), so that the result
    does not depend on how the files were read.

    Args:
      labels: (n,) integer class of each row, rows in canonical order.
      sizes: part name -> number of rows; the sizes must sum to n.
      seed: seed of the NumPy generator.

    Returns:
      part name -> sorted row indices (int64).

    Example:
      >>> parts = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], {"train": 6, "test": 2})
      >>> [len(parts["train"]), len(parts["test"])]
      [6, 2]

    References:
      The ASP-MTL protocol (200 dev examples per FDU-MTL train file): P. Liu, X. Qiu,
      X. Huang, "Adversarial Multi-task Learning for Text Classification", ACL 2017
      (https://arxiv.org/abs/1704.05742).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D; got shape {labels.shape}")
    n = len(labels)
    if sum(sizes.values()) != n or min(sizes.values(), default=0) < 0:
        raise ValueError(
            f"sizes must be non-negative and sum to len(labels) = {n}; got {dict(sizes)}"
        )
    classes, counts = np.unique(labels, return_counts=True)
    names = list(sizes)
    per_class = np.zeros((len(names), len(classes)), np.int64)
    for k, name in enumerate(names[1:], 1):
        per_class[k] = _largest_remainder(sizes[name], counts.astype(np.float64))
    per_class[0] = counts - per_class[1:].sum(0)
    if (per_class[0] < 0).any():
        raise ValueError(
            f"sizes {dict(sizes)} leave no room for {names[0]!r} in some class "
            f"(class counts {counts.tolist()})"
        )
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for j, c in enumerate(classes):
        rows = np.flatnonzero(labels == c)[rng.permutation(counts[j])]
        cuts = np.cumsum(per_class[:, j])[:-1]
        for name, piece in zip(names, np.split(rows, cuts), strict=True):
            parts[name].append(piece)
    return {name: np.sort(np.concatenate(p)).astype(np.int64) for name, p in parts.items()}


def amazon_text_split(labels: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """The fixed split of one Blitzer domain's 2000 reviews: train 1400 / validation 200 /
    test 400 (700/100/200 per class), ``np.random.default_rng(0)``.

    Args:
      labels: (2000,) labels of the domain's reviews in id order (``negative`` file then
        ``positive`` file, each in file order).

    Returns:
      ``{"train", "validation", "test"}`` -> sorted row indices.
    """
    labels = np.asarray(labels)
    if len(labels) != sum(AMAZON_TEXT_SPLIT_SIZES.values()):
        raise ValueError(f"labels must hold the 2000 reviews of a domain; got {len(labels)}")
    return stratified_split(labels, AMAZON_TEXT_SPLIT_SIZES)


def fdu_mtl_split(labels: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
    """The fixed split of one FDU-MTL train file: ``validation`` 200 lines (stratified by
    largest remainder), ``train`` the rest, ``np.random.default_rng(0)``.

    Args:
      labels: labels of the train file's lines, in file order.

    Returns:
      ``{"train", "validation"}`` -> sorted line indices.
    """
    n = len(labels)
    return stratified_split(
        labels, {"train": n - FDU_MTL_VALIDATION_SIZE, "validation": FDU_MTL_VALIDATION_SIZE}
    )


_NOT_ALNUM = re.compile(r"[\W_]+")  # anything but letters and digits


def normalize_text(text: str, mode: str = "whitespace") -> str:
    """The key :func:`text_overlap` compares.

    ``"whitespace"``: Unicode NFKC, case-folded, runs of whitespace collapsed to one space,
    ends stripped. ``"alphanumeric"``: the same, then every character that is not a letter
    or a digit removed (spaces too), so that a tokenised copy (``do n't`` , `` `` ``) matches
    its raw original (``don't,"``).

    Example:
      >>> normalize_text("  Great\\tBook!\\n")
      'great book!'
      >>> normalize_text("i do n't like it .", "alphanumeric")
      'idontlikeit'
    """
    if mode not in ("whitespace", "alphanumeric"):
        raise ValueError(f"mode must be 'whitespace' or 'alphanumeric'; got {mode!r}")
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return _NOT_ALNUM.sub("", text) if mode == "alphanumeric" else text


class TextOverlap(NamedTuple):
    """Exact matches between two text collections ``a`` and ``b`` after normalisation."""

    a_in_b: np.ndarray  # (len(a),) bool: a[i]'s key occurs in b
    b_in_a: np.ndarray  # (len(b),) bool: b[j]'s key occurs in a
    num_shared: int  # distinct keys that occur in both

    @property
    def num_a_in_b(self) -> int:
        """How many items of ``a`` (counted with repeats) also occur in ``b``."""
        return int(self.a_in_b.sum())

    @property
    def num_b_in_a(self) -> int:
        """How many items of ``b`` (counted with repeats) also occur in ``a``."""
        return int(self.b_in_a.sum())

    @property
    def disjoint(self) -> bool:
        """No text of one collection occurs in the other."""
        return self.num_shared == 0


def text_overlap(
    a: Sequence[str] | np.ndarray, b: Sequence[str] | np.ndarray, *, mode: str = "whitespace"
) -> TextOverlap:
    r"""Which texts of ``a`` occur in ``b`` and vice versa, exactly after normalisation.

    With :math:`k` = :func:`normalize_text` (``mode="whitespace"``: case and whitespace
    ignored; ``"alphanumeric"``: also punctuation and tokenisation spaces ignored) and
    :math:`S = \{k(a_i)\} \cap \{k(b_j)\} \setminus \{\text{""}\}`,

    .. math::

       \mathrm{a\_in\_b}_i = [k(a_i) \in S], \qquad
       \mathrm{b\_in\_a}_j = [k(b_j) \in S], \qquad \mathrm{num\_shared} = |S|.

    Empty texts never match. Use it to prove that an unlabelled target pool is disjoint from
    the test reviews, or to drop the shared lines: ``pool[~text_overlap(test, pool).b_in_a]``.

    Args:
      a: texts (a list or a NumPy array of ``str``).
      b: texts.
      mode: the normalisation (see :func:`normalize_text`).

    Returns:
      a :class:`TextOverlap` with boolean masks over ``a`` and ``b`` and the number of
      distinct shared keys.

    Example:
      >>> r = text_overlap(["Good  book.", "Bad"], ["good book.", "fine"])
      >>> r.a_in_b.tolist(), r.num_shared, r.disjoint
      ([True, False], 1, False)

    References:
      Exact-duplicate checks between pretraining/unlabelled text and test sets follow the
      contamination analyses of e.g. T. Brown et al., "Language Models are Few-Shot
      Learners", NeurIPS 2020 (https://arxiv.org/abs/2005.14165), appendix C.
    """
    ka = [normalize_text(str(t), mode) for t in a]
    kb = [normalize_text(str(t), mode) for t in b]
    shared = (set(ka) & set(kb)) - {""}
    return TextOverlap(
        a_in_b=np.array([k in shared for k in ka], bool),
        b_in_a=np.array([k in shared for k in kb], bool),
        num_shared=len(shared),
    )


def amazon_text_id(domain: str, file: str, index: int) -> str:
    """Stable id of a Blitzer review: ``<domain>/<negative|positive>/<index in file:04d>``."""
    return f"{domain}/{file}/{index:04d}"


def fdu_mtl_id(domain: str, part: str, line: int) -> str:
    """Stable id of an FDU-MTL example: ``<domain>/<train|test|unlabel>/<line:04d>``
    (0-based line of the file)."""
    return f"{domain}/{part}/{line:04d}"
