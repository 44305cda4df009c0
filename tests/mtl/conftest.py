import contextlib

import jax
import numpy as np
import pytest


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """Runs a test in float32 and in float64 (x64 switched on for the latter)."""
    ctx = jax.enable_x64(True) if request.param == "float64" else contextlib.nullcontext()
    with ctx:
        yield np.dtype(request.param)
