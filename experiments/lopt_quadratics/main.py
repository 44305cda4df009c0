"""Runs the quadratics experiment: ``python -m experiments.lopt_quadratics.main --workdir DIR``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.lopt_quadratics import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/lopt_quadratics", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/lopt_quadratics/configs/default.py", "Training configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    for k, v in train.train_and_evaluate(_CONFIG.value, _WORKDIR.value).items():
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    app.run(main)
