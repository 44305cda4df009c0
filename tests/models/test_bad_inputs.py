"""models: every bad input in one table (#17 items 7-8)."""

import jax.numpy as jnp
import pytest
from flax import nnx

from jtransfer import models
from tests.bad_inputs import Case, check_case, ids

R = nnx.Rngs(0)

CASES = [
    Case(
        "MLP(2, 4, 2): an int for hidden",
        lambda: models.MLP(2, 4, 2, rngs=R),
        (),
        "hidden",
        "static",
    ),
    Case("MLP: a string for hidden", lambda: models.MLP(2, "4", 2, rngs=R), (), "hidden", "static"),
    Case(
        "MLP: hidden width 0", lambda: models.MLP(2, (0,), 2, rngs=R), (), r"hidden\[0\]", "static"
    ),
    Case("MLP: in_features 0", lambda: models.MLP(0, (4,), 2, rngs=R), (), "in_features", "static"),
    Case(
        "MLP: out_features 2.0",
        lambda: models.MLP(2, (4,), 2.0, rngs=R),
        (),
        "out_features",
        "static",
    ),
    Case(
        "MLP: input of the wrong width",
        lambda x: models.MLP(2, (4,), 2, rngs=nnx.Rngs(0))(x),
        (jnp.ones((3, 5)),),
        "MLP",
        "shape",
    ),
    Case("Conv4: hidden 0", lambda: models.Conv4(1, 5, hidden=0, rngs=R), (), "hidden", "static"),
    Case("LeNet: num_classes 0", lambda: models.LeNet(1, 0, rngs=R), (), "num_classes", "static"),
    Case(
        "DomainDiscriminator: an int for hidden",
        lambda: models.DomainDiscriminator(3, 10, rngs=R),
        (),
        "hidden",
        "static",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    check_case(case)
