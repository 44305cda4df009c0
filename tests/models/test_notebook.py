"""Executes notebooks/language_models.py (jupytext percent format) end to end; its cells
assert every printed claim (parameter count formula, MMD² across vs within domains per
layer, CORAL reducing the CORAL distance, LoRA's parameter count and merge against NumPy).

Needs the shared checkpoint and reviews: skips outside CI without them, fails in CI."""

from tests.conftest import execute_notebook, manual_dir_or_skip


def test_language_models_notebook_runs():
    manual_dir_or_skip("minilm_l6_v2")
    manual_dir_or_skip("amazon_text_blitzer")
    outputs = execute_notebook("language_models")
    assert "MMD2 books-kitchen" in outputs and "73,728 trainable parameters" in outputs
