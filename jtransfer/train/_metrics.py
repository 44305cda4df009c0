"""Metric writing (JSONL always, TensorBoard event files without TensorFlow) and progress."""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

from jtransfer._core.extras import import_extra


def _scalar(name: str, value) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(
            f"metric {name!r} must be a numeric scalar, got shape {arr.shape} dtype {arr.dtype}"
        )
    return float(arr.reshape(()))


class MetricWriter:
    """Writes scalar metrics to ``<workdir>/metrics.jsonl`` and TensorBoard event files.

    Each ``write(step, metrics)`` appends one JSON line ``{"step": step, **metrics}`` and, when
    ``tensorboard=True``, one scalar summary per metric to ``<workdir>/tensorboard`` via
    tensorboardX (no TensorFlow needed); both are flushed at once, so a killed run keeps what it
    logged. Non-finite values are written as ``NaN``/``Infinity`` strings in JSON so the file
    stays parseable. Each writer opens a new event file (named by time, so TensorBoard reads
    them in order).

    ``purge_step=s`` starts that event file with TensorBoard's restart marker (a
    ``SessionLog.START`` event at step ``s``): TensorBoard then hides the events of earlier
    files at steps ``>= s`` (those of a run killed after its last checkpoint), and shows the
    ones written from here on. :class:`jtransfer.train.Run` sets it when a run resumes.
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        tensorboard: bool = True,
        filename: str = "metrics.jsonl",
        purge_step: int | None = None,
    ):
        self.workdir = os.fspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.path = os.path.join(self.workdir, filename)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            SummaryWriter = import_extra(
                "tensorboardX", "train", "MetricWriter(tensorboard=True)"
            ).SummaryWriter

            # tensorboardX names files by the second: a suffix keeps two writers of the same
            # second (a quick resume) from overwriting each other's file
            self._tb = SummaryWriter(
                logdir=os.path.join(self.workdir, "tensorboard"),
                purge_step=purge_step,
                filename_suffix=f".{time.time_ns():020d}",
            )
            self._tb.flush()

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        if not isinstance(step, numbers.Integral) and not (
            isinstance(step, np.ndarray | np.generic)
            and np.issubdtype(np.asarray(step).dtype, np.integer)
        ):
            raise ValueError(f"step must be an int, got {step!r}")
        values = {k: _scalar(k, v) for k, v in metrics.items()}
        record = {"step": int(step)}
        for k, v in values.items():
            record[k] = v if math.isfinite(v) else str(v)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self._write_tensorboard(int(step), values)

    def _write_tensorboard(self, step: int, values: Mapping[str, float]) -> None:
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, float(v), step)
            self._tb.flush()

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Reads a ``metrics.jsonl`` file (or the workdir that holds one) into a list of dicts.

    A last line cut short (a process killed while writing it) is skipped with a warning; a
    malformed line anywhere else raises ``ValueError`` naming the file and line number.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    with open(path, encoding="utf-8") as f:
        lines = [(i, line) for i, line in enumerate(f, 1) if line.strip()]
    rows = []
    for j, (number, line) in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if j == len(lines) - 1 and not line.endswith("\n"):
                warnings.warn(
                    f"{path}:{number}: ignoring a truncated last line ({err.msg})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            raise ValueError(f"{path}:{number}: not a JSON line ({err.msg})") from err
    return rows


def truncate_metrics(
    path: str | os.PathLike, *, keep: int | None = None, max_step: int | None = None
) -> tuple[list[dict], list[dict]]:
    """Cuts a ``metrics.jsonl`` file down to its first rows, atomically.

    Keeps the first ``keep`` rows, or (``keep=None``) the leading rows whose step is
    ``<= max_step``; a truncated last line is dropped with a warning (:func:`read_metrics`).
    The file is rewritten only when its content changes, through a temporary file renamed over
    it, so a kill at any point leaves either the old or the new file.

    Returns:
      ``(kept, dropped)`` lists of rows.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return [], []
    rows = read_metrics(path)
    if keep is None:
        keep = 0
        while keep < len(rows) and max_step is not None and rows[keep].get("step", 0) <= max_step:
            keep += 1
    kept, dropped = rows[:keep], rows[keep:]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    with open(path, encoding="utf-8") as f:
        old = f.read()
    if old != text:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return kept, dropped


def progress(
    iterable: Iterable | int,
    *,
    desc: str | None = None,
    total: int | None = None,
    disable: bool | None = None,
    every: int | None = None,
    **kwargs,
):
    """A tqdm progress bar on a terminal; one line per ``every`` items in logs (no terminal).

    ``progress(1000)`` iterates over ``range(1000)``. When stderr is not a terminal (CI, a log
    file, a batch job) it prints ``desc: i/total done (s elapsed)`` to stderr after every
    ``every`` items (default: about ten lines in all, one per item for up to 10 items) and after
    the last. ``disable=True`` silences both.
    """
    if isinstance(iterable, int):
        total = iterable if total is None else total
        iterable = range(iterable)
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    if disable is None and not sys.stderr.isatty():
        return _log_lines(iterable, desc or "progress", total, every)
    return tqdm(
        iterable, desc=desc, total=total, disable=bool(disable), dynamic_ncols=True, **kwargs
    )


def _log_lines(iterable: Iterable, desc: str, total: int | None, every: int | None):
    every = every or (max(1, total // 10) if total else 1)
    t0 = time.perf_counter()
    i = 0
    for i, item in enumerate(iterable, 1):
        yield item
        if i % every == 0 or i == total:
            of = f"/{total}" if total else ""
            print(
                f"{desc}: {i}{of} done ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
