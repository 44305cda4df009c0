"""Debug checks: value checks become checkify checks under jit (issue #17 item 5)."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
from jax.experimental import checkify

import jtransfer
from jtransfer import align, meta
from jtransfer._core import checks

X = jnp.zeros((4, 2))
Y = jnp.ones((4, 2))


def _loss(p, b):
    return jnp.mean((b[0] * p - b[1]) ** 2)


TASKS = ((jnp.ones((2, 3)), jnp.ones((2, 3))), (jnp.ones((2, 3)), jnp.ones((2, 3))))

# (name, function of traced arguments, bad arguments, good arguments, the eager message start)
ISSUE_CASES = [
    (
        "mmd2 bandwidth -1",
        lambda s: align.mmd2(X, Y, bandwidth=s),
        (-1.0,),
        (1.0,),
        "bandwidth must be positive and finite",
    ),
    (
        "mmd2 NaN input",
        lambda x: align.mmd2(x, Y, bandwidth=1.0),
        (X.at[0, 0].set(jnp.nan),),
        (X,),
        "source contains NaN or Inf",
    ),
    (
        "mmd2 zero weights",
        lambda w: align.mmd2(X, Y, bandwidth=1.0, weights_source=w),
        (jnp.zeros(4),),
        (jnp.ones(4),),
        "weights_source must have a positive sum",
    ),
    (
        "coral eps -1",
        lambda e: align.coral(X, Y, eps=e),
        (-1.0,),
        (1.0,),
        "eps must be positive and finite",
    ),
    (
        "maml_loss inner_lr -0.1",
        lambda lr: meta.maml_loss(_loss, jnp.float32(1.0), TASKS, inner_lr=lr, num_steps=1),
        (-0.1,),
        (0.1,),
        "inner_lr must be positive and finite",
    ),
]


@pytest.mark.parametrize("case", ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_issue_calls_raise_the_eager_message_under_jit(case):
    _, fn, bad, good, message = case
    with pytest.raises(ValueError, match=message) as eager:
        fn(*bad)
    with pytest.raises(ValueError, match=message) as traced:
        jtransfer.checked(fn)(*bad)
    assert str(traced.value).split(",")[0] == str(eager.value).split(",")[0]
    # the good call returns what the plain jitted call returns
    assert jnp.allclose(jtransfer.checked(fn)(*good), jax.jit(fn)(*good))


def test_off_by_default_emits_no_check_and_plain_jit_returns():
    assert not checks.debug_checks_enabled()
    jaxpr = str(jax.make_jaxpr(ISSUE_CASES[0][1])(-1.0))
    assert "check" not in jaxpr  # no checkify op: zero cost in hot loops
    assert jnp.isfinite(jax.jit(ISSUE_CASES[0][1])(-1.0))  # the silent result of the issue


def test_global_switch_and_context_manager_with_checkify():
    fn = jax.jit(ISSUE_CASES[0][1])
    fn(-1.0)  # traced once with checks off: the switch must not reuse this trace
    with jtransfer.debug_checks():
        assert checks.debug_checks_enabled()
        err, _ = checkify.checkify(fn)(-1.0)
        assert "bandwidth must be positive" in err.get()
        with pytest.raises(ValueError, match="not functionalized"):
            fn(-1.0)  # debug mode needs checkify / checked around the jitted call
    assert not checks.debug_checks_enabled()
    jtransfer.debug_checks()
    try:
        assert checks.debug_checks_enabled()
    finally:
        jtransfer.debug_checks(False)
    assert not checks.debug_checks_enabled()


def test_environment_variable_switches_it_on():
    code = (
        "import jtransfer, jax.numpy as jnp; from jtransfer._core import checks; "
        "print(checks.debug_checks_enabled())"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "JTRANSFER_DEBUG_CHECKS": "1", "PYTHONPATH": root, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "True"


def test_labels_and_probabilities_are_checked_under_jit():
    from jtransfer import select

    probs = jnp.array([[0.5, 0.5], [2.0, -1.0]])
    with pytest.raises(ValueError, match="probs"):
        jtransfer.checked(lambda p: select.prediction_entropy(p))(probs)
