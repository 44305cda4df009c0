import sys

import pytest

from jtransfer.parallel import launch as launch_mod


def test_launcher_rejects_bad_arguments():
    with pytest.raises(ValueError):
        launch_mod.launch([sys.executable, "-c", "pass"], 0)
    with pytest.raises(ValueError):
        launch_mod.launch([], 2)
    failing = launch_mod.launch([sys.executable, "-c", "import sys; sys.exit(3)"], 2, capture=True)
    assert {r.returncode for r in failing} <= {3, -9} and 3 in {r.returncode for r in failing}
