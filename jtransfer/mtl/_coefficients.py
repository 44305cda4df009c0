"""Coefficient solvers on the Gram matrix: MGDA min-norm, PCGrad, CAGrad, IMTL-G, MGDA-UB.

Each maps the ``T × T`` Gram matrix of the task gradients (``task_gram``) to coefficients
:math:`\\beta` with update :math:`\\sum_t \\beta_t g_t`; the optax transforms in
``_aggregate.py`` apply them. The simplex QP of MGDA is solved by
``jtransfer._core.solvers.min_norm_simplex``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jtransfer._core import checks as _checks
from jtransfer._core import solvers
from jtransfer._core.keys import default_key
from jtransfer.mtl._gram import task_gram

_check_gram = solvers.check_gram


def min_norm_weights(
    gram: jax.Array,
    *,
    max_iters: int = 250,
    tol: float = 1e-7,
    max_active_set_steps: int | None = None,
) -> jax.Array:
    """Min-norm point of the convex hull of the task gradients (MGDA), solved exactly.

    .. math::
       \\alpha^\\star = \\arg\\min_{\\alpha \\in \\Delta^{T-1}}
                    \\Big\\|\\sum_t \\alpha_t g_t\\Big\\|^2
                    = \\arg\\min_{\\alpha \\in \\Delta^{T-1}} \\alpha^\\top G \\alpha .

    Two stages, both on the ``T × T`` Gram matrix:

    1. **Frank–Wolfe** as in Sener & Koltun (2018, Alg. 2), in its *pairwise* form
       (Lacoste-Julien & Jaggi 2015): at each step take :math:`\\tau = \\arg\\min_r
       (G\\alpha)_r` (the FW vertex) and :math:`a = \\arg\\max_{r:\\alpha_r>0} (G\\alpha)_r`
       (the away vertex) and move weight from :math:`a` to :math:`\\tau` with the exact line
       search :math:`\\gamma = \\mathrm{clip}\\big(((G\\alpha)_a - (G\\alpha)_\\tau) /
       (G_{\\tau\\tau} - 2G_{\\tau a} + G_{aa}),\\, 0,\\, \\alpha_a\\big)`, until the FW
       duality gap :math:`\\alpha^\\top G\\alpha - \\min_r (G\\alpha)_r` is at most ``tol``
       times :math:`\\max_r G_{rr}` or after ``max_iters`` steps. This finds the support
       (drop steps set weights to exactly zero), but FW alone converges only to the tolerance and
       its stopping iterate moves with the last bits of ``G``.
    2. **Active-set polish** from that point: the KKT system of the QP restricted to the
       support, :math:`G_{SS}\\alpha_S = \\lambda\\mathbf 1,\\ \\mathbf 1^\\top\\alpha_S = 1`,
       is solved exactly, with primal active-set steps (drop an index that goes negative,
       release a held zero whose multiplier :math:`(G\\alpha)_i - \\lambda` is negative)
       until the KKT conditions :math:`(G\\alpha)_r \\ge \\alpha^\\top G\\alpha` hold for all
       :math:`r` with equality on the support. The result is the minimiser to rounding error
       (for T = 2 it is the closed form :math:`\\alpha_1 = \\mathrm{clip}((G_{22} - G_{12}) /
       (G_{11} - 2G_{12} + G_{22}), 0, 1)`), a continuous function of ``G`` wherever the
       minimiser is unique.

    If :math:`\\alpha^{\\star\\top} G \\alpha^\\star = 0` the point is Pareto-stationary.

    Args:
      gram: ``(T, T)`` Gram matrix (``task_gram``).
      max_iters: Frank–Wolfe iterations of stage 1 (the paper's code uses 250).
      tol: relative duality-gap tolerance of stage 1.
      max_active_set_steps: cap on stage-2 steps (default ``2 T + 8``; each costs one
        ``(T+1)``-square solve, and the support found by stage 1 usually needs one or two).

    Returns:
      ``(T,)`` weights on the simplex.

    Raises:
      ValueError: ``gram`` not square, or (a value check) NaN/Inf or not positive
        semi-definite (a negative-definite "Gram" has no min-norm point on the simplex).

    References:
      Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
      https://arxiv.org/abs/1810.04650 ; Lacoste-Julien & Jaggi, "On the Global Linear
      Convergence of Frank-Wolfe Optimization Variants", NeurIPS 2015,
      https://arxiv.org/abs/1511.05932 ; Nocedal & Wright, "Numerical Optimization" (2006),
      Sec. 16.5 (active-set methods for convex QP).
    """
    _check_gram(gram)
    _checks.check_psd(gram, "gram")
    return solvers.min_norm_simplex(
        gram, max_iters=max_iters, tol=tol, max_active_set_steps=max_active_set_steps
    )


def pcgrad_coefficients(gram: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
    """PCGrad ("gradient surgery") as a coefficient matrix on the original task gradients.

    For each task :math:`i`, in a random order over :math:`j` (Yu et al.'s code includes
    :math:`j = i`), project the running gradient onto the normal plane of every
    :math:`g_j` it conflicts with:

    .. math::
       g_i \\leftarrow g_i - \\frac{\\min(g_i^\\top g_j, 0)}{\\|g_j\\|^2}\\, g_j .

    Every projected gradient stays in the span of the originals, :math:`g_i' = \\sum_k C_{ik}
    g_k`, and :math:`g_i'^\\top g_j = (C G)_{ij}`, so the whole procedure runs on the Gram
    matrix; rows are independent and vmapped.

    Args:
      gram: ``(T, T)`` Gram matrix.
      key: PRNG key for the per-task orders (task ``i`` uses ``jax.random.split(key, T)[i]``
        and ``jax.random.permutation(that_key, T)``); None is ``jax.random.key(0)``.

    Returns:
      ``(T, T)`` matrix ``C`` with :math:`g_i' = \\sum_k C_{ik} g_k`.

    References:
      Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020,
      https://arxiv.org/abs/2001.06782
    """
    t = _check_gram(gram)
    gram = jnp.asarray(gram)
    key = default_key(key)
    orders = jax.vmap(lambda k: jax.random.permutation(k, t))(jax.random.split(key, t))
    eye = jnp.eye(t, dtype=gram.dtype)
    diag = jnp.diagonal(gram)

    def project_row(row, order):
        def step(k, row):
            j = order[k]
            dot = row @ gram[:, j]
            coef = jnp.where(
                (dot < 0) & (diag[j] > 0), dot / jnp.where(diag[j] > 0, diag[j], 1.0), 0.0
            )
            return row - coef * eye[j]

        return jax.lax.fori_loop(0, t, step, row)

    return jax.vmap(project_row)(eye, orders)


def cagrad_weights(
    gram: jax.Array, c: float = 0.4, *, num_steps: int = 200, rescale: bool = True
) -> jax.Array:
    """Conflict-averse gradient (CAGrad) as coefficients on the task gradients.

    With :math:`g_0 = \\frac1T \\sum_t g_t` and :math:`\\phi = c^2 \\|g_0\\|^2`, CAGrad solves the
    dual

    .. math::
       w^\\star = \\arg\\min_{w \\in \\Delta^{T-1}} \\; g_w^\\top g_0 + \\sqrt{\\phi}\\,\\|g_w\\|,
       \\qquad g_w = \\sum_t w_t g_t ,

    and returns :math:`d = g_0 + \\frac{\\sqrt\\phi}{\\|g_w\\|} g_w` (divided by
    :math:`1 + c^2` when ``rescale``, as the authors' default). With ``c = 0`` this is exactly
    the average gradient. The convex dual is solved in Gram space by pairwise Frank–Wolfe with
    an exact line search (along a line :math:`F` is linear plus the square root of a
    quadratic, whose minimiser has a closed form).

    Args:
      gram: ``(T, T)`` Gram matrix.
      c: conflict-aversion radius, ``c >= 0``.
      num_steps: Frank–Wolfe steps.
      rescale: divide by :math:`1 + c^2`.

    Returns:
      ``(T,)`` coefficients :math:`\\beta` with :math:`d = \\sum_t \\beta_t g_t`.

    References:
      Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
      NeurIPS 2021, https://arxiv.org/abs/2110.14048
    """
    t = _check_gram(gram)
    if not c >= 0:
        raise ValueError(f"c must be non-negative, got {c!r}")
    gram = jnp.asarray(gram)
    mean = jnp.full((t,), 1.0 / t, gram.dtype)
    if c == 0:
        return mean
    scale = jnp.mean(jnp.sqrt(jnp.diagonal(gram))) ** 2 + jnp.finfo(gram.dtype).tiny
    gn = gram / scale
    b = gn @ mean
    g0_norm = jnp.sqrt(jnp.maximum(mean @ b, 0.0))
    k = c * g0_norm
    eye = jnp.eye(t, dtype=gram.dtype)
    tiny = jnp.finfo(gram.dtype).tiny

    def grad_f(w):
        gw = gn @ w
        return b + k * gw / jnp.sqrt(jnp.maximum(w @ gw, tiny))

    def body(i, w):
        g = grad_f(w)
        tau = jnp.argmin(g)
        away = jnp.argmax(jnp.where(w > 0, g, -jnp.inf))
        d = eye[tau] - eye[away]
        gmax = w[away]
        # F(w + γd) = const + γ b·d + k sqrt(q0 + 2γ q1 + γ² q2)
        gd = gn @ d
        q0, q1, q2 = w @ gn @ w, w @ gd, d @ gd
        bd = b @ d
        m = -bd / jnp.maximum(k, tiny)
        delta = jnp.maximum(q0 * q2 - q1**2, 0.0)
        interior = (q2 > m**2) & (k > 0)
        u = jnp.sign(m) * jnp.sqrt(m**2 * delta / jnp.where(interior, q2 - m**2, 1.0))
        gamma_int = (u - q1) / jnp.where(q2 > 0, q2, 1.0)
        gamma_edge = jnp.where(bd < 0, gmax, 0.0)
        gamma = jnp.clip(jnp.where(interior, gamma_int, gamma_edge), 0.0, gmax)
        return jnp.maximum(w + gamma * d, 0.0)

    w = jax.lax.fori_loop(0, num_steps, body, mean)
    gw_norm = jnp.sqrt(jnp.maximum(w @ gn @ w, tiny))
    lam = k / gw_norm
    beta = mean + lam * w
    if rescale:
        beta = beta / (1.0 + c**2)
    return beta


def imtl_g_weights(gram: jax.Array) -> jax.Array:
    """IMTL-G: weights that make the update's projection onto every task direction equal.

    With unit directions :math:`u_t = g_t / \\|g_t\\|`, find :math:`\\alpha` (summing to 1)
    such that :math:`g = \\sum_t \\alpha_t g_t` satisfies :math:`g^\\top u_1 = \\dots =
    g^\\top u_T`. With :math:`D = [g_1 - g_t]_{t \\ge 2}` and :math:`U = [u_1 - u_t]_{t \\ge 2}`:

    .. math::
       \\alpha_{2:T} = g_1^\\top U (D^\\top U)^{-1}, \\qquad
       \\alpha_1 = 1 - \\sum_{t \\ge 2} \\alpha_t .

    Everything is expressed through the Gram matrix (:math:`g_s^\\top u_t = G_{st}/\\sqrt{G_{tt}}`).

    When the system is singular (two task gradients with the same direction, e.g. identical
    tasks: every :math:`\\alpha` then gives equal projections on those two) the minimum-norm
    :math:`\\alpha` satisfying the equal-projection and sum-to-one equations is returned
    (least squares), e.g. ``(1/2, 1/2)`` for two identical gradients, instead of NaN.

    Args:
      gram: ``(T, T)`` Gram matrix with ``T >= 2`` and non-zero diagonal.

    Returns:
      ``(T,)`` weights summing to one.

    Raises:
      ValueError: ``gram`` not square or ``T < 2``, or (a value check) NaN/Inf.

    References:
      Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021,
      https://openreview.net/forum?id=IMPnRXEWpvr
    """
    t = _check_gram(gram)
    if t < 2:
        raise ValueError(f"imtl_g needs at least 2 tasks, got gram shape {jnp.shape(gram)}")
    gram = jnp.asarray(gram)
    _checks.check_finite(gram, "gram")
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), jnp.finfo(gram.dtype).tiny))
    gu = gram / norms[None, :]  # gu[s, t] = g_s . u_t
    b = gu[0, 0] - gu[0, 1:]  # g_1 . (u_1 - u_t)
    a = (gu[0, 0] - gu[0, 1:][None, :]) - (gu[1:, 0][:, None] - gu[1:, 1:])  # (g1-ga).(u1-ub)
    rest = jnp.linalg.solve(a.T, b)
    alpha = jnp.concatenate([1.0 - jnp.sum(rest, keepdims=True), rest])
    # Singular system: the minimum-norm alpha with sum(alpha) = 1 and equal projections,
    # i.e. sum_s alpha_s (g_s.u_1 - g_s.u_t) = 0 for t >= 2, by least squares.
    eqs = jnp.concatenate([(gu[:, :1] - gu[:, 1:]).T, jnp.ones((1, t), gram.dtype)], axis=0)
    rhs = jnp.zeros((t,), gram.dtype).at[-1].set(1.0)
    fallback = jnp.linalg.lstsq(eqs, rhs)[0]
    return jnp.where(jnp.all(jnp.isfinite(alpha)), alpha, fallback)


def mgda_ub_weights(
    task_losses_of_rep: Callable[[jax.Array], jax.Array],
    rep: jax.Array,
    *,
    max_iters: int = 250,
    tol: float = 1e-7,
) -> jax.Array:
    """MGDA-UB: min-norm task weights from gradients w.r.t. the shared representation.

    .. math::
       \\alpha = \\arg\\min_{\\alpha\\in\\Delta}
                \\Big\\|\\sum_t \\alpha_t \\nabla_z L_t(z)\\Big\\|^2,
       \\qquad z = f_{\\text{trunk}}(\\theta; x).

    Use the (stop-gradient) weights in :math:`\\sum_t \\alpha_t L_t` and backpropagate once.
    See :func:`mgda` for how this differs from MGDA on the shared parameters.

    Args:
      task_losses_of_rep: ``z -> (T,)`` task losses computed from the shared representation
        (heads applied inside).
      rep: the shared representation ``z`` (any shape).
      max_iters: Frank–Wolfe iterations.
      tol: stopping tolerance.

    Returns:
      ``(T,)`` weights on the simplex (gradient stopped).

    References:
      Sener & Koltun, NeurIPS 2018, https://arxiv.org/abs/1810.04650 (Sec. 3.3).
    """
    losses = jax.eval_shape(task_losses_of_rep, rep)
    if len(losses.shape) != 1:
        raise ValueError(f"task_losses_of_rep must return a (T,) vector, got shape {losses.shape}")
    jac = jax.jacrev(task_losses_of_rep)(jax.lax.stop_gradient(rep))
    return jax.lax.stop_gradient(min_norm_weights(task_gram(jac), max_iters=max_iters, tol=tol))
