"""The jaxpr internals behind ops.matmul_ops: present on this JAX, and the check can fail."""

import jax
import pytest

from jtransfer.ops import _jaxpr


def test_jaxpr_internals_present_on_this_jax():
    _jaxpr.check()  # raises RuntimeError naming every moved internal
    major, minor = (int(p) for p in jax.__version__.split(".")[:2])
    assert (major, minor) in _jaxpr.TESTED_JAX, (
        f"JAX {jax.__version__} is not among the versions jtransfer/ops/_jaxpr.py was checked "
        "with; run tests/ops and add it to TESTED_JAX"
    )


def test_check_names_a_missing_internal(monkeypatch):
    class NotAJaxpr:
        pass

    monkeypatch.setattr(_jaxpr, "ClosedJaxpr", NotAJaxpr)
    with pytest.raises(RuntimeError, match="ClosedJaxpr"):
        _jaxpr.check()


def test_bind_matches_the_primitive():
    closed = jax.make_jaxpr(lambda x: jax.numpy.sin(x) * 2.0)(0.5)
    env = {closed.jaxpr.invars[0]: 0.5}
    for eqn in closed.jaxpr.eqns:
        vals = [v.val if _jaxpr.is_literal(v) else env[v] for v in eqn.invars]
        (env[eqn.outvars[0]],) = _jaxpr.bind(eqn, vals)
    assert float(env[closed.jaxpr.outvars[0]]) == pytest.approx(2.0 * float(jax.numpy.sin(0.5)))
