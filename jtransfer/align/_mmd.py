"""Maximum mean discrepancy estimators and the MK-MMD kernel weights (private module)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core import sizes, solvers
from jtransfer._core.kernels import (
    EXACT_MEDIAN_MAX,
    Bandwidth,
    kernel_from_sq_dists,
    median_sigma_padded,
    resolve_bandwidth,
)

ESTIMATORS = ("biased", "unbiased", "linear")


def _check_unbiased_weights(w: jax.Array, name: str) -> None:
    _checks._require(
        lambda xp, a: xp.sum(a) ** 2 - xp.sum(a * a) > 0,
        w,
        f"{name} needs at least two positive entries for the unbiased "
        f"estimator (shape {tuple(w.shape)})",
    )


def mmd2(
    source: jax.Array,
    target: jax.Array,
    *,
    bandwidth: Bandwidth = "median",
    estimator: str = "unbiased",
    weights_source: jax.Array | None = None,
) -> jax.Array:
    """Squared maximum mean discrepancy between two samples with a Gaussian (multi-)kernel.

    .. math::
        \\mathrm{MMD}^2(P, Q) = \\lVert \\mu_P - \\mu_Q \\rVert_{\\mathcal H}^2
        = \\mathbb E\\,k(x, x') + \\mathbb E\\,k(y, y') - 2\\,\\mathbb E\\,k(x, y).

    Estimators (the rows :math:`x_i` of ``source`` are ``n``, the rows :math:`y_j` of
    ``target`` are ``m``; :math:`a_i = w_i / \\sum_k w_k`, or
    :math:`1/n` without weights):

    * ``"biased"`` (V-statistic, :math:`\\ge 0`): the squared RKHS distance between the
      (weighted) empirical mean embeddings,
      :math:`\\sum_{ij} a_i a_j k(x_i,x_j) + \\frac1{m^2}\\sum_{ij} k(y_i,y_j)
      - \\frac2m \\sum_{ij} a_i k(x_i,y_j)`.
    * ``"unbiased"`` (U-statistic): diagonal terms dropped,
      :math:`\\frac{\\sum_{i\\ne j} w_i w_j k(x_i,x_j)}{\\sum_{i\\ne j} w_i w_j}
      + \\frac{1}{m(m-1)}\\sum_{i\\ne j} k(y_i,y_j) - \\frac2m \\sum_{ij} a_i k(x_i,y_j)`;
      unbiased for equal weights (can be negative).
    * ``"linear"`` (Gretton et al. 2012, linear time, needs ``n == m``): the mean over the
      :math:`\\lfloor n/2 \\rfloor` consecutive pairs of
      :math:`h = k(x_{2i-1},x_{2i}) + k(y_{2i-1},y_{2i}) - k(x_{2i-1},y_{2i}) - k(x_{2i},y_{2i-1})`.
      With weights, each term is the self-normalised weighted pair average
      (:math:`\\sum w_{2i-1}w_{2i}k(x,x')/\\sum w_{2i-1}w_{2i}` and
      :math:`\\sum (w_{2i-1}k(x_{2i-1},y_{2i}) + w_{2i}k(x_{2i},y_{2i-1}))/\\sum(w_{2i-1}+w_{2i})`),
      which is the plain estimator for equal weights. An odd last row is dropped.

    The Gram sums are formed in row strips of 128: each strip is one matrix product whose
    kernel values are exponentiated and summed while in cache, and for the ``x``–``x`` and
    ``y``–``y`` sums only the upper block triangle is computed (off-diagonal blocks count
    twice), so the quadratic estimators cost about half of the pooled
    :math:`(n+m)\\times d\\times(n+m)` product. For concrete multi-kernel bandwidths a power of
    two apart in :math:`1/\\sigma^2` (e.g. :math:`\\sigma\\cdot 2^k`), the narrower kernels
    are squarings of wider ones (:math:`e^{-4t} = (e^{-t})^4`) instead of fresh ``exp`` calls
    (see :func:`exp_plan`; rounding amplified at most 16×).

    Equal weights give exactly the unweighted estimators. ``x``–``x`` distances on the diagonal
    are exactly 0, so :math:`\\mathrm{MMD}^2_b(X, X) = 0` up to rounding of the sums.

    **Compilations.** Called eagerly (no argument traced), the samples are padded with zero
    rows to size buckets (``2^e·{1, 1.25, 1.5, 1.75}``, see ``jtransfer._core.sizes``) that
    carry zero weight in every sum and take no part in the median bandwidth, so all sample
    sizes of a bucket share one compiled program (sizes 1000 to 4000 compile 9 programs, not
    one per size). The value equals the unpadded one up to float32 rounding of the reordered
    sums (the tests hold it to 2e-5 relative against a float64 NumPy reference). Inside
    ``jax.jit``, ``grad`` or ``vmap`` the shapes are fixed, and nothing is padded.

    Args:
      source: ``(n, d)`` sample from P (e.g. source features), rows :math:`x_i`.
      target: ``(m, d)`` sample from Q (e.g. target features), rows :math:`y_j`.
      bandwidth: kernel bandwidth :math:`\\sigma` (see :func:`gaussian_kernel`): a positive
        number, a sequence (sum of kernels), or ``"median"`` (median pairwise distance of the
        pooled sample, no gradient through it).
      estimator: ``"biased"``, ``"unbiased"`` (default) or ``"linear"``.
      weights_source: optional ``(n,)`` non-negative importance weights for ``source`` (any
        positive scale; they are normalised).

    Returns:
      Scalar estimate of :math:`\\mathrm{MMD}^2` in the dtype of the inputs.

    Raises:
      ValueError: bad ranks, different feature dimensions, fewer than 2 samples, NaN/Inf,
        non-positive bandwidth, unknown estimator, ``"linear"`` with ``n != m``, or weights of
        the wrong shape / negative / with non-positive sum.

    Example:
      >>> import jax
      >>> from jtransfer import align
      >>> kx, ky = jax.random.split(jax.random.key(0))
      >>> x = jax.random.normal(kx, (64, 3)); y = jax.random.normal(ky, (64, 3)) + 1.0
      >>> bool(align.mmd2(x, y, bandwidth=1.0) > 0.05)
      True

    References:
      Gretton, Borgwardt, Rasch, Schölkopf, Smola, "A Kernel Two-Sample Test", JMLR 2012,
      https://jmlr.org/papers/v13/gretton12a.html (biased/unbiased: Lemma 6 and Eq. 3;
      linear time: Lemma 14).
    """
    _checks.check_choice(estimator, "estimator", ESTIMATORS)
    x, y = _checks.check_pair(source, target, "source", "target")
    n, m = x.shape[0], y.shape[0]
    w = None
    if weights_source is not None:
        w = _checks.check_weights(
            weights_source, "weights_source", n, f"source of shape {tuple(x.shape)}"
        )
        w = w.astype(x.dtype)
    if estimator == "linear" and n != m:
        raise ValueError(
            "estimator='linear' needs source and target with the same number "
            "of rows, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if estimator == "unbiased" and w is not None:
        _check_unbiased_weights(w, "weights_source")
    if isinstance(bandwidth, str):
        _checks.check_choice(bandwidth, "bandwidth", ("median",))
        sig = None
    else:
        sig = resolve_bandwidth(bandwidth, x, y)
    plan = exp_plan(bandwidth)
    if sizes.all_concrete(x, y, w, sig):
        return _mmd2_bucketed(x, y, sig, w, estimator=estimator, plan=plan)
    return _mmd2_jit(x, y, sig, w, estimator=estimator, plan=plan)


# Row-block size of the tiled Gram sums: a (block x n) strip of kernel values is formed by one
# matrix product and reduced at once by a fused exp/sum loop while it is still in cache.
_BLOCK = 128


# Largest error amplification allowed when a kernel is derived from another by squaring:
# exp(-2^p t) = exp(-t)^(2^p) multiplies the relative rounding error of exp(-t) by 2^p.
_MAX_AMPLIFICATION = 16


def exp_plan(bandwidth) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]] | None:
    """How to get the kernels of a multi-bandwidth sum with few ``exp`` calls (static).

    For bandwidths whose inverse squares differ by powers of two (the usual geometric
    ``σ·2^k`` families), :math:`e^{-2^p t} = (e^{-t})^{2^p}`: the kernel for
    :math:`\\gamma' = 2^p\\gamma` is ``p`` squarings of the kernel for :math:`\\gamma`, which
    costs ``p`` multiplies instead of one ``exp`` per entry. Each squaring doubles the relative
    rounding error, so a chain is cut (a fresh ``exp``) once it would amplify it by more than
    ``_MAX_AMPLIFICATION`` (16×, i.e. about 1e-6 relative in float32).

    Returns ``(steps, order)``: ``steps[u] = (source, squarings)`` for bandwidth ``u`` in the
    given order (``source == -1``: compute ``exp`` directly, otherwise square kernel ``source``
    ``squarings`` times), and ``order``, the kernels by increasing :math:`\\gamma` (sources
    first). ``None`` (every kernel by ``exp``) for a single, traced or non-numeric bandwidth,
    or when no pair of bandwidths is a power-of-two apart.
    """
    if isinstance(bandwidth, str) or np.ndim(bandwidth) == 0:
        return None
    try:
        sig = np.asarray(bandwidth, dtype=np.float64).reshape(-1)
    except (TypeError, jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None
    if sig.size < 2 or not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        return None
    gam = 1.0 / sig**2
    order = np.argsort(gam)
    plan: dict[int, tuple[int, int]] = {}
    amp: dict[int, int] = {}
    for k in order:
        best = (-1, 0)
        for j, a in amp.items():
            p = np.log2(gam[k] / gam[j])
            q = int(round(p))
            if 1 <= q and abs(p - q) < 1e-9 and a * 2**q <= _MAX_AMPLIFICATION:
                if best[0] < 0 or q < best[1]:
                    best = (j, q)
        plan[int(k)] = (int(best[0]), best[1])
        amp[int(k)] = 1 if best[0] < 0 else amp[best[0]] * 2 ** best[1]
    if all(src < 0 for src, _ in plan.values()):
        return None
    return tuple(plan[k] for k in range(sig.size)), tuple(int(k) for k in order)


def _kernel_sum(d2, gammas, plan):
    """``sum_u exp(-gammas[u] d2)``, with the squaring ``plan`` of :func:`exp_plan`."""
    if plan is None:
        k = jnp.exp(-d2 * gammas[0])
        for g in range(1, gammas.shape[0]):
            k = k + jnp.exp(-d2 * gammas[g])
        return k
    steps, order = plan
    vals: dict[int, jax.Array] = {}
    for u in order:
        src, sq = steps[u]
        if src < 0:
            v = jnp.exp(-d2 * gammas[u])
        else:
            v = vals[src]
            for _ in range(sq):
                v = v * v
        vals[u] = v
    total = vals[order[0]]
    for u in order[1:]:
        total = total + vals[u]
    return total


def _strip_sum(a, b, aa, bb, gammas, wa, wb, diag_offset, plan=None):
    """``sum_ij wa_i wb_j sum_u exp(-gamma_u d2_ij)`` for one strip; ``d2_ij`` is set to 0 where
    ``j == i + diag_offset`` (self-pairs of a symmetric block; ``None``: no self-pairs)."""
    # (-2 a) b^T is exact scaling, so d2 = |a|^2 + |b|^2 + (-2a) b^T needs no extra multiply.
    d2 = aa[:, None] + bb[None, :] + jnp.matmul(-2.0 * a, b.T, precision=jax.lax.Precision.HIGHEST)
    d2 = jnp.maximum(d2, 0.0)
    if diag_offset is not None:
        rows = jax.lax.broadcasted_iota(jnp.int32, d2.shape, 0)
        cols = jax.lax.broadcasted_iota(jnp.int32, d2.shape, 1)
        d2 = jnp.where(cols == rows + diag_offset, jnp.zeros((), d2.dtype), d2)
    k = _kernel_sum(d2, gammas, plan)
    if wa is not None:
        k = k * wa[:, None]
    if wb is not None:
        k = k * wb[None, :]
    return jnp.sum(k)


def _sym_gram_sum(x, gammas, w, block, plan=None):
    """``sum_ij w_i w_j k(x_i, x_j)`` (diagonal included, k(x_i, x_i) = K exactly) from the
    upper block triangle only: strip ``I`` covers rows of block ``I`` and columns from the start
    of block ``I`` on; the columns after the diagonal block count twice (symmetry)."""
    n = x.shape[0]
    xx = jnp.sum(x * x, axis=-1)
    total = jnp.zeros((), x.dtype)
    for r0 in range(0, n, block):
        r1 = min(r0 + block, n)
        wr = None if w is None else w[r0:r1]
        total = total + _strip_sum(
            x[r0:r1], x[r0:r1], xx[r0:r1], xx[r0:r1], gammas, wr, wr, 0, plan
        )
        if r1 < n:
            wc = None if w is None else w[r1:]
            total = total + 2.0 * _strip_sum(
                x[r0:r1], x[r1:], xx[r0:r1], xx[r1:], gammas, wr, wc, None, plan
            )
    return total


def _cross_sum(x, y, gammas, w, block, plan=None, wy=None):
    """``sum_ij w_i wy_j k(x_i, y_j)`` over row blocks of ``x`` (``None``: weights 1)."""
    xx, yy = jnp.sum(x * x, axis=-1), jnp.sum(y * y, axis=-1)
    total = jnp.zeros((), x.dtype)
    for r0 in range(0, x.shape[0], block):
        r1 = min(r0 + block, x.shape[0])
        wr = None if w is None else w[r0:r1]
        total = total + _strip_sum(x[r0:r1], y, xx[r0:r1], yy, gammas, wr, wy, None, plan)
    return total


def _from_sums(sxx, syy, sxy, w1, w2, m, num_k, estimator):
    """MMD² from the kernel sums (``sxx``, ``syy`` with their diagonals, ``sxy``) summed over
    ``num_k`` kernels, the source weights' sum ``w1`` and sum of squares ``w2`` and the target
    count ``m``: the V-statistic (``"biased"``) or the U-statistic (diagonals removed)."""
    sxy = sxy / w1
    if estimator == "biased":
        txx, tyy = sxx / (w1 * w1), syy / (m * m)
    else:
        txx = (sxx - num_k * w2) / (w1 * w1 - w2)
        tyy = (syy - num_k * m) / (m * (m - 1))
    return txx + tyy - 2.0 * sxy / m


def _mmd2_core(x, y, sig, w, *, estimator, block=_BLOCK, plan=None):
    if sig is None:
        sig = resolve_bandwidth("median", x, y)
    if estimator == "linear":
        return _linear_mmd2(x, y, sig, w)
    n, m = x.shape[0], y.shape[0]
    block = max(block, -(-max(n, m) // 64))  # at most 64 strips per sum: bounded compile time
    num_k = sig.shape[0]  # k(x, x) = 1 per kernel, so the diagonal sums to num_k each
    gammas = 1.0 / (2.0 * sig * sig)
    sxx = _sym_gram_sum(x, gammas, w, block, plan)
    syy = _sym_gram_sum(y, gammas, None, block, plan)
    sxy = _cross_sum(x, y, gammas, w, block, plan)
    if w is None:
        w1, w2 = float(n), float(n)
    else:
        w1, w2 = jnp.sum(w), jnp.sum(w * w)
    return _from_sums(sxx, syy, sxy, w1, w2, m, num_k, estimator)


_mmd2_jit = jax.jit(_mmd2_core, static_argnames=("estimator", "block", "plan"))


def _mmd2_bucketed(x, y, sig, w, *, estimator, plan):
    """:func:`mmd2` of concrete samples padded to shape buckets (one compile per bucket)."""
    n, m = x.shape[0], y.shape[0]
    n_pad = sizes.bucket(n)
    m_pad = n_pad if estimator == "linear" else sizes.bucket(m)  # linear: n == m
    dtype = x.dtype
    mx, my = sizes.row_mask(n, n_pad, dtype), sizes.row_mask(m, m_pad, dtype)
    wx = mx if w is None else sizes.pad_rows(w, n_pad)
    return _mmd2_padded_jit(
        sizes.pad_rows(x, n_pad),
        sizes.pad_rows(y, m_pad),
        mx,
        my,
        sig,
        wx,
        estimator=estimator,
        plan=plan,
        exact_median=n + m <= EXACT_MEDIAN_MAX,
    )


def _mmd2_padded_core(x, y, mx, my, sig, w, *, estimator, plan, exact_median, block=_BLOCK):
    """:func:`_mmd2_core` on padded samples: ``mx``/``my`` are 1 on real rows and 0 on padding,
    ``w`` the source weights (``mx`` when unweighted), 0 on padding. Every sum carries the
    weights, so a padded row adds exactly 0; the counts ``n``, ``m`` are traced."""
    if sig is None:
        valid = jnp.concatenate([mx, my]) > 0
        z = jnp.concatenate([x, y], axis=0)
        sig = median_sigma_padded(z, valid, exact=exact_median).reshape(1).astype(x.dtype)
    n, m = jnp.sum(mx), jnp.sum(my)
    if estimator == "linear":
        return _linear_mmd2_masked(x, y, sig, w, n)
    block = max(block, -(-max(x.shape[0], y.shape[0]) // 64))
    num_k = sig.shape[0]
    gammas = 1.0 / (2.0 * sig * sig)
    sxx = _sym_gram_sum(x, gammas, w, block, plan)
    syy = _sym_gram_sum(y, gammas, my, block, plan)
    sxy = _cross_sum(x, y, gammas, w, block, plan, wy=my)
    w1, w2 = jnp.sum(w), jnp.sum(w * w)
    return _from_sums(sxx, syy, sxy, w1, w2, m, num_k, estimator)


_mmd2_padded_jit = jax.jit(
    _mmd2_padded_core, static_argnames=("estimator", "plan", "exact_median", "block")
)


def _linear_mmd2_masked(x, y, sig, w, n):
    """:func:`_linear_mmd2` over the first ``floor(n / 2)`` pairs of padded samples (an odd
    last real row is dropped, as there); ``w`` is the padded weights or the row mask."""
    kxx, kyy, kxy, kyx = _linear_terms(x, y, sig)
    p = jnp.floor(n / 2)
    pm = (jnp.arange(kxx.shape[0]) < p).astype(kxx.dtype)
    w1, w2 = w[0::2] * pm, w[1::2] * pm
    txx = jnp.sum(w1 * w2 * kxx) / jnp.sum(w1 * w2)
    txy = jnp.sum(w1 * kxy + w2 * kyx) / jnp.sum(w1 + w2)
    return txx + jnp.sum(pm * kyy) / p - 2.0 * txy


def _pair_k(a: jax.Array, b: jax.Array, sig: jax.Array) -> jax.Array:
    return kernel_from_sq_dists(jnp.sum((a - b) ** 2, axis=-1), sig)


def _linear_terms(x, y, sig):
    """Per-pair kernel terms (k(x1,x2), k(y1,y2), k(x1,y2), k(x2,y1)) of the linear MMD."""
    p = x.shape[0] // 2
    x1, x2 = x[0 : 2 * p : 2], x[1 : 2 * p : 2]
    y1, y2 = y[0 : 2 * p : 2], y[1 : 2 * p : 2]
    return _pair_k(x1, x2, sig), _pair_k(y1, y2, sig), _pair_k(x1, y2, sig), _pair_k(x2, y1, sig)


def _linear_mmd2(x, y, sig, w):
    kxx, kyy, kxy, kyx = _linear_terms(x, y, sig)
    if w is None:
        return jnp.mean(kxx + kyy - kxy - kyx)
    p = kxx.shape[0]
    w1, w2 = w[0 : 2 * p : 2], w[1 : 2 * p : 2]
    txx = jnp.sum(w1 * w2 * kxx) / jnp.sum(w1 * w2)
    txy = jnp.sum(w1 * kxy + w2 * kyx) / jnp.sum(w1 + w2)
    return txx + jnp.mean(kyy) - 2.0 * txy


def mk_mmd_weights(
    source: jax.Array,
    target: jax.Array,
    bandwidths: Sequence[float] | jax.Array,
    *,
    ridge: float = 1e-4,
    tol: float | None = None,
) -> jax.Array:
    """Optimal multi-kernel weights :math:`\\beta` for MK-MMD (DAN), by a small QP in JAX.

    For kernels :math:`k_u` (one Gaussian per bandwidth) and the linear-time statistic
    :math:`h_u` (see :func:`mmd2`, ``estimator="linear"``), let
    :math:`\\eta_u = \\mathbb E\\,h_u` (the MMD² per kernel) and
    :math:`Q_{uv} = \\operatorname{cov}(h_u, h_v)`, both estimated on the
    :math:`\\lfloor n/2 \\rfloor` pairs. The test power of :math:`k = \\sum_u \\beta_u k_u` grows
    with :math:`\\eta^\\top\\beta / \\sqrt{\\beta^\\top Q\\beta}`; Gretton et al. (2012b) and
    DAN (Long et al. 2015, Eq. 7) maximise it by

    .. math::
        \\min_{\\beta} \\beta^\\top (Q + \\lambda I) \\beta
        \\quad\\text{s.t.}\\quad \\eta^\\top\\beta = 1,\\ \\beta \\ge 0 .

    We solve the equivalent :math:`\\min_{\\beta \\ge 0} \\tfrac12\\beta^\\top(Q+\\lambda I)\\beta
    - \\eta^\\top\\beta` (its KKT point is a positive multiple of the one above) with the
    OSQP-style ADMM solver and rescale to :math:`\\sum_u \\beta_u = 1`. The ridge is relative:
    :math:`\\lambda = \\text{ridge}\\cdot\\operatorname{tr}(Q)/K`. If no kernel has
    :math:`\\eta_u > 0` the problem is infeasible and uniform weights :math:`1/K` are returned.

    Args:
      source: ``(n, d)`` source sample.
      target: ``(n, d)`` target sample (same size as ``source``, ``n >= 4``).
      bandwidths: sequence of :math:`K` positive bandwidths (the :math:`\\sigma` convention of
        :func:`gaussian_kernel`).
      ridge: relative ridge :math:`> 0` added to :math:`Q`.
      tol: ADMM tolerance (default 1e-5 in float32, 1e-9 in float64).

    Returns:
      ``(K,)`` non-negative weights summing to 1 (no gradient flows through them). The
      MK-MMD loss is then ``sum_u beta[u] * mmd2(source, target, bandwidth=bandwidths[u])``.

    References:
      Gretton et al., "Optimal kernel choice for large-scale two-sample tests", NeurIPS 2012;
      Long, Cao, Wang, Jordan, "Learning Transferable Features with Deep Adaptation Networks",
      ICML 2015, https://arxiv.org/abs/1502.02791
    """
    x, y = _checks.check_pair(source, target, "source", "target", min_samples=4)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "mk_mmd_weights needs source and target with the same number of rows "
            f"(linear-time statistic), got shapes {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if isinstance(bandwidths, str):
        raise ValueError(f"bandwidths must be a sequence of positive numbers, got {bandwidths!r}")
    sig = resolve_bandwidth(bandwidths, x, y, name="bandwidths")
    _checks.check_positive(ridge, "ridge")
    x, y, dtype = _checks.half_to_float32(x, y)  # the QP's Cholesky has no half precision
    return _mk_weights_jit(x, y, sig.astype(x.dtype), ridge=float(ridge), tol=tol).astype(dtype)


@functools.partial(jax.jit, static_argnames=("ridge", "tol"))
def _mk_weights_jit(x, y, sig, *, ridge, tol):
    x, y = jax.lax.stop_gradient(x), jax.lax.stop_gradient(y)
    hs = []
    for u in range(sig.shape[0]):
        kxx, kyy, kxy, kyx = _linear_terms(x, y, sig[u : u + 1])
        hs.append(kxx + kyy - kxy - kyx)
    h = jnp.stack(hs, axis=1)  # (pairs, K)
    eta = jnp.mean(h, axis=0)
    hc = h - eta[None, :]
    q_mat = jnp.matmul(hc.T, hc, precision=jax.lax.Precision.HIGHEST) / (h.shape[0] - 1)
    num_k = sig.shape[0]
    tiny = jnp.finfo(x.dtype).tiny
    lam = ridge * (jnp.trace(q_mat) / num_k) + tiny
    q_mat = q_mat + lam * jnp.eye(num_k, dtype=x.dtype)
    eye = jnp.eye(num_k, dtype=x.dtype)
    sol = solvers.solve_qp(
        q_mat, -eta, eye, jnp.zeros(num_k, x.dtype), jnp.full((num_k,), jnp.inf, x.dtype), tol=tol
    )
    beta = jnp.maximum(sol.x, 0.0)
    total = jnp.sum(beta)
    ok = jnp.logical_and(total > 0, jnp.any(eta > 0))
    uniform = jnp.full((num_k,), 1.0 / num_k, x.dtype)
    return jax.lax.stop_gradient(jnp.where(ok, beta / jnp.where(ok, total, 1.0), uniform))
