"""Sphinx extension: the API reference and the copied pages follow the code.

At ``config-inited`` (before Sphinx looks for source files) it writes (all generated, git-ignored):

* ``api/<subpackage>.rst`` per public subpackage of ``jtransfer.__all__``: the module docstring
  and an ``autosummary`` table (one generated page per name) of exactly that subpackage's
  ``__all__``, so a name added to ``__all__`` gets a page without editing the docs;
* ``notebooks/<name>.py``: copies of ``notebooks/*.py`` (jupytext percent format, rendered by
  myst-nb);
* ``reproductions/<experiment>.md``: each experiment's ``README.md``.

``api_entries()`` is also what ``tests/test_docs.py`` checks against ``__all__``.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import shutil

DOCS = pathlib.Path(__file__).resolve().parents[1]
ROOT = DOCS.parent


def subpackages() -> list[str]:
    """The names of ``jtransfer.__all__`` that are subpackages."""
    import importlib.util

    import jtransfer

    return [n for n in jtransfer.__all__ if importlib.util.find_spec(f"jtransfer.{n}")]


def top_level() -> list[str]:
    """The names of ``jtransfer.__all__`` that are not subpackages (e.g. ``debug_checks``)."""
    import jtransfer

    return [n for n in jtransfer.__all__ if n not in subpackages()]


def api_page(package: str, names: list[str], docstring_title: str) -> str:
    module = f"jtransfer.{package}" if package else "jtransfer"
    title = f"``{module}``: {docstring_title}" if docstring_title else f"``{module}``"
    lines = [title, "=" * len(title), "",
             f".. automodule:: {module}", "   :no-members:", "",
             f".. currentmodule:: {module}", "",
             ".. autosummary::", "   :toctree: _autosummary", "   :nosignatures:", ""]
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n"


def top_level_page(names: list[str]) -> str:
    """Top-level tools documented in place (autosummary cannot resolve names that
    ``jtransfer.__getattr__`` provides lazily)."""
    import inspect

    import jtransfer

    title = "``jtransfer``: top-level tools"
    lines = [title, "=" * len(title), "", ".. currentmodule:: jtransfer", ""]
    for name in names:
        kind = "autoclass" if inspect.isclass(getattr(jtransfer, name)) else "autofunction"
        lines += [f".. {kind}:: {name}", ""]
    return "\n".join(lines)


def api_entries(rst: str) -> list[str]:
    """The names listed in an ``autosummary`` block of a generated API page."""
    block = rst.split(".. autosummary::", 1)[1]
    return [m.group(1) for m in re.finditer(r"^   ([A-Za-z_][\w.]*)$", block, re.M)]


def _write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:  # unchanged files keep their mtime
        path.write_text(text)


def generate() -> None:
    index = ["API reference", "=============", "",
             "One page per public name, generated from each subpackage's ``__all__``.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    for package in subpackages():
        module = importlib.import_module(f"jtransfer.{package}")
        summary = (module.__doc__ or "").strip().split("\n", 1)[0]
        summary = summary.split(":", 1)[1].strip() if summary.startswith("jtransfer.") \
            and ":" in summary else ""
        summary = summary.rstrip(".").replace("`", "")
        _write(DOCS / "api" / f"{package}.rst", api_page(package, list(module.__all__), summary))
        index.append(f"   {package}")
    if top_level():
        _write(DOCS / "api" / "jtransfer.rst", top_level_page(top_level()))
        index.append("   jtransfer")
    _write(DOCS / "api" / "index.rst", "\n".join(index) + "\n")

    for nb in sorted((ROOT / "notebooks").glob("*.py")):
        _write(DOCS / "notebooks" / nb.name, nb.read_text())

    for readme in sorted((ROOT / "experiments").glob("*/README.md")):
        text = readme.read_text()
        name = readme.parent.name

        # an embedded image in a subfolder (``![..](results/x.png)``) is copied under the
        # experiment's name, so two experiments' ``results/pareto.png`` cannot collide
        def _image(m, folder=readme.parent, name=name):
            rel = m.group(2)
            if "://" in rel or rel.startswith("/") or "/" not in rel:
                return m.group(0)
            source = folder / rel
            if not source.is_file():
                return m.group(0)
            target = DOCS / "reproductions" / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            return f"{m.group(1)}({name}/{rel})"

        text = re.sub(r"(!\[[^\]]*\])\(([^)\s]+\.png)\)", _image, text)
        # images and links relative to the experiment folder point into the repository
        _write(DOCS / "reproductions" / f"{name}.md", text)
        for image in readme.parent.glob("*.png"):
            target = DOCS / "reproductions" / image.name
            if not target.exists():
                shutil.copy(image, target)


def _drop_builtin_docstrings(app, what, name, obj, options, lines):
    """A constant (a dict, a tuple) has no docstring of its own: do not show its type's."""
    if what in ("data", "attribute") and lines and type(obj).__module__ == "builtins" \
            and "\n".join(lines).strip() == (type(obj).__doc__ or "").strip():
        lines.clear()
    elif what in ("data", "attribute") and type(obj).__module__ == "builtins" \
            and lines and lines[0].startswith(type(obj).__name__ + "("):
        lines.clear()


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("config-inited", lambda app, config: generate())
    app.connect("autodoc-process-docstring", _drop_builtin_docstrings)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
