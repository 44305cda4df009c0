"""Experiment-config checks and the data-folder resolver, written once for every experiment."""

from __future__ import annotations

import json
import math
import os
import pathlib
import warnings
from collections.abc import Collection, Iterable, Mapping
from typing import Any

# Config fields that were renamed: a config still using the old name is rejected.
RENAMED_FIELDS = {"data_dir": "manual_dir"}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bad(name: str, what: str, v) -> ValueError:
    return ValueError(f"config.{name} must be {what}, got {v!r}")


def validate_config(
    config: Mapping[str, Any],
    *,
    positive_ints: Iterable[str] = (),
    min_ints: Mapping[str, int] | None = None,
    positive: Iterable[str] = (),
    nonnegative: Iterable[str] = (),
    choices: Mapping[str, Collection] | None = None,
    subsets: Mapping[str, Collection] | None = None,
    intervals: Mapping[str, tuple[float, float, str]] | None = None,
    mesh_shape: bool = True,
) -> None:
    """Checks an experiment config's fields; raises ``ValueError`` naming the first bad one.

    Call it first in ``train_and_evaluate``, before anything is written.

    Args:
      config: an ``ml_collections.ConfigDict`` (or any mapping).
      positive_ints: fields that must be ints >= 1 (bools are not ints here).
      min_ints: ``{field: m}``: ints >= m.
      positive: numbers > 0 (NaN fails).
      nonnegative: numbers >= 0 (NaN fails).
      choices: ``{field: allowed}``: the value is one of ``allowed``.
      subsets: ``{field: allowed}``: every entry of the (sequence) value is in ``allowed``.
      intervals: ``{field: (lo, hi, kind)}`` with kind ``"()"``, ``"[)"``, ``"(]"`` or
        ``"[]"``: the value lies in that interval.
      mesh_shape: also check ``config.mesh_shape`` (default ``(1,)``) with
        :func:`jtransfer.parallel.check_mesh_shape`.

    Raises:
      ValueError: ``config.<field> must be ..., got ...``; also for a field in
        ``RENAMED_FIELDS`` (``data_dir``: use ``manual_dir``).

    Example:
      >>> import ml_collections
      >>> c = ml_collections.ConfigDict({"num_steps": 0, "method": "dann"})
      >>> validate_config(c, positive_ints=("num_steps",))
      Traceback (most recent call last):
      ...
      ValueError: config.num_steps must be a positive int, got 0
    """
    for old, new in RENAMED_FIELDS.items():
        if old in config:
            raise ValueError(
                f"config.{old} was renamed config.{new}; set config.{new} "
                f"(the manual-download folder) instead"
            )
    for name in positive_ints:
        v = config[name]
        if not _is_int(v) or v < 1:
            raise _bad(name, "a positive int", v)
    for name, m in (min_ints or {}).items():
        v = config[name]
        if not _is_int(v) or v < m:
            raise _bad(name, f"an int >= {m}", v)
    for name in positive:
        v = config[name]
        if not _number(v) or not v > 0:
            raise _bad(name, "> 0", v)
    for name in nonnegative:
        v = config[name]
        if not _number(v) or not v >= 0:
            raise _bad(name, ">= 0", v)
    for name, allowed in (choices or {}).items():
        v = config[name]
        if v not in tuple(allowed):
            raise _bad(name, f"one of {tuple(allowed)}", v)
    for name, allowed in (subsets or {}).items():
        v = config[name]
        unknown = sorted({str(x) for x in v} - {str(a) for a in allowed})
        if isinstance(v, str) or unknown:
            raise ValueError(
                f"config.{name} has unknown entries {unknown or [v]}; choose from {tuple(allowed)}"
            )
    for name, (lo, hi, kind) in (intervals or {}).items():
        v = config[name]
        if kind not in ("()", "[)", "(]", "[]"):
            raise ValueError(
                f"intervals[{name!r}] kind must be '()', '[)', '(]' or '[]', got {kind!r}"
            )
        ok = (
            _number(v)
            and (v >= lo if kind[0] == "[" else v > lo)
            and (v <= hi if kind[1] == "]" else v < hi)
        )
        if not ok:
            raise _bad(name, f"in {kind[0]}{lo}, {hi}{kind[1]}", v)
    if mesh_shape:
        from jtransfer.parallel import check_mesh_shape

        check_mesh_shape(config)


