"""Runs that never mislead (issue #17 items 1, 2, 9): the recorded config and the refusal to
resume another one, exact metric resume after a kill at any point (JSONL and TensorBoard),
``--overwrite``, progress lines in logs."""

import json
import os
import struct
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import pytest

from jtransfer import train
from tests.train.test_loop import INIT, ROOT, run_chunk

ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}


def _chunk(s, a, b):
    return run_chunk(s, jnp.int32(a), jnp.int32(b))


def _run_13(workdir, config=None, **kw):
    """13 SGD steps, a row every 3, a checkpoint every 4 (and at 13)."""
    with train.Run(workdir, config=config or {"lr": 0.05}, save_every=4, **kw) as run:
        return train.train_loop(
            run, INIT, num_steps=13, eval_every=3, reduce="last", run_chunk=_chunk
        )


def tensorboard_scalars(logdir) -> dict:
    """``{tag: [(step, value), ...]}`` as TensorBoard shows them, read from the event files
    with the protobufs only: files in name order, and a ``SessionLog.START`` event at step s
    hides the events read before it at steps >= s (TensorBoard's documented restart rule)."""
    from tensorboardX.proto import event_pb2

    out: dict = {}
    for name in sorted(os.listdir(logdir)):
        with open(os.path.join(logdir, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + n])
            pos += 12 + n + 4  # length, its crc, the record, its crc
            if event.session_log.status == event_pb2.SessionLog.START:
                out = {t: [(s, v) for s, v in p if s < event.step] for t, p in out.items()}
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


# ------------------------------------------------------------------------ 1. config record


def test_config_is_recorded_and_a_different_one_refuses_to_resume(tmp_path):
    config = {"method": "source_only", "lr": 0.1, "model": {"hidden": [8, 8]}, "plot": True}
    with train.Run(tmp_path, config=config, save_every=2, tensorboard=False) as run:
        run.save(2, {"w": jnp.zeros(2)})
    record = json.load(open(tmp_path / "config.json"))
    assert record["config"] == config and record["jtransfer_version"] == "0.1.0"
    before = sorted(os.listdir(tmp_path)), (tmp_path / "config.json").read_text()

    with pytest.raises(ValueError) as err:
        train.Run(tmp_path, config={**config, "method": "dann"}, save_every=2)
    msg = str(err.value)
    assert 'method: "source_only" -> "dann"' in msg and "--overwrite" in msg
    assert "new --workdir" in msg and "\n" not in msg
    # nested, added and removed fields; at most five shown
    bad = {"method": "source_only", "lr": 0.2, "model": {"hidden": [16]}, "new": 1}
    with pytest.raises(
        ValueError,
        match=r"lr: 0.1 -> 0.2; model.hidden: \[8, 8\] -> \[16\]; "
        r"new: <absent> -> 1; plot: true -> <absent>",
    ):
        train.Run(tmp_path, config=bad, save_every=2)
    many = {f"f{i}": i for i in range(7)}
    with pytest.raises(ValueError, match=r"\.\.\. \(11 fields differ\)"):
        train.Run(tmp_path, config=many, save_every=2)
    assert (sorted(os.listdir(tmp_path)), (tmp_path / "config.json").read_text()) == before

    # an exempt field may change (and is recorded); the same config reopens
    with train.Run(
        tmp_path, config={**config, "plot": False}, exempt=("plot",), save_every=2
    ) as run:
        assert run.restore_or({"w": jnp.ones(2)})[1] == 2
    assert json.load(open(tmp_path / "config.json"))["config"]["plot"] is False
    with pytest.raises(ValueError, match="plot: false -> true"):
        train.Run(tmp_path, config=config, save_every=2)
    train.Run(tmp_path, config={**config, "plot": False}, save_every=2).close()


def test_model_shape_change_is_one_config_line_before_orbax(tmp_path):
    """The issue's 84-line orbax error: a rerun with another hidden size is refused by the
    config check, naming the field, before any checkpoint is read."""

    def run(hidden):
        with train.Run(tmp_path, config={"hidden": hidden}, save_every=2, tensorboard=False) as r:
            return train.train_loop(
                r,
                {"w": jnp.zeros(hidden)},
                num_steps=2,
                step_fn=lambda s, i: ({"w": s["w"] + 1.0}, {}),
            )

    run(4)
    with pytest.raises(ValueError) as err:
        run(8)
    assert "hidden: 4 -> 8" in str(err.value) and "checkpoint" not in str(err.value)
    assert "\n" not in str(err.value)


