"""A small OSQP-style ADMM solver for convex QPs, written in JAX (private module).

Solves

.. math::
    \\min_x \\tfrac12 x^\\top P x + q^\\top x \\quad \\text{s.t.}\\quad l \\le A x \\le u

with the ADMM splitting of OSQP (Stellato et al. 2020, https://arxiv.org/abs/1711.08013):
a factorisation of :math:`P + \\sigma I + \\rho A^\\top A` (pluggable), over-relaxation
:math:`\\alpha`, infinity-norm residual stopping, and OSQP's residual-balancing update of
:math:`\\rho` (refactoring only when :math:`\\rho` changes by more than 5x). Used by
``mk_mmd_weights`` (a few variables, :math:`\\beta \\ge 0`) and ``weighting.kmm`` (a box plus
a two-sided sum constraint). Runs under ``jit``; the solution is not differentiated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

_HIGHEST = jax.lax.Precision.HIGHEST


class LinearOp(NamedTuple):
    """A constraint matrix given by its products (for structured A such as ``[I; 1^T]``)."""

    matvec: Callable[[jax.Array], jax.Array]   # x (n,) -> A x (p,)
    rmatvec: Callable[[jax.Array], jax.Array]  # y (p,) -> A^T y (n,)
    gram: jax.Array                            # (n, n) A^T A


def dense_op(A: jax.Array) -> LinearOp:
    mv = lambda v: jnp.matmul(A, v, precision=_HIGHEST)
    # v @ A, not A.T @ v: XLA:CPU materialises the transpose of A.T @ v on every call (~30x
    # slower for a 2000x2000 matrix-vector product inside a loop).
    rmv = lambda v: jnp.matmul(v, A, precision=_HIGHEST)
    return LinearOp(mv, rmv, jnp.matmul(A.T, A, precision=_HIGHEST))


class KKTSolver(NamedTuple):
    """How to solve :math:`(P + \\sigma I + \\rho A^\\top A)\\,x = b` for changing rho."""

    factor: Callable[[jax.Array], Any]           # rho -> factor pytree (kept in the loop)
    solve: Callable[[Any, jax.Array], jax.Array]  # (factor, b) -> x


def cholesky_kkt(P: jax.Array, gram: jax.Array, sigma: float) -> KKTSolver:
    """Cholesky :math:`LL^\\top`, kept as the explicit triangular inverse :math:`L^{-1}`.

    A solve is then two matrix-vector products (fast on CPU/GPU, unlike a sequential
    triangular solve) and keeps the accuracy of triangular solves, unlike an explicit
    :math:`M^{-1}`. Refactored (one Cholesky + one triangular inverse) when rho changes.
    """
    eye = jnp.eye(P.shape[0], dtype=P.dtype)

    def factor(r):
        low = jnp.linalg.cholesky(P + sigma * eye + r * gram)
        return solve_triangular(low, eye, lower=True)

    def solve(linv, b):
        # (L^-1)^T u as u @ L^-1: see dense_op on transposed matrix-vector products.
        return jnp.matmul(jnp.matmul(linv, b, precision=_HIGHEST), linv, precision=_HIGHEST)

    return KKTSolver(factor, solve)


class QPSolution(NamedTuple):
    x: jax.Array                # (n,) primal solution
    y: jax.Array                # (p,) dual variables of l <= Ax <= u
    num_iters: jax.Array        # () int32 ADMM iterations used
    primal_residual: jax.Array  # () ||Ax - z||_inf
    dual_residual: jax.Array    # () ||Px + q + A^T y||_inf
    converged: jax.Array        # () bool, both residuals below tolerance


def default_tol(dtype) -> float:
    return 1e-9 if jnp.finfo(dtype).bits >= 64 else 1e-5


def solve_qp(P, q, A, l, u, *, rho: float = 0.1, sigma: float = 1e-6, alpha: float = 1.6,
             tol: float | None = None, max_iters: int = 20000,
             check_every: int = 25, kkt: KKTSolver | None = None) -> QPSolution:
    """OSQP-style ADMM for ``min 1/2 x'Px + q'x  s.t.  l <= Ax <= u`` (fixed shapes).

    ``A`` is a dense ``(p, n)`` array or a :class:`LinearOp`. The KKT system
    :math:`P + \\sigma I + \\rho A^\\top A` is solved by ``kkt`` (default: a Cholesky
    factor, recomputed only when :math:`\\rho` changes).
    """
    dtype = jnp.result_type(P.dtype, q.dtype)
    P, q = P.astype(dtype), q.astype(dtype)
    op = A if isinstance(A, LinearOp) else dense_op(A.astype(dtype))
    l, u = jnp.asarray(l, dtype), jnp.asarray(u, dtype)
    tol = default_tol(dtype) if tol is None else tol
    n, p = q.shape[0], l.shape[0]
    mv = lambda M, v: jnp.matmul(M, v, precision=_HIGHEST)
    kkt = cholesky_kkt(P, op.gram.astype(dtype), sigma) if kkt is None else kkt

    def admm_step(_, s):
        x, z, y, r, fac = s
        rhs = sigma * x - q + op.rmatvec(r * z - y)
        xt = kkt.solve(fac, rhs)
        zt = op.matvec(xt)
        x = alpha * xt + (1 - alpha) * x
        zr = alpha * zt + (1 - alpha) * z
        z_new = jnp.clip(zr + y / r, l, u)
        y = y + r * (zr - z_new)
        return x, z_new, y, r, fac

    inf = lambda v: jnp.max(jnp.abs(v))

    def residuals(x, z, y):
        Ax, Px, Aty = op.matvec(x), mv(P, x), op.rmatvec(y)
        rp, rd = inf(Ax - z), inf(Px + q + Aty)
        sp = jnp.maximum(inf(Ax), inf(z))
        sd = jnp.maximum(jnp.maximum(inf(Px), inf(Aty)), inf(q))
        return rp, rd, sp, sd

    def cond(c):
        *_, it, done = c
        return jnp.logical_and(it < max_iters, jnp.logical_not(done))

    def body(c):
        x, z, y, r, fac, it, _ = c
        x, z, y, r, fac = jax.lax.fori_loop(0, check_every, admm_step, (x, z, y, r, fac))
        rp, rd, sp, sd = residuals(x, z, y)
        done = jnp.logical_and(rp <= tol + tol * sp, rd <= tol + tol * sd)
        tiny = jnp.finfo(dtype).tiny
        ratio = (rp / (sp + tiny)) / (rd / (sd + tiny) + tiny)
        r_new = jnp.clip(r * jnp.sqrt(ratio + tiny), 1e-6, 1e6).astype(dtype)
        refac = jnp.logical_and(jnp.logical_not(done),
                                jnp.logical_or(r_new > 5 * r, r_new < r / 5))
        r_out = jnp.where(refac, r_new, r)
        fac = jax.lax.cond(refac, kkt.factor, lambda _: fac, r_out)
        return x, z, y, r_out, fac, it + check_every, done

    r0 = jnp.asarray(rho, dtype)
    init = (jnp.zeros(n, dtype), jnp.zeros(p, dtype), jnp.zeros(p, dtype), r0, kkt.factor(r0),
            jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    x, z, y, _, _, it, done = jax.lax.while_loop(cond, body, init)
    rp, rd, _, _ = residuals(x, z, y)
    return QPSolution(x, y, it, rp, rd, done)
