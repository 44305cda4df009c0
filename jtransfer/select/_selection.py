"""Label-free model selection: importance-weighted validation, deep embedded validation,
soft neighbourhood density, prediction entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jtransfer import weighting
from jtransfer._core.checks import (
    check_matrix,
    check_nonnegative_entries,
    check_pair,
    check_positive,
    check_probabilities,
    check_vector,
)
from jtransfer.select._logistic import fit_logistic


def _check_losses_weights(losses, weights):
    losses = check_vector(losses, "losses")
    weights = check_vector(weights, "weights", losses.shape[0], "losses")
    if losses.shape[0] < 2:
        raise ValueError(f"losses needs at least 2 entries, got shape {losses.shape}")
    check_nonnegative_entries(weights, "weights")
    dtype = jnp.result_type(losses.dtype, weights.dtype)
    return losses.astype(dtype), weights.astype(dtype)


def domain_classifier_weights(source: jax.Array, target: jax.Array, *,
                              x_eval: jax.Array | None = None,
                              l2: float = 1e-3, steps: int = 300) -> jax.Array:
    r"""Density-ratio weights :math:`w(x)\approx q(x)/p(x)` from a logistic domain classifier.

    Fits an L2-regularised logistic regression separating ``source`` (label 0) from
    ``target`` (label 1) and converts its target probability :math:`\pi(x)` with
    :func:`jtransfer.weighting.from_domain_classifier` (``form="ratio"``):
    :math:`w = \frac{n_s}{n_t}\frac{\pi}{1-\pi}` (clipped there).

    Args:
      source: (n_s, d) source (training) features.
      target: (n_t, d) target features.
      x_eval: (m, d) points to weight (default ``source``), e.g. a held-out source
        validation set as in DEV.
      l2: L2 penalty (> 0).
      steps: Adam steps.

    Returns:
      (m,) non-negative weights.
    """
    xs, xt = check_pair(source, target, "source", "target")
    check_positive(l2, "l2")
    if x_eval is None:
        x_eval = xs
    x_eval = check_matrix(x_eval, "x_eval", min_rows=1)
    if x_eval.shape[1] != xs.shape[1]:
        raise ValueError(f"x_eval has shape {x_eval.shape} but source has shape {xs.shape}")
    ns, nt = xs.shape[0], xt.shape[0]
    x = jnp.concatenate([xs, xt])
    t = jnp.concatenate([jnp.zeros(ns, x.dtype), jnp.ones(nt, x.dtype)])
    model = fit_logistic(x, t, l2=l2, steps=steps)
    prob = jax.nn.sigmoid(model.logits(x_eval.astype(x.dtype)))
    return weighting.from_domain_classifier(prob, n_source=ns, n_target=nt)


def iwv_risk(losses: jax.Array, weights: jax.Array, *,
             self_normalize: bool = False) -> jax.Array:
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
      Scalar estimated target risk (lower is better).

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
      Scalar estimated target risk (lower is better).

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
    return -jnp.mean(jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0),
                             axis=1))
