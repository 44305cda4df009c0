"""The documentation follows the code (issue #20): every public name has an API page entry,
every subpackage has an API page, and the user guide's pages are in the toctree. No Sphinx
build here (``make docs`` builds the site with warnings as errors)."""

import importlib
import pathlib
import re
import sys

import pytest

import jtransfer

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import jtransfer_apigen as apigen  # noqa: E402


@pytest.mark.parametrize("package", [*apigen.subpackages(), ""])
def test_every_public_name_has_an_api_entry(package, tmp_path):
    if not package:  # top-level names of jtransfer.__all__ that are not subpackages
        names = apigen.top_level()
        rst = apigen.top_level_page(names)
        assert re.findall(r"^\.\. auto(?:class|function):: (\w+)$", rst, re.M) == names
        assert all(hasattr(jtransfer, n) for n in names)
        return
    module = importlib.import_module(f"jtransfer.{package}")
    names = list(module.__all__)
    rst = apigen.api_page(package, names, "title")
    assert apigen.api_entries(rst) == names  # each name is one autosummary row -> one page
    for name in names:  # and each resolves to an object autosummary can document
        assert hasattr(module, name), f"jtransfer.{package}.__all__ lists missing {name!r}"


def test_api_entries_parser_can_fail():
    rst = apigen.api_page("align", ["mmd2", "coral"], "")
    assert apigen.api_entries(rst) == ["mmd2", "coral"]
    assert apigen.api_entries(rst.replace("   coral\n", "")) == ["mmd2"]


def test_api_pages_cover_every_name_of_jtransfer_all():
    assert sorted(apigen.subpackages() + apigen.top_level()) == sorted(jtransfer.__all__)
    assert "align" in apigen.subpackages()


def test_guide_and_pages_are_in_the_toctree():
    index = (DOCS / "index.md").read_text()
    for page in sorted((DOCS / "guide").glob("*.md")):
        assert f"guide/{page.stem}" in index, page.name
    for page in ("data", "scale_out", "design", "reproductions", "changelog", "api/index"):
        assert re.search(rf"^{re.escape(page)}$", index, re.M), page
    for nb in sorted((DOCS.parent / "notebooks").glob("*.py")):
        assert f"notebooks/{nb.stem}" in index, nb.name


def test_landing_page_has_the_readme_commands_and_example():
    index = (DOCS / "index.md").read_text()
    readme = (DOCS.parent / "README.md").read_text()
    commands = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    assert commands in index
    example = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    assert example in index, "docs/index.md: the composition example differs from README's"
