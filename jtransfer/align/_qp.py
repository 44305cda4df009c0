"""A small OSQP-style ADMM solver for convex QPs, written in JAX (private module).

Solves

.. math::
    \\min_x \\tfrac12 x^\\top P x + q^\\top x \\quad \\text{s.t.}\\quad l \\le A x \\le u

with the ADMM splitting of OSQP (Stellato et al. 2020, https://arxiv.org/abs/1711.08013):
one Cholesky factor of :math:`P + \\sigma I + \\rho A^\\top A`, over-relaxation
:math:`\\alpha`, infinity-norm residual stopping, and OSQP's residual-balancing update of
:math:`\\rho` (refactoring only when :math:`\\rho` changes by more than 5x). Used by
``mk_mmd_weights`` (a few variables, :math:`\\beta \\ge 0`) and ``weighting.kmm`` (a box plus
a two-sided sum constraint). Runs under ``jit``; the solution is not differentiated.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve

_HIGHEST = jax.lax.Precision.HIGHEST


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
             check_every: int = 25) -> QPSolution:
    """OSQP-style ADMM for ``min 1/2 x'Px + q'x  s.t.  l <= Ax <= u`` (dense, fixed shapes)."""
    dtype = jnp.result_type(P.dtype, q.dtype, A.dtype)
    P, q, A = P.astype(dtype), q.astype(dtype), A.astype(dtype)
    l, u = jnp.asarray(l, dtype), jnp.asarray(u, dtype)
    tol = default_tol(dtype) if tol is None else tol
    n, p = q.shape[0], l.shape[0]
    eye = jnp.eye(n, dtype=dtype)
    AtA = jnp.matmul(A.T, A, precision=_HIGHEST)
    mv = lambda M, v: jnp.matmul(M, v, precision=_HIGHEST)

    def factor(r):
        return cho_factor(P + sigma * eye + r * AtA, lower=True)[0]

    def admm_step(_, s):
        x, z, y, r, L = s
        rhs = sigma * x - q + mv(A.T, r * z - y)
        xt = cho_solve((L, True), rhs)
        zt = mv(A, xt)
        x = alpha * xt + (1 - alpha) * x
        zr = alpha * zt + (1 - alpha) * z
        z_new = jnp.clip(zr + y / r, l, u)
        y = y + r * (zr - z_new)
        return x, z_new, y, r, L

    inf = lambda v: jnp.max(jnp.abs(v))

    def residuals(x, z, y):
        Ax, Px, Aty = mv(A, x), mv(P, x), mv(A.T, y)
        rp, rd = inf(Ax - z), inf(Px + q + Aty)
        sp = jnp.maximum(inf(Ax), inf(z))
        sd = jnp.maximum(jnp.maximum(inf(Px), inf(Aty)), inf(q))
        return rp, rd, sp, sd

    def cond(c):
        *_, it, done = c
        return jnp.logical_and(it < max_iters, jnp.logical_not(done))

    def body(c):
        x, z, y, r, L, it, _ = c
        x, z, y, r, L = jax.lax.fori_loop(0, check_every, admm_step, (x, z, y, r, L))
        rp, rd, sp, sd = residuals(x, z, y)
        done = jnp.logical_and(rp <= tol + tol * sp, rd <= tol + tol * sd)
        tiny = jnp.finfo(dtype).tiny
        ratio = (rp / (sp + tiny)) / (rd / (sd + tiny) + tiny)
        r_new = jnp.clip(r * jnp.sqrt(ratio + tiny), 1e-6, 1e6).astype(dtype)
        refac = jnp.logical_and(jnp.logical_not(done),
                                jnp.logical_or(r_new > 5 * r, r_new < r / 5))
        r_out = jnp.where(refac, r_new, r)
        L = jax.lax.cond(refac, factor, lambda _: L, r_out)
        return x, z, y, r_out, L, it + check_every, done

    r0 = jnp.asarray(rho, dtype)
    init = (jnp.zeros(n, dtype), jnp.zeros(p, dtype), jnp.zeros(p, dtype), r0, factor(r0),
            jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    x, z, y, _, _, it, done = jax.lax.while_loop(cond, body, init)
    rp, rd, _, _ = residuals(x, z, y)
    return QPSolution(x, y, it, rp, rd, done)
