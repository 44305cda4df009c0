import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import train

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _state(i):
    return {
        "w": jnp.arange(4.0) + i,
        "nested": {"b": jnp.full((2, 2), i, jnp.int32)},
        "key": jax.random.fold_in(jax.random.key(0), i),
    }


def test_checkpoint_save_every_keep_and_resume(tmp_path):
    mngr = train.CheckpointManager(tmp_path, save_every=3, keep=2)
    state, step = mngr.restore_or(_state(0))
    assert step == 0 and train.tree_equal(state, _state(0))
    saved = [i for i in range(1, 11) if mngr.save(i, _state(i))]
    assert saved == [3, 6, 9]
    assert mngr.save(10, _state(10), force=True)
    assert mngr.all_steps() == [9, 10]
    mngr.close()
    again = train.CheckpointManager(tmp_path, save_every=3, keep=2)
    state, step = again.restore_or(_state(0))
    assert step == 10 and train.tree_equal(state, _state(10))
    assert jax.dtypes.issubdtype(state["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        jax.random.key_data(state["key"]), jax.random.key_data(_state(10)["key"])
    )
    assert train.tree_equal(again.restore(9, _state(0)), _state(9))
    again.close()


@pytest.mark.parametrize("kwargs", [dict(save_every=0), dict(keep=0), dict(save_every=1.5)])
def test_checkpoint_bad_config(tmp_path, kwargs):
    with pytest.raises(ValueError):
        train.CheckpointManager(tmp_path, **kwargs)


_SAVER = textwrap.dedent("""
    import sys, jax.numpy as jnp
    from jtransfer.train import CheckpointManager
    m = CheckpointManager(sys.argv[1], save_every=1, keep=3)
    step = m.latest_step() or 0
    while True:
        step += 1
        big = jnp.full((4_000_000,), float(step))     # 16 MB per save: saves take a while
        m.save(step, {"big": big, "step": jnp.int32(step)})
        print(step, flush=True)
""")


def test_kill_during_save_never_breaks_the_latest_checkpoint(tmp_path):
    """SIGKILL a process that saves continuously; the latest checkpoint must always restore."""
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    for delay in (2.5, 3.1):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(ckpt)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        first = proc.stdout.readline()  # wait until at least one save completed
        assert first.strip(), "saver produced no checkpoint"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        template = {"big": jnp.zeros((4_000_000,)), "step": jnp.int32(0)}
        mngr = train.CheckpointManager(ckpt, save_every=1, keep=3)
        state, step = mngr.restore_or(template)
        mngr.close()
        assert step >= 1
        assert int(state["step"]) == step
        np.testing.assert_array_equal(np.asarray(state["big"][:10]), float(step))


def test_metric_writer_jsonl_and_tensorboard(tmp_path):
    with train.MetricWriter(tmp_path) as w:
        w.write(1, {"loss": 0.5, "acc": jnp.float32(0.25)})
        w.write(2, {"loss": float("nan")})
    rows = train.read_metrics(tmp_path)
    assert rows == [{"step": 1, "loss": 0.5, "acc": 0.25}, {"step": 2, "loss": "nan"}]
    json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[1])
    events = [f for _, _, fs in os.walk(tmp_path / "tensorboard") for f in fs]
    assert any(f.startswith("events.out.tfevents") for f in events)


def test_metric_writer_rejects_non_scalars(tmp_path):
    with train.MetricWriter(tmp_path, tensorboard=False) as w:
        with pytest.raises(ValueError, match="metric 'v'"):
            w.write(0, {"v": jnp.ones(3)})
        with pytest.raises(ValueError, match="step"):
            w.write(1.5, {"v": 1.0})


def test_keys_are_deterministic_and_independent():
    a1, b1 = train.keys(3, "a", "b")
    a2, b2 = train.keys(3, "a", "b")
    (a3,) = (train.keys(3, "a"),)
    for x, y in [(a1, a2), (b1, b2), (a1, a3)]:
        np.testing.assert_array_equal(jax.random.key_data(x), jax.random.key_data(y))
    assert not np.array_equal(jax.random.key_data(a1), jax.random.key_data(b1))
    assert not np.array_equal(jax.random.key_data(train.keys(4, "a")), jax.random.key_data(a1))
    with pytest.raises(ValueError):
        train.keys("0")
    with pytest.raises(ValueError):
        train.keys(0, "a", "a")


def test_progress_without_a_terminal_prints_lines_not_a_bar(capsys):
    assert list(train.progress(3)) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "\r" not in err  # no tqdm bar in a log
    assert [line.split(" (")[0] for line in err.splitlines()] == [
        "progress: 1/3 done",
        "progress: 2/3 done",
        "progress: 3/3 done",
    ]


def test_plot_curves_writes_a_png(tmp_path):
    path = train.plot_curves(
        {"a": [3, 2, 1]},
        tmp_path / "p.png",
        logy=True,
        band={"a": np.array([[2, 1, 0.5], [4, 3, 2]])},
    )
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    # issue #17: a truncated file in the latest checkpoint gave a 259-line tensorstore error
    mngr = train.CheckpointManager(tmp_path / "ck", save_every=10, keep=3)
    mngr.save(10, {"w": jnp.ones(64)})
    mngr.save(20, {"w": 2 * jnp.ones(64)})
    mngr.close()
    for root, _, files in os.walk(tmp_path / "ck" / "20"):
        for name in files:
            if os.sep + "d" + os.sep in os.path.join(root, name) + os.sep:
                with open(os.path.join(root, name), "r+b") as f:
                    f.truncate(5)
    mngr = train.CheckpointManager(tmp_path / "ck", save_every=10, keep=3)
    with pytest.warns(RuntimeWarning, match=r"ck/20 cannot be read.*falling back"):
        state, step = mngr.restore_or({"w": jnp.zeros(64)})
    assert step == 10 and float(state["w"][0]) == 1.0
    assert (tmp_path / "ck.corrupt" / "20").is_dir()
    assert mngr.save(20, {"w": 3 * jnp.ones(64)})  # the resumed run can save step 20 again
    state, step = mngr.restore_or({"w": jnp.zeros(64)})
    assert step == 20 and float(state["w"][0]) == 3.0


def test_checkpoint_of_another_model_is_a_one_line_error(tmp_path):
    mngr = train.CheckpointManager(tmp_path / "ck", save_every=10, keep=2)
    mngr.save(10, {"w": jnp.ones(8)})
    with pytest.raises(
        ValueError,
        match=r"\['w'\]: saved \(\(8,\), 'float32'\), expected "
        r"\(\(4,\), 'float32'\).*new workdir",
    ):
        mngr.restore_or({"w": jnp.zeros(4)})


def test_read_metrics_skips_a_truncated_last_line_and_rejects_bad_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        assert train.read_metrics(path) == [{"step": 1, "loss": 0.5}]
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a JSON line"):
        train.read_metrics(path)
