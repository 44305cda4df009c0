"""Shared plumbing of the ``experiments/bench_*.py`` scripts (issue 21 items 2-3).

Every benchmark registers *workloads*; a workload has one or more *implementations*
(``jtransfer``, a NumPy baseline, a peer library) and a *reference* value. The runner

* checks every implementation's value against the reference before timing (``check``:
  ``max|a - b| <= atol + rtol * max|b|``) and fails the script when one disagrees, so no
  timed row computes something else than it claims (rows that by design compute a different
  quantity say so in ``check``: ``"not comparable: ..."``);
* times the implementations in ``--rounds`` rounds; each round times every selected
  implementation once (``n`` calls, median), alternating the order between rounds, so a ratio
  is always formed from timings taken in the same round;
* prints one JSON line per (workload, implementation) with ``--json``: ``workload``, ``peer``
  (the implementation), ``median_s`` (median over rounds of the per-call median), ``n``
  (calls per round), ``rounds_s``, ``cpu_median_s`` (the same median of this process's CPU
  time, all threads: the figure to compare on a shared machine), ``load``
  (``os.getloadavg()``), ``compile_s`` for jitted rows (first call minus a warm call),
  ``check``, ``gflop`` when known. Workload names are shared by the jtransfer and the peer
  rows, so an outside harness can run ``--only IMPL`` in separate processes, alternate them,
  and join the rows on ``workload``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def add_args(ap: argparse.ArgumentParser, rounds: int = 3) -> argparse.ArgumentParser:
    """Adds ``--json``, ``--only`` and ``--rounds`` to a benchmark's parser."""
    ap.add_argument(
        "--json", action="store_true", help="print one JSON line per (workload, implementation)"
    )
    ap.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="IMPL",
        help="time only this implementation (repeatable); the reference check still runs",
    )
    ap.add_argument(
        "--rounds", type=int, default=rounds, help="timing rounds (default %(default)s)"
    )
    return ap


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded (reported with every timing)."""
    return [round(v, 2) for v in os.getloadavg()]


@dataclasses.dataclass
class Impl:
    """One implementation of a workload.

    ``fn()`` runs it once and returns its value (anything ``value`` turns into an array);
    ``block`` waits for asynchronous results (``jax.block_until_ready``); ``jit``: report
    ``compile_s`` (first call minus the median warm call); ``first_s``: a cold time measured
    elsewhere (e.g. in a subprocess, or a first call made before the runner's), reported as
    is and used for ``compile_s`` when ``jit``; ``check``: override of the comparison
    (``"not comparable: <why>"`` skips it); ``note``: one free-text field for the JSON row.
    """

    fn: Callable[[], Any]
    value: Callable[[Any], Any] = lambda out: out
    block: Callable[[Any], Any] = lambda out: out
    jit: bool = False
    first_s: float | None = None
    check: str | None = None
    note: str | None = None
    times: list[float] | None = None  # per-round medians measured elsewhere (subprocess)
    compile_s: float | None = None  # compile time measured by the caller (ahead of time)


class Runner:
    """Collects rows; see the module docstring. ``failed`` lists checks that did not hold."""

    def __init__(self, args: argparse.Namespace, device: str | None = None):
        self.json = bool(getattr(args, "json", False))
        self.only = getattr(args, "only", None)
        self.rounds = max(1, int(getattr(args, "rounds", 3)))
        self.rows: list[dict] = []
        self.failed: list[str] = []
        self.device = device

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only

    def say(self, msg: str) -> None:
        """Human-readable progress (stderr under ``--json``, so stdout stays JSON lines)."""
        print(msg, file=sys.stderr if self.json else sys.stdout, flush=True)

    def run(
        self,
        workload: str,
        impls: dict[str, Impl],
        *,
        reference: Any = None,
        rtol: float = 1e-5,
        atol: float = 0.0,
        n: int = 3,
        gflop: float | None = None,
        baseline: str = "jtransfer",
        items: int | None = None,
    ) -> dict[str, dict]:
        """Checks and times ``impls`` on ``workload``; returns the rows by implementation.

        ``reference``: the value each implementation must match (``None``: the first
        implementation's value, computed even when ``--only`` leaves it out). ``items``: work
        items per call (e.g. episodes): rows then carry ``items`` and ``items_per_s``.
        """
        names = [k for k in impls if self.wants(k)]
        if not names:
            return {}
        rows: dict[str, dict] = {}
        first: dict[str, float] = {}
        values: dict[str, Any] = {}
        for name in names:
            imp = impls[name]
            if imp.times is not None:  # timed elsewhere; ``fn`` returns the value it computed
                values[name] = (
                    None if imp.check is not None else np.asarray(imp.value(imp.fn()), np.float64)
                )
                continue
            t0 = time.perf_counter()
            out = imp.block(imp.fn())
            first[name] = time.perf_counter() - t0
            values[name] = None if imp.check is not None else np.asarray(imp.value(out), np.float64)
        if reference is None:
            k0 = next(iter(impls))
            reference = (
                values[k0]
                if k0 in values and values[k0] is not None
                else np.asarray(impls[k0].value(impls[k0].block(impls[k0].fn())), np.float64)
            )
        reference = np.asarray(reference, np.float64)
        checks = {}
        for name in names:
            imp = impls[name]
            if imp.check is not None:
                checks[name] = imp.check
                continue
            v = values[name]
            if v is None:
                checks[name] = "checked in its own process"
                continue
            if v.shape != reference.shape:
                err, ok = float("inf"), False
            else:
                err = float(np.max(np.abs(v - reference))) if v.size else 0.0
                ok = err <= atol + rtol * float(np.max(np.abs(reference)) if v.size else 0.0)
            checks[name] = (
                f"{'ok' if ok else 'FAILED'}: max|diff| {err:.2e} (atol {atol:g}, rtol {rtol:g})"
            )
            if not ok:
                self.failed.append(f"{workload}/{name}: {checks[name]}")
        times = {k: [] for k in names}
        cpu = {k: [] for k in names}
        for r in range(self.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                imp = impls[name]
                if imp.times is not None:
                    continue
                per, per_cpu = [], []
                for _ in range(n):
                    c0, t0 = time.process_time(), time.perf_counter()
                    imp.block(imp.fn())
                    per.append(time.perf_counter() - t0)
                    per_cpu.append(time.process_time() - c0)
                times[name].append(statistics.median(per))
                cpu[name].append(statistics.median(per_cpu))
        for name in names:
            imp = impls[name]
            ts = imp.times if imp.times is not None else times[name]
            row = {
                "workload": workload,
                "peer": name,
                "median_s": statistics.median(ts),
                "n": n,
                "rounds_s": [round(t, 6) for t in ts],
                **(
                    {"cpu_median_s": statistics.median(cpu[name])}
                    if imp.times is None and cpu[name]
                    else {}
                ),
                "load": load(),
                "check": checks[name],
            }
            if self.device:
                row["device"] = self.device
            if imp.compile_s is not None:
                row["compile_s"] = round(imp.compile_s, 4)
            elif imp.jit and name in first:
                cold = imp.first_s if imp.first_s is not None else first[name]
                row["compile_s"] = round(max(cold - row["median_s"], 0.0), 4)
            if imp.first_s is not None:
                row["first_s"] = round(imp.first_s, 4)
            if gflop is not None:
                row["gflop"] = round(gflop, 4)
            if items is not None:
                row["items"] = items
                row["items_per_s"] = round(items / row["median_s"], 1)
                if row.get("cpu_median_s"):
                    row["cpu_items_per_s"] = round(items / row["cpu_median_s"], 1)
            if imp.note:
                row["note"] = imp.note
            rows[name] = row
        self._emit(workload, rows, baseline)
        self.rows.extend(rows.values())
        return rows

    def _emit(self, workload: str, rows: dict[str, dict], baseline: str) -> None:
        if self.json:
            for row in rows.values():
                print(json.dumps(row), flush=True)
            return
        print(f"\n{workload}  (load {load()[0]:.1f})")
        base = rows.get(baseline)
        for name, row in rows.items():
            extra = ""
            if (
                base is not None
                and name != baseline
                and len(row["rounds_s"]) == len(base["rounds_s"])
            ):
                ratios = [p / b for p, b in zip(row["rounds_s"], base["rounds_s"], strict=True)]
                extra = (
                    f"  {name}/{baseline} per round {statistics.median(ratios):.2f}x "
                    f"[{min(ratios):.2f}, {max(ratios):.2f}]"
                )
            comp = f"  compile {row['compile_s']:.2f} s" if "compile_s" in row else ""
            cold = f"  cold {row['first_s']:.2f} s" if "first_s" in row else ""
            print(
                f"  {name:26s} {row['median_s'] * 1e3:10.2f} ms{comp}{cold}{extra}\n"
                f"  {'':26s} check {row['check']}"
            )

    def probe(self, workload: str, name: str, **fields: Any) -> dict:
        """A measurement that is not an implementation (e.g. the GEMM rate of this process):
        one JSON row ``{"workload", "peer": name, "probe": true, "load", **fields}`` under
        ``--json``, nothing otherwise (callers print their own text)."""
        row = {"workload": workload, "peer": name, "probe": True, "load": load(), **fields}
        if self.device:
            row["device"] = self.device
        if self.json:
            print(json.dumps(row), flush=True)
        return row

    def finish(self) -> int:
        """Exit status: 1 when a check failed (listed on stderr)."""
        for f in self.failed:
            print(f"CHECK FAILED {f}", file=sys.stderr)
        return 1 if self.failed else 0


def round_ratios(rows: dict[str, dict], peer: str, base: str = "jtransfer") -> list[float]:
    """``peer / base`` time ratio of each round (both timed in that round)."""
    return [p / b for p, b in zip(rows[peer]["rounds_s"], rows[base]["rounds_s"], strict=True)]


def gemm_rate(n: int = 4096, d: int = 256, reps: int = 5) -> float:
    """Best float32 GEMM rate (FLOP/s) under XLA: a ``(2n, d) x (d, 2n)`` product."""
    import jax
    import jax.numpy as jnp

    z = jnp.asarray(np.random.default_rng(0).normal(size=(2 * n, d)).astype(np.float32))
    f = jax.jit(lambda z: z @ z.T)
    jax.block_until_ready(f(z))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(z))
        best = min(best, time.perf_counter() - t0)
    return 2.0 * (2 * n) ** 2 * d / best
