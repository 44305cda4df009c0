"""Training-loop plumbing shared by all experiments: one loop, checkpoints, metrics, progress,
config checks, the data-folder resolver, plots."""

from jtransfer._core.extras import require_extra

require_extra(
    "train",
    "jtransfer.train",
    "orbax.checkpoint",
    "matplotlib",
    "tqdm",
    "tensorboardX",
    "ml_collections",
    "absl",
)

from jtransfer.train._checkpoint import CheckpointCorruptError, CheckpointManager, tree_equal
from jtransfer.train._cli import experiment_main
from jtransfer.train._config import RENAMED_FIELDS, manual_dir, validate_config
from jtransfer.train._keys import keys
from jtransfer.train._loop import LoopResult, Run, clear_run, fori_chunk, train_loop
from jtransfer.train._metrics import MetricWriter, progress, read_metrics
from jtransfer.train._plots import plot_curves, save_figure

__all__ = [
    "RENAMED_FIELDS",
    "CheckpointCorruptError",
    "CheckpointManager",
    "LoopResult",
    "MetricWriter",
    "Run",
    "clear_run",
    "experiment_main",
    "fori_chunk",
    "keys",
    "manual_dir",
    "plot_curves",
    "progress",
    "read_metrics",
    "save_figure",
    "train_loop",
    "tree_equal",
    "validate_config",
]
