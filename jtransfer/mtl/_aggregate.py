"""Multi-task gradient aggregators: PCGrad, MGDA (Frank–Wolfe min-norm), CAGrad, IMTL-G.

Every aggregator takes *stacked per-task gradients*: a pytree shaped like the parameters with
one extra leading task axis ``T`` on every leaf (what ``jax.vmap(jax.grad(loss))`` over tasks or
``jax.jacrev`` of the vector of task losses returns). All four methods only need the ``T × T``
Gram matrix :math:`G_{st} = g_s^\\top g_t` to choose their coefficients, so each is written as

1. ``G = task_gram(task_grads)``  (one pass over the gradients, O(T² P) flops, O(T²) memory),
2. a small solver on ``G`` giving a coefficient vector :math:`\\beta \\in \\mathbb{R}^T`,
3. ``update = Σ_t β_t g_t``  (``combine``; one more pass).

No ``T × P`` copy of the gradients is ever made besides the input itself, which is why these
run at T = 139 tasks without running out of memory.

The factories (``pcgrad``, ``mgda``, ``cagrad``, ``imtl_g``, ``equal_aggregate``) return an
:class:`Aggregator` NamedTuple of pure ``init(params)`` / ``update(task_grads, state,
params=None)``, in the optax style; ``update`` returns ``(gradient, state)`` where ``gradient``
has the shape of ``params`` and is a *descent direction* to feed into an optax optimizer.
Scale convention: every aggregator returns a direction on the scale of the *mean* task
gradient (equal weighting = mean), so one learning rate fits all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jtransfer.mtl._validate import check_matches_params, num_tasks_of

_HI = jax.lax.Precision.HIGHEST


class Aggregator(NamedTuple):
    """An optax-style pair of pure functions mapping per-task gradients to one update.

    Attributes:
      init: ``init(params) -> state``.
      update: ``update(task_grads, state, params=None) -> (gradient, new_state)``;
        ``task_grads`` is ``params`` with a leading task axis ``T`` on every leaf.
    """

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class PCGradState(NamedTuple):
    key: jax.Array  # new-style PRNG key (shape ()), split at every update for the task orders


# ---------------------------------------------------------------------------------------------
# Gram-space building blocks (pure, public)


def task_gram(task_grads) -> jax.Array:
    """Gram matrix of stacked per-task gradients.

    .. math:: G_{st} = \\sum_{\\text{leaves}} \\langle g_s, g_t \\rangle .

    Args:
      task_grads: pytree whose leaves have shape ``(T, ...)``.

    Returns:
      ``(T, T)`` symmetric positive semi-definite matrix (float32 or the leaves' dtype).
    """
    t = num_tasks_of(task_grads)
    leaves = jax.tree.leaves(task_grads)
    dtype = jnp.result_type(*leaves)
    gram = jnp.zeros((t, t), dtype)
    for leaf in leaves:
        flat = jnp.reshape(leaf, (t, -1))
        gram = gram + jnp.einsum("sp,tp->st", flat, flat, precision=_HI)
    return gram


def combine(task_grads, weights: jax.Array):
    """Weighted sum of per-task gradients, :math:`\\sum_t w_t g_t`, leaf by leaf.

    Args:
      task_grads: pytree with leaves ``(T, ...)``.
      weights: ``(T,)``.

    Returns:
      A pytree with the leading task axis removed.
    """
    t = num_tasks_of(task_grads)
    if jnp.shape(weights) != (t,):
        raise ValueError(f"weights must have shape ({t},) to match task_grads, got "
                         f"{jnp.shape(weights)}")
    return jax.tree.map(
        lambda g: jnp.tensordot(weights.astype(g.dtype), g, axes=1, precision=_HI), task_grads)


def _check_gram(gram) -> int:
    shape = jnp.shape(gram)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"gram must be a square (T, T) matrix, got shape {shape}")
    return shape[0]


def _pairwise_frank_wolfe(gram, w, *, max_iters, tol):
    """Pairwise Frank–Wolfe on ``min_{w in simplex} w'Gw`` from ``w`` (exact line search)."""
    t = gram.shape[0]
    eye = jnp.eye(t, dtype=gram.dtype)
    scale = jnp.max(jnp.diagonal(gram))

    def gap_of(w):
        gw = jnp.dot(gram, w, precision=_HI)
        return jnp.dot(w, gw, precision=_HI) - jnp.min(gw)

    def cond(carry):
        i, w = carry
        return (i < max_iters) & (gap_of(w) > tol * scale)

    def body(carry):
        i, w = carry
        gw = jnp.dot(gram, w, precision=_HI)
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


def _spd_solve(a, b):
    """Solves ``a x = b`` for symmetric positive-definite ``a`` by a Cholesky factorisation
    written in jnp (column by column, ``O(n³)``), so that no LAPACK custom call runs: a LAPACK
    call inside a program that several simulated CPU devices run side by side can stall one
    device while the others wait in a collective."""
    n = a.shape[0]
    idx = jnp.arange(n)

    def column(j, chol):
        row = chol[j]  # entries < j are final, the rest are zero
        d = jnp.sqrt(jnp.maximum(a[j, j] - jnp.dot(row, row, precision=_HI), 0.0))
        col = (a[:, j] - jnp.dot(chol, row, precision=_HI)) / d
        return chol.at[:, j].set(jnp.where(idx > j, col, jnp.where(idx == j, d, 0.0)))

    chol = jax.lax.fori_loop(0, n, column, jnp.zeros_like(a))

    def forward(i, y):
        return y.at[i].set((b[i] - jnp.dot(chol[i], y, precision=_HI)) / chol[i, i])

    def backward(k, x):
        i = n - 1 - k
        return x.at[i].set((y[i] - jnp.dot(chol[:, i], x, precision=_HI)) / chol[i, i])

    y = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(b))
    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(b))


