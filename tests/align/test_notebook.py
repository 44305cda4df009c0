"""Executes notebooks/domain_adaptation.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook

NOTEBOOK = "domain_adaptation"  # executed in the background from the start of the session


def test_domain_adaptation_notebook_runs():
    outputs = execute_notebook(NOTEBOOK)
    assert "max |cov(aligned) - C_t|" in outputs and "n_eff" in outputs
