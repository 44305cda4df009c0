"""Registry of reproducible experiments, discovered from ``experiments/*/report.py``.

Each experiment registers its report rows in its own ``experiments/<name>/report.py``, a
module-level ``EXPERIMENTS`` list of :class:`Experiment`; this package only discovers them
(no experiment imports another, and nothing here imports an experiment's training code).
The ``run`` callable takes ``(workdir, suite)`` and returns a list of :class:`ResultRow`;
``suite`` is ``"quick"`` (embedded data only, small budget) or ``"full"`` (paper scale, may read
the real benchmark files).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Sequence
from pathlib import Path

SUITES = ("quick", "full")


@dataclasses.dataclass(frozen=True)
class ResultRow:
    """One line of the results table."""

    benchmark: str
    metric: str
    ours: float | str
    published: float | str | None = None
    source: str = ""
    plots: Sequence[str] = ()
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes:
      name: unique identifier (used by ``--only``).
      suites: the suites that include it: ``("quick", "full")`` for embedded-data experiments
        (the quick suite runs a shortened version), ``("full",)`` for real-data ones.
      run: ``run(workdir: str, suite: str) -> list[ResultRow]``.
      description: one line for the report.
    """

    name: str
    suites: tuple[str, ...]
    run: Callable[[str, str], list[ResultRow]]
    description: str = ""


def discover() -> dict[str, Experiment]:
    """Imports every ``experiments.<pkg>.report`` and collects its ``EXPERIMENTS``."""
    root = Path(__file__).resolve().parent.parent
    found: dict[str, Experiment] = {}
    for info in sorted(pkgutil.iter_modules([str(root)]), key=lambda i: i.name):
        if not info.ispkg or info.name in ("reproduce",):
            continue
        if importlib.util.find_spec(f"experiments.{info.name}.report") is None:
            continue
        module = importlib.import_module(f"experiments.{info.name}.report")
        for exp in getattr(module, "EXPERIMENTS", ()):
            if exp.name in found:
                raise ValueError(f"duplicate experiment name {exp.name!r}")
            for s in exp.suites:
                if s not in SUITES:
                    raise ValueError(f"experiment {exp.name!r}: unknown suite {s!r}")
            found[exp.name] = exp
    return found
