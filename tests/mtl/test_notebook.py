"""Executes notebooks/multitask.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook


def test_multitask_notebook_runs():
    outputs = execute_notebook("multitask")
    assert "learned sigma_t" in outputs and "min-norm solver" in outputs
