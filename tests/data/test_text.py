"""Text benchmarks: parsers on small synthetic files (every quirk of the real files), the fixed
seeded splits, text_overlap against a brute-force reference, and the TFDS builders
``amazon_text`` / ``fdu_mtl`` over the real files (skipped without them, failing in CI).
"""

import pathlib
import shutil

import numpy as np
import pytest

from jtransfer import data
from jtransfer.data import _text as T
from tests.conftest import manual_dir_or_skip

# --- parsers on synthetic files ---------------------------------------------------------


def test_parse_blitzer_quirks(tmp_path):
    raw = (
        b"<reviews>\r\n<review>\tGreat book \r\n\tFirst line & more.\r\n\r\n"
        b"Second line with a < b and caf\xe9 (latin-1).  \r\n</review>"
        b"<review>\t\n\tNo title here</review>\n"  # empty title
        b"<review>\tSpace then tab\n \tText after a space and a tab\n</review>\r\n"
        b"<review>\tUTF-8 title \xc3\xa9\n\tT\xc3\xa9xt <b> &amp; x</review>\n"
        b"<review>just one line</review>\n</reviews>\n"
    )
    path = tmp_path / "positive.parsed"
    path.write_bytes(raw)
    got = T.parse_blitzer_reviews(path.read_bytes())
    assert got == [
        ("Great book", "First line & more.\n\nSecond line with a < b and café (latin-1)."),
        ("", "No title here"),
        ("Space then tab", "Text after a space and a tab"),
        ("UTF-8 title é", "Téxt <b> &amp; x"),
        ("", "just one line"),
    ]


def test_parse_fdu_mtl_quirks(tmp_path):
    labelled = (
        b"1\ti do n't like clich\xe9s \x97 at all .  \r\n"  # Windows-1252 line
        b"0\tutf-8 caf\xc3\xa9\n"
        b"0\t\n"  # empty text (real quirk)
        b"1\tno final newline"
    )
    (tmp_path / "x.task.train").write_bytes(labelled)
    labels, texts = T.parse_fdu_mtl((tmp_path / "x.task.train").read_bytes(), labelled=True)
    assert labels == [1, 0, 0, 1]
    assert texts == ["i do n't like clichés \u2014 at all .", "utf-8 café", "", "no final newline"]
    labels, texts = T.parse_fdu_mtl(b"Raw Text, not tokenised.\nSecond\t\n", labelled=False)
    assert labels == [-1, -1] and texts == ["Raw Text, not tokenised.", "Second"]
    with pytest.raises(ValueError, match="line 2"):
        T.parse_fdu_mtl(b"1\tok\n2\tbad label\n", labelled=True)
    with pytest.raises(ValueError, match="line 1"):
        T.parse_fdu_mtl(b"no tab at all\n", labelled=True)


def test_decode_text():
    assert T.decode_text("café".encode()) == "café"
    assert T.decode_text(b"caf\xe9 \x93q\x94\r\n") == "café \u201cq\u201d\n"  # cp1252
    assert T.decode_text(b"\x81\xe9") == "\x81é"  # undefined in cp1252: latin-1


def test_fdu_mtl_file_names():
    assert T.fdu_mtl_file("mr", "train") == "MR.task.train"
    assert T.fdu_mtl_file("kitchen_housewares", "unlabel") == "kitchen_housewares.task.unlabel"
    assert len(data.FDU_MTL_DOMAINS) == 16 and len(set(data.FDU_MTL_DOMAINS)) == 16
    names = {
        T.fdu_mtl_file(d, p) for d in data.FDU_MTL_DOMAINS for p in ("train", "test", "unlabel")
    }
    assert names == set(data.SOURCES["fdu_mtl"].files)
    with pytest.raises(ValueError, match="domain"):
        T.fdu_mtl_file("kitchen", "train")


# --- splits -----------------------------------------------------------------------------


