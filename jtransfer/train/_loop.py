"""One training loop for every experiment: restore, run chunks under ``jit``, evaluate, write
metrics, save, resume.

Two pieces:

* :class:`Run` is the workdir of one run. It owns the checkpoint manager
  (``<workdir>/checkpoints``) and the metric writer (``<workdir>/metrics.jsonl`` and
  TensorBoard). Everything that is about a workdir as a whole (the resolved config, exact
  metric resume, checkpoint fallback) belongs here.
* :func:`train_loop` drives a state from its latest checkpoint (or its initial value) to
  ``num_steps``, either with a jitted ``run_chunk(state, start, stop)`` (a ``lax.fori_loop`` or
  ``lax.scan`` over steps ``start .. stop-1``) or with a ``step_fn(state, step)`` called once per
  step from Python.

Chunks end at the next *event*: an evaluation (every ``eval_every`` steps), a checkpoint (every
``save_every`` steps), ``chunk_size`` steps after the chunk's start, or the end. Since every step
depends only on the state and its index, splitting the steps into different chunks, or killing
and resuming a run, gives bit-identical states.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer.train._checkpoint import CheckpointManager
from jtransfer.train._config import record_config
from jtransfer.train._metrics import MetricWriter, progress, truncate_metrics

PyTree = Any
Metrics = Mapping[str, Any]


RUN_FILES = ("config.json", "metrics.jsonl", "tensorboard", "checkpoints", "checkpoints.corrupt")


class Run:
    """The workdir of one training run: its config, checkpoints and metric files in one object.

    * ``<workdir>/config.json``: the run's resolved config (``config``) and the jtransfer
      version. A workdir that holds another config refuses to open: ``ValueError`` naming the
      differing fields (``field: old -> new``) and the way out (``--overwrite`` /
      :func:`clear_run`, or a new workdir), before any checkpoint is read, so a changed model
      shape is reported the same way. Fields in ``exempt`` may change (they must not change the
      run's numbers: ``plot``, ``save_every``); everything else counts.
    * ``<workdir>/checkpoints``: orbax checkpoints (:class:`CheckpointManager`), each saved
      with the number of metric rows written so far.
    * ``<workdir>/metrics.jsonl`` and ``<workdir>/tensorboard``: the metric rows
      (:class:`MetricWriter`).

    Exact resume: when the run is restored (:meth:`restore_or`), ``metrics.jsonl`` is cut back
    (atomically) to the rows written before the restored checkpoint was saved, so the rows the
    resumed run writes again appear once; a run restored from nothing (or one without
    checkpoints) starts with an empty file. The TensorBoard file opened then starts with a
    restart marker at the restored step (see :class:`MetricWriter`'s ``purge_step``):
    TensorBoard hides the earlier files' events from that step on, and the kept rows at that
    step are written again. The first :meth:`write` or :meth:`save` without a restore keeps
    the rows of the latest checkpoint. Use it as a context manager so the files are closed.

    Args:
      workdir: the run's folder (created).
      config: the run's config (an ``ml_collections.ConfigDict`` or mapping) to record and
        compare; ``None``: nothing recorded or checked.
      exempt: config fields (``a.b`` for nested ones) whose change is allowed on resume.
      save_every: checkpoint period in steps (saves at other steps need ``force=True``);
        ``None`` (explicitly): no checkpoints, a run that only writes metrics and always
        starts over.
      keep: number of checkpoints kept.
      tensorboard: also write TensorBoard event files.
      metrics: write ``metrics.jsonl`` at all (``False``: :meth:`write` is a no-op, for a
        sub-run that only checkpoints).

    Raises:
      ValueError: the workdir holds a run with a different config.

    Example:
      >>> import tempfile, jax.numpy as jnp
      >>> workdir = tempfile.mkdtemp()
      >>> with Run(workdir, config={"lr": 0.1}, save_every=10, tensorboard=False) as run:
      ...     state, step = run.restore_or({"w": jnp.zeros(2)})
      >>> step
      0
      >>> Run(workdir, config={"lr": 0.2}, save_every=10)
      Traceback (most recent call last):
      ...
      ValueError: ... holds a run with a different config (lr: 0.1 -> 0.2); ...
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        config: Mapping[str, Any] | None = None,
        exempt: Iterable[str] = (),
        save_every: int | None,
        keep: int = 2,
        tensorboard: bool = True,
        metrics: bool = True,
    ):
        self.workdir = os.path.abspath(os.fspath(workdir))
        self.config = None if config is None else record_config(self.workdir, config, exempt=exempt)
        os.makedirs(self.workdir, exist_ok=True)
        self.checkpoints = (
            None
            if save_every is None
            else CheckpointManager(
                os.path.join(self.workdir, "checkpoints"), save_every=save_every, keep=keep
            )
        )
        self._metrics, self._tensorboard = metrics, tensorboard
        self.writer: MetricWriter | None = None  # opened by the first restore, write or save
        self._rows = 0

    @property
    def save_every(self) -> int | None:
        return None if self.checkpoints is None else self.checkpoints.save_every

    def restore_or(self, init_state: PyTree) -> tuple[PyTree, int]:
        """``(state, step)`` of the latest checkpoint, or ``(init_state, 0)``; cuts the metric
        files back to that checkpoint (see the class docstring)."""
        if self.checkpoints is None:
            state, step, restored = init_state, 0, False
        else:
            state, step = self.checkpoints.restore_or(init_state)
            restored = step in self.checkpoints.all_steps()
        self._open_metrics(step if restored else None)
        return state, step

    def _open_metrics(self, restored: int | None) -> None:
        if self.writer is not None or not self._metrics:
            return
        rows = None
        if restored is not None:
            rows = self.checkpoints.metadata(restored).get("metric_rows")
        path = os.path.join(self.workdir, "metrics.jsonl")
        # rows saved with the checkpoint; older checkpoints: the rows up to its step
        kept, dropped = truncate_metrics(
            path,
            keep=0 if restored is None else rows,
            max_step=None if restored is None else restored,
        )
        if dropped:
            after = (
                f"after the checkpoint of step {restored}"
                if restored is not None
                else "by an earlier run (no checkpoint: starting over)"
            )
            print(
                f"{os.path.basename(self.workdir)}: metrics.jsonl: kept {len(kept)} rows, "
                f"removed {len(dropped)} written {after}; this run writes them again",
                file=sys.stderr,
                flush=True,
            )
        purge = None
        if self._tensorboard and os.path.isdir(os.path.join(self.workdir, "tensorboard")):
            purge = 0 if restored is None else restored
        self.writer = MetricWriter(self.workdir, tensorboard=self._tensorboard, purge_step=purge)
        self._rows = len(kept)
        if purge is not None:  # the kept rows at steps >= purge were hidden: write them again
            for row in kept:
                if row.get("step", 0) >= purge:
                    self.writer._write_tensorboard(
                        int(row["step"]), {k: float(v) for k, v in row.items() if k != "step"}
                    )

    def _open_latest(self) -> None:
        latest = None if self.checkpoints is None else self.checkpoints.latest_step()
        self._open_metrics(latest)

    def save(self, step: int, state: PyTree, *, force: bool = False) -> bool:
        """Saves ``state`` at ``step`` when due (or forced), with the number of metric rows
        written so far; returns whether it saved (``False`` without checkpoints)."""
        if self.checkpoints is None:
            return False
        if self._metrics and self.writer is None:
            self._open_latest()
        meta = {"metric_rows": self._rows} if self._metrics else None
        return self.checkpoints.save(step, state, force=force, metadata=meta)

    def write(self, step: int, metrics: Metrics) -> None:
        """Appends one metric row ``{"step": step, **metrics}``."""
        if not self._metrics:
            return
        if self.writer is None:
            self._open_latest()
        self.writer.write(step, metrics)
        self._rows += 1

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def clear_run(workdir: str | os.PathLike) -> list[str]:
    """Deletes a run's recorded state so that the next run in ``workdir`` starts over.

    Removes ``config.json``, ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/`` and
    ``checkpoints.corrupt/`` in ``workdir`` and in every folder below it that holds a
    ``checkpoints/`` folder or a ``metrics.jsonl`` (the sub-runs of an experiment). Other files
    (plots, result tables) are left; the next run writes them again. This is what an
    experiment's ``--overwrite`` flag does.

    Returns:
      The removed paths.

    Example:
      >>> import tempfile
      >>> workdir = tempfile.mkdtemp()
      >>> Run(workdir, config={"lr": 0.1}, save_every=None).close()
      >>> [os.path.basename(p) for p in clear_run(workdir)]
      ['config.json']
    """
    root = os.path.abspath(os.fspath(workdir))
    removed = []
    for folder, dirs, files in os.walk(root):
        names = set(dirs) | set(files)
        if folder != root and not ("checkpoints" in dirs or "metrics.jsonl" in files):
            continue
        for name in RUN_FILES:
            if name in names:
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
                removed.append(path)
        dirs[:] = [d for d in dirs if d not in RUN_FILES]
    return sorted(removed)


class LoopResult(NamedTuple):
    """What :func:`train_loop` returns."""

    state: PyTree  # the final state (on the mesh when one was given)
    step: int  # the last step done (``num_steps`` unless stopped early)
    start_step: int  # the step restored from (0 for a fresh run)
    train_seconds: float  # wall time of the loop, evaluation and saving included
    first_chunk_seconds: float  # wall time of the first chunk (compilation), 0 if none ran
    last_row: dict  # the last metric row written (without "step"), {} if none
    stopped_early: bool  # ``max_seconds`` ran out before ``num_steps``


def _reduce(rows: list[Metrics], how: str) -> dict:
    if not rows:
        return {}
    if how == "last":
        return dict(rows[-1])
    # "mean": the mean of each metric over the steps (or chunks) since the last row
    return {k: float(np.mean(np.asarray([r[k] for r in rows]))) for k in rows[0]}


def _positive_int(name: str, v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


def train_loop(
    run: Run,
    init_state: PyTree,
    *,
    num_steps: int,
    run_chunk: Callable[[PyTree, int, int], tuple[PyTree, Metrics]] | None = None,
    step_fn: Callable[[PyTree, int], tuple[PyTree, Metrics]] | None = None,
    eval_every: int | None = None,
    evaluate: Callable[[PyTree, int], Metrics] | None = None,
    chunk_size: int | None = None,
    reduce: str = "mean",
    mesh: jax.sharding.Mesh | None = None,
    max_seconds: float = 0.0,
    desc: str | None = None,
    progress_every: int | None = None,
    debug_kill_at_step: int = -1,
) -> LoopResult:
    """Trains ``init_state`` for ``num_steps`` steps, resuming from ``run``'s checkpoints.

    1. Restores the latest checkpoint of ``run`` (or starts from ``init_state`` at step 0) and
       places the state on ``mesh`` (replicated) when one is given.
    2. Runs steps in chunks: ``state, metrics = run_chunk(state, start, stop)`` for steps
       ``start .. stop-1`` (Python ints; the callee converts them), or
       ``state, metrics = step_fn(state, step)`` once per step. A chunk stops at the next
       multiple of ``eval_every`` and of ``run.save_every``, after ``chunk_size`` steps, or at
       ``num_steps``.
    3. After a chunk that ends on a multiple of ``eval_every``, at ``num_steps`` or when time
       is up, writes one metric row ``{**reduce(metrics since the last row),
       **evaluate(state, step)}`` (``reduce="mean"``: the mean of each metric over the steps or
       chunks since the last row; ``"last"``: the last chunk's values).
    4. Saves a checkpoint when the step is a multiple of ``run.save_every``, and always at the
       end. Resuming replays exactly the steps after the last checkpoint, so a killed and
       resumed run equals an uninterrupted one bit for bit.

    Progress: a tqdm bar on a terminal; otherwise one line on stderr every
    ``progress_every`` steps (default: each metric row) with the step, steps per second and
    the row's values; one line when the run resumes.

    Args:
      run: the :class:`Run` (checkpoints and metrics). Not closed here.
      init_state: the initial state pytree (also the template for restoring).
      num_steps: total number of steps.
      run_chunk: ``(state, start, stop) -> (state, metrics)``, usually jitted. Exactly one of
        ``run_chunk`` and ``step_fn`` is given.
      step_fn: ``(state, step) -> (state, metrics)``, called once per step.
      eval_every: metric-row period in steps (default: ``num_steps``, one row at the end).
      evaluate: ``(state, step) -> metrics`` merged into each row (may be ``None``).
      chunk_size: the most steps per ``run_chunk`` call (e.g. a fixed ``lax.scan`` length).
      reduce: ``"mean"`` or ``"last"``, how chunk metrics between two rows are combined.
      mesh: when given, the restored state is replicated over it.
      max_seconds: when > 0, stop (with a row and a checkpoint) once the loop has run this
        long; ``LoopResult.stopped_early`` tells.
      desc: the name shown in progress lines.
      progress_every: steps between progress lines in non-terminal output.
      debug_kill_at_step: debug only: after reaching this step (rows and due checkpoints
        written) the process kills itself with SIGKILL, to test resuming.

    Returns:
      A :class:`LoopResult`.

    Raises:
      ValueError: for a bad argument (naming it), before anything runs.

    Example:
      >>> import tempfile, jax, jax.numpy as jnp
      >>> @jax.jit
      ... def run_chunk(state, start, stop):  # steps start .. stop-1 in one fori_loop
      ...     w = jax.lax.fori_loop(start, stop, lambda i, w: w + i, state["w"])
      ...     return {"w": w}, {"w": w}
      >>> with Run(tempfile.mkdtemp(), save_every=5, tensorboard=False) as run:
      ...     out = train_loop(run, {"w": jnp.int32(0)}, num_steps=10, eval_every=5,
      ...                      run_chunk=run_chunk, reduce="last")
      >>> int(out.state["w"]), out.step, int(out.last_row["w"])
      (45, 10, 45)
    """
    if (run_chunk is None) == (step_fn is None):
        raise ValueError("give exactly one of run_chunk and step_fn")
    _positive_int("num_steps", num_steps)
    eval_every = num_steps if eval_every is None else eval_every
    _positive_int("eval_every", eval_every)
    if chunk_size is not None:
        _positive_int("chunk_size", chunk_size)
    if progress_every is not None:
        _positive_int("progress_every", progress_every)
    if reduce not in ("mean", "last"):
        raise ValueError(f"reduce must be 'mean' or 'last', got {reduce!r}")
    if not max_seconds >= 0:
        raise ValueError(f"max_seconds must be >= 0, got {max_seconds!r}")
    if step_fn is not None:
        chunk_size = 1
    save_every = run.save_every or num_steps  # no checkpoints: only the final (no-op) save
    name = desc or os.path.basename(run.workdir)

    state, start = run.restore_or(init_state)
    if start:
        checked = "; config unchanged" if run.config is not None else ""
        print(
            f"{name}: resuming from step {start} (checkpoint in {run.workdir}{checked})",
            file=sys.stderr,
            flush=True,
        )
    if mesh is not None:
        from jtransfer.parallel import replicate

        state = replicate(state, mesh)
    tty = sys.stderr.isatty()
    bar = progress(num_steps, desc=name, initial=start) if tty else None
    t0 = time.perf_counter()
    step, pending, last_row, first_s, stopped = start, [], {}, None, False
    last_line_step, last_line_time = start, t0
    while step < num_steps:
        stop = min(
            num_steps, (step // eval_every + 1) * eval_every, (step // save_every + 1) * save_every
        )
        if chunk_size is not None:
            stop = min(stop, step + chunk_size)
        if step < debug_kill_at_step < stop:
            stop = debug_kill_at_step
        tc = time.perf_counter()
        if run_chunk is not None:
            state, metrics = run_chunk(state, step, stop)
        else:
            state, metrics = step_fn(state, step)
        if first_s is None:
            jax.block_until_ready(state)
            first_s = time.perf_counter() - tc
        if metrics:
            pending.append(metrics)
        if bar is not None:
            bar.update(stop - step)
        step = stop
        stopped = 0 < max_seconds < time.perf_counter() - t0 and step < num_steps
        if step % eval_every == 0 or step == num_steps or stopped:
            row = _reduce(pending, reduce)
            if evaluate is not None:
                row.update(evaluate(state, step))
            run.write(step, row)
            last_row, pending = row, []
            if not tty and (
                progress_every is None
                or step - last_line_step >= progress_every
                or step == num_steps
            ):
                now = time.perf_counter()
                rate = (step - last_line_step) / max(now - last_line_time, 1e-9)
                shown = " ".join(f"{k}={_fmt(v)}" for k, v in row.items())
                print(
                    f"{name}: step {step}/{num_steps} ({rate:.1f} steps/s) {shown}".rstrip(),
                    file=sys.stderr,
                    flush=True,
                )
                last_line_step, last_line_time = step, now
        run.save(step, state, force=step == num_steps or stopped)
        if step == debug_kill_at_step:
            run.close()
            os.kill(os.getpid(), signal.SIGKILL)
        if stopped:
            break
    jax.block_until_ready(state)
    if bar is not None:
        bar.close()
    return LoopResult(
        state, step, start, time.perf_counter() - t0, first_s or 0.0, last_row, stopped
    )


def fori_chunk(
    step_fn: Callable[[PyTree, jax.Array], tuple[PyTree, Metrics]],
) -> Callable[[PyTree, int, int], tuple[PyTree, Metrics]]:
    """A jitted ``run_chunk(state, start, stop)`` for :func:`train_loop` from a step function.

    ``step_fn(state, step) -> (state, metrics)`` must be traceable (``step`` is an int32
    scalar); steps ``start .. stop-1`` run in one ``lax.fori_loop`` (one compilation for all
    chunk lengths) and the chunk's metrics are those of its last step.

    Example:
      >>> import jax.numpy as jnp
      >>> run_chunk = fori_chunk(lambda s, i: (s + i, {"s": s}))
      >>> state, metrics = run_chunk(jnp.int32(0), 0, 4)
      >>> int(state), int(metrics["s"])
      (6, 3)
    """

    @jax.jit
    def run(state, start, stop):
        _, shapes = jax.eval_shape(step_fn, state, start)
        zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)
        return jax.lax.fori_loop(start, stop, lambda i, c: step_fn(c[0], i), (state, zeros))

    def run_chunk(state, start, stop):
        return run(state, jnp.int32(start), jnp.int32(stop))

    return run_chunk


def _fmt(v) -> str:
    try:
        return f"{float(np.asarray(v)):.4g}"
    except (TypeError, ValueError):
        return str(v)
