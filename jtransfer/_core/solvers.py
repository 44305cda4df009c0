"""Solvers shared by the subpackages: a convex QP (OSQP-style ADMM) and the simplex min-norm QP.

* :func:`solve_qp` solves

  .. math::
      \\min_x \\tfrac12 x^\\top P x + q^\\top x \\quad \\text{s.t.}\\quad l \\le A x \\le u

  with the ADMM splitting of OSQP (Stellato et al. 2020, https://arxiv.org/abs/1711.08013):
  a factorisation of :math:`P + \\sigma I + \\rho A^\\top A` (pluggable), over-relaxation
  :math:`\\alpha`, infinity-norm residual stopping, and OSQP's residual-balancing update of
  :math:`\\rho` (refactoring only when :math:`\\rho` changes by more than 5x). Used by
  ``align.mk_mmd_weights`` (a few variables, :math:`\\beta \\ge 0`) and ``weighting.kmm``
  (a box plus a two-sided sum constraint). Runs under ``jit``; the solution is not
  differentiated.
* :func:`min_norm_simplex` solves :math:`\\min_{w \\in \\Delta} w^\\top G w` exactly (pairwise
  Frank-Wolfe for the support, then a primal active-set polish); used by ``mtl.mgda``,
  ``mtl.min_norm_weights`` and ``mtl.mgda_ub_weights``.
* :func:`spd_solve` solves a symmetric positive-definite system by a Cholesky factorisation
  written in jnp (no LAPACK custom call; see its docstring for why).
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

    matvec: Callable[[jax.Array], jax.Array]  # x (n,) -> A x (p,)
    rmatvec: Callable[[jax.Array], jax.Array]  # y (p,) -> A^T y (n,)
    gram: jax.Array  # (n, n) A^T A


def dense_op(A: jax.Array) -> LinearOp:
    """A dense ``(p, n)`` matrix as a :class:`LinearOp`."""
    mv = lambda v: jnp.matmul(A, v, precision=_HIGHEST)
    # v @ A, not A.T @ v: XLA:CPU materialises the transpose of A.T @ v on every call (~30x
    # slower for a 2000x2000 matrix-vector product inside a loop).
    rmv = lambda v: jnp.matmul(v, A, precision=_HIGHEST)
    return LinearOp(mv, rmv, jnp.matmul(A.T, A, precision=_HIGHEST))


class KKTSolver(NamedTuple):
    """How to solve :math:`(P + \\sigma I + \\rho A^\\top A)\\,x = b` for changing rho."""

    factor: Callable[[jax.Array], Any]  # rho -> factor pytree (kept in the loop)
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
    x: jax.Array  # (n,) primal solution
    y: jax.Array  # (p,) dual variables of l <= Ax <= u
    num_iters: jax.Array  # () int32 ADMM iterations used
    primal_residual: jax.Array  # () ||Ax - z||_inf
    dual_residual: jax.Array  # () ||Px + q + A^T y||_inf
    converged: jax.Array  # () bool, both residuals below tolerance


def default_tol(dtype: Any) -> float:
    """ADMM tolerance: 1e-9 for 64-bit floats, 1e-5 otherwise."""
    return 1e-9 if jnp.finfo(dtype).bits >= 64 else 1e-5


def solve_qp(
    P: jax.Array,
    q: jax.Array,
    A: jax.Array | LinearOp,
    l: jax.Array,
    u: jax.Array,
    *,
    rho: float = 0.1,
    sigma: float = 1e-6,
    alpha: float = 1.6,
    tol: float | None = None,
    max_iters: int = 20000,
    check_every: int = 25,
    kkt: KKTSolver | None = None,
) -> QPSolution:
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
        refac = jnp.logical_and(jnp.logical_not(done), jnp.logical_or(r_new > 5 * r, r_new < r / 5))
        r_out = jnp.where(refac, r_new, r)
        fac = jax.lax.cond(refac, kkt.factor, lambda _: fac, r_out)
        return x, z, y, r_out, fac, it + check_every, done

    r0 = jnp.asarray(rho, dtype)
    init = (
        jnp.zeros(n, dtype),
        jnp.zeros(p, dtype),
        jnp.zeros(p, dtype),
        r0,
        kkt.factor(r0),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), bool),
    )
    x, z, y, _, _, it, done = jax.lax.while_loop(cond, body, init)
    rp, rd, _, _ = residuals(x, z, y)
    return QPSolution(x, y, it, rp, rd, done)


# ---------------------------------------------------------------------------------------------
# Min-norm point of a convex hull: min_{w in simplex} w'Gw


def check_gram(gram: Any) -> int:
    """Returns ``T`` for a square ``(T, T)`` matrix with ``T >= 1``; ``ValueError`` otherwise."""
    shape = jnp.shape(gram)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"gram must be a square (T, T) matrix, got shape {shape}")
    return shape[0]


def _pairwise_frank_wolfe(
    gram: jax.Array, w: jax.Array, *, max_iters: int, tol: float
) -> jax.Array:
    """Pairwise Frank–Wolfe on ``min_{w in simplex} w'Gw`` from ``w`` (exact line search)."""
    t = gram.shape[0]
    eye = jnp.eye(t, dtype=gram.dtype)
    scale = jnp.max(jnp.diagonal(gram))

    def gap_of(w):
        gw = jnp.dot(gram, w, precision=_HIGHEST)
        return jnp.dot(w, gw, precision=_HIGHEST) - jnp.min(gw)

    def cond(carry):
        i, w = carry
        return (i < max_iters) & (gap_of(w) > tol * scale)

    def body(carry):
        i, w = carry
        gw = jnp.dot(gram, w, precision=_HIGHEST)
        tau = jnp.argmin(gw)
        away = jnp.argmax(jnp.where(w > 0, gw, -jnp.inf))
        num = gw[away] - gw[tau]
        den = gram[tau, tau] - 2.0 * gram[tau, away] + gram[away, away]
        gamma = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), w[away])
        gamma = jnp.clip(gamma, 0.0, w[away])
        w_new = w + gamma * (eye[tau] - eye[away])  # a drop step leaves w[away] exactly 0
        return i + 1, jnp.maximum(w_new, 0.0)

    _, w = jax.lax.while_loop(cond, body, (0, w))
    return w


def spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """Solves ``a x = b`` for symmetric positive-definite ``a`` by a Cholesky factorisation
    written in jnp (column by column, ``O(n³)``), so that no LAPACK custom call runs: a LAPACK
    call inside a program that several simulated CPU devices run side by side can stall one
    device while the others wait in a collective.

    Why not ``jax.scipy.linalg.cho_factor``/``cho_solve``: measured on the 2-core CPU (float32,
    jitted), they are as fast up to n = 33 (30 vs 34 µs at n = 9) and faster at n = 140 (73 vs
    470 µs; ``min_norm_simplex`` at T = 139: 1.2 vs 4.4 ms), but not bitwise equal (weights
    differ by ~2e-8), which would move the MGDA experiment's numbers, and they bring back the
    LAPACK call this function exists to avoid.
    """
    n = a.shape[0]
    idx = jnp.arange(n)

    def column(j, chol):
        row = chol[j]  # entries < j are final, the rest are zero
        d = jnp.sqrt(jnp.maximum(a[j, j] - jnp.dot(row, row, precision=_HIGHEST), 0.0))
        col = (a[:, j] - jnp.dot(chol, row, precision=_HIGHEST)) / d
        return chol.at[:, j].set(jnp.where(idx > j, col, jnp.where(idx == j, d, 0.0)))

    chol = jax.lax.fori_loop(0, n, column, jnp.zeros_like(a))

    def forward(i, y):
        return y.at[i].set((b[i] - jnp.dot(chol[i], y, precision=_HIGHEST)) / chol[i, i])

    def backward(k, x):
        i = n - 1 - k
        return x.at[i].set((y[i] - jnp.dot(chol[:, i], x, precision=_HIGHEST)) / chol[i, i])

    y = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(b))
    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(b))


