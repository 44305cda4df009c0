"""Executes notebooks/multitask.py (jupytext percent format) end to end."""

import os

import jupytext
import nbclient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_multitask_notebook_runs():
    nb = jupytext.read(os.path.join(ROOT, "notebooks", "multitask.py"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": ROOT}})
    client.execute(env={**os.environ, "PYTHONPATH": ROOT})
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "learned sigma_t" in outputs and "Frank-Wolfe" in outputs
