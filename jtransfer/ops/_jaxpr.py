"""The few jaxpr internals that :func:`jtransfer.ops.matmul_ops` needs, in one place.

``matmul_ops`` re-evaluates a traced jaxpr equation by equation. JAX has no stable public API
for that: it lives in ``jax.extend.core`` (documented for library authors, with weaker
compatibility promises than ``jax.*``) plus two attributes of equations and primitives. This
module is the only place in jtransfer that touches them; ``check()`` verifies that every
name used is present with the expected shape, and ``tests/ops/test_jaxpr_compat.py`` calls it
so a JAX release that moves one of them fails loudly in the test suite, naming what moved,
instead of failing deep inside a traced MAML step. Tested with JAX 0.10.x and 0.12.x.
"""

from __future__ import annotations

import jax
import jax.extend as jex

#: JAX versions (major, minor) the internals below were checked with.
TESTED_JAX = ((0, 10), (0, 11), (0, 12))

Literal = jex.core.Literal
ClosedJaxpr = jex.core.ClosedJaxpr


def is_literal(v) -> bool:
    """Whether a jaxpr variable is an inline constant (``Literal``), whose value is ``v.val``."""
    return isinstance(v, Literal)


def bind(eqn, invals) -> list:
    """Applies an equation's primitive to concrete or traced inputs; always a list of outputs."""
    with eqn.ctx.manager:
        outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
    return list(outs) if eqn.primitive.multiple_results else [outs]


def check() -> None:
    """Raises ``RuntimeError`` naming each jaxpr internal that this JAX version lacks."""
    missing = []

    def f(x):
        return jax.numpy.sin(x) * 2.0

    closed = jax.make_jaxpr(f)(1.0)
    if not isinstance(closed, ClosedJaxpr):
        missing.append("jax.make_jaxpr(...) is no longer a jax.extend.core.ClosedJaxpr")
    for name in ("jaxpr", "consts"):
        if not hasattr(closed, name):
            missing.append(f"ClosedJaxpr.{name}")
    jaxpr = getattr(closed, "jaxpr", None)
    for name in ("constvars", "invars", "outvars", "eqns"):
        if jaxpr is not None and not hasattr(jaxpr, name):
            missing.append(f"Jaxpr.{name}")
    eqns = getattr(jaxpr, "eqns", [])
    if not eqns:
        missing.append("Jaxpr.eqns is empty for sin(x) * 2")
    for eqn in eqns:
        for name in ("primitive", "params", "invars", "outvars", "ctx"):
            if not hasattr(eqn, name):
                missing.append(f"JaxprEqn.{name}")
        if hasattr(eqn, "ctx") and not hasattr(eqn.ctx, "manager"):
            missing.append("JaxprEqn.ctx.manager")
        prim = getattr(eqn, "primitive", None)
        for name in ("bind", "get_bind_params", "multiple_results", "name"):
            if prim is not None and not hasattr(prim, name):
                missing.append(f"Primitive.{name}")
    if eqns and not any(is_literal(v) for e in eqns for v in e.invars):
        missing.append("the literal 2.0 in sin(x) * 2 is not a jax.extend.core.Literal")
    if missing:
        raise RuntimeError(
            f"jtransfer.ops.matmul_ops relies on jaxpr internals that JAX {jax.__version__} "
            f"changed: {', '.join(sorted(set(missing)))}. Tested with JAX "
            f"{', '.join(f'{a}.{b}' for a, b in TESTED_JAX)}; pin jax to one of these or update "
            "jtransfer/ops/_jaxpr.py."
        )
