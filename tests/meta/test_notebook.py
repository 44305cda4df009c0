"""Executes notebooks/meta_learning.py (jupytext percent format) end to end."""

import os

import jupytext
import nbclient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_meta_learning_notebook_runs():
    nb = jupytext.read(os.path.join(ROOT, "notebooks", "meta_learning.py"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": ROOT}})
    client.execute(env={**os.environ, "PYTHONPATH": ROOT})