def _active_set_min_norm(gram: jax.Array, w: jax.Array, *, max_steps: int) -> jax.Array:
    """Primal active-set method (Nocedal & Wright, Alg. 16.3) for the simplex QP from ``w``.

    The working set is the bounds ``w_i = 0`` that are held; on the free set ``F`` the
    equality-constrained problem :math:`\\min a^\\top G a` s.t. :math:`\\sum_F a = 1` is solved
    exactly from its KKT conditions :math:`G_{FF} a_F = \\lambda \\mathbf 1`,
    :math:`\\mathbf 1^\\top a_F = 1`, i.e. :math:`x = G_{FF}^{-1}\\mathbf 1`,
    :math:`a_F = x / \\mathbf 1^\\top x`, :math:`\\lambda = 1 / \\mathbf 1^\\top x`.
    If ``a`` leaves the simplex the step is cut at the first bound it hits (that index joins the
    working set); otherwise the multipliers :math:`\\mu_i = (Ga)_i - \\lambda` of the held
    bounds are checked and the most negative one (below a rounding tolerance) is released.
    When every multiplier is non-negative, ``a`` satisfies the KKT conditions of the QP, i.e.
    it is the minimiser up to rounding. A ridge of ``T·eps·max G_rr`` keeps :math:`G_{FF}`
    positive definite when the gradients are linearly dependent (then only ``Gα``, not ``α``,
    is unique; if the origin is in the hull, ``x`` follows the null vector and ``a`` is a
    zero-norm point).
    """
    t = gram.shape[0]
    dtype = gram.dtype
    eps = jnp.finfo(dtype).eps
    scale = jnp.max(jnp.abs(jnp.diagonal(gram)))
    ridge = t * eps * scale + jnp.finfo(dtype).tiny
    mu_tol = 16 * t * eps * scale
    eye = jnp.eye(t, dtype=dtype)

    def solve_eqp(free):
        f = free.astype(dtype)
        # held rows become identity rows with right-hand side 0, so x_i = 0 there
        spd = f[:, None] * gram * f[None, :] + jnp.diag(1.0 - f + ridge * f)
        x = spd_solve(spd, f)
        total = jnp.sum(x)
        return x / total, 1.0 / total

    def cond(carry):
        k, _, _, done = carry
        return (k < max_steps) & jnp.logical_not(done)

    def body(carry):
        k, w, free, _ = carry
        a, lam = solve_eqp(free)
        ok = jnp.all(jnp.isfinite(a)) & (lam > 0)
        a = jnp.where(free, a, 0.0)
        blocking = free & (a < 0)
        ratios = jnp.where(blocking, w / jnp.where(blocking, w - a, 1.0), jnp.inf)
        j_block = jnp.argmin(ratios)
        step = jnp.minimum(ratios[j_block], 1.0)
        # (1) a step cut by a bound: move to it and hold that bound
        w_cut = jnp.maximum(w + step * (a - w), 0.0) * (1.0 - eye[j_block])
        w_cut = w_cut / jnp.sum(w_cut)
        free_cut = free & (jnp.arange(t) != j_block)
        # (2) a is feasible: release the most negative multiplier of the held bounds
        mu = jnp.where(free, jnp.inf, jnp.dot(gram, a, precision=_HIGHEST) - lam)
        j_rel = jnp.argmin(mu)
        release = mu[j_rel] < -mu_tol
        free_rel = free | (release & (jnp.arange(t) == j_rel))
        cut = jnp.any(blocking)
        w_new = jnp.where(cut, w_cut, jnp.maximum(a, 0.0))
        free_new = jnp.where(cut, free_cut, free_rel)
        done = jnp.logical_not(ok) | (jnp.logical_not(cut) & jnp.logical_not(release))
        # a non-finite solve (degenerate KKT system) keeps the last feasible iterate
        return (k + 1, jnp.where(ok, w_new, w), jnp.where(ok, free_new, free), done)

    _, w, _, _ = jax.lax.while_loop(cond, body, (0, w, w > 0, jnp.asarray(False)))
    return w


def min_norm_simplex(
    gram: jax.Array,
    *,
    max_iters: int = 250,
    tol: float = 1e-7,
    max_active_set_steps: int | None = None,
) -> jax.Array:
    """Exact minimiser of :math:`w^\\top G w` over the probability simplex.

    Stage 1 is pairwise Frank-Wolfe from the uniform point (exact line search, stops at a
    relative duality gap ``tol`` or after ``max_iters`` steps); stage 2 polishes its support
    with primal active-set steps on the KKT system (:func:`spd_solve` per step) for at most
    ``max_active_set_steps`` steps (default ``2 T + 8``; 0 skips it). ``mtl.min_norm_weights``
    documents the method and its references.

    Args:
      gram: ``(T, T)`` symmetric positive semi-definite matrix.
      max_iters: Frank-Wolfe iterations (``>= 1``).
      tol: relative duality-gap tolerance of stage 1.
      max_active_set_steps: cap on stage-2 steps.

    Returns:
      ``(T,)`` weights on the simplex.
    """
    t = check_gram(gram)
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}")
    steps = 2 * t + 8 if max_active_set_steps is None else max_active_set_steps
    if steps < 0:
        raise ValueError(f"max_active_set_steps must be >= 0, got {max_active_set_steps}")
    gram = jnp.asarray(gram)
    w = _pairwise_frank_wolfe(
        gram, jnp.full((t,), 1.0 / t, gram.dtype), max_iters=max_iters, tol=tol
    )
    if steps == 0 or t == 1:
        return w
    return _active_set_min_norm(gram, w, max_steps=steps)
