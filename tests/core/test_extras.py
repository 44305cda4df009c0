"""Optional dependencies (jtransfer._core.extras): the core subpackages import without any extra,
and a feature whose extra is missing says which ``pip install 'jtransfer[...]'`` to run."""

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jtransfer._core.extras import import_extra, require_extra

OPTIONAL = (
    "tensorflow_datasets",
    "array_record",
    "h5py",
    "sklearn",
    "orbax",
    "tensorboardX",
    "matplotlib",
    "tqdm",
    "ml_collections",
    "safetensors",
    "tokenizers",
)
CORE = (
    "align",
    "weighting",
    "meta",
    "lopt",
    "mtl",
    "select",
    "adapters",
    "ops",
    "models",
    "parallel",
    "data",
)


def test_import_extra_names_the_extra_and_chains_the_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed
    with pytest.raises(
        ImportError,
        match=r"jtransfer\.data\.load needs .*'tensorflow_datasets'"
        r".*pip install 'jtransfer\[data\]'",
    ) as info:
        import_extra("tensorflow_datasets", "data", "jtransfer.data.load")
    assert isinstance(info.value.__cause__, ImportError)
    assert import_extra("math", "data", "x").pi == np.pi


def test_require_extra_checks_without_importing(monkeypatch):
    require_extra("train", "t", "json", "math")  # installed: no error
    monkeypatch.setitem(sys.modules, "ml_collections", None)
    with pytest.raises(ImportError, match=r"pip install 'jtransfer\[train\]'"):
        require_extra("train", "jtransfer.train", "json", "ml_collections")


@pytest.mark.parametrize(
    "package, missing, extra",
    [
        ("jtransfer.train", "orbax.checkpoint", "train"),
        ("jtransfer.train", "tensorboardX", "train"),
        ("jtransfer.recipes", "sklearn", "train"),
    ],
)
def test_importing_a_subpackage_without_its_extra_says_which(monkeypatch, package, missing, extra):
    monkeypatch.setitem(sys.modules, missing, None)
    monkeypatch.delitem(sys.modules, package, raising=False)
    with pytest.raises(ImportError, match=rf"{package} needs .*jtransfer\[{extra}\]"):
        importlib.import_module(package)


def test_data_load_and_lm_loaders_without_their_extra(monkeypatch, tmp_path):
    from jtransfer import data, models

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r"jtransfer\[data\]"):
        data.load("school", data_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"jtransfer\.data\.digits needs .*jtransfer\[data\]"):
        data.digits()
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match=r"load_tokenizer needs .*jtransfer\[lm\]"):
        models.load_tokenizer(tmp_path, verify=False)


def test_core_subpackages_import_with_no_optional_dependency():
    # A fresh interpreter in which every optional module fails to import, as in a core install.
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        import jtransfer
        for name in {CORE!r}:
            getattr(jtransfer, name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {OPTIONAL!r})
        assert not leaked, leaked
        print("ok")
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd="."
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
