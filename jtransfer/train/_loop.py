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
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer.train._checkpoint import CheckpointManager
from jtransfer.train._metrics import MetricWriter, progress

PyTree = Any
Metrics = Mapping[str, Any]


class Run:
    """The workdir of one training run: checkpoints and metric files in one object.

    ``<workdir>/checkpoints`` holds the orbax checkpoints (:class:`CheckpointManager`),
    ``<workdir>/metrics.jsonl`` (and ``<workdir>/tensorboard``) the metric rows
    (:class:`MetricWriter`). Use it as a context manager so both are closed.

    Args:
      workdir: the run's folder (created).
      save_every: checkpoint period in steps (saves at other steps need ``force=True``).
      keep: number of checkpoints kept.
      tensorboard: also write TensorBoard event files.
      metrics: write ``metrics.jsonl`` at all (``False``: :meth:`write` is a no-op, for a
        sub-run that only checkpoints).

    Example:
      >>> import tempfile, jax.numpy as jnp
      >>> with Run(tempfile.mkdtemp(), save_every=10, tensorboard=False) as run:
      ...     state, step = run.restore_or({"w": jnp.zeros(2)})
      >>> step
      0
    """

    def __init__(self, workdir: str | os.PathLike, *, save_every: int, keep: int = 2,
                 tensorboard: bool = True, metrics: bool = True):
        self.workdir = os.path.abspath(os.fspath(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.checkpoints = CheckpointManager(os.path.join(self.workdir, "checkpoints"),
                                             save_every=save_every, keep=keep)
        self.writer = MetricWriter(self.workdir, tensorboard=tensorboard) if metrics else None

    @property
    def save_every(self) -> int:
        return self.checkpoints.save_every

    def restore_or(self, init_state: PyTree) -> tuple[PyTree, int]:
        """``(state, step)`` of the latest checkpoint, or ``(init_state, 0)``."""
        return self.checkpoints.restore_or(init_state)

    def save(self, step: int, state: PyTree, *, force: bool = False) -> bool:
        """Saves ``state`` at ``step`` when due (or forced); returns whether it saved."""
        return self.checkpoints.save(step, state, force=force)

    def write(self, step: int, metrics: Metrics) -> None:
        """Appends one metric row ``{"step": step, **metrics}``."""
        if self.writer is not None:
            self.writer.write(step, metrics)

    def close(self) -> None:
        self.checkpoints.close()
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LoopResult(NamedTuple):
    """What :func:`train_loop` returns."""

    state: PyTree                 # the final state (on the mesh when one was given)
    step: int                     # the last step done (``num_steps`` unless stopped early)
    start_step: int               # the step restored from (0 for a fresh run)
    train_seconds: float          # wall time of the loop, evaluation and saving included
    first_chunk_seconds: float    # wall time of the first chunk (compilation), 0 if none ran
    last_row: dict                # the last metric row written (without "step"), {} if none
    stopped_early: bool           # ``max_seconds`` ran out before ``num_steps``


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


def train_loop(run: Run, init_state: PyTree, *, num_steps: int,
               run_chunk: Callable[[PyTree, int, int], tuple[PyTree, Metrics]] | None = None,
               step_fn: Callable[[PyTree, int], tuple[PyTree, Metrics]] | None = None,
               eval_every: int | None = None,
               evaluate: Callable[[PyTree, int], Metrics] | None = None,
               chunk_size: int | None = None, reduce: str = "mean",
               mesh: jax.sharding.Mesh | None = None, max_seconds: float = 0.0,
               desc: str | None = None, progress_every: int | None = None,
               debug_kill_at_step: int = -1) -> LoopResult:
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
    save_every = run.save_every
    name = desc or os.path.basename(run.workdir)

    state, start = run.restore_or(init_state)
    if start:
        print(f"{name}: resuming from step {start} (checkpoint in {run.workdir})",
              file=sys.stderr, flush=True)
    if mesh is not None:
        from jtransfer.parallel import replicate

        state = replicate(state, mesh)
    tty = sys.stderr.isatty()
    bar = progress(num_steps, desc=name, initial=start) if tty else None
    t0 = time.perf_counter()
    step, pending, last_row, first_s, stopped = start, [], {}, None, False
    last_line_step, last_line_time = start, t0
    while step < num_steps:
        stop = min(num_steps, (step // eval_every + 1) * eval_every,
                   (step // save_every + 1) * save_every)
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
            if not tty and (progress_every is None
                            or step - last_line_step >= progress_every or step == num_steps):
                now = time.perf_counter()
                rate = (step - last_line_step) / max(now - last_line_time, 1e-9)
                shown = " ".join(f"{k}={_fmt(v)}" for k, v in row.items())
                print(f"{name}: step {step}/{num_steps} ({rate:.1f} steps/s) {shown}".rstrip(),
                      file=sys.stderr, flush=True)
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
    return LoopResult(state, step, start, time.perf_counter() - t0, first_s or 0.0, last_row,
                      stopped)


def fori_chunk(step_fn: Callable[[PyTree, jax.Array], tuple[PyTree, Metrics]]
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
