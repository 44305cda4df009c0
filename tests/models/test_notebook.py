"""Executes notebooks/language_models.py (jupytext percent format) end to end; its cells
assert every printed claim (parameter count formula, MMD² across vs within domains per
layer, CORAL reducing the CORAL distance, LoRA's parameter count and merge against NumPy).

Needs the shared checkpoint and reviews: skips outside CI without them, fails in CI."""

from tests.conftest import execute_notebook, manual_dir_or_skip

NOTEBOOK = "language_models"  # executed in the background from the start of the session
NOTEBOOK_NEEDS = ("minilm_l6_v2", "amazon_text_blitzer")


def test_language_models_notebook_runs():
    manual_dir_or_skip("minilm_l6_v2")
    manual_dir_or_skip("amazon_text_blitzer")
    outputs = execute_notebook(NOTEBOOK)
    assert "MMD2 books-kitchen" in outputs and "73,728 trainable parameters" in outputs
