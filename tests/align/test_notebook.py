"""Executes notebooks/domain_adaptation.py (jupytext percent format) end to end."""

from tests.conftest import execute_notebook


def test_domain_adaptation_notebook_runs():
    outputs = execute_notebook("domain_adaptation")
    assert "max |cov(aligned) - C_t|" in outputs and "n_eff" in outputs