def _active_set_min_norm(gram, w, *, max_steps):
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
        x = _spd_solve(spd, f)
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
        mu = jnp.where(free, jnp.inf, jnp.dot(gram, a, precision=_HI) - lam)
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


def min_norm_weights(gram: jax.Array, *, max_iters: int = 250, tol: float = 1e-7,
                     max_active_set_steps: int | None = None) -> jax.Array:
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

    References:
      Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
      https://arxiv.org/abs/1810.04650 ; Lacoste-Julien & Jaggi, "On the Global Linear
      Convergence of Frank-Wolfe Optimization Variants", NeurIPS 2015,
      https://arxiv.org/abs/1511.05932 ; Nocedal & Wright, "Numerical Optimization" (2006),
      Sec. 16.5 (active-set methods for convex QP).
    """
    t = _check_gram(gram)
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}")
    steps = 2 * t + 8 if max_active_set_steps is None else max_active_set_steps
    if steps < 0:
        raise ValueError(f"max_active_set_steps must be >= 0, got {max_active_set_steps}")
    gram = jnp.asarray(gram)
    w = _pairwise_frank_wolfe(gram, jnp.full((t,), 1.0 / t, gram.dtype), max_iters=max_iters,
                              tol=tol)
    if steps == 0 or t == 1:
        return w
    return _active_set_min_norm(gram, w, max_steps=steps)


def pcgrad_coefficients(gram: jax.Array, key: jax.Array) -> jax.Array:
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
        and ``jax.random.permutation(that_key, T)``).

    Returns:
      ``(T, T)`` matrix ``C`` with :math:`g_i' = \\sum_k C_{ik} g_k`.

    References:
      Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020,
      https://arxiv.org/abs/2001.06782
    """
    t = _check_gram(gram)
    gram = jnp.asarray(gram)
    orders = jax.vmap(lambda k: jax.random.permutation(k, t))(jax.random.split(key, t))
    eye = jnp.eye(t, dtype=gram.dtype)
    diag = jnp.diagonal(gram)

    def project_row(row, order):
        def step(k, row):
            j = order[k]
            dot = row @ gram[:, j]
            coef = jnp.where((dot < 0) & (diag[j] > 0), dot / jnp.where(diag[j] > 0, diag[j], 1.0),
                             0.0)
            return row - coef * eye[j]
        return jax.lax.fori_loop(0, t, step, row)

    return jax.vmap(project_row)(eye, orders)


