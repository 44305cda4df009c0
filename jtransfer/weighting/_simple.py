"""Classifier ratio, KDE ratio, weighted mean and effective sample size (private module)."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer._core import checks as _checks
from jtransfer._core import sizes
from jtransfer._core.distances import pairwise_sq_dists
from jtransfer._core.kernels import (
    EXACT_MEDIAN_MAX,
    Bandwidth,
    bandwidth_or_median,
    kernel_from_sq_dists,
    padded_median_sigmas,
    resolve_bandwidth,
)
from jtransfer.weighting._results import KDERatio, kde_ratio_at

FORMS = ("ratio", "probability")


def from_domain_classifier(
    prob_target: jax.Array, *, n_source: int, n_target: int, form: str = "ratio", clip: float = 1e-3
) -> jax.Array:
    """Importance weights from a probabilistic domain classifier.

    A classifier trained to tell target (label 1) from source (label 0) on
    :math:`n_t` and :math:`n_s` examples estimates
    :math:`p(x) = P(\\text{target}\\mid x) = n_t q(x) / (n_s p(x) + n_t q(x))`, so

    .. math::
        \\text{``ratio''}:\\quad w(x) = \\frac{n_s}{n_t}\\,\\frac{p(x)}{1 - p(x)}
        \\approx \\frac{q(x)}{p(x)} \\qquad
        \\text{``probability''}:\\quad w(x) = \\frac{r}{1 + r} = \\frac{Q}{P + Q},
        \\ r = \\frac{n_s}{n_t}\\frac{p}{1-p}.

    ``"ratio"`` is the importance weight of covariate shift (Bickel et al. 2009);
    ``"probability"`` is :math:`w = Q/(P+Q)`, the domain classifier's probability that
    :math:`x` is a target point once the class priors are balanced; it is bounded in (0, 1),
    equal to ``prob_target`` when :math:`n_s = n_t`, and *not* an unbiased importance weight.

    **Clipping.** ``prob_target`` is clipped to ``[clip, 1 - clip]`` before use, so the
    ratio weights lie in :math:`\\frac{n_s}{n_t}[\\frac{c}{1-c}, \\frac{1-c}{c}]` (with the
    default :math:`c = 10^{-3}`: between about :math:`10^{-3}` and :math:`999` times
    :math:`n_s/n_t`). This bounds the variance caused by over-confident classifiers.

    Args:
      prob_target: ``(n,)`` or ``(n, 1)`` classifier probabilities of "target", in [0, 1].
      n_source: number of source examples the classifier was trained on (positive int).
      n_target: number of target examples it was trained on (positive int).
      form: ``"ratio"`` (default, :math:`q/p`) or ``"probability"`` (:math:`Q/(P+Q)`).
      clip: probability clip :math:`c \\in (0, 0.5)`.

    Returns:
      ``(n,)`` weights.

    References:
      Bickel, Brückner, Scheffer, "Discriminative Learning Under Covariate Shift", JMLR 2009,
      https://jmlr.org/papers/v10/bickel09a.html
    """
    _checks.check_choice(form, "form", FORMS)
    p = _checks.as_float(prob_target, "prob_target")
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1:
        raise ValueError(
            f"prob_target must have shape (n,) or (n, 1), got shape {tuple(jnp.shape(prob_target))}"
        )
    _checks.check_probabilities(p, "prob_target")
    for name, v in (("n_source", n_source), ("n_target", n_target)):
        if not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not 0 < clip < 0.5:
        raise ValueError(f"clip must be in (0, 0.5), got {clip!r}")
    p = jnp.clip(p, clip, 1.0 - clip)
    r = (n_source / n_target) * p / (1.0 - p)
    return r if form == "ratio" else r / (1.0 + r)


def kde_ratio(source: jax.Array, target: jax.Array, *, bandwidth: Bandwidth = "median") -> KDERatio:
    """Density ratio as a ratio of Gaussian kernel density estimates.

    .. math::
        \\hat w(x) = \\frac{\\hat q(x)}{\\hat p(x)} =
        \\frac{\\frac1{n_t}\\sum_j k(x, x^t_j)}{\\frac1{n_s}\\sum_i k(x, x^s_i)},

    with the same Gaussian kernel (library σ convention) in both, so the normalising
    constants :math:`(2\\pi\\sigma^2)^{-d/2}` cancel. :math:`\\hat p` at a source point
    includes the point itself (no leave-one-out). Simple but poor in high dimension.

    Called eagerly, the samples are padded to size buckets (see ``jtransfer._core.sizes``)
    with rows masked out of both kernel means and of the median bandwidth, so all sizes of a
    bucket share one compiled program; under a trace nothing is padded.

    Args:
      source: ``(n_s, d)`` source sample (density p).
      target: ``(n_t, d)`` target sample (density q).
      bandwidth: σ (number, sequence = sum of kernels, or ``"median"`` of the pooled sample).

    Returns:
      :class:`KDERatio` with ``.weights (n_s,)`` and ``.predict(x)``.

    References:
      Sugiyama, Suzuki, Kanamori, "Density Ratio Estimation in Machine Learning", CUP 2012
      (Ch. 2, the naive KDE approach).
    """
    xs, xt = _checks.check_pair(source, target, "source", "target")
    if sizes.all_concrete(xs, xt, bandwidth):
        weights, sig = _kde_bucketed(xs, xt, bandwidth_or_median(bandwidth, xs, xt))
    else:
        sig = resolve_bandwidth(bandwidth, xs, xt)
        weights = _kde_jit(xs, xt, sig)
    if _checks.is_concrete(weights) and not np.any(np.asarray(weights) > 0):
        warnings.warn(
            "kde_ratio: every weight underflowed to 0 (the target density estimate is below "
            f"the smallest {xs.dtype} number at every source point: bandwidth "
            f"{np.asarray(sig).tolist()} is small for the distance between the samples); use "
            "weighting.kde_log_ratio (log-space, normalise with jax.nn.softmax) or a larger "
            "bandwidth",
            RuntimeWarning,
            stacklevel=2,
        )
    return KDERatio(weights, xs, xt, sig)


@jax.jit
def _kde_jit(xs, xt, sig):
    return kde_ratio_at(xs, xs, xt, sig)


def _kde_bucketed(xs, xt, sig):
    """:func:`kde_ratio` weights (and sigmas) of concrete samples padded to shape buckets, so
    all sizes of a bucket share one compiled program; ``sig`` ``None`` is the median."""
    n, m = xs.shape[0], xt.shape[0]
    n_pad, m_pad = sizes.bucket(n), sizes.bucket(m)
    w, sig = _kde_padded_jit(
        sizes.pad_rows(xs, n_pad),
        sizes.pad_rows(xt, m_pad),
        sizes.row_mask(n, n_pad, xs.dtype),
        sizes.row_mask(m, m_pad, xs.dtype),
        sig,
        exact_median=n + m <= EXACT_MEDIAN_MAX,
    )
    return (w if n == n_pad else w[:n]), sig


@functools.partial(jax.jit, static_argnames=("exact_median",))
def _kde_padded_jit(xs, xt, ms, mt, sig, *, exact_median):
    """:func:`kde_ratio_at` at the rows of padded ``xs``: every kernel sum carries the row
    masks (a padded row adds exactly 0), the means divide by the real counts."""
    if sig is None:
        sig = padded_median_sigmas(xs, xt, ms, mt, exact=exact_median)
    q = kernel_from_sq_dists(pairwise_sq_dists(xs, xt), sig) @ mt / jnp.sum(mt)
    p = kernel_from_sq_dists(pairwise_sq_dists(xs, xs), sig) @ ms / jnp.sum(ms)
    return q / p, sig


def kde_log_ratio(
    source: jax.Array, target: jax.Array, *, bandwidth: Bandwidth = "median"
) -> jax.Array:
    r"""Log of the KDE density ratio at the source points, computed in log space.

    .. math::
        \log \hat w(x^s_i) = \operatorname{logsumexp}_{j,u}\Big(-\frac{\lVert x^s_i -
        x^t_j\rVert^2}{2\sigma_u^2}\Big) - \log n_t
        - \operatorname{logsumexp}_{k,u}\Big(-\frac{\lVert x^s_i - x^s_k\rVert^2}
        {2\sigma_u^2}\Big) + \log n_s .

    The same estimate as :func:`kde_ratio` (whose ``exp`` underflows to all-zero weights when
    the samples are far apart relative to the bandwidth), but finite whenever the distances are:
    normalised weights are ``jax.nn.softmax(log_w) * n_s``.

    Args:
      source: ``(n_s, d)`` source sample (density p).
      target: ``(n_t, d)`` target sample (density q).
      bandwidth: σ (number, sequence = sum of kernels, or ``"median"`` of the pooled sample).

    Returns:
      ``(n_s,)`` log density ratios.

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import weighting
      >>> xs = jnp.array([[0.0], [1.0]]); xt = xs + 100.0
      >>> log_w = weighting.kde_log_ratio(xs, xt, bandwidth=0.5)
      >>> [round(float(v), 1) for v in log_w]
      [-20000.1, -19602.1]

    References:
      Sugiyama, Suzuki, Kanamori, "Density Ratio Estimation in Machine Learning", CUP 2012.
    """
    xs, xt = _checks.check_pair(source, target, "source", "target")
    sig = resolve_bandwidth(bandwidth, xs, xt)
    return _kde_log_jit(xs, xt, sig)


@jax.jit
def _kde_log_jit(xs, xt, sig):
    gammas = 1.0 / (2.0 * sig * sig)

    def log_mean_kernel(a, b):
        logk = -pairwise_sq_dists(a, b)[:, :, None] * gammas[None, None, :]
        return jax.nn.logsumexp(logk.reshape(a.shape[0], -1), axis=1) - jnp.log(b.shape[0])

    return log_mean_kernel(xs, xt) - log_mean_kernel(xs, xs)


def _check_weight_vector(weights, name="weights"):
    w = _checks.as_float(weights, name)
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n,), got shape {tuple(w.shape)}")
    return _checks.check_weights(w, name, w.shape[0], "itself")


def weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Self-normalised weighted mean over the leading axis.

    .. math:: \\bar v_w = \\frac{\\sum_i w_i v_i}{\\sum_i w_i}

    With importance weights :math:`w = q/p` on a sample from P this estimates
    :math:`\\mathbb E_Q[v]` (the identity :math:`\\mathbb E_P[w v] = \\mathbb E_Q[v]`), e.g. a
    target-domain risk from source losses. Self-normalisation makes the weights' scale
    irrelevant (consistent, slightly biased, lower variance than :math:`\\frac1n\\sum w v`).

    Args:
      values: ``(n, ...)`` values (losses, predictions, ...).
      weights: ``(n,)`` non-negative weights with a positive sum.

    Returns:
      ``values.shape[1:]`` weighted mean.

    References:
      Shimodaira, "Improving predictive inference under covariate shift by weighting the
      log-likelihood function", J. Stat. Plan. Inference 2000.
    """
    v = _checks.as_float(values, "values")
    w = _check_weight_vector(weights)
    if v.ndim < 1 or v.shape[0] != w.shape[0]:
        raise ValueError(
            f"values must have leading dimension {w.shape[0]} to match weights, got "
            f"shapes {tuple(v.shape)} and {tuple(w.shape)}"
        )
    wb = w.astype(v.dtype).reshape((w.shape[0],) + (1,) * (v.ndim - 1))
    return jnp.sum(wb * v, axis=0) / jnp.sum(w).astype(v.dtype)


def effective_sample_size(weights: jax.Array) -> jax.Array:
    """Kish's effective sample size of importance weights.

    .. math:: n_{\\mathrm{eff}} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2} \\in [1, n]

    equal to n for constant weights and to 1 when one weight dominates; the variance of the
    weighted mean of i.i.d. values is about :math:`\\sigma^2 / n_{\\mathrm{eff}}`.

    Args:
      weights: ``(n,)`` non-negative weights with a positive sum.

    Returns:
      Scalar :math:`n_{\\mathrm{eff}}`.

    References:
      Kish, "Survey Sampling", 1965; Owen, "Monte Carlo theory, methods and examples", Ch. 9.
    """
    w = _check_weight_vector(weights)
    return jnp.sum(w) ** 2 / jnp.sum(w * w)
