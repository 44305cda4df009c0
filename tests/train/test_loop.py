"""The one training loop (train.Run, train.train_loop) and the config / mesh plumbing."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jtransfer import parallel, train

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# A small SGD regression whose every step draws its batch from fold_in(key, step): the
# reference is the same steps run one by one in plain JAX (no loop, no checkpoints).
KEY = jax.random.key(3)
W_TRUE = jnp.arange(1.0, 5.0)
INIT = {"w": jnp.zeros(4), "n": jnp.int32(0)}


def one_step(state, step):
    x = jax.random.normal(jax.random.fold_in(KEY, step), (8, 4))
    y = x @ W_TRUE
    loss, g = jax.value_and_grad(lambda w: jnp.mean((x @ w - y) ** 2))(state["w"])
    return {"w": state["w"] - 0.05 * g, "n": state["n"] + 1}, loss


@jax.jit
def run_chunk(state, start, stop):
    def body(i, carry):
        return one_step(carry[0], i)

    state, loss = jax.lax.fori_loop(start, stop, body, (state, jnp.float32(0.0)))
    return state, {"loss": loss}


_KILLED = textwrap.dedent("""
    import sys
    import jax.numpy as jnp
    from jtransfer import train
    from tests.train.test_loop import INIT, run_chunk
    with train.Run(sys.argv[1], save_every=4, tensorboard=False) as run:
        train.train_loop(run, INIT, num_steps=13, eval_every=3,
                         run_chunk=lambda s, a, b: run_chunk(s, jnp.int32(a), jnp.int32(b)),
                         reduce="last", debug_kill_at_step=int(sys.argv[2]))
