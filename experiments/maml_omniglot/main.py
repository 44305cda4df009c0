"""Runs MAML / FOMAML / Reptile few-shot classification: ``python -m experiments.maml_omniglot.main``."""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.maml_omniglot import train

_WORKDIR = flags.DEFINE_string("workdir", "runs/maml_omniglot", "Where to write outputs.")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/maml_omniglot/configs/default.py", "Training configuration.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    for k, v in metrics.items():
        print(f"{k}: {v:.4f}")


if __name__ == "__main__":
    app.run(main)
