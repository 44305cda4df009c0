"""Runs the two-moons experiment: ``python -m experiments.amazon_reviews.main --workdir DIR``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.amazon_reviews import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/amazon_reviews", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/amazon_reviews/configs/default.py", "Training configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    for k, v in metrics.items():
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    app.run(main)
