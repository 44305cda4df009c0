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


def _run_notebook(name: str) -> str:
    """Executes ``notebooks/<name>.py`` in a fresh kernel; returns its code cells' text output."""
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


# Notebooks run in kernels, that is in other processes: the ones a session will test are
# executed one after another by one background process started when collection finishes, on
# the second core while this process runs the other tests, and each notebook test waits for
# its notebook's result. A test module names its notebook in ``NOTEBOOK`` (and the
# manual-download folders it needs in ``NOTEBOOK_NEEDS``: without them it is not started).
_NOTEBOOKS_IN_BACKGROUND = """
import json, os, signal, sys, traceback
stop = []


def on_term(*_):  # stopped early: leave the loop (the kernel exits with its parent)
    stop.append(True)
    sys.exit(1)


signal.signal(signal.SIGTERM, on_term)
from tests.conftest import _run_notebook
for name in sys.argv[2:]:
    try:
        result = {"outputs": _run_notebook(name)}
    except Exception as err:  # reported by the notebook's test
        result = {"error": "".join(traceback.format_exception(err))}
    if stop:
        sys.exit(1)
    path = os.path.join(sys.argv[1], name + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(path + ".tmp", path)
"""
_background: dict = {}  # "proc", "dir", "stderr", "names"


def _manual_root() -> str:
    return os.environ.get("JTRANSFER_MANUAL_DIR", SHARED_DATA)


def pytest_collection_finish(session):
    if os.environ.get("PYTEST_XDIST_WORKER") or session.config.option.collectonly:
        return
    names = []
    for item in session.items:
        module = getattr(item, "module", None)
        name = getattr(module, "NOTEBOOK", None)
        needs = getattr(module, "NOTEBOOK_NEEDS", ())
        if name and name not in names:
            if all(os.path.isdir(os.path.join(_manual_root(), n)) for n in needs):
                names.append(name)
    if not names:
        return
    import subprocess
    import sys

    folder = tempfile.mkdtemp(prefix="jtransfer-notebooks-")
    stderr = open(os.path.join(folder, "stderr.txt"), "w")  # noqa: SIM115 (closed at the end)
    pp = os.environ.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-c", _NOTEBOOKS_IN_BACKGROUND, folder, *names],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT + (os.pathsep + pp if pp else "")},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    _background.update(proc=proc, dir=folder, stderr=stderr, names=names)


def pytest_sessionfinish(session, exitstatus):
    proc = _background.get("proc")
    if proc is not None:
        if proc.poll() is None:  # stopped early (-x, Ctrl-C): leave nothing running
            import subprocess

            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
        _background["stderr"].close()
        shutil.rmtree(_background["dir"], ignore_errors=True)
        _background.clear()


def execute_notebook(name: str) -> str:
    """Runs ``notebooks/<name>.py`` (jupytext percent format) in a fresh kernel; returns the
    concatenated text output of its code cells. A failing cell fails the test. If the session
    started it in the background (see ``NOTEBOOK``), waits for that run instead."""
    import json
    import time

    if name not in _background.get("names", ()):
        return _run_notebook(name)
    path = os.path.join(_background["dir"], name + ".json")
    proc = _background["proc"]
    while not os.path.exists(path):
        if proc.poll() is not None and not os.path.exists(path):
            with open(os.path.join(_background["dir"], "stderr.txt")) as f:
                err = f.read()
            pytest.fail(f"the background notebook process exited {proc.returncode}:\n{err[-3000:]}")
        time.sleep(0.1)
    with open(path) as f:
        result = json.load(f)
    if "error" in result:
        pytest.fail(f"notebook {name} failed (run in the background):\n{result['error']}")
    return result["outputs"]


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


class OnDevices:
    """A ``python -c script *args`` process started by :func:`start_on_devices`.

    ``result()`` waits for it and returns the JSON object printed on its last line of stdout;
    a failing run fails the test with the tail of its stderr. Used as a context manager, the
    process is killed on leaving the block if it is still running (a test that failed before
    asking for the result leaves nothing behind)."""

    def __init__(self, script: str, devices: int, args, timeout: float):
        import subprocess
        import sys

        pp = os.environ.get("PYTHONPATH", "")
        env = {
            **os.environ,
            "PYTHONPATH": ROOT + (os.pathsep + pp if pp else ""),
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        }
        # Files, not pipes: a chatty process never blocks on a full pipe while this process
        # computes its own part.
        self._out, self._err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.devices, self.timeout = devices, timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *map(str, args)],
            env=env,
            cwd=ROOT,
            stdout=self._out,
            stderr=self._err,
            text=True,
        )

    def result(self) -> dict:
        import json

        self.proc.wait(timeout=self.timeout)
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read()
        if self.proc.returncode:
            pytest.fail(
                f"subprocess on {self.devices} devices exited {self.proc.returncode}:\n"
                f"{err[-3000:]}"
            )
        return json.loads(out.strip().splitlines()[-1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()
        return False


def start_on_devices(script: str, devices: int, *args, timeout: float = 600) -> OnDevices:
    """Starts ``python -c script *args`` in a fresh process that sees ``devices`` simulated CPU
    devices (``--xla_force_host_platform_device_count``) and returns at once, so that this
    process can compute its 1-device reference meanwhile (on a second core)::

        with start_on_devices(SCRIPT, 4, path) as pending:
            one = run_here()
            four = pending.result()
    """
    return OnDevices(script, devices, args, timeout)


def run_on_devices(script: str, devices: int, *args: str, timeout: float = 600) -> dict:
    """Runs ``python -c script *args`` in a fresh process that sees ``devices`` simulated CPU
    devices (``--xla_force_host_platform_device_count``) and returns the JSON object printed on
    its last line of stdout. A failing run fails the test with the tail of its stderr."""
    with start_on_devices(script, devices, *args, timeout=timeout) as proc:
        return proc.result()
