"""Checksum verification and its error message; needs no benchmark files."""

import os
import pathlib

import pytest

from jtransfer import data
from tests.conftest import manual_dir_or_skip


@pytest.mark.parametrize("name", sorted(data.SOURCES))
def test_missing_and_altered_files_name_file_checksum_and_source(tmp_path, name):
    src = data.SOURCES[name]
    fname = next(iter(src.files))
    with pytest.raises(data.DataFileError) as err:  # empty folder: missing
        data.resolve_files(name, tmp_path)
    msg = str(err.value)
    assert "is missing" in msg and fname in msg and src.files[fname] in msg
    assert src.source in msg and src.citation in msg
    folder = tmp_path / src.folder
    folder.mkdir()
    for f in src.files:
        (folder / f).parent.mkdir(parents=True, exist_ok=True)  # amazon_text: <domain>/...
        (folder / f).write_bytes(b"not the real file")
    with pytest.raises(data.DataFileError, match="not the expected checksum") as err:
        data.load(name, manual_dir=tmp_path, data_dir=str(tmp_path / "tfds"))
    msg = str(err.value)
    assert fname in msg and src.files[fname] in msg and src.citation in msg
    assert not (tmp_path / "tfds").exists()  # failed before TFDS created anything


def test_sums_match_shared_sha256sums():
    for name, src in data.SOURCES.items():
        sums = pathlib.Path(manual_dir_or_skip(src.folder)) / "SHA256SUMS"
        listed = dict(
            reversed(line.split()) for line in sums.read_text().splitlines() if line.strip()
        )
        for f, h in src.files.items():
            assert listed[f] == h, (name, f)


def test_manual_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("JTRANSFER_MANUAL_DIR", str(tmp_path))
    assert data.default_manual_dir() == tmp_path
    assert data.default_manual_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("JTRANSFER_DATA_DIR", str(tmp_path / "d"))
    assert data.default_data_dir() == os.fspath(tmp_path / "d")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="cifar"), "unknown dataset"),
        (dict(name="omniglot", config="64x64"), "config"),
        (dict(name="school", config="28x28"), "no configs"),
        (dict(name="office_caltech10", domain="art"), "domain"),
        (dict(name="amazon_reviews", split="valid"), "split"),
        (dict(name="school", split="train"), "no split"),
        (dict(name="mnist", split="train"), "split"),
    ],
)
def test_load_validation(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        data.load(manual_dir=tmp_path, data_dir=str(tmp_path), **kwargs)
