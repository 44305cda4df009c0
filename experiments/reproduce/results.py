"""Results as artefacts: per-seed values in JSON beside each experiment, README tables from them.

An experiment writes ``experiments/<experiment>/results/<name>.json`` with
:func:`write_results`; ``python -m experiments.reproduce tables`` rewrites every README block

.. code-block:: markdown

    <!-- results:NAME -->
    (generated: do not edit)
    <!-- /results:NAME -->

from ``results/NAME.json`` of the README's experiment (``--check``: exit 1 if a README differs;
``tests/experiments/test_results.py`` fails then too). No number in such a block is typed by
hand.

JSON schema (``"schema": 1``)::

    {
      "schema": 1,
      "experiment": "two_moons",            # folder under experiments/
      "name": "target_accuracy",            # file stem, README marker name
      "metric": "target accuracy",          # what the values are
      "higher_is_better": true,             # orientation of gains
      "baseline": "source_only" | null,     # key in values the gains are paired against
      "seeds": [0, 1, ...],                 # the seeds, aligned with every values list
      "values": {"source_only": [...], "dann": [...]},   # per-seed values per method
      "labels": {"dann": "DANN", ...},      # display names (default: the key)
      "published": {"source_only": 0.84, "dann": 0.94, "mmd": null},
      "source": "where the published numbers come from",
      "notes": "free text shown under the table",
      "digits": 3,                          # decimals in the table
      "extra": {...},                       # any other per-seed data (JSON), not tabulated
      "config": {...},                      # the resolved config (ConfigDict.to_dict())
      "command": "python -m ...",           # how to regenerate this file
      "argv": [...],                        # sys.argv of the writing process
      "wall_seconds": 12.3 | [...] | {...}, # as given: total, per seed, or per method
      "git": {"commit": "<sha>" | null, "dirty": bool | null},
      "date": "2026-12-06T06:30:00+00:00",  # UTC, when written
      "machine": {"platform", "machine", "cpu_count", "load_average", "python", "jax",
                  "jax_backend", "devices"}
    }
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.reproduce import stats

__all__ = [
    "SCHEMA",
    "EXPERIMENTS_ROOT",
    "write_results",
    "read_results",
    "list_results",
    "effect_rows",
    "render_table",
    "render_effects",
    "render_readme",
    "update_tables",
    "reproduce_command",
]

SCHEMA = 1
EXPERIMENTS_ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_BLOCK = re.compile(r"(<!-- results:([A-Za-z0-9_.-]+) -->)\n(.*?)(<!-- /results:\2 -->)", re.S)


def _jsonable(x: Any) -> Any:
    """Converts configs, tuples, NumPy/JAX scalars and arrays to plain JSON values."""
    if hasattr(x, "to_dict") and callable(x.to_dict):  # ml_collections.ConfigDict
        x = x.to_dict()
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if hasattr(x, "tolist"):  # numpy / jax arrays and scalars
        return _jsonable(x.tolist())
    return str(x)


def git_state(exclude: Sequence[str] = ("experiments/*/results/*.json",)) -> dict[str, Any]:
    """``{"commit": HEAD, "dirty": bool}`` of the repository (``None`` values without git).
    Tracked files matching ``exclude`` do not count as dirty: the artefacts a run writes must
    not mark the code it ran as modified (a writer of several artefacts would otherwise mark
    all but its first as "dirty tree")."""
    root = EXPERIMENTS_ROOT.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [f":(exclude){pattern}" for pattern in exclude],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        info["load_average"] = None
    try:
        import jax

        info["jax"] = jax.__version__
        info["jax_backend"] = jax.default_backend()
        info["devices"] = sorted({d.device_kind for d in jax.devices()})
    except Exception:  # noqa: BLE001 - the record must not fail for want of jax
        info["jax"] = None
    return info


def _path(experiment: str, name: str, root: str | os.PathLike | None) -> Path:
    for arg, v in (("experiment", experiment), ("name", name)):
        if not isinstance(v, str) or not _NAME.match(v):
            raise ValueError(f"{arg} must match {_NAME.pattern}; got {v!r}")
    folder = Path(EXPERIMENTS_ROOT if root is None else root) / experiment / "results"
    return folder / f"{name}.json"


def write_results(
    experiment: str,
    name: str,
    values: Mapping[str, Sequence[float]],
    *,
    seeds: Sequence[int],
    config: Any,
    wall_seconds: Any,
    metric: str,
    higher_is_better: bool = True,
    baseline: str | None = None,
    published: Mapping[str, float | None] | None = None,
    labels: Mapping[str, str] | None = None,
    source: str = "",
    notes: str = "",
    command: str = "",
    digits: int = 3,
    extra: Any = None,
    root: str | os.PathLike | None = None,
) -> Path:
    """Writes one results artefact, ``<root>/<experiment>/results/<name>.json``.

    Args:
      experiment: the experiment's folder name under ``experiments/``.
      name: the artefact's name (file stem; the README marker ``<!-- results:name -->``).
      values: per-seed values per method, ``{method: [v_seed0, v_seed1, ...]}``, each aligned
        with ``seeds`` (same length).
      seeds: the seeds, in the order of every ``values`` list.
      config: the resolved config (a ``ConfigDict`` or any JSON-able mapping).
      wall_seconds: wall time: a total, a per-seed list, or a mapping (e.g. per method).
      metric: what the values measure (shown in the table header).
      higher_is_better: orientation of the metric (False for errors, losses).
      baseline: the key of ``values`` that gains are paired against, or None (no gains).
      published: the published value per method (None or missing: not published).
      labels: display names per method (default: the keys).
      source: where the published numbers come from.
      notes: free text shown under the table.
      command: the command that regenerates this file (documented in the README too).
      digits: decimals shown in the table.
      extra: any other JSON-able data (e.g. secondary per-seed metrics); not tabulated.
      root: the experiments folder (default: this repository's ``experiments/``).

    Returns:
      The path written.

    Example:
      >>> import tempfile
      >>> p = write_results("demo", "acc", {"base": [0.8, 0.7], "ours": [0.9, 0.8]},
      ...                   seeds=[0, 1], config={"lr": 0.1}, wall_seconds=[1.0, 1.1],
      ...                   metric="accuracy", baseline="base", root=tempfile.mkdtemp())
      >>> read_results("demo", "acc", root=p.parents[2])["values"]["ours"]
      [0.9, 0.8]
    """
    path = _path(experiment, name, root)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be non-empty and distinct; got {seeds}")
    if not values:
        raise ValueError("values must hold at least one method")
    clean: dict[str, list[float]] = {}
    for method, v in values.items():
        v = [float(x) for x in _jsonable(v)]
        if len(v) != len(seeds):
            raise ValueError(
                f"values[{method!r}] has {len(v)} entries but seeds has "
                f"{len(seeds)}; each method needs one value per seed"
            )
        clean[str(method)] = v
    if baseline is not None and baseline not in clean:
        raise ValueError(f"baseline {baseline!r} is not a key of values {sorted(clean)}")
    unknown = set(published or {}) - set(clean)
    if unknown:
        raise ValueError(
            f"published has methods {sorted(unknown)} that are not in values {sorted(clean)}"
        )
    record = {
        "schema": SCHEMA,
        "experiment": experiment,
        "name": name,
        "metric": metric,
        "higher_is_better": bool(higher_is_better),
        "baseline": baseline,
        "seeds": seeds,
        "values": clean,
        "labels": {k: str(v) for k, v in (labels or {}).items()},
        "published": {k: (None if v is None else float(v)) for k, v in (published or {}).items()},
        "source": source,
        "notes": notes,
        "digits": int(digits),
        "extra": _jsonable(extra),
        "config": _jsonable(config),
        "command": command,
        "argv": list(sys.argv),
        "wall_seconds": _jsonable(wall_seconds),
        "git": git_state(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def reproduce_command(experiment: str, suite: str, seeds: Sequence[int] | None = None) -> str:
    """The command that regenerates an experiment's artefacts through the reproduce runner.

    Example:
      >>> reproduce_command("two_moons", "full", [0, 1]).split(" && ")
      ['python -m experiments.reproduce --suite full --only two_moons --seeds 0,1 \
--save_results', 'python -m experiments.reproduce tables']
    """
    s = f" --seeds {','.join(map(str, seeds))}" if seeds else ""
    return (
        f"python -m experiments.reproduce --suite {suite} --only {experiment}{s} "
        "--save_results && python -m experiments.reproduce tables"
    )


def read_results(
    experiment: str, name: str, *, root: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Reads an artefact written by :func:`write_results` (checks its schema)."""
    path = _path(experiment, name, root)
    if not path.exists():
        raise FileNotFoundError(f"no results artefact {path}")
    record = json.loads(path.read_text())
    if record.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {record.get('schema')!r}, expected {SCHEMA}")
    return record


def list_results(experiment: str, *, root: str | os.PathLike | None = None) -> list[str]:
    """Names of the artefacts of one experiment, sorted."""
    folder = Path(EXPERIMENTS_ROOT if root is None else root) / experiment / "results"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def effect_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per method other than the baseline (all methods when there is no baseline).

    Each row: ``method`` (display name), ``paper_baseline``, ``paper_method``,
    ``ours_baseline`` / ``ours_method`` (``(mean, std)`` with ddof = 1), ``published_gain``,
    ``effect`` (:class:`stats.Effect` or None), ``n``, ``verdict`` (None without baseline).
    """
    values, published = record["values"], record.get("published", {})
    labels, base = record.get("labels", {}), record.get("baseline")
    hib = record.get("higher_is_better", True)
    rows = []
    for method, v in values.items():
        if method == base:
            continue
        row = {
            "key": method,
            "method": labels.get(method, method),
            "n": len(v),
            "paper_baseline": published.get(base) if base else None,
            "paper_method": published.get(method),
            "ours_baseline": None,
            "ours_method": stats.mean_std(v),
            "published_gain": None,
            "effect": None,
            "verdict": None,
        }
        if base is not None:
            row["ours_baseline"] = stats.mean_std(values[base])
            row["published_gain"] = stats.published_gain(
                published.get(method), published.get(base), higher_is_better=hib
            )
            row["effect"] = stats.paired_gain(v, values[base], higher_is_better=hib)
            row["verdict"] = stats.verdict(row["effect"], row["published_gain"])
        rows.append(row)
    return rows


def _num(x: float | None, digits: int, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    x = 0.0 if abs(x) < 1e-12 else x  # no "-0.000" from rounding noise; a real sign stays
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _ms(ms: tuple[float, float] | None, digits: int) -> str:
    if ms is None:
        return "–"
    mean, std = ms
    return _num(mean, digits) + ("" if math.isnan(std) else f" ± {_num(std, digits)}")


def _seeds(seeds: Sequence[int]) -> str:
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _wall(w: Any) -> str:
    def total(x):
        if isinstance(x, Mapping):
            return sum(total(v) for v in x.values())
        if isinstance(x, list):
            return sum(total(v) for v in x)
        return float(x) if isinstance(x, (int, float)) else 0.0

    return f"{total(w):.0f} s"


_COLUMNS = (
    "paper's baseline",
    "paper's method",
    "our baseline",
    "our method",
    "published gain",
    "our paired gain [95% CI]",
    "n seeds",
    "verdict",
)


def _cells(r: Mapping[str, Any], d: int) -> list[str]:
    e = r["effect"]
    if e is None:
        gain = "–"
    elif math.isnan(e.low):
        gain = _num(e.mean, d, signed=True)
    else:
        gain = f"{_num(e.mean, d, True)} [{_num(e.low, d, True)}, {_num(e.high, d, True)}]"
    return [
        r["method"],
        _num(r["paper_baseline"], d),
        _num(r["paper_method"], d),
        _ms(r["ours_baseline"], d),
        _ms(r["ours_method"], d),
        _num(r["published_gain"], d, True),
        gain,
        str(r["n"]),
        r["verdict"] or "–",
    ]


def render_effects(records: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown table over several artefacts (the reproduce report's effects table):
    experiment, artefact, metric, then the columns of :func:`render_table`."""
    lines = [
        "| experiment | result | metric | method | " + " | ".join(_COLUMNS) + " |",
        "|---" * (4 + len(_COLUMNS)) + "|",
    ]
    for rec in records:
        d = int(rec.get("digits", 3))
        metric = rec["metric"] + ("" if rec.get("higher_is_better", True) else " (lower better)")
        for r in effect_rows(rec):
            lines.append(
                f"| {rec['experiment']} | {rec['name']} | {metric} | "
                + " | ".join(_cells(r, d))
                + " |"
            )
    return "\n".join(lines)


def render_table(record: Mapping[str, Any]) -> str:
    """The Markdown block for one artefact: header line, effect table, notes, provenance.

    Columns: method, paper's baseline, paper's method, our baseline, our method (mean ± std,
    ddof = 1), published gain, our paired gain [95% CI], n seeds, verdict (:mod:`stats`).
    """
    d = int(record.get("digits", 3))
    base = record.get("baseline")
    labels = record.get("labels", {})
    orient = "higher is better" if record.get("higher_is_better", True) else "lower is better"
    head = f"*{record['metric']}* ({orient}"
    head += f"; baseline: {labels.get(base, base)})" if base else ")"
    head += f", seeds {_seeds(record['seeds'])}."
    lines = [head, "", "| method | " + " | ".join(_COLUMNS) + " |", "|---" * 9 + "|"]
    lines += ["| " + " | ".join(_cells(r, d)) + " |" for r in effect_rows(record)]
    lines.append("")
    if record.get("source"):
        lines.append(f"Published: {record['source']}.")
    if record.get("notes"):
        lines.append(record["notes"])
        if record["notes"].rstrip().endswith("|"):  # a table in the notes: end it
            lines.append("")
    git, m = record.get("git", {}), record.get("machine", {})
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty tree)" if git.get("dirty") else "")
    lines.append(
        f"Artefact `results/{record['name']}.json`: commit {commit}, {record['date'][:10]}, "
        f"{m.get('machine', '?')} {m.get('cpu_count', '?')} CPUs, jax {m.get('jax', '?')}, "
        f"wall {_wall(record.get('wall_seconds'))}"
        + (f"; regenerate: `{record['command']}`" if record.get("command") else "")
        + "."
    )
    return "\n".join(lines)


