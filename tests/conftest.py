"""Test-wide JAX settings: strict rank promotion so silent broadcasting surfaces as an error,
and one persistent compilation cache for the session."""

import atexit
import os
import shutil
import tempfile

# One XLA compilation cache per test session, in a fresh temporary folder removed at exit
# (set before JAX reads its configuration; subprocesses and notebook kernels inherit it):
# a program compiled again -- by a test's subprocess, a resumed run, a retrace -- is read
# back instead of compiled. The executables are the same, so the numbers are the same.
# A folder given in $JAX_COMPILATION_CACHE_DIR is used as it is.
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jtransfer-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs",
    float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
)
jax.config.update("jax_numpy_rank_promotion", "raise")

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def manual_dir_or_skip(subdir: str | None = None) -> str:
    """Returns the manual-download folder (``JTRANSFER_MANUAL_DIR`` or ../shared/data).

    Outside CI a missing folder skips the test with a reason; with ``CI=true`` it fails.
    """
    root = os.environ.get("JTRANSFER_MANUAL_DIR", SHARED_DATA)
    path = os.path.join(root, subdir) if subdir else root
    if not os.path.isdir(path):
        msg = (
            f"benchmark files not found at {path}; set JTRANSFER_MANUAL_DIR to the "
            "manual-download folder (see README, 'Real benchmark data')"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture
def manual_dir():
    return manual_dir_or_skip()


@pytest.fixture(scope="session")
def tfds_data_dir(tmp_path_factory):
    """One temporary TFDS data dir for the session: each dataset is built once, whichever
    test folder needs it first."""
    return str(tmp_path_factory.mktemp("tfds"))


def execute_notebook(name: str) -> str:
    """Runs ``notebooks/<name>.py`` (jupytext percent format) in a fresh kernel; returns the
    concatenated text output of its code cells. A failing cell fails the test."""
    import jupytext
    import nbclient

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    nb = jupytext.read(os.path.join(root, "notebooks", f"{name}.py"))
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": root}}
    )
    pythonpath = os.environ.get("PYTHONPATH", "")
    client.execute(
        env={**os.environ, "PYTHONPATH": root + (os.pathsep + pythonpath if pythonpath else "")}
    )
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_on_devices(script: str, devices: int, *args: str, timeout: float = 600) -> dict:
    """Runs ``python -c script *args`` in a fresh process that sees ``devices`` simulated CPU
    devices (``--xla_force_host_platform_device_count``) and returns the JSON object printed on
    its last line of stdout. A failing run fails the test with the tail of its stderr."""
    import json
    import subprocess
    import sys

    pp = os.environ.get("PYTHONPATH", "")
    env = {
        **os.environ,
        "PYTHONPATH": ROOT + (os.pathsep + pp if pp else ""),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode:
        pytest.fail(
            f"subprocess on {devices} devices exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])
