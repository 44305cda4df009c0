"""Negative-transfer check: adapted model vs a target-only baseline, with a confidence
interval and a verdict."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from jtransfer._core.checks import check_vector
from jtransfer._core.keys import default_key

VERDICTS = ("negative transfer", "positive transfer", "inconclusive")


class NegativeTransferReport(NamedTuple):
    """Result of :func:`negative_transfer_report` (Python floats and a string)."""

    gain: float  # estimated E[adapted - baseline] (in "higher is better" units)
    ci_low: float  # lower end of the two-sided confidence interval of ``gain``
    ci_high: float  # upper end
    confidence: float  # e.g. 0.95
    n: int  # number of paired examples
    verdict: str  # one of VERDICTS

    def __str__(self) -> str:
        return (
            f"{self.verdict}: gain {self.gain:+.4f} "
            f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}] ({self.confidence:.0%} CI, "
            f"n={self.n})"
        )


def negative_transfer_report(
    adapted: jax.Array,
    baseline: jax.Array,
    *,
    weights: jax.Array | None = None,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    margin: float = 0.0,
    method: str = "normal",
    key: jax.Array | None = None,
    num_bootstrap: int = 2000,
) -> NegativeTransferReport:
    r"""Does the adapted (transferred) model beat a target-only baseline? With a CI.

    Both models are scored on the same examples: per-example correctness (or negative loss)
    on the few labelled target examples — each example held out from the baseline's
    training, e.g. by cross-validation — or, label-free, per-example source-validation
    losses with importance weights :math:`w_i\approx q/p` (pass ``weights``). With
    :math:`d_i = w_i\,(a_i - b_i)` (``w = 1`` without weights; signs flipped when
    ``higher_is_better=False``) the gain is :math:`\bar d`, an unbiased estimate of the
    target-risk difference, and the two-sided interval is

    * ``"normal"``: :math:`\bar d \pm z_{(1+c)/2}\,s_d/\sqrt n` (paired CLT interval),
    * ``"bootstrap"``: percentile interval of :math:`\bar d` over ``num_bootstrap``
      resamples of the pairs drawn with ``key``.

    Decision rule: **negative transfer** if the whole interval lies below ``-margin``
    (:math:`\mathrm{ci}_{high} < -\text{margin}`), **positive transfer** if it lies above
    ``+margin``, **inconclusive** otherwise. With ``margin = 0`` this is a paired test of
    :math:`H_0:` gain = 0 at level :math:`1-c` (two-sided).

    Args:
      adapted: (n,) per-example scores of the adapted model.
      baseline: (n,) per-example scores of the target-only baseline on the same examples.
      weights: optional (n,) non-negative importance weights (label-free estimate).
      higher_is_better: ``True`` for accuracies, ``False`` for losses.
      confidence: interval level in (0, 1).
      margin: practical-significance margin ≥ 0 (in score units).
      method: ``"normal"`` or ``"bootstrap"``.
      key: ``jax.random`` key of the bootstrap resamples (``None``: ``jax.random.key(0)``).
      num_bootstrap: bootstrap resamples.

    Returns:
      :class:`NegativeTransferReport` with ``gain``, ``ci_low``, ``ci_high``, ``n`` and
      ``verdict``.

    References:
      Wang et al. 2019, "Characterizing and Avoiding Negative Transfer",
      https://arxiv.org/abs/1811.09751 (definition: negative transfer when the
      transferred model is worse than the target-only one); Zhang et al. 2022, "A Survey
      on Negative Transfer", https://arxiv.org/abs/2009.00909
    """
    a = check_vector(adapted, "adapted")
    b = check_vector(baseline, "baseline", a.shape[0], "adapted")
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 paired examples, got adapted shape {a.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    if method not in ("normal", "bootstrap"):
        raise ValueError(f"method must be 'normal' or 'bootstrap', got {method!r}")
    d = a - b if higher_is_better else b - a
    if weights is not None:
        w = check_vector(weights, "weights", n, "adapted")
        if bool(jnp.any(w < 0)):
            raise ValueError(f"weights (shape {w.shape}) must be non-negative")
        d = w * d
    gain = float(jnp.mean(d))
    if method == "normal":
        sd = float(jnp.std(d, ddof=1))
        half = float(ndtri((1.0 + confidence) / 2.0)) * sd / np.sqrt(n)
        lo, hi = gain - half, gain + half
    else:
        idx = jax.random.randint(default_key(key), (int(num_bootstrap), n), 0, n)
        means = jnp.mean(d[idx], axis=1)
        alpha = (1.0 - confidence) / 2.0
        lo, hi = (float(q) for q in jnp.quantile(means, jnp.array([alpha, 1.0 - alpha])))
    if hi < -margin:
        verdict = VERDICTS[0]
    elif lo > margin:
        verdict = VERDICTS[1]
    else:
        verdict = VERDICTS[2]
    return NegativeTransferReport(gain, lo, hi, float(confidence), int(n), verdict)
