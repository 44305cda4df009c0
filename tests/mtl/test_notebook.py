"""Executes notebooks/multitask.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook

NOTEBOOK = "multitask"  # executed in the background from the start of the session


def test_multitask_notebook_runs():
    outputs = execute_notebook(NOTEBOOK)
    assert "learned sigma_t" in outputs and "min-norm solver" in outputs