def render_readme(text: str, experiment: str, *, root: str | os.PathLike | None = None) -> str:
    """Returns ``text`` with every ``<!-- results:NAME -->`` block regenerated from its artefact."""

    def block(m: re.Match) -> str:
        table = render_table(read_results(experiment, m.group(2), root=root))
        return f"{m.group(1)}\n{table}\n{m.group(4)}"

    return _BLOCK.sub(block, text)


def update_tables(*, check: bool = False, root: str | os.PathLike | None = None) -> list[Path]:
    """Regenerates the results blocks of every ``<root>/*/README.md``.

    Args:
      check: only compare; write nothing.
      root: the experiments folder (default: this repository's ``experiments/``).

    Returns:
      The READMEs that differed from their artefacts (rewritten unless ``check``), the
      repository README's ``<!-- bench:NAME -->`` blocks included
      (:mod:`experiments.reproduce.bench_tables`, from ``<root>/benchmarks/results/``).
    """
    root_path = Path(EXPERIMENTS_ROOT if root is None else root)
    changed = []
    for readme in sorted(root_path.glob("*/README.md")):
        text = readme.read_text()
        new = render_readme(text, readme.parent.name, root=root_path)
        if new != text:
            changed.append(readme)
            if not check:
                readme.write_text(new)
    # the repository README's benchmark blocks, from <root>/benchmarks/results/*.jsonl
    from experiments.reproduce import bench_tables

    top = root_path.parent / "README.md"
    if top.exists() and bench_tables.update_readme(
        top, root_path / "benchmarks" / "results", check=check
    ):
        changed.append(top)
    return changed
