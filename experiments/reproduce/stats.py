"""Effects with intervals: mean ± std (ddof = 1), paired gains with t intervals, verdicts.

A reproduction is judged on its **effect**, the gain of a method over the paper's baseline,
not on a level near the published one. Over ``n`` seeds (the same seeds for both arms, so the
differences are paired), with ``d_i`` the per-seed gain oriented so that positive is better,

.. math::

    \\bar d = \\frac{1}{n}\\sum_i d_i, \\quad
    s_d = \\sqrt{\\frac{1}{n - 1}\\sum_i (d_i - \\bar d)^2}, \\quad
    \\bar d \\pm t_{1 - \\alpha/2,\\, n - 1}\\, s_d / \\sqrt{n}.

The verdict compares that interval ``[low, high]`` with 0 and with the published gain ``g``
(same orientation):

* ``reproduced``: ``low > 0`` and ``g <= high`` (a positive effect, at least as large as the
  published one is compatible with ours; a gain *larger* than the paper's also counts);
* ``smaller``: ``low > 0`` but ``g > high`` (positive, but the published gain is excluded);
* ``absent``: ``low <= 0 <= high`` (no effect distinguishable from 0 at this n);
* ``reversed``: ``high < 0`` (the method is reliably worse than the baseline).

With a published gain ``g <= 0`` (the paper reports no gain) a positive interval reads
``differs`` (the sign cases are unchanged; ``absent`` then agrees with the paper).
No published gain gives ``gain`` / ``absent`` / ``reversed``; fewer than 2 seeds give
``n/a (1 seed)`` (no interval exists).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats

__all__ = [
    "Effect",
    "mean_std",
    "mean_std_text",
    "paired_gain",
    "published_gain",
    "verdict",
    "VERDICTS",
    "bootstrap_interval",
]

VERDICTS = ("reproduced", "smaller", "absent", "reversed", "differs", "gain", "n/a (1 seed)")


def _as_1d(values: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of per-seed values; got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite values: {a.tolist()}")
    return a


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; NaN std for one value).

    Args:
      values: per-seed values, shape ``(n,)``.

    Returns:
      ``(mean, std)`` as Python floats.

    Example:
      >>> mean_std([1.0, 2.0, 3.0])
      (2.0, 1.0)
    """
    a = _as_1d(values, "values")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def mean_std_text(values: Sequence[float], digits: int = 3) -> str:
    """``"mean ± std"`` of per-seed values at ``digits`` decimals (sample std, ddof = 1), as
    the report rows write them; one value gives the mean alone (no std exists). Non-finite
    values are printed, not rejected (a diverged run shows as ``nan``).

    Example:
      >>> mean_std_text([1.0, 2.0, 3.0], 2), mean_std_text([0.5])
      ('2.00 ± 1.00', '0.500')
    """
    text = f"{np.mean(values):.{digits}f}"
    return text if len(values) < 2 else f"{text} ± {np.std(values, ddof=1):.{digits}f}"


@dataclasses.dataclass(frozen=True)
class Effect:
    """A paired gain over seeds: mean, sample std of the differences, t interval, n.

    Attributes:
      mean: mean per-seed gain (positive = the method is better).
      std: sample std (ddof = 1) of the per-seed gains; NaN when ``n == 1``.
      low: lower end of the interval; NaN when ``n == 1``.
      high: upper end of the interval; NaN when ``n == 1``.
      n: number of seeds.
      confidence: the interval's confidence level.
    """

    mean: float
    std: float
    low: float
    high: float
    n: int
    confidence: float = 0.95


