"""Executes notebooks/transferability.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook

NOTEBOOK = "transferability"  # executed in the background from the start of the session


def test_transferability_notebook_runs():
    outputs = execute_notebook(NOTEBOOK)
    assert "negative transfer" in outputs and "inconclusive" in outputs
