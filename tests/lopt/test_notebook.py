"""Executes notebooks/learned_optimizers.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook

NOTEBOOK = "learned_optimizers"  # executed in the background from the start of the session


def test_learned_optimizers_notebook_runs():
    outputs = execute_notebook(NOTEBOOK)
    assert "relative bias" in outputs and "PES K=1" in outputs and "held-out final" in outputs
