"""lopt: every bad input in one table (#17 items 6-8)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import lopt
from tests.bad_inputs import Case, check_case, ids

X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
Y = np.arange(8) % 2
P = {"a": jnp.ones(3), "b": jnp.ones(2)}
RENAMED = {"a": jnp.ones(3), "c": jnp.ones(2)}

_OPTS = {}


def _opt(name):
    if name not in _OPTS:
        lo = {
            "mlp": lopt.mlp_optimizer,
            "lstm": lopt.lstm_optimizer,
            "hyper": lambda: lopt.learned_hyperparams(horizon=10),
        }[name]()
        _OPTS[name] = lo, lo.optimizer(lo.init(jax.random.key(0)))
    return _OPTS[name]


def _update(name, updates, params):
    opt = _opt(name)[1]
    return opt.update(updates, opt.init(P), params)


CASES = [
    # mlp_task: labels and inputs
    Case(
        "mlp_task: float labels (not truncated)",
        lambda: lopt.mlp_task(X, Y + 0.5),
        (),
        "y must hold integer class ids",
        "static",
    ),
    Case(
        "mlp_task: label >= num_classes",
        lambda: lopt.mlp_task(X, Y, num_classes=1),
        (),
        "y has class id 1 >= num_classes=1",
        "static",
    ),
    Case(
        "mlp_task: negative label",
        lambda: lopt.mlp_task(X, Y - 1),
        (),
        "y must be non-neg",
        "static",
    ),
    Case(
        "mlp_task: NaN inputs",
        lambda: lopt.mlp_task(np.where(X > 1, np.nan, X), Y),
        (),
        "x contains NaN",
        "static",
    ),
    Case("mlp_task: y of another length", lambda: lopt.mlp_task(X, Y[:5]), (), "y", "static"),
    Case(
        "mlp_task: unknown activation",
        lambda: lopt.mlp_task(X, Y, activation="gelu2"),
        (),
        "activation",
        "static",
    ),
    Case(
        "mlp_task: batch_size 0",
        lambda: lopt.mlp_task(X, Y, batch_size=0),
        (),
        "batch_size",
        "static",
    ),
    # a learned optimizer's update with differently named keys / another size
    Case(
        "mlp_optimizer.update: params keys differ from updates'",
        lambda: _update("mlp", RENAMED, P),
        (),
        "mlp_optimizer: params has tree structure",
        "static",
    ),
    Case(
        "mlp_optimizer.update: updates of another size than the state",
        lambda: _update("mlp", {"a": jnp.ones(4)}, {"a": jnp.ones(4)}),
        (),
        "mlp_optimizer: updates have 4 coordinates",
        "static",
    ),
    Case(
        "mlp_optimizer.update: no params", lambda: _update("mlp", P, None), (), "params", "static"
    ),
    Case(
        "lstm_optimizer.update: params keys differ from updates'",
        lambda: _update("lstm", RENAMED, P),
        (),
        "lstm_optimizer: params has tree structure",
        "static",
    ),
    Case(
        "lstm_optimizer.update: updates of another size than the state",
        lambda: _update("lstm", {"a": jnp.ones(1)}, None),
        (),
        "lstm_optimizer: updates have 1 coordinates",
        "static",
    ),
    Case(
        "learned_hyperparams.update: renamed keys",
        lambda: _update("hyper", RENAMED, None),
        (),
        "learned_hyperparams: updates",
        "static",
    ),
    # theta and hyperparameters
    Case(
        "mlp_optimizer: theta of another structure",
        lambda: _opt("mlp")[0].optimizer({"layers": []}),
        (),
        "theta",
        "static",
    ),
    Case("mlp_optimizer: hidden 0", lambda: lopt.mlp_optimizer(hidden=0), (), "hidden", "static"),
    Case(
        "mlp_optimizer: decay 1", lambda: lopt.mlp_optimizer(decays=(1.0,)), (), "decays", "static"
    ),
    Case(
        "lstm_optimizer: num_layers 0",
        lambda: lopt.lstm_optimizer(num_layers=0),
        (),
        "num_layers",
        "static",
    ),
    Case(
        "learned_hyperparams: init_lr -1",
        lambda: lopt.learned_hyperparams(horizon=10, init_lr=-1.0),
        (),
        "init_lr",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)
