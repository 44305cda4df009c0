"""adapters: every bad input in one table (#17 item 8)."""

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jtransfer import adapters
from jtransfer.adapters import LoraFactors, LoraParams
from tests.bad_inputs import Case, check_case, count, ids

D_IN, D_HID, D_OUT = 5, 7, 3
RNG = np.random.default_rng(0)


def _w(*shape):
    return jnp.asarray(RNG.standard_normal(shape), jnp.float32)


P = {
    "encoder": {
        "query": {"kernel": _w(D_IN, D_HID), "bias": _w(D_HID)},
        "value": {"kernel": _w(D_HID, D_OUT), "bias": _w(D_OUT)},
    }
}
L1 = adapters.lora_init(P, rank=1)
L2 = adapters.lora_init(P, rank=2, alpha=1.0)
STACKED = adapters.lora_init(P, rank=1, num_adapters=2)
INT_P = {"query": {"kernel": jnp.ones((4, 3), jnp.int32)}}
OTHER = {"x": {"query": {"kernel": jnp.zeros((5, 7))}}}


def _with_factor(lora, name, factors):
    """``lora`` with the factors of ``encoder/<name>/kernel`` replaced (bypassing lora_init)."""
    enc = {**lora.factors["encoder"], name: {"kernel": factors}}
    return LoraParams(factors={"encoder": enc}, alpha=lora.alpha)


# a: (d_in, 2) but b: (1, d_out): inconsistent rank inside one matrix
BAD_RANK = _with_factor(L1, "query", LoraFactors(jnp.ones((5, 2)), jnp.ones((1, 7))))
# query at rank 1, value at rank 2: one adapter, one scale alpha / r
MIXED_RANKS = _with_factor(L1, "value", LoraFactors(jnp.ones((7, 2)), jnp.ones((2, 3))))
# the value adapter's a is (d_in, r) for another d_in than the kernel's
WRONG_SHAPE = _with_factor(L1, "value", LoraFactors(jnp.ones((6, 1)), jnp.ones((1, 3))))
BF16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), L1)


class Out(NamedTuple):
    pooled: jax.Array


H, C, B = 4, 3, 5
BODY = {"layer": {"query": {"kernel": _w(H, H)}}}
CLF = adapters.lora_classifier(
    lambda p, b: Out(jnp.tanh(b @ p["layer"]["query"]["kernel"])), optax.sgd(0.1)
)
TR = {
    "lora": adapters.lora_init(BODY, rank=1, targets=["*query/kernel"]),
    "head": adapters.linear_head_init(H, C),
}
X = _w(B, H)
Y = jnp.array([0, 1, 2, 0, 1])


def _loss(labels=Y, weights=None):
    return CLF.loss(TR, BODY, X, labels, weights)