def cagrad_weights(gram: jax.Array, c: float = 0.4, *, num_steps: int = 200,
                   rescale: bool = True) -> jax.Array:
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

    Args:
      gram: ``(T, T)`` Gram matrix with ``T >= 2`` and non-zero diagonal.

    Returns:
      ``(T,)`` weights summing to one.

    References:
      Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021,
      https://openreview.net/forum?id=IMPnRXEWpvr
    """
    t = _check_gram(gram)
    if t < 2:
        raise ValueError(f"imtl_g needs at least 2 tasks, got gram shape {jnp.shape(gram)}")
    gram = jnp.asarray(gram)
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(gram), jnp.finfo(gram.dtype).tiny))
    gu = gram / norms[None, :]                      # gu[s, t] = g_s . u_t
    b = gu[0, 0] - gu[0, 1:]                        # g_1 . (u_1 - u_t)
    a = (gu[0, 0] - gu[0, 1:][None, :]) - (gu[1:, 0][:, None] - gu[1:, 1:])  # (g1-ga).(u1-ub)
    rest = jnp.linalg.solve(a.T, b)
    return jnp.concatenate([1.0 - jnp.sum(rest, keepdims=True), rest])


# ---------------------------------------------------------------------------------------------
# Factories


def _prepare(task_grads, params):
    t = num_tasks_of(task_grads)
    check_matches_params(task_grads, params)
    return t


def _stateless(weights_fn: Callable[[jax.Array], jax.Array], *, minimum: int = 1) -> Aggregator:
    def init(params):
        del params
        return optax.EmptyState()

    def update(task_grads, state, params=None):
        num_tasks_of(task_grads, minimum=minimum)
        _prepare(task_grads, params)
        weights = jax.lax.stop_gradient(weights_fn(task_gram(task_grads)))
        return combine(task_grads, weights), state

    return Aggregator(init, update)


def equal_aggregate() -> Aggregator:
    """The baseline: the mean of the task gradients, :math:`\\frac1T\\sum_t g_t`.

    Returns:
      An :class:`Aggregator` (no Gram matrix is formed).
    """
    def init(params):
        del params
        return optax.EmptyState()

    def update(task_grads, state, params=None):
        t = _prepare(task_grads, params)
        # a tensordot with 1/T (XLA:CPU reduces a leading axis much more slowly than it
        # contracts it)
        dtype = jnp.result_type(*jax.tree.leaves(task_grads))
        return combine(task_grads, jnp.full((t,), 1.0 / t, dtype)), state

    return Aggregator(init, update)


def mgda(*, max_iters: int = 250, tol: float = 1e-7) -> Aggregator:
    """MGDA: the min-norm element of the convex hull of the task gradients (Frank–Wolfe).

    .. math:: d = \\sum_t \\alpha^\\star_t g_t,\\quad
              \\alpha^\\star = \\arg\\min_{\\alpha\\in\\Delta} \\alpha^\\top G \\alpha .

    :math:`-d` is a common descent direction for all tasks (or zero at a Pareto-stationary
    point). Aggregating w.r.t. the shared *parameters* (this transform) needs all T per-task
    gradients of the trunk. The **MGDA-UB** variant (:func:`mgda_ub_weights`) instead takes the
    gradients of the task losses w.r.t. the shared *representation* :math:`z = f(\\theta; x)`;
    since :math:`\\nabla_\\theta L_t = J^\\top \\nabla_z L_t` with :math:`J = \\partial z /
    \\partial\\theta`,
    :math:`\\|\\sum_t\\alpha_t\\nabla_\\theta L_t\\| \\le \\|J\\|\\,\\|\\sum_t\\alpha_t
    \\nabla_z L_t\\|`, so MGDA-UB minimises an upper bound: one backward pass through the trunk
    instead of T, a Gram matrix over ``batch × features`` entries instead of trunk parameters,
    and the result is Pareto-stationary only when :math:`J` has full rank (Sener & Koltun
    2018, Thm. 1). Its weights generally differ from MGDA's.

    Args:
      max_iters: Frank–Wolfe iterations.
      tol: stopping tolerance.

    Returns:
      An :class:`Aggregator`.

    References:
      Sener & Koltun, NeurIPS 2018, https://arxiv.org/abs/1810.04650
    """
    return _stateless(lambda g: min_norm_weights(g, max_iters=max_iters, tol=tol))


def cagrad(c: float = 0.4, *, num_steps: int = 200, rescale: bool = True) -> Aggregator:
    """CAGrad aggregator (see :func:`cagrad_weights`); ``c = 0`` is the mean gradient.

    Args:
      c: conflict-aversion radius (paper default 0.4 for NYUv2, 0.5 for Multi-Fashion).
      num_steps: solver steps for the dual.
      rescale: divide by :math:`1 + c^2` (the authors' default).

    Returns:
      An :class:`Aggregator`.

    References:
      Liu et al., NeurIPS 2021, https://arxiv.org/abs/2110.14048
    """
    if not c >= 0:
        raise ValueError(f"c must be non-negative, got {c!r}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return _stateless(lambda g: cagrad_weights(g, c, num_steps=num_steps, rescale=rescale))


def imtl_g() -> Aggregator:
    """IMTL-G aggregator (see :func:`imtl_g_weights`); the weights sum to one.

    Returns:
      An :class:`Aggregator`.

    References:
      Liu et al., ICLR 2021, https://openreview.net/forum?id=IMPnRXEWpvr
    """
    return _stateless(imtl_g_weights, minimum=2)


def pcgrad(seed: int | jax.Array = 0, *, reduction: str = "mean") -> Aggregator:
    """PCGrad aggregator: project away pairwise conflicts, then combine.

    .. math:: d = \\frac{1}{T} \\sum_i g_i' \\quad (\\text{or } \\sum_i g_i' \\text{ with
              ``reduction="sum"``, as in the paper}),

    where :math:`g_i'` are the projected gradients of :func:`pcgrad_coefficients`. The state
    carries a PRNG key split at every step (same seed, same orders).

    Args:
      seed: int seed or a new-style PRNG key.
      reduction: ``"mean"`` (default, same scale as the other aggregators) or ``"sum"``.

    Returns:
      An :class:`Aggregator` with state :class:`PCGradState`.

    References:
      Yu et al., NeurIPS 2020, https://arxiv.org/abs/2001.06782
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def init(params):
        del params
        key = jax.random.key(seed) if isinstance(seed, int) else seed
        return PCGradState(key=key)

    def update(task_grads, state, params=None):
        t = _prepare(task_grads, params)
        key, sub = jax.random.split(state.key)
        coefs = pcgrad_coefficients(task_gram(task_grads), sub)
        weights = jnp.sum(coefs, axis=0)
        if reduction == "mean":
            weights = weights / t
        return combine(task_grads, jax.lax.stop_gradient(weights)), PCGradState(key=key)

    return Aggregator(init, update)