def test_stratified_split_sizes_strata_and_determinism():
    labels = np.array([0] * 700 + [1] * 800 + [2] * 100)
    sizes = {"train": 1300, "validation": 100, "test": 200}
    parts = T.stratified_split(labels, sizes)
    allrows = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(allrows), np.arange(1600))  # a partition
    assert {k: len(v) for k, v in parts.items()} == sizes
    # largest remainder of size * n_c / n: validation 43.75/50/6.25 -> 44/50/6,
    # test 87.5/100/12.5 -> 88/100/12 (ties to the first class), train the rest
    assert np.bincount(labels[parts["validation"]]).tolist() == [44, 50, 6]
    assert np.bincount(labels[parts["test"]]).tolist() == [88, 100, 12]
    assert np.bincount(labels[parts["train"]]).tolist() == [568, 650, 82]
    again = T.stratified_split(labels, sizes)
    assert all(np.array_equal(parts[k], again[k]) for k in sizes)
    other = T.stratified_split(labels, sizes, seed=1)
    assert not np.array_equal(parts["test"], other["test"])


def test_stratified_split_matches_its_definition():
    """Reference: per class, ``default_rng(seed).permutation`` of the class's rows, cut in
    the order of ``sizes`` (classes in increasing order, one generator)."""
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1])
    parts = T.stratified_split(labels, {"a": 6, "b": 4}, seed=3)
    rng = np.random.default_rng(3)
    rows0, rows1 = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    p0, p1 = rows0[rng.permutation(4)], rows1[rng.permutation(6)]
    # b takes 4 * 4/10 = 1.6 -> 2 of class 0 and 2.4 -> 2 of class 1
    assert parts["b"].tolist() == sorted(p0[2:].tolist() + p1[4:].tolist())
    assert parts["a"].tolist() == sorted(p0[:2].tolist() + p1[:4].tolist())


def test_amazon_text_and_fdu_mtl_splits():
    labels = np.repeat([0, 1], 1000)
    parts = T.amazon_text_split(labels)
    assert {k: np.bincount(labels[v]).tolist() for k, v in parts.items()} == {
        "train": [700, 700],
        "validation": [100, 100],
        "test": [200, 200],
    }
    # pinned: the split is np.random.default_rng(0) over the rows in id order, the same on
    # every machine; a change here changes every text experiment's split
    assert parts["test"][:4].tolist() == [1, 3, 7, 11]
    assert parts["validation"][:3].tolist() == [4, 6, 9]
    fdu = T.fdu_mtl_split(np.array([0] * 700 + [1] * 800))
    assert np.bincount(np.array([0] * 700 + [1] * 800)[fdu["validation"]]).tolist() == [93, 107]
    with pytest.raises(ValueError, match="2000"):
        T.amazon_text_split(labels[:10])
    with pytest.raises(ValueError, match="sum to"):
        T.stratified_split(labels, {"a": 10})


# --- overlap ----------------------------------------------------------------------------


def _brute_overlap(a, b, key):
    in_b = [any(key(x) == key(y) and key(x) != "" for y in b) for x in a]
    in_a = [any(key(x) == key(y) and key(x) != "" for x in a) for y in b]
    shared = {key(x) for x in a for y in b if key(x) == key(y) and key(x) != ""}
    return in_b, in_a, len(shared)


@pytest.mark.parametrize("mode", ["whitespace", "alphanumeric"])
def test_text_overlap_against_brute_force(mode):
    a = ["Great  book!", "great book!", "I don't like it.", "", "Unique text", "caf\u00e9"]
    b = ["GREAT book!\n", "i do n't like it .", "", "something else", "cafe\u0301"]
    if mode == "whitespace":

        def key(s):
            import unicodedata

            return " ".join(unicodedata.normalize("NFKC", s).lower().split())
    else:

        def key(s):
            import unicodedata

            s = unicodedata.normalize("NFKC", s).lower()
            return "".join(ch for ch in s if ch.isalnum())

    got = data.text_overlap(np.array(a, object), b, mode=mode)
    in_b, in_a, shared = _brute_overlap(a, b, key)
    assert got.a_in_b.tolist() == in_b and got.b_in_a.tolist() == in_a
    assert got.num_shared == shared and got.num_a_in_b == sum(in_b)
    expected_a = [True, True, mode == "alphanumeric", False, False, True]
    assert got.a_in_b.tolist() == expected_a and not got.disjoint
    assert data.text_overlap(["x y"], ["x  z"], mode=mode).disjoint
    with pytest.raises(ValueError, match="mode"):
        data.normalize_text("x", "lower")


