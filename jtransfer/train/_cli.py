"""The command line shared by every experiment's ``main.py`` (the flax-examples skeleton)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence


def experiment_main(name: str, train_and_evaluate: Callable[..., Mapping[str, float]]) -> None:
    """Runs ``train_and_evaluate(config, workdir)`` from absl flags and prints its metrics.

    Flags: ``--workdir`` (default ``runs/<name>``), ``--config`` (an ml_collections config
    file, default ``experiments/<name>/configs/default.py``; override fields with
    ``--config.field=value``) and ``--overwrite`` (start over: :func:`clear_run` deletes the
    workdir's config record, checkpoints and metric files first). Without ``--overwrite`` a
    workdir that holds a run resumes it, and one that holds a run with another config is
    refused (see :class:`Run`). Orbax's per-save INFO logging is silenced.
    """
    _check_config_file(sys.argv[1:])  # one line instead of ml_collections' traceback
    from absl import app, flags, logging
    from ml_collections import config_flags

    workdir = flags.DEFINE_string("workdir", f"runs/{name}", "Where to write outputs.")
    config = config_flags.DEFINE_config_file(
        "config", f"experiments/{name}/configs/default.py", "Training configuration."
    )
    overwrite = flags.DEFINE_bool(
        "overwrite",
        False,
        "Delete the workdir's config record, checkpoints and metrics "
        "first, so the run starts over instead of resuming (or refusing another config).",
    )

    def main(argv):
        del argv
        logging.set_verbosity(logging.WARNING)
        if overwrite.value:
            from jtransfer.train._loop import clear_run

            removed = clear_run(workdir.value)
            print(
                f"{name}: --overwrite: removed {len(removed)} run files and folders under "
                f"{workdir.value}",
                file=sys.stderr,
                flush=True,
            )
        metrics = train_and_evaluate(config.value, workdir.value)
        for k, v in sorted(metrics.items()):
            print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")

    app.run(main)


def _check_config_file(argv: Sequence[str]) -> None:
    """Exits with one line when ``--config`` names a file that does not exist.

    (Without it, ml_collections reports the missing file in a long traceback when the flag is
    first read.) ``--config path.py:arg`` keeps its ``:arg`` suffix out of the check.
    """
    path = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--config="):
            path = arg[len("--config=") :]
    if path is None:
        return
    if not os.path.isfile(path) and ":" in path:
        path = path.split(":", 1)[0]
    if not os.path.isfile(path):
        raise SystemExit(
            f"error: --config file {path!r} does not exist (relative to "
            f"{os.getcwd()!r}); pass an experiments/<name>/configs/*.py file"
        )
