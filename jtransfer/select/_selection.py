"""Label-free model selection: importance-weighted validation, deep embedded validation,
soft neighbourhood density, prediction entropy."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jtransfer import weighting
from jtransfer._core.checks import (
    check_choice,
    check_matrix,
    check_nonnegative,
    check_nonnegative_entries,
    check_positive,
    check_probabilities,
    check_vector,
)
from jtransfer._core.extras import import_extra


def _check_losses_weights(losses, weights):
    losses = check_vector(losses, "losses")
    weights = check_vector(weights, "weights", losses.shape[0], "losses")
    if losses.shape[0] < 2:
        raise ValueError(f"losses needs at least 2 entries, got shape {losses.shape}")
    check_nonnegative_entries(weights, "weights")
    dtype = jnp.result_type(losses.dtype, weights.dtype)
    return losses.astype(dtype), weights.astype(dtype)


DEFAULT_CLIP_QUANTILE = 0.99
"""Default quantile at which :func:`domain_classifier_weights` caps the weights (the top 1 %
of the validation weights are set to their 99th percentile)."""

DEFAULT_ESS_WARNING = 0.1
"""Default threshold of :func:`select_by_risk`: a warning when the weights' effective sample
size is below this fraction of the validation set."""


def domain_classifier_weights(
    source,
    target,
    *,
    x_eval=None,
    C: float = 1.0,
    clip_quantile: float | None = DEFAULT_CLIP_QUANTILE,
    max_weight: float | None = None,
    normalize: bool = True,
) -> np.ndarray:
    r"""Importance weights :math:`w(x)\approx q(x)/p(x)` for label-free selection.

    The one weighting that ``jtransfer.select`` and the DA recipes use for
    importance-weighted validation (IWV, DEV, :func:`iw_accuracy`). A logistic domain
    classifier (scikit-learn, L-BFGS, inverse L2 strength ``C``) separates ``source``
    (label 0) from ``target`` (label 1); its target probability :math:`\pi(x)` on the points
    ``x_eval`` becomes

    .. math::
        w = \frac{n_s}{n_t}\frac{\pi}{1-\pi}
        \ \xrightarrow{\ \min(\cdot,\ \texttt{max\_weight})\ }
        \ \xrightarrow{\ \min(\cdot,\ Q_q(w))\ }
        \ \xrightarrow{\ /\,\bar w\ } \ w,

    with :math:`\pi` clipped to :math:`[10^{-6}, 1-10^{-6}]`
    (``jtransfer.weighting.from_domain_classifier``), an optional absolute cap, a cap at the
    ``clip_quantile`` quantile :math:`Q_q` of the ``x_eval`` weights (default 0.99: the top 1 %
    are set to the 99th percentile; truncated importance sampling, Ionides 2008) and division
    by their mean over ``x_eval`` (mean 1 on the validation set; Sugiyama et al. 2007).

    The safeguards matter: unclipped density ratios of a well-separating classifier reach
    hundreds of times the mean and leave an effective sample size of a few percent
    (:func:`select_by_risk` reports it). With mean-1 weights, ``iwv_risk`` of 0/1 losses
    stays in [0, 1] (:math:`w_i\ell_i \le w_i`).

    Args:
      source: ``(n_s, d)`` source (training) inputs or features.
      target: ``(n_t, d)`` unlabelled target inputs.
      x_eval: ``(m, d)`` points to weight (default ``source``): a held-out labelled source
        validation set, as in DEV (classifier fitted on the training part only).
      C: the classifier's inverse regularisation strength (> 0).
      clip_quantile: quantile in (0, 1] of the ``x_eval`` weights at which to cap them, or
        ``None`` for no quantile cap.
      max_weight: absolute cap on the ratio before normalisation, or ``None``.
      normalize: divide by the mean over ``x_eval`` (``False`` keeps the ratio's own scale,
        e.g. for DEV as published, whose control variate uses :math:`\bar w - 1`).

    Returns:
      ``(m,)`` float32 non-negative weights (mean 1 when ``normalize``).

    Example:
      >>> import numpy as np
      >>> from jtransfer import select
      >>> rng = np.random.default_rng(0)
      >>> xs = rng.normal(size=(200, 1)); xt = rng.normal(size=(200, 1)) + 1.0
      >>> w = select.domain_classifier_weights(xs, xt)
      >>> w.shape, round(float(w.mean()), 4), bool(w[xs[:, 0].argmax()] > w[xs[:, 0].argmin()])
      ((200,), 1.0, True)

    References:
      Bickel, Brückner & Scheffer 2009, "Discriminative Learning Under Covariate Shift", JMLR
      10; Sugiyama, Krauledat & Müller 2007, JMLR 8; Ionides 2008, "Truncated Importance
      Sampling", J. Comput. Graph. Stat. 17(2); You et al. 2019 (DEV), ICML.
    """
    LogisticRegression = import_extra(
        "sklearn.linear_model", "data", "select.domain_classifier_weights"
    ).LogisticRegression

    xs, xt = np.asarray(source), np.asarray(target)
    if xs.ndim != 2 or xt.ndim != 2 or xs.shape[1] != xt.shape[1] or len(xs) < 1 or len(xt) < 1:
        raise ValueError(
            f"source and target must be non-empty (n, d) matrices with the same d, "
            f"got shapes {xs.shape} and {xt.shape}"
        )
    xe = xs if x_eval is None else np.asarray(x_eval)
    if xe.ndim != 2 or xe.shape[1] != xs.shape[1] or len(xe) < 1:
        raise ValueError(
            f"x_eval must be a non-empty (m, {xs.shape[1]}) matrix like source "
            f"{xs.shape}, got shape {xe.shape}"
        )
    check_positive(C, "C")
    if clip_quantile is not None and not 0.0 < float(clip_quantile) <= 1.0:
        raise ValueError(f"clip_quantile must be in (0, 1] or None, got {clip_quantile}")
    if max_weight is not None:
        check_positive(max_weight, "max_weight")
    x = np.concatenate([xs, xt])
    d = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))])
    clf = LogisticRegression(C=C, max_iter=1000).fit(x, d)
    p = clf.predict_proba(xe)[:, 1]
    w = np.asarray(
        weighting.from_domain_classifier(p, n_source=len(xs), n_target=len(xt), clip=1e-6),
        np.float64,
    )
    if max_weight is not None:
        w = np.clip(w, 0.0, max_weight)
    if clip_quantile is not None:
        w = np.minimum(w, np.quantile(w, float(clip_quantile)))
    if normalize:
        w = w / w.mean()
    return w.astype(np.float32)


def iwv_risk(losses: jax.Array, weights: jax.Array, *, self_normalize: bool = False) -> jax.Array:
    r"""Importance-weighted validation risk (IWV): a target-risk estimate from source data.

    Under covariate shift, :math:`\mathbb E_{x\sim q}[\ell(x)] = \mathbb E_{x\sim p}[w(x)\ell(x)]`
    with :math:`w = q/p`. On source validation losses :math:`\ell_i` with weights
    :math:`w_i`:

    .. math::
        \hat R_{\mathrm{IW}} = \frac1n\sum_i w_i\ell_i \quad\text{(unbiased when } w
        \text{ is the true ratio)},\qquad
        \hat R_{\mathrm{SN}} = \frac{\sum_i w_i\ell_i}{\sum_i w_i}\ \text{(self-normalised,
        via } \texttt{jtransfer.weighting.weighted\_mean}\text{)}.

    The variance of :math:`\hat R_{\mathrm{IW}}` is :math:`\mathrm{Var}_p(w\ell)/n`, large
    when the weights are spread (see ``weighting.effective_sample_size``).

    Args:
      losses: (n,) per-example losses (or 0/1 errors) on labelled source validation data.
      weights: (n,) importance weights :math:`w(x_i)` (any ``jtransfer.weighting`` method).
      self_normalize: use the self-normalised (consistent, slightly biased) form.

    Returns:
      Scalar estimated target risk (lower is better). For losses in [0, 1] (0/1 errors) the
      self-normalised form, and the plain form with weights of mean 1 over these ``n``
      points (:func:`domain_classifier_weights` with ``x_eval``), lie in [0, 1]; the plain
      form with weights of another scale does not (it is that scale times a risk).

    References:
      Sugiyama, Krauledat & Müller 2007, "Covariate Shift Adaptation by Importance Weighted
      Cross Validation", JMLR 8, https://jmlr.org/papers/v8/sugiyama07a.html
    """
    losses, weights = _check_losses_weights(losses, weights)
    if self_normalize:
        return weighting.weighted_mean(losses, weights)
    return jnp.mean(weights * losses)


def dev_risk(losses: jax.Array, weights: jax.Array) -> jax.Array:
    r"""Deep embedded validation (DEV): IWV with a control variate.

    Since :math:`\mathbb E_p[w] = 1`, :math:`\eta(\bar w - 1)` has mean zero for any
    :math:`\eta`; DEV uses the variance-minimising :math:`\eta`:

    .. math::
        \hat R_{\mathrm{DEV}} = \overline{w\ell} + \eta\,\bar w - \eta,\qquad
        \eta = -\frac{\widehat{\mathrm{Cov}}(w\ell, w)}{\widehat{\mathrm{Var}}(w)},

    so :math:`\mathrm{Var}(\hat R_{\mathrm{DEV}}) = \mathrm{Var}(\overline{w\ell})(1-\rho^2)`
    asymptotically, :math:`\rho` the correlation of :math:`w\ell` and :math:`w`.
    (Sample covariances with :math:`1/(n-1)`; a constant ``weights`` vector gives
    :math:`\eta = 0`.)

    Args:
      losses: (n,) per-example losses on source validation data.
      weights: (n,) density-ratio weights of the validation points (e.g.
        :func:`domain_classifier_weights` with ``x_eval``; the paper fits the
        discriminator on training features).

    Returns:
      Scalar estimated target risk (lower is better). **Not bounded** to the range of the
      losses: the control-variate correction :math:`\eta(\bar w - 1)` is linear, so with
      spread weights whose mean is far from 1 the estimate of 0/1 errors can be negative or
      above 1 (the published estimator; clipping it would hide the degeneracy, which
      :func:`select_by_risk` reports instead). With weights of mean exactly 1 the correction
      vanishes and DEV equals IWV.

    References:
      You et al. 2019, "Towards Accurate Model Selection in Deep Unsupervised Domain
      Adaptation", ICML, http://proceedings.mlr.press/v97/you19a.html
    """
    losses, weights = _check_losses_weights(losses, weights)
    wl = weights * losses
    n = losses.shape[0]
    wc = weights - weights.mean()
    var_w = jnp.sum(wc * wc) / (n - 1)
    cov = jnp.sum((wl - wl.mean()) * wc) / (n - 1)
    eta = jnp.where(var_w > 0, -cov / jnp.where(var_w > 0, var_w, 1.0), 0.0)
    return wl.mean() + eta * weights.mean() - eta


class Selection(NamedTuple):
    """Outcome of :func:`select_by_risk` (plain NumPy / Python values)."""

    index: int  # the chosen candidate
    risks: np.ndarray  # (k,) the criterion's estimated target risks
    source_risks: np.ndarray  # (k,) unweighted validation risks (the first tie-break key)
    tied: tuple[int, ...]  # candidates within tie_tol of the best risk (index among them)
    ess: float  # Kish effective sample size of the weights
    ess_fraction: float  # ess / n
    criterion: str
    warnings: tuple[str, ...]  # the warnings issued (low ESS, risks outside the loss range)


SELECTION_CRITERIA = ("iwv", "dev", "source")


def select_by_risk(
    losses,
    weights,
    *,
    criterion: str = "iwv",
    ess_warning: float = DEFAULT_ESS_WARNING,
    tie_tol: float = 1e-7,
) -> Selection:
    r"""Choose one of ``k`` candidate models by an importance-weighted validation risk.

    Every candidate is evaluated on the same labelled source validation set of ``n`` points
    with importance weights :math:`w` (:func:`domain_classifier_weights` with ``x_eval``);
    ``losses[j, i]`` is candidate ``j``'s loss (e.g. 0/1 error) on point ``i``. The risk is

    * ``"iwv"``: :math:`\hat R_j = \sum_i w_i\ell_{ji} / \sum_i w_i` (IWV with the
      weights normalised to mean 1 on the validation set; in [0, 1] for 0/1 losses);
    * ``"dev"``: :func:`dev_risk` with the weights as given (DEV as published: pass
      ``normalize=False`` weights, since with mean-1 weights it equals IWV);
    * ``"source"``: the unweighted validation risk :math:`\frac1n\sum_i\ell_{ji}`.

    **Ties** (risks within ``tie_tol`` of the lowest) are broken by the lower unweighted
    validation risk, then by the lower index (list candidates from the simplest / most
    regularised, e.g. ascending adaptation weight, so the rule is deterministic).

    **Diagnostics**, returned and warned about (``RuntimeWarning``): the effective sample
    size :math:`n_{\mathrm{eff}} = (\sum w)^2/\sum w^2` when it is below ``ess_warning``
    times ``n`` (default 10 %: the weighted risks then rest on a handful of points), and
    risks outside [min loss, max loss] (DEV only; IWV cannot leave it).

    Args:
      losses: ``(k, n)`` per-candidate, per-point losses (k >= 1, n >= 2).
      weights: ``(n,)`` non-negative importance weights with a positive sum.
      criterion: one of ``"iwv"``, ``"dev"``, ``"source"``.
      ess_warning: fraction of ``n`` in [0, 1] below which the ESS is reported.
      tie_tol: absolute tolerance (>= 0) within which two risks tie.

    Returns:
      :class:`Selection` with the chosen ``index``, all ``risks``, the ties and the ESS.

    Example:
      >>> import numpy as np
      >>> from jtransfer import select
      >>> errors = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0]], np.float32)
      >>> s = select.select_by_risk(errors, np.array([3.0, 1.0, 0.0, 0.0]))
      >>> s.index, s.risks.round(2).tolist(), s.tied, round(s.ess_fraction, 3)
      (1, [0.75, 0.0, 1.0], (1,), 0.4)

    References:
      Sugiyama, Krauledat & Müller 2007 (IWV), JMLR 8; You et al. 2019 (DEV), ICML,
      http://proceedings.mlr.press/v97/you19a.html; Kish 1965 (effective sample size).
    """
    check_choice(criterion, "criterion", SELECTION_CRITERIA)
    losses = np.asarray(losses, np.float64)
    w = np.asarray(weights, np.float64)
    if losses.ndim != 2 or losses.shape[0] < 1 or losses.shape[1] < 2:
        raise ValueError(
            f"losses must have shape (k, n) with k >= 1 and n >= 2, got {losses.shape}"
        )
    if w.shape != (losses.shape[1],):
        raise ValueError(
            f"weights must have shape ({losses.shape[1]},) to match losses "
            f"{losses.shape}, got {w.shape}"
        )
    if not np.all(np.isfinite(losses)) or not np.all(np.isfinite(w)):
        raise ValueError("losses and weights must be finite")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    if not 0.0 <= ess_warning <= 1.0:
        raise ValueError(f"ess_warning must be in [0, 1], got {ess_warning}")
    check_nonnegative(tie_tol, "tie_tol")
    n = losses.shape[1]
    source = losses.mean(axis=1)
    if criterion == "iwv":
        risks = losses @ (w / w.sum())
    elif criterion == "dev":
        risks = np.array([float(dev_risk(jnp.asarray(row), jnp.asarray(w))) for row in losses])
    else:
        risks = source.copy()
    ess = float(w.sum() ** 2 / np.sum(w * w))
    notes = []
    if ess < ess_warning * n:
        notes.append(
            f"effective sample size of the weights is {ess:.1f} of n={n} "
            f"({100 * ess / n:.1f}% < {100 * ess_warning:g}%): the weighted risks rest "
            f"on few points"
        )
    lo, hi = losses.min(), losses.max()
    out = np.flatnonzero((risks < lo - 1e-9) | (risks > hi + 1e-9))
    if out.size:
        notes.append(
            f"{criterion} risks of candidates {out.tolist()} lie outside the loss "
            f"range [{lo:g}, {hi:g}] (min {risks.min():.3g}, max {risks.max():.3g})"
        )
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    tied = np.flatnonzero(risks <= risks.min() + tie_tol)
    best = int(tied[np.lexsort((tied, source[tied]))[0]])
    return Selection(
        best, risks, source, tuple(int(t) for t in tied), ess, ess / n, criterion, tuple(notes)
    )


def snd(target_outputs: jax.Array, *, temperature: float = 0.05) -> jax.Array:
    r"""Soft neighbourhood density (SND) of the target predictions (higher is better).

    With :math:`f_i` the L2-normalised outputs (softmax probabilities in the paper) of the
    target points, similarities :math:`s_{ij} = f_i^\top f_j/\tau` for :math:`j\ne i`, the
    neighbourhood distribution :math:`p_{ij} = \mathrm{softmax}_j(s_{ij})` (self excluded)
    and

    .. math:: \mathrm{SND} = \frac1n\sum_i H(p_{i\cdot}) = -\frac1n\sum_{i}\sum_{j\ne i}
              p_{ij}\log p_{ij}.

    Args:
      target_outputs: (n, k) softmax outputs (or features) on the target data.
      temperature: :math:`\tau > 0` (paper: 0.05).

    Returns:
      Scalar SND.

    References:
      Saito et al. 2021, "Tune it the Right Way: Unsupervised Validation of Domain
      Adaptation via Soft Neighborhood Density", https://arxiv.org/abs/2108.10860
    """
    f = check_matrix(target_outputs, "target_outputs")
    check_positive(temperature, "temperature")
    f = f / jnp.maximum(jnp.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    s = f @ f.T / temperature
    n = f.shape[0]
    s = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, s)
    logp = jax.nn.log_softmax(s, axis=1)
    p = jnp.exp(logp)
    return -jnp.mean(jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=1))


def prediction_entropy(probs: jax.Array) -> jax.Array:
    r"""Mean Shannon entropy :math:`-\frac1n\sum_i\sum_k p_{ik}\log p_{ik}` of predictions.

    A label-free criterion: confident target predictions (low entropy) are preferred
    (lower is better), as in entropy-minimisation DA (Grandvalet & Bengio 2005;
    Morerio et al. 2018, https://arxiv.org/abs/1711.10288).

    Args:
      probs: (n, k) predicted class probabilities on the target data (rows in ``[0, 1]``
        summing to 1 within 1e-3; logits or unnormalised scores would give a meaningless,
        possibly negative "entropy").

    Returns:
      Scalar mean entropy (nats).

    Raises:
      ValueError: ``probs`` not ``(n, k)``, or (a value check) entries outside ``[0, 1]`` or
        rows that do not sum to 1.
    """
    p = check_matrix(probs, "probs", min_rows=1)
    check_probabilities(p, "probs", rows_sum_to_one=True)
    return -jnp.mean(jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=1))
