"""The command line shared by every experiment's ``main.py`` (the flax-examples skeleton)."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def experiment_main(name: str, train_and_evaluate: Callable[..., Mapping[str, float]]) -> None:
    """Runs ``train_and_evaluate(config, workdir)`` from absl flags and prints its metrics.

    Flags: ``--workdir`` (default ``runs/<name>``) and ``--config`` (an ml_collections config
    file, default ``experiments/<name>/configs/default.py``; override fields with
    ``--config.field=value``). Orbax's per-save INFO logging is silenced.
    """
    from absl import app, flags, logging
    from ml_collections import config_flags

    workdir = flags.DEFINE_string("workdir", f"runs/{name}", "Where to write outputs.")
    config = config_flags.DEFINE_config_file(
        "config", f"experiments/{name}/configs/default.py", "Training configuration.")

    def main(argv):
        del argv
        logging.set_verbosity(logging.WARNING)
        metrics = train_and_evaluate(config.value, workdir.value)
        for k, v in sorted(metrics.items()):
            print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")

    app.run(main)