# --- load validation (no files needed) --------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="amazon_text", split="dev"), "split"),
        (dict(name="amazon_text", domain="kitchen_housewares"), "domain"),
        (dict(name="fdu_mtl", split="all"), "split"),
        (dict(name="fdu_mtl", domain="kitchen"), "domain"),
    ],
)
def test_text_load_validation(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        data.load(manual_dir=tmp_path, data_dir=str(tmp_path), **kwargs)


# --- real files -------------------------------------------------------------------------


def test_amazon_text(loaded):
    d = loaded("amazon_text", split="all")
    assert len(d["text"]) == 8000 and d["text"].dtype == object and isinstance(d["text"][0], str)
    assert len(set(d["id"])) == 8000 and all(len(t) > 0 for t in d["text"])
    folder = pathlib.Path(manual_dir_or_skip("amazon_text_blitzer"))
    for i, dom in enumerate(data.AMAZON_TEXT_DOMAINS):
        sel = d["domain"] == i
        assert np.bincount(d["y"][sel]).tolist() == [1000, 1000]
        # rows in id order: the negative file, then the positive file, each in file order
        reviews = [
            r
            for f in ("negative", "positive")
            for r in T.parse_blitzer_reviews((folder / dom / f"{f}.parsed").read_bytes())
        ]
        assert [t for _, t in reviews] == d["text"][sel].tolist()
        assert [t for t, _ in reviews] == d["title"][sel].tolist()
        assert d["id"][sel][1000] == f"{dom}/positive/0000"
    parts = loaded("amazon_text")  # split=None: train, validation, test
    assert np.bincount(parts["split"]).tolist() == [5600, 800, 1600]
    for i, dom in enumerate(data.AMAZON_TEXT_DOMAINS):
        ids = {}
        for j, split in enumerate(("train", "validation", "test")):
            sel = (parts["domain"] == i) & (parts["split"] == j)
            n = data.AMAZON_TEXT_SPLIT_SIZES[split]
            assert np.bincount(parts["y"][sel]).tolist() == [n // 2, n // 2], (dom, split)
            ids[split] = set(parts["id"][sel])
        assert set.union(*ids.values()) == set(d["id"][d["domain"] == i])
        assert sum(map(len, ids.values())) == 2000  # disjoint
    test = loaded("amazon_text", domain="books", split="test")
    assert test["id"][:4].tolist() == [
        "books/negative/0001",
        "books/negative/0003",
        "books/negative/0007",
        "books/negative/0011",
    ]


def test_fdu_mtl_counts_match_files(data_dir):
    """Split sizes of all 16 domains from the built dataset's metadata vs the files' lines."""
    manual = manual_dir_or_skip("fdu_mtl")
    builder = data.build("fdu_mtl", data_dir=data_dir, manual_dir=manual)
    splits = builder.info.splits
    for dom in data.FDU_MTL_DOMAINS:
        lines = {
            p: (pathlib.Path(manual) / T.fdu_mtl_file(dom, p)).read_bytes().count(b"\n")
            for p in ("train", "test", "unlabel")
        }
        assert splits[f"{dom}_validation"].num_examples == 200
        assert splits[f"{dom}_train"].num_examples == lines["train"] - 200
        assert splits[f"{dom}_test"].num_examples == lines["test"] == 400
        assert splits[f"{dom}_unlabelled"].num_examples == lines["unlabel"]
    assert splits["software_unlabelled"].num_examples == 475
    assert splits["baby_train"].num_examples == 1300


def test_fdu_mtl(loaded):
    d = loaded("fdu_mtl", domain=("mr", "sports_outdoors"))
    folder = pathlib.Path(manual_dir_or_skip("fdu_mtl"))
    for dom in ("mr", "sports_outdoors"):
        dom_sel = d["domain"] == data.FDU_MTL_DOMAINS.index(dom)
        assert dom_sel.sum() == 4000 and len(set(d["id"][dom_sel])) == 4000
        unl = dom_sel & (d["split"] == 3)
        assert (d["y"][unl] == -1).all() and unl.sum() == 2000
        val = dom_sel & (d["split"] == 1)
        train = dom_sel & (d["split"] == 0)
        labels, texts = T.parse_fdu_mtl(
            (folder / T.fdu_mtl_file(dom, "train")).read_bytes(), labelled=True
        )
        expected = T._largest_remainder(200, np.bincount(labels).astype(float))
        assert np.bincount(d["y"][val]).tolist() == expected.tolist()
        # train + validation = the train file, each row with its own line's text and label
        full = loaded("fdu_mtl", domain=dom, split="train_full")
        assert full["text"].tolist() == texts and full["y"].tolist() == labels
        assert sorted(d["id"][train | val]) == full["id"].tolist()
    mr = d["text"][d["domain"] == data.FDU_MTL_DOMAINS.index("mr")]
    assert any("clichés" in t for t in mr)  # Windows-1252 bytes decoded
    assert (d["text"] == "").sum() == 1  # sports_outdoors train line 1121 is "0<TAB>"
    val = loaded("fdu_mtl", domain="books", split="validation")
    assert val["id"][:4].tolist() == [
        "books/train/0008",
        "books/train/0015",
        "books/train/0026",
        "books/train/0033",
    ]


# Blitzer's 2000 labelled reviews found verbatim (case/whitespace ignored) in the FDU-MTL
# unlabelled pool of the same domain; the numbers quoted in docs/data.md
OVERLAP = {
    "books": (51, 56, 13),
    "dvd": (156, 158, 31),
    "electronics": (203, 288, 40),
    "kitchen": (43, 72, 13),
}


def test_blitzer_vs_fdu_unlabelled_overlap(loaded):
    for dom, fdu_dom in zip(
        data.AMAZON_TEXT_DOMAINS, ("books", "dvd", "electronics", "kitchen_housewares"), strict=True
    ):
        blitzer = loaded("amazon_text", domain=dom, split="all")
        pool = loaded("fdu_mtl", domain=fdu_dom, split="unlabelled")
        test = loaded("amazon_text", domain=dom, split="test")
        o = data.text_overlap(blitzer["text"], pool["text"])
        ot = data.text_overlap(test["text"], pool["text"])
        assert (o.num_a_in_b, o.num_b_in_a, ot.num_a_in_b) == OVERLAP[dom], dom
        clean = pool["text"][~o.b_in_a]  # what a disjoint target pool keeps
        assert data.text_overlap(blitzer["text"], clean).disjoint


def test_tampered_copy_names_the_file(tmp_path):
    src = pathlib.Path(manual_dir_or_skip("amazon_text_blitzer"))
    dst = tmp_path / "amazon_text_blitzer"
    for f in data.SOURCES["amazon_text"].files:  # plain copies (the originals are read-only)
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / f, dst / f)
    bad = dst / "kitchen" / "positive.parsed"
    raw = bytearray(bad.read_bytes())
    raw[500] ^= 0x01
    bad.write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError) as err:
        data.load("amazon_text", manual_dir=tmp_path, data_dir=str(tmp_path / "tfds"))
    msg = str(err.value)
    assert "kitchen/positive.parsed" in msg and "not the expected checksum" in msg
    assert data.SOURCES["amazon_text"].files["kitchen/positive.parsed"] in msg
    assert "PBLM" in msg and not (tmp_path / "tfds").exists()


