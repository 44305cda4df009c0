"""Executes notebooks/transferability.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook


def test_transferability_notebook_runs():
    outputs = execute_notebook("transferability")
    assert "negative transfer" in outputs and "inconclusive" in outputs
