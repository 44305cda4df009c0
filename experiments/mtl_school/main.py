"""Runs the School experiment: ``python -m experiments.mtl_school.main --workdir DIR``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.mtl_school import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/mtl_school", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/mtl_school/configs/default.py", "Training configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    for k, v in sorted(metrics.items()):
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    app.run(main)