CASES = [
    # value checks: eager and under jit with debug checks
    Case(
        "lora_merge: scale NaN", lambda s: adapters.lora_merge(P, L1, scale=s), (np.nan,), "scale"
    ),
    Case("lora_delta: scale Inf", lambda s: adapters.lora_delta(L1, scale=s), (np.inf,), "scale"),
    Case(
        "lora_classifier.loss: negative weight",
        lambda w: _loss(weights=w),
        (jnp.array([1.0, -1.0, 1.0, 1.0, 1.0]),),
        "weights",
    ),
    Case(
        "lora_classifier.loss: zero weights",
        lambda w: _loss(weights=w),
        (jnp.zeros(B),),
        "weights",
    ),
    Case(
        "lora_classifier.loss: NaN weight",
        lambda w: _loss(weights=w),
        (jnp.array([1.0, np.nan, 1.0, 1.0, 1.0]),),
        "weights",
    ),
    Case(
        "lora_classifier.loss: label >= num_classes",
        lambda y: _loss(labels=y),
        (jnp.array([0, 1, 3, 0, 1]),),
        "labels",
    ),
    Case(
        "lora_classifier.loss: negative label",
        lambda y: _loss(labels=y),
        (jnp.array([0, -1, 2, 0, 1]),),
        "labels",
    ),
    # shapes: at trace time, eager and under a plain jit
    Case(
        "lora_merge: kernel shape differs from the factors",
        lambda k: adapters.lora_merge({"encoder": {**P["encoder"], "value": {"kernel": k}}}, L1),
        (jnp.ones((7, 4)),),
        "params leaf 'encoder/value/kernel' has shape",
        "shape",
    ),
    Case(
        "lora_merge: factors a (d_in, 2) and b (1, d_out)",
        lambda p: adapters.lora_merge(p, BAD_RANK),
        (P,),
        r"factors of 'encoder/query/kernel' have shapes a\(5, 2\), b\(1, 7\)",
        "shape",
    ),
    Case(
        "lora_merge: factors of different ranks in one adapter",
        lambda p: adapters.lora_merge(p, MIXED_RANKS),
        (P,),
        "lora has factors of different ranks",
        "shape",
    ),
    Case(
        "lora_merge: factors for another d_in",
        lambda p: adapters.lora_merge(p, WRONG_SHAPE),
        (P,),
        "params leaf 'encoder/value/kernel' has shape",
        "shape",
    ),
    Case(
        "lora_merge: a stacked adapter",
        lambda p: adapters.lora_merge(p, STACKED),
        (P,),
        "lora factors of .* stacked adapter",
        "shape",
    ),
    Case(
        "lora_merge: params without an adapted path",
        lambda p: adapters.lora_merge(p, L1),
        (OTHER,),
        "params does not have",
        "shape",
    ),
    Case(
        "lora_merge: scale a vector",
        lambda p: adapters.lora_merge(p, L1, scale=np.ones(2)),
        (P,),
        "scale must be a scalar",
        "shape",
    ),
    Case(
        "lora_merge: integer kernel (the update would be truncated)",
        lambda p: adapters.lora_merge(
            p, adapters.lora_init(INT_P, rank=1, targets=["*kernel"], dtype=jnp.float32)
        ),
        (INT_P,),
        "params leaf 'query/kernel' has dtype int32",
        "shape",
    ),
    Case(
        "lora_classifier.loss: labels of another length",
        lambda y: _loss(labels=y),
        (jnp.array([0, 1]),),
        "labels has shape",
        "shape",
    ),
    Case(
        "lora_classifier.loss: float labels",
        lambda y: _loss(labels=y),
        (jnp.array([0.0, 1.0, 2.0, 0.0, 1.5]),),
        "labels must hold integer class ids",
        "shape",
    ),
    Case(
        "lora_classifier.loss: weights of another length",
        lambda w: _loss(weights=w),
        (jnp.ones(B + 1),),
        "weights has shape",
        "shape",
    ),
    Case(
        "lora_classifier.logits: head width differs from pooled",
        lambda x: CLF.logits(BODY, {**TR, "head": adapters.linear_head_init(H + 1, C)}, x),
        (X,),
        "head kernel",
        "shape",
    ),
    Case(
        "lora_classifier: apply_fn without .pooled",
        lambda x: adapters.lora_classifier(lambda p, b: b, optax.sgd(0.1)).logits(BODY, TR, x),
        (X,),
        "apply_fn must return an object with .pooled",
        "shape",
    ),
    # static arguments: eager only
    Case("lora_init: rank 0", lambda: adapters.lora_init(P, rank=0), (), "rank", "static"),
    Case("lora_init: rank -1", lambda: adapters.lora_init(P, rank=-1), (), "rank", "static"),
    Case("lora_init: rank 1.5", lambda: adapters.lora_init(P, rank=1.5), (), "rank", "static"),
    Case("lora_init: rank True", lambda: adapters.lora_init(P, rank=True), (), "rank", "static"),
    Case(
        "lora_init: rank above min(d_in, d_out)",
        lambda: adapters.lora_init(P, rank=4),
        (),
        r"rank=4 exceeds min\(d_in, d_out\) = 3",
        "static",
    ),
    Case(
        "lora_init: alpha 0",
        lambda: adapters.lora_init(P, rank=1, alpha=0.0),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: alpha -1",
        lambda: adapters.lora_init(P, rank=1, alpha=-1.0),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: alpha NaN",
        lambda: adapters.lora_init(P, rank=1, alpha=np.nan),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: alpha Inf",
        lambda: adapters.lora_init(P, rank=1, alpha=np.inf),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: alpha a string",
        lambda: adapters.lora_init(P, rank=1, alpha="8"),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: alpha a vector",
        lambda: adapters.lora_init(P, rank=1, alpha=np.ones(2)),
        (),
        "alpha",
        "static",
    ),
    Case(
        "lora_init: num_adapters 0",
        lambda: adapters.lora_init(P, rank=1, num_adapters=0),
        (),
        "num_adapters",
        "static",
    ),
    Case(
        "lora_init: num_adapters 2.0",
        lambda: adapters.lora_init(P, rank=1, num_adapters=2.0),
        (),
        "num_adapters",
        "static",
    ),
    Case(
        "lora_init: pattern matching no leaf",
        lambda: adapters.lora_init(P, rank=1, targets=["*nothing*"]),
        (),
        r"targets pattern '\*nothing\*' matches no leaf",
        "static",
    ),
    Case(
        "lora_init: regex matching no leaf",
        lambda: adapters.lora_init(P, rank=1, targets=[re.compile("^query$")]),
        (),
        "targets pattern .* matches no leaf",
        "static",
    ),
    Case(
        "lora_init: pattern matching a 1-D bias",
        lambda: adapters.lora_init(P, rank=1, targets=["*bias"]),
        (),
        r"targets pattern '\*bias' matches 'encoder/query/bias' of shape \(7,\)",
        "static",
    ),
    Case(
        "lora_init: empty targets",
        lambda: adapters.lora_init(P, rank=1, targets=[]),
        (),
        "targets is empty",
        "static",
    ),
    Case(
        "lora_init: targets None",
        lambda: adapters.lora_init(P, rank=1, targets=None),
        (),
        "targets must be a sequence",
        "static",
    ),
    Case(
        "lora_init: an int among the targets",
        lambda: adapters.lora_init(P, rank=1, targets=["*query/kernel", 3]),
        (),
        "targets must hold glob strings",
        "static",
    ),
    Case(
        "lora_init: integer dtype",
        lambda: adapters.lora_init(P, rank=1, dtype=jnp.int32),
        (),
        "dtype must be a floating dtype",
        "static",
    ),
    Case(
        "lora_init: integer kernel",
        lambda: adapters.lora_init(INT_P, rank=1, targets=["*kernel"]),
        (),
        "params leaf 'query/kernel' has dtype int32",
        "static",
    ),
    Case(
        "lora_merge: not a LoraParams",
        lambda: adapters.lora_merge(P, {"encoder": {}}),
        (),
        "lora must be a LoraParams",
        "static",
    ),
    Case(
        "lora_merge: factors that are not LoraFactors",
        lambda: adapters.lora_merge(
            P, LoraParams(factors={"encoder": {"query": {"kernel": jnp.ones((5, 7))}}}, alpha=1.0)
        ),
        (),
        "factors of 'encoder/query/kernel' must be LoraFactors",
        "static",
    ),
    Case(
        "lora_merge: no adapted matrix",
        lambda: adapters.lora_merge(P, LoraParams(factors={}, alpha=1.0)),
        (),
        "lora has no adapted matrices",
        "static",
    ),
    Case(
        "lora_delta: not a LoraParams", lambda: adapters.lora_delta(P), (), "lora must be", "static"
    ),
    Case(
        "lora_num_params: a params pytree instead of an adapter",
        lambda: adapters.lora_num_params(P),
        (),
        "lora must be a LoraParams",
        "static",
    ),
    Case("lora_stack: empty", lambda: adapters.lora_stack([]), (), "loras is empty", "static"),
    Case(
        "lora_stack: not a LoraParams",
        lambda: adapters.lora_stack([L1, P]),
        (),
        r"loras\[1\] must be a LoraParams",
        "static",
    ),
    Case(
        "lora_stack: an already stacked adapter",
        lambda: adapters.lora_stack([STACKED]),
        (),
        r"loras\[0\] is already stacked",
        "static",
    ),
    Case(
        "lora_stack: different alpha",
        lambda: adapters.lora_stack([L1, adapters.lora_init(P, rank=1, alpha=2.0)]),
        (),
        r"loras\[1\].alpha",
        "static",
    ),
    Case(
        "lora_stack: different ranks",
        lambda: adapters.lora_stack([L2, adapters.lora_init(P, rank=1, alpha=1.0)]),
        (),
        r"loras\[1\] adapts other paths or shapes",
        "static",
    ),
    Case(
        "lora_stack: different paths",
        lambda: adapters.lora_stack([L1, adapters.lora_init(P, rank=1, targets=["*query/kernel"])]),
        (),
        r"loras\[1\] adapts other paths or shapes",
        "static",
    ),
    Case(
        "lora_stack: different factor dtypes",
        lambda: adapters.lora_stack([L1, BF16]),
        (),
        r"loras\[1\] has factor dtypes",
        "static",
    ),
    Case(
        "lora_unstack: a single adapter",
        lambda: adapters.lora_unstack(L1),
        (),
        "lora is not stacked",
        "static",
    ),
    Case(
        "lora_unstack: not a LoraParams",
        lambda: adapters.lora_unstack(P),
        (),
        "lora must be a LoraParams",
        "static",
    ),
    Case(
        "lora_labels: train pattern matching no leaf",
        lambda: adapters.lora_labels(
            {"lora": L1, "head": {"kernel": jnp.ones(2)}}, train=["hed/*"]
        ),
        (),
        r"train pattern 'hed/\*' matches no leaf",
        "static",
    ),
    Case(
        "lora_labels: train None",
        lambda: adapters.lora_labels({"lora": L1}, train=None),
        (),
        "train must be a sequence",
        "static",
    ),
    Case(
        "lora_optimizer: an int among the train patterns",
        lambda: adapters.lora_optimizer(optax.sgd(0.1), train=[1]),
        (),
        "train must hold glob strings",
        "static",
    ),
    Case(
        "linear_head_init: num_classes 0",
        lambda: adapters.linear_head_init(H, 0),
        (),
        "num_classes",
        "static",
    ),
    Case(
        "linear_head_init: hidden_size 2.0",
        lambda: adapters.linear_head_init(2.0, C),
        (),
        "hidden_size",
        "static",
    ),
    Case(
        "linear_head_init: std -1",
        lambda: adapters.linear_head_init(H, C, std=-1.0),
        (),
        "std",
        "static",
    ),
    Case(
        "linear_head_init: std NaN",
        lambda: adapters.linear_head_init(H, C, std=np.nan),
        (),
        "std",
        "static",
    ),
    Case(
        "lora_classifier: optimizer not an optax transformation",
        lambda: adapters.lora_classifier(CLF.logits, optax.sgd),
        (),
        "optimizer must be an optax GradientTransformation",
        "static",
    ),
    Case(
        "lora_classifier: apply_fn not callable",
        lambda: adapters.lora_classifier(None, optax.sgd(0.1)),
        (),
        "apply_fn must be callable",
        "static",
    ),
    Case(
        "lora_classifier.init: not a LoraParams",
        lambda: CLF.init(BODY, TR["head"]),
        (),
        "lora must be a LoraParams",
        "static",
    ),
    Case(
        "lora_classifier.init: head without a bias",
        lambda: CLF.init(TR["lora"], {"kernel": jnp.ones((H, C))}),
        (),
        "head must be",
        "static",
    ),
    Case(
        "lora_classifier.init: head bias of another width",
        lambda: CLF.init(TR["lora"], {"kernel": jnp.ones((H, C)), "bias": jnp.ones(C + 1)}),
        (),
        "head must be",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)


def test_table_covers_every_kind():
    assert set(count(CASES)) == {"value", "shape", "static"}
