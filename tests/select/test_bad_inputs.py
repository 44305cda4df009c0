"""select: every bad input in one table (#17 items 6-8)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jtransfer import select
from tests.bad_inputs import Case, check_case, ids

F = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)), jnp.float32)
Y = jnp.array([0, 1, 0, 1, 0, 1])
PROBS = jnp.full((6, 2), 0.5)
NAN = F.at[0, 0].set(jnp.nan)

CASES = [
    # value checks
    Case(
        "prediction_entropy: negative entries (logits)",
        select.prediction_entropy,
        (jnp.array([[2.0, -1.0], [0.5, 0.5]]),),
        "probs",
    ),
    Case(
        "prediction_entropy: rows not summing to 1",
        select.prediction_entropy,
        (jnp.array([[0.9, 0.9], [0.5, 0.5]]),),
        "probs",
    ),
    Case(
        "prediction_entropy: NaN",
        select.prediction_entropy,
        (jnp.array([[np.nan, 0.5], [0.5, 0.5]]),),
        "probs",
    ),
    Case(
        "leep: source_probs not probabilities",
        lambda p: select.leep(p, Y, num_classes=2),
        (PROBS * 3.0,),
        "source_probs",
    ),
    Case(
        "leep: target label >= num_classes",
        lambda y: select.leep(PROBS, y, num_classes=2),
        (jnp.array([0, 1, 2, 0, 1, 0]),),
        "target_labels",
    ),
    Case(
        "leep: negative target label",
        lambda y: select.leep(PROBS, y, num_classes=2),
        (jnp.array([0, 1, -1, 0, 1, 0]),),
        "target_labels",
    ),
    # eager only: checkify cannot trace logme's vmapped while loop (checkify-of-vmap-of-while)
    Case(
        "logme: NaN features",
        lambda f: select.logme(f, Y, num_classes=2),
        (NAN,),
        "features",
        "static",
    ),
    Case("hscore: NaN features", lambda f: select.hscore(f, Y, num_classes=2), (NAN,), "features"),
    Case(
        "transrate: eps -1 (static)",
        lambda: select.transrate(F, Y, eps=-1.0, num_classes=2),
        (),
        "eps",
        "static",
    ),
    Case("snd: temperature -1", lambda t: select.snd(PROBS, temperature=t), (-1.0,), "temperature"),
    Case(
        "mmd_distance: NaN source",
        lambda x: select.mmd_distance(x, F, bandwidth=1.0),
        (NAN,),
        "source",
    ),
    Case(
        "mmd_distance: bandwidth -1",
        lambda s: select.mmd_distance(F, F, bandwidth=s),
        (-1.0,),
        "bandwidth",
    ),
    Case(
        "iwv_risk: negative weight",
        lambda w: select.iwv_risk(jnp.ones(3), w),
        (jnp.array([1.0, -1.0, 1.0]),),
        "weights",
    ),
    Case(
        "iwv_risk: NaN loss",
        lambda v: select.iwv_risk(v, jnp.ones(3)),
        (jnp.array([1.0, np.nan, 1.0]),),
        "losses",
    ),
    # shapes
    Case(
        "logme: labels of another length",
        lambda y: select.logme(F, y),
        (jnp.zeros(5, int),),
        "labels",
        "shape",
    ),
    Case(
        "leep: rank-1 source_probs",
        lambda p: select.leep(p, Y, num_classes=2),
        (jnp.ones(6) / 2,),
        "source_probs",
        "shape",
    ),
    Case(
        "prediction_entropy: rank-1",
        select.prediction_entropy,
        (jnp.ones(3) / 3,),
        "probs",
        "shape",
    ),
    Case(
        "mmd_distance: feature dimensions differ",
        lambda y: select.mmd_distance(F, y, bandwidth=1.0),
        (jnp.ones((6, 2)),),
        "source and target",
        "shape",
    ),
    Case(
        "iw_accuracy: shapes differ",
        lambda w: select.iw_accuracy(Y, Y, w),
        (jnp.ones(5),),
        "predictions, labels and weights",
        "shape",
    ),
    Case(
        "iw_accuracy: empty",
        lambda p: select.iw_accuracy(p, p, jnp.ones(0)),
        (jnp.zeros(0, int),),
        "predictions",
        "shape",
    ),
    Case(
        "iwv_risk: one loss",
        lambda v: select.iwv_risk(v, jnp.ones(1)),
        (jnp.ones(1),),
        "losses",
        "shape",
    ),
    # static
    Case("logme: float labels", lambda: select.logme(F, Y + 0.5), (), "labels", "static"),
    Case("logme: one class", lambda: select.logme(F, jnp.zeros(6, int)), (), "labels", "static"),
    Case(
        "nce: traced labels need num_classes (static check of labels)",
        lambda: select.nce(jnp.zeros((6, 1), int), Y),
        (),
        "source_labels",
        "static",
    ),
    Case(
        "proxy_a_distance: train_fraction 1.5",
        lambda: select.proxy_a_distance(F, F, train_fraction=1.5),
        (),
        "train_fraction",
        "static",
    ),
    Case(
        "negative_transfer_report: confidence 1",
        lambda: select.negative_transfer_report(jnp.ones(4), jnp.ones(4), confidence=1.0),
        (),
        "confidence",
        "static",
    ),
    Case(
        "negative_transfer_report: method 'exact'",
        lambda: select.negative_transfer_report(jnp.ones(4), jnp.ones(4), method="exact"),
        (),
        "method",
        "static",
    ),
    Case(
        "negative_transfer_report: margin -1",
        lambda: select.negative_transfer_report(jnp.ones(4), jnp.ones(4), margin=-1.0),
        (),
        "margin",
        "static",
    ),
    # folded from the old list in tests/select/test_select.py (eager: concrete labels decide
    # the class count, so these calls are not traced)
    Case(
        "hscore: label count differs",
        lambda: select.hscore(F, jnp.arange(7) % 2),
        (),
        "label count",
        "static",
    ),
    Case(
        "hscore: one class",
        lambda: select.hscore(F, jnp.ones(6, int)),
        (),
        "at least 2 classes",
        "static",
    ),
    Case(
        "transrate: label count differs",
        lambda: select.transrate(F, jnp.arange(8) % 2),
        (),
        "label count",
        "static",
    ),
    Case(
        "leep: label count differs",
        lambda: select.leep(PROBS, jnp.arange(4) % 2),
        (),
        "label count",
        "static",
    ),
    Case(
        "leep: one class",
        lambda: select.leep(PROBS, jnp.zeros(6, int)),
        (),
        "at least 2 classes",
        "static",
    ),
    Case(
        "leep: rows not summing to 1",
        lambda: select.leep(jnp.full((6, 2), 0.7), Y),
        (),
        "summing to 1",
        "static",
    ),
    Case(
        "nce: label count differs",
        lambda: select.nce(jnp.arange(6) % 3, jnp.arange(5) % 2),
        (),
        "label count",
        "static",
    ),
    Case(
        "nce: one target class",
        lambda: select.nce(jnp.arange(6) % 3, jnp.zeros(6, int)),
        (),
        "at least 2 classes",
        "static",
    ),
    Case(
        "logme: rank-1 features",
        lambda: select.logme(jnp.ones(6), Y),
        (),
        "shape",
        "static",
    ),
    Case(
        "proxy_a_distance: feature dimensions differ",
        lambda: select.proxy_a_distance(F, jnp.ones((6, 4))),
        (),
        "feature dimension",
        "static",
    ),
    Case(
        "iwv_risk: weights of another length",
        lambda: select.iwv_risk(jnp.ones(5), jnp.ones(4)),
        (),
        "weights",
        "static",
    ),
    Case(
        "dev_risk: negative weights",
        lambda: select.dev_risk(jnp.ones(5), -jnp.ones(5)),
        (),
        "non-negative",
        "static",
    ),
    Case(
        "negative_transfer_report: baseline of another length",
        lambda: select.negative_transfer_report(jnp.ones(5), jnp.ones(6)),
        (),
        "baseline",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)