def pcgrad_project(task_grads, key: jax.Array):
    """The projected per-task gradients :math:`g_i'` of PCGrad, stacked like the input.

    Args:
      task_grads: pytree with leaves ``(T, ...)``.
      key: PRNG key (as in :func:`pcgrad_coefficients`).

    Returns:
      Pytree with leaves ``(T, ...)``: row ``i`` is task ``i``'s projected gradient.
    """
    t = num_tasks_of(task_grads)
    coefs = pcgrad_coefficients(task_gram(task_grads), key)
    return jax.tree.map(
        lambda g: jnp.tensordot(coefs.astype(g.dtype), g, axes=1, precision=_HI)
        .reshape((t,) + g.shape[1:]), task_grads)


# ---------------------------------------------------------------------------------------------
# Per-task gradients and MGDA-UB


def per_task_grads(loss_fn: Callable, params, task_batches, *, has_aux: bool = False):
    """Stacked per-task gradients by ``jax.vmap(jax.grad(loss_fn))`` over a leading task axis.

    .. math:: g_t = \\nabla_\\theta\\, L(\\theta; B_t), \\quad t = 1..T .

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (or ``(scalar, aux)`` with ``has_aux``);
        the batch may carry the task index so that the function picks the task's head.
      params: parameter pytree (shared by all tasks).
      task_batches: pytree whose leaves have a leading task axis ``T``.
      has_aux: whether ``loss_fn`` returns ``(loss, aux)``.

    Returns:
      A pytree like ``params`` with a leading ``T`` axis (plus stacked aux with ``has_aux``).
    """
    num_tasks_of(task_batches, "task_batches")
    return jax.vmap(jax.grad(loss_fn, has_aux=has_aux), in_axes=(None, 0))(params, task_batches)


def mgda_ub_weights(task_losses_of_rep: Callable[[jax.Array], jax.Array], rep: jax.Array, *,
                    max_iters: int = 250, tol: float = 1e-7) -> jax.Array:
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