def _number(v) -> bool:
    try:
        return not isinstance(v, bool) and not math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def manual_dir(
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    subdir: str | None = None,
    *,
    must_exist: bool = True,
) -> pathlib.Path:
    """The manual-download folder (or its ``subdir``) an experiment reads its files from.

    ``config.manual_dir`` (or a path given directly) when set, else
    :func:`jtransfer.data.default_manual_dir` (``$JTRANSFER_MANUAL_DIR``, else
    ``../shared/data`` next to the repository, else TFDS's manual folder).

    Args:
      config: a config with a ``manual_dir`` field ("" = default), a path, or ``None``.
      subdir: a benchmark's folder inside the manual-download folder.
      must_exist: raise ``FileNotFoundError`` (saying how to point to it) when the folder is
        missing.

    Returns:
      The folder as a ``pathlib.Path``.

    Example:
      >>> manual_dir("/data/benchmarks", "omniglot", must_exist=False).as_posix()
      '/data/benchmarks/omniglot'
    """
    from jtransfer.data import default_manual_dir

    if isinstance(config, (str, os.PathLike)) or config is None:
        configured = config or None
    else:
        for old, new in RENAMED_FIELDS.items():
            if old in config:
                raise ValueError(f"config.{old} was renamed config.{new}; set config.{new} instead")
        configured = config.get("manual_dir") or None
    root = default_manual_dir(configured)
    path = root / subdir if subdir else root
    if must_exist and not path.is_dir():
        raise FileNotFoundError(
            f"benchmark folder {path} not found; set config.manual_dir or "
            "$JTRANSFER_MANUAL_DIR to the manual-download folder"
        )
    return path


# ---------------------------------------------------------------------------------------------
# the resolved config of a run, recorded in its workdir and compared on resume

CONFIG_FILE = "config.json"
_ABSENT = object()


def config_to_json(config: Mapping[str, Any]) -> dict:
    """A config (``ml_collections.ConfigDict`` or mapping) as a JSON-able nested dict.

    Field references are resolved, tuples become lists, and values JSON cannot hold are
    written as their ``repr``.
    """
    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return json.loads(json.dumps(d, default=repr, sort_keys=True))


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _same(a, b) -> bool:
    return a is not _ABSENT and b is not _ABSENT and (a == b or json.dumps(a) == json.dumps(b))


def _show(v) -> str:
    if v is _ABSENT:
        return "<absent>"
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


def record_config(
    workdir: str | os.PathLike, config: Mapping[str, Any], *, exempt: Iterable[str] = ()
) -> dict:
    """Compares ``config`` with the one recorded in ``<workdir>/config.json``, then records it.

    The record is ``{"jtransfer_version": ..., "config": config_to_json(config)}``. When the
    workdir already holds one, every field (nested fields as ``a.b``) must be equal, except the
    fields named in ``exempt`` (and the fields under them): a field that does not change the
    run's numbers, like ``plot``. The jtransfer version is recorded, not compared.

    Raises:
      ValueError: before anything is written, naming the differing fields
        (``field: old -> new``, five at most) and how to start over.
    """
    workdir = os.path.abspath(os.fspath(workdir))
    exempt = tuple(exempt)
    new = config_to_json(config)
    path = os.path.join(workdir, CONFIG_FILE)
    hint = (
        "rerun with --overwrite to start over (train.clear_run(workdir) from Python), or use "
        "a new --workdir"
    )
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)["config"]
            old_flat = _flatten(old)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path} cannot be read ({type(err).__name__}: {err}); {hint}"
            ) from err
        new_flat = _flatten(new)
        diffs = [
            k
            for k in sorted(set(old_flat) | set(new_flat))
            if not _same(old_flat.get(k, _ABSENT), new_flat.get(k, _ABSENT))
            and not any(k == e or k.startswith(e + ".") for e in exempt)
        ]
        if diffs:
            shown = "; ".join(
                f"{k}: {_show(old_flat.get(k, _ABSENT))} -> {_show(new_flat.get(k, _ABSENT))}"
                for k in diffs[:5]
            )
            more = f"; ... ({len(diffs)} fields differ)" if len(diffs) > 5 else ""
            raise ValueError(
                f"{workdir} holds a run with a different config ({shown}{more}); "
                f"resuming would mix the two runs: {hint}"
            )
    elif any(os.path.exists(os.path.join(workdir, n)) for n in ("checkpoints", "metrics.jsonl")):
        warnings.warn(
            f"{workdir} holds a run without a recorded {CONFIG_FILE}: its config "
            "cannot be checked; recording this one",
            RuntimeWarning,
            stacklevel=3,
        )
    from jtransfer import __version__

    os.makedirs(workdir, exist_ok=True)
    record = {"jtransfer_version": __version__, "config": new}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return record