def test_clear_run_removes_run_files_of_sub_runs_only(tmp_path):
    for sub in ("", "seed0/uw"):
        with train.Run(tmp_path / sub, config={"a": 1}, save_every=1) as run:
            run.write(1, {"x": 1.0})
            run.save(1, {"w": jnp.zeros(1)})
    (tmp_path / "curve.png").write_text("plot")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")  # not a run folder: kept
    removed = train.clear_run(tmp_path)
    assert len(removed) == 8
    assert sorted(os.listdir(tmp_path)) == ["curve.png", "hf", "seed0"]
    assert os.listdir(tmp_path / "seed0" / "uw") == []
    assert os.path.exists(tmp_path / "hf" / "config.json")
    train.Run(tmp_path, config={"a": 2}, save_every=None).close()  # starts over: no refusal


def toy(config, workdir):
    """A tiny experiment (``train_and_evaluate(config, workdir)``) for the command line."""
    with train.Run(workdir, config=config, save_every=2, tensorboard=False) as run:
        out = train.train_loop(
            run,
            {"w": jnp.zeros(2)},
            num_steps=config.num_steps,
            eval_every=2,
            reduce="last",
            step_fn=lambda s, i: ({"w": s["w"] + config.lr}, {"w0": s["w"][0]}),
        )
    return {"w0": float(out.state["w"][0])}


_TOY_CONFIG = """
import ml_collections
def get_config():
    return ml_collections.ConfigDict({"method": "source_only", "lr": 0.5, "num_steps": 4})
"""


