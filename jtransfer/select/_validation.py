"""Label-free validation of a domain-adapted classifier: importance-weighted accuracy and
reverse validation (private module; public names in ``jtransfer.select``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax


class ReverseValidation(NamedTuple):
    """Score of a reverse-validation run (higher accuracy, then lower loss, is better)."""

    accuracy: float  # accuracy of the reverse model on the labelled source
    loss: float  # its mean cross-entropy there (breaks accuracy ties)


def iw_accuracy(predictions: jax.Array, labels: jax.Array, weights: jax.Array) -> jax.Array:
    r"""Importance-weighted accuracy, a target-accuracy estimate from labelled source data.

    .. math::
        \widehat{\mathrm{acc}}_{\mathrm{IW}} = \frac{\sum_i w_i\,[\hat y_i = y_i]}{\sum_i w_i},

    with :math:`w_i \approx q(x_i)/p(x_i)` importance weights of the source validation points
    (any ``jtransfer.weighting`` estimator, or :func:`domain_classifier_weights`). It is the
    self-normalised importance-weighted validation of Sugiyama et al. with the 0/1 loss
    (``1 - iwv_risk(errors, weights, self_normalize=True)``); the scale of ``weights`` does
    not matter.

    Args:
      predictions: ``(n,)`` predicted labels on the source validation points.
      labels: ``(n,)`` their true labels.
      weights: ``(n,)`` non-negative weights with a positive sum.

    Returns:
      Scalar weighted accuracy in [0, 1] (dtype of ``weights``, at least float32).

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import select
      >>> float(select.iw_accuracy(jnp.array([1, 0, 1]), jnp.array([1, 1, 1]),
      ...                          jnp.array([3.0, 1.0, 0.0])))
      0.75

    References:
      Sugiyama, Krauledat & Müller 2007, "Covariate Shift Adaptation by Importance Weighted
      Cross Validation", JMLR 8, https://jmlr.org/papers/v8/sugiyama07a.html
    """
    predictions, labels = jnp.asarray(predictions), jnp.asarray(labels)
    weights = jnp.asarray(weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.float32)
    if (
        predictions.ndim != 1
        or predictions.shape != labels.shape
        or weights.shape != predictions.shape
    ):
        raise ValueError(
            f"predictions, labels and weights must have the same shape (n,), got "
            f"{tuple(predictions.shape)}, {tuple(labels.shape)} and "
            f"{tuple(weights.shape)}"
        )
    if predictions.shape[0] == 0:
        raise ValueError("predictions needs at least one entry, got shape (0,)")
    hit = (predictions == labels).astype(weights.dtype)
    return jnp.sum(weights * hit) / jnp.sum(weights)


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    if logits.shape[-1] == 1:
        return jnp.mean(
            optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
        )
    return jnp.mean(
        optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    )


def _labels_from_logits(logits: jax.Array) -> jax.Array:
    if logits.shape[-1] == 1:
        return (logits[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def reverse_validation(
    fit: Callable[[jax.Array, jax.Array, jax.Array], Callable[[jax.Array], jax.Array]],
    x_source: jax.Array,
    y_source: jax.Array,
    x_target: jax.Array,
    pseudo_labels_target: jax.Array,
) -> ReverseValidation:
    r"""Reverse validation: score a domain-adapted model without target labels.

    A forward model :math:`\eta` trained on labelled source and unlabelled target labels the
    target, :math:`\tilde y_t = \eta(x_t)` (``pseudo_labels_target``). A *reverse* model
    :math:`\eta_r` is then trained by the same method with the pseudo-labelled target as its
    source and the (unlabelled) source as its target,

    .. math:: \eta_r = \mathrm{fit}(x_t, \tilde y_t, x_s),\qquad
              \mathrm{score} = \frac1{n_s}\sum_i [\eta_r(x_{s,i}) = y_{s,i}],

    and scored on the true source labels. A high score says :math:`\eta`'s target labelling
    is one the method can carry back to the source; a constant labelling scores at chance.
    Use it to choose among restarts or hyperparameters of a DA method (highest accuracy, ties
    to the lower loss).

    Args:
      fit: ``fit(x_source, y_source, x_target) -> logits_fn`` trains the method (the same
        method and hyperparameters as the forward model) and returns ``logits_fn(x)``, the
        ``(n, k)`` logits of the trained model (``k = 1``: one sigmoid logit, labels 0/1).
      x_source: ``(n_s, ...)`` labelled source inputs.
      y_source: ``(n_s,)`` their labels.
      x_target: ``(n_t, ...)`` unlabelled target inputs.
      pseudo_labels_target: ``(n_t,)`` the forward model's labels of ``x_target``.

    Returns:
      :class:`ReverseValidation` ``(accuracy, loss)`` of the reverse model on the source
      (loss: mean sigmoid or softmax cross-entropy).

    Example:
      >>> import jax.numpy as jnp
      >>> from jtransfer import select
      >>> def fit(x, y, x_other):  # a 1-d threshold "method": predicts the sign of x
      ...     del y, x_other
      ...     return lambda x: 10.0 * x
      >>> xs = jnp.array([[-1.0], [2.0]]); xt = jnp.array([[-2.0], [1.0]])
      >>> select.reverse_validation(fit, xs, jnp.array([0, 1]), xt, jnp.array([0, 1])).accuracy
      1.0

    References:
      Zhong et al. 2010, "Cross Validation Framework to Choose amongst Models and Datasets
      for Transfer Learning", ECML PKDD, https://doi.org/10.1007/978-3-642-15939-8_35;
      Ganin et al. 2016, "Domain-Adversarial Training of Neural Networks", JMLR §5.1.2,
      https://arxiv.org/abs/1505.07818
    """
    y_source = jnp.asarray(y_source)
    pseudo = jnp.asarray(pseudo_labels_target)
    n_s, n_t = len(x_source), len(x_target)
    if y_source.shape != (n_s,) or pseudo.shape != (n_t,):
        raise ValueError(
            f"y_source must have shape ({n_s},) and pseudo_labels_target shape "
            f"({n_t},) to match x_source {tuple(np.shape(x_source))} and x_target "
            f"{tuple(np.shape(x_target))}, got {tuple(y_source.shape)} and "
            f"{tuple(pseudo.shape)}"
        )
    logits_fn = fit(x_target, pseudo, x_source)
    logits = jnp.asarray(logits_fn(x_source))
    if logits.ndim != 2 or logits.shape[0] != n_s:
        raise ValueError(
            f"fit's logits_fn must return shape ({n_s}, k) on x_source, got {tuple(logits.shape)}"
        )
    pred = np.asarray(_labels_from_logits(logits))
    acc = float(np.mean(pred == np.asarray(y_source)))
    return ReverseValidation(acc, float(_cross_entropy(logits, y_source)))
