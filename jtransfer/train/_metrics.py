"""Metric writing (JSONL always, TensorBoard event files without TensorFlow) and progress."""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

from jtransfer._core.extras import import_extra


def _scalar(name: str, value) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"metric {name!r} must be a numeric scalar, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    return float(arr.reshape(()))


class MetricWriter:
    """Writes scalar metrics to ``<workdir>/metrics.jsonl`` and TensorBoard event files.

    Each ``write(step, metrics)`` appends one JSON line ``{"step": step, **metrics}`` (flushed
    immediately, so a killed run keeps what it logged) and, when ``tensorboard=True``, one
    scalar summary per metric via tensorboardX (no TensorFlow needed). Non-finite values are
    written as ``NaN``/``Infinity`` strings in JSON so the file stays parseable.
    """

    def __init__(self, workdir: str | os.PathLike, *, tensorboard: bool = True,
                 filename: str = "metrics.jsonl"):
        self.workdir = os.fspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.path = os.path.join(self.workdir, filename)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            SummaryWriter = import_extra(
                "tensorboardX", "train", "MetricWriter(tensorboard=True)").SummaryWriter

            self._tb = SummaryWriter(logdir=os.path.join(self.workdir, "tensorboard"))

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        if not isinstance(step, numbers.Integral) and not (
                isinstance(step, np.ndarray | np.generic) and np.issubdtype(
                    np.asarray(step).dtype, np.integer)):
            raise ValueError(f"step must be an int, got {step!r}")
        values = {k: _scalar(k, v) for k, v in metrics.items()}
        record = {"step": int(step)}
        for k, v in values.items():
            record[k] = v if math.isfinite(v) else str(v)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, int(step))

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
                warnings.warn(f"{path}:{number}: ignoring a truncated last line ({err.msg})",
                              RuntimeWarning, stacklevel=2)
                break
            raise ValueError(f"{path}:{number}: not a JSON line ({err.msg})") from err
    return rows


def progress(iterable: Iterable | int, *, desc: str | None = None, total: int | None = None,
             disable: bool | None = None, **kwargs):
    """A tqdm progress bar that is silent when stderr is not a terminal (CI, logs).

    ``progress(1000)`` iterates over ``range(1000)``.
    """
    if isinstance(iterable, int):
        total = iterable if total is None else total
        iterable = range(iterable)
    if disable is None:
        disable = not sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, disable=disable, dynamic_ncols=True, **kwargs)