def test_command_line_refuses_another_method_and_overwrite_starts_over(tmp_path, capfd):
    """The issue's case on an experiment's command line: ``--config.method=dann`` after a
    ``source_only`` run in the same workdir is refused, naming the field; ``--overwrite``
    starts over with the new config; rerunning that config resumes it."""
    (tmp_path / "toy_config.py").write_text(_TOY_CONFIG)
    workdir = tmp_path / "w"
    cmd = [
        sys.executable,
        "-c",
        "from jtransfer import train; from tests.train.test_runs "
        "import toy; train.experiment_main('toy', toy)",
        f"--config={tmp_path / 'toy_config.py'}",
        f"--workdir={workdir}",
        "--config.method=dann",
    ]
    import ml_collections

    config = ml_collections.ConfigDict({"method": "source_only", "lr": 0.5, "num_steps": 4})
    assert toy(config, workdir) == {"w0": 2.0}
    refused = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=300)
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError") and 'method: "source_only" -> "dann"' in last
    assert "--overwrite" in last
    fresh = subprocess.run(
        [*cmd, "--overwrite", "--config.lr=0.25"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "resuming" not in fresh.stderr and "w0: 1.0000" in fresh.stdout
    assert [r["w0"] for r in train.read_metrics(workdir)] == [0.25, 0.75]
    config.update(method="dann", lr=0.25)
    assert toy(config, workdir) == {"w0": 1.0}
    assert "resuming from step 4" in capfd.readouterr().err


# --------------------------------------------------------------- 2. exact metric resume

_KILLED = textwrap.dedent("""
    import os, signal, sys
    import jax.numpy as jnp
    from jtransfer import train
    from jtransfer.train import _metrics
    from tests.train.test_loop import INIT, run_chunk
    mode, at = sys.argv[2], int(sys.argv[3])
    write = _metrics.MetricWriter.write

    def killing_write(self, step, metrics):
        if step == at and mode == "mid-row":   # killed while writing the row
            self._file.write('{"step": %d, "lo' % step)
            self._file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        write(self, step, metrics)
        if step == at and mode == "before-save":  # row written, checkpoint not saved
            os.kill(os.getpid(), signal.SIGKILL)

    _metrics.MetricWriter.write = killing_write
    with train.Run(sys.argv[1], config={"lr": 0.05}, save_every=4) as run:
        train.train_loop(run, INIT, num_steps=13, eval_every=3, reduce="last",
                         run_chunk=lambda s, a, b: run_chunk(s, jnp.int32(a), jnp.int32(b)))
""")


@pytest.mark.parametrize(
    "mode, at, restored",
    [
        ("before-save", 12, 8),  # rows 9 and 12 written after checkpoint 8
        ("mid-row", 12, 8),  # row 12 cut short, row 9 after checkpoint 8
    ],
)  # a kill after a save, between two events: tests/train/test_loop.py (debug_kill_at_step)
def test_kill_at_any_point_resumes_with_exactly_the_uninterrupted_rows(
    tmp_path, capfd, mode, at, restored
):
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(tmp_path / "a"), mode, str(at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    if mode == "mid-row":
        with pytest.warns(RuntimeWarning, match="truncated last line"):
            resumed = _run_13(tmp_path / "a")
    else:
        resumed = _run_13(tmp_path / "a")
    assert resumed.start_step == restored
    err = capfd.readouterr().err
    assert f"resuming from step {restored}" in err and "config unchanged" in err
    straight = _run_13(tmp_path / "b")
    assert train.tree_equal(resumed.state, straight.state)
    rows_a, rows_b = train.read_metrics(tmp_path / "a"), train.read_metrics(tmp_path / "b")
    assert [r["step"] for r in rows_b] == [3, 6, 9, 12, 13]
    assert rows_a == rows_b
    scalars_a = tensorboard_scalars(tmp_path / "a" / "tensorboard")
    scalars_b = tensorboard_scalars(tmp_path / "b" / "tensorboard")
    assert [s for s, _ in scalars_b["loss"]] == [3, 6, 9, 12, 13]
    assert scalars_a == scalars_b


def test_rerun_of_a_finished_run_with_a_final_row_writes_it_once(tmp_path):
    """An experiment that writes a final evaluation row after the loop (maml_sinusoid,
    maml_omniglot): rerunning the finished run restores step 13, cuts the final row (written
    after the last save) and writes it again: rows and TensorBoard as after one run."""

    def experiment(workdir):
        with train.Run(workdir, config={"lr": 0.05}, save_every=4) as run:
            out = train.train_loop(
                run, INIT, num_steps=13, eval_every=3, reduce="last", run_chunk=_chunk
            )
            run.write(out.step, {"final_w0": out.state["w"][0]})

    experiment(tmp_path / "a")
    once = train.read_metrics(tmp_path / "a")
    tb_once = tensorboard_scalars(tmp_path / "a" / "tensorboard")
    experiment(tmp_path / "a")
    assert train.read_metrics(tmp_path / "a") == once
    assert [r["step"] for r in once] == [3, 6, 9, 12, 13, 13]
    assert tensorboard_scalars(tmp_path / "a" / "tensorboard") == tb_once
    assert [s for s, _ in tb_once["final_w0"]] == [13] and len(tb_once["loss"]) == 5


def test_run_without_checkpoints_starts_its_rows_over(tmp_path, capfd):
    """sample_bias, mtl_school, transferability: nothing to resume, so a rerun recomputes
    and its rows replace the earlier ones (said in one line)."""
    for _ in range(2):
        with train.Run(tmp_path, config={"n": 1}, save_every=None) as run:
            assert run.restore_or({"w": 0}) == ({"w": 0}, 0)
            run.write(1, {"mae": 0.5})
            run.write(2, {"mae": 0.25})
    assert [r["step"] for r in train.read_metrics(tmp_path)] == [1, 2]
    assert "removed 2 written by an earlier run" in capfd.readouterr().err
    assert {
        t: [s for s, _ in p] for t, p in tensorboard_scalars(tmp_path / "tensorboard").items()
    } == {"mae": [1, 2]}
    assert sorted(os.listdir(tmp_path)) == ["config.json", "metrics.jsonl", "tensorboard"]


# ----------------------------------------------------------------------------- 3. progress


def test_progress_prints_lines_in_logs(capfd):
    assert list(train.progress(range(25), desc="splits")) == list(range(25))
    lines = capfd.readouterr().err.splitlines()  # stderr is captured: not a terminal
    assert [line.split(" (")[0] for line in lines] == [
        f"splits: {i}/25 done" for i in (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25)
    ]
    assert list(train.progress(3, desc="x", disable=True)) == [0, 1, 2]
    assert capfd.readouterr().err == ""