def paired_gain(
    method: Sequence[float],
    baseline: Sequence[float],
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> Effect:
    """Paired gain of ``method`` over ``baseline`` across seeds with a t-based interval.

    ``d_i = method_i - baseline_i`` (``baseline_i - method_i`` when lower is better, e.g. an
    error), then mean ± ``t_{(1+confidence)/2, n-1} * std(d, ddof=1) / sqrt(n)``.

    Args:
      method: per-seed values of the method, shape ``(n,)``.
      baseline: per-seed values of the baseline on the same seeds, shape ``(n,)``.
      higher_is_better: orientation of the metric (accuracy: True; MAE, loss: False).
      confidence: level of the two-sided interval, in (0, 1).

    Returns:
      An :class:`Effect`.

    Example:
      >>> e = paired_gain([3.0, 4.0, 8.0], [1.0, 2.0, 3.0])  # d = [2, 2, 5], s = sqrt(3)
      >>> round(e.mean, 3), round(e.low, 2), round(e.high, 2), e.n  # 3 -/+ 4.303 s / sqrt(3)
      (3.0, -1.3, 7.3, 3)

    References:
      Student (1908), "The probable error of a mean"; the paired t interval.
    """
    m, b = _as_1d(method, "method"), _as_1d(baseline, "baseline")
    if m.shape != b.shape:
        raise ValueError(
            f"method and baseline must hold the same seeds; got shapes {m.shape} and {b.shape}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    d = m - b if higher_is_better else b - m
    n = d.size
    mean = float(d.mean())
    if n < 2:
        return Effect(mean, math.nan, math.nan, math.nan, n, confidence)
    std = float(d.std(ddof=1))
    half = float(scipy.stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return Effect(mean, std, mean - half, mean + half, n, confidence)


def published_gain(
    method: float | None, baseline: float | None, *, higher_is_better: bool = True
) -> float | None:
    """The paper's gain in the same orientation as :func:`paired_gain` (None if unknown).

    Example:
      >>> round(published_gain(0.108, 0.248, higher_is_better=False), 3)
      0.14
    """
    if method is None or baseline is None:
        return None
    return float(method - baseline) if higher_is_better else float(baseline - method)


def verdict(effect: Effect, published: float | None) -> str:
    """Classifies our interval against 0 and the published gain (rules in the module doc).

    Args:
      effect: our paired gain (:func:`paired_gain`).
      published: the published gain, same orientation (:func:`published_gain`), or None.

    Returns:
      One of :data:`VERDICTS`.

    Example:
      >>> verdict(Effect(0.05, 0.01, 0.03, 0.07, 5), 0.06)
      'reproduced'
      >>> verdict(Effect(0.05, 0.01, 0.03, 0.07, 5), 0.10)
      'smaller'
    """
    if effect.n < 2 or math.isnan(effect.low):
        return "n/a (1 seed)"
    if effect.high < 0:
        return "reversed"
    if effect.low <= 0:
        return "absent"
    if published is None:
        return "gain"
    if published <= 0:
        return "differs"
    return "reproduced" if published <= effect.high else "smaller"


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float | np.ndarray],
    n: int,
    *,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of a statistic of ``n`` units, resampled jointly.

    Draws ``B = num_resamples`` index vectors ``i_b ~ Uniform{0..n-1}^n`` (with replacement;
    the same indices for every array the statistic reads, i.e. a *paired* bootstrap), computes
    ``θ_b = statistic(i_b)`` and returns the point estimate ``statistic(arange(n))`` and the
    ``(1 - confidence)/2`` and ``(1 + confidence)/2`` percentiles of the finite ``θ_b``
    (linear interpolation; resamples where the statistic is undefined, e.g. a rank
    correlation of a constant vector, are dropped).

    The draws are ``np.random.default_rng(seed).integers(0, n, (B, n))``, as in
    ``scipy.stats.bootstrap(..., paired=True, method="percentile")`` with the same generator,
    so both give the same interval when no resample is dropped.

    Args:
      statistic: ``statistic(idx) -> float`` for an int index array ``idx`` of shape ``(n,)``;
        it may also return a 1-D array of ``m`` statistics (one interval each, from the same
        resamples, so that several statistics cost one pass).
      n: number of units (e.g. shifts, models) resampled.
      num_resamples: B.
      confidence: level of the two-sided interval, in (0, 1).
      seed: seed of the NumPy generator of the resamples.

    Returns:
      ``(point, low, high)`` as Python floats (NaN ends if no resample is finite), or three
      ``(m,)`` arrays for a vector statistic.

    Example:
      >>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
      >>> p, lo, hi = bootstrap_interval(lambda i: float(x[i].mean()), 5, seed=0)
      >>> p, bool(lo < 3.0 < hi)
      (3.0, True)

    References:
      B. Efron, R. Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13 (percentile
      interval).
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2 (units to resample); got {n!r}")
    if not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"num_resamples must be a positive int; got {num_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    idx = np.random.default_rng(seed).integers(0, n, (int(num_resamples), int(n)))
    point = np.asarray(statistic(np.arange(n)), dtype=np.float64)
    if point.ndim > 1:
        raise ValueError(f"statistic must return a scalar or a 1-D array; got {point.shape}")
    theta = np.array([np.reshape(statistic(i), -1) for i in idx], dtype=np.float64)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.full(theta.shape[1], math.nan), np.full(theta.shape[1], math.nan)
    for j in range(theta.shape[1]):
        col = theta[:, j][np.isfinite(theta[:, j])]
        if col.size:
            low[j], high[j] = np.percentile(col, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    if point.ndim == 0:
        return float(point), float(low[0]), float(high[0])
    return point, low, high
