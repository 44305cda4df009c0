import os

import jupytext
import nbclient
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_transferability_notebook_runs():
    nb = jupytext.read(os.path.join(ROOT, "notebooks", "transferability.py"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": ROOT}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:   # pragma: no cover - message
        pytest.fail(str(e))
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                  for o in c.get("outputs", []))
    assert "negative transfer" in out and "inconclusive" in out
