"""Docstring examples are tests: every ``>>>`` example in the library runs and must print what
its docstring says (issue #15, item 7).

Each public module of ``jtransfer`` is collected; a module whose docstrings hold no example
contributes nothing. Examples run with NumPy's print options fixed and with the test-wide JAX
settings (strict rank promotion), so an example that broadcasts silently fails here too.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import jtransfer

# Modules that need optional dependencies which the default install lacks are skipped by name.
_OPTIONAL = {}


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(jtransfer.__path__, prefix="jtransfer."):
        if info.name.endswith("launch"):  # a command-line entry point, not a library module
            continue
        names.append(info.name)
    return sorted(names)


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        t for t in finder.find(module, name) if t.examples and t.name.startswith(name)
    ]  # skip objects re-exported from other modules


_TESTS = [(t.name, t) for name in _modules() for t in _examples(name)]


def test_examples_are_collected():
    # a broken collector would make every parametrised case vanish silently
    assert len(_TESTS) >= 8, [n for n, _ in _TESTS]


@pytest.mark.parametrize("test", [t for _, t in _TESTS], ids=[n for n, _ in _TESTS])
def test_docstring_example(test):
    runner = doctest.DocTestRunner(
        verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    with np.printoptions(precision=4, suppress=True):
        result = runner.run(test, out=lambda s: pytest.fail(s, pytrace=False))
    assert result.failed == 0