""")


def _reference(num_steps):
    state = INIT
    for i in range(num_steps):
        state, _ = jax.jit(one_step)(state, jnp.int32(i))
    return state


def _chunk(calls):
    def f(state, start, stop):
        calls.append((start, stop))
        return run_chunk(state, jnp.int32(start), jnp.int32(stop))

    return f


def test_chunks_stop_at_every_event_and_match_step_by_step(tmp_path):
    calls = []
    with train.Run(tmp_path, save_every=4, tensorboard=False) as run:
        out = train.train_loop(
            run,
            INIT,
            num_steps=13,
            eval_every=3,
            chunk_size=5,
            run_chunk=_chunk(calls),
            reduce="last",
        )
        assert run.checkpoints.all_steps() == [12, 13]
    assert calls == [(0, 3), (3, 4), (4, 6), (6, 8), (8, 9), (9, 12), (12, 13)]
    assert (out.step, out.start_step, out.stopped_early) == (13, 0, False)
    ref = _reference(13)
    np.testing.assert_allclose(out.state["w"], ref["w"], rtol=1e-6)
    assert int(out.state["n"]) == 13


def test_metric_rows_cadence_reduce_and_evaluate(tmp_path):
    seen = []

    def evaluate(state, step):
        seen.append(step)
        return {"n": state["n"], "w0": state["w"][0]}

    def step_fn(state, step):
        state, loss = jax.jit(one_step)(state, jnp.int32(step))
        return state, {"loss": loss}

    with train.Run(tmp_path, save_every=100, tensorboard=False) as run:
        out = train.train_loop(
            run, INIT, num_steps=10, eval_every=4, step_fn=step_fn, evaluate=evaluate
        )
    rows = train.read_metrics(tmp_path)
    assert [r["step"] for r in rows] == seen == [4, 8, 10]
    assert [r["n"] for r in rows] == [4, 8, 10]
    # reduce="mean": the mean of the per-step losses since the previous row
    state, losses = INIT, []
    for i in range(10):
        state, loss = jax.jit(one_step)(state, jnp.int32(i))
        losses.append(float(loss))
    np.testing.assert_allclose(
        [r["loss"] for r in rows],
        [np.mean(losses[0:4]), np.mean(losses[4:8]), np.mean(losses[8:10])],
        rtol=1e-6,
    )
    assert out.last_row["n"] == 10 and set(out.last_row) == {"loss", "n", "w0"}


def _run_13(workdir):
    with train.Run(workdir, save_every=4, tensorboard=False) as run:
        return train.train_loop(
            run,
            INIT,
            num_steps=13,
            eval_every=3,
            reduce="last",
            run_chunk=lambda s, a, b: run_chunk(s, jnp.int32(a), jnp.int32(b)),
        )


def test_resume_after_kill_is_bit_exact(tmp_path, capsys):
    """A run SIGKILLed at step 7 (last checkpoint: 4) and resumed equals an uninterrupted run
    bit for bit, metric rows included."""
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(tmp_path / "a"), "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT},
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [r["step"] for r in train.read_metrics(tmp_path / "a")] == [3, 6]
    resumed = _run_13(tmp_path / "a")
    assert resumed.start_step == 4 and "resuming from step 4" in capsys.readouterr().err
    straight = _run_13(tmp_path / "b")
    assert train.tree_equal(resumed.state, straight.state)
    with train.CheckpointManager(tmp_path / "a" / "checkpoints", save_every=4) as a:
        assert a.latest_step() == 13 and train.tree_equal(a.restore(13, INIT), straight.state)
    rows_a, rows_b = train.read_metrics(tmp_path / "a"), train.read_metrics(tmp_path / "b")
    assert [r["step"] for r in rows_b] == [3, 6, 9, 12, 13]
    assert rows_a == rows_b  # the row at 6 (after checkpoint 4) was cut back and written once


def test_fori_chunk_runs_a_step_function():
    chunk = train.fori_chunk(one_step)
    state, metrics = chunk(INIT, 0, 3)
    state, metrics = chunk(state, 3, 13)
    ref, loss = INIT, None
    for i in range(13):
        ref, loss = jax.jit(one_step)(ref, jnp.int32(i))
    np.testing.assert_allclose(state["w"], ref["w"], rtol=1e-6)
    np.testing.assert_allclose(metrics, loss, rtol=1e-6)
    assert int(state["n"]) == 13


def test_finished_run_only_restores(tmp_path):
    calls = []
    with train.Run(tmp_path, save_every=5, tensorboard=False) as run:
        first = train.train_loop(run, INIT, num_steps=5, run_chunk=_chunk(calls))
    with train.Run(tmp_path, save_every=5, tensorboard=False) as run:
        again = train.train_loop(run, INIT, num_steps=5, run_chunk=_chunk(calls))
    assert calls == [(0, 5)] and again.start_step == again.step == 5
    assert train.tree_equal(first.state, again.state) and again.last_row == {}


def test_progress_lines_without_a_terminal(tmp_path, capsys):
    with train.Run(tmp_path, save_every=100, tensorboard=False) as run:
        train.train_loop(
            run,
            INIT,
            num_steps=12,
            eval_every=2,
            progress_every=4,
            run_chunk=_chunk([]),
            desc="toy",
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split()[2] for line in err] == ["4/12", "8/12", "12/12"]
    assert all(
        line.startswith("toy: step") and "steps/s" in line and "loss=" in line for line in err
    )


def test_max_seconds_stops_with_a_row_and_a_checkpoint(tmp_path):
    def slow(state, step):
        import time

        time.sleep(0.05)
        return jax.jit(one_step)(state, jnp.int32(step))[0], {}

    with train.Run(tmp_path, save_every=100, tensorboard=False) as run:
        out = train.train_loop(
            run, INIT, num_steps=1000, eval_every=500, step_fn=slow, max_seconds=0.2
        )
        assert out.stopped_early and 1 <= out.step < 1000
        assert run.checkpoints.all_steps() == [out.step]
    assert [r["step"] for r in train.read_metrics(tmp_path)] == [out.step]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one"),
        ({"run_chunk": _chunk([]), "step_fn": one_step}, "exactly one"),
        ({"run_chunk": _chunk([]), "num_steps": 0}, "num_steps"),
        ({"run_chunk": _chunk([]), "eval_every": 0}, "eval_every"),
        ({"run_chunk": _chunk([]), "chunk_size": 1.5}, "chunk_size"),
        ({"run_chunk": _chunk([]), "reduce": "sum"}, "reduce"),
    ],
)
def test_bad_loop_arguments(tmp_path, kwargs, match):
    kwargs = {"num_steps": 3, **kwargs}
    with train.Run(tmp_path, save_every=1, tensorboard=False) as run:
        with pytest.raises(ValueError, match=match):
            train.train_loop(run, INIT, **kwargs)


def _config(**kw):
    base = {
        "num_steps": 10,
        "lr": 0.1,
        "lam": 0.0,
        "method": "a",
        "methods": ("a", "b"),
        "frac": 0.5,
        "n": 3,
        "mesh_shape": (1,),
    }
    return ml_collections.ConfigDict({**base, **kw})


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_steps", 0),
        ("num_steps", True),
        ("num_steps", 2.0),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("lam", -1.0),
        ("method", "c"),
        ("methods", ("a", "z")),
        ("frac", 1.0),
        ("n", 2),
        ("mesh_shape", (0,)),
        ("mesh_shape", (2, 2)),
        ("mesh_shape", (-2,)),
    ],
)
def test_validate_config_names_the_field(field, value):
    spec = dict(
        positive_ints=("num_steps",),
        positive=("lr",),
        nonnegative=("lam",),
        choices={"method": ("a", "b")},
        subsets={"methods": ("a", "b")},
        intervals={"frac": (0.0, 1.0, "()")},
        min_ints={"n": 3},
    )
    train.validate_config(_config(), **spec)
    with pytest.raises(ValueError, match=f"config.{field}"):
        train.validate_config(_config(**{field: value}), **spec)


def test_renamed_data_dir_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="data_dir was renamed config.manual_dir"):
        train.validate_config(_config(data_dir="/x"))
    with pytest.raises(ValueError, match="manual_dir"):
        train.manual_dir(ml_collections.ConfigDict({"data_dir": "/x"}))


def test_manual_dir_resolution(tmp_path, monkeypatch):
    (tmp_path / "bench").mkdir()
    c = ml_collections.ConfigDict({"manual_dir": str(tmp_path)})
    assert train.manual_dir(c, "bench") == tmp_path / "bench"
    monkeypatch.setenv("JTRANSFER_MANUAL_DIR", str(tmp_path))
    assert train.manual_dir(ml_collections.ConfigDict({"manual_dir": ""}), "bench") == (
        tmp_path / "bench"
    )
    with pytest.raises(FileNotFoundError, match="missing.*manual_dir"):
        train.manual_dir(None, "missing")


def test_constrain_keeps_values_and_lays_out_the_axis():
    mesh = parallel.make_mesh(1, axis_name="task")
    x = jnp.arange(12.0).reshape(4, 3)
    f = jax.jit(lambda t: parallel.constrain(t, mesh, "task", axis=1))
    np.testing.assert_array_equal(f({"x": x})["x"], x)
    assert '[{}, {"task"}]' in f.lower({"x": x}).as_text()  # axis 1 split over "task"
    assert parallel.constrain(x, None, "task") is x
    with pytest.raises(ValueError, match="axis_name"):
        parallel.constrain(x, mesh, "data")
    assert parallel.check_mesh_shape({"mesh_shape": [-1]}) == (-1,)


def test_run_without_metrics_writes_no_files(tmp_path):
    with train.Run(tmp_path, save_every=2, metrics=False) as run:
        train.train_loop(run, INIT, num_steps=4, run_chunk=_chunk([]))
    assert sorted(os.listdir(tmp_path)) == ["checkpoints"]
