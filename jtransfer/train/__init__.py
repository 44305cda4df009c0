"""Training-loop plumbing shared by all experiments: checkpoints, metrics, progress, plots."""

from jtransfer.train._checkpoint import CheckpointCorruptError, CheckpointManager, tree_equal
from jtransfer.train._cli import experiment_main
from jtransfer.train._keys import keys
from jtransfer.train._metrics import MetricWriter, progress, read_metrics
from jtransfer.train._plots import plot_curves, save_figure

__all__ = ["CheckpointCorruptError", "CheckpointManager", "MetricWriter", "experiment_main",
           "keys", "plot_curves", "progress", "read_metrics", "save_figure", "tree_equal"]