def test_docstring_examples():
    import doctest

    result = doctest.testmod(T)
    assert result.failed == 0 and result.attempted >= 6


def test_corrupted_build_is_rebuilt_with_a_warning(tmp_path):
    # issue #17: a corrupted built TFDS cache gave a Riegeli error with no path, no rebuild hint
    manual = manual_dir_or_skip()
    tfds_dir = tmp_path / "tfds"
    want = data.load(
        "amazon_text", domain="kitchen", split="test", manual_dir=manual, data_dir=str(tfds_dir)
    )
    records = [p for p in tfds_dir.rglob("*array_record*") if "kitchen_test" in p.name]
    assert records, sorted(str(p) for p in tfds_dir.rglob("*"))
    for p in records:
        with open(p, "r+b") as f:
            f.truncate(64)
    with pytest.warns(RuntimeWarning, match=r"jtransfer_amazon_text.*cannot be read.*rebuild"):
        got = data.load(
            "amazon_text", domain="kitchen", split="test", manual_dir=manual, data_dir=str(tfds_dir)
        )
    assert list(got["id"]) == list(want["id"]) and (got["y"] == want["y"]).all()


def test_an_empty_domain_list_is_rejected():
    with pytest.raises(ValueError, match="domain must name at least one"):
        data.load("amazon_text", domain=[])
