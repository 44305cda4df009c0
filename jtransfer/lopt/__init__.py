"""jtransfer.lopt: learned optimizers as optax transforms, and their meta-training.

A learned optimizer has ``init(key) -> theta`` and ``optimizer(theta)`` returning an
``optax.GradientTransformationExtraArgs``. Meta-training is pure functions: the unrolled
``meta_loss`` and the meta-gradient estimators ``tbptt``, ``es`` and ``pes`` over a
``task_family(key) -> Task``. An estimator is a :class:`MetaGradientEstimator` pair
``init(theta, *, key=None) -> state`` and ``update(theta, state, *, key) -> (meta_loss,
meta_grad, state)``.
"""

from jtransfer.lopt._base import LearnedOptimizer
from jtransfer.lopt._es import PESState, es, pes
from jtransfer.lopt._estimator import MetaGradientEstimator
from jtransfer.lopt._hyper import LearnedHyperparamsState, learned_hyperparams
from jtransfer.lopt._io import load_optimizer, load_theta, save_theta
from jtransfer.lopt._lstm import LSTMOptimizerState, lstm_optimizer, preprocess_gradient
from jtransfer.lopt._mlp import MLPOptimizerState, mlp_optimizer
from jtransfer.lopt._tasks import (
    MLPTask,
    QuadraticTask,
    Task,
    digits_mlp_task,
    mlp_task,
    quadratic_task,
    quadratic_tasks,
    sample_batch,
)
from jtransfer.lopt._tbptt import TBPTTState, tbptt
from jtransfer.lopt._unroll import UnrollState, meta_loss, unroll_losses

__all__ = [
    "LSTMOptimizerState",
    "LearnedHyperparamsState",
    "LearnedOptimizer",
    "MLPOptimizerState",
    "MLPTask",
    "MetaGradientEstimator",
    "PESState",
    "QuadraticTask",
    "TBPTTState",
    "Task",
    "UnrollState",
    "digits_mlp_task",
    "es",
    "learned_hyperparams",
    "load_optimizer",
    "load_theta",
    "lstm_optimizer",
    "meta_loss",
    "mlp_optimizer",
    "mlp_task",
    "pes",
    "preprocess_gradient",
    "quadratic_task",
    "quadratic_tasks",
    "sample_batch",
    "save_theta",
    "tbptt",
    "unroll_losses",
]
