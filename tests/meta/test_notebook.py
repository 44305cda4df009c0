"""Executes notebooks/meta_learning.py (jupytext percent format) end to end; its cells assert
the derivations numerically (HVP term, implicit gradient, memory with and without remat)."""

from tests.conftest import execute_notebook


def test_meta_learning_notebook_runs():
    execute_notebook("meta_learning")
