"""Runs the two-moons experiment: ``python -m experiments.office_caltech.main --workdir DIR``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.office_caltech import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/office_caltech", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/office_caltech/configs/default.py", "Training configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    for k, v in metrics.items():
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    app.run(main)
