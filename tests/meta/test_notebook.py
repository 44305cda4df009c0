"""Executes notebooks/meta_learning.py (jupytext percent format) end to end; its cells assert
the derivations numerically (HVP term, implicit gradient, memory with and without remat)."""

from tests.conftest import execute_notebook

NOTEBOOK = "meta_learning"  # executed in the background from the start of the session


def test_meta_learning_notebook_runs():
    execute_notebook(NOTEBOOK)
