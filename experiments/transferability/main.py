"""Runs a transferability study: ``python -m experiments.transferability.main --workdir DIR``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.transferability import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/transferability", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/transferability/configs/default.py", "Configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    for k, v in metrics.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    app.run(main)
